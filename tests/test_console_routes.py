"""The console's pages and API on a real SQLite store and greetings file: people, rename and
remove, greetings with `greeter greetings check`'s messages, bundles and status."""

import html
import json
import logging
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from conftest import cli_runner, flat_png
from console_helpers import (
    api_headers,
    console_settings,
    csrf_of,
    enrol_vectors,
    make_client,
    signed_in_csrf,
)

import greeter.screen.text as screen_text
from greeter.cli import main
from greeter.console import routing as console_routing
from greeter.console.auth import Credentials
from greeter.greetings.read import load_greetings
from greeter.live.status import RecentGreeting, RobotStatus, read_status, status_path, write_status
from greeter.people.bundle import bundle_document
from greeter.people.store import PersonRecord, Store
from greeter.recognition.faces import MODEL_ID


@pytest.fixture
def console(tmp_path):
    """A signed-in client, its CSRF token, and a store with Alex (one small photo, 52 px) and
    Zoë (two photos)."""
    settings = console_settings(tmp_path)
    enrol_vectors(settings.store, "alex-m", "Alex Müller", photos=1, face_size=52, seed=1)
    enrol_vectors(settings.store, "zoe", "Zoë Example", photos=2, face_size=180, seed=2)
    client = make_client(tmp_path)
    return client, signed_in_csrf(client), settings


def test_people_list_shows_counts_and_quality_hints(console):
    client, _, _ = console
    page = client.get("/people").text
    assert "Alex Müller" in page and "Zoë Example" in page
    assert "one weak photo: add 1-2 more photos" in page
    assert "2 photos" in page


def test_people_search_by_name_or_id(console):
    client, _, _ = console
    page = client.get("/people", params={"q": "zoë"}).text
    assert "Zoë Example" in page and "Alex Müller" not in page
    page = client.get("/people", params={"q": "alex-m"}).text
    assert "Alex Müller" in page and "Zoë" not in page
    assert "Nobody matches" in client.get("/people", params={"q": "nobody"}).text


def test_person_page_shows_quality_figures_never_a_photo(console):
    client, _, _ = console
    page = client.get("/people/zoe").text
    assert "0.jpg" in page and "1.jpg" in page and "180" in page
    assert "<img" not in page


def test_unknown_person_is_explained(console):
    client, _, _ = console
    response = client.get("/people/nobody")
    assert response.status_code == 404
    assert "nobody with id 'nobody' is enrolled" in html.unescape(response.text)


def test_rename(console):
    client, csrf, settings = console
    response = client.post("/people/zoe/rename", data={"csrf": csrf, "name": " Zoë Q. "})
    assert response.status_code == 303
    with Store(settings.store) as store:
        assert store.person("zoe").name == "Zoë Q."
    assert "zoe is now called Zoë Q." in client.get(response.headers["location"]).text


def test_rename_renames_the_greeting_too(console):
    """The greetings entry's name wins on the screen: a rename that left an entry that used
    the store's name would change nothing the guest sees (a name of its own is kept:
    tests/test_console_staff.py)."""
    client, csrf, settings = console
    cli_runner().invoke(main, ["--greetings", str(settings.greetings), "greetings", "set",
                               "zoe", "--name", "Zoë Example", "--message", "Hi {name}!"])
    response = client.post("/people/zoe/rename", data={"csrf": csrf, "name": "Zoë Q."})
    assert response.status_code == 303
    assert load_greetings(settings.greetings).people["zoe"].name == "Zoë Q."
    assert "their greeting too" in client.get(response.headers["location"]).text


