"""What the robot says to whom: the greetings file, its validation, rendering and hot reload.

The greetings file (``config/greetings.json`` unless ``--greetings`` or ``GREETER_GREETINGS``
names another) is UTF-8 JSON that admins edit by hand or with ``greeter greetings``::

    {
      "enrolled": ["Welcome back, {first_name}!"],
      "language": "en",
      "people": {
        "alex-m": {
          "messages": ["Welcome back, {first_name}!", "Good {time_of_day}, {name}!"],
          "name": "Alex Müller"
        },
        "juergen": {
          "language": "de",
          "messages": ["Guten {time_of_day}, {first_name}!"],
          "name": "Jürgen Weiß"
        }
      },
      "screen": {"title": "Welcome to the Open Lab Day", "values": ["Curiosity", "Kindness"]},
      "stranger": ["Welcome Stranger!"]
    }

Every key may be left out except each person's ``name`` and ``messages``; an unknown key is an
error, so a misspelt one is never silently ignored. ``greeter greetings schema`` prints the
JSON Schema, with a description of every field.

* ``people`` is keyed by the id a person is enrolled under (``greeter people list``): three
  colleagues called Alex are ``alex-m``, ``alex-k`` and ``alex-s``.
* Messages are templates whose only placeholders are ``{name}`` (the display name),
  ``{first_name}`` (the person's ``first_name``, else the first word of the name) and
  ``{time_of_day}`` (morning / afternoon / evening, in German Morgen / Nachmittag / Abend:
  before 12:00, before 18:00, later). ``{{`` and ``}}`` are literal braces. Anything else in
  braces (``{nmae}``, ``{0}``, ``{name.upper}``, ``{name:>9}``) is an error: a template is text
  with holes, never code.
* A person with several messages is greeted with them in turn, one per visit, so a returning
  guest does not read the same line twice. Strangers get the ``stranger`` messages (which
  cannot use ``{name}``); enrolled people without an entry get the ``enrolled`` messages, with
  their display name from the store.
* Text may hold any Unicode ("Jürgen", "Zoë", "Łukasz", emoji) but no control characters
  such as line breaks or tabs (the screen wraps long lines itself) and no bidirectional
  overrides. A name, first name, title or value line has at most 64 characters, a message
  at most 280: what the robot's 800x480 screen shows readably (`greeter.names` has the
  measurement). Text is stored normalised (Unicode NFC) and trimmed.
* ``screen`` is what the screen shows behind the greetings: a title, the host's values or
  tagline lines, an optional logo and background image (relative to the greetings file) and
  colours written ``#rrggbb``. A logo or background image that is there must be an image of
  at most 50 megapixels (`greeter.screen.images`); a missing one is only a warning.
* The file has at most 4 MB (`MAX_GREETINGS_BYTES`), several times what 5,000 people take.

``greeter greetings check`` names every problem of a file, one per line; ``set``, ``remove`` and
``greeter people remove`` validate before they write, lock the file against each other's
edits and replace it atomically, so it is never half-written. A running robot picks up a
changed file within seconds (`GreetingsWatcher`); an invalid version is logged once and
ignored, the robot keeping the last valid one, until the file is fixed.
"""

import fcntl
import json
import logging
import os
import re
import string
from collections import Counter
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import (
    Any,
    Callable,
    Dict,
    Iterator,
    List,
    Literal,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
    get_args,
)

from pydantic import AfterValidator, BaseModel, Field, ValidationError, field_validator
from typing_extensions import Annotated

from greeter.atomicfile import replace_file
from greeter.errors import ConfigError, ImageError
from greeter.names import (
    MESSAGE_MAX_LENGTH,
    NAME_MAX_LENGTH,
    PERSON_ID_PATTERN,
    PersonTextError,
    check_person_id,
    escaped,
    name_from_id,
    showable,
    shown,
)
from greeter.screen.images import MAX_SCREEN_IMAGE_PIXELS, check_screen_image
from greeter.settings import StrictModel

#: Placeholders a person's message may use; a stranger's may use only ``{time_of_day}``.
PERSON_PLACEHOLDERS = ("name", "first_name", "time_of_day")
STRANGER_PLACEHOLDERS = ("time_of_day",)

