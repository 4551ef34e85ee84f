"""The screen: the only module that imports pygame.

`Screen.render` draws one `Scene`, a plain description of what to show (strings, RGB
tuples, an RGB array; no greeter settings), so the app decides *what* and this module only
*how*:

* the host's background (colour or image) with its title and values text;
* the greetings, large and centred on translucent panels, fading in and out, stacked when
  several people arrive together;
* the live camera in the lower-right corner, or a visible "camera lost" panel;
* an idle screen (title and values centred) when nobody is there;
* a status line at the bottom.

Sizes are fractions of the screen's height, so the same scene fits the robot's 800x480 and a
1920x1080 monitor. The screen is fullscreen by default, a window when given a size, or
headless: an off-screen surface with no display at all (tests, servers, ``--headless``).

**Font.** DejaVu Sans (regular and bold) is bundled in ``greeter/assets/fonts`` with its
licence (Bitstream Vera/Arev: free to redistribute with software). Names come from anywhere:
"Jürgen", "Zoë", "Łukasz", "Ștefan", "Nguyễn". DejaVu covers Latin-1, Latin Extended-A/B,
Latin Extended Additional, Greek and Cyrillic; pygame's own font (freesansbold) lacks
Latin Extended-B (Romanian "Ș") and Vietnamese; Debian's fonts-dejavu-core is not on every
machine (a laptop, a container, CI) and lives at different paths elsewhere; bundling 1.4 MB
makes every machine render the same pixels. Characters the font lacks (emoji) are left out
of the text rather than drawn as boxes.

**Any text, bounded cost.** The greetings file and the store refuse text the screen cannot
show (`greeter.people`), but the screen does not rely on it: a greeting is cut to
`MAX_GREETING_CHARACTERS` and `MAX_GREETING_LINES`, a line to `MAX_LINE_CHARACTERS`, control
characters become spaces, and rendered text is cached up to `TEXT_CACHE_BYTES`. Before, a
5,000-character greeting took 2.5 s a frame on the 800x480 screen, and 100,000 characters
froze the robot with gigabytes of memory.
"""

import contextlib
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Hashable, List, Optional, Sequence, Set, Tuple

import numpy as np

os.environ.setdefault("PYGAME_HIDE_SUPPORT_PROMPT", "1")
import pygame  # noqa: E402  (after the variable that silences its banner)
import pygame.freetype  # noqa: E402

from greeter.errors import GreeterError  # noqa: E402
from greeter.people import ELLIPSIS, shown, shown_key  # noqa: E402

log = logging.getLogger(__name__)

RGB = Tuple[int, int, int]

FONTS = Path(__file__).resolve().parent / "assets" / "fonts"
REGULAR_FONT = FONTS / "DejaVuSans.ttf"
BOLD_FONT = FONTS / "DejaVuSans-Bold.ttf"

#: Size of a headless screen when none is given.
HEADLESS_SIZE = (1280, 720)
LOST_COLOUR: RGB = (235, 80, 70)
#: Whatever text reaches the screen (a store of an older greeter, a greetings file edited while
#: the robot runs), drawing it costs bounded time and memory: a greeting is cut to this many
#: characters (a message of `greeter.people.MESSAGE_MAX_LENGTH` with two long names fits) ...
MAX_GREETING_CHARACTERS = 480
#: ... and to this many wrapped lines, the last ending in an ellipsis (8 lines of the smallest
#: greeting size fill the 800x480 screen between the title and the camera);
MAX_GREETING_LINES = 8
#: a single line (title, value, status) to this many characters (names have at most 64).
MAX_LINE_CHARACTERS = 120
#: The host's value lines drawn at most (12 of the smallest size fill the 800x480 screen).
MAX_HOST_LINES = 10
#: Rendered texts are kept for the next frames (a greeting is drawn ~30 times a second for
#: seconds), the least recently used dropped beyond this many bytes of pixels.
TEXT_CACHE_BYTES = 32 * 1024 * 1024


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
    """How the screen moves and scales (the app fills it from `greeter.settings.UiSettings`).

    Times are in seconds; heights and the inset width are fractions of the screen.
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
    """A greeting on screen: its text and how long ago (seconds) it was decided."""

    text: str
    age: float


@dataclass(frozen=True)
class Scene:
    """Everything one frame of the screen shows."""

    title: str
    background: RGB
    text_colour: RGB
    accent: RGB
    lines: Sequence[str] = ()
    background_image: Optional[Path] = None
    greetings: Sequence[ShownGreeting] = ()
    camera: Optional[np.ndarray] = None
    status: str = ""
    camera_lost: bool = False
    idle: bool = False


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


class _SurfaceCache:
    """Rendered texts by key, the least recently used dropped once they hold more than
    `max_bytes` of pixels (a count alone would let 256 huge texts take gigabytes)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._surfaces: OrderedDict[Hashable, pygame.Surface] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], pygame.Surface]) -> pygame.Surface:
        surface = self._surfaces.get(key)
        if surface is not None:
            self._surfaces.move_to_end(key)
            return surface
        surface = make()
        self._surfaces[key] = surface
        self.bytes += _pixel_bytes(surface)
        while self.bytes > self.max_bytes and len(self._surfaces) > 1:
            _, dropped = self._surfaces.popitem(last=False)
            self.bytes -= _pixel_bytes(dropped)
        return surface


