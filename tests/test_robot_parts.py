"""The robot's small parts, each used as the robot uses it, on real files and no patching: the
file-change check, the gallery's hot reload (a real SQLite store), the screen's pictures and
the door desk (a real request folder). No camera, screen or dlib models needed."""

import json
import logging
import os
import time

import numpy as np
import pytest

from greeter.filechange import FileWatch, file_state, same_file
from greeter.greetings.render import language_of
from greeter.greetings.schema import Greetings, PersonGreeting
from greeter.live.camera import Frame
from greeter.live.door_desk import DoorDesk
from greeter.live.gallery_reload import GalleryReload
from greeter.live.outputs import EventsFile, GreetingEvent, Outputs
from greeter.live.pictures import ScreenPictures
from greeter.people.door import DoorRules, ask, result_for
from greeter.people.store import Store
from greeter.recognition.faces import FaceEngine
from greeter.screen.display import ShownGreeting
from greeter.settings import EnrolmentSettings, MatchingSettings, UiSettings


def vector(seed: int) -> np.ndarray:
    unit = np.random.default_rng(seed).normal(size=128)
    return (unit / np.linalg.norm(unit) * 0.6).astype(np.float32)


def enrol(path, person_id: str, seed: int) -> None:
    with Store(path) as store:
        store.add_embedding(person_id, None, vector(seed), f"sha-{seed}", f"{seed}.jpg", 120, 80.0)


# -- has this file changed? ---------------------------------------------------------------


def test_a_file_watch_sees_an_edit_a_replacement_a_chmod_and_a_removal_once_each(tmp_path):
    path = tmp_path / "greetings.json"
    path.write_text("{}")
    watch = FileWatch(path)
    assert not watch.changed()
    with open(path, "a") as file:  # an edit in place
        file.write(" ")
    assert watch.changed() and not watch.changed()
    replacement = tmp_path / "new.json"
    replacement.write_text("{} ")  # same size, another inode: an atomic replacement
    os.replace(replacement, path)
    assert watch.changed() and not watch.changed()
    os.chmod(path, 0o600)
    assert watch.changed()
    path.unlink()
    assert watch.changed() and not watch.changed()
    path.write_text("{}")
    assert watch.changed()


def test_file_state_is_none_for_nothing_there_and_same_file_follows_the_inode(tmp_path):
    path = tmp_path / "store.sqlite3"
    assert file_state(path) is None
    assert file_state(tmp_path / "not-a-folder" / "x") is None
    path.write_bytes(b"a")
    before = file_state(path)
    path.write_bytes(b"ab")  # the same file, changed
    assert same_file(before, file_state(path)) and before != file_state(path)
    other = tmp_path / "other"
    other.write_bytes(b"a")
    os.replace(other, path)
    assert not same_file(before, file_state(path))
    assert not same_file(before, None) and same_file(None, None)


# -- the gallery's hot reload -------------------------------------------------------------


def gallery(path) -> GalleryReload:
    return GalleryReload(path, FaceEngine(), MatchingSettings())


def test_the_gallery_follows_the_store_as_it_appears_and_changes(tmp_path):
    path = tmp_path / "greeter.sqlite3"
    people = gallery(path)
    assert people.recogniser.names == {} and not people.read
    enrol(path, "alex-m", 1)
    people.poll()
    assert list(people.recogniser.names) == ["alex-m"] and people.read
    enrol(path, "zoe", 2)
    people.poll()
    assert sorted(people.recogniser.names) == ["alex-m", "zoe"]
    with Store(path) as store:
        store.remove("alex-m")
    people.poll()
    assert list(people.recogniser.names) == ["zoe"]
    people.close()


def test_a_damaged_store_makes_everybody_a_stranger_logged_once_until_it_is_fixed(tmp_path,
                                                                                   caplog):
    path = tmp_path / "greeter.sqlite3"
    enrol(path, "alex-m", 1)
    good = path.read_bytes()
    people = gallery(path)
    assert list(people.recogniser.names) == ["alex-m"]
    with caplog.at_level(logging.ERROR, logger="greeter.live.gallery_reload"):
        path.write_bytes(b"this is not a database" * 100)
        for _ in range(3):
            people.poll()
    assert people.recogniser.names == {} and people.problem and not people.read
    assert len(caplog.records) == 1, "one problem, logged once"
    assert "everybody is greeted as a stranger" in caplog.records[0].getMessage()
    path.write_bytes(good)
    people.poll()
    assert list(people.recogniser.names) == ["alex-m"] and people.problem is None
    people.close()


def test_a_person_erased_from_the_store_is_forgotten_by_the_outputs(tmp_path):
    path, events = tmp_path / "greeter.sqlite3", tmp_path / "events.jsonl"
    enrol(path, "alex-m", 1)
    enrol(path, "zoe", 2)
    people = gallery(path)
    outputs = Outputs([EventsFile(events)])
    frame = Frame(np.zeros((8, 8, 3), np.uint8), 0, 0.0)
    for index, person in enumerate(["alex-m", "zoe", None]):
        outputs.greeted(GreetingEvent(t=index, frame=index, person=person, name=person,
                                      message="Hi", distance=0.3, language="en"), frame)
    people.forget_erased(outputs)  # at the start: both still enrolled, nothing erased
    assert len(events.read_text().splitlines()) == 3
    with Store(path) as store:
        store.remove("alex-m")
    people.poll()
    people.forget_erased(outputs)
    assert [json.loads(line)["person"] for line in events.read_text().splitlines()] == [
        "zoe", None]
    outputs.close()
    people.close()


# -- the screen's pictures ----------------------------------------------------------------


