"""The robot's status file: what ``greeter run`` publishes and the console shows.

The robot replaces the file atomically every few seconds (`write_status`); readers
(`read_status`) never see half of it. It lives beside the store (`status_path`), so the
console, which shares the robot's store, finds it without a setting of its own, and no port
is opened between them. Format, version 1, UTF-8 JSON::

    {
      "format": "greeter-status",
      "version": 1,
      "written": "2026-06-01T09:30:05+00:00",
      "pid": 1234,
      "fps": 24.8,
      "detection_rate": 9.7,
      "cpu_percent": 23.5,
      "memory_level": "normal",
      "camera": "ok",
      "greeted": [{"time": "2026-06-01T09:29:58+00:00", "person": "alex-m",
                   "name": "Alex Müller"}]
    }

``fps`` counts frames drawn per second, ``detection_rate`` detections (scans of a frame or of
regions of it) per second, ``cpu_percent`` the robot's CPU time over the same span in percent of
one core (absent from files written before it existed), ``memory_level`` is the throttle's level
(normal, pressure, critical), ``camera`` is ``ok``, ``reopening`` or ``lost``,
``store_problem`` what is wrong with the store now (unreadable, or its server unreachable while
the robot greets from its snapshot; absent when all is well), and ``greeted``
holds the last greetings of *enrolled* people, newest first: nothing about strangers ever goes
into this file. The file holds names, so it is private (``0600``) like the store.

``greeter run`` writes it every 2 s and once more when it stops (`greeter.live.outputs.StatusFile`);
a status file that cannot be written is logged once and the robot keeps greeting.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Callable, List, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from greeter.atomicfile import replace_file
from greeter.errors import GreeterError
from greeter.people.store import StoreBase
from greeter.settings import ServerAddress, Settings

FORMAT = "greeter-status"
VERSION = 1

#: File name of the status file, in the store's folder.
STATUS_FILE_NAME = "robot-status.json"

#: At most this many recent greetings are published.
MAX_GREETED = 20

#: A file older than this means the robot stopped (it writes every few seconds).
STALE_AFTER = timedelta(seconds=15)


class StatusError(GreeterError):
    """The status file exists but cannot be read or understood."""


class RecentGreeting(BaseModel):
    """An enrolled person greeted lately, as the console lists them."""

    model_config = ConfigDict(extra="forbid")

    time: datetime
    person: str
    name: str


class RobotStatus(BaseModel):
    """One snapshot of the running robot."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["greeter-status"] = FORMAT
    version: Literal[1] = VERSION
    written: datetime
    pid: int
    fps: float = Field(ge=0)
    detection_rate: float = Field(ge=0)
    cpu_percent: Optional[float] = Field(None, ge=0)
    memory_level: Literal["normal", "pressure", "critical"]
    camera: Literal["ok", "reopening", "lost"]
    store_problem: Optional[str] = Field(None, max_length=2000)
    greeted: List[RecentGreeting] = Field(default_factory=list, max_length=MAX_GREETED)


@dataclass(frozen=True)
class StatusReading:
    """What a reader knows: the last snapshot (None when the robot never wrote one) and
    whether it is recent enough to say the robot runs."""

    status: Optional[RobotStatus]
    running: bool
    age_seconds: Optional[float]


@dataclass(frozen=True)
class Sample:
    """The robot's counters at one moment: `wall` and `cpu` (process CPU time) in seconds,
    frames drawn and detections run since the start."""

    wall: float
    cpu: float
    frames: int
    detections: int


@dataclass(frozen=True)
class LoopRates:
    """How fast the live loop ran between two `Sample`s."""

    fps: float
    detection_rate: float
    cpu_percent: float


def loop_rates(before: Sample, after: Sample) -> LoopRates:
    """Frames drawn and detections per second, and CPU in percent of one core, between two
    samples (zeros when no time passed)."""
    elapsed = after.wall - before.wall
    if elapsed <= 0:
        return LoopRates(0.0, 0.0, 0.0)
    return LoopRates((after.frames - before.frames) / elapsed,
                 (after.detections - before.detections) / elapsed,
                 100.0 * max(0.0, after.cpu - before.cpu) / elapsed)


def status_path(local_folder: Union[str, Path]) -> Path:
    """Where the robot publishes its status, in its `Settings.local_folder`."""
    return Path(local_folder) / STATUS_FILE_NAME


def write_status(path: Union[str, Path], status: RobotStatus) -> None:
    """Replace the status file with `status`, atomically, readable by its owner alone."""
    content = status.model_dump_json(indent=1, exclude_none=True).encode("utf-8") + b"\n"
    try:
        replace_file(Path(path), content, mode=0o600)
    except OSError as error:
        raise StatusError(f"{path}: cannot be written ({error.strerror})") from None


def read_status(path: Union[str, Path], now: Optional[datetime] = None) -> StatusReading:
    """The robot's last status, and whether it runs (written within `STALE_AFTER`)."""
    path = Path(path)
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return StatusReading(None, False, None)
    except OSError as error:
        raise StatusError(f"{path}: cannot be read ({error.strerror})") from None
    status = parse_status(content, str(path))
    written = status.written if status.written.tzinfo else status.written.replace(
        tzinfo=timezone.utc)
    age = ((now or datetime.now(timezone.utc)) - written).total_seconds()
    return StatusReading(status, age <= STALE_AFTER.total_seconds(), age)


def parse_status(content: Union[bytes, str], source: str) -> RobotStatus:
    """A status as published (the file's bytes, a shared store's row); `StatusError` naming
    `source` when it is not one."""
    try:
        return RobotStatus.model_validate(json.loads(content))
    except (ValueError, ValidationError) as error:
        first = str(error).splitlines()[0]
        raise StatusError(f"{source}: not a greeter status ({first})") from None


def published_reading(content: str, age_seconds: float, source: str) -> StatusReading:
    """A status read from a shared store with its age by the server's clock."""
    return StatusReading(parse_status(content, source),
                         age_seconds <= STALE_AFTER.total_seconds(), age_seconds)


@dataclass(frozen=True)
class RobotReading:
    """One robot as the console's Robots page lists it: its name, its last status (None when
    it never published one) and what went wrong reading it."""

    name: str
    reading: Optional[StatusReading]
    problem: str = ""


def robot_readings(settings: Settings, store: Callable[[], StoreBase]) -> List[RobotReading]:
    """Every robot of the settings' store, by name: with a shared store, each robot that
    published its status on the server (`store()` opens it); with a store file, the one robot
    beside it, from its status file."""
    if not isinstance(settings.store, ServerAddress):
        try:
            reading = read_status(status_path(settings.local_folder))
        except StatusError as error:
            return [RobotReading(settings.robot_name, None, str(error))]
        return [RobotReading(settings.robot_name, reading)]
    readings = []
    for name, content, age in store().robot_statuses():
        try:
            readings.append(RobotReading(name, published_reading(content, age, name)))
        except StatusError as error:
            readings.append(RobotReading(name, None, str(error)))
    return readings
