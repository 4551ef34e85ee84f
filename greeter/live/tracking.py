"""Following faces between detections. Pure: no camera, no dlib, no clock of its own (times
are passed in, in seconds).

Detection finds boxes; embedding a face costs far more than detecting it, and a single frame
can be blurred, half turned or badly lit. So each face seen over several detections becomes
one **track** (matched by box overlap, or by centre distance for a quick step sideways), and
the robot embeds a track's face while its identity is unsettled, at most
`embeddings_per_second` times a second. Each embedding casts a vote, and the votes settle who
the track is (`greeter.recognition.votes`: the track rule).

**A track follows one face, not one place.** At an entrance guests queue at one spot: the next
guest steps onto it a moment after the last one leaves (or as they leave), and their face
overlaps the last one's box. So a settled track is checked again (one embedding) every
`recheck_seconds`, and at once when its face comes back after being missed or its size jumps
(`size_jump`). A vote whose embedding lies farther than `split_distance` from the average of
the track's votes is somebody else's face if the next vote is too (two in a row: a single
odd frame never splits a track): the track ends there and the two votes start a new
track, which is settled, and greeted, on its own. Measured (``benchmarks/track_split.py``):
within one real pass (the Hamilton clip) no embedding lay farther than 0.42 from its track's
average, while only 0.18 % of pairs of different lfw-dev people lie within 0.55.

While a vote is odd (one unlike the track's, `Track.odd_vote`) the track is in doubt and the
screen hides its greeting behind the arriving message (`greeter.live.pictures`). When the next
guest steps onto the spot with no gap at all and the same size, nothing but an embedding tells
them apart, so the last guest's greeting can stay over them until the next check: up to
`recheck_seconds` and two votes (0.27-0.47 s in tests/test_stream.py's queue with no gaps, where
guests stand 2.2 s). A cheaper cue was measured and rejected: a face's 16x16 grey look
correlated below 0.7 between two detections 0.1 s apart for the same person in half of the
Hamilton clip's steps (each a wasted embedding), while 1.5 % of pairs of different lfw-dev
people correlated above it.
"""

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from greeter.recognition.faces import Box, box_area
from greeter.recognition.votes import Identity, MeanJudge, Vote, mean_embedding, settle
from greeter.settings import TrackingSettings


def iou(first: Box, second: Box) -> float:
    """Intersection over union of two ``(top, right, bottom, left)`` boxes, 0 to 1."""
    top, right = max(first[0], second[0]), min(first[1], second[1])
    bottom, left = min(first[2], second[2]), max(first[3], second[3])
    intersection = max(0, right - left) * max(0, bottom - top)
    union = box_area(first) + box_area(second) - intersection
    return intersection / union if union > 0 else 0.0


def centre_shift(previous: Box, current: Box) -> float:
    """How far the box's centre moved, in widths of the `previous` box."""
    width = max(1, previous[1] - previous[3])
    dx = (current[1] + current[3] - previous[1] - previous[3]) / 2.0
    dy = (current[0] + current[2] - previous[0] - previous[2]) / 2.0
    return (dx * dx + dy * dy) ** 0.5 / width


class Track:
    """One face followed over detections. Read its attributes; only `Tracker` changes them.

    `box` is where the face was last detected; `missed` counts the detections in a row that
    did not find it since; `identity` is None until the votes settle it.
    """

    def __init__(self, track_id: int, box: Box, now: float):
        self.id = track_id
        self.box = box
        self.first_seen = now
        self.last_seen = now
        self.missed = 0
        self.votes: List[Vote] = []
        self.last_vote_at: Optional[float] = None
        self.identity: Optional[Identity] = None
        #: A vote unlike the track's others, waiting for the next one to confirm it.
        self.odd_vote: Optional[Vote] = None
        #: Whether the face should be embedded again at the next chance: it came back after
        #: being missed, or its size jumped.
        self.check_due = False

    @property
    def settled(self) -> bool:
        return self.identity is not None

    def __repr__(self) -> str:
        return (f"Track(id={self.id}, box={self.box}, missed={self.missed}, "
                f"votes={len(self.votes)}, identity={self.identity})")


def _size_ratio(previous: Box, current: Box) -> float:
    """How much the box's width changed, as a ratio of at least 1."""
    before = max(1, previous[1] - previous[3])
    after = max(1, current[1] - current[3])
    return max(before, after) / min(before, after)


