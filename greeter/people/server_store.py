"""The store on a PostgreSQL server, shared by several robots, their consoles and the CLI.

The same tables as an SQLite store (`greeter.people.store`), and the same guarantees where an
engine allows them:

* every change is one transaction, and changes are serialised fleet-wide by one advisory lock,
  so a check made inside a change (the photo is not enrolled, the face is nobody else's:
  `StoreBase.exclusive`) still holds when it commits, whichever machine enrols at the same
  time;
* every change to a person (enrolment, rename, erasure, import, copy), made by whatever
  machine, notifies the channel `CHANNEL` with the person's id when it commits: running robots
  LISTEN and apply that person's change to their matcher (`greeter.live.shared_gallery`);
* an erasure is followed by ``VACUUM`` of the three tables, so the erased rows do not stay in
  the tables' dead space; the server's write-ahead log keeps them until its next checkpoints
  recycle it (minutes), and its backups as long as they are kept: the venue's to manage;
* the password is never in the address (`greeter.settings.ServerAddress`): libpq reads it
  from ``passfile=``, ``PGPASSFILE`` or ``~/.pgpass``;
* a server that cannot be reached, refuses the user or lacks the database is a
  `StoreUnavailable` naming the problem and the fix; a lost connection is opened again at the
  next use.

The role named in the address owns the database (``createdb -O greeter guests``): the first
greeter to open it creates the tables.
"""

import re
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

import psycopg

from greeter.errors import StoreError
from greeter.people.store import SCHEMA_VERSION, NoStoreYet, StoreBase, StoreUnavailable
from greeter.recognition.faces import MODEL_ID
from greeter.settings import ServerAddress

#: The LISTEN/NOTIFY channel of person changes: the payload is the person's id.
CHANNEL = "greeter_people"

#: The greetings' document, one for the fleet.
GREETINGS_DOCUMENT = "greetings"

#: The channel of greetings changes (no payload: robots read the whole document, a few KB).
GREETINGS_CHANNEL = "greeter_greetings"

#: One number for the advisory lock that serialises every greeter change on a server.
_WRITE_LOCK = 0x67726565  # "gree"

#: A connection idle this long is probed before use (`ServerStore._connected`).
IDLE_PROBE_SECONDS = 1.0

#: How long to wait for the server to answer a connection before calling it unreachable.
CONNECT_TIMEOUT_SECONDS = 5

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS people (
    id      TEXT PRIMARY KEY,
    name    TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS embeddings (
    id           BIGSERIAL PRIMARY KEY,
    person_id    TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    vector       BYTEA NOT NULL,
    photo_sha256 TEXT NOT NULL UNIQUE,
    photo_name   TEXT NOT NULL,
    face_size    INTEGER NOT NULL,
    sharpness    DOUBLE PRECISION NOT NULL,
    model_id     TEXT NOT NULL,
    created      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS embeddings_by_person ON embeddings(person_id);
CREATE TABLE IF NOT EXISTS more_embeddings (
    embedding_id BIGINT NOT NULL REFERENCES embeddings(id) ON DELETE CASCADE,
    model_id     TEXT NOT NULL,
    vector       BYTEA NOT NULL,
    PRIMARY KEY (embedding_id, model_id)
);
CREATE TABLE IF NOT EXISTS documents (
    name    TEXT PRIMARY KEY,
    body    TEXT NOT NULL,
    version BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS door_requests (
    robot  TEXT NOT NULL,
    person TEXT NOT NULL,
    kind   TEXT NOT NULL,
    body   TEXT NOT NULL,
    PRIMARY KEY (robot, person, kind)
);
CREATE TABLE IF NOT EXISTS robots (
    name   TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    seen   TIMESTAMPTZ NOT NULL
);
CREATE OR REPLACE FUNCTION greeter_person_changed() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}', to_jsonb(
        CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END) ->> TG_ARGV[0]);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
DROP TRIGGER IF EXISTS people_changed ON people;
CREATE TRIGGER people_changed AFTER INSERT OR UPDATE OR DELETE ON people
    FOR EACH ROW EXECUTE FUNCTION greeter_person_changed('id');
DROP TRIGGER IF EXISTS embeddings_changed ON embeddings;
CREATE TRIGGER embeddings_changed AFTER INSERT OR UPDATE OR DELETE ON embeddings
    FOR EACH ROW EXECUTE FUNCTION greeter_person_changed('person_id')
