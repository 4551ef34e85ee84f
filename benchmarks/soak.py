"""Soak: the memory of `greeter run` over an event day, on an accelerated clock.

The real `Greeter` loop (headless; real detection, tracking, embedding, matching, greeting
and events file) reads a synthetic source whose frames' time runs far faster than the wall
clock: 12 hours of video time by default. Every `--visit-every` seconds somebody walks
through a corridor (real LFW faces composited by ``tests/scenes.py``: an enrolled guest, a
stranger, a guest and a stranger together, the other guest); between visits the empty
corridor is sampled every `--idle-step` seconds. The robot's clocks (tracking, cooldown,
fading, idle screen) run on frame time, so 12 hours of it are 12 hours of tracks, decisions
and greetings.

Printed: the memory of the loop's process and its identity worker (the loop's RSS plus the
worker's private memory, as ``benchmarks/live_clip.py`` counts it) after start-up, at the end
of the warm-up (the first visits: models loaded, caches full), at each quarter of the day and
at the end; the memory blocks Python has allocated at the same points
(`sys.getallocatedblocks`, after a garbage collection: every int, dict and list kept, without
RSS's allocator noise); the greetings; the share of wall time in each memory level. The goal
(no growth beyond noise over 12 hours) is printed beside the figure.

    python benchmarks/soak.py                 # 12 h of event, 10-20 minutes here
    python benchmarks/soak.py --hours 24 --visit-every 60 --idle-step 2
"""

import argparse
import gc
import json
import os
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import numpy as np
import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

#: Frame size of the synthetic camera: small, so a day's frames fit in minutes; the faces
#: (90-100 px) are as large as a guest's within ~1.5 m of the JetBot's camera.
SIZE = (320, 240)
VISIT_FPS = 10.0
#: Visits before the starting figure is taken: every clip once, so that everything that
#: is loaded or cached on first use is.
WARM_UP_VISITS = 4
#: RSS growth over the day that counts as noise (allocator, page cache of the models).
NOISE_MB = 5.0
CHECKPOINTS = (0.125, 0.25, 0.5, 0.75)


def build_visits(lfw: Path) -> Tuple[List, List[np.ndarray], List[List[np.ndarray]]]:
    """The cast (two people to enrol), the empty corridor, and four visits' frames."""
    from scenes import Scene, Walker, make_background, pick_people, pick_strangers, render_frames

    cast = pick_people(lfw, 2, seed=3)
    strangers = pick_strangers(lfw, 2, seed=3, avoid=cast)
    width, height = SIZE
    across = ((-50, 115), (width + 50, 120))
    scenes = [
        Scene(duration=3.0, fps=VISIT_FPS, size=SIZE, seed=1, walkers=[
            Walker(cast[0].walk_photo, cast[0].person, 0.0, 3.0, *across, face_px=100)]),
        Scene(duration=3.0, fps=VISIT_FPS, size=SIZE, seed=2, walkers=[
            Walker(strangers[0], None, 0.0, 3.0, across[1], across[0], face_px=95)]),
        Scene(duration=3.0, fps=VISIT_FPS, size=SIZE, seed=3, walkers=[
            Walker(cast[1].walk_photo, cast[1].person, 0.0, 3.0, (75, 110), (90, 115),
                   face_px=90),
            Walker(strangers[1], None, 0.2, 3.0, (245, 120), (230, 115), face_px=90)]),
        Scene(duration=3.0, fps=VISIT_FPS, size=SIZE, seed=4, walkers=[
            Walker(cast[1].walk_photo, cast[1].person, 0.0, 3.0, across[1], across[0],
                   face_px=100)]),
    ]
    empty = make_background(SIZE, "corridor", seed=0)
    return cast, empty, [render_frames(scene) for scene in scenes]


class Day:
    """Frame times of the day: visits every `visit_every` seconds, the empty corridor every
    `idle_step` seconds in between. `mark(t)` is told each frame's time (checkpoints)."""

    def __init__(self, hours: float, visit_every: float, idle_step: float):
        self.seconds = hours * 3600.0
        self.visit_every = visit_every
        self.idle_step = idle_step

    def frames(self, visits: List[List[np.ndarray]],
               empty: np.ndarray) -> Iterator[Tuple[float, np.ndarray]]:
        visit = 0
        while visit * self.visit_every < self.seconds:
            start = visit * self.visit_every
            clip = visits[visit % len(visits)]
            for index, rgb in enumerate(clip):
                yield start + index / VISIT_FPS, rgb
            t = start + len(clip) / VISIT_FPS + self.idle_step
            while t < min(start + self.visit_every, self.seconds):
                yield t, empty
                t += self.idle_step
            visit += 1


class Probe:
    """Memory (loop and worker) and Python objects at the day's checkpoints, and memory levels
    over wall time."""

    def __init__(self, day: Day):
        self.day = day
        self.process = psutil.Process()
        self.points: List[Tuple[str, float, int]] = []
        self._pending = [("warm-up done", WARM_UP_VISITS * day.visit_every)] + [
            (f"{share:.1%} of the day", share * day.seconds) for share in CHECKPOINTS]
        self.levels: Counter = Counter()
        self._stop = threading.Event()

    def record(self, label: str) -> None:
        gc.collect()
        workers = sum(child.memory_full_info().uss
                      for child in self.process.children(recursive=True))
        self.points.append((label, (self.process.memory_info().rss + workers) / 2**20,
                            sys.getallocatedblocks()))
        print(f"{time.strftime('%H:%M:%S')} {label}: {self.points[-1][1]:.1f} MB",
              file=sys.stderr, flush=True)

    def frame_time(self, t: float) -> None:
        while self._pending and t >= self._pending[0][1]:
            self.record(self._pending.pop(0)[0])

    def watch_levels(self, greeter) -> threading.Thread:
        def sample():
            while not self._stop.wait(0.5):
                self.levels[greeter.throttle.level.name.lower()] += 1
        thread = threading.Thread(target=sample, daemon=True)
        thread.start()
        return thread

    def stop(self) -> None:
        self._stop.set()


