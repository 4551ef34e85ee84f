"""The two face models side by side on the same photos in one run: dlib (HOG, 5 points,
ResNet, each face with its mirror image: greeter's `FaceEngine`) and SFace (YuNet, 5 points,
SFace int8: `greeter.recognition.sface`).

* **lfw-dev open set** (issue 23's protocol, with more strangers): photo 1 of every other
  person enrolled (592 of lfw-dev's 1,184), their other photos as guests; the other people's
  photos and the 600 single-photo strangers as strangers (2,700 photos, so that 0.1 % of
  them is a few photos); plain nearest neighbour, the threshold set so that 1 % (then 0.1 %)
  of the strangers' photos are named. Printed: the
  share of guests' photos named correctly, named wrongly, and not named (no face found counts
  as not named). Caveat: SFace's training data may hold LFW people (dlib's excludes them).
* **SFace behind dlib's detector**: the same, SFace embedding the face dlib's HOG found
  (YuNet finds its landmarks in a crop around the box), as it would behind greeter's loop.
* **Not LFW**: face_recognition's sample photos (16 distinct photos of 6 people: Obama,
  Biden, Alex Lacamoire, Lin-Manuel Miranda, Kit Harington, Rose Leslie): every pair, and
  whether it is within the model's 1 %-strangers threshold (same person: must be; different:
  must not), with the farthest same-person and the nearest different-people pair as a multiple
  of the threshold.
* **Time** on one core (``OPENBLAS_NUM_THREADS=1``, ``cv2.setNumThreads(1)``): detection on a
  640x480 frame, and embedding one face, medians of `--runs`.

Usage: python benchmarks/models.py [--lfw ../shared/faces/lfw-dev] [--samples DIR]
       [--limit N] [--runs 30]
"""

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # one core, as the timings say

import pickle  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Dict, List, Optional, Sequence, Tuple  # noqa: E402

import numpy as np  # noqa: E402
from lfw_faces import DEFAULT_CACHE, lfw_arguments, lfw_found, lfw_photos, photo_faces  # noqa: E402

from greeter.recognition.imaging import load_rgb  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SFACE_CACHE = DEFAULT_CACHE.parent / "sface_faces.pickle"
SHARES = (0.01, 0.001)


# -- embeddings ---------------------------------------------------------------------------------


def dlib_vectors(lfw: Path, photos: Sequence[Path]) -> List[Optional[np.ndarray]]:
    """greeter's dlib embedding of each photo's largest face (lfw_faces' cache)."""
    return [faces.faces[0].embedding if faces.faces else None
            for faces in photo_faces(lfw, photos)]


_sface = None


def _sface_one(path: Path) -> Optional[np.ndarray]:
    global _sface
    from greeter.recognition.faces import box_area
    from greeter.recognition.sface import SFaceEngine

    _sface = _sface or SFaceEngine()
    rgb = load_rgb(path)
    detections = _sface.detect(rgb)
    if not detections:
        return None
    largest = max(detections, key=lambda d: box_area(d.box))
    return _sface.embed(rgb, [largest])[0]


def sface_vectors(lfw: Path, photos: Sequence[Path]) -> List[Optional[np.ndarray]]:
    """SFace's embedding of each photo's largest face, cached beside lfw_faces' cache."""
    known: Dict[str, Optional[np.ndarray]] = {}
    if SFACE_CACHE.is_file():
        known = pickle.loads(SFACE_CACHE.read_bytes())
    keys = [str(Path(photo).relative_to(lfw)) for photo in photos]
    missing = [photo for photo, key in zip(photos, keys) if key not in known]
    if missing:
        with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
            for photo, vector in zip(missing, pool.map(_sface_one, missing, chunksize=16)):
                known[str(Path(photo).relative_to(lfw))] = vector
        SFACE_CACHE.parent.mkdir(parents=True, exist_ok=True)
        SFACE_CACHE.write_bytes(pickle.dumps(known))
    return [known[key] for key in keys]


def _sface_on_box(job: Tuple[Path, Optional[tuple]]) -> Optional[np.ndarray]:
    global _sface
    from greeter.recognition.sface import SFaceEngine

    path, box = job
    if box is None:
        return None
    _sface = _sface or SFaceEngine()
    return _sface.embed_boxes(load_rgb(path), [box])[0]


def sface_on_dlib_boxes(lfw: Path, photos: Sequence[Path]) -> List[Optional[np.ndarray]]:
    """SFace's embedding of the face dlib's HOG found (its largest), landmarks from YuNet in a
    crop around the box (`SFaceEngine.embed_boxes`): how SFace would sit behind greeter's own
    detection. Not cached: 3 minutes on 2 cores."""
    boxes = [faces.faces[0].box if faces.faces else None for faces in photo_faces(lfw, photos)]
    with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        return list(pool.map(_sface_on_box, zip(photos, boxes), chunksize=16))


