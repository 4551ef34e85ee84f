"""Is anything moving in front of the camera, and where? Pure: plain arrays in, boxes out.

The robot looks at a small grey copy of each frame due for detection (`small_grey`:
`WIDTH` pixels across, made from the picture already shrunk for the screen's camera inset)
and compares it with the copy taken at the previous check, 0.1 s earlier. A cell counts as
changed when its grey level moved by more than `CHANGE_LEVEL`; the changed cells, grown by
one cell, are grouped into regions (`Motion.regions`, in the frame's pixels) where the
detector should look.

Why these numbers (measured here, `benchmarks/empty_entrance.py` and the Hamilton clip):

* `WIDTH` 80: shrinking 640x480 by 8 (to the inset's 200 px, then to 80, averaging) divides
  independent sensor noise by ~5-8, while a face of 80 px still covers ~10x10 cells.
* `CHANGE_LEVEL` 12 grey levels: between two checks of the still corridor of
  tests/scenes.py with sensor noise of sigma 6, the largest cell change in 600 checks (60 s)
  was 5.0 (sigma 10: 6.0); people moving in the Hamilton clip changed cells by up to 90-240.
* `MIN_CELLS` 3: one or two isolated changed cells (a flicker, a compression artefact in a
  video) are not motion; a head turning changes dozens of cells.
"""

from dataclasses import dataclass
from typing import List, Optional, Tuple

import cv2
import numpy as np

from greeter.recognition.faces import Box

WIDTH = 80
CHANGE_LEVEL = 12
MIN_CELLS = 3


def small_grey(rgb: np.ndarray) -> np.ndarray:
    """`rgb` shrunk to `WIDTH` pixels across (aspect kept), grey, as float32."""
    height, width = rgb.shape[:2]
    small = cv2.resize(rgb, (WIDTH, max(1, round(height * WIDTH / width))),
                       interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)


@dataclass(frozen=True)
class Motion:
    """What changed since the previous check: `regions` in the frame's pixels, empty when
    nothing moved, and the share of the cells that changed (1.0 when nothing is known)."""

    regions: Tuple[Box, ...]
    changed_share: float = 0.0

    @property
    def moving(self) -> bool:
        return bool(self.regions)


STILL = Motion(())


class MotionGate:
    """Compares each small grey frame with the previous one given to `check`."""

    def __init__(self) -> None:
        self._previous: Optional[np.ndarray] = None

    def check(self, grey: np.ndarray, frame_size: Tuple[int, int]) -> Motion:
        """Motion between the previous `grey` and this one; `frame_size` is (width, height)
        of the frame `grey` was made from. The first check, and a check after the frame size
        changed, report the whole frame as moving: nothing is known yet."""
        previous, self._previous = self._previous, grey
        width, height = frame_size
        if previous is None or previous.shape != grey.shape:
            return Motion(((0, width, height, 0),), 1.0)
        changed = (np.abs(grey - previous) > CHANGE_LEVEL).astype(np.uint8)
        if int(changed.sum()) < MIN_CELLS:
            return STILL
        grown = cv2.dilate(changed, np.ones((3, 3), np.uint8))
        count, labels, stats, _ = cv2.connectedComponentsWithStats(grown, connectivity=8)
        changed_cells = np.bincount(labels[changed > 0], minlength=count)
        scale_x, scale_y = width / grey.shape[1], height / grey.shape[0]
        regions: List[Box] = []
        for label in range(1, count):
            if changed_cells[label] < MIN_CELLS:
                continue
            left, top, cells_wide, cells_high, _ = stats[label]
            regions.append((int(top * scale_y), min(width, int((left + cells_wide) * scale_x + 1)),
                            min(height, int((top + cells_high) * scale_y + 1)),
                            int(left * scale_x)))
        return Motion(tuple(regions), float(changed.mean()))
