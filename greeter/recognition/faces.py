"""Face detection, alignment and embedding: the only module that imports dlib.

The pipeline for one image:

1. **detect** - dlib's HOG detector (`FaceEngine.detect`), optionally on an upsampled image
   for faces under ~80 px;
2. **align** - the 5-point landmark model finds eyes and nose; dlib cuts out an upright
   150x150 "face chip" with 25 % padding (`FaceEngine.chips`);
3. **embed** - dlib's ResNet turns chips into 128-d vectors, all faces of an image in one
   batched call (`FaceEngine.embed_chips`); two photos of one person lie within ~0.6. Each
   face is embedded together with its mirror image and the two vectors averaged: on lfw-dev
   (400 people enrolled, 1 % of strangers named) that names 76 % of guests correctly instead
   of 73 %, for about 1.8x the embedding time; 10 jittered copies gained 0.6 points for 10x.
   Live votes use it too, though a single pass would halve an identity job (~0.1 s of the
   time to greet on the one-core Nano stand-in): on simulated lfw-dev tracks, single-pass
   votes against mirror-averaged enrolled photos named 2.7 points fewer guests at 300 people
   enrolled (1.7 at 24, 2.6 at 1,000) and no fewer strangers; refitting the track threshold
   won back only 1 point at 300.

Boxes are plain ``(top, right, bottom, left)`` tuples of ints in the image's own pixels, the
order face_recognition uses. Models come from the ``face_recognition_models`` package and are
loaded on first use, not at import: ``import greeter.recognition.faces`` is cheap.
"""

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

Box = Tuple[int, int, int, int]

#: Identifies the embedding space: embeddings of different models must never be compared
#: (``+mirror``: each embedding averages the face and its mirror image).
MODEL_ID = "dlib_face_recognition_resnet_model_v1+mirror"
CHIP_SIZE = 150
CHIP_PADDING = 0.25
#: Photos whose longer side is below this go straight to the upsampled scan.
SMALL_PHOTO_SIDE = 240

_MODEL_FILES = {
    "landmarks": "shape_predictor_5_face_landmarks.dat",
    "embedding": "dlib_face_recognition_resnet_model_v1.dat",
}


def models_folder() -> Path:
    """Where ``face_recognition_models`` keeps its ``.dat`` files.

    Located without importing the package, whose ``__init__`` needs ``pkg_resources``.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(
            "the face_recognition_models package is not installed: run `make test` or "
            "`pip install face_recognition_models`"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def model_path(kind: str) -> Path:
    path = models_folder() / _MODEL_FILES[kind]
    if not path.is_file():
        raise RuntimeError(f"face model missing: {path}; reinstall face_recognition_models")
    return path


def box_area(box: Box) -> int:
    top, right, bottom, left = box
    return max(0, bottom - top) * max(0, right - left)


def box_size(box: Box) -> int:
    """Side of a face box in pixels (HOG boxes are square)."""
    top, right, bottom, left = box
    return min(bottom - top, right - left)


def sharpness(chip: np.ndarray) -> float:
    """Variance of the Laplacian of an aligned face chip's gray levels.

    Measured on the 150x150 chip rather than the photo, so it does not depend on the photo's
    resolution or the face's size. On lfw-dev's faces the 1st percentile is ~60; a face
    blurred with a 5-pixel Gaussian falls below 10.

    In numpy, to the bit what OpenCV's ``Laplacian(cvtColor(chip, RGB2GRAY), CV_64F).var()``
    gives (its 15-bit fixed-point grey, its mirrored border), which the thresholds were
    measured with: the identity worker then never imports OpenCV, whose private pages cost
    it 17 MB (its resident memory after five jobs: 106 MB with OpenCV, 89 MB without).
    """
    channels = np.asarray(chip, dtype=np.int32)
    grey = (channels[..., 0] * 9798 + channels[..., 1] * 19235 + channels[..., 2] * 3735
            + 16384) >> 15
    padded = np.pad(grey.astype(np.float64), 1, mode="reflect")
    laplacian = (padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]
                 - 4 * padded[1:-1, 1:-1])
    return float(laplacian.var())


def head_turn(landmarks: np.ndarray) -> float:
    """How far a face is turned sideways, from its five dlib landmarks ``(5, 2)`` (x, y): the
    distance along the eye line from the middle of the two eyes to the tip of the nose, in
    eye distances. 0 is frontal; the nose reaches the nearer eye's centre at 0.5 (a profile).
    """
    first_eye = landmarks[0:2].mean(axis=0)
    second_eye = landmarks[2:4].mean(axis=0)
    eye_line = second_eye - first_eye
    eye_distance = float(np.hypot(*eye_line))
    if eye_distance == 0:
        return 0.5
    along = float(np.dot(landmarks[4] - (first_eye + second_eye) / 2.0, eye_line))
    return abs(along) / (eye_distance * eye_distance)


def scale_boxes(boxes: Sequence[Box], factor: float) -> List[Box]:
    """Boxes found in an image resized by `factor`, in the original image's pixels."""
    return [tuple(int(round(value / factor)) for value in box) for box in boxes]


