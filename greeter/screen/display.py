"""The kiosk screen: `Screen.render` draws one `Scene`. With `greeter.screen.text` and
`greeter.screen.layout` the only place that imports pygame.

A `Scene` is a plain description of what to show (strings, RGB tuples, an RGB array, the
time; no greeter settings), so the robot decides *what* and this module only *how*:

* the host's **band** (`greeter.screen.layout`), always visible: optional logo, the title and
  the values, on the left in landscape and across the top in portrait;
* the **greetings** as the hero of the stage, the guest's first name in the accent colour,
  up to four at once in rows that ease open and closed (no jumps), fading in and out;
* the live **camera** in the lower-right corner, or a visible "camera lost" panel;
* an **idle** ("attract") stage when nobody is there: a soft glow drifting slowly on a
  figure-of-eight and breathing, behind an invitation line;
* a status line at the bottom of the band.

Sizes scale with the screen's short side, so one scene fits the robot's 800x480, 1280x720,
1920x1080 and a portrait screen. The screen is fullscreen by default, a window when given a
size, or headless: an off-screen surface with no display (tests, servers, ``--headless``).
A screen mounted on its side is a landscape display showing a portrait picture: the scene's
``orientation`` draws it turned a quarter clockwise.

**Cost.** Everything that stays the same from frame to frame (text, the band, the glow, the
background image, the logo) is drawn once and cached; a frame blits them, scales the camera
picture and draws a moving greeting's text when its row changes size. Measured with
``benchmarks/screen.py``: see its docstring.
"""

import contextlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Hashable, List, Optional, Sequence, Tuple

import numpy as np

from greeter.errors import GreeterError, ImageError
from greeter.screen.images import load_background, load_logo
from greeter.screen.layout import (
    Box,
    Layout,
    breathing,
    drift,
    plan,
    presence,
    rows,
)
from greeter.screen.sdl import pygame
from greeter.screen.text import (
    BOLD_FONT,
    MAX_GREETING_CHARACTERS,
    MAX_GREETING_LINES,
    MAX_LINE_CHARACTERS,
    REGULAR_FONT,
    TEXT_CACHE_BYTES,
    Fonts,
    Paint,
    SurfaceCache,
    right_to_left,
)

log = logging.getLogger(__name__)

__all__ = ["BOLD_FONT", "REGULAR_FONT", "MAX_GREETING_CHARACTERS", "MAX_GREETING_LINES",
           "MAX_LINE_CHARACTERS", "TEXT_CACHE_BYTES", "Scene", "Screen", "ShownGreeting",
           "Style", "DisplayError", "opacity"]

RGB = Tuple[int, int, int]

#: Size of a headless screen when none is given.
HEADLESS_SIZE = (1280, 720)
LOST_COLOUR: RGB = (235, 80, 70)
#: The host's value lines drawn at most (the schema allows 10).
MAX_HOST_LINES = 10
#: Height / width of the camera until its first frame (the usual 16:9).
DEFAULT_CAMERA_ASPECT = 9 / 16
ORIENTATIONS = ("auto", "landscape", "portrait")


def _refuse_invisible_driver() -> None:
    """With no display server SDL falls back to drawing off screen, so a robot without its
    screen would run on, showing nobody anything; off-screen drawing must be asked for
    (``--headless``, or SDL_VIDEODRIVER set on purpose, as the tests do)."""
    driver = pygame.display.get_driver()
    if driver in ("offscreen", "dummy") and not os.environ.get("SDL_VIDEODRIVER"):
        raise pygame.error(f"no display server found, SDL would draw off screen ({driver})")


class DisplayError(GreeterError):
    """No screen to draw on (no display server, no permission to the framebuffer...)."""


@dataclass(frozen=True)
class Style:
    """How the screen moves and scales (the robot fills it from `greeter.settings.UiSettings`).

    Times are in seconds; heights are fractions of the screen's short side, the inset width
    a fraction of its long side.
    """

    greeting_seconds: float
    fade_in_seconds: float
    fade_out_seconds: float
    max_greetings: int
    greeting_text_height: float
    text_height: float
    camera_inset_width: float


