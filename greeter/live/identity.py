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
(`greeter.live.embedding_worker`) costs its own Python and dlib models: ~82 MB resident, 58 MB of
it its own (the rest are library pages the loop maps too; `benchmarks/live_clip.py` counts
both processes). Giving it a higher priority than the detection threads did not bring
greetings sooner on the stand-in (the core is then busy with drawing and decoding anyway).

The loop `submit`s the tracks `Tracker.needing_embedding` names, with the frame their boxes
were found on; `ready` hands back each finished job's votes, which the loop casts with
`Tracker.vote` (a vote for a track that ended or settled meanwhile is ignored there). One job
at a time (no new job until the last one's votes were taken): the worker never falls behind,
and a late vote never doubles an early one. The loop starts the next job as soon as it took
the votes, on the newest detection (`on_finished` wakes it): on the one-core Nano stand-in
that brought Lin-Manuel's greeting from 0.37 s to 0.25 s (medians of 8 runs), since a name
needs two votes. A worker that dies (killed, out of memory) costs its job only: the next job
starts a new one.
"""

import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Deque, List, Optional, Sequence, Tuple

import numpy as np

import greeter
from greeter.live.camera import Frame
from greeter.live.embedding_worker import read_message, write_message
from greeter.recognition.faces import Box
from greeter.recognition.recogniser import Recogniser
from greeter.recognition.votes import Vote

log = logging.getLogger(__name__)

#: How long `close` lets the worker finish its job before killing it.
CLOSE_SECONDS = 5.0


class WorkerDied(Exception):
    """The worker process ended (killed, out of memory) before it answered."""


class EmbeddingProcess:
    """`greeter.live.embedding_worker` in a process of its own, and the two pipes to it. Jobs are
    written and answers read by threads of their own, so the loop never waits on a pipe (a
    640x480 frame is ten times a pipe's buffer); answers come in the order of the jobs."""

    def __init__(self, model: str = "dlib") -> None:
        """`model`: the face model that embeds (`RecognitionSettings.model`)."""
        jobs_read, jobs_write = os.pipe()
        results_read, results_write = os.pipe()
        # The worker imports this very package, wherever it was imported from here.
        package_root = str(Path(greeter.__file__).resolve().parent.parent)
        path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
        try:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "greeter.live.embedding_worker", str(os.getpid()),
                 str(jobs_read), str(results_write), model],
                pass_fds=(jobs_read, results_write), stdin=subprocess.DEVNULL,
                env=dict(os.environ, PYTHONPATH=path))
        except BaseException:
            for fd in (jobs_write, results_read):
                os.close(fd)
            raise
        finally:
            os.close(jobs_read)
            os.close(results_write)
        self._lock = threading.Lock()
        self._dead = False
        #: Answers not yet read, oldest first; the first is the worker's "models loaded".
        self.started: Future = Future()
        self._waiting: Deque[Future] = deque([self.started])
        self._outbox: queue.Queue[Optional[tuple]] = queue.Queue()
        self._writer = threading.Thread(target=self._write_jobs, args=(jobs_write,),
                                        name="identity-jobs", daemon=True)
        self._reader = threading.Thread(target=self._read_answers,
                                        args=(results_read,),
                                        name="identity-answers", daemon=True)
        self._writer.start()
        self._reader.start()

    @property
    def pid(self) -> int:
        return self._process.pid

    def submit(self, rgb: np.ndarray, boxes: Sequence[Box]) -> Future:
        """The worker's answer to one job: ``("faces", faces)`` or ``("error", text)``;
        `WorkerDied` if it ended first."""
        future: Future = Future()
        with self._lock:
            if self._dead:
                future.set_exception(WorkerDied())
                return future
            self._waiting.append(future)
        self._outbox.put((rgb, list(boxes)))
        return future

    def close(self, wait: bool = True) -> None:
        """End the worker: with `wait`, once it answered what it was given (killed after
        `CLOSE_SECONDS`); otherwise at once."""
        self._outbox.put(None)
        if not wait:
            self._process.kill()
        try:
            self._process.wait(CLOSE_SECONDS)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._reader.join()

    def _write_jobs(self, fd: int) -> None:
        with open(fd, "wb") as pipe:
            while True:
                job = self._outbox.get()
                if job is None:
                    return
                try:
                    write_message(pipe, job)
                except OSError:  # the worker is gone: the reader fails what waits
                    return

    def _read_answers(self, fd: int) -> None:
        with open(fd, "rb") as pipe:
            while True:
                try:
                    answer = read_message(pipe)
                except (EOFError, OSError):
                    break
                with self._lock:
                    future = self._waiting.popleft()
                future.set_result(answer)
        with self._lock:
            self._dead = True
            waiting, self._waiting = list(self._waiting), deque()
        for future in waiting:
            future.set_exception(WorkerDied())


