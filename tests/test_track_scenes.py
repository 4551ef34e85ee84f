"""The live track rule on a small rendered scene (tests/scenes.py): guests shown with photos
other than their enrolled one, switching photo every 0.3 s as frames of a real camera differ,
are greeted by name; strangers (one photo, or a person not enrolled with several) are not.

The real command line runs: ``greeter run --source VIDEO --headless --events-out FILE``.
`benchmarks/scene_passes.py` measures the same on hundreds of passes.
"""

import json
import shutil
from pathlib import Path
from typing import List

import pytest
from conftest import cli_runner
from scenes import (
    Scene,
    Walker,
    person_id,
    photo_embedding,
    pick_people,
    pick_strangers,
    render_scene,
)

from greeter.cli import main

pytestmark = pytest.mark.slow

SEED = 11
PASS = 2.2
GAP = 0.8


def other_photos(folder: Path, *taken: Path) -> List[Path]:
    """The person's photos with one face, but the ones already `taken`, at most two."""
    return [photo for photo in sorted(folder.glob("*.jpg"))
            if photo not in taken and photo_embedding(photo) is not None][:2]


@pytest.fixture(scope="module")
def played(lfw, tmp_path_factory):
    cast = pick_people(lfw, 8, seed=SEED)
    several = [person for person in cast if other_photos(
        person.enrol_photo.parent, person.enrol_photo, person.walk_photo)]
    guest_a, guest_b, outsider = several[:3]
    inbox = tmp_path_factory.mktemp("inbox")
    for person in (guest_a, guest_b):  # `outsider` walks past but is not enrolled
        (inbox / person.person).mkdir()
        shutil.copy(person.enrol_photo, inbox / person.person / person.enrol_photo.name)
    folder = tmp_path_factory.mktemp("run")
    store = folder / "greeter.sqlite3"
    enrolled = cli_runner().invoke(main, ["--store", str(store), "enroll", str(inbox)],
                                   env={"GREETER_ENROLMENT__MIN_FACE_SIZE": "40"})
    assert enrolled.exit_code == 0, enrolled.output

    def walk(number, photo, person, more=()):
        enter = number * (PASS + GAP) + 0.2
        return Walker(photo, person, enter, enter + PASS, (80, 200), (560, 215), face_px=120,
                      more_photos=more)

    stranger = pick_strangers(lfw, 1, seed=SEED, avoid=cast)[0]
    walkers = [
        walk(0, guest_a.walk_photo, guest_a.person,
             other_photos(guest_a.enrol_photo.parent, guest_a.enrol_photo, guest_a.walk_photo)),
        walk(1, stranger, None),
        walk(2, guest_b.walk_photo, guest_b.person,
             other_photos(guest_b.enrol_photo.parent, guest_b.enrol_photo, guest_b.walk_photo)),
        walk(3, outsider.walk_photo, None, [outsider.enrol_photo]),
    ]
    truth = render_scene(Scene(walkers, fps=15.0, seed=SEED), folder / "passes.mp4")
    events = folder / "events.jsonl"
    result = cli_runner().invoke(
        main, ["--store", str(store), "run", "--source", str(truth.path), "--headless",
               "--events-out", str(events)],
        env={"GREETER_THROTTLE__PRESSURE_BELOW": "0.02",
             "GREETER_THROTTLE__CRITICAL_BELOW": "0.01"})
    assert result.exit_code == 0, result.output
    greetings = [json.loads(line) for line in events.read_text().splitlines()]
    return walkers, greetings


def during(walker: Walker, greetings):
    return [g for g in greetings if walker.enter <= g["t"] <= walker.leave + 0.5]


def test_guests_shown_with_other_photos_are_greeted_by_name(played):
    walkers, greetings = played
    for guest in (walkers[0], walkers[2]):
        assert len(guest.photos) >= 2  # the scene shows differing frames
        names = [g["person"] for g in during(guest, greetings)]
        assert names == [guest.person], greetings


def test_strangers_are_greeted_as_strangers_and_never_named(played):
    walkers, greetings = played
    for stranger in (walkers[1], walkers[3]):
        assert [g["person"] for g in during(stranger, greetings)] == [None], greetings
    assert person_id(walkers[3].photo.parent.name) not in {g["person"] for g in greetings}
