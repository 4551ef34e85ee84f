"""What one frame of the kiosk screen costs at 800x480 on one core, beside today's screen.

The robot shows 30 frames a second on the Nano stand-in (one core), so a frame has 33 ms for
everything; drawing the screen should take a small part of it. Both renderers draw the same
scenes off screen (no display: the cost of drawing, not of the display driver) with a
640x360 camera frame, pinned to core 0 (like ``taskset -c 0``):

* idle: the attract screen (today's: the title and values centred);
* one guest: a greeting shown (steady: its text cached);
* four guests (today's screen stacks four panels too, with today's max_greetings of 4);
* a second guest arriving: the first greeting slides up while the second fades in, every
  frame a new row size (the new screen renders text at new sizes during the 0.4 s fade-in);
* a long Unicode greeting with Arabic and emoji fading in.

"today" is greeter/ui.py (now greeter/screen/display.py) as it was before the kiosk layout
(git commit BASELINE_COMMIT), loaded from git. Prints mean and 95th percentile per frame in ms,
and the load average, since the
machine may be shared: compare on a quiet machine.

Usage: python benchmarks/screen.py [--frames 150]
"""

import argparse
import importlib.util
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np  # noqa: E402

import greeter.screen.display as ui  # noqa: E402
from greeter.settings import UiSettings  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
#: The last commit with the screen before the kiosk layout.
BASELINE_COMMIT = "a315145"
SIZE = (800, 480)
FPS = 30
HOST = dict(title="Welcome to the Open Lab Day", background=(20, 33, 61),
            text_colour=(255, 255, 255), accent=(252, 163, 17),
            lines=("Curiosity: we ask why", "Openness: we share what we learn",
                   "Kindness: everybody is welcome"))
GUESTS = [("Welcome back, Alex!", "Alex"), ("Guten Morgen, Jürgen!", "Jürgen"),
          ("Bonjour Zoë, welcome back!", "Zoë"), ("Welcome Stranger!", "")]
LONG = ("أهلاً بعودتك يا فاطمة 👋 Welcome back, Maximilian Alexander Ferdinand von "
        "Hohenzollern-Sigmaringen! 🎉", "Maximilian")


def baseline_module():
    """greeter/ui.py of BASELINE_COMMIT, imported under another name."""
    source = subprocess.run(["git", "show", f"{BASELINE_COMMIT}:greeter/ui.py"], cwd=REPO,
                            check=True, capture_output=True, text=True).stdout
    folder = Path(tempfile.mkdtemp(prefix="greeter-screen-baseline-"))
    path = folder / "ui_baseline.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("ui_baseline", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.REGULAR_FONT, module.BOLD_FONT = ui.REGULAR_FONT, ui.BOLD_FONT  # not beside it
    return module


def scenes(module, new: bool, frame_index: int, camera: np.ndarray):
    """The scene of each case at `frame_index` (time = index / FPS)."""
    t = frame_index / FPS

    def shown(text, emphasis, age):
        if new:
            return module.ShownGreeting(text, age, emphasis)
        return module.ShownGreeting(text, age)

    def scene(**changes):
        values = dict(HOST, camera=camera, **changes)
        if new:
            values["t"] = t
        return module.Scene(**values)

    arriving = t % 0.4  # the fade-in, again and again
    return {
        "idle": scene(idle=True),
        "one guest": scene(greetings=[shown(*GUESTS[0], 2.0)]),
        "four guests": scene(greetings=[shown(text, name, 2.0 + index * 0.5)
                                        for index, (text, name) in enumerate(GUESTS)]),
        "second guest arriving": scene(greetings=[shown(*GUESTS[0], 2.0 + arriving),
                                                  shown(*GUESTS[1], arriving)]),
        "long Unicode fading in": scene(greetings=[shown(*LONG, arriving)]),
    }


def measure(module, new: bool, frames: int):
    style = module.Style(**UiSettings().model_dump(exclude={"idle_after_seconds"}))
    camera = np.random.default_rng(0).integers(0, 255, (360, 640, 3), dtype=np.uint8)
    timings = {}
    with module.Screen(style, SIZE, headless=True) as screen:
        for case in scenes(module, new, 0, camera):
            per_frame = []
            for index in range(frames):
                scene = scenes(module, new, index, camera)[case]
                started = time.perf_counter()
                screen.render(scene)
                per_frame.append((time.perf_counter() - started) * 1000)
            timings[case] = per_frame
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=150)
    frames = parser.parse_args().frames
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    today = measure(baseline_module(), False, frames)
    kiosk = measure(ui, True, frames)
    print(f"one frame of the screen at {SIZE[0]}x{SIZE[1]}, core 0 only, {frames} frames a "
          f"case, load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'case':<24} {'kiosk mean':>10} {'p95':>7}   {'today mean':>10} {'p95':>7}  (ms)")
    for case in kiosk:
        new, old = kiosk[case], today[case]
        print(f"{case:<24} {statistics.mean(new):>10.2f} {_p95(new):>7.2f}   "
              f"{statistics.mean(old):>10.2f} {_p95(old):>7.2f}")
    worst = max(_p95(values) for values in kiosk.values())
    print(f"worst p95 {worst:.2f} ms of the {1000 / FPS:.1f} ms a frame has at {FPS} fps")
    sys.exit(0)


def _p95(values):
    return sorted(values)[int(0.95 * (len(values) - 1))]


if __name__ == "__main__":
    main()
