"""Several robots, one guest list: the store on a real PostgreSQL server (tests/postgres.py),
what its notifications carry, erasure on the server, the fleet-wide rules, and a robot's
snapshot following the server through an outage (`greeter.live.shared_gallery`)."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import psycopg
import pytest
from conftest import REPO, cli_runner
from postgres import ThrowawayServer, require_server_programs

from greeter.cli import main
from greeter.console.auth import Credentials
from greeter.greetings.edit import update_greetings, with_greeting
from greeter.greetings.read import load_greetings
from greeter.live.shared_gallery import SNAPSHOT_NAME, SharedGallery
from greeter.people.door import (
    REQUEST,
    RESULT,
    DoorFolder,
    DoorInbox,
    DoorResult,
    DoorRules,
    ask,
    pending,
    result_for,
    write_result,
)
from greeter.people.erasure import erase_person
from greeter.people.server_store import _WRITE_LOCK, listening
from greeter.people.store import Store, StoreUnavailable, open_store
from greeter.recognition.faces import FaceEngine
from greeter.recognition.matching import MatchPolicy
from greeter.settings import MatchingSettings, ServerAddress


def vector(seed):
    return np.random.default_rng(seed).normal(size=128).astype(np.float32)


def add(store, person_id, seed, name=None):
    store.add_embedding(person_id, name, vector(seed), f"sha-{seed}", f"{seed}.jpg", 120, 80.0)


def wait_for(condition, seconds=10.0, step=0.05):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True


def at_once(address, commands):
    """Run each (command, environment) of `commands` as a `greeter` process while this test
    holds the fleet's write lock, until all of them wait at it; then let them go, so that
    their changes meet for certain. Returns their outputs and exit statuses."""
    with psycopg.connect(str(address), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (_WRITE_LOCK,))
        processes = [subprocess.Popen([sys.executable, "-m", "greeter", *command], env=env,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                      text=True) for command, env in commands]
        waiting = lambda: holder.execute(  # noqa: E731
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ).fetchone()[0] == len(commands)
        assert wait_for(waiting, seconds=120), [process.communicate() for process in processes]
        holder.execute("SELECT pg_advisory_unlock(%s)", (_WRITE_LOCK,))
        outputs = [process.communicate(timeout=120)[0] for process in processes]
    return outputs, [process.returncode for process in processes]


def test_every_change_to_a_person_notifies_their_id_at_commit(server_address, tmp_path):
    with open_store(server_address, tmp_path) as store, listening(server_address) as listener:
        add(store, "alex", 1)
        add(store, "alex", 2)
        store.rename("alex", "Alexandra")
        add(store, "zoe", 3)
        store.remove("alex")
        heard = [notice.payload for notice in listener.notifies(timeout=1.0)]
    # each commit delivers its ids once (PostgreSQL folds a transaction's duplicates)
    assert heard == ["alex", "alex", "alex", "zoe", "alex"]


def test_an_erased_persons_rows_are_not_left_in_the_servers_table_files(
        postgres, server_address, tmp_path):
    secret = vector(42)
    with open_store(server_address, tmp_path) as store:
        store.add_embedding("alex", None, secret, "sha-secret", "a.jpg", 100, 50.0)
        add(store, "zoe", 1)
        store.remove("alex")
    database = server_address.database
    postgres.sql("CHECKPOINT", database)  # the tables' pages, as they are now, on disk
    files = postgres.sql("SELECT pg_relation_filepath(c) FROM unnest(ARRAY['people', "
                         "'embeddings']::regclass[]) c", database).split()
    raw = b"".join((postgres.data / path).read_bytes() for path in files)
    assert vector(1).tobytes() in raw, "the check reads the right files"
    assert secret.tobytes() not in raw and b"sha-secret" not in raw


def test_the_servers_refusals_name_the_problem_and_the_fix(postgres, tmp_path):
    wrong = tmp_path / "pgpass"
    wrong.write_text(f"127.0.0.1:{postgres.port}:*:greeter:not-the-password\n")
    wrong.chmod(0o600)
    url = postgres.url().replace(str(postgres.passfile), str(wrong))
    with pytest.raises(StoreUnavailable, match="refused user greeter.*passfile="):
        open_store(ServerAddress.parse(url), tmp_path)
    missing = ServerAddress.parse(postgres.url("no_such_db"))
    with pytest.raises(StoreUnavailable, match="has no database no_such_db.*createdb -O greeter"):
        open_store(missing, tmp_path)


def test_two_desks_enrolling_one_face_under_two_ids_at_once_enrol_it_once(
        postgres, server_address, samples, tmp_path):
    """Two `greeter enroll` processes, another photo of the same face each, under two ids,
    held at the fleet's write lock until both are waiting there: whichever goes second sees
    the first's photo, and is refused."""
    env = dict(os.environ, GREETER_STORE=server_address, GREETER_LOCAL=str(tmp_path),
               PYTHONPATH=str(REPO))
    open_store(server_address, tmp_path).close()  # the tables, before anybody waits
    outputs, _ = at_once(server_address, [
        (["enroll", "--person", person, str(samples / photo)], env)
        for person, photo in (("obama", "obama.jpg"), ("barack", "obama2.jpg"))])
    with open_store(server_address, tmp_path) as store:
        enrolled = [person.id for person in store.people()]
    assert len(enrolled) == 1, outputs
    refused = outputs[1] if enrolled == ["obama"] else outputs[0]
    assert f"looks like {enrolled[0]}, already enrolled" in refused


