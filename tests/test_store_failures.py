"""A store that cannot be used, made for real: a data page overwritten with garbage, a full
disk (a small tmpfs; SQLite's ``max_page_count`` where mounting is not allowed), a read-only
file, folder or journal as seen by a user who is not root, another writer holding the lock.

Each command says, in one line, what is wrong, what was not done and the fix; the store is
exactly as it was; nothing ends in a traceback. Tests run as root under CI, and root ignores
file modes: the read-only cases run their command in a child process as ``nobody``.
"""

import json
import logging
import os
import pwd
import shutil
import sqlite3
import stat
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import cli_runner

from greeter.cli import main
from greeter.live.camera import Frame, FrameSource, LatestFrameReader
from greeter.live.doctor import FAIL, check_store
from greeter.people import store as store_module
from greeter.people.bundle import export_bundle
from greeter.people.store import Store, StoreDamaged, StoreUnavailable

REPO = Path(__file__).resolve().parent.parent
RESTORE = ("move it aside and import your latest export into a new store (`greeter people "
           "import people.bundle`), or restore a backup")


def vector(seed):
    values = np.random.default_rng(seed).normal(size=128)
    return (1.4 * values / np.linalg.norm(values)).astype(np.float32)


def enrol(path, *people):
    with Store(path) as store:
        for seed, person_id in enumerate(people):
            store.add_embedding(person_id, None, vector(seed), f"sha-{person_id}",
                                f"{person_id}.jpg", 120, 80.0)


