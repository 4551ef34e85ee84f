"""What the robot's screen shows, as the plain values of a `greeter.screen.display.Scene`:
the greetings on screen with their ages, the camera inset, and a screenshot's private picture.

**The screen tells the truth about now.** A greeting belongs to the person it greets (their
track): it stays on screen while they are in view, however long they linger, and goes when
they leave, once it has been on screen for `MIN_READ_SECONDS`, fading out as usual; if
somebody else is in view by then, it goes at once, so a guest is never shown the previous
guest's greeting (`follow`). While a face is in view that nobody has decided about yet, the
stage shows the greetings file's `arriving_message` ("Welcome!"), never an empty stage; so it
does while a greeted face is in doubt (its last embedding looked like somebody else's: the
next guest may have stepped onto the spot with no gap at all): the greeting is hidden until the
next embedding either confirms the person, and it shows again, or ends the track.
Greetings of nobody's track (the door's "Thank you") stay `UiSettings.greeting_seconds`.

**Privacy**: a screenshot (``--screenshot-dir``) shows one greeting and pixelates the whole
camera picture but the greeted person's face (`pixelate`).
"""

from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np

from greeter.greetings.schema import ScreenContent
from greeter.live.camera import Frame
from greeter.recognition.faces import Box
from greeter.screen.display import Scene, ShownGreeting
from greeter.settings import UiSettings

#: A greeting stays on screen at least this long, its fade-in included, unless somebody else
#: is in view: "Welcome back, Alexandra!" and its fade-in (0.4 s) read in ~1.5 s at an adult's
#: 4-5 words a second; 2 s leaves a glance's margin. A queue's next guest steps in 0.3-1 s
#: after the last one leaves, so the shorter the better, as long as it is read.
MIN_READ_SECONDS = 2.0


def hex_to_rgb(colour: str) -> Tuple[int, int, int]:
    return (int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16))


