"""The kiosk screen in a real window of a real X server (Xvfb, started here): what the X
server shows, grabbed from its frame buffer, has the title, values, greeting and camera inset
in their areas without overlap, at every size and orientation.

Xvfb comes from Debian's ``xvfb`` (scripts/bootstrap.sh installs it as root). Without it the
test skips with that reason, except under CI (``CI=true``), where it fails.
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from screen_regions import SIZES, check_regions

from greeter.screen.layout import Layout

REPO = Path(__file__).resolve().parent.parent

if shutil.which("Xvfb") is None and os.environ.get("CI") != "true":
    pytest.skip("Xvfb is not installed: apt-get install xvfb (scripts/bootstrap.sh does as "
                "root)", allow_module_level=True)

#: Opens a window of each size on the X server, draws a guest's greeting, grabs the X
#: server's pixels of the window (PIL over XCB: what X shows, not pygame's memory) and writes
#: them with the layout. A separate process: the tests' own SDL uses the dummy driver.
WINDOWS = r"""
import json, sys, time
from pathlib import Path
import numpy as np
from PIL import ImageGrab
sys.path.insert(0, "tests")
from screen_regions import SCENE, camera_frame
from greeter.settings import UiSettings
from greeter.screen.display import Scene, Screen, ShownGreeting, Style

style = Style(**UiSettings().model_dump(exclude={"idle_after_seconds"}))
out = Path(sys.argv[1])
display = sys.argv[2]
for width, height, orientation in json.loads(sys.argv[3]):
    scene = Scene(**SCENE, camera=camera_frame(), orientation=orientation, greetings=[
        ShownGreeting("Welcome back, Alex!", 2.0, "Alex"), ShownGreeting("Hello Zoë", 3.0)])
    with Screen(style, (width, height), caption="greeter test") as screen:
        for _ in range(3):  # the window is mapped and exposed: draw until X shows it
            screen.handle_events()
            screen.render(scene)
            time.sleep(0.1)
        name = f"{width}x{height}-{orientation}"
        ImageGrab.grab(bbox=(0, 0, width, height), xdisplay=display).save(out / f"{name}.png")
        layout = screen.layout(scene)
        (out / f"{name}.json").write_text(json.dumps(layout.__dict__))
"""


@pytest.fixture(scope="module")
def x_server():
    """A fresh Xvfb on a free display number (it picks one and tells it on a pipe)."""
    read_end, write_end = os.pipe()
    server = subprocess.Popen(
        # -noreset: an X server resets when its last client leaves, and a window opened
        # while it resets finds no server ("x11 not available": each size's window closes
        # before the next opens, and under load the reset took long enough to be hit)
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1920x1920x24", "-nolisten",
         "tcp", "-noreset"], pass_fds=(write_end,), stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        number = pipe.readline().strip()
    try:
        assert number, "Xvfb did not start"
        # and go on once its socket takes a connection
        assert _accepts(Path(f"/tmp/.X11-unix/X{number}"), seconds=30), "Xvfb does not answer"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def _accepts(socket_path: Path, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with socket.socket(socket.AF_UNIX) as probe:
            try:
                probe.connect(str(socket_path))
                return True
            except OSError:
                time.sleep(0.1)
    return False


def test_real_windows_show_every_part_in_its_area(x_server, tmp_path):
    cases = [(width, height, "auto") for width, height in SIZES] + [(800, 480, "portrait")]
    # no window manager: SDL would centre the window; the top-left corner is where we grab
    env = {**os.environ, "DISPLAY": x_server, "SDL_VIDEODRIVER": "x11",
           "SDL_VIDEO_WINDOW_POS": "0,0", "PYTHONPATH": str(REPO)}
    subprocess.run([sys.executable, "-c", WINDOWS, str(tmp_path), x_server, json.dumps(cases)],
                   cwd=REPO, env=env, check=True, timeout=120)
    for width, height, orientation in cases:
        name = f"{width}x{height}-{orientation}"
        image = np.asarray(Image.open(tmp_path / f"{name}.png").convert("RGB"))
        assert image.shape[:2] == (height, width), name
        fields = json.loads((tmp_path / f"{name}.json").read_text())
        layout = Layout(**{key: tuple(value) if isinstance(value, list) else value
                           for key, value in fields.items()})
        if orientation == "portrait":  # the screen is on its side: turn the picture back
            image = np.rot90(image, k=1)
        check_regions(image, layout)
