"""Settings from GREETER_* environment variables (`environment_values`, read as
pydantic-settings read them) and the command line."""

import logging
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest
from conftest import cli_runner
from pydantic import BaseModel

from greeter.cli import main
from greeter.errors import ConfigError
from greeter.settings import ServerAddress, Settings, environment_values, unknown_variables


def test_nested_variables_set_section_fields():
    settings = Settings.load(environ={
        "GREETER_ENROLMENT__MIN_FACE_SIZE": "80",
        "GREETER_MATCHING__THRESHOLD": "0.45",
        "GREETER_STORE": "/var/lib/greeter/greeter.sqlite3",
    })

    assert settings.enrolment.min_face_size == 80
    assert settings.matching.threshold == 0.45
    assert str(settings.store) == "/var/lib/greeter/greeter.sqlite3"


def test_a_section_may_be_given_as_json():
    settings = Settings.load(environ={"GREETER_MATCHING": '{"threshold": 0.4, "ratio": 0.8}'})

    assert (settings.matching.threshold, settings.matching.ratio) == (0.4, 0.8)


def test_names_are_matched_case_insensitively():
    settings = Settings.load(environ={"greeter_matching__Threshold": "0.45",
                                      "Greeter_Store": "lower.sqlite3"})

    assert (settings.matching.threshold, str(settings.store)) == (0.45, "lower.sqlite3")


def test_of_names_differing_only_in_case_the_last_counts():
    settings = Settings.load(environ={"GREETER_MATCHING": "not JSON",
                                      "greeter_matching": '{"threshold": 0.4}'})

    assert settings.matching.threshold == 0.4


@pytest.mark.parametrize("environ", [
    {"GREETER_MATCHING": '{"threshold": 0.4, "ratio": 0.8}', "GREETER_MATCHING__THRESHOLD": "0.45"},
    {"GREETER_MATCHING__THRESHOLD": "0.45", "GREETER_MATCHING": '{"threshold": 0.4, "ratio": 0.8}'},
])
def test_a_field_variable_wins_over_its_section_given_whole(environ):
    settings = Settings.load(environ=environ)

    assert (settings.matching.threshold, settings.matching.ratio) == (0.45, 0.8)


def test_the_keys_of_a_section_given_whole_are_case_insensitive():
    settings = Settings.load(environ={"GREETER_MATCHING": '{"THRESHOLD": 0.4, "Ratio": 0.8}'})

    assert (settings.matching.threshold, settings.matching.ratio) == (0.4, 0.8)


def test_a_section_given_as_json_null_keeps_its_defaults():
    assert Settings.load(environ={"GREETER_UI": "null"}).ui == Settings.load(environ={}).ui


class Arm(BaseModel):
    joints: List[int] = []


class Robot(BaseModel):
    """Field types greeter's settings do not have (yet), read as pydantic-settings reads them."""

    names: List[str] = []
    sizes: Optional[Tuple[int, ...]] = None
    limits: Dict[str, float] = {}
    home: Path = Path(".")
    arm: Arm = Arm()


def test_lists_tuples_and_dicts_are_json_and_scalars_text():
    values = environment_values(Robot, {
        "GREETER_NAMES": '["Ada", "Grace"]', "GREETER_SIZES": "[1, 2]",
        "GREETER_LIMITS": '{"Speed": 0.5}', "GREETER_HOME": "[1]",
        "GREETER_ARM__JOINTS": "[3, 4]"})

    assert values == {"names": ["Ada", "Grace"], "sizes": [1, 2], "limits": {"Speed": 0.5},
                      "home": "[1]", "arm": {"joints": [3, 4]}}
    assert Robot.model_validate(values).sizes == (1, 2)


def test_scalars_are_left_as_text_for_pydantic_to_convert():
    assert environment_values(Settings, {"GREETER_MATCHING__THRESHOLD": "0.45"}) \
        == {"matching": {"threshold": "0.45"}}


def test_a_section_that_is_not_json_names_its_variable():
    with pytest.raises(ConfigError,
                       match="^invalid settings: GREETER_MATCHING: not valid JSON"):
        Settings.load(environ={"greeter_matching": "threshold=0.45"})


@pytest.mark.parametrize("environ, message", [
    ({"GREETER_STORE": "a", "GREETER_STORE__PATH": "b"},
     'GREETER_STORE__PATH: GREETER_STORE is "a", which has no fields'),
    ({"GREETER_MATCHING": "5", "GREETER_MATCHING__THRESHOLD": "0.4"},
     "GREETER_MATCHING__THRESHOLD: GREETER_MATCHING is 5, which has no fields"),
])
def test_a_variable_below_a_value_without_fields_is_an_error(environ, message):
    with pytest.raises(ConfigError) as raised:
        Settings.load(environ=environ)

    assert str(raised.value) == f"invalid settings: {message}"


