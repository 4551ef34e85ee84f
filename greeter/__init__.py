"""greeter: an edge face-recognition greeter robot.

The package is a house of rooms, lowest first: the ground floor (the modules beside this
file: `settings`, `errors`, `names`, `atomicfile`, `filechange`, `background`, `heap`), then
`recognition`, `screen`, `greetings`, `people`, `live`, and the two shells over them,
`console` and `cli`. Each room's ``__init__`` says what it owns, what it exports and which
rooms it may import; a room never imports one above it (``tests/test_architecture.py`` holds
every import to it, and the README's map of the code to the modules).

May import: ground
"""

__version__ = "0.1.0"
