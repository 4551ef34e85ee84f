"""What every console route receives and how it is bound to the app: the views (`pages`,
`api`) import this module, never the app (`greeter.console.app`), which imports them.

Every route is wrapped by `page` (HTML, signed-in browsers, CSRF-checked forms) or `api` (JSON,
bearer tokens) and receives the `Console`: settings, the store, the face engine and sign-in
state. Neither wrapper lets an exception's traceback reach a response: a `GreeterError` is
shown as its message, anything else is logged and answered with a 500 page.
"""

import functools
import logging
import threading
import time
from pathlib import Path
from typing import Awaitable, Callable, List, Optional, Sequence
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from greeter.console.auth import (
    AuthError,
    Credentials,
    Session,
    Sessions,
    SignInThrottle,
    csrf_matches,
)
from greeter.console.uploads import BadForm, Form, Limits, TooLarge, TooSlow, Upload, read_form
from greeter.errors import GreeterError, StoreError
from greeter.names import NAME_MAX_LENGTH, check_name
from greeter.people.enrolment import Enroller, PhotoJob, PhotoOutcome
from greeter.people.store import (
    NameConflict,
    StoreBase,
    check_person_id,
    check_same_name,
    open_store,
)
from greeter.recognition.faces import FaceEngine
from greeter.settings import ServerAddress, Settings

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
SESSION_COOKIE = "greeter_console"
LOGIN_COOKIE = "greeter_console_login"


class Console:
    """What every route shares: settings, the store, the face engine, sign-in state."""

    def __init__(self, settings: Settings, limits: Optional[Limits] = None,
                 clock: Callable[[], float] = time.monotonic):
        self.settings = settings
        self.limits = limits or Limits()
        self.credentials = Credentials(
            settings.local_folder,
            self.store if isinstance(settings.store, ServerAddress) else None)
        try:
            for repaired in self.credentials.make_private():
                log.warning("%s", repaired)
        except AuthError as error:  # refused at each use too, with the same words
            log.error("%s", error)
        self.sessions = Sessions(clock)
        self.throttle = SignInThrottle(clock)
        self.templates = Environment(loader=FileSystemLoader(str(HERE / "templates")),
                                     autoescape=select_autoescape(["html"]))
        # the form fields' limits are the library's rule for names
        self.templates.globals["name_max_length"] = NAME_MAX_LENGTH
        self._store: Optional[StoreBase] = None
        self._store_lock = threading.Lock()
        # One enrolment at a time: dlib holds the GIL, and the robot needs the other core.
        self._enrol_lock = threading.Lock()
        self._engine: Optional[FaceEngine] = None

    def store(self) -> StoreBase:
        """The store, opened (and created) on first use and kept open."""
        with self._store_lock:
            if self._store is None:
                self._store = open_store(self.settings.store, self.settings.local_folder,
                                         create=True)
            return self._store

    def close(self) -> None:
        with self._store_lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def enrol(self, person_id: str, name: Optional[str], uploads: Sequence[Upload],
              largest: bool, largest_hint: str) -> List[PhotoOutcome]:
        """`greeter enroll --person` for photos held in memory: the same outcomes and reasons,
        but a photo rejected for several faces says how to ask this shell for the largest face
        (`largest_hint`). An id or a name the store would refuse is a `PersonTextError` before
        any photo is analysed, and so is a name other than the enrolled person's
        (`NameConflict`: enrolment never renames). dlib's models are loaded on the first
        enrolment and kept; SFace's for each enrolment only (`release_more_models`)."""
        check_person_id(person_id)
        checked_name = check_name(name, person_id) if name else None
        check_same_name(self.store().person(person_id), checked_name)
        jobs = [PhotoJob(person_id, checked_name, Path(Path(upload.filename).name or "photo"),
                         upload.data) for upload in uploads]
        with self._enrol_lock:
            if self._engine is None:
                self._engine = FaceEngine()
            enroller = Enroller(self.store(), self.settings.detection,
                                self.settings.enrolment, largest, self._engine, largest_hint)
            return enroller.run(jobs)

    def render(self, template: str, request: Request, session: Optional[Session] = None,
               status_code: int = 200, **values) -> HTMLResponse:
        flash = list(session.flash) if session else []
        if session:
            session.flash.clear()
        html = self.templates.get_template(template).render(
            request=request, session=session, csrf=session.csrf if session else "",
            flash=flash, here=request.url.path, **values)
        return HTMLResponse(html, status_code=status_code)

    def error_page(self, request: Request, status_code: int, message: str,
                   session: Optional[Session] = None) -> HTMLResponse:
        return self.render("error.html", request, session, status_code=status_code,
                           message=message)


