"""The whole live pipeline (`greeter.live.robot.Greeter`) on real frames: an entrance that stays
still until a guest walks in (a generated corridor with sensor noise and a real lfw-dev
photo, tests/scenes.py), and the Hamilton clip played in real time."""

import logging
import math
import re
from pathlib import Path

import pytest
from scenes import Scene, Walker, pick_people, render_frames

from greeter.live.camera import Frame, FrameSource, LatestFrameReader, open_source
from greeter.live.robot import Greeter, RunOptions
from greeter.live.scan import FULL_EVERY_STILL
from greeter.people.enrolment import Enroller, jobs_for_person
from greeter.people.store import Store
from greeter.recognition.faces import FaceEngine
from greeter.settings import Settings

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parent.parent
NO_THROTTLE = {"GREETER_THROTTLE__PRESSURE_BELOW": "0.02",
               "GREETER_THROTTLE__CRITICAL_BELOW": "0.01"}
FPS = 15.0
ENTERS_AT = 4.0


class FramesSource(FrameSource):
    """Frames held in memory, with the video time of a `fps` recording."""

    description = "scene"

    def __init__(self, frames, fps):
        self.frames, self.fps, self.index = frames, fps, 0

    def read(self):
        if self.index >= len(self.frames):
            return None
        frame = Frame(self.frames[self.index], self.index, self.index / self.fps)
        self.index += 1
        return frame


def enrolled_settings(folder: Path, person, photo: Path) -> Settings:
    store = folder / "greeter.sqlite3"
    settings = Settings.load(environ=NO_THROTTLE, store=store,
                             greetings=REPO / "config/greetings.json")
    with Store(store) as opened:
        outcomes = Enroller(opened, settings.detection, settings.enrolment).run(
            jobs_for_person(person.person, person.name, [photo]))
    assert [outcome.status for outcome in outcomes] == ["enrolled"]
    return settings


def recording_scans(greeter: Greeter):
    """Record the index of every frame the greeter submits for detection."""
    scanned = []
    submit = greeter.detection.submit

    def record(frame, scan, scale):
        scanned.append((frame.index, scan.full))
        submit(frame, scan, scale)

    greeter.detection.submit = record
    return scanned


@pytest.fixture(scope="module")
def entrance(lfw, tmp_path_factory):
    """An empty corridor for 4 s, then an enrolled guest walks in and stops in front."""
    person = pick_people(lfw, 1, seed=11)[0]
    scene = Scene(duration=6.0, fps=FPS, seed=3, noise=4.0, walkers=[
        Walker(person.walk_photo, person.person, ENTERS_AT, 6.0, (-40, 200), (320, 210),
               face_px=110)])
    settings = enrolled_settings(tmp_path_factory.mktemp("entrance"), person,
                                 person.enrol_photo)
    return person, render_frames(scene), settings


def test_a_still_entrance_is_not_scanned_and_a_guest_walking_in_is_greeted(entrance, caplog):
    person, frames, settings = entrance
    greeter = Greeter(settings, RunOptions(headless=True, status_every_seconds=0.5),
                      reader=LatestFrameReader(lambda: FramesSource(frames, FPS),
                                               reconnect=False))
    scanned = recording_scans(greeter)
    with caplog.at_level(logging.INFO, logger="greeter.live.robot"):
        summary = greeter.run()
    before = [index for index, _ in scanned if index < ENTERS_AT * FPS]
    # a full scan on the first frame (nothing known yet), then one on the first frame due
    # for detection (every 0.1 s) once FULL_EVERY_STILL seconds have passed
    assert before[0] == 0 and len(before) == math.ceil(ENTERS_AT / FULL_EVERY_STILL)
    assert all(FULL_EVERY_STILL <= (later - earlier) / FPS <= FULL_EVERY_STILL + 0.2
               for earlier, later in zip(before, before[1:]))
    named = [g for g in summary.greetings if g.person]
    assert [g.person for g in named] == [person.person]
    # scanned every 0.1 s of video time from the first frame that moved on
    after = [index for index, _ in scanned if index >= ENTERS_AT * FPS]
    assert after[0] == ENTERS_AT * FPS
    assert all(later - earlier <= 2 for earlier, later in zip(after, after[1:]))
    assert summary.frames == len(frames)
    statuses = [record.getMessage() for record in caplog.records
                if record.getMessage().startswith("status: ")]
    assert statuses and all(
        re.match(r"status: [\d.]+ fps drawn, [\d.]+ detections/s, CPU \d+ %, \d+ faces, "
                 r"memory normal, camera \w+$", status) for status in statuses), statuses


def test_the_guest_is_greeted_as_fast_as_in_a_scene_busy_all_along(entrance):
    """The same frames, but the detector scans every frame due from the start (as if the
    scene had moved all along): the greeting comes at the same frame."""
    person, frames, settings = entrance
    still = Greeter(settings, RunOptions(headless=True), reader=LatestFrameReader(
        lambda: FramesSource(frames, FPS), reconnect=False)).run()
    busy = Greeter(settings, RunOptions(headless=True), reader=LatestFrameReader(
        lambda: FramesSource(frames, FPS), reconnect=False))
    busy._last_full_scan_at = float("inf")  # never a periodic full scan...
    busy._motion.check = lambda grey, size: _everything_moves(size)  # ...motion everywhere
    busy_summary = busy.run()
    assert [g.frame for g in still.greetings if g.person] == \
        [g.frame for g in busy_summary.greetings if g.person]


def _everything_moves(size):
    from greeter.live.motion import Motion

    width, height = size
    return Motion(((0, width, height, 0),))


def test_in_real_time_faces_are_embedded_off_the_drawing_thread(samples, tmp_path,
                                                                monkeypatch):
    """The Hamilton clip at its own pace: Lin-Manuel Miranda is greeted, no face was embedded
    in the loop's process (the identity stage's worker process did it), and each frame drawn
    was drawn once."""
    class Lin:
        person, name = "lin-manuel-miranda", "Lin-Manuel Miranda"

    settings = enrolled_settings(tmp_path, Lin, samples / "lin-manuel-miranda.png")

    def not_here(*_args, **_kwargs):
        raise AssertionError("a face was embedded in the loop's process")

    monkeypatch.setattr(FaceEngine, "faces", not_here)
    greeter = Greeter(settings, RunOptions(headless=True, realtime=True,
                                           record_face_frames=True),
                      reader=LatestFrameReader(lambda: open_source(
                          str(samples / "short_hamilton_clip.mp4"), realtime=True),
                          reconnect=False))
    summary = greeter.run()
    assert [g.person for g in summary.greetings if g.person] == [Lin.person]
    assert summary.frames == len(summary.drawn_at) > 0
    assert len(summary.embedding_spans) >= 2
