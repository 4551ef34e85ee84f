"""The enrolled people and their face embeddings, in one SQLite file.

What is stored, and nothing more: for each person an id, a display name and a creation time;
for each enrolled photo the 128 float32 embedding, the photo's SHA-256 and file name (to skip
duplicates and to tell staff what is enrolled), two quality figures and the model id. Never a
photo, and never anything about a face that was not enrolled on purpose.

Guarantees:

* every change is one transaction (a person appears together with their first embedding; a
  killed enrolment leaves the store as it was before the photo being written);
* WAL journal, so the running robot reads while staff enrol;
* the file is created ``0600`` in a ``0700`` folder, and SQLite gives its ``-wal``/``-shm``
  files the same mode;
* removing a person erases their rows with ``secure_delete`` and checkpoints the WAL, so their
  embeddings do not linger in free pages or in the journal.
"""

import os
import re
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, List, Optional, Union

import numpy as np

from greeter.errors import StoreError
from greeter.faces import MODEL_ID
from greeter.matching import EMBEDDING_SIZE, Gallery, MatchPolicy

SCHEMA_VERSION = 1

#: Person ids are lowercase slugs: they name enrolment folders and greeting keys.
PERSON_ID_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9_-]{0,62}[a-z0-9])?$")

_SCHEMA = """
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
    id           INTEGER PRIMARY KEY,
    person_id    TEXT NOT NULL REFERENCES people(id) ON DELETE CASCADE,
    vector       BLOB NOT NULL,
    photo_sha256 TEXT NOT NULL UNIQUE,
    photo_name   TEXT NOT NULL,
    face_size    INTEGER NOT NULL,
    sharpness    REAL NOT NULL,
    model_id     TEXT NOT NULL,
    created      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS embeddings_by_person ON embeddings(person_id);
"""


def check_person_id(person_id: str) -> str:
    """Return `person_id` if valid, else raise `StoreError` saying what a valid id looks like."""
    if not PERSON_ID_PATTERN.match(person_id or ""):
        suggestion = re.sub(r"[^a-z0-9_-]+", "-", (person_id or "").lower()).strip("-_")
        hint = f", e.g. {suggestion}" if suggestion and PERSON_ID_PATTERN.match(suggestion) else ""
        raise StoreError(
            f"'{person_id}' is not a valid person id: use lowercase letters, digits, '-' and "
            f"'_' (at most 64, starting and ending with a letter or digit){hint}"
        )
    return person_id


def name_from_id(person_id: str) -> str:
    """A display name guessed from an id: ``alex-mueller`` -> ``Alex Mueller``."""
    return " ".join(part.capitalize() for part in re.split(r"[-_]+", person_id) if part)


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Person:
    id: str
    name: str
    created: str
    photos: int


@dataclass(frozen=True)
class EnrolledPhoto:
    """One stored embedding, described without its vector."""

    person_id: str
    photo_name: str
    photo_sha256: str
    face_size: int
    sharpness: float
    model_id: str
    created: str


