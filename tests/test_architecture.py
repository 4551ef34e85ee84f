"""The package's rooms and their walls: every import between rooms goes down, never up, as each
room's ``__init__`` says ("May import: ..."), and the README's map of the code names exactly
the modules there are.

A room is a subpackage of greeter (`recognition`, `screen`, ...); the ground floor is the
modules beside ``greeter/__init__.py``, whose docstring gives the ground floor's own rule.
``greeter/__main__.py`` is the command line's entry point and belongs to `cli`.
"""

import ast
import re
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "greeter"
GROUND = "ground"


def room_names() -> List[str]:
    return sorted(path.parent.name for path in PACKAGE.glob("*/__init__.py"))


def room_of_module(module: str) -> str:
    """The room of a dotted module name (``greeter.people.store`` -> ``people``)."""
    parts = module.split(".")
    if parts[0] != "greeter":
        raise ValueError(module)
    if len(parts) > 1 and parts[1] == "__main__":
        return "cli"
    if len(parts) > 1 and (PACKAGE / parts[1] / "__init__.py").is_file():
        return parts[1]
    return GROUND


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def allowed_rooms(init: Path) -> Set[str]:
    """The rooms named on the ``May import:`` line of a room's docstring."""
    docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
    found = re.search(r"^May import: (.+)$", docstring, re.M)
    assert found, f"{init.relative_to(REPO)}: its docstring has no 'May import: ...' line"
    return {room.strip() for room in found.group(1).split(",")}


def rules() -> Dict[str, Set[str]]:
    """Each room and the rooms it may import (besides itself)."""
    rooms = {room: allowed_rooms(PACKAGE / room / "__init__.py") for room in room_names()}
    rooms[GROUND] = allowed_rooms(PACKAGE / "__init__.py") - {GROUND}  # itself only
    return rooms


def imports_of(path: Path) -> List[Tuple[int, str]]:
    """(line, module) of every greeter module `path` imports, at its top or inside a function;
    ``from greeter.x import y`` counts ``greeter.x.y`` when y is a module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names
                      if alias.name.split(".")[0] == "greeter"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module \
                and node.module.split(".")[0] == "greeter":
            found.append((node.lineno, node.module))
            for alias in node.names:
                candidate = REPO / Path(*f"{node.module}.{alias.name}".split("."))
                if candidate.with_suffix(".py").is_file() or candidate.is_dir():
                    found.append((node.lineno, f"{node.module}.{alias.name}"))
        elif isinstance(node, ast.ImportFrom) and node.level:
            pytest.fail(f"{path.relative_to(REPO)}:{node.lineno}: a relative import; greeter "
                        f"spells every import in full")
    return found


def upward_imports(room_rules: Dict[str, Set[str]]) -> List[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = room_of_module(module_name(path))
        for line, module in imports_of(path):
            there = room_of_module(module)
            if there != here and there not in room_rules[here]:
                allowed = ", ".join(sorted(room_rules[here])) or "nothing"
                problems.append(f"{path.relative_to(REPO)}:{line} imports {module}: {here} may "
                                f"import {allowed}, not {there}")
    return problems


def test_every_room_says_what_it_owns_exports_and_may_import():
    for room in room_names():
        docstring = ast.get_docstring(ast.parse(
            (PACKAGE / room / "__init__.py").read_text(encoding="utf-8"))) or ""
        for heading in ("Exports:", "May import:"):
            assert heading in docstring, f"greeter/{room}/__init__.py says nothing of {heading}"
        assert set(allowed_rooms(PACKAGE / room / "__init__.py")) <= set(room_names()) | {GROUND}


def test_the_rooms_stand_in_one_order():
    """No two rooms may import each other, directly or through others: each room's rooms
    are all below it."""
    room_rules = rules()
    order = sorted(room_rules, key=lambda room: len(room_rules[room]))
    for lower, higher in zip(order, order[1:]):
        assert room_rules[lower] | {lower} == room_rules[higher], (
            f"{higher} may import {sorted(room_rules[higher])}: expected everything below it, "
            f"{sorted(room_rules[lower] | {lower})}")


def test_no_module_imports_a_room_above_its_own():
    assert upward_imports(rules()) == []


def test_an_upward_import_fails_with_the_names():
    """The check itself can fail: with people's wall moved below recognition, the store's
    import of the face models is named, with the rule it breaks."""
    strict = rules()
    strict["people"] = strict["people"] - {"recognition"}
    problems = upward_imports(strict)
    assert any(problem.startswith("greeter/people/store.py:") and
               "imports greeter.recognition.faces: people may import greetings, ground, "
               "screen, not recognition" in problem for problem in problems), problems


# -- the README's map of the code ---------------------------------------------------------


def readme_map() -> Dict[str, List[str]]:
    """The README's map: each room (``*.py`` for the ground floor) and the modules listed
    for it (before the first colon of its entry, which may run over several lines)."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Architecture", 1)[1]
    block = section.split("```", 2)[1]
    entries: Dict[str, str] = {}
    current = None
    for line in block.splitlines():
        entry = re.match(r"^  (\*\.py|[a-z_]+/)\s+(.*)$", line)
        if entry:
            current = entry.group(1).rstrip("/")
            entries[current] = entry.group(2)
        elif current and line.startswith("    "):
            entries[current] += " " + line.strip()
        elif not line.startswith("  "):
            current = None
    return {room: [name.strip() for name in text.split(":", 1)[0].split(",")]
            for room, text in entries.items()}


def modules_in(room: str) -> Set[str]:
    folder = PACKAGE if room == "*.py" else PACKAGE / room
    return {path.stem for path in folder.glob("*.py")} - {"__init__", "__main__"}


def test_the_readme_maps_every_room_and_module_there_is():
    mapped = readme_map()
    assert sorted(mapped) == sorted(["*.py"] + room_names())
    for room, listed in mapped.items():
        assert sorted(listed) == sorted(modules_in(room)), f"README's map of {room}"


def test_the_readme_lists_the_rooms_lowest_first():
    room_rules = rules()
    order = sorted(room_rules, key=lambda room: len(room_rules[room]))
    assert [GROUND if room == "*.py" else room for room in readme_map()] == order


def test_what_each_room_exports_is_there():
    """The ``Exports:`` of a room's docstring name ``module.name`` (or a name of the room's
    own ``__init__``); each must exist."""
    import importlib

    for room in room_names():
        docstring = ast.get_docstring(ast.parse(
            (PACKAGE / room / "__init__.py").read_text(encoding="utf-8"))) or ""
        exports = docstring.split("Exports:", 1)[1].split("\n\n", 1)[0]
        names = re.findall(r"(?<!`)`([\w.]+)`(?!`)", exports)  # `x`, not ``literal``
        assert names, f"greeter/{room}/__init__.py exports nothing"
        for name in names:
            module, _, attribute = name.rpartition(".")
            imported = importlib.import_module(f"greeter.{room}" + (f".{module}" if module else ""))
            assert hasattr(imported, attribute), f"greeter.{room}: exports {name}, not there"
