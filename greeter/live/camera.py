"""Frame sources behind one small interface, and a background reader that always hands out
the newest frame.

`open_source(spec, realtime)` understands:

* ``0``, ``1``... - a USB/V4L2 camera by index;
* ``csi://0`` - the Jetson's CSI camera through GStreamer ``nvarguscamerasrc``. With an
  OpenCV built with GStreamer (JetPack's) it goes through ``cv2.CAP_GSTREAMER``; the pip
  wheels have no GStreamer, so otherwise ``gst-launch-1.0`` runs the same pipeline and
  writes raw BGR frames of a known size into a pipe that we read;
* ``rtsp://...``, ``http(s)://...`` - a network stream (OpenCV's FFmpeg);
* a video file - frames carry the video's time (``index / fps``), so results do not depend on
  how fast the machine is; played as fast as possible unless `realtime`, which paces it at
  the file's frame rate;
* a folder of images - sorted by name, each shown for ``image_seconds`` of video time at
  ``image_frame_rate`` frames a second, as a camera sees a person standing in front of it.

Live sources (cameras, streams) stamp frames with `time.monotonic`. `LatestFrameReader`
reads a source on a thread of its own: for live and realtime sources it keeps only the
newest frame, so a slow recogniser never builds a backlog, and it reopens a lost camera with
exponential backoff while showing `ReaderState.LOST`; for a file played as fast as possible
it hands out every frame, in order, which tests and benchmarks count on.
"""

import collections
import enum
import logging
import math
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Deque, List, Optional

import numpy as np

from greeter.errors import GreeterError, ImageError
from greeter.recognition.imaging import is_photo_name, load_rgb
from greeter.settings import CameraSettings

log = logging.getLogger(__name__)

#: Frame rate assumed for a video file whose container does not say.
FALLBACK_VIDEO_FPS = 30.0
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://")
CSI_PREFIX = "csi://"
#: Frames of a recording played as fast as possible that are decoded ahead of the consumer:
#: the loop takes frames in bursts (one per detection thread and the frames between), and a
#: single-frame hand-over made it wait for the decoder 2.8 s in a 9 s run of the Hamilton clip.
READ_AHEAD = 8


class SourceError(GreeterError):
    """A frame source cannot be opened: missing file, unknown camera, no GStreamer..."""


class Frame:
    """One RGB ``(H, W, 3) uint8`` image; `index` counts the source's frames from 0 and `t` is
    in seconds: video time for files and folders, `time.monotonic` for live sources.

    A camera hands over BGR pixels (`from_bgr`), converted to RGB by the first reader of
    `rgb`: a frame that a newer one replaces before anybody looks at it (an empty entrance
    takes 10 of a camera's 30 a second) is never converted. Two threads reading `rgb` of a
    new frame at once may both convert it; both get the same pixels.
    """

    __slots__ = ("_rgb", "_bgr", "index", "t")

    def __init__(self, rgb: np.ndarray, index: int, t: float):
        self._rgb: Optional[np.ndarray] = rgb
        self._bgr: Optional[np.ndarray] = None
        self.index = index
        self.t = t

    @classmethod
    def from_bgr(cls, bgr: np.ndarray, index: int, t: float) -> "Frame":
        frame = cls(None, index, t)  # type: ignore[arg-type]  # set on first use
        frame._bgr = bgr
        return frame

    @property
    def rgb(self) -> np.ndarray:
        rgb = self._rgb
        if rgb is None:
            import cv2

            rgb = self._rgb = cv2.cvtColor(self._bgr, cv2.COLOR_BGR2RGB)
            self._bgr = None
        return rgb

    def numbered(self, index: int) -> "Frame":
        """The same picture and time as frame `index` (a reopened camera counts on)."""
        frame = Frame(self._rgb, index, self.t)  # type: ignore[arg-type]
        frame._bgr = self._bgr
        return frame

    def __repr__(self) -> str:
        return f"<Frame {self.index} at {self.t:.3f} s>"


