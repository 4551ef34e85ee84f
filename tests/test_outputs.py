"""The live run's outputs on real failures: a full device and a full disk, a screenshot folder
that became a file, a voice program that does not exist or fails at once."""

import json
import logging
import os
import shutil
import stat
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from greeter.live.camera import Frame
from greeter.live.outputs import EventsFile, GreetingEvent, Outputs, Screenshots, Voice
from greeter.live.voice import Speaker, VoiceError
from greeter.screen.display import Screen, Style

STYLE = Style(greeting_seconds=4.0, fade_in_seconds=0.3, fade_out_seconds=0.5,
              max_greetings=3, greeting_text_height=0.1, text_height=0.045,
              camera_inset_width=0.3)


def greeted(index: int, person=None, message="Welcome Stranger!", language="en"):
    """A greeting event and its frame, as `Outputs.greeted` takes them."""
    event = GreetingEvent(t=index / 10, frame=index, person=person, name=None, message=message,
                          distance=None, language=language)
    return event, Frame(np.zeros((48, 64, 3), np.uint8), index, index / 10)


@pytest.fixture
def no_umask():
    """The most permissive umask: modes must not depend on it."""
    old = os.umask(0)
    yield
    os.umask(old)


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs mounted for the test (needs root; CI runs as root)."""
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("a full disk needs root to mount a small tmpfs")
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k",
                              f"greeter-{uuid.uuid4().hex[:8]}", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def fill(folder: Path) -> Path:
    """Fill the file system of `folder` to the last byte; returns the filler file."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as file:
        try:
            while True:
                file.write(b"\0" * 4096)
                file.flush()
        except OSError:
            pass
    return filler


def test_events_are_appended_as_json_lines_in_a_private_file(tmp_path, no_umask):
    path = tmp_path / "events.jsonl"
    outputs = Outputs([EventsFile(path)])
    outputs.greeted(*greeted(1))
    outputs.greeted(*greeted(2, "alex-m", "Welcome back, Alex!"))
    outputs.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [json.loads(line)["frame"] for line in path.read_text().splitlines()] == [1, 2]
    assert outputs.failures == {"events": 0}


def test_an_existing_events_file_is_made_private(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_text('{"frame": 0}\n')
    path.chmod(0o644)
    outputs = Outputs([EventsFile(path)])
    outputs.greeted(*greeted(1))
    outputs.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().splitlines()) == 2


def test_a_full_device_is_logged_once_and_counted(caplog):
    outputs = Outputs([EventsFile(Path("/dev/full"))])
    with caplog.at_level(logging.ERROR, logger="greeter.live.outputs"):
        for index in range(3):
            outputs.greeted(*greeted(index))
        outputs.close()
    assert outputs.failures == {"events": 3}
    assert outputs.failing() == "events 3"
    problems = [record.getMessage() for record in caplog.records]
    assert len(problems) == 1
    assert problems[0].startswith("events file /dev/full failed: No space left on device")
    assert stat.S_IMODE(os.stat("/dev/full").st_mode) == 0o666  # a device is never chmodded


def test_a_full_disk_leaves_whole_lines_and_writing_resumes_once_there_is_room(tiny_disk, caplog):
    path = tiny_disk / "events.jsonl"
    outputs = Outputs([EventsFile(path)])
    outputs.greeted(*greeted(0))
    filler = fill(tiny_disk)
    long_message = "Welcome " + "x" * 3000
    with caplog.at_level(logging.ERROR, logger="greeter.live.outputs"):
        for index in range(1, 6):
            outputs.greeted(*greeted(index, message=long_message))
    assert outputs.failures["events"] >= 1
    assert len(caplog.records) == 1
    filler.unlink()
    outputs.greeted(*greeted(99))
    outputs.close()
    lines = path.read_text().splitlines()
    frames = [json.loads(line)["frame"] for line in lines]  # every line is whole JSON
    assert frames[0] == 0 and frames[-1] == 99


