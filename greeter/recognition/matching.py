"""Open-set matching of face embeddings against the enrolled people. Pure: numpy in, values out.

A face is named only when both tests pass:

* **threshold** - its distance to the nearest enrolled person is at most `threshold`;
* **ratio test** - that distance divided by the distance to the nearest *other* person is at
  most `ratio` (Lowe's test). A stranger tends to sit at similar distances from several
  people; an enrolled guest sits clearly nearer to one. With a single enrolled person there is
  no other person and only the threshold applies.

Several photos of one person count as one person: a person's distance is the smallest
distance to any of their embeddings, so a third photo of Alex never becomes Alex's own
"second best".

The default policy depends on how many people are enrolled (`default_policy`): a stranger's
chance of landing near *somebody* grows with the number of people, so the threshold that keeps
strangers unnamed must fall as the gallery grows. It was fitted on ``lfw-dev`` (one photo
enrolled per person; the people's other photos and 600 strangers as probes; 8 random
galleries per size) to name at most 1 % of strangers at every size. With
``0.56 - 0.035 * log10(people)`` and ratio 0.83:

    people enrolled               1      10      50     200    1,184
    threshold                  0.56   0.525   0.50    0.48    0.45
    guests named correctly     100 %    95 %    80 %    75 %    60 %
    guests named wrongly         0 %     0 %     0 %  0.05 %  0.17 %
    strangers named           0.58 %  0.65 %  0.88 %  0.46 %  0.67 %

Without the ratio test the best threshold at 1,184 people names only 34 % correctly (at 1 %
strangers). `greeter calibrate` fits both figures to an event's own people instead: on all of
lfw-dev it reaches 67.5 % correct at 1 % strangers (`benchmarks/openset_lfw.py --calibrate`).
"""

from dataclasses import dataclass
from typing import Collection, Iterable, List, Optional, Sequence, Tuple

import numpy as np

EMBEDDING_SIZE = 128


@dataclass(frozen=True)
class MatchPolicy:
    """When a nearest person is accepted as the face's identity."""

    threshold: float
    ratio: float


#: See the module docstring for the measurements behind these figures.
DEFAULT_RATIO = 0.83
MAX_DEFAULT_THRESHOLD = 0.56
THRESHOLD_DROP_PER_DECADE = 0.035
MIN_DEFAULT_THRESHOLD = 0.40


def default_policy(people: int) -> MatchPolicy:
    """The uncalibrated policy for a gallery of `people` enrolled people."""
    threshold = MAX_DEFAULT_THRESHOLD - THRESHOLD_DROP_PER_DECADE * np.log10(max(people, 1))
    return MatchPolicy(threshold=round(float(max(threshold, MIN_DEFAULT_THRESHOLD)), 3),
                       ratio=DEFAULT_RATIO)


#: The track policy: what a live track's average embedding must pass (greeter.recognition.votes).
#: See greeter/recognition/calibration.py for the measurements behind these figures.
DEFAULT_TRACK_RATIO = 0.81
MAX_DEFAULT_TRACK_THRESHOLD = 0.54
TRACK_THRESHOLD_DROP_PER_DECADE = 0.02


def default_track_policy(people: int) -> MatchPolicy:
    """The uncalibrated track policy for a gallery of `people` enrolled people."""
    threshold = (MAX_DEFAULT_TRACK_THRESHOLD
                 - TRACK_THRESHOLD_DROP_PER_DECADE * np.log10(max(people, 1)))
    return MatchPolicy(threshold=round(float(max(threshold, MIN_DEFAULT_THRESHOLD)), 3),
                       ratio=DEFAULT_TRACK_RATIO)


@dataclass(frozen=True)
class Match:
    """The outcome for one face.

    `candidate` is the nearest enrolled person whatever the outcome; `person` is set only when
    the candidate was accepted. Distances are ``inf`` when there is nobody to compare with.
    """

    person: Optional[str]
    candidate: Optional[str]
    distance: float
    second_distance: float

    @property
    def accepted(self) -> bool:
        return self.person is not None

    @property
    def ratio(self) -> float:
        """Best over second-best distance; 0 when there is no second person."""
        if not np.isfinite(self.second_distance) or self.second_distance <= 0:
            return 0.0
        return self.distance / self.second_distance


