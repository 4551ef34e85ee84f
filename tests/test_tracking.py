"""The face tracker and the identity vote, on boxes and votes made up by hand."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greeter.settings import TrackingSettings
from greeter.tracking import Tracker, Vote, centre_shift, iou, settle

SETTINGS = TrackingSettings()


def box(left, top, size=100):
    """A square (top, right, bottom, left) box."""
    return (top, left + size, top + size, left)


def votes(*people):
    return [Vote(person, 0.4) for person in people]


# --- geometry ------------------------------------------------------------------------------


def test_iou_of_identical_disjoint_and_half_overlapping_boxes():
    assert iou(box(0, 0), box(0, 0)) == 1.0
    assert iou(box(0, 0), box(500, 0)) == 0.0
    # shifted by half a width: intersection 50x100, union 150x100
    assert iou(box(0, 0), box(50, 0)) == pytest.approx(1 / 3)


def test_centre_shift_is_in_widths_of_the_previous_box():
    assert centre_shift(box(0, 0), box(0, 0)) == 0
    assert centre_shift(box(0, 0), box(150, 0)) == pytest.approx(1.5)
    assert centre_shift(box(0, 0, 200), box(30, 40, 200)) == pytest.approx(0.25)


# --- tracks --------------------------------------------------------------------------------


def test_new_boxes_start_tracks_with_distinct_ids():
    tracker = Tracker(SETTINGS)
    first, second = tracker.update([box(0, 0), box(400, 0)], now=0.0)
    assert first.id != second.id
    assert [track.id for track in tracker.tracks] == [first.id, second.id]


def test_a_moving_face_keeps_its_track():
    tracker = Tracker(SETTINGS)
    (start,) = tracker.update([box(0, 0)], now=0.0)
    for step in range(1, 10):
        (track,) = tracker.update([box(20 * step, 5 * step)], now=0.1 * step)
        assert track.id == start.id
    assert track.box == box(180, 45)
    assert len(tracker.tracks) == 1


def test_a_quick_step_sideways_without_overlap_continues_by_centre_distance():
    tracker = Tracker(SETTINGS)
    (start,) = tracker.update([box(0, 0)], now=0.0)
    (moved,) = tracker.update([box(55, 0)], now=0.5)  # IoU 0.29 < 0.3, shift 0.55 widths
    assert iou(box(0, 0), box(55, 0)) < SETTINGS.min_iou
    assert moved.id == start.id


def test_a_far_away_box_is_somebody_else():
    tracker = Tracker(SETTINGS)
    (start,) = tracker.update([box(0, 0)], now=0.0)
    (other,) = tracker.update([box(300, 0)], now=0.1)
    assert other.id != start.id


def test_each_box_continues_the_track_it_overlaps_most_even_when_listed_in_another_order():
    tracker = Tracker(SETTINGS)
    left, right = tracker.update([box(0, 0), box(200, 0)], now=0.0)
    new_right, new_left = tracker.update([box(210, 0), box(10, 0)], now=0.1)
    assert (new_left.id, new_right.id) == (left.id, right.id)


def test_two_boxes_cannot_continue_the_same_track():
    tracker = Tracker(SETTINGS)
    (start,) = tracker.update([box(0, 0)], now=0.0)
    first, second = tracker.update([box(5, 0), box(30, 0)], now=0.1)
    assert first.id == start.id
    assert second.id != start.id


def test_a_track_survives_a_few_missed_detections():
    tracker = Tracker(SETTINGS)
    (start,) = tracker.update([box(0, 0)], now=0.0)
    for step in range(1, SETTINGS.lost_after_detections + 1):
        tracker.update([], now=0.1 * step)  # quick misses: not 1 s unseen yet
    assert [track.id for track in tracker.tracks] == [start.id]
    assert start.missed == SETTINGS.lost_after_detections
    (again,) = tracker.update([box(0, 0)], now=0.5)
    assert again.id == start.id and again.missed == 0


def test_a_track_ends_after_enough_misses_and_enough_time():
    tracker = Tracker(SETTINGS)
    tracker.update([box(0, 0)], now=0.0)
    for step in range(1, SETTINGS.lost_after_detections):
        tracker.update([], now=0.5 * step)
    assert tracker.tracks
    tracker.update([], now=0.5 * SETTINGS.lost_after_detections)  # 3rd miss, 1.5 s unseen
    assert tracker.tracks == []


def test_slow_detection_does_not_end_a_track_after_one_miss():
    tracker = Tracker(SETTINGS)
    (start,) = tracker.update([box(0, 0)], now=0.0)
    tracker.update([], now=2.0)  # one miss, 2 s unseen: under pressure detection is slow
    (again,) = tracker.update([box(0, 0)], now=4.0)
    assert again.id == start.id


def test_after_a_long_pause_the_same_place_starts_a_new_track():
    tracker = Tracker(SETTINGS)
    (start,) = tracker.update([box(0, 0)], now=0.0)
    tracker.vote(start.id, "alice", 0.3, now=0.0)
    tracker.vote(start.id, "alice", 0.3, now=0.5)
    assert start.settled
    (later,) = tracker.update([box(0, 0)], now=SETTINGS.forget_after_seconds + 1)
    assert later.id != start.id
    assert not later.settled


# --- embeddings ----------------------------------------------------------------------------


def test_a_new_track_needs_an_embedding_and_then_waits_for_the_rate_limit():
    # 4 embeddings per second: one every 0.25 s
    tracker = Tracker(SETTINGS.model_copy(update={"embeddings_per_second": 4.0}))
    (track,) = tracker.update([box(0, 0)], now=0.0)
    assert tracker.needing_embedding(0.0) == [track]
    tracker.vote(track.id, "alice", 0.3, now=0.0)
    tracker.update([box(0, 0)], now=0.1)
    assert tracker.needing_embedding(0.1) == []
    tracker.update([box(0, 0)], now=0.25)
    assert tracker.needing_embedding(0.25) == [track]


def test_settled_and_missed_tracks_need_no_embedding():
    tracker = Tracker(SETTINGS)
    settled, missed = tracker.update([box(0, 0), box(400, 0)], now=0.0)
    tracker.vote(settled.id, "alice", 0.3, now=0.0)
    tracker.vote(settled.id, "alice", 0.3, now=1.0)
    tracker.update([box(0, 0)], now=2.0)  # the second face was not found this time
    assert settled.settled and missed.missed == 1
    assert tracker.needing_embedding(2.0) == []


def test_votes_for_ended_or_unknown_tracks_are_ignored():
    tracker = Tracker(SETTINGS)
    assert tracker.vote(42, "alice", 0.3, now=0.0) is None
    (track,) = tracker.update([box(0, 0)], now=0.0)
    tracker.update([box(0, 0)], now=SETTINGS.forget_after_seconds + 5)  # a new track
    assert tracker.vote(track.id, "alice", 0.3, now=20.0) is None


# --- votes ---------------------------------------------------------------------------------


def test_two_agreeing_votes_settle_a_person_with_their_median_distance():
    tracker = Tracker(SETTINGS)
    (track,) = tracker.update([box(0, 0)], now=0.0)
    assert tracker.vote(track.id, "alice", 0.30, now=0.0) is None
    identity = tracker.vote(track.id, "alice", 0.40, now=0.3)
    assert identity is not None and identity.person == "alice"
    assert identity.distance == pytest.approx(0.35)
    assert track.identity == identity and not identity.is_stranger


def test_one_vote_never_settles_a_name():
    assert settle(votes("alice"), SETTINGS) is None


def test_a_single_bad_frame_among_good_ones_does_not_produce_its_name():
    identity = settle(votes("alice", "bob", "alice"), SETTINGS)
    assert identity is not None and identity.person == "alice"
    assert settle(votes("bob", "alice"), SETTINGS) is None


def test_conflicting_votes_delay_settling():
    assert settle(votes("alice", "bob", "alice", "bob"), SETTINGS) is None
    assert settle(votes("alice", "bob", "alice", "bob", "alice"), SETTINGS) is None  # 3/5 < 0.66
    identity = settle(votes("alice", "bob", "alice", "bob", "alice", "alice"), SETTINGS)
    assert identity is not None and identity.person == "alice"


def test_a_stranger_is_settled_after_three_votes_for_nobody():
    assert settle(votes(None, None), SETTINGS) is None
    identity = settle(votes(None, None, None), SETTINGS)
    assert identity is not None and identity.is_stranger


def test_a_guest_matched_once_out_of_three_is_not_yet_a_stranger():
    assert settle(votes(None, "alice", None), SETTINGS) is None
    identity = settle(votes(None, "alice", None, None), SETTINGS)
    assert identity is not None and identity.is_stranger


def test_an_undecided_track_becomes_a_stranger_after_max_votes():
    undecided = votes(*(["alice", "bob", None] * 3))[: SETTINGS.max_votes]
    assert settle(undecided[:-1], SETTINGS) is None
    identity = settle(undecided, SETTINGS)
    assert identity is not None and identity.is_stranger
    assert identity.distance == float("inf")


def test_settled_tracks_ignore_later_votes():
    tracker = Tracker(SETTINGS)
    (track,) = tracker.update([box(0, 0)], now=0.0)
    tracker.vote(track.id, "alice", 0.3, now=0.0)
    tracker.vote(track.id, "alice", 0.3, now=0.3)
    assert tracker.vote(track.id, "bob", 0.3, now=0.6) is None
    assert track.identity.person == "alice"
    assert len(track.votes) == 2


def test_stricter_settings_need_more_votes():
    strict = TrackingSettings(person_votes=3, stranger_votes=4)
    assert settle(votes("alice", "alice"), strict) is None
    assert settle(votes("alice", "alice", "alice"), strict).person == "alice"
    assert settle(votes(None, None, None), strict) is None


def test_max_votes_below_the_votes_needed_is_refused():
    with pytest.raises(ValueError, match="max_votes"):
        TrackingSettings(max_votes=3, stranger_votes=4)


@given(st.lists(st.sampled_from(["alice", "bob", "carol", None]), max_size=12),
       st.sampled_from(["alice", "bob", "carol"]))
def test_no_name_comes_from_a_single_vote(people, intruder):
    """Whatever the other votes, a name voted for once is never the settled name."""
    once = [person for person in people if person != intruder] + [intruder]
    for cut in range(1, len(once) + 1):
        identity = settle(votes(*once[:cut]), SETTINGS)
        if identity is not None:
            assert identity.person != intruder
            break


@given(st.lists(st.sampled_from(["alice", "bob", None]), max_size=12))
def test_a_settled_person_always_has_enough_votes_and_the_majority(people):
    identity = settle(votes(*people), SETTINGS)
    if identity is not None and identity.person is not None:
        count = people.count(identity.person)
        assert count >= SETTINGS.person_votes
        assert count >= SETTINGS.majority * len(people)
