"""The detection stage: HOG scans (whole frames or regions, `greeter.live.scan`) on worker threads.

Threads, not processes: dlib releases the GIL for most of the HOG scan (two threads measured
1.4x one here), and a second process would load dlib and the models again (~100 MB) on a 4 GB
Nano whose memory is the scarce resource. Each thread has a detector of its own.

Results come back in the order the frames were submitted (`ready`), so the tracker sees time
run forwards whatever thread finished first.
"""

import collections
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Deque, List, Optional, Tuple

import cv2
import numpy as np

from greeter.background import yield_to_drawing
from greeter.live.camera import Frame
from greeter.live.scan import Scan
from greeter.recognition.faces import Box, FaceEngine, scale_boxes

#: Two frames are detected at once: one per core of this machine; the Nano's other cores
#: embed, draw and read the camera.
THREADS = 2


@dataclass(frozen=True)
class Detected:
    """The boxes found on `frame` by `scan` (`scan.full`: every face of the frame; regions:
    the faces inside them)."""

    frame: Frame
    scan: Scan
    boxes: List[Box]


def detect_scan(engine: FaceEngine, rgb: np.ndarray, scan: Scan, scale: float,
                upsample: int) -> List[Box]:
    """Faces found by `scan` on `rgb`, in `rgb`'s pixels, on an image resized by `scale`."""
    if scan.full:
        return _detect_scaled(engine, rgb, scale, upsample)
    boxes: List[Box] = []
    for top, right, bottom, left in scan.regions:
        for box in _detect_scaled(engine, rgb[top:bottom, left:right], scale, upsample):
            boxes.append((box[0] + top, box[1] + left, box[2] + top, box[3] + left))
    return boxes


def _detect_scaled(engine: FaceEngine, rgb: np.ndarray, scale: float,
                   upsample: int) -> List[Box]:
    if scale < 1.0:
        small = cv2.resize(rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        return scale_boxes(engine.detect(small, upsample), scale)
    return engine.detect(np.ascontiguousarray(rgb), upsample)


class DetectionStage:
    """Scans submitted frames on `THREADS` threads; `ready` hands back the finished ones."""

    def __init__(self, upsample: int, engine_factory: Callable[[], FaceEngine] = FaceEngine,
                 on_finished: Callable[[], None] = lambda: None):
        """`on_finished` is called (on the detection thread) each time a scan finished."""
        self._upsample = upsample
        self._on_finished = on_finished
        self._engine_factory = engine_factory
        self._engines = threading.local()
        self._pool = ThreadPoolExecutor(THREADS, thread_name_prefix="detect")
        self._in_flight: Deque[Tuple[Frame, Scan, Future]] = collections.deque()
        # Each thread loads its detector now, while the robot starts, rather than on the first
        # frame (0.4 s each on a quiet core here, 1.3 s on a busy one). The barrier makes each
        # thread take one load.
        started = threading.Barrier(THREADS)
        self._loading = [self._pool.submit(self._load, started) for _ in range(THREADS)]

    def wait_ready(self) -> None:
        """Until every thread's detector is loaded."""
        for loading in self._loading:
            loading.result()

    @property
    def busy(self) -> bool:
        """True while every thread has a frame: a new one would only wait."""
        return len(self._in_flight) >= THREADS

    @property
    def pending(self) -> int:
        return len(self._in_flight)

    def submit(self, frame: Frame, scan: Scan, scale: float) -> None:
        future = self._pool.submit(self._detect, frame.rgb, scan, scale)
        future.add_done_callback(lambda _: self._on_finished())
        self._in_flight.append((frame, scan, future))

    def ready(self) -> List[Detected]:
        """The finished detections before the first unfinished one, in submission order."""
        done: List[Detected] = []
        while self._in_flight and self._in_flight[0][2].done():
            done.append(self.oldest())
        return done

    def oldest(self) -> Detected:
        """The oldest detection submitted and not handed back yet, once it is finished."""
        frame, scan, future = self._in_flight.popleft()
        return Detected(frame, scan, future.result())

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _engine(self) -> FaceEngine:
        engine: Optional[FaceEngine] = getattr(self._engines, "engine", None)
        if engine is None:
            engine = self._engines.engine = self._engine_factory()
        return engine

    def _load(self, started: threading.Barrier) -> None:
        started.wait()
        yield_to_drawing()
        self._engine().detect(np.zeros((80, 80, 3), np.uint8))

    def _detect(self, rgb: np.ndarray, scan: Scan, scale: float) -> List[Box]:
        return detect_scan(self._engine(), rgb, scan, scale, self._upsample)
