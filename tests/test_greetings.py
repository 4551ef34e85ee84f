"""The greetings library: real files in a temporary folder, exact messages."""

import errno
import json
import logging
import multiprocessing
import os
import stat
from datetime import datetime
from functools import partial
from pathlib import Path

import pytest
from conftest import flat_png
from PIL import Image

from greeter.errors import ConfigError
from greeter.greetings.edit import (
    dump_greetings,
    remove_greeting,
    save_greetings,
    update_greetings,
    with_greeting,
)
from greeter.greetings.read import (
    MAX_GREETINGS_BYTES,
    greetings_warnings,
    load_greetings,
    parse_greetings,
    screen_texts,
)
from greeter.greetings.render import first_name_of, message_for, render, time_of_day
from greeter.greetings.schema import Greetings, PersonGreeting
from greeter.greetings.watch import GreetingsWatcher

REAL_FDOPEN = os.fdopen
SHIPPED = Path(__file__).resolve().parent.parent / "config" / "greetings.json"
MORNING = datetime(2024, 5, 17, 9, 30)
EVENING = datetime(2024, 5, 17, 20, 15)


def write(path, content):
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return path


def greeting_file(tmp_path, people=None, **fields):
    return write(tmp_path / "greetings.json",
                 json.dumps({"people": people or {}, **fields}, ensure_ascii=False))


def problems_of(path):
    with pytest.raises(ConfigError) as raised:
        load_greetings(path)
    return str(raised.value).splitlines()


# -- the shipped file ---------------------------------------------------------------------


def test_shipped_file_is_valid_and_in_canonical_format():
    greetings = load_greetings(SHIPPED)
    assert greetings.stranger == ["Welcome Stranger!"]
    assert greetings.people["alex-m"].name == "Alex Müller"
    assert SHIPPED.read_text(encoding="utf-8") == dump_greetings(greetings)


def test_shipped_file_greets_alex_and_strangers():
    greetings = load_greetings(SHIPPED)
    assert message_for(greetings, "alex-m", MORNING) == "Welcome back, Alex!"
    assert message_for(greetings, None, MORNING) == "Welcome Stranger!"
    assert message_for(greetings, "juergen", EVENING) == "Guten Abend, Jürgen!"


def test_an_empty_object_means_the_built_in_greetings(tmp_path):
    assert load_greetings(write(tmp_path / "g.json", "{}")) == Greetings()


# -- broken files: one exact line per problem ----------------------------------------------


