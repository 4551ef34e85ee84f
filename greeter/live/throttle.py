"""Memory-aware throttling: detect less when memory runs short, pause recognition when it is
nearly gone, and come back once it recovers.

A Jetson Nano shares its 4 GB between the CPU, the GPU, the desktop and us; when it runs out
the kernel's OOM killer ends the biggest process, which is the greeter. So memory is read at
most once a second and the greeter moves between three levels:

* **normal** - detection as configured (`normal_detect_every_seconds`, `normal_scale`);
* **pressure** - detection on fewer frames and on smaller images (`pressure_*`);
* **critical** - recognition paused; the screen and the camera keep running.

`next_level` is the pure decision. A level gets worse as soon as the available fraction falls
below its threshold, and better only once the fraction is `hysteresis` above the threshold,
so memory hovering at a threshold does not switch levels every second.

Readings come from jetson-stats' `jtop` on a Jetson (the numbers the operator sees in `jtop`)
and from psutil elsewhere; `open_memory_reader` picks one.
"""

import enum
import logging
import time
from dataclasses import dataclass
from typing import Callable, Optional

import psutil

from greeter.settings import ThrottleSettings

log = logging.getLogger(__name__)


class Level(enum.IntEnum):
    """Memory levels, from best to worst (comparable: ``Level.CRITICAL > Level.NORMAL``)."""

    NORMAL = 0
    PRESSURE = 1
    CRITICAL = 2

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True)
class MemoryReading:
    """Bytes of RAM available to new allocations without swapping, and in total."""

    available: int
    total: int

    @property
    def available_fraction(self) -> float:
        return self.available / self.total if self.total > 0 else 0.0

    def __str__(self) -> str:
        return (f"{self.available / 2**20:.0f} MiB of {self.total / 2**20:.0f} MiB available "
                f"({self.available_fraction:.0%})")


@dataclass(frozen=True)
class DetectionPlan:
    """What a level means for the recogniser: whether to recognise at all, at most once per
    `every_seconds` of frame time, on frames resized by `scale` before detection."""

    recognise: bool
    every_seconds: float
    scale: float


def _level_below(fraction: float, critical: float, pressure: float) -> Level:
    if fraction < critical:
        return Level.CRITICAL
    if fraction < pressure:
        return Level.PRESSURE
    return Level.NORMAL


def next_level(current: Level, available_fraction: float, settings: ThrottleSettings) -> Level:
    """The level after a reading: worse at once, better only past the hysteresis margin."""
    entered = _level_below(available_fraction, settings.critical_below, settings.pressure_below)
    if entered > current:
        return entered
    with_margin = _level_below(available_fraction, settings.critical_below + settings.hysteresis,
                               settings.pressure_below + settings.hysteresis)
    return min(current, with_margin)


def detection_plan(level: Level, settings: ThrottleSettings) -> DetectionPlan:
    """What the detector does at `level`."""
    if level is Level.CRITICAL:
        return DetectionPlan(recognise=False, every_seconds=settings.pressure_detect_every_seconds,
                             scale=settings.pressure_scale)
    if level is Level.PRESSURE:
        return DetectionPlan(True, settings.pressure_detect_every_seconds, settings.pressure_scale)
    return DetectionPlan(True, settings.normal_detect_every_seconds, settings.normal_scale)


class MemoryReader:
    """Reads the system's memory; `close` releases what the reader holds."""

    name = "psutil"

    def read(self) -> MemoryReading:
        memory = psutil.virtual_memory()
        return MemoryReading(available=int(memory.available), total=int(memory.total))

    def close(self) -> None:
        """Nothing to release: psutil reads /proc/meminfo on each call."""


class JtopMemoryReader(MemoryReader):
    """Memory as jetson-stats reports it, from its ``jtop.service`` through the `jtop` client.

    ``jetson.memory["RAM"]`` holds ``tot`` and ``used`` in kB, ``used`` without buffers and
    cache, so ``tot - used`` is what can still be allocated (the GPU's share of the unified
    memory is inside ``used``). If the service goes away while we run, the reader logs it once
    and goes on with psutil instead of stopping the robot.
    """

    name = "jtop"

    def __init__(self) -> None:
        from jtop import jtop

        self._jetson = jtop(interval=1.0)
        self._jetson.start()
        self._failed = False

    def read(self) -> MemoryReading:
        if not self._failed:
            try:
                # ok(spin=True) does not wait; it raises what the client thread ran into.
                if self._jetson.ok(spin=True):
                    ram = self._jetson.memory["RAM"]
                    total = int(ram["tot"]) * 1024
                    return MemoryReading(available=total - int(ram["used"]) * 1024, total=total)
                raise ConnectionError("the jtop client stopped")
            except Exception as error:  # any failure of an optional monitor: fall back
                log.warning("jtop stopped answering (%s); reading memory with psutil", error)
                self._failed = True
                self.close()
        return super().read()

    def close(self) -> None:
        try:
            self._jetson.close()
        except Exception as error:  # closing a broken client must not hide the real problem
            log.debug("closing jtop: %s", error)


def open_memory_reader() -> MemoryReader:
    """jtop when jetson-stats is installed and its service answers (a Jetson), else psutil."""
    try:
        return JtopMemoryReader()
    except ImportError:
        return MemoryReader()
    except Exception as error:  # jtop.JtopException and OS errors: service down, no access
        log.warning("jetson-stats is installed but jtop is unavailable (%s); using psutil",
                    error)
        return MemoryReader()


class Throttle:
    """The current level, updated from a memory reading at most every
    `read_interval_seconds`; level changes are logged with the reading that caused them."""

    def __init__(self, settings: ThrottleSettings, reader: MemoryReader,
                 clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.reader = reader
        self.clock = clock
        self.level = Level.NORMAL
        self.reading: Optional[MemoryReading] = None
        self._read_at: Optional[float] = None

    @property
    def plan(self) -> DetectionPlan:
        return detection_plan(self.level, self.settings)

    def update(self) -> Level:
        """Read memory if the last reading is old enough, and return the (new) level."""
        now = self.clock()
        if self._read_at is not None and now - self._read_at < self.settings.read_interval_seconds:
            return self.level
        self._read_at = now
        self.reading = self.reader.read()
        level = next_level(self.level, self.reading.available_fraction, self.settings)
        if level != self.level:
            log.log(logging.WARNING if level > self.level else logging.INFO,
                    "memory level %s -> %s: %s%s", self.level, level, self.reading,
                    "; recognition paused" if level is Level.CRITICAL else "")
            self.level = level
        return self.level
