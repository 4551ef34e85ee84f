"""Where everything goes on the screen: pure geometry, no pygame, tested on plain numbers.

The kiosk has four areas (`plan`):

* the **band**: the host's logo, title and values, always visible. In landscape a column on
  the left (30 % of the width: on the 800x480 screen 240 px, where a value line of 32
  characters wraps into two lines); in portrait a band across the top (30 %
  of the height), because a column would leave a portrait stage too narrow for a name.
* the **stage**: the rest, where greetings are the hero and the idle screen moves gently;
* the **camera** inset in the lower-right corner, its width a fraction of the screen's long
  side (so a portrait 480x800 screen gets the same 200 px picture as the 800x480 one);
* the stage ends above the camera, so no greeting is ever drawn under the picture.

Greetings share the stage in rows (`rows`), one per guest, each row's height proportional to
its `presence`: 0 when the greeting appears, easing to 1 over the fade-in and back to 0 over
the fade-out. Rows therefore grow and shrink continuously, so when a second guest arrives the
first one's greeting slides up over the fade-in instead of jumping, and when one leaves the
others close the gap the same way. Four guests on the 800x480 screen get rows of 71 px.
"""

import math
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

#: (left, top, width, height) in pixels.
Box = Tuple[int, int, int, int]

#: Share of the width (landscape) or height (portrait) the host's band takes.
BAND_SHARE = 0.30
#: The logo's share of the band's height (landscape) or width (portrait).
LOGO_SHARE = 0.28
#: The camera inset is at most this share of the screen's height (a square camera on a wide
#: screen would otherwise cover the stage).
MAX_CAMERA_HEIGHT = 0.4


@dataclass(frozen=True)
class Layout:
    """The boxes of one screen size; empty boxes have zero width or height."""

    size: Tuple[int, int]
    portrait: bool
    margin: int
    band: Box
    logo: Optional[Box]
    title: Box
    values: Box
    status: Box
    stage: Box
    camera: Box


def margin_for(size: Tuple[int, int]) -> int:
    """3 % of the short side: 14 px on the 800x480 screen, 32 px at 1920x1080."""
    return max(4, round(0.03 * min(size)))


def plan(size: Tuple[int, int], camera_width: float, camera_aspect: float,
         logo: bool = False) -> Layout:
    """The layout of a `size` screen (portrait when taller than wide).

    `camera_width` is the inset's width as a share of the long side (0 hides it),
    `camera_aspect` the camera's height / width; `logo` makes room for a logo in the band.
    """
    width, height = size
    portrait = height > width
    margin = margin_for(size)
    camera_w = round(camera_width * max(size))
    camera_h = round(camera_w * camera_aspect)
    if camera_h > MAX_CAMERA_HEIGHT * height:  # narrower, keeping the camera's shape
        camera_h = round(MAX_CAMERA_HEIGHT * height)
        camera_w = round(camera_h / camera_aspect)
    camera = (width - margin - camera_w, height - margin - camera_h, camera_w, camera_h)
    status_h = max(8, round(0.035 * min(size)))
    if portrait:
        band = (0, 0, width, round(BAND_SHARE * height))
        inner_x, inner_w = margin, width - 2 * margin
        logo_box = None
        if logo:
            logo_w = round(LOGO_SHARE * width)
            logo_box = (margin, margin, logo_w, band[3] - 2 * margin - status_h)
            inner_x, inner_w = inner_x + logo_w + margin, inner_w - logo_w - margin
        text_top, text_bottom = margin, band[3] - margin - status_h
        stage_left, stage_top = margin, band[3] + margin
    else:
        band = (0, 0, round(BAND_SHARE * width), height)
        inner_x, inner_w = margin, band[2] - 2 * margin
        text_top, logo_box = margin, None
        if logo:
            logo_box = (margin, margin, inner_w, round(LOGO_SHARE * height))
            text_top += logo_box[3] + margin
        text_bottom = height - margin - status_h
        stage_left, stage_top = band[2] + margin, margin
    text_h = max(0, text_bottom - text_top)
    title_h = round(text_h * (0.45 if portrait else 0.35))
    title = (inner_x, text_top, inner_w, title_h)
    values = (inner_x, text_top + title_h + margin // 2, inner_w,
              max(0, text_h - title_h - margin // 2))
    status = (margin, band[3] - margin // 2 - status_h if portrait else height - margin - status_h,
              band[2] - 2 * margin, status_h)
    stage_bottom = (camera[1] if camera_h else height) - margin
    stage = (stage_left, stage_top, width - margin - stage_left, max(0, stage_bottom - stage_top))
    return Layout(size=size, portrait=portrait, margin=margin, band=band, logo=logo_box,
                  title=title, values=values, status=status, stage=stage, camera=camera)


def ease(amount: float) -> float:
    """Smoothstep of `amount` clipped to 0..1: starts and ends at rest, no sudden motion."""
    amount = max(0.0, min(1.0, amount))
    return amount * amount * (3 - 2 * amount)


def presence(age: float, lifetime: float, fade_in: float, fade_out: float) -> float:
    """How much room (0 to 1) a greeting of `age` seconds takes: easing in over `fade_in`,
    out over the last `fade_out` of its `lifetime`."""
    if age < 0 or age >= lifetime:
        return 0.0
    arriving = age / fade_in if fade_in > 0 else 1.0
    leaving = (lifetime - age) / fade_out if fade_out > 0 else 1.0
    return ease(min(arriving, leaving))


def rows(stage: Box, weights: Sequence[float], gap: int) -> List[Box]:
    """The stage split top to bottom into one row per weight, heights proportional to the
    weights, `gap` pixels between rows (scaled by the smaller weight, so a row easing in
    opens its gap with it). Continuous in the weights: no row ever jumps."""
    left, top, width, height = stage
    total = sum(weights)
    if total <= 0:
        return [(left, top, width, 0) for _ in weights]
    gaps = [gap * min(a, b) for a, b in zip(weights, weights[1:])]
    free = max(0.0, height - sum(gaps))
    boxes, y = [], float(top)
    for index, weight in enumerate(weights):
        row_h = free * weight / total
        boxes.append((left, round(y), width, round(y + row_h) - round(y)))
        y += row_h + (gaps[index] if index < len(gaps) else 0)
    return boxes


def overlap(first: Box, second: Box) -> bool:
    """Whether two boxes share a pixel (empty boxes share none)."""
    ax, ay, aw, ah = first
    bx, by, bw, bh = second
    if min(aw, ah, bw, bh) <= 0:
        return False
    return ax < bx + bw and bx < ax + aw and ay < by + bh and by < ay + ah


def drift(t: float, stage: Box, radius: int) -> Tuple[int, int]:
    """Where the idle screen's glow is at time `t`: a slow figure-of-eight (a 23 s by 17 s
    Lissajous path) kept inside the stage, so the screen looks alive without distracting."""
    left, top, width, height = stage
    reach_x, reach_y = max(0, width / 2 - radius), max(0, height / 2 - radius)
    x = left + width / 2 + reach_x * 0.6 * math.sin(2 * math.pi * t / 23.0)
    y = top + height / 2 + reach_y * 0.5 * math.sin(2 * math.pi * t / 17.0)
    return round(x), round(y)


def breathing(t: float) -> float:
    """0 to 1 and back every 4 s, eased: the pulse of the idle screen."""
    return 0.5 - 0.5 * math.cos(2 * math.pi * t / 4.0)