BROKEN_FILES = {
    "syntax error": (
        '{"language": "en",\n  "people": {}\n  "stranger": []}',
        ["{path}:3:3: expecting ',' delimiter"],
    ),
    "trailing comma": (
        '{"language": "en",}',
        ["{path}:1:19: expecting property name enclosed in double quotes (remove the comma "
         "after the last entry, line 1 column 18: JSON allows none there)"],
    ),
    "text instead of a list": (
        '{"stranger": "Welcome Stranger!"}',
        ["{path}: stranger: must be a JSON list [...]"],
    ),
    "number instead of a name": (
        '{"people": {"alex-m": {"name": 5, "messages": ["Hi"]}}}',
        ["{path}: people.alex-m.name: must be a string in double quotes"],
    ),
    "list at the top": ("[]", ["{path}: top level: must be a JSON object {{...}}"]),
    "unknown key": (
        '{"strangers": ["Hi"]}',
        ["{path}: strangers: unknown key (expected enrolled, language, people, screen, "
         "stranger)"],
    ),
    "misspelt key of a person": (
        '{"people": {"alex-m": {"name": "Alex", "mesages": ["Hi"]}}}',
        ["{path}: people.alex-m.messages: required but missing",
         "{path}: people.alex-m.mesages: unknown key (expected first_name, language, messages, "
         "name)"],
    ),
    "unknown placeholder": (
        '{"people": {"alex-m": {"name": "Alex", "messages": ["Hi {name}", "Hi {nmae}"]}}}',
        ["{path}: people.alex-m.messages[1]: unknown placeholder {{nmae}}"],
    ),
    "duplicate key": (
        '{"people": {"alex-m": {"name": "Alex", "messages": ["Hi"]},\n'
        '            "alex-m": {"name": "Alex M", "messages": ["Hello"]}}}',
        ["{path}: people.alex-m: duplicate key, the last one would silently win"],
    ),
    "duplicate key deep down": (
        '{"screen": {"values": [{"a": 1, "a": 2}]}}',
        ["{path}: screen.values[0].a: duplicate key, the last one would silently win",
         "{path}: screen.values[0]: must be a string in double quotes"],
    ),
    "empty file": ("", ["{path}: the file is empty; write {{}} for the built-in greetings"]),
    "blank file": (" \n\n", ["{path}: the file is empty; write {{}} for the built-in greetings"]),
    "not UTF-8": (
        '{"stranger": ["Welcome!"],\n "enrolled": ["Gr\xfc\xdf Gott, {name}"]}'.encode("latin-1"),
        ["{path}: not UTF-8: byte 0xfc at offset 44 (line 2); save the file as UTF-8"],
    ),
    "invalid person id": (
        '{"people": {"Alex M": {"name": "Alex", "messages": ["Hi"]}}}',
        ["{path}: people.Alex M: 'Alex M' is not a valid person id: use lowercase letters, "
         "digits, '-' and '_' (at most 64, starting and ending with a letter or digit), "
         "e.g. alex-m"],
    ),
    "unknown language": (
        '{"language": "fr"}', ["{path}: language: input should be 'en' or 'de'"]
    ),
    "name for a stranger": (
        '{"stranger": ["Hello {name}"]}',
        ["{path}: stranger[0]: placeholder {{name}} cannot be used here, only {{time_of_day}}"],
    ),
    "no messages": (
        '{"people": {"alex-m": {"name": "Alex", "messages": []}}}',
        ["{path}: people.alex-m.messages: must not be empty"],
    ),
    "blank name": (
        '{"people": {"alex-m": {"name": " ", "messages": ["Hi"]}}}',
        ["{path}: people.alex-m.name: must not be empty"],
    ),
    "control character": (
        '{"stranger": ["Welcome\\nStranger!"]}',
        ["{path}: stranger[0]: contains U+000A, a control character that the screen cannot "
         "show"],
    ),
    "lone surrogate": (
        '{"screen": {"title": "Hi \\ud83d"}}',
        ["{path}: screen.title: contains U+D83D, half of a surrogate pair that the screen "
         "cannot show"],
    ),
    "too many values": (
        json.dumps({"screen": {"values": [f"value {number}" for number in range(11)]}}),
        ["{path}: screen.values: list should have at most 10 items after validation, not 11"],
    ),
    "a name too long for the screen": (
        json.dumps({"people": {"kim": {"name": "K" * 65, "messages": ["Hi"]}}}),
        ["{path}: people.kim.name: is 65 characters long, but at most 64 fit on the screen: "
         "shorten it"],
    ),
    "a direction override": (
        '{"screen": {"title": "Welcome \\u202eyadot"}}',
        ["{path}: screen.title: contains U+202E, a text direction control that the screen "
         "cannot show"],
    ),
    "a line break in a key": (
        '{"people": {"kim\\nlee": {"name": "Kim", "messages": ["Hi"]}}}',
        ["{path}: people.kim\\nlee: 'kim\\nlee' is not a valid person id: use lowercase "
         "letters, digits, '-' and '_' (at most 64, starting and ending with a letter or "
         "digit), e.g. kim-lee"],
    ),
    "bad colour": (
        '{"screen": {"accent_color": "orange"}}',
        ["{path}: screen.accent_color: 'orange' is not a colour: write #rrggbb, e.g. #14213d"],
    ),
    "blank background image": (
        '{"screen": {"background_image": ""}}',
        ["{path}: screen.background_image: must not be empty: leave the key out for no image"],
    ),
    "blank logo": (
        '{"screen": {"logo": " "}}',
        ["{path}: screen.logo: must not be empty: leave the key out for no image"],
    ),
    "font scale out of range": (
        '{"screen": {"font_scale": 3}}',
        ["{path}: screen.font_scale: input should be less than or equal to 2"],
    ),
    "unknown orientation": (
        '{"screen": {"orientation": "upside-down"}}',
        ["{path}: screen.orientation: input should be 'auto', 'landscape' or 'portrait'"],
    ),
    "several problems at once": (
        '{"language": "xx", "stranger": [], "people": {"bob": {"name": "Bob", '
        '"messages": ["{name.__class__}"]}}}',
        ["{path}: language: input should be 'en' or 'de'",
         "{path}: stranger: must not be empty",
         "{path}: people.bob.messages[0]: placeholder {{name.__class__}} may only be a plain "
         "name, without . or ["],
    ),
}


