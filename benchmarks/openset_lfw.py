"""Open-set identification on lfw-dev: greeter's defaults beside face_recognition's own loop.

Enrols photo 1 of every ``lfw-dev/people/`` person the way ``greeter enroll`` does (an
`Enroller` into a real store, with the default checks: rejected photos stay out of the gallery,
as they would at an event), then identifies each person's other photos and every
``strangers/`` photo. Prints how many photos were rejected and warned about, and why, beside
today's checks (before issue 10: 60 px, sharpness 20, a single face) through the same path;
then, for both pipelines on the same photos:

* correct       - a person's photo given their own name
* wrong name    - a person's photo given somebody else's name (the worst outcome)
* strangers     - a stranger given any name

The baseline is face_recognition's documented loop: ``face_locations`` (HOG, one upsample),
``face_encodings``, then the nearest known face if its distance is <= 0.6.

Photos of people who could not be enrolled count as not named (or, if named, as wrong names).
Probe and stranger faces (the largest face of each photo) come from `lfw_faces`' cache.

``--photos N`` enrols photos 1..k of each person having N+1 photos or more, for k = 1..N, and
identifies the same remaining photos each time: how much a second and third photo help.

``--calibrate`` also reports a two-fold check of `choose_policy` (choose on half of the people
and strangers, measure on the other half) and the policy chosen on everything: that is how
`greeter.recognition.matching.default_policy` was fitted.

Goal: >= 80 % correct with <= 1 % strangers named and <= 0.3 % wrong names.

Usage: python benchmarks/openset_lfw.py [--lfw ../shared/faces/lfw-dev] [--limit N] [--calibrate]
       [--no-baseline] [--photos N]
"""

import re
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

import numpy as np
from lfw_faces import lfw_arguments, lfw_found, lfw_photos, photo_faces

from greeter.people.enrolment import ENROLLED, REJECTED, Enroller, PhotoJob, PhotoOutcome
from greeter.people.store import Store
from greeter.recognition.matching import (
    MatchPolicy,
    Trials,
    choose_policy,
    default_policy,
    nearest_two,
    rates,
)
from greeter.settings import EnrolmentSettings, Settings

BASELINE_TOLERANCE = 0.6
#: The checks before issue 10, expressed in today's settings: 60 px, sharpness 20, no head turn
#: limit, and any second face refused (no face is ever 1000x larger or 10 photo sides nearer).
TODAYS_CHECKS = {"min_face_size": 60, "good_face_size": 60, "min_sharpness": 20.0,
                 "good_sharpness": 20.0, "max_turn": 9.0, "good_turn": 9.0,
                 "subject_size_ratio": 1000.0, "subject_centre_margin": 10.0}


def enrol_like_the_cli(photos: Sequence[Sequence[Path]], enrolment: EnrolmentSettings
                       ) -> Tuple[List[Optional[np.ndarray]], List[PhotoOutcome]]:
    """Enrol `photos[i]` as person i exactly as ``greeter enroll`` would (an `Enroller` and a
    real store in a temporary folder): each person's enrolled embeddings (None for nobody
    enrolled) and every photo's outcome."""
    settings = Settings.load(environ={})
    jobs = [PhotoJob(f"p{index:04d}", None, photo)
            for index, person in enumerate(photos) for photo in person]
    with tempfile.TemporaryDirectory() as folder, Store(Path(folder) / "lfw.sqlite3") as store:
        outcomes = Enroller(store, settings.detection, enrolment).run(jobs)
        gallery = store.gallery()
    vectors: List[Optional[np.ndarray]] = [None] * len(photos)
    for row, person in enumerate(gallery.row_person):
        index = int(gallery.person_ids[person][1:])
        vectors[index] = gallery.matrix[row][None] if vectors[index] is None \
            else np.vstack([vectors[index], gallery.matrix[row]])
    return vectors, outcomes