def test_remove_asks_first_then_erases_embeddings_and_greeting(console):
    client, csrf, settings = console
    cli_runner().invoke(main, ["--greetings", str(settings.greetings), "greetings", "set",
                               "zoe", "--message", "Hi {name}!"])
    confirmation = client.get("/people/zoe/remove")
    assert "cannot be undone" in confirmation.text
    with Store(settings.store) as store:
        assert store.person("zoe") is not None
    response = client.post("/people/zoe/remove", data={"csrf": csrf})
    assert response.status_code == 303
    with Store(settings.store) as store:
        assert store.person("zoe") is None and store.photos("zoe") == []
    assert "zoe" not in load_greetings(settings.greetings).people
    assert "removed zoe and their 2 photos" in client.get("/people").text


# -- greetings -----------------------------------------------------------------------------


def test_greeting_with_an_unknown_placeholder_shows_the_check_message(console, tmp_path):
    client, csrf, settings = console
    response = client.post("/greetings/people/alex-m", data={
        "csrf": csrf, "name": "Alex Müller", "first_name": "", "messages": "Hi {nmae}!",
        "action": "save"})
    assert response.status_code == 422
    assert not settings.greetings.exists()  # nothing written
    # the same problem, word for word, as `greeter greetings check` reports for that file
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"people": {"alex-m": {"name": "Alex Müller",
                                                     "messages": ["Hi {nmae}!"]}}}))
    checked = cli_runner().invoke(main, ["greetings", "check", str(bad)])
    problem = checked.stderr.strip().splitlines()[0][len(f"{bad}: "):]
    assert problem == "people.alex-m.messages[0]: unknown placeholder {nmae}"
    # the console names the field as its form does
    assert problem.replace("people.alex-m.messages[0]", "Message 1") in \
        html.unescape(response.text)


def test_greeting_saved_with_the_clis_locked_write_and_previewed(console):
    client, csrf, settings = console
    response = client.post("/greetings/people/alex-m", data={
        "csrf": csrf, "name": "Alex Müller", "first_name": "", "action": "save",
        "messages": "Welcome back, {first_name}!\nGood {time_of_day}, {name}!"})
    assert response.status_code == 303
    saved = load_greetings(settings.greetings).people["alex-m"]
    assert saved.messages == ["Welcome back, {first_name}!", "Good {time_of_day}, {name}!"]
    page = client.get("/greetings/people/alex-m").text
    assert "Welcome back, Alex!" in page
    assert "Good morning, Alex Müller!" in page or "Good afternoon, Alex Müller!" in page \
        or "Good evening, Alex Müller!" in page


def test_an_admin_saving_over_another_admins_change_is_told_and_loses_nothing(console):
    """Two admins open Alex's greeting; the second saves first; the first's save is refused
    and says what the greeting is now; saving again, knowingly, replaces it."""
    client, csrf, settings = console
    first_page = client.get("/greetings/people/alex-m").text
    based_on = re.search(r'name="based_on" value="([0-9a-f]+)"', first_page).group(1)
    other = client.post("/greetings/people/alex-m", data={
        "csrf": csrf, "name": "Alex Müller", "first_name": "", "action": "save",
        "messages": "Hi from the other admin", "based_on": based_on})
    assert other.status_code == 303

    mine = {"csrf": csrf, "name": "Alex Müller", "first_name": "", "action": "save",
            "messages": "Welcome, {first_name}!", "based_on": based_on}
    refused = client.post("/greetings/people/alex-m", data=mine)
    assert refused.status_code == 409
    text = html.unescape(refused.text)
    assert ("somebody else changed alex-m's greeting while you were editing it, so yours was "
            "not saved; theirs is now: Hi from the other admin. Save again") in text
    assert "Welcome, {first_name}!" in text  # what this admin typed is still in the form
    assert load_greetings(settings.greetings).people["alex-m"].messages == [
        "Hi from the other admin"]

    again = re.search(r'name="based_on" value="([0-9a-f]+)"', refused.text).group(1)
    saved = client.post("/greetings/people/alex-m", data=dict(mine, based_on=again))
    assert saved.status_code == 303
    assert load_greetings(settings.greetings).people["alex-m"].messages == [
        "Welcome, {first_name}!"]


