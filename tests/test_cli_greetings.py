"""``greeter greetings``, and the greetings in ``people remove`` and ``identify``: real files in
a temporary folder, exact output."""

import json
import os
import subprocess
import sys
from collections import namedtuple
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from conftest import cli_runner, flat_png
from PIL import Image

import greeter.cli.greetings as greetings_cli
import greeter.cli.identify as identify_cli
import greeter.screen.text as screen_text
from greeter.cli import main
from greeter.greetings.read import load_greetings
from greeter.people.store import Store
from greeter.recognition.recogniser import IdentifiedFace

SHIPPED = Path(__file__).resolve().parent.parent / "config" / "greetings.json"
Files = namedtuple("Files", "greetings store")


@pytest.fixture
def files(tmp_path):
    """A copy of the shipped greetings file, and a store path with nobody enrolled yet."""
    greetings = tmp_path / "config" / "greetings.json"
    greetings.parent.mkdir()
    greetings.write_bytes(SHIPPED.read_bytes())
    return Files(greetings, tmp_path / "data" / "greeter.sqlite3")


class AfternoonClock(datetime):
    @classmethod
    def now(cls, tz=None):
        return cls(2024, 5, 17, 15, 0)


@pytest.fixture(autouse=True)
def afternoon(monkeypatch):
    monkeypatch.setattr(greetings_cli, "datetime", AfternoonClock)
    monkeypatch.setattr(identify_cli, "datetime", AfternoonClock)


def invoke(files, *args, **kwargs):
    return cli_runner().invoke(
        main, ["--greetings", str(files.greetings), "--store", str(files.store), *map(str, args)],
        **kwargs)


def enrol(files, **names):
    with Store(files.store) as store:
        for seed, (person_id, name) in enumerate(sorted(names.items())):
            vector = np.random.default_rng(seed).normal(size=128).astype(np.float32)
            store.add_embedding(person_id.replace("_", "-"), name, vector, f"sha-{seed}",
                                f"{seed}.jpg", 120, 80.0)


# -- check -----------------------------------------------------------------------------------


def test_check_the_shipped_file(files):
    result = invoke(files, "greetings", "check")
    assert (result.exit_code, result.stdout, result.stderr) == (
        0, f"{files.greetings}: valid, 5 people\n", "")


def test_check_names_every_problem_of_a_file_on_its_own_line(files, tmp_path):
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({
        "language": "fr",
        "people": {"alex-m": {"name": "Alex", "messages": ["Hi {first_name}", "Hi {nmae}"]}},
        "screen": {"colour": "#000000"},
    }), encoding="utf-8")
    result = invoke(files, "greetings", "check", broken)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [
        f"{broken}: language: input should be 'en' or 'de'",
        f"{broken}: people.alex-m.messages[1]: unknown placeholder {{nmae}}",
        f"{broken}: screen.colour: unknown key (expected accent_color, arriving_message, "
        f"background_color, background_image, font_scale, idle_message, logo, orientation, "
        f"text_color, title, values)",
    ]


def test_check_gives_line_and_column_of_a_syntax_error(files):
    files.greetings.write_text('{\n  "language": "en"\n  "stranger": ["Hi"]\n}\n')
    result = invoke(files, "greetings", "check")
    assert result.exit_code == 1
    assert result.stderr == f"{files.greetings}:3:3: expecting ',' delimiter\n"


@pytest.mark.parametrize("text, where, comma", [
    ('{\n  "language": "en",\n  "stranger": ["Hi"],\n}\n', "4:1", "line 3 column 21"),
    ('{"stranger": [\n  "Hi",\n  "Hello",\n]}', "4:1", "line 3 column 10"),
])
def test_a_comma_after_the_last_entry_is_named_as_such(files, text, where, comma):
    files.greetings.write_text(text)
    result = invoke(files, "greetings", "check")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"{files.greetings}:{where}: expecting ")
    assert result.stderr.endswith(f" (remove the comma after the last entry, {comma}: JSON "
                                  f"allows none there)\n")