def test_screenshots_are_private_and_a_folder_that_became_a_file_fails_alone(tmp_path, no_umask,
                                                                            caplog):
    folder = tmp_path / "shots"
    drawn = []
    with Screen(STYLE, (320, 240), headless=True) as screen:
        shots = Screenshots(folder, screen, lambda event, frame: drawn.append(frame))
        events = EventsFile(tmp_path / "events.jsonl")
        outputs = Outputs([shots, events])
        outputs.greeted(*greeted(1, "alex-m"))
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
        first = folder / "greeting-000001-alex-m.png"
        assert stat.S_IMODE(first.stat().st_mode) == 0o600
        assert first.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        shutil.rmtree(folder)
        folder.write_text("not a folder")
        with caplog.at_level(logging.ERROR, logger="greeter.live.outputs"):
            outputs.greeted(*greeted(2))
            outputs.greeted(*greeted(3))
        folder.unlink()
        outputs.greeted(*greeted(4))
        outputs.close()
    assert outputs.failures == {"screenshots": 2, "events": 0}
    assert [record.getMessage().split(" failed")[0] for record in caplog.records] == [
        f"screenshots in {folder}"]
    assert sorted(path.name for path in folder.iterdir()) == ["greeting-000004.png"]
    assert shots.saved == 2
    assert list(shots.recent) == [first, folder / "greeting-000004.png"]
    assert [frame.index for frame in drawn] == [1, 4]
    assert len((tmp_path / "events.jsonl").read_text().splitlines()) == 4


def test_an_existing_screenshot_folder_keeps_its_mode(tmp_path):
    """A shared folder (say /tmp) is never made private; the screenshots in it are."""
    tmp_path.chmod(0o755)
    with Screen(STYLE, (320, 240), headless=True) as screen:
        Outputs([Screenshots(tmp_path, screen, lambda event, frame: None)]).greeted(*greeted(5))
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "greeting-000005.png").stat().st_mode) == 0o600


def test_a_missing_voice_program_is_logged_once_at_start_and_counted(tmp_path, caplog):
    with caplog.at_level(logging.ERROR, logger="greeter.live.outputs"):
        outputs = Outputs([Voice(Speaker(command=str(tmp_path / "no-such-espeak")))])
        outputs.greeted(*greeted(1))
        outputs.greeted(*greeted(2))
        outputs.close()
    assert outputs.failures == {"voice": 3}
    assert [record.getMessage() for record in caplog.records] == [
        f"voice failed: {tmp_path / 'no-such-espeak'} is not installed: greetings are not "
        "spoken (apt-get install espeak-ng); greeting goes on without it (failures are counted "
        "in the status line)"]


def test_a_voice_that_exits_at_once_is_reported_and_the_next_greeting_still_tried(caplog):
    speaker = Speaker(command="false")
    outputs = Outputs([Voice(speaker)])
    with caplog.at_level(logging.ERROR, logger="greeter.live.outputs"):
        for index in range(2):
            outputs.greeted(*greeted(index))
            while speaker.speaking:
                outputs.poll()
            outputs.poll()
        outputs.close()
    assert outputs.failures == {"voice": 2}
    assert len(caplog.records) == 1
    assert "exited with status 1" in caplog.records[0].getMessage()


def test_a_voice_that_cannot_start_raises_a_clear_error(tmp_path):
    program = tmp_path / "espeak-ng"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    speaker = Speaker(command=str(program))
    program.unlink()  # gone between start-up and the greeting
    with pytest.raises(VoiceError, match="cannot start"):
        speaker.say("hello")


