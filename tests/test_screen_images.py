"""The screen's logo and background image: refused from the header when too large or not an
image, loaded shrunk to the screen (images generated here)."""

import numpy as np
import pytest
from conftest import flat_png
from PIL import Image

from greeter.errors import ImageError
from greeter.screen.images import (
    MAX_SCREEN_IMAGE_PIXELS,
    check_screen_image,
    load_background,
    load_logo,
)

BLUE, GREEN, RED = (0, 0, 255), (0, 255, 0), (255, 0, 0)


def oversized_png(tmp_path):
    """8000x6251: just over 50 megapixels, 200 KB on disk."""
    assert 8000 * 6251 > MAX_SCREEN_IMAGE_PIXELS >= 8000 * 6250
    return flat_png(tmp_path / "bomb.png", 8000, 6251)


def test_a_picture_over_the_pixel_cap_is_refused_before_decoding(tmp_path):
    path = oversized_png(tmp_path)
    message = (f"{path} is 8000x6251 px, more than the 50 megapixels a logo may have: save "
               f"it smaller; a screen shows no more than its own size, e.g. 1920x1080")
    with pytest.raises(ImageError) as raised:
        check_screen_image(path, "logo")
    assert str(raised.value) == message
    with pytest.raises(ImageError, match="megapixels a logo may have"):
        load_logo(path, (800, 480))
    with pytest.raises(ImageError, match="megapixels a background image may have"):
        load_background(path, (800, 480))


def test_a_text_file_named_png_is_not_an_image(tmp_path):
    path = tmp_path / "logo.png"
    path.write_text("root:x:0:0:root:/root:/bin/bash\n")
    with pytest.raises(ImageError, match=f"^{path}: not an image"):
        check_screen_image(path, "logo")
    with pytest.raises(ImageError, match="not an image"):
        load_logo(path, (800, 480))


def test_a_large_logo_is_shrunk_to_the_screen_and_keeps_its_transparency(tmp_path):
    logo = Image.new("RGBA", (4000, 2000), RED + (255,))
    logo.paste((0, 0, 0, 0), (0, 0, 2000, 2000))  # the left half is transparent
    logo.save(tmp_path / "logo.png")
    pixels = load_logo(tmp_path / "logo.png", (800, 480))
    assert pixels.shape == (400, 800, 4)
    assert pixels[200, 100, 3] == 0
    assert tuple(pixels[200, 700]) == RED + (255,)


@pytest.mark.parametrize("size", [(800, 480), (480, 800)], ids=["landscape", "portrait"])
def test_a_background_covers_the_screen_cropped_at_the_middle_not_stretched(tmp_path, size):
    """A 3:1 picture in thirds, blue, green and red: the landscape screen shows some of each
    (cropped to 5:3), the portrait one the green third only."""
    picture = Image.new("RGB", (3000, 1000), GREEN)
    picture.paste(BLUE, (0, 0, 1000, 1000))
    picture.paste(RED, (2000, 0, 3000, 1000))
    picture.save(tmp_path / "hall.png")
    pixels = load_background(tmp_path / "hall.png", size)
    width, height = size
    assert pixels.shape == (height, width, 4)
    assert tuple(pixels[height // 2, width // 2, :3]) == GREEN
    if width > height:  # 1667 of 3000 columns: 333 blue and red ones at either side
        assert tuple(pixels[height // 2, 10, :3]) == BLUE
        assert tuple(pixels[height // 2, width - 10, :3]) == RED
    else:
        assert (pixels[..., 1] > 200).all()


def test_a_background_is_decoded_no_smaller_than_it_is_shown(tmp_path):
    """A portrait picture of one-pixel stripes on a landscape screen as wide as it is: shown
    1:1, its middle rows, as sharp as it was (shrunk to the screen's long side first, it would
    have been enlarged twice over, and grey)."""
    stripes = np.zeros((1600, 800, 3), np.uint8)
    stripes[:, ::2] = 255
    Image.fromarray(stripes).save(tmp_path / "stripes.png")
    pixels = load_background(tmp_path / "stripes.png", (800, 480))
    assert np.array_equal(pixels[..., :3], stripes[560:1040])