class FrameSource:
    """`read` the next frame, or None at the end (or when a live source broke); `close`.

    `live` sources are cameras and streams (reopened when lost); `realtime` sources deliver
    frames at their own pace, so a consumer that falls behind should skip to the newest.
    """

    description = "frames"
    live = False
    realtime = False

    def read(self) -> Optional[Frame]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the device, file or process."""

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


class _Pacer:
    """Sleeps so that the frame of video time `t` is handed out `t` seconds after the first."""

    def __init__(self) -> None:
        self._start: Optional[float] = None

    def wait_for(self, t: float) -> None:
        now = time.monotonic()
        if self._start is None:
            self._start = now - t
        delay = self._start + t - now
        if delay > 0:
            time.sleep(delay)


class VideoCaptureSource(FrameSource):
    """Anything `cv2.VideoCapture` reads: video files, USB cameras, streams, GStreamer."""

    def __init__(self, capture, description: str, live: bool, realtime: bool):
        import cv2

        self._capture = capture
        self.description = description
        self.live = live
        self.realtime = live or realtime
        self._pacer = _Pacer() if realtime and not live else None
        self._index = 0
        self.fps = capture.get(cv2.CAP_PROP_FPS)
        if not live and not (math.isfinite(self.fps) and self.fps > 0):
            log.warning("%s does not tell its frame rate; assuming %.0f fps", description,
                        FALLBACK_VIDEO_FPS)
            self.fps = FALLBACK_VIDEO_FPS

    def read(self) -> Optional[Frame]:
        ok, bgr = self._capture.read()
        if not ok or bgr is None:
            return None
        t = time.monotonic() if self.live else self._index / self.fps
        if self._pacer is not None:
            self._pacer.wait_for(t)
        frame = Frame.from_bgr(bgr, self._index, t)
        self._index += 1
        return frame

    def close(self) -> None:
        self._capture.release()


class ImageFolderSource(FrameSource):
    """The photos of a folder, sorted by name, each shown as a camera would see a person
    standing there for `seconds`: `fps` frames a second of the same picture. Unreadable ones
    are logged and skipped."""

    def __init__(self, folder: Path, seconds: float, fps: float, realtime: bool):
        self.description = str(folder)
        self.realtime = realtime
        self.fps = fps
        self._frames_each = max(1, round(seconds * fps))
        self._paths: List[Path] = sorted(
            path for path in folder.iterdir() if path.is_file() and is_photo_name(path)
        )
        if not self._paths:
            raise SourceError(f"{folder}: no images in this folder")
        self._pacer = _Pacer() if realtime else None
        self._position = 0
        self._index = 0
        self._current: Optional[np.ndarray] = None
        self._left = 0

    def read(self) -> Optional[Frame]:
        while self._left == 0:
            if self._position >= len(self._paths):
                return None
            path = self._paths[self._position]
            self._position += 1
            try:
                self._current = load_rgb(path)
            except ImageError as error:
                log.warning("skipping %s", error)
                continue
            self._left = self._frames_each
        self._left -= 1
        index, t = self._index, self._index / self.fps
        self._index += 1
        if self._pacer is not None:
            self._pacer.wait_for(t)
        return Frame(self._current, index, t)


class GStreamerProcessSource(FrameSource):
    """Raw BGR frames of a known size written by a ``gst-launch-1.0`` pipeline.

    The frames travel through a pipe of their own (``fdsink fd=N``), not the process's
    stdout: GStreamer elements such as ``nvarguscamerasrc`` print status lines to stdout,
    which would corrupt the byte stream. The process's output goes to a temporary file whose
    end is logged when the pipeline stops.
    """

    live = True
    realtime = True

    def __init__(self, command: List[str], width: int, height: int, description: str):
        """`command` must end with an element writing to ``fdsink fd={fd}``; ``{fd}`` is
        replaced by the pipe's descriptor in the child."""
        self.description = description
        self.width, self.height = width, height
        self._frame_bytes = width * height * 3
        self._index = 0
        # lives as long as the source: closed by `close`
        self._output = tempfile.TemporaryFile()  # noqa: SIM115
        read_fd, write_fd = os.pipe()
        try:
            self._process = subprocess.Popen(
                [part.replace("{fd}", str(write_fd)) for part in command],
                stdin=subprocess.DEVNULL, stdout=self._output, stderr=subprocess.STDOUT,
                pass_fds=(write_fd,),
            )
        except OSError as error:
            os.close(read_fd)
            self._output.close()
            raise SourceError(f"{description}: cannot start {command[0]} ({error})") from None
        finally:
            os.close(write_fd)
        self._pipe = os.fdopen(read_fd, "rb", buffering=0)

    def read(self) -> Optional[Frame]:
        buffer = bytearray(self._frame_bytes)
        view = memoryview(buffer)
        filled = 0
        while filled < self._frame_bytes:
            count = self._pipe.readinto(view[filled:])
            if not count:
                log.warning("%s stopped: %s", self.description, self._output_tail())
                return None
            filled += count
        bgr = np.frombuffer(buffer, np.uint8).reshape(self.height, self.width, 3)
        frame = Frame.from_bgr(bgr, self._index, time.monotonic())
        self._index += 1
        return frame

    def close(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._pipe.close()
        self._output.close()

    def _output_tail(self, limit: int = 600) -> str:
        try:
            self._process.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return "the pipeline closed its frame pipe but is still running"
        self._output.seek(0)
        text = self._output.read().decode("utf-8", "replace").strip()
        reason = text[-limit:] if text else "no output"
        return f"exit status {self._process.returncode}: {reason}"


def cv2_has_gstreamer() -> bool:
    """True when this OpenCV was built with GStreamer (JetPack's is; the pip wheels are not)."""
    import cv2

    match = re.search(r"GStreamer:\s*(\w+)", cv2.getBuildInformation())
    return bool(match) and match.group(1).upper() == "YES"


def csi_pipeline(sensor_id: int, settings: CameraSettings) -> str:
    """The GStreamer pipeline of a Jetson CSI camera, ending in BGR frames of the output size
    (scaled and flipped by ``nvvidconv``, the Jetson's hardware converter)."""
    return (
        f"nvarguscamerasrc sensor-id={sensor_id} ! "
        f"video/x-raw(memory:NVMM),width={settings.csi_sensor_width},"
        f"height={settings.csi_sensor_height},framerate={settings.csi_fps}/1,format=NV12 ! "
        f"nvvidconv flip-method={settings.csi_flip_method} ! "
        f"video/x-raw,width={settings.csi_output_width},height={settings.csi_output_height},"
        f"format=BGRx ! videoconvert ! video/x-raw,format=BGR"
    )


def gst_launch_command(pipeline: str) -> List[str]:
    """``gst-launch-1.0`` running `pipeline` into ``fdsink fd={fd}`` (see
    `GStreamerProcessSource`)."""
    return ["gst-launch-1.0", "-q", *shlex.split(pipeline), "!", "fdsink", "fd={fd}",
            "sync=false"]


def is_live(spec: str) -> bool:
    """True for cameras and streams, which may be lost and reopened; False for files."""
    return spec.isdigit() or spec.startswith(CSI_PREFIX) or spec.startswith(STREAM_SCHEMES)


def open_source(spec: str, realtime: bool = False,
                settings: Optional[CameraSettings] = None) -> FrameSource:
    """Open the frame source `spec` names (see the module's docstring); raises `SourceError`."""
    import cv2

    settings = settings or CameraSettings()
    if spec.isdigit():
        capture = cv2.VideoCapture(int(spec))
        capture.set(cv2.CAP_PROP_BUFFERSIZE, 1)
        return _opened(capture, f"camera {spec}", live=True, realtime=True,
                       hint="is a camera plugged in? `ls /dev/video*` lists them")
    if spec.startswith(CSI_PREFIX):
        return _open_csi(spec, settings)
    if spec.startswith(STREAM_SCHEMES):
        return _opened(cv2.VideoCapture(spec, cv2.CAP_FFMPEG), spec, live=True, realtime=True,
                       hint="check the address and that the stream is running")
    path = Path(spec).expanduser()
    if path.is_dir():
        return ImageFolderSource(path, settings.image_seconds, settings.image_frame_rate,
                                 realtime)
    if path.is_file():
        return _opened(cv2.VideoCapture(str(path)), str(path), live=False, realtime=realtime,
                       hint="not a video OpenCV can read")
    raise SourceError(
        f"{spec}: no such file or folder, and not a camera (0, 1...), csi://N or rtsp:// address"
    )


def _opened(capture, description: str, live: bool, realtime: bool, hint: str) -> FrameSource:
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"{description}: cannot open ({hint})")
    return VideoCaptureSource(capture, description, live=live, realtime=realtime)


