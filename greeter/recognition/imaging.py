"""Loading photos as RGB arrays, whatever the phone or camera wrote.

Phone photos are often stored sideways with an EXIF orientation tag; iPhones write HEIC;
scanners write CMYK or 16-bit files; PNGs come with alpha or a palette. `load_rgb` turns all of
them into an upright ``(H, W, 3) uint8`` array and refuses, with a specific message, anything
that is not a complete image. `load_rgba` does the same keeping transparency, for the screen's
logo and background image (`greeter.screen.images`).

Memory is bounded before any pixel is decoded: JPEGs are decoded reduced (DCT scaling, 1/2 to
1/8) so a 12000x9000 photo costs a fraction of a second and tens of megabytes; other formats
can only be decoded whole, so they are refused beyond `MAX_DECODED_PIXELS`. What is decoded is
reduced by an integer factor first and converted afterwards, so conversions copy small images.
"""

import functools
import hashlib
import io
import os
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Optional, Tuple, Union

import numpy as np
from PIL import Image, UnidentifiedImageError

from greeter.errors import ImageError

PathLike = Union[str, "os.PathLike[str]"]

#: HEIF containers: iPhones' .heic, other cameras' .heif, and AVIF.
HEIF_SUFFIXES = frozenset({".heic", ".heif", ".avif"})

#: File name endings treated as photos when a folder is scanned.
PHOTO_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"} | HEIF_SUFFIXES)

#: Larger images are refused outright: 250 megapixels is beyond any phone or DSLR.
MAX_PIXELS = 250_000_000

#: Most pixels decoded at once, whatever the format. A JPEG counts at the reduced size it is
#: decoded at; PNG, TIFF, WebP, HEIC and AVIF are decoded whole. 50 megapixels admits the
#: largest photos phones take (48 MP HEIC on iPhones) and keeps an enrolment worker well inside
#: the 4 GB Jetson Nano. Measured peak RSS of a worker (dlib models included) enrolling a 48 MP
#: PNG: 320 MB (520 MB before images were reduced ahead of conversions); a 48 MP HEIC: 430 MB;
#: a 15,800x15,800 PNG: 2.15 GB per worker before this cap, 91 MB now (refused by its header).
#: A face needs far less: photos are analysed at 2048 px at most.
MAX_DECODED_PIXELS = 50_000_000

#: EXIF orientation -> the transposition that shows the photo upright (as viewers do).
_UPRIGHT = {
    2: Image.FLIP_LEFT_RIGHT,
    3: Image.ROTATE_180,
    4: Image.FLIP_TOP_BOTTOM,
    5: Image.TRANSPOSE,
    6: Image.ROTATE_270,
    7: Image.TRANSVERSE,
    8: Image.ROTATE_90,
}
_EXIF_ORIENTATION = 0x0112

#: Formats whose decoder can decode reduced (`Image.draft`).
_REDUCIBLE_FORMATS = frozenset({"JPEG", "MPO"})