def test_live_preview_answers_json_without_writing(console):
    client, csrf, settings = console
    response = client.post("/greetings/people/alex-m", headers={"x-preview": "1"}, data={
        "csrf": csrf, "name": "Alex Müller", "first_name": "Al", "messages": "Hi {first_name}",
        "action": "preview"})
    assert response.json() == {"problems": [], "preview": ["Hi Al"], "warnings": []}
    bad = client.post("/greetings/people/alex-m", headers={"x-preview": "1"}, data={
        "csrf": csrf, "name": "Alex", "first_name": "", "messages": "Hi {nmae}",
        "action": "preview"}).json()
    assert bad["preview"] == [] and "nmae" in bad["problems"][0]
    assert not settings.greetings.exists()


def test_defaults_and_screen(console):
    client, csrf, settings = console
    response = client.post("/greetings/defaults", data={
        "csrf": csrf, "language": "de", "stranger": "Willkommen!", "action": "save",
        "enrolled": "Hallo {first_name}!", "title": "Tag der offenen Tür",
        "values": "Neugier\nFreundlichkeit"})
    assert response.status_code == 303
    greetings = load_greetings(settings.greetings)
    assert greetings.language == "de" and greetings.stranger == ["Willkommen!"]
    assert greetings.screen.values == ["Neugier", "Freundlichkeit"]
    bad = client.post("/greetings/defaults", data={
        "csrf": csrf, "language": "en", "stranger": "Hi {name}", "enrolled": "Hi",
        "title": "T", "values": "", "action": "save"})
    assert bad.status_code == 422
    assert "Message for strangers 1: " in html.unescape(bad.text)
    assert load_greetings(settings.greetings).stranger == ["Willkommen!"]


def test_an_invalid_greetings_file_is_shown_with_its_problems(console):
    client, _, settings = console
    settings.greetings.write_text('{"stranger": []}')
    page = client.get("/greetings").text
    assert "stranger: must not be empty" in page


def test_a_logo_too_large_to_show_is_a_problem_and_stops_saves(console):
    """The check of `greeter greetings check`, word for word: the robot would not take the
    file either."""
    client, csrf, settings = console
    bomb = flat_png(settings.greetings.parent / "bomb.png", 8000, 6251)
    settings.greetings.write_text(json.dumps({"screen": {"logo": "bomb.png"}}))
    problem = (f"screen.logo: {bomb} is 8000x6251 px, more than the 50 megapixels a logo may "
               f"have: save it smaller; a screen shows no more than its own size, e.g. 1920x1080")
    assert problem in html.unescape(client.get("/greetings").text)
    response = client.post("/greetings/defaults", data={
        "csrf": csrf, "language": "en", "stranger": "Welcome!", "enrolled": "Hi {first_name}!",
        "title": "Open Day", "values": "", "action": "save"})
    assert response.status_code == 422 and problem in html.unescape(response.text)
    assert json.loads(settings.greetings.read_text()) == {"screen": {"logo": "bomb.png"}}


def test_a_greetings_file_over_the_size_limit_is_a_problem(console):
    client, _, settings = console
    settings.greetings.write_text("{}" + " " * 4_500_000)
    assert ("the file has 4.5 MB, more than the 4 MB a greetings file may have"
            in client.get("/greetings").text)


def _warnings_of(page: str) -> list:
    """The lines of the page's box of warnings about characters the screen cannot draw."""
    box = page.split("data-warnings", 1)[1].split("</div>", 1)[0]
    return [html.unescape(item.split("</li>")[0]) for item in box.split("<li>")[1:]]