def test_check_refuses_a_logo_too_large_to_show_and_a_background_that_is_no_image(files):
    flat_png(files.greetings.parent / "bomb.png", 8000, 6251)
    config = json.loads(files.greetings.read_text(encoding="utf-8"))
    config["screen"].update(logo="bomb.png", background_image="/etc/passwd")
    files.greetings.write_text(json.dumps(config), encoding="utf-8")
    result = invoke(files, "greetings", "check")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr.splitlines() == [
        f"{files.greetings}: screen.background_image: /etc/passwd: not an image, or a format "
        f"that cannot be read",
        f"{files.greetings}: screen.logo: {files.greetings.parent / 'bomb.png'} is 8000x6251 "
        f"px, more than the 50 megapixels a logo may have: save it smaller; a screen shows no "
        f"more than its own size, e.g. 1920x1080"]


def test_check_refuses_a_file_over_the_size_limit(files):
    files.greetings.write_bytes(files.greetings.read_bytes() + b" " * 4_500_000)
    result = invoke(files, "greetings", "check")
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f"{files.greetings}: the file has 4.5 MB, more than the 4 MB a greetings file may "
        f"have (about 17,000 people with two messages each): keep greetings only for the "
        f"people expected\n")


def test_check_warns_about_greetings_and_enrolment_that_do_not_match(files):
    enrol(files, alex_m="Alex Müller", alex_k="Alex Kim", juergen="Jürgen Weiß",
          lukasz="Łukasz Nowak", sam_s="Sam Smith")
    result = invoke(files, "greetings", "check")
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"warning: {files.greetings}: people.zoe-d: 'zoe-d' is not enrolled, so this greeting "
        f"is never shown",
        f"warning: {files.greetings}: sam-s (Sam Smith) is enrolled without a greeting of their "
        f"own: they get the enrolled ones",
    ]


# -- set, remove, list -------------------------------------------------------------------------


def test_set_then_check_round_trips(files):
    enrol(files, sam_s="Sam Smith")
    result = invoke(files, "greetings", "set", "sam-s", "--message", "Hi {first_name}!",
                    "--message", "Good {time_of_day}, {name} 🎉")
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout == (
        "sam-s (Sam Smith) is now greeted with:\n  Hi Sam!\n  Good afternoon, Sam Smith 🎉\n")
    entry = load_greetings(files.greetings).people["sam-s"]
    assert (entry.name, entry.messages) == ("Sam Smith", ["Hi {first_name}!",
                                                          "Good {time_of_day}, {name} 🎉"])
    checked = invoke(files, "greetings", "check")
    assert checked.exit_code == 0 and "sam-s" not in checked.stderr
    assert "Good {time_of_day}, {name} 🎉" in files.greetings.read_text(encoding="utf-8")


def test_set_adds_replaces_and_renames(files):
    added = invoke(files, "greetings", "set", "alex-m", "--add", "--message", "Servus!")
    assert added.exit_code == 0
    assert load_greetings(files.greetings).people["alex-m"].messages == [
        "Welcome back, {first_name}!", "Good {time_of_day}, {name}! Coffee is on the left ☕",
        "Servus!"]
    before = files.greetings.read_bytes()
    again = invoke(files, "greetings", "set", "alex-m", "--add", "--message", "Servus!")
    assert again.stdout.splitlines()[0] == (
        f"alex-m already has these messages; {files.greetings} is unchanged")
    assert files.greetings.read_bytes() == before
    renamed = invoke(files, "greetings", "set", "alex-m", "--name", "Alexandra Müller",
                     "--message", "Hallo {name}!")
    assert renamed.stdout == (
        "alex-m (Alexandra Müller) is now greeted with:\n  Hallo Alexandra Müller!\n")


def test_set_rejects_an_invalid_message_and_leaves_the_file_alone(files):
    before = files.greetings.read_bytes()
    result = invoke(files, "greetings", "set", "alex-m", "--message", "Hi {nmae}")
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {files.greetings}: people.alex-m.messages[0]: unknown placeholder {{nmae}}\n"
        f"{files.greetings}: left unchanged\n")
    assert files.greetings.read_bytes() == before


def test_set_rejects_an_invalid_id(files):
    result = invoke(files, "greetings", "set", "Alex M", "--message", "Hi")
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: 'Alex M' is not a valid person id: use lowercase letters, digits, '-' and '_' "
        "(at most 64, starting and ending with a letter or digit), e.g. alex-m\n")


def test_set_refuses_to_edit_a_broken_file(files):
    files.greetings.write_text('{"stranger": []}')
    result = invoke(files, "greetings", "set", "alex-m", "--message", "Hi")
    assert result.exit_code == 1
    assert result.stderr == f"Error: {files.greetings}: stranger: must not be empty\n"
    assert files.greetings.read_text() == '{"stranger": []}'


