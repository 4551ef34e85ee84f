"""Text on the screen: fonts, emoji, right-to-left scripts, wrapping and fitting into a box.

**Fonts.** DejaVu Sans (regular and bold) is bundled in ``greeter/assets/fonts`` with its
licence (Bitstream Vera/Arev: free to redistribute with software), so every machine draws the
same letters: Latin with all its accents ("Jürgen", "Ștefan", "Nguyễn"), Greek, Cyrillic,
Hebrew and Arabic (with its presentation forms, which is what shaping produces). Emoji come
from Noto Color Emoji, Debian's ``fonts-noto-color-emoji`` (10 MB; installed by
``scripts/bootstrap.sh`` and the JetBot installer), drawn through SDL_ttf, which renders its
colour bitmaps (pygame.freetype draws them as grey blobs). It is a bitmap font with one size,
109 px, so an emoji is drawn once at that size and scaled to the line. Chinese, Japanese and
Korean come from Noto Sans CJK (``fonts-noto-cjk``, 91 MB) when it is installed, else from
WenQuanYi Micro Hei (``fonts-wqy-microhei``, 5 MB, the one ``scripts/bootstrap.sh`` and the
JetBot installer install), at the letters' size and on their baseline, so the name in
"Welcome back, 王伟!" lines up with the words around it. Without these packages emoji, or
Chinese, Japanese and Korean, are left out (logged once each) and `greeter greetings check`
names them and the package to install.

**Wrapping.** Lines break at spaces and, in Chinese and Japanese, which are written without
them, between characters (not before closing punctuation such as 、。！ nor after opening
punctuation); Korean keeps its words whole. A word wider than the line is shrunk to fit.
A Chinese, Japanese or Korean character is about as wide as two Latin letters: on the
robot's 800x480 screen a Chinese or Japanese message of up to about 200 characters fits whole,
a longer one (up to `greeter.names.MESSAGE_MAX_LENGTH`, 280) ends in an ellipsis.

**Right to left.** Arabic letters change shape with their neighbours and right-to-left text is
stored in reading order: a line is shaped (``arabic-reshaper``) and reordered for display
(``python-bidi``, the Unicode bidirectional algorithm) after wrapping, the way a browser does.
pygame 2.6's SDL_ttf has no text direction, so it cannot do this itself.

**Any text, bounded cost.** A greeting is cut to `MAX_GREETING_CHARACTERS` and
`MAX_GREETING_LINES`, a line to `MAX_LINE_CHARACTERS`, control characters become spaces, and
rendered text is cached up to `TEXT_CACHE_BYTES`. Before, a 5,000-character greeting took
2.5 s a frame on the 800x480 screen, and 100,000 characters froze the robot.
"""

import logging
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Hashable, List, Optional, Sequence, Set, Tuple

import arabic_reshaper
from bidi.algorithm import get_display

from greeter.names import ELLIPSIS, shown
from greeter.screen.sdl import pygame

log = logging.getLogger("greeter.screen.display")

RGB = Tuple[int, int, int]

FONTS = Path(__file__).resolve().parent / "assets" / "fonts"
REGULAR_FONT = FONTS / "DejaVuSans.ttf"
BOLD_FONT = FONTS / "DejaVuSans-Bold.ttf"
#: Where Debian (fonts-noto-color-emoji), Fedora and Arch put Noto Color Emoji.
EMOJI_FONTS = (
    Path("/usr/share/fonts/truetype/noto/NotoColorEmoji.ttf"),
    Path("/usr/share/fonts/google-noto-emoji/NotoColorEmoji.ttf"),
    Path("/usr/share/fonts/noto/NotoColorEmoji.ttf"),
)
#: The one size of Noto Color Emoji's bitmaps.
EMOJI_STRIKE = 109
#: Chinese, Japanese and Korean, which DejaVu lacks: (regular, bold) files, the first whose
#: regular file is installed wins. Noto Sans CJK (Debian's and Ubuntu's fonts-noto-cjk, 91 MB
#: installed, with a real bold face; its first face, Japanese, has Chinese and Korean too,
#: ideographs in their Japanese forms) when someone installed it; else WenQuanYi Micro Hei
#: (fonts-wqy-microhei, 5 MB, what bootstrap.sh and the JetBot installer install: one face,
#: made bold by freetype). The Debian paths are from `dpkg -L` (Ubuntu 18.04 has both
#: packages); the other two are where Arch's noto-fonts-cjk and Fedora's wqy-microhei-fonts
#: put them, as other projects list them.
CJK_FONTS: Tuple[Tuple[Path, Optional[Path]], ...] = (
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),
     Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")),
    (Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),
     Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc")),
    (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"), None),
    (Path("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc"), None),
)
#: Unicode blocks of Chinese and Japanese: ideographs, kana, bopomofo, their punctuation and
#: full-width forms (written without spaces) ...
_HAN_AND_KANA = ((0x2E80, 0x312F), (0x3190, 0x9FFF), (0xF900, 0xFAFF), (0xFE30, 0xFE4F),
                 (0xFF00, 0xFFEF), (0x20000, 0x3FFFF))
