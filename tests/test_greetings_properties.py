"""Property-based: whatever text an admin types, the robot shows it or names the problem,
and never evaluates it."""

import json
import tempfile
import unicodedata
from datetime import datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from greeter.errors import ConfigError
from greeter.greetings.edit import save_greetings
from greeter.greetings.read import load_greetings
from greeter.greetings.render import message_for, render
from greeter.greetings.schema import Greetings

NOW = datetime(2024, 5, 17, 14, 0)

#: Pieces an admin might type, a typo away from a placeholder or an attempt to reach code.
TRICKY = [
    "{", "}", "{{", "}}", "{name}", "{first_name}", "{time_of_day}", "{nmae}", "{}", "{0}",
    "{name.__class__}", "{name[0]}", "{name!r}", "{name:>99}", "{time_of_day.__init__}",
    "{__import__('os')}", "\x00", "\n", "\t", "\u2028", "\u202e", "\u200d", "\ud800", "🎉",
    "👩🏽‍💻", "עדי", "Zoë", "Łukasz", " ",
]
messages = st.lists(st.one_of(st.text(), st.sampled_from(TRICKY)), max_size=8).map("".join)


@given(message=messages)
@settings(max_examples=300, deadline=None)
def test_any_message_is_rendered_or_rejected_with_one_line_naming_it(message):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "greetings.json"
        path.write_text(json.dumps(
            {"people": {"alex-m": {"name": "Alex Müller", "messages": [message]}}}))
        try:
            greetings = load_greetings(path)
        except ConfigError as error:
            assert str(error).startswith(f"{path}: people.alex-m.messages[0]: ")
            assert len(str(error).splitlines()) == 1
            return
    said = message_for(greetings, "alex-m", NOW)
    said.encode("utf-8")  # no lone surrogate reaches the screen
    if "{" not in message and "}" not in message:
        assert said == unicodedata.normalize("NFC", message).strip()
    if "<" not in message:  # no repr of an object, such as <class 'str'>, leaked in
        assert "<" not in said


@given(text=st.one_of(st.text(), messages))
def test_any_text_with_its_braces_doubled_is_shown_exactly(text):
    template = text.replace("{", "{{").replace("}", "}}")
    try:
        said = render(template, "Alex", NOW)
    except ConfigError as error:
        assert str(error).endswith(("must not be empty", "that the screen cannot show"))
    else:
        assert said == unicodedata.normalize("NFC", text).strip()


@given(name=st.one_of(st.text(min_size=1), messages).filter(str.strip))
def test_names_are_inserted_as_they_are(name):
    assert render("Hi {name}!", name, NOW) == f"Hi {name}!"
    assert render("{first_name}", name, NOW) == name.split()[0]


@given(name=st.text(), message=messages, title=st.text())
@settings(max_examples=200, deadline=None)
def test_whatever_validates_survives_a_save_and_a_load(name, message, title):
    try:
        greetings = Greetings(
            people={"alex-m": {"name": name, "messages": [message]}}, screen={"title": title})
    except ValidationError:
        return
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "greetings.json"
        save_greetings(path, greetings)
        assert load_greetings(path) == greetings
