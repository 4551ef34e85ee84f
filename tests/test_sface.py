"""The second face model (greeter.recognition.sface) on real photos: faces found with their
landmarks, one person's two photos nearer than two people's, the files checked."""

import numpy as np
import pytest

from greeter.recognition import sface
from greeter.recognition.imaging import load_rgb
from greeter.recognition.sface import SAME_PERSON_DISTANCE, ModelFilesError, SFaceEngine


@pytest.fixture(scope="module")
def engine():
    return SFaceEngine()


def embedding(engine, path):
    rgb = load_rgb(path)
    (best, *_) = engine.detect(rgb)
    return engine.embed(rgb, [best])[0]


def test_faces_are_found_with_their_landmarks_inside_their_boxes(engine, samples):
    rgb = load_rgb(samples / "two_people.jpg")
    found = engine.detect(rgb)
    assert len(found) == 2
    for face in found:
        top, right, bottom, left = face.box
        assert face.score >= sface.SCORE_THRESHOLD
        assert all(left <= x <= right and top <= y <= bottom for x, y in face.landmarks)
    assert engine.detect(np.full((240, 320, 3), 128, np.uint8)) == []


def test_one_persons_photos_are_nearer_than_two_peoples(engine, samples):
    obama, obama2 = embedding(engine, samples / "obama.jpg"), embedding(engine,
                                                                        samples / "obama2.jpg")
    biden = embedding(engine, samples / "biden.jpg")
    assert abs(float(np.linalg.norm(obama)) - 1) < 1e-5
    same = float(np.linalg.norm(obama - obama2))
    different = float(np.linalg.norm(obama - biden))
    assert same < SAME_PERSON_DISTANCE < different


def test_a_changed_model_file_is_refused(tmp_path, monkeypatch):
    name, _ = sface.WEIGHTS["embedder"]
    (tmp_path / name).write_bytes(b"not the model")
    monkeypatch.setattr(sface, "weights_folder", lambda: tmp_path)
    with pytest.raises(ModelFilesError, match="not the model greeter was measured with"):
        SFaceEngine().detect(np.zeros((64, 64, 3), np.uint8))
