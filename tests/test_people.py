"""The one rule for person ids, names and messages (greeter.names), on real text and files."""

import json
import sqlite3
from datetime import datetime

import numpy as np
import pytest
from conftest import cli_runner

from greeter.cli import main
from greeter.errors import StoreError
from greeter.greetings.render import message_for
from greeter.greetings.schema import Greetings
from greeter.names import (
    ELLIPSIS,
    MESSAGE_MAX_LENGTH,
    NAME_MAX_LENGTH,
    PersonTextError,
    check_name,
    check_person_id,
    escaped,
    name_from_file,
    name_from_id,
    showable,
    shown,
    suggest_person_id,
)
from greeter.people.bundle import checksum
from greeter.people.enrolment import REJECTED, PhotoOutcome, jobs_from_folders
from greeter.people.store import Store

# -- person ids --------------------------------------------------------------------------------


@pytest.mark.parametrize("text, suggestion", [
    ("zoë", "zoe"),
    ("Zoë", "zoe"),
    ("Jürgen Weiß", "jurgen-weiss"),
    ("Ærøskøbing", "aeroskobing"),
    ("Łukasz Nowak", "lukasz-nowak"),
    ("Ștefan  O'Brien", "stefan-o-brien"),
    ("Nguyễn Thị", "nguyen-thi"),
    ("Alex Mueller", "alex-mueller"),
    ("../etc", "etc"),
    ("a" * 100, "a" * 64),
    ("Дмитрий", None),
    ("---", None),
])
def test_an_id_is_suggested_in_ascii(text, suggestion):
    assert suggest_person_id(text) == suggestion


def test_an_invalid_id_names_the_rule_and_a_transliterated_suggestion():
    with pytest.raises(PersonTextError, match=r"^'zoë' is not a valid person id: .*, e\.g\. zoe$"):
        check_person_id("zoë")
    with pytest.raises(StoreError) as error:  # what the store and its callers catch
        check_person_id("Дмитрий")
    assert "e.g." not in str(error.value)


def test_an_id_with_a_line_break_is_named_on_one_line():
    with pytest.raises(PersonTextError) as error:
        check_person_id("alex\nm")
    assert str(error.value).startswith("'alex\\nm' is not a valid person id")
    assert "\n" not in str(error.value)


def test_valid_ids_and_names_made_from_them():
    for good in ("alex", "alex-m", "a1", "x", "alex_k", "a" * 64):
        assert check_person_id(good) == good
    assert name_from_id("jurgen-weiss") == "Jurgen Weiss"


# -- showable text -----------------------------------------------------------------------------


def test_text_is_normalised_and_trimmed():
    decomposed = "  Zoe\u0308 "  # e + combining diaeresis, as macOS file names spell it
    assert showable(decomposed, NAME_MAX_LENGTH) == "Zoë"
    assert check_name(" Łukasz\t") == "Łukasz"  # surrounding whitespace is trimmed, not refused


@pytest.mark.parametrize("text, problem", [
    ("", "must not be empty"),
    ("  ", "must not be empty"),
    ("Kim\x00", "contains U+0000, a control character that the screen cannot show"),
    ("Kim\nLee", "contains U+000A, a control character that the screen cannot show"),
    ("Kim\x1b[31m", "contains U+001B, a control character that the screen cannot show"),
    ("Kim\u2028Lee", "contains U+2028, a line separator that the screen cannot show"),
    ("Kim\u2029Lee", "contains U+2029, a paragraph separator that the screen cannot show"),
    ("Kim\u202eeeL", "contains U+202E, a text direction control that the screen cannot show"),
    ("Kim\u2066Lee", "contains U+2066, a text direction control that the screen cannot show"),
    ("Kim\ud800", "contains U+D800, half of a surrogate pair that the screen cannot show"),
    ("x" * (NAME_MAX_LENGTH + 1),
     f"is {NAME_MAX_LENGTH + 1} characters long, but at most {NAME_MAX_LENGTH} fit on the "
     "screen: shorten it"),
    ("x" * 10_000, f"is 10,000 characters long, but at most {NAME_MAX_LENGTH} fit on the "
     "screen: shorten it"),
])
def test_each_problem_of_a_name_has_its_own_message(text, problem):
    with pytest.raises(ValueError) as error:
        showable(text, NAME_MAX_LENGTH)
    assert str(error.value) == problem