class Gallery:
    """The enrolled embeddings as one matrix, rows grouped by person.

    Build it with `Gallery.from_rows`; it is immutable and cheap to share between threads.
    """

    def __init__(self, person_ids: Sequence[str], matrix: np.ndarray, row_person: np.ndarray):
        self.person_ids: Tuple[str, ...] = tuple(person_ids)
        self.matrix = np.ascontiguousarray(matrix, dtype=np.float32).reshape(-1, EMBEDDING_SIZE)
        self.row_person = np.asarray(row_person, dtype=np.int64)
        self._group_starts = np.flatnonzero(np.r_[True, np.diff(self.row_person) != 0])

    @classmethod
    def from_rows(cls, rows: Iterable[Tuple[str, np.ndarray]]) -> "Gallery":
        """From ``(person_id, embedding)`` pairs in any order."""
        ordered = sorted(rows, key=lambda row: row[0])
        person_ids: List[str] = []
        row_person: List[int] = []
        for person_id, _ in ordered:
            if not person_ids or person_ids[-1] != person_id:
                person_ids.append(person_id)
            row_person.append(len(person_ids) - 1)
        matrix = np.array([vector for _, vector in ordered], dtype=np.float32)
        return cls(person_ids, matrix.reshape(-1, EMBEDDING_SIZE), np.array(row_person))

    @classmethod
    def empty(cls) -> "Gallery":
        return cls((), np.zeros((0, EMBEDDING_SIZE), np.float32), np.zeros(0, np.int64))

    def changed(self, people: Collection[str],
                rows: Sequence[Tuple[str, np.ndarray]]) -> "Gallery":
        """This gallery with every row of `people` taken away and `rows` added (a new
        gallery): how a robot applies another machine's enrolment or erasure without reading
        the whole store again. Costs one copy of the matrix and a sort of its row labels
        (10,000 people with 2 photos each: see benchmarks/shared_store.py)."""
        changing = set(people)
        dropped = np.array([person in changing for person in self.person_ids], dtype=bool)
        kept = ~dropped[self.row_person] if len(self.row_person) else np.zeros(0, bool)
        labels = np.concatenate([
            np.array(self.person_ids, dtype=object)[self.row_person[kept]]
            if kept.any() else np.zeros(0, object),
            np.array([person for person, _ in rows], dtype=object)])
        matrix = np.concatenate([
            self.matrix[kept],
            np.array([vector for _, vector in rows], np.float32).reshape(-1, EMBEDDING_SIZE)])
        if not len(labels):
            return Gallery.empty()
        order = np.argsort(labels, kind="stable")
        person_ids, row_person = np.unique(labels[order], return_inverse=True)
        return Gallery(list(person_ids), matrix[order], row_person.reshape(-1))

    def __len__(self) -> int:
        """Number of people (not embeddings)."""
        return len(self.person_ids)

    def row_distances(self, embeddings: np.ndarray) -> np.ndarray:
        """Euclidean distance from each embedding ``(M, 128)`` to each stored row: ``(M, rows)``."""
        probes = np.asarray(embeddings, dtype=np.float32).reshape(-1, EMBEDDING_SIZE)
        squared = (
            np.einsum("ij,ij->i", probes, probes)[:, None]
            + np.einsum("ij,ij->i", self.matrix, self.matrix)[None, :]
            - 2.0 * probes @ self.matrix.T
        )
        return np.sqrt(np.maximum(squared, 0.0))

    def per_person(self, row_distances: np.ndarray) -> np.ndarray:
        """Row distances ``(M, rows)`` reduced to each person's nearest row: ``(M, people)``."""
        if not len(self.person_ids):
            return np.zeros((len(row_distances), 0), np.float32)
        return np.minimum.reduceat(row_distances, self._group_starts, axis=1)

    def person_distances(self, embeddings: np.ndarray) -> np.ndarray:
        """Distance from each embedding ``(M, 128)`` to each person: ``(M, people)``."""
        return self.per_person(self.row_distances(embeddings))


