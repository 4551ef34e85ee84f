"""The live track rule on simulated tracks from lfw-dev: fits `default_track_policy` and prints
what it does beside today's rule (each frame through the still-photo policy, two agreeing
votes), at several gallery sizes.

For each size, `--galleries` random galleries enrol the first photo (with a face) of that many
``lfw-dev/people`` persons. Guest tracks are made of each enrolled person's *other* photos,
stranger tracks of ``strangers/`` photos (one photo repeated) and of people not enrolled (their
photos in turn); see `greeter.recognition.calibration`. For each size it prints the track policy
that `choose_track_policy` would pick (at most 1 % of stranger tracks named, 0.3 % wrong), then the
rates of the fitted default and of today's rule on the same tracks, with the share of stranger
tracks named by the default in the worst gallery (issue 23's stranger goal: over at least 10
galleries of 24 and of 300 people, <= 1 % on average and <= 3 % in every gallery: run with
``--sizes 24,300 --galleries 10``).

Embeddings of every lfw-dev photo are computed once and cached (`--cache`, ~15 min on 2 busy
cores).

Usage: python benchmarks/track_rule_lfw.py [--lfw ../shared/faces/lfw-dev]
       [--cache /work/cache/i10b/lfw_embeddings.npz] [--sizes 10,24,50,100,300,1000]
"""

import argparse
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np

from greeter.recognition.calibration import (
    THRESHOLD_GRID,
    TrackTrial,
    choose_track_policy,
    make_trial,
    track_frames,
    track_rates,
)
from greeter.recognition.faces import FaceEngine
from greeter.recognition.figures import SFACE, SFACE_SCALE, tracking_for
from greeter.recognition.imaging import load_rgb
from greeter.recognition.matching import (
    Gallery,
    MatchPolicy,
    accepts,
    default_policy,
    default_track_policy,
)
from greeter.recognition.votes import vote_weight
from greeter.settings import TrackingSettings

REPO = Path(__file__).resolve().parent.parent


def embed_lfw(lfw: Path, cache: Path) -> Dict[str, np.ndarray]:
    """Every photo's largest face as enrolment finds it: label (person folder, or "stranger"),
    embedding and vote weight. Cached in `cache`."""
    if cache.exists():
        return dict(np.load(cache))
    photos = sorted((lfw / "people").glob("*/*.jpg")) + sorted((lfw / "strangers").glob("*.jpg"))
    engine = FaceEngine()
    rows = []
    for photo in photos:
        boxes, faces = engine.faces_in_photo(load_rgb(photo), 1024, 1, limit=1)
        if faces:
            rows.append((str(photo), "stranger" if photo.parent.name == "strangers"
                         else photo.parent.name, faces[0]))
    data = {"path": np.array([row[0] for row in rows]), "label": np.array([row[1] for row in rows]),
            "embedding": np.array([row[2].embedding for row in rows], np.float32),
            "size": np.array([row[2].size for row in rows], float),
            "sharpness": np.array([row[2].sharpness for row in rows], float),
            "turn": np.array([row[2].turn for row in rows], float)}
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, **data)
    return data


def today_decides(trial: TrackTrial, people: int, settings: TrackingSettings) -> Optional[int]:
    """Today's rule (main before issue 10): each frame votes through the still-photo policy;
    a person needs 2 agreeing votes and a 0.66 majority, a stranger 3 votes, 8 at most."""
    policy = default_policy(people)
    nearest, distance = trial.vote_nearest, trial.vote_distance
    second = trial.vote_second
    accepted = accepts(policy, distance, second)
    counts: Dict[int, int] = {}
    for index in range(len(nearest)):
        vote = int(nearest[index]) if accepted[index] else -1
        counts[vote] = counts.get(vote, 0) + 1
        total = index + 1
        for candidate, count in counts.items():
            needed = 3 if candidate < 0 else 2
            if count >= needed and count >= 0.66 * total:
                return candidate
        if total >= settings.max_votes:
            return -1
    return None


def trials_for(data: Dict[str, np.ndarray], size: int, seed: int,
               settings: TrackingSettings) -> Tuple[List[TrackTrial], List[TrackTrial]]:
    labels = data["label"]
    embeddings = data["embedding"]
    weights = np.array([vote_weight(s, h, t) for s, h, t in
                        zip(data["size"], data["sharpness"], data["turn"])])
    people = sorted(set(labels) - {"stranger"})
    rows_of = {person: np.flatnonzero(labels == person) for person in people}
    rng = np.random.RandomState(seed)
    enrolled = sorted(rng.choice(len(people), size, replace=False))
    gallery = Gallery.from_rows((people[i], embeddings[rows_of[people[i]][0]]) for i in enrolled)
    guests, strangers = [], []
    for index in enrolled:
        others = rows_of[people[index]][1:]
        if len(others):
            guests.append(_trial(embeddings[others], weights[others], gallery, settings,
                                 gallery.person_ids.index(people[index])))
    chosen = set(enrolled)
    for index, person in enumerate(people):
        if index not in chosen:
            rows = rows_of[person]
            strangers.append(_trial(embeddings[rows], weights[rows], gallery, settings, -1))
    for row in np.flatnonzero(labels == "stranger"):
        strangers.append(_trial(embeddings[[row]], weights[[row]], gallery, settings, -1))
    return guests, strangers