def test_characters_the_screen_cannot_draw_are_named_after_saving(console):
    """A hieroglyph has no glyph in the screen's fonts: the admin reads `greeter greetings
    check`'s warning, word for word but for the field named as the form names it, on the page
    the save lands on and on the overview."""
    client, csrf, settings = console
    response = client.post("/greetings/people/alex-m", data={
        "csrf": csrf, "name": "Alex Müller", "first_name": "", "action": "save",
        "messages": "Hi {first_name}!\nWelcome \U00013000"})
    assert response.status_code == 303  # a warning does not stop saving
    assert load_greetings(settings.greetings).people["alex-m"].messages == [
        "Hi {first_name}!", "Welcome \U00013000"]
    checked = cli_runner().invoke(main, ["greetings", "check", str(settings.greetings)])
    prefix = f"warning: {settings.greetings}: "
    expected = [line[len(prefix):] for line in checked.stderr.splitlines()
                if "the screen cannot draw" in line]
    assert expected == ["people.alex-m.messages[1]: the screen cannot draw '\U00013000' "
                        "(U+13000): no font of the screen has them, so they are left out: use "
                        "other characters"]
    expected = [line.replace("people.alex-m.messages[1]", "Message 2") for line in expected]
    landed = client.get(response.headers["location"]).text
    assert "saved alex-m's greeting" in html.unescape(landed)
    assert _warnings_of(landed) == expected
    assert _warnings_of(client.get("/greetings").text) == expected
    # a person's page names only what the screen shows for them
    assert _warnings_of(client.get("/greetings/people/zoe").text) == []


def test_the_screens_title_and_the_defaults_are_checked_too(console):
    client, csrf, _ = console
    response = client.post("/greetings/defaults", data={
        "csrf": csrf, "language": "en", "stranger": "Welcome!", "enrolled": "Hi {first_name}!",
        "title": "Open Day \ue000", "values": "Curiosity", "action": "save"})
    assert response.status_code == 303
    landed = client.get(response.headers["location"]).text
    assert "saved the defaults and the screen" in landed
    assert [line.split(":")[0] for line in _warnings_of(landed)] == ["Title"]
    assert "'\\ue000' (U+E000)" in _warnings_of(landed)[0]
    # somebody without a greeting of their own gets the enrolled people's: checked on their page
    client.post("/greetings/defaults", data={
        "csrf": csrf, "language": "en", "stranger": "Welcome!", "title": "Open Day",
        "enrolled": "Hi {first_name} \U00013000", "values": "Curiosity", "action": "save"})
    assert [line.split(":")[0] for line in _warnings_of(client.get("/greetings/people/zoe").text)
            ] == ["Message for enrolled people 1"]


def test_a_file_the_screen_draws_whole_has_no_warning(console):
    client, csrf, _ = console
    client.post("/greetings/people/zoe", data={
        "csrf": csrf, "name": "Zoë Example", "first_name": "", "action": "save",
        "messages": "Willkommen, {first_name}! مرحبا שלום Ştefan Nguyễn"})
    for page in (client.get("/greetings").text, client.get("/greetings/people/zoe").text):
        assert _warnings_of(page) == []
        assert "data-warnings hidden" in page


def test_live_preview_carries_the_warnings_without_the_emoji_font(console, monkeypatch):
    """Without fonts-noto-color-emoji the screen leaves emoji out: the preview says which
    package draws them, as the form is typed."""
    client, csrf, settings = console
    monkeypatch.setattr(screen_text, "EMOJI_FONTS", ())
    result = client.post("/greetings/people/alex-m", headers={"x-preview": "1"}, data={
        "csrf": csrf, "name": "Alex Müller", "first_name": "", "messages": "Hi 👋",
        "action": "preview"}).json()
    assert result["problems"] == [] and result["preview"] == ["Hi 👋"]
    assert result["warnings"] == [
        "Message 1: the screen cannot draw '👋' (U+1F44B): install "
        "fonts-noto-color-emoji for emoji, or leave them out"]
    defaults = client.post("/greetings/defaults", headers={"x-preview": "1"}, data={
        "csrf": csrf, "language": "en", "stranger": "Welcome! 🎉", "enrolled": "Hi",
        "title": "T", "values": "", "action": "preview"}).json()
    assert [line.split(":")[0] for line in defaults["warnings"]] == ["Message for strangers 1"]
    assert not settings.greetings.exists()


