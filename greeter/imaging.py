"""Loading photos as RGB arrays, whatever the phone or camera wrote.

Phone photos are often stored sideways with an EXIF orientation tag; scanners write CMYK or
16-bit files; PNGs come with alpha or a palette. `load_rgb` turns all of them into an
upright ``(H, W, 3) uint8`` array and refuses, with a specific message, anything that is not a
complete image. Huge photos are shrunk while decoding (JPEG DCT scaling) so a 12000x9000
photo costs a fraction of a second and tens of megabytes, not seconds and gigabytes.
"""

import hashlib
import io
import os
import warnings
from pathlib import Path
from typing import Union

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from greeter.errors import ImageError

PathLike = Union[str, "os.PathLike[str]"]

#: File name endings treated as photos when a folder is scanned.
PHOTO_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"})

#: Larger images are refused before decoding: 250 megapixels is beyond any phone or DSLR and
#: a PNG that size would need ~750 MB to decode.
MAX_PIXELS = 250_000_000

# Pillow's own bomb check would warn at 89 MP and raise at 179 MP; ours replaces it.
Image.MAX_IMAGE_PIXELS = None


def is_photo_name(path: PathLike) -> bool:
    """True when the file name looks like a photo (by its ending; contents are not read)."""
    return Path(path).suffix.lower() in PHOTO_SUFFIXES


def file_sha256(path: PathLike) -> str:
    """Hex SHA-256 of a file's bytes (identifies a photo without storing it)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_readable(path: PathLike) -> None:
    """Raise `ImageError` with the precise reason when `path` cannot be a readable photo file."""
    path = Path(path)
    if path.is_dir():
        raise ImageError(f"{path}: is a directory, not a photo")
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ImageError(f"{path}: file not found") from None
    except OSError as error:
        raise ImageError(f"{path}: cannot read file ({error.strerror})") from None
    if size == 0:
        raise ImageError(f"{path}: empty file (0 bytes)")
    if not os.access(path, os.R_OK):
        raise ImageError(f"{path}: cannot read file (permission denied)")


def load_rgb(path: PathLike, max_side: int = 0) -> np.ndarray:
    """Load a photo as an upright RGB ``uint8`` array of shape ``(H, W, 3)``.

    EXIF orientation is applied; grayscale, 16-bit, CMYK, palette and alpha images are
    converted (transparent areas become white, as a viewer shows them). With ``max_side > 0``
    the result is shrunk so that its longer side is at most ``max_side`` pixels.

    Raises `ImageError` naming the file and the reason for anything that is not a complete,
    readable image.
    """
    check_readable(path)
    return _decode_rgb(path, path, max_side)


def load_rgb_bytes(data: bytes, name: str, max_side: int = 0) -> np.ndarray:
    """`load_rgb` for a photo held in memory (an upload to the console), never written to
    disk; `name` stands for the file in the messages."""
    if not data:
        raise ImageError(f"{name}: empty file (0 bytes)")
    return _decode_rgb(io.BytesIO(data), name, max_side)


def _decode_rgb(source, path, max_side: int) -> np.ndarray:
    """Decode `source` (a path or a file object); `path` names it in the messages."""
    try:
        with Image.open(source) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ImageError(
                    f"{path}: image is {width}x{height}, larger than "
                    f"{MAX_PIXELS // 1_000_000} megapixels"
                )
            if max_side and image.format == "JPEG":
                # Decode at 1/2, 1/4 or 1/8 scale straight from the DCT coefficients.
                image.draft("RGB", _draft_size(image.size, max_side))
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                image.load()
            upright = ImageOps.exif_transpose(image)
            rgb = _to_rgb(upright)
    except ImageError:
        raise
    except PermissionError:
        raise ImageError(f"{path}: cannot read file (permission denied)") from None
    except UnidentifiedImageError:
        raise ImageError(f"{path}: not an image, or a format that cannot be read") from None
    except (OSError, SyntaxError, ValueError) as error:
        # Pillow reports truncated or damaged data as OSError/SyntaxError/ValueError.
        raise ImageError(f"{path}: image data is corrupt or truncated ({error})") from None
    if max_side and max(rgb.size) > max_side:
        rgb.thumbnail((max_side, max_side), Image.BILINEAR)
    return np.asarray(rgb, dtype=np.uint8)


def _draft_size(size, max_side):
    """The smallest size the JPEG decoder may scale to while the longer side stays >= max_side."""
    scale = max_side / max(size)
    return (max(1, int(size[0] * scale)), max(1, int(size[1] * scale)))


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16/32-bit grayscale: stretch the used range to 8 bits instead of clipping at 255.
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
        return Image.fromarray(scaled.astype(np.uint8)).convert("RGB")
    if image.mode == "F":
        return _to_rgb(Image.fromarray(np.asarray(image).astype(np.int32)))
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")
