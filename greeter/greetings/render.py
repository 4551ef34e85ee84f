"""Turning a greetings entry into the words on screen: templates filled in for a person at a
time of day, in turn over visits (see `greeter.greetings.schema` for the file's format)."""

from datetime import datetime
from typing import List, Optional

from greeter.errors import ConfigError
from greeter.greetings.schema import (
    PERSON_PLACEHOLDERS,
    STRANGER_PLACEHOLDERS,
    TIMES_OF_DAY,
    Greetings,
    template_parts,
)
from greeter.names import NAME_MAX_LENGTH, name_from_id, shown


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
        parts = template_parts(template, allowed)
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


def language_of(greetings: Greetings, person_id: Optional[str]) -> str:
    """The language `person_id` is greeted in: their entry's, else the file's."""
    entry = greetings.people.get(person_id) if person_id else None
    return (entry.language if entry else None) or greetings.language


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
