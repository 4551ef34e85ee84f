"""The event console: a small web app that staff use from a phone or a laptop to enrol guests,
edit greetings, carry bundles and watch the robot, served by ``greeter console``.

It is a thin shell over the same library as the CLI: people are changed only through
`greeter.people` (enrolment, the store, bundles, erasure, the door) and the greetings file
only through `greeter.greetings`. Pages are rendered on the server and work without
JavaScript; `api` offers the same operations as JSON for registration systems.

* `app`: the Starlette application (`create_app`), its security headers and error pages;
* `routing`: the `Console` every route receives, and `page` / `api`, which bind a view to it;
* `pages` and `api`: the views; they import `routing`, never `app`;
* `auth`: the admin password, API tokens, sessions, sign-in throttling;
* `uploads`: form posts read in memory, within limits;
* `serving`: binding the port and serving; `demo`: ``make console``.

Exports: `app.create_app`, `serving.serve`.

May import: ground, recognition, screen, greetings, people, live
"""