@pytest.mark.parametrize("content, expected", BROKEN_FILES.values(), ids=list(BROKEN_FILES))
def test_each_broken_file_gives_its_exact_problems(tmp_path, content, expected):
    path = write(tmp_path / "greetings.json", content)
    assert problems_of(path) == [line.format(path=path) for line in expected]


def test_a_missing_file_says_where_to_get_one(tmp_path):
    path = tmp_path / "nowhere.json"
    assert problems_of(path) == [
        f"{path}: no greetings file here (copy config/greetings.json from greeter's "
        f"repository, or start one with `greeter greetings set`)"]


def test_a_folder_is_not_a_greetings_file(tmp_path):
    assert problems_of(tmp_path) == [f"{tmp_path}: is a directory, not a greetings file"]


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(tmp_path):
    """A 5 MB file, valid JSON: 20,000 people's greetings would be as large."""
    path = write(tmp_path / "greetings.json", "{}" + " " * 5_000_000)
    assert problems_of(path) == [
        f"{path}: the file has 5.0 MB, more than the 4 MB a greetings file may have (about "
        f"17,000 people with two messages each): keep greetings only for the people expected"]
    with pytest.raises(ConfigError, match="the file has 5.0 MB, more than the 4 MB"):
        parse_greetings(path.read_bytes(), path)  # what the console checks an edit with


def test_a_file_as_large_as_the_limit_is_read(tmp_path):
    path = write(tmp_path / "greetings.json", '{"language": "de"}'.ljust(MAX_GREETINGS_BYTES))
    assert load_greetings(path).language == "de"


def test_a_utf8_byte_order_mark_is_accepted(tmp_path):
    path = write(tmp_path / "g.json", b"\xef\xbb\xbf" + '{"stranger": ["Grüß Gott!"]}'.encode())
    assert load_greetings(path).stranger == ["Grüß Gott!"]


# -- templates -----------------------------------------------------------------------------


@pytest.mark.parametrize("hour, minute, english, german", [
    (0, 0, "morning", "Morgen"),
    (11, 59, "morning", "Morgen"),
    (12, 0, "afternoon", "Nachmittag"),
    (17, 59, "afternoon", "Nachmittag"),
    (18, 0, "evening", "Abend"),
    (23, 59, "evening", "Abend"),
])
def test_time_of_day_in_english_and_german(hour, minute, english, german):
    now = datetime(2024, 5, 17, hour, minute)
    assert (time_of_day(now, "en"), time_of_day(now, "de")) == (english, german)


def test_render_fills_in_every_placeholder():
    assert render("Good {time_of_day}, {first_name}! ({name})", "Alex Müller", MORNING) == (
        "Good morning, Alex! (Alex Müller)")
    assert render("Guten {time_of_day}, {name}!", "Jürgen Weiß", EVENING, "de") == (
        "Guten Abend, Jürgen Weiß!")
    assert render("Hi {first_name}", "Dr. Zoë Dubois", MORNING, first_name="Zoë") == "Hi Zoë"


