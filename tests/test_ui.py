"""The screen, rendered off screen (and through SDL's dummy video driver for the window) and
checked pixel by pixel."""

import logging
import os
import stat
from datetime import datetime

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")

import numpy as np  # noqa: E402
import pygame  # noqa: E402
import pygame.freetype  # noqa: E402
import pytest  # noqa: E402

from greeter import ui  # noqa: E402
from greeter.greetings import render  # noqa: E402
from greeter.people import MESSAGE_MAX_LENGTH, NAME_MAX_LENGTH  # noqa: E402
from greeter.settings import UiSettings  # noqa: E402
from greeter.ui import (  # noqa: E402
    BOLD_FONT,
    REGULAR_FONT,
    DisplayError,
    Scene,
    Screen,
    ShownGreeting,
    Style,
    opacity,
)

UI = UiSettings()
STYLE = Style(
    greeting_seconds=UI.greeting_seconds,
    fade_in_seconds=UI.fade_in_seconds,
    fade_out_seconds=UI.fade_out_seconds,
    max_greetings=UI.max_greetings,
    greeting_text_height=UI.greeting_text_height,
    text_height=UI.text_height,
    camera_inset_width=UI.camera_inset_width,
)
BACKGROUND = (20, 30, 60)
TEXT = (250, 250, 250)
ACCENT = (255, 180, 0)
CAMERA_GREEN = (0, 200, 0)
SIZES = [(800, 480), (1920, 1080)]


def scene(**changes):
    values = dict(title="Open Day", background=BACKGROUND, text_colour=TEXT, accent=ACCENT,
                  lines=["Coffee in hall B", "Demo at 15:00"])
    values.update(changes)
    return Scene(**values)


def pixels(screen):
    """The screen as an ``(H, W, 3)`` array."""
    return pygame.surfarray.array3d(screen.surface).swapaxes(0, 1)


def text_mask(image, colour=TEXT, tolerance=60):
    return np.abs(image.astype(int) - colour).sum(axis=2) < tolerance


def camera_frame(colour=CAMERA_GREEN, size=(360, 640)):
    frame = np.zeros(size + (3,), np.uint8)
    frame[:] = colour
    return frame


@pytest.fixture(params=SIZES, ids=lambda size: f"{size[0]}x{size[1]}")
def screen(request):
    with Screen(STYLE, request.param, headless=True) as made:
        yield made


# --- greetings ------------------------------------------------------------------------------


def test_a_greeting_is_drawn_large_in_the_centre(screen):
    width, height = screen.size
    screen.render(scene(greetings=[ShownGreeting("Welcome back, Alex!", age=2.0)]))
    mask = text_mask(pixels(screen))
    centre = mask[int(height * 0.35):int(height * 0.65), int(width * 0.2):int(width * 0.8)]
    assert centre.mean() > 0.05  # letters in the middle of the screen
    rows = np.flatnonzero(mask[:, int(width * 0.2):int(width * 0.8)].any(axis=1))
    columns = np.flatnonzero(centre.any(axis=0)) + int(width * 0.2)
    assert (columns.min() + columns.max()) / 2 == pytest.approx(width / 2, abs=width * 0.05)
    # letters about 12 % of the screen's height: the tallest run of text rows in the centre
    centre_rows = rows[(rows > height * 0.3) & (rows < height * 0.7)]
    assert np.ptp(centre_rows) > 0.08 * height


def test_without_greetings_the_centre_is_empty_and_the_values_are_shown(screen):
    width, height = screen.size
    screen.render(scene())
    mask = text_mask(pixels(screen))
    assert mask[int(height * 0.4):int(height * 0.6), int(width * 0.2):int(width * 0.8)].sum() == 0
    assert mask[: int(height * 0.35), : int(width * 0.5)].mean() > 0.02  # title and values