def nearest_two(person_distances: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each row: index of the nearest person, its distance, distance of the next person."""
    rows, people = person_distances.shape
    if people == 0:
        infinite = np.full(rows, np.inf)
        return np.full(rows, -1), infinite, infinite
    if people == 1:
        return np.zeros(rows, np.int64), person_distances[:, 0].astype(float), np.full(rows, np.inf)
    two = np.argpartition(person_distances, 1, axis=1)[:, :2]
    pair = np.take_along_axis(person_distances, two, axis=1)
    swap = pair[:, 1] < pair[:, 0]
    best = np.where(swap, two[:, 1], two[:, 0])
    return best, np.min(pair, axis=1).astype(float), np.max(pair, axis=1).astype(float)


def accepts(policy: MatchPolicy, distance, second_distance):
    """Vectorised acceptance rule: threshold and ratio test (no second person: threshold only)."""
    distance = np.asarray(distance, dtype=float)
    second = np.asarray(second_distance, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio_ok = np.where(np.isfinite(second), distance <= policy.ratio * second, True)
    return (distance <= policy.threshold) & ratio_ok


def match_faces(embeddings: np.ndarray, gallery: Gallery, policy: MatchPolicy) -> List[Match]:
    """Match the faces seen together in one image.

    One person cannot stand twice in the same picture: when two faces accept the same person,
    the nearer keeps the name and the other is treated as a stranger. This costs nothing for
    honest frames and turns a look-alike in the crowd into "Welcome Stranger!" rather than a
    second "Welcome back, Alex!".
    """
    distances = gallery.person_distances(embeddings)
    best, best_distance, second_distance = nearest_two(distances)
    accepted = accepts(policy, best_distance, second_distance)
    taken = set()
    matches: List[Optional[Match]] = [None] * len(best)
    for index in np.argsort(best_distance, kind="stable"):
        candidate = gallery.person_ids[best[index]] if best[index] >= 0 else None
        keep = bool(accepted[index]) and candidate not in taken
        if keep:
            taken.add(candidate)
        matches[index] = Match(
            person=candidate if keep else None,
            candidate=candidate,
            distance=float(best_distance[index]),
            second_distance=float(second_distance[index]),
        )
    return [match for match in matches if match is not None]


def match_one(embedding: np.ndarray, gallery: Gallery, policy: MatchPolicy) -> Match:
    """Match a single face."""
    return match_faces(np.asarray(embedding).reshape(1, -1), gallery, policy)[0]


# --- calibration -------------------------------------------------------------------------


@dataclass(frozen=True)
class Trials:
    """Match outcomes of labelled probes, as arrays of equal length.

    For probes of enrolled people `correct` says whether the nearest person is the right one;
    for strangers it is all False (any name is wrong).
    """

    distance: np.ndarray
    second_distance: np.ndarray
    correct: np.ndarray

    @classmethod
    def from_distances(cls, person_distances: np.ndarray, truth: Sequence[int]) -> "Trials":
        """From a ``(probes, people)`` distance matrix and each probe's person index
        (-1 for a stranger)."""
        best, best_distance, second = nearest_two(person_distances)
        correct = (np.asarray(truth) >= 0) & (best == np.asarray(truth))
        return cls(best_distance, second, correct)


@dataclass(frozen=True)
class Rates:
    """What a policy does: fractions of enrolled probes named correctly or wrongly, and of
    strangers given a name."""

    correct: float
    wrong_name: float
    strangers_named: float


def rates(policy: MatchPolicy, enrolled: Trials, strangers: Trials) -> Rates:
    named = accepts(policy, enrolled.distance, enrolled.second_distance)
    strangers_named = accepts(policy, strangers.distance, strangers.second_distance)
    return Rates(
        correct=float(np.mean(named & enrolled.correct)) if len(named) else 0.0,
        wrong_name=float(np.mean(named & ~enrolled.correct)) if len(named) else 0.0,
        strangers_named=float(np.mean(strangers_named)) if len(strangers_named) else 0.0,
    )


#: Ratios searched by `choose_policy`; 1.0 switches the ratio test off.
RATIO_GRID = np.round(np.arange(0.60, 1.0001, 0.01), 2)
#: No threshold above this is ever chosen, however few strangers a calibration set has.
MAX_THRESHOLD = 0.6


def choose_policy(
    enrolled: Trials,
    strangers: Trials,
    target_far: float = 0.01,
    max_wrong: float = 0.003,
    max_threshold: float = MAX_THRESHOLD,
) -> MatchPolicy:
    """The policy that names the most enrolled probes correctly while naming at most
    `target_far` of the strangers and giving at most `max_wrong` of the enrolled probes
    somebody else's name, with a threshold of at most `max_threshold` (the model's).

    For each ratio in `RATIO_GRID` the threshold is the largest one that stays within both
    limits; the ratio with the highest correct rate wins (ties: the stricter ratio).
    """
    best_policy, best_correct = MatchPolicy(threshold=0.0, ratio=float(RATIO_GRID[0])), -1.0
    for ratio in RATIO_GRID:
        ratio = float(ratio)
        open_gate = MatchPolicy(threshold=np.inf, ratio=ratio)
        strangers_passing = accepts(open_gate, strangers.distance, strangers.second_distance)
        wrong_passing = ~enrolled.correct & accepts(open_gate, enrolled.distance,
                                                    enrolled.second_distance)
        threshold = min(
            max_threshold,
            _largest_threshold(strangers.distance[strangers_passing],
                               int(target_far * len(strangers.distance))),
            _largest_threshold(enrolled.distance[wrong_passing],
                               int(max_wrong * len(enrolled.distance))),
        )
        policy = MatchPolicy(threshold=round(threshold, 4), ratio=ratio)
        correct = rates(policy, enrolled, strangers).correct
        if correct > best_correct + 1e-12:
            best_policy, best_correct = policy, correct
    return best_policy


def _largest_threshold(passing_distances: np.ndarray, allowed: int) -> float:
    """Largest threshold under which at most `allowed` of these distances are accepted."""
    ordered = np.sort(passing_distances)
    if len(ordered) <= allowed:
        return np.inf
    # Just below the (allowed+1)-th smallest distance; floor to 4 decimals keeps it below.
    return float(np.floor(ordered[allowed] * 10000 - 1e-6) / 10000)


def leave_one_out_trials(gallery: Gallery) -> Trials:
    """Each embedding of a person with 2+ embeddings, matched against the gallery without it."""
    counts = np.bincount(gallery.row_person, minlength=len(gallery.person_ids))
    probes = np.flatnonzero(counts[gallery.row_person] >= 2)
    distances = gallery.row_distances(gallery.matrix[probes])
    distances[np.arange(len(probes)), probes] = np.inf
    return Trials.from_distances(gallery.per_person(distances), gallery.row_person[probes])
