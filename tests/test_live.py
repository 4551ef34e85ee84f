"""``greeter run`` end to end on the real Hamilton clip, and the loop's parts on real frames."""

import json
import logging
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from console_helpers import PASSWORD, signed_in_csrf
from PIL import Image

from greeter.live.camera import Frame, FrameSource, LatestFrameReader, open_source
from greeter.live.pictures import hex_to_rgb, pixelate
from greeter.live.robot import Greeter, RunOptions
from greeter.live.status import read_status, status_path
from greeter.people.door import NOBODY, DoorRules, ask, door_folder, result_for
from greeter.people.enrolment import Enroller, jobs_for_person
from greeter.people.store import Store
from greeter.settings import Settings

pytestmark = pytest.mark.slow
LIN = "lin-manuel-miranda"
#: Memory throttling off where a test compares runs: whatever RAM the machine has free.
NO_THROTTLE = {"GREETER_THROTTLE__PRESSURE_BELOW": "0.02",
               "GREETER_THROTTLE__CRITICAL_BELOW": "0.01"}
REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def clip_run(samples, tmp_path_factory):
    """One headless run over the whole clip with only Lin-Manuel Miranda enrolled."""
    folder = tmp_path_factory.mktemp("clip")
    store = folder / "greeter.sqlite3"
    enrolled = subprocess.run(
        [sys.executable, "-m", "greeter", "--store", str(store), "enroll", "--person", LIN,
         "--name", "Lin-Manuel Miranda", str(samples / "lin-manuel-miranda.png")],
        capture_output=True, text=True)
    assert enrolled.returncode == 0, enrolled.stderr
    events, shots = folder / "events.jsonl", folder / "shots"
    completed = subprocess.run(
        [sys.executable, "-m", "greeter", "--store", str(store), "run", "--headless",
         "--source", str(samples / "short_hamilton_clip.mp4"), "--events-out", str(events),
         "--screenshot-dir", str(shots), "--window", "1280x720"],
        capture_output=True, text=True, env={**os.environ, "SDL_VIDEODRIVER": "dummy"},
        timeout=600)
    assert completed.returncode == 0, completed.stderr
    lines = events.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines], shots, completed


def test_lin_manuel_is_greeted_by_name_exactly_once(clip_run):
    events, _, _ = clip_run
    named = [event for event in events if event["person"] is not None]
    assert [event["person"] for event in named] == [LIN]
    greeting = named[0]
    assert greeting["name"] == "Lin-Manuel Miranda"
    assert "Lin-Manuel" in greeting["message"]
    assert 0 <= greeting["distance"] < 0.6
    assert set(greeting) == {"t", "frame", "person", "name", "message", "distance"}
    assert greeting["t"] == pytest.approx(greeting["frame"] / 29.97, abs=0.05)


def test_nobody_else_gets_a_name(clip_run):
    events, _, _ = clip_run
    assert all(event["person"] in (None, LIN) for event in events)
    for stranger in (event for event in events if event["person"] is None):
        assert stranger["name"] is None and stranger["message"] == "Welcome Stranger!"


def test_screenshot_shows_the_greeting_and_the_camera_inset(clip_run, samples):
    events, shots, completed = clip_run
    frame = next(event["frame"] for event in events if event["person"] == LIN)
    shot = shots / f"greeting-{frame:06d}-{LIN}.png"
    assert f"screenshot: {shot}" in completed.stderr
    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    assert pixels.shape == (720, 1280, 3)
    background = pixels[5, 1275]  # the stage's corner (the host's band is on the left)
    # the greeting: many text-coloured pixels in the stage, right of the band
    stage = pixels[30:500, 420:1250]
    assert (np.abs(stage - background).sum(axis=2) > 200).mean() > 0.02
    # the camera inset: the lower-right quarter holds the clip's frame, not the background
    inset = pixels[540:700, 960:1260]
    assert (np.abs(inset - background).sum(axis=2) > 60).mean() > 0.5