def test_several_greetings_are_stacked(screen):
    width, height = screen.size
    names = ["Welcome back, Alex!", "Welcome back, Jürgen!", "Welcome Stranger!"]
    screen.render(scene(greetings=[ShownGreeting(text, age=1.0 + i) for i, text in
                                   enumerate(names)]))
    mask = text_mask(pixels(screen))[:, int(width * 0.1):int(width * 0.9)]
    text_rows = mask.any(axis=1)
    # count separate bands of text rows below the header
    below_header = text_rows[int(height * 0.2):]
    bands = np.count_nonzero(np.diff(below_header.astype(int)) == 1)
    assert bands >= 3


def test_greetings_fade_in_and_out():
    assert opacity(0.0, STYLE) == 0.0
    assert opacity(STYLE.fade_in_seconds / 2, STYLE) == pytest.approx(0.5)
    assert opacity(2.0, STYLE) == 1.0
    assert opacity(STYLE.greeting_seconds - STYLE.fade_out_seconds / 4, STYLE) == \
        pytest.approx(0.25)
    assert opacity(STYLE.greeting_seconds, STYLE) == 0.0
    assert opacity(-1.0, STYLE) == 0.0


def test_a_fading_greeting_is_drawn_fainter():
    def brightest_centre(age):
        with Screen(STYLE, (800, 480), headless=True) as screen:
            screen.render(scene(greetings=[ShownGreeting("Hello Alex", age=age)]))
            return int(pixels(screen)[170:310, 160:640].max())

    faint = brightest_centre(STYLE.fade_in_seconds * 0.3)
    full = brightest_centre(2.0)
    gone = brightest_centre(STYLE.greeting_seconds + 1)
    assert full > faint + 60
    assert gone <= max(BACKGROUND) + 5


def test_only_the_newest_greetings_are_shown_when_too_many_arrive():
    with Screen(STYLE, (800, 480), headless=True) as screen:
        many = [ShownGreeting(f"Guest {i}", age=1.0 + i * 0.1) for i in range(6)]
        screen.render(scene(greetings=many))
        crowded = pixels(screen)
        screen.render(scene(greetings=many[: STYLE.max_greetings]))
        newest_only = pixels(screen)
    assert np.array_equal(crowded, newest_only)


# --- camera --------------------------------------------------------------------------------


