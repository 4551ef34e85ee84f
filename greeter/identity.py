"""The identity stage: the faces of unsettled tracks are aligned and embedded in a worker
process of their own, so the screen keeps its frame rate while a guest is recognised; the
votes are matched in the loop's process when the job is taken (under a millisecond for 1,000
people).

A process, not a thread: dlib holds Python's global lock for a whole landmark and ResNet
call. Measured here on one core (`taskset -c 0`, the Nano stand-in): with embedding on a
thread, a pass stalled the drawing thread for up to 90 ms (p99 of the time between two drawn
frames while a face was embedded, even with each pass started right after a frame was
drawn); in a process, the operating system shares the core by priority and the worker runs
niced (`greeter.background.NICENESS`), so drawing goes first. The worker
(`greeter.embedding_worker`) costs its own Python and dlib models (~100 MB;
`benchmarks/live_clip.py` counts both processes).

The loop `submit`s the tracks `Tracker.needing_embedding` names, with the frame their boxes
were found on; `ready` hands back each finished job's votes, which the loop casts with
`Tracker.vote` (a vote for a track that ended or settled meanwhile is ignored there). One job
at a time (no new job until the last one's votes were taken): the worker never falls behind,
and a late vote never doubles an early one. A worker that dies (killed, out of memory) costs
its job only: the next job starts a new one.
"""

import logging
import multiprocessing
import os
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

from greeter import embedding_worker
from greeter.camera import Frame
from greeter.faces import Box
from greeter.recognition import Recogniser
from greeter.tracking import Vote

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Votes:
    """What one job found: for each track id, the vote of its face on `frame`."""

    frame: Frame
    by_track: List[Tuple[int, Vote]]


class IdentityStage:
    def __init__(self) -> None:
        self._worker = self._new_worker()
        self._job: Optional[Tuple[Frame, List[int], Recogniser, Future]] = None
        self._starting = self._worker.submit(embedding_worker.started)

    @staticmethod
    def _new_worker() -> ProcessPoolExecutor:
        # spawn, not fork: the loop runs threads (reader, detection) that fork would copy.
        return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=embedding_worker.start, initargs=(os.getpid(),))

    def wait_ready(self) -> None:
        """Until the worker has loaded the models."""
        try:
            self._starting.result()
        except BrokenExecutor:
            self._restart()

    @property
    def working(self) -> bool:
        return self._job is not None

    def submit(self, recogniser: Recogniser, frame: Frame,
               tracks: Sequence[Tuple[int, Box]]) -> bool:
        """Embed the faces at these (track id, box) pairs of `frame` and match them with
        `recogniser`; False (and nothing done) while a job is under way."""
        if self._job is not None or not tracks:
            return False
        boxes = [box for _, box in tracks]
        try:
            future = self._worker.submit(embedding_worker.embed, frame.rgb, boxes)
        except BrokenExecutor:
            self._restart()
            future = self._worker.submit(embedding_worker.embed, frame.rgb, boxes)
        self._job = (frame, [track_id for track_id, _ in tracks], recogniser, future)
        return True

    def ready(self, wait: bool = False) -> Optional[Votes]:
        """The finished job's votes, None while it runs (with `wait`: once it finished), when
        there is none, or when the worker died doing it."""
        if self._job is None:
            return None
        frame, track_ids, recogniser, future = self._job
        if not wait and not future.done():
            return None
        self._job = None
        try:
            faces = future.result()
        except BrokenExecutor:
            self._restart()
            return None
        return Votes(frame, list(zip(track_ids, recogniser.votes(faces))))

    def _restart(self) -> None:
        log.warning("the identity worker died (killed or out of memory?): a new one takes the "
                    "next faces")
        self._worker.shutdown(wait=False)
        self._worker = self._new_worker()

    def close(self) -> None:
        self._worker.shutdown(wait=True)
