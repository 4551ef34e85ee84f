"""Loading photos: every mode and format, EXIF rotation, huge and broken files (images
generated here)."""

import io
import os
import struct
import subprocess
import sys

import numpy as np
import pytest
from conftest import flat_png
from PIL import Image

from greeter.errors import ImageError
from greeter.recognition.imaging import (
    MAX_DECODED_PIXELS,
    MAX_PIXELS,
    image_size,
    is_photo_name,
    load_rgb,
    load_rgba,
)


def gradient(width=64, height=48):
    """An RGB image whose top-left pixel is dark red and bottom-right bright blue-ish."""
    x = np.linspace(0, 255, width, dtype=np.uint8)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height, dtype=np.uint8)[:, None].repeat(width, 1)
    return Image.fromarray(np.dstack([x, y, np.full_like(x, 80)]))


@pytest.mark.parametrize("mode", ["RGB", "L", "RGBA", "LA", "P", "CMYK", "I;16", "I", "1"])
def test_every_mode_becomes_rgb(tmp_path, mode):
    image = gradient().convert(mode) if mode not in ("I;16", "I") else gradient().convert("L")
    if mode == "I;16":
        image = Image.fromarray(np.asarray(image).astype("<u2") * 257)
    elif mode == "I":
        image = Image.fromarray(np.asarray(image).astype(np.int32) * 1000)
    path = tmp_path / ("photo.tif" if mode in ("CMYK", "I;16", "I") else "photo.png")
    image.save(path)
    rgb = load_rgb(path)
    assert rgb.shape == (48, 64, 3) and rgb.dtype == np.uint8
    assert rgb[..., :].max() > 200 and rgb.min() < 60  # the range survived the conversion


def test_sixteen_bit_is_stretched_not_clipped(tmp_path):
    values = np.linspace(1000, 3000, 64 * 48).reshape(48, 64).astype(np.uint16)
    Image.fromarray(values.astype("<u2")).save(tmp_path / "deep.png")
    rgb = load_rgb(tmp_path / "deep.png")
    assert rgb.min() == 0 and rgb.max() == 255


def test_transparent_areas_become_white(tmp_path):
    image = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    image.save(tmp_path / "clear.png")
    assert load_rgb(tmp_path / "clear.png")[5, 5].tolist() == [255, 255, 255]


@pytest.mark.parametrize("mode", ["RGBA", "LA", "P"])
def test_rgba_keeps_transparent_areas_transparent(tmp_path, mode):
    """A logo's transparent corners, whether an alpha channel or a palette entry."""
    image = Image.new("RGBA", (40, 20), (200, 30, 30, 255))
    image.paste((0, 0, 0, 0), (0, 0, 20, 20))
    if mode == "LA":
        image = image.convert("LA")
    elif mode == "P":
        image = image.convert("P", palette=Image.ADAPTIVE, colors=2)
        image.info["transparency"] = image.getpixel((0, 0))
    image.save(tmp_path / "logo.png", transparency=image.info.get("transparency"))
    rgba = load_rgba(tmp_path / "logo.png")
    assert rgba.shape == (20, 40, 4)
    assert rgba[10, 5, 3] == 0 and rgba[10, 30, 3] == 255


def test_rgba_of_an_opaque_image_is_opaque_and_shrunk(tmp_path):
    gradient(640, 480).save(tmp_path / "photo.jpg")
    rgba = load_rgba(tmp_path / "photo.jpg", max_side=160)
    assert rgba.shape == (120, 160, 4) and (rgba[..., 3] == 255).all()


def test_image_size_reads_the_header_only(tmp_path):
    """A 400-megapixel PNG (1.6 MB on disk) would take 1.6 GB to decode: its size costs
    nothing."""
    assert image_size(flat_png(tmp_path / "huge.png", 20_000, 20_000)) == (20_000, 20_000)
    (tmp_path / "notes.png").write_text("not an image\n")
    with pytest.raises(ImageError, match="notes.png: not an image"):
        image_size(tmp_path / "notes.png")


@pytest.mark.parametrize("orientation, expected_shape", [(1, (48, 64)), (3, (48, 64)),
                                                         (6, (64, 48)), (8, (64, 48))])
def test_exif_orientation_is_applied(tmp_path, orientation, expected_shape):
    image = gradient()
    exif = Image.Exif()
    exif[0x0112] = orientation
    path = tmp_path / "phone.jpg"
    image.save(path, exif=exif.tobytes(), quality=95)
    rgb = load_rgb(path)
    assert rgb.shape[:2] == expected_shape
    stored_top_left = np.asarray(image)[0, 0].astype(int)
    # orientation 6 = the camera was turned: the stored top-left ends up top-right
    corner = {1: rgb[0, 0], 3: rgb[-1, -1], 6: rgb[0, -1], 8: rgb[-1, 0]}[orientation]
    assert np.abs(corner.astype(int) - stored_top_left).max() < 20


