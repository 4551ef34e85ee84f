"""Synthetic walk-by videos made of real LFW photos, with ground truth (a test helper library,
not a test module).

A `Scene` is a textured corridor (generated, deterministic with a seed) and some `Walker`s:
each walker is one LFW photo cut to the head (a soft-edged oval around the face the HOG
detector finds in the photo), scaled so that the face is `face_px` wide, on top of a plain
torso, moving in a straight line from `start_xy` to `end_xy` between `enter` and `leave`
seconds. Later walkers are drawn in front of earlier ones.

`render_scene(scene, path)` writes the video with `cv2.VideoWriter` (``.mp4``: mp4v, ``.avi``:
MJPG; an ``.mp4`` that cannot be written falls back to ``.avi``) and returns its `GroundTruth`:
for every walker, the frames it is on screen and, frame by frame, where its face box is and
how much of it is visible (not outside the frame, not hidden behind another walker).

`pick_people` and `pick_strangers` choose walkers from ``lfw-dev`` deterministically: people
with one photo to enrol and a *different* photo to walk with, checked to match each other
and not the others.

Frames are RGB ``(H, W, 3) uint8`` arrays throughout; positions are ``(x, y)`` pixels of the
face's centre; boxes are ``(top, right, bottom, left)`` like greeter's.
"""

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple, Union

import numpy as np

Box = Tuple[int, int, int, int]
XY = Tuple[float, float]

#: Frame index -> (face box in the frame, visible fraction of that box).
FaceTrack = Dict[int, Tuple[Box, float]]

# Shape of the head cut-out around the face box of the photo, in face-box sizes.
_OVAL_CENTRE_DY = -0.16  # the oval's centre sits a little above the box's centre (hair)
_OVAL_HALF_WIDTH = 0.74
_OVAL_HALF_HEIGHT = 0.98
_FEATHER = 0.12  # soft edge, in face-box sizes

# ------------------------------------------------------------------------------------------
# The scene


@dataclass
class Walker:
    """One person crossing the scene.

    `person` is the enrolled person id the robot should name, None for a stranger. The face
    centre moves linearly from `start_xy` (at `enter` seconds) to `end_xy` (at `leave`); the
    walker is on screen for ``enter <= t < leave``. `brightness` is the light's gain at enter
    and at leave (linear in between). `face_box` is the face in the photo; None finds it with
    dlib's HOG detector. With `more_photos`, the walker shows `photo` and then each of them in
    turn, `photo_seconds` each (and round again): frames that differ as a real camera's do
    when the head moves.
    """

    photo: Path
    person: Optional[str]
    enter: float
    leave: float
    start_xy: XY
    end_xy: XY
    face_px: int = 120
    brightness: Tuple[float, float] = (1.0, 1.0)
    clothes: Optional[Tuple[int, int, int]] = None
    face_box: Optional[Box] = None
    more_photos: Sequence[Path] = ()
    photo_seconds: float = 0.3

    def __post_init__(self) -> None:
        self.photo = Path(self.photo)
        self.more_photos = tuple(Path(photo) for photo in self.more_photos)
        if not self.leave > self.enter:
            raise ValueError(f"{self.photo.name}: leave ({self.leave}) must be after enter "
                             f"({self.enter})")
        if self.face_px < 16:
            raise ValueError(f"face_px {self.face_px} is too small to draw")

    def position(self, t: float) -> XY:
        """The face centre at video time `t` (clamped to the walk)."""
        share = min(max((t - self.enter) / (self.leave - self.enter), 0.0), 1.0)
        return (self.start_xy[0] + (self.end_xy[0] - self.start_xy[0]) * share,
                self.start_xy[1] + (self.end_xy[1] - self.start_xy[1]) * share)

    @property
    def photos(self) -> Tuple[Path, ...]:
        return (self.photo,) + tuple(self.more_photos)

    def photo_index(self, t: float) -> int:
        """Which of `photos` is shown at video time `t`."""
        return int(max(t - self.enter, 0.0) / self.photo_seconds) % len(self.photos)

    def gain(self, t: float) -> float:
        share = min(max((t - self.enter) / (self.leave - self.enter), 0.0), 1.0)
        return self.brightness[0] + (self.brightness[1] - self.brightness[0]) * share


