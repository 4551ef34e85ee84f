"""The live loop's stages alone, on plain values and fakes: the motion gate, the scan plan,
the detection stage, the identity stage, and the status rates."""

import os
import signal
import threading
import time

import numpy as np
import psutil
import pytest

from greeter.background import NICENESS
from greeter.live.camera import Frame
from greeter.live.detection import THREADS, DetectionStage, detect_scan
from greeter.live.identity import RESTART_EVERY_SECONDS, IdentityStage
from greeter.live.motion import CHANGE_LEVEL, STILL, Motion, MotionGate, small_grey
from greeter.live.scan import (
    FULL,
    FULL_EVERY_BUSY,
    FULL_EVERY_STILL,
    MIN_SIDE,
    NOTHING,
    PICTURE_CHANGED,
    Scan,
    grow,
    merge,
    plan_scan,
)
from greeter.live.status import Sample, loop_rates
from greeter.recognition.faces import FaceEngine
from greeter.recognition.imaging import load_rgb
from greeter.recognition.matching import Gallery, default_policy, default_track_policy
from greeter.recognition.recogniser import Recogniser

SIZE = (640, 480)


def noisy_scene(rng, sigma=6.0):
    """A fixed textured scene seen through sensor noise of `sigma` grey levels."""
    base = np.random.default_rng(1).integers(40, 200, (480, 640, 3)).astype(np.float32)
    return np.clip(base + rng.normal(0, sigma, base.shape), 0, 255).astype(np.uint8)


# --- motion gate ---------------------------------------------------------------------------


def test_sensor_noise_on_a_still_scene_is_not_motion():
    rng = np.random.default_rng(0)
    gate = MotionGate()
    first = gate.check(small_grey(noisy_scene(rng)), SIZE)
    assert first.moving and first.regions == ((0, 640, 480, 0),)  # nothing known yet
    assert all(gate.check(small_grey(noisy_scene(rng)), SIZE) == STILL for _ in range(30))


def test_a_head_entering_is_motion_where_it_is():
    rng = np.random.default_rng(0)
    gate = MotionGate()
    gate.check(small_grey(noisy_scene(rng)), SIZE)
    frame = noisy_scene(rng)
    frame[100:200, 400:480] = 250  # a bright 80x100 px head-sized patch appears
    motion = gate.check(small_grey(frame), SIZE)
    assert len(motion.regions) == 1 and 0 < motion.changed_share < 0.05
    top, right, bottom, left = motion.regions[0]
    assert top <= 100 and bottom >= 200 and left <= 400 and right >= 480
    assert (bottom - top) * (right - left) < 0.1 * 640 * 480


def test_a_change_below_the_level_or_in_a_cell_or_two_is_not_motion():
    gate = MotionGate()
    grey = np.full((60, 80), 100, np.float32)
    gate.check(grey, SIZE)
    assert gate.check(grey + CHANGE_LEVEL - 1, SIZE) == STILL
    flicker = grey.copy()
    flicker[10, 10] = flicker[40, 70] = 250
    assert gate.check(flicker, SIZE) == STILL


# --- scan plan ------------------------------------------------------------------------------


def test_a_still_empty_scene_is_scanned_whole_only_every_few_seconds():
    assert plan_scan(10.0, SIZE, [], STILL, last_full_at=10.0 - FULL_EVERY_STILL) == FULL
    assert plan_scan(10.0, SIZE, [], STILL, last_full_at=10.0 - FULL_EVERY_STILL + 0.1) \
        == NOTHING


def test_motion_in_an_empty_scene_is_scanned_at_once_where_it_is():
    scan = plan_scan(10.0, SIZE, [], Motion(((100, 480, 200, 400),)), last_full_at=9.9)
    assert not scan.full and len(scan.regions) == 1
    top, right, bottom, left = scan.regions[0]
    assert top < 100 and bottom > 200 and left < 400 and right > 480


def test_tracks_are_scanned_in_regions_around_them_and_whole_every_so_often():
    face = (100, 300, 200, 200)  # 100 px
    scan = plan_scan(10.0, SIZE, [face], STILL, last_full_at=9.9)
    assert scan == Scan(False, ((50, 350, 250, 150),))
    assert plan_scan(10.0, SIZE, [face], STILL, last_full_at=10.0 - FULL_EVERY_BUSY) == FULL


def test_motion_too_large_to_follow_leaves_the_tracks_regions():
    face = (100, 300, 200, 200)
    everywhere = Motion(((0, 640, 400, 0),))
    assert plan_scan(10.0, SIZE, [face], everywhere, last_full_at=9.9) \
        == Scan(False, ((50, 350, 250, 150),))
    assert plan_scan(10.0, SIZE, [], everywhere, last_full_at=9.9) == FULL


def test_a_picture_changed_as_a_whole_or_a_track_missed_is_scanned_whole():
    face = (100, 300, 200, 200)
    cut = Motion(((0, 640, 480, 0),), changed_share=PICTURE_CHANGED)
    assert plan_scan(10.0, SIZE, [face], cut, last_full_at=9.9) == FULL
    assert plan_scan(10.0, SIZE, [face], STILL, last_full_at=9.9, track_missed=True) == FULL