@dataclass(frozen=True)
class ShownGreeting:
    """A greeting on screen: its text, how long ago (seconds) it was decided, and the part
    drawn in the accent colour (the guest's first name; empty for strangers)."""

    text: str
    age: float
    emphasis: str = ""


@dataclass(frozen=True)
class Scene:
    """Everything one frame of the screen shows. `t` is a clock in seconds (the idle screen
    moves with it); `font_scale` multiplies every letter size; `orientation` is "auto" (as
    the display is), "landscape" or "portrait"."""

    title: str
    background: RGB
    text_colour: RGB
    accent: RGB
    lines: Sequence[str] = ()
    background_image: Optional[Path] = None
    logo: Optional[Path] = None
    greetings: Sequence[ShownGreeting] = ()
    camera: Optional[np.ndarray] = None
    status: str = ""
    camera_lost: bool = False
    idle: bool = False
    idle_message: str = ""
    t: float = 0.0
    font_scale: float = 1.0
    orientation: str = "auto"


def opacity(age: float, style: Style) -> float:
    """A greeting's opacity, 0 to 1: fading in, fully shown, fading out, gone."""
    if age < 0 or age >= style.greeting_seconds:
        return 0.0
    fade_in = age / style.fade_in_seconds if style.fade_in_seconds > 0 else 1.0
    remaining = style.greeting_seconds - age
    fade_out = remaining / style.fade_out_seconds if style.fade_out_seconds > 0 else 1.0
    return max(0.0, min(1.0, fade_in, fade_out))


def _mix(first: RGB, second: RGB, amount: float) -> RGB:
    """`first` moved `amount` (0 to 1) of the way towards `second`."""
    return tuple(int(round(a + (b - a) * amount)) for a, b in zip(first, second))