def contents(path):
    """Everything about the store's people, read with plain sqlite3 (works on a read-only or
    damaged-elsewhere file), comparable with ==."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return (db.execute("SELECT * FROM people ORDER BY id").fetchall(),
                db.execute("SELECT * FROM embeddings ORDER BY id").fetchall())
    finally:
        db.close()


def invoke(store, *args, **kwargs):
    """The real CLI; a traceback (an exception other than exit) fails the test."""
    result = cli_runner().invoke(main, ["--store", str(store), *map(str, args)], **kwargs)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


# -- a damaged store ------------------------------------------------------------------------


def damage(path):
    """Garbage over the embeddings table's page, as a failing SD card leaves it. The file
    header (page 1) is intact, so SQLite opens the file and reads the people table."""
    db = sqlite3.connect(str(path))
    page_size = db.execute("PRAGMA page_size").fetchone()[0]
    page = db.execute("SELECT rootpage FROM sqlite_master WHERE name='embeddings'").fetchone()[0]
    db.close()
    garbage = np.random.default_rng(8).integers(0, 256, page_size, dtype=np.uint8).tobytes()
    with open(path, "r+b") as file:
        file.seek((page - 1) * page_size)
        file.write(garbage)
    return page


@pytest.fixture
def damaged(tmp_path):
    path = tmp_path / "greeter.sqlite3"
    enrol(path, "alex-m", "zoe", "kit")
    page = damage(path)
    return path, page


def test_a_damaged_store_refuses_every_change_and_is_left_as_it_was(damaged, tmp_path):
    path, page = damaged
    before = path.read_bytes()
    bundle = tmp_path / "people.bundle"
    enrol(tmp_path / "laptop.sqlite3", "ann")
    with Store(tmp_path / "laptop.sqlite3") as laptop:
        export_bundle(laptop, bundle)

    for args, not_done in [
        (("people", "rename", "zoe", "Zoë"), "zoe was not renamed"),
        (("people", "remove", "--yes", "zoe"), None),
        (("people", "import", bundle), "nothing was imported"),
    ]:
        result = invoke(path, *args)
        assert result.exit_code == 1, args
        assert result.stdout == ""
        error = result.stderr
        assert error.startswith(f"Error: {path} is damaged ("), args
        assert f"page {page}:" in error.lower()
        assert error.endswith(f": {RESTORE}\n")
        assert len(error.splitlines()) == 1
        if not_done:
            assert f"; {not_done}: " in error
        assert path.read_bytes() == before, f"{args} wrote into the damaged store"

    with Store(path, create=False) as store:
        with pytest.raises(StoreDamaged, match="the photo was analysed but not stored"):
            store.add_embedding("ann", None, vector(9), "sha-ann", "ann.jpg", 120, 80.0)
        with pytest.raises(StoreDamaged):
            store.check_integrity()
    assert path.read_bytes() == before


def test_reading_a_damaged_store_names_the_damage(damaged, tmp_path):
    """Reads go as far as the damage allows (the people table is intact here), and stop with
    the damage named where they reach it; doctor checks every page."""
    path, page = damaged
    listed = invoke(path, "people", "list")
    assert listed.exit_code == 0
    assert "alex-m" in listed.stdout and "enrol one" not in listed.stdout
    assert listed.stderr.startswith(f"{path} is damaged (")
    assert listed.stderr.endswith("(the hints are left out)\n")
    for args in (("people", "show", "zoe"), ("people", "export", tmp_path / "people.bundle")):
        result = invoke(path, *args)
        assert result.exit_code == 1, args
        assert result.stderr.startswith(f"Error: {path} is damaged (")
        assert f"page {page}:" in result.stderr.lower()
        assert result.stderr.endswith(f"): {RESTORE}\n")
    check = check_store(path)
    assert (check.status, check.fix) == (FAIL, RESTORE)
    assert check.detail.startswith(f"{path} is damaged (")
    assert f"page {page}:" in check.detail.lower()


def test_enrolling_into_a_damaged_store_analyses_and_writes_nothing(damaged, samples):
    path, _ = damaged
    before = path.read_bytes()
    result = invoke(path, "enroll", "--person", "biden", samples / "biden.jpg")
    assert result.exit_code == 1
    assert result.stderr.strip().startswith(f"Error: {path} is damaged (")
    assert result.stderr.endswith(f"; nothing was enrolled: {RESTORE}\n")
    assert "Enrolment" not in result.stdout, "no photo was analysed"
    assert path.read_bytes() == before


class PhotoCamera(FrameSource):
    """A live camera showing one real photo until `done()`, then gone."""

    live = True

    def __init__(self, rgb, done):
        self.rgb, self.done, self.index = rgb, done, 0

    def read(self):
        if self.done():
            return None
        time.sleep(0.03)
        self.index += 1
        return Frame(self.rgb, self.index, time.monotonic())


@pytest.mark.slow
def test_the_robot_greets_everybody_as_a_stranger_and_logs_the_damage_once(
        damaged, samples, caplog):
    from greeter.live.robot import Greeter, RunOptions
    from greeter.recognition.imaging import load_rgb
    from greeter.settings import Settings

    path, _ = damaged
    before = path.read_bytes()
    settings = Settings.load(environ={}, store=path, greetings=REPO / "config/greetings.json")
    started = []

    def done():
        """Once the stranger is greeted and the store was retried at least twice (once a
        second); a slow machine gets two minutes."""
        running = time.monotonic() - started[0]
        return (greeter.summary.greetings and running > 2.5) or running > 120

    camera = PhotoCamera(load_rgb(samples / "biden.jpg"), done)
    caplog.set_level(logging.INFO, logger="greeter.live.gallery_reload")
    greeter = Greeter(settings, RunOptions(headless=True),
                      reader=LatestFrameReader(lambda: camera, reconnect=False))
    started.append(time.monotonic())
    summary = greeter.run()

    assert [g.person for g in summary.greetings] == [None], "a stranger, once per track"
    problems = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(problems) == 1, [r.getMessage() for r in problems]
    assert problems[0].getMessage().startswith(f"{path} is damaged (")
    assert problems[0].getMessage().endswith("everybody is greeted as a stranger until it is fixed")
    assert path.read_bytes() == before


# -- a full disk ----------------------------------------------------------------------------


@pytest.fixture
def small_disk(tmp_path):
    """A 2 MiB tmpfs: a disk that really fills up. Needs root with CAP_SYS_ADMIN."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs",
                              str(mount_point)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill ({mounted.stderr.strip()}); "
                    "test_a_full_store_file_refuses_the_photo covers SQLite's side")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=True)


def fill(folder):
    """Write a filler file until the disk is full; returns it (delete it to free the space)."""
    filler = folder / "filler"
    descriptor = os.open(str(filler), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(descriptor, b"\0" * 4096)
    except OSError as error:
        assert error.errno == 28  # ENOSPC
    finally:
        os.close(descriptor)
    return filler


def empty_journal(path):
    """Checkpoint the store's journal to length 0, so the next change must grow it."""
    db = sqlite3.connect(str(path))
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()


def test_a_full_disk_refuses_changes_with_the_reason(small_disk):
    path = small_disk / "greeter.sqlite3"
    enrol(path, "alex-m", "zoe")
    with Store(path, create=False) as robot:  # holds the store open, as on the event day
        empty_journal(path)
        before = contents(path)
        filler = fill(small_disk)

        for args, not_done in [(("people", "remove", "--yes", "zoe"), "zoe was not removed"),
                               (("people", "rename", "zoe", "Zoë"), "zoe was not renamed")]:
            result = invoke(path, *args)
            assert result.exit_code == 1, args
            assert result.stderr == (f"Error: no space left on the device holding {path}; "
                                     f"{not_done}: free some space, then try again\n")
        filler.unlink()
        assert contents(path) == before
        assert invoke(path, "people", "remove", "--yes", "zoe").exit_code == 0
        assert [p.id for p in robot.people()] == ["alex-m"]


@pytest.mark.slow
def test_enrolling_on_a_full_disk_says_the_photo_was_not_stored(small_disk, samples):
    path = small_disk / "greeter.sqlite3"
    enrol(path, "alex-m")
    with Store(path, create=False):  # the robot
        empty_journal(path)
        before = contents(path)
        filler = fill(small_disk)
        result = invoke(path, "enroll", "--person", "biden", samples / "biden.jpg")
        filler.unlink()
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"{samples / 'biden.jpg'}: rejected: no space left on the device holding {path}; the "
        "photo was analysed but not stored: free some space, then try again")
    assert contents(path) == before