class Tracker:
    """Tracks of the faces in view, updated with each detection's boxes.

    Typical use, once per detection on a frame taken at time `now`::

        tracks = tracker.update(boxes, now)          # the track of each box
        for track in tracker.needing_embedding(now):  # new or unsettled, rate-limited
            face = ...embed and match track.box on the same frame (Recogniser)...
            tracker.vote(track.id, face.vote, now, recogniser.judge_track)
    """

    def __init__(self, settings: TrackingSettings):
        self.settings = settings
        self._tracks: Dict[int, Track] = {}
        self._next_id = 1

    @property
    def tracks(self) -> List[Track]:
        """The live tracks, oldest first."""
        return list(self._tracks.values())

    def update(self, boxes: Sequence[Box], now: float) -> List[Track]:
        """Match one detection's boxes to the tracks; returns the track of each box, in order.

        Boxes continue the tracks they overlap most (greedy by IoU, then by centre distance for
        boxes that overlap nothing); other boxes start new tracks. Tracks missed by this
        detection age and end as `TrackingSettings` says.
        """
        self._forget_stale(now)
        live = list(self._tracks.values())
        matched = self._match(live, boxes)
        result: List[Track] = []
        for index, box in enumerate(boxes):
            track = matched.get(index)
            if track is None:
                track = Track(self._next_id, tuple(box), now)
                self._tracks[track.id] = track
                self._next_id += 1
            else:
                jumped = _size_ratio(track.box, box) > self.settings.size_jump
                track.check_due |= track.missed > 0 or jumped
                track.box = tuple(box)
                track.last_seen = now
                track.missed = 0
            result.append(track)
        continued = {track.id for track in matched.values()}
        for track in live:
            if track.id not in continued:
                track.missed += 1
                if (track.missed >= self.settings.lost_after_detections
                        and now - track.last_seen >= self.settings.lost_after_seconds):
                    del self._tracks[track.id]
        return result

    def needing_embedding(self, now: float) -> List[Track]:
        """Tracks found by the latest detection whose face should be embedded now: unsettled
        ones, at most `embeddings_per_second`; settled ones when a check is due (see the
        module docstring)."""
        interval = 1.0 / self.settings.embeddings_per_second
        return [
            track for track in self._tracks.values()
            if track.missed == 0 and (track.last_vote_at is None or (
                now - track.last_vote_at >= interval and self._wants_vote(track, now)))
        ]

    def _wants_vote(self, track: Track, now: float) -> bool:
        return (not track.settled or track.check_due or track.odd_vote is not None
                or now - track.last_vote_at >= self.settings.recheck_seconds)

    def vote(self, track_id: int, vote: Vote, now: float,
             judge: MeanJudge) -> Optional[Identity]:
        """Record an embedding of the track's face; `judge` matches a track's average. Returns
        the identity this vote settles: of the track, or of the new track that starts when the
        face turned out to be somebody else's (see the module docstring); None when nothing
        was settled, and for a track that ended meanwhile (an embedding computed off-thread
        may arrive late)."""
        track = self._tracks.get(track_id)
        if track is None:
            return None
        track.last_vote_at = now
        track.check_due = False
        if self._unlike(track, vote):
            if track.odd_vote is None:
                track.odd_vote = vote  # confirmed or dropped by the next vote
                return None
            return self._split(track, [track.odd_vote, vote], now, judge).identity
        track.odd_vote = None
        if track.settled:
            return None
        track.votes.append(vote)
        track.identity = settle(track.votes, judge(mean_embedding(track.votes)), self.settings)
        return track.identity

    def _unlike(self, track: Track, vote: Vote) -> bool:
        """A vote farther than `split_distance` from the track's average. Every vote counts,
        the poorest too: no vote of the Hamilton clip, small, soft or turned, lay beyond 0.42
        of its track's average (benchmarks/track_split.py), while gating on a vote's weight
        (0.3 and up) kept guests with soft faces (LFW photos weigh 0.28-0.45) from ever
        getting a track of their own."""
        return bool(track.votes) and float(np.linalg.norm(
            mean_embedding(track.votes) - vote.embedding)) > self.settings.split_distance

    def _split(self, track: Track, votes: List[Vote], now: float, judge: MeanJudge) -> Track:
        """End `track`: its face is somebody else's now, whose `votes` start a new track."""
        del self._tracks[track.id]
        new = Track(self._next_id, track.box, now)
        self._next_id += 1
        new.last_seen, new.missed, new.last_vote_at = track.last_seen, track.missed, now
        new.votes = list(votes)
        new.identity = settle(new.votes, judge(mean_embedding(new.votes)), self.settings)
        self._tracks[new.id] = new
        return new

    def _forget_stale(self, now: float) -> None:
        for track_id in [track.id for track in self._tracks.values()
                         if now - track.last_seen > self.settings.forget_after_seconds]:
            del self._tracks[track_id]

    def _match(self, tracks: Sequence[Track], boxes: Sequence[Box]) -> Dict[int, Track]:
        """Box index -> track, each track and box used at most once, best pairs first."""
        by_overlap: List[Tuple[float, int, int]] = []
        by_distance: List[Tuple[float, int, int]] = []
        for track_index, track in enumerate(tracks):
            for box_index, box in enumerate(boxes):
                overlap = iou(track.box, box)
                if overlap >= self.settings.min_iou:
                    by_overlap.append((-overlap, track_index, box_index))
                else:
                    shift = centre_shift(track.box, box)
                    if shift <= self.settings.max_centre_shift:
                        by_distance.append((shift, track_index, box_index))
        matched: Dict[int, Track] = {}
        used_tracks = set()
        for _, track_index, box_index in sorted(by_overlap) + sorted(by_distance):
            if track_index in used_tracks or box_index in matched:
                continue
            used_tracks.add(track_index)
            matched[box_index] = tracks[track_index]
        return matched