def pixelate(rgb: np.ndarray, keep: Sequence[Box], blocks_across: int = 16) -> np.ndarray:
    """A copy of `rgb` reduced to coarse blocks (`blocks_across` over its width: a face of
    300 px in a 640 px frame keeps about 7 blocks across, unrecognisable) except the faces in
    `keep`, widened to take in hair, ears and chin.

    Everything is hidden but what is kept, rather than the strangers' faces only: a face the
    detector missed in that frame (turned aside, small, behind somebody) is hidden too.
    """
    height, width = rgb.shape[:2]
    block = max(2, -(-width // blocks_across))
    small = cv2.resize(rgb, (max(1, width // block), max(1, height // block)),
                       interpolation=cv2.INTER_AREA)
    hidden = cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)
    for top, right, bottom, left in keep:
        # HOG boxes hug the eyes and mouth
        margin_y, margin_x = (bottom - top) // 3, (right - left) // 5
        top, left = max(0, top - margin_y), max(0, left - margin_x)
        bottom, right = min(height, bottom + margin_y // 2), min(width, right + margin_x)
        hidden[top:bottom, left:right] = rgb[top:bottom, left:right]
    return hidden


@dataclass
class _Shown:
    """A greeting on screen: its text, the part emphasised, when it was shown, the track of
    the person it greets (None: nobody's), and when it began to fade out (None: not yet)."""

    text: str
    emphasis: str
    at: float
    track_id: Optional[int] = None
    fading_from: Optional[float] = None
    #: Hidden while its person's track is in doubt (`ScreenPictures.follow`).
    hidden: bool = False


class ScreenPictures:
    """The greetings shown and the camera inset of a screen `screen_width` pixels wide."""

    def __init__(self, ui: UiSettings, screen_width: int):
        self._ui = ui
        self._inset_width = round(screen_width * ui.camera_inset_width)
        #: The frame last shrunk for the screen, and its picture (`inset`).
        self._inset_of: Optional[Frame] = None
        self._inset_rgb: Optional[np.ndarray] = None
        self._shown: List[_Shown] = []
        #: Since when a face nobody has decided about yet has been in view (`follow`).
        self._undecided_since: Optional[float] = None

    def show(self, text: str, first_name: str, t: float,
             track_id: Optional[int] = None) -> None:
        """Put a greeting on screen from `t` on, for the person of track `track_id` (None: a
        greeting of nobody's track, shown `UiSettings.greeting_seconds`)."""
        self._shown.append(_Shown(text, first_name, t, track_id))

    def follow(self, tracks: Sequence[Tuple[int, bool, float, bool]], now: float) -> None:
        """The tracks in view at `now`, each (id, decided, first seen, in doubt): greetings of
        people who left start to go, those of people in doubt are hidden (see the module
        docstring)."""
        in_view = {track_id for track_id, _, _, _ in tracks}
        doubted = {track_id for track_id, _, _, doubt in tracks if doubt}
        greeted = {shown.track_id for shown in self._shown}
        undecided = [since for track_id, decided, since, doubt in tracks
                     if doubt or (not decided and track_id not in greeted)]
        self._undecided_since = min(undecided) if undecided else None
        kept = []
        for shown in self._shown:
            shown.hidden = shown.track_id in doubted
            if shown.track_id is not None and shown.track_id not in in_view:
                if in_view:
                    continue  # somebody else is in view: never their greeting over them
                if shown.fading_from is None:
                    shown.fading_from = max(now, shown.at + MIN_READ_SECONDS)
            kept.append(shown)
        self._shown = kept

    def showing(self, now: float) -> bool:
        """Whether a greeting is on screen at `now`."""
        return any(self._age(shown, now) < self._ui.greeting_seconds for shown in self._shown)

    def _age(self, shown: _Shown, now: float) -> float:
        """The age the screen fades `shown` by: held before its fade-out while its person is
        in view, then the fade-out."""
        if shown.track_id is None:
            return now - shown.at
        hold = self._ui.greeting_seconds - self._ui.fade_out_seconds
        if shown.fading_from is None or now < shown.fading_from:
            return min(now - shown.at, hold)
        return hold + now - shown.fading_from

    def inset(self, frame: Frame) -> np.ndarray:
        """`frame` shrunk to the camera inset's width, once per frame; the motion gate starts
        from it too. The screen's smoothscale took ~2.7 ms for 640x480 to 200x150, the
        largest cost of drawing a frame; halving with area averaging (0.2 ms) and a linear
        resize for the rest (0.05 ms) give the same picture. Area averaging straight to
        200x150 took 4 ms: OpenCV's fast path is for whole factors."""
        if self._inset_of is not frame:
            self._inset_of = frame
            picture = frame.rgb
            inset = self._inset_width
            while 0 < inset <= picture.shape[1] // 2:
                picture = cv2.resize(picture, (picture.shape[1] // 2, picture.shape[0] // 2),
                                     interpolation=cv2.INTER_AREA)
            height, width = picture.shape[:2]
            if 0 < inset < width:
                picture = cv2.resize(picture, (inset, max(1, round(height * inset / width))),
                                     interpolation=cv2.INTER_LINEAR)
            self._inset_rgb = picture
        return self._inset_rgb

    def scene(self, content: ScreenContent, greetings_file, now: float,
              frame: Optional[Frame], extra: Optional[ShownGreeting] = None,
              **state) -> Scene:
        """What the screen shows at `now`: the greetings still on screen, the arriving message
        for a face nobody has decided about yet, and `extra` (the door's prompt), over the
        camera inset of `frame`. `state` is the rest of the `Scene` (status, camera_lost,
        idle)."""
        self._shown = [shown for shown in self._shown
                       if self._age(shown, now) < self._ui.greeting_seconds]
        shown = [ShownGreeting(item.text, self._age(item, now), item.emphasis)
                 for item in self._shown if not item.hidden]
        if self._undecided_since is not None:
            shown.append(ShownGreeting(content.arriving_message, now - self._undecided_since))
        if extra is not None:
            shown.append(extra)
        camera = self.inset(frame) if frame is not None else None
        return _scene(content, greetings_file, now, shown, camera, **state)

    def screenshot(self, content: ScreenContent, greetings_file, now: float, frame: Frame,
                   keep: Sequence[Box], **state) -> Scene:
        """The newest greeting's private screenshot: only its text, faded in, and the camera
        pixelated except the faces in `keep` (the greeted person's)."""
        newest = self._shown[-1]
        shown = [ShownGreeting(newest.text, self._ui.fade_in_seconds, newest.emphasis)]
        return _scene(content, greetings_file, now, shown, pixelate(frame.rgb, keep), **state)


def _scene(content: ScreenContent, greetings_file, now: float, shown: List[ShownGreeting],
           camera: Optional[np.ndarray], **state) -> Scene:
    return Scene(
        title=content.title,
        background=hex_to_rgb(content.background_color),
        text_colour=hex_to_rgb(content.text_color),
        accent=hex_to_rgb(content.accent_color),
        lines=tuple(content.values),
        background_image=content.background_image_path(greetings_file),
        logo=content.logo_path(greetings_file),
        idle_message=content.idle_message,
        font_scale=content.font_scale,
        orientation=content.orientation,
        t=now,
        greetings=shown,
        camera=camera,
        **state,
    )
