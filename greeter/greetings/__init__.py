"""Greetings: what the robot says to whom, from ``config/greetings.json``.

Owns: the file's schema (`schema`, pydantic: every field typed, defaulted and documented),
turning an entry into the words on screen (`render`), reading the file with clear errors
(`read`), locked atomic edits that never lose another admin's change (`edit`), and noticing
edits while the robot runs (`watch`).

Exports: `schema.Greetings`, `read.load_greetings`, `read.greetings_warnings`,
`render.message_for`, `edit.update_greetings`, `edit.remove_greeting`,
`watch.GreetingsWatcher`.

May import: ground, recognition, screen
"""