def test_screenshots_hide_everything_but_enrolled_faces():
    """A face the detector missed is as hidden as a stranger's: only `keep` stays sharp."""
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 256, (120, 160, 3), dtype=np.uint8)
    enrolled = (40, 60, 70, 30)  # top, right, bottom, left
    hidden = pixelate(frame, [enrolled], blocks_across=16)
    assert np.array_equal(hidden[40:70, 30:60], frame[40:70, 30:60])
    block = hidden[0:10, 100:110]  # elsewhere: 10 px blocks of one colour each
    assert (block == block[0, 0]).all()
    assert not np.array_equal(hidden[0:10, 100:110], frame[0:10, 100:110])


def test_a_stranger_the_detector_missed_is_hidden_in_the_screenshot(clip_run):
    """The clip's screenshots: the camera inset holds few distinct colours outside faces."""
    _, shots, _ = clip_run
    strangers = [shot for shot in sorted(shots.glob("greeting-*.png"))
                 if shot.stem.count("-") == 1]
    assert strangers
    for shot in strangers:
        inset = np.asarray(Image.open(shot).convert("RGB"))[540:700, 960:1260]
        rows = inset.reshape(-1, 3)
        assert len(np.unique(rows, axis=0)) < 0.05 * len(rows), shot.name


def test_the_store_is_unchanged_by_a_run(clip_run, tmp_path):
    """A run reads the store only: no stranger embedding is ever written."""
    _, shots, _ = clip_run
    store_path = shots.parent / "greeter.sqlite3"
    with Store(store_path) as store:
        assert [p.id for p in store.people()] == [LIN]
        assert len(list(store.embeddings())) == 1


def test_each_screenshot_shows_only_its_own_greeting(clip_run):
    """The stranger is greeted while Lin-Manuel's greeting is still on screen (6 s): the
    stranger's screenshot shows "Welcome Stranger!" alone (nothing in the accent colour that
    draws his name) and the camera pixelated, his face included."""
    events, shots, _ = clip_run
    lin = next(event for event in events if event["person"] == LIN)
    stranger = next(event for event in events if event["person"] is None
                    and 0 < event["t"] - lin["t"] < 6)
    accent = np.array(hex_to_rgb(json.loads(
        (REPO / "config/greetings.json").read_text())["screen"]["accent_color"]))
    stages = {name: np.asarray(Image.open(shots / name).convert("RGB"))[30:500, 420:1250]
              for name in (f"greeting-{lin['frame']:06d}-{LIN}.png",
                           f"greeting-{stranger['frame']:06d}.png")}
    in_accent = {name: int((np.abs(stage.astype(int) - accent).sum(axis=2) < 30).sum())
                 for name, stage in stages.items()}
    assert list(in_accent.values())[0] > 1000 and list(in_accent.values())[1] == 0, in_accent


class GatedSource(FrameSource):
    """The clip, held before frame `gate_at` until `gate` is set: the test decides when the
    robot gets to see Lin-Manuel, whatever the machine's speed."""

    def __init__(self, inner: FrameSource, gate_at: int, gate: threading.Event):
        self.inner, self.gate_at, self.gate = inner, gate_at, gate
        self.held = threading.Event()

    def read(self):
        frame = self.inner.read()
        if frame is not None and frame.index == self.gate_at:
            self.held.set()
            assert self.gate.wait(60), "the test never opened the gate"
        return frame

    def close(self):
        self.inner.close()


def run_held_at_frame_60(settings, samples):
    """The robot running on the clip in a thread, held at frame 60 (before Lin-Manuel walks
    in) with nobody enrolled yet; `gate.set()` lets it go on."""
    gate = threading.Event()
    source = GatedSource(open_source(str(samples / "short_hamilton_clip.mp4")), 60, gate)
    greeter = Greeter(settings, RunOptions(headless=True),
                      reader=LatestFrameReader(lambda: source, reconnect=False))
    runner = threading.Thread(target=greeter.run)
    runner.start()
    assert source.held.wait(60)
    assert len(greeter.recogniser.gallery) == 0
    return greeter, gate, runner


