"""The console's security: nothing without signing in, cookies, CSRF, throttling, tokens,
limits, headers; and the `greeter console` commands that set the password and tokens."""

import html
import logging
import stat
import subprocess
import sys

import pytest
from conftest import cli_runner
from console_helpers import (
    PASSWORD,
    Clock,
    console_process,
    console_settings,
    csrf_of,
    enrol_vectors,
    login_token_of,
    make_client,
    sign_in,
    signed_in_csrf,
)

from greeter.cli import main
from greeter.console import demo as console_demo
from greeter.console.auth import FREE_ATTEMPTS, Credentials
from greeter.console.uploads import Limits

PAGES = ["/", "/people", "/people/alex", "/enrol", "/greetings", "/greetings/people/alex",
         "/bundles", "/bundles/export", "/status", "/people/alex/remove"]


@pytest.mark.parametrize("path", PAGES)
def test_pages_redirect_to_sign_in_without_a_session(tmp_path, path):
    client = make_client(tmp_path)
    response = client.get(path)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")


@pytest.mark.parametrize("method,path", [("get", "/api/people"), ("get", "/api/status"),
                                         ("delete", "/api/people/alex"),
                                         ("post", "/api/people/alex/photos")])
def test_api_answers_401_without_a_token(tmp_path, method, path):
    client = make_client(tmp_path)
    response = getattr(client, method)(path)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "greeter console token create" in response.json()["error"]


def test_a_forged_session_cookie_is_not_a_session(tmp_path):
    client = make_client(tmp_path)
    client.cookies.set("greeter_console", "made-up")
    assert client.get("/people").status_code == 303


def test_signing_in_sets_a_strict_http_only_expiring_cookie(tmp_path):
    client = make_client(tmp_path)
    response = sign_in(client)
    assert response.status_code == 303 and response.headers["location"] == "/people"
    cookie = [value for name, value in response.headers.multi_items()
              if name == "set-cookie" and value.startswith("greeter_console=")][0]
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Max-Age=" in cookie
    assert client.get("/people").status_code == 200


def test_wrong_password_is_refused(tmp_path):
    client = make_client(tmp_path)
    response = sign_in(client, "not the password")
    assert response.status_code == 401
    assert "Wrong password." in response.text
    assert client.get("/people").status_code == 303


def test_sign_in_form_without_its_token_is_refused(tmp_path):
    client = make_client(tmp_path)
    client.get("/login")
    response = client.post("/login", data={"password": PASSWORD})
    assert response.status_code == 403


def test_repeated_wrong_passwords_are_slowed_down_per_client(tmp_path):
    clock = Clock()
    client = make_client(tmp_path, clock=clock)
    for _ in range(FREE_ATTEMPTS):
        assert sign_in(client, "wrong password!").status_code == 401
    # even the right password must wait now
    response = sign_in(client)
    assert response.status_code == 429
    assert "Too many wrong passwords" in response.text
    clock.now += 1.5
    assert sign_in(client).status_code == 303


def test_no_password_set_means_nobody_can_sign_in(tmp_path):
    client = make_client(tmp_path, password=None)
    page = client.get("/login")
    assert "greeter console set-password" in page.text
    response = client.post("/login", data={"login_token": login_token_of(page.text),
                                           "password": "anything at all"})
    assert response.status_code == 403


def test_a_next_target_on_another_site_is_ignored(tmp_path):
    client = make_client(tmp_path)
    page = client.get("/login")
    response = client.post("/login", data={"login_token": login_token_of(page.text),
                                           "password": PASSWORD, "next": "//evil.example/"})
    assert response.headers["location"] == "/people"


def test_a_form_without_the_csrf_token_is_refused(tmp_path):
    client = make_client(tmp_path)
    enrol_vectors(console_settings(tmp_path).store, "alex", "Alex")
    signed_in_csrf(client)
    response = client.post("/people/alex/rename", data={"name": "Mallory"})
    assert response.status_code == 403
    assert "out of date or came from another site" in response.text
    response = client.post("/people/alex/remove", data={"csrf": "guessed"})
    assert response.status_code == 403
    assert client.get("/people/alex").status_code == 200


def test_signing_out_ends_the_session(tmp_path):
    client = make_client(tmp_path)
    csrf = signed_in_csrf(client)
    assert client.post("/logout", data={"csrf": csrf}).status_code == 303
    assert client.get("/people").status_code == 303


def test_pages_carry_a_content_security_policy_without_inline_script(tmp_path):
    client = make_client(tmp_path)
    signed_in_csrf(client)
    for path in ["/login", "/people", "/enrol", "/greetings", "/bundles", "/status"]:
        response = client.get(path)
        policy = response.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["cache-control"] == "no-store"
        assert "<script>" not in response.text and "onclick" not in response.text
        assert "http://" not in response.text and "https://" not in response.text