def test_a_read_only_file_system_is_named(small_disk):
    path = small_disk / "greeter.sqlite3"
    enrol(path, "alex-m")
    subprocess.run(["mount", "-o", "remount,ro", str(small_disk)], check=True)
    result = invoke(path, "people", "rename", "alex-m", "Alex")
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {path} is on a read-only file system: remount it "
                             "read-write, or move the store to a writable disk\n")


def test_a_full_store_file_refuses_the_photo(tmp_path):
    """SQLite's ``max_page_count`` gives the same error as a full disk wherever this runs."""
    path = tmp_path / "greeter.sqlite3"
    enrol(path, "alex-m")
    before = contents(path)
    with Store(path) as store:
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count={pages}")
        big_name = "x" * 20000  # needs pages the file may not grow by
        with pytest.raises(StoreUnavailable) as refused:
            store.add_embedding("ann", None, vector(5), "sha-ann", big_name, 120, 80.0)
        assert str(refused.value) == (f"no space left on the device holding {path}; the photo "
                                      "was analysed but not stored: free some space, then try "
                                      "again")
        assert store.person("ann") is None
    assert contents(path) == before


# -- read-only file, folder, journal, as a user who is not root -----------------------------


@pytest.fixture
def unprivileged():
    """(user id, group id, name) to run as: ``nobody`` when root, else this user."""
    if os.geteuid() != 0:
        return os.geteuid(), os.getegid(), pwd.getpwuid(os.geteuid()).pw_name
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("running as root without a 'nobody' user to drop to: root ignores modes")
    return nobody.pw_uid, nobody.pw_gid, nobody.pw_name