def test_a_person_enrolled_while_the_robot_runs_is_recognised(samples, tmp_path):
    """The store is hot-reloaded: Lin-Manuel is enrolled while the robot runs, and frames
    from 1.5 s later on (he appears at frame ~85) get him greeted by name."""
    store = tmp_path / "greeter.sqlite3"
    Store(store).close()
    settings = Settings.load(environ={}, store=store, greetings=REPO / "config/greetings.json")
    greeter, gate, runner = run_held_at_frame_60(settings, samples)
    with Store(store) as staff:
        outcomes = Enroller(staff, settings.detection, settings.enrolment).run(
            jobs_for_person(LIN, "Lin-Manuel Miranda", [samples / "lin-manuel-miranda.png"]))
    assert [o.status for o in outcomes] == ["enrolled"]
    time.sleep(1.5)
    gate.set()
    runner.join(timeout=300)
    assert not runner.is_alive()
    assert [g.person for g in greeter.summary.greetings if g.person] == [LIN]


def test_a_person_erased_while_the_robot_runs_leaves_its_events_and_screenshots(samples,
                                                                               tmp_path):
    """Lin-Manuel is greeted (frame ~90), then erased with ``greeter people remove`` while the
    robot runs: within seconds his line leaves the events file and his screenshot is gone,
    and the stranger greeted afterwards (frame ~222) is written as before."""
    store, greetings = tmp_path / "greeter.sqlite3", tmp_path / "greetings.json"
    shutil.copy(REPO / "config/greetings.json", greetings)
    enrol_lin(samples, store)
    events, shots = tmp_path / "events.jsonl", tmp_path / "shots"
    settings = Settings.load(environ=NO_THROTTLE, store=store, greetings=greetings)
    gate = threading.Event()
    source = GatedSource(open_source(str(samples / "short_hamilton_clip.mp4")), 200, gate)
    greeter = Greeter(settings, RunOptions(headless=True, events_out=events,
                                           screenshot_dir=shots),
                      reader=LatestFrameReader(lambda: source, reconnect=False))
    runner = threading.Thread(target=greeter.run)
    runner.start()
    try:
        assert source.held.wait(120)
        assert LIN in events.read_text() and list(shots.glob(f"*-{LIN}.png"))
        erase_lin(store, greetings)
        deadline = time.monotonic() + 20
        while (LIN in events.read_text() or list(shots.glob(f"*-{LIN}.png"))) \
                and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        gate.set()
        runner.join(timeout=300)
    assert not runner.is_alive()
    assert LIN not in events.read_text() and not list(shots.glob(f"*-{LIN}.png"))
    left = [json.loads(line) for line in events.read_text().splitlines()]
    assert left and all(event["person"] is None for event in left)
    assert sorted(path.name for path in shots.iterdir()) == [
        f"greeting-{event['frame']:06d}.png" for event in left]
    assert stat.S_IMODE(events.stat().st_mode) == 0o600


def test_a_person_erased_while_the_robot_was_off_is_erased_at_its_start(clip_run, tmp_path):
    """The clip's run left Lin-Manuel in an events file and a screenshot; he is erased with
    ``greeter people remove`` while no robot runs; the next robot with that store erases them
    from both as it starts."""
    events, shots, _ = clip_run
    store, greetings = tmp_path / "greeter.sqlite3", tmp_path / "greetings.json"
    shutil.copy(shots.parent / "greeter.sqlite3", store)
    shutil.copy(REPO / "config/greetings.json", greetings)
    events_file, folder = tmp_path / "events.jsonl", tmp_path / "shots"
    shutil.copy(shots.parent / "events.jsonl", events_file)
    shutil.copytree(shots, folder)
    erase_lin(store, greetings)
    settings = Settings.load(environ={}, store=store, greetings=greetings)
    Greeter(settings, RunOptions(headless=True, events_out=events_file, screenshot_dir=folder),
            reader=LatestFrameReader(lambda: FlakyCamera(0), reconnect=False)).close()
    left = [json.loads(line) for line in events_file.read_text().splitlines()]
    assert left == [event for event in events if event["person"] is None]
    assert sorted(path.name for path in folder.iterdir()) == sorted(
        path.name for path in shots.iterdir() if LIN not in path.name)


