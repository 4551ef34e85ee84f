"""Following faces between detections, and settling who each face is from its votes. Pure: no
camera, no dlib, no clock of its own (times are passed in, in seconds).

Detection finds boxes; embedding a face costs far more than detecting it, and a single frame
can be blurred, half turned or badly lit. So each face seen over several detections becomes
one **track** (matched by box overlap, or by centre distance for a quick step sideways), and
the app embeds a track's face only while its identity is unsettled, at most
`embeddings_per_second` times a second. Each embedding casts a **vote**: the nearest enrolled
person, the embedding itself and how much it counts (`vote_weight`: a large, sharp, frontal
face counts fully, a small, soft or turned one less).

The decision is taken on the **track**, not the frame (`settle`). A guest seen on several
frames gives stronger evidence than one still photo: the votes' quality-weighted **average
embedding** lies nearer the guest's enrolled photo than most single frames do, while a
stranger's average stays as far from everybody as the stranger is. The average is matched with
the *track policy* (threshold and ratio test, `greeter.recognition.matching.default_track_policy`,
fitted
on simulated tracks so that at most 1 % of stranger *tracks* are named at every gallery size),
and the track is settled

* as a person once the average is accepted as that person and at least `person_votes` votes
  (2 or more) back them: that person is the vote's nearest, within the track threshold plus
  `frame_margin` (the per-frame threshold), and the backing votes hold at least `majority` of
  the votes' weight. A single embedding can never name a track, however near it is, and one
  bad frame among good ones neither makes another person nor drags the average onto them;
* as a stranger once at least `stranger_votes` votes are in and the average is clearly
  nobody (farther than the track threshold plus `stranger_margin`), or once `person_votes`
  are in, as soon as a guest would be named, when it is far from everybody (farther than the
  threshold plus `far_stranger_margin`): a stranger waits no longer than a guest;
* as a stranger after `max_votes` votes without a name: the default greeting is never a wrong
  name.

A settled track is never embedded again and keeps its identity until it ends.
"""

from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from greeter.recognition.faces import Box, box_area
from greeter.settings import TrackingSettings


def iou(first: Box, second: Box) -> float:
    """Intersection over union of two ``(top, right, bottom, left)`` boxes, 0 to 1."""
    top, right = max(first[0], second[0]), min(first[1], second[1])
    bottom, left = min(first[2], second[2]), max(first[3], second[3])
    intersection = max(0, right - left) * max(0, bottom - top)
    union = box_area(first) + box_area(second) - intersection
    return intersection / union if union > 0 else 0.0


def centre_shift(previous: Box, current: Box) -> float:
    """How far the box's centre moved, in widths of the `previous` box."""
    width = max(1, previous[1] - previous[3])
    dx = (current[1] + current[3] - previous[1] - previous[3]) / 2.0
    dy = (current[0] + current[2] - previous[0] - previous[2]) / 2.0
    return (dx * dx + dy * dy) ** 0.5 / width


@dataclass(frozen=True)
class Vote:
    """One embedding of a track's face: the nearest enrolled person (None when nobody is
    enrolled) and the distance to them, the embedding, and its weight in the track's average
    and majority (`vote_weight`)."""

    person: Optional[str]
    distance: float
    embedding: np.ndarray
    weight: float = 1.0


@dataclass(frozen=True)
class MeanMatch:
    """What a track's average embedding matched under the track policy: the accepted person
    (None: nobody), the distance to the nearest person, and the policy's threshold, which
    tells "nearly somebody" from "clearly nobody"."""

    person: Optional[str]
    distance: float
    threshold: float


#: Matches a track's average embedding ``(128,)`` against the gallery (the recogniser's).
MeanJudge = Callable[[np.ndarray], MeanMatch]

#: A face of `MIN_SIZE` px or less counts `MIN_WEIGHT`, one of `FULL_SIZE` px or more fully:
#: dlib's embedding is trained on ~100 px faces and degrades below ~50 px.
MIN_SIZE, FULL_SIZE = 40.0, 80.0
#: Sharpness (Laplacian variance of the aligned chip, `greeter.recognition.faces.sharpness`) from
#: which a face counts fully.
FULL_SHARPNESS = 60.0
#: `greeter.recognition.faces.head_turn` at which a face counts `MIN_WEIGHT` (~0.5 is a profile).
TURN_AT_MIN_WEIGHT = 0.4
#: No vote counts less than this: a poor frame still says something.
MIN_WEIGHT = 0.2


def vote_weight(size: float, sharpness: float, turn: float) -> float:
    """How much one embedding counts, from `MIN_WEIGHT` (small, soft or turned) to 1 (large,
    sharp, frontal): the product of one factor per quality, each linear between its limits."""
    factors = ((size - MIN_SIZE) / (FULL_SIZE - MIN_SIZE), sharpness / FULL_SHARPNESS,
               1.0 - turn / TURN_AT_MIN_WEIGHT)
    weight = 1.0
    for factor in factors:
        weight *= min(1.0, max(MIN_WEIGHT, factor))
    return max(MIN_WEIGHT, weight)


def mean_embedding(votes: Sequence[Vote]) -> np.ndarray:
    """The votes' embeddings averaged with their weights."""
    weights = np.array([vote.weight for vote in votes], float)
    stacked = np.array([vote.embedding for vote in votes], float)
    return (weights[:, None] * stacked).sum(axis=0) / weights.sum()


@dataclass(frozen=True)
class Identity:
    """A track's settled identity. `person` is None for a stranger; `distance` is from the
    track's average embedding to the nearest person when it settled (inf when nobody is
    enrolled)."""

    person: Optional[str]
    distance: float
    votes: int

    @property
    def is_stranger(self) -> bool:
        return self.person is None


