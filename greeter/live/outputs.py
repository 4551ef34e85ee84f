"""What a greeting does besides showing on the screen: the events file, screenshots, the voice,
and the status file the console reads (`StatusFile`).

Each output is a small object with one interface (`Output`: `open`, `greeted`, `poll`,
`close`), and `Outputs` runs them so that each may fail alone: an exception (a full disk, a
folder that became unwritable, a ``pygame.error``, a voice program that is missing or fails)
is logged once per kind, counted per output for the status line, and never stops the robot.
A robot at an event's door should go on greeting with its disk full; the operator sees the
count and the one log line, not a dead kiosk.

Outputs that failed are tried again at the next greeting, so a disk that was cleaned up or a
folder that was fixed works again without a restart.

The events file and the screenshots hold names and faces, so they are private like the store:
the events file is ``0600`` and a screenshot folder the robot creates is ``0700`` (whatever
the umask), each screenshot ``0600``. The status file is ``0600`` too, and names only
enrolled people.

**Erasure reaches them too** (`Output.forget`): a person erased from the store
(`greeter.people.erasure`) is dropped from the events file (rewritten atomically without their
lines) and their screenshots are deleted, by the running robot at its next store reload, or at the
next start with that store when the robot was off. A screenshot is therefore about one person:
it shows only the greeting it was taken for and only that person's face unpixelated, and its
file name says whom (``greeting-000123-alex.png``; ``greeting-000124.png`` for a stranger).
"""

import errno
import json
import logging
import os
import re
import stat
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Deque, Dict, Optional, Sequence, Set, Tuple

from greeter.atomicfile import private_folder, replace_file
from greeter.errors import GreeterError
from greeter.live import status
from greeter.live.camera import Frame
from greeter.live.voice import Speaker, VoiceError
from greeter.screen.display import Screen

log = logging.getLogger(__name__)

#: Screenshot paths remembered for the run's summary: the newest ones only, so a day's run
#: keeps its memory flat.
RECENT_SCREENSHOTS = 100
#: A screenshot's file name: the frame's index, then the greeted person's id (none: a stranger).
SCREENSHOT_NAME = re.compile(r"greeting-\d+(?:-(?P<person>[a-z0-9_-]+))?\.png")

#: Tells whether a person id is still enrolled.
Enrolled = Callable[[str], bool]


@dataclass(frozen=True)
class GreetingEvent:
    """One greeting: the words (`message`, in `language`) said to `person` (their display
    `name`; both None for a stranger) at `t` (the frame's time) on frame number `frame`, and
    how far the track's face was from the nearest enrolled person (None when nobody is
    enrolled). The outputs receive it with the frame it was decided on; the events file holds
    one `record` per line."""

    t: float
    frame: int
    person: Optional[str]
    name: Optional[str]
    message: str
    distance: Optional[float]
    language: str

    def record(self) -> Dict[str, Any]:
        """The events file's line: t, frame, person, name, message, distance (rounded)."""
        return {"t": round(self.t, 3), "frame": self.frame, "person": self.person,
                "name": self.name, "message": self.message,
                "distance": None if self.distance is None else round(self.distance, 4)}


class Output:
    """One side effect of greetings. Any method may raise; `Outputs` contains the failure."""

    #: Short name, for the status line ("events 3").
    name = "output"

    @property
    def description(self) -> str:
        """What the output is, for the log ("events file data/events.jsonl")."""
        return self.name

    def open(self) -> None:
        """Get ready (create the file or folder); called once at start."""

    def greeted(self, event: GreetingEvent, frame: Frame) -> None:
        """Do the output's part for one greeting, decided on `frame`."""

    def poll(self) -> None:
        """Raise a failure that happened in the background (called often: keep it cheap)."""

    def forget(self, enrolled: Enrolled) -> int:
        """Erase what the output holds about people no longer `enrolled`; how many greetings'
        records (lines, screenshots) were erased."""
        return 0

    def close(self) -> None:
        """Finish; called once at the end."""


