"""Reading the greetings file: every problem named with its line or key path, the size limit
enforced before parsing, and the checks of ``greeter greetings check`` that go beyond the
schema (greetings nobody receives, pictures that are missing)."""

import json
import os
from collections import Counter
from pathlib import Path
from typing import Any, Iterator, List, Mapping, Optional, Sequence, Tuple, Union, get_args

from pydantic import BaseModel, ValidationError

from greeter.errors import ConfigError, ImageError
from greeter.greetings.schema import Greetings
from greeter.names import escaped
from greeter.screen.images import check_screen_image

#: Largest greetings file read, in bytes. 5,000 people with a name and two messages each take
#: 1.1 MB (3.6 MB with every name and message as long as allowed). Reading and checking costs
#: about 10 times the file's size in memory and 0.25 s or more per MB on one x86 core, several
#: times that on the Jetson Nano, whose robot rereads the file within two seconds of an edit.
#: Measured with ``greeter greetings check`` (peak RSS, time on a shared core): 1.1 MB, 5,000
#: people: 71 MB, 0.8 s; 3.9 MB, 17,000 people: 90 MB, 1.7-4.5 s; 46 MB, 200,000 people:
#: 512 MB and 38-41 s before this limit, now refused unread in 52 MB and under a second.
MAX_GREETINGS_BYTES = 4_000_000




def load_greetings(path: Union[str, Path]) -> Greetings:
    """The greetings in `path`, or `ConfigError` listing every problem, one per line:
    ``PATH:LINE:COLUMN: message`` for JSON syntax, ``PATH: key.path[1]: message`` otherwise."""
    path = Path(path)
    try:
        with open(path, "rb") as file:
            _check_file_size(os.fstat(file.fileno()).st_size, path)
            # no more than the limit allows, even should the file grow meanwhile
            content = file.read(MAX_GREETINGS_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no greetings file here (copy config/greetings.json from greeter's "
            f"repository, or start one with `greeter greetings set`)"
        ) from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a greetings file") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot be read ({error.strerror})") from None
    return _parse_greetings(content, path)


def parse_greetings(content: bytes, path: Union[str, Path]) -> Greetings:
    """What `load_greetings` makes of `content` as the file `path`, with the same messages as
    ``greeter greetings check`` (the console checks an edit this way before writing it)."""
    return _parse_greetings(content, Path(path))


def _check_file_size(size: int, path: Path) -> None:
    """`ConfigError` for a greetings file larger than `MAX_GREETINGS_BYTES`."""
    if size > MAX_GREETINGS_BYTES:
        raise ConfigError(
            f"{path}: the file has {size / 1e6:.1f} MB, more than the "
            f"{MAX_GREETINGS_BYTES / 1e6:.0f} MB a greetings file may have (about 17,000 people "
            f"with two messages each): keep greetings only for the people expected")


def _parse_greetings(content: bytes, path: Path) -> Greetings:
    _check_file_size(len(content), path)
    bom = b"\xef\xbb\xbf" if content.startswith(b"\xef\xbb\xbf") else b""
    try:
        text = content[len(bom):].decode("utf-8")
    except UnicodeDecodeError as error:
        offset = len(bom) + error.start
        line = content.count(b"\n", 0, offset) + 1
        raise ConfigError(
            f"{path}: not UTF-8: byte 0x{content[offset]:02x} at offset {offset} (line {line}); "
            f"save the file as UTF-8"
        ) from None
    if not text.strip():
        raise ConfigError(f"{path}: the file is empty; write {{}} for the built-in greetings")
    try:
        data = json.loads(text, object_pairs_hook=_JsonObject)
        problems = [f"{path}: {_key_path(loc)}: duplicate key, the last one would silently win"
                    for loc in _duplicate_keys(data)]
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"{path}:{error.lineno}:{error.colno}: {_lower_first(error.msg)}{_hint(text, error)}"
        ) from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply to be a greetings file") from None
    try:
        greetings = Greetings.model_validate(data)
    except ValidationError as error:
        problems.extend(f"{path}: {problem}" for problem in validation_problems(error))
        raise ConfigError("\n".join(problems)) from None
    problems.extend(f"{path}: {problem}" for problem in _picture_problems(greetings, path))
    if problems:
        raise ConfigError("\n".join(problems))
    return greetings


def _picture_problems(greetings: Greetings, path: Path) -> List[str]:
    """The logo or background image that is there but is not an image or is too large to be
    shown (read from its header: cheap enough for every reload). A missing one is only a
    warning (`greetings_warnings`): it may be copied there after the file is written."""
    problems = []
    for key, picture in greetings.screen.pictures(path):
        if picture.exists():
            try:
                check_screen_image(picture, key.replace("_", " "))
            except ImageError as error:
                problems.append(f"screen.{key}: {error}")
    return problems


class _JsonObject(dict):
    """A JSON object that remembers which keys it held more than once (json keeps the last)."""

    def __init__(self, pairs: List[Tuple[str, Any]]):
        super().__init__(pairs)
        self.duplicates = sorted(
            key for key, count in Counter(key for key, _ in pairs).items() if count > 1
        )