def test_the_pictures_shrink_each_frame_once_to_the_inset_width():
    pictures = ScreenPictures(UiSettings(camera_inset_width=0.25), screen_width=800)
    frame = Frame(np.full((480, 640, 3), 90, np.uint8), 0, 0.0)
    inset = pictures.inset(frame)
    assert inset.shape == (150, 200, 3)
    assert pictures.inset(frame) is inset, "shrunk once per frame"
    assert pictures.inset(Frame(frame.rgb.copy(), 1, 0.1)) is not inset


def test_a_greeting_is_shown_for_its_seconds_and_the_door_prompt_beside_it():
    ui = UiSettings(greeting_seconds=4.0)
    pictures = ScreenPictures(ui, screen_width=800)
    content = Greetings().screen
    pictures.show("Welcome back, Alex!", "Alex", 10.0)
    assert pictures.showing(13.9) and not pictures.showing(14.0)
    scene = pictures.scene(content, "greetings.json", 11.0, None)
    assert [(g.text, g.age, g.emphasis) for g in scene.greetings] == [
        ("Welcome back, Alex!", 1.0, "Alex")]
    assert scene.camera is None and scene.title == content.title
    scene = pictures.scene(content, "greetings.json", 14.5, None,
                           ShownGreeting("Look at the camera, Bo", 0.5, "Bo"))
    assert [g.text for g in scene.greetings] == ["Look at the camera, Bo"]


def test_a_greeting_in_doubt_gives_way_to_the_arriving_message_until_settled():
    """The next guest on the spot with no gap: the greeted track's newest embedding looked
    like somebody else's. Until the next one decides, the stage says "Welcome!"."""
    pictures = ScreenPictures(UiSettings(), screen_width=800)
    content = Greetings().screen

    def texts(now):
        return [g.text for g in pictures.scene(content, "greetings.json", now, None).greetings]

    pictures.show("Welcome back, Alex!", "Alex", 10.0, track_id=1)
    pictures.follow([(1, True, 9.5, False)], 11.0)
    assert texts(11.0) == ["Welcome back, Alex!"]
    pictures.follow([(1, True, 9.5, True)], 11.1)  # in doubt
    assert texts(11.1) == [content.arriving_message]
    pictures.follow([(1, True, 9.5, False)], 11.2)  # it was Alex after all
    assert texts(11.2) == ["Welcome back, Alex!"]
    pictures.follow([(1, True, 9.5, True)], 11.3)
    pictures.follow([(2, False, 11.4, False)], 11.4)  # it was somebody else: a new track
    assert texts(11.4) == [content.arriving_message]


def test_a_screenshot_shows_only_the_newest_greeting_and_hides_all_but_the_kept_face():
    ui = UiSettings()
    pictures = ScreenPictures(ui, screen_width=800)
    rgb = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    pictures.show("Welcome Stranger!", "", 1.0)
    pictures.show("Welcome back, Alex!", "Alex", 2.0)
    scene = pictures.screenshot(Greetings().screen, "greetings.json", 2.0,
                                Frame(rgb, 20, 2.0), keep=[(60, 200, 160, 100)])
    assert [g.text for g in scene.greetings] == ["Welcome back, Alex!"]
    assert scene.greetings[0].age == ui.fade_in_seconds
    assert np.array_equal(scene.camera[60:160, 100:200], rgb[60:160, 100:200])
    assert not np.array_equal(scene.camera[:40, :80], rgb[:40, :80]), "the rest is pixelated"


def test_a_person_is_greeted_in_their_own_language_else_the_files():
    greetings = Greetings(language="en", people={
        "juergen": PersonGreeting(name="Jürgen Weiß", messages=["Hallo!"], language="de")})
    assert language_of(greetings, "juergen") == "de"
    assert language_of(greetings, "alex-m") == "en"
    assert language_of(greetings, None) == "en"


# -- the door desk ------------------------------------------------------------------------


def test_the_door_desk_serves_a_request_and_answers_nobody_in_view(tmp_path):
    store = tmp_path / "greeter.sqlite3"
    Store(store).close()
    desk = DoorDesk(lambda: Store(store), store.parent, DoorRules(seconds=2.0), EnrolmentSettings())
    desk.take_request()
    assert not desk.collecting and desk.prompt(0.0) is None
    ask(store.parent, "bo", "Bo Example")
    desk.take_request()
    assert desk.collecting
    desk.frame_drawn(100.0)  # the first frame starts the request's time
    prompt = desk.prompt(101.0)
    assert (prompt.text, prompt.age, prompt.emphasis) == ("Look at the camera, Bo Example",
                                                          1.0, "Bo Example")
    desk.frame_drawn(102.0)
    assert not desk.collecting
    deadline = time.monotonic() + 30
    thanked = "not yet"
    while time.monotonic() < deadline:
        thanked = desk.step()
        if result_for(store.parent, "bo") is not None:
            break
        time.sleep(0.05)
    assert desk.close() is None and thanked is None, "nobody enrolled: nobody thanked"
    result = result_for(store.parent, "bo")
    assert (result.enrolled, result.reason) == (0, "nobody in view")


@pytest.mark.parametrize("ask_twice", [False, True])
def test_the_door_desk_takes_one_request_at_a_time(tmp_path, ask_twice):
    store = tmp_path / "greeter.sqlite3"
    Store(store).close()
    desk = DoorDesk(lambda: Store(store), store.parent, DoorRules(), EnrolmentSettings())
    ask(store.parent, "bo", "Bo Example")
    if ask_twice:
        ask(store.parent, "zoe", "Zoë Example")
    desk.take_request()
    desk.take_request()
    assert desk.collection.request.person == "bo"
    desk.close()
