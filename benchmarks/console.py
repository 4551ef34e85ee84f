"""The web console with 1,000 people enrolled: page and API latency, API enrolment beside the
CLI, and the console's idle memory, all in one run.

The console is started as staff start it (``greeter console``, a process of its own) on a
store of 1,000 people (random embeddings, one photo each); requests come from this process
over loopback, one at a time.

* p95 latency of ``GET /people`` (signed in) and ``GET /api/people`` (bearer token), 200
  requests each. Goal: <= 100 ms.
* one photo (samples/obama.jpg) enrolled through ``POST /api/people/{id}/photos`` beside
  ``greeter enroll --person`` of the same photo into a copy of the same store; the API's first
  enrolment loads the face models (cold), the second finds them loaded (warm). Goal: the API
  within 1.3x of the CLI.
* the console's resident memory once started and signed in, before any enrolment (idle), and
  after enrolling (models loaded). Goal: idle <= 120 MB.
* p95 of ``GET /api/people`` while 20 enrolments are sent at once (the console enrols one at a
  time; the others wait), beside the same p95 at rest.
* the console's peak memory (VmHWM) through a hostile burst sent without signing in: nine
  100 MB sign-in forms at once, thirty wrong passwords at once and 600 idle connections.
  Goal: <= 150 MB.

Usage: python benchmarks/console.py [--samples ../shared/faces/samples] [--people 1000]
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
import psutil

from greeter.console.auth import Credentials
from greeter.people.store import EmbeddingRecord, PersonRecord, Store, now_iso
from greeter.recognition.faces import MODEL_ID

REPO = Path(__file__).resolve().parent.parent
PASSWORD = "benchmark password"


def fill_store(path: Path, people: int) -> None:
    rng = np.random.default_rng(0)
    records = []
    for index in range(people):
        vector = rng.normal(size=128).astype("<f4")
        records.append(PersonRecord(f"guest-{index:04d}", f"Guest {index:04d}", now_iso(), (
            EmbeddingRecord(vector / np.linalg.norm(vector), f"{index:064x}", f"{index}.jpg",
                            90 + index % 200, 120.0, now_iso()),)))
    with Store(path) as store:
        store.import_people(records, MODEL_ID)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(store: Path, greetings: Path) -> dict:
    return dict(os.environ, GREETER_STORE=str(store), GREETER_GREETINGS=str(greetings),
                PYTHONPATH=os.pathsep.join(filter(None, [str(REPO),
                                                         os.environ.get("PYTHONPATH")])))


def start_console(folder: Path, port: int) -> subprocess.Popen:
    server = subprocess.Popen(
        [sys.executable, "-m", "greeter", "console", "--listen", f"127.0.0.1:{port}"],
        env=environment(folder / "data" / "greeter.sqlite3", folder / "greetings.json"),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/login", timeout=2)
            return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the console did not start")


def p95_ms(client: httpx.Client, url: str, requests: int, **kwargs) -> float:
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url, **kwargs)
        times.append(time.perf_counter() - started)
        response.raise_for_status()
    return float(np.percentile(times, 95) * 1000)


def sign_in(client: httpx.Client, base: str) -> None:
    page = client.get(f"{base}/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)
    response = client.post(f"{base}/login", data={"login_token": token, "password": PASSWORD})
    if response.status_code != 303:
        raise SystemExit(f"signing in failed: {response.status_code}")


def rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / 1e6


def peak_rss_mb(pid: int) -> float:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmHWM:\s+(\d+) kB", status, re.M).group(1)) / 1024


def p95_during_enrolments(client: httpx.Client, base: str, headers: dict, photo: Path,
                          enrolments: int, requests: int) -> float:
    """p95 of GET /api/people while `enrolments` photos are posted at once (each made a
    different file by a trailer the JPEG decoder ignores)."""
    content = photo.read_bytes()

    def enrol(index: int) -> int:
        with httpx.Client(timeout=600) as own:
            return own.post(f"{base}/api/people/parallel-{index:02d}/photos", headers=headers,
                            files={"photo": (photo.name, content + b"%02d" % index,
                                             "image/jpeg")}).status_code

    with ThreadPoolExecutor(enrolments) as pool:
        sent = [pool.submit(enrol, index) for index in range(enrolments)]
        time.sleep(0.5)  # all of them sent and waiting for the one enrolment at a time
        timings = []
        while not all(future.done() for future in sent) and len(timings) < requests:
            started = time.perf_counter()
            client.get(f"{base}/api/people", headers=headers)
            timings.append((time.perf_counter() - started) * 1000)
    timings.sort()
    return timings[int(len(timings) * 0.95) - 1] if timings else float("nan")


def hostile_burst(base: str) -> None:
    """What an attacker on the event's network can send without signing in."""
    host, port = "127.0.0.1", int(base.rsplit(":", 1)[1])
    body = b"--b\r\nContent-Disposition: form-data; name=\"password\"\r\n\r\n" + b"A" * (4 << 20)
    head = (b"POST /login HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
            b"boundary=b\r\nContent-Length: %d\r\n\r\n" % (100 << 20))

    def big_form(_: int) -> None:
        with socket.create_connection((host, port), timeout=30) as sock:
            try:
                sock.sendall(head + body)
                sock.recv(65536)
            except OSError:
                pass

    with ThreadPoolExecutor(9) as pool:
        list(pool.map(big_form, range(9)))
    with httpx.Client(timeout=60) as client:
        page = client.get(f"{base}/login")
        token = re.search(r'name="login_token" value="([^"]+)"', page.text).group(1)
        cookies = dict(client.cookies.items())
    with ThreadPoolExecutor(30) as pool:
        list(pool.map(lambda index: httpx.post(
            f"{base}/login", cookies=cookies, timeout=60,
            data={"login_token": token, "password": f"wrong {index}"}), range(30)))
    idle = [socket.create_connection((host, port)) for _ in range(600)]
    time.sleep(2)
    for sock in idle:
        sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=Path, default=REPO.parent / "shared/faces/samples")
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    photo = args.samples / "obama.jpg"
    if not photo.is_file():
        raise SystemExit(f"{photo} not found (--samples)")

    with tempfile.TemporaryDirectory(prefix="greeter-console-bench-") as folder:
        folder = Path(folder)
        store = folder / "data" / "greeter.sqlite3"
        fill_store(store, args.people)
        cli_store = folder / "cli" / "greeter.sqlite3"
        cli_store.parent.mkdir()
        shutil.copy(store, cli_store)
        credentials = Credentials(store.parent)
        credentials.set_password(PASSWORD)
        token = credentials.create_token("benchmark")
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        server = start_console(folder, port)
        try:
            with httpx.Client(follow_redirects=False, timeout=120) as client:
                sign_in(client, base)
                headers = {"authorization": f"Bearer {token}"}
                people_page = p95_ms(client, f"{base}/people", args.requests)
                api_people = p95_ms(client, f"{base}/api/people", args.requests,
                                    headers=headers)
                idle = rss_mb(server.pid)

                def enrol_through_api() -> float:
                    started = time.perf_counter()
                    response = client.post(
                        f"{base}/api/people/bench-api/photos", headers=headers,
                        files={"photo": (photo.name, photo.read_bytes(), "image/jpeg")})
                    elapsed = time.perf_counter() - started
                    if response.status_code != 201:
                        raise SystemExit(f"API enrolment failed: {response.text}")
                    return elapsed

                api_cold = enrol_through_api()
                client.delete(f"{base}/api/people/bench-api", headers=headers)
                api_warm = enrol_through_api()
                loaded = rss_mb(server.pid)
                busy_api_people = p95_during_enrolments(client, base, headers, photo, 20,
                                                        args.requests)
            server.terminate()
            server.wait(timeout=20)
            server = start_console(folder, port)
            hostile_burst(base)
            hostile_peak = peak_rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=20)

        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "greeter", "enroll", "--person", "bench-cli",
                        str(photo)], env=environment(cli_store, folder / "greetings.json"),
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        cli = time.perf_counter() - started

    print(f"console with {args.people} people enrolled, {args.requests} requests each")
    print(f"GET /people p95:            {people_page:7.1f} ms   (goal <= 100 ms)")
    print(f"GET /api/people p95:        {api_people:7.1f} ms   (goal <= 100 ms)")
    print(f"enrol obama.jpg, API cold:  {api_cold:7.2f} s    ({api_cold / cli:.2f}x the CLI; "
          "loads the models)")
    print(f"enrol obama.jpg, API warm:  {api_warm:7.2f} s    ({api_warm / cli:.2f}x the CLI; "
          "goal <= 1.3x)")
    print(f"greeter enroll --person:    {cli:7.2f} s    (baseline: a whole CLI run)")
    print(f"console RSS idle:           {idle:7.1f} MB   (goal <= 120 MB)")
    print(f"console RSS models loaded:  {loaded:7.1f} MB")
    print(f"GET /api/people p95, 20 enrolments at once: {busy_api_people:7.1f} ms   (at rest "
          f"{api_people:.1f} ms)")
    print(f"console peak RSS, hostile burst before sign-in: {hostile_peak:7.1f} MB   (goal <= "
          "150 MB; a fresh console, models not loaded)")


if __name__ == "__main__":
    main()