def test_command_line_values_win_over_the_environment():
    settings = Settings.load(environ={"GREETER_STORE": "env.sqlite3"}, store="cli.sqlite3",
                             greetings=None)

    assert str(settings.store) == "cli.sqlite3"
    assert str(settings.greetings) == "config/greetings.json"


def test_empty_variables_keep_the_default():
    assert Settings.load(environ={"GREETER_ENROLMENT__MIN_FACE_SIZE": ""}) \
        .enrolment.min_face_size == 40


def test_another_programs_variable_is_ignored_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="greeter.settings"):
        settings = Settings.load(environ={"GREETER_BUILD_JOBS": "2", "GREETER_PYTHON": "3.8"})

    assert settings == Settings.load(environ={})
    assert "GREETER_BUILD_JOBS is not a greeter setting: ignored" in caplog.text
    assert unknown_variables({"GREETER_BUILD_JOBS": "2", "GREETER_STORE": "x", "HOME": "/"}) \
        == ["GREETER_BUILD_JOBS"]


@pytest.mark.parametrize("environ, message", [
    ({"GREETER_MATCHING__THRESHLD": "0.4"},
     "GREETER_MATCHING__THRESHLD: Extra inputs are not permitted"),
    ({"GREETER_ENROLMENT__MIN_FACE_SIZE": "big"},
     "GREETER_ENROLMENT__MIN_FACE_SIZE: Input should be a valid integer"),
    ({"GREETER_TRACKING__MAX_VOTES": "2"},
     "GREETER_TRACKING__MAX_VOTES: Input should be greater than or equal to 3"),
])
def test_a_bad_value_names_its_variable(environ, message):
    with pytest.raises(ConfigError, match="invalid settings: ") as raised:
        Settings.load(environ=environ)

    assert message in str(raised.value)


def test_the_process_environment_is_read_by_default(monkeypatch):
    monkeypatch.setenv("GREETER_UI__GREETING_SECONDS", "9")

    assert Settings.load().ui.greeting_seconds == 9
    assert Settings.load(environ={}).ui.greeting_seconds == 6


def test_an_installer_variable_does_not_stop_a_command(tmp_path):
    """`GREETER_BUILD_JOBS=2 greeter people list` failed with "Extra inputs are not
    permitted"."""
    result = cli_runner().invoke(
        main, ["--store", str(tmp_path / "none.sqlite3"), "people", "list"],
        env={"GREETER_BUILD_JOBS": "2"})

    assert result.exit_code == 0, result.output + result.stderr
    assert "Extra inputs" not in result.stderr


def test_a_misspelt_setting_stops_a_command_with_its_name(tmp_path):
    result = cli_runner().invoke(
        main, ["--store", str(tmp_path / "none.sqlite3"), "people", "list"],
        env={"GREETER_MATCHING__TRESHOLD": "0.4"})

    assert result.exit_code == 1
    assert "GREETER_MATCHING__TRESHOLD: Extra inputs are not permitted" in result.stderr


@pytest.mark.parametrize("url", ["sqlite:///data/x.sqlite3", "https://example.org/store"])
def test_a_url_is_never_taken_for_the_stores_file(url, tmp_path, monkeypatch):
    scheme = url.split(":")[0]
    with pytest.raises(ConfigError, match=f"a {scheme}:// URL is not a store"):
        Settings.load(environ={"GREETER_STORE": url})
    monkeypatch.chdir(tmp_path)
    result = cli_runner().invoke(main, ["--store", url, "people", "list"])
    assert result.exit_code != 0 and f"a {scheme}:// URL is not a store" in result.stderr
    assert list(tmp_path.iterdir()) == [], "no folder named after the scheme"


def test_a_postgresql_url_is_a_server_and_never_a_file(tmp_path, monkeypatch):
    url = "postgresql://robot@127.0.0.1:1/guests"  # nothing listens on port 1
    settings = Settings.load(environ={"GREETER_STORE": url})
    assert isinstance(settings.store, ServerAddress) and settings.store == url
    assert (settings.store.host, settings.store.database) == ("127.0.0.1:1", "guests")
    assert settings.local_folder == Path("data")
    monkeypatch.chdir(tmp_path)
    result = cli_runner().invoke(main, ["--store", url, "people", "list"])
    assert result.exit_code == 1
    assert "cannot reach the store's server 127.0.0.1:1" in result.stderr
    assert list(tmp_path.iterdir()) == [], "no folder named after the scheme"


@pytest.mark.parametrize("url, refusal", [
    ("postgresql://robot:hunter2@venue/guests", "holds a password"),
    ("postgresql://venue/guests", "needs a user, a host and a database"),
    ("postgresql://robot@venue/", "needs a user, a host and a database"),
])
def test_a_server_address_with_a_password_or_without_its_parts_is_refused(url, refusal):
    with pytest.raises(ConfigError, match=refusal):
        Settings.load(environ={"GREETER_STORE": url})