Language = Literal["en", "de"]

#: ``{time_of_day}`` before 12:00, before 18:00 and later, per language.
TIMES_OF_DAY: Dict[str, Tuple[str, str, str]] = {
    "en": ("morning", "afternoon", "evening"),
    "de": ("Morgen", "Nachmittag", "Abend"),
}

COLOUR_PATTERN = re.compile(r"^#[0-9a-fA-F]{6}$")

#: Largest greetings file read, in bytes. 5,000 people with a name and two messages each take
#: 1.1 MB (3.6 MB with every name and message as long as allowed). Reading and checking costs
#: about 10 times the file's size in memory and 0.25 s or more per MB on one x86 core, several
#: times that on the Jetson Nano, whose robot rereads the file within two seconds of an edit.
#: Measured with ``greeter greetings check`` (peak RSS, time on a shared core): 1.1 MB, 5,000
#: people: 71 MB, 0.8 s; 3.9 MB, 17,000 people: 90 MB, 1.7-4.5 s; 46 MB, 200,000 people:
#: 512 MB and 38-41 s before this limit, now refused unread in 52 MB and under a second.
MAX_GREETINGS_BYTES = 4_000_000


# -- validation of single values ---------------------------------------------------------


def _line(text: str) -> str:
    """A name, title or value line: the rule of `greeter.names`."""
    return showable(text, NAME_MAX_LENGTH)


def _template_parts(template: str, allowed: Sequence[str]) -> List[Tuple[str, Optional[str]]]:
    """The template as (literal text, placeholder or None) pairs; ValueError names its first
    problem.

    `string.Formatter.parse` only splits the text and turns ``{{``/``}}`` into braces. Filling
    in is done by `render`, never by `str.format`, so a template cannot reach attributes,
    items or format specs of anything.
    """
    template = showable(template, MESSAGE_MAX_LENGTH)
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        brace = "}" if str(error).startswith("Single '}'") else "{"
        raise ValueError(
            f"unmatched '{brace}' (write {brace}{brace} for a literal brace)"
        ) from None
    parts: List[Tuple[str, Optional[str]]] = []
    for literal, field, format_spec, conversion in parsed:
        if field is None:
            parts.append((literal, None))
            continue
        shown = "{" + field + (f"!{conversion}" if conversion else "")
        shown += (f":{format_spec}" if format_spec else "") + "}"
        if field not in PERSON_PLACEHOLDERS:
            if re.split(r"[.\[]", field, maxsplit=1)[0] in PERSON_PLACEHOLDERS:
                raise ValueError(f"placeholder {shown} may only be a plain name, without . or [")
            raise ValueError(f"unknown placeholder {shown}")
        if conversion or format_spec:
            raise ValueError(f"placeholder {shown} cannot have a conversion or format: write "
                             f"{{{field}}}")
        if field not in allowed:
            usable = ", ".join("{" + name + "}" for name in allowed)
            raise ValueError(f"placeholder {shown} cannot be used here, only {usable}")
        parts.append((literal, field))
    return parts


def _person_template(template: str) -> str:
    _template_parts(template, PERSON_PLACEHOLDERS)
    return showable(template, MESSAGE_MAX_LENGTH)


def _stranger_template(template: str) -> str:
    _template_parts(template, STRANGER_PLACEHOLDERS)
    return showable(template, MESSAGE_MAX_LENGTH)


def _person_id(person_id: str) -> str:
    try:
        return check_person_id(person_id)
    except PersonTextError as error:
        raise ValueError(str(error)) from None


def _colour(colour: str) -> str:
    if not COLOUR_PATTERN.match(colour):
        raise ValueError(f"'{colour}' is not a colour: write #rrggbb, e.g. #14213d")
    return colour.lower()


ShowableText = Annotated[str, AfterValidator(_line)]
PersonTemplate = Annotated[str, AfterValidator(_person_template)]
StrangerTemplate = Annotated[str, AfterValidator(_stranger_template)]
PersonId = Annotated[str, AfterValidator(_person_id)]
Colour = Annotated[
    str, AfterValidator(_colour), Field(json_schema_extra={"pattern": COLOUR_PATTERN.pattern})
]

