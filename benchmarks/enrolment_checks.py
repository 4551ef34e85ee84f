"""Which enrolment photos make recognition worse: the measurements behind `EnrolmentSettings`.

On lfw-dev, enrols one photo of every person leniently (the largest face, no quality check),
identifies the people's other photos and the strangers with today's matching
(`greeter.recognition.matching.default_policy` for the gallery's size), and prints, bucket by
bucket of the enrolled photo's face size, sharpness and head turn:

* photos    - enrolled photos in the bucket
* correct   - their people's other photos given the right name
* own wrong - their people's other photos given somebody else's name
* named as them - other people's photos and strangers given the name of a person enrolled
  from a photo in this bucket (per 100 photos): where this rises, a limit must reject

Round 1 enrols photo 1 of each person; ``--rounds R`` pools R rounds, round k enrolling photo k
of each person who has one (photo 1 otherwise), for more photos per bucket.

Then, for the photos 1 with several faces, how often each rule picks the right person (the
face nearest that person's other photos): the largest face, the most central face, and
greeter's `subject_face` with today's settings (which may also refuse an ambiguous photo).

Faces come from `lfw_faces` (cached under /work/cache/). Usage:
python benchmarks/enrolment_checks.py [--lfw ../shared/faces/lfw-dev] [--rounds 4]
"""

import sys
from pathlib import Path
from typing import List, Sequence

import numpy as np
from lfw_faces import PhotoFaces, lfw_arguments, lfw_found, lfw_photos, photo_faces

from greeter.errors import FaceError
from greeter.people.enrolment import subject_face
from greeter.recognition.matching import Gallery, accepts, default_policy, nearest_two
from greeter.settings import Settings

SIZE_EDGES = [0, 50, 55, 60, 65, 70, 80, 10000]
SHARPNESS_EDGES = [0, 10, 15, 20, 30, 40, 60, 100, 1e9]
TURN_EDGES = [0, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 9]


def people_faces(lfw: Path):
    """The cached faces of every person's photos (sorted) and of the strangers' photos."""
    photos, strangers = lfw_photos(lfw)
    faces = photo_faces(lfw, [photo for person in photos for photo in person] + strangers)
    people: List[List[PhotoFaces]] = []
    for person in photos:
        people.append(faces[:len(person)])
        faces = faces[len(person):]
    return people, faces


def enrolled_photo_figures(people: Sequence[Sequence[PhotoFaces]],
                           strangers: Sequence[PhotoFaces], rounds: int) -> np.ndarray:
    """One row per enrolled photo: size, sharpness, turn, own probes, own correct, own wrong,
    others named as this person, strangers named as this person."""
    stranger_vectors = np.array([photo.faces[0].embedding for photo in strangers if photo.faces])
    rows = []
    for round_number in range(rounds):
        enrolled = [person[round_number % len(person)].faces[:1] for person in people]
        known = [index for index, faces in enumerate(enrolled) if faces]
        gallery = Gallery([str(index) for index in known],
                          np.array([enrolled[index][0].embedding for index in known]),
                          np.arange(len(known)))
        policy = default_policy(len(known))
        probes, truth = [], []
        for index, person in enumerate(people):
            for number, photo in enumerate(person):
                if number != round_number % len(person) and photo.faces:
                    probes.append(photo.faces[0].embedding)
                    truth.append(index)
        truth_array = np.array(truth)

        named, accepted = _identify(probes, gallery, known, policy)
        stranger_named, stranger_accepted = _identify(stranger_vectors, gallery, known, policy)
        count = len(people)
        own = np.bincount(truth_array, minlength=count)
        correct = np.bincount(truth_array[accepted & (named == truth_array)], minlength=count)
        wrong = accepted & (named != truth_array)
        own_wrong = np.bincount(truth_array[wrong], minlength=count)
        named_as = np.bincount(named[wrong], minlength=count)
        strangers_as = np.bincount(stranger_named[stranger_accepted], minlength=count)
        for index, person in enumerate(people):
            if round_number < len(person) and enrolled[index]:
                face = enrolled[index][0]
                rows.append((face.size, face.sharpness, face.turn, own[index], correct[index],
                             own_wrong[index], named_as[index], strangers_as[index]))
    return np.array(rows, float)