"""


def connect(address: ServerAddress, autocommit: bool = True) -> psycopg.Connection:
    """A connection to the server at `address`, or `StoreUnavailable` saying why not."""
    try:
        return psycopg.connect(str(address), autocommit=autocommit,
                               connect_timeout=CONNECT_TIMEOUT_SECONDS)
    except psycopg.Error as error:
        raise explain(address, error, None) from None


def explain(address: ServerAddress, error: Exception, not_done: Optional[str]) -> StoreError:
    """The `StoreError` for a server's error: which problem, and its fix."""
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    where = f"the store's server {address.host}"
    if "password authentication failed" in text or "no password supplied" in text:
        return StoreUnavailable(
            f"{where} refused user {_user(address)} ({text})",
            "check the password in the file named by passfile= (mode 0600), PGPASSFILE or "
            "~/.pgpass: one line host:port:database:user:password", not_done)
    if re.search(r'database ".*" does not exist', text):
        return StoreUnavailable(
            f"{where} has no database {address.database}",
            f"create it, owned by the store's user: `createdb -O {_user(address)} "
            f"{address.database}` on the server", not_done)
    if "permission denied" in text:
        return StoreUnavailable(
            f"{where} denies user {_user(address)} ({text})",
            f"make {_user(address)} the database's owner: `ALTER DATABASE "
            f"{address.database} OWNER TO {_user(address)}`", not_done)
    if isinstance(error, psycopg.OperationalError):
        return StoreUnavailable(
            f"cannot reach {where} ({text})",
            f"check that the server runs (on it: `pg_lsclusters`), that it listens on the "
            f"network (listen_addresses, pg_hba.conf) and that this machine reaches it (`nc -vz "
            f"{address.host.replace(':', ' ')}`); robots greet from their snapshots meanwhile",
            not_done)
    return StoreError(f"{where}: {text}" + (f"; {not_done}" if not_done else ""))


def _user(address: ServerAddress) -> str:
    return urlsplit(address).username or "?"


class _Portable:
    """A psycopg connection that takes SQLite's ``?`` placeholders, so the statements of
    `StoreBase` are written once. None of them holds a literal ``?`` or ``%``."""

    def __init__(self, connection: psycopg.Connection):
        self.connection = connection

    def execute(self, statement: str, values: Sequence[Any] = ()) -> psycopg.Cursor:
        return self.connection.execute(statement.replace("?", "%s"), values)

    def executemany(self, statement: str, rows: Sequence[Sequence[Any]]) -> None:
        if rows:
            with self.connection.cursor() as cursor:
                cursor.executemany(statement.replace("?", "%s"), rows)