class Screen:
    """A fullscreen display, a window, or an off-screen surface; see the module docstring."""

    def __init__(self, style: Style, size: Optional[Tuple[int, int]] = None,
                 headless: bool = False, caption: str = "greeter"):
        """Fullscreen at the display's resolution when `size` is None, else a window of
        `size`; `headless` draws off screen (at `size`, or `HEADLESS_SIZE`) with no display."""
        self.style = style
        self.headless = headless
        #: Keys (Esc, q) quit only a window: fullscreen is the kiosk, where a stray key or a
        #: curious guest at the keyboard must not end the greeter.
        self.keys_quit = not headless and size is not None
        if headless:
            self.surface = pygame.Surface(size or HEADLESS_SIZE)
        else:
            try:
                pygame.display.init()
                _refuse_invisible_driver()
                if size is None:
                    self.surface = pygame.display.set_mode((0, 0), pygame.FULLSCREEN)
                    pygame.mouse.set_visible(False)
                else:
                    self.surface = pygame.display.set_mode(size)
            except pygame.error as error:
                pygame.display.quit()
                raise DisplayError(
                    f"cannot open the screen ({error}): run from the desktop session or set "
                    "DISPLAY=:0, or use --headless"
                ) from None
            pygame.display.set_caption(caption)
        self._text_cache = SurfaceCache(TEXT_CACHE_BYTES)
        self._fonts = Fonts(self._text_cache)
        self._pictures: Dict[Hashable, Optional[pygame.Surface]] = {}
        self._displayable: Dict[Tuple[str, int], str] = {}
        self._canvas: Optional[pygame.Surface] = None
        self._camera_aspect = DEFAULT_CAMERA_ASPECT

    @property
    def size(self) -> Tuple[int, int]:
        return self.surface.get_size()

    @property
    def text_cache_bytes(self) -> int:
        """Bytes of pixels held by rendered texts kept for the next frames."""
        return self._text_cache.bytes

    def layout(self, scene: Scene) -> Layout:
        """Where this scene's parts go on this screen (see `greeter.screen.layout`). The
        camera's shape is remembered from its last frame, so nothing moves while it is lost."""
        if scene.camera is not None and scene.camera.size:
            self._camera_aspect = scene.camera.shape[0] / scene.camera.shape[1]
        inset = self.style.camera_inset_width
        if scene.camera_lost:
            inset = max(inset, 0.2)
        return plan(self._canvas_size(scene), inset, self._camera_aspect,
                    logo=self._logo(scene, None) is not None)

    def render(self, scene: Scene) -> None:
        """Draw `scene` and show it."""
        canvas = self._target(scene)
        layout = self.layout(scene)
        self._draw_background(canvas, scene)
        self._draw_band(canvas, scene, layout)
        greetings = self._visible_greetings(scene)
        if greetings:
            self._draw_greetings(canvas, scene, layout, greetings)
        elif scene.idle:
            self._draw_idle(canvas, scene, layout)
        self._draw_camera(canvas, scene, layout)
        if canvas is not self.surface:
            self.surface.blit(pygame.transform.rotate(canvas, -90), (0, 0))
        if not self.headless:
            pygame.display.flip()

    def handle_events(self) -> bool:
        """Process pending window events; True when the user asked to quit: closing the window
        (or the session), or Esc or q in a window (`keys_quit`). A headless screen has no
        events."""
        if self.headless:
            return False
        quit_requested = False
        for event in pygame.event.get():
            closed = event.type == pygame.QUIT
            quit_key = self.keys_quit and event.type == pygame.KEYDOWN and \
                event.key in (pygame.K_ESCAPE, pygame.K_q)
            quit_requested = quit_requested or closed or quit_key
        return quit_requested

    def save_screenshot(self, path: Path) -> Path:
        """Save what the screen shows now as an image (PNG for ``.png``), folders created.
        The file is ``0600`` (it shows guests); a failed save leaves no partial file."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with os.fdopen(os.open(str(path), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                           "wb") as file:
                os.fchmod(file.fileno(), 0o600)
                pygame.image.save(self.surface, file, path.name)
        except BaseException:
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        return path

    def close(self) -> None:
        if not self.headless:
            pygame.display.quit()

    def __enter__(self) -> "Screen":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # --- canvas and sizes ----------------------------------------------------------------

    def _turned(self, scene: Scene) -> bool:
        """Whether the picture is drawn turned a quarter (a screen mounted on its side)."""
        width, height = self.size
        if scene.orientation == "portrait":
            return width > height
        if scene.orientation == "landscape":
            return height > width
        return False

    def _canvas_size(self, scene: Scene) -> Tuple[int, int]:
        width, height = self.size
        return (height, width) if self._turned(scene) else (width, height)

    def _target(self, scene: Scene) -> pygame.Surface:
        """The surface to draw on: the screen, or a turned canvas shown rotated."""
        if not self._turned(scene):
            return self.surface
        size = self._canvas_size(scene)
        if self._canvas is None or self._canvas.get_size() != size:
            self._canvas = pygame.Surface(size)
        return self._canvas

    def _text_size(self, layout: Layout, fraction: float, scene: Scene) -> int:
        return max(8, round(fraction * min(layout.size) * scene.font_scale))

    # --- background, band, logo -------------------------------------------------------------

    def _draw_background(self, canvas: pygame.Surface, scene: Scene) -> None:
        image = self._cover(scene.background_image, canvas.get_size())
        if image is None:
            canvas.fill(scene.background)
        else:
            canvas.blit(image, (0, 0))

    @staticmethod
    def _surface(what: str, load: Callable[[], np.ndarray]) -> Optional[pygame.Surface]:
        """The RGBA picture `load` gives (`greeter.screen.images`: bounded memory, already
        shrunk to the screen) as a 32-bit surface with alpha; None when it cannot be shown,
        logged, so the screen shows the colour (or no logo) instead. Callers keep the outcome,
        so a picture is loaded, or its problem logged, once."""
        try:
            pixels = load()
        except ImageError as error:
            log.warning("%s cannot be shown (%s); %s", what, error,
                        "using the colour" if what == "background image" else "left out")
            return None
        height, width = pixels.shape[:2]
        # the surface keeps a reference to the bytes it is made of
        return pygame.image.frombuffer(pixels.tobytes(), (width, height), "RGBA")

    def _cover(self, path: Optional[Path], size: Tuple[int, int]) -> Optional[pygame.Surface]:
        """The background image scaled to cover `size` (cropped, not stretched)."""
        if path is None:
            return None
        key = ("cover", path, size)
        if key not in self._pictures:
            picture = self._surface("background image", lambda: load_background(path, size))
            cover = None
            if picture is not None:
                cover = pygame.Surface(size)  # opaque: blitted every frame without blending
                cover.blit(picture, (0, 0))
            self._pictures[key] = cover
        return self._pictures[key]

    def _logo(self, scene: Scene, box: Optional[Box]) -> Optional[pygame.Surface]:
        """The logo scaled to fit `box` (keeping its shape); with no box, the loaded image."""
        if scene.logo is None:
            return None
        loaded = ("file", scene.logo)
        if loaded not in self._pictures:
            # as large as the screen, whichever box the layout gives it
            self._pictures[loaded] = self._surface("logo", lambda: load_logo(scene.logo, self.size))
        image = self._pictures[loaded]
        if image is None or box is None:
            return image
        key = ("logo", scene.logo, box)
        if key not in self._pictures:
            factor = min(box[2] / image.get_width(), box[3] / image.get_height())
            self._pictures[key] = pygame.transform.smoothscale(
                image, (max(1, round(image.get_width() * factor)),
                        max(1, round(image.get_height() * factor))))
        return self._pictures[key]

    def _draw_band(self, canvas: pygame.Surface, scene: Scene, layout: Layout) -> None:
        """The host's band: a darker (or, over a picture, translucent) panel with an accent
        edge towards the stage, the logo, the title in the accent colour, the values."""
        over_picture = self._cover(scene.background_image, canvas.get_size()) is not None
        key = ("band", layout.band, scene.background, scene.accent, over_picture)
        band = self._pictures.get(key)
        if band is None:
            band = pygame.Surface(layout.band[2:], pygame.SRCALPHA)
            band.fill((*scene.background, 215) if over_picture else
                      (*_mix(scene.background, (0, 0, 0), 0.35), 255))
            edge = max(2, round(0.006 * min(layout.size)))
            if layout.portrait:
                pygame.draw.rect(band, scene.accent, (0, band.get_height() - edge,
                                                      band.get_width(), edge))
            else:
                pygame.draw.rect(band, scene.accent, (band.get_width() - edge, 0,
                                                      edge, band.get_height()))
            self._pictures[key] = band
        canvas.blit(band, layout.band[:2])
        if layout.logo is not None:
            logo = self._logo(scene, layout.logo)
            if logo is not None:
                canvas.blit(logo, (layout.logo[0], layout.logo[1]))
        title_size = self._text_size(layout, 2.2 * self.style.text_height, scene)
        title_height = self._draw_text(
            canvas, [self._shown(scene.title, MAX_LINE_CHARACTERS)], layout.title, title_size,
            Paint(scene.accent, scene.accent), bold=True, centred=False)
        values = [self._shown(value, MAX_LINE_CHARACTERS)
                  for value in scene.lines[:MAX_HOST_LINES]]
        if values:  # right under the title, taking the room a short title leaves
            left, top, width, height = layout.values
            moved_up = layout.title[3] - title_height
            self._draw_text(canvas, values, (left, top - moved_up, width, height + moved_up),
                            self._text_size(layout, self.style.text_height, scene),
                            Paint(scene.text_colour, scene.accent), bold=False, centred=False)
        if scene.status:
            colour = _mix(scene.text_colour, scene.background, 0.4)
            self._draw_text(canvas, [self._shown(scene.status, MAX_LINE_CHARACTERS)],
                            layout.status, layout.status[3], Paint(colour, colour), bold=False,
                            centred=False, max_lines=1)

    # --- greetings --------------------------------------------------------------------------

    def _visible_greetings(self, scene: Scene) -> List[ShownGreeting]:
        """The newest `max_greetings` greetings not faded out, oldest first (on top)."""
        visible = [greeting for greeting in scene.greetings
                   if opacity(greeting.age, self.style) > 0]
        newest = sorted(visible, key=lambda greeting: greeting.age)[: self.style.max_greetings]
        return newest[::-1]

    def _draw_greetings(self, canvas: pygame.Surface, scene: Scene, layout: Layout,
                        greetings: Sequence[ShownGreeting]) -> None:
        """One row of the stage per greeting, each as large as its row allows."""
        style = self.style
        weights = [presence(greeting.age, style.greeting_seconds, style.fade_in_seconds,
                            style.fade_out_seconds) for greeting in greetings]
        largest = self._text_size(layout, style.greeting_text_height, scene)
        smallest = self._text_size(layout, style.text_height, scene)
        backdrop = self._cover(scene.background_image, canvas.get_size()) is not None
        for greeting, row in zip(greetings, rows(layout.stage, weights, layout.margin)):
            if row[3] <= 0:
                continue
            if backdrop:
                panel = pygame.Surface(row[2:], pygame.SRCALPHA)
                panel.fill((*scene.background, round(190 * opacity(greeting.age, style))))
                canvas.blit(panel, row[:2])
            text = self._shown(greeting.text, MAX_GREETING_CHARACTERS)
            emphasis = self._shown(greeting.emphasis, MAX_LINE_CHARACTERS)
            self._draw_text(canvas, [text], row, largest,
                            Paint(scene.text_colour, scene.accent, emphasis), bold=True,
                            centred=True, alpha=opacity(greeting.age, style),
                            smallest=smallest)

    # --- idle -------------------------------------------------------------------------------

    def _draw_idle(self, canvas: pygame.Surface, scene: Scene, layout: Layout) -> None:
        """The attract screen: a soft glow in the accent colour drifting and breathing slowly
        over the stage, behind the invitation line."""
        stage = layout.stage
        radius = max(8, round(0.22 * min(stage[2], stage[3])))
        glow = self._glow(radius, scene.accent)
        pulse = breathing(scene.t)
        glow.set_alpha(round(110 + 100 * pulse))
        centre = drift(scene.t, stage, radius)
        canvas.blit(glow, (centre[0] - radius, centre[1] - radius))
        if scene.idle_message:
            self._draw_text(canvas, [self._shown(scene.idle_message, MAX_LINE_CHARACTERS)],
                            stage, self._text_size(layout, 0.8 * self.style.greeting_text_height,
                                                   scene),
                            Paint(scene.text_colour, scene.accent), bold=True, centred=True)

    def _glow(self, radius: int, colour: RGB) -> pygame.Surface:
        """Concentric discs, faint outside and denser inside: drawn once, blitted per frame."""
        key = ("glow", radius, colour)
        if key not in self._pictures:
            glow = pygame.Surface((2 * radius, 2 * radius), pygame.SRCALPHA)
            steps = 12
            for step in range(steps):
                ring = radius * (steps - step) / steps
                pygame.draw.circle(glow, (*colour, 14 + 9 * step), (radius, radius), round(ring))
            self._pictures[key] = glow
        return self._pictures[key]

    # --- camera -----------------------------------------------------------------------------

    def _draw_camera(self, canvas: pygame.Surface, scene: Scene, layout: Layout) -> None:
        """The camera in the lower-right corner; a red "camera lost" panel when it is lost."""
        left, top, width, height = layout.camera
        if width <= 0 or height <= 0:
            return
        inset = pygame.Rect(left, top, width, height)
        border = max(2, round(0.004 * min(layout.size)))
        if scene.camera_lost:
            pygame.draw.rect(canvas, (20, 20, 20), inset)
            pygame.draw.rect(canvas, LOST_COLOUR, inset, width=max(2, 1 + border))
            size = max(8, round(0.05 * min(layout.size)))
            self._draw_text(canvas, ["camera lost"], (left, top, width, height), size,
                            Paint(LOST_COLOUR, LOST_COLOUR), bold=True, centred=True)
            return
        if scene.camera is None or self.style.camera_inset_width <= 0:
            return
        frame_height, frame_width = scene.camera.shape[:2]
        picture = pygame.image.frombuffer(np.ascontiguousarray(scene.camera, dtype=np.uint8),
                                          (frame_width, frame_height), "RGB")
        picture = pygame.transform.smoothscale(picture, (width, height))
        pygame.draw.rect(canvas, scene.accent, inset.inflate(2 * border, 2 * border))
        canvas.blit(picture, inset)

    # --- text ---------------------------------------------------------------------------

    def _shown(self, text: str, max_length: int) -> str:
        """`Fonts.displayable`, remembered: a frame shows the same texts as the last one, and
        a Python string keeps its hash, so the lookup costs well under a microsecond."""
        key = (text, max_length)
        found = self._displayable.get(key)
        if found is None:
            if len(self._displayable) > 512:
                self._displayable.clear()
            found = self._displayable[key] = self._fonts.displayable(text, max_length)
        return found

    def _draw_text(self, canvas: pygame.Surface, paragraphs: Sequence[str], box: Box,
                   largest: int, paint: Paint, bold: bool, centred: bool, alpha: float = 1.0,
                   max_lines: int = MAX_GREETING_LINES, smallest: int = 0) -> int:
        """`paragraphs` wrapped into `box` as large as fits (down to `smallest`, by default
        half of `largest`), centred in it or from its top left; still too large, scaled down
        to fit. Returns the height drawn."""
        left, top, width, height = box
        if width <= 0 or height <= 0 or not any(paragraphs):
            return 0
        smallest = max(8, min(largest, smallest or largest // 2))
        size, wrapped = self._fonts.fit(paragraphs, (width, height), largest, smallest, bold,
                                        max_lines)
        key = ("block", tuple(map(tuple, wrapped)), size, paint, bold, centred)
        block = self._text_cache.get(
            key, lambda: self._block(wrapped, size, paint, bold, centred))
        if block.get_width() > width or block.get_height() > height:
            factor = min(width / block.get_width(), height / block.get_height())
            block = pygame.transform.smoothscale(
                block, (max(1, int(block.get_width() * factor)),
                        max(1, int(block.get_height() * factor))))
        block.set_alpha(round(255 * alpha))
        if centred:
            position = (left + (width - block.get_width()) // 2,
                        top + (height - block.get_height()) // 2)
        else:
            position = (left, top)
        canvas.blit(block, position)
        return block.get_height()

    def _block(self, wrapped: Sequence[Sequence[str]], size: int, paint: Paint, bold: bool,
               centred: bool) -> pygame.Surface:
        """The paragraphs' lines one under the other; centred, or aligned to their reading
        direction's start (right-to-left lines to the right)."""
        rendered = [[(text, self._fonts.line(text, size, paint, bold)) for text in paragraph]
                    for paragraph in wrapped]
        block_width = max(line.get_width() for paragraph in rendered for _, line in paragraph)
        block = pygame.Surface((block_width, self._fonts.block_height(wrapped, size, bold)),
                               pygame.SRCALPHA)
        top = 0
        for paragraph in rendered:
            for text, line in paragraph:
                if centred:
                    x = (block_width - line.get_width()) // 2
                else:
                    x = block_width - line.get_width() if right_to_left(text) else 0
                block.blit(line, (x, top))
                top += line.get_height()
            top += self._fonts.paragraph_gap(size, bold)
        return block