_PICTURE_MEGAPIXELS = MAX_SCREEN_IMAGE_PIXELS // 1_000_000

_TEMPLATE_HELP = (
    "Templates with the placeholders {name}, {first_name} and {time_of_day}; {{ and }} are "
    "literal braces."
)


# -- the file's schema -------------------------------------------------------------------


class PersonGreeting(StrictModel):
    """What the robot says to one enrolled person."""

    name: ShowableText = Field(
        description="Display name for {name}, e.g. \"Alex Müller\". Several people may share "
        "one: the key, their id, tells them apart."
    )
    first_name: Optional[ShowableText] = Field(
        None, description="For {first_name}; by default the first word of name."
    )
    language: Optional[Language] = Field(
        None, description="Language of {time_of_day} for this person; by default the file's."
    )
    messages: List[PersonTemplate] = Field(
        min_length=1,
        description=f"What the robot says, one message per visit in turn. {_TEMPLATE_HELP}",
    )


class ScreenContent(StrictModel):
    """What the screen shows behind the greetings."""

    title: ShowableText = Field("Welcome!", description="Heading at the top of the screen.")
    values: List[ShowableText] = Field(
        [], max_length=10,
        description="The host's values or tagline, one line each, shown on the background; at "
        "most 10 (what fits the robot's 800x480 screen).",
    )
    background_image: Optional[Path] = Field(
        None,
        description=f"Picture behind everything, at most {_PICTURE_MEGAPIXELS} megapixels; a "
        "relative path is relative to the greetings file's folder. Leave it out for a plain "
        "background_color.",
    )
    logo: Optional[Path] = Field(
        None,
        description="The host's logo (PNG with transparency works best), at most "
        f"{_PICTURE_MEGAPIXELS} megapixels, shown at the top of the band; a relative path is "
        "relative to the greetings file's folder.",
    )
    idle_message: ShowableText = Field(
        "Come closer and say hello!",
        description="The invitation the idle screen shows while nobody is in view.",
    )
    font_scale: float = Field(
        1.0, ge=0.5, le=2.0,
        description="Multiplies every letter size: above 1 for a screen seen from afar, below "
        "1 for long values. Text that would not fit is shrunk or wrapped regardless.",
    )
    orientation: Literal["auto", "landscape", "portrait"] = Field(
        "auto",
        description="auto lays the screen out as the display is; portrait on a landscape "
        "display (a screen mounted on its side, its left edge up) turns the picture a quarter "
        "clockwise, and landscape on a portrait display likewise.",
    )
    background_color: Colour = Field("#14213d", description="Background colour, #rrggbb.")
    text_color: Colour = Field("#ffffff", description="Colour of the greetings, #rrggbb.")
    accent_color: Colour = Field(
        "#fca311", description="Colour of the title and highlights, #rrggbb."
    )

    @field_validator("background_image", "logo", mode="before")
    @classmethod
    def _image_path_not_blank(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be empty: leave the key out for no image")
        return value

    def background_image_path(self, greetings_file: Union[str, Path]) -> Optional[Path]:
        """Where the background image is, relative paths taken from the greetings file."""
        if self.background_image is None:
            return None
        return Path(greetings_file).parent / self.background_image

    def logo_path(self, greetings_file: Union[str, Path]) -> Optional[Path]:
        """Where the logo is, relative paths taken from the greetings file."""
        if self.logo is None:
            return None
        return Path(greetings_file).parent / self.logo

    def pictures(self, greetings_file: Union[str, Path]) -> List[Tuple[str, Path]]:
        """The key and the path of each picture given: the background image, the logo."""
        pictures = [("background_image", self.background_image_path(greetings_file)),
                    ("logo", self.logo_path(greetings_file))]
        return [(key, path) for key, path in pictures if path is not None]


class Greetings(StrictModel):
    """The greetings file: what the robot says to strangers, to each enrolled person, and
    what the screen shows."""

    language: Language = Field(
        "en",
        description="Language of {time_of_day}: en (morning, afternoon, evening) or de "
        "(Morgen, Nachmittag, Abend).",
    )
    stranger: List[StrangerTemplate] = Field(
        ["Welcome Stranger!"],
        min_length=1,
        description="What unknown faces are told, in turn. Templates with the placeholder "
        "{time_of_day} only.",
    )
    enrolled: List[PersonTemplate] = Field(
        ["Welcome back, {first_name}!"],
        min_length=1,
        description="What enrolled people without an entry in people are told, in turn, with "
        f"their display name from the store. {_TEMPLATE_HELP}",
    )
    people: Dict[PersonId, PersonGreeting] = Field(
        {},
        description="Greetings by person id, the id they are enrolled under.",
        json_schema_extra={"propertyNames": {"pattern": PERSON_ID_PATTERN.pattern}},
    )
    screen: ScreenContent = Field(
        default_factory=ScreenContent, description="What the screen shows behind the greetings."
    )


# -- rendering ---------------------------------------------------------------------------


def time_of_day(now: datetime, language: str) -> str:
    """Morning before 12:00, afternoon before 18:00, evening after, in `language`."""
    morning, afternoon, evening = TIMES_OF_DAY[language]
    if now.hour < 12:
        return morning
    return afternoon if now.hour < 18 else evening


def render(
    template: str,
    name: Optional[str],
    now: datetime,
    language: str = "en",
    first_name: Optional[str] = None,
) -> str:
    """The template with its placeholders filled in; `name` is None for a stranger.

    The values are inserted as they are: braces in a name stay braces. Raises `ConfigError`
    for an invalid template, or one using ``{name}``/``{first_name}`` for a stranger.
    """
    values = {"time_of_day": time_of_day(now, language)}
    if name is not None:
        values["name"] = name
        values["first_name"] = _first_name(name, first_name)
    allowed = STRANGER_PLACEHOLDERS if name is None else PERSON_PLACEHOLDERS
    try:
        parts = _template_parts(template, allowed)
    except ValueError as error:
        raise ConfigError(f"{template!r}: {error}") from None
    return "".join(literal + (values[field] if field else "") for literal, field in parts)


def messages_for(greetings: Greetings, person_id: Optional[str]) -> List[str]:
    """The templates `person_id` is greeted with in turn: their own, else the ``enrolled``
    ones; None (a stranger) gets the ``stranger`` ones."""
    if person_id is None:
        return greetings.stranger
    entry = greetings.people.get(person_id)
    return entry.messages if entry else greetings.enrolled


def message_for(
    greetings: Greetings,
    person_id: Optional[str],
    now: datetime,
    visit: int = 0,
    store_name: Optional[str] = None,
) -> str:
    """What the robot says to a face of `person_id` (None for a stranger) at `now`.

    `visit` counts the earlier greetings of this person (or of strangers): it picks the
    message in turn. `store_name` is the display name in the store, used for an enrolled
    person who has no entry of their own (by default it is made from the id).
    """
    templates = messages_for(greetings, person_id)
    template = templates[visit % len(templates)]
    if person_id is None:
        return render(template, None, now, greetings.language)
    entry = greetings.people.get(person_id)
    name = _name_of(greetings, person_id, store_name)
    if entry is None:
        return render(template, name, now, greetings.language)
    return render(template, name, now, entry.language or greetings.language, entry.first_name)


# -- reading -----------------------------------------------------------------------------


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
        problems.extend(f"{path}: {problem}" for problem in _validation_problems(error))
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


def _validation_problems(error: ValidationError) -> List[str]:
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
             ("screen.idle_message", greetings.screen.idle_message)]
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