#: Modes whose pixels may be averaged channel by channel (not palette indices or 1-bit).
_AVERAGEABLE_MODES = frozenset({"L", "LA", "RGB", "RGBA", "RGBX", "CMYK", "YCbCr", "I", "F"})

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
    readable image, or that would need more than `MAX_DECODED_PIXELS` to decode.
    """
    check_readable(path)
    return _decode(path, path, max_side, _to_rgb)


def load_rgb_bytes(data: bytes, name: str, max_side: int = 0) -> np.ndarray:
    """`load_rgb` for a photo held in memory (an upload to the console), never written to
    disk; `name` stands for the file in the messages."""
    if not data:
        raise ImageError(f"{name}: empty file (0 bytes)")
    return _decode(io.BytesIO(data), name, max_side, _to_rgb)


def load_rgba(path: PathLike, max_side: int = 0) -> np.ndarray:
    """`load_rgb` keeping transparency: an ``(H, W, 4)`` array whose transparent areas stay
    transparent (a logo's corners show what is behind it). Images without alpha are opaque."""
    check_readable(path)
    return _decode(path, path, max_side, _to_rgba)


def image_size(path: PathLike) -> Tuple[int, int]:
    """Width and height of the image in `path`, from its header alone (nothing is decoded);
    `ImageError`, with `load_rgb`'s messages, for a file that is not a readable image."""
    check_readable(path)
    with _opened(path, path) as image:
        return image.size


@functools.lru_cache(maxsize=None)
def _open_heif_too() -> None:
    """Teach Pillow HEIC (and AVIF) before the first photo is decoded, not at import:
    pillow-heif costs ~6 MB of memory, and the live loop, which imports this module but decodes
    no photos, runs on a 4 GB Nano."""
    try:
        import pillow_heif
    except ImportError:  # a declared dependency; without it HEIC photos are refused with the fix
        return
    pillow_heif.register_heif_opener()
    if hasattr(pillow_heif, "register_avif_opener"):  # pillow-heif < 1.0; later Pillow reads AVIF
        pillow_heif.register_avif_opener()


def _decode(source, path, max_side: int,
            convert: Callable[[Image.Image], Image.Image]) -> np.ndarray:
    """Decode `source` (a path or a file object) and `convert` it (`_to_rgb`, `_to_rgba`);
    `path` names it in the messages."""
    with _opened(source, path) as image:
        _check_size(path, image, max_side)
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
        orientation = _orientation(path, image)
        converted = _reduced(convert(_reduced(image, max_side)), max_side)
        if orientation in _UPRIGHT:
            converted = converted.transpose(_UPRIGHT[orientation])
        if max_side and max(converted.size) > max_side:
            converted.thumbnail((max_side, max_side), Image.BILINEAR)
        return np.asarray(converted, dtype=np.uint8)


@contextmanager
def _opened(source, path) -> Iterator[Image.Image]:
    """`source` opened by Pillow (which reads only the header until pixels are asked for);
    whatever goes wrong while it is open becomes an `ImageError` naming `path` and why."""
    _open_heif_too()
    try:
        with Image.open(source) as image:
            yield image
    except ImageError:
        raise
    except PermissionError:
        raise ImageError(f"{path}: cannot read file (permission denied)") from None
    except UnidentifiedImageError:
        raise ImageError(_unidentified(path)) from None
    except (OSError, SyntaxError, ValueError) as error:
        # Pillow reports truncated or damaged data as OSError/SyntaxError/ValueError.
        raise ImageError(f"{path}: image data is corrupt or truncated ({error})") from None


def _check_size(path: PathLike, image: Image.Image, max_side: int) -> None:
    """Refuse, from the header alone, an image whose decoding would not fit in memory; ask a
    JPEG decoder to decode reduced (to no less than ``max_side``)."""
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ImageError(
            f"{path}: image is {width}x{height}, larger than "
            f"{MAX_PIXELS // 1_000_000} megapixels"
        )
    if max_side:
        # Only JPEG decoders can (1/2, 1/4 or 1/8 from the DCT coefficients); for other
        # formats draft() does nothing. Afterwards image.size is the size to be decoded.
        image.draft("RGB", _draft_size(image.size, max_side))
    decoded_width, decoded_height = image.size
    if decoded_width * decoded_height > MAX_DECODED_PIXELS:
        whole = "" if image.format in _REDUCIBLE_FORMATS else \
            f"{image.format} images are decoded at full size, and "
        alternative = "" if image.format in _REDUCIBLE_FORMATS else " or as JPEG"
        raise ImageError(
            f"{path}: image is {width}x{height} ({width * height / 1e6:.0f} megapixels); "
            f"{whole}at most {MAX_DECODED_PIXELS // 1_000_000} megapixels fit in memory: "
            f"save it smaller (e.g. 6000x4000){alternative}"
        )


def _orientation(path: PathLike, image: Image.Image) -> Optional[int]:
    """The EXIF orientation tag (1-8), or None. Read from the file as opened: conversions do
    not keep a TIFF's own tags."""
    try:
        orientation = image.getexif().get(_EXIF_ORIENTATION)
    except Exception as error:
        # Pillow has raised TypeError, ZeroDivisionError... on malformed EXIF blocks.
        raise ImageError(
            f"{path}: could not be analysed: {type(error).__name__} in EXIF orientation "
            f"({error}); open the photo in a photo app and export it as JPEG") from None
    return orientation if isinstance(orientation, int) else None


def _unidentified(path: PathLike) -> str:
    suffix = Path(path).suffix.lower()
    if suffix in HEIF_SUFFIXES and suffix not in Image.registered_extensions():
        return (f"{path}: reading {suffix} photos needs the pillow-heif package (and for .avif "
                f"Pillow 11.2 or newer): run `pip install -U pillow-heif Pillow`, or export the "
                f"photo as JPEG")
    return f"{path}: not an image, or a format that cannot be read"


def _reduced(image: Image.Image, max_side: int) -> Image.Image:
    """The image reduced by the largest integer factor that keeps its longer side at least
    ``max_side`` (box averaging), so that conversions copy the small image, not the full one.
    Palette and 1-bit images cannot be averaged and come back as they are."""
    factor = max(image.size) // max_side if max_side else 1
    if factor < 2:
        return image
    if image.mode.startswith("I;16"):
        image = image.convert("I")  # 32-bit integers average; the 8-bit stretch comes later
    return image.reduce(factor) if image.mode in _AVERAGEABLE_MODES else image


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
    if _transparent(image):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(white, rgba).convert("RGB")
    return image.convert("RGB")


def _to_rgba(image: Image.Image) -> Image.Image:
    return image.convert("RGBA") if _transparent(image) else _to_rgb(image).convert("RGBA")


def _transparent(image: Image.Image) -> bool:
    """Whether the image may have transparent pixels (an alpha channel or a transparent
    palette entry)."""
    return image.mode in ("RGBA", "LA", "PA") or (
        image.mode == "P" and "transparency" in image.info)
