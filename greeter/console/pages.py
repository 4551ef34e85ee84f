"""The console's HTML pages: sign-in, people, enrolment, greetings, bundles and status.

Each page is rendered on the server and works without JavaScript; every change is a POST form
carrying the session's CSRF token, answered with a redirect (or, for enrolment and imports,
with the outcome of each photo or person).
"""

import hashlib
import json
import logging
import re
import secrets
import threading
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from greeter.console.auth import SESSION_MAX_AGE, Busy
from greeter.console.routing import (
    LOGIN_COOKIE,
    SESSION_COOKIE,
    Console,
    in_thread,
    page,
)
from greeter.console.uploads import BadForm, TooLarge, TooSlow, read_form
from greeter.errors import ConfigError, GreeterError, StoreError
from greeter.greetings.edit import (
    GreetingsHome,
    current_greetings,
    remove_greeting,
    rename_greeting,
    set_first_name,
    update_greetings,
)
from greeter.greetings.read import parse_greetings, screen_texts
from greeter.greetings.render import message_for, messages_for
from greeter.greetings.schema import Greetings
from greeter.live.status import read_status, robot_readings, status_path
from greeter.names import PersonTextError, check_name, name_from_id, suggest_person_id
from greeter.people.bundle import bundle_content, bundle_from_bytes
from greeter.people.door import DoorRules, ask, pending, result_for
from greeter.people.enrolment import ENROLLED, REJECTED, SKIPPED
from greeter.people.erasure import erase_person
from greeter.people.hints import photo_verdict, quality_hint
from greeter.people.store import (
    IMPORT_ADDED,
    IMPORT_REPLACED,
    NameConflict,
    check_person_id,
    check_same_name,
)
from greeter.recognition.faces import MODEL_ID
from greeter.settings import ServerAddress

log = logging.getLogger(__name__)

# -- signing in ----------------------------------------------------------------------------


def _cookie_options(request: Request) -> dict:
    return {"httponly": True, "samesite": "strict", "path": "/",
            "secure": request.url.scheme == "https"}


def _safe_next(target: str) -> str:
    """Only a path of this console: never another site after signing in."""
    return target if target.startswith("/") and not target.startswith("//") else "/people"


async def login_page(request: Request, console: Console, problem: str = "",
                     status_code: int = 200) -> Response:
    token = secrets.token_urlsafe(32)
    response = console.render("login.html", request, None, status_code=status_code,
                               login_token=token, problem=problem,
                               next=_safe_next(request.query_params.get("next", "/people")),
                               has_password=console.credentials.has_password())
    response.set_cookie(LOGIN_COOKIE, token, max_age=900, **_cookie_options(request))
    return response


def login(console: Console):
    """The sign-in form: the one route that reads a body before anybody signs in, so it reads
    at most `Limits.for_sign_in` (16 KB within 10 s), counts the attempt against its client
    before the password is checked, and checks at most `CHECKS_AT_ONCE` passwords at a time."""
    limits = console.limits.for_sign_in()

    async def endpoint(request: Request) -> Response:
        if request.method == "GET":
            return await login_page(request, console)
        client = request.client.host if request.client else "unknown"
        try:
            form = await read_form(request, limits)
        except (TooLarge, BadForm, TooSlow) as error:
            status = 413 if isinstance(error, TooLarge) else \
                408 if isinstance(error, TooSlow) else 400
            return await login_page(request, console, f"{error}.", status)
        expected = request.cookies.get(LOGIN_COOKIE, "")
        if not expected or not secrets.compare_digest(expected, form.get("login_token")):
            return await login_page(request, console, "The sign-in form expired: try again.",
                                    403)
        wait = console.throttle.attempt(client)
        if wait > 0:
            return await login_page(request, console, f"Too many wrong passwords from this "
                                    f"device: wait {int(wait) + 1} s and try again.", 429)
        if not console.credentials.has_password():
            return await login_page(request, console, "No password is set: run `greeter "
                                    "console set-password` on the robot.", 403)
        try:
            right = await in_thread(console.credentials.check_password, form.get("password"))
        except Busy as error:
            return await login_page(request, console, f"{error}.", 429)
        except GreeterError as error:  # its path and details are for the robot's admin only
            log.error("sign-in failed: %s", error)
            return await login_page(request, console, "Signing in is broken on the robot: an "
                                    "admin must set the password again (`greeter console "
                                    "set-password`); the console's log says why.", 503)
        if not right:
            return await login_page(request, console, "Wrong password.", 401)
        console.throttle.succeeded(client)
        session = console.sessions.create()
        response = RedirectResponse(_safe_next(form.get("next", "/people")), status_code=303)
        response.set_cookie(SESSION_COOKIE, session.id, max_age=int(SESSION_MAX_AGE),
                            **_cookie_options(request))
        response.delete_cookie(LOGIN_COOKIE, path="/")
        return response

    return endpoint


