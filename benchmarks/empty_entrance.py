"""The empty entrance: a still 640x480 scene with sensor noise for 60 s at 30 fps, paced like a
camera, then a guest walks in; greeter's loop beside today's loop (a `git worktree` of main at
`loop_runs.BASELINE_COMMIT`).

The scene is tests/scenes.py's generated corridor with per-frame sensor noise (sigma 3 grey
levels); frames are held in memory and handed out like a camera's, so the CPU measured is the
loop's own. The guest is Lin-Manuel Miranda's photo walking in from the left (face 110 px),
enrolled from the same photo. Printed for both: the loop's CPU in percent of one core while
the entrance is empty (from 10 s on, after start-up), frames drawn per second then, and the
wall time from the first frame with the guest's whole face in view to the greeting. Today's
loop detects every 0.1 s whatever happens, so its greeting time is that of a scene busy all
along.

Goals: CPU <= 10 % of one core while empty; the guest greeted as fast as by today's loop.

Usage: python benchmarks/empty_entrance.py [--seconds 60] [--samples DIR] [--baseline DIR]
"""

import json
import os
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
from live_clip import enrol_lin  # noqa: E402
from loop_runs import (  # noqa: E402
    REPO,
    baseline_tree,
    comparison_arguments,
    cpu_share,
    run_loop,
    spec_for,
)
from scenes import Scene, Walker, make_background, render_frames  # noqa: E402

FPS = 30.0
WALK_SECONDS = 4.0
FACE_PX = 110
#: Start-up (models loading, first frames) left out of the CPU figure.
SETTLED_AFTER = 10.0


def make_entrance(samples: Path, still_seconds: float, folder: Path):
    """Still frames (16 noise variants of the empty corridor) and the frames of the guest
    walking in, saved as .npy; and the index of the first frame with the whole face in view."""
    walker = Walker(samples / "lin-manuel-miranda.png", "lin-manuel-miranda", still_seconds,
                    still_seconds + WALK_SECONDS, (-80, 220), (330, 230), face_px=FACE_PX)
    scene = Scene([walker], size=(640, 480), fps=FPS, seed=5, noise=3.0,
                  background=make_background((640, 480), "corridor", seed=5),
                  duration=still_seconds + WALK_SECONDS)
    still_frames = int(round(still_seconds * FPS))
    np.save(folder / "still.npy", np.stack(render_frames(scene, range(16))))
    np.save(folder / "walk.npy", np.stack(render_frames(
        scene, range(still_frames, still_frames + int(WALK_SECONDS * FPS)))))
    index = still_frames
    while walker.position(index / FPS)[0] - FACE_PX / 2 < 0:
        index += 1
    return folder / "still.npy", folder / "walk.npy", index


def measure(tree: Path, store: Path, still: Path, walk: Path, still_seconds: float,
            enter_frame: int) -> dict:
    report = run_loop(tree, spec_for(store, "entrance", realtime=True, window=(800, 480),
                                     still=str(still), walk=str(walk), fps=FPS,
                                     still_seconds=still_seconds))
    entered_at = report["read_at"][enter_frame]
    settled = report["started"] + SETTLED_AFTER
    drawn_still = [t for t in report["drawn"] if settled <= t < entered_at]
    named = [g for g in report["greeted"] if g["person"] == "lin-manuel-miranda"]
    return {
        "cpu_percent_empty": round(100 * cpu_share(report["cpu"], settled, entered_at), 1),
        "drawn_fps_empty": round(len(drawn_still) / max(1e-9, entered_at - settled), 1),
        "detections": report["detections"],
        "greeted_after_s": round(named[0]["wall"] - entered_at, 2) if named else None,
    }


def main(argv=None) -> int:
    parser = comparison_arguments(__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="how long nobody is there")
    args = parser.parse_args(argv)
    if args.seconds <= SETTLED_AFTER:
        parser.error(f"--seconds must be more than {SETTLED_AFTER:.0f}")
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    baseline = args.baseline or baseline_tree()
    print(f"load before: {os.getloadavg()[0]:.1f}")
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        still, walk, enter_frame = make_entrance(args.samples, args.seconds, folder)
        store = folder / "lin.sqlite3"
        enrol_lin(args.samples, store)
        results = {name: measure(tree, store, still, walk, args.seconds, enter_frame)
                   for name, tree in (("greeter", REPO), ("today's loop", baseline))}
    print(f"load after: {os.getloadavg()[0]:.1f}")
    print(f"\n{f'empty for {args.seconds:.0f} s, --realtime':28} {'CPU empty':>10} "
          f"{'drawn/s':>8} {'detections':>11}  greeted after entering")
    for name, result in results.items():
        print(f"{name:28} {result['cpu_percent_empty']:9.1f}% {result['drawn_fps_empty']:8.1f} "
              f"{result['detections']:11d}  {result['greeted_after_s']} s")
    print("goals: CPU <= 10 % of one core while empty; greeted as fast as today's loop")
    print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