def settle(votes: Sequence[Vote], mean: MeanMatch,
           settings: TrackingSettings) -> Optional[Identity]:
    """The identity these votes settle, given what their average embedding matched (`mean`),
    or None while they do not agree enough yet. See the module docstring."""
    total = len(votes)
    if mean.person is not None:
        reach = mean.threshold + settings.frame_margin
        backing = [vote for vote in votes
                   if vote.person == mean.person and vote.distance <= reach]
        if len(backing) >= settings.person_votes and sum(vote.weight for vote in backing) \
                >= settings.majority * sum(vote.weight for vote in votes):
            return Identity(mean.person, mean.distance, total)
    elif mean.distance > mean.threshold + settings.stranger_margin and (
            total >= settings.stranger_votes
            or (total >= settings.person_votes
                and mean.distance > mean.threshold + settings.far_stranger_margin)):
        return Identity(None, mean.distance, total)
    if total >= settings.max_votes:
        return Identity(None, mean.distance, total)
    return None


class Track:
    """One face followed over detections. Read its attributes; only `Tracker` changes them.

    `box` is where the face was last detected; `missed` counts the detections in a row that
    did not find it since; `identity` is None until the votes settle it.
    """

    def __init__(self, track_id: int, box: Box, now: float):
        self.id = track_id
        self.box = box
        self.first_seen = now
        self.last_seen = now
        self.missed = 0
        self.votes: List[Vote] = []
        self.last_vote_at: Optional[float] = None
        self.identity: Optional[Identity] = None

    @property
    def settled(self) -> bool:
        return self.identity is not None

    def __repr__(self) -> str:
        return (f"Track(id={self.id}, box={self.box}, missed={self.missed}, "
                f"votes={len(self.votes)}, identity={self.identity})")


class Tracker:
    """Tracks of the faces in view, updated with each detection's boxes.

    Typical use, once per detection on a frame taken at time `now`::

        tracks = tracker.update(boxes, now)          # the track of each box
        for track in tracker.needing_embedding(now):  # new or unsettled, rate-limited
            face = ...embed and match track.box on the same frame (Recogniser)...
            tracker.vote(track.id, face.vote, now, recogniser.judge_track)
    """

    def __init__(self, settings: TrackingSettings):
        self.settings = settings
        self._tracks: Dict[int, Track] = {}
        self._next_id = 1

    @property
    def tracks(self) -> List[Track]:
        """The live tracks, oldest first."""
        return list(self._tracks.values())

    def update(self, boxes: Sequence[Box], now: float) -> List[Track]:
        """Match one detection's boxes to the tracks; returns the track of each box, in order.

        Boxes continue the tracks they overlap most (greedy by IoU, then by centre distance for
        boxes that overlap nothing); other boxes start new tracks. Tracks missed by this
        detection age and end as `TrackingSettings` says.
        """
        self._forget_stale(now)
        live = list(self._tracks.values())
        matched = self._match(live, boxes)
        result: List[Track] = []
        for index, box in enumerate(boxes):
            track = matched.get(index)
            if track is None:
                track = Track(self._next_id, tuple(box), now)
                self._tracks[track.id] = track
                self._next_id += 1
            else:
                track.box = tuple(box)
                track.last_seen = now
                track.missed = 0
            result.append(track)
        continued = {track.id for track in matched.values()}
        for track in live:
            if track.id not in continued:
                track.missed += 1
                if (track.missed >= self.settings.lost_after_detections
                        and now - track.last_seen >= self.settings.lost_after_seconds):
                    del self._tracks[track.id]
        return result

    def needing_embedding(self, now: float) -> List[Track]:
        """Unsettled tracks found by the latest detection whose last vote is old enough."""
        interval = 1.0 / self.settings.embeddings_per_second
        return [
            track for track in self._tracks.values()
            if not track.settled and track.missed == 0
            and (track.last_vote_at is None or now - track.last_vote_at >= interval)
        ]

    def vote(self, track_id: int, vote: Vote, now: float,
             judge: MeanJudge) -> Optional[Identity]:
        """Record an embedding of the track's face; `judge` matches the track's new average.
        Returns the identity when this vote settles the track. Votes for ended or already
        settled tracks are ignored (an embedding computed off-thread may arrive late)."""
        track = self._tracks.get(track_id)
        if track is None or track.settled:
            return None
        track.votes.append(vote)
        track.last_vote_at = now
        track.identity = settle(track.votes, judge(mean_embedding(track.votes)), self.settings)
        return track.identity

    def _forget_stale(self, now: float) -> None:
        for track_id in [track.id for track in self._tracks.values()
                         if now - track.last_seen > self.settings.forget_after_seconds]:
            del self._tracks[track_id]

    def _match(self, tracks: Sequence[Track], boxes: Sequence[Box]) -> Dict[int, Track]:
        """Box index -> track, each track and box used at most once, best pairs first."""
        by_overlap: List[Tuple[float, int, int]] = []
        by_distance: List[Tuple[float, int, int]] = []
        for track_index, track in enumerate(tracks):
            for box_index, box in enumerate(boxes):
                overlap = iou(track.box, box)
                if overlap >= self.settings.min_iou:
                    by_overlap.append((-overlap, track_index, box_index))
                else:
                    shift = centre_shift(track.box, box)
                    if shift <= self.settings.max_centre_shift:
                        by_distance.append((shift, track_index, box_index))
        matched: Dict[int, Track] = {}
        used_tracks = set()
        for _, track_index, box_index in sorted(by_overlap) + sorted(by_distance):
            if track_index in used_tracks or box_index in matched:
                continue
            used_tracks.add(track_index)
            matched[box_index] = tracks[track_index]
        return matched