def print_outcomes(label: str, outcomes: Sequence[PhotoOutcome], people: int) -> None:
    """How many photos were enrolled, warned about and rejected, and why (numbers hidden, so
    that the same reason is counted once)."""
    enrolled = sum(outcome.status == ENROLLED for outcome in outcomes)
    warned = [outcome for outcome in outcomes if outcome.status == ENROLLED and outcome.warning]
    rejected = [outcome for outcome in outcomes if outcome.status == REJECTED]
    print(f"{label}: {enrolled} of {people} photos enrolled ({enrolled / people:.1%}), "
          f"{len(warned)} of them with a warning; {len(rejected)} rejected")
    for kind, outcomes_of_kind in (("rejected", rejected), ("warned", warned)):
        # a warned photo may have several pieces of advice; a rejection has one reason
        reasons = Counter(_reason_kind(reason) for outcome in outcomes_of_kind
                          for reason in (outcome.reason.split("; ") if kind == "warned"
                                         else [outcome.reason]))
        for reason, count in reasons.most_common():
            print(f"  {kind:>8} {count:5d}  {reason}")


def _reason_kind(reason: str) -> str:
    return re.sub(r"\(.*?\)", "(...)", re.sub(r"\d+(\.\d+)?", "N", reason))


def largest_faces(lfw: Path, photos: Sequence[Path]) -> List[Optional[np.ndarray]]:
    """The embedding of each photo's largest face (greeter's pipeline), None without a face."""
    return [analysed.faces[0].embedding if analysed.faces else None
            for analysed in photo_faces(lfw, photos)]


def _baseline_one(path: Path):
    import face_recognition

    image = face_recognition.load_image_file(str(path))
    encodings = face_recognition.face_encodings(image, face_recognition.face_locations(image))
    return encodings[0] if encodings else None


def baseline_embeddings(photos: Sequence[Path]) -> List[np.ndarray]:
    """face_recognition's default pipeline, on both cores too, so only the method differs."""
    with ProcessPoolExecutor(2) as pool:
        return list(pool.map(_baseline_one, photos, chunksize=16))


def trials(gallery_vectors: Sequence[Optional[np.ndarray]],
           probe_vectors: Sequence[Optional[np.ndarray]], truth: Sequence[int]) -> Trials:
    """Match outcomes against a gallery of person i's embeddings ``(k, 128)`` or one vector
    (None: not enrolled); a photo whose face was not found counts as not named."""
    known = [i for i, v in enumerate(gallery_vectors) if v is not None]
    rows = [np.atleast_2d(gallery_vectors[i]) for i in known]
    matrix = np.vstack(rows).astype(np.float32)
    row_person = np.concatenate([[number] * len(r) for number, r in enumerate(rows)])
    found = [i for i, v in enumerate(probe_vectors) if v is not None]
    distances = np.full(len(probe_vectors), np.inf)
    seconds = np.full(len(probe_vectors), np.inf)
    correct = np.zeros(len(probe_vectors), bool)
    if found:
        probes = np.array([probe_vectors[i] for i in found], np.float32)
        row_distances = np.linalg.norm(probes[:, None, :] - matrix[None, :, :], axis=2)
        per_person = np.full((len(found), len(known)), np.inf)
        np.minimum.at(per_person.T, row_person, row_distances.T)
        best, best_d, second_d = nearest_two(per_person)
        distances[found], seconds[found] = best_d, second_d
        correct[found] = np.array(known)[best] == np.asarray(truth)[found]
    return Trials(distances, seconds, correct)


def line(label, policy, enrolled: Trials, strangers: Trials) -> str:
    measured = rates(policy, enrolled, strangers)
    return (f"{label:<34} {measured.correct:8.1%} {measured.wrong_name:11.2%} "
            f"{measured.strangers_named:10.2%}   threshold {policy.threshold:.3f}"
            f" ratio {policy.ratio:.2f}")


HEADER = f"{'':<34} {'correct':>8} {'wrong name':>11} {'strangers':>10}"


