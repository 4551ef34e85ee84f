"""Editing the greetings file safely: validated before writing, locked against the other
editors (CLI, console) for the whole read-change-write, replaced atomically so it is never
half-written.

With a shared store the greetings also live on its server, which every robot follows
(`GreetingsHome`): an edit then starts from the server's text under the fleet's lock, so two
admins on two machines never lose one another's change, and writes both the server and this
machine's file."""

import fcntl
import json
import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, ContextManager, Iterator, Optional, Protocol, Sequence, Tuple, Union

from pydantic import ValidationError

from greeter.atomicfile import replace_file
from greeter.errors import ConfigError
from greeter.greetings.read import load_greetings, parse_greetings, validation_problems
from greeter.greetings.schema import Greetings, PersonGreeting
from greeter.names import name_from_id

log = logging.getLogger(__name__)


class GreetingsHome(Protocol):
    """Where the greetings are kept besides this machine's file, when several machines share
    them: a shared store's server (`greeter.people.server_store.SharedGreetings`).

    `editing` holds the fleet's lock on them for a read-change-write and yields their text
    (None when never saved there) and a function that saves new text; `text` reads them."""

    def editing(self) -> ContextManager[Tuple[Optional[str], Callable[[str], None]]]: ...

    def text(self) -> Optional[str]: ...


def dump_greetings(greetings: Greetings) -> str:
    """The file's text: keys sorted, indented, characters as they are, a final newline.

    Stable, so that writes by the commands keep hand-edited files readable and diffs small.
    """
    data = greetings.model_dump(mode="json", exclude_none=True)
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def save_greetings(path: Union[str, Path], greetings: Greetings) -> None:
    """Validate `greetings` and replace the file with them atomically: readers and a crash or a
    full disk see the old file or the new one, never a mix. A symbolic link is followed.

    A new file is private (0600), like the store; an existing one keeps its mode and owner.
    """
    path = Path(path)
    try:
        checked = Greetings.model_validate(greetings.model_dump())
    except ValidationError as error:
        problems = [f"{path}: {problem}" for problem in validation_problems(error)]
        raise ConfigError("\n".join(problems + [f"{path}: left unchanged"])) from None
    target = Path(os.path.realpath(path))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        replace_file(target, dump_greetings(checked).encode("utf-8"))
    except OSError as error:
        raise ConfigError(f"{path}: cannot be written ({error.strerror}); left unchanged") from None