@pytest.mark.parametrize("text", ["👩🏽‍💻 Adi", "עדי", "نرگس\u200cی", "x" * NAME_MAX_LENGTH,
                                  "Kim [she/her]", "a[/b]"])
def test_any_script_joiners_and_brackets_are_allowed(text):
    assert check_name(text) == text


def test_a_message_may_be_longer_than_a_name():
    message = "y" * MESSAGE_MAX_LENGTH
    assert showable(message, MESSAGE_MAX_LENGTH) == message
    with pytest.raises(ValueError, match="at most 280 fit"):
        showable(message + "y", MESSAGE_MAX_LENGTH)


def test_a_refused_name_is_named_with_its_owner_on_one_line():
    with pytest.raises(PersonTextError) as error:
        check_name("Kim\nLee", "kim")
    assert str(error.value) == ("kim's display name 'Kim\\nLee' contains U+000A, a control "
                                "character that the screen cannot show")
    with pytest.raises(PersonTextError) as error:
        check_name("x" * 10_000)
    assert str(error.value) == (f"display name '{'x' * 40}'{ELLIPSIS} is 10,000 characters "
                                f"long, but at most {NAME_MAX_LENGTH} fit on the screen: "
                                "shorten it")


# -- name.txt ------------------------------------------------------------------------------------


def test_a_name_file_in_utf8_with_or_without_a_byte_order_mark(tmp_path):
    plain = tmp_path / "name.txt"
    plain.write_text("Jürgen Weiß\n", encoding="utf-8")
    assert name_from_file(plain.read_bytes()) == "Jürgen Weiß"
    notepad = tmp_path / "notepad.txt"
    notepad.write_text("Zoë Dubois\r\n", encoding="utf-8-sig")
    assert name_from_file(notepad.read_bytes()) == "Zoë Dubois"


@pytest.mark.parametrize("content, problem", [
    ("Jürgen Weiß\n".encode("latin-1"),
     "is not UTF-8 (byte 0xfc at offset 1): save it as UTF-8"),
    (b"", "is empty: write the display name in it, or delete it to use a name made from the id"),
    (b" \n\n", "is empty: write the display name in it, or delete it to use a name made from "
     "the id"),
    (b"Alex\nMueller\n", "holds 2 lines: write the display name alone on one line"),
    (b"Kim\x00Lee", "holds a display name that contains U+0000, a control character that the "
     "screen cannot show"),
    (b"x" * 10_000, f"holds a display name that is 10,000 characters long, but at most "
     f"{NAME_MAX_LENGTH} fit on the screen: shorten it"),
])
def test_a_name_file_that_cannot_be_used_says_why(content, problem):
    with pytest.raises(ValueError) as error:
        name_from_file(content)
    assert str(error.value) == problem


# -- what the screen and the terminal show of any text -------------------------------------------


def test_shown_keeps_good_text_as_it_is():
    assert shown("Welcome back, Zoë!", 64) == "Welcome back, Zoë!"


def test_shown_cuts_long_text_with_an_ellipsis_and_blanks_control_characters():
    assert shown("x" * 100_000, 10) == "x" * 9 + ELLIPSIS
    assert shown("Kim\x00Lee\n\nand\u202eyou\ud800", 64) == "Kim Lee and you\ufffd"
    assert shown(" " * 100_000 + "hidden", 10) == ""  # a blank head: nothing worth showing
    assert len(shown("word " * 100_000, 400)) == 400


def test_escaped_keeps_a_line_on_one_line():
    assert escaped("photos/a\nb.jpg") == "photos/a\\nb.jpg"
    assert escaped("\x1b[2J\u202eevil") == "\\x1b[2J\\u202eevil"
    assert escaped("Zoë [she/her]") == "Zoë [she/her]"


# -- every door applies the rule ----------------------------------------------------------------


def invoke(tmp_path, *args):
    return cli_runner().invoke(main, ["--store", str(tmp_path / "greeter.sqlite3"),
                                      "--greetings", str(tmp_path / "greetings.json"),
                                      *map(str, args)])


def enrol(tmp_path, person_id, name, seed=0):
    vector = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    with Store(tmp_path / "greeter.sqlite3") as store:
        store.add_embedding(person_id, name, vector, f"sha-{seed}", f"{seed}.jpg", 120, 80.0)