@pytest.fixture
def shared_folder(unprivileged):
    """A folder the unprivileged user owns and reaches (pytest's tmp_path is root's, 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="greeter-store-"))
    closed = [parent for parent in folder.parents if not parent.stat().st_mode & stat.S_IXOTH]
    if os.geteuid() != unprivileged[0] and closed:
        shutil.rmtree(folder)
        pytest.skip(f"{closed[0]} is closed to other users, so {unprivileged[2]} cannot reach "
                    "a folder in it (set TMPDIR)")
    os.chmod(folder, 0o755)
    os.chown(folder, *unprivileged[:2])
    yield folder / "data"
    shutil.rmtree(folder)


def make_store(folder, owner):
    folder.mkdir(mode=0o700)
    path = folder / "greeter.sqlite3"
    enrol(path, "alex-m", "zoe")
    for item in (folder, path):
        os.chown(item, *owner[:2])
    return path


def invoke_as(user, store, *args):
    """The CLI run as `user` (uid, gid, name): in a child process when that means dropping
    root. Returns (exit code, stdout, stderr)."""
    if os.geteuid() == user[0]:
        result = invoke(store, *args)
        return result.exit_code, result.stdout, result.stderr
    read_end, write_end = os.pipe()
    child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child
        code = 70
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(user[1])
            os.setuid(user[0])
            result = cli_runner().invoke(main, ["--store", str(store), *map(str, args)])
            crashed = result.exception and not isinstance(result.exception, SystemExit)
            answer = [result.exit_code, result.stdout,
                      result.stderr + (f"traceback: {result.exception!r}" if crashed else "")]
            with os.fdopen(write_end, "w") as pipe:
                json.dump(answer, pipe)
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        answer = pipe.read()
    _, status = os.waitpid(child, 0)
    assert os.WEXITSTATUS(status) == 0, "the child process failed"
    return tuple(json.loads(answer))


def test_a_read_only_store_refuses_changes_and_a_fixed_mode_is_enough(shared_folder,
                                                                      unprivileged):
    path = make_store(shared_folder, unprivileged)
    os.chmod(path, 0o400)
    before = contents(path)
    user = unprivileged[2]
    problem = f"{path} is read-only for {user} (mode 0400, owner {user})"

    code, out, err = invoke_as(unprivileged, path, "people", "list")
    assert code == 0, err
    assert "alex-m" in out and "zoe" in out, "reading a read-only store works"
    for args, not_done in [(("people", "rename", "zoe", "Zoë"), "zoe was not renamed"),
                           (("people", "remove", "--yes", "zoe"), "zoe was not removed")]:
        code, out, err = invoke_as(unprivileged, path, *args)
        assert code == 1, args
        assert err == f"Error: {problem}; {not_done}: `chmod u+w {path}`\n"
    assert contents(path) == before

    os.chmod(path, 0o600)  # the fix; SQLite's journal files may still have the old mode
    code, out, err = invoke_as(unprivileged, path, "people", "rename", "zoe", "Zoë")
    assert (code, err) == (0, "")
    assert contents(path)[0][1][1] == "Zoë"


def test_enrolling_into_a_read_only_store_analyses_nothing(shared_folder, unprivileged,
                                                           samples):
    path = make_store(shared_folder, unprivileged)
    os.chmod(path, 0o400)
    photo = shared_folder.parent / "biden.jpg"
    shutil.copy(samples / "biden.jpg", photo)
    user = unprivileged[2]
    code, out, err = invoke_as(unprivileged, path, "enroll", "--person", "biden", photo)
    assert code == 1
    assert err.strip() == (f"Error: {path} is read-only for {user} (mode 0400, owner {user}); "
                           f"nothing was enrolled: `chmod u+w {path}`")
    assert "Enrolment" not in out


def test_calibrating_a_read_only_store_analyses_no_stranger(shared_folder, unprivileged):
    path = make_store(shared_folder, unprivileged)
    os.chmod(path, 0o400)
    strangers = shared_folder.parent / "strangers"
    strangers.mkdir()
    user = unprivileged[2]
    code, out, err = invoke_as(unprivileged, path, "calibrate", "--strangers", strangers)
    assert code == 1
    assert err.strip() == (f"Error: {path} is read-only for {user} (mode 0400, owner {user}); "
                           f"the calibration was not saved: `chmod u+w {path}`")


def test_a_read_only_folder_is_named_not_taken_for_damage(shared_folder, unprivileged):
    path = make_store(shared_folder, unprivileged)
    os.chmod(shared_folder, 0o500)
    user = unprivileged[2]
    code, _, err = invoke_as(unprivileged, path, "people", "list")
    assert code == 1
    assert err == (f"Error: the folder {shared_folder} is read-only for {user}, and SQLite must "
                   "create the store's journal (greeter.sqlite3-wal, greeter.sqlite3-shm) "
                   f"there: make it writable: `chmod u+w {shared_folder}`\n")
    os.chmod(shared_folder, 0o700)
    assert invoke_as(unprivileged, path, "people", "list")[0] == 0


def test_another_users_journal_is_named_with_the_fix(shared_folder, unprivileged):
    path = make_store(shared_folder, unprivileged)
    if os.geteuid() != 0:
        pytest.skip("needs root to leave a journal file of another user")
    wal = shared_folder / "greeter.sqlite3-wal"
    wal.touch(mode=0o600)  # left behind by a greeter once run as root
    user = unprivileged[2]
    code, _, err = invoke_as(unprivileged, path, "people", "list")
    assert code == 1
    assert err == (f"Error: {wal} is read-only for {user} (mode 0600, owner root): it was left "
                   f"by running greeter as root: `sudo chown --reference={path} {wal}`\n")
    subprocess.run(["chown", f"--reference={path}", str(wal)], check=True)
    assert invoke_as(unprivileged, path, "people", "list")[0] == 0


def test_a_stale_journal_of_ours_gets_the_stores_mode_back(tmp_path):
    path = tmp_path / "greeter.sqlite3"
    enrol(path, "alex-m")
    with Store(path) as holder:  # keeps -wal and -shm in place
        shm = tmp_path / "greeter.sqlite3-shm"
        os.chmod(shm, 0o400)
        with Store(path) as store:
            store.rename("alex-m", "Alex")
        assert stat.S_IMODE(shm.stat().st_mode) == 0o600
        assert holder.person("alex-m").name == "Alex"


# -- busy -----------------------------------------------------------------------------------


def test_a_store_busy_with_another_writer_is_named(tmp_path, monkeypatch):
    path = tmp_path / "greeter.sqlite3"
    enrol(path, "alex-m")
    monkeypatch.setattr(store_module, "BUSY_TIMEOUT_SECONDS", 0.2)
    writer = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    writer.execute("BEGIN IMMEDIATE")
    try:
        with Store(path) as store:
            with pytest.raises(StoreUnavailable) as refused:
                store.rename("alex-m", "Alex")
            assert str(refused.value) == (
                f"{path} is busy: another greeter command has been changing it for 0.2 s; "
                "alex-m was not renamed: try again once it has finished")
    finally:
        writer.execute("ROLLBACK")
        writer.close()
