"""The one rule for person ids and for the text the robot shows: names and messages.

Every door applies it: the greetings file (``greeter greetings check``), a person folder's
``name.txt``, ``greeter enroll --name``, ``greeter people rename``, bundle import, and the store
itself before it writes a name. The screen applies its lenient twin, `shown`, to whatever text
reaches it anyway (a store written by an older greeter, a file edited while the robot runs).

**Person ids** are lowercase slugs (``alex-m``, ``jurgen-weiss``): they name enrolment folders
and greeting keys. An invalid id comes with a suggestion transliterated to ASCII the
language-neutral way: accents are dropped (Unicode NFKD without the combining marks), and a
small table spells the letters that have no decomposition (ß -> ss, æ -> ae, ø -> o, ł -> l...).
So ``Zoë`` -> ``zoe`` and ``Jürgen Weiß`` -> ``jurgen-weiss``, not German's ``juergen``: the
same rule must serve a Turkish ``Gül`` or a Spanish ``Agüero``, and the suggestion is only a
hint that staff may replace with any valid id.

**Showable text** (display names, first names, titles, messages, values) is:

* valid Unicode (no half of a surrogate pair), normalised to NFC and trimmed, not blank;
* free of control characters (NUL, tab, line breaks, escape sequences), of Unicode's line and
  paragraph separators (the screen draws one text as one block and wraps it itself) and of
  the bidirectional embeddings, overrides and isolates, which reorder the text around them
  (a name that turns the rest of a line or a table row around). Zero-width joiners and the
  left-to-right/right-to-left marks stay allowed: emoji sequences and Persian need them;
* at most `NAME_MAX_LENGTH` characters for a single line (a name, a title, a value line) and
  `MESSAGE_MAX_LENGTH` for a message template. Both were measured with the bundled bold
  DejaVu Sans on the robot's 800x480 screen at its smallest greeting size (the ``text_height``
  of 0.05, 24 px), with the camera inset shown: see the constants.
"""

import re
import unicodedata
from typing import Optional, Tuple

from greeter.errors import StoreError

#: Person ids are lowercase slugs: they name enrolment folders and greeting keys. Always
#: matched whole (`fullmatch`): with `match`, "$" also matches before a final newline, and
#: "colin-p\n" passed for an id, whose links then named (and erased) "colin-p".
PERSON_ID_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")
PERSON_ID_MAX_LENGTH = 64

#: One line of text: a display name, a first name, the title, a value line. Measured on the
#: 800x480 screen: one line of 24 px bold DejaVu Sans across the greeting panel (692 px) holds
#: 48 characters of typical names, a value line of 24 px regular across the screen 58. The
#: screen shrinks a longer line to fit: a 64-character name keeps about 80 % of its letter
#: size, still legible; beyond that, names turn into small print.
NAME_MAX_LENGTH = 64

#: A message template. Measured first on the old greeting panel (692x241 px: a 280-character
#: message with a 64-character {name} filled in wrapped into 7 lines at 24 px, 350 characters
#: into 10, which no longer fit), and again on the kiosk layout's stage, 532x326 px beside the
#: host's band and above the camera: the same message takes 11 lines of 25 px bold (319 px).
MESSAGE_MAX_LENGTH = 280

ELLIPSIS = "\u2026"

_UNSHOWABLE_CATEGORIES = {
    "Cc": "a control character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Cs": "half of a surrogate pair",
}
#: Embeddings, overrides (U+202A-U+202E) and isolates (U+2066-U+2069).
_DIRECTION_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

#: Letters NFKD does not decompose into ASCII, spelt as ids usually spell them.
_ASCII_SPELLINGS = str.maketrans({
    "ß": "ss", "ẞ": "ss", "æ": "ae", "Æ": "ae", "œ": "oe", "Œ": "oe", "ø": "o", "Ø": "o",
    "ł": "l", "Ł": "l", "đ": "d", "Đ": "d", "ð": "d", "Ð": "d", "þ": "th", "Þ": "th",
    "ı": "i", "ħ": "h", "Ħ": "h", "ŧ": "t", "Ŧ": "t", "ŀ": "l", "Ŀ": "l",
})


class PersonTextError(StoreError):
    """A person id, display name or message that breaks this module's rule (a `StoreError`:
    the store refuses it too)."""


# -- person ids ------------------------------------------------------------------------------


def check_person_id(person_id: str) -> str:
    """Return `person_id` if valid, else raise `PersonTextError` saying what a valid id looks
    like, with a suggestion made from it when there is one."""
    if not PERSON_ID_PATTERN.fullmatch(person_id or ""):
        suggestion = suggest_person_id(person_id or "")
        hint = f", e.g. {suggestion}" if suggestion else ""
        raise PersonTextError(
            f"{preview(person_id or '')} is not a valid person id: use lowercase letters, "
            f"digits, '-' and '_' (at most {PERSON_ID_MAX_LENGTH}, starting and ending with a "
            f"letter or digit){hint}"
        )
    return person_id


