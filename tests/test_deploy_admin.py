"""The robot's admin path for real: install.sh's own user, config and cli steps performed into
a throw-away root (``--root DIR --only user,config,cli``) with real users and groups on this
machine, then every admin command of deploy/jetbot/README.md run by a real non-root admin
through the installed /usr/local/bin/greeter, on a 0600 bundle in the admin's private home, and
the event console's password and API tokens, taken by the console serving as the service user.

It needs root (to create the users) and sudo (the wrapper switches users with it); without
them it skips with the reason, except under CI (``CI=true``), where it must run. Users, groups
and the sudoers rule get unique names and are removed afterwards.
"""

import contextlib
import json
import os
import secrets
import shutil
import signal
import site
import socket
import sqlite3
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional

import pytest
from conftest import cli_runner
from test_deploy import read_unit, values

REPO = Path(__file__).resolve().parent.parent
INSTALL = REPO / "deploy" / "jetbot" / "install.sh"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def require(condition: bool, reason: str) -> None:
    if not condition:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run this test")
        pytest.skip(reason)


def run(*command: str, **kwargs) -> subprocess.CompletedProcess:
    result = subprocess.run(command, capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
    return result


def link_or_copy(source: str, destination: str) -> None:
    try:
        os.link(source, destination)
    except OSError:  # another file system
        shutil.copy2(source, destination)


def python_for_everyone(destination: Path) -> Path:
    """This Python as a program any user can run: its interpreter, standard library and
    packages hard-linked (or copied) under `destination`, and this checkout's greeter. The
    originals may be unreachable for other users (pyenv under /root's 0700 home). Returns
    the stand-in for the venv's `greeter` command, which install.sh's venv step would make."""
    base = Path(sys.base_prefix)
    version = f"python{sys.version_info[0]}.{sys.version_info[1]}"
    (destination / "bin").mkdir(parents=True)
    (destination / "lib").mkdir()
    interpreter = destination / "bin" / version
    shutil.copy2(os.path.realpath(sys.executable), interpreter)
    for library in (base / "lib").glob("libpython*"):
        shutil.copy2(library, destination / "lib" / library.name)
    standard = destination / "lib" / version
    shutil.copytree(base / "lib" / version, standard, copy_function=link_or_copy,
                    ignore=shutil.ignore_patterns("site-packages", "test", "config-*"))
    for packages in site.getsitepackages():
        shutil.copytree(packages, standard / "site-packages", copy_function=link_or_copy,
                        dirs_exist_ok=True)
    source = destination / "src"
    shutil.copytree(REPO / "greeter", source / "greeter",
                    ignore=shutil.ignore_patterns("__pycache__"))
    command = destination / "greeter"
    command.write_text(
        "#!/bin/sh\n"
        f"PYTHONPATH={source} LD_LIBRARY_PATH={destination / 'lib'} PYTHONDONTWRITEBYTECODE=1 "
        f'exec {interpreter} -m greeter "$@"\n')
    command.chmod(0o755)
    return command


class Robot(NamedTuple):
    root: Path
    service_user: str
    admin: str
    admin_group: str
    home: Path
    install_env: Dict[str, str]

    def install(self) -> subprocess.CompletedProcess:
        """install.sh's own steps for the admin path, as the robot runs them."""
        return run("bash", str(INSTALL), "--root", str(self.root), "--only", "user,config,cli",
                   cwd="/", env=self.install_env)

    @property
    def data(self) -> Path:
        return self.root / "var/lib/greeter"

    def greeter(self, *args: str, input: Optional[str] = None) -> subprocess.CompletedProcess:
        """`greeter ARGS` typed by the admin in their home (`input` piped to it)."""
        return subprocess.run(
            ["runuser", "-u", self.admin, "--", str(self.root / "usr/local/bin/greeter"), *args],
            capture_output=True, text=True, timeout=300, cwd=str(self.home), input=input,
            env={"PATH": PATH, "HOME": str(self.home), "LANG": "C.UTF-8"})


def require_root() -> None:
    require(os.geteuid() == 0, "not root: cannot create the service user and the admin")


@pytest.fixture(scope="module")
def greeter_for_everyone() -> Iterator[Path]:
    """The venv's `greeter` command as install.sh's venv and project steps would make it."""
    require_root()
    folder = Path(tempfile.mkdtemp(prefix="greeter-python-"))
    try:
        folder.chmod(0o755)
        yield python_for_everyone(folder / "python")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def robot(greeter_for_everyone: Path) -> Iterator[Robot]:
    require_root()
    require(shutil.which("sudo") is not None and shutil.which("visudo") is not None,
            "sudo is not installed (scripts/bootstrap.sh installs it when root)")
    require(Path("/etc/sudoers.d").is_dir(), "/etc/sudoers.d is missing")
    suffix = secrets.token_hex(3)
    service, admin, group = f"gsvc{suffix}", f"gadm{suffix}", f"gadmins{suffix}"
    sudoers = Path("/etc/sudoers.d") / f"greeter-test-{suffix}"
    base = Path(tempfile.mkdtemp(prefix="greeter-robot-"))
    cleanup: List[List[str]] = []
    try:
        base.chmod(0o755)
        root, home = base / "root", base / "home" / admin
        root.mkdir()
        home.parent.mkdir()
        run("useradd", "--create-home", "--home-dir", str(home), "--shell", "/bin/bash", admin)
        cleanup.append(["userdel", admin])
        home.chmod(0o700)
        cleanup += [["userdel", service], ["groupdel", group]]
        installed = Robot(root, service, admin, group, home,
                          {"PATH": PATH, "SUDO_USER": admin, "JETBOT_SERVICE_USER": service,
                           "JETBOT_ADMIN_GROUP": group})
        installed.install()
        venv = root / "opt/greeter/venv/bin"
        venv.mkdir(parents=True)
        (venv / "greeter").symlink_to(greeter_for_everyone)
        # sudo reads the real /etc/sudoers.d only: the installed rule, under a unique name
        shutil.copy2(root / "etc/sudoers.d/greeter", sudoers)
        run("visudo", "-c")
        yield installed
    finally:
        sudoers.unlink(missing_ok=True)
        for command in cleanup:
            subprocess.run(command, capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def laptop_bundle(tmp_path_factory) -> Path:
    """A bundle of obama and biden, enrolled from real photos and exported by the real CLI."""
    from conftest import require_shared

    from greeter.cli import main

    samples = require_shared("samples")
    folder = tmp_path_factory.mktemp("laptop")
    for person, photo in (("obama", "obama-480p.jpg"), ("biden", "biden.jpg")):
        (folder / "enroll" / person).mkdir(parents=True)
        shutil.copy(samples / photo, folder / "enroll" / person / photo)
    store, bundle = folder / "greeter.sqlite3", folder / "people.bundle"
    for args in (["enroll", folder / "enroll"], ["people", "export", bundle]):
        result = cli_runner().invoke(main, ["--store", str(store), *map(str, args)])
        assert result.exit_code == 0, result.output
    return bundle


def mode(path: Path) -> str:
    info = path.stat()
    return f"{stat.S_IMODE(info.st_mode):04o} {info.st_uid}"


def uid(name: str) -> int:
    return int(run("id", "-u", name).stdout)


def people_in(store: Path) -> List[str]:
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as connection:
        return sorted(row[0] for row in connection.execute("SELECT id FROM people"))


def greetings_of(robot: Robot) -> dict:
    return json.loads((robot.data / "greetings.json").read_text())["people"]


@pytest.mark.slow
def test_every_documented_admin_command_works_for_the_admin(robot: Robot, laptop_bundle: Path):
    service = uid(robot.service_user)
    # install.sh's modes: the store's folder and the greetings are the service user's alone
    assert mode(robot.data) == f"0700 {service}"
    assert mode(robot.data / "greetings.json") == f"0600 {service}"
    assert mode(robot.root / "usr/local/bin/greeter") == "0755 0"
    assert mode(robot.root / "etc/sudoers.d/greeter") == "0440 0"
    assert robot.admin_group in run("id", "-nG", robot.admin).stdout.split()
    again = robot.install().stdout
    assert "\n    + " not in again, f"a second install changed something:\n{again}"
    # the admin's bundle, as scp leaves it: theirs alone, in a home nobody else may enter
    bundle = robot.home / "people.bundle"
    shutil.copy(laptop_bundle, bundle)
    os.chown(bundle, uid(robot.admin), -1)
    bundle.chmod(0o600)
    assert mode(robot.home) == f"0700 {uid(robot.admin)}"

    imported = robot.greeter("people", "import", str(bundle))
    assert imported.returncode == 0, imported.stderr
    assert "added obama" in imported.stdout and "added biden" in imported.stdout
    store = robot.data / "greeter.sqlite3"
    assert mode(store) == f"0600 {service}"
    assert people_in(store) == ["biden", "obama"]

    listed = robot.greeter("people", "list")
    assert listed.returncode == 0 and "obama" in listed.stdout and "biden" in listed.stdout
    shown = robot.greeter("people", "show", "obama")
    assert shown.returncode == 0 and "obama-480p.jpg" in shown.stdout, shown.stderr
    renamed = robot.greeter("people", "rename", "obama", "Barack Obama")
    assert renamed.returncode == 0, renamed.stderr

    for person in ("obama", "biden"):
        greeted = robot.greeter("greetings", "set", person, "--message", "Hello {first_name}!")
        assert greeted.returncode == 0, greeted.stderr
    assert {"obama", "biden"} <= set(greetings_of(robot))
    assert mode(robot.data / "greetings.json") == f"0600 {service}"
    preview = robot.greeter("greetings", "preview", "obama")
    assert preview.returncode == 0 and preview.stdout == "Hello Barack!\n", preview.stderr
    removed = robot.greeter("greetings", "remove", "obama")
    assert removed.returncode == 0, removed.stderr
    assert "obama" not in greetings_of(robot)

    # an erasure request: the person and their greeting, both
    erased = robot.greeter("people", "remove", "biden", "--yes")
    assert erased.returncode == 0, erased.stderr
    assert "removed biden's greeting" in erased.stdout
    assert people_in(store) == ["obama"]
    assert "biden" not in greetings_of(robot)

    checked = robot.greeter("greetings", "check")
    assert checked.returncode == 0 and "valid" in checked.stdout, checked.stderr
    doctor = robot.greeter("doctor", "--no-camera", "--headless")
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert f"OK    store: {robot.data / 'greeter.sqlite3'}: 1 person" in doctor.stdout

    exported = robot.greeter("people", "export", "robot.bundle")  # relative to their home
    assert exported.returncode == 0, exported.stderr
    copy = robot.home / "robot.bundle"
    assert mode(copy) == f"0600 {uid(robot.admin)}"
    assert [person["id"] for person in json.loads(copy.read_text())["people"]] == ["obama"]
    assert sorted(path.name for path in robot.home.iterdir()
                  if not path.name.startswith(".bash") and path.name != ".profile") == [
        "people.bundle", "robot.bundle"], "no temporary file left behind"


def test_the_admin_sets_the_console_password_and_makes_api_tokens(robot: Robot):
    """The event console's credentials, made by the admin through the wrapper, land where
    greeter-console.service (running as the service user) looks for them, and the console
    serving the robot's network as that user takes them."""
    from greeter.console.auth import Credentials

    port = free_port()
    refused = robot.greeter("console", "--listen", f"0.0.0.0:{port}")
    assert refused.returncode == 1
    assert "refusing to serve on 0.0.0.0 without a password" in refused.stderr

    too_short = robot.greeter("console", "set-password", input="pw\npw\n")
    assert too_short.returncode == 1
    assert "the password is too short: use at least 10 characters" in too_short.stderr

    password = "three blue herons"
    set_password = robot.greeter("console", "set-password", input=f"{password}\n")
    assert set_password.returncode == 0, set_password.stderr
    assert "console password set" in set_password.stdout
    # this machine runs no greeter-console.service: the wrapper says how to start it
    assert "sudo systemctl start greeter-console" in set_password.stderr
    credentials = Credentials(robot.data)
    assert mode(credentials.password_file) == f"0600 {uid(robot.service_user)}"
    assert credentials.check_password(password) and not credentials.check_password("pw")
    # the file whose existence starts the console's unit
    [condition] = values(read_unit(REPO / "deploy/jetbot/greeter-console.service"), "Unit",
                         "ConditionPathExists")
    assert robot.root / condition.lstrip("/") == credentials.password_file

    created = robot.greeter("console", "token", "create", "registration")
    assert created.returncode == 0, created.stderr
    token = created.stdout.strip()
    assert created.stdout == f"{token}\n" and len(token) >= 40, "the token alone, once"
    assert "shown only this once" in created.stderr
    assert mode(credentials.tokens_file) == f"0600 {uid(robot.service_user)}"
    assert token not in credentials.tokens_file.read_text(), "only its hash is kept"
    assert credentials.token_owner(token) == "registration"
    listed = robot.greeter("console", "token", "list")
    assert listed.returncode == 0 and listed.stdout == "registration\n", listed.stderr
    again = robot.greeter("console", "token", "create", "registration")
    assert again.returncode == 1 and "exists already: revoke it first" in again.stderr

    with serving_console(robot, port) as url:
        assert api_people(url, token) == (200, [])
        revoked = robot.greeter("console", "token", "revoke", "registration")
        assert revoked.returncode == 0 and "revoked" in revoked.stdout, revoked.stderr
        assert api_people(url, token)[0] == 401
    assert credentials.token_owner(token) is None
    assert robot.greeter("console", "token", "list").stdout == ""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextlib.contextmanager
def serving_console(robot: Robot, port: int) -> Iterator[str]:
    """`greeter console --listen 0.0.0.0:PORT`, as greeter-console.service runs it: the
    service user with the robot's files (here through the admin's wrapper). Yields its URL
    once it answers; stopped afterwards."""
    server = subprocess.Popen(
        ["runuser", "-u", robot.admin, "--", str(robot.root / "usr/local/bin/greeter"),
         "console", "--listen", f"0.0.0.0:{port}"],
        cwd=str(robot.home), env={"PATH": PATH, "HOME": str(robot.home), "LANG": "C.UTF-8"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            assert server.poll() is None, f"the console ended: {server.communicate()[1]}"
            try:
                urllib.request.urlopen(f"{url}/login", timeout=5).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"the console did not answer on {url} within a minute")
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # runuser and sudo pass it on to the console
        server.communicate(timeout=60)


def api_people(url: str, token: str):
    """(status, JSON body) of `GET /api/people` with the bearer token."""
    request = urllib.request.Request(f"{url}/api/people",
                                     headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, None


def test_a_failed_export_leaves_the_admins_file_alone(robot: Robot):
    """No store yet: the export fails, and the admin's old file is still there, whole."""
    old = robot.home / "people.bundle"
    old.write_text("the old bundle\n")
    os.chown(old, uid(robot.admin), -1)
    result = robot.greeter("people", "export", str(old))
    assert result.returncode == 1
    assert "no store here yet (enrol somebody first)" in result.stderr, result.stderr
    assert old.read_text() == "the old bundle\n"
    assert [path.name for path in robot.home.iterdir() if path.name.startswith(".people")] == []


def test_a_bundle_the_admin_cannot_read_is_refused_by_name(robot: Robot):
    missing = robot.greeter("people", "import", str(robot.home / "nothing.bundle"))
    assert missing.returncode == 1
    assert missing.stderr.strip() == f"Error: {robot.home / 'nothing.bundle'}: no such file"


# -- `-`: the bundle on standard input and output, as the wrapper passes it ------------------


def test_people_import_and_export_through_standard_streams(tmp_path: Path):
    import numpy as np

    from greeter.cli import main
    from greeter.people.store import Store
    from greeter.recognition.faces import MODEL_ID

    laptop, robot = tmp_path / "laptop.sqlite3", tmp_path / "robot.sqlite3"
    with Store(laptop) as store:
        store.add_embedding("zoe", "Zoë", np.full(128, 0.125, dtype=np.float32), "ab" * 32, "z.jpg",
                            120, 80.5)
    exported = cli_runner().invoke(main, ["--store", str(laptop), "people", "export", "-"])
    assert exported.exit_code == 0, exported.output
    bundle = exported.stdout_bytes
    assert json.loads(bundle)["model_id"] == MODEL_ID
    assert "to standard output" in exported.stderr, "the report stays out of the bundle"

    imported = cli_runner().invoke(main, ["--store", str(robot), "people", "import", "-"],
                                   input=bundle)
    assert imported.exit_code == 0, imported.output
    assert imported.stdout.endswith(
        f"imported standard input into {robot}: 1 added, 0 replaced, 0 skipped\n")

    damaged = cli_runner().invoke(main, ["--store", str(robot), "people", "import", "-"],
                                  input=bundle.replace(b"zoe", b"zoi"))
    assert damaged.exit_code == 1
    assert damaged.stderr.startswith("Error: standard input: checksum mismatch")
