"""What depends on a face model's distances, one set per model (`FIGURES`, by the name
`RecognitionSettings.model` takes).

Two embeddings of one person lie within ~0.4 with dlib's ResNet and within ~0.8 with SFace
(unit vectors), so every distance greeter decides by is the model's own: the still-photo and
track policies and the track rule's distances (`TrackingSettings.split_distance` and the
margins). dlib's are `greeter.recognition.matching`'s defaults and `TrackingSettings`' own
defaults, fitted over the past issues. SFace's, measured 2026-12-07 on lfw-dev (its photos
embedded by SFace on dlib's faces, as enrolment and the live loop do):

* track policy, threshold 1.0 and ratio 0.86 at every gallery size:
  ``benchmarks/track_rule_lfw.py --model sface --sizes 24,300 --galleries 10`` fitted 0.998 /
  0.83 at 24 people and 1.028 / 0.90 at 300 (medians of 10 galleries each); the fixed policy's
  figures are in the README;
* still-photo policy, threshold 1.02, no ratio test: the distance naming 1 % of 2,684
  strangers' photos with 592 people enrolled (``benchmarks/models.py``);
* the track rule's margins: dlib's times 2.45, the ratio of the two models' thresholds naming
  1 % of lfw-dev's strangers (1.021 / 0.417), but for the far-stranger margin, 0.20: the share
  of lfw-dev's stranger photos farther than the threshold plus it from galleries of 1 and of 24
  people (97 %, 76 %) is dlib's with its 0.10;
* `greeter calibrate`'s largest still-photo threshold 1.18: as many pairs of different lfw-dev
  people (0.9 %) lie within it as within dlib's 0.6; the track thresholds it searches, dlib's
  times 2.45;
* split distance 1.05: no embedding of the Hamilton clip lay farther than 0.878 from its
  track's average, and fewer than 0.01 % of pairs of different lfw-dev people lie within 1.05
  (``benchmarks/track_split.py --model sface``).

Explicit settings (``GREETER_MATCHING__*``, ``GREETER_TRACKING__*``) are taken as they are, in
the chosen model's distances; a store keeps a calibration (`greeter calibrate`) per model.
"""

from dataclasses import dataclass
from typing import Callable, Dict, Mapping, Sequence

import numpy as np

from greeter.recognition import faces, sface
from greeter.recognition.calibration import THRESHOLD_GRID
from greeter.recognition.matching import (
    MAX_THRESHOLD,
    MatchPolicy,
    default_policy,
    default_track_policy,
)
from greeter.settings import TrackingSettings

#: How far SFace's distances are from dlib's (see the module docstring).
SFACE_SCALE = 1.021 / 0.417
SFACE_POLICY = MatchPolicy(threshold=1.02, ratio=1.0)
SFACE_TRACK_POLICY = MatchPolicy(threshold=1.0, ratio=0.86)


@dataclass(frozen=True)
class ModelFigures:
    """A model's id (what its embeddings are stored under) and its distances."""

    model_id: str
    #: The still-photo and track policies for a gallery of so many people.
    policy: Callable[[int], MatchPolicy]
    track_policy: Callable[[int], MatchPolicy]
    #: `TrackingSettings` fields in this model's distances (none: the settings' own).
    tracking: Mapping[str, float]
    #: `greeter calibrate`: the largest still-photo threshold it may choose, and the track
    #: thresholds it searches.
    max_threshold: float
    track_thresholds: Sequence[float]


DLIB = ModelFigures(faces.MODEL_ID, default_policy, default_track_policy, {}, MAX_THRESHOLD,
                    tuple(THRESHOLD_GRID))
SFACE = ModelFigures(
    sface.MODEL_ID, lambda people: SFACE_POLICY, lambda people: SFACE_TRACK_POLICY,
    {"split_distance": 1.05, "far_stranger_margin": 0.20,
     **{name: round(SFACE_SCALE * TrackingSettings.model_fields[name].default, 3)
        for name in ("frame_margin", "stranger_margin")}},
    1.18, tuple(np.round(SFACE_SCALE * THRESHOLD_GRID, 3)))
FIGURES: Dict[str, ModelFigures] = {"dlib": DLIB, "sface": SFACE}


def tracking_for(settings: TrackingSettings, figures: ModelFigures) -> TrackingSettings:
    """`settings` in the model's distances, but for the values set explicitly."""
    return settings.model_copy(update={name: value for name, value in figures.tracking.items()
                                       if name not in settings.model_fields_set})