@page
async def logout(console, request, session, form) -> Response:
    console.sessions.end(session.id)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@page
async def home(console, request, session, form) -> Response:
    return RedirectResponse("/people", status_code=303)


# -- people --------------------------------------------------------------------------------


#: People shown on one page of the list: a phone shows a few; search finds the others.
PEOPLE_PER_PAGE = 100


def _people_rows(console: Console, query: str, page_number: int) -> Tuple[List[dict], int]:
    """One page of the people matching `query`, and how many match: every word of it in the
    id or the name, in any order, without regard to case or accents ("lopez jennifer" finds
    Jennifer López)."""
    store = console.store()
    words = _folded(query).split()
    matching = [person for person in store.people()
                if all(word in person.id or word in _folded(person.name) for word in words)]
    shown = matching[(page_number - 1) * PEOPLE_PER_PAGE:page_number * PEOPLE_PER_PAGE]
    qualities = store.photo_qualities() if shown else {}
    enrolment = console.settings.enrolment
    return [{"id": person.id, "name": person.name, "photos": person.photos,
             "created": person.created[:10],
             "hint": quality_hint(qualities.get(person.id, []), enrolment)}
            for person in shown], len(matching)


def _folded(text: str) -> str:
    """`text` for searching: case folded, accents dropped."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


@page
async def people_list(console, request, session, form) -> Response:
    query = request.query_params.get("q", "")
    number = request.query_params.get("page", "1")
    # digits only, and few: "²" is a digit to str.isdigit but not to int
    number = max(1, int(number)) if re.fullmatch(r"[0-9]{1,6}", number) else 1
    rows, total = await in_thread(_people_rows, console, query, number)
    pages = max(1, -(-total // PEOPLE_PER_PAGE))
    return console.render("people.html", request, session, people=rows, query=query,
                          total=total, page=number, pages=pages)


def _person_or_404(console: Console, person_id: str):
    check_person_id(person_id)
    person = console.store().person(person_id)
    if person is None:
        raise StoreError(f"nobody with id '{person_id}' is enrolled")
    return person


@page
async def person_page(console, request, session, form) -> Response:
    person_id = request.path_params["person_id"]
    person = await in_thread(_person_or_404, console, person_id)
    photos = await in_thread(console.store().photos, person_id)
    rows = [{"name": p.photo_name, "face_size": p.face_size, "sharpness": f"{p.sharpness:.0f}",
             "sha256": p.photo_sha256[:12], "created": p.created[:16].replace("T", " "),
             "verdict": photo_verdict(p.face_size, p.sharpness, console.settings.enrolment)}
            for p in photos]
    greetings = await in_thread(_current_greetings_or_default, console)
    entry = greetings.people.get(person_id)
    return console.render("person.html", request, session, person=person, photos=rows,
                          hint=quality_hint([(p.face_size, p.sharpness) for p in photos],
                                            console.settings.enrolment),
                          entry=entry, greeted_as=message_for(
                              greetings, person_id, datetime.now(), store_name=person.name))


def _current_greetings_or_default(console: Console) -> Greetings:
    """The greetings file's greetings; the built-in ones while it cannot be read (the
    greetings page says why)."""
    try:
        return _current_greetings(console)
    except ConfigError:
        return Greetings()


@page
async def person_rename(console, request, session, form) -> Response:
    """The store's name; the greeting's too unless it has a name of its own (then only when
    asked), and optionally the first name the robot says."""
    person_id = request.path_params["person_id"]
    before = await in_thread(_person_or_404, console, person_id)
    name = check_name(form.get("name"), person_id)
    first_name = form.get("first_name").strip(" ")
    if first_name:
        first_name = check_name(first_name, person_id)
    await in_thread(console.store().rename, person_id, name)
    message = f"{person_id} is now called {name}"
    path = console.settings.greetings
    try:
        home = await in_thread(_home, console)
        if await in_thread(rename_greeting, path, person_id, name, before.name,
                           bool(form.get("greeting_name")), home):
            message += "; their greeting too"
        if first_name:
            await in_thread(set_first_name, path, person_id, first_name, name, home)
            message += f"; the robot calls them {first_name}"
    except ConfigError as error:
        message += f"; {person_id}'s greeting in {path} is unchanged: {error}"
    session.flash.append(message)
    return RedirectResponse(f"/people/{person_id}", status_code=303)


@page
async def person_remove(console, request, session, form) -> Response:
    """GET asks for confirmation; POST erases, like ``greeter people remove``: every embedding
    (secure delete, journal truncated) and the person's greeting."""
    person_id = request.path_params["person_id"]
    person = await in_thread(_person_or_404, console, person_id)
    if request.method == "GET":
        return console.render("remove.html", request, session, person=person)
    erased = await in_thread(erase_person, console.store(), console.settings.greetings,
                             person_id)
    message = erased.summary()
    if erased.greeting_problem:
        message += f"; {erased.greeting_problem}"
    session.flash.append(message)
    return RedirectResponse("/people", status_code=303)


