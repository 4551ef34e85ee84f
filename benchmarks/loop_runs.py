"""Runs the live loop (`greeter.live.robot.Greeter`) of one source tree in a child process and
reports what it did, the same way for this tree and for "today's loop" (a `git worktree` of
main at a fixed commit), so the benchmarks put both side by side from one run.

The child imports greeter from the tree given, plays a source (a video file, or a still
entrance held in memory), and measures from the outside, through interfaces both trees have:

* frames drawn: renders of a new camera frame (`Screen.render` with a new `Scene.camera`),
  with their `time.monotonic`;
* embeddings: the (start, end) of each embedding job (`RunSummary.embedding_spans`; in
  today's loop, of each `Recogniser.identify` call);
* greetings: `Greeter._greet` calls, with the wall time and the frame shown;
* when each frame left the source (`FrameSource.read`, after real-time pacing);
* CPU: the process's CPU time, sampled every 0.5 s; peak memory (max RSS);
* the seconds `Greeter()` took before `run` (greeter loads its models there, today's loop on
  its first frames).

Usage from a benchmark: ``run_loop(tree, spec)`` with a spec dict (see `CHILD`), optionally
pinned to cores with ``cores="0"`` (``taskset -c``).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
from scene_passes import store_for

REPO = Path(__file__).resolve().parent.parent

#: Today's loop, before the pipeline (issue 11): main when the work began.
BASELINE_COMMIT = "a315145"


def baseline_tree() -> Path:
    """A checkout of main at `BASELINE_COMMIT` (a detached `git worktree`, made once)."""
    tree = Path(tempfile.gettempdir()) / f"greeter-baseline-{BASELINE_COMMIT}"
    if not (tree / "greeter" / "app.py").is_file():
        subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(tree),
                        BASELINE_COMMIT], check=True, capture_output=True)
    return tree


def clip_and_baseline(args: argparse.Namespace) -> Tuple[Path, Path]:
    """The Hamilton clip and today's loop's tree, with SDL drawing nowhere; exits when the
    clip is missing."""
    clip = args.samples / "short_hamilton_clip.mp4"
    if not clip.is_file():
        sys.exit(f"clip not found at {clip}")
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    return clip, args.baseline or baseline_tree()


def comparison_arguments(description: str) -> argparse.ArgumentParser:
    """The options of every comparison with today's loop: --samples and --baseline."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--samples", type=Path, default=REPO.parent / "shared/faces/samples")
    parser.add_argument("--baseline", type=Path, default=None,
                        help=f"today's loop: a checkout of main at {BASELINE_COMMIT} (made "
                        "under the system's temporary folder when not given)")
    return parser

CHILD = r'''
import json, os, resource, sys, threading, time
spec = json.loads(sys.argv[1])
os.environ["SDL_VIDEODRIVER"] = "dummy"
import numpy as np
try:
    from greeter.live.camera import Frame, FrameSource, LatestFrameReader, open_source
    from greeter.live.robot import Greeter, RunOptions
    from greeter.recognition.recogniser import Recogniser
except ImportError:  # today's loop: the modules side by side, before the subpackages
    from greeter.app import Greeter, RunOptions
    from greeter.camera import Frame, FrameSource, LatestFrameReader, open_source
    from greeter.recognition import Recogniser
from greeter.settings import Settings

NO_THROTTLE = {"GREETER_THROTTLE__PRESSURE_BELOW": "0.02",
               "GREETER_THROTTLE__CRITICAL_BELOW": "0.01"}

class Entrance(FrameSource):
    """A still scene (cycling through frames that differ only by sensor noise) for
    `still_seconds`, then the frames of somebody walking in; paced like a camera."""
    description = "entrance"
    realtime = True
    def __init__(self, still, walk, fps, still_seconds):
        self.still, self.walk, self.fps = still, walk, fps
        self.still_frames = int(round(still_seconds * fps))
        self.index, self.start = 0, None
    def read(self):
        if self.index >= self.still_frames + len(self.walk):
            return None
        if self.start is None:
            self.start = time.monotonic()
        delay = self.start + self.index / self.fps - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        i = self.index
        rgb = self.still[i % len(self.still)] if i < self.still_frames \
            else self.walk[i - self.still_frames]
        self.index += 1
        return Frame(np.ascontiguousarray(rgb), i, i / self.fps)

settings = Settings.load(environ={**NO_THROTTLE, **spec.get("environ", {})}, store=spec["store"],
                         greetings=spec["greetings"])
if spec["source"] == "entrance":
    source = Entrance(np.load(spec["still"]), np.load(spec["walk"]), spec["fps"],
                      spec["still_seconds"])
else:
    source = open_source(spec["source"], realtime=spec["realtime"])
read_at = {}
read = source.read
def timed_read():
    frame = read()
    if frame is not None:
        read_at[frame.index] = time.monotonic()
    return frame
source.read = timed_read
options = RunOptions(headless=True, window=tuple(spec["window"]), realtime=spec["realtime"],
                     record_face_frames=spec["record_face_frames"])
constructing = time.monotonic()
greeter = Greeter(settings, options,
                  reader=LatestFrameReader(lambda: source, reconnect=False))
drawn, shown = [], [None]
render = greeter.screen.render
def timed_render(scene):
    render(scene)
    if scene.camera is not None and scene.camera is not shown[0]:
        shown[0] = scene.camera
        drawn.append(time.monotonic())
greeter.screen.render = timed_render
embeddings = []
identify = Recogniser.identify
def timed_identify(self, rgb, boxes, *rest):
    started = time.monotonic()
    try:
        return identify(self, rgb, boxes, *rest)
    finally:
        embeddings.append((started, time.monotonic()))
Recogniser.identify = timed_identify
greeted = []
greet = Greeter._greet
def timed_greet(self, greeting, frame):
    greeted.append({"wall": time.monotonic(), "frame": frame.index, "person": greeting.person})
    return greet(self, greeting, frame)
Greeter._greet = timed_greet
cpu, done = [], threading.Event()
def sample():
    while not done.wait(0.5):
        cpu.append((time.monotonic(), time.process_time()))
threading.Thread(target=sample, daemon=True).start()
started, cpu_started = time.monotonic(), time.process_time()
summary = greeter.run()
done.set()
# Since the pipeline, faces are embedded in the identity stage's worker process: the loop
# records each job, from submitting it to casting its votes.
if getattr(summary, "embedding_spans", None) is not None:
    embeddings = summary.embedding_spans
print(json.dumps({
    "frames": summary.frames, "seconds": summary.seconds, "started": started,
    "startup_seconds": started - constructing,
    # The identity worker process ended with the run: its CPU is the children's.
    "cpu_seconds": time.process_time() - cpu_started + sum(
        getattr(resource.getrusage(resource.RUSAGE_CHILDREN), kind)
        for kind in ("ru_utime", "ru_stime")),
    "face_frames": summary.face_frames, "detections": summary.detections,
    "drawn": drawn, "embeddings": embeddings, "greeted": greeted, "cpu": cpu,
    "read_at": read_at, "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
}))
'''


