"""A queue at one spot, in real time, on a quiet machine and beside a CPU burner: how many guests
the robot names, beside main before this work (issue 20).

24 lfw-dev people are enrolled with one photo each through ``greeter enroll``; 20 of them and
10 strangers step onto one spot in turn (tests/scenes.py `queue_scene`: 2.2 s each, 0.3-1.0 s
between them, shown with *other* photos than the enrolled ones), a 640x480 video at 15 fps.
Each tree plays it with ``greeter run --realtime --headless`` (as a camera would feed it),
once on a quiet machine and once with both cores kept busy by two spinning processes (the
Nano shares its CPU with the camera stack and X). Printed per run: guests named (of 20),
wrong names, strangers named, and the median time from a guest stepping on to their greeting.

Goals (issue 20): quiet >= 95 % named, 0 wrong; busy >= 80 % named, 0 wrong.

Usage: python benchmarks/queue_busy.py [--lfw ../shared/faces/lfw-dev] [--baseline REV]
       [--cache /tmp/greeter-queue]
"""

import argparse
import json
import multiprocessing
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO / "benchmarks"))
from scene_passes import baseline_tree, store_for  # noqa: E402
from scenes import pick_people, pick_strangers, queue_scene, render_scene  # noqa: E402

GAPS = [0.3, 0.6, 1.0, 0.4, 0.8, 0.5, 0.9, 0.3, 0.7]


def spin() -> None:
    while True:
        pass


def play(tree: Path, video: Path, store: Path, greetings: Path, events: Path,
         model: str = "dlib") -> List[dict]:
    if events.exists():
        events.unlink()
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("GREETER_")}
    environment.update(PYTHONPATH=str(tree), GREETER_THROTTLE__PRESSURE_BELOW="0.02",
                       GREETER_THROTTLE__CRITICAL_BELOW="0.01")
    if model != "dlib":
        environment["GREETER_RECOGNITION__MODEL"] = model
    subprocess.run([sys.executable, "-m", "greeter", "--store", str(store_for(tree, store)),
                    "--greetings",
                    str(greetings), "run", "--source", str(video), "--realtime", "--headless",
                    "--events-out", str(events)], env=environment, check=True,
                   capture_output=True, cwd=str(tree))
    return [json.loads(line) for line in events.read_text().splitlines() if line.strip()]


def score(events: List[dict], truth) -> str:
    named = wrong = strangers_named = 0
    delays = []
    for appearance in truth.appearances:
        start, end = truth.time_of(appearance.first_frame), truth.time_of(appearance.last_frame)
        mine = [event for event in events if start <= event["t"] <= end + 0.2]
        names = [event["person"] for event in mine if event["person"] is not None]
        if appearance.person is None:
            strangers_named += bool(names)
            continue
        wrong += any(name != appearance.person for name in names)
        if appearance.person in names:
            named += 1
            first = next(event for event in mine if event["person"] == appearance.person)
            delays.append(first["t"] - start)
    guests = sum(a.person is not None for a in truth.appearances)
    strangers = len(truth.appearances) - guests
    median = statistics.median(delays) if delays else float("nan")
    return (f"{named:3d}/{guests} named ({100 * named / guests:5.1f} %)  {wrong} wrong  "
            f"{strangers_named}/{strangers} strangers named  median {median:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=REPO.parent / "shared/faces/lfw-dev")
    parser.add_argument("--baseline", default="e75bd7a")
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "greeter-queue")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--sface", action="store_true",
                        help="also this checkout with recognition.model sface")
    args = parser.parse_args()
    if not (args.lfw / "people").is_dir():
        sys.exit(f"lfw-dev not found at {args.lfw}")
    args.cache.mkdir(parents=True, exist_ok=True)
    cast = pick_people(args.lfw, 24, seed=args.seed)
    strangers = pick_strangers(args.lfw, 10, seed=args.seed, avoid=cast)
    inbox = args.cache / "inbox"
    shutil.rmtree(inbox, ignore_errors=True)
    for person in cast:
        (inbox / person.person).mkdir(parents=True)
        shutil.copy(person.enrol_photo, inbox / person.person / person.enrol_photo.name)
        (inbox / person.person / "name.txt").write_text(person.name + "\n")
    store = args.cache / "greeter.sqlite3"
    for stale in args.cache.glob("greeter.sqlite3*"):
        stale.unlink()
    subprocess.run([sys.executable, "-m", "greeter", "--store", str(store), "enroll",
                    str(inbox)], check=True, capture_output=True,
                   env={**os.environ, "GREETER_ENROLMENT__MIN_FACE_SIZE": "40"})
    greetings = args.cache / "greetings.json"
    greetings.write_text(json.dumps({"stranger": ["Welcome Stranger!"]}))
    walkers = [(person.walk_photo, person.person) for person in cast[:20]]
    walkers += [(photo, None) for photo in strangers]
    order = list(range(len(walkers)))
    random.Random(args.seed).shuffle(order)
    truth = render_scene(queue_scene([walkers[i] for i in order], GAPS, seed=args.seed),
                         args.cache / "queue.mp4")
    trees = [("greeter", REPO, "dlib"), (f"main at {args.baseline}",
                                         baseline_tree(args.baseline, args.cache), "dlib")]
    if args.sface:
        trees.insert(1, ("greeter, SFace", REPO, "sface"))
    print(f"queue of {len(walkers)} at one spot (20 guests of 24 enrolled, 10 strangers), "
          f"{truth.frame_count / truth.fps:.0f} s, --realtime")
    for busy in (False, True):
        burners: List[Optional[multiprocessing.Process]] = []
        if busy:
            burners = [multiprocessing.Process(target=spin, daemon=True) for _ in range(2)]
            for burner in burners:
                burner.start()
        try:
            for label, tree, model in trees:
                events = play(tree, truth.path, store, greetings,
                              args.cache / f"events-{busy}-{label[:4]}-{model}.jsonl", model)
                print(f"{'busy' if busy else 'quiet':5s}  {label:18s}  {score(events, truth)}")
        finally:
            for burner in burners:
                burner.terminate()


if __name__ == "__main__":
    main()