@dataclass
class Scene:
    """A background and walkers, `fps` frames per second for `duration` seconds (default:
    until half a second after the last walker left). `background` is ``"corridor"``,
    ``"noise"`` or an RGB array of `size`; `noise` is the standard deviation of the per-frame
    sensor noise."""

    walkers: List[Walker]
    size: Tuple[int, int] = (640, 480)
    fps: float = 15.0
    duration: Optional[float] = None
    background: Union[str, np.ndarray] = "corridor"
    seed: int = 0
    noise: float = 2.0

    @property
    def frame_count(self) -> int:
        duration = self.duration
        if duration is None:
            duration = max((walker.leave for walker in self.walkers), default=0.0) + 0.5
        return int(round(duration * self.fps))

    def time_of(self, frame: int) -> float:
        return frame / self.fps


def queue_scene(people: Sequence[Tuple[Path, Optional[str]]], gaps: Sequence[float],
                stand_seconds: float = 2.2, fps: float = 15.0, seed: int = 0) -> Scene:
    """People stepping onto one spot in turn, as at an entrance: each (photo, person id or
    None for a stranger) stands there `stand_seconds` with a little sway, the next steps on
    `gaps[i]` seconds after the last one left (the gaps are used in turn)."""
    walkers, t = [], 0.3
    for index, (photo, person) in enumerate(people):
        walkers.append(Walker(photo, person, t, t + stand_seconds,
                              (320 + (index % 3 - 1) * 6, 200), (326 - (index % 2) * 12, 204),
                              face_px=118 + (index % 3) * 6))
        t += stand_seconds + gaps[index % len(gaps)]
    return Scene(walkers=walkers, fps=fps, seed=seed)


# ------------------------------------------------------------------------------------------
# Ground truth


@dataclass
class Appearance:
    """One walker's time on screen: `first_frame`..`last_frame` (inclusive) are the frames
    any of the walker is drawn; `faces` holds, for those frames, the face box in the frame
    and the fraction of it that is visible."""

    walker: int
    person: Optional[str]
    photo: Path
    first_frame: int
    last_frame: int
    faces: FaceTrack = field(default_factory=dict)

    def visible_frames(self, min_fraction: float = 0.95) -> List[int]:
        """Frames in which at least `min_fraction` of the face box is visible."""
        return sorted(frame for frame, (_, fraction) in self.faces.items()
                      if fraction >= min_fraction)

    @property
    def enter_frame(self) -> Optional[int]:
        """The first frame with the whole face in view (None if it never is)."""
        frames = self.visible_frames()
        return frames[0] if frames else None

    def on_screen(self, frame: int, min_fraction: float = 0.0) -> bool:
        """True when more than `min_fraction` of the face is visible in `frame`."""
        entry = self.faces.get(frame)
        return entry is not None and entry[1] > min_fraction


@dataclass
class GroundTruth:
    """What a rendered video shows."""

    path: Path
    fps: float
    frame_count: int
    size: Tuple[int, int]
    appearances: List[Appearance]

    def time_of(self, frame: int) -> float:
        return frame / self.fps

    def frame_at(self, t: float) -> int:
        return int(round(t * self.fps))

    def at(self, frame: int, min_fraction: float = 0.0) -> List[Appearance]:
        """The walkers whose face is (more than `min_fraction`) visible in `frame`."""
        return [a for a in self.appearances if a.on_screen(frame, min_fraction)]

    def people_at(self, frame: int, min_fraction: float = 0.0) -> Set[Optional[str]]:
        """Ids of the people (None: a stranger) whose face is visible in `frame`."""
        return {a.person for a in self.at(frame, min_fraction)}

    def of(self, person: str) -> List[Appearance]:
        """`person`'s appearances, in order."""
        return [a for a in self.appearances if a.person == person]

    @property
    def enrolled(self) -> List[str]:
        """Every person id that appears, in order of first appearance, once."""
        seen: List[str] = []
        for appearance in sorted(self.appearances, key=lambda a: a.first_frame):
            if appearance.person is not None and appearance.person not in seen:
                seen.append(appearance.person)
        return seen

    @property
    def strangers(self) -> List[Appearance]:
        return [a for a in self.appearances if a.person is None]