class EventsFile(Output):
    """One JSON line per greeting appended to a file, written whole or not at all.

    Each line is one ``write`` to an ``O_APPEND`` descriptor (no buffer that could hold a
    half-written line after a failure); a line cut short by a full disk is cut off again, so
    the file stays valid JSON Lines.
    """

    name = "events"

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: Optional[int] = None
        self._regular = False

    @property
    def description(self) -> str:
        return f"events file {self.path}"

    def open(self) -> None:
        if self._fd is not None:
            return
        fd = os.open(str(self.path), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._regular = stat.S_ISREG(os.fstat(fd).st_mode)
        if self._regular:  # never chmod a device such as /dev/stdout
            os.fchmod(fd, 0o600)
        self._fd = fd

    def greeted(self, event: GreetingEvent, frame: Frame) -> None:
        self.open()
        line = (json.dumps(event.record(), ensure_ascii=False) + "\n").encode("utf-8")
        end = os.lseek(self._fd, 0, os.SEEK_END) if self._regular else 0
        try:
            done = 0
            while done < len(line):
                written = os.write(self._fd, line[done:])
                if written == 0:
                    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
                done += written
        except OSError:
            if self._regular:
                with suppress(OSError):
                    os.ftruncate(self._fd, end)
            raise

    def forget(self, enrolled: Enrolled) -> int:
        """Rewrite the file without the lines that name somebody no longer enrolled (atomic:
        the old file or the new one, never half); a device such as /dev/stdout is left be."""
        if not self.path.is_file():
            return 0
        kept, dropped = [], 0
        for line in self.path.read_bytes().splitlines(keepends=True):
            if _names_somebody_gone(line, enrolled):
                dropped += 1
            else:
                kept.append(line)
        if dropped:
            self.close()  # the descriptor would go on appending to the replaced file
            replace_file(self.path, b"".join(kept), 0o600)
        return dropped

    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


def _names_somebody_gone(line: bytes, enrolled: Enrolled) -> bool:
    try:
        person = json.loads(line).get("person")
    except (ValueError, AttributeError):
        return False  # not a greeting of ours: left as it is
    return isinstance(person, str) and not enrolled(person)


class Screenshots(Output):
    """The screen saved as a PNG at each greeting, drawn by `draw` (the robot's private scene of
    that greeting: only the greeted person's face unpixelated, only their greeting shown)."""

    name = "screenshots"

    def __init__(self, folder: Path, screen: Screen, draw: Callable[[GreetingEvent, Frame], None]):
        self.folder = Path(folder)
        self._screen = screen
        self._draw = draw
        #: Screenshots this run took and did not erase again.
        self.saved = 0
        #: The newest `RECENT_SCREENSHOTS` paths saved.
        self.recent: Deque[Path] = deque(maxlen=RECENT_SCREENSHOTS)
        #: Screenshots modified since are this run's (whole seconds: some file systems keep
        #: no finer times).
        self._opened_at = float(int(time.time()))

    @property
    def description(self) -> str:
        return f"screenshots in {self.folder}"

    def open(self) -> None:
        """Create the folder ``0700`` when missing (`private_folder`); the screenshots in it
        are ``0600`` anyway."""
        private_folder(self.folder)

    def greeted(self, event: GreetingEvent, frame: Frame) -> None:
        self.open()
        self._draw(event, frame)
        person = f"-{event.person}" if event.person else ""
        path = self.folder / f"greeting-{event.frame:06d}{person}.png"
        self._screen.save_screenshot(path)
        self.saved += 1
        self.recent.append(path)

    def forget(self, enrolled: Enrolled) -> int:
        """Delete the screenshots of greetings of people no longer enrolled; `saved` no longer
        counts those this run took."""
        if not self.folder.is_dir():
            return 0
        gone = []
        for path in self.folder.glob("greeting-*.png"):
            named = SCREENSHOT_NAME.fullmatch(path.name)
            if named and named["person"] and not enrolled(named["person"]):
                taken_now = path.stat().st_mtime >= self._opened_at
                path.unlink()
                gone.append(path)
                self.saved -= taken_now
        self.recent = deque((path for path in self.recent if path not in gone),
                            maxlen=RECENT_SCREENSHOTS)
        return len(gone)


class Voice(Output):
    """Each greeting said aloud in its language; see `greeter.live.voice`."""

    name = "voice"

    def __init__(self, speaker: Speaker):
        self._speaker = speaker

    def open(self) -> None:
        self._speaker.require()

    def greeted(self, event: GreetingEvent, frame: Frame) -> None:
        self._speaker.say(event.message, event.language)

    def poll(self) -> None:
        self._speaker.check()

    def close(self) -> None:
        self._speaker.close()
        self._speaker.check()


@dataclass(frozen=True)
class RobotCounters:
    """What the status file is made from, as the robot counts it: `frames` drawn and
    `detections` run since the start, the throttle's memory level, the camera's state
    (``ok``, ``reopening`` or ``lost``) and the process's CPU time in seconds."""

    frames: int
    detections: int
    memory_level: str
    camera: str
    cpu_seconds: float = 0.0
    #: What is wrong with the store now (unreadable, or its server unreachable), or None.
    store_problem: Optional[str] = None


class StatusFile(Output):
    """The robot's status (`greeter.live.status`), replaced every `every_seconds` and once more at
    the end; rates are measured between two snapshots. Strangers' greetings are never kept.

    The snapshot is taken on the robot's loop (a few counters); the write, with its fsyncs
    (tens of ms on an SD card), runs on a thread of its own, and its failure is raised at the
    next `poll`, where `Outputs` logs and counts it."""

    name = "status"

    def __init__(self, path: Path, counters: Callable[[], RobotCounters],
                 every_seconds: float = 2.0, clock: Callable[[], float] = time.monotonic,
                 enrolled: Callable[[str], bool] = lambda person: True,
                 publish: Optional[Callable[[status.RobotStatus], None]] = None):
        """`enrolled` tells whether a person is still enrolled: somebody erased since their
        greeting leaves the published list at the next write. `publish`, when given, also
        sends each status elsewhere (a shared store's server), after the file and on the same
        thread; its failure is this output's like the file's."""
        self.path = Path(path)
        self._counters = counters
        self._enrolled = enrolled
        self._every = every_seconds
        self._clock = clock
        self._next_at = float("-inf")
        self._last: Optional[status.Sample] = None
        self._greeted: Deque[status.RecentGreeting] = deque(maxlen=status.MAX_GREETED)
        self._publish = publish
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="status")
        self._writing: Optional[Future] = None

    @property
    def description(self) -> str:
        return f"status file {self.path}"

    def greeted(self, event: GreetingEvent, frame: Frame) -> None:
        if event.person is not None:
            self._greeted.appendleft(status.RecentGreeting(
                time=datetime.now(timezone.utc), person=event.person, name=event.name))

    def poll(self) -> None:
        finished = self._writing if self._writing is not None and self._writing.done() \
            else None
        if finished is not None:
            self._writing = None
        now = self._clock()
        if self._writing is None and now >= self._next_at:
            # due again in `every_seconds` even when this write fails: a broken folder costs
            # one attempt every few seconds, not one per frame
            self._next_at = now + self._every
            self._writing = self._writer.submit(self._write, self._snapshot())
        if finished is not None and finished.exception() is not None:
            raise finished.exception()

    def wait(self) -> None:
        """Until the write under way (if any) is done; its failure stays for `poll`."""
        if self._writing is not None:
            wait([self._writing])

    def close(self) -> None:
        self.wait()
        self._writer.shutdown(wait=True)
        self._write(self._snapshot())

    def _write(self, snapshot: status.RobotStatus) -> None:
        status.write_status(self.path, snapshot)
        if self._publish is not None:
            self._publish(snapshot)

    def _snapshot(self) -> status.RobotStatus:
        now, counters = self._clock(), self._counters()
        sample = status.Sample(now, counters.cpu_seconds, counters.frames, counters.detections)
        measured = status.loop_rates(self._last or sample, sample)
        self._last = sample
        self._greeted = deque((greeted for greeted in self._greeted
                               if self._enrolled(greeted.person)), maxlen=status.MAX_GREETED)
        return status.RobotStatus(
            written=datetime.now(timezone.utc), pid=os.getpid(), fps=round(measured.fps, 1),
            detection_rate=round(measured.detection_rate, 1),
            cpu_percent=round(measured.cpu_percent, 1), memory_level=counters.memory_level,
            camera=counters.camera, store_problem=counters.store_problem,
            greeted=list(self._greeted))