def _open_csi(spec: str, settings: CameraSettings) -> FrameSource:
    sensor = spec[len(CSI_PREFIX):] or "0"
    if not sensor.isdigit():
        raise SourceError(f"{spec}: the CSI camera is csi://N, N the sensor id (csi://0)")
    pipeline = csi_pipeline(int(sensor), settings)
    if cv2_has_gstreamer():
        import cv2

        capture = cv2.VideoCapture(f"{pipeline} ! appsink drop=true max-buffers=1 sync=false",
                                   cv2.CAP_GSTREAMER)
        return _opened(capture, spec, live=True, realtime=True,
                       hint="is nvargus-daemon running? `sudo systemctl restart nvargus-daemon`")
    if shutil.which("gst-launch-1.0") is None:
        raise SourceError(
            f"{spec}: this OpenCV has no GStreamer and gst-launch-1.0 is not installed "
            "(sudo apt-get install gstreamer1.0-tools; JetPack ships nvarguscamerasrc)"
        )
    return GStreamerProcessSource(gst_launch_command(pipeline), settings.csi_output_width,
                                  settings.csi_output_height, spec)


# --- the background reader ---------------------------------------------------------------


class ReaderState(enum.Enum):
    """What the screen shows about the camera."""

    STARTING = "starting"
    OK = "ok"
    LOST = "camera lost"
    FINISHED = "finished"

    def __str__(self) -> str:
        return self.value