def test_double_braces_are_literal_braces():
    assert render("{{name}} is {name} {{}}", "Łukasz", MORNING) == "{name} is Łukasz {}"


def test_values_are_inserted_as_they_are():
    assert render("Hi {name}!", "{time_of_day} {0} {name.__class__}", MORNING) == (
        "Hi {time_of_day} {0} {name.__class__}!")


@pytest.mark.parametrize("template, problem", [
    ("Hi {nmae}", "unknown placeholder {nmae}"),
    ("Hi {}", "unknown placeholder {}"),
    ("Hi {0}", "unknown placeholder {0}"),
    ("Hi { name }", "unknown placeholder { name }"),
    ("{name.__class__.__mro__}", "placeholder {name.__class__.__mro__} may only be a plain "
     "name, without . or ["),
    ("{name[0]}", "placeholder {name[0]} may only be a plain name, without . or ["),
    ("{name!r}", "placeholder {name!r} cannot have a conversion or format: write {name}"),
    ("{name:>30}", "placeholder {name:>30} cannot have a conversion or format: write {name}"),
    ("{name:{time_of_day}}", "placeholder {name:{time_of_day}} cannot have a conversion or "
     "format: write {name}"),
    ("Hi }", "unmatched '}' (write }} for a literal brace)"),
    ("Hi {", "unmatched '{' (write {{ for a literal brace)"),
    ("Hi {name", "unmatched '{' (write {{ for a literal brace)"),
    ("", "must not be empty"),
])
def test_render_rejects_anything_but_plain_placeholders(template, problem):
    with pytest.raises(ConfigError) as raised:
        render(template, "Alex", MORNING)
    assert str(raised.value) == f"{template!r}: {problem}"


def test_a_stranger_has_no_name():
    with pytest.raises(ConfigError) as raised:
        render("Hi {first_name}", None, MORNING)
    assert str(raised.value) == (
        "'Hi {first_name}': placeholder {first_name} cannot be used here, only {time_of_day}")


# -- who is told what ------------------------------------------------------------------------


@pytest.fixture
def greetings():
    return Greetings(
        stranger=["Welcome Stranger!", "Good {time_of_day}, stranger!"],
        enrolled=["Welcome back, {first_name}!"],
        people={
            "alex-m": PersonGreeting(name="Alex Müller", messages=["One {first_name}", "Two",
                                                                   "Three {name}"]),
            "juergen": PersonGreeting(name="Jürgen", language="de",
                                      messages=["Guten {time_of_day}, {name}!"]),
        },
    )


def test_messages_take_turns_visit_by_visit(greetings):
    said = [message_for(greetings, "alex-m", MORNING, visit) for visit in range(4)]
    assert said == ["One Alex", "Two", "Three Alex Müller", "One Alex"]
    assert [message_for(greetings, None, EVENING, visit) for visit in range(2)] == [
        "Welcome Stranger!", "Good evening, stranger!"]


def test_a_person_may_have_their_own_language(greetings):
    assert greetings.language == "en"
    assert message_for(greetings, "juergen", MORNING) == "Guten Morgen, Jürgen!"


def test_enrolled_people_without_a_greeting_get_the_enrolled_one(greetings):
    assert message_for(greetings, "sam-s", MORNING, store_name="Sam Smith") == (
        "Welcome back, Sam!")
    assert message_for(greetings, "sam-smith", MORNING) == "Welcome back, Sam!"


# -- writing ---------------------------------------------------------------------------------


UNICODE_NAMES = ["Jürgen Weiß", "Zoë", "Łukasz", "Ana 🎉", "עדי", "李雷", "Zoë 👩🏽‍💻"]


