"""The no-camera demo behind ``make demo``: enrol a public-domain face, then recognise it.

The face is ``skimage/data/astronaut.png`` (NASA portrait of astronaut Eileen Collins, public
domain), shipped inside the scikit-image package, so the demo needs no network, no camera and
no ``../shared`` data. Everything happens in a temporary folder that is deleted afterwards.
"""

import importlib.util
import tempfile
from pathlib import Path
from typing import Callable, List

import numpy as np
from PIL import Image, ImageEnhance

from greeter.enrolment import Enroller, jobs_for_person
from greeter.errors import GreeterError
from greeter.faces import FaceEngine
from greeter.imaging import load_rgb
from greeter.recognition import IdentifiedFace, Recogniser
from greeter.settings import Settings
from greeter.store import Store

DEMO_PERSON = "eileen-collins"
DEMO_NAME = "Eileen Collins"


def astronaut_photo() -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise GreeterError("the demo needs scikit-image (pip install scikit-image)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "astronaut.png"
    if not path.is_file():
        raise GreeterError(f"{path} is missing from this scikit-image installation")
    return path


def modified_copy(source: Path, target: Path) -> str:
    """The photo shifted, scaled down and darkened, as a camera at the door might see it."""
    image = Image.open(source).convert("RGB")
    width, height = image.size
    smaller = image.resize((int(width * 0.7), int(height * 0.7)), Image.BILINEAR)
    canvas = Image.new("RGB", (width, height), (40, 40, 48))
    canvas.paste(smaller, (width // 5, height // 8))
    ImageEnhance.Brightness(canvas).enhance(0.6).save(target, quality=90)
    return "shifted, scaled to 70 % and 40 % darker"


def run_demo(say: Callable[[str], None] = print) -> List[IdentifiedFace]:
    """Enrol the astronaut into a temporary store and identify her in a modified copy."""
    settings = Settings.load(environ={})
    photo = astronaut_photo()
    with tempfile.TemporaryDirectory(prefix="greeter-demo-") as folder:
        folder = Path(folder)
        with Store(folder / "greeter.sqlite3") as store:
            say(f"enrolling {DEMO_NAME} from {photo}")
            outcomes = Enroller(store, settings.detection, settings.enrolment).run(
                jobs_for_person(DEMO_PERSON, DEMO_NAME, [photo]))
            for outcome in outcomes:
                say(f"  {outcome.path.name}: {outcome.status} {outcome.reason}".rstrip())
            recogniser = Recogniser.from_store(FaceEngine(), store, settings.matching)

        copy = folder / "at-the-door.jpg"
        how = modified_copy(photo, copy)
        say(f"identifying a copy of the photo ({how})")
        faces = recogniser.identify_photo(load_rgb(copy), settings.detection)
        for face in faces:
            who = f"{face.name} ({face.person})" if face.person else "a stranger"
            say(f"  found {who} at distance {face.distance:.3f}")
            say(f"  the robot says: {greeting_text(face)}")
        stranger = np.full((480, 640, 3), 127, np.uint8)
        say(f"an empty grey frame: {len(recogniser.identify_photo(stranger, settings.detection))} faces")
        return faces


def greeting_text(face: IdentifiedFace) -> str:
    return f"Welcome back, {face.name}!" if face.person else "Welcome Stranger!"
