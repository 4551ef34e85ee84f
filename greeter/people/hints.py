"""Quality hints for staff: what to do so that the robot recognises a person reliably.

A single photo works, but more photos make recognition much surer: on lfw-dev (people with 4
photos or more, identified on their photos from the 4th on, 1 % of strangers named;
``benchmarks/openset_lfw.py --photos 3``) one enrolled photo names 74 % of them correctly, two
84 %, three 86 %. A weak photo is one `greeter enroll` warned about (`greeter.people.enrolment
.face_advice`: a small or soft face); the store keeps no head turn, so that warning is only
given when enrolling.
"""

from typing import Sequence, Tuple

from greeter.people.enrolment import face_advice
from greeter.settings import EnrolmentSettings

#: The fix for a person recognised less often than they could be.
ADD_PHOTOS = "add 1-2 more photos"


def quality_hint(photos: Sequence[Tuple[int, float]], enrolment: EnrolmentSettings) -> str:
    """One line for a person whose photos have these (face size, sharpness); empty when nothing
    needs doing."""
    if not photos:
        return "no photo: enrol one"
    weak = all(face_advice(size, sharpness, None, enrolment) for size, sharpness in photos)
    if len(photos) == 1:
        return f"one {'weak ' if weak else ''}photo: {ADD_PHOTOS}"
    return f"only weak photos: {ADD_PHOTOS} with larger, sharper faces" if weak else ""


def photo_verdict(face_size: int, sharpness: float, enrolment: EnrolmentSettings) -> str:
    """How good one enrolled photo is."""
    advice = face_advice(face_size, sharpness, None, enrolment)
    return f"enrolled; {'; '.join(advice)}" if advice else "enrolled; good"