def test_unicode_round_trips_unescaped(tmp_path):
    path = tmp_path / "greetings.json"
    people = {f"p{index}": PersonGreeting(name=name, messages=[f"Hallo {name}, {{name}}!"])
              for index, name in enumerate(UNICODE_NAMES)}
    save_greetings(path, Greetings(people=people))
    assert load_greetings(path).people == people
    text = path.read_bytes().decode("utf-8")
    assert all(name in text for name in UNICODE_NAMES)
    assert message_for(load_greetings(path), "p6", MORNING) == "Hallo Zoë 👩🏽‍💻, Zoë 👩🏽‍💻!"


def test_saved_files_are_sorted_indented_and_end_with_a_newline(tmp_path):
    path = tmp_path / "greetings.json"
    save_greetings(path, Greetings(people={
        "zoe": PersonGreeting(name="Zoë", messages=["Hi {name}"]),
        "alex-m": PersonGreeting(name="Alex", messages=["Yo"]),
    }))
    text = path.read_text(encoding="utf-8")
    assert text.endswith("}\n") and not text.endswith("\n\n")
    assert text.index('"alex-m"') < text.index('"zoe"')
    assert '\n  "people": {\n    "alex-m": {\n      "messages": [\n        "Yo"\n' in text
    assert json.loads(text) == json.loads(dump_greetings(load_greetings(path)))


def test_saving_invalid_greetings_leaves_the_file_as_it_was(tmp_path):
    path = write(tmp_path / "greetings.json", SHIPPED.read_text(encoding="utf-8"))
    bad = with_greeting(load_greetings(path), "alex-m", ["Hi {nmae}"])
    with pytest.raises(ConfigError) as raised:
        save_greetings(path, bad)
    assert str(raised.value).splitlines() == [
        f"{path}: people.alex-m.messages[0]: unknown placeholder {{nmae}}",
        f"{path}: left unchanged"]
    assert path.read_bytes() == SHIPPED.read_bytes()


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_a_failed_write_leaves_the_old_file_and_no_temporary_one(tmp_path, monkeypatch, failing):
    path = write(tmp_path / "greetings.json", SHIPPED.read_text(encoding="utf-8"))

    def disk_full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    if failing == "write":
        monkeypatch.setattr("greeter.atomicfile.os.fdopen", lambda fd, mode: _FullDisk(fd))
    else:
        monkeypatch.setattr(f"greeter.atomicfile.os.{failing}", disk_full)
    with pytest.raises(ConfigError) as raised:
        save_greetings(path, Greetings())
    assert str(raised.value) == f"{path}: cannot be written (No space left on device); left " \
                                f"unchanged"
    assert path.read_bytes() == SHIPPED.read_bytes()
    assert os.listdir(tmp_path) == ["greetings.json"]


class _FullDisk:
    """A file that takes a few bytes and then reports a full disk."""

    def __init__(self, descriptor):
        self.file = REAL_FDOPEN(descriptor, "wb")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.file.close()

    def fileno(self):
        return self.file.fileno()

    def write(self, content):
        self.file.write(content[:10])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_new_file_is_private_and_an_existing_one_keeps_its_mode(tmp_path):
    new = tmp_path / "config" / "new.json"
    save_greetings(new, Greetings())
    assert stat.S_IMODE(new.stat().st_mode) == 0o600
    shared = write(tmp_path / "shared.json", "{}")
    os.chmod(shared, 0o644)
    save_greetings(shared, Greetings(language="de"))
    assert stat.S_IMODE(shared.stat().st_mode) == 0o644
    assert load_greetings(shared).language == "de"


def test_the_editing_lock_is_private_too(tmp_path):
    """It was created 0755 (os.open's default mode): executable and world-readable."""
    path = tmp_path / "greetings.json"
    umask = os.umask(0o022)
    try:
        update_greetings(path, lambda greetings: greetings.model_copy(update={"language": "de"}))
    finally:
        os.umask(umask)
    assert stat.S_IMODE((tmp_path / ".greetings.json.lock").stat().st_mode) == 0o600