@contextmanager
def _editing_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``.NAME.lock`` beside the file, held while it is read, changed
    and written. The file itself cannot carry the lock: every write replaces it."""
    target = Path(os.path.realpath(path))
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        # private like the greetings file: its name tells others which file is being edited
        descriptor = os.open(str(target.parent / f".{target.name}.lock"),
                             os.O_RDONLY | os.O_CREAT, 0o600)
    except OSError as error:
        raise ConfigError(f"{path}: cannot be locked for editing ({error.strerror})") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # which releases the lock


def update_greetings(
    path: Union[str, Path], change: Callable[[Greetings], Greetings],
    home: Optional[GreetingsHome] = None,
) -> Tuple[Greetings, Greetings]:
    """Apply `change` to the file under its lock, so that concurrent edits (two admins,
    ``greeter people remove`` during ``greeter greetings set``) never lose one another.

    With a `home` (a shared store's server) the change applies to its text under its lock,
    and is saved there and in the file. A missing file starts from the defaults. Nothing is
    written when the greetings did not change. Returns the greetings before and after.
    """
    path = Path(path)
    with _editing_lock(path):
        if home is None:
            before = _file_greetings(path)
            after = change(before)
            if dump_greetings(after) != dump_greetings(before):
                save_greetings(path, after)
            return before, after
        with home.editing() as (text, save_text):
            before = _from_home(text, path)
            after = change(before)
            written = dump_greetings(after)
            if written != dump_greetings(before):
                save_greetings(path, after)  # validates before the server is written
                save_text(written)
    return before, after


def current_greetings(path: Union[str, Path], home: Optional[GreetingsHome] = None
                      ) -> Greetings:
    """The greetings as they are now: the `home`'s (a shared store's server), else the
    file's; the defaults when there are none. With a home, this machine's file is brought up
    to date (`pull_greetings`, as a robot's follower does), so the pages and commands that
    read the file read the fleet's greetings."""
    pulled = pull_greetings(path, home) if home is not None else None
    return pulled if pulled is not None else _file_greetings(Path(path))


def pull_greetings(path: Union[str, Path], home: GreetingsHome) -> Optional[Greetings]:
    """The `home`'s greetings, written into the file at `path` where it differs from them;
    None, and the file left alone, when the home has none (never edited there)."""
    path = Path(path)
    text = home.text()
    if text is None:
        return None
    greetings = parse_greetings(text.encode("utf-8"), path)
    if not path.exists() or path.read_text(encoding="utf-8") != dump_greetings(greetings):
        save_greetings(path, greetings)
        log.info("%s: updated from the store's server", path)
    return greetings


def _file_greetings(path: Path) -> Greetings:
    """The file's greetings; the defaults while there is no file."""
    return load_greetings(path) if path.exists() else Greetings()


def _from_home(text: Optional[str], path: Path) -> Greetings:
    """The greetings of a home's `text`; the file's (or the defaults) when it has none yet,
    so the first edit on a new server starts from what this machine had."""
    if text is None:
        return _file_greetings(path)
    return parse_greetings(text.encode("utf-8"), path)


def with_greeting(
    greetings: Greetings,
    person_id: str,
    messages: Sequence[str],
    name: Optional[str] = None,
    add: bool = False,
    name_if_new: Optional[str] = None,
) -> Greetings:
    """A copy in which `person_id` is greeted with `messages`, after their current ones with
    `add`; a message they already have is not repeated.

    `name` renames the person; a new entry is called `name_if_new` (their name in the store),
    else a name made from the id. Not validated here: `save_greetings` does that.
    """
    entry = greetings.people.get(person_id)
    wanted = (list(entry.messages) if entry and add else []) + list(messages)
    unique = list(dict.fromkeys(wanted))
    if entry is None:
        entry = PersonGreeting.model_construct(
            name=name or name_if_new or name_from_id(person_id), messages=unique
        )
    else:
        entry = entry.model_copy(update={"name": name or entry.name, "messages": unique})
    people = dict(greetings.people)
    people[person_id] = entry
    return greetings.model_copy(update={"people": people})


def set_first_name(path: Union[str, Path], person_id: str, first_name: str,
                   name_if_new: str, home: Optional[GreetingsHome] = None) -> None:
    """Greet `person_id` by `first_name` (``{first_name}``); a person without an entry gets
    one, with the messages for enrolled people and `name_if_new`."""
    def edit(greetings: Greetings) -> Greetings:
        entry = greetings.people.get(person_id) or PersonGreeting.model_construct(
            name=name_if_new, messages=list(greetings.enrolled))
        people = dict(greetings.people)
        people[person_id] = entry.model_copy(update={"first_name": first_name})
        return greetings.model_copy(update={"people": people})

    update_greetings(path, edit, home)


def remove_greeting(path: Union[str, Path], person_id: str,
                    home: Optional[GreetingsHome] = None) -> bool:
    """Delete the entry of `person_id`, as erasing a person must erase their name here too
    (and, with a `home`, on the shared store's server: every robot's copy follows).

    False when there was none. The greetings are read first and locked only if there is
    something to remove: removing somebody without a greeting needs no write access and
    creates nothing.
    """
    if person_id not in current_greetings(path, home).people:
        return False
    before, _ = update_greetings(
        path,
        lambda greetings: greetings.model_copy(update={"people": {
            key: entry for key, entry in greetings.people.items() if key != person_id
        }}), home)
    return person_id in before.people


def rename_greeting(path: Union[str, Path], person_id: str, name: str,
                    previous: Optional[str] = None, own_name_too: bool = False,
                    home: Optional[GreetingsHome] = None) -> bool:
    """Give the entry of `person_id` the display name `name`, as renaming a person renames them
    on the screen too (an entry's ``name`` wins over the store's): when the entry's name is the
    person's `previous` one (it followed the store), or with `own_name_too`. An entry with a
    name of its own (a spelling chosen on purpose, say in Arabic script) keeps it otherwise.

    False when nothing was renamed; like `remove_greeting`, nothing is locked or written then.
    """
    entry = current_greetings(path, home).people.get(person_id)
    if entry is None or entry.name == name or not (own_name_too or entry.name == previous):
        return False
    update_greetings(path, lambda greetings: with_greeting(
        greetings, person_id, greetings.people[person_id].messages, name=name), home)
    return True