class ServerStore(StoreBase):
    """An open store on a PostgreSQL server. Use as a context manager, or call `close`.

    Safe to share between threads (one connection behind a lock). `local_folder` is where
    this machine keeps its own files (`greeter.settings.Settings.local_folder`).
    """

    def __init__(self, address: ServerAddress, local_folder: Path, create: bool = True,
                 model_id: str = MODEL_ID):
        self.address = address
        self.location = f"{address.host}/{address.database}"
        self.local_folder = Path(local_folder)
        self.model_id = model_id
        self._lock = threading.RLock()
        self._db = _Portable(connect(address))
        self._used_at = time.monotonic()
        try:
            self._migrate(create)
        except BaseException:
            self._db.connection.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._db.connection.close()

    @contextmanager
    def _translated(self, not_done: Optional[str] = None) -> Iterator[None]:
        try:
            yield
        except psycopg.Error as error:
            raise explain(self.address, error, not_done) from None

    def _connected(self) -> _Portable:
        """The connection, opened again if the server dropped it (restarted, network lost).

        A connection the server closed while it was idle looks sound until it is used, and a
        change must not fail for that (the console stays open for days): one idle for
        `IDLE_PROBE_SECONDS` is asked ``SELECT 1`` first, a round trip."""
        connection = self._db.connection
        idle = time.monotonic() - self._used_at
        self._used_at = time.monotonic()
        if not (connection.closed or connection.broken):
            if idle < IDLE_PROBE_SECONDS:
                return self._db
            try:
                connection.execute("SELECT 1")
                return self._db
            except psycopg.OperationalError:
                connection.close()
        self._db = _Portable(connect(self.address))
        return self._db

    @contextmanager
    def _reading(self) -> Iterator[_Portable]:
        with self._lock, self._translated():
            yield self._db if self._depth else self._connected()  # never reconnect mid-change

    @contextmanager
    def _transaction(self, not_done: str) -> Iterator[_Portable]:
        """A transaction holding the fleet's write lock; on any exception it rolls back."""
        with self._lock, self._translated(not_done):
            if self._depth:  # inside `exclusive`: its transaction
                yield self._db
                return
            db = self._connected()
            self._depth += 1
            try:
                with db.connection.transaction():
                    db.execute("SELECT pg_advisory_xact_lock(?)", (_WRITE_LOCK,))
                    yield db
            finally:
                self._depth -= 1

    def _migrate(self, create: bool) -> None:
        """Create the tables in an empty database (with `create`); refuse newer schemas and
        other models. Opening a set-up store writes nothing."""
        with self._reading() as db:
            found = db.execute("SELECT to_regclass('meta') IS NOT NULL").fetchone()[0]
            stamp = dict(db.execute("SELECT key, value FROM meta WHERE key IN "
                                    "('schema', 'model_id')").fetchall()) if found else {}
        if not stamp:
            if not create:
                raise NoStoreYet(f"{self.location}: no store here yet (enrol somebody first)")
            with self._transaction("the new store was not set up") as db:
                db.connection.execute(_SCHEMA)
                self._set_meta(db, [("schema", str(SCHEMA_VERSION)),
                                    ("model_id", self.model_id)])
            stamp = {"schema": str(SCHEMA_VERSION), "model_id": self.model_id}
        self._refuse_other_stamp(int(stamp.get("schema", 0)), stamp.get("model_id"))

    def check_integrity(self) -> None:
        """The server keeps its own pages sound; this only checks that it answers."""
        with self._reading() as db:
            db.execute("SELECT 1")

    def check_writable(self, not_done: str = "nothing was changed") -> None:
        """Raise what a change would raise now (unreachable, refused, read-only role)."""
        with self._lock, self._translated(not_done):
            db = self._connected()
            with db.connection.transaction(force_rollback=True):
                db.execute("UPDATE meta SET value=value WHERE key='model_id'")

    def greetings_home(self) -> "SharedGreetings":
        return SharedGreetings(self)

    def document(self, name: str) -> Optional[str]:
        """A small shared document by name (the consoles' password hash and token hashes:
        `greeter.console.auth.Credentials`; the greetings: `SharedGreetings`), or None."""
        with self._reading() as db:
            return _read_document(db, name)

    def put_document(self, name: str, text: str) -> None:
        with self._transaction(f"{name} was not saved") as db:
            _write_document(db, name, text)

    def door(self, robot: Optional[str]) -> "ServerDoor":
        return ServerDoor(self, robot)

    def publish_status(self, robot: str, status: str) -> None:
        """Publish `robot`'s status (`greeter.live.status.RobotStatus` as JSON) for every
        console: one row per robot, replaced; `seen` is the server's clock, so robots with
        wrong clocks are still compared fairly."""
        with self._lock, self._translated("the status was not published"):
            self._connected().connection.execute(
                "INSERT INTO robots (name, status, seen) VALUES (%s, %s, now()) ON CONFLICT "
                "(name) DO UPDATE SET status = excluded.status, seen = excluded.seen",
                (robot, status))

    def robot_statuses(self) -> List[Tuple[str, str, float]]:
        """Every robot that published a status: (name, status JSON, seconds since), by name."""
        with self._reading() as db:
            return [(name, status, float(age)) for name, status, age in db.connection.execute(
                "SELECT name, status, extract(epoch FROM now() - seen) FROM robots "
                "ORDER BY name").fetchall()]

    @contextmanager
    def _snapshot(self, db: _Portable) -> Iterator[None]:
        """A repeatable-read transaction: its statements see one state of the server."""
        db.connection.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            yield
        finally:
            db.connection.execute("ROLLBACK")

    def _new_embedding_id(self, db: _Portable, statement: str, values: Sequence[Any]) -> int:
        return db.execute(statement + " RETURNING id", values).fetchone()[0]

    def _set_meta(self, db: _Portable, values: Sequence[Tuple[str, str]]) -> None:
        db.executemany("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) "
                       "DO UPDATE SET value = excluded.value", values)

    def _after_erasure(self, done: str) -> None:
        """``VACUUM`` the tables, so that erased rows are not left in their dead space."""
        with self._lock, self._translated(f"{done}the server may keep the erased rows until "
                                          "its next automatic vacuum"):
            db = self._connected()
            db.execute("VACUUM people, embeddings, more_embeddings")