def first_name_of(greetings: Greetings, person_id: Optional[str],
                  store_name: Optional[str] = None) -> str:
    """What ``{first_name}`` is for `person_id`, the part of a greeting the screen emphasises;
    empty for a stranger. `store_name` as in `message_for`."""
    if person_id is None:
        return ""
    entry = greetings.people.get(person_id)
    return _first_name(_name_of(greetings, person_id, store_name),
                       entry.first_name if entry is not None else None)


def _name_of(greetings: Greetings, person_id: str, store_name: Optional[str]) -> str:
    """What ``{name}`` is for an enrolled person: their entry's name, else the store's
    display name (`store_name`), else one made from the id."""
    entry = greetings.people.get(person_id)
    if entry is not None:
        return entry.name
    # the store of an older greeter may hold a name the rule now refuses: shown, not fatal
    return (shown(store_name, NAME_MAX_LENGTH) if store_name else "") or name_from_id(person_id)


def _first_name(name: str, given: Optional[str]) -> str:
    """What ``{first_name}`` is: the `given` one, else the name's first word."""
    return given or next(iter(name.split()), name)


# -- writing -----------------------------------------------------------------------------


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
        problems = [f"{path}: {problem}" for problem in _validation_problems(error)]
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
    path: Union[str, Path], change: Callable[[Greetings], Greetings]
) -> Tuple[Greetings, Greetings]:
    """Apply `change` to the file under its lock, so that concurrent edits (two admins,
    ``greeter people remove`` during ``greeter greetings set``) never lose one another.

    A missing file starts from the defaults. The file is written only when the greetings
    changed. Returns the greetings before and after.
    """
    path = Path(path)
    with _editing_lock(path):
        before = load_greetings(path) if path.exists() else Greetings()
        text_before = dump_greetings(before)
        after = change(before)
        if dump_greetings(after) != text_before:
            save_greetings(path, after)
    return before, after


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