# -- open set -----------------------------------------------------------------------------------


def open_set(gallery: Sequence[Optional[np.ndarray]], probes: Sequence[Tuple[int, np.ndarray]],
             strangers: Sequence[Optional[np.ndarray]], missed_probes: int) -> Dict[str, float]:
    """Nearest neighbour over the enrolled vectors; per stranger share in `SHARES`, the shares
    of probes named correctly and wrongly (of all probes, `missed_probes` without a face)."""
    enrolled = [(index, vector) for index, vector in enumerate(gallery) if vector is not None]
    owners = np.array([index for index, _ in enrolled])
    matrix = np.stack([vector for _, vector in enrolled])

    def nearest(vector: np.ndarray) -> Tuple[int, float]:
        distances = np.linalg.norm(matrix - vector, axis=1)
        best = int(np.argmin(distances))
        return int(owners[best]), float(distances[best])

    stranger_distances = np.sort([nearest(v)[1] for v in strangers if v is not None])
    probe_results = [(person, *nearest(vector)) for person, vector in probes]
    total = len(probes) + missed_probes
    figures = {}
    for share in SHARES:
        # the largest threshold naming at most `share` of the strangers (those without a face
        # are never named, and count)
        allowed = int(share * len(strangers))
        threshold = stranger_distances[allowed] - 1e-9 if allowed < len(stranger_distances) \
            else float("inf")
        correct = sum(1 for person, owner, d in probe_results if d <= threshold and owner == person)
        wrong = sum(1 for person, owner, d in probe_results if d <= threshold and owner != person)
        figures[f"threshold@{share}"] = threshold
        figures[f"correct@{share}"] = correct / total
        figures[f"wrong@{share}"] = wrong / total
    return figures


def lfw_open_set(lfw: Path, limit: int) -> Dict[str, Dict[str, float]]:
    people, singles = lfw_photos(lfw, limit)
    people = [photos for photos in people if len(photos) >= 2]
    # every other person is enrolled; the others' photos join the single-photo strangers, so
    # that 0.1 % of strangers is a few photos, not a fraction of one
    enrolled, outsiders = people[::2], people[1::2]
    strangers = [photo for photos in outsiders for photo in photos] + list(singles)
    gallery_photos = [photos[0] for photos in enrolled]
    probe_photos = [(index, photo) for index, photos in enumerate(enrolled)
                    for photo in photos[1:]]
    every = gallery_photos + [photo for _, photo in probe_photos] + list(strangers)
    results = {}
    for model, vectors_of in (("dlib", dlib_vectors), ("sface", sface_vectors),
                              ("sface on HOG boxes", sface_on_dlib_boxes)):
        vectors = vectors_of(lfw, every)
        gallery = vectors[:len(gallery_photos)]
        probe_vectors = vectors[len(gallery_photos):len(gallery_photos) + len(probe_photos)]
        probes = [(person, vector) for (person, _), vector in zip(probe_photos, probe_vectors)
                  if vector is not None]
        figures = open_set(gallery, probes, vectors[-len(strangers):],
                           missed_probes=len(probe_photos) - len(probes))
        figures["no face"] = sum(v is None for v in vectors) / len(vectors)
        results[model] = figures
    print(f"lfw-dev open set: {len(gallery_photos)} people enrolled with one photo, "
          f"{len(probe_photos)} guests' photos, {len(strangers)} strangers' photos "
          f"({len(outsiders)} people not enrolled, {len(singles)} single-photo strangers)")
    for share in SHARES:
        print(f"  {100 * share:g} % of strangers named:")
        for model, figures in results.items():
            print(f"    {model:<18} correct {100 * figures[f'correct@{share}']:5.1f} %  wrong "
                  f"{100 * figures[f'wrong@{share}']:5.2f} %  (distance <= "
                  f"{figures[f'threshold@{share}']:.3f})")
    for model, figures in results.items():
        print(f"  {model}: no face found in {100 * figures['no face']:.1f} % of the photos")
    return results


# -- not LFW ------------------------------------------------------------------------------------

#: face_recognition's sample photos, by person: each distinct photo once (the samples hold some
#: twice, and Obama's 240p to 1080p and small photos are one picture resized: 480p stands for
#: them), only photos of one person (not the two-person ones, the partial faces or the RGBA copy).
SAMPLE_PHOTOS = {
    "obama": ["obama.jpg", "obama2.jpg", "obama-480p.jpg", "edge/obama3.jpg",
              "knn/test/obama1.jpg"],
    "biden": ["biden.jpg", "knn/train/biden/biden2.jpg"],
    "alex lacamoire": ["alex-lacamoire.png", "knn/train/alex_lacamoire/img1.jpg",
                       "knn/test/alex_lacamoire1.jpg"],
    "lin-manuel miranda": ["lin-manuel-miranda.png"],
    "kit harington": ["knn/train/kit_harington/john1.jpeg", "knn/train/kit_harington/john2.jpeg",
                      "knn/test/johnsnow_test1.jpg"],
    "rose leslie": ["knn/train/rose_leslie/img1.jpg", "knn/train/rose_leslie/img2.jpg"],
}


