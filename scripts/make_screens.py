"""Make the screenshots in docs/screens/ from the real renderer (greeter.screen.display), headless.

    PYTHONPATH=. .venv/bin/python scripts/make_screens.py [OUTPUT_FOLDER]

Each picture is a scene the README shows: the idle screen, one guest, a stranger, four guests,
a long Unicode name with Arabic and emoji, and a portrait screen. The camera inset shows the
public-domain photo the demo uses (scikit-image's astronaut). PNGs are saved with a reduced
palette to stay small.
"""

import sys
from pathlib import Path

from PIL import Image

from greeter.greetings.read import load_greetings
from greeter.live.demo import skimage_photo
from greeter.recognition.imaging import load_rgb
from greeter.screen.display import Scene, Screen, ShownGreeting, Style
from greeter.settings import UiSettings

ROOT = Path(__file__).resolve().parent.parent


def style() -> Style:
    return Style(**UiSettings().model_dump(exclude={"idle_after_seconds"}))


def scene(**changes) -> Scene:
    screen = load_greetings(ROOT / "config" / "greetings.json").screen
    values = dict(
        title=screen.title, background=_rgb(screen.background_color),
        text_colour=_rgb(screen.text_color), accent=_rgb(screen.accent_color),
        lines=tuple(screen.values), idle_message=screen.idle_message,
        font_scale=screen.font_scale, camera=_camera(), t=3.0)
    values.update(changes)
    return Scene(**values)


def _rgb(colour: str):
    return tuple(int(colour[i:i + 2], 16) for i in (1, 3, 5))


def _camera():
    return load_rgb(skimage_photo("astronaut.png"), max_side=480)


SCENES = {
    "1-idle": ((800, 480), dict(idle=True, t=5.0)),
    "2-one-guest": ((800, 480), dict(greetings=[ShownGreeting(
        "Good afternoon, Alex! Coffee is on the left ☕", 2.0, "Alex")])),
    "3-stranger": ((1280, 720), dict(greetings=[ShownGreeting("Welcome Stranger!", 2.0)])),
    "4-four-guests": ((1280, 720), dict(greetings=[
        ShownGreeting("Welcome back, Alex! 🎉", 4.0, "Alex"),
        ShownGreeting("Guten Nachmittag, Jürgen!", 3.0, "Jürgen"),
        ShownGreeting("Bonjour Zoë, welcome back!", 2.5, "Zoë"),
        ShownGreeting("Welcome Stranger!", 2.0)])),
    "5-long-unicode-name": ((800, 480), dict(greetings=[ShownGreeting(
        "أهلاً بعودتك يا فاطمة الزهراء 👋 Welcome back, Maximilian Alexander "
        "Ferdinand von Hohenzollern-Sigmaringen! שלום", 2.0, "Maximilian")])),
    "6-portrait": ((480, 800), dict(greetings=[
        ShownGreeting("Welcome back, Łukasz! 🎉", 3.0, "Łukasz"),
        ShownGreeting("Hi Alex, great to see you again!", 2.0, "Alex")])),
}


def main(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (size, changes) in SCENES.items():
        with Screen(style(), size, headless=True) as screen:
            screen.render(scene(**changes))
            path = screen.save_screenshot(folder / f"{name}.png")
        Image.open(path).convert("RGB").quantize(96).save(path, optimize=True)
        print(path, path.stat().st_size // 1024, "KB")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "screens")