# -- enrolment -----------------------------------------------------------------------------

#: The enrol form's checkbox for group photos, named in the reason of a photo it would take.
LARGEST_LABEL = "In group photos, enrol the largest face"


@page
async def enrol(console, request, session, form) -> Response:
    values = await _enrol_page(console, request.query_params.get("person", ""), "")
    if request.method == "POST":
        person_id = form.get("person_id").strip(" ")
        photos = [upload for upload in form.files if upload.field == "photos"]
        values.update(person_id=person_id, name=form.get("name").strip())
        if not _id_is_valid(values):
            return console.render("enrol.html", request, session, status_code=400, **values)
        if not photos:
            values["problem"] = "Choose at least one photo."
            return console.render("enrol.html", request, session, status_code=400, **values)
        try:
            outcomes = await in_thread(console.enrol, person_id, form.get("name").strip(),
                                       photos, bool(form.get("largest")),
                                       f"tick “{LARGEST_LABEL}” and send it again")
        except NameConflict as error:
            values["problem"] = f"{error} on their page (/people/{error.person_id})."
            return console.render("enrol.html", request, session, status_code=409, **values)
        values["outcomes"] = [{"photo": o.path.name, "status": o.status, "reason": o.reason,
                               "warning": o.warning} for o in outcomes]
        values["counts"] = {status: sum(1 for o in outcomes if o.status == status)
                            for status in (ENROLLED, SKIPPED, REJECTED)}
        # the form starts empty for the next guest: a kept id under a changed name put one
        # guest's photo under another's id
        values.update(result_id=person_id, person_id="", name="")
    return console.render("enrol.html", request, session, **values)


async def _enrol_page(console: Console, person_id: str, name: str) -> dict:
    """The Enrol page's values before any outcome: its forms filled with `person_id` and
    `name`, the people enrolled for the id field's suggestions."""
    return {"people": await in_thread(console.store().people), "person_id": person_id,
            "name": name, "outcomes": None, "largest_label": LARGEST_LABEL,
            "robots": await in_thread(_door_robots, console)}


def _door_robots(console: Console) -> List[str]:
    """The robots a door request may go to, running ones first: with a shared store, every
    robot that published a status on the server; else none to choose (the one beside)."""
    if not isinstance(console.settings.store, ServerAddress):
        return []
    try:
        readings = robot_readings(console.settings, console.store)
    except GreeterError:
        return []
    return [robot.name for robot in sorted(readings, key=lambda robot: not (
        robot.reading and robot.reading.running))]


def _id_is_valid(values: dict) -> bool:
    """Whether the form's id is one; if not, the form is shown again with the problem and
    the id suggested from what was typed (an id typed as a name, "Jackie Chan", becomes
    jackie-chan, and the name is kept as the display name)."""
    typed = values["person_id"]
    try:
        check_person_id(typed)
        return True
    except PersonTextError as error:
        suggestion = suggest_person_id(typed)
        values["problem"] = f"{error}." + (" The suggested id is filled in: check it and send "
                                            "again." if suggestion else "")
        if suggestion:
            values.update(person_id=suggestion, name=values["name"] or typed.strip())
        return False


# -- enrolment at the door (the robot's camera; see greeter.people.door) ---------------------------