def test_the_pages_work_when_the_screens_fonts_cannot_be_loaded(console, monkeypatch, caplog):
    client, csrf, _ = console
    monkeypatch.setattr(screen_text, "REGULAR_FONT", Path("/nowhere/DejaVuSans.ttf"))
    response = client.post("/greetings/people/alex-m", data={
        "csrf": csrf, "name": "Alex Müller", "first_name": "", "action": "save",
        "messages": "Welcome \U00013000"})
    assert response.status_code == 303
    with caplog.at_level(logging.ERROR, logger="greeter.console.pages"):
        landed = client.get(response.headers["location"])
        overview = client.get("/greetings")
    assert landed.status_code == overview.status_code == 200
    assert "Welcome \U00013000" in landed.text
    assert _warnings_of(landed.text) == _warnings_of(overview.text) == []
    assert "could not check which characters the screen draws" in caplog.text


def test_remove_a_greeting(console):
    client, csrf, settings = console
    cli_runner().invoke(main, ["--greetings", str(settings.greetings), "greetings", "set",
                               "zoe", "--message", "Hi {name}!"])
    response = client.post("/greetings/people/zoe/remove", data={"csrf": csrf})
    assert response.status_code == 303
    assert "zoe" not in load_greetings(settings.greetings).people


# -- bundles -------------------------------------------------------------------------------


def test_bundle_download_then_upload_reports_like_the_cli(console, tmp_path):
    client, csrf, settings = console
    download = client.get("/bundles/export")
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    document = download.json()
    assert [person["id"] for person in document["people"]] == ["alex-m", "zoe"]

    other = make_client(tmp_path / "other")
    other_csrf = signed_in_csrf(other)
    response = other.post("/bundles/import", data={"csrf": other_csrf},
                          files={"bundle": ("people.bundle", download.content, "application/json")})
    assert response.status_code == 200
    assert "2 added, 0 replaced, 0 skipped" in response.text
    again = other.post("/bundles/import", data={"csrf": other_csrf, "dry_run": "1"},
                       files={"bundle": ("people.bundle", download.content, "application/json")})
    assert "0 added, 0 replaced, 2 skipped" in again.text and "Dry run" in again.text


def test_a_damaged_bundle_is_refused_with_the_clis_reason(console):
    client, csrf, _ = console
    document = bundle_document([PersonRecord("x", "X", "2026-01-01T00:00:00+00:00", ())],
                               MODEL_ID)
    document["people"][0]["name"] = "changed"
    response = client.post("/bundles/import", data={"csrf": csrf}, files={
        "bundle": ("people.bundle", json.dumps(document).encode(), "application/json")})
    assert response.status_code == 400
    assert "people.bundle: checksum mismatch" in response.text


# -- status --------------------------------------------------------------------------------


def _status(written: datetime) -> RobotStatus:
    return RobotStatus(written=written, pid=42, fps=24.5, detection_rate=9.8,
                       memory_level="pressure", camera="ok",
                       greeted=[RecentGreeting(time=written, person="alex-m", name="Alex Müller")])


def test_status_page_and_api_read_the_robots_file(console):
    client, _, settings = console
    assert "has not published a status" in client.get("/status").text
    now = datetime.now(timezone.utc)
    write_status(status_path(settings.store.parent), _status(now))
    page = client.get("/status").text
    assert "Running" in page and "24.5" in page and "pressure" in page and "Alex Müller" in page
    token = Credentials(settings.store.parent).create_token("desk")
    body = client.get("/api/status", headers={"authorization": f"Bearer {token}"}).json()
    assert body["running"] is True and body["status"]["greeted"][0]["person"] == "alex-m"