def test_an_oversized_photo_is_answered_413(tmp_path):
    client = make_client(tmp_path, limits=Limits(photo_bytes=1000))
    csrf = signed_in_csrf(client)
    response = client.post("/enrol", data={"csrf": csrf, "person_id": "alex"},
                           files={"photos": ("big.jpg", b"x" * 5000, "image/jpeg")})
    assert response.status_code == 413
    assert "big.jpg is larger than" in response.text


def test_too_many_photos_are_answered_413(tmp_path):
    client = make_client(tmp_path, limits=Limits(photos=2))
    csrf = signed_in_csrf(client)
    files = [("photos", (f"{index}.jpg", b"x", "image/jpeg")) for index in range(3)]
    response = client.post("/enrol", data={"csrf": csrf, "person_id": "alex"}, files=files)
    assert response.status_code == 413
    assert "more than 2 files" in response.text


def test_an_oversized_request_is_answered_413_by_the_api(tmp_path):
    client = make_client(tmp_path, limits=Limits(request_bytes=2000))
    token = Credentials(console_settings(tmp_path).store.parent).create_token("desk")
    response = client.post("/api/people/alex/photos", headers={"authorization": f"Bearer {token}"},
                           files={"photo": ("big.jpg", b"x" * 5000, "image/jpeg")})
    assert response.status_code == 413
    assert "larger than" in response.json()["error"]


def test_an_unknown_page_is_404_without_details(tmp_path):
    client = make_client(tmp_path)
    signed_in_csrf(client)
    response = client.get("/nothing/here")
    assert response.status_code == 404
    assert "Traceback" not in response.text


def test_an_invalid_id_in_a_url_gets_the_clis_rule(tmp_path):
    client = make_client(tmp_path)
    signed_in_csrf(client)
    response = client.get("/people/Alex%20M")
    assert response.status_code == 400
    assert "is not a valid person id" in response.text


# -- the commands ------------------------------------------------------------------------


def test_set_password_reads_stdin_and_stores_a_private_scrypt_hash(tmp_path):
    store = tmp_path / "data" / "greeter.sqlite3"
    result = cli_runner().invoke(main, ["--store", str(store), "console", "set-password"],
                                 input="a long enough password\n")
    assert result.exit_code == 0, result.output
    password_file = tmp_path / "data" / "console-password.json"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    content = password_file.read_text()
    assert "a long enough password" not in content and '"scheme": "scrypt"' in content
    assert Credentials(store.parent).check_password("a long enough password")
    assert not Credentials(store.parent).check_password("a long enough passwore")


def test_set_password_refuses_a_short_one(tmp_path):
    result = cli_runner().invoke(main, ["--store", str(tmp_path / "s.sqlite3"), "console",
                                        "set-password"], input="short\n")
    assert result.exit_code == 1
    assert "too short" in result.stderr


