"""The enrolment checks as pure functions: which face of a photo is its subject, what is
rejected and what only earns advice. Plain numbers in, no dlib; the figures are lfw-dev's
(see `greeter.settings.EnrolmentSettings`)."""

from pathlib import Path

import numpy as np
import pytest

from greeter.errors import FaceError
from greeter.people.enrolment import (
    BLURRED,
    TOO_SMALL,
    TURNED,
    SeveralFacesError,
    check_face,
    face_problem,
    identity_problem,
    subject_face,
)
from greeter.people.hints import photo_verdict, quality_hint
from greeter.recognition.matching import Gallery
from greeter.settings import EnrolmentSettings

RULES = EnrolmentSettings()
LFW = (150, 150)


def box(centre_x, centre_y, size):
    """A square (top, right, bottom, left) box of `size` px around a centre."""
    half = size // 2
    return (centre_y - half, centre_x + half, centre_y + half, centre_x - half)


def test_a_single_face_is_the_subject():
    assert subject_face([box(75, 75, 62)], LFW, RULES) == 0


def test_a_much_larger_face_is_the_subject_wherever_it_is():
    # lfw's typical case: the person 62 px, a bystander 36 px at the edge
    assert subject_face([box(120, 60, 62), box(20, 20, 36)], LFW, RULES) == 0


def test_the_central_face_is_the_subject_even_when_a_little_smaller():
    # Doug_Duncan_0001: a 70 px face at the edge, the person (62 px) in the middle
    assert subject_face([box(130, 75, 70), box(75, 75, 62)], LFW, RULES) == 1


def test_two_similar_faces_side_by_side_are_refused_naming_the_sizes():
    """Each shell adds its own way to ask for the largest face: the library names none."""
    with pytest.raises(SeveralFacesError) as refused:
        subject_face([box(400, 300, 198), box(800, 300, 136)], (661, 1126), RULES,
                     Path("two_people.jpg"))
    assert str(refused.value) == (
        "two_people.jpg: 2 faces found (198 px, 136 px) and none is clearly the subject; use a "
        "photo of this person alone or in the middle")


def test_a_central_face_dwarfed_by_another_is_not_taken_for_the_subject():
    with pytest.raises(FaceError):
        subject_face([box(30, 75, 70), box(75, 75, 52)], LFW, RULES)


def test_weak_faces_are_enrolled_with_advice_and_good_ones_without():
    assert check_face(62, 45.0, 0.05, RULES) == ()
    assert check_face(52, 45.0, 0.05, RULES) == (
        "small face (52 px): a larger photo will be recognised more often",)
    assert [advice.split(" (")[0] for advice in check_face(52, 15.0, 0.28, RULES)] == [
        "small face", "soft face", "head turned"]


@pytest.mark.parametrize("size, sharpness, turn, problem, message", [
    (36, 45.0, 0.0, TOO_SMALL, "face is 36 px, smaller than the minimum of 40 px"),
    (62, 5.8, 0.0, BLURRED, "face is blurred (sharpness 5.8, minimum 10; use a sharper photo)"),
    (62, 45.0, 0.42, TURNED, "face is turned away (head turn 0.42, at most 0.4; use a photo "
                             "looking at the camera)"),
])
def test_what_makes_wrong_names_likely_is_rejected(size, sharpness, turn, problem, message):
    assert face_problem(size, sharpness, RULES, turn) == problem
    with pytest.raises(FaceError, match="photo: " + message.replace("(", r"\(")
                       .replace(")", r"\)")):
        check_face(size, sharpness, turn, RULES)


def test_people_with_one_or_only_weak_photos_are_told_to_add_photos():
    assert quality_hint([], RULES) == "no photo: enrol one"
    assert quality_hint([(150, 120.0)], RULES) == "one photo: add 1-2 more photos"
    assert quality_hint([(52, 120.0)], RULES) == "one weak photo: add 1-2 more photos"
    assert quality_hint([(52, 120.0), (150, 15.0)], RULES) == \
        "only weak photos: add 1-2 more photos with larger, sharper faces"
    assert quality_hint([(52, 120.0), (150, 120.0)], RULES) == ""
    assert photo_verdict(150, 120.0, RULES) == "enrolled; good"
    assert photo_verdict(52, 120.0, RULES) == \
        "enrolled; small face (52 px): a larger photo will be recognised more often"


# --- who the face looks like ----------------------------------------------------------------


def at(distance: float) -> np.ndarray:
    """An embedding `distance` away from the origin along the first axis."""
    vector = np.zeros(128, np.float32)
    vector[0] = distance
    return vector


def test_a_face_that_is_nobody_enrolled_yet_may_be_enrolled_as_anybody():
    assert identity_problem(at(0.0), "new", Gallery.empty(), RULES) is None
    gallery = Gallery.from_rows([("alex", at(1.0))])
    assert identity_problem(at(0.0), "new", gallery, RULES) is None


def test_a_face_as_near_another_person_as_one_persons_photos_is_refused():
    gallery = Gallery.from_rows([("alex", at(0.0)), ("bo", at(1.0))])
    refused = identity_problem(at(0.34), "new", gallery, RULES)
    assert refused.startswith("looks like alex, already enrolled (distance 0.34, at most 0.35")
    assert "enrol the photo as alex" in refused
    assert identity_problem(at(0.36), "new", gallery, RULES) is None
    # more photos of alex: the look-alike rule holds for alex's own photos too, but not for
    # a face near alex's photos enrolled as somebody else
    assert identity_problem(at(0.3), "alex", gallery, RULES) is None
    assert identity_problem(at(0.7), "bo", gallery, RULES) is None


def test_a_face_unlike_every_photo_of_the_person_is_refused():
    gallery = Gallery.from_rows([("alex", at(0.0)), ("alex", at(0.5)), ("bo", at(3.0))])
    assert identity_problem(at(1.14), "alex", gallery, RULES) is None  # 0.64 from one photo
    refused = identity_problem(at(1.2), "alex", gallery, RULES)
    assert refused.startswith("does not look like any of the 2 photos enrolled for alex "
                              "(distance 0.70, more than 0.65): a photo of somebody else?")
    one = Gallery.from_rows([("alex", at(0.0))])
    assert identity_problem(at(0.9), "alex", one, RULES).startswith(
        "does not look like the photo enrolled for alex (distance 0.90")
