"""Enrolling at the door, without the robot's loop (tests/test_live.py runs it on the clip):
the request folder as the console and the robot use it, the choice of one face per frame and
of the best frames on real photos, and the console's button and result page."""

import html
import stat
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import cv2
import pytest
from console_helpers import console_settings, enrol_vectors, make_client, signed_in_csrf

from greeter.errors import GreeterError
from greeter.people import enrolment
from greeter.people.door import (
    EXPIRED,
    IDENTITY,
    NOBODY,
    SEVERAL,
    Candidate,
    DoorCollection,
    DoorInbox,
    DoorResult,
    DoorRules,
    ask,
    choose,
    door_folder,
    largest_face,
    pending,
    result_for,
    write_result,
)
from greeter.people.enrolment import BLURRED, TOO_SMALL, TURNED, Enroller, jobs_for_person
from greeter.people.store import Store
from greeter.recognition.faces import FaceEngine, sharpness
from greeter.recognition.imaging import load_rgb
from greeter.recognition.sface import MODEL_ID as SFACE_ID
from greeter.settings import DetectionSettings, EnrolmentSettings

ENROLMENT = EnrolmentSettings()


def test_a_request_goes_through_a_private_folder_and_is_taken_once(tmp_path):
    store = tmp_path / "data" / "greeter.sqlite3"
    ask(store.parent, "alex-m", "Alex Müller")
    folder = door_folder(store.parent)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    request_file = folder / "alex-m.request.json"
    assert stat.S_IMODE(request_file.stat().st_mode) == 0o600
    assert pending(store.parent, "alex-m").name == "Alex Müller"
    inbox = DoorInbox(store.parent, DoorRules())
    taken = inbox.take()
    assert (taken.person, taken.name) == ("alex-m", "Alex Müller")
    assert not request_file.exists() and pending(store.parent, "alex-m") is None
    assert inbox.take() is None


def test_requests_are_taken_oldest_first(tmp_path):
    store = tmp_path / "greeter.sqlite3"
    now = datetime.now(timezone.utc)
    ask(store.parent, "zoe", "Zoë", now=now)
    ask(store.parent, "alex-m", "Alex", now=now - timedelta(seconds=5))
    inbox = DoorInbox(store.parent, DoorRules())
    assert [inbox.take().person, inbox.take().person] == ["alex-m", "zoe"]


def test_a_request_older_than_a_minute_is_answered_expired(tmp_path):
    store = tmp_path / "greeter.sqlite3"
    ask(store.parent, "alex-m", "Alex", now=datetime.now(timezone.utc) - timedelta(seconds=61))
    assert DoorInbox(store.parent, DoorRules()).take() is None
    result = result_for(store.parent, "alex-m")
    assert (result.enrolled, result.reason) == (0, EXPIRED)
    assert "within 60 s" in result.message


def test_bad_ids_and_names_are_refused_by_the_clis_rules(tmp_path):
    with pytest.raises(GreeterError):
        ask(tmp_path, "../etc", "X")
    with pytest.raises(GreeterError):
        ask(tmp_path, "alex-m", "\x1b[31m")
    assert not door_folder(tmp_path).exists()


def test_a_damaged_request_file_is_dropped(tmp_path, caplog):
    store = tmp_path / "greeter.sqlite3"
    ask(store.parent, "alex-m", "Alex")
    (door_folder(store.parent) / "alex-m.request.json").write_text("{not json")
    assert DoorInbox(store.parent, DoorRules()).take() is None
    assert "not a greeter door file" in caplog.text
    assert list(door_folder(store.parent).iterdir()) == []


def test_one_face_per_frame_unless_two_are_about_as_large():
    big, small, similar = (0, 200, 200, 0), (0, 260, 60, 200), (0, 390, 190, 200)
    assert largest_face([], 0.8) == (None, NOBODY)
    assert largest_face([small, big], 0.8) == (big, "")
    assert largest_face([big, similar], 0.8) == (None, SEVERAL)


@pytest.fixture(scope="module")
def obama_chips(samples):
    """Real face chips of obama.jpg: as it is, blurred, and from a tiny copy."""
    engine = FaceEngine()
    rgb = load_rgb(samples / "obama.jpg")
    box = engine.detect(rgb, 0)[0]
    (chip,), _ = engine.chips_and_turns(rgb, [box])
    blurred = cv2.GaussianBlur(chip, (0, 0), 5)
    return engine, box, chip, blurred