def test_set_starts_a_missing_file(tmp_path):
    files = Files(tmp_path / "new" / "greetings.json", tmp_path / "greeter.sqlite3")
    result = invoke(files, "greetings", "set", "zoe", "--message", "Bonjour {name}!")
    assert result.stdout == "zoe (Zoe) is now greeted with:\n  Bonjour Zoe!\n"
    greetings = load_greetings(files.greetings)
    assert greetings.stranger == ["Welcome Stranger!"] and list(greetings.people) == ["zoe"]


def test_concurrent_sets_lose_no_message(files):
    command = [sys.executable, "-c", "from greeter.cli import main; main()",
               "--greetings", str(files.greetings), "--store", str(files.store),
               "greetings", "set", "lukasz", "--add"]
    processes = [subprocess.Popen([*command, "--message", f"Cześć {number}, {{first_name}}!"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                 for number in range(6)]
    assert [process.wait(timeout=120) for process in processes] == [0] * 6
    messages = load_greetings(files.greetings).people["lukasz"].messages
    assert messages[0] == "Welcome back, {first_name}! 🎉"
    assert sorted(messages[1:]) == [f"Cześć {number}, {{first_name}}!" for number in range(6)]


def test_remove_a_greeting(files):
    result = invoke(files, "greetings", "remove", "alex-m")
    assert result.stdout == f"removed the greeting for alex-m from {files.greetings}\n"
    assert "alex-m" not in load_greetings(files.greetings).people
    again = invoke(files, "greetings", "remove", "alex-m")
    assert (again.exit_code, again.stderr) == (
        1, f"Error: {files.greetings}: no greeting for 'alex-m'\n")


def test_list_as_a_table_and_as_json(files):
    table = invoke(files, "greetings", "list")
    assert table.exit_code == 0
    for expected in ("5 greetings", "alex-m", "Alex Müller", "Łukasz Nowak",
                     "Guten {time_of_day}, {first_name}!",
                     "strangers: Welcome Stranger!",
                     "enrolled people without a greeting: Welcome back, {first_name}!"):
        assert expected in table.stdout
    listed = json.loads(invoke(files, "greetings", "list", "--json").stdout)
    assert [entry["id"] for entry in listed] == ["alex-k", "alex-m", "juergen", "lukasz",
                                                 "zoe-d"]
    assert listed[4] == {"id": "zoe-d", "name": "Dr. Zoë Dubois", "first_name": "Zoë",
                         "messages": ["Bonjour {first_name}, welcome back!",
                                      "Good {time_of_day}, {name}."]}


# -- preview and schema ------------------------------------------------------------------------


def test_preview_shows_each_message_as_rendered_now(files):
    assert invoke(files, "greetings", "preview", "juergen").stdout == (
        "Guten Nachmittag, Jürgen!\nSchön, dass Sie wieder da sind, Jürgen Weiß!\n")
    assert invoke(files, "greetings", "preview", "--stranger").stdout == "Welcome Stranger!\n"


def test_preview_of_somebody_without_a_greeting_shows_the_enrolled_one(files):
    enrol(files, sam_s="Sam Smith")
    result = invoke(files, "greetings", "preview", "sam-s")
    assert result.stdout == "Welcome back, Sam!\n"
    assert result.stderr == ("note: sam-s has no greeting of their own; this is what enrolled "
                             "people without one are told\n")


def test_a_mistyped_id_is_warned_about_in_preview_and_set(files):
    enrol(files, sam_s="Sam Smith")
    warning = ("warning: nobody with id 'sam-z' is enrolled (greeter people list); the robot "
               "greets nobody with this\n")
    preview = invoke(files, "greetings", "preview", "sam-z")
    assert preview.exit_code == 0
    assert preview.stderr.startswith(warning)
    greeted = invoke(files, "greetings", "set", "sam-z", "--message", "Hi {name}!")
    assert greeted.exit_code == 0
    assert greeted.stderr == warning
    assert invoke(files, "greetings", "set", "sam-s", "--message", "Hi!").stderr == ""


@pytest.mark.parametrize("args", [(), ("alex-m", "--stranger")])
def test_preview_needs_an_id_or_stranger(files, args):
    result = invoke(files, "greetings", "preview", *args)
    assert result.exit_code == 2
    assert "Error: give either an ID or --stranger" in result.stderr


def test_schema_describes_every_key(files):
    result = invoke(files, "greetings", "schema")
    schema = json.loads(result.stdout)
    models = [schema, *schema["$defs"].values()]
    assert {model["title"] for model in models} == {"Greetings", "PersonGreeting",
                                                    "ScreenContent"}
    for model in models:
        assert model["additionalProperties"] is False
        for key, field in model["properties"].items():
            if "$ref" in field:  # some pydantic versions drop a description beside a $ref
                field = {**schema["$defs"][field["$ref"].split("/")[-1]], **field}
            assert field.get("description"), key
    assert schema["properties"]["stranger"]["default"] == ["Welcome Stranger!"]


# -- people remove and identify ------------------------------------------------------------


def test_removing_a_person_removes_their_greeting(files):
    enrol(files, alex_m="Alex Müller", juergen="Jürgen Weiß")
    result = invoke(files, "people", "remove", "--yes", "alex-m")
    assert result.exit_code == 0
    assert result.stdout == (
        f"removed alex-m and their 1 photo; removed alex-m's greeting from {files.greetings}\n")
    text = files.greetings.read_text(encoding="utf-8")
    assert "alex-m" not in text and "Alex Müller" not in text and "Jürgen" in text


def test_removing_a_person_with_a_broken_greetings_file_says_their_greeting_stays(files):
    enrol(files, alex_m="Alex Müller")
    broken = SHIPPED.read_text(encoding="utf-8").replace('"language": "en"', '"language": 1')
    files.greetings.write_text(broken, encoding="utf-8")
    result = invoke(files, "people", "remove", "--yes", "alex-m")
    assert result.exit_code == 1
    assert result.stdout == "removed alex-m and their 1 photo\n"
    assert result.stderr == (
        f"Error: {files.greetings}: language: input should be 'en' or 'de'\n"
        f"alex-m's greeting is still in {files.greetings}: fix the file, then run "
        f"`greeter greetings remove alex-m`\n")


class StubRecogniser:
    """Three faces: somebody with a greeting, somebody enrolled without one, a stranger."""

    def identify_photo(self, rgb, detection):
        return [IdentifiedFace((10, 20, 50, 60), "alex-m", "Alex Müller", 0.3),
                IdentifiedFace((60, 20, 90, 60), "sam-s", "Sam Smith", 0.35),
                IdentifiedFace((100, 20, 140, 60), None, None, 0.8)]


def test_identify_says_what_the_robot_would_say(files, tmp_path, monkeypatch):
    monkeypatch.setattr(identify_cli, "_recogniser", lambda ctx: StubRecogniser())
    photo = tmp_path / "guests.png"
    Image.new("RGB", (160, 80), "white").save(photo)
    result = invoke(files, "identify", photo)
    assert (result.exit_code, result.stderr) == (0, "")
    assert result.stdout.splitlines() == [
        f'{photo}: Alex Müller (alex-m), distance 0.300, box [10, 20, 50, 60], '
        f'says "Welcome back, Alex!"',
        f'{photo}: Sam Smith (sam-s), distance 0.350, box [60, 20, 90, 60], '
        f'says "Welcome back, Sam!"',
        f'{photo}: stranger, distance 0.800, box [100, 20, 140, 60], says "Welcome Stranger!"',
    ]
    as_json = json.loads(invoke(files, "identify", "--json", photo).stdout)
    assert [face["message"] for face in as_json[0]["faces"]] == [
        "Welcome back, Alex!", "Welcome back, Sam!", "Welcome Stranger!"]


def test_identify_without_a_greetings_file_warns_and_uses_the_built_in_ones(files, tmp_path,
                                                                         monkeypatch):
    monkeypatch.setattr(identify_cli, "_recogniser", lambda ctx: StubRecogniser())
    files.greetings.unlink()
    photo = tmp_path / "guests.png"
    Image.new("RGB", (160, 80), "white").save(photo)
    result = invoke(files, "identify", photo)
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].endswith('says "Welcome back, Alex!"')
    assert result.stderr.splitlines()[-1] == "warning: showing the built-in greetings"


@pytest.mark.skipif(
    not any(path.is_file() for path in screen_text.EMOJI_FONTS)
    and os.environ.get("CI") != "true",
    reason="no emoji font: apt-get install fonts-noto-color-emoji (bootstrap.sh does as root)")
def test_check_names_the_characters_the_screen_cannot_draw(files):
    """Hieroglyphs and a private-use character have no glyph in the screen's fonts; emoji,
    Arabic and Hebrew have (with fonts-noto-color-emoji installed)."""
    files.greetings.write_text(json.dumps({
        "stranger": ["Welcome Stranger! 🎉 مرحبا שלום"],
        "screen": {"title": "Open Day \U00013000", "values": ["Fun \ue000"]},
    }), encoding="utf-8")
    result = invoke(files, "greetings", "check")
    assert result.exit_code == 0
    assert result.stderr.splitlines() == [
        f"warning: {files.greetings}: screen.title: the screen cannot draw '\U00013000' "
        "(U+13000): no font of the screen has them, so they are left out: use other characters",
        f"warning: {files.greetings}: screen.values[0]: the screen cannot draw '\\ue000' "
        "(U+E000): no font of the screen has them, so they are left out: use other characters",
    ]


def test_check_without_the_emoji_font_names_the_emoji_and_the_package(files, monkeypatch):
    monkeypatch.setattr(screen_text, "EMOJI_FONTS", ())
    result = invoke(files, "greetings", "check")
    assert result.exit_code == 0
    assert f"warning: {files.greetings}: people.alex-k.messages[1]: the screen cannot draw " \
        "'👋' (U+1F44B): install fonts-noto-color-emoji for emoji, or leave them out" \
        in result.stderr.splitlines()


CJK_GREETINGS = {
    "enrolled": ["Welcome back, {first_name}!"],
    "stranger": ["ひらがな、カタカナ、漢字！"],
    "people": {"wang-w": {"name": "王伟", "messages": ["欢迎回来，{first_name}！"]},
               "kim-mj": {"name": "김민준", "messages": ["환영합니다, {first_name} 님!"]}},
}


@pytest.mark.skipif(
    not any(regular.is_file() for regular, _ in screen_text.CJK_FONTS)
    and os.environ.get("CI") != "true",
    reason="no CJK font: apt-get install fonts-wqy-microhei (bootstrap.sh does as root)")
def test_check_has_no_warning_for_chinese_japanese_and_korean_with_a_cjk_font(files):
    files.greetings.write_text(json.dumps(CJK_GREETINGS), encoding="utf-8")
    result = invoke(files, "greetings", "check")
    assert (result.exit_code, result.stderr) == (0, "")


def test_check_without_a_cjk_font_names_the_package(files, monkeypatch):
    monkeypatch.setattr(screen_text, "CJK_FONTS", ())
    files.greetings.write_text(json.dumps(CJK_GREETINGS), encoding="utf-8")
    result = invoke(files, "greetings", "check")
    assert result.exit_code == 0
    fix = ("install fonts-wqy-microhei (or fonts-noto-cjk) for Chinese, Japanese and Korean, "
           "or leave them out")
    warnings = result.stderr.splitlines()
    assert [line.split(": ")[2] for line in warnings] == [
        "stranger[0]", "people.kim-mj.name", "people.kim-mj.messages[0]", "people.wang-w.name",
        "people.wang-w.messages[0]"]
    assert all(line.endswith(fix) for line in warnings)
    assert warnings[3] == (f"warning: {files.greetings}: people.wang-w.name: the screen cannot "
                           f"draw '王' (U+738B), '伟' (U+4F1F): {fix}")


def test_check_without_the_emoji_and_cjk_fonts_names_both_packages(files, monkeypatch):
    monkeypatch.setattr(screen_text, "EMOJI_FONTS", ())
    monkeypatch.setattr(screen_text, "CJK_FONTS", ())
    files.greetings.write_text(json.dumps({"stranger": ["Hi 👋", "王伟 👋"]}), encoding="utf-8")
    result = invoke(files, "greetings", "check")
    assert result.stderr.splitlines()[-1] == (
        f"warning: {files.greetings}: stranger[1]: the screen cannot draw '王' (U+738B), "
        "'伟' (U+4F1F), '👋' (U+1F44B): install fonts-noto-color-emoji for emoji and "
        "fonts-wqy-microhei (or fonts-noto-cjk) for Chinese, Japanese and Korean, or leave "
        "them out")