def _duplicate_keys(value: Any, loc: Tuple = ()) -> Iterator[Tuple]:
    if isinstance(value, _JsonObject):
        for key in value.duplicates:
            yield loc + (key,)
        children = value.items()
    elif isinstance(value, list):
        children = enumerate(value)
    else:
        return
    for key, child in children:
        yield from _duplicate_keys(child, loc + (key,))


_PLAIN_MESSAGES = {
    "model_type": "must be a JSON object {...}",
    "dict_type": "must be a JSON object {...}",
    "list_type": "must be a JSON list [...]",
    "string_type": "must be a string in double quotes",
    "too_short": "must not be empty",
    "missing": "required but missing",
}


def validation_problems(error: ValidationError) -> List[str]:
    """Pydantic's errors as ``key.path[1]: message`` in words about the JSON file."""
    problems = []
    for detail in error.errors():
        if detail["type"] in ("value_error", "assertion_error"):
            message = str(detail["ctx"]["error"])
        elif detail["type"] == "extra_forbidden":
            message = f"unknown key (expected {', '.join(_keys_expected_at(detail['loc'][:-1]))})"
        else:
            message = _PLAIN_MESSAGES.get(detail["type"]) or _lower_first(detail["msg"])
        problems.append(f"{_key_path(detail['loc'])}: {message}")
    return problems


def _keys_expected_at(loc: Tuple) -> List[str]:
    """The keys of the model that validates the object at `loc`, to suggest the right one."""
    annotation: Any = Greetings
    for part in loc:
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            annotation = annotation.model_fields[part].annotation
        else:  # Dict[id, model]: the type of the values
            annotation = get_args(annotation)[-1]
    return sorted(annotation.model_fields)


def _key_path(loc: Sequence[Union[str, int]]) -> str:
    """``("people", "alex-m", "messages", 1)`` -> ``people.alex-m.messages[1]``, on one line
    whatever the keys hold."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif part != "[key]":  # pydantic's marker for an error in a dict key
            path += f".{escaped(part)}" if path else escaped(part)
    return path or "top level"


def _hint(text: str, error: json.JSONDecodeError) -> str:
    """What a non-programmer most likely did, where json's message does not say: a comma
    after the last entry (which JSON forbids)."""
    comma = len(text[:error.pos].rstrip()) - 1
    if comma >= 0 and text[comma] == "," and text[error.pos:error.pos + 1] in ("}", "]"):
        line = text.count("\n", 0, comma) + 1
        column = comma - text.rfind("\n", 0, comma)
        return (f" (remove the comma after the last entry, line {line} column {column}: JSON "
                f"allows none there)")
    return ""


def _lower_first(message: str) -> str:
    return message[:1].lower() + message[1:]


# -- checking against the store ------------------------------------------------------------


#: Enrolled people without a greeting of their own named by `greetings_warnings`; the others
#: are counted.
UNGREETED_LISTED = 5


def greetings_warnings(
    greetings: Greetings, greetings_file: Union[str, Path], enrolled: Optional[Mapping[str, str]]
) -> List[str]:
    """What is valid but probably not meant: greetings nobody can receive, enrolled people
    (id -> display name; None skips this) greeted only by the default, a missing image."""
    warnings = [
        f"people.{person_id}: '{person_id}' is not enrolled, so this greeting is never shown"
        for person_id in sorted(greetings.people)
        if enrolled is not None and person_id not in enrolled
    ]
    ungreeted = [f"{person_id} ({name})" for person_id, name in sorted((enrolled or {}).items())
                 if person_id not in greetings.people]
    if ungreeted:  # one line however many: most guests need no greeting of their own
        shown = ", ".join(ungreeted[:UNGREETED_LISTED])
        if len(ungreeted) > UNGREETED_LISTED:
            shown += f" and {len(ungreeted) - UNGREETED_LISTED} more"
        verb = "is" if len(ungreeted) == 1 else "are"
        warnings.append(f"{shown} {verb} enrolled without a greeting of their own: they get "
                        f"the enrolled ones")
    warnings.extend(f"screen.{key}: {picture} does not exist"
                    for key, picture in greetings.screen.pictures(greetings_file)
                    if not picture.exists())
    return warnings


def screen_texts(greetings: Greetings) -> List[Tuple[str, str]]:
    """Every text of the file that reaches the screen, as (where, text): for checking that
    the screen's fonts can draw each character."""
    texts = [("screen.title", greetings.screen.title),
             ("screen.idle_message", greetings.screen.idle_message),
             ("screen.arriving_message", greetings.screen.arriving_message)]
    texts += [(f"screen.values[{index}]", value)
              for index, value in enumerate(greetings.screen.values)]
    texts += [(f"stranger[{index}]", text) for index, text in enumerate(greetings.stranger)]
    texts += [(f"enrolled[{index}]", text) for index, text in enumerate(greetings.enrolled)]
    for person_id, entry in sorted(greetings.people.items()):
        texts.append((f"people.{person_id}.name", entry.name))
        if entry.first_name:
            texts.append((f"people.{person_id}.first_name", entry.first_name))
        texts += [(f"people.{person_id}.messages[{index}]", text)
                  for index, text in enumerate(entry.messages)]
    return texts