def test_a_symbolic_link_is_followed_not_replaced(tmp_path):
    real = write(tmp_path / "real.json", "{}")
    link = tmp_path / "greetings.json"
    link.symlink_to(real)
    save_greetings(link, Greetings(language="de"))
    assert link.is_symlink()
    assert load_greetings(real).language == "de"


def test_with_greeting_adds_replaces_and_names(tmp_path):
    start = Greetings(people={"alex-m": PersonGreeting(name="Alex", messages=["A", "B"])})
    assert with_greeting(start, "alex-m", ["C", "A"], add=True).people["alex-m"].messages == [
        "A", "B", "C"]
    replaced = with_greeting(start, "alex-m", ["C"], name="Alex Müller")
    assert replaced.people["alex-m"] == PersonGreeting(name="Alex Müller", messages=["C"])
    assert with_greeting(start, "sam-s", ["Hi"], name_if_new="Sam Smith").people[
        "sam-s"].name == "Sam Smith"
    assert with_greeting(start, "sam-smith", ["Hi"]).people["sam-smith"].name == "Sam Smith"
    assert start.people["alex-m"].messages == ["A", "B"]


def test_update_writes_only_real_changes(tmp_path):
    path = write(tmp_path / "greetings.json", '{"language":"de"}')
    before, after = update_greetings(path, lambda greetings: greetings)
    assert before == after and path.read_text() == '{"language":"de"}'
    update_greetings(path, lambda greetings: with_greeting(greetings, "alex-m", ["Hi"]))
    assert path.read_text(encoding="utf-8") == dump_greetings(load_greetings(path))


def _add_messages(path, worker, count):
    for number in range(count):
        message = f"message {worker}.{number}"
        update_greetings(path, partial(with_greeting, person_id="alex-m", messages=[message],
                                       add=True))


def test_concurrent_edits_lose_nothing_and_never_corrupt_the_file(tmp_path):
    path = tmp_path / "greetings.json"
    save_greetings(path, Greetings())
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_add_messages, args=(path, worker, 10))
               for worker in range(6)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0] * 6
    messages = load_greetings(path).people["alex-m"].messages
    assert sorted(messages) == sorted(f"message {w}.{n}" for w in range(6) for n in range(10))
    assert sorted(os.listdir(tmp_path)) == [".greetings.json.lock", "greetings.json"]


def test_remove_greeting(tmp_path):
    path = write(tmp_path / "greetings.json", SHIPPED.read_text(encoding="utf-8"))
    assert remove_greeting(path, "nobody") is False
    assert os.listdir(tmp_path) == ["greetings.json"]  # nothing to remove: not even locked
    assert remove_greeting(path, "alex-m") is True
    assert "alex-m" not in load_greetings(path).people
    assert "Alex Müller" not in path.read_text(encoding="utf-8")
    assert remove_greeting(path, "alex-m") is False
    missing = tmp_path / "elsewhere" / "greetings.json"
    assert remove_greeting(missing, "alex-m") is False
    assert not missing.parent.exists()


def test_warnings_about_enrolment_and_the_background_image(tmp_path):
    greetings = load_greetings(SHIPPED)
    greetings.screen.background_image = Path("images/hall.jpg")
    enrolled = {"alex-m": "Alex Müller", "alex-k": "Alex Kim", "juergen": "Jürgen",
                "lukasz": "Łukasz", "sam-s": "Sam Smith"}
    assert greetings_warnings(greetings, tmp_path / "greetings.json", enrolled) == [
        "people.zoe-d: 'zoe-d' is not enrolled, so this greeting is never shown",
        "sam-s (Sam Smith) is enrolled without a greeting of their own: they get the enrolled "
        "ones",
        f"screen.background_image: {tmp_path / 'images' / 'hall.jpg'} does not exist",
    ]
    (tmp_path / "images").mkdir()
    (tmp_path / "images" / "hall.jpg").write_bytes(b"jpeg")
    assert greetings_warnings(greetings, tmp_path / "greetings.json", None) == []