def shrink(rgb: np.ndarray, max_side: int) -> Tuple[np.ndarray, float]:
    """The image resized so its longer side is at most `max_side`, and the factor used."""
    import cv2

    height, width = rgb.shape[:2]
    factor = min(1.0, max_side / float(max(height, width)))
    if factor >= 1.0:
        return rgb, 1.0
    size = (max(1, int(round(width * factor))), max(1, int(round(height * factor))))
    return cv2.resize(rgb, size, interpolation=cv2.INTER_AREA), factor


@dataclass(frozen=True)
class Face:
    """One detected and embedded face."""

    box: Box
    embedding: np.ndarray
    sharpness: float
    #: See `head_turn`.
    turn: float = 0.0

    @property
    def size(self) -> int:
        return box_size(self.box)


class FaceEngine:
    """dlib's detector, landmark model and ResNet, loaded on first use.

    One engine per thread or process: dlib objects are not safe to call concurrently.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._models: Dict[str, object] = {}

    def _model(self, kind: str):
        """The dlib object for `kind`, loaded on first use: an engine that only detects never
        loads the 22 MB ResNet."""
        model = self._models.get(kind)
        if model is None:
            with self._lock:
                import dlib

                if kind not in self._models:
                    if kind == "detector":
                        self._models[kind] = dlib.get_frontal_face_detector()
                    elif kind == "landmarks":
                        self._models[kind] = dlib.shape_predictor(str(model_path("landmarks")))
                    else:
                        self._models[kind] = dlib.face_recognition_model_v1(
                            str(model_path("embedding")))
                model = self._models[kind]
        return model

    def detect(self, rgb: np.ndarray, upsample: int = 0) -> List[Box]:
        """Face boxes, clipped to the image, largest first."""
        height, width = rgb.shape[:2]
        boxes = [
            (max(r.top(), 0), min(r.right(), width), min(r.bottom(), height), max(r.left(), 0))
            for r in self._model("detector")(rgb, upsample)
        ]
        return sorted(boxes, key=box_area, reverse=True)

    def detect_in_photo(self, rgb: np.ndarray, max_side: int, retry_upsample: int) -> List[Box]:
        """Detection tuned for still photos, largest face first.

        The photo is shrunk to `max_side` and scanned at its own scale, which finds every face
        of 80 px or more quickly; only when that finds nothing is it scanned again upsampled
        `retry_upsample` times, for small faces. Photos too small to hold an 80 px face beside
        anything else (longer side under `SMALL_PHOTO_SIDE`, e.g. LFW's 150x150) skip the
        first scan.
        """
        small, factor = shrink(rgb, max_side)
        boxes = self.detect(small, 0) if max(small.shape[:2]) >= SMALL_PHOTO_SIDE else []
        if not boxes and retry_upsample:
            boxes = self.detect(small, retry_upsample)
        return scale_boxes(boxes, factor) if factor != 1.0 else boxes

    def chips_and_turns(self, rgb: np.ndarray,
                        boxes: Sequence[Box]) -> Tuple[List[np.ndarray], List[float]]:
        """Aligned 150x150 face chips, one per box (5-point landmarks), and each face's
        `head_turn`."""
        if not boxes:
            return [], []
        import dlib

        predictor = self._model("landmarks")

        shapes = dlib.full_object_detections()
        for top, right, bottom, left in boxes:
            shapes.append(predictor(rgb, dlib.rectangle(left, top, right, bottom)))
        turns = [head_turn(np.array([(point.x, point.y) for point in shape.parts()], float))
                 for shape in shapes]
        chips = [np.asarray(chip) for chip in
                 dlib.get_face_chips(rgb, shapes, size=CHIP_SIZE, padding=CHIP_PADDING)]
        return chips, turns

    def embed_chips(self, chips: Sequence[np.ndarray], jitter: int = 0) -> np.ndarray:
        """128-d embeddings of aligned chips, each averaged with its mirror image's, in one
        batched call: ``(len(chips), 128)``."""
        if not len(chips):
            return np.zeros((0, 128), np.float32)
        mirrored = [np.ascontiguousarray(chip[:, ::-1]) for chip in chips]
        vectors = self._model("embedding").compute_face_descriptor(list(chips) + mirrored, jitter)
        both = np.array([np.asarray(vector) for vector in vectors], dtype=np.float32)
        return (both[: len(chips)] + both[len(chips):]) / 2.0

    def faces(self, rgb: np.ndarray, boxes: Sequence[Box], jitter: int = 0) -> List[Face]:
        """Align and embed the faces in `boxes`."""
        chips, turns = self.chips_and_turns(rgb, boxes)
        embeddings = self.embed_chips(chips, jitter)
        return [
            Face(box=tuple(box), embedding=embedding, sharpness=sharpness(chip), turn=turn)
            for box, chip, embedding, turn in zip(boxes, chips, embeddings, turns)
        ]

    def faces_in_photo(
        self, rgb: np.ndarray, max_side: int = 1024, retry_upsample: int = 1,
        jitter: int = 0, limit: Optional[int] = None,
    ) -> Tuple[List[Box], List[Face]]:
        """All face boxes in a still photo, and the embedded faces of the `limit` largest."""
        boxes = self.detect_in_photo(rgb, max_side, retry_upsample)
        return boxes, self.faces(rgb, boxes[:limit] if limit is not None else boxes, jitter)