def _pixel_bytes(surface: pygame.Surface) -> int:
    return surface.get_pitch() * surface.get_height()


class _Fonts:
    """The bundled fonts, with rendered lines cached and characters they lack left out."""

    def __init__(self, cache: _SurfaceCache) -> None:
        pygame.freetype.init()
        self.regular = pygame.freetype.Font(str(REGULAR_FONT))
        self.bold = pygame.freetype.Font(str(BOLD_FONT))
        self._cache = cache
        self._reported: Set[str] = set()

    def displayable(self, text: str, max_length: int) -> str:
        """`text` as the screen can draw it: cut to `max_length` characters with an ellipsis,
        control characters as spaces (`greeter.people.shown`), without the characters the font
        has no glyph for (emoji...) and the double spaces their removal leaves."""
        text = shown(text, max_length)
        metrics = self.regular.get_metrics(text, size=12)
        kept = "".join(char for char, metric in zip(text, metrics)
                       if metric is not None or char.isspace())
        if kept == text:
            return text
        missing = set(text) - set(kept) - self._reported
        if missing:  # logged once per character, however many texts hold it
            self._reported.update(missing)
            log.info("the font has no glyph for %r in %r; left out",
                     "".join(sorted(missing)), text)
        return " ".join(kept.split())

    def line(self, text: str, size: int, colour: RGB, bold: bool = False) -> pygame.Surface:
        """One line of text on a transparent surface as tall as the font's line height, the
        baseline at the font's ascender: lines of different letters align."""
        # keyed by what `displayable` depends on, not by its result: lines are drawn every
        # frame, and computing it (~190 us a line here) costs far more than the lookup (~1 us)
        return self._cache.get(
            ("line", shown_key(text, MAX_LINE_CHARACTERS), size, colour, bold),
            lambda: self._render(self.displayable(text, MAX_LINE_CHARACTERS), size, colour, bold))

    def _render(self, text: str, size: int, colour: RGB, bold: bool) -> pygame.Surface:
        font = self.bold if bold else self.regular
        glyphs, bounds = font.render(text, colour, size=size)
        surface = pygame.Surface((max(1, bounds.width), font.get_sized_height(size)),
                                 pygame.SRCALPHA)
        surface.blit(glyphs, (0, font.get_sized_ascender(size) - bounds.y))
        return surface

    def width(self, text: str, size: int, bold: bool = False) -> int:
        """Width of `text`, already displayable, in pixels."""
        font = self.bold if bold else self.regular
        return font.get_rect(text, size=size).width

    def wrap(self, text: str, size: int, max_width: int) -> Tuple[int, List[str]]:
        """Bold `text` in as few lines as fit `max_width`: first smaller letters (down to 70 %),
        then words wrapped onto more lines, at most `MAX_GREETING_LINES`, the last one ending
        in an ellipsis when the text goes on. Returns the letter size and the lines."""
        text = self.displayable(text, MAX_GREETING_CHARACTERS)
        smallest = round(size * 0.7)
        while size > smallest and self.width(text, size, True) > max_width:
            size -= 1
        lines: List[str] = []
        for word in text.split():
            if lines and self.width(f"{lines[-1]} {word}", size, True) <= max_width:
                lines[-1] = f"{lines[-1]} {word}"
            else:
                lines.append(word)
        if len(lines) > MAX_GREETING_LINES:
            last = lines[MAX_GREETING_LINES - 1]
            while " " in last and self.width(last + ELLIPSIS, size, True) > max_width:
                last = last.rsplit(" ", 1)[0]
            lines = lines[:MAX_GREETING_LINES - 1] + [last.rstrip(ELLIPSIS) + ELLIPSIS]
        return size, lines or [""]


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
        self._text_cache = _SurfaceCache(TEXT_CACHE_BYTES)
        self._fonts = _Fonts(self._text_cache)
        self._backgrounds: Dict[Path, Optional[pygame.Surface]] = {}

    @property
    def size(self) -> Tuple[int, int]:
        return self.surface.get_size()

    @property
    def text_cache_bytes(self) -> int:
        """Bytes of pixels held by rendered texts kept for the next frames."""
        return self._text_cache.bytes

    def render(self, scene: Scene) -> None:
        """Draw `scene` and show it."""
        self._draw_background(scene)
        greetings = self._visible_greetings(scene)
        if scene.idle and not greetings:
            self._draw_idle(scene)
        else:
            header_bottom = self._draw_host(scene, with_lines=not greetings)
            self._draw_greetings(scene, greetings, header_bottom)
        self._draw_camera(scene)
        self._draw_status(scene)
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

    # --- layout ------------------------------------------------------------------------

    @property
    def _margin(self) -> int:
        return max(4, round(0.03 * self.size[1]))

    def _text_size(self, fraction: float) -> int:
        return max(8, round(fraction * self.size[1]))

    def _draw_background(self, scene: Scene) -> None:
        image = self._background_image(scene.background_image) if scene.background_image else None
        if image is None:
            self.surface.fill(scene.background)
        else:
            self.surface.blit(image, (0, 0))

    def _background_image(self, path: Path) -> Optional[pygame.Surface]:
        """The image scaled to cover the screen (cropped, not stretched); None when it cannot
        be loaded, which is logged once and shows the background colour instead."""
        if path not in self._backgrounds:
            try:
                image = pygame.image.load(str(path))
            except (pygame.error, OSError) as error:
                log.warning("background image %s cannot be shown (%s); using the colour",
                            path, error)
                self._backgrounds[path] = None
            else:
                width, height = self.size
                factor = max(width / image.get_width(), height / image.get_height())
                # smoothscale needs 32 bits per pixel; palette and grey images are not
                full_colour = pygame.Surface(image.get_size(), pygame.SRCALPHA, 32)
                full_colour.blit(image, (0, 0))
                scaled = pygame.transform.smoothscale(
                    full_colour, (max(width, round(image.get_width() * factor)),
                                  max(height, round(image.get_height() * factor))))
                cover = pygame.Surface(self.size)
                cover.blit(scaled, ((width - scaled.get_width()) // 2,
                                    (height - scaled.get_height()) // 2))
                self._backgrounds[path] = cover
        return self._backgrounds[path]

    def _draw_host(self, scene: Scene, with_lines: bool) -> int:
        """Title top left with an accent bar under it, then the values text unless greetings
        take the stage; returns the bottom of what was drawn."""
        width = self.size[0]
        margin = self._margin
        bar_height = max(2, round(0.008 * self.size[1]))
        title = self._fitted(scene.title, self._text_size(2 * self.style.text_height),
                             scene.text_colour, True, width - 2 * margin)
        lines = [self._fitted(text, self._text_size(self.style.text_height), scene.text_colour,
                              False, width - 2 * margin)
                 for text in (scene.lines[:MAX_HOST_LINES] if with_lines else ())]
        bottom = margin + title.get_height() + bar_height
        if lines:
            bottom += margin // 2 + sum(line.get_height() for line in lines)
        self._backdrop(scene, pygame.Rect(0, 0, width, bottom + margin // 2))
        self.surface.blit(title, (margin, margin))
        bar = pygame.Rect(margin, margin + title.get_height(), max(title.get_width(), 4 * margin),
                          bar_height)
        pygame.draw.rect(self.surface, scene.accent, bar)
        top = bar.bottom + margin // 2
        for line in lines:
            self.surface.blit(line, (margin, top))
            top += line.get_height()
        return bottom

    def _draw_idle(self, scene: Scene) -> None:
        """Nobody in view: the title large and the values centred on the screen."""
        width, height = self.size
        gap = self._margin
        title = self._fitted(scene.title, self._text_size(self.style.greeting_text_height),
                             scene.text_colour, True, int(width * 0.9))
        lines = [self._fitted(text, self._text_size(self.style.text_height), scene.text_colour,
                              False, int(width * 0.9)) for text in scene.lines[:MAX_HOST_LINES]]
        total = title.get_height() + gap + sum(line.get_height() for line in lines)
        top = (height - total) // 2
        block_width = max([title.get_width()] + [line.get_width() for line in lines])
        self._backdrop(scene, pygame.Rect((width - block_width) // 2 - gap, top - gap // 2,
                                          block_width + 2 * gap, total + gap))
        self.surface.blit(title, ((width - title.get_width()) // 2, top))
        top += title.get_height()
        bar_width = max(title.get_width() // 3, 4 * gap)
        pygame.draw.rect(self.surface, scene.accent,
                         ((width - bar_width) // 2, top + gap // 3, bar_width,
                          max(2, round(0.008 * height))))
        top += gap
        for line in lines:
            self.surface.blit(line, ((width - line.get_width()) // 2, top))
            top += line.get_height()

    def _backdrop(self, scene: Scene, area: pygame.Rect) -> None:
        """Over a background image, a translucent panel of the background colour behind text,
        so the host's text colour stays readable on any picture."""
        if scene.background_image is None or self._background_image(scene.background_image) is None:
            return
        panel = pygame.Surface(area.size, pygame.SRCALPHA)
        pygame.draw.rect(panel, (*scene.background, 200), panel.get_rect(),
                         border_radius=self._margin // 2)
        self.surface.blit(panel, area)

    def _visible_greetings(self, scene: Scene) -> List[ShownGreeting]:
        """The newest `max_greetings` greetings not faded out, oldest first."""
        visible = [greeting for greeting in scene.greetings
                   if opacity(greeting.age, self.style) > 0]
        newest = sorted(visible, key=lambda greeting: greeting.age)[: self.style.max_greetings]
        return newest[::-1]

    def _draw_greetings(self, scene: Scene, greetings: Sequence[ShownGreeting],
                        top: int) -> None:
        """The greetings stacked and centred between the header and the camera inset, their
        letters shrunk until the stack fits."""
        if not greetings:
            return
        width, height = self.size
        margin = self._margin
        top += margin
        bottom = height - 2 * margin - max(self._inset_height(scene), margin)
        size = self._text_size(self.style.greeting_text_height)
        smallest = self._text_size(self.style.text_height)
        while True:
            panels = [self._greeting_panel(scene, greeting, size) for greeting in greetings]
            total = sum(panel.get_height() for panel in panels) + margin // 2 * (len(panels) - 1)
            if total <= bottom - top or size <= smallest:
                break
            size = max(smallest, min(size - 1, int(size * (bottom - top) / total)))
        y = top + max(0, (bottom - top - total) // 2)
        for panel in panels:
            self.surface.blit(panel, ((width - panel.get_width()) // 2, y))
            y += panel.get_height() + margin // 2

    def _greeting_panel(self, scene: Scene, greeting: ShownGreeting,
                        size: int) -> pygame.Surface:
        """The greeting's text on a rounded panel of the host's colours, at its opacity."""
        padding = self._margin
        text = self._wrapped(greeting.text, size, scene.text_colour,
                             int(self.size[0] * 0.9) - 2 * padding)
        panel = pygame.Surface((text.get_width() + 2 * padding, text.get_height() + padding),
                               pygame.SRCALPHA)
        pygame.draw.rect(panel, (*scene.background, 225), panel.get_rect(),
                         border_radius=padding)
        pygame.draw.rect(panel, scene.accent, panel.get_rect(),
                         width=max(2, round(0.005 * self.size[1])), border_radius=padding)
        panel.blit(text, (padding, padding // 2))
        panel.set_alpha(round(255 * opacity(greeting.age, self.style)))
        return panel

    def _inset_height(self, scene: Scene) -> int:
        """Height of the camera inset (or "camera lost" panel) in the lower-right corner."""
        if scene.camera_lost:
            return round(self._lost_inset_width() * 9 / 16)
        if scene.camera is None or self.style.camera_inset_width <= 0:
            return 0
        frame_height, frame_width = scene.camera.shape[:2]
        return max(1, round(self.size[0] * self.style.camera_inset_width
                            * frame_height / frame_width))

    def _lost_inset_width(self) -> int:
        return round(self.size[0] * max(self.style.camera_inset_width, 0.2))

    def _draw_camera(self, scene: Scene) -> None:
        """The camera in the lower-right corner; a red "camera lost" panel when it is lost."""
        width, height = self.size
        margin = self._margin
        corner = (width - margin, height - margin)
        if scene.camera_lost:
            inset = pygame.Rect(0, 0, self._lost_inset_width(), self._inset_height(scene))
            inset.bottomright = corner
            pygame.draw.rect(self.surface, (20, 20, 20), inset)
            pygame.draw.rect(self.surface, LOST_COLOUR, inset, width=max(2, round(0.006 * height)))
            label = self._fitted("camera lost", self._text_size(0.05), LOST_COLOUR, True,
                                 inset.width - margin)
            self.surface.blit(label, label.get_rect(center=inset.center))
            return
        inset_height = self._inset_height(scene)
        if not inset_height:
            return
        frame_height, frame_width = scene.camera.shape[:2]
        picture = pygame.image.frombuffer(np.ascontiguousarray(scene.camera, dtype=np.uint8),
                                          (frame_width, frame_height), "RGB")
        picture = pygame.transform.smoothscale(
            picture, (round(width * self.style.camera_inset_width), inset_height))
        inset = picture.get_rect(bottomright=corner)
        border = max(2, round(0.004 * height))
        pygame.draw.rect(self.surface, scene.accent, inset.inflate(2 * border, 2 * border))
        self.surface.blit(picture, inset)

    def _draw_status(self, scene: Scene) -> None:
        if not scene.status:
            return
        colour = _mix(scene.text_colour, scene.background, 0.4)
        line = self._fitted(scene.status, self._text_size(0.6 * self.style.text_height), colour,
                            False, int(self.size[0] * 0.6))
        bottom = self.size[1] - self._margin // 2
        self.surface.blit(line, (self._margin, bottom - line.get_height()))

    # --- text --------------------------------------------------------------------------

    def _fitted(self, text: str, size: int, colour: RGB, bold: bool,
                max_width: int) -> pygame.Surface:
        """One line, shrunk to `max_width` when longer."""
        line = self._fonts.line(text, size, colour, bold)
        if line.get_width() <= max_width:
            return line
        factor = max_width / line.get_width()
        return pygame.transform.smoothscale(
            line, (max_width, max(1, round(line.get_height() * factor))))

    def _wrapped(self, text: str, size: int, colour: RGB, max_width: int) -> pygame.Surface:
        """Bold text wrapped by `_Fonts.wrap`, each line centred. Cached: a greeting stays for
        seconds."""
        return self._text_cache.get(
            ("wrapped", shown_key(text, MAX_GREETING_CHARACTERS), size, colour, max_width),
            lambda: self._wrap(text, size, colour, max_width))

    def _wrap(self, text: str, size: int, colour: RGB, max_width: int) -> pygame.Surface:
        size, lines = self._fonts.wrap(text, size, max_width)
        rendered = [self._fitted(line, size, colour, True, max_width) for line in lines]
        block = pygame.Surface((max(line.get_width() for line in rendered),
                                sum(line.get_height() for line in rendered)), pygame.SRCALPHA)
        top = 0
        for line in rendered:
            block.blit(line, ((block.get_width() - line.get_width()) // 2, top))
            top += line.get_height()
        return block
