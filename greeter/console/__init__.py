"""The event console: a small web app that staff use from a phone or a laptop to enrol guests,
edit greetings, carry bundles and watch the robot, served by ``greeter console``.

It is a thin shell over the same library as the CLI: enrolment, the store, bundles and the
greetings file are changed only through `greeter.people.enrolment`, `greeter.people.store`,
`greeter.people.bundle`
and `greeter.greetings.schema`. Pages are rendered on the server and work without JavaScript;
`greeter.console.api` offers the same operations as JSON for registration systems.

* `greeter.console.app`: the Starlette application, its security headers and error pages;
* `greeter.console.auth`: the admin password, API tokens, sessions, sign-in throttling;
* `greeter.console.uploads`: form posts read in memory, within limits;
* `greeter.console.pages` and `greeter.console.api`: the routes.
"""