class FlakyCamera(FrameSource):
    """A live camera giving grey frames: `frames` of them and then unplugged (reads fail), or
    without end (paced like a 100 fps camera) when `frames` is None."""

    live = True

    def __init__(self, frames=None):
        self.frames = frames
        self.index = 0

    def read(self):
        if self.frames is not None and self.index >= self.frames:
            return None
        if self.frames is None:
            time.sleep(0.01)
        self.index += 1
        return Frame(np.full((240, 320, 3), 90, np.uint8), self.index, time.monotonic())


def test_an_unplugged_camera_shows_camera_lost_and_comes_back(tmp_path):
    opens = []

    def open_camera():
        opens.append(time.monotonic())
        if len(opens) in (2, 3):  # unplugged: the first two attempts to reopen fail
            raise OSError("no such device")
        return FlakyCamera(5 if len(opens) == 1 else None)

    settings = Settings.load(environ={}, store=tmp_path / "none.sqlite3",
                             greetings=REPO / "config/greetings.json")
    reader = LatestFrameReader(open_camera, reconnect=True, first_delay=0.01, max_delay=0.05)
    greeter = Greeter(settings, RunOptions(headless=True), reader=reader)
    scenes = []
    render = greeter.screen.render
    greeter.screen.render = lambda scene: (scenes.append(scene), render(scene))
    runner = threading.Thread(target=greeter.run)
    runner.start()
    deadline = time.monotonic() + 30
    while (greeter.summary.frames < 10 or not scenes or scenes[-1].camera_lost) \
            and time.monotonic() < deadline:
        time.sleep(0.01)
    greeter.stop()
    runner.join(timeout=30)
    assert not runner.is_alive()
    assert greeter.summary.frames >= 10 and len(opens) == 4
    assert any(scene.camera_lost for scene in scenes)
    assert not scenes[-1].camera_lost


# --- failures that must not stop the robot -------------------------------------------------