def test_hundreds_of_guests_without_a_greeting_of_their_own_are_one_line(tmp_path):
    """The usual case at an event: a line naming five of them and counting the others."""
    greetings = load_greetings(SHIPPED)
    enrolled = {f"guest-{number:03d}": f"Guest {number}" for number in range(300)}
    assert [line for line in greetings_warnings(greetings, tmp_path / "greetings.json", enrolled)
            if "enrolled without" in line] == [
        "guest-000 (Guest 0), guest-001 (Guest 1), guest-002 (Guest 2), guest-003 (Guest 3), "
        "guest-004 (Guest 4) and 295 more are enrolled without a greeting of their own: they "
        "get the enrolled ones"]


def test_a_missing_logo_is_a_warning(tmp_path):
    greetings = Greetings.model_validate({"screen": {"logo": "logo.png"}})
    assert greetings_warnings(greetings, tmp_path / "greetings.json", None) == [
        f"screen.logo: {tmp_path / 'logo.png'} does not exist"]


def test_pictures_the_screen_can_show_are_valid(tmp_path):
    Image.new("RGBA", (600, 200), (0, 90, 200, 128)).save(tmp_path / "logo.png")
    (tmp_path / "images").mkdir()
    Image.new("RGB", (1920, 1080), (30, 30, 30)).save(tmp_path / "images" / "hall.jpg")
    path = greeting_file(tmp_path, screen={"logo": "logo.png",
                                           "background_image": "images/hall.jpg"})
    assert load_greetings(path).screen.logo == Path("logo.png")


def test_pictures_too_large_or_not_images_are_problems(tmp_path):
    """Not a warning: the robot would decode the 8000x6251 PNG whole; a text file, even
    named .png, or a folder is no picture. An absolute path is checked as well."""
    bomb = flat_png(tmp_path / "bomb.png", 8000, 6251)
    notes = write(tmp_path / "notes.png", "root:x:0:0:root:/root:/bin/bash\n")
    path = greeting_file(tmp_path, screen={"logo": "bomb.png", "background_image": str(notes)})
    assert problems_of(path) == [
        f"{path}: screen.background_image: {notes}: not an image, or a format that cannot be "
        f"read",
        f"{path}: screen.logo: {bomb} is 8000x6251 px, more than the 50 megapixels a logo may "
        f"have: save it smaller; a screen shows no more than its own size, e.g. 1920x1080"]
    (tmp_path / "images").mkdir()
    path = greeting_file(tmp_path, screen={"logo": "images"})
    assert problems_of(path) == [
        f"{path}: screen.logo: {tmp_path / 'images'}: is a directory, not a photo"]


def test_the_first_name_the_screen_emphasises():
    greetings = load_greetings(SHIPPED)
    assert first_name_of(greetings, "zoe-d") == "Zoë"  # the entry's first_name
    assert first_name_of(greetings, "alex-m") == "Alex"  # the first word of its name
    assert first_name_of(greetings, "sam-s", "Sam Smith") == "Sam"  # the store's name
    assert first_name_of(greetings, "sam-s") == "Sam"  # made from the id
    assert first_name_of(greetings, None) == ""  # a stranger
    for person_id in ("zoe-d", "alex-m"):
        assert first_name_of(greetings, person_id) in message_for(
            greetings, person_id, MORNING, visit=0)


def test_screen_texts_cover_everything_the_screen_shows():
    greetings = load_greetings(SHIPPED)
    texts = dict(screen_texts(greetings))
    assert texts["screen.title"] == "Welcome to the Open Lab Day"
    assert texts["people.alex-k.messages[1]"] == "Good {time_of_day}, {first_name}! 👋"
    assert texts["people.zoe-d.first_name"] == "Zoë"
    assert texts["stranger[0]"] == "Welcome Stranger!"
    assert "screen.values[2]" in texts and "screen.idle_message" in texts