def make_source(day: Day, visits, empty, probe: Probe):
    from greeter.live.camera import Frame, FrameSource

    class DaySource(FrameSource):
        description = "a synthetic event day"

        def __init__(self):
            self._frames = day.frames(visits, empty)
            self._index = 0

        def read(self) -> Optional[Frame]:
            item = next(self._frames, None)
            if item is None:
                # while the robot still runs: its identity worker is counted too
                probe.record("end of the day")
                return None
            t, rgb = item
            probe.frame_time(t)
            frame = Frame(rgb, self._index, t)
            self._index += 1
            return frame

    return DaySource()


def enrol(cast, store: Path) -> None:
    from greeter.people.enrolment import Enroller, jobs_for_person
    from greeter.people.store import Store
    from greeter.settings import Settings

    settings = Settings.load(environ={"GREETER_ENROLMENT__MIN_FACE_SIZE": "40"})
    with Store(store) as opened:
        for person in cast:
            outcomes = Enroller(opened, settings.detection, settings.enrolment).run(
                jobs_for_person(person.person, person.name, [person.enrol_photo]))
            assert [outcome.status for outcome in outcomes] == ["enrolled"], outcomes


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=REPO.parent / "shared/faces/lfw-dev")
    parser.add_argument("--hours", type=float, default=12.0, help="video time to run")
    parser.add_argument("--visit-every", type=float, default=240.0,
                        help="seconds of video time from one visit to the next")
    parser.add_argument("--idle-step", type=float, default=10.0,
                        help="seconds of video time between frames of the empty corridor")
    args = parser.parse_args(argv)
    if not args.lfw.is_dir():
        print(f"lfw-dev not found at {args.lfw}", file=sys.stderr)
        return 2
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    from greeter.live.camera import LatestFrameReader
    from greeter.live.robot import RECENT_GREETINGS, Greeter, RunOptions
    from greeter.settings import Settings

    cast, empty, visits = build_visits(args.lfw)
    day = Day(args.hours, args.visit_every, args.idle_step)
    probe = Probe(day)
    with tempfile.TemporaryDirectory() as folder:
        store = Path(folder) / "greeter.sqlite3"
        enrol(cast, store)
        settings = Settings.load(environ={}, store=store,
                                 greetings=REPO / "config/greetings.json")
        source = make_source(day, visits, empty, probe)
        greeter = Greeter(settings, RunOptions(headless=True, window=(800, 480),
                                               events_out=Path(folder) / "events.jsonl"),
                          reader=LatestFrameReader(lambda: source, reconnect=False))
        probe.record("start-up")
        probe.watch_levels(greeter)
        started = time.monotonic()
        summary = greeter.run()
        probe.stop()
        wall = time.monotonic() - started

    print(f"{args.hours:g} h of event in {wall / 60:.1f} min of wall time: {summary.frames} "
          f"frames, {summary.detections} detections, {summary.embeddings} embeddings, "
          f"{summary.greeted} greetings ({sum(g.person is not None for g in summary.greetings)}"
          f" by name among the last {len(summary.greetings)})")
    print(f"\n{'':22} {'own MB':>8} {'Python blocks':>14}")
    for label, rss, blocks in probe.points:
        print(f"{label:22} {rss:8.1f} {blocks:14d}")
    start = next(point for point in probe.points if point[0] == "warm-up done")
    quarter = next(point for point in probe.points if point[0] == "25.0% of the day")
    end = probe.points[-1]
    growth, block_growth = end[1] - start[1], end[2] - start[2]
    late_growth = end[1] - quarter[1]
    total = sum(probe.levels.values()) or 1
    shares = {level: probe.levels[level] / total for level in ("normal", "pressure", "critical")}
    print("\nmemory level, share of wall time: " + ", ".join(
        f"{level} {share:.0%}" for level, share in shares.items()))
    print(f"growth from warm-up to the end: {growth:+.1f} MB, {block_growth:+d} Python "
          f"blocks (the newest {RECENT_GREETINGS} greetings are kept: "
          f"{min(summary.greeted, RECENT_GREETINGS)} now); over the last three quarters: "
          f"{late_growth:+.1f} MB   (goal: no growth beyond noise, <= {NOISE_MB:g} MB, "
          "over 12 h)")
    print(json.dumps({"hours": args.hours, "frames": summary.frames,
                      "greetings": summary.greeted, "wall_minutes": round(wall / 60, 1),
                      "rss_mb": {label: round(rss, 1) for label, rss, _ in probe.points},
                      "rss_growth_mb": round(growth, 1), "block_growth": block_growth,
                      "rss_growth_last_three_quarters_mb": round(late_growth, 1),
                      "levels": {level: round(share, 3) for level, share in shares.items()}}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