def main(argv=None) -> int:
    parser = lfw_arguments(__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N people")
    parser.add_argument("--calibrate", action="store_true", help="also run the calibration")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--photos", type=int, default=0,
                        help="enrol 1..N photos per person instead (people with N+1 or more)")
    args = parser.parse_args(argv)
    if not lfw_found(args.lfw):
        return 2
    people, strangers = lfw_photos(args.lfw, args.limit)
    if args.photos:
        return more_photos(args.lfw, people, strangers, args.photos)
    probes = [photo for person in people for photo in person[1:]]
    truth = [index for index, person in enumerate(people) for _ in person[1:]]
    print(f"lfw-dev: {len(people)} people (photo 1 each enrolled like `greeter enroll`), "
          f"{len(probes)} probe photos, {len(strangers)} strangers\n")

    defaults = Settings.load(environ={}).enrolment
    first_photos = [person[:1] for person in people]
    started = time.perf_counter()
    ours_gallery, outcomes = enrol_like_the_cli(first_photos, defaults)
    ours_seconds = time.perf_counter() - started
    print_outcomes("greeter's checks", outcomes, len(people))
    todays_gallery, todays_outcomes = enrol_like_the_cli(
        first_photos, defaults.model_copy(update=TODAYS_CHECKS))
    print_outcomes("the checks before issue 10", todays_outcomes, len(people))

    probe_vectors = largest_faces(args.lfw, probes)
    stranger_vectors = largest_faces(args.lfw, strangers)
    print(f"\n{HEADER}")
    for label, gallery in ((f"greeter defaults ({ours_seconds:.0f} s)", ours_gallery),
                           ("with the checks before issue 10", todays_gallery)):
        enrolled_trials = trials(gallery, probe_vectors, truth)
        stranger_trials = trials(gallery, stranger_vectors, [-1] * len(strangers))
        enrolled_count = sum(vector is not None for vector in gallery)
        print(line(label, default_policy(enrolled_count), enrolled_trials, stranger_trials))
        if label.startswith("greeter defaults"):
            ours_trials = (enrolled_trials, stranger_trials)
    if not args.no_baseline:
        photos = [person[0] for person in people] + probes + strangers
        started = time.perf_counter()
        theirs = baseline_embeddings(photos)
        theirs_seconds = time.perf_counter() - started
        base_enrolled = trials(theirs[: len(people)],
                               theirs[len(people): len(people) + len(probes)], truth)
        base_strangers = trials(theirs[: len(people)], theirs[len(people) + len(probes):],
                                [-1] * len(strangers))
        print(line(f"face_recognition 0.6 ({theirs_seconds:.0f} s)",
                   MatchPolicy(BASELINE_TOLERANCE, 1.0), base_enrolled, base_strangers))
    print("goal: correct >= 80%, wrong name <= 0.30%, strangers <= 1.00%")

    if args.calibrate:
        calibrate(ours_trials[0], ours_trials[1], truth)
    return 0


def more_photos(lfw: Path, people: Sequence[Sequence[Path]], strangers: Sequence[Path],
                most: int) -> int:
    """Enrol 1..`most` photos of each person with more than `most` (like `greeter enroll`),
    identify the same remaining photos each time; at the default policy and at the policy
    that names 1 % of strangers."""
    chosen = [person for person in people if len(person) > most]
    probes = [photo for person in chosen for photo in person[most:]]
    truth = [index for index, person in enumerate(chosen) for _ in person[most:]]
    probe_vectors = largest_faces(lfw, probes)
    stranger_vectors = largest_faces(lfw, strangers)
    print(f"lfw-dev: {len(chosen)} people with {most + 1} photos or more, enrolled like "
          f"`greeter enroll`; {len(probes)} probe photos (photo {most + 1} on), "
          f"{len(strangers)} strangers\n")
    print(HEADER)
    defaults = Settings.load(environ={}).enrolment
    for count in range(1, most + 1):
        gallery, _ = enrol_like_the_cli([person[:count] for person in chosen], defaults)
        enrolled_trials = trials(gallery, probe_vectors, truth)
        stranger_trials = trials(gallery, stranger_vectors, [-1] * len(strangers))
        enrolled_count = sum(vector is not None for vector in gallery)
        label = f"{count} photo{'s' if count > 1 else ''}"
        print(line(f"{label}, default policy", default_policy(enrolled_count),
                   enrolled_trials, stranger_trials))
        print(line(f"{label}, 1 % strangers named", choose_policy(enrolled_trials,
                   stranger_trials, max_wrong=1.0), enrolled_trials, stranger_trials))
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