def reconnect_delay(attempt: int, first: float, maximum: float) -> float:
    """Seconds to wait before reconnection attempt `attempt` (0, 1, 2...): doubling from
    `first` up to `maximum`, so an unplugged camera costs a try every few seconds, not a busy
    loop, and a glitch is repaired at once."""
    return min(maximum, first * 2.0 ** min(attempt, 30))


class LatestFrameReader:
    """Reads a frame source on a background thread; see the module's docstring.

    `next_frame` hands each frame out once (to the recogniser); `latest` is the newest frame
    whether handed out or not (for the screen). Use it as a context manager, or `start` and
    `close` it.
    """

    def __init__(self, open_source: Callable[[], FrameSource], reconnect: bool,
                 first_delay: float = 0.5, max_delay: float = 10.0):
        """`open_source` is called on the reader's thread, again after each loss when
        `reconnect`; without `reconnect` the reader is finished at the source's end."""
        self._open_source = open_source
        self._reconnect = reconnect
        self._first_delay = first_delay
        self._max_delay = max_delay
        self._condition = threading.Condition()
        self._stop = threading.Event()
        self._pending: Deque[Frame] = collections.deque()
        self._latest: Optional[Frame] = None
        self._state = ReaderState.STARTING
        self._next_index = 0
        self._thread = threading.Thread(target=self._run, name="frame-reader", daemon=True)
        #: Why the source could not be opened, or why it was last lost.
        self.error: Optional[str] = None
        #: Frames replaced by a newer one before anybody took them (live and realtime sources).
        self.dropped = 0
        self._every_frame = False
        #: Set by `wake`, cleared by the next `next_frame`.
        self._woken = False

    @property
    def state(self) -> ReaderState:
        return self._state

    @property
    def every_frame(self) -> bool:
        """True while the source is a recording played as fast as possible: every frame is
        handed out, in order, and nobody waits in front of the camera. Known once the state
        left `ReaderState.STARTING` (`wait_started`)."""
        return self._every_frame

    def wait_started(self, timeout: float) -> None:
        """Wait up to `timeout` seconds for the state to leave `ReaderState.STARTING`."""
        with self._condition:
            self._condition.wait_for(lambda: self._state is not ReaderState.STARTING, timeout)

    @property
    def latest(self) -> Optional[Frame]:
        return self._latest

    def start(self) -> "LatestFrameReader":
        self._thread.start()
        return self

    def next_frame(self, timeout: Optional[float] = None,
                   not_before: Optional[float] = None) -> Optional[Frame]:
        """The newest frame not handed out yet, waiting up to `timeout` seconds (None: as long
        as it takes). None on timeout, once the source is finished and drained, and when
        `wake` was called since the last call (a frame handed out ends a wake too: the caller
        is going round its loop anyway).

        With `not_before` (a frame time), frames older than it are dropped unseen (and never
        converted): a caller with nothing to do before that time does not wake for every
        frame. A finished source's last frames are handed out whatever their time."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._condition:
            while True:
                if not_before is not None and self._state is not ReaderState.FINISHED:
                    self._drop_older(not_before)
                if self._pending:
                    break
                if self._woken:
                    self._woken = False
                    return None
                if self._state is ReaderState.FINISHED or self._stop.is_set():
                    return None
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None
                self._condition.wait(remaining)
            frame = self._pending.popleft()
            self._woken = False
            self._condition.notify_all()
            return frame

    def _drop_older(self, t: float) -> None:
        """Drop the pending frames older than `t` (the condition held)."""
        dropped = 0
        while self._pending and self._pending[0].t < t:
            self._pending.popleft()
            dropped += 1
        if dropped:
            self.dropped += dropped
            self._condition.notify_all()  # a reader waiting for room may go on

    def wake(self) -> None:
        """End the wait of `next_frame` now, or the next call's if none waits: the caller has
        other work ready (any thread may call it)."""
        with self._condition:
            self._woken = True
            self._condition.notify_all()

    def close(self) -> None:
        """Stop reading and release the source (waits a few seconds for a blocked read)."""
        self._stop.set()
        with self._condition:
            self._condition.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
            if self._thread.is_alive():
                log.warning("the frame reader is still blocked in a read; leaving it behind")

    def __enter__(self) -> "LatestFrameReader":
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            try:
                source = self._open_source()
            except Exception as error:  # SourceError, cv2.error, OSError: all mean "no camera"
                if not self._reconnect:
                    self._finish(str(error))
                    return
                self._lose(f"{error}")
            else:
                delivered = self._pump(source)
                source.close()
                if not self._reconnect:
                    self._finish(None)
                    return
                if delivered:
                    attempt = 0
                if not self._stop.is_set():
                    self._lose(f"{source.description}: no more frames")
            if self._stop.wait(reconnect_delay(attempt, self._first_delay, self._max_delay)):
                break
            attempt += 1
        self._finish(None)

    def _pump(self, source: FrameSource) -> bool:
        """Hand out the source's frames until it ends or the reader stops; True if any."""
        every_frame = not source.realtime
        self._every_frame = every_frame and not source.live
        delivered = False
        while not self._stop.is_set():
            try:
                frame = source.read()
            except Exception as error:  # a broken device must not kill the reader
                log.warning("%s: read failed (%s)", source.description, error)
                frame = None
            if frame is None:
                return delivered
            if self._reconnect:
                frame = frame.numbered(self._next_index)
                self._next_index += 1
            with self._condition:
                while (every_frame and len(self._pending) >= READ_AHEAD
                       and not self._stop.is_set()):
                    self._condition.wait()
                if self._pending and not every_frame:
                    self.dropped += len(self._pending)
                    self._pending.clear()
                self._pending.append(frame)
                self._latest = frame
                if self._state is not ReaderState.OK:
                    if self._state is ReaderState.LOST:
                        log.info("%s: camera back", source.description)
                    self._state = ReaderState.OK
                self._condition.notify_all()
            delivered = True
        return delivered

    def _lose(self, reason: str) -> None:
        if self._state is not ReaderState.LOST:
            log.warning("camera lost: %s; reconnecting", reason)
        with self._condition:
            self._state = ReaderState.LOST
            self.error = reason
            self._condition.notify_all()

    def _finish(self, error: Optional[str]) -> None:
        with self._condition:
            if error is not None:
                self.error = error
            self._state = ReaderState.FINISHED
            self._condition.notify_all()


def open_reader(spec: str, realtime: bool = False,
                settings: Optional[CameraSettings] = None) -> LatestFrameReader:
    """A (not yet started) reader of `spec`. Files and folders are opened now, so a wrong path
    raises `SourceError` at once; cameras and streams are opened on the reader's thread and
    retried while absent, the screen showing "camera lost"."""
    settings = settings or CameraSettings()
    if is_live(spec):
        return LatestFrameReader(lambda: open_source(spec, realtime, settings), reconnect=True,
                                 first_delay=settings.reconnect_first_delay,
                                 max_delay=settings.reconnect_max_delay)
    source = open_source(spec, realtime, settings)
    return LatestFrameReader(lambda: source, reconnect=False)