def test_huge_jpeg_is_decoded_small(tmp_path):
    path = tmp_path / "huge.jpg"
    Image.new("RGB", (12000, 9000), (90, 120, 150)).save(path, quality=50)
    rgb = load_rgb(path, max_side=2048)
    assert max(rgb.shape[:2]) == 2048
    assert rgb.shape[:2] == (1536, 2048)
    assert np.abs(rgb[100, 100].astype(int) - [90, 120, 150]).max() < 4


def test_huge_png_is_shrunk(tmp_path):
    path = tmp_path / "wide.png"
    Image.new("L", (5000, 100), 128).save(path)
    assert load_rgb(path, max_side=1000).shape == (20, 1000, 3)


def test_beyond_the_pixel_cap_is_refused_before_decoding(tmp_path):
    side = int(MAX_PIXELS ** 0.5) + 100
    path = tmp_path / "bomb.png"
    # A real PNG header claiming side x side pixels; the data is never decoded.
    buffer = io.BytesIO()
    Image.new("1", (side, side)).save(buffer, "PNG")
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ImageError, match=f"{side}x{side}, larger than 250 megapixels"):
        load_rgb(path)


def test_truncated_jpeg(tmp_path):
    path = tmp_path / "cut.jpg"
    full = io.BytesIO()
    gradient(400, 300).save(full, "JPEG")
    path.write_bytes(full.getvalue()[: len(full.getvalue()) // 2])
    with pytest.raises(ImageError, match=r"cut\.jpg: image data is corrupt or truncated"):
        load_rgb(path)


@pytest.mark.parametrize("content, message", [
    (b"", r"photo\.jpg: empty file \(0 bytes\)"),
    (b"these are my notes, not a photo\n", "not an image"),
    (b"\xff\xd8\xff\xe0" + os.urandom(2000), "corrupt or truncated|not an image"),
])
def test_not_images(tmp_path, content, message):
    path = tmp_path / "photo.jpg"
    path.write_bytes(content)
    with pytest.raises(ImageError, match=message):
        load_rgb(path)


def test_directory_and_missing_file(tmp_path):
    with pytest.raises(ImageError, match="is a directory, not a photo"):
        load_rgb(tmp_path)
    with pytest.raises(ImageError, match="file not found"):
        load_rgb(tmp_path / "nope.jpg")


def test_flat_png_is_a_real_png(tmp_path):
    rgb = load_rgb(flat_png(tmp_path / "flat.png", 300, 200))
    assert rgb.shape == (200, 300, 3) and rgb.max() == 0


def test_a_png_too_large_to_decode_is_refused_before_decoding(tmp_path):
    """15,800x15,800 is under the 250 MP cap, and took 2.2 GB to decode at full size."""
    path = flat_png(tmp_path / "huge.png", 15_800, 15_800)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ImageError, match=(
            r"huge\.png: image is 15800x15800 \(250 megapixels\); PNG images are decoded at "
            r"full size, and at most 50 megapixels fit in memory: save it smaller \(e\.g\. "
            r"6000x4000\) or as JPEG")):
        load_rgb(path, max_side=2048)


@pytest.mark.parametrize("suffix", [".png", ".tif", ".webp", ".gif", ".bmp"])
def test_every_format_beyond_the_decoding_cap_is_refused(tmp_path, suffix):
    side = int(MAX_DECODED_PIXELS ** 0.5) + 10
    path = tmp_path / f"large{suffix}"
    Image.new("L", (side, side), 128).save(path)
    with pytest.raises(ImageError, match=f"{side}x{side} .* at most 50 megapixels fit"):
        load_rgb(path, max_side=2048)


def test_a_large_jpeg_is_decoded_reduced_and_refused_only_at_full_size(tmp_path):
    side = int(MAX_DECODED_PIXELS ** 0.5) + 10
    path = tmp_path / "large.jpg"
    Image.new("L", (side, side), 128).save(path)
    assert load_rgb(path, max_side=2048).shape == (2048, 2048, 3)
    with pytest.raises(ImageError, match=r"megapixels\); at most 50 megapixels fit in memory: "
                                         r"save it smaller \(e\.g\. 6000x4000\)$"):
        load_rgb(path)


def heif_claiming(format, width, height):
    """A small HEIC or AVIF whose header claims `width` x `height` pixels (its 'ispe' box):
    encoding a real 50-megapixel HEIC takes 15 s, and the claim is all that is checked."""
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (90, 120, 150)).save(buffer, format)
    data = buffer.getvalue()
    size_at = data.index(b"ispe") + 8  # after the box type and its version/flags
    return data[:size_at] + struct.pack(">II", width, height) + data[size_at + 8:]