def test_a_robot_follows_the_server_and_greets_on_through_an_outage(tmp_path):
    server = ThrowawayServer(require_server_programs())
    try:
        address = ServerAddress.parse(server.url())
        robot = SharedGallery(address, tmp_path / "robot", FaceEngine(), MatchingSettings())
        try:
            assert robot.caught_up.wait(10) and robot.store_problem is None
            with open_store(address, tmp_path / "desk") as desk:
                add(desk, "alex", 1, "Alex")
                add(desk, "zoe", 2, "Zoë")
            assert wait_for(lambda: robot.poll() or "zoe" in robot.recogniser.names, 2.0), \
                "a change reaches the matcher within 2 s"
            np.testing.assert_array_equal(robot.recogniser.gallery.matrix, [vector(1), vector(2)])

            server.stop()
            assert wait_for(lambda: robot.store_problem is not None, 5.0)
            assert "cannot reach the store's server" in robot.store_problem
            robot.poll()
            assert set(robot.recogniser.names) == {"alex", "zoe"}, "greets on from the snapshot"

            server.start()  # back: an erasure and an enrolment made before it reconnects
            with open_store(address, tmp_path / "desk") as desk:
                desk.remove("alex")
                add(desk, "bo", 3, "Bo")
            assert wait_for(lambda: robot.poll() or (
                robot.store_problem is None and set(robot.recogniser.names) == {"zoe", "bo"}),
                10.0), (robot.store_problem, robot.recogniser.names)
            assert [p.id for p in robot.snapshot.people()] == ["bo", "zoe"]
        finally:
            robot.close()
    finally:
        server.close()


def test_a_robot_started_after_an_erasure_forgets_the_person_at_once(
        server_address, tmp_path):
    """The snapshot holds somebody erased while the robot was off: gone after its catch-up,
    and from the snapshot file's pages too."""
    with open_store(server_address, tmp_path / "desk") as desk:
        add(desk, "alex", 1)
        add(desk, "zoe", 2)
    first = SharedGallery(server_address, tmp_path / "robot", FaceEngine(), MatchingSettings())
    assert first.caught_up.wait(10)
    first.close()
    with open_store(server_address, tmp_path / "desk") as desk:
        desk.remove("alex")
    with Store(tmp_path / "robot" / SNAPSHOT_NAME) as snapshot:
        assert [p.id for p in snapshot.people()] == ["alex", "zoe"]
    again = SharedGallery(server_address, tmp_path / "robot", FaceEngine(), MatchingSettings())
    try:
        assert "alex" in again.recogniser.names, "the snapshot at once, before the server"
        assert again.caught_up.wait(10)
        again.poll()
        assert set(again.recogniser.names) == {"zoe"}
    finally:
        again.close()
    raw = b"".join(path.read_bytes() for path in (tmp_path / "robot").iterdir()
                   if path.is_file())
    assert vector(1).tobytes() not in raw and vector(2).tobytes() in raw
    assert oct((tmp_path / "robot" / SNAPSHOT_NAME).stat().st_mode & 0o777) == "0o600"



