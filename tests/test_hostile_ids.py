"""One id rule, matched whole, at every entry point: the same hostile ids through the CLI, the
API, the console's forms and addresses, bundles, the greetings file and door requests. Each
is refused, and Colin Powell, enrolled as ``colin-p``, is left exactly as he was (issue 21:
``colin-p\\n`` was accepted, and erasing it through the console erased Colin Powell)."""

import json
from urllib.parse import quote

import pytest
from conftest import cli_runner, flat_png
from console_helpers import (
    api_headers,
    console_settings,
    enrol_vectors,
    make_client,
    signed_in_csrf,
)

from greeter.cli import main
from greeter.errors import ConfigError, GreeterError
from greeter.greetings.edit import update_greetings, with_greeting
from greeter.greetings.read import load_greetings
from greeter.names import check_person_id
from greeter.people.bundle import BundleError, bundle_from_bytes, checksum
from greeter.people.door import DoorInbox, DoorRules, ask, door_folder
from greeter.people.store import Store
from greeter.recognition.faces import MODEL_ID

HOSTILE_IDS = ["colin-p\n", "colin-p\r\n", "colin-p\x00", "colin-p\t", "\ncolin-p",
               "Colin-P", "colin-p\u200b", "cölin-p", "colin-p/x", "../colin-p", "-colin-p",
               "colin-p-", "", "c" * 65]


@pytest.fixture
def colin(tmp_path):
    """A store and greetings file with Colin Powell, and a way to tell he is untouched."""
    settings = console_settings(tmp_path)
    enrol_vectors(settings.store, "colin-p", "Colin Powell", photos=2)
    update_greetings(settings.greetings, lambda greetings: with_greeting(
        greetings, "colin-p", ["Welcome back, General!"], name="Colin Powell"))

    def untouched() -> None:
        with Store(settings.store) as store:
            assert [(p.id, p.name) for p in store.people()] == [("colin-p", "Colin Powell")]
            assert len(store.photos("colin-p")) == 2
        assert list(load_greetings(settings.greetings).people) == ["colin-p"]
        assert load_greetings(settings.greetings).people["colin-p"].name == "Colin Powell"

    return settings, untouched


@pytest.mark.parametrize("hostile", HOSTILE_IDS, ids=repr)
def test_the_rule_matches_the_whole_id(hostile):
    with pytest.raises(GreeterError):
        check_person_id(hostile)


@pytest.mark.parametrize("hostile", HOSTILE_IDS, ids=repr)
def test_the_command_line_refuses_a_hostile_id_everywhere(colin, tmp_path, hostile):
    settings, untouched = colin
    photo = flat_png(tmp_path / "photo.png", 64, 64)
    base = ["--store", str(settings.store), "--greetings", str(settings.greetings)]
    for args in (["enroll", "--person", hostile, str(photo)],
                 ["people", "rename", hostile, "Somebody Else"],
                 ["people", "remove", hostile, "--yes"],
                 ["greetings", "set", hostile, "--name", "X", "--message", "Hi"],
                 ["greetings", "remove", hostile]):
        if "\x00" in hostile:
            continue  # no command line can carry a NUL byte: execve cuts the argument there
        result = cli_runner().invoke(main, base + args)
        assert result.exit_code != 0, (args, result.output)
    untouched()


@pytest.mark.parametrize("hostile", [i for i in HOSTILE_IDS if i], ids=repr)
def test_the_console_and_its_api_refuse_a_hostile_id_everywhere(colin, tmp_path, hostile):
    settings, untouched = colin
    client = make_client(tmp_path)
    csrf = signed_in_csrf(client)
    photo = ("photo.png", flat_png(tmp_path / "photo.png", 64, 64).read_bytes(), "image/png")
    address = quote(hostile, safe="")
    answers = [
        client.post("/enrol", data={"csrf": csrf, "person_id": hostile, "name": "X"},
                    files={"photos": photo}),
        client.post("/door", data={"csrf": csrf, "person_id": hostile, "name": "X"}),
        client.get(f"/people/{address}"),
        client.post(f"/people/{address}/remove", data={"csrf": csrf}),
        client.post(f"/people/{address}/rename", data={"csrf": csrf, "name": "X"}),
        client.post(f"/greetings/people/{address}", data={"csrf": csrf, "name": "X",
                                                         "messages": "Hi"}),
        client.post(f"/greetings/people/{address}/remove", data={"csrf": csrf}),
        client.get(f"/door/{address}"),
    ]
    headers = api_headers(settings)
    answers += [
        client.post(f"/api/people/{address}/photos", files={"photo": photo}, headers=headers),
        client.delete(f"/api/people/{address}", headers=headers),
    ]
    for answer in answers:
        assert answer.status_code in (400, 404), (answer.request.url, answer.status_code)
    assert not door_folder(settings.store.parent).exists() or \
        not list(door_folder(settings.store.parent).iterdir())
    untouched()


@pytest.mark.parametrize("hostile", HOSTILE_IDS, ids=repr)
def test_a_bundle_with_a_hostile_id_is_refused(colin, hostile):
    settings, untouched = colin
    from greeter.people.bundle import bundle_content
    with Store(settings.store) as store:
        _, content = bundle_content(store)
    document = json.loads(content)
    document["people"][0]["id"] = hostile
    document["sha256"] = checksum(document)
    with pytest.raises(BundleError):
        bundle_from_bytes(json.dumps(document).encode(), "hostile.json", MODEL_ID)
    untouched()


@pytest.mark.parametrize("hostile", HOSTILE_IDS, ids=repr)
def test_a_greetings_file_keyed_by_a_hostile_id_is_refused(tmp_path, hostile):
    path = tmp_path / "greetings.json"
    path.write_text(json.dumps({"people": {hostile: {"name": "X", "messages": ["Hi"]}}}))
    with pytest.raises(ConfigError):
        load_greetings(path)


@pytest.mark.parametrize("hostile", HOSTILE_IDS, ids=repr)
def test_a_door_request_for_a_hostile_id_is_refused_at_both_ends(colin, hostile):
    settings, untouched = colin
    with pytest.raises(GreeterError):
        ask(settings.store.parent, hostile, "X")
    folder = door_folder(settings.store.parent)
    folder.mkdir(mode=0o700, exist_ok=True)
    (folder / "planted.request.json").write_text(json.dumps(
        {"person": hostile, "name": "X", "requested": "2026-12-07T10:00:00+00:00"}))
    assert DoorInbox(settings.store.parent, DoorRules()).take() is None
    assert not list(folder.iterdir()), "the planted request is dropped"
    untouched()