class Outputs:
    """Runs every output, each in its own guard; see the module docstring."""

    def __init__(self, outputs: Sequence[Output]):
        self._outputs = list(outputs)
        #: Failures so far, per output name.
        self.failures: Dict[str, int] = {output.name: 0 for output in self._outputs}
        self._logged: Set[Tuple[str, str, Any]] = set()
        for output in self._outputs:
            self._guarded(output, output.open)

    def greeted(self, event: GreetingEvent, frame: Frame) -> None:
        for output in self._outputs:
            self._guarded(output, output.greeted, event, frame)

    def poll(self) -> None:
        for output in self._outputs:
            self._guarded(output, output.poll)

    def forget(self, enrolled: Enrolled) -> Optional[Dict[str, int]]:
        """Every output forgets the people no longer `enrolled` (`Output.forget`): how many
        records each erased, or None if one of them failed (counted and logged like any
        failure; the caller asks again later)."""
        erased: Dict[str, int] = {}
        failed = False
        for output in self._outputs:
            count = self._guarded(output, output.forget, enrolled)
            if count is _FAILED:
                failed = True
            elif count:
                erased[output.description] = count
        return None if failed else erased

    def close(self) -> None:
        for output in self._outputs:
            self._guarded(output, output.close)

    def failing(self) -> str:
        """The outputs that failed and how often, e.g. ``events 3, voice 1``; "" if none."""
        return ", ".join(f"{name} {count}" for name, count in self.failures.items() if count)

    def _guarded(self, output: Output, action: Callable, *args) -> Any:
        """What `action` returned, or `_FAILED`."""
        try:
            return action(*args)
        except Exception as error:  # whatever an output does wrong, the robot goes on
            self.failures[output.name] += 1
            kind = _kind(output, error)
            if kind in self._logged:
                return _FAILED
            self._logged.add(kind)
            expected = isinstance(error, (OSError, GreeterError))
            log.error("%s failed: %s; greeting goes on without it (failures are counted in "
                      "the status line)", output.description, _reason(error),
                      exc_info=None if expected else error)
            return _FAILED


#: What `Outputs._guarded` returns for an action that raised.
_FAILED = object()


def _kind(output: Output, error: Exception) -> Tuple[str, str, Any]:
    """Failures of one kind are logged once: same output, same exception type, and the same
    errno (a full disk) or, for greeter's own errors, the same message."""
    if isinstance(error, OSError):
        detail: Any = error.errno
    elif isinstance(error, VoiceError):
        detail = str(error)
    else:
        detail = None
    return output.name, type(error).__name__, detail


def _reason(error: Exception) -> str:
    if isinstance(error, OSError) and error.strerror:
        return f"{error.strerror}" + (f": {error.filename}" if error.filename else "")
    return str(error) or type(error).__name__
