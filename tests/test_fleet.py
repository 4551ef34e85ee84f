"""Two robots and a console on one PostgreSQL server, each a process of its own, as at a
venue with two entrances: `greeter run` twice (each its own local folder, a video of the same
guest) and `greeter console`, all with ``GREETER_STORE=postgresql://...``.

The console enrols a guest through its JSON API while the robots run; the server is stopped
before the guest reaches the doors, and both greet him by name from their snapshots; the
server comes back, the console erases him, and both robots drop him from their matcher,
snapshot and events file. A real server (tests/postgres.py), real processes, no mocks.
"""

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
from conftest import REPO
from console_helpers import free_port
from postgres import ThrowawayServer, require_server_programs
from scenes import Scene, Walker, render_scene

from greeter.live.shared_gallery import SNAPSHOT_NAME

#: The guest reaches both doors this long into the video: time to start three processes,
#: enrol him and stop the server first, on a busy 2-core machine.
ARRIVES = 24.0
ROBOTS = ("north", "south")


def wait_for(condition, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds:g} s: {what}")
        time.sleep(0.1)
    return time.monotonic()


def snapshot_people(folder: Path):
    path = folder / SNAPSHOT_NAME
    if not path.exists():
        return None
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        return [row[0] for row in db.execute("SELECT id FROM people ORDER BY id")]


def status_of(folder: Path):
    try:
        return json.loads((folder / "robot-status.json").read_text())
    except (OSError, ValueError):
        return None


def greeted(events: Path):
    if not events.exists():
        return []
    return [json.loads(line).get("person") for line in events.read_text().splitlines()
            if line.strip()]


def test_two_robots_and_a_console_share_one_guest_list_through_an_outage(samples, tmp_path):
    server = ThrowawayServer(require_server_programs())
    processes = []
    try:
        truth = render_scene(Scene(
            [Walker(samples / "obama.jpg", "obama", ARRIVES, ARRIVES + 8.0, (320, 230),
                    (330, 230), face_px=130)], fps=10.0, duration=ARRIVES + 16.0),
            tmp_path / "entrance.avi")
        env = {key: value for key, value in os.environ.items() if not key.startswith("GREETER_")}
        env.update(GREETER_STORE=server.url(), PYTHONPATH=str(REPO),
                   GREETER_GREETINGS=str(tmp_path / "greetings.json"))
        console_folder = tmp_path / "console"
        # the registration system's token, made where the admin makes it: on the server,
        # for every console of the fleet
        token = subprocess.run(
            [sys.executable, "-m", "greeter", "console", "token", "create", "registration"],
            env=dict(env, GREETER_LOCAL=str(tmp_path / "admin")), capture_output=True,
            text=True, check=True).stdout.strip()
        port = free_port()
        processes.append(started(["console", "--listen", f"127.0.0.1:{port}"],
                                 dict(env, GREETER_LOCAL=str(console_folder)),
                                 tmp_path / "console.log"))
        robots = {}
        for name in ROBOTS:
            folder = tmp_path / name
            robots[name] = folder
            processes.append(started(
                ["-v", "run", "--source", str(truth.path), "--realtime", "--headless",
                 "--events-out", str(tmp_path / f"{name}.jsonl")],
                dict(env, GREETER_LOCAL=str(folder), GREETER_ROBOT_NAME=name),
                tmp_path / f"{name}.log"))
        logs = lambda: "\n".join(  # noqa: E731
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(tmp_path.glob("*.log")))

        api = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                           headers={"authorization": f"Bearer {token}"})
        wait_for(lambda: all(status_of(folder) for folder in robots.values()), 60,
                 "both robots running")
        wait_for(lambda: _answers(api), 60, "the console answering")

        wait_for(lambda: [robot["name"] for robot in api.get("/api/robots").json()
                          if robot["running"]] == list(ROBOTS), 15, "both on the Robots page")
        listed = api.get("/api/robots").json()
        assert [(robot["status"]["camera"], robot["status"]["store_problem"])
                for robot in listed] == [("ok", None), ("ok", None)]

        photo = samples / "obama2.jpg"
        enrolled = api.post("/api/people/obama/photos", data={"name": "Barack Obama"},
                            files={"photo": (photo.name, photo.read_bytes(), "image/jpeg")})
        assert enrolled.status_code == 201, enrolled.text
        at = time.monotonic()
        known = wait_for(lambda: all(snapshot_people(folder) == ["obama"]
                                     for folder in robots.values()), 10,
                         "both robots knowing the new guest")
        print(f"enrolment to both snapshots: {known - at:.2f} s")

        server.stop()  # the venue's server goes down before the guest arrives
        wait_for(lambda: all((status_of(folder) or {}).get("store_problem")
                             for folder in robots.values()), 15, "both robots noticing")
        wait_for(lambda: all("obama" in greeted(tmp_path / f"{name}.jsonl") for name in ROBOTS),
                 ARRIVES + 30, "both robots greeting the guest from their snapshots: " + logs())
        assert "cannot reach the store's server" in status_of(robots["north"])["store_problem"]

        server.start()
        erased = api.delete("/api/people/obama")
        assert erased.status_code == 204, erased.text
        wait_for(lambda: all(snapshot_people(folder) == [] for folder in robots.values()), 15,
                 "both snapshots dropping the erased guest: " + logs())
        wait_for(lambda: all("obama" not in greeted(tmp_path / f"{name}.jsonl")
                             for name in ROBOTS), 15, "both events files forgetting him")
        wait_for(lambda: all(not (status_of(folder) or {}).get("store_problem")
                             for folder in robots.values()), 15, "both robots reconnected")
        for robot in processes[1:]:
            assert robot.wait(timeout=120) == 0, logs()
        assert all(greeted(tmp_path / f"{name}.jsonl") == [] for name in ROBOTS)
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=30)
        server.close()


def started(arguments, env, log: Path) -> subprocess.Popen:
    """`greeter ARGUMENTS` in a process of its own, its output in `log`."""
    with open(log, "wb") as output:  # the child keeps its own descriptor
        return subprocess.Popen([sys.executable, "-m", "greeter", *arguments], env=env,
                                stdout=output, stderr=subprocess.STDOUT)


def _answers(api: httpx.Client) -> bool:
    try:
        return api.get("/api/people").status_code == 200
    except httpx.HTTPError:
        return False
