"""Face measurements: how far a head is turned and how sharp a face is, on landmarks and on
real photos."""

import cv2
import numpy as np
import pytest

from greeter.recognition.faces import FaceEngine, head_turn, sharpness
from greeter.recognition.imaging import load_rgb

# dlib's five landmarks: two corners of one eye, two of the other, the bottom of the nose.
FRONTAL = np.array([(70, 50), (60, 50), (30, 50), (40, 50), (50, 70)], float)


def test_a_frontal_face_is_not_turned():
    assert head_turn(FRONTAL) == pytest.approx(0.0)


@pytest.mark.parametrize("nose_x, expected", [(55, 1 / 6), (45, 1 / 6), (65, 0.5)])
def test_the_turn_is_the_nose_offset_in_eye_distances(nose_x, expected):
    landmarks = FRONTAL.copy()
    landmarks[4, 0] = nose_x
    assert head_turn(landmarks) == pytest.approx(expected)


def test_the_turn_does_not_depend_on_scale_or_tilt():
    angle = np.radians(25)
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    landmarks = FRONTAL.copy()
    landmarks[4, 0] = 58
    assert head_turn(3 * landmarks @ rotation.T) == pytest.approx(head_turn(landmarks))


def test_a_real_portrait_is_frontal_and_its_mirror_image_turns_as_much(samples):
    engine = FaceEngine()
    rgb = load_rgb(samples / "obama2.jpg")
    _, (face,) = engine.faces_in_photo(rgb)
    _, (mirrored,) = engine.faces_in_photo(np.ascontiguousarray(rgb[:, ::-1]))
    _, (frontal,) = engine.faces_in_photo(load_rgb(samples / "obama.jpg"))
    assert frontal.turn < 0.05 < face.turn < 0.3
    assert mirrored.turn == pytest.approx(face.turn, abs=0.03)


def opencv_sharpness(chip: np.ndarray) -> float:
    """The measure the enrolment and vote thresholds were chosen with."""
    grey = cv2.cvtColor(np.ascontiguousarray(chip), cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


def test_sharpness_is_opencvs_to_the_bit_on_real_faces_sharp_and_blurred(samples):
    engine = FaceEngine()
    rgb = load_rgb(samples / "biden.jpg")
    chips, _ = engine.chips_and_turns(rgb, engine.detect_in_photo(rgb, 1024, 1))
    blurred = [cv2.GaussianBlur(chips[0], (0, 0), sigma) for sigma in (1, 2, 5)]
    noise = np.random.default_rng(7).integers(0, 256, (150, 150, 3), dtype=np.uint8)
    measured = [sharpness(chip) for chip in chips + blurred + [noise]]
    assert measured == [opencv_sharpness(chip) for chip in chips + blurred + [noise]]
    assert measured[0] > 60 > measured[1] > measured[2] > measured[3]