def _door_name(console: Console, person_id: str, name: str) -> str:
    """The name given (never another than the enrolled person's: `NameConflict`), else the
    enrolled person's, else one made from the id."""
    person = console.store().person(person_id)
    check_same_name(person, check_name(name, person_id) if name else None)
    if name:
        return name
    return person.name if person else name_from_id(person_id)


@page
async def door_ask(console, request, session, form) -> Response:
    values = await _enrol_page(console, form.get("person_id").strip(" "),
                               form.get("name").strip())
    if not _id_is_valid(values):
        return console.render("enrol.html", request, session, status_code=400, **values)
    person_id = values["person_id"]
    robot = _door_robot(console, form.get("robot"))
    name = await in_thread(_door_name, console, person_id, values["name"])
    await in_thread(ask, console.store().door(robot), person_id, name)
    shared = isinstance(console.settings.store, ServerAddress)  # else the robot beside
    return RedirectResponse(f"/door/{person_id}" + (f"?robot={quote(robot, safe='')}"
                                                   if shared else ""), status_code=303)


def _door_robot(console: Console, asked: Optional[str]) -> str:
    """The robot a door request is for: the one chosen, else this machine's."""
    return (asked or "").strip() or console.settings.robot_name


def _door_state(console: Console, person_id: str, robot: str) -> dict:
    channel = console.store().door(robot)
    running = any(reading.name == robot and reading.reading and reading.reading.running
                  for reading in robot_readings(console.settings, console.store))
    rules = DoorRules()
    return {"person_id": person_id, "waiting": pending(channel, person_id, rules),
            "result": result_for(channel, person_id), "robot_running": running,
            "robot": robot, "shared": isinstance(console.settings.store, ServerAddress),
            "expire_seconds": int(rules.expire_after_seconds)}


@page
async def door_page(console, request, session, form) -> Response:
    """The request's state; while the robot has not answered, the page reloads itself."""
    person_id = check_person_id(request.path_params["person_id"])
    robot = _door_robot(console, request.query_params.get("robot"))
    values = await in_thread(_door_state, console, person_id, robot)
    return console.render("door.html", request, session, **values)


# -- greetings -----------------------------------------------------------------------------


