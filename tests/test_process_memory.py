"""What keeps the live loop's processes small on the Nano: modules it must not import (other
commands', pkg_resources, pillow-heif), and glibc's malloc settings (greeter.heap). Imports are
checked in fresh interpreters: this test process has imported everything already."""

import subprocess
import sys

import pytest
from click.testing import CliRunner

from greeter.cli import COMMANDS, main
from greeter.heap import keep_heap_small


def fresh_python(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                          text=True).stdout.strip()


def test_the_loop_imports_neither_pkg_resources_nor_pillow_heif():
    """pygame would import pkg_resources (8.4 MB) and the photo loader pillow-heif (6 MB);
    the loop needs neither. pkg_resources stays importable for anything that wants it."""
    imported = fresh_python(
        "import sys, greeter.live.robot, greeter.screen.display, greeter.cli\n"
        "print(sorted(m for m in ('pkg_resources', 'pillow_heif') if m in sys.modules))\n"
        "import pkg_resources")
    assert imported == "[]"


def test_the_identity_worker_embeds_without_opencv():
    """OpenCV's private pages would cost the worker 17 MB
    (`greeter.recognition.faces.sharpness`)."""
    imported = fresh_python(
        "import sys\n"
        "import numpy as np\n"
        "import greeter.live.embedding_worker\n"
        "from greeter.recognition.faces import FaceEngine\n"
        "FaceEngine().faces(np.full((150, 150, 3), 90, np.uint8), [(0, 150, 150, 0)])\n"
        "print('cv2' in sys.modules)")
    assert imported == "False"


def test_the_run_command_imports_no_other_command():
    """Commands are imported when used: the robot's `greeter run` holds only its own."""
    imported = fresh_python(
        "import sys, greeter.cli\n"
        "greeter.cli.main.get_command(None, 'run')\n"
        "print(sorted(m for m in sys.modules if m.startswith('greeter.cli.')))")
    assert imported == "['greeter.cli.run']"


def test_every_command_is_found_and_listed_in_the_help():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0, result.output
    listed = [line.split()[0] for line in result.output.split("Commands:")[1].splitlines()
              if line.strip()]
    assert listed == list(COMMANDS)
    assert all(main.get_command(None, name).name == name for name in COMMANDS)


def test_heic_photos_are_still_read_once_a_photo_is_decoded(tmp_path):
    """The HEIC opener is registered by the first decode, not by the import."""
    heic = tmp_path / "guest.heic"
    written = fresh_python(
        "import sys\n"
        "import numpy as np, pillow_heif\n"
        "from PIL import Image\n"
        "pillow_heif.register_heif_opener()\n"
        f"Image.fromarray(np.full((64, 48, 3), 200, np.uint8)).save({str(heic)!r})\n"
        "print('ok')")
    assert written == "ok"
    shape = fresh_python(
        "from greeter.recognition.imaging import load_rgb\n"
        f"print(load_rgb({str(heic)!r}).shape)")
    assert shape == "(64, 48, 3)"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc only")
def test_malloc_settings_apply_on_glibc():
    assert keep_heap_small() is True
