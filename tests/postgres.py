"""A throwaway PostgreSQL server for tests: Debian's ``postgresql`` package (installed by
``scripts/bootstrap.sh`` when root), ``initdb`` and ``pg_ctl`` in a temporary folder, run by an
unprivileged user (PostgreSQL refuses root: the package's ``postgres`` user when the tests run
as root).

The server listens on 127.0.0.1 at a free port and asks for a password (scram-sha-256), as a
venue's server would: greeter reaches it with ``postgresql://greeter@127.0.0.1:PORT/guests?
passfile=...``, the password in a 0600 file. Without the package the tests that need it skip
with the reason, and fail under CI (``CI=true``).
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Optional

import pytest

USER = "greeter"
DATABASE = "guests"


def server_programs() -> Optional[Path]:
    """The folder of ``initdb`` and ``pg_ctl``: Debian keeps them off PATH, by version."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                   key=lambda path: int(path.split("/")[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def require_server_programs() -> Path:
    programs = server_programs()
    if programs is None:
        reason = ("PostgreSQL's server programs (initdb, pg_ctl) are not installed: `make "
                  "bootstrap` as root installs Debian's postgresql package")
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must have them")
        pytest.skip(reason)
    return programs


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class ThrowawayServer:
    """A PostgreSQL cluster in its own temporary folder; `stop` and `start` it mid-test."""

    def __init__(self, programs: Path, password: str = "guest-list-secret"):
        self.programs = programs
        self.folder = Path(tempfile.mkdtemp(prefix="greeter-pg-"))
        self.data = self.folder / "data"
        self.port = _free_port()
        self.password = password
        self.passfile = self.folder / "pgpass"
        self.passfile.write_text(f"127.0.0.1:{self.port}:*:{USER}:{password}\n")
        os.chmod(self.passfile, 0o600)
        self._as = self._runner()
        secret = self.folder / "password"
        secret.write_text(password + "\n")
        self._give_away(secret, self.folder)
        self._server("initdb", "-D", str(self.data), "-U", USER, "--auth-local=trust",
                     "--auth-host=scram-sha-256", f"--pwfile={secret}", "-E", "UTF8")
        secret.unlink()
        self.start()
        self._client("createdb", DATABASE)

    def url(self, database: str = DATABASE) -> str:
        return f"postgresql://{USER}@127.0.0.1:{self.port}/{database}?passfile={self.passfile}"

    def start(self) -> None:
        self._server("pg_ctl", "-D", str(self.data), "-l", str(self.folder / "server.log"),
                     "-w", "-o", f"-p {self.port} -k {self.folder} "
                     "-c listen_addresses=127.0.0.1", "start")

    def stop(self) -> None:
        self._server("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")

    def sql(self, statement: str, database: str = DATABASE) -> str:
        """Run `statement` with psql as the owner; its output, one row a line."""
        return self._client("psql", "-d", database, "-At", "-c", statement).stdout

    def close(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _runner(self) -> list:
        """Root runs the server as the package's ``postgres`` user (PostgreSQL refuses root)."""
        if os.geteuid() != 0:
            return []
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.fail("running as root, PostgreSQL needs the postgres user of Debian's package")
        return ["runuser", "-u", "postgres", "--"]

    def _give_away(self, *paths: Path) -> None:
        if self._as:
            entry = pwd.getpwnam("postgres")
            for path in paths:
                os.chown(path, entry.pw_uid, entry.pw_gid)
            os.chmod(self.folder, 0o711)

    def _server(self, program: str, *arguments: str) -> subprocess.CompletedProcess:
        return self._run([*self._as, str(self.programs / program), *arguments])

    def _client(self, program: str, *arguments: str) -> subprocess.CompletedProcess:
        return self._run([str(self.programs / program), "-h", "127.0.0.1", "-p",
                          str(self.port), "-U", USER, "-w", *arguments],
                         PGPASSFILE=str(self.passfile))

    def _run(self, command: list, **env: str) -> subprocess.CompletedProcess:
        result = subprocess.run(command, capture_output=True, text=True,
                                env={**os.environ, **env}, cwd=str(self.folder))
        if result.returncode != 0:
            raise RuntimeError(f"{command[0]} failed ({result.returncode}): {result.stderr}")
        return result
