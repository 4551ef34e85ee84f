"""Following faces between detections. Pure: no camera, no dlib, no clock of its own (times
are passed in, in seconds).

Detection finds boxes; embedding a face costs far more than detecting it, and a single frame
can be blurred, half turned or badly lit. So each face seen over several detections becomes
one **track** (matched by box overlap, or by centre distance for a quick step sideways), and
the robot embeds a track's face only while its identity is unsettled, at most
`embeddings_per_second` times a second. Each embedding casts a vote, and the votes settle who
the track is (`greeter.recognition.votes`: the track rule). A settled track is never embedded
again and keeps its identity until it ends.
"""

from typing import Dict, List, Optional, Sequence, Tuple

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

    @property
    def settled(self) -> bool:
        return self.identity is not None

    def __repr__(self) -> str:
        return (f"Track(id={self.id}, box={self.box}, missed={self.missed}, "
                f"votes={len(self.votes)}, identity={self.identity})")


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
        """Unsettled tracks found by the latest detection whose last vote is old enough."""
        interval = 1.0 / self.settings.embeddings_per_second
        return [
            track for track in self._tracks.values()
            if not track.settled and track.missed == 0
            and (track.last_vote_at is None or now - track.last_vote_at >= interval)
        ]

    def vote(self, track_id: int, vote: Vote, now: float,
             judge: MeanJudge) -> Optional[Identity]:
        """Record an embedding of the track's face; `judge` matches the track's new average.
        Returns the identity when this vote settles the track. Votes for ended or already
        settled tracks are ignored (an embedding computed off-thread may arrive late)."""
        track = self._tracks.get(track_id)
        if track is None or track.settled:
            return None
        track.votes.append(vote)
        track.last_vote_at = now
        track.identity = settle(track.votes, judge(mean_embedding(track.votes)), self.settings)
        return track.identity

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
