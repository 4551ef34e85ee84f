"""Open-set identification on lfw-dev: greeter's defaults beside face_recognition's own loop.

Enrols photo 1 of every ``lfw-dev/people/`` person, then identifies each person's other photos
and every ``strangers/`` photo. Prints, for both pipelines on the same photos:

* correct       - a person's photo given their own name
* wrong name    - a person's photo given somebody else's name (the worst outcome)
* strangers     - a stranger given any name

The baseline is face_recognition's documented loop: ``face_locations`` (HOG, one upsample),
``face_encodings``, then the nearest known face if its distance is <= 0.6.

``--calibrate`` also reports a two-fold check of `choose_policy` (choose on half of the people
and strangers, measure on the other half) and the policy chosen on everything: that is how
`greeter.matching.default_policy` was fitted.

Goal: >= 80 % correct with <= 1 % strangers named and <= 0.3 % wrong names.

Usage: python benchmarks/openset_lfw.py [--lfw ../shared/faces/lfw-dev] [--limit N] [--calibrate]
"""

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import List, Sequence, Tuple

import numpy as np

from greeter.enrolment import analyse_photos
from greeter.errors import GreeterError
from greeter.matching import (
    Gallery,
    MatchPolicy,
    Trials,
    choose_policy,
    default_policy,
    nearest_two,
    rates,
)
from greeter.settings import Settings

REPO = Path(__file__).resolve().parent.parent
BASELINE_TOLERANCE = 0.6