@dataclass(frozen=True)
class Votes:
    """What one job found: for each track id, the vote of its face on `frame`."""

    frame: Frame
    by_track: List[Tuple[int, Vote]]


#: A worker that died is replaced at once, but at most once in this many seconds: one that keeps
#: dying (the out-of-memory killer, a broken install) would otherwise be started over and over,
#: each start loading the models (~1 s of CPU here, several on the Nano). Meanwhile no face is
#: embedded: tracks stay unsettled, so nobody is greeted, and nobody by a wrong name.
RESTART_EVERY_SECONDS = 10.0


class IdentityStage:
    def __init__(self, clock: Callable[[], float] = time.monotonic,
                 on_finished: Callable[[], None] = lambda: None, model: str = "dlib") -> None:
        """`on_finished` is called (on another thread) each time a job finished; `model` is
        the face model that embeds."""
        self._clock = clock
        self._on_finished = on_finished
        self._model = model
        self._worker: Optional[EmbeddingProcess] = EmbeddingProcess(model)
        self._restarted_at = float("-inf")
        self._job: Optional[Tuple[Frame, List[int], Recogniser, Future]] = None

    def wait_ready(self) -> None:
        """Until the worker has loaded the models."""
        if self._worker is None:
            return
        try:
            self._worker.started.result()
        except WorkerDied:
            self._worker_died()

    @property
    def worker_pid(self) -> Optional[int]:
        """The worker's process id; None while a dead worker waits to be replaced."""
        return self._worker.pid if self._worker is not None else None

    @property
    def working(self) -> bool:
        return self._job is not None

    def submit(self, recogniser: Recogniser, frame: Frame,
               tracks: Sequence[Tuple[int, Box]]) -> bool:
        """Embed the faces at these (track id, box) pairs of `frame` and match them with
        `recogniser`; False (and nothing done) while a job is under way, or while a dead worker
        waits to be replaced (`RESTART_EVERY_SECONDS`)."""
        if self._job is not None or not tracks:
            return False
        if self._worker is None:
            if not self._may_start_again():
                return False
            self._start_again()
        future = self._worker.submit(frame.rgb, [box for _, box in tracks])
        future.add_done_callback(lambda _: self._on_finished())
        self._job = (frame, [track_id for track_id, _ in tracks], recogniser, future)
        return True

    def ready(self, wait: bool = False) -> Optional[Votes]:
        """The finished job's votes, None while it runs (with `wait`: once it finished), when
        there is none, or when the worker died or failed doing it."""
        if self._job is None:
            return None
        frame, track_ids, recogniser, future = self._job
        if not wait and not future.done():
            return None
        self._job = None
        try:
            kind, found = future.result()
        except WorkerDied:
            self._worker_died()
            return None
        if kind == "error":
            log.warning("the identity worker could not embed a frame's faces: %s", found)
            return None
        # a face the model found nothing in (SFace's YuNet, in its crop) casts no vote
        embedded = [(track_id, face) for track_id, face in zip(track_ids, found)
                    if face is not None]
        return Votes(frame, list(zip([track_id for track_id, _ in embedded],
                                     recogniser.votes([face for _, face in embedded]))))

    def _worker_died(self) -> None:
        self._worker.close(wait=False)
        self._worker = None
        if self._may_start_again():
            self._start_again()
        else:
            log.warning("the identity worker died again within %.0f s of the last start: no face "
                        "is embedded until that much time has passed", RESTART_EVERY_SECONDS)

    def _may_start_again(self) -> bool:
        return self._clock() - self._restarted_at >= RESTART_EVERY_SECONDS

    def _start_again(self) -> None:
        log.warning("the identity worker died (killed or out of memory?): a new one takes the "
                    "next faces")
        self._restarted_at = self._clock()
        self._worker = EmbeddingProcess(self._model)

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close(wait=True)