class Store:
    """An open embedding store. Use as a context manager, or call `close`.

    Safe to share between threads (one connection behind a lock); several processes may
    open the same file (WAL).
    """

    def __init__(self, path: Union[str, Path], create: bool = True, model_id: str = MODEL_ID):
        self.path = Path(path)
        self.model_id = model_id
        self._lock = threading.RLock()
        if not self.path.exists():
            if not create:
                raise StoreError(f"{self.path}: no store here yet (enrol somebody first)")
            _create_private_file(self.path)
        elif self.path.is_dir():
            raise StoreError(f"{self.path}: is a directory, not a store file")
        elif self.path.stat().st_mode & 0o077:
            os.chmod(self.path, 0o600)
        try:
            self._db = sqlite3.connect(
                str(self.path), timeout=10.0, isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            self._db.execute("PRAGMA secure_delete=ON")
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise StoreError(f"{self.path}: not a greeter store or damaged ({error})") from None
        self._data_version = self._read_data_version()

    # -- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def _transaction(self) -> "_Transaction":
        return _Transaction(self._db, self._lock)

    def _migrate(self) -> None:
        """Create the schema in a new file; refuse newer schemas and other models. Opening an
        up-to-date store writes nothing, so read-only commands leave the file untouched."""
        if self._db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            with self._transaction() as db:
                if db.execute("PRAGMA user_version").fetchone()[0] == 0:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute("INSERT INTO meta VALUES ('model_id', ?)", (self.model_id,))
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path}: made by a newer greeter (schema {version}); upgrade greeter"
            )
        stored_model = self._db.execute("SELECT value FROM meta WHERE key='model_id'").fetchone()
        if stored_model is None or stored_model[0] != self.model_id:
            raise StoreError(
                f"{self.path}: holds embeddings of model {stored_model[0] if stored_model else '?'}"
                f", this greeter computes {self.model_id}; they cannot be compared (re-enrol)"
            )

    # -- reading ----------------------------------------------------------------------

    def people(self) -> List[Person]:
        """Everybody enrolled, by id."""
        with self._lock:
            rows = self._db.execute(
                "SELECT p.id, p.name, p.created, COUNT(e.id) FROM people p "
                "LEFT JOIN embeddings e ON e.person_id = p.id GROUP BY p.id ORDER BY p.id"
            ).fetchall()
        return [Person(*row) for row in rows]

    def person(self, person_id: str) -> Optional[Person]:
        return next((p for p in self.people() if p.id == person_id), None)

    def photos(self, person_id: str) -> List[EnrolledPhoto]:
        with self._lock:
            rows = self._db.execute(
                "SELECT person_id, photo_name, photo_sha256, face_size, sharpness, model_id, "
                "created FROM embeddings WHERE person_id=? ORDER BY id",
                (person_id,),
            ).fetchall()
        return [EnrolledPhoto(*row) for row in rows]

    def photo_owner(self, photo_sha256: str) -> Optional[str]:
        """Id of the person a photo (by content hash) is enrolled for, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT person_id FROM embeddings WHERE photo_sha256=?", (photo_sha256,)
            ).fetchone()
        return row[0] if row else None

    def embeddings(self) -> Iterator:
        """``(person_id, vector)`` pairs for every stored embedding."""
        with self._lock:
            rows = self._db.execute("SELECT person_id, vector FROM embeddings").fetchall()
        for person_id, blob in rows:
            yield person_id, np.frombuffer(blob, dtype="<f4")

    def gallery(self) -> Gallery:
        """All embeddings as one matrix for matching."""
        return Gallery.from_rows(self.embeddings())

    def calibration(self) -> Optional[MatchPolicy]:
        """The policy saved by `greeter calibrate`, if any."""
        with self._lock:
            rows = dict(self._db.execute(
                "SELECT key, value FROM meta WHERE key IN ('threshold', 'ratio')"
            ).fetchall())
        if len(rows) != 2:
            return None
        return MatchPolicy(threshold=float(rows["threshold"]), ratio=float(rows["ratio"]))

    def changed(self) -> bool:
        """True once after another connection (the CLI, another process) committed a change.

        Costs one ``PRAGMA data_version``: cheap enough to ask every second.
        """
        version = self._read_data_version()
        if version == self._data_version:
            return False
        self._data_version = version
        return True

    def _read_data_version(self) -> int:
        with self._lock:
            return self._db.execute("PRAGMA data_version").fetchone()[0]

    # -- writing (each method is one transaction) --------------------------------------

    def add_embedding(
        self,
        person_id: str,
        name: Optional[str],
        vector: np.ndarray,
        photo_sha256: str,
        photo_name: str,
        face_size: int,
        sharpness: float,
    ) -> None:
        """Enrol one photo's embedding, creating the person when new.

        A `name` different from the stored one renames the person in the same transaction.
        """
        check_person_id(person_id)
        vector = np.asarray(vector, dtype="<f4").reshape(-1)
        if vector.shape != (EMBEDDING_SIZE,) or not np.all(np.isfinite(vector)):
            raise StoreError(f"not a valid {EMBEDDING_SIZE}-d embedding for {person_id}")
        with self._transaction() as db:
            existing = db.execute("SELECT name FROM people WHERE id=?", (person_id,)).fetchone()
            if existing is None:
                db.execute(
                    "INSERT INTO people (id, name, created) VALUES (?, ?, ?)",
                    (person_id, name or name_from_id(person_id), now_iso()),
                )
            elif name and name != existing[0]:
                db.execute("UPDATE people SET name=? WHERE id=?", (name, person_id))
            try:
                db.execute(
                    "INSERT INTO embeddings (person_id, vector, photo_sha256, photo_name, "
                    "face_size, sharpness, model_id, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (person_id, vector.tobytes(), photo_sha256, photo_name, int(face_size),
                     float(sharpness), self.model_id, now_iso()),
                )
            except sqlite3.IntegrityError:
                owner = db.execute(
                    "SELECT person_id FROM embeddings WHERE photo_sha256=?", (photo_sha256,)
                ).fetchone()
                raise StoreError(
                    f"{photo_name}: this photo is already enrolled for {owner[0] if owner else '?'}"
                ) from None

    def rename(self, person_id: str, name: str) -> None:
        if not name.strip():
            raise StoreError("a display name cannot be empty")
        with self._transaction() as db:
            if db.execute("UPDATE people SET name=? WHERE id=?", (name.strip(), person_id)).rowcount == 0:
                raise StoreError(f"nobody with id '{person_id}' is enrolled")

    def remove(self, person_id: str) -> int:
        """Erase a person and every embedding of theirs; returns how many embeddings went."""
        with self._transaction() as db:
            count = db.execute(
                "SELECT COUNT(*) FROM embeddings WHERE person_id=?", (person_id,)
            ).fetchone()[0]
            if db.execute("DELETE FROM people WHERE id=?", (person_id,)).rowcount == 0:
                raise StoreError(f"nobody with id '{person_id}' is enrolled")
        with self._lock:
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return count

    def save_calibration(self, policy: MatchPolicy) -> None:
        with self._transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)",
                [("threshold", repr(policy.threshold)), ("ratio", repr(policy.ratio)),
                 ("calibrated", now_iso())],
            )


class _Transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, or ``ROLLBACK`` on any exception."""

    def __init__(self, db: sqlite3.Connection, lock: threading.RLock):
        self._db = db
        self._lock = lock

    def __enter__(self) -> sqlite3.Connection:
        self._lock.acquire()
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            self._lock.release()
            raise
        return self._db

    def __exit__(self, exc_type, exc, traceback) -> None:
        try:
            self._db.execute("ROLLBACK" if exc_type else "COMMIT")
        finally:
            self._lock.release()


def _create_private_file(path: Path) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(str(path), os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as error:
        raise StoreError(f"{path}: cannot create the store ({error.strerror})") from None