def test_the_robots_page_lists_the_robot_beside_a_store_file(console):
    client, _, settings = console
    page = client.get("/robots").text
    assert settings.robot_name in page and "no status published yet" in page
    write_status(status_path(settings.store.parent), _status(datetime.now(timezone.utc)))
    page = client.get("/robots").text
    assert re.search(r"<td class=\"ok\">running</td>\s*<td class=\"ok\">ok</td>\s*"
                     r"<td>24.5</td>", page), page
    token = Credentials(settings.store.parent).create_token("desk")
    listed = client.get("/api/robots", headers={"authorization": f"Bearer {token}"}).json()
    assert [(robot["name"], robot["running"]) for robot in listed] == [
        (settings.robot_name, True)]


def test_a_stale_status_means_the_robot_is_not_running(tmp_path):
    path = tmp_path / "robot-status.json"
    written = datetime(2026, 6, 1, 9, 0, tzinfo=timezone.utc)
    write_status(path, _status(written))
    assert read_status(path, now=written + timedelta(seconds=5)).running
    reading = read_status(path, now=written + timedelta(minutes=2))
    assert not reading.running and reading.status.fps == 24.5


# -- API -----------------------------------------------------------------------------------


def test_api_lists_and_removes_people(console):
    client, _, settings = console
    token = Credentials(settings.store.parent).create_token("desk")
    headers = {"authorization": f"Bearer {token}"}
    people = client.get("/api/people", headers=headers).json()
    assert [(p["id"], p["photos"]) for p in people] == [("alex-m", 1), ("zoe", 2)]
    assert client.delete("/api/people/zoe", headers=headers).status_code == 204
    assert client.delete("/api/people/zoe", headers=headers).status_code == 404
    assert client.delete("/api/people/Not%20An%20Id", headers=headers).status_code == 400
    assert [p["id"] for p in client.get("/api/people", headers=headers).json()] == ["alex-m"]


@pytest.mark.parametrize("content_type,described", [
    ("image/jpeg", "Content-Type image/jpeg"),
    ("application/x-www-form-urlencoded", "Content-Type application/x-www-form-urlencoded"),
    (None, "no Content-Type")])
def test_a_photo_sent_as_the_body_is_answered_415_saying_how_to_send_it(console, content_type,
                                                                        described):
    """`curl --data-binary @photo.jpg`, with or without -H "Content-Type: image/jpeg"."""
    client, _, settings = console
    headers = api_headers(settings)
    if content_type:
        headers["content-type"] = content_type
    response = client.post("/api/people/biden/photos", headers=headers,
                           content=b"\xff\xd8\xff\xe0 the bytes of a JPEG")
    assert response.status_code == 415
    error = response.json()["error"]
    assert error.startswith(f"a request with {described} cannot carry the photo: ")
    assert "multipart/form-data in the field 'photo'" in error and "largest=1" in error
    with Store(settings.store) as store:
        assert store.person("biden") is None


@pytest.mark.parametrize("method", ["PATCH", "PUT"])
def test_a_method_an_api_route_does_not_take_is_a_json_405_naming_the_allowed(console, method):
    client, _, settings = console
    response = client.request(method, "/api/people/lin-manuel", headers=api_headers(settings))
    assert response.status_code == 405
    allowed = response.headers["allow"]
    assert sorted(allowed.split(", ")) == ["DELETE", "GET", "HEAD"]
    assert response.json() == {
        "error": f"{method} is not allowed on /api/people/lin-manuel: use {allowed}"}


@pytest.mark.parametrize("path", ["/api", "/api/people/lin-manuel/greeting"])
def test_an_unknown_api_route_is_a_json_404_naming_the_routes(console, path):
    client, _, settings = console
    response = client.get(path, headers=api_headers(settings))
    assert response.status_code == 404
    assert response.json() == {"error": f"no API route {path}; the routes are GET /api/people, "
                                        "POST /api/people/{person_id}/photos, "
                                        "GET /api/people/{person_id}, "
                                        "DELETE /api/people/{person_id}, GET /api/status, "
                                        "GET /api/robots"}


