"""``greeter enroll`` on 160 lfw-dev photos (80 people, 2 photos each), as staff run it, beside
the same command of a baseline revision (dlib only, before every installed model embedded each
photo) and face_recognition's plain loop on the same photos, from one run.

Each ``greeter enroll`` is the real command line in a fresh process (cold: it starts its
workers and loads the models), into a new store. The loop is
``face_recognition.face_encodings(face_recognition.load_image_file(path))`` per photo, the way
its examples enrol known faces, in this process.

Goal (issue 23): ``greeter enroll``, with every installed model embedding each photo, at least
2x the loop's photos per second.

Then where a photo's time goes, on one core (a child process with one BLAS thread): the
median milliseconds of each stage of ``greeter enroll``'s analysis and of the loop's, over
the same photos. The loop is timed as written (BLAS as installed, free to use every core)
and again with one BLAS thread.

Usage: python benchmarks/enrol_lfw.py [--lfw ../shared/faces/lfw-dev] [--baseline REV]
       [--stages-only]
"""

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Dict, List, Tuple

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


def median_ms(spans) -> float:
    return 1000 * statistics.median(spans)


def stage_milliseconds(photos) -> None:
    """Each stage's median milliseconds a photo, in this process (run it with one BLAS
    thread): greeter's analysis (`analyse_photo`'s steps) and the loop's."""
    import face_recognition

    from greeter.people.enrolment import face_crops, more_embeddings, more_models
    from greeter.recognition.faces import FaceEngine
    from greeter.recognition.imaging import load_rgb
    from greeter.settings import Settings

    detection = Settings().detection
    engine = FaceEngine()
    more_models()  # loaded now, not in the first photo's time
    resnet = engine._model("embedding")  # the ResNet alone, as face_recognition runs it
    stages: Dict[str, List[float]] = {}

    @contextmanager
    def timed(stage: str):
        started = time.perf_counter()
        yield
        stages.setdefault(stage, []).append(time.perf_counter() - started)

    for photo in photos[:2]:  # load every model before timing
        rgb = load_rgb(photo)
        engine.faces(rgb, engine.detect_in_photo(rgb, detection.photo_max_side, 1))
        face_recognition.face_encodings(face_recognition.load_image_file(str(photo)))
    for photo in photos:
        with timed("load the photo"):
            rgb = load_rgb(photo, max_side=detection.load_max_side)
        with timed("HOG detection"):
            boxes = engine.detect_in_photo(rgb, detection.photo_max_side,
                                           detection.retry_upsample)
        if not boxes:
            continue
        with timed("5 landmarks, chip"):
            chips, _ = engine.chips_and_turns(rgb, boxes[:1])
        with timed("ResNet, the face alone"):
            resnet.compute_face_descriptor(chips, 0)
        with timed("ResNet, the face and its mirror"):
            engine.embed_chips(chips)
        with timed("SFace: crop, YuNet's landmarks, SFace"):
            more_embeddings(face_crops(rgb, boxes[0]))
        with timed("loop: load_image_file"):
            image = face_recognition.load_image_file(str(photo))
        with timed("loop: face_encodings"):
            face_recognition.face_encodings(image)
    print(f"one core, median ms a photo over {len(photos)} photos:")
    medians = {stage: median_ms(spans) for stage, spans in stages.items()}
    for stage, milliseconds in medians.items():
        print(f"  {stage:<38} {milliseconds:6.1f}")
    greeter = sum(milliseconds for stage, milliseconds in medians.items()
                  if not stage.startswith("loop") and stage != "ResNet, the face alone")
    loop = sum(milliseconds for stage, milliseconds in medians.items() if stage.startswith("loop"))
    cores = os.cpu_count() or 1
    print(f"  greeter's analysis {greeter:.1f} ms a core, the loop's {loop:.1f}: with a worker a "
          f"core, greeter enroll at best {cores * loop / greeter:.2f}x the one-thread loop "
          f"on {cores} cores")


def main() -> int:
    parser = lfw_arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default=BASELINE)
    parser.add_argument("--stages-only", action="store_true",
                        help="only the stages' milliseconds, in this process")
    parser.add_argument("--cache", type=Path,
                        default=Path(tempfile.gettempdir()) / "greeter-enrol-lfw")
    args = parser.parse_args()
    if not lfw_found(args.lfw):
        return 1
    people, _ = lfw_photos(args.lfw)
    chosen = [photos[:2] for photos in people if len(photos) >= 2][:PEOPLE]
    if args.stages_only:
        stage_milliseconds([photo for photos in chosen for photo in photos])
        return 0
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
    one_thread = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", LOOP_ALONE, *[str(photo) for photos in chosen
                                                        for photo in photos]],
                   env=one_thread, check=True)
    print(f"  face_recognition loop, one BLAS thread (cold: {time.perf_counter() - started:.1f} s "
          "with Python's start and the models' loading)")
    subprocess.run([sys.executable, __file__, "--stages-only", "--lfw", str(args.lfw)],
                   env=one_thread, check=True)
    return 0


#: The loop in a process of its own, timed as above (after the import).
LOOP_ALONE = """
import sys, time, face_recognition
started = time.perf_counter()
for path in sys.argv[1:]:
    face_recognition.face_encodings(face_recognition.load_image_file(path))
print(f"  face_recognition loop, one BLAS thread  {time.perf_counter() - started:5.1f} s")
"""


if __name__ == "__main__":
    sys.exit(main())