def candidate(chip, size, digest, turn=0.0):
    return Candidate(size, sharpness(chip), chip, digest, turn)


def test_the_sharpest_distinct_good_frames_are_chosen(obama_chips):
    _, _, chip, blurred = obama_chips
    frames = [candidate(chip, 150, "a"), candidate(chip, 150, "a"),
              candidate(blurred, 150, "b"), candidate(chip, 30, "c"), candidate(chip, 140, "d")]
    chosen, problem = choose(frames, ENROLMENT, 3)
    assert problem is None and [c.digest for c in chosen] == ["a", "d"]
    assert choose([candidate(blurred, 150, "b")], ENROLMENT, 3) == ([], BLURRED)
    assert choose([candidate(blurred, 150, "b"), candidate(chip, 30, "c")],
                  ENROLMENT, 3) == ([], TOO_SMALL)


def test_a_face_turned_away_at_the_door_is_refused_as_enrolment_refuses_it(obama_chips):
    """The door applies enrolment's head-turn limit too: a profile frame never enrols."""
    _, _, chip, _ = obama_chips
    turned = ENROLMENT.max_turn + 0.05
    assert choose([candidate(chip, 150, "a", turned)], ENROLMENT, 3) == ([], TURNED)
    chosen, problem = choose([candidate(chip, 150, "a", turned), candidate(chip, 150, "b", 0.1)],
                             ENROLMENT, 3)
    assert problem is None and [c.digest for c in chosen] == ["b"]


def collect(engine, store, person, name, rgb, box):
    """The robot's part without its loop: five distinct frames of `rgb` with the face at `box`
    offered to a collection for `person`; its result."""
    ask(store.parent, person, name)
    request = DoorInbox(store.parent, DoorRules()).take()
    with ThreadPoolExecutor(1) as worker:
        collection = DoorCollection(request, DoorRules(seconds=3.0), ENROLMENT,
                                    lambda: Store(store), store.parent, worker,
                                    engine)
        for index in range(5):
            assert not collection.due(index * 0.5)
            frame = rgb.copy()
            frame[0, 0] = index  # five distinct frames
            collection.offer(frame, [box])
        assert collection.due(3.0)
        return collection.finish().result()


def test_a_collection_enrols_through_the_store_and_answers(obama_chips, samples, tmp_path):
    """Real frames of obama.jpg offered to a collection."""
    engine, box, _, _ = obama_chips
    store = tmp_path / "greeter.sqlite3"
    result = collect(engine, store, "obama", "Barack Obama", load_rgb(samples / "obama.jpg"), box)
    assert (result.enrolled, result.reason) == (3, None)
    assert result_for(store.parent, "obama") == result
    with Store(store) as enrolled:
        photos = enrolled.photos("obama")
        assert enrolled.person("obama").name == "Barack Obama"
        assert enrolled.model_counts() == {enrolled.model_id: 3, SFACE_ID: 3}, \
            "each frame embedded by both models, as a photo is"
    assert not enrolment._more_models, \
        "the robot holds SFace (102 MB) only while it enrols"
    assert len(photos) == 3 and len({p.photo_sha256 for p in photos}) == 3


def test_a_face_turned_away_is_answered_turned_away(obama_chips, lfw, tmp_path):
    """Bill_Simon_0006 looks aside (head turn 0.59): the staff hear why, not "failed"."""
    engine = obama_chips[0]
    rgb = load_rgb(lfw / "people/Bill_Simon/Bill_Simon_0006.jpg")
    result = collect(engine, tmp_path / "greeter.sqlite3", "bill", "Bill Simon", rgb,
                     engine.detect(rgb, 1)[0])
    assert (result.enrolled, result.reason) == (0, TURNED)
    assert result.message.startswith("the face was turned away (head turn at best 0.5")