def test_regions_are_at_least_the_detectors_size_inside_the_frame_and_merged():
    assert grow((0, 20, 20, 0), 0, SIZE) == (0, MIN_SIDE, MIN_SIDE, 0)
    assert grow((460, 640, 480, 620), 0, SIZE) == (480 - MIN_SIDE, 640, 480, 640 - MIN_SIDE)
    assert merge([(0, 100, 100, 0), (50, 200, 150, 90), (300, 400, 400, 300)]) == [
        (0, 200, 150, 0), (300, 400, 400, 300)]


# --- detection stage ------------------------------------------------------------------------


class FakeEngine:
    """Finds a "face" wherever the image has a pixel of 255, as a 10x10 box at its corner."""

    def __init__(self):
        self.images = []

    def detect(self, rgb, upsample=0):
        self.images.append(rgb.shape[:2])
        spots = np.argwhere(rgb[:, :, 0] == 255)
        return [(int(y), int(x) + 10, int(y) + 10, int(x)) for y, x in spots[:1]]


def frame_with_spot(index, y, x):
    rgb = np.zeros((480, 640, 3), np.uint8)
    rgb[y, x] = 255
    return Frame(rgb, index, index / 30.0)


def test_a_region_scan_finds_faces_in_the_frames_pixels_and_only_looks_there():
    engine = FakeEngine()
    rgb = frame_with_spot(0, 300, 500).rgb
    assert detect_scan(engine, rgb, Scan(False, ((200, 600, 400, 400),)), 1.0, 0) == [
        (300, 510, 310, 500)]
    assert engine.images == [(200, 200)]
    assert detect_scan(engine, rgb, Scan(False, ((0, 200, 200, 0),)), 1.0, 0) == []


def test_detections_come_back_in_the_order_submitted():
    slow_first = threading.Event()

    class Engine(FakeEngine):
        def detect(self, rgb, upsample=0):
            if rgb[300, 100, 0] == 255:
                slow_first.wait(5)  # the first frame's scan finishes last
            return super().detect(rgb, upsample)

    stage = DetectionStage(0, engine_factory=Engine)
    try:
        stage.submit(frame_with_spot(0, 300, 100), FULL, 1.0)
        stage.submit(frame_with_spot(1, 50, 60), FULL, 1.0)
        assert stage.busy and THREADS == 2
        time.sleep(0.2)
        assert stage.ready() == []  # the second is done, but waits for the first
        slow_first.set()
        first, second = stage.oldest(), stage.oldest()
        assert (first.frame.index, first.boxes) == (0, [(300, 110, 310, 100)])
        assert (second.frame.index, second.boxes) == (1, [(50, 70, 60, 60)])
        assert not stage.busy and stage.pending == 0
    finally:
        stage.close()


def test_each_finished_scan_is_announced():
    """`on_finished` wakes the live loop (`LatestFrameReader.wake`) when a scan is done."""
    finished = threading.Semaphore(0)
    stage = DetectionStage(0, engine_factory=FakeEngine, on_finished=finished.release)
    try:
        stage.submit(frame_with_spot(0, 300, 100), FULL, 1.0)
        stage.submit(frame_with_spot(1, 50, 60), FULL, 1.0)
        assert finished.acquire(timeout=5) and finished.acquire(timeout=5)
        assert not finished.acquire(timeout=0.1)
    finally:
        stage.close()


@pytest.mark.skipif(not hasattr(threading, "get_native_id"), reason="Linux threads only")
def test_detection_threads_give_way_to_the_drawing_thread():
    niceness = []

    class Engine(FakeEngine):
        def detect(self, rgb, upsample=0):
            niceness.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
            return super().detect(rgb, upsample)

    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    stage = DetectionStage(0, engine_factory=Engine)
    try:
        stage.wait_ready()
        assert niceness == [mine + NICENESS] * THREADS  # each thread's detector loaded
        stage.submit(frame_with_spot(0, 1, 1), FULL, 1.0)
        stage.oldest()
        assert niceness[-1] == mine + NICENESS
        assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine
    finally:
        stage.close()


# --- identity stage -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def lin(samples):
    """Lin-Manuel Miranda's photo, his face box, and a recogniser with him enrolled."""
    engine = FaceEngine()
    rgb = load_rgb(samples / "lin-manuel-miranda.png")
    box = engine.detect(rgb, 0)[0]
    (face,) = engine.faces(rgb, [box])
    recogniser = Recogniser(engine, Gallery.from_rows([("lin", face.embedding)]),
                            {"lin": "Lin"}, default_policy(1), default_track_policy(1))
    return Frame(rgb, 7, 0.25), box, recogniser


@pytest.fixture
def stage():
    stage = IdentityStage()
    yield stage
    stage.close()


