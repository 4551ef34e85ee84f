"""The kiosk's geometry (greeter.screen.layout): plain numbers, no pygame."""

import itertools

import pytest

from greeter.screen.layout import breathing, drift, ease, overlap, plan, presence, rows

SIZES = [(800, 480), (1280, 720), (1920, 1080), (480, 800), (1080, 1920)]
CAMERA = 0.25
ASPECT = 9 / 16


def within(box, size):
    left, top, width, height = box
    return left >= 0 and top >= 0 and left + width <= size[0] and top + height <= size[1]


@pytest.mark.parametrize("logo", [False, True])
@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_every_part_is_on_screen_and_nothing_overlaps(size, logo):
    layout = plan(size, CAMERA, ASPECT, logo=logo)
    parts = {"title": layout.title, "values": layout.values, "stage": layout.stage,
             "camera": layout.camera, "status": layout.status}
    if logo:
        parts["logo"] = layout.logo
    for name, box in parts.items():
        assert within(box, size), name
        assert box[2] > 0 and box[3] > 0, name
    for (first, a), (second, b) in itertools.combinations(parts.items(), 2):
        assert not overlap(a, b), (first, second)
    for name in ("title", "values", "status") + (("logo",) if logo else ()):
        assert not overlap(parts[name], layout.stage)
        band_left, band_top, band_width, band_height = layout.band
        left, top, width, height = parts[name]
        assert band_left <= left and left + width <= band_left + band_width, name
        assert band_top <= top and top + height <= band_top + band_height, name


@pytest.mark.parametrize("size", SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def test_the_camera_is_in_the_lower_right_corner_and_the_stage_is_the_hero(size):
    layout = plan(size, CAMERA, ASPECT)
    left, top, width, height = layout.camera
    assert size[0] - (left + width) == layout.margin
    assert size[1] - (top + height) == layout.margin
    assert width == round(CAMERA * max(size))
    stage_area = layout.stage[2] * layout.stage[3]
    assert stage_area > 0.35 * size[0] * size[1]
    assert layout.portrait == (size[1] > size[0])
    if layout.portrait:
        assert layout.band[:3] == (0, 0, size[0])  # across the top
    else:
        assert layout.band[:2] == (0, 0) and layout.band[3] == size[1]  # down the left


def test_the_robot_screen_measures():
    """The figures the module docstring and greeter.names quote."""
    layout = plan((800, 480), CAMERA, ASPECT)
    assert layout.band[2] == 240
    assert layout.stage[2:] == (532, 326)
    assert rows(layout.stage, [1, 1, 1, 1], layout.margin)[0][3] == 71


def test_a_hidden_camera_gives_the_stage_the_whole_height():
    layout = plan((800, 480), 0.0, ASPECT)
    assert layout.camera[2:] == (0, 0)
    assert layout.stage[3] == 480 - 2 * layout.margin


def test_a_square_camera_never_covers_more_than_its_share_of_the_height():
    layout = plan((1920, 1080), 0.5, 1.0)
    assert layout.camera[3] <= 0.4 * 1080
    assert layout.camera[2] == layout.camera[3]  # its shape kept
    assert layout.stage[3] > 0


def test_presence_eases_in_and_out():
    assert presence(0.0, 6, 0.4, 0.8) == 0.0
    assert presence(0.2, 6, 0.4, 0.8) == pytest.approx(0.5)
    assert presence(3.0, 6, 0.4, 0.8) == 1.0
    assert presence(6.0, 6, 0.4, 0.8) == 0.0
    assert presence(-1, 6, 0.4, 0.8) == 0.0
    assert presence(1.0, 6, 0.0, 0.0) == 1.0
    assert ease(0.0) == 0.0 and ease(1.0) == 1.0 and ease(2.0) == 1.0


@pytest.mark.parametrize("count", [1, 2, 3, 4])
def test_rows_split_the_stage_without_overlap(count):
    stage = (254, 14, 532, 326)
    boxes = rows(stage, [1.0] * count, 14)
    for first, second in zip(boxes, boxes[1:]):
        assert first[1] + first[3] <= second[1]
        assert not overlap(first, second)
    assert boxes[0][1] == stage[1]
    assert boxes[-1][1] + boxes[-1][3] == stage[1] + stage[3]
    assert len({box[3] for box in boxes}) <= 2  # equal rows, give or take a rounding pixel


def test_a_second_guest_slides_the_first_up_without_a_jump():
    """30 frames a second while the second greeting fades in: the first row's middle moves
    from the stage's middle to the upper half by at most a few pixels a frame."""
    stage = (254, 14, 532, 326)
    middles = []
    for frame in range(0, 31):
        t = frame / 30
        weights = [presence(2.0 + t, 6, 0.4, 0.8), presence(t, 6, 0.4, 0.8)]
        first = rows(stage, weights, 14)[0]
        middles.append(first[1] + first[3] / 2)
    steps = [abs(b - a) for a, b in zip(middles, middles[1:])]
    assert middles[0] == pytest.approx(stage[1] + stage[3] / 2, abs=1)
    assert middles[-1] < stage[1] + stage[3] / 2 - 60
    assert max(steps) <= 12


def test_no_weights_no_rows():
    assert rows((0, 0, 100, 100), [0.0, 0.0], 10) == [(0, 0, 100, 0), (0, 0, 100, 0)]
    assert rows((0, 0, 100, 100), [], 10) == []


def test_the_idle_glow_stays_in_the_stage_and_moves_slowly():
    stage = (254, 14, 532, 326)
    radius = 60
    positions = [drift(frame / 30, stage, radius) for frame in range(30 * 60)]
    for x, y in positions:
        assert stage[0] + radius <= x <= stage[0] + stage[2] - radius
        assert stage[1] + radius <= y <= stage[1] + stage[3] - radius
    steps = [max(abs(a[0] - b[0]), abs(a[1] - b[1])) for a, b in zip(positions, positions[1:])]
    assert max(steps) <= 3
    assert len(set(positions)) > 100
    assert breathing(0.0) == 0.0 and breathing(2.0) == pytest.approx(1.0)
