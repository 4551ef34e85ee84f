"""Enrolling uploaded photos through the console's page and API: real photos, the real face
models, and exactly the verdicts and reasons of `greeter enroll`."""

import html
import re

import pytest
from conftest import cli_runner
from console_helpers import console_settings, make_client, signed_in_csrf

from greeter.cli import main
from greeter.console.auth import Credentials
from greeter.people.store import Store

pytestmark = pytest.mark.slow


@pytest.fixture
def photos(samples, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("not a photo, just notes\n")
    return {"obama": samples / "obama.jpg", "two": samples / "two_people.jpg", "text": text}


def cli_reasons(tmp_path, paths):
    """What `greeter enroll --person` says about each photo: path -> (outcome, reason)."""
    store = tmp_path / "cli" / "greeter.sqlite3"
    result = cli_runner().invoke(main, ["--store", str(store), "enroll", "--person", "cli",
                                        "--workers", "1", *map(str, paths)])
    reasons = {}
    for line in result.stderr.splitlines():
        match = re.match(r"(.*): rejected: (.*)", line)
        if match:
            reasons[match.group(1)] = match.group(2)
    return reasons


#: How the CLI asks for the largest face, at the end of its reason for a group photo.
CLI_LARGEST_HINT = ", or --largest to enrol the largest face"


def with_own_largest_hint(cli_reason: str, hint: str) -> str:
    """The CLI's reason for a photo, with `hint` (a shell's own way to ask for the largest
    face) in place of the CLI's."""
    return cli_reason.replace(CLI_LARGEST_HINT, hint)


def test_enrol_page_enrols_obama_and_rejects_like_the_cli(tmp_path, photos):
    client = make_client(tmp_path)
    csrf = signed_in_csrf(client)
    files = [("photos", (path.name, path.read_bytes(), "application/octet-stream"))
             for path in photos.values()]
    response = client.post("/enrol", data={"csrf": csrf, "person_id": "barack",
                                           "name": "Barack Obama"}, files=files)
    assert response.status_code == 200
    page = html.unescape(response.text)
    assert "1 enrolled, 0 skipped, 2 rejected" in page
    assert "obama.jpg</strong>: enrolled" in page
    expected = cli_reasons(tmp_path, [photos["two"], photos["text"]])
    assert len(expected) == 2 and "2 faces found" in expected[str(photos["two"])]
    assert expected[str(photos["two"])].endswith(CLI_LARGEST_HINT)
    for path, reason in expected.items():
        reason = with_own_largest_hint(
            reason, ", or tick “In group photos, enrol the largest face” and send it again")
        assert f"{path.rsplit('/', 1)[-1]}</strong>: rejected: {reason}" in page
    assert "--largest" not in page
    with Store(console_settings(tmp_path).store) as store:
        assert store.person("barack").name == "Barack Obama"
        assert [p.photo_name for p in store.photos("barack")] == ["obama.jpg"]
    # the same photo again is skipped, as by the CLI
    again = client.post("/enrol", data={"csrf": csrf, "person_id": "barack"}, files=[
        ("photos", ("obama.jpg", photos["obama"].read_bytes(), "image/jpeg"))])
    assert "obama.jpg</strong>: skipped: already enrolled" in html.unescape(again.text)


def test_nothing_of_an_upload_is_written_to_disk(tmp_path, photos):
    client = make_client(tmp_path)
    csrf = signed_in_csrf(client)
    before = {path for path in tmp_path.rglob("*")}
    client.post("/enrol", data={"csrf": csrf, "person_id": "barack"},
                files=[("photos", ("obama.jpg", photos["obama"].read_bytes(), "image/jpeg"))])
    created = {path.name for path in set(tmp_path.rglob("*")) - before}
    assert not any(name.endswith(".jpg") for name in created), created


def test_api_enrols_201_and_rejects_422_with_the_clis_reason(tmp_path, photos):
    client = make_client(tmp_path)
    token = Credentials(console_settings(tmp_path).store.parent).create_token("desk")
    headers = {"authorization": f"Bearer {token}"}

    def post(path, **fields):
        return client.post("/api/people/barack/photos", headers=headers, data=fields,
                           files={"photo": (path.name, path.read_bytes(), "image/jpeg")})

    enrolled = post(photos["obama"], name="Barack Obama")
    assert enrolled.status_code == 201
    assert enrolled.json() == {"person": "barack", "photo": "obama.jpg", "outcome": "enrolled",
                               "reason": ""}
    assert post(photos["obama"]).json()["reason"] == "already enrolled"
    expected = cli_reasons(tmp_path, [photos["two"], photos["text"]])
    assert expected[str(photos["two"])].endswith(CLI_LARGEST_HINT)
    for key in ("two", "text"):
        rejected = post(photos[key])
        assert rejected.status_code == 422
        assert rejected.json()["reason"] == with_own_largest_hint(
            expected[str(photos[key])], ", or send largest=1 to enrol the largest face")
    somebody_else = post(photos["two"], largest="1")  # the largest face is Joe Biden's
    assert somebody_else.status_code == 422
    assert somebody_else.json()["reason"].startswith(
        "does not look like the photo enrolled for barack")
    listed = client.get("/api/people", headers=headers).json()
    assert [(person["id"], person["photos"]) for person in listed] == [("barack", 1)]
    bad_id = client.post("/api/people/Barack/photos", headers=headers,
                         files={"photo": ("o.jpg", photos["obama"].read_bytes(), "image/jpeg")})
    assert bad_id.status_code == 400 and "not a valid person id" in bad_id.json()["error"]


def test_a_weak_photo_is_enrolled_with_the_clis_advice_and_the_person_flagged(tmp_path, lfw):
    photo = lfw / "people" / "Adolfo_Aguilar_Zinser" / "Adolfo_Aguilar_Zinser_0001.jpg"
    client = make_client(tmp_path)
    csrf = signed_in_csrf(client)

    response = client.post("/enrol", data={"csrf": csrf, "person_id": "adolfo", "name": ""},
                           files=[("photos", (photo.name, photo.read_bytes(), "image/jpeg"))])

    page = html.unescape(response.text)
    assert (f"{photo.name}</strong>: enrolled, with a warning: small face (52 px): a larger "
            f"photo will be recognised more often") in page
    assert "one weak photo: add 1-2 more photos" in client.get("/people").text
    assert "small face (52 px)" in html.unescape(client.get("/people/adolfo").text)