def lfw_split(lfw: Path, limit: int) -> Tuple[List[Path], List[Path], List[int], List[Path]]:
    """Enrolment photos (one per person), probe photos with their person index, strangers."""
    people = sorted(p for p in (lfw / "people").iterdir() if p.is_dir())[: limit or None]
    enrol, probes, truth = [], [], []
    for index, folder in enumerate(people):
        photos = sorted(folder.glob("*.jpg"))
        enrol.append(photos[0])
        probes += photos[1:]
        truth += [index] * (len(photos) - 1)
    strangers = sorted((lfw / "strangers").glob("*.jpg"))
    if limit:
        strangers = strangers[: max(20, limit // 2)]
    return enrol, probes, truth, strangers


def greeter_embeddings(photos: Sequence[Path]) -> List[np.ndarray]:
    """One embedding per photo (the largest face) with greeter's pipeline; None when no face."""
    settings = Settings.load(environ={})
    lenient = settings.enrolment.model_copy(update={"min_face_size": 0, "min_sharpness": 0})
    results = analyse_photos(list(photos), settings.detection, lenient, largest=True)
    return [None if isinstance(result, GreeterError) else result.embedding
            for _, result in results]


def _baseline_one(path: Path):
    import face_recognition

    image = face_recognition.load_image_file(str(path))
    encodings = face_recognition.face_encodings(image, face_recognition.face_locations(image))
    return encodings[0] if encodings else None


def baseline_embeddings(photos: Sequence[Path]) -> List[np.ndarray]:
    """face_recognition's default pipeline, on both cores too, so only the method differs."""
    with ProcessPoolExecutor(2) as pool:
        return list(pool.map(_baseline_one, photos, chunksize=16))


def trials(gallery_vectors, probe_vectors, truth) -> Trials:
    """Match outcomes; a photo whose face was not found counts as not named."""
    known = [i for i, v in enumerate(gallery_vectors) if v is not None]
    gallery = Gallery(
        [str(i) for i in known],
        np.array([gallery_vectors[i] for i in known], np.float32),
        np.arange(len(known)),
    )
    found = [i for i, v in enumerate(probe_vectors) if v is not None]
    distances = np.full(len(probe_vectors), np.inf)
    seconds = np.full(len(probe_vectors), np.inf)
    correct = np.zeros(len(probe_vectors), bool)
    if found:
        best, best_d, second_d = nearest_two(
            gallery.person_distances(np.array([probe_vectors[i] for i in found])))
        distances[found], seconds[found] = best_d, second_d
        correct[found] = np.array(known)[best] == np.asarray(truth)[found]
    return Trials(distances, seconds, correct)


def line(label, policy, enrolled: Trials, strangers: Trials) -> str:
    measured = rates(policy, enrolled, strangers)
    return (f"{label:<34} {measured.correct:8.1%} {measured.wrong_name:11.2%} "
            f"{measured.strangers_named:10.2%}   threshold {policy.threshold:.3f}"
            f" ratio {policy.ratio:.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=REPO.parent / "shared" / "faces" / "lfw-dev")
    parser.add_argument("--limit", type=int, default=0, help="only the first N people")
    parser.add_argument("--calibrate", action="store_true", help="also run the calibration")
    parser.add_argument("--no-baseline", action="store_true")
    args = parser.parse_args(argv)
    if not (args.lfw / "people").is_dir():
        print(f"lfw-dev not found at {args.lfw}", file=sys.stderr)
        return 2
    enrol, probes, truth, strangers = lfw_split(args.lfw, args.limit)
    print(f"lfw-dev: {len(enrol)} people enrolled (photo 1 each), {len(probes)} probe photos, "
          f"{len(strangers)} strangers")

    started = time.perf_counter()
    ours = greeter_embeddings(enrol + probes + strangers)
    ours_seconds = time.perf_counter() - started
    ours_enrolled = trials(ours[: len(enrol)], ours[len(enrol): len(enrol) + len(probes)], truth)
    ours_strangers = trials(ours[: len(enrol)], ours[len(enrol) + len(probes):],
                            [-1] * len(strangers))

    print(f"\n{'':<34} {'correct':>8} {'wrong name':>11} {'strangers':>10}")
    print(line(f"greeter defaults ({ours_seconds:.0f} s)", default_policy(len(enrol)),
               ours_enrolled, ours_strangers))
    if not args.no_baseline:
        started = time.perf_counter()
        theirs = baseline_embeddings(enrol + probes + strangers)
        theirs_seconds = time.perf_counter() - started
        base_enrolled = trials(theirs[: len(enrol)],
                               theirs[len(enrol): len(enrol) + len(probes)], truth)
        base_strangers = trials(theirs[: len(enrol)], theirs[len(enrol) + len(probes):],
                                [-1] * len(strangers))
        print(line(f"face_recognition 0.6 ({theirs_seconds:.0f} s)",
                   MatchPolicy(BASELINE_TOLERANCE, 1.0), base_enrolled, base_strangers))
    print("goal: correct >= 80%, wrong name <= 0.30%, strangers <= 1.00%")

    if args.calibrate:
        calibrate(ours_enrolled, ours_strangers, truth)
    return 0


def calibrate(enrolled: Trials, strangers: Trials, truth: Sequence[int]) -> None:
    """Two-fold check (split by person) of choose_policy, then the policy on all data."""
    print("\ncalibration (choose on one half of the people and strangers, measure on the other):")
    person_half = np.asarray(truth) % 2
    stranger_half = np.arange(len(strangers.distance)) % 2
    for fold in (0, 1):
        def pick(t: Trials, mask):
            return Trials(t.distance[mask], t.second_distance[mask], t.correct[mask])
        chosen = choose_policy(pick(enrolled, person_half == fold),
                               pick(strangers, stranger_half == fold))
        print(line(f"  fold {fold}: measured on the other half", chosen,
                   pick(enrolled, person_half != fold), pick(strangers, stranger_half != fold)))
    print(line("  chosen on all", choose_policy(enrolled, strangers), enrolled, strangers))
    print(line("  threshold only (ratio 1.0)", _threshold_only(enrolled, strangers),
               enrolled, strangers))


def _threshold_only(enrolled: Trials, strangers: Trials) -> MatchPolicy:
    no_ratio = Trials(enrolled.distance, np.full(len(enrolled.distance), np.inf), enrolled.correct)
    no_ratio_strangers = Trials(strangers.distance, np.full(len(strangers.distance), np.inf),
                                strangers.correct)
    return MatchPolicy(choose_policy(no_ratio, no_ratio_strangers).threshold, 1.0)


if __name__ == "__main__":
    sys.exit(main())