def test_faces_are_embedded_in_a_worker_process_one_job_at_a_time(lin, stage, monkeypatch):
    """The worker is another process: this process's engine is never asked to embed."""
    frame, box, recogniser = lin

    def not_here(*_args, **_kwargs):
        raise AssertionError("embedded in the loop's process")

    monkeypatch.setattr(FaceEngine, "faces", not_here)
    stage.wait_ready()
    assert stage.submit(recogniser, frame, [(1, box), (2, box)])
    assert stage.working
    assert not stage.submit(recogniser, frame, [(3, box)])
    votes = stage.ready(wait=True)
    assert votes.frame is frame
    assert [(track, vote.person) for track, vote in votes.by_track] == [(1, "lin"), (2, "lin")]
    assert all(vote.distance < 0.1 and vote.weight > 0 for _, vote in votes.by_track)
    assert not stage.working and stage.ready() is None


def test_each_finished_job_is_announced(lin):
    """`on_finished` wakes the live loop when a job's votes can be taken."""
    frame, box, recogniser = lin
    finished = threading.Semaphore(0)
    stage = IdentityStage(on_finished=finished.release)
    try:
        stage.wait_ready()
        assert not finished.acquire(timeout=0.1)  # loading the models is no job
        assert stage.submit(recogniser, frame, [(1, box)])
        assert finished.acquire(timeout=30)
        assert stage.ready() is not None
    finally:
        stage.close()


def test_a_worker_that_dies_costs_its_job_only(lin, stage):
    frame, box, recogniser = lin
    stage.wait_ready()
    os.kill(stage.worker_pid, signal.SIGKILL)
    stage.submit(recogniser, frame, [(1, box)])
    assert stage.ready(wait=True) is None
    assert stage.submit(recogniser, frame, [(1, box)])
    assert [vote.person for _, vote in stage.ready(wait=True).by_track] == ["lin"]


def test_a_worker_that_keeps_dying_is_started_again_at_most_every_ten_seconds(lin):
    frame, box, recogniser = lin
    now = [100.0]
    stage = IdentityStage(clock=lambda: now[0])
    try:
        stage.wait_ready()
        os.kill(stage.worker_pid, signal.SIGKILL)
        assert stage.submit(recogniser, frame, [(1, box)])
        assert stage.ready(wait=True) is None  # died: replaced at once
        second = stage.worker_pid
        stage.wait_ready()
        os.kill(second, signal.SIGKILL)
        now[0] += 3.0
        assert stage.submit(recogniser, frame, [(1, box)])
        assert stage.ready(wait=True) is None  # died again 3 s after its start: not replaced
        assert stage.worker_pid is None
        now[0] += RESTART_EVERY_SECONDS - 4.0
        assert not stage.submit(recogniser, frame, [(1, box)])
        now[0] += 1.0
        assert stage.submit(recogniser, frame, [(1, box)])
        assert [vote.person for _, vote in stage.ready(wait=True).by_track] == ["lin"]
    finally:
        stage.close()


def test_a_job_that_fails_costs_itself_only(lin, stage, caplog):
    """A frame dlib cannot read (floats, not bytes) is refused by the worker, which keeps
    answering: no votes for it, and the next job's as usual."""
    frame, box, recogniser = lin
    stage.wait_ready()
    worker = stage.worker_pid
    unreadable = Frame(frame.rgb.astype(np.float64), frame.index, frame.t)
    assert stage.submit(recogniser, unreadable, [(1, box)])
    assert stage.ready(wait=True) is None
    assert "could not embed" in caplog.text
    assert stage.submit(recogniser, frame, [(1, box)])
    assert [vote.person for _, vote in stage.ready(wait=True).by_track] == ["lin"]
    assert stage.worker_pid == worker


def test_the_worker_ends_with_the_stage_and_is_one_process(lin):
    """No helper processes beside the worker (a multiprocessing pool brought its resource
    tracker, 12 MB), and none left once the stage is closed."""
    before = {child.pid for child in psutil.Process().children(recursive=True)}
    stage = IdentityStage()
    stage.wait_ready()
    started = {child.pid for child in psutil.Process().children(recursive=True)} - before
    assert started == {stage.worker_pid}
    stage.close()
    assert not psutil.pid_exists(stage.worker_pid) or \
        psutil.Process(stage.worker_pid).status() == psutil.STATUS_ZOMBIE


def test_nothing_to_embed_starts_no_job(lin, stage):
    frame, _, recogniser = lin
    assert not stage.submit(recogniser, frame, [])
    assert not stage.working and stage.ready() is None


def test_status_rates_are_frames_drawn_detections_and_cpu_per_second():
    measured = loop_rates(Sample(wall=10.0, cpu=3.0, frames=100, detections=20),
                     Sample(wall=15.0, cpu=4.5, frames=250, detections=45))
    assert measured.fps == pytest.approx(30.0)
    assert measured.detection_rate == pytest.approx(5.0)
    assert measured.cpu_percent == pytest.approx(30.0)
    same = Sample(1.0, 1.0, 1, 1)
    assert loop_rates(same, same).fps == 0.0