def _identify(vectors, gallery: Gallery, known: Sequence[int], policy):
    """Each face's nearest person (index into lfw's people) and whether it is named."""
    best, distance, second = nearest_two(gallery.person_distances(np.array(vectors)))
    return np.array(known)[best], accepts(policy, distance, second)


def print_buckets(figures: np.ndarray, column: int, label: str, edges: Sequence[float]) -> None:
    print(f"\n{label:>12} {'photos':>7} {'correct':>8} {'own wrong':>10} "
          f"{'named as them (others + strangers, per 100 photos)':>52}")
    values = figures[:, column]
    for low, high in zip(edges[:-1], edges[1:]):
        rows = figures[(values >= low) & (values < high)]
        if not len(rows):
            continue
        others, strangers = rows[:, 6].sum(), rows[:, 7].sum()
        print(f"{low:>5g}-{high:<6g} {len(rows):7d} {rows[:, 4].sum() / rows[:, 3].sum():8.1%} "
              f"{int(rows[:, 5].sum()):10d} {int(others):>20d} + {int(strangers):<4d} "
              f"= {(others + strangers) / len(rows) * 100:5.2f}")


def print_subject_rules(people: Sequence[Sequence[PhotoFaces]]) -> None:
    """How each rule picks among several faces on photo 1, against the right person."""
    enrolment = Settings.load(environ={}).enrolment
    picks = {"largest face": [0, 0, 0], "most central face": [0, 0, 0],
             "greeter subject_face": [0, 0, 0]}
    for person in people:
        first = person[0]
        others = [photo.faces[0].embedding for photo in person[1:] if photo.faces]
        if len(first.faces) < 2 or not others:
            continue
        distances = [np.linalg.norm(np.array(others) - face.embedding, axis=1).min()
                     for face in first.faces]
        right = int(np.argmin(distances))
        height, width = first.shape
        offsets = [np.hypot((face.box[1] + face.box[3]) / 2 - width / 2,
                            (face.box[0] + face.box[2]) / 2 - height / 2) for face in first.faces]
        chosen = {"largest face": 0, "most central face": int(np.argmin(offsets))}
        try:
            chosen["greeter subject_face"] = subject_face(
                [face.box for face in first.faces], first.shape, enrolment)
        except FaceError:
            chosen["greeter subject_face"] = None
        for rule, index in chosen.items():
            picks[rule][0 if index == right else 2 if index is None else 1] += 1
    total = sum(picks["largest face"])
    print(f"\nphotos 1 with several faces: {total}")
    print(f"{'rule':<22} {'right person':>12} {'wrong person':>12} {'refused':>8}")
    for rule, (right, wrong, refused) in picks.items():
        print(f"{rule:<22} {right:12d} {wrong:12d} {refused:8d}")


def main(argv=None) -> int:
    parser = lfw_arguments(__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1,
                        help="pool this many rounds, each enrolling another photo per person")
    args = parser.parse_args(argv)
    if not lfw_found(args.lfw):
        return 2
    people, strangers = people_faces(args.lfw)
    figures = enrolled_photo_figures(people, strangers, args.rounds)
    print(f"lfw-dev: {len(people)} people, {len(strangers)} strangers; {len(figures)} enrolled "
          f"photos in {args.rounds} round(s); correct, own wrong and named as them are counted "
          "over the identified photos")
    print_buckets(figures, 0, "face px", SIZE_EDGES)
    print_buckets(figures, 1, "sharpness", SHARPNESS_EDGES)
    print_buckets(figures, 2, "head turn", TURN_EDGES)
    print_subject_rules(people)
    return 0


if __name__ == "__main__":
    sys.exit(main())
