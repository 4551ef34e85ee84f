"""Shared by the console's tests: a console on a real store in a temporary folder, signed in
through its own sign-in form."""

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator, Optional

import numpy as np
from conftest import REPO

from greeter.console.app import create_app
from greeter.console.auth import Credentials
from greeter.console.uploads import Limits
from greeter.people.store import Store
from greeter.settings import Settings

PASSWORD = "correct horse battery"


class Clock:
    """A clock that moves only when told: sign-in throttling without waiting."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def console_settings(folder: Path) -> Settings:
    return Settings.load(environ={}, store=folder / "data" / "greeter.sqlite3",
                         greetings=folder / "greetings.json")


def console_process(folder: Path, listen: str, **popen) -> subprocess.Popen:
    """`greeter console --listen LISTEN` started as staff start it, in a process of its own, on
    the store and greetings file of `console_settings(folder)`."""
    settings = console_settings(folder)
    env = dict(os.environ, GREETER_STORE=str(settings.store),
               GREETER_GREETINGS=str(settings.greetings),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO),
                                                        os.environ.get("PYTHONPATH")])))
    return subprocess.Popen([sys.executable, "-m", "greeter", "console", "--listen", listen],
                            env=env, **popen)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_console(folder: Path, **popen) -> Iterator[tuple]:
    """A `console_process` on a free loopback port, with the password `PASSWORD`, once it
    answers: (its URL, the process); stopped at the end. Its output goes to console.log."""
    Credentials(console_settings(folder).store.parent).set_password(PASSWORD)
    port = free_port()
    log_path = folder / "console.log"
    with open(log_path, "wb") as log:  # the child keeps its own descriptor
        server = console_process(folder, f"127.0.0.1:{port}", stdout=log, stderr=log, **popen)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{url}/login", timeout=2)
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise AssertionError(f"the console did not start: {log_path.read_text()}") from None
            time.sleep(0.2)
    try:
        yield url, server
    finally:
        server.terminate()
        server.wait(timeout=20)


def make_client(folder: Path, limits: Optional[Limits] = None,
                clock: Optional[Clock] = None,
                password: Optional[str] = PASSWORD):
    from starlette.testclient import TestClient

    settings = console_settings(folder)
    if password:
        Credentials(settings.store.parent).set_password(password)
    app = create_app(settings, limits, clock or Clock())
    return TestClient(app, follow_redirects=False)


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login_token_of(html: str) -> str:
    return re.search(r'name="login_token" value="([^"]+)"', html).group(1)


def sign_in(client, password: str = PASSWORD):
    page = client.get("/login")
    return client.post("/login", data={"login_token": login_token_of(page.text),
                                       "password": password, "next": "/people"})


def signed_in_csrf(client) -> str:
    response = sign_in(client)
    assert response.status_code == 303, response.text
    return csrf_of(client.get("/people").text)


def api_headers(settings: Settings, name: str = "desk") -> dict:
    """The Authorization header of a new API token called `name`."""
    token = Credentials(settings.store.parent).create_token(name)
    return {"authorization": f"Bearer {token}"}


def enrol_vectors(store_path: Path, person_id: str, name: str, photos: int = 1,
                  face_size: int = 150, seed: int = 0) -> None:
    """People in the store without dlib: random unit embeddings stand for photos."""
    rng = np.random.default_rng(seed)
    with Store(store_path) as store:
        for index in range(photos):
            vector = rng.normal(size=128)
            store.add_embedding(person_id, name, vector / np.linalg.norm(vector),
                                f"{person_id}-{seed}-{index}".ljust(64, "0"),
                                f"{index}.jpg", face_size, 120.0)
