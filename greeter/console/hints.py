"""Quality hints for staff: what to do so that the robot recognises a person reliably.

A single photo works, but a second one from another day or angle makes recognition much surer;
a face under `SMALL_FACE` pixels was enrolled (it passed the minimum) but carries less detail.
"""

from typing import Sequence

#: Faces smaller than this (pixels across) are enrolled, but a closer photo would help.
SMALL_FACE = 100


def quality_hint(face_sizes: Sequence[int]) -> str:
    """One line for the people list, empty when nothing needs doing."""
    if not face_sizes:
        return "no photo: enrol one"
    small = all(size < SMALL_FACE for size in face_sizes)
    if len(face_sizes) == 1:
        return "one small photo: add another" if small else "one photo: add another"
    return "only small photos: add a closer one" if small else ""


def photo_verdict(face_size: int) -> str:
    """How good one enrolled photo is."""
    if face_size < SMALL_FACE:
        return f"enrolled; small face ({face_size} px): a closer photo would help"
    return "enrolled; good"
