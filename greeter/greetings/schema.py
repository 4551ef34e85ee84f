"""What the robot says to whom: the greetings file's format, validated by pydantic models.

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
* The file has at most 4 MB (`greeter.greetings.read.MAX_GREETINGS_BYTES`), several times
  what 5,000 people take.

``greeter greetings check`` names every problem of a file, one per line; ``set``, ``remove`` and
``greeter people remove`` validate before they write, lock the file against each other's
edits and replace it atomically, so it is never half-written. A running robot picks up a
changed file within seconds (`greeter.greetings.watch`); an invalid version is logged once and
ignored, the robot keeping the last valid one, until the file is fixed.
"""
import re
import string
from pathlib import Path
from typing import Any, Dict, List, Literal, Optional, Sequence, Tuple, Union

from pydantic import AfterValidator, Field, field_validator
from typing_extensions import Annotated

from greeter.names import (
    MESSAGE_MAX_LENGTH,
    NAME_MAX_LENGTH,
    PERSON_ID_PATTERN,
    PersonTextError,
    check_person_id,
    showable,
)
from greeter.screen.images import MAX_SCREEN_IMAGE_PIXELS
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

# -- validation of single values ---------------------------------------------------------


def _line(text: str) -> str:
    """A name, title or value line: the rule of `greeter.names`."""
    return showable(text, NAME_MAX_LENGTH)


def template_parts(template: str, allowed: Sequence[str]) -> List[Tuple[str, Optional[str]]]:
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
    template_parts(template, PERSON_PLACEHOLDERS)
    return showable(template, MESSAGE_MAX_LENGTH)


def _stranger_template(template: str) -> str:
    template_parts(template, STRANGER_PLACEHOLDERS)
    return showable(template, MESSAGE_MAX_LENGTH)


def _person_id(person_id: str) -> str:
    try:
        return check_person_id(person_id)
    except PersonTextError as error:
        raise ValueError(str(error)) from None


def _colour(colour: str) -> str:
    if not COLOUR_PATTERN.fullmatch(colour):
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
    arriving_message: ShowableText = Field(
        "Welcome!",
        description="What the screen shows while a face is in view that the robot has not "
        "recognised (or found a stranger) yet: a neutral welcome, never an empty stage.",
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