def suggest_person_id(text: str) -> Optional[str]:
    """A valid id spelt from `text` in ASCII (``Jürgen Weiß`` -> ``jurgen-weiss``), or None
    when nothing of it is Latin letters or digits."""
    decomposed = unicodedata.normalize("NFKD", text.translate(_ASCII_SPELLINGS))
    ascii_text = "".join(char for char in decomposed if not unicodedata.combining(char))
    slug = re.sub(r"[^a-z0-9_-]+", "-", ascii_text.translate(_ASCII_SPELLINGS).lower())
    slug = re.sub(r"-{2,}", "-", slug).strip("-_")[:PERSON_ID_MAX_LENGTH].rstrip("-_")
    return slug if PERSON_ID_PATTERN.fullmatch(slug) else None


def name_from_id(person_id: str) -> str:
    """A display name guessed from an id: ``alex-mueller`` -> ``Alex Mueller``."""
    return " ".join(part.capitalize() for part in re.split(r"[-_]+", person_id) if part)


# -- showable text ---------------------------------------------------------------------------


def showable(text: str, max_length: int) -> str:
    """`text` normalised (NFC, trimmed) if the screen can show it, else `ValueError` with the
    problem as a phrase such as ``must not be empty`` (callers say whose text it is)."""
    trimmed = text.strip()  # a trailing line break, as `$(cat name.txt)` leaves, is no problem
    for character in trimmed:
        problem = _character_problem(character)
        if problem:
            raise ValueError(f"contains U+{ord(character):04X}, {problem} that the screen "
                             f"cannot show")
    normalised = unicodedata.normalize("NFC", trimmed)
    if not normalised:
        raise ValueError("must not be empty")
    if len(normalised) > max_length:
        raise ValueError(f"is {len(normalised):,} characters long, but at most {max_length} "
                         f"fit on the screen: shorten it")
    return normalised


def check_name(name: str, whose: str = "") -> str:
    """The display name normalised, or `PersonTextError` naming it and its problem."""
    try:
        return showable(name, NAME_MAX_LENGTH)
    except ValueError as error:
        owner = f"{whose}'s " if whose else ""
        raise PersonTextError(f"{owner}display name {preview(name)} {error}") from None


def name_from_file(content: bytes) -> str:
    """The display name a ``name.txt`` holds: UTF-8 (a byte order mark is allowed), one line,
    the rule of `showable`; `ValueError` names the problem and the fix otherwise."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ValueError(f"is not UTF-8 (byte 0x{content[error.start]:02x} at offset "
                         f"{error.start}): save it as UTF-8") from None
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError("is empty: write the display name in it, or delete it to use a name "
                         "made from the id")
    if len(lines) > 1:
        raise ValueError(f"holds {len(lines)} lines: write the display name alone on one line")
    try:
        return showable(lines[0], NAME_MAX_LENGTH)
    except ValueError as error:
        raise ValueError(f"holds a display name that {error}") from None


# -- showing text that did not pass the rule -------------------------------------------------


def shown(text: str, max_length: int) -> str:
    """What the screen shows of any `text`: unshowable characters turned into spaces (half a
    surrogate pair into U+FFFD), whitespace runs collapsed, and cut to `max_length` characters
    with an ellipsis. Costs time in proportion to `max_length`, not to `text`."""
    head, cut = shown_key(text, max_length)
    cleaned = "".join(_shown_character(character) for character in head)
    words = " ".join(unicodedata.normalize("NFC", cleaned).split())
    if len(words) > max_length or (cut and words):
        return words[:max_length - 1].rstrip() + ELLIPSIS
    return words


def shown_key(text: str, max_length: int) -> Tuple[str, bool]:
    """All that `shown(text, max_length)` depends on: the head of `text` it reads (enough for
    `max_length` characters after collapsing spaces) and whether `text` goes on after it. A
    cheap cache key for text drawn again and again."""
    head = text[:max_length * 4 + 1]
    return head, len(head) < len(text)


def preview(text: str, max_length: int = 40) -> str:
    """`text` quoted for a one-line message: unshowable characters escaped (`escaped`), cut
    after `max_length` characters."""
    return f"'{escaped(text[:max_length])}'" + (ELLIPSIS if len(text) > max_length else "")


def escaped(text: str) -> str:
    """`text` on one line for a terminal: every character the rule refuses written as its
    Python escape (``\\n``, ``\\x1b``, ``\\u202e``), so a file name with a line break stays
    one line and no escape sequence or direction override reaches the terminal."""
    if not any(_character_problem(char) for char in text):
        return text
    return "".join(repr(char)[1:-1] if _character_problem(char) else char for char in text)


def _character_problem(character: str) -> Optional[str]:
    if character in _DIRECTION_CONTROLS:
        return "a text direction control"
    return _UNSHOWABLE_CATEGORIES.get(unicodedata.category(character))


def _shown_character(character: str) -> str:
    problem = _character_problem(character)
    if problem is None:
        return character
    return "\ufffd" if unicodedata.category(character) == "Cs" else " "
