"""The console's Starlette application: its routes (`pages`, `api`), security headers and the
answers where no route takes a request.

Errors of no route (an unknown address, a method the route does not take) are an error page,
and JSON ``{"error": ...}`` under ``/api``; anything a route lets through is a plain 500.
"""

import contextlib
import logging
import time
from typing import Callable, Optional

from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from greeter.console import api as api_routes
from greeter.console import pages
from greeter.console.routing import HERE, Console
from greeter.console.uploads import Limits
from greeter.settings import Settings

log = logging.getLogger(__name__)

#: No script, style or picture from anywhere but the console itself, and no inline script.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("x-content-type-options", "nosniff"),
    ("x-frame-options", "DENY"),
    ("referrer-policy", "no-referrer"),
    # Pages show guests' names: no browser or proxy keeps a copy.
    ("cache-control", "no-store"),
)


def _is_api(request: Request) -> bool:
    return request.url.path == "/api" or request.url.path.startswith("/api/")


class ConsoleStatic(StaticFiles):
    """The console's own scripts and styles; an address no file can have (a NUL byte, ``%00``,
    which made ``os.stat`` raise) is a 404 like any missing file, not a 500."""

    def lookup_path(self, path: str):
        try:
            return super().lookup_path(path)
        except ValueError:
            return "", None


class SecurityHeaders:
    """Adds `SECURITY_HEADERS` to every response, the static files' included."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message):
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    if name not in headers:
                        headers[name] = value
            await send(message)

        await self.app(scope, receive, send_with_headers)


def create_app(settings: Settings, limits: Optional[Limits] = None,
               clock: Callable[[], float] = time.monotonic) -> Starlette:
    """The console for `settings` (its store, greetings file and their folder's credentials)."""
    console = Console(settings, limits, clock)

    api_routes_named = ", ".join(f"{method} {path}" for path, _, methods in api_routes.ROUTES
                                 for method in methods)

    async def no_route(request: Request, error: HTTPException) -> Response:
        """Starlette's answers where no route takes a request: 404 for an unknown address, 405
        for a method the route does not take (its Allow header names the methods it takes)."""
        path, method, status = request.url.path, request.method, error.status_code
        headers = error.headers or {}
        if _is_api(request):
            message = {404: f"no API route {path}; the routes are {api_routes_named}",
                       405: f"{method} is not allowed on {path}: use {headers.get('Allow')}"}
            return JSONResponse({"error": message.get(status, error.detail)},
                                status_code=status, headers=headers)
        message = {404: "No such page.", 405: f"This address does not take {method} requests."}
        response = console.error_page(request, status, message.get(status, error.detail))
        response.headers.update(headers)
        return response

    async def server_error(request: Request, exc: Exception) -> Response:
        log.error("console request %s failed: %s", request.url.path, type(exc).__name__)
        return HTMLResponse("Something went wrong on the robot; the details are in the "
                            "console's log.", status_code=500,
                            headers=dict(SECURITY_HEADERS))

    routes = [Route(path, endpoint(console), methods=methods)
              for path, endpoint, methods in pages.ROUTES + api_routes.ROUTES]
    routes.append(Mount("/static", ConsoleStatic(directory=str(HERE / "static")), name="static"))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        yield
        console.close()

    app = Starlette(routes=routes, exception_handlers={HTTPException: no_route, 500: server_error},
                    middleware=[Middleware(SecurityHeaders)], lifespan=lifespan)
    app.state.console = console
    return app
