"""Where the kiosk screen's parts landed in a picture of it, read from the pixels: shared by
the off-screen tests (tests/test_screen_regions.py) and the real X server's
(tests/test_screen_x11.py)."""

from typing import Dict, Optional, Tuple

import numpy as np

from greeter.screen.layout import Box, Layout, overlap

BACKGROUND = (20, 30, 60)
TEXT = (250, 250, 250)
ACCENT = (255, 180, 0)
CAMERA_GREEN = (0, 200, 0)
SIZES = [(800, 480), (1280, 720), (1920, 1080), (480, 800), (1080, 1920)]

SCENE = dict(title="Open Lab Day", background=BACKGROUND, text_colour=TEXT, accent=ACCENT,
             lines=("Curiosity: we ask why", "Openness: we share what we learn",
                    "Kindness: everybody is welcome"))


def camera_frame(size=(360, 640)) -> np.ndarray:
    frame = np.zeros(size + (3,), np.uint8)
    frame[:] = CAMERA_GREEN
    return frame


def _mask(image: np.ndarray, colour, tolerance: int = 40) -> np.ndarray:
    return np.abs(image.astype(int) - colour).sum(axis=2) < tolerance


def _bounds(mask: np.ndarray, within: Box) -> Optional[Box]:
    """The bounding box of the mask's pixels inside `within`, in screen coordinates."""
    left, top, width, height = within
    part = mask[top:top + height, left:left + width]
    rows, columns = np.flatnonzero(part.any(axis=1)), np.flatnonzero(part.any(axis=0))
    if not len(rows):
        return None
    return (left + int(columns[0]), top + int(rows[0]), int(columns[-1] - columns[0] + 1),
            int(rows[-1] - rows[0] + 1))


def regions(image: np.ndarray, layout: Layout) -> Dict[str, Optional[Box]]:
    """Bounding boxes of the title (accent letters in its area), the values (text-coloured
    letters in the band), the greeting (text-coloured letters outside the band) and the
    camera (its green picture)."""
    everywhere = (0, 0, image.shape[1], image.shape[0])
    text = _mask(image, TEXT)
    text[layout.band[1]:layout.band[1] + layout.band[3],
         layout.band[0]:layout.band[0] + layout.band[2]] = False
    return {
        # the title's area, not the whole band: the band's edge is a line of the accent colour
        "title": _bounds(_mask(image, ACCENT), layout.title),
        "values": _bounds(_mask(image, TEXT), layout.band),
        "greeting": _bounds(text, everywhere),
        "camera": _bounds(_mask(image, CAMERA_GREEN, 10), everywhere),
    }


def check_regions(image: np.ndarray, layout: Layout) -> Dict[str, Box]:
    """Assert that every part is drawn, inside its area, and that no two overlap."""
    found = regions(image, layout)
    for name, box in found.items():
        assert box is not None, f"{name} is not drawn"
    for first, second in (("title", "values"), ("title", "greeting"), ("values", "greeting"),
                          ("greeting", "camera"), ("title", "camera"), ("values", "camera")):
        assert not overlap(found[first], found[second]), (first, second, found)
    assert _inside(found["greeting"], layout.stage), found["greeting"]
    assert _inside(found["camera"], layout.camera), found["camera"]
    camera = found["camera"]
    width, height = layout.size
    assert camera[0] + camera[2] > width - 2 * layout.margin  # the lower-right corner
    assert camera[1] + camera[3] > height - 2 * layout.margin
    assert found["title"][1] < found["values"][1]  # the title above the values
    return found


def _inside(box: Box, area: Box) -> bool:
    return (area[0] <= box[0] and box[0] + box[2] <= area[0] + area[2]
            and area[1] <= box[1] and box[1] + box[3] <= area[1] + area[3])


def size_id(size: Tuple[int, int]) -> str:
    return f"{size[0]}x{size[1]}"