def damage(store: Path) -> None:
    """Write garbage over the page holding the embeddings table: SQLite opens the file, but
    reading the enrolled faces fails with "database disk image is malformed"."""
    with sqlite3.connect(str(store)) as db:
        page_size = db.execute("PRAGMA page_size").fetchone()[0]
        root = db.execute(
            "SELECT rootpage FROM sqlite_master WHERE name='embeddings'").fetchone()[0]
    db.close()
    with open(store, "r+b") as file:
        file.seek((root - 1) * page_size)
        file.write(bytes(range(256)) * (page_size // 256))


def enrol_lin(samples: Path, store: Path) -> None:
    enrolled = subprocess.run(
        [sys.executable, "-m", "greeter", "--store", str(store), "enroll", "--person", LIN,
         "--name", "Lin-Manuel Miranda", str(samples / "lin-manuel-miranda.png")],
        capture_output=True, text=True)
    assert enrolled.returncode == 0, enrolled.stderr


def erase_lin(store: Path, greetings: Path) -> None:
    """``greeter people remove``, as staff erase him."""
    removed = subprocess.run(
        [sys.executable, "-m", "greeter", "--store", str(store), "--greetings", str(greetings),
         "people", "remove", LIN, "--yes"], capture_output=True, text=True)
    assert removed.returncode == 0, removed.stderr


def test_a_damaged_store_greets_everybody_as_a_stranger_and_is_logged_once(samples, tmp_path):
    store = tmp_path / "greeter.sqlite3"
    enrol_lin(samples, store)
    damage(store)
    events = tmp_path / "events.jsonl"
    completed = subprocess.run(
        [sys.executable, "-m", "greeter", "--store", str(store), "run", "--headless",
         "--source", str(samples / "short_hamilton_clip.mp4"), "--events-out", str(events)],
        capture_output=True, text=True, env={**os.environ, "SDL_VIDEODRIVER": "dummy"},
        timeout=600)
    assert completed.returncode == 0, completed.stderr
    greetings = [json.loads(line) for line in events.read_text(encoding="utf-8").splitlines()]
    assert greetings and all(g["person"] is None and g["message"] == "Welcome Stranger!"
                             for g in greetings)
    problems = [line for line in completed.stderr.splitlines() if "as a stranger" in line]
    assert len(problems) == 1, completed.stderr
    assert f"{store} is damaged (" in problems[0], problems[0]


class ActingSource(FrameSource):
    """The clip, doing `act` (on the reader's thread) just before handing out frame `at`."""

    def __init__(self, inner: FrameSource, at: int, act):
        self.inner, self.at, self.act = inner, at, act

    def read(self):
        frame = self.inner.read()
        if frame is not None and frame.index == self.at:
            self.act()
        return frame

    def close(self):
        self.inner.close()


def test_a_store_fixed_while_the_robot_runs_is_used_again(samples, tmp_path, caplog):
    """Damaged at start (strangers only); a good copy replaces it before Lin-Manuel walks in
    (frame ~85), and he is greeted by name."""
    good, store = tmp_path / "good.sqlite3", tmp_path / "greeter.sqlite3"
    enrol_lin(samples, good)
    shutil.copy(good, store)
    damage(store)
    settings = Settings.load(environ={}, store=store, greetings=REPO / "config/greetings.json")
    with caplog.at_level(logging.INFO, logger="greeter.live.gallery_reload"):
        greeter, gate, runner = run_held_at_frame_60(settings, samples)
        os.replace(good, store)
        time.sleep(1.5)
        gate.set()
        runner.join(timeout=300)
    assert not runner.is_alive()
    assert [g.person for g in greeter.summary.greetings if g.person] == [LIN]
    messages = [record.getMessage() for record in caplog.records]
    assert sum("as a stranger" in message for message in messages) == 1
    assert f"{store}: readable again, 1 people enrolled" in messages


def test_failing_outputs_do_not_change_the_greetings(clip_run, samples, tmp_path, caplog):
    """The events file on a full device, a screenshot folder that becomes a file once the run
    has started, and a voice program that does not exist: each is logged once and counted,
    and the robot greets exactly as it does with working outputs."""
    expected, shots, _ = clip_run
    folder = tmp_path / "shots"

    def break_screenshots():
        folder.rmdir()
        folder.write_text("not a folder any more")

    settings = Settings.load(environ=NO_THROTTLE, store=shots.parent / "greeter.sqlite3",
                             greetings=REPO / "config/greetings.json")
    source = ActingSource(open_source(str(samples / "short_hamilton_clip.mp4")), 0,
                          break_screenshots)
    options = RunOptions(headless=True, window=(1280, 720), events_out=Path("/dev/full"),
                         screenshot_dir=folder, speak=True,
                         voice_command=str(tmp_path / "no-such-espeak-ng"))
    with caplog.at_level(logging.ERROR):
        greeter = Greeter(settings, options,
                          reader=LatestFrameReader(lambda: source, reconnect=False))
        summary = greeter.run()
    assert [(g.frame, g.person) for g in summary.greetings] == [
        (g["frame"], g["person"]) for g in expected]
    greeted = summary.greeted
    assert greeted == len(expected)
    assert summary.output_failures == {"events": greeted, "screenshots": greeted,
                                       "voice": greeted + 1, "status": 0}
    problems = [record.getMessage().split(" failed: ")[0] for record in caplog.records]
    assert sorted(problems) == sorted(["events file /dev/full", f"screenshots in {folder}",
                                       "voice"])
    assert summary.screenshots_saved == 0 and summary.face_frames is None
    assert summary.frames_with_faces > 0


# --- the status file the console reads ------------------------------------------------------


def test_the_run_publishes_its_status_with_enrolled_greetings_only(clip_run):
    events, shots, _ = clip_run
    path = status_path(shots.parent)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    status = read_status(path).status
    assert [(g.person, g.name) for g in status.greeted] == [(LIN, "Lin-Manuel Miranda")]
    assert any(event["person"] is None for event in events)  # strangers were greeted...
    assert "null" not in path.read_text(encoding="utf-8")  # ...and are nowhere in the file
    assert status.fps > 0 and status.memory_level in ("normal", "pressure", "critical")
    assert status.camera == "ok"


def test_the_consoles_status_page_shows_the_robots_status(clip_run, tmp_path):
    from starlette.testclient import TestClient

    from greeter.console.app import create_app
    from greeter.console.auth import Credentials

    _, shots, _ = clip_run
    settings = Settings.load(environ={}, store=shots.parent / "greeter.sqlite3",
                             greetings=tmp_path / "greetings.json")
    Credentials(shots.parent).set_password(PASSWORD)
    client = TestClient(create_app(settings), follow_redirects=False)
    signed_in_csrf(client)
    page = client.get("/status").text
    assert "Lin-Manuel Miranda" in page and LIN in page
    assert "frames drawn per second" in page and "CPU" in page and "Stranger" not in page


# --- enrolling at the door -------------------------------------------------------------------


def start_gated(samples: Path, store: Path, gate_at: int, seconds: float = 3.0):
    """The robot on the clip, held before frame `gate_at`; its screens are recorded."""
    settings = Settings.load(environ=NO_THROTTLE, store=store,
                             greetings=REPO / "config/greetings.json")
    gate = threading.Event()
    source = GatedSource(open_source(str(samples / "short_hamilton_clip.mp4")), gate_at, gate)
    greeter = Greeter(settings, RunOptions(headless=True, door=DoorRules(seconds=seconds)),
                      reader=LatestFrameReader(lambda: source, reconnect=False))
    scenes = []
    render = greeter.screen.render
    greeter.screen.render = lambda scene: (scenes.append(scene), render(scene))
    runner = threading.Thread(target=greeter.run)
    runner.start()
    assert source.held.wait(60)
    return greeter, runner, gate, scenes


def wait_for(condition, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "waited in vain"
        time.sleep(0.05)


def test_a_door_request_enrols_the_guest_in_view_from_the_video(samples, tmp_path):
    """Lin-Manuel is in view from frame ~85 to ~250: asked for at frame 100, the robot enrols
    him from the clip's frames, and a second run greets him by name."""
    store = tmp_path / "greeter.sqlite3"
    Store(store).close()
    greeter, runner, gate, scenes = start_gated(samples, store, 100)
    ask(store.parent, "lin-manuel", "Lin-Manuel Miranda")
    wait_for(lambda: greeter.door.collecting)  # taken at the next once-a-second look
    gate.set()
    runner.join(timeout=300)
    assert not runner.is_alive()
    result = result_for(store.parent, "lin-manuel")
    assert (result.enrolled, result.reason) == (3, None), result.message
    with Store(store) as enrolled:
        photos = enrolled.photos("lin-manuel")
    assert len(photos) == 3 and all(p.photo_name.startswith("door-") for p in photos)
    assert all(p.face_size >= 60 and p.sharpness >= 20 for p in photos)
    assert any(g.text == "Look at the camera, Lin-Manuel Miranda"
               for scene in scenes for g in scene.greetings)
    folder = door_folder(store.parent)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert [p.name for p in folder.iterdir()] == ["lin-manuel.result.json"]  # never a frame

    settings = Settings.load(environ=NO_THROTTLE, store=store,
                             greetings=REPO / "config/greetings.json")
    again = Greeter(settings, RunOptions(headless=True), reader=LatestFrameReader(
        lambda: open_source(str(samples / "short_hamilton_clip.mp4")), reconnect=False))
    summary = again.run()
    assert [g.person for g in summary.greetings if g.person] == ["lin-manuel"]


def test_a_door_request_with_nobody_in_view_says_so(samples, tmp_path):
    """Frames 1 to 60 (2 s) show an empty stage."""
    store = tmp_path / "greeter.sqlite3"
    greeter, runner, gate, _ = start_gated(samples, store, 1, seconds=2.0)
    ask(store.parent, "lin-manuel", "Lin-Manuel Miranda")
    wait_for(lambda: greeter.door.collecting)
    gate.set()
    wait_for(lambda: result_for(store.parent, "lin-manuel") is not None, 120)
    greeter.stop()
    runner.join(timeout=300)
    result = result_for(store.parent, "lin-manuel")
    assert (result.enrolled, result.reason) == (0, NOBODY)
    assert result.message.startswith("nobody was in front of the camera for 2 s")
    assert not store.exists()  # nothing enrolled, nothing created
