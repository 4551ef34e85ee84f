"""Settings from GREETER_* environment variables (pydantic-settings) and the command line."""

import logging

import pytest
from conftest import cli_runner

from greeter.cli import main
from greeter.errors import ConfigError
from greeter.settings import Settings, unknown_variables


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