def _trial(photos, weights, gallery, settings, truth) -> TrackTrial:
    frames, frame_weights = track_frames(photos, weights, settings.max_votes)
    return make_trial(frames, frame_weights, gallery.person_distances(frames), gallery, truth)


def with_sface_embeddings(data: Dict[str, np.ndarray], lfw: Path) -> Dict[str, np.ndarray]:
    """`data` with each photo's SFace embedding (YuNet's largest face, benchmarks/models.py's
    cache) in place of dlib's; photos without one are left out. The vote weights stay dlib's
    (face size, sharpness and turn of the same face)."""
    from models import sface_vectors

    vectors = sface_vectors(lfw, [Path(path) for path in data["path"]])
    keep = np.array([vector is not None for vector in vectors])
    chosen = {key: values[keep] for key, values in data.items()}
    chosen["embedding"] = np.array([v for v in vectors if v is not None], np.float32)
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lfw", type=Path, default=REPO.parent / "shared" / "faces" / "lfw-dev")
    parser.add_argument("--cache", type=Path,
                        default=Path("/work/cache/i10b/lfw_embeddings.npz"))
    parser.add_argument("--sizes", default="10,24,50,100,300,1000")
    parser.add_argument("--galleries", type=int, default=3)
    parser.add_argument("--model", choices=("dlib", "sface"), default="dlib",
                        help="sface: SFace's embeddings and the track rule's distances "
                        "(greeter.recognition.figures), thresholds searched scaled by "
                        "SFACE_SCALE; the median of the galleries' fits is measured")
    parser.add_argument("--policy", help="THRESHOLD,RATIO: measure this track policy instead "
                        "of the default (dlib) or the galleries' fit (sface)")
    args = parser.parse_args()
    data = embed_lfw(args.lfw, args.cache)
    settings = TrackingSettings()
    thresholds = THRESHOLD_GRID
    if args.model == "sface":  # SFace's distances (greeter/recognition/figures.py)
        data = with_sface_embeddings(data, args.lfw)
        settings = tracking_for(settings, SFACE)
        thresholds = np.round(SFACE_SCALE * THRESHOLD_GRID, 3)
    print(f"{'people':>7} {'fit thr':>8} {'ratio':>6} | {'default':>8} "
          f"{'correct':>8} {'wrong':>7} {'strangers':>9} {'worst':>6} | today: {'correct':>8} "
          f"{'wrong':>7} {'strangers':>9}  (tracks)")
    for size in [int(value) for value in args.sizes.split(",")]:
        trials = [trials_for(data, size, seed, settings) for seed in range(args.galleries)]
        fitted = [choose_track_policy(guests, strangers, settings, thresholds=thresholds)
                  for guests, strangers in trials]
        threshold = float(np.median([policy.threshold for policy in fitted]))
        ratio = float(np.median([policy.ratio for policy in fitted]))
        # SFace has no default yet: the median of the galleries' fits stands in for one
        policy = (default_track_policy(size) if args.model == "dlib"
                  else MatchPolicy(threshold, ratio))
        if args.policy:
            policy = MatchPolicy(*(float(value) for value in args.policy.split(",")))
        new, old = [], []
        for guests, strangers in trials:
            measured = track_rates(guests, strangers, policy, settings)
            new.append((measured.correct, measured.wrong_name, measured.strangers_named))
            if args.model == "dlib":
                today = [today_decides(trial, size, settings) for trial in guests]
                today_strangers = [today_decides(trial, size, settings) for trial in strangers]
                old.append((
                    np.mean([o == t.truth for o, t in zip(today, guests)]),
                    np.mean([o is not None and o >= 0 and o != t.truth
                             for o, t in zip(today, guests)]),
                    np.mean([o is not None and o >= 0 for o in today_strangers])))
        new_mean = np.mean(new, axis=0)
        today_text = ("today: " + " ".join(f"{value:>8.2%}" for value in np.mean(old, axis=0))
                      if old else "")
        print(f"{size:>7} {threshold:>8.3f} {ratio:>6.2f} | {policy.threshold:>8.3f} "
              f"{new_mean[0]:>8.1%} {new_mean[1]:>7.2%} {new_mean[2]:>9.2%} "
              f"{max(n[2] for n in new):>6.2%} | {today_text}  ({len(trials[0][0])} guests, "
              f"{len(trials[0][1])} strangers)", flush=True)

if __name__ == "__main__":
    main()