class SharedGreetings:
    """The fleet's greetings on the server, one document (`greeter.greetings.edit.GreetingsHome`):
    edited under the fleet's write lock, each save notifying `GREETINGS_CHANNEL`."""

    def __init__(self, store: ServerStore):
        self._store = store

    def text(self) -> Optional[str]:
        return self._store.document(GREETINGS_DOCUMENT)

    @contextmanager
    def editing(self) -> Iterator[Tuple[Optional[str], Callable[[str], None]]]:
        with self._store._transaction("the greetings were not saved") as db:
            saved: List[str] = []
            yield _read_document(db, GREETINGS_DOCUMENT), saved.append
            if saved:
                _write_document(db, GREETINGS_DOCUMENT, saved[-1])
                db.execute("SELECT pg_notify(?, '')", (GREETINGS_CHANNEL,))


def _read_document(db: _Portable, name: str) -> Optional[str]:
    row = db.execute("SELECT body FROM documents WHERE name = ?", (name,)).fetchone()
    return row[0] if row else None


def _write_document(db: _Portable, name: str, text: str) -> None:
    db.execute("INSERT INTO documents (name, body, version) VALUES (?, ?, 1) ON CONFLICT "
               "(name) DO UPDATE SET body = excluded.body, version = documents.version + 1",
               (name, text))


class ServerDoor:
    """Enrol-at-the-door requests and results on the server, addressed to the robot `robot`
    (`greeter.people.door.DoorChannel`); with `robot` None, `delete` reaches every robot's
    (erasing a person). The robot's follower relays them to and from its door folder
    (`greeter.live.shared_gallery`), so the robot's own loop never waits for the network."""

    def __init__(self, store: ServerStore, robot: Optional[str]):
        self._store = store
        self.robot = robot

    def put(self, person: str, kind: str, content: bytes) -> None:
        with self._store._transaction(f"the door {kind} was not sent") as db:
            db.execute("INSERT INTO door_requests (robot, person, kind, body) VALUES "
                       "(?, ?, ?, ?) ON CONFLICT (robot, person, kind) DO UPDATE SET "
                       "body = excluded.body", (self._robot(), person, kind,
                                                content.decode("utf-8")))

    def get(self, person: str, kind: str) -> Optional[bytes]:
        with self._store._reading() as db:
            row = db.execute("SELECT body FROM door_requests WHERE robot = ? AND person = ? "
                             "AND kind = ?", (self._robot(), person, kind)).fetchone()
        return row[0].encode("utf-8") if row else None

    def delete(self, person: str, kind: str) -> bool:
        with self._store._transaction(f"the door {kind} was not deleted") as db:
            if self.robot is None:
                return db.execute("DELETE FROM door_requests WHERE person = ? AND kind = ?",
                                  (person, kind)).rowcount > 0
            return db.execute("DELETE FROM door_requests WHERE robot = ? AND person = ? AND "
                              "kind = ?", (self.robot, person, kind)).rowcount > 0

    def waiting(self) -> Optional[List[Tuple[str, bytes]]]:
        with self._store._reading() as db:
            rows = db.execute("SELECT person, body FROM door_requests WHERE robot = ? AND "
                              "kind = 'request' ORDER BY person", (self._robot(),)).fetchall()
        return [(person, body.encode("utf-8")) for person, body in rows]

    def _robot(self) -> str:
        if self.robot is None:
            raise StoreError("a door request needs the robot it is for")
        return self.robot


def listening(address: ServerAddress) -> psycopg.Connection:
    """A connection LISTENing on `CHANNEL` and `GREETINGS_CHANNEL` (autocommit:
    notifications arrive between statements). `StoreUnavailable` when the server cannot be
    reached."""
    connection = connect(address)
    try:
        connection.execute(f"LISTEN {CHANNEL}")
        connection.execute(f"LISTEN {GREETINGS_CHANNEL}")
    except psycopg.Error as error:
        connection.close()
        raise explain(address, error, None) from None
    return connection
