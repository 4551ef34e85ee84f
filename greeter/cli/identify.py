"""``greeter identify``: what the robot would say to each face in some photos."""

from pathlib import Path
from typing import List, Tuple

import click

from greeter.cli import open_store, settings_of
from greeter.cli.output import print_json, problem
from greeter.errors import GreeterError, StoreError
from greeter.faces import FaceEngine
from greeter.imaging import load_rgb
from greeter.recognition import IdentifiedFace, Recogniser


@click.command()
@click.argument("images", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def identify(ctx: click.Context, images: Tuple[Path, ...], as_json: bool) -> None:
    """Name every face in IMAGES, left to right, as the robot would.

    Exits with status 1 when an image could not be read (the others are still reported).
    """
    settings = settings_of(ctx)
    recogniser = _recogniser(ctx)
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
            results.append({"image": str(image), "faces": [_face_json(face) for face in faces]})
        else:
            _print_faces(image, faces)
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


def _face_json(face: IdentifiedFace) -> dict:
    return {"box": list(face.box), "person": face.person, "name": face.name,
            "distance": round(face.distance, 4) if face.distance != float("inf") else None}


def _print_faces(image: Path, faces: List[IdentifiedFace]) -> None:
    if not faces:
        click.echo(f"{image}: no face")
    for face in faces:
        who = f"{face.name} ({face.person})" if face.person else "stranger"
        click.echo(f"{image}: {who}, distance {face.distance:.3f}, box {list(face.box)}")