#: ... and of Korean (Hangul, written with spaces between words).
_HANGUL = ((0x1100, 0x11FF), (0x3130, 0x318F), (0xA960, 0xA97F), (0xAC00, 0xD7FF))
#: Unicode categories of characters a line must not start with (closing brackets and quotes,
#: 、。！, the lengthening mark ー and the repetition mark 々, marks and joiners) ...
_NO_BREAK_BEFORE = {"Pe", "Pf", "Po", "Lm", "Mn", "Mc", "Me", "Cf"}
#: ... or end with (opening brackets and quotes).
_NO_BREAK_AFTER = {"Ps", "Pi"}
#: Characters that only join or vary the emoji before them (zero-width joiner, variation
#: selectors, skin tones, keycap, tags): drawn with it, never on their own.
_JOINERS = {"\u200d", "\ufe0e", "\ufe0f", "\u20e3"}

#: A greeting is cut to this many characters (a message of `greeter.names.MESSAGE_MAX_LENGTH`
#: with two long names fits) ...
MAX_GREETING_CHARACTERS = 480
#: ... and to this many wrapped lines, the last ending in an ellipsis: the longest message
#: allowed, with a 64-character name, takes 11 lines of 25 px letters (29 px lines) in the
#: 532x326 stage of the 800x480 screen (tests/test_ui.py measures it);
MAX_GREETING_LINES = 12
#: a single line (title, value, status) to this many characters (names have at most 64).
MAX_LINE_CHARACTERS = 120
#: Rendered texts are kept for the next frames (a greeting is drawn ~30 times a second for
#: seconds), the least recently used dropped beyond this many bytes of pixels.
TEXT_CACHE_BYTES = 32 * 1024 * 1024


def _joins(char: str) -> bool:
    return char in _JOINERS or 0x1F3FB <= ord(char) <= 0x1F3FF or 0xE0020 <= ord(char) <= 0xE007F


def _in_blocks(char: str, blocks: Sequence[Tuple[int, int]]) -> bool:
    return any(first <= ord(char) <= last for first, last in blocks)


def _is_cjk(char: str) -> bool:
    """A Chinese, Japanese or Korean character (by its Unicode block: no font needed)."""
    return _in_blocks(char, _HAN_AND_KANA) or _in_blocks(char, _HANGUL)


def _breaks_between(before: str, after: str) -> bool:
    """Whether a line may break between two characters of a word: in Chinese and Japanese,
    which are written without spaces, between any two characters, unless that would start a
    line with closing punctuation or end one with opening punctuation (the gist of Unicode's
    line breaking rules, UAX #14, and Japanese kinsoku)."""
    return ((_in_blocks(before, _HAN_AND_KANA) or _in_blocks(after, _HAN_AND_KANA))
            and unicodedata.category(after) not in _NO_BREAK_BEFORE
            and unicodedata.category(before) not in _NO_BREAK_AFTER)


def _break_pieces(text: str) -> List[str]:
    """`text` cut where a line may break, each piece after the first with the space before it
    (if any): at spaces, and in Chinese and Japanese between characters (`_breaks_between`).
    Korean breaks at its spaces only, so a name stays whole (like CSS's ``keep-all``)."""
    pieces: List[str] = []
    for word in text.split():
        cuts = [index for index in range(1, len(word))
                if _breaks_between(word[index - 1], word[index])]
        parts = [word[start:end] for start, end in zip([0, *cuts], [*cuts, len(word)])]
        if pieces:
            parts[0] = " " + parts[0]
        pieces.extend(parts)
    return pieces


def right_to_left(text: str) -> bool:
    return any(unicodedata.bidirectional(char) in ("R", "AL") for char in text)


def visual(text: str) -> str:
    """`text` in the order and shapes it is drawn left to right: Arabic shaped, right-to-left
    runs reversed; left-to-right text unchanged."""
    if not right_to_left(text):
        return text
    return get_display(arabic_reshaper.reshape(text))


class SurfaceCache:
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