def test_the_camera_is_shown_in_the_lower_right_corner(screen):
    width, height = screen.size
    screen.render(scene(camera=camera_frame()))
    image = pixels(screen)
    inset_width = int(width * STYLE.camera_inset_width)
    inset_height = int(inset_width * 360 / 640)
    margin = int(0.03 * height)
    inner = image[height - margin - inset_height + 5: height - margin - 5,
                  width - margin - inset_width + 5: width - margin - 5]
    assert np.abs(inner.astype(int) - CAMERA_GREEN).max() <= 5
    assert not (np.abs(image[: height // 2].astype(int) - CAMERA_GREEN).sum(axis=2) < 10).any()


def test_a_camera_of_another_shape_keeps_its_aspect(screen):
    width, height = screen.size
    screen.render(scene(camera=camera_frame(size=(480, 480))))
    green = np.abs(pixels(screen).astype(int) - CAMERA_GREEN).sum(axis=2) < 10
    rows, columns = np.flatnonzero(green.any(axis=1)), np.flatnonzero(green.any(axis=0))
    assert np.ptp(rows) == pytest.approx(np.ptp(columns), abs=2)


def test_a_lost_camera_is_shown_in_red(screen):
    width, height = screen.size
    screen.render(scene(camera_lost=True))
    corner = pixels(screen)[height // 2:, width // 2:]
    red = np.abs(corner.astype(int) - (235, 80, 70)).sum(axis=2) < 40
    assert red.sum() > 0.001 * corner.shape[0] * corner.shape[1]


def test_the_inset_can_be_switched_off():
    style = Style(**{**STYLE.__dict__, "camera_inset_width": 0.0})
    with Screen(style, (800, 480), headless=True) as screen:
        screen.render(scene(camera=camera_frame()))
        green = np.abs(pixels(screen).astype(int) - CAMERA_GREEN).sum(axis=2) < 10
    assert not green.any()


# --- idle, background, status ----------------------------------------------------------------


def test_the_idle_screen_centres_the_title(screen):
    width, height = screen.size
    screen.render(scene(idle=True))
    mask = text_mask(pixels(screen))
    rows, columns = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    assert (rows.min() + rows.max()) / 2 == pytest.approx(height / 2, abs=height * 0.1)
    assert (columns.min() + columns.max()) / 2 == pytest.approx(width / 2, abs=width * 0.05)
    assert mask[: int(height * 0.15)].sum() == 0  # nothing in the header


def test_a_greeting_replaces_the_idle_screen(screen):
    screen.render(scene(idle=True))
    idle = pixels(screen)
    screen.render(scene(idle=True, greetings=[ShownGreeting("Welcome Stranger!", 2.0)]))
    assert not np.array_equal(idle, pixels(screen))


def test_a_background_image_covers_the_screen(tmp_path):
    path = tmp_path / "wall.png"
    wall = pygame.Surface((300, 100))
    wall.fill((200, 40, 40))
    pygame.image.save(wall, str(path))
    with Screen(STYLE, (800, 480), headless=True) as screen:
        screen.render(scene(background_image=path, lines=[]))
        image = pixels(screen)
    assert tuple(image[470, 5]) == (200, 40, 40)  # bottom-left: the image, not the colour
    assert tuple(image[240, 400]) == (200, 40, 40)


def test_an_unreadable_background_image_falls_back_to_the_colour(tmp_path, caplog):
    path = tmp_path / "broken.png"
    path.write_bytes(b"not a png")
    with Screen(STYLE, (800, 480), headless=True) as screen:
        screen.render(scene(background_image=path))
        screen.render(scene(background_image=path))
        assert tuple(pixels(screen)[470, 400]) == BACKGROUND
    assert caplog.text.count("broken.png") == 1


def test_the_status_line_is_at_the_bottom_left(screen):
    width, height = screen.size
    screen.render(scene(status="12 fps, 2 faces, memory normal", lines=[]))
    with_status = pixels(screen)
    screen.render(scene(lines=[]))
    changed = np.abs(with_status.astype(int) - pixels(screen)).sum(axis=2) > 0
    rows, columns = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    assert rows.min() > height * 0.85 and columns.max() < width * 0.6


# --- Unicode -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Jürgen", "Zoë", "Łukasz", "Ștefan", "Nguyễn", "Ærøskøbing",
                                  "Дмитрий", "Νίκος"])
def test_the_bundled_font_has_every_letter_of_these_names(name):
    pygame.freetype.init()
    for path in (REGULAR_FONT, BOLD_FONT):
        font = pygame.freetype.Font(str(path))
        assert None not in font.get_metrics(name, size=40), f"{path.name} lacks a letter of {name}"


@pytest.mark.parametrize("name, ascii_name", [("Jürgen", "Jurgen"), ("Zoë", "Zoe"),
                                              ("Łukasz", "Lukasz")])
def test_unicode_names_render_as_letters_not_boxes(name, ascii_name):
    """Each accented letter differs from the font's "missing glyph" box and from its plain
    letter, and the name is about as wide as its ASCII spelling."""
    pygame.freetype.init()
    font = pygame.freetype.Font(str(BOLD_FONT))

    def bitmap(text):
        surface, _ = font.render(text, (255, 255, 255), size=48)
        return pygame.surfarray.array_alpha(surface)

    box = bitmap("\ue000")  # a private-use character: no font has it, it renders as the box
    for letter, plain in zip(name, ascii_name):
        if letter != plain:
            assert not np.array_equal(bitmap(letter), box)
            assert not np.array_equal(bitmap(letter), bitmap(plain))
    name_width = font.get_rect(name, size=48).width
    assert name_width > 0
    assert name_width == pytest.approx(font.get_rect(ascii_name, size=48).width, rel=0.2)


def test_a_unicode_greeting_is_rendered_on_screen():
    """"Łukasz" shows one letter more than "ukasz": the Ł is drawn, not dropped."""
    with Screen(STYLE, (800, 480), headless=True) as screen:
        screen.render(scene(greetings=[ShownGreeting("Łukasz", 2.0)]))
        with_l = text_mask(pixels(screen))[150:330].sum()
        screen.render(scene(greetings=[ShownGreeting("ukasz", 2.0)]))
        without_l = text_mask(pixels(screen))[150:330].sum()
    assert with_l > without_l * 1.1


def test_emoji_do_not_crash_and_are_left_out(caplog):
    caplog.set_level(logging.INFO, logger="greeter.ui")
    with Screen(STYLE, (800, 480), headless=True) as screen:
        screen.render(scene(greetings=[ShownGreeting("Welcome back, Zoë 🎉", 2.0)],
                            title="Party 🎈 time"))
        with_emoji = pixels(screen)
        screen.render(scene(greetings=[ShownGreeting("Welcome back, Zoë", 2.0)],
                            title="Party time"))
        assert np.array_equal(with_emoji, pixels(screen))
    assert "🎉" in caplog.text


# --- screenshots, windows, events --------------------------------------------------------------


def test_a_screenshot_is_saved_as_png(tmp_path):
    with Screen(STYLE, (800, 480), headless=True) as screen:
        screen.render(scene(greetings=[ShownGreeting("Welcome back, Jürgen!", 2.0)],
                            camera=camera_frame(), status="12 fps"))
        path = screen.save_screenshot(tmp_path / "shots" / "greeting.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = pygame.image.load(str(path))
    assert saved.get_size() == (800, 480)


def test_headless_screens_have_a_default_size_and_no_events():
    with Screen(STYLE, headless=True) as screen:
        assert screen.size == (1280, 720)
        assert screen.handle_events() is False
        assert not pygame.display.get_init()


@pytest.mark.parametrize("event", [
    pygame.event.Event(pygame.KEYDOWN, key=pygame.K_ESCAPE),
    pygame.event.Event(pygame.KEYDOWN, key=pygame.K_q),
    pygame.event.Event(pygame.QUIT),
], ids=["escape", "q", "window-close"])
def test_escape_q_and_closing_the_window_ask_to_quit(event):
    with Screen(STYLE, (640, 400)) as screen:
        assert screen.size == (640, 400)
        screen.render(scene())
        assert screen.handle_events() is False
        pygame.event.post(event)
        assert screen.handle_events() is True


@pytest.mark.parametrize("key", [pygame.K_ESCAPE, pygame.K_q], ids=["escape", "q"])
def test_fullscreen_the_kiosk_ignores_the_quit_keys(key):
    """A stray key (or a curious guest at the keyboard) must not end the kiosk."""
    with Screen(STYLE) as screen:
        assert not screen.keys_quit
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=key))
        assert screen.handle_events() is False
        pygame.event.post(pygame.event.Event(pygame.QUIT))
        assert screen.handle_events() is True


def test_other_keys_do_not_quit():
    with Screen(STYLE, (640, 400)) as screen:
        pygame.event.post(pygame.event.Event(pygame.KEYDOWN, key=pygame.K_SPACE))
        assert screen.handle_events() is False


def test_no_display_is_a_user_error_that_suggests_headless(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "no-such-video-driver")
    with pytest.raises(DisplayError, match="--headless"):
        Screen(STYLE, (640, 400))
    assert not pygame.display.get_init()


def test_no_display_server_is_an_error_not_a_silent_off_screen_run(monkeypatch):
    """SDL falls back to drawing off screen when there is no display server: a robot would
    then greet nobody visibly and exit 0 at the end of a file."""
    monkeypatch.delenv("SDL_VIDEODRIVER")
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(DisplayError, match="no display server found.*--headless"):
        Screen(STYLE, (640, 400))
    assert not pygame.display.get_init()


def test_fullscreen_takes_the_display_resolution():
    with Screen(STYLE) as screen:
        width, height = screen.size
        assert width > 0 and height > 0
        screen.render(scene())


# --- any text, bounded cost -----------------------------------------------------------------


def test_a_100000_character_greeting_is_cut_to_a_few_lines_and_a_bounded_cache():
    """What froze the robot (91 frames in 890 s, 8.5 GB): now cut with an ellipsis, wrapped
    into at most MAX_GREETING_LINES lines, its rendered pixels within TEXT_CACHE_BYTES."""
    huge = "Welcome back dear guest " * 4200  # 100,800 characters
    with Screen(STYLE, (800, 480), headless=True) as screen:
        for age in (0.5, 1.0, 2.0):  # fading in: a new opacity, the same cached text
            screen.render(scene(title=huge, lines=[huge], status=huge,
                                greetings=[ShownGreeting(huge, age), ShownGreeting(huge[1:], age)],
                                camera=camera_frame()))
        size, lines = screen._fonts.wrap(huge, 24, 692)  # what the panel shows of it
        cached = screen.text_cache_bytes
        mask = text_mask(pixels(screen))
    assert len(lines) == ui.MAX_GREETING_LINES
    assert lines[-1].endswith("\u2026")
    assert sum(map(len, lines)) <= ui.MAX_GREETING_CHARACTERS
    assert cached <= ui.TEXT_CACHE_BYTES
    assert mask[int(480 * 0.3):int(480 * 0.7)].mean() > 0.01  # the greeting is on screen


@pytest.mark.parametrize("idle", [True, False])
def test_only_the_value_lines_that_fit_are_drawn(idle):
    with Screen(STYLE, (800, 480), headless=True) as screen:
        screen.render(scene(lines=[f"value {number}" for number in range(100_000)], idle=idle))
        many = pixels(screen)
        screen.render(scene(lines=[f"value {number}" for number in range(ui.MAX_HOST_LINES)],
                            idle=idle))
        assert np.array_equal(many, pixels(screen))


def test_the_text_cache_drops_the_oldest_texts_beyond_its_size(screen):
    for number in range(300):
        screen.render(scene(greetings=[ShownGreeting(f"Welcome back, guest number {number}!",
                                                     2.0)]))
        assert screen.text_cache_bytes <= ui.TEXT_CACHE_BYTES


@pytest.mark.parametrize("text", ["Kim\x00Lee", "line\nbreak\u2028and\u202eback", "half\ud800",
                                  "\x1b[31mred"])
def test_text_the_rule_refuses_is_still_drawn_without_crashing(text):
    """An older store or a file edited while running may hold it: drawn with spaces, never a
    pygame error (a NUL made pygame raise)."""
    with Screen(STYLE, (800, 480), headless=True) as screen:
        screen.render(scene(title=text, lines=[text], status=text,
                            greetings=[ShownGreeting(text, 2.0)]))
        assert text_mask(pixels(screen)).any()


def test_the_longest_allowed_greeting_fits_the_robot_screen_uncut():
    """The measurement behind MESSAGE_MAX_LENGTH: a message of that length with a name of
    NAME_MAX_LENGTH wraps, at the smallest greeting size, into the space between the title and
    the camera of the 800x480 screen, without an ellipsis."""
    words = ("Welcome back, {name}! It is wonderful to see you again at the Open Lab Day: the "
             "robots, the workshops and the coffee are waiting for you in hall B, and the demo "
             "of the new greeter starts at three near the main stage. Enjoy your visit and "
             "have a great time with us today, we will see you later on! ") * 2
    message = words[:MESSAGE_MAX_LENGTH]
    name = ("Maximilian Alexander Ferdinand von Hohenzollern-Sigmaringen " * 2)[:NAME_MAX_LENGTH]
    text = render(message, name, datetime(2024, 5, 17, 15, 0))
    with Screen(STYLE, (800, 480), headless=True) as screen:
        screen.render(scene(greetings=[ShownGreeting(text, 2.0)], camera=camera_frame()))
        size = screen._text_size(STYLE.text_height)
        _, lines = screen._fonts.wrap(text, size, 692)
        line_height = screen._fonts.bold.get_sized_height(size)
    assert " ".join(lines) == text
    assert len(lines) * line_height <= 241  # the height measured in greeter.people
