"""The kiosk screen drawn off screen (SDL's dummy driver) at every size and orientation: the
title, values, greeting and camera inset occupy their areas and do not overlap."""

import os

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np  # noqa: E402
import pygame  # noqa: E402
import pytest  # noqa: E402
from screen_regions import SCENE, SIZES, camera_frame, check_regions, size_id  # noqa: E402

from greeter.screen.display import Scene, Screen, ShownGreeting, Style  # noqa: E402
from greeter.settings import UiSettings  # noqa: E402

STYLE = Style(**UiSettings().model_dump(exclude={"idle_after_seconds"}))
GUESTS = ["Welcome back, Alex!", "Guten Morgen, Jürgen!", "Bonjour Zoë, welcome back!",
          "Welcome Stranger!"]


def picture(screen: Screen) -> np.ndarray:
    return pygame.surfarray.array3d(screen.surface).swapaxes(0, 1)


@pytest.mark.parametrize("guests", [1, 4])
@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_each_part_has_its_own_area(size, guests):
    scene = Scene(**SCENE, camera=camera_frame(), greetings=[
        ShownGreeting(text, 2.0 + index) for index, text in enumerate(GUESTS[:guests])])
    with Screen(STYLE, size, headless=True) as screen:
        screen.render(scene)
        check_regions(picture(screen), screen.layout(scene))


@pytest.mark.parametrize("size", SIZES, ids=size_id)
def test_a_long_name_and_message_wrap_inside_the_stage(size):
    scene = Scene(**SCENE, camera=camera_frame(), greetings=[ShownGreeting(
        "Good afternoon, Maximilian Alexander Ferdinand von Hohenzollern-Sigmaringen! The "
        "coffee is on the left and the demo starts at three", 2.0, "Maximilian")])
    with Screen(STYLE, size, headless=True) as screen:
        screen.render(scene)
        check_regions(picture(screen), screen.layout(scene))


def test_a_screen_mounted_on_its_side_shows_the_portrait_layout_turned():
    """A landscape display with orientation "portrait": the picture is the 480x800 layout
    turned a quarter clockwise, so turning it back gives the portrait screen."""
    scene = Scene(**SCENE, camera=camera_frame(), orientation="portrait",
                  greetings=[ShownGreeting("Welcome back, Alex!", 2.0)])
    with Screen(STYLE, (800, 480), headless=True) as turned:
        turned.render(scene)
        layout = turned.layout(scene)
        upright = np.rot90(picture(turned), k=1)
    assert layout.size == (480, 800) and layout.portrait
    check_regions(upright, layout)
    with Screen(STYLE, (480, 800), headless=True) as portrait:
        portrait.render(Scene(**{**scene.__dict__, "orientation": "auto"}))
        assert np.array_equal(upright, picture(portrait))
