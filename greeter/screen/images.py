"""The screen's pictures: the host's logo and the background image of the greetings file.

An admin may point ``screen.logo`` or ``screen.background_image`` at any file, and the running
robot follows an edited greetings file within two seconds, so a picture must never cost more
memory than the 4 GB Jetson Nano can spare. `check_screen_image` refuses, from the header alone,
anything that is not an image or has more than `MAX_SCREEN_IMAGE_PIXELS`: the greetings file
is checked with it (`greeter.greetings.schema`), so ``greeter greetings check``, the console and the
running robot, which keeps its last valid greetings, refuse such a file alike. The screen loads
pictures with `load_logo` and `load_background`, which check again (the picture may have been
replaced since) and decode through `greeter.recognition.imaging`: JPEGs decoded reduced, everything
shrunk to what the screen shows before it is converted, so a picture on screen costs a few
megabytes, whatever its size on disk.
"""

import math
from pathlib import Path
from typing import Tuple

import numpy as np
from PIL import Image, ImageOps

from greeter.errors import ImageError
from greeter.recognition.imaging import MAX_DECODED_PIXELS, image_size, load_rgba

#: Most pixels a logo or background image may have, whatever its format: what
#: `greeter.recognition.imaging` decodes at most at once, so PNGs, which can only be decoded whole,
#: fit. It admits an 8000x6000 picture straight from a camera or a design tool. Peak RSS of
#: ``greeter run --source short_hamilton_clip.mp4 --headless`` (x86, one core), before (pygame
#: decoded the file whole and kept a 32-bit copy) and now: without a logo 133 MB, 133 MB; an
#: 8000x6000 RGB PNG logo 443 MB, 335 MB (Pillow decodes it whole, 4 bytes a pixel, for a
#: moment, and keeps a copy of the screen's size); a 40000x40000 greyscale PNG logo (1.6 MB on
#: disk) 7.9 GB and 61 s, now 136 MB: refused from its header, the robot keeps its previous
#: greetings.
MAX_SCREEN_IMAGE_PIXELS = MAX_DECODED_PIXELS


def check_screen_image(path: Path, what: str) -> Tuple[int, int]:
    """The width and height of the picture at `path`; `ImageError` when it is not a readable
    image or is larger than `MAX_SCREEN_IMAGE_PIXELS`. `what` names it: "logo"."""
    width, height = image_size(path)
    if width * height > MAX_SCREEN_IMAGE_PIXELS:
        raise ImageError(
            f"{path} is {width}x{height} px, more than the "
            f"{MAX_SCREEN_IMAGE_PIXELS // 1_000_000} megapixels a {what} may have: save it "
            f"smaller; a screen shows no more than its own size, e.g. 1920x1080")
    return width, height


def load_logo(path: Path, screen_size: Tuple[int, int]) -> np.ndarray:
    """The logo as an ``(H, W, 4)`` RGBA array, shrunk to fit the screen (it is drawn in a
    part of it). `ImageError` as `check_screen_image`, or for a damaged file."""
    check_screen_image(path, "logo")
    return load_rgba(path, max(screen_size))


def load_background(path: Path, size: Tuple[int, int]) -> np.ndarray:
    """The background image as an RGBA array of exactly `size` (width, height), scaled to
    cover it and cropped at the middle (never stretched). `ImageError` as `load_logo`."""
    width, height = check_screen_image(path, "background image")
    # Decoded no smaller than needed to cover `size` either way up: the header's size is
    # before an EXIF turn, and the screen may be drawn turned too.
    max_side = math.ceil(max(size) * max(width, height) / min(width, height))
    picture = Image.fromarray(load_rgba(path, max_side))
    return np.asarray(ImageOps.fit(picture, size, Image.BILINEAR))
