"""``greeter enroll`` on 160 lfw-dev photos (80 people, 2 photos each), as staff run it, beside
the same command of a baseline revision (dlib only, before every installed model embedded each
photo) and face_recognition's plain loop on the same photos, from one run.

Each ``greeter enroll`` is the real command line in a fresh process (cold: it starts its
workers and loads the models), into a new store. The loop is
``face_recognition.face_encodings(face_recognition.load_image_file(path))`` per photo, the way
its examples enrol known faces, in this process.

Goal (issue 23): ``greeter enroll``, with every installed model embedding each photo, at least
2x the loop's photos per second.

Usage: python benchmarks/enrol_lfw.py [--lfw ../shared/faces/lfw-dev] [--baseline REV]
"""

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Tuple

from lfw_faces import lfw_arguments, lfw_found, lfw_photos
from scene_passes import baseline_tree

REPO = Path(__file__).resolve().parent.parent
#: Main before enrolment embedded each photo with SFace too.
BASELINE = "6c4cad2"
PEOPLE = 80


def enrol_seconds(tree: Path, inbox: Path, store: Path) -> Tuple[float, str]:
    """How long `tree`'s ``greeter enroll`` took, and its summary line (it exits 1 when
    some photo was rejected: lfw-dev has a few without a usable face)."""
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("GREETER_")}
    environment["PYTHONPATH"] = str(tree)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "greeter", "--store", str(store), "enroll",
                           str(inbox)], env=environment, cwd=str(tree), capture_output=True,
                          text=True)
    seconds = time.perf_counter() - started
    summary = [line for line in done.stdout.splitlines() if " enrolled, " in line]
    if done.returncode not in (0, 1) or not summary:
        raise SystemExit(f"{tree}: greeter enroll failed:\n{done.stdout}{done.stderr}")
    return seconds, summary[-1].strip()


def loop_seconds(photos) -> float:
    import face_recognition

    started = time.perf_counter()
    for photo in photos:
        face_recognition.face_encodings(face_recognition.load_image_file(str(photo)))
    return time.perf_counter() - started


def main() -> int:
    parser = lfw_arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "greeter-enrol-lfw")
    args = parser.parse_args()
    if not lfw_found(args.lfw):
        return 1
    people, _ = lfw_photos(args.lfw)
    chosen = [photos[:2] for photos in people if len(photos) >= 2][:PEOPLE]
    args.cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        inbox = Path(scratch) / "inbox"
        for photos in chosen:
            folder = inbox / photos[0].parent.name.lower().replace("_", "-")
            folder.mkdir(parents=True)
            for photo in photos:
                shutil.copy(photo, folder / photo.name)
        count = sum(len(photos) for photos in chosen)
        runs = {"greeter enroll (dlib + SFace)": enrol_seconds(REPO, inbox,
                                                               Path(scratch) / "now.sqlite3"),
                f"greeter enroll at {args.baseline} (dlib)": enrol_seconds(
                    baseline_tree(args.baseline, args.cache), inbox,
                    Path(scratch) / "baseline.sqlite3"),
                "face_recognition loop": (loop_seconds(
                    [photo for photos in chosen for photo in photos]), "")}
    loop = runs["face_recognition loop"][0]
    print(f"{count} lfw-dev photos ({len(chosen)} people), each run cold")
    for label, (seconds, summary) in runs.items():
        print(f"  {label:<34} {seconds:5.1f} s  {count / seconds:5.1f} photos/s  "
              f"{loop / seconds:4.2f}x the loop  {summary}")
    print("goal: greeter enroll >= 2x the loop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