def run_loop(tree: Path, spec: dict, cores: Optional[str] = None) -> dict:
    """Run `CHILD` with greeter imported from `tree`; returns its report."""
    spec = dict(spec, store=str(store_for(tree, Path(spec["store"]))))
    command = [sys.executable, "-c", CHILD, json.dumps(spec)]
    if cores is not None:
        command = ["taskset", "-c", cores] + command
    completed = subprocess.run(
        command, capture_output=True, text=True, cwd=str(tree),
        env={**os.environ, "PYTHONPATH": str(tree), "SDL_VIDEODRIVER": "dummy"})
    if completed.returncode != 0:
        raise RuntimeError(f"the loop of {tree} failed:\n{completed.stderr[-3000:]}")
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    report["read_at"] = {int(index): t for index, t in report["read_at"].items()}
    return report


def spec_for(store: Path, source: str, realtime: bool, window: Tuple[int, int] = (1280, 720),
             record_face_frames: bool = False, **extra) -> dict:
    return {"store": str(store), "greetings": str(REPO / "config/greetings.json"),
            "source": source, "realtime": realtime, "window": list(window),
            "record_face_frames": record_face_frames, **extra}


def gaps(times: Sequence[float]) -> np.ndarray:
    """Seconds between consecutive times."""
    return np.diff(np.asarray(times, float))


def gaps_while(times: Sequence[float], spans: Sequence[Tuple[float, float]]) -> np.ndarray:
    """The gaps between consecutive times whose interval overlaps one of `spans`."""
    times = np.asarray(times, float)
    kept = [later - earlier for earlier, later in zip(times, times[1:])
            if any(start < later and earlier < end for start, end in spans)]
    return np.asarray(kept, float)


def cpu_share(samples: List[Tuple[float, float]], since: float, until: float) -> float:
    """CPU time per wall second (1.0 = one whole core) between wall times `since` and
    `until`, from (wall, cpu) samples."""
    inside = [(wall, cpu) for wall, cpu in samples if since <= wall <= until]
    if len(inside) < 2:
        return float("nan")
    (first_wall, first_cpu), (last_wall, last_cpu) = inside[0], inside[-1]
    return (last_cpu - first_cpu) / (last_wall - first_wall)


def greeting_delays(report: dict, first_frames: Dict[Optional[str], int]) -> Dict[str, float]:
    """Per person greeted: wall seconds from the moment their first face frame left the
    source to their greeting."""
    delays = {}
    for greeting in report["greeted"]:
        first = first_frames.get(greeting["person"])
        if first is not None and first in report["read_at"]:
            delays[greeting["person"] or "a stranger"] = \
                greeting["wall"] - report["read_at"][first]
    return delays