def test_a_face_enrolled_under_another_id_is_not_enrolled_again(obama_chips, samples,
                                                                tmp_path):
    """Obama enrolled as "barack" from obama.jpg, then at the door as "obama": refused, as
    ``greeter enroll`` refuses it, and nothing is stored for "obama"."""
    engine, box, _, _ = obama_chips
    store = tmp_path / "greeter.sqlite3"
    with Store(store) as staff:
        outcomes = Enroller(staff, DetectionSettings(), ENROLMENT, engine=engine).run(
            jobs_for_person("barack", "Barack Obama", [samples / "obama.jpg"]))
        assert staff.model_counts()[SFACE_ID] == 1
    assert [outcome.status for outcome in outcomes] == ["enrolled"]
    assert not enrolment._more_models, \
        "a server (the console) holds SFace only while it enrols"
    result = collect(engine, store, "obama", "Barack Obama", load_rgb(samples / "obama.jpg"), box)
    assert (result.enrolled, result.reason) == (0, IDENTITY)
    assert result.message.startswith("the face looks like barack, already enrolled (distance 0.0")
    with Store(store) as enrolled:
        assert enrolled.person("obama") is None and len(enrolled.photos("barack")) == 1


# -- the console ------------------------------------------------------------------------------


@pytest.fixture
def console(tmp_path):
    settings = console_settings(tmp_path)
    enrol_vectors(settings.store, "alex-m", "Alex Müller")
    client = make_client(tmp_path)
    return client, signed_in_csrf(client), settings


def test_the_door_button_asks_the_robot_and_the_page_waits(console):
    client, csrf, settings = console
    assert 'action="/door"' in client.get("/people/alex-m").text
    assert 'action="/door"' in client.get("/enrol").text
    response = client.post("/door", data={"csrf": csrf, "person_id": "alex-m", "name": ""})
    assert response.status_code == 303 and response.headers["location"] == "/door/alex-m"
    assert pending(settings.store.parent, "alex-m").name == "Alex Müller"  # the enrolled name
    page = client.get("/door/alex-m").text
    assert "Waiting for the robot" in page and 'http-equiv="refresh"' in page
    assert "does not seem to be running" in page
    client.post("/door", data={"csrf": csrf, "person_id": "new-guest", "name": "Nia Guest"})
    assert pending(settings.store.parent, "new-guest").name == "Nia Guest"


def test_the_door_page_shows_the_robots_answer(console):
    client, csrf, settings = console
    client.post("/door", data={"csrf": csrf, "person_id": "alex-m", "name": ""})
    request = DoorInbox(settings.store.parent, DoorRules()).take()
    now = datetime.now(timezone.utc)
    write_result(settings.store.parent, DoorResult(
        person="alex-m", name="Alex Müller", requested=request.requested, finished=now,
        enrolled=3, message="enrolled 3 frames from the robot's camera (face 90, 88, 91 px)"))
    page = html.unescape(client.get("/door/alex-m").text)
    assert "enrolled 3 frames from the robot's camera" in page
    assert 'http-equiv="refresh"' not in page
    write_result(settings.store.parent, DoorResult(
        person="alex-m", name="Alex Müller", requested=request.requested, finished=now,
        enrolled=0, reason=NOBODY, message="nobody was in front of the camera for 3 s"))
    page = html.unescape(client.get("/door/alex-m").text)
    assert "nothing enrolled: nobody was in front of the camera for 3 s" in page


def test_the_door_form_needs_its_csrf_token_and_a_valid_id(console):
    client, csrf, settings = console
    assert client.post("/door", data={"person_id": "alex-m"}).status_code == 403
    assert client.post("/door", data={"csrf": csrf, "person_id": "Bad Id"}).status_code == 400
    assert pending(settings.store.parent, "alex-m") is None


def test_erasing_a_person_deletes_their_door_request_and_result(console, tmp_path):
    """Door files hold the person's name: erasure (CLI, console page, API) takes them too."""
    from conftest import cli_runner

    from greeter.cli import main

    client, csrf, settings = console
    enrol_vectors(settings.store, "zoe", "Zoë Example", seed=2)
    ask(settings.store.parent, "alex-m", "Alex Müller")
    write_result(settings.store.parent, DoorResult(
        person="zoe", name="Zoë Example", requested=datetime.now(timezone.utc),
        finished=datetime.now(timezone.utc), enrolled=0, reason=NOBODY, message="nobody"))

    removed = cli_runner().invoke(main, ["--store", str(settings.store), "--greetings",
                                         str(settings.greetings), "people", "remove", "--yes",
                                         "alex-m"])
    assert removed.exit_code == 0, removed.output
    assert pending(settings.store.parent, "alex-m") is None
    assert client.post("/people/zoe/remove", data={"csrf": csrf}).status_code == 303
    assert result_for(settings.store.parent, "zoe") is None
    assert list(door_folder(settings.store.parent).iterdir()) == []