PageHandler = Callable[[Console, Request, Session, Optional[Form]], Awaitable[Response]]
ApiHandler = Callable[[Console, Request, str], Awaitable[Response]]


def page(handler: PageHandler) -> Callable[[Console], Callable[[Request], Awaitable[Response]]]:
    """An HTML route for signed-in browsers. A POST's form is read (in memory, within the
    limits) and must carry the session's CSRF token."""

    def bind(console: Console):
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            session = console.sessions.get(request.cookies.get(SESSION_COOKIE))
            if session is None:
                target = quote(request.url.path, safe="/")
                return RedirectResponse(f"/login?next={target}", status_code=303)
            try:
                form = None
                if request.method == "POST":
                    form = await read_form(request, console.limits)
                    if not csrf_matches(session, form.get("csrf")):
                        return console.error_page(
                            request, 403, "This form is out of date or came from another "
                            "site: go back, reload the page and try again.", session)
                return await handler(console, request, session, form)
            except TooLarge as error:
                return console.error_page(request, 413, f"Too large: {error}.", session)
            except TooSlow as error:
                return console.error_page(request, 408, f"Too slow: {error}.", session)
            except BadForm as error:
                return console.error_page(request, 400, f"Bad form: {error}.", session)
            except NameConflict as error:
                return console.error_page(request, 409, f"{error} on their page "
                                          f"(/people/{error.person_id}).", session)
            except GreeterError as error:
                return console.error_page(request, 404 if _is_unknown(error) else 400,
                                          str(error), session)
            except Exception:
                log.exception("console page %s failed", request.url.path)
                return console.error_page(request, 500, "Something went wrong on the robot; "
                                          "the details are in the console's log.", session)

        return endpoint

    return bind


def api(handler: ApiHandler) -> Callable[[Console], Callable[[Request], Awaitable[Response]]]:
    """A JSON route for registration systems, authenticated by a bearer token."""

    def bind(console: Console):
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            scheme, _, token = request.headers.get("authorization", "").partition(" ")
            try:
                owner = (console.credentials.token_owner(token.strip())
                         if scheme.lower() == "bearer" and token.strip() else None)
            except AuthError as error:  # its path and details are for the robot's admin only
                log.error("API sign-in failed: %s", error)
                return JSONResponse({"error": "the console's API tokens cannot be read: an "
                                              "admin must check the robot (its log says why)"},
                                    status_code=503)
            try:
                if owner is None:
                    return JSONResponse(
                        {"error": "a valid API token is needed: Authorization: Bearer TOKEN "
                                  "(make one with `greeter console token create NAME`)"},
                        status_code=401, headers={"www-authenticate": "Bearer"})
                return await handler(console, request, owner)
            except TooLarge as error:
                return JSONResponse({"error": f"too large: {error}"}, status_code=413)
            except TooSlow as error:
                return JSONResponse({"error": f"too slow: {error}"}, status_code=408)
            except BadForm as error:
                return JSONResponse({"error": f"bad form: {error}"}, status_code=400)
            except GreeterError as error:
                return JSONResponse({"error": str(error)},
                                    status_code=404 if _is_unknown(error) else 400)
            except Exception:
                log.exception("console API %s failed", request.url.path)
                return JSONResponse({"error": "internal error; the details are in the "
                                              "console's log"}, status_code=500)

        return endpoint

    return bind


def _is_unknown(error: GreeterError) -> bool:
    return isinstance(error, StoreError) and str(error).startswith("nobody with id")


def in_thread(function: Callable, *args, **kwargs) -> Awaitable:
    """Run blocking library work (SQLite, dlib, file locks) off the event loop."""
    return run_in_threadpool(function, *args, **kwargs)