@pytest.mark.parametrize("suffix, format", [(".heic", "HEIF"), (".avif", "AVIF")])
def test_heic_and_avif_beyond_the_decoding_cap_are_refused(tmp_path, suffix, format):
    path = tmp_path / f"large{suffix}"
    path.write_bytes(heif_claiming(format, 9000, 7000))
    with pytest.raises(ImageError, match=r"9000x7000 \(63 megapixels\); (HEIF|AVIF) images are "
                                         r"decoded at full size"):
        load_rgb(path, max_side=2048)


@pytest.mark.parametrize("suffix, format", [(".heic", "HEIF"), (".HEIC", "HEIF"),
                                            (".heif", "HEIF"), (".avif", "AVIF")])
def test_heic_and_avif_are_photos(tmp_path, suffix, format):
    path = tmp_path / f"iphone{suffix}"
    gradient().save(path, format, quality=95)
    assert is_photo_name(path)
    rgb = load_rgb(path)
    assert rgb.shape == (48, 64, 3)
    assert np.abs(rgb.astype(int) - np.asarray(gradient()).astype(int)).mean() < 8


def avif_by_old_pillow_heif() -> bool:
    """pillow-heif before 1.0 (the newest on Python 3.8) reads and writes AVIF itself, and
    writes a sideways AVIF without its rotation box while clearing the EXIF orientation: the
    photo it makes is upright as stored, so there is nothing to turn."""
    pillow_heif = pytest.importorskip("pillow_heif")
    return hasattr(pillow_heif, "register_avif_opener")


@pytest.mark.parametrize("format", ["HEIF", "AVIF"])
def test_sideways_heic_and_avif_are_turned_upright(tmp_path, format):
    if format == "AVIF" and avif_by_old_pillow_heif():
        pytest.skip("pillow-heif < 1.0 cannot write a sideways AVIF to test with")
    exif = Image.Exif()
    exif[0x0112] = 6  # stored turned left, as a phone held upright writes it
    path = tmp_path / f"phone.{format.lower()}"
    gradient().transpose(Image.ROTATE_90).save(path, format, exif=exif.tobytes(), quality=95)
    rgb = load_rgb(path)
    assert rgb.shape == (48, 64, 3)
    assert np.abs(rgb.astype(int) - np.asarray(gradient()).astype(int)).mean() < 8


def malformed_exif(orientation):
    """EXIF whose XResolution entry was turned into DateTime's tag (one byte, as a careless
    editor writes): a rational where Pillow expects text. Pillow reads such files, but its
    `exif_transpose` raised AttributeError rewriting the block, which ended whole runs."""
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x011A] = 72.0
    raw = exif.tobytes()
    entry = b"\x01\x1a\x00\x05"  # big-endian ("MM") tag 0x011A, type RATIONAL
    assert raw.count(entry) == 1
    return raw.replace(entry, b"\x01\x32\x00\x05")


def test_malformed_exif_still_turns_the_photo_upright(tmp_path):
    path = tmp_path / "odd.jpg"
    gradient().transpose(Image.ROTATE_90).save(path, exif=malformed_exif(6), quality=95)
    rgb = load_rgb(path)
    assert rgb.shape == (48, 64, 3)
    assert np.abs(rgb.astype(int) - np.asarray(gradient()).astype(int)).mean() < 8


def test_huge_photos_are_reduced_before_conversion(tmp_path):
    """A palette PNG and an RGBA one at 6000x4000: converted after reduction, same result."""
    for mode in ("P", "RGBA", "I;16"):
        image = gradient(6000, 4000)
        image = image.convert(mode) if mode != "I;16" else Image.fromarray(
            np.asarray(image.convert("L")).astype("<u2") * 257)
        path = tmp_path / f"big-{mode.replace(';', '')}.png"
        image.save(path)
        rgb = load_rgb(path, max_side=1000)
        assert rgb.shape == (667, 1000, 3), mode
        assert rgb.min() < 40 and rgb.max() > 200, mode


def test_without_pillow_heif_a_heic_photo_says_what_to_install(tmp_path):
    heic = tmp_path / "IMG_0001.HEIC"
    gradient().save(heic, "HEIF")
    # a Python where pillow-heif is not installed: its import fails
    code = ("import sys\n"
            "sys.modules['pillow_heif'] = None\n"
            "from greeter.recognition.imaging import load_rgb\n"
            "load_rgb(sys.argv[1])\n")
    completed = subprocess.run([sys.executable, "-c", code, str(heic)], capture_output=True,
                               text=True)
    assert completed.returncode == 1
    assert (f"ImageError: {heic}: reading .heic photos needs the pillow-heif package (and for "
            f".avif Pillow 11.2 or newer): run `pip install -U pillow-heif Pillow`, or export the "
            f"photo as JPEG") in completed.stderr
