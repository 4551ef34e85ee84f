"""The empty entrance with the camera included: the CPU of ``greeter run`` reading a 640x480
30 fps video paced in real time (``--realtime``, as a camera hands out frames) with nobody in
view, beside a baseline revision's package from one run.

Unlike benchmarks/empty_entrance.py, which hands the loop frames from memory, this counts what
a camera costs: decoding or reading each frame, converting it to RGB, and the loop waking for
it. The video is tests/scenes.py's empty corridor with sensor noise (sigma 3 grey levels, so
frames differ as a real sensor's do), written once as mp4v. Each tree runs the real command
line (``--headless``: drawn off screen, so drawing is counted) for `--seconds`; the CPU of the
process (all threads) is read from /proc from `SETTLED_AFTER` s on, past start-up.

Goal (issue 20): <= 10 % of one core.

Usage: python benchmarks/idle_camera.py [--seconds 30] [--baseline REV] [--runs 2]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))
from scene_passes import baseline_tree  # noqa: E402
from scenes import Scene, make_background, render_scene  # noqa: E402

#: Start-up (models loading, the first full scans) left out of the figure.
SETTLED_AFTER = 10.0
#: Main before this benchmark's work (issue 20's idle goal).
BASELINE = "ed2db4e"


def write_empty_entrance(path: Path, seconds: float) -> Path:
    scene = Scene([], size=(640, 480), fps=30.0, seed=5, noise=3.0,
                  background=make_background((640, 480), "corridor", seed=5),
                  duration=seconds)
    return render_scene(scene, path).path


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_share(tree: Path, video: Path, store: Path, seconds: float) -> float:
    """The share of one core `tree`'s ``greeter run`` costs from `SETTLED_AFTER` s to
    `seconds` s after its start."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("GREETER_")}
    environment.update(PYTHONPATH=str(tree), SDL_VIDEODRIVER="dummy")
    process = subprocess.Popen(
        [sys.executable, "-m", "greeter", "--store", str(store), "run", "--source", str(video),
         "--realtime", "--headless"],
        env=environment, cwd=str(tree), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        started = time.monotonic()
        time.sleep(SETTLED_AFTER)
        cpu_before, wall_before = cpu_seconds(process.pid), time.monotonic()
        time.sleep(max(1.0, seconds - (time.monotonic() - started)))
        cpu_after, wall_after = cpu_seconds(process.pid), time.monotonic()
        if process.poll() is not None:
            raise SystemExit(f"{tree}: greeter run ended early ({process.returncode})")
    finally:
        process.terminate()
        process.wait(timeout=20)
    return (cpu_after - cpu_before) / (wall_after - wall_before)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=30.0,
                        help="how long each run lasts, start-up included")
    parser.add_argument("--baseline", default=BASELINE, help="git revision to compare with")
    parser.add_argument("--runs", type=int, default=2, help="runs per tree (median shown)")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "greeter-idle")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    video = args.cache / "empty-entrance.mp4"
    if not video.exists():
        video = write_empty_entrance(video, args.seconds + 30)
    trees = {"greeter": REPO, f"baseline {args.baseline}": baseline_tree(args.baseline,
                                                                        args.cache)}
    print(f"empty entrance, 640x480 at 30 fps paced in real time, CPU from {SETTLED_AFTER:.0f} s "
          f"to {args.seconds:.0f} s (goal <= 10 % of one core)")
    with tempfile.TemporaryDirectory() as scratch:
        for label, tree in trees.items():
            shares = [idle_share(tree, video, Path(scratch) / f"{label}-{run}.sqlite3",
                                 args.seconds) for run in range(args.runs)]
            print(f"  {label:<22} {100 * statistics.median(shares):5.1f} % of one core  "
                  f"(runs: {', '.join(f'{100 * s:.1f}' for s in shares)})")


if __name__ == "__main__":
    main()