def test_tokens_are_printed_once_stored_hashed_and_revoked(tmp_path):
    store = tmp_path / "data" / "greeter.sqlite3"
    runner = cli_runner()
    created = runner.invoke(main, ["--store", str(store), "console", "token", "create", "desk"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert len(token) >= 40
    assert token not in (tmp_path / "data" / "console-tokens.json").read_text()

    client = make_client(tmp_path)
    headers = {"authorization": f"Bearer {token}"}
    assert client.get("/api/people", headers=headers).status_code == 200
    assert client.get("/api/people", headers={"authorization": "Bearer nope"}).status_code == 401

    revoked = runner.invoke(main, ["--store", str(store), "console", "token", "revoke", "desk"])
    assert revoked.exit_code == 0, revoked.output
    assert client.get("/api/people", headers=headers).status_code == 401
    again = runner.invoke(main, ["--store", str(store), "console", "token", "revoke", "desk"])
    assert again.exit_code == 1 and "no token called 'desk'" in again.stderr


def test_serving_on_the_network_needs_a_password(tmp_path):
    result = cli_runner().invoke(main, ["--store", str(tmp_path / "s.sqlite3"), "console",
                                        "--listen", "0.0.0.0:8080"])
    assert result.exit_code == 1
    assert "without a password" in result.stderr and "set-password" in result.stderr


def test_a_bad_listen_address_is_explained(tmp_path):
    result = cli_runner().invoke(main, ["--store", str(tmp_path / "s.sqlite3"), "console",
                                        "--listen", "8080"])
    assert result.exit_code == 2
    assert "HOST:PORT" in result.stderr


@pytest.fixture
def port_in_use():
    """A port of 127.0.0.1 that another program listens on."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import socket, time\n"
         "listening = socket.create_server(('127.0.0.1', 0))\n"
         "print(listening.getsockname()[1], flush=True)\n"
         "time.sleep(120)"], stdout=subprocess.PIPE, text=True)
    try:
        yield int(holder.stdout.readline())
    finally:
        holder.kill()
        holder.wait()


def test_a_port_in_use_is_one_line_and_status_1_without_saying_it_serves(tmp_path,
                                                                         port_in_use):
    console = console_process(tmp_path, f"127.0.0.1:{port_in_use}", stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    out, err = console.communicate(timeout=60)
    assert console.returncode == 1
    assert (out, err) == ("", f"Error: 127.0.0.1:{port_in_use} is in use by another program: "
                              f"stop it or choose --listen 127.0.0.1:OTHERPORT\n")


def test_make_console_on_a_port_in_use_is_one_line_before_enrolling_anybody(
        tmp_path, port_in_use, monkeypatch, capsys):
    monkeypatch.setattr(console_demo, "FOLDER", tmp_path / "console-demo")
    monkeypatch.setattr(console_demo, "LISTEN", ("127.0.0.1", port_in_use))
    assert console_demo.main() == 1
    assert capsys.readouterr() == ("", f"Error: 127.0.0.1:{port_in_use} is in use by another "
                                       f"program: stop it (another `make console`?) and run "
                                       f"`make console` again\n")
    assert not (tmp_path / "console-demo").exists()


def test_an_address_not_of_this_machine_is_one_line(tmp_path):
    store = tmp_path / "data" / "greeter.sqlite3"
    Credentials(store.parent).set_password(PASSWORD)
    result = cli_runner().invoke(main, ["--store", str(store), "console",
                                        "--listen", "192.0.2.1:8080"])  # TEST-NET-1
    assert result.exit_code == 1
    assert result.stderr == ("Error: cannot listen on 192.0.2.1:8080: Cannot assign requested "
                             "address\n")


def test_csrf_token_is_in_every_form(tmp_path):
    client = make_client(tmp_path)
    enrol_vectors(console_settings(tmp_path).store, "alex", "Alex")
    csrf = signed_in_csrf(client)
    for path in ["/people/alex", "/enrol", "/greetings", "/bundles", "/people/alex/remove"]:
        html = client.get(path).text
        assert html.count("<form method=\"post\"") <= html.count(f'value="{csrf}"')
        assert csrf_of(html) == csrf


def test_a_damaged_password_file_tells_a_visitor_what_to_do_and_the_log_where(tmp_path,
                                                                             caplog):
    """A visitor who has not signed in is told what an admin must do, never the file's path
    or what is wrong in it: those go to the console's log."""
    client = make_client(tmp_path)
    password_file = tmp_path / "data" / "console-password.json"
    password_file.write_text("{\"salt\": \"zz\"}")
    response = sign_in(client)
    assert response.status_code == 503
    assert "set the password again" in response.text and "Traceback" not in response.text
    assert str(tmp_path) not in response.text and "damaged" not in response.text
    assert f"{password_file}: damaged" in caplog.text


def test_a_damaged_token_file_answers_the_api_without_its_path(tmp_path, caplog):
    client = make_client(tmp_path)
    tokens = tmp_path / "data" / "console-tokens.json"
    tokens.write_text("[not json")
    tokens.chmod(0o600)
    response = client.get("/api/people", headers={"Authorization": "Bearer whatever"})
    assert response.status_code == 503
    assert str(tmp_path) not in response.text and "Expecting" not in response.text
    assert f"{tokens}: cannot be read" in caplog.text


def test_secrets_made_readable_by_others_are_made_private_again_and_the_log_says_which(
        tmp_path, caplog):
    make_client(tmp_path).close()
    password_file = tmp_path / "data" / "console-password.json"
    password_file.chmod(0o644)
    with caplog.at_level(logging.WARNING):
        client = make_client(tmp_path, password=None)
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    assert f"{password_file}: was readable by others (0644); made private (0600)" in caplog.text
    assert sign_in(client).status_code == 303


def test_an_unexpected_failure_shows_no_traceback(tmp_path, caplog):
    client = make_client(tmp_path)
    signed_in_csrf(client)

    def broken():
        raise RuntimeError("secret internals")

    client.app.state.console.store = broken
    response = client.get("/people")
    assert response.status_code == 500
    assert "secret internals" not in response.text and "Traceback" not in response.text
    assert "console's log" in html.unescape(response.text)
    assert "secret internals" in caplog.text