# -- hot reload ------------------------------------------------------------------------------


def edit(path, content, tick):
    """Rewrite in place, as an editor does, with a distinct modification time."""
    write(path, content)
    os.utime(path, ns=(tick * 10**9, tick * 10**9))


def test_hot_reload_keeps_the_last_good_greetings_through_an_invalid_edit(tmp_path, caplog):
    path = greeting_file(tmp_path, stranger=["Hello!"])
    logger = logging.getLogger("test.greetings")
    watcher = GreetingsWatcher(path, logger)
    assert watcher.current.stranger == ["Hello!"] and watcher.problem is None
    assert watcher.poll() is False

    edit(path, '{"stranger": ["Hi {nmae}"]}', 1)
    with caplog.at_level(logging.ERROR, logger="test.greetings"):
        assert watcher.poll() is False
        edit(path, '{"stranger": ["Hi {nmae}"]} ', 2)  # changed, same problem: not logged again
        assert watcher.poll() is False
        assert watcher.poll() is False
    assert watcher.current.stranger == ["Hello!"]
    assert watcher.problem == f"{path}: stranger[0]: unknown placeholder {{nmae}}"
    assert [record.getMessage() for record in caplog.records] == [
        f"greetings not loaded, still using the previous ones:\n{watcher.problem}"]

    edit(path, '{"stranger": ["Welcome, {time_of_day} guest!"]}', 3)
    assert watcher.poll() is True
    assert message_for(watcher.current, None, EVENING) == "Welcome, evening guest!"
    assert watcher.problem is None and watcher.poll() is False


def test_hot_reload_keeps_the_previous_screen_when_its_new_logo_is_too_large(tmp_path, caplog):
    Image.new("RGB", (300, 100), (0, 90, 200)).save(tmp_path / "logo.png")
    path = greeting_file(tmp_path, screen={"logo": "logo.png", "title": "Open Day"})
    logger = logging.getLogger("test.greetings")
    watcher = GreetingsWatcher(path, logger)
    flat_png(tmp_path / "bomb.png", 8000, 6251)
    edit(path, json.dumps({"screen": {"logo": "bomb.png", "title": "Bomb"}}), 1)
    with caplog.at_level(logging.ERROR, logger="test.greetings"):
        assert watcher.poll() is False
        edit(path, json.dumps({"screen": {"logo": "bomb.png", "title": "Bomb"}}) + " ", 2)
        assert watcher.poll() is False
    assert watcher.current.screen.logo == Path("logo.png")
    assert watcher.current.screen.title == "Open Day"
    assert len(caplog.records) == 1
    assert "screen.logo: " in caplog.text and "8000x6251 px, more than the 50" in caplog.text


def test_hot_reload_picks_up_an_atomic_replacement(tmp_path):
    path = greeting_file(tmp_path, stranger=["Hello!"])
    watcher = GreetingsWatcher(path)
    update_greetings(path, lambda greetings: greetings.model_copy(update={"language": "de"}))
    assert watcher.poll() is True
    assert watcher.current.language == "de"


def test_hot_reload_survives_a_deleted_file_and_an_invalid_start(tmp_path, caplog):
    path = tmp_path / "greetings.json"
    with caplog.at_level(logging.ERROR):
        watcher = GreetingsWatcher(path)
        assert watcher.poll() is False
    assert watcher.current == Greetings()
    assert len(caplog.records) == 1 and "no greetings file here" in caplog.records[0].message
    edit(path, '{"language": "de"}', 1)
    assert watcher.poll() is True and watcher.current.language == "de"
    path.unlink()
    assert watcher.poll() is False and watcher.current.language == "de"