def test_each_greeting_is_spoken_in_its_own_language(tmp_path):
    """A real program standing in for espeak-ng writes down how it was called."""
    said = tmp_path / "said.txt"
    program = tmp_path / "espeak-ng"
    program.write_text(f'#!{sys.executable}\nimport sys\n'
                       f'open({str(said)!r}, "a").write(" ".join(sys.argv[1:]) + "\\n")\n')
    program.chmod(0o755)
    speaker = Speaker("en", command=str(program))
    outputs = Outputs([Voice(speaker)])
    for index, (message, language) in enumerate([("Guten Morgen, Jürgen!", "de"),
                                                   ("Welcome back, Alex!", "en")]):
        outputs.greeted(*greeted(index, message=message, language=language))
        while speaker.speaking:
            outputs.poll()
    outputs.close()
    assert said.read_text(encoding="utf-8").splitlines() == [
        "-v de -- Guten Morgen, Jürgen!", "-v en -- Welcome back, Alex!"]
    assert outputs.failures == {"voice": 0}


# --- erasure ------------------------------------------------------------------------------


def test_an_erased_person_leaves_the_events_file_and_later_greetings_are_appended(tmp_path,
                                                                                no_umask):
    path = tmp_path / "events.jsonl"
    events = EventsFile(path)
    outputs = Outputs([events])
    for index, person in enumerate(["alex-m", None, "bo", "alex-m", "alex-mm"]):
        outputs.greeted(*greeted(index, person))
    with open(path, "a") as file:  # a line greeter did not write is not its to judge
        file.write("not json\n")
    assert outputs.forget(lambda person: person != "alex-m") == {f"events file {path}": 2}
    outputs.greeted(*greeted(5, "bo"))
    outputs.close()
    lines = path.read_text().splitlines()
    assert lines[3] == "not json"
    assert [json.loads(line)["person"] for line in lines[:3] + lines[4:]] == [
        None, "bo", "alex-mm", "bo"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert outputs.forget(lambda person: person != "alex-m") == {}


def test_an_erased_persons_screenshots_are_deleted_and_strangers_kept(tmp_path):
    folder = tmp_path / "shots"
    with Screen(STYLE, (160, 120), headless=True) as screen:
        shots = Screenshots(folder, screen, lambda event, frame: None)
        outputs = Outputs([shots])
        for index, person in enumerate(["alex-m", None, "bo", "alex-m", "alex-mm"]):
            outputs.greeted(*greeted(index, person))
        (folder / "notes.png").write_bytes(b"the operator's")
        earlier = folder / "greeting-000007-alex-m.png"  # a screenshot of an earlier run
        earlier.write_bytes(b"png")
        os.utime(earlier, (time.time() - 3600, time.time() - 3600))
        assert outputs.forget(lambda person: person != "alex-m") == {
            f"screenshots in {folder}": 3}
        assert shots.saved == 3
    assert sorted(path.name for path in folder.iterdir()) == [
        "greeting-000001.png", "greeting-000002-bo.png", "greeting-000004-alex-mm.png",
        "notes.png"]
    assert [path.name for path in shots.recent] == [
        "greeting-000001.png", "greeting-000002-bo.png", "greeting-000004-alex-mm.png"]


def test_forgetting_on_a_full_disk_keeps_the_file_whole_and_is_asked_again(tiny_disk, caplog):
    """The rewrite fails on a full disk: the file is as it was, the failure is logged, and
    `forget` says so (None), so that the robot asks again at its next reload."""
    path = tiny_disk / "events.jsonl"
    outputs = Outputs([EventsFile(path)])
    for index, person in enumerate(["alex-m", "bo"]):
        outputs.greeted(*greeted(index, person))
    before = path.read_bytes()
    filler = fill(tiny_disk)
    with caplog.at_level(logging.ERROR, logger="greeter.live.outputs"):
        assert outputs.forget(lambda person: person != "alex-m") is None
    assert path.read_bytes() == before
    assert not [leftover for leftover in tiny_disk.iterdir() if leftover not in (path, filler)]
    filler.unlink()
    assert outputs.forget(lambda person: person != "alex-m") == {f"events file {path}": 1}
    outputs.close()
    assert [json.loads(line)["person"] for line in path.read_text().splitlines()] == ["bo"]
    assert outputs.failures == {"events": 1}
    assert "No space left on device" in caplog.records[0].getMessage()