def _lines(text: str) -> List[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _current_greetings(console: Console) -> Greetings:
    """The greetings now: the file's, or with a shared store the server's (this machine's
    file brought up to date with them)."""
    return current_greetings(console.settings.greetings, _home(console))


def _home(console: Console) -> Optional[GreetingsHome]:
    """The shared store's greetings (`GreetingsHome`), None with a store file."""
    return console.store().greetings_home()


def _checked(path: Path, greetings: Greetings, edit: Callable[[dict], None]) -> Greetings:
    """`greetings` with `edit` applied to its JSON form, checked exactly as ``greeter
    greetings check`` checks the file (`ConfigError` with its lines)."""
    data = greetings.model_dump(mode="json", exclude_none=True)
    edit(data)
    return parse_greetings(json.dumps(data, ensure_ascii=False).encode("utf-8"), path)


#: A problem's key path as the form's fields call it ("people.jackie-chan.messages[0]" is
#: "Message 1"); numbers count from 1 there.
_FIELDS_IN_WORDS = [
    (r"people\.[a-z0-9_-]+\.messages\[(\d+)\]", "Message {}"),
    (r"people\.[a-z0-9_-]+\.first_name", "First name"),
    (r"people\.[a-z0-9_-]+\.name", "Name"),
    (r"people\.[a-z0-9_-]+\.language", "Language"),
    (r"stranger\[(\d+)\]", "Message for strangers {}"),
    (r"enrolled\[(\d+)\]", "Message for enrolled people {}"),
    (r"screen\.values\[(\d+)\]", "Value line {}"),
    (r"screen\.title", "Title"),
    (r"screen\.idle_message", "Idle message"),
    (r"screen\.arriving_message", "Arriving message"),
    (r"language", "Language"),
]


def _problems(error: ConfigError, path: Path) -> List[str]:
    """The problems of an edit, one per line, each naming the form's field in words."""
    prefix = f"{path}: "
    return [_in_words(line[len(prefix):] if line.startswith(prefix) else line)
            for line in str(error).splitlines()]


def _in_words(problem: str) -> str:
    for pattern, words in _FIELDS_IN_WORDS:
        found = re.match(pattern + ": ", problem)
        if found:
            number = [str(int(group) + 1) for group in found.groups()]
            return words.format(*number) + ": " + problem[found.end():]
    return problem


def _edit_greetings(console: Console, edit: Callable[[dict], None],
                    save: bool) -> Tuple[Optional[Greetings], List[str]]:
    """Check `edit` against the file; with `save`, write it with the CLI's locked, atomic
    update. Returns the greetings after the edit, or None and the problems."""
    path = Path(console.settings.greetings)
    try:
        if save:
            _, after = update_greetings(path, lambda before: _checked(path, before, edit),
                                        _home(console))
        else:
            after = _checked(path, _current_greetings(console), edit)
    except ConfigError as error:
        return None, _problems(error, path)
    return after, []


def _store_names(console: Console) -> Dict[str, str]:
    return {person.id: person.name for person in console.store().people()}


def _rendered(greetings: Greetings, person_id: Optional[str],
              store_name: Optional[str]) -> List[str]:
    now = datetime.now()
    try:
        return [message_for(greetings, person_id, now, visit, store_name)
                for visit in range(len(messages_for(greetings, person_id)))]
    except ConfigError as error:
        return [str(error)]


#: pygame's font modules share one FreeType library, which is not thread-safe, and pages run
#: on a pool of threads: one check of the screen's fonts at a time.
_FONTS_LOCK = threading.Lock()


def _screen_warnings(greetings: Optional[Greetings], person_id: Optional[str] = None
                     ) -> List[str]:
    """``greeter greetings check``'s warnings about characters the screen cannot draw (it
    leaves them out), in all of `greetings` or, with `person_id`, in what the screen shows for
    that person: their entry, else the messages for enrolled people without one. None without
    greetings (their problems come first), and none, logged, when the screen's fonts cannot be
    loaded: a warning is advice, never a reason to lose the page."""
    if greetings is None:
        return []
    texts = screen_texts(greetings)
    if person_id is not None:
        own = f"people.{person_id}." if person_id in greetings.people else "enrolled["
        texts = [(where, text) for where, text in texts if where.startswith(own)]
    try:
        with _FONTS_LOCK:
            # pygame and the fonts: 11 MB of the console's memory, only once greetings are shown
            from greeter.screen.text import undrawable_warnings

            return [_in_words(warning) for warning in undrawable_warnings(texts)]
    except Exception:
        log.exception("could not check which characters the screen draws; no warnings shown")
        return []


def _greetings_overview(console: Console) -> dict:
    path = Path(console.settings.greetings)
    names = _store_names(console)
    try:
        greetings, problems = _current_greetings(console), []
    except ConfigError as error:
        greetings, problems = None, _problems(error, path)
    people = []
    if greetings is not None:
        for person_id in sorted(set(names) | set(greetings.people)):
            entry = greetings.people.get(person_id)
            people.append({"id": person_id, "name": entry.name if entry else names[person_id],
                           "messages": entry.messages if entry else [],
                           "enrolled": person_id in names})
    return {"greetings": greetings, "file_problems": problems, "people": people, "path": path}


@page
async def greetings_page(console, request, session, form) -> Response:
    values = await in_thread(_greetings_overview, console)
    greetings = values["greetings"]
    if greetings is not None:
        values["defaults"] = {
            "language": greetings.language, "stranger": "\n".join(greetings.stranger),
            "enrolled": "\n".join(greetings.enrolled), "title": greetings.screen.title,
            "values": "\n".join(greetings.screen.values)}
        values["preview"] = _defaults_preview(greetings)
    warnings = await in_thread(_screen_warnings, greetings)
    return console.render("greetings.html", request, session, problems=[], warnings=warnings,
                          **values)


def _defaults_preview(greetings: Greetings) -> Dict[str, List[str]]:
    return {"stranger": _rendered(greetings, None, None),
            "enrolled": _rendered(greetings, "-", "Alex Example")}


@page
async def greetings_defaults(console, request, session, form) -> Response:
    submitted = {key: form.get(key) for key in ("language", "stranger", "enrolled", "title",
                                                "values")}

    def edit(data: dict) -> None:
        data["language"] = submitted["language"]
        data["stranger"] = _lines(submitted["stranger"])
        data["enrolled"] = _lines(submitted["enrolled"])
        screen = data.setdefault("screen", {})
        screen["title"] = submitted["title"].strip()
        screen["values"] = _lines(submitted["values"])

    save = form.get("action") != "preview"
    after, problems = await in_thread(_edit_greetings, console, edit, save)
    preview = _defaults_preview(after) if after else {}
    if request.headers.get("x-preview"):
        return _preview_json(problems, preview.get("stranger", []) + preview.get("enrolled", []),
                             await in_thread(_screen_warnings, after))
    if after is not None and save:  # the page it lands on shows the saved file's warnings
        session.flash.append("saved the defaults and the screen")
        return RedirectResponse("/greetings", status_code=303)
    values = await in_thread(_greetings_overview, console)
    return console.render("greetings.html", request, session,
                          status_code=200 if after else 422, problems=problems,
                          warnings=await in_thread(_screen_warnings, after),
                          defaults=submitted, preview=preview, **values)


def _person_greeting_values(console: Console, person_id: str) -> Tuple[dict, Greetings]:
    """What the person's greeting page shows of the file as it is, and the file's greetings."""
    names = _store_names(console)
    greetings = _current_greetings(console)
    entry = greetings.people.get(person_id)
    if entry is None and person_id not in names:
        raise GreeterError(f"nobody with id '{person_id}' is enrolled or has a greeting")
    return {
        "person_id": person_id, "has_entry": entry is not None,
        "enrolled": person_id in names,
        "based_on": _entry_digest(entry.model_dump(mode="json", exclude_none=True)
                                  if entry else None),
        "form": {"name": entry.name if entry else names.get(person_id, ""),
                 "first_name": (entry.first_name or "") if entry else "",
                 "messages": "\n".join(entry.messages if entry else greetings.enrolled)},
        "preview": _rendered(greetings, person_id, names.get(person_id)),
    }, greetings


def _entry_digest(entry: Optional[dict]) -> str:
    """What a person's greeting form was based on, for telling whether it changed since."""
    return hashlib.sha256(json.dumps(entry, sort_keys=True).encode("utf-8")).hexdigest()[:16]


@page
async def person_greeting(console, request, session, form) -> Response:
    person_id = check_person_id(request.path_params["person_id"])
    values, greetings = await in_thread(_person_greeting_values, console, person_id)
    if request.method == "GET":
        warnings = await in_thread(_screen_warnings, greetings, person_id)
        return console.render("greeting.html", request, session, problems=[],
                              warnings=warnings, **values)
    submitted = {key: form.get(key) for key in ("name", "first_name", "messages")}
    based_on = form.get("based_on")
    save = form.get("action") != "preview"
    overtaken = False  # by another admin's save since the page was shown

    def edit(data: dict) -> None:
        nonlocal overtaken
        now = data.get("people", {}).get(person_id)
        if save and based_on and based_on != _entry_digest(now):
            # another admin saved this greeting since the page was shown: theirs stays, and
            # this admin is told (the form keeps what they typed; saving again replaces it)
            overtaken = True
            raise ConfigError(
                f"somebody else changed {person_id}'s greeting while you were editing it, so "
                f"yours was not saved; theirs is now: "
                f"{' | '.join(now['messages']) if now else '(removed)'}. Save again to replace "
                f"it with yours")
        entry = {"name": submitted["name"].strip(), "messages": _lines(submitted["messages"])}
        if submitted["first_name"].strip():
            entry["first_name"] = submitted["first_name"].strip()
        language = data.get("people", {}).get(person_id, {}).get("language")
        if language:
            entry["language"] = language
        data.setdefault("people", {})[person_id] = entry

    after, problems = await in_thread(_edit_greetings, console, edit, save)
    preview = _rendered(after, person_id, None) if after else []
    if request.headers.get("x-preview"):
        return _preview_json(problems, preview,
                             await in_thread(_screen_warnings, after, person_id))
    if after is not None and save:  # the page it lands on shows the saved greeting's warnings
        session.flash.append(f"saved {person_id}'s greeting")
        return RedirectResponse(f"/greetings/people/{person_id}", status_code=303)
    # the heading keeps the saved name: the form shows what was typed; after another admin's
    # change it is based on theirs, so saving again replaces it on purpose
    values.update(heading_name=values["form"]["name"], form=submitted, preview=preview)
    if not overtaken:
        values["based_on"] = based_on or values["based_on"]
    return console.render("greeting.html", request, session,
                          status_code=200 if after else 409 if overtaken else 422,
                          problems=problems,
                          warnings=await in_thread(_screen_warnings, after, person_id),
                          **values)


@page
async def person_greeting_remove(console, request, session, form) -> Response:
    person_id = check_person_id(request.path_params["person_id"])
    if await in_thread(remove_greeting, console.settings.greetings, person_id,
                       _home(console)):
        session.flash.append(f"removed the greeting for {person_id}")
    else:
        session.flash.append(f"{person_id} had no greeting of their own")
    return RedirectResponse("/greetings", status_code=303)


def _preview_json(problems: Sequence[str], preview: Sequence[str],
                  warnings: Sequence[str]) -> Response:
    """For the page's script: the problems, the preview and the warnings about characters the
    screen cannot draw, as the form stands."""
    return JSONResponse({"problems": list(problems), "preview": list(preview),
                         "warnings": list(warnings)})


# -- bundles -------------------------------------------------------------------------------


@page
async def bundles(console, request, session, form) -> Response:
    people = await in_thread(console.store().people)
    return console.render("bundles.html", request, session, count=len(people), report=None)


@page
async def bundle_export(console, request, session, form) -> Response:
    _, content = await in_thread(bundle_content, console.store())
    stamp = datetime.now().strftime("%Y%m%d-%H%M")
    return Response(content, media_type="application/json", headers={
        "content-disposition": f'attachment; filename="people-{stamp}.bundle"'})


@page
async def bundle_import(console, request, session, form) -> Response:
    files = [upload for upload in form.files if upload.field == "bundle"]
    if not files:
        return console.render("bundles.html", request, session, status_code=400, report=None,
                              count=len(console.store().people()),
                              problem="Choose a bundle file.")
    upload = files[0]
    dry_run = bool(form.get("dry_run"))
    bundle = bundle_from_bytes(upload.data, upload.filename or "bundle", MODEL_ID)
    report = await in_thread(console.store().import_people, bundle.records(), bundle.model_id,
                             dry_run)
    rows = [{"id": p.id, "name": p.name, "outcome": p.outcome,
             "change": (f"{p.photos_before} -> {p.photos}" if p.outcome == IMPORT_REPLACED
                        else (str(p.photos) if p.outcome == IMPORT_ADDED else "unchanged"))}
            for p in report.people]
    counts = {outcome: report.count(outcome) for outcome in ("added", "replaced", "skipped")}
    return console.render("bundles.html", request, session, count=len(console.store().people()),
                          report=rows, counts=counts, dry_run=dry_run,
                          not_imported=report.not_imported, filename=upload.filename)


# -- status --------------------------------------------------------------------------------

#: The status page reloads itself this often: the robot writes its status every 2 s, and a
#: page left open on a phone should not look frozen (a reload costs ~5 ms here).
STATUS_REFRESH_SECONDS = 5


@page
async def status(console, request, session, form) -> Response:
    path = status_path(console.settings.local_folder)
    try:
        reading, problem = await in_thread(read_status, path), ""
    except GreeterError as error:
        reading, problem = None, str(error)
    return console.render("status.html", request, session, reading=reading, problem=problem,
                          path=path, refresh_seconds=STATUS_REFRESH_SECONDS)


@page
async def robots(console, request, session, form) -> Response:
    try:
        readings, problem = await in_thread(robot_readings, console.settings,
                                            console.store), ""
    except GreeterError as error:
        readings, problem = [], str(error)
    return console.render("robots.html", request, session, readings=readings,
                          problem=problem, refresh_seconds=STATUS_REFRESH_SECONDS)


ROUTES = [
    ("/login", login, ["GET", "POST"]),
    ("/logout", logout, ["POST"]),
    ("/", home, ["GET"]),
    ("/people", people_list, ["GET"]),
    ("/people/{person_id}", person_page, ["GET"]),
    ("/people/{person_id}/rename", person_rename, ["POST"]),
    ("/people/{person_id}/remove", person_remove, ["GET", "POST"]),
    ("/enrol", enrol, ["GET", "POST"]),
    ("/door", door_ask, ["POST"]),
    ("/door/{person_id}", door_page, ["GET"]),
    ("/greetings", greetings_page, ["GET"]),
    ("/greetings/defaults", greetings_defaults, ["POST"]),
    ("/greetings/people/{person_id}", person_greeting, ["GET", "POST"]),
    ("/greetings/people/{person_id}/remove", person_greeting_remove, ["POST"]),
    ("/bundles", bundles, ["GET"]),
    ("/bundles/export", bundle_export, ["GET"]),
    ("/bundles/import", bundle_import, ["POST"]),
    ("/status", status, ["GET"]),
    ("/robots", robots, ["GET"]),
]
