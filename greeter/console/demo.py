"""``make console``: the console on a fresh machine, against a demo store.

The store and greetings file live in ``data/console-demo/``; the public-domain astronaut of
``make demo`` is enrolled on the first run, a new random password is set on every run, and the
URL and password are printed once the console listens (on 127.0.0.1 only). A port already in
use is one line and exit status 1, before anything is enrolled.
"""

import secrets
import sys
from pathlib import Path

from greeter.console.auth import Credentials
from greeter.console.serving import listening_socket, serve
from greeter.errors import GreeterError

FOLDER = Path("data/console-demo")
LISTEN = ("127.0.0.1", 8080)


def main() -> int:
    host, port = LISTEN
    try:
        listening = listening_socket(host, port, "stop it (another `make console`?) and run "
                                     "`make console` again")
    except GreeterError as error:
        print(f"Error: {error}", file=sys.stderr)
        return 1
    from greeter.console.app import create_app
    from greeter.greetings.edit import update_greetings, with_greeting
    from greeter.live.demo import DEMO_NAME, DEMO_PERSON, skimage_photo
    from greeter.people.enrolment import Enroller, jobs_for_person
    from greeter.people.store import Store
    from greeter.settings import Settings

    settings = Settings.load(environ={}, store=FOLDER / "greeter.sqlite3",
                             greetings=FOLDER / "greetings.json")
    with Store(settings.store) as store:
        if store.person(DEMO_PERSON) is None:
            print(f"enrolling {DEMO_NAME} into the demo store {settings.store}")
            Enroller(store, settings.detection, settings.enrolment).run(
                jobs_for_person(DEMO_PERSON, DEMO_NAME, [skimage_photo("astronaut.png")]))
    update_greetings(settings.greetings, lambda greetings: with_greeting(
        greetings, DEMO_PERSON, ["Welcome back, {first_name}!"], DEMO_NAME)
        if DEMO_PERSON not in greetings.people else greetings)
    password = secrets.token_urlsafe(9)
    Credentials(settings.store.parent).set_password(password)
    app = create_app(settings)
    print(f"\n  console:  http://{host}:{port}/\n  password: {password}\n", flush=True)
    serve(app, listening, log_level="warning")
    return 0


if __name__ == "__main__":
    sys.exit(main())