def remove_greeting(path: Union[str, Path], person_id: str) -> bool:
    """Delete the entry of `person_id`, as erasing a person must erase their name here too.

    False when there was none. The file is read first and locked only if there is something
    to remove: removing somebody without a greeting needs no write access and creates nothing.
    """
    if not Path(path).exists() or person_id not in load_greetings(path).people:
        return False
    before, _ = update_greetings(
        path,
        lambda greetings: greetings.model_copy(update={"people": {
            key: entry for key, entry in greetings.people.items() if key != person_id
        }}),
    )
    return person_id in before.people


def rename_greeting(path: Union[str, Path], person_id: str, name: str) -> bool:
    """Give the entry of `person_id` the display name `name`, as renaming a person must rename
    them on the screen too (an entry's ``name`` wins over the store's).

    False when there was no entry; like `remove_greeting`, nothing is locked or written then.
    """
    entry = load_greetings(path).people.get(person_id) if Path(path).exists() else None
    if entry is None or entry.name == name:
        return False
    update_greetings(path, lambda greetings: with_greeting(
        greetings, person_id, greetings.people[person_id].messages, name=name))
    return True


# -- hot reload --------------------------------------------------------------------------


class GreetingsWatcher:
    """The greetings of a running robot, reloaded when the file changes.

    `poll` costs one ``stat`` while nothing changes, so the live loop can call it every half
    second. An invalid or missing file never stops the robot: `current` keeps the last valid
    greetings (the built-in ones if the file was never valid), and the problem is logged once,
    not on every poll, until the file is fixed or has a different problem.
    """

    def __init__(self, path: Union[str, Path], logger: Optional[logging.Logger] = None):
        self.path = Path(path)
        self.logger = logger or logging.getLogger(__name__)
        self.current = Greetings()
        #: What is wrong with the file now; None while its content is in use.
        self.problem: Optional[str] = None
        self._seen = self._file_signature()
        self._load()

    def poll(self) -> bool:
        """Reload if the file changed since the last look; True when a new valid version was
        loaded into `current`."""
        signature = self._file_signature()
        if signature == self._seen:
            return False
        self._seen = signature
        return self._load()

    def _file_signature(self) -> Optional[Tuple[int, ...]]:
        """What changes whenever the file does: an edit in place changes the size or the times,
        an atomic replacement the inode."""
        try:
            info = os.stat(self.path)
        except OSError:
            return None
        return (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)

    def _load(self) -> bool:
        try:
            greetings = load_greetings(self.path)
        except ConfigError as error:
            if str(error) != self.problem:
                self.logger.error("greetings not loaded, still using the previous ones:\n%s",
                                  error)
            self.problem = str(error)
            return False
        self.current = greetings
        self.problem = None
        self.logger.info("greetings loaded from %s (%d people)", self.path, len(greetings.people))
        return True