def samples_check(samples: Path, thresholds: Dict[str, float]) -> None:
    """Every pair of the sample photos (16 photos of 6 people: 18 same-person pairs, 102
    different-people pairs): is it within the model's 1 %-strangers threshold (same person:
    must be; different people: must not)? The largest face HOG finds in each photo, embedded
    by each model as enrolment does (SFace finding its landmarks in a crop around the box)."""
    from greeter.recognition.faces import FaceEngine, box_area
    from greeter.recognition.sface import SFaceEngine, face_crop

    dlib_engine, sface_engine = FaceEngine(), SFaceEngine()

    def largest_box(rgb):
        return max(dlib_engine.detect_in_photo(rgb, 1024, 1), key=box_area, default=None)

    def dlib_vector(rgb):
        box = largest_box(rgb)
        return dlib_engine.faces(rgb, [box])[0].embedding if box else None

    def sface_vector(rgb):  # as enrolment embeds it: on the face dlib's HOG found
        box = largest_box(rgb)
        return sface_engine.embed_crop(face_crop(rgb, box)) if box else None

    photos = [(person, name) for person, names in SAMPLE_PHOTOS.items() for name in names]
    pictures = {name: load_rgb(samples / name) for _, name in photos}
    pairs = [(first, second) for number, first in enumerate(photos)
             for second in photos[number + 1:]]
    print(f"not LFW (face_recognition's samples, {len(photos)} photos of "
          f"{len(SAMPLE_PHOTOS)} people): pairs within the 1 % threshold")
    for model, embed in (("dlib", dlib_vector), ("sface", sface_vector)):
        vectors = {name: embed(rgb) for name, rgb in pictures.items()}
        counts = {True: [0, 0], False: [0, 0]}  # same person? -> [right, pairs]
        worst = {True: 0.0, False: float("inf")}
        missed = sorted(name for name, vector in vectors.items() if vector is None)
        for (person_a, a), (person_b, b) in pairs:
            if vectors[a] is None or vectors[b] is None:
                continue
            same = person_a == person_b
            distance = float(np.linalg.norm(vectors[a] - vectors[b])) / thresholds[model]
            counts[same][0] += (distance <= 1.0) == same
            counts[same][1] += 1
            worst[same] = max(worst[same], distance) if same else min(worst[same], distance)
        print(f"  {model:<6} same person within: {counts[True][0]}/{counts[True][1]} (farthest "
              f"{worst[True]:.2f}x the threshold), different people beyond: "
              f"{counts[False][0]}/{counts[False][1]} (nearest {worst[False]:.2f}x)"
              + (f", no face in {', '.join(missed)}" if missed else ""))


# -- time ---------------------------------------------------------------------------------------


def timings(samples: Path, runs: int) -> None:
    import cv2

    from greeter.recognition.faces import FaceEngine
    from greeter.recognition.sface import SFaceEngine

    cv2.setNumThreads(1)
    photo = load_rgb(samples / "obama-480p.jpg")  # 854x480: the middle 640 columns
    left = (photo.shape[1] - 640) // 2
    frame = np.ascontiguousarray(photo[:480, left:left + 640])
    dlib_engine, sface_engine = FaceEngine(), SFaceEngine()

    def median_ms(work) -> float:
        work()
        spans = []
        for _ in range(runs):
            started = time.perf_counter()
            work()
            spans.append(time.perf_counter() - started)
        return 1000 * statistics.median(spans)

    boxes = dlib_engine.detect(frame)
    detections = sface_engine.detect(frame)
    assert boxes and detections, "the test frame must show a face to both models"
    print(f"one core, medians of {runs}: detection on 640x480 / embedding one face")
    print(f"  dlib   {median_ms(lambda: dlib_engine.detect(frame)):6.1f} ms / "
          f"{median_ms(lambda: dlib_engine.faces(frame, boxes[:1])):6.1f} ms (with its mirror)")
    print(f"  sface  {median_ms(lambda: sface_engine.detect(frame)):6.1f} ms / "
          f"{median_ms(lambda: sface_engine.embed(frame, detections[:1])):6.1f} ms")


def main() -> int:
    parser = lfw_arguments(__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=Path, default=REPO.parent / "shared/faces/samples")
    parser.add_argument("--limit", type=int, default=0, help="first N people only")
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    if not lfw_found(args.lfw):
        return 1
    results = lfw_open_set(args.lfw, args.limit)
    samples_check(args.samples, {"dlib": results["dlib"]["threshold@0.01"],
                                 "sface": results["sface on HOG boxes"]["threshold@0.01"]})
    timings(args.samples, args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