def test_store_copy_moves_an_event_onto_a_server_and_back(server_address, samples, tmp_path):
    """`greeter enroll` into a file, `greeter store copy` onto the server and back into a new
    file: the same people, embeddings of every model and calibration; a second copy onto
    the server (no longer empty) is refused and changes nothing."""
    first = tmp_path / "event" / "greeter.sqlite3"
    enrolled = cli_runner().invoke(main, ["--store", str(first), "enroll", "--person", "obama",
                                          str(samples / "obama.jpg")])
    assert enrolled.exit_code == 0, enrolled.output + enrolled.stderr
    with Store(first) as store:
        add(store, "zoe", 7, "Zoë")
        store.save_calibration(MatchPolicy(0.41, 0.9), MatchPolicy(0.5, 0.88))
        original = store.export_people()

    onto = cli_runner().invoke(main, ["store", "copy", str(first), server_address])
    assert onto.exit_code == 0, onto.output + onto.stderr
    assert onto.output.startswith("copied 2 people and 2 photos (")
    checksum = onto.output.split("sha256 ")[1].strip(" )\n")
    back_path = tmp_path / "after" / "greeter.sqlite3"
    back = cli_runner().invoke(main, ["store", "copy", server_address, str(back_path)])
    assert back.exit_code == 0, back.output + back.stderr
    assert checksum in back.output

    with Store(back_path) as copied:
        again = copied.export_people()
        assert copied.calibration() == MatchPolicy(0.41, 0.9)
        assert copied.track_calibration() == MatchPolicy(0.5, 0.88)
    assert [(p.id, p.name, p.created) for p in again] == [
        (p.id, p.name, p.created) for p in original]
    for before, after in zip(original, again):
        for photo, copy in zip(before.embeddings, after.embeddings):
            np.testing.assert_array_equal(photo.vector, copy.vector)
            assert photo.more.keys() == copy.more.keys()
    assert oct(back_path.stat().st_mode & 0o777) == "0o600"

    twice = cli_runner().invoke(main, ["store", "copy", str(first), server_address])
    assert twice.exit_code == 1
    assert "already holds 2 people: copy into an empty store" in twice.stderr


def test_doctor_reaches_the_server_and_says_what_is_wrong(postgres, server_address, tmp_path):
    def doctor(address):
        result = cli_runner().invoke(main, ["doctor", "--no-camera", "--headless"],
                                     env={"GREETER_STORE": address,
                                          "GREETER_LOCAL": str(tmp_path / "robot")})
        return {line[6:].split(":")[0]: line for line in result.output.splitlines()
                if line[:6].strip() in ("OK", "WARN", "FAIL", "INFO")}

    found = doctor(server_address)
    assert found["server"].startswith(
        f"OK    server: 127.0.0.1:{postgres.port}/{server_address.database}: PostgreSQL ")
    assert "not encrypted" in found["server"]  # on loopback: no warning
    assert found["store"].startswith("WARN  store: ") and "nobody enrolled yet" in found["store"]

    loose = tmp_path / "pgpass"
    loose.write_text(postgres.passfile.read_text())
    loose.chmod(0o640)
    found = doctor(server_address.replace(str(postgres.passfile), str(loose)))
    assert found["server"] == (f"FAIL  server: {loose}: readable by others, so libpq ignores "
                               f"it (and anybody could read the password); fix: `chmod 600 "
                               f"{loose}`")

    found = doctor(f"postgresql://greeter@127.0.0.1:1/{server_address.database}")
    assert found["server"].startswith("FAIL  server: cannot reach the store's server "
                                      "127.0.0.1:1 (")
    assert "`nc -vz 127.0.0.1 1`" in found["server"]
    assert found["store"] == "INFO  store: not checked: the server cannot be used"


def test_two_admins_on_two_machines_edit_the_greetings_at_once_and_lose_nothing(
        server_address, tmp_path):
    """`greeter greetings set` on two machines (each its own greetings file), held at the
    fleet's write lock until both wait there: both changes are kept, on the server and, once
    read, in either machine's file."""
    open_store(server_address, tmp_path).close()
    machines = {name: dict(os.environ, GREETER_STORE=server_address, PYTHONPATH=str(REPO),
                           GREETER_LOCAL=str(tmp_path / name),
                           GREETER_GREETINGS=str(tmp_path / name / "greetings.json"))
                for name in ("desk", "door")}
    outputs, statuses = at_once(server_address, [
        (["greetings", "set", person, "--message", message], machines[machine])
        for machine, person, message in (("desk", "alex-m", "Hi Alex!"),
                                         ("door", "zoe", "Hello Zoë!"))])
    assert statuses == [0, 0], outputs
    listed = subprocess.run([sys.executable, "-m", "greeter", "greetings", "list", "--json"],
                            env=machines["desk"], capture_output=True, text=True, check=True)
    assert [(entry["id"], entry["messages"]) for entry in json.loads(listed.stdout)] == [
        ("alex-m", ["Hi Alex!"]), ("zoe", ["Hello Zoë!"])]
    assert set(load_greetings(tmp_path / "desk" / "greetings.json").people) == {"alex-m", "zoe"}


