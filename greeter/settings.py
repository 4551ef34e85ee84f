"""Every setting of greeter, typed, defaulted and documented in one place.

Settings come from, in increasing priority: the defaults below, environment variables, and
command-line options. Environment variables are ``GREETER_`` plus the field path in capitals
with ``__`` between levels::

    GREETER_STORE=/var/lib/greeter/greeter.sqlite3
    GREETER_GREETINGS=/etc/greeter/greetings.json
    GREETER_ENROLMENT__MIN_FACE_SIZE=80
    GREETER_MATCHING__THRESHOLD=0.45

A bad value stops the program with the variable's name and pydantic's reason.
"""

import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from greeter.errors import ConfigError

ENV_PREFIX = "GREETER_"


class StrictModel(BaseModel):
    """Unknown keys are errors: a misspelt setting must not be silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True, frozen=False)


class DetectionSettings(StrictModel):
    """HOG face detection on still photos (enrolment, identify, calibrate)."""

    photo_max_side: int = Field(
        1024,
        ge=160,
        description="Photos are shrunk so their longer side is at most this many pixels before "
        "detection. HOG finds faces from ~80 px, so a portrait loses nothing and a "
        "12-megapixel photo is scanned ~10x faster.",
    )
    retry_upsample: int = Field(
        1,
        ge=0,
        le=2,
        description="When no face is found, detect again on the image upsampled this many times "
        "(x2 each). Finds faces down to ~40 px, e.g. LFW's 150x150 photos.",
    )
    load_max_side: int = Field(
        2048,
        ge=256,
        description="Photos are decoded at most this large. Landmarks and the 150x150 aligned face "
        "are taken at this resolution, which is more than any face needs.",
    )


class EnrolmentSettings(StrictModel):
    """What makes a photo good enough to enrol."""

    min_face_size: int = Field(
        60,
        ge=0,
        description="Smallest accepted face, as the side of the detected face box in the photo's "
        "pixels. Smaller faces are upscaled to 150x150 for the embedding and match poorly.",
    )
    min_sharpness: float = Field(
        20.0,
        ge=0,
        description="Smallest accepted sharpness: the variance of the Laplacian of the aligned "
        "150x150 face. Calibrated on lfw-dev: see greeter.faces.sharpness.",
    )
    jitter: int = Field(
        0,
        ge=0,
        le=100,
        description="Extra randomly jittered copies averaged into each enrolled embedding. 10 "
        "makes enrolment ~10x slower for a slightly more robust embedding.",
    )
    workers: int = Field(
        0, ge=0, description="Processes that analyse photos in parallel; 0 means one per core."
    )


class MatchingSettings(StrictModel):
    """When a face is given a name. Unset values come from the store's calibration
    (`greeter calibrate`) or, failing that, from greeter.matching.DEFAULT_POLICY."""

    threshold: Optional[float] = Field(
        None, gt=0, le=2, description="Largest distance at which a face may be named."
    )
    ratio: Optional[float] = Field(
        None,
        gt=0,
        le=1,
        description="Largest ratio between the distance to the nearest person and to the "
        "nearest other person; 1 switches the ratio test off.",
    )


class Settings(StrictModel):
    """All of greeter's settings."""

    store: Path = Field(
        Path("data/greeter.sqlite3"), description="SQLite file of enrolled people and embeddings."
    )
    greetings: Path = Field(
        Path("config/greetings.json"), description="What the robot says to whom."
    )
    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    enrolment: EnrolmentSettings = Field(default_factory=EnrolmentSettings)
    matching: MatchingSettings = Field(default_factory=MatchingSettings)

    @classmethod
    def load(
        cls, environ: Optional[Mapping[str, str]] = None, **overrides: Any
    ) -> "Settings":
        """Defaults, then ``GREETER_*`` environment variables, then `overrides` (None is skipped)."""
        values = _nested_from_env(os.environ if environ is None else environ)
        values.update({key: value for key, value in overrides.items() if value is not None})
        try:
            return cls.model_validate(values)
        except ValidationError as error:
            problems = "; ".join(
                f"{ENV_PREFIX}{'__'.join(str(part) for part in problem['loc']).upper()}: "
                f"{problem['msg']}"
                for problem in error.errors()
            )
            raise ConfigError(f"invalid settings: {problems}") from None


def _nested_from_env(environ: Mapping[str, str]) -> Dict[str, Any]:
    values: Dict[str, Any] = {}
    for key, value in environ.items():
        if not key.startswith(ENV_PREFIX) or not value:
            continue
        path = key[len(ENV_PREFIX):].lower().split("__")
        target = values
        for part in path[:-1]:
            target = target.setdefault(part, {})
        target[path[-1]] = value
    return values
