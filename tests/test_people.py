"""The one rule for person ids, names and messages (greeter.people), on real text and files."""

import pytest

from greeter.errors import StoreError
from greeter.people import (
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