@dataclass(frozen=True)
class Paint:
    """Colours of a text: `colour` for the words, `accent` for the `emphasis` (the guest's
    first name, drawn wherever it occurs)."""

    colour: RGB
    accent: RGB
    emphasis: str = ""


def _cjk_fonts() -> Tuple[Optional[pygame.freetype.Font], Optional[pygame.freetype.Font]]:
    """The first installed of `CJK_FONTS`, regular and bold, or (None, None). Without a bold
    file the regular face is emboldened (freetype's ``strong``): plain, it looked thin beside
    DejaVu Sans Bold."""
    found = next((paths for paths in CJK_FONTS if paths[0].is_file()), None)
    if found is None:
        return None, None
    regular_path, bold_path = found
    regular = pygame.freetype.Font(str(regular_path))
    if bold_path is not None and bold_path.is_file():
        bold = pygame.freetype.Font(str(bold_path))
    else:
        bold = pygame.freetype.Font(str(regular_path))
        bold.strong = True
    for font in (regular, bold):
        font.origin = True
    return regular, bold


class Fonts:
    """The fonts: which one draws which character, lines measured and rendered."""

    def __init__(self, cache: SurfaceCache) -> None:
        pygame.freetype.init()
        pygame.font.init()
        self.regular = pygame.freetype.Font(str(REGULAR_FONT))
        self.bold = pygame.freetype.Font(str(BOLD_FONT))
        for font in (self.regular, self.bold):
            font.origin = True  # render_to places the baseline, so runs of one line align
        emoji_path = next((path for path in EMOJI_FONTS if path.is_file()), None)
        self.emoji = pygame.font.Font(str(emoji_path), EMOJI_STRIKE) if emoji_path else None
        # SDL_ttf draws the colours, but its metrics stop at U+FFFF: freetype tells coverage
        self._emoji_coverage = (pygame.freetype.Font(str(emoji_path), size=EMOJI_STRIKE)
                                if emoji_path else None)
        self.cjk, self.cjk_bold = _cjk_fonts()
        self._cache = cache
        self._kinds: Dict[str, Optional[str]] = {}
        self._reported: Set[str] = set()
        #: Horizontal advance of each character measured, by (kind, size, bold): "text" and
        #: "cjk" characters are measured in their own font.
        self._advances: Dict[Tuple[str, int, bool], Dict[str, float]] = {}
        self._fits: OrderedDict[Hashable, Tuple[int, List[List[str]]]] = OrderedDict()

    # -- which font ------------------------------------------------------------------------

    def kind(self, char: str) -> Optional[str]:
        """"text" (DejaVu), "emoji" (Noto Color Emoji), "cjk" (the CJK font: Chinese,
        Japanese, Korean, and anything else of it DejaVu lacks), "join" (belongs to the emoji
        before it) or None: nothing here can draw it. Emoji come before the CJK font, which
        has some of them in black and white."""
        if char not in self._kinds:
            if _joins(char):
                found: Optional[str] = "join"
            elif char.isspace() or self.regular.get_metrics(char, size=12)[0] is not None:
                found = "text"
            elif (self._emoji_coverage is not None
                  and self._emoji_coverage.get_metrics(char, size=EMOJI_STRIKE)[0] is not None):
                found = "emoji"
            elif self.cjk is not None and self.cjk.get_metrics(char, size=12)[0] is not None:
                found = "cjk"
            else:
                found = None
            self._kinds[char] = found
        return self._kinds[char]

    def undrawable(self, text: str) -> str:
        """The characters of `text` no font here can draw, each once, in order."""
        missing = [char for char in text if self.kind(char) is None]
        return "".join(dict.fromkeys(missing))

    def displayable(self, text: str, max_length: int) -> str:
        """`text` as the screen can draw it: cut to `max_length` characters with an ellipsis,
        control characters as spaces (`greeter.names.shown`), without characters no font
        has (logged once each; `greeter greetings check` names them) and the double spaces
        their removal leaves."""
        text = shown(text, max_length)
        missing = self.undrawable(text)
        if not missing:
            return text
        new = set(missing) - self._reported
        if new:
            self._reported.update(new)
            log.info("no font draws %r in %r; left out", "".join(sorted(new)), text)
        return " ".join("".join(char for char in text if char not in missing).split())

    # -- one line --------------------------------------------------------------------------

    def _runs(self, text: str, paint: Optional[Paint]) -> List[Tuple[str, str, bool]]:
        """The visual line as (text, kind, emphasised) runs, left to right: characters of
        one font and colour together."""
        shown_text = visual(text)
        marked = [False] * len(shown_text)
        if paint is not None and paint.emphasis:
            name = visual(paint.emphasis)
            start = shown_text.find(name)
            while name and start >= 0:
                marked[start:start + len(name)] = [True] * len(name)
                start = shown_text.find(name, start + len(name))
        runs: List[Tuple[str, str, bool]] = []
        for char, emphasised in zip(shown_text, marked):
            kind = self.kind(char)
            if kind == "join":
                kind = runs[-1][1] if runs else "text"
            if runs and runs[-1][1] == kind and runs[-1][2] == emphasised:
                runs[-1] = (runs[-1][0] + char, kind, emphasised)
            else:
                runs.append((char, kind or "text", emphasised))
        return runs

    def _emoji_scale(self, size: int, bold: bool) -> float:
        font = self.bold if bold else self.regular
        return font.get_sized_height(size) / self.emoji.get_height()

    def _text_font(self, kind: str, bold: bool) -> pygame.freetype.Font:
        """The freetype font of a "text" or "cjk" run."""
        if kind == "cjk":
            return self.cjk_bold if bold else self.cjk
        return self.bold if bold else self.regular

    def _run_width(self, run: str, kind: str, size: int, bold: bool) -> int:
        if kind == "emoji":
            return round(self.emoji.size(run)[0] * self._emoji_scale(size, bold))
        # one freetype call per size for the characters not measured yet: a call costs about
        # 160 us whatever its length, and wrapping measures every word at every size tried,
        # so a greeting easing into a new row took ~20 ms a frame on a busy core
        advances = self._advances.setdefault((kind, size, bold), {})
        missing = "".join({char for char in run if char not in advances})
        if missing:
            font = self._text_font(kind, bold)
            for char, metric in zip(missing, font.get_metrics(missing, size=size)):
                advances[char] = metric[4] if metric else 0.0
        return sum(advances[char] for char in run)

    def width(self, text: str, size: int, bold: bool = False) -> int:
        """Width of the displayable line `text` in pixels."""
        return int(self._advance(text, size, bold))

    def _advance(self, text: str, size: int, bold: bool) -> float:
        """Width of the displayable line `text` in fractions of a pixel: the sum of its
        characters' advances (no kerning), so a line's is the sum of its parts'."""
        return sum(self._run_width(run, kind, size, bold)
                   for run, kind, _ in self._runs(text, None))

    def height(self, size: int, bold: bool = False) -> int:
        return (self.bold if bold else self.regular).get_sized_height(size)

    def line(self, text: str, size: int, paint: Paint, bold: bool = False) -> pygame.Surface:
        """One displayable line on a transparent surface as tall as the font's line height,
        the baseline at the font's ascender: lines of different letters align. Cached."""
        return self._cache.get(("line", text, size, paint, bold),
                               lambda: self._render(text, size, paint, bold))

    def _render(self, text: str, size: int, paint: Paint, bold: bool) -> pygame.Surface:
        font = self.bold if bold else self.regular
        runs = self._runs(text, paint)
        widths = [self._run_width(run, kind, size, bold) for run, kind, _ in runs]
        surface = pygame.Surface((max(1, int(sum(widths))), font.get_sized_height(size)),
                                 pygame.SRCALPHA)
        x, baseline = 0.0, font.get_sized_ascender(size)
        for (run, kind, emphasised), run_width in zip(runs, widths):
            colour = paint.accent if emphasised else paint.colour
            if kind == "emoji":
                picture = self.emoji.render(run, True, colour)
                picture = pygame.transform.smoothscale(
                    picture, (max(1, round(run_width)), surface.get_height()))
                surface.blit(picture, (round(x), 0))
            else:  # DejaVu or the CJK font, on DejaVu's baseline: a mixed line lines up
                self._text_font(kind, bold).render_to(surface, (round(x), baseline), run, colour,
                                                      size=size)
            x += run_width
        return surface

    # -- wrapping and fitting ----------------------------------------------------------------

    def wrap(self, text: str, size: int, max_width: int, bold: bool = True,
             max_lines: int = MAX_GREETING_LINES) -> List[str]:
        """Displayable `text` wrapped to `max_width` at spaces and between the characters of
        Chinese and Japanese (`_break_pieces`; in reading order, each line is reordered for
        display when drawn), at most `max_lines`, the last ending in an ellipsis when the text
        goes on. A word wider than the line stays whole (it is shrunk when drawn)."""
        lines: List[List[str]] = []  # each line's pieces
        line_advance = 0.0
        for piece in _break_pieces(text):
            # only the new piece is measured, not the whole line again: Chinese has a piece
            # per character, and a 280-character message took 16 ms instead of 8 to fit into
            # a new box, on every frame of its row easing
            advance = self._advance(piece, size, bold)
            if lines and int(line_advance + advance) <= max_width:
                lines[-1].append(piece)
                line_advance += advance
            else:
                lines.append([piece.lstrip(" ")])
                line_advance = self._advance(lines[-1][0], size, bold)
        if len(lines) > max_lines:
            last = lines[max_lines - 1]
            while len(last) > 1 and self.width("".join(last) + ELLIPSIS, size, bold) > max_width:
                last.pop()
            lines = lines[:max_lines - 1] + [["".join(last).rstrip(ELLIPSIS) + ELLIPSIS]]
        return ["".join(line) for line in lines] or [""]

    def fit(self, paragraphs: Sequence[str], box: Tuple[int, int], largest: int,
            smallest: int, bold: bool, max_lines: int = MAX_GREETING_LINES
            ) -> Tuple[int, List[List[str]]]:
        """The largest letter size from `largest` down to `smallest` at which the displayable
        `paragraphs`, each wrapped, fit the box (width, height), `paragraph_gap` apart, every
        line within the width (or up to 20 % smaller for a line less); at `smallest` whatever
        wraps. Returns the size and each paragraph's lines. Remembered: the same text is
        fitted into the same box on every frame."""
        key = (tuple(paragraphs), box, largest, smallest, bold, max_lines)
        if key in self._fits:
            self._fits.move_to_end(key)
            return self._fits[key]
        width, height = box

        def lines_at(size: int) -> List[List[str]]:
            return [self.wrap(paragraph, size, width, bold, max_lines)
                    for paragraph in paragraphs]

        def fits(size: int) -> bool:
            wrapped = lines_at(size)
            lines = [line for paragraph in wrapped for line in paragraph]
            return (self.block_height(wrapped, size, bold) <= height
                    and all(self.width(line, size, bold) <= width for line in lines)
                    and all(paragraph[-1].endswith(ELLIPSIS) == text.endswith(ELLIPSIS)
                            for paragraph, text in zip(wrapped, paragraphs)))

        low, high = smallest, max(smallest, largest)
        if fits(high):
            low = high
        else:  # binary search: the largest size that fits, or the smallest
            while high - low > 1:
                middle = (low + high) // 2
                low, high = (middle, high) if fits(middle) else (low, middle)
        result = (low, lines_at(low))
        # a line less at a little smaller letters reads better ("Welcome Stranger!" on one
        # line rather than two): down to 80 % of the size that fits
        count = sum(map(len, result[1]))
        for size in range(low - 1, max(smallest, round(low * 0.8)) - 1, -1):
            wrapped = lines_at(size)
            if sum(map(len, wrapped)) < count and fits(size):
                result = (size, wrapped)
                break
        self._fits[key] = result
        if len(self._fits) > 256:
            self._fits.popitem(last=False)
        return result

    def paragraph_gap(self, size: int, bold: bool) -> int:
        """Space between paragraphs (the host's values): a third of a line."""
        return self.height(size, bold) // 3

    def block_height(self, wrapped: Sequence[Sequence[str]], size: int, bold: bool) -> int:
        lines = sum(len(paragraph) for paragraph in wrapped)
        return (lines * self.height(size, bold)
                + max(0, len(wrapped) - 1) * self.paragraph_gap(size, bold))


def undrawable_warnings(texts: Sequence[Tuple[str, str]]) -> List[str]:
    """One line per (where, text) holding characters no font of the screen draws, naming
    them and the fix; they would be left out on the screen. No display is needed."""
    fonts = Fonts(SurfaceCache(0))
    warnings = []
    for where, text in texts:
        missing = fonts.undrawable(text)
        if missing:
            names = ", ".join(f"{char!r} (U+{ord(char):04X})" for char in missing)
            warnings.append(f"{where}: the screen cannot draw {names}: {_fix(fonts, missing)}")
    return warnings


def _fix(fonts: Fonts, missing: str) -> str:
    """What to do about the characters `missing`: install the font package that draws them
    when it is not installed, else use other characters."""
    packages = []
    if fonts.emoji is None and not all(map(_is_cjk, missing)):
        packages.append("fonts-noto-color-emoji for emoji")
    if fonts.cjk is None and any(map(_is_cjk, missing)):
        packages.append("fonts-wqy-microhei (or fonts-noto-cjk) for Chinese, Japanese and Korean")
    if packages:
        return f"install {' and '.join(packages)}, or leave them out"
    return "no font of the screen has them, so they are left out: use other characters"