def test_a_robot_follows_greetings_edited_on_another_machine(server_address, tmp_path):
    robot_file = tmp_path / "robot" / "greetings.json"
    robot = SharedGallery(server_address, tmp_path / "robot", FaceEngine(), MatchingSettings(),
                          greetings_path=robot_file)
    try:
        assert robot.caught_up.wait(10)
        assert not robot_file.exists(), "nothing edited on the server yet: the file stands"
        with open_store(server_address, tmp_path / "desk") as desk:
            update_greetings(tmp_path / "desk" / "greetings.json", lambda greetings:
                             with_greeting(greetings, "alex-m", ["Welcome back, Alex!"]),
                             desk.greetings_home())
        assert wait_for(lambda: robot_file.exists() and "alex-m" in load_greetings(
            robot_file).people, 2.0), "a greeting reaches the robot's file within 2 s"
        assert oct(robot_file.stat().st_mode & 0o777) == "0o600"
    finally:
        robot.close()


def test_a_door_request_reaches_the_chosen_robot_only_and_its_answer_comes_back(
        server_address, tmp_path):
    """A console asks robot north (through the server) to enrol Alex at its door: north's
    follower moves the request into its door folder, where its loop takes requests, and its
    answer back to the server; robot south never sees it. Erasing Alex deletes what is left
    for every robot."""
    with open_store(server_address, tmp_path / "console") as console:
        robots = {name: SharedGallery(server_address, tmp_path / name, FaceEngine(),
                                      MatchingSettings(), robot_name=name)
                  for name in ("north", "south")}
        try:
            assert all(robot.caught_up.wait(10) for robot in robots.values())
            ask(console.door("north"), "alex-m", "Alex Müller")
            ask(console.door("south"), "zoe", "Zoë")
            assert wait_for(lambda: DoorFolder(tmp_path / "north").get(
                "alex-m", REQUEST) is not None, 3.0), "relayed within a second or two"
            request = DoorInbox(tmp_path / "north", DoorRules()).take()
            assert (request.person, request.name) == ("alex-m", "Alex Müller")
            assert DoorFolder(tmp_path / "south").get("alex-m", REQUEST) is None
            assert pending(console.door("north"), "alex-m") is None, "taken off the server"

            write_result(tmp_path / "north", DoorResult(
                person="alex-m", name="Alex Müller", requested=request.requested,
                finished=request.requested, enrolled=3, message="enrolled 3 frames"))
            assert wait_for(lambda: result_for(console.door("north"), "alex-m") is not None,
                            3.0)
            assert result_for(console.door("north"), "alex-m").enrolled == 3
            assert DoorFolder(tmp_path / "north").get("alex-m", RESULT) is None
            assert wait_for(lambda: DoorFolder(tmp_path / "south").get(
                "zoe", REQUEST) is not None, 3.0)
        finally:
            for robot in robots.values():
                robot.close()
        add(console, "zoe", 5, "Zoë")
        ask(console.door("south"), "zoe", "Zoë")  # south is off: it waits on the server
        assert erase_person(console, tmp_path / "greetings.json", "zoe").door_files == 1
        assert pending(console.door("south"), "zoe") is None


def test_one_password_and_one_token_for_every_console_of_a_shared_store(
        server_address, tmp_path):
    """Set on one machine, the console's password and a token are the server's: another
    machine's console accepts them, and a token revoked anywhere stops everywhere."""
    machines = {name: {"GREETER_STORE": server_address, "GREETER_LOCAL": str(tmp_path / name)}
                for name in ("desk", "door")}
    runner = cli_runner()
    assert runner.invoke(main, ["console", "set-password"], input="correct horse battery\n" * 2,
                         env=machines["desk"]).exit_code == 0
    made = runner.invoke(main, ["console", "token", "create", "registration"],
                         env=machines["desk"])
    token = made.stdout.strip()

    with open_store(server_address, tmp_path / "door") as store:
        door = Credentials(tmp_path / "door", lambda: store)
        assert door.has_password() and door.check_password("correct horse battery")
        assert door.token_owner(token) == "registration"
        revoked = runner.invoke(main, ["console", "token", "revoke", "registration"],
                                env=machines["door"])
        assert revoked.exit_code == 0, revoked.output
        assert door.token_owner(token) is None
    assert (tmp_path / "desk" / "console-password.json").exists(), "starts the console unit"
    assert not (tmp_path / "desk" / "console-tokens.json").exists(), "tokens: the server's only"
