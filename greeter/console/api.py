"""The JSON API for an event's registration system, authenticated by bearer tokens
(``greeter console token create NAME``).

* ``GET /api/people``: everybody enrolled;
* ``GET /api/people/{id}``: one person: name, photo count, quality hint and each photo's
  measurements (404 when nobody is enrolled under the id);
* ``POST /api/people/{id}/photos``: enrol one photo (multipart field ``photo``, optional
  ``name`` and ``largest``): 201 with the outcome when enrolled, 200 when skipped (already
  enrolled), 422 with the reason when rejected, exactly as ``greeter enroll`` would say;
  415 for a body that is not a multipart form;
* ``DELETE /api/people/{id}``: the erasure of ``greeter people remove``, 204;
* ``GET /api/status``: the robot's published status (nothing about strangers).
* ``GET /api/robots``: every robot of the store with its status (with a shared store, each
  robot that published one on the server; with a store file, the robot beside it).
"""

import logging

from starlette.responses import JSONResponse, Response

from greeter.console.routing import Console, api, in_thread
from greeter.console.uploads import MULTIPART, media_type, read_form
from greeter.errors import StoreError
from greeter.live.status import read_status, robot_readings, status_path
from greeter.people.enrolment import ENROLLED, REJECTED
from greeter.people.erasure import erase_person
from greeter.people.hints import photo_verdict, quality_hint
from greeter.people.store import NameConflict, check_person_id

log = logging.getLogger(__name__)

#: The multipart field that carries the photo to enrol.
PHOTO_FIELD = "photo"
#: Added to the reason of a photo rejected for several faces.
LARGEST_HINT = "send largest=1 to enrol the largest face"
HOW_TO_SEND_A_PHOTO = (f"send one photo as {MULTIPART} in the field '{PHOTO_FIELD}' (optional "
                       f"fields 'name' and 'largest=1'), e.g. curl -F {PHOTO_FIELD}=@alex.jpg")


def _people(console: Console) -> list:
    store = console.store()
    qualities = store.photo_qualities()
    return [{"id": p.id, "name": p.name, "photos": p.photos, "created": p.created,
             "hint": quality_hint(qualities.get(p.id, []), console.settings.enrolment)}
            for p in store.people()]


@api
async def list_people(console, request, owner) -> Response:
    return JSONResponse(await in_thread(_people, console))


def _person(console: Console, person_id: str) -> dict:
    store = console.store()
    person = store.person(check_person_id(person_id))
    if person is None:
        raise StoreError(f"nobody with id '{person_id}' is enrolled")
    photos = store.photos(person_id)
    enrolment = console.settings.enrolment
    return {"id": person.id, "name": person.name, "photos": len(photos),
            "created": person.created,
            "hint": quality_hint([(p.face_size, p.sharpness) for p in photos], enrolment),
            "enrolled_photos": [{"photo": p.photo_name, "face_size": p.face_size,
                                 "sharpness": round(p.sharpness, 1), "created": p.created,
                                 "verdict": photo_verdict(p.face_size, p.sharpness, enrolment)}
                                for p in photos]}


@api
async def person(console, request, owner) -> Response:
    """GET shows the person; DELETE erases them (`remove_person`)."""
    if request.method == "DELETE":
        return await remove_person(console, request, owner)
    return JSONResponse(await in_thread(_person, console, request.path_params["person_id"]))


@api
async def add_photo(console, request, owner) -> Response:
    person_id = check_person_id(request.path_params["person_id"])
    sent = media_type(request)
    if sent != MULTIPART:
        described = f"Content-Type {sent}" if sent else "no Content-Type"
        return JSONResponse({"error": f"a request with {described} cannot carry the photo: "
                                      f"{HOW_TO_SEND_A_PHOTO}"}, status_code=415)
    form = await read_form(request, console.limits)
    photos = [upload for upload in form.files if upload.field == PHOTO_FIELD]
    if len(photos) != 1:
        return JSONResponse({"error": f"{len(photos)} files in the field '{PHOTO_FIELD}': "
                                      f"{HOW_TO_SEND_A_PHOTO}"}, status_code=400)
    try:
        outcome = (await in_thread(console.enrol, person_id, form.get("name").strip(), photos,
                                   form.get("largest") in ("1", "true", "yes", "on"),
                                   LARGEST_HINT))[0]
    except NameConflict as error:
        return JSONResponse({"error": f"{error} in the console (/people/{person_id}) or with "
                                      f"`greeter people rename {person_id} NAME`",
                             "enrolled_name": error.enrolled, "name": error.asked},
                            status_code=409)
    body = {"person": person_id, "photo": outcome.path.name, "outcome": outcome.status,
            "reason": outcome.reason}
    code = {ENROLLED: 201, REJECTED: 422}.get(outcome.status, 200)
    return JSONResponse(body, status_code=code)


def _erase(console: Console, person_id: str) -> None:
    erased = erase_person(console.store(), console.settings.greetings, person_id)
    if erased.greeting_problem:
        log.error("%s", erased.greeting_problem)


async def remove_person(console, request, owner) -> Response:
    person_id = check_person_id(request.path_params["person_id"])
    await in_thread(_erase, console, person_id)
    return Response(status_code=204)


@api
async def robot_status(console, request, owner) -> Response:
    reading = await in_thread(read_status, status_path(console.settings.local_folder))
    status = reading.status.model_dump(mode="json") if reading.status else None
    return JSONResponse({"running": reading.running, "age_seconds": reading.age_seconds,
                         "status": status})


@api
async def robots(console, request, owner) -> Response:
    readings = await in_thread(robot_readings, console.settings, console.store)
    return JSONResponse([{
        "name": robot.name, "problem": robot.problem or None,
        "running": robot.reading.running if robot.reading else False,
        "age_seconds": robot.reading.age_seconds if robot.reading else None,
        "status": robot.reading.status.model_dump(mode="json")
        if robot.reading and robot.reading.status else None} for robot in readings])


ROUTES = [
    ("/api/people", list_people, ["GET"]),
    ("/api/people/{person_id}/photos", add_photo, ["POST"]),
    ("/api/people/{person_id}", person, ["GET", "DELETE"]),
    ("/api/status", robot_status, ["GET"]),
    ("/api/robots", robots, ["GET"]),
]