# ------------------------------------------------------------------------------------------
# Drawing


def _rng(seed: int) -> np.random.RandomState:
    return np.random.RandomState(seed % (2 ** 32))


def make_background(size: Tuple[int, int], kind: str = "corridor", seed: int = 0) -> np.ndarray:
    """A deterministic RGB background: an event corridor in perspective (walls, floor tiles,
    ceiling lights, doors, posters) or plain smooth noise."""
    import cv2

    width, height = size
    rng = _rng(seed)
    if kind == "noise":
        small = rng.randint(60, 200, (max(height // 24, 2), max(width // 24, 2), 3))
        image = cv2.resize(small.astype(np.uint8), (width, height), interpolation=cv2.INTER_CUBIC)
        grain = rng.normal(0, 8, (height, width, 3))
        return np.clip(image + grain, 0, 255).astype(np.uint8)
    if kind != "corridor":
        raise ValueError(f"unknown background {kind!r}: corridor or noise")

    image = np.zeros((height, width, 3), np.float32)
    vx, vy = width * rng.uniform(0.42, 0.58), height * rng.uniform(0.36, 0.44)
    back_w, back_h = width * 0.30, height * 0.34
    bl, bt, br, bb = vx - back_w / 2, vy - back_h * 0.45, vx + back_w / 2, vy + back_h * 0.55
    wall = np.array(_WALLS[rng.randint(len(_WALLS))], np.float32)
    floor = np.array(_FLOORS[rng.randint(len(_FLOORS))], np.float32)
    ceiling = np.array([228.0, 226, 220])

    def poly(points, colour):
        cv2.fillPoly(image, [np.array(points, np.int32)], tuple(float(c) for c in colour))

    def line(p0, p1, colour, thickness=1):
        cv2.line(image, (int(p0[0]), int(p0[1])), (int(p1[0]), int(p1[1])),
                 tuple(float(c) for c in colour), thickness, cv2.LINE_AA)

    poly([(0, 0), (width, 0), (br, bt), (bl, bt)], ceiling)
    poly([(0, height), (width, height), (br, bb), (bl, bb)], floor)
    poly([(0, 0), (bl, bt), (bl, bb), (0, height)], wall * 0.92)
    poly([(width, 0), (br, bt), (br, bb), (width, height)], wall * 0.80)
    poly([(bl, bt), (br, bt), (br, bb), (bl, bb)], wall * 1.04)

    # floor tiles: lines to the vanishing point, and across between the walls at
    # perspective depths
    tile = floor * 0.78
    for k in range(-8, 9):
        x_far = bl + (br - bl) * (k + 8) / 16
        line((x_far, bb), (vx + (x_far - vx) * (height - vy) / (bb - vy), height), tile)
    for k in range(1, 12):
        y = bb + (height - bb) * (k / 12) ** 2.0
        share = (y - bb) / (height - bb)
        line((bl * (1 - share), y), (br + (width - br) * share, y), tile)
    # skirting boards along the walls
    line((0, height), (bl, bb), wall * 0.55, 3)
    line((width, height), (br, bb), wall * 0.5, 3)

    # ceiling lights
    for k in range(4):
        share = (k + 1) / 5.0  # 0 near the camera, 1 at the back wall
        cy = bt * share
        half = (back_w / 2) * share + (width * 0.22) * (1 - share)
        h = 3 + 9 * (1 - share)
        poly([(vx - half * 0.5, cy - h / 2), (vx + half * 0.5, cy - h / 2),
              (vx + half * 0.5, cy + h / 2), (vx - half * 0.5, cy + h / 2)], (252, 251, 240))

    # doors on the side walls: a frame and a panel, in perspective
    for side in (0, 1):
        x_edge, x_far = (0.0, bl) if side == 0 else (float(width), br)

        def wall_point(depth, up, x_edge=x_edge, x_far=x_far):
            # a point on the side wall: depth 0 at the camera, 1 at the back wall; up 0 on
            # the floor, 1 at the ceiling
            x = x_edge + (x_far - x_edge) * depth
            top, bottom = bt * depth, height + (bb - height) * depth
            return x, bottom + (top - bottom) * up

        for k in range(2):
            depth0 = rng.uniform(0.18, 0.26) + 0.38 * k
            depth1 = depth0 + rng.uniform(0.14, 0.2)
            door = np.array(_DOORS[rng.randint(len(_DOORS))], np.float32)
            frame_points = [wall_point(depth0, 0), wall_point(depth1, 0),
                            wall_point(depth1, 0.66), wall_point(depth0, 0.66)]
            poly(frame_points, door * 0.6)
            inset = 0.012
            poly([wall_point(depth0 + inset, 0), wall_point(depth1 - inset, 0),
                  wall_point(depth1 - inset, 0.64), wall_point(depth0 + inset, 0.64)], door)
            knob = wall_point(depth0 + (depth1 - depth0) * 0.8, 0.3)
            cv2.circle(image, (int(knob[0]), int(knob[1])), 3, (200, 190, 150), -1,
                       cv2.LINE_AA)

    # posters and a sign on the back wall
    for _ in range(3):
        pw, ph = rng.uniform(18, 34), rng.uniform(22, 40)
        px, py = rng.uniform(bl + 4, br - pw - 4), rng.uniform(bt + 6, bb - ph - 20)
        colour = rng.uniform(40, 240, 3)
        poly([(px, py), (px + pw, py), (px + pw, py + ph), (px, py + ph)], colour)
        cv2.rectangle(image, (int(px + 3), int(py + 4)), (int(px + pw - 3), int(py + 9)),
                      tuple(float(c) for c in 255 - colour), -1)
    sign_w = back_w * 0.5
    poly([(vx - sign_w / 2, bt + 4), (vx + sign_w / 2, bt + 4), (vx + sign_w / 2, bt + 16),
          (vx - sign_w / 2, bt + 16)], (30, 90, 50))
    for k in range(5):
        x = vx - sign_w / 2 + 6 + k * (sign_w - 12) / 5
        cv2.rectangle(image, (int(x), int(bt + 8)), (int(x + sign_w / 8), int(bt + 12)),
                      (235, 235, 235), -1)

    # soft light fall-off and a little texture
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    vignette = 1.0 - 0.25 * (((xs - width / 2) / width) ** 2 + ((ys - height / 2) / height) ** 2)
    image *= vignette[..., None]
    texture = cv2.resize(rng.normal(0, 6, (height // 4, width // 4, 3)).astype(np.float32),
                         (width, height), interpolation=cv2.INTER_LINEAR)
    image += texture + rng.normal(0, 3, image.shape)
    image = cv2.GaussianBlur(image, (3, 3), 0.8)
    return np.clip(image, 0, 255).astype(np.uint8)


_WALLS = [(196, 186, 164), (170, 182, 190), (205, 196, 178), (182, 170, 150)]
_FLOORS = [(112, 104, 96), (92, 86, 82), (130, 112, 90), (104, 110, 116)]
_CLOTHES = [(40, 48, 72), (90, 30, 36), (52, 64, 52), (30, 30, 34), (120, 118, 112),
            (28, 70, 110), (140, 96, 60)]
_DOORS = [(120, 84, 58), (88, 98, 112), (150, 120, 84), (70, 78, 70)]

_face_boxes: Dict[Path, Box] = {}
_engine = None


def _face_engine():
    global _engine
    if _engine is None:
        from greeter.recognition.faces import FaceEngine

        _engine = FaceEngine()
    return _engine


def load_photo(photo: Path) -> np.ndarray:
    from greeter.recognition.imaging import load_rgb

    return load_rgb(photo)


def face_box_in_photo(photo: Path) -> Box:
    """The largest face dlib's HOG finds in `photo` (upsampled, as for LFW's small faces)."""
    photo = Path(photo)
    if photo not in _face_boxes:
        rgb = load_photo(photo)
        boxes = _face_engine().detect_in_photo(rgb, max_side=1024, retry_upsample=1)
        if not boxes:
            raise ValueError(f"{photo}: no face found to cut out")
        _face_boxes[photo] = tuple(int(v) for v in boxes[0])
    return _face_boxes[photo]


@dataclass
class Sprite:
    """A walker drawn once: RGB, alpha (0..1) and where the face box's centre is in it."""

    rgb: np.ndarray
    alpha: np.ndarray
    face_centre: XY
    face_size: Tuple[float, float]


def make_sprite(walker: Walker, seed: int = 0, photo: Optional[Path] = None) -> Sprite:
    """The walker's head (the photo, by default `walker.photo`, cut to a soft oval, scaled so
    the face box is `face_px` wide) on a neck and shoulders in the walker's clothes."""
    import cv2

    photo = walker.photo if photo is None else Path(photo)
    rgb = load_photo(photo)
    known_box = walker.face_box if photo == walker.photo else None
    top, right, bottom, left = known_box or face_box_in_photo(photo)
    box_w, box_h = right - left, bottom - top
    scale = walker.face_px / box_w
    unit = (box_w + box_h) / 2.0 * scale  # the face box's size in sprite pixels
    cx, cy = (left + right) / 2.0, (top + bottom) / 2.0

    shoulders_w = 2.3 * unit
    width = int(math.ceil(max(2 * (_OVAL_HALF_WIDTH + _FEATHER) * unit, shoulders_w))) + 4
    oval_cy = (_OVAL_HALF_HEIGHT + _FEATHER) * unit
    face_cx, face_cy = width / 2.0, oval_cy - _OVAL_CENTRE_DY * unit
    height = int(math.ceil(face_cy + 2.6 * unit))

    # the photo, mapped so that its face box's centre lands on (face_cx, face_cy)
    matrix = np.array([[scale, 0, face_cx - cx * scale], [0, scale, face_cy - cy * scale]],
                      np.float32)
    head = cv2.warpAffine(rgb, matrix, (width, height), flags=cv2.INTER_CUBIC,
                          borderMode=cv2.BORDER_REPLICATE).astype(np.float32)
    inside = cv2.warpAffine(np.ones(rgb.shape[:2], np.float32), matrix, (width, height),
                            flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    a, b = _OVAL_HALF_WIDTH * unit, _OVAL_HALF_HEIGHT * unit
    distance = np.sqrt(((xs - face_cx) / a) ** 2 + ((ys - oval_cy) / b) ** 2)
    feather = _FEATHER * unit / min(a, b)
    head_alpha = np.clip((1.0 + feather / 2 - distance) / feather, 0.0, 1.0)
    head_alpha *= np.clip(inside * 1.5 - 0.25, 0.0, 1.0)

    # neck and shoulders, behind the head
    rng = _rng(seed)
    clothes = np.array(walker.clothes if walker.clothes is not None
                       else _CLOTHES[rng.randint(len(_CLOTHES))], np.float32)
    skin = head[int(face_cy + 0.25 * unit), int(face_cx - 0.25 * unit):int(face_cx + 0.25 * unit)]
    skin = np.median(skin, axis=0) * 0.85
    neck = np.zeros((height, width), np.float32)
    cv2.rectangle(neck, (int(face_cx - 0.28 * unit), int(face_cy)),
                  (int(face_cx + 0.28 * unit), int(face_cy + 1.4 * unit)), 1.0, -1)
    body = np.zeros((height, width), np.float32)
    shoulder_y = face_cy + 1.05 * unit
    cv2.ellipse(body, (int(face_cx), int(shoulder_y + 0.45 * unit)),
                (int(shoulders_w / 2) - 1, int(0.5 * unit)), 0, 180, 360, 1.0, -1, cv2.LINE_AA)
    cv2.rectangle(body, (int(face_cx - shoulders_w / 2) + 1, int(shoulder_y + 0.45 * unit)),
                  (int(face_cx + shoulders_w / 2) - 1, height - 1), 1.0, -1)
    cv2.ellipse(body, (int(face_cx), int(shoulder_y)), (int(0.3 * unit), int(0.22 * unit)),
                0, 0, 180, 0.0, -1, cv2.LINE_AA)  # the collar's opening shows the neck
    neck, body = cv2.GaussianBlur(neck, (5, 5), 1.0), cv2.GaussianBlur(body, (5, 5), 1.0)
    shade = 0.72 + 0.28 * np.cos(np.clip((xs - face_cx) / (shoulders_w / 2), -1, 1) * math.pi / 2)
    torso_rgb = ((clothes * shade[..., None]) * body[..., None]
                 + skin * (neck * (1 - body))[..., None])
    torso_alpha = np.maximum(body, neck)
    torso_rgb /= np.maximum(torso_alpha, 1e-6)[..., None]

    alpha = head_alpha + torso_alpha * (1 - head_alpha)
    colour = head * head_alpha[..., None] + torso_rgb * (torso_alpha * (1 - head_alpha))[..., None]
    colour /= np.maximum(alpha, 1e-6)[..., None]
    return Sprite(rgb=np.clip(colour, 0, 255).astype(np.float32), alpha=alpha,
                  face_centre=(face_cx, face_cy), face_size=(box_w * scale, box_h * scale))


def _paste(frame: np.ndarray, owner: np.ndarray, index: int, sprite: Sprite, gain: float,
           x: int, y: int) -> None:
    """Composite `sprite` with its top-left corner at (x, y), clipped to the frame; mark the
    pixels it covers (alpha > 0.5) as `index`'s in `owner`."""
    height, width = frame.shape[:2]
    sh, sw = sprite.alpha.shape
    x0, y0 = max(x, 0), max(y, 0)
    x1, y1 = min(x + sw, width), min(y + sh, height)
    if x0 >= x1 or y0 >= y1:
        return
    part = (slice(y0 - y, y1 - y), slice(x0 - x, x1 - x))
    alpha = sprite.alpha[part][..., None]
    colour = np.clip(sprite.rgb[part] * gain, 0, 255)
    region = frame[y0:y1, x0:x1]
    region[...] = region * (1 - alpha) + colour * alpha
    owner[y0:y1, x0:x1][sprite.alpha[part] > 0.5] = index


class _Renderer:
    def __init__(self, scene: Scene):
        self.scene = scene
        width, height = scene.size
        if isinstance(scene.background, str):
            self.background = make_background(scene.size, scene.background, scene.seed)
        else:
            self.background = np.asarray(scene.background, np.uint8)
            if self.background.shape != (height, width, 3):
                raise ValueError(f"background is {self.background.shape}, the scene "
                                 f"{(height, width, 3)}")
        self.sprites = [[make_sprite(walker, scene.seed * 1000 + index + 1, photo)
                         for photo in walker.photos]
                        for index, walker in enumerate(scene.walkers)]
        # sensor noise: a few fields drawn once and taken in turn (drawing a fresh field for
        # every frame would be most of the rendering time)
        rng = _rng(scene.seed * 7919 + 1)
        self.noise = [rng.normal(0, scene.noise, (height, width, 3)).astype(np.float32)
                      for _ in range(7)] if scene.noise > 0 else []

    def frame(self, index: int) -> Tuple[np.ndarray, Dict[int, Tuple[Box, float]]]:
        """Frame `index` and, for each walker on screen, its face box and visible fraction."""
        scene = self.scene
        t = scene.time_of(index)
        height, width = self.background.shape[:2]
        frame = self.background.astype(np.float32)
        owner = np.full((height, width), -1, np.int32)
        placed: Dict[int, Tuple[float, float, Sprite]] = {}
        for number, (walker, sprites) in enumerate(zip(scene.walkers, self.sprites)):
            if not walker.enter <= t < walker.leave:
                continue
            sprite = sprites[walker.photo_index(t)]
            fx, fy = walker.position(t)
            x = int(round(fx - sprite.face_centre[0]))
            y = int(round(fy - sprite.face_centre[1]))
            _paste(frame, owner, number, sprite, walker.gain(t), x, y)
            placed[number] = (x + sprite.face_centre[0], y + sprite.face_centre[1], sprite)
        if self.noise:
            frame += self.noise[index % len(self.noise)]
        faces: Dict[int, Tuple[Box, float]] = {}
        for number, (fx, fy, sprite) in placed.items():
            w, h = sprite.face_size
            box = (int(round(fy - h / 2)), int(round(fx + w / 2)), int(round(fy + h / 2)),
                   int(round(fx - w / 2)))
            top, right, bottom, left = box
            area = max((right - left) * (bottom - top), 1)
            mine = owner[max(top, 0):max(bottom, 0), max(left, 0):max(right, 0)] == number
            faces[number] = (box, float(mine.sum()) / area)
        return np.clip(frame, 0, 255).astype(np.uint8), faces


def render_frames(scene: Scene, indices: Optional[Sequence[int]] = None) -> List[np.ndarray]:
    """Frames of `scene` as RGB arrays, without writing a video (all frames by default)."""
    renderer = _Renderer(scene)
    if indices is None:
        indices = range(scene.frame_count)
    return [renderer.frame(index)[0] for index in indices]


def _open_writer(path: Path, fps: float, size: Tuple[int, int]):
    import cv2

    suffix = path.suffix.lower()
    attempts = [(path, "mp4v")] if suffix == ".mp4" else []
    attempts.append((path.with_suffix(".avi"), "MJPG"))
    for target, codec in attempts:
        writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*codec), fps, size)
        if writer.isOpened():
            return target, writer
        writer.release()
    raise RuntimeError(f"{path}: OpenCV cannot write mp4v or MJPG video here")


def render_scene(scene: Scene, path: Union[str, Path]) -> GroundTruth:
    """Write `scene` to `path` (.mp4 with mp4v, else .avi with MJPG) and return what it
    shows. The returned `GroundTruth.path` is the file actually written."""
    import cv2

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    renderer = _Renderer(scene)
    target, writer = _open_writer(path, scene.fps, scene.size)
    appearances = [Appearance(walker=index, person=walker.person, photo=walker.photo,
                              first_frame=-1, last_frame=-1)
                   for index, walker in enumerate(scene.walkers)]
    try:
        for index in range(scene.frame_count):
            frame, faces = renderer.frame(index)
            writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
            for number, (box, fraction) in faces.items():
                appearance = appearances[number]
                if appearance.first_frame < 0:
                    appearance.first_frame = index
                appearance.last_frame = index
                appearance.faces[index] = (box, fraction)
    finally:
        writer.release()
    return GroundTruth(path=target, fps=scene.fps, frame_count=scene.frame_count,
                       size=scene.size, appearances=[a for a in appearances
                                                     if a.first_frame >= 0])


def read_video(path: Union[str, Path]) -> Tuple[List[np.ndarray], float]:
    """Every frame of a video (RGB) and its frame rate, as OpenCV reads them back."""
    import cv2

    capture = cv2.VideoCapture(str(path))
    try:
        fps = capture.get(cv2.CAP_PROP_FPS)
        frames = []
        while True:
            ok, bgr = capture.read()
            if not ok:
                break
            frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    finally:
        capture.release()
    return frames, fps


# ------------------------------------------------------------------------------------------
# Casting: which LFW people walk


def person_id(lfw_name: str) -> str:
    """A valid greeter person id for an LFW name: ``Aaron_Peirsol`` -> ``aaron_peirsol``,
    ``Catherine_Zeta-Jones`` -> ``catherine_zeta-jones``."""
    slug = re.sub(r"[^a-z0-9_-]+", "_", lfw_name.lower()).strip("_-")
    return slug[:64].rstrip("_-")


def display_name(lfw_name: str) -> str:
    """``Aaron_Peirsol`` -> ``Aaron Peirsol``."""
    return lfw_name.replace("_", " ")


@dataclass(frozen=True)
class Cast:
    """An LFW person chosen to walk: enrolled from `enrol_photo`, walking with `walk_photo`
    (a different photo), whose embeddings lie `distance` apart."""

    person: str
    name: str
    enrol_photo: Path
    walk_photo: Path
    distance: float

    @property
    def first_name(self) -> str:
        return self.name.split()[0]


_embeddings: Dict[Path, Optional[Tuple[np.ndarray, float]]] = {}


def photo_face(photo: Path) -> Optional[Tuple[np.ndarray, float]]:
    """The embedding and sharpness of the one face in `photo`, found as enrolment finds it
    (upsampled for LFW's small faces); None when there is not exactly one face."""
    photo = Path(photo)
    if photo not in _embeddings:
        engine = _face_engine()
        boxes, faces = engine.faces_in_photo(load_photo(photo), 1024, 1)
        _embeddings[photo] = (faces[0].embedding, faces[0].sharpness) if len(boxes) == 1 else None
        if len(boxes) == 1:
            _face_boxes.setdefault(photo, tuple(int(v) for v in boxes[0]))
    return _embeddings[photo]


def photo_embedding(photo: Path) -> Optional[np.ndarray]:
    """The embedding of the one face in `photo` (None when there is not exactly one)."""
    face = photo_face(photo)
    return None if face is None else face[0]


def _distance(first: np.ndarray, second: np.ndarray) -> float:
    return float(np.linalg.norm(first - second))


def pick_people(lfw: Path, count: int, seed: int = 0, match_within: float = 0.42,
                apart_from_others: float = 0.68, min_sharpness: float = 30.0) -> List[Cast]:
    """`count` people of ``lfw/people``, chosen deterministically by `seed`.

    Photo 1 is enrolled; the walk photo is the first other photo whose embedding is within
    `match_within` of it. A person is taken only when both photos show exactly one face, the
    enrolment photo is sharp enough to enrol (`min_sharpness`, above greeter's minimum), and
    their walk photo and enrolment photo are at least `apart_from_others` from everybody
    already taken, so that the robot's open-set matching has a clear answer (greeter's
    default threshold is 0.5, its ratio test 0.85). Hard LFW photos (profile, blur, another
    face in the picture) are thereby left out: the scenes test the robot, not dlib."""
    folders = sorted(path for path in (Path(lfw) / "people").iterdir() if path.is_dir())
    order = _rng(seed).permutation(len(folders))
    chosen: List[Cast] = []
    vectors: List[np.ndarray] = []
    for position in order:
        if len(chosen) == count:
            break
        folder = folders[int(position)]
        photos = sorted(folder.glob("*.jpg"))
        if len(photos) < 2 or not person_id(folder.name):
            continue
        enrol_face = photo_face(photos[0])
        if enrol_face is None or enrol_face[1] < min_sharpness:
            continue
        enrol = enrol_face[0]
        if any(_distance(enrol, other) < apart_from_others for other in vectors):
            continue
        for walk_photo in photos[1:]:
            walk = photo_embedding(walk_photo)
            if walk is None or _distance(enrol, walk) > match_within:
                continue
            if any(_distance(walk, other) < apart_from_others for other in vectors):
                continue
            chosen.append(Cast(person_id(folder.name), display_name(folder.name), photos[0],
                               walk_photo, _distance(enrol, walk)))
            vectors.extend([enrol, walk])
            break
    if len(chosen) < count:
        raise ValueError(f"only {len(chosen)} of {count} people in {lfw} pass the checks")
    return chosen


def pick_strangers(lfw: Path, count: int, seed: int = 0, avoid: Sequence[Cast] = (),
                   apart_from: float = 0.68, lookalikes_among: int = 0) -> List[Path]:
    """`count` photos of ``lfw/strangers`` (different people), chosen by `seed`, each with
    exactly one face at least `apart_from` from every photo of the people in `avoid`.

    With `lookalikes_among` N, the N first candidates (in the seed's order) are all looked
    at and the `count` *nearest* to somebody in `avoid` are returned, nearest first: the
    hardest strangers that still pass `apart_from`."""
    photos = sorted((Path(lfw) / "strangers").glob("*.jpg"))
    order = [photos[int(position)] for position in _rng(seed + 1).permutation(len(photos))]
    others = [vector for cast in avoid
              for vector in (photo_embedding(cast.enrol_photo), photo_embedding(cast.walk_photo))
              if vector is not None]

    def nearest(vector: np.ndarray) -> float:
        return min((_distance(vector, other) for other in others), default=float("inf"))

    if lookalikes_among:
        scored = []
        for photo in order[:lookalikes_among]:
            vector = photo_embedding(photo)
            if vector is not None and nearest(vector) >= apart_from:
                scored.append((nearest(vector), photo))
        chosen = [photo for _, photo in sorted(scored)[:count]]
    else:
        chosen = []
        for photo in order:
            if len(chosen) == count:
                break
            vector = photo_embedding(photo)
            if vector is not None and nearest(vector) >= apart_from:
                chosen.append(photo)
    if len(chosen) < count:
        raise ValueError(f"only {len(chosen)} of {count} strangers in {lfw} pass the checks")
    return chosen
