"""The no-camera demo behind ``make demo``: enrol a public-domain face, recognise it in a
changed photo, then run the whole robot on a generated walk-by video.

The face is ``skimage/data/astronaut.png`` (NASA portrait of astronaut Eileen Collins, public
domain) and the non-face walking past is ``skimage/data/chelsea.png`` (a cat), both shipped
inside the scikit-image package, so the demo needs no network, no camera and no ``../shared``
data. The store is temporary; the video, events and screenshots are kept in ``data/demo/``.
"""

import importlib.util
import tempfile
from datetime import datetime
from pathlib import Path
from typing import Callable, List

import cv2
import numpy as np
from PIL import Image, ImageEnhance

from greeter.errors import GreeterError
from greeter.greetings.render import message_for
from greeter.greetings.schema import Greetings
from greeter.people.enrolment import Enroller, jobs_for_person
from greeter.people.store import Store
from greeter.recognition.faces import FaceEngine
from greeter.recognition.imaging import load_rgb
from greeter.recognition.recogniser import IdentifiedFace, Recogniser
from greeter.settings import Settings

DEMO_PERSON = "eileen-collins"
DEMO_NAME = "Eileen Collins"


def skimage_photo(name: str) -> Path:
    spec = importlib.util.find_spec("skimage")
    if spec is None or not spec.submodule_search_locations:
        raise GreeterError("the demo needs scikit-image (pip install scikit-image)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / name
    if not path.is_file():
        raise GreeterError(f"{path} is missing from this scikit-image installation")
    return path


def walk_by_video(face_photo: Path, other_photo: Path, target: Path, seconds: float = 4.0,
                  fps: int = 30, size=(640, 480)) -> None:
    """A corridor video: the face walks left to right while the other picture crosses the
    other way, each a cut-out pasted on a plain wall with a floor."""
    width, height = size
    wall = np.zeros((height, width, 3), np.uint8)
    wall[:] = (176, 170, 160)
    wall[int(height * 0.78):] = (96, 84, 72)
    face = np.asarray(Image.open(face_photo).convert("RGB").crop((120, 20, 320, 260))
                      .resize((150, 180), Image.BILINEAR))
    other = np.asarray(Image.open(other_photo).convert("RGB").resize((140, 100), Image.BILINEAR))
    writer = cv2.VideoWriter(str(target), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    frames = int(seconds * fps)
    for index in range(frames):
        progress = index / (frames - 1)
        frame = wall.copy()
        _paste(frame, face, int(-60 + progress * (width - 30)), 90)
        _paste(frame, other, int(width - 60 - progress * (width + 40)), 300)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()


def _paste(frame: np.ndarray, picture: np.ndarray, left: int, top: int) -> None:
    height, width = picture.shape[:2]
    x0, x1 = max(left, 0), min(left + width, frame.shape[1])
    if x1 > x0:
        frame[top:top + height, x0:x1] = picture[:, x0 - left:x1 - left]


def modified_copy(source: Path, target: Path) -> str:
    """The photo shifted, scaled down and darkened, as a camera at the door might see it."""
    image = Image.open(source).convert("RGB")
    width, height = image.size
    smaller = image.resize((int(width * 0.6), int(height * 0.6)), Image.BILINEAR)
    canvas = Image.new("RGB", (width, height), (40, 40, 48))
    canvas.paste(smaller, (width // 5, height // 8))
    ImageEnhance.Brightness(canvas).enhance(0.6).save(target, quality=90)
    return "shifted, scaled to 60 % and 40 % darker"


def run_demo(say: Callable[[str], None] = print,
             output: Path = Path("data/demo")) -> List[IdentifiedFace]:
    """Enrol the astronaut into a temporary store, identify her in a modified copy, then run
    the robot headless on a walk-by video; returns the faces found in the copy."""
    settings = Settings.load(environ={})
    photo = skimage_photo("astronaut.png")
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

        robot_walk_by(settings.model_copy(update={"store": folder / "greeter.sqlite3"}),
                      photo, output, say)
        return faces


def robot_walk_by(settings: Settings, photo: Path, output: Path,
                  say: Callable[[str], None]) -> None:
    """`greeter run --headless` on a generated walk-by video, screenshots kept in `output`."""
    from greeter.live.robot import Greeter, RunOptions

    # private like the store's folder: data/ is where `greeter enroll` puts the real store next
    output.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    output.mkdir(mode=0o700, exist_ok=True)
    for old in output.glob("greeting-*.png"):
        old.unlink()
    video = output / "walk-by.mp4"
    walk_by_video(photo, skimage_photo("chelsea.png"), video)
    say(f"the robot watches {video} (the astronaut walks by, a cat crosses the other way)")
    summary = Greeter(settings, RunOptions(source=str(video), headless=True, window=(1280, 720),
                                           events_out=output / "events.jsonl",
                                           screenshot_dir=output)).run()
    for greeting in summary.greetings:
        say(f"  {greeting.t:.2f} s: the robot says \"{greeting.message}\"")
    for screenshot in summary.screenshots:
        say(f"  screenshot: {screenshot}")
    say(f"  {summary.frames} frames in {summary.seconds:.1f} s")


def greeting_text(face: IdentifiedFace) -> str:
    """What the robot would say, from the built-in greetings (the demo's person has no entry
    in config/greetings.json)."""
    return message_for(Greetings(), face.person, datetime.now(), store_name=face.name)
