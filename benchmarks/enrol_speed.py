"""Enrolment speed: ``greeter enroll``'s library against face_recognition's loop, same photos.

The photos are the portraits in ../shared/faces/samples (240p to 1080p and the knn training
photos), each saved in a few slightly rotated variants so that the run is long enough to
measure and no two files are identical (greeter skips duplicates). Both sides start cold
(greeter's time includes starting its worker processes and loading the models).

Baseline: ``face_recognition.face_encodings(face_recognition.load_image_file(path))`` per
photo, the way its examples enrol known faces. Goal: greeter >= 2x photos per second.

Usage: python benchmarks/enrol_speed.py [--samples ../shared/faces/samples] [--variants 3]
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from greeter.people.enrolment import ENROLLED, Enroller, PhotoJob
from greeter.people.store import Store
from greeter.recognition.imaging import file_sha256
from greeter.settings import Settings

REPO = Path(__file__).resolve().parent.parent
PORTRAITS = ["obama.jpg", "obama2.jpg", "biden.jpg", "obama-720p.jpg", "obama-1080p.jpg",
             "obama-480p.jpg", "lin-manuel-miranda.png", "alex-lacamoire.png"]


def make_photos(samples: Path, folder: Path, variants: int):
    sources = [samples / name for name in PORTRAITS]
    sources += sorted((samples / "knn/train").rglob("*.jp*g"))
    photos = []
    # knn/train repeats some top-level portraits byte for byte; greeter would skip the copies
    unique = {file_sha256(source): source for source in reversed(sources)}
    sources = [source for source in sources if unique[file_sha256(source)] == source]
    for number, source in enumerate(sources):
        image = Image.open(source).convert("RGB")
        for variant in range(variants):
            path = folder / f"{number:02d}-{source.stem}-{variant}.jpg"  # stems repeat
            image.rotate(variant * 2 - 2, resample=Image.BILINEAR).save(path, quality=92)
            photos.append(path)
    return photos


def greeter_rate(photos, folder: Path) -> float:
    settings = Settings.load(environ={})
    started = time.perf_counter()
    with Store(folder / "bench.sqlite3") as store:
        outcomes = Enroller(store, settings.detection, settings.enrolment).run(
            [PhotoJob(f"p{index}", None, path) for index, path in enumerate(photos)])
    elapsed = time.perf_counter() - started
    enrolled = sum(outcome.status == ENROLLED for outcome in outcomes)
    print(f"greeter enroll:          {len(photos) / elapsed:6.2f} photos/s "
          f"({elapsed:.1f} s, {enrolled}/{len(photos)} enrolled)")
    return len(photos) / elapsed


def baseline_rate(photos) -> float:
    started = time.perf_counter()
    import face_recognition

    found = sum(bool(face_recognition.face_encodings(face_recognition.load_image_file(str(p))))
                for p in photos)
    elapsed = time.perf_counter() - started
    print(f"face_recognition loop:   {len(photos) / elapsed:6.2f} photos/s "
          f"({elapsed:.1f} s, {found}/{len(photos)} with a face)")
    return len(photos) / elapsed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=REPO.parent / "shared/faces/samples")
    parser.add_argument("--variants", type=int, default=3)
    args = parser.parse_args(argv)
    if not args.samples.is_dir():
        print(f"samples not found at {args.samples}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as folder:
        photos = make_photos(args.samples, Path(folder), args.variants)
        print(f"{len(photos)} photos")
        ours = greeter_rate(photos, Path(folder))
        theirs = baseline_rate(photos)
    print(f"speed-up: {ours / theirs:.2f}x (goal >= 2x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