def test_pages_answer_a_method_they_do_not_take_with_an_error_page(console):
    client, _, _ = console
    response = client.get("/logout")
    assert response.status_code == 405 and response.headers["allow"] == "POST"
    assert response.headers["content-type"].startswith("text/html")
    assert "This address does not take GET requests." in response.text


class NoAnalysis:
    """Stands for the face models where no photo may be analysed."""

    def __init__(self):
        raise AssertionError("a photo was analysed")


@pytest.mark.parametrize("name,problem", [
    ("L" * 100, "is 100 characters long, but at most 64 fit on the screen"),
    ("Lin-Manuel \u202eMiranda", "contains U+202E")])
def test_a_bad_name_is_a_400_of_the_form_and_no_photo_is_analysed(console, monkeypatch, name,
                                                                   problem):
    client, csrf, settings = console
    monkeypatch.setattr(console_routing, "FaceEngine", NoAnalysis)
    photo = ("lin-manuel.png", b"the bytes of a photo", "image/png")
    api = client.post("/api/people/lin-manuel/photos", headers=api_headers(settings),
                      data={"name": name}, files={"photo": photo})
    assert api.status_code == 400
    assert api.json()["error"].startswith("lin-manuel's display name ")
    assert problem in api.json()["error"]
    page = client.post("/enrol", data={"csrf": csrf, "person_id": "lin-manuel", "name": name},
                       files=[("photos", photo)])
    assert page.status_code == 400
    assert problem in html.unescape(page.text) and "rejected" not in page.text
    with Store(settings.store) as store:
        assert store.person("lin-manuel") is None


def test_the_enrol_pages_checkbox_for_group_photos_speaks_the_staffs_language(console):
    client, _, _ = console
    page = html.unescape(client.get("/enrol").text)
    assert 'value="1"> In group photos, enrol the largest face</label>' in page
    assert "--largest" not in page


def test_csrf_of_pages_is_the_sessions(console):
    client, csrf, _ = console
    assert csrf_of(client.get("/enrol").text) == csrf


def test_a_damaged_status_file_is_named_on_the_page(console):
    client, _, settings = console
    path = status_path(settings.store.parent)
    path.write_text('{"format": "greeter-status", "version": 1}')
    page = html.unescape(client.get("/status").text)
    assert f"{path}: not a greeter status (" in page


def test_the_status_file_is_private(tmp_path):
    path = tmp_path / "robot-status.json"
    write_status(path, _status(datetime.now(timezone.utc)))
    assert path.stat().st_mode & 0o777 == 0o600


def test_a_malformed_multipart_form_is_a_400(console):
    client, csrf, _ = console
    response = client.post("/enrol", content=b"--xyz\r\nnonsense",
                           headers={"content-type": "multipart/form-data; boundary=xyz"})
    assert response.status_code in (400, 403)
    assert "Traceback" not in response.text


def test_the_people_list_comes_in_pages_of_100(tmp_path):
    settings = console_settings(tmp_path)
    for index in range(120):
        enrol_vectors(settings.store, f"guest-{index:03d}", f"Guest {index:03d}",
                      face_size=52 if index == 119 else 150, seed=index)
    client = make_client(tmp_path)
    signed_in_csrf(client)
    first = client.get("/people").text
    assert "Guest 099" in first and "Guest 100" not in first and "page 1 of 2" in first
    second = client.get("/people", params={"page": "2"}).text
    assert "Guest 100" in second and "Guest 119" in second and "Guest 099" not in second
    assert "one weak photo: add 1-2 more photos" in second
    with Store(settings.store) as store:
        qualities = store.photo_qualities()
    assert len(qualities) == 120 and qualities["guest-119"] == [(52, 120.0)]
