"""Greeting decisions: once per track, a cooldown per person, strangers once per track."""

import numpy as np

from greeter.live.policy import GreetingDue, GreetingPolicy
from greeter.live.tracking import Track, Tracker
from greeter.recognition.matching import Gallery, MatchPolicy, match_one
from greeter.recognition.votes import Identity, MeanMatch, Vote
from greeter.settings import GreetingPolicySettings, TrackingSettings

COOLDOWN = 300.0


def policy():
    return GreetingPolicy(GreetingPolicySettings(cooldown_seconds=COOLDOWN))


def track(track_id, person="unsettled"):
    """A track settled as `person` (None: a stranger), or unsettled by default."""
    made = Track(track_id, (0, 100, 100, 0), now=0.0)
    if person != "unsettled":
        made.identity = Identity(person, 0.4, 2)
    return made


def test_the_default_cooldown_is_five_minutes():
    assert GreetingPolicySettings().cooldown_seconds == 300.0


def test_a_settled_person_is_greeted_once_per_track():
    rules = policy()
    alice = track(1, "alice")
    assert rules.decide([alice], now=10.0) == [GreetingDue(1, "alice", 10.0, 1)]
    assert rules.decide([alice], now=11.0) == []


def test_unsettled_tracks_wait():
    rules = policy()
    pending = track(1)
    assert rules.decide([pending], now=0.0) == []
    pending.identity = Identity("alice", 0.4, 2)
    assert rules.decide([pending], now=1.0) == [GreetingDue(1, "alice", 1.0, 1)]


def test_a_person_is_not_greeted_again_within_the_cooldown_only_acknowledged():
    rules = policy()
    rules.decide([track(1, "alice")], now=0.0)
    assert rules.decide([track(2, "alice")], now=COOLDOWN - 1) == [
        GreetingDue(2, "alice", COOLDOWN - 1, 1, again=True)], "her first visit's greeting"
    assert rules.in_cooldown("alice", COOLDOWN - 1) and rules.visits("alice") == 1
    # the track acknowledged during the cooldown stays decided after it ends
    assert rules.decide([track(2, "alice")], now=COOLDOWN + 1) == []


def test_a_person_is_greeted_again_after_the_cooldown_as_a_second_visit():
    rules = policy()
    rules.decide([track(1, "alice")], now=0.0)
    assert rules.decide([track(2, "alice")], now=COOLDOWN) == [GreetingDue(2, "alice", COOLDOWN, 2)]
    assert rules.visits("alice") == 2
    assert rules.visits("bob") == 0


def test_the_cooldown_counts_from_the_last_greeting_not_the_last_sighting():
    rules = policy()
    rules.decide([track(1, "alice")], now=0.0)
    rules.decide([track(2, "alice")], now=200.0)  # seen, not greeted
    assert rules.decide([track(3, "alice")], now=301.0) == [GreetingDue(3, "alice", 301.0, 2)]


def test_several_people_in_view_are_each_greeted():
    rules = policy()
    greetings = rules.decide([track(2, "bob"), track(1, "alice"), track(3)], now=5.0)
    assert greetings == [GreetingDue(1, "alice", 5.0, 1), GreetingDue(2, "bob", 5.0, 1)]


def test_the_same_person_settled_on_two_tracks_at_once_is_greeted_once():
    rules = policy()
    greetings = rules.decide([track(1, "alice"), track(2, "alice")], now=5.0)
    assert greetings == [GreetingDue(1, "alice", 5.0, 1),
                         GreetingDue(2, "alice", 5.0, 1, again=True)]


def test_a_stranger_is_greeted_once_per_track_without_cooldown():
    rules = policy()
    assert rules.decide([track(1, None)], now=0.0) == [GreetingDue(1, None, 0.0, 1)]
    assert rules.decide([track(1, None)], now=1.0) == []
    assert rules.decide([track(2, None)], now=2.0) == [GreetingDue(2, None, 2.0, 2)]


def test_strangers_share_one_visit_count_so_their_messages_take_turns():
    rules = policy()
    rules.decide([track(1, "alice")], now=0.0)
    greetings = rules.decide([track(2, None), track(3, None)], now=1.0)
    greetings += rules.decide([track(4, None)], now=2.0)
    assert [greeting.visit for greeting in greetings] == [1, 2, 3]
    assert rules.visits("alice") == 1


def test_a_track_the_tracker_ended_is_forgotten():
    """Decided tracks are kept only while they are live, so a day of passers-by does not
    grow the policy's memory: an id that comes back (never from a real tracker) is new."""
    rules = policy()
    assert rules.decide([track(1, None)], now=0.0) == [GreetingDue(1, None, 0.0, 1)]
    assert rules.decide([], now=1.0) == []
    assert rules.decide([track(1, None)], now=2.0) == [GreetingDue(1, None, 2.0, 2)]


def test_a_zero_cooldown_greets_a_person_on_every_new_track():
    rules = GreetingPolicy(GreetingPolicySettings(cooldown_seconds=0))
    rules.decide([track(1, "alice")], now=0.0)
    assert rules.decide([track(2, "alice")], now=0.0) == [GreetingDue(2, "alice", 0.0, 2)]


def test_tracker_and_policy_together_greet_after_two_agreeing_frames():
    axes = np.eye(128, dtype=np.float32)
    gallery = Gallery.from_rows([("alice", 0.6 * axes[0]), ("bob", 0.6 * axes[1])])
    track_policy = MatchPolicy(threshold=0.5, ratio=0.83)

    def judge(mean):
        match = match_one(mean, gallery, track_policy)
        return MeanMatch(match.person, match.distance, track_policy.threshold)

    tracker, rules = Tracker(TrackingSettings()), policy()
    greeted = []
    frames = [(0, 0.35), (1, 0.48), (0, 0.33), (0, 0.30)]  # (person's axis, distance)
    for index, (axis, distance) in enumerate(frames):
        now = index * 0.3
        embedding = 0.6 * axes[axis] + distance * axes[5 + index]
        match = match_one(embedding, gallery, track_policy)
        (face,) = tracker.update([(50, 150, 150, 50)], now)
        for due in tracker.needing_embedding(now):
            tracker.vote(due.id, Vote(match.candidate, match.distance, embedding), now, judge)
        greeted += rules.decide(tracker.tracks, now)
    assert greeted == [GreetingDue(face.id, "alice", 0.6, 1)]
