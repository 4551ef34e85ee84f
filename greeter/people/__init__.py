"""People: everything the robot knows about enrolled guests, and nothing about strangers.

Owns: the store (`store`: SQLite, embeddings and names, never pixels; readable by its owner
only), enrolment from photos with its checks (`enrolment`) and the hints that explain a
refusal (`hints`), bundles that carry people between robots (`bundle`), erasing a person
everywhere (`erasure`), and enrolling at the door (`door`: the console's request folder and
the choice of the frames the robot collects).

Exports: `store.Store`, `enrolment.Enroller`, `enrolment.jobs_from_folders`,
`enrolment.jobs_for_person`, `hints.quality_hint`, `bundle.export_bundle`,
`bundle.import_bundle`, `erasure.erase_person`, `door.ask`, `door.DoorCollection`.

May import: ground, recognition, screen, greetings
"""
