"""The live robot behind ``greeter run``: frames in, greetings out.

Owns: the camera (`camera`), the motion gate (`motion`) and the scan plan (`scan`), the
stages (`detection` on two threads, `identity` with its `embedding_worker` process), the
tracks (`tracking`) and who is greeted now (`policy`), the outputs (`outputs`: events file,
screenshots, `voice`, the `status` file the console reads), the memory throttle
(`throttle`) and `robot.Greeter`, the wiring of all of them. Also the two ways of running it
without a guest: `demo` and `doctor`.

Exports: `robot.Greeter`, `robot.RunOptions`, `status.read_status`, `demo.run_demo`,
`doctor.run_checks`.

May import: ground, recognition, screen, greetings, people
"""
