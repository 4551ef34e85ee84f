"""Frame sources on real files made here (a video written with OpenCV, a folder of images),
a raw-frame pipe, and fake cameras that fail and recover."""

import shutil
import sys
import threading
import time

import cv2
import numpy as np
import pytest

from greeter.live import camera
from greeter.live.camera import (
    Frame,
    FrameSource,
    GStreamerProcessSource,
    LatestFrameReader,
    ReaderState,
    SourceError,
    csi_pipeline,
    gst_launch_command,
    is_live,
    open_reader,
    open_source,
    reconnect_delay,
)
from greeter.settings import CameraSettings

SIZE = (64, 48)  # width, height
GREYS = [10, 40, 70, 100, 130, 160, 190, 220]


def read_all(source):
    frames = []
    while True:
        frame = source.read()
        if frame is None:
            return frames
        frames.append(frame)


def wait_until(condition, timeout=10.0):
    """Poll `condition` until true; fails the test after `timeout` (a hang, not a slow run)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.005)


@pytest.fixture
def video(tmp_path):
    """An MJPG video of 8 uniform grey frames at 10 fps, from dark to light."""
    path = tmp_path / "greys.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, SIZE)
    assert writer.isOpened()
    for grey in GREYS:
        writer.write(np.full((SIZE[1], SIZE[0], 3), grey, np.uint8))
    writer.release()
    return path


# --- sources -------------------------------------------------------------------------------


def test_a_video_file_yields_every_frame_with_video_time(video):
    with open_source(str(video)) as source:
        assert not source.live and not source.realtime
        frames = read_all(source)
    assert [frame.index for frame in frames] == list(range(len(GREYS)))
    assert [frame.t for frame in frames] == pytest.approx([i / 10.0 for i in range(len(GREYS))])
    assert frames[0].rgb.shape == (SIZE[1], SIZE[0], 3) and frames[0].rgb.dtype == np.uint8
    means = [float(frame.rgb.mean()) for frame in frames]
    assert means == pytest.approx(GREYS, abs=4)


def test_a_video_frame_is_rgb_not_bgr(tmp_path):
    path = tmp_path / "red.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, SIZE)
    writer.write(np.full((SIZE[1], SIZE[0], 3), (0, 0, 255), np.uint8))  # BGR red
    writer.release()
    with open_source(str(path)) as source:
        red, green, blue = source.read().rgb[24, 32].astype(int)
    assert red > 200 and green < 50 and blue < 50


def test_realtime_playback_is_paced_at_the_file_frame_rate(video):
    started = time.monotonic()
    with open_source(str(video), realtime=True) as source:
        assert source.realtime
        frames = read_all(source)
    # 8 frames at 10 fps: the last is due 0.7 s after the first (a lower bound, never flaky)
    assert len(frames) == len(GREYS)
    assert time.monotonic() - started >= 0.69


def test_a_folder_of_images_is_played_in_name_order(tmp_path):
    for name, grey in [("b.png", 100), ("a.jpg", 50), ("c.png", 200)]:
        cv2.imwrite(str(tmp_path / name), np.full((20, 30, 3), grey, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    settings = CameraSettings(image_seconds=1.0, image_frame_rate=2.0)
    with open_source(str(tmp_path), settings=settings) as source:
        frames = read_all(source)
    assert [round(float(frame.rgb.mean()) / 50) * 50 for frame in frames] == [
        50, 50, 100, 100, 200, 200], "each image for a second, two frames a second"
    assert [frame.t for frame in frames] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert [frame.index for frame in frames] == list(range(6))


def test_an_unreadable_image_in_a_folder_is_skipped(tmp_path, caplog):
    cv2.imwrite(str(tmp_path / "1.png"), np.zeros((10, 10, 3), np.uint8))
    (tmp_path / "2.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    cv2.imwrite(str(tmp_path / "3.png"), np.zeros((10, 10, 3), np.uint8))
    settings = CameraSettings(image_seconds=0.1, image_frame_rate=10.0)
    with open_source(str(tmp_path), settings=settings) as source:
        frames = read_all(source)
    assert [frame.index for frame in frames] == [0, 1], "the unreadable one takes no time"
    assert "2.jpg" in caplog.text


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "missing.mp4", "no such file or folder"),
    (lambda tmp: tmp, "no images in this folder"),
    (lambda tmp: (tmp / "junk.mp4").write_bytes(b"junk" * 100) and tmp / "junk.mp4",
     "cannot open"),
])
def test_bad_paths_raise_a_source_error(tmp_path, make, message):
    with pytest.raises(SourceError, match=message):
        open_source(str(make(tmp_path)))


def test_which_specs_are_live():
    assert is_live("0") and is_live("csi://0") and is_live("rtsp://cam.local/stream")
    assert not is_live("clip.mp4") and not is_live("photos/")


def test_the_csi_pipeline_uses_the_settings():
    settings = CameraSettings(csi_sensor_width=1920, csi_sensor_height=1080, csi_fps=30,
                              csi_output_width=640, csi_output_height=360, csi_flip_method=2)
    pipeline = csi_pipeline(1, settings)
    assert pipeline.startswith("nvarguscamerasrc sensor-id=1 ! ")
    assert "width=1920,height=1080,framerate=30/1" in pipeline
    assert "nvvidconv flip-method=2" in pipeline
    assert pipeline.endswith("video/x-raw,width=640,height=360,format=BGRx ! videoconvert ! "
                             "video/x-raw,format=BGR")
    command = gst_launch_command(pipeline)
    assert command[:3] == ["gst-launch-1.0", "-q", "nvarguscamerasrc"]
    assert command[-3:] == ["fdsink", "fd={fd}", "sync=false"]
    assert "video/x-raw(memory:NVMM),width=1920,height=1080,framerate=30/1,format=NV12" in command


def test_csi_without_any_gstreamer_says_what_to_install(monkeypatch):
    monkeypatch.setattr(camera, "cv2_has_gstreamer", lambda: False)
    monkeypatch.setattr(camera.shutil, "which", lambda name: None)
    with pytest.raises(SourceError, match="gstreamer1.0-tools"):
        open_source("csi://0")
    with pytest.raises(SourceError, match="csi://N"):
        open_source("csi://front")


def test_raw_frames_are_read_from_the_pipeline_pipe():
    """A stand-in for gst-launch: prints chatter on stdout, writes 3 BGR frames to the pipe."""
    producer = (
        "import os, sys\n"
        "print('GST_ARGUS: chatter on stdout must not corrupt frames')\n"
        "pipe = os.fdopen(int(sys.argv[1]), 'wb')\n"
        "for blue in (0, 100, 200):\n"
        "    pipe.write(bytes([blue, 50, 250]) * (4 * 2))\n"
        "    pipe.flush()\n"
    )
    with GStreamerProcessSource([sys.executable, "-c", producer, "{fd}"], 4, 2, "fake") as source:
        assert source.live and source.realtime
        frames = read_all(source)
    assert [frame.index for frame in frames] == [0, 1, 2]
    assert [tuple(frame.rgb[1, 3]) for frame in frames] == [(250, 50, 0), (250, 50, 100),
                                                            (250, 50, 200)]
    assert frames[0].t <= frames[1].t <= frames[2].t


def test_a_pipeline_that_fails_logs_its_output(caplog):
    failing = [sys.executable, "-c", "import sys; print('no element nvarguscamerasrc'); "
               "sys.exit(1)", "{fd}"]
    with GStreamerProcessSource(failing, 4, 2, "csi://0") as source:
        assert source.read() is None
    assert "exit status 1" in caplog.text and "no element nvarguscamerasrc" in caplog.text


def test_a_missing_pipeline_program_is_a_source_error():
    with pytest.raises(SourceError, match="cannot start"):
        GStreamerProcessSource(["/nonexistent/gst-launch-1.0", "{fd}"], 4, 2, "csi://0")


@pytest.mark.skipif(shutil.which("gst-launch-1.0") is None,
                    reason="gst-launch-1.0 not installed (Debian: gstreamer1.0-tools)")
def test_a_real_gstreamer_pipeline_through_fdsink():
    command = gst_launch_command("videotestsrc num-buffers=3 pattern=red ! "
                                 "video/x-raw,width=32,height=24 ! videoconvert ! "
                                 "video/x-raw,format=BGR")
    with GStreamerProcessSource(command, 32, 24, "videotestsrc") as source:
        frames = read_all(source)
    if not frames:
        pytest.skip("GStreamer's videotestsrc is missing (Debian: gstreamer1.0-plugins-base)")
    assert len(frames) == 3
    assert tuple(frames[0].rgb[10, 10]) == (255, 0, 0)


def test_the_hamilton_clip_has_275_frames_at_29_97_fps(samples):
    clip = samples / "short_hamilton_clip.mp4"
    assert clip.is_file(), f"{clip} is missing from the samples"
    with open_source(str(clip)) as source:
        frames = read_all(source)
    assert len(frames) == 275
    assert {frame.rgb.shape for frame in frames} == {(360, 640, 3)}
    steps = np.diff([frame.t for frame in frames])
    np.testing.assert_allclose(steps, 1 / 29.97, rtol=1e-6)


# --- the background reader -----------------------------------------------------------------


def test_reconnect_delays_double_up_to_the_maximum():
    assert [reconnect_delay(attempt, 0.5, 10.0) for attempt in range(7)] == [
        0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert reconnect_delay(10_000, 0.5, 10.0) == 10.0


def test_a_file_read_as_fast_as_possible_hands_out_every_frame_in_order(video):
    with open_reader(str(video)) as reader:
        indices = []
        while True:
            frame = reader.next_frame(timeout=10)
            if frame is None:
                break
            time.sleep(0.01)  # a slow consumer must not lose frames
            indices.append(frame.index)
        assert reader.state is ReaderState.FINISHED
    assert indices == list(range(len(GREYS)))
    assert reader.dropped == 0


def test_a_reader_tells_whether_it_hands_out_every_frame_once_started(video):
    """A file played as fast as possible is processed in order; a camera is not. Known once
    the source is open: `wait_started`."""
    release = threading.Event()
    slow_open = LatestFrameReader(lambda: release.wait(10) and open_source(str(video)),
                                  reconnect=False)
    with slow_open:
        slow_open.wait_started(0.05)
        assert slow_open.state is ReaderState.STARTING and not slow_open.every_frame
        release.set()
        slow_open.wait_started(10)
        assert slow_open.state is not ReaderState.STARTING and slow_open.every_frame
    camera = LatestFrameReader(lambda: FakeCamera(count=3), reconnect=True)
    with camera:
        camera.wait_started(10)
        assert not camera.every_frame


def test_a_missing_file_fails_at_once_not_in_the_background(tmp_path):
    with pytest.raises(SourceError):
        open_reader(str(tmp_path / "missing.mp4"))


class FakeCamera(FrameSource):
    """A live source that gives `count` frames as fast as asked, then `hold`s (a camera whose
    next frame has not come yet) or ends (a lost camera)."""

    live = True
    realtime = True

    def __init__(self, count, hold=None):
        self.description = "fake camera"
        self.count = count
        self.hold = hold
        self.index = 0
        self.closed = False

    def read(self):
        if self.index >= self.count:
            if self.hold is not None:
                self.hold.wait(10)
            return None
        frame = Frame(np.full((4, 4, 3), self.index, np.uint8), self.index, time.monotonic())
        self.index += 1
        return frame

    def close(self):
        self.closed = True


def test_a_slow_consumer_of_a_live_source_gets_the_newest_frame():
    hold = threading.Event()
    fake = FakeCamera(count=5, hold=hold)
    reader = LatestFrameReader(lambda: fake, reconnect=True)
    with reader:
        wait_until(lambda: reader.latest is not None and reader.latest.index == 4)
        newest = reader.next_frame(timeout=1)
        assert newest.index == 4 and int(newest.rgb[0, 0, 0]) == 4
        assert reader.dropped == 4
        assert reader.next_frame(timeout=0.05) is None  # nothing newer yet: no backlog
        assert reader.state is ReaderState.OK
        hold.set()
    assert fake.closed


class PacedBgrCamera(FrameSource):
    """A realtime source handing over BGR frames (blue = the frame's number) every 10 ms, as
    cameras do; it counts how many of its frames anybody converted to RGB."""

    live = True
    realtime = True

    def __init__(self):
        self.index = 0
        self.frames = []

    def read(self):
        time.sleep(0.01)
        bgr = np.zeros((4, 4, 3), np.uint8)
        bgr[..., 0] = self.index % 256
        frame = Frame.from_bgr(bgr, self.index, time.monotonic())
        self.frames.append(frame)
        self.index += 1
        return frame


def test_a_resting_loop_sleeps_through_frames_and_they_are_never_converted():
    camera = PacedBgrCamera()
    with LatestFrameReader(lambda: camera, reconnect=True) as reader:
        first = reader.next_frame(timeout=5)
        wake_at = first.t + 0.1
        second = reader.next_frame(timeout=5, not_before=wake_at)
        assert second.t >= wake_at and second.index >= first.index + 5
        assert second.rgb[0, 0].tolist() == [0, 0, second.index % 256]  # blue last in RGB
    skipped = [f for f in camera.frames if first.index < f.index < second.index]
    assert len(skipped) >= 5
    assert all(f._rgb is None for f in skipped)  # never converted: the point of resting


def test_frames_older_than_asked_for_are_dropped_even_from_a_read_ahead():
    """A source that is read in order (a recording) keeps `READ_AHEAD` frames; a caller asking
    for a later time gets it, the older ones dropped, not a reader stuck on a full queue."""
    camera = PacedBgrCamera()
    camera.live = camera.realtime = False  # read in order, every frame kept
    with LatestFrameReader(lambda: camera, reconnect=True) as reader:
        first = reader.next_frame(timeout=5)
        later = reader.next_frame(timeout=5, not_before=first.t + 0.2)
        assert later is not None and later.t >= first.t + 0.2
        assert reader.dropped >= 10


def test_a_wake_ends_the_wait_for_a_frame_at_once():
    """The loop waits for the next frame; a stage that finished work wakes it (`wake`)."""
    hold = threading.Event()
    fake = FakeCamera(count=1, hold=hold)
    reader = LatestFrameReader(lambda: fake, reconnect=True)
    with reader:
        assert reader.next_frame(timeout=5).index == 0
        threading.Timer(0.05, reader.wake).start()
        started = time.monotonic()
        assert reader.next_frame(timeout=5) is None
        assert time.monotonic() - started < 2  # not the 5 s timeout
        reader.wake()  # nobody waiting: the next call returns at once
        assert reader.next_frame(timeout=5) is None
        started = time.monotonic()
        assert reader.next_frame(timeout=0.2) is None  # a wake counts once
        assert time.monotonic() - started >= 0.2 - 1e-3
        hold.set()


def test_a_lost_camera_is_reopened_with_backoff_and_shows_camera_lost():
    calls = []
    third_call = threading.Event()
    released = threading.Event()
    cameras = []

    def opener():
        calls.append(time.monotonic())
        if len(calls) <= 2:
            raise SourceError("camera 0: cannot open (unplugged)")
        if len(calls) == 3:
            third_call.set()
            released.wait(10)
        camera_now = FakeCamera(count=3)  # 3 frames, then the camera is lost again
        cameras.append(camera_now)
        return camera_now

    reader = LatestFrameReader(opener, reconnect=True, first_delay=0.01, max_delay=0.04)
    with reader:
        assert third_call.wait(10)
        assert reader.state is ReaderState.LOST
        assert str(reader.state) == "camera lost"
        assert "unplugged" in reader.error
        released.set()
        frames = []
        while len(frames) < 6:
            frame = reader.next_frame(timeout=10)
            assert frame is not None
            frames.append(frame)
    # frames keep counting across reconnections, and each camera is closed when lost
    assert [frame.index for frame in frames] == sorted({frame.index for frame in frames})
    assert len(cameras) >= 2 and all(fake.closed for fake in cameras)
    waits = np.diff(calls[:3])
    assert waits[1] >= 0.02 - 1e-3  # the second retry waited twice the first delay


def test_closing_a_reader_that_never_found_its_camera_returns_promptly():
    def never():
        raise SourceError("camera 7: cannot open")

    reader = LatestFrameReader(never, reconnect=True, first_delay=60, max_delay=60)
    with reader:
        wait_until(lambda: reader.state is ReaderState.LOST)
        assert reader.next_frame(timeout=0.01) is None
    assert reader.state is ReaderState.FINISHED


def test_a_realtime_file_reader_ends_after_the_last_frame(video):
    with open_reader(str(video), realtime=True) as reader:
        last = None
        while True:
            frame = reader.next_frame(timeout=10)
            if frame is None:
                break
            last = frame
    assert last is not None and last.index == len(GREYS) - 1
    assert reader.state is ReaderState.FINISHED