def test_greetings_check_reports_a_100000_character_message_and_a_long_name(tmp_path):
    """A message that froze `greeter run` used to pass `greetings check`."""
    (tmp_path / "greetings.json").write_text(json.dumps({"people": {"kim": {
        "name": "K" * 10_000, "messages": ["Hello {name}! " + "x" * 100_000]}}}))
    result = invoke(tmp_path, "greetings", "check")
    path = tmp_path / "greetings.json"
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [
        f"{path}: people.kim.name: is 10,000 characters long, but at most 64 fit on the "
        "screen: shorten it",
        f"{path}: people.kim.messages[0]: is 100,014 characters long, but at most 280 fit on "
        "the screen: shorten it",
    ]


def test_rename_refuses_a_long_name_and_a_nul_and_stores_names_normalised(tmp_path):
    enrol(tmp_path, "kim", "Kim")
    long = invoke(tmp_path, "people", "rename", "kim", "K" * 10_000)
    assert long.exit_code == 1
    assert long.stderr == (f"Error: kim's display name '{'K' * 40}'{ELLIPSIS} is 10,000 "
                           "characters long, but at most 64 fit on the screen: shorten it\n")
    nul = invoke(tmp_path, "people", "rename", "kim", "Kim\x00")
    assert nul.stderr == ("Error: kim's display name 'Kim\\x00' contains U+0000, a control "
                          "character that the screen cannot show\n")
    renamed = invoke(tmp_path, "people", "rename", "kim", " Zoe\u0308 ")
    assert renamed.stdout == "kim is now called Zoë\n"
    with Store(tmp_path / "greeter.sqlite3") as store:
        assert store.person("kim").name == "Zoë"


def test_the_store_refuses_what_the_rule_refuses(tmp_path):
    """Defence in depth: library callers that bypass the commands meet the same rule."""
    with Store(tmp_path / "greeter.sqlite3") as store:
        with pytest.raises(StoreError, match="contains U\\+0000"):
            store.add_embedding("kim", "Kim\x00", np.ones(128), "sha", "a.jpg", 120, 80.0)
        assert store.people() == []
        store.add_embedding("kim", None, np.ones(128), "sha", "a.jpg", 120, 80.0)
        with pytest.raises(StoreError, match="at most 64"):
            store.rename("kim", "K" * 65)
        assert store.person("kim").name == "Kim"


@pytest.mark.parametrize("name", ["Kim [she/her]", "a[/b]", "[bold]x[/bold]"])
def test_names_are_printed_as_they_are_never_as_markup(tmp_path, name):
    """rich used to read names as markup: "Kim [she/her]" lost its bracket, a[/b] raised."""
    enrol(tmp_path, "kim", name)
    listed = invoke(tmp_path, "people", "list")
    assert listed.exit_code == 0, listed.output
    assert name in listed.stdout
    assert invoke(tmp_path, "people", "show", "kim").stdout.startswith(f"kim: {name} (enrolled ")
    greeted = invoke(tmp_path, "greetings", "set", "kim", "--message", "Hi {name}!")
    assert greeted.exit_code == 0, greeted.output
    table = invoke(tmp_path, "greetings", "list")
    assert table.exit_code == 0, table.output
    assert name in table.stdout and "Hi {name}!" in table.stdout


def test_an_old_store_with_a_long_or_broken_name_still_loads_and_is_shown_cut(tmp_path):
    """A store written before the rule may hold anything: listed, greeted with the name cut."""
    enrol(tmp_path, "kim", "Kim")
    with sqlite3.connect(str(tmp_path / "greeter.sqlite3")) as db:
        db.execute("UPDATE people SET name=? WHERE id='kim'", ("Kim\nLee " + "K" * 10_000,))
    listed = invoke(tmp_path, "people", "list")
    assert listed.exit_code == 0, listed.output
    assert "Kim\\nLee" in listed.stdout
    (tmp_path / "greetings.json").write_text("{}")
    preview = invoke(tmp_path, "greetings", "preview", "kim")
    assert preview.exit_code == 0, preview.output
    assert preview.stdout == "Welcome back, Kim!\n"  # {first_name}: the first word
    greeting = Greetings(enrolled=["Hello {name}"])
    said = message_for(greeting, "kim", datetime(2024, 5, 17),
                       store_name="Kim\nLee " + "K" * 10_000)
    assert said == "Hello Kim Lee " + "K" * (NAME_MAX_LENGTH - 9) + ELLIPSIS


