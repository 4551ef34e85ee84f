"""The identity stage: embedding and matching the faces of unsettled tracks on a thread of its
own, so the screen keeps its frame rate while a guest is recognised (two ResNet passes per
face, the mirror average: ~40 ms here, hundreds of ms on the Nano's CPU).

The loop `submit`s the tracks `Tracker.needing_embedding` names, with the frame their boxes
were found on; `ready` hands back each finished job's votes, which the loop casts with
`Tracker.vote` (a vote for a track that ended or settled meanwhile is ignored there). One job
at a time (no new job until the last one's votes were taken): the worker never falls behind,
and a late vote never doubles an early one.

dlib holds the GIL for a whole ResNet pass (~27 ms here; the drawing thread measured stalled
for 55-70 ms per face when both passes ran in one call). So when the loop draws in real time,
a job runs one pass at a time and starts each right after a frame was drawn (the loop's
`between_passes`): the pass fits between two frames instead of delaying one.
"""

from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np

from greeter.background import yield_to_drawing
from greeter.camera import Frame
from greeter.faces import CHIP_SIZE, Box, FaceEngine
from greeter.recognition import Recogniser
from greeter.tracking import Vote


@dataclass(frozen=True)
class Votes:
    """What one job found: for each track id, the vote of its face on `frame`."""

    frame: Frame
    by_track: List[Tuple[int, Vote]]


class IdentityStage:
    def __init__(self, engine: FaceEngine) -> None:
        """`engine` is the recognisers' engine: this stage's thread is its only user. Its
        models load now, while the robot starts, not when the first guest waits (0.6 s on a
        busy core here)."""
        self._worker = ThreadPoolExecutor(1, thread_name_prefix="identity")
        self._job: Optional[Tuple[Frame, List[int], Future]] = None
        self._loading = self._worker.submit(self._load, engine)

    @staticmethod
    def _load(engine: FaceEngine) -> None:
        yield_to_drawing()
        engine.faces(np.zeros((CHIP_SIZE, CHIP_SIZE, 3), np.uint8), [(0, CHIP_SIZE, CHIP_SIZE, 0)])

    def wait_ready(self) -> None:
        """Until the models are loaded."""
        self._loading.result()

    @property
    def working(self) -> bool:
        return self._job is not None

    def submit(self, recogniser: Recogniser, frame: Frame,
               tracks: Sequence[Tuple[int, Box]],
               between_passes: Optional[Callable[[], None]] = None) -> bool:
        """Embed and match the faces at these (track id, box) pairs of `frame`, calling
        `between_passes` (on the worker) before each ResNet pass; False (and nothing done)
        while a job is under way."""
        if self._job is not None or not tracks:
            return False
        boxes = [box for _, box in tracks]
        self._job = (frame, [track_id for track_id, _ in tracks],
                     self._worker.submit(recogniser.votes, frame.rgb, boxes, between_passes))
        return True

    def ready(self, wait: bool = False) -> Optional[Votes]:
        """The finished job's votes, None while it runs (with `wait`: once it finished) or
        when there is none."""
        if self._job is None:
            return None
        frame, track_ids, future = self._job
        if not wait and not future.done():
            return None
        self._job = None
        return Votes(frame, list(zip(track_ids, future.result())))

    def close(self) -> None:
        self._worker.shutdown(wait=True)
