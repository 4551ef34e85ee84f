"""Who is in a photo: detection, embedding and matching put together.

`Recogniser` is what ``greeter identify`` and the live loop share: it holds the enrolled
gallery, the display names and the matching policies, and names the faces of an image (the
still-photo policy) or turns them into votes for the live tracks (`votes`, `judge_track`: the
track policy, see greeter.recognition.votes).
"""

from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Protocol, Sequence

import numpy as np

from greeter.recognition.faces import Box, Face, FaceEngine
from greeter.recognition.figures import DLIB, ModelFigures
from greeter.recognition.matching import (
    Gallery,
    Match,
    MatchPolicy,
    default_policy,
    default_track_policy,
    match_faces,
    match_one,
)
from greeter.recognition.votes import MeanMatch, Vote, vote_weight
from greeter.settings import DetectionSettings, MatchingSettings


@dataclass(frozen=True)
class IdentifiedFace:
    """A face and who it is: `person` and `name` are None for a stranger. `distance` is to the
    nearest enrolled person, named or not (inf when nobody is enrolled)."""

    box: Box
    person: Optional[str]
    name: Optional[str]
    distance: float


def resolve_policy(matching: MatchingSettings, calibrated: Optional[MatchPolicy],
                   people: int, default: Callable[[int], MatchPolicy] = default_policy
                   ) -> MatchPolicy:
    """Explicit settings win over the store's calibration (`greeter calibrate`), which wins
    over the model's `default` for a gallery of `people` people."""
    return _overridden(calibrated or default(people), matching.threshold, matching.ratio)


def resolve_track_policy(matching: MatchingSettings, calibrated: Optional[MatchPolicy],
                         people: int,
                         default: Callable[[int], MatchPolicy] = default_track_policy
                         ) -> MatchPolicy:
    """Like `resolve_policy`, for the track policy."""
    return _overridden(calibrated or default(people), matching.track_threshold,
                       matching.track_ratio)


def _overridden(base: MatchPolicy, threshold: Optional[float],
                ratio: Optional[float]) -> MatchPolicy:
    """`base` with the threshold and ratio that are set explicitly."""
    return MatchPolicy(threshold=base.threshold if threshold is None else threshold,
                       ratio=base.ratio if ratio is None else ratio)


class PersonRow(Protocol):
    id: str
    name: str


class GallerySource(Protocol):
    """What a recogniser is made from: `greeter.people.store.Store` (the people layer sits
    above this one, so it is named by what it offers, not imported)."""

    def gallery(self, model_id: Optional[str] = None) -> Gallery: ...

    def people(self) -> Iterable[PersonRow]: ...

    def calibration(self, model_id: Optional[str] = None) -> Optional[MatchPolicy]: ...

    def track_calibration(self, model_id: Optional[str] = None) -> Optional[MatchPolicy]: ...


class Recogniser:
    """Names the faces in images against one snapshot of the store."""

    def __init__(self, engine: FaceEngine, gallery: Gallery, names: Dict[str, str],
                 policy: MatchPolicy, track_policy: MatchPolicy):
        self.engine = engine
        self.gallery = gallery
        self.names = names
        self.policy = policy
        self.track_policy = track_policy

    @classmethod
    def from_store(cls, engine: FaceEngine, store: Optional[GallerySource],
                   matching: MatchingSettings, figures: ModelFigures = DLIB) -> "Recogniser":
        """From the store's current content, with the embeddings and distances of the model of
        `figures`; with no store, everybody is a stranger."""
        if store is None:
            return cls(engine, Gallery.empty(), {},
                       resolve_policy(matching, None, 0, figures.policy),
                       resolve_track_policy(matching, None, 0, figures.track_policy))
        gallery = store.gallery(figures.model_id)
        return cls(
            engine,
            gallery,
            {person.id: person.name for person in store.people()},
            resolve_policy(matching, store.calibration(figures.model_id), len(gallery),
                           figures.policy),
            resolve_track_policy(matching, store.track_calibration(figures.model_id),
                                 len(gallery), figures.track_policy),
        )

    def votes(self, faces: Sequence[Face]) -> List[Vote]:
        """One vote per embedded face for its live track: the nearest person, the embedding
        and its weight (greeter.recognition.votes). The faces are embedded elsewhere
        (greeter.live.identity's worker process): this is only matching, well under a millisecond
        for 1,000 people."""
        return [
            Vote(match.candidate, match.distance, face.embedding,
                 vote_weight(face.size, face.sharpness, face.turn))
            for face, match in zip(faces, self._matches(faces))
        ]

    def judge_track(self, mean: np.ndarray) -> MeanMatch:
        """A track's average embedding matched with the track policy."""
        match = match_one(mean, self.gallery, self.track_policy)
        return MeanMatch(match.person, match.distance, self.track_policy.threshold)

    def identify(self, rgb: np.ndarray, boxes: List[Box]) -> List[IdentifiedFace]:
        """Name the faces in `boxes`, in the order given."""
        return [
            IdentifiedFace(box=box, person=match.person,
                           name=self.names.get(match.person) if match.person else None,
                           distance=match.distance)
            for box, match in zip(boxes, self._matches(self.engine.faces(rgb, boxes)))
        ]

    def _matches(self, faces: Sequence[Face]) -> List[Match]:
        """Each face matched with the still-photo policy."""
        embeddings = np.array([face.embedding for face in faces]).reshape(-1, 128)
        return match_faces(embeddings, self.gallery, self.policy)

    def identify_photo(self, rgb: np.ndarray, detection: DetectionSettings) -> List[IdentifiedFace]:
        """Every face of a still photo, named, from left to right."""
        boxes = self.engine.detect_in_photo(rgb, detection.photo_max_side, detection.retry_upsample)
        boxes = sorted(boxes, key=lambda box: (box[3], box[0]))
        return self.identify(rgb, boxes)