def test_a_bundle_with_a_bad_name_is_refused_with_the_reason(tmp_path):
    enrol(tmp_path, "kim", "Kim")
    bundle = tmp_path / "people.bundle"
    assert invoke(tmp_path, "people", "export", bundle).exit_code == 0
    document = json.loads(bundle.read_text())
    document["people"][0]["name"] = "Kim\u202e" + "x" * 10
    document["sha256"] = checksum(document)
    bundle.write_text(json.dumps(document))
    robot = tmp_path / "robot"
    robot.mkdir()
    result = invoke(robot, "people", "import", bundle)
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {bundle}: invalid bundle: people[0].name: contains "
                             "U+202E, a text direction control that the screen cannot show\n")
    assert not (robot / "greeter.sqlite3").exists()


def test_enrol_with_a_bad_name_changes_nothing(tmp_path):
    photo = tmp_path / "kim.jpg"
    photo.write_bytes(b"not read: the name is refused first")
    result = invoke(tmp_path, "enroll", "--person", "kim", "--name", "Kim\x00", photo)
    assert result.exit_code == 1
    assert result.stderr == ("Error: display name 'Kim\\x00' contains U+0000, a control "
                             "character that the screen cannot show\n")
    assert not (tmp_path / "greeter.sqlite3").exists()


@pytest.mark.parametrize("content, reason", [
    ("Jürgen Weiß\n".encode("latin-1"),
     "name.txt is not UTF-8 (byte 0xfc at offset 1): save it as UTF-8"),
    (b"K" * 10_000, "name.txt holds a display name that is 10,000 characters long, but at most "
     "64 fit on the screen: shorten it"),
    (b"Kim\x00", "name.txt holds a display name that contains U+0000, a control character that "
     "the screen cannot show"),
])
def test_a_bad_name_file_rejects_its_person_instead_of_using_the_id(tmp_path, content, reason):
    folder = tmp_path / "enroll" / "juergen"
    folder.mkdir(parents=True)
    (folder / "name.txt").write_bytes(content)
    (folder / "1.jpg").write_bytes(b"never analysed: the person is rejected first")
    jobs, outcomes = jobs_from_folders([tmp_path / "enroll"])
    assert jobs == []
    assert outcomes == [PhotoOutcome(folder, "juergen", REJECTED,
                                     f"{reason}; no photo of juergen was enrolled")]


def test_a_rejected_photo_with_a_line_break_in_its_name_is_one_line(tmp_path):
    folder = tmp_path / "enroll" / "kim"
    folder.mkdir(parents=True)
    (folder / "party\n[red]time.jpg").write_bytes(b"")
    result = invoke(tmp_path, "enroll", tmp_path / "enroll")
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"{folder}/party\\n[red]time.jpg: rejected: empty file (0 bytes)")
    assert "party\\n[red]time.jpg" in result.stdout.replace("\n", "")  # the table, folded


def test_identify_prints_a_name_stored_before_the_rule_on_one_line(samples, tmp_path):
    enrolled = invoke(tmp_path, "enroll", "--person", "obama", samples / "obama.jpg")
    assert enrolled.exit_code == 0, enrolled.output
    with sqlite3.connect(str(tmp_path / "greeter.sqlite3")) as db:
        db.execute("UPDATE people SET name=? WHERE id='obama'", ("Barack\nObama\x1b[2J",))
    (tmp_path / "greetings.json").write_text("{}")

    result = invoke(tmp_path, "identify", samples / "obama2.jpg")

    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n") == 1
    assert "Barack\\nObama\\x1b[2J (obama)" in result.stdout


def test_people_rename_renames_the_greeting_too(tmp_path):
    enrol(tmp_path, "kim", "Kim")
    assert invoke(tmp_path, "greetings", "set", "kim", "--message", "Hi {name}!").exit_code == 0

    renamed = invoke(tmp_path, "people", "rename", "kim", "Kim [she/her]")

    assert renamed.exit_code == 0, renamed.output
    assert renamed.stdout.endswith(f"renamed kim in {tmp_path / 'greetings.json'} too\n")
    assert invoke(tmp_path, "greetings", "preview", "kim").stdout == "Hi Kim [she/her]!\n"
