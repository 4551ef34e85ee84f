"""Where the detector looks on a frame due for detection. Pure: plain values and times in.

A full-frame HOG scan is the loop's largest cost (~40 ms for 640x360 on a core here, several
times that on the Nano), yet most of a frame is wall and floor. So, on each frame due for
detection (every 0.1 s, `greeter.live.throttle`), `plan_scan` chooses:

* **nothing**, while the scene is still and nobody is tracked, except a full scan every
  `FULL_EVERY_STILL` seconds: somebody standing perfectly still when the robot starts, or who
  crept in below the motion gate's threshold, is still found. 3 s: a full scan of 640x480
  took 72 ms of CPU here (machine busy), so an empty entrance spends ~2.4 % of a core on
  it (the whole empty loop, 30 fps: 5.2 % of a core at 3 s, with the goal at 10 %), and a
  guest who does not move at all waits at most 3 s; anybody walking in moves and is scanned
  at once;
* **regions** around each live track (its box grown by `TRACK_MARGIN` of its width on each
  side: a walking guest moves well under half a face width in 0.1 s) and around whatever
  moved (`greeter.live.motion`), merged where they overlap. The cost follows the people, not the
  frame size: one guest's region is ~2x2 face widths, ~15 % of a 640x360 frame;
* **the full frame** when the regions would cover more than `FULL_SHARE` of it (scanning it
  whole is then cheaper than the overlaps), and at least every `FULL_EVERY_BUSY` seconds
  while anybody is tracked or anything moves, so a face that came in without a motion of its
  own (behind somebody who was already moving) is found within 0.5 s;
* the full frame too when at least `PICTURE_CHANGED` of the motion gate's cells changed
  (the whole picture changed: a cut in a video, the camera knocked, the lights), or when a
  track was missed by the last detection (its face left, turned away, or the picture
  changed): tracks then say little about where faces are. On the Hamilton clip its three
  cuts changed 51-55 % of the cells, any other check at most 39 %; after its last cut the
  new face stood still, so no motion pointed at it, but Lin-Manuel's track went missing;
* while somebody is tracked and the motion is too large to follow (a crowd, people moving
  across the whole view: on the Hamilton clip whatever moved covered 40-70 % of the frame
  most of the time), **only the tracks' regions**: newcomers wait for the next full scan,
  at most `FULL_EVERY_BUSY`.

Measured on the Hamilton clip (640x360) here, machine busy: a full scan 69 ms, a 190x180
region 11 ms. With these rules the clip runs 47 full scans and 46 region scans instead of
92 full ones, with the same face recall (97.4 %) and time-to-greet (0.27 s).
"""

from dataclasses import dataclass
from typing import List, Sequence, Tuple

from greeter.live.motion import Motion
from greeter.recognition.faces import Box

FULL_EVERY_STILL = 3.0
FULL_EVERY_BUSY = 0.5
TRACK_MARGIN = 0.5
#: Motion regions are grown by this many pixels: the moving edge of a head is not all of it.
MOTION_MARGIN = 24
#: The smallest region side: HOG's window is 80 px, and a face at a region's edge needs room.
MIN_SIDE = 160
FULL_SHARE = 0.6
PICTURE_CHANGED = 0.45


@dataclass(frozen=True)
class Scan:
    """What to detect on one frame: the whole frame (`full`), or `regions` (possibly none)."""

    full: bool
    regions: Tuple[Box, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.full and not self.regions


FULL = Scan(True)
NOTHING = Scan(False)


def plan_scan(now: float, frame_size: Tuple[int, int], tracks: Sequence[Box], motion: Motion,
              last_full_at: float, track_missed: bool = False) -> Scan:
    """The scan for a frame of time `now` and `frame_size` (width, height), given the boxes of
    the live tracks, what moved, when the last full scan ran, and whether a track was missed
    by the last detection."""
    busy = bool(tracks) or motion.moving
    if (now - last_full_at >= (FULL_EVERY_BUSY if busy else FULL_EVERY_STILL) - 0.001
            or motion.changed_share >= PICTURE_CHANGED or track_missed):
        return FULL
    if not busy:
        return NOTHING
    around_tracks = [grow(box, int(TRACK_MARGIN * (box[1] - box[3])), frame_size)
                     for box in tracks]
    moved = [grow(box, MOTION_MARGIN, frame_size) for box in motion.regions]
    width, height = frame_size
    most = FULL_SHARE * width * height
    for wanted in (around_tracks + moved, around_tracks):
        regions = merge(wanted)
        if regions and sum(area(region) for region in regions) <= most:
            return Scan(False, tuple(regions))
    return FULL


def area(box: Box) -> int:
    top, right, bottom, left = box
    return max(0, bottom - top) * max(0, right - left)


def grow(box: Box, margin: int, frame_size: Tuple[int, int]) -> Box:
    """`box` grown by `margin` on each side and to at least `MIN_SIDE`, inside the frame."""
    width, height = frame_size
    top, right, bottom, left = box
    top, right, bottom, left = top - margin, right + margin, bottom + margin, left - margin
    left, right = _at_least(left, right, MIN_SIDE, width)
    top, bottom = _at_least(top, bottom, MIN_SIDE, height)
    return top, right, bottom, left


def _at_least(start: int, end: int, side: int, limit: int) -> Tuple[int, int]:
    """The span widened around its middle to `side` (at most `limit`) and moved inside
    0..`limit`."""
    if end - start < side:
        middle = (start + end) // 2
        start, end = middle - side // 2, middle + side - side // 2
    if start < 0:
        start, end = 0, end - start
    if end > limit:
        start, end = start - (end - limit), limit
    return max(0, start), min(limit, end)


def merge(boxes: Sequence[Box]) -> List[Box]:
    """Overlapping boxes replaced by their bounding box, until none overlap."""
    merged = [tuple(box) for box in boxes]
    changed = True
    while changed:
        changed = False
        for i in range(len(merged)):
            for j in range(i + 1, len(merged)):
                if _overlap(merged[i], merged[j]):
                    a, b = merged[i], merged[j]
                    merged[i] = (min(a[0], b[0]), max(a[1], b[1]), max(a[2], b[2]),
                                 min(a[3], b[3]))
                    del merged[j]
                    changed = True
                    break
            if changed:
                break
    return merged


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[3] < b[1] and b[3] < a[1]
