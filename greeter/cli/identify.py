"""``greeter identify``: what the robot would say to each face in some photos."""

from datetime import datetime
from pathlib import Path
from typing import List, Tuple

import click

from greeter.cli import open_store, settings_of
from greeter.cli.output import print_json, problem
from greeter.errors import ConfigError, GreeterError, StoreError
from greeter.greetings.read import load_greetings
from greeter.greetings.render import message_for
from greeter.greetings.schema import Greetings
from greeter.names import escaped
from greeter.recognition.faces import FaceEngine
from greeter.recognition.imaging import load_rgb
from greeter.recognition.recogniser import IdentifiedFace, Recogniser


@click.command()
@click.argument("images", nargs=-1, required=True,
                type=click.Path(readable=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def identify(ctx: click.Context, images: Tuple[Path, ...], as_json: bool) -> None:
    """Name every face in IMAGES, left to right, and what the robot would say to it.

    A face's box is its top, right, bottom and left edge in the image's pixels. Exits with
    status 1 when an image could not be read (the others are still reported).
    """
    settings = settings_of(ctx)
    recogniser = _recogniser(ctx)
    greetings = _greetings(ctx)
    now = datetime.now()
    results: List[dict] = []
    failed = False
    for image in images:
        try:
            rgb = load_rgb(image, max_side=settings.detection.load_max_side)
        except GreeterError as error:
            problem(str(error))
            failed = True
            continue
        faces = recogniser.identify_photo(rgb, settings.detection)
        if as_json:
            results.append({"image": str(image), "faces": [
                _face_json(face, message_for(greetings, face.person, now, store_name=face.name))
                for face in faces]})
        else:
            _print_faces(image, faces, greetings, now)
    if as_json:
        print_json(results)
    if failed:
        ctx.exit(1)


def _recogniser(ctx: click.Context) -> Recogniser:
    matching = settings_of(ctx).matching
    try:
        store = open_store(ctx)
    except StoreError as error:
        problem(f"warning: {error}; every face is a stranger")
        return Recogniser.from_store(FaceEngine(), None, matching)
    with store:
        return Recogniser.from_store(FaceEngine(), store, matching)


def _greetings(ctx: click.Context) -> Greetings:
    """The configured greetings; the built-in ones, with a warning, when the file is missing or
    invalid, as the running robot would do."""
    try:
        return load_greetings(settings_of(ctx).greetings)
    except ConfigError as error:
        for line in str(error).splitlines():
            problem(f"warning: {line}")
        problem("warning: showing the built-in greetings")
        return Greetings()


def _face_json(face: IdentifiedFace, message: str) -> dict:
    return {"box": list(face.box), "person": face.person, "name": face.name,
            "distance": round(face.distance, 4) if face.distance != float("inf") else None,
            "message": message}


def _print_faces(image: Path, faces: List[IdentifiedFace], greetings: Greetings,
                 now: datetime) -> None:
    if not faces:
        click.echo(f"{escaped(str(image))}: no face")
    for face in faces:
        # escaped: a name stored before the rule for names may hold a line break
        who = f"{face.name} ({face.person})" if face.person else "stranger"
        says = message_for(greetings, face.person, now, store_name=face.name)
        click.echo(escaped(f"{image}: {who}, distance {face.distance:.3f}, box "
                           f"{list(face.box)}, says \"{says}\""))
