"""The matcher and its calibration, on vectors whose distances can be worked out by hand."""

import numpy as np
import pytest

from greeter.recognition.matching import (
    Gallery,
    MatchPolicy,
    Trials,
    accepts,
    choose_policy,
    default_policy,
    leave_one_out_trials,
    match_faces,
    match_one,
    rates,
)


def point(*coordinates):
    """A 128-d vector with the given leading coordinates and zeros after."""
    vector = np.zeros(128, np.float32)
    vector[: len(coordinates)] = coordinates
    return vector


POLICY = MatchPolicy(threshold=0.5, ratio=0.8)


@pytest.fixture
def gallery():
    # alice at x=0 (two photos), bob at x=1.0; carol far away on the y axis
    return Gallery.from_rows([
        ("bob", point(1.0)),
        ("alice", point(0.0)),
        ("carol", point(0.0, 3.0)),
        ("alice", point(0.0, 0.1)),
    ])


def test_gallery_groups_rows_by_person(gallery):
    assert gallery.person_ids == ("alice", "bob", "carol")
    assert len(gallery) == 3
    distances = gallery.person_distances(point(0.0, 0.1))
    np.testing.assert_allclose(distances, [[0.0, np.hypot(1.0, 0.1), 2.9]], atol=1e-6)


def test_face_near_one_person_is_named(gallery):
    match = match_one(point(0.1), gallery, POLICY)
    assert match.person == "alice"
    assert match.distance == pytest.approx(0.1)
    assert match.second_distance == pytest.approx(0.9)  # bob at x=1.0


def test_several_photos_of_one_person_are_not_their_own_second_best(gallery):
    # alice's second photo is 0.1 from the probe too, but the second best must be bob
    match = match_one(point(0.0, 0.05), gallery, POLICY)
    assert match.person == "alice"
    assert match.second_distance == pytest.approx(np.hypot(1.0, 0.05), abs=1e-6)


def test_far_face_is_a_stranger_but_keeps_its_nearest_candidate(gallery):
    match = match_one(point(0.0, 1.5), gallery, POLICY)  # 1.4 from alice, 1.5 from carol
    assert match.person is None
    assert match.candidate == "alice"
    assert match.distance == pytest.approx(1.4)


def test_ratio_test_rejects_a_face_between_two_people(gallery):
    # x=0.45: 0.45 from alice, 0.55 from bob -> under the threshold but ratio 0.82 > 0.8
    match = match_one(point(0.45), gallery, POLICY)
    assert match.distance <= POLICY.threshold
    assert match.ratio == pytest.approx(0.45 / 0.55)
    assert match.person is None
    # x=0.35: ratio 0.35/0.65 = 0.54 passes
    assert match_one(point(0.35), gallery, POLICY).person == "alice"


def test_with_one_enrolled_person_only_the_threshold_applies():
    solo = Gallery.from_rows([("alice", point(0.0))])
    assert match_one(point(0.4), solo, POLICY).person == "alice"
    assert match_one(point(0.6), solo, POLICY).person is None


def test_empty_gallery_names_nobody():
    match = match_one(point(0.0), Gallery.empty(), POLICY)
    assert match.person is None and match.candidate is None
    assert match.distance == np.inf


def test_one_person_is_named_at_most_once_per_image(gallery):
    faces = np.stack([point(0.2), point(0.05), point(1.0)])
    matches = match_faces(faces, gallery, POLICY)
    assert [m.person for m in matches] == [None, "alice", "bob"]
    assert matches[0].candidate == "alice"  # the farther alice look-alike becomes a stranger


def test_accepts_is_vectorised_and_skips_ratio_without_second_person():
    result = accepts(POLICY, [0.3, 0.3, 0.6], [1.0, 0.35, np.inf])
    assert result.tolist() == [True, False, False]
    assert accepts(POLICY, [0.4], [np.inf]).tolist() == [True]


def test_rates_count_correct_wrong_and_strangers():
    enrolled = Trials(np.array([0.1, 0.2, 0.3, 0.7]), np.array([0.9, 0.9, 0.9, 0.9]),
                      np.array([True, False, True, True]))
    strangers = Trials(np.array([0.2, 0.8]), np.array([0.9, 0.9]), np.array([False, False]))
    measured = rates(POLICY, enrolled, strangers)
    assert measured.correct == pytest.approx(0.5)      # 0.1 and 0.3 named correctly
    assert measured.wrong_name == pytest.approx(0.25)  # 0.2 named, but the wrong person
    assert measured.strangers_named == pytest.approx(0.5)


def test_choose_policy_keeps_strangers_below_the_target():
    rng = np.random.default_rng(0)
    genuine = rng.uniform(0.2, 0.5, 500)
    enrolled = Trials(genuine, genuine + rng.uniform(0.2, 0.4, 500), np.ones(500, bool))
    impostor = rng.uniform(0.4, 0.8, 1000)
    strangers = Trials(impostor, impostor + rng.uniform(0.0, 0.1, 1000), np.zeros(1000, bool))
    policy = choose_policy(enrolled, strangers, target_far=0.01, max_wrong=0.0)
    measured = rates(policy, enrolled, strangers)
    assert measured.strangers_named <= 0.01
    # strangers are close to two people, genuine faces are not: the ratio test must be used
    assert policy.ratio < 1.0
    assert measured.correct > 0.95


def test_choose_policy_respects_the_wrong_name_limit():
    # every enrolled probe below 0.3 is the wrong person: nothing under 0.3 may be accepted
    enrolled = Trials(np.array([0.1, 0.2, 0.35, 0.4]), np.full(4, 2.0),
                      np.array([False, False, True, True]))
    strangers = Trials(np.full(10, 1.5), np.full(10, 2.0), np.zeros(10, bool))
    policy = choose_policy(enrolled, strangers, target_far=0.0, max_wrong=0.0)
    assert policy.threshold < 0.1
    assert rates(policy, enrolled, strangers).wrong_name == 0.0


def test_leave_one_out_uses_only_people_with_two_photos(gallery):
    trials = leave_one_out_trials(gallery)
    # alice's two photos are the only probes; each finds the other alice photo at 0.1
    np.testing.assert_allclose(trials.distance, [0.1, 0.1], atol=1e-6)
    assert trials.correct.tolist() == [True, True]


def test_default_threshold_falls_with_the_number_of_people():
    thresholds = [default_policy(people).threshold for people in (0, 1, 10, 100, 1184, 10 ** 6)]
    assert thresholds[0] == thresholds[1] == 0.56
    assert thresholds[2] == pytest.approx(0.525)
    assert thresholds[4] == pytest.approx(0.452, abs=0.001)
    assert thresholds == sorted(thresholds, reverse=True)
    assert thresholds[-1] == 0.4  # never below the floor
