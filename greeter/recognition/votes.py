"""The track rule: settling who a live track is from its votes. Pure: numpy in, values out.

Each embedding of a track's face casts a **vote**: the nearest enrolled person, the embedding
itself and how much it counts (`vote_weight`: a large, sharp, frontal face counts fully, a
small, soft or turned one less); the tracks themselves are `greeter.live.tracking`'s.

The decision is taken on the **track**, not the frame (`settle`). A guest seen on several
frames gives stronger evidence than one still photo: the votes' quality-weighted **average
embedding** lies nearer the guest's enrolled photo than most single frames do, while a
stranger's average stays as far from everybody as the stranger is. The average is matched with
the *track policy* (threshold and ratio test,
`greeter.recognition.matching.default_track_policy`, fitted on simulated tracks so that at
most 1 % of stranger *tracks* are named at every gallery size), and the track is settled

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
"""

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np

from greeter.settings import TrackingSettings


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
