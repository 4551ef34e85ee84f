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
  embeddings do not linger in free pages or in the journal;
* a damaged store refuses every change (``PRAGMA quick_check`` inside each write transaction),
  and no SQLite error reaches a user raw: each becomes a `StoreError` naming the problem (damaged,
  full disk, read-only file, folder or file system, another user's journal, busy), what was not
  done and the fix. A failed change leaves the store exactly as it was.
"""

import itertools
import os
import pwd
import shutil
import sqlite3
import stat
import threading
from collections import Counter
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Dict,
    FrozenSet,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import numpy as np

from greeter.atomicfile import make_private
from greeter.errors import StoreError
from greeter.greetings.edit import GreetingsHome
from greeter.names import check_name, check_person_id, name_from_id
from greeter.recognition.faces import MODEL_ID
from greeter.recognition.matching import EMBEDDING_SIZE, Gallery, MatchPolicy
from greeter.settings import ServerAddress

if TYPE_CHECKING:
    from greeter.people.door import DoorChannel

#: 1: people and one embedding per photo; 2: each photo's embeddings by the other models.
SCHEMA_VERSION = 2

#: The most ``?`` values in one statement: SQLite before 3.32 (Ubuntu 18.04's) allows 999.
_MOST_VALUES = 900

#: How long a change waits for another process's change to finish before giving up.
BUSY_TIMEOUT_SECONDS = 10.0

#: SQLite needs a few pages, or a 32 KiB block of the ``-shm`` index; with less than this free,
#: an I/O error while writing is taken for a full disk.
_NEARLY_FULL_BYTES = 1 << 20

_RESTORE = ("move it aside and import your latest export into a new store (`greeter people "
            "import people.bundle`), or restore a backup")

#: Schema 2: an enrolled photo's embeddings by the other installed models (the store's own
#: model's is in `embeddings`), so that switching model at an event needs no re-enrolment; they
#: go with their photo (ON DELETE CASCADE, and a person's photos go with them).
_MORE_EMBEDDINGS = """
CREATE TABLE IF NOT EXISTS more_embeddings (
    embedding_id INTEGER NOT NULL REFERENCES embeddings(id) ON DELETE CASCADE,
    model_id     TEXT NOT NULL,
    vector       BLOB NOT NULL,
    PRIMARY KEY (embedding_id, model_id)
)
"""

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


@dataclass(frozen=True)
class EmbeddingRecord:
    """One stored embedding with everything needed to store it again in another store."""

    vector: np.ndarray
    photo_sha256: str
    photo_name: str
    face_size: int
    sharpness: float
    created: str
    #: The same photo's embeddings by the other models, by model id.
    more: Mapping[str, np.ndarray] = field(default_factory=dict)


@dataclass(frozen=True)
class PersonRecord:
    """A person with every embedding of theirs: what `Store.export_people` reads and
    `Store.import_people` writes."""

    id: str
    name: str
    created: str
    embeddings: Tuple[EmbeddingRecord, ...]


#: What `Store.import_people` does with a person: see there.
IMPORT_ADDED = "added"
IMPORT_REPLACED = "replaced"
IMPORT_SKIPPED = "skipped"


@dataclass(frozen=True)
class ImportedPerson:
    """What an import did, or would do, with one person: `outcome` is `IMPORT_ADDED`,
    `IMPORT_REPLACED` or `IMPORT_SKIPPED`; `photos_before` is how many embeddings they had in
    the store (0 when added)."""

    id: str
    name: str
    outcome: str
    photos: int
    photos_before: int


@dataclass(frozen=True)
class ImportReport:
    """What an import did, or would do: each imported person, in the import's order."""

    people: List[ImportedPerson]
    #: Ids in the store that the import does not name: an import never removes anybody.
    not_imported: List[str]

    def count(self, outcome: str) -> int:
        return sum(1 for person in self.people if person.outcome == outcome)


class NameConflict(StoreError):
    """Enrolment under an id whose person has another name. Enrolment never renames: on the
    console, changing only the name and uploading the next guest's photo put Venus Williams'
    photo under serena-williams and renamed Serena. Each shell adds its own way to rename."""

    def __init__(self, person_id: str, enrolled: str, asked: str):
        super().__init__(f"{person_id} is enrolled as '{enrolled}', not '{asked}': nothing was "
                         f"enrolled. Enrol somebody else under their own id; to give "
                         f"{person_id} the new name, rename them first")
        self.person_id = person_id
        self.enrolled = enrolled
        self.asked = asked


def check_same_name(person: Optional["Person"], name: Optional[str]) -> None:
    """`NameConflict` when `person` is enrolled and `name` (checked, or None: keep theirs)
    differs from their name."""
    if person is not None and name and name != person.name:
        raise NameConflict(person.id, person.name, name)


class NoStoreYet(StoreError):
    """Opened without `create` where there is no store: no file, or a database without
    greeter's tables."""


class StoreProblem(StoreError):
    """A store that cannot be used as asked, with the problem and its fix apart (``greeter
    doctor`` shows them on their own) and, for a change, what was not done."""

    def __init__(self, problem: str, fix: str, not_done: Optional[str] = None):
        super().__init__(f"{problem}; {not_done}: {fix}" if not_done else f"{problem}: {fix}")
        self.problem = problem
        self.fix = fix


class StoreDamaged(StoreProblem):
    """The store file is damaged: it refuses every change, and reading it may fail. The fix is
    a new store from an export or a backup; trying again does not help."""


class StoreUnavailable(StoreProblem):
    """The store is sound but cannot be used now by this user: the disk is full, the file,
    its folder or its file system is read-only, its journal belongs to another user, or another
    process is writing. The fix is outside greeter; the same command then works."""


class StoreBase:
    """What every store offers, whatever its engine: `Store` (an SQLite file, one robot) and
    `greeter.people.server_store.ServerStore` (a PostgreSQL server shared by several robots).

    The statements here are written once for both (SQLite's ``?`` placeholders; the server's
    connection translates them). Each engine provides `_reading`, `_transaction` (one
    serialised write transaction: SQLite's ``BEGIN IMMEDIATE``, the server's advisory lock),
    `exclusive`, `_new_embedding_id`, `_set_meta` and `_after_erasure`, and names itself in
    messages with `location`.
    """

    model_id: str
    #: Where the store is, as users name it (a path, or a server's address without secrets).
    location: str
    #: This machine's own files (`Settings.local_folder`).
    local_folder: Path
    _lock: threading.RLock
    #: How deep the calling thread is in `exclusive` and `_transaction` blocks: the outermost
    #: opens and commits, the inner ones join it.
    _depth: int = 0

    def __enter__(self) -> "StoreBase":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        raise NotImplementedError

    @contextmanager
    def _reading(self) -> Iterator[Any]:
        raise NotImplementedError
        yield

    @contextmanager
    def _transaction(self, not_done: str) -> Iterator[Any]:
        raise NotImplementedError
        yield

    @contextmanager
    def exclusive(self, not_done: str) -> Iterator[None]:
        """One write transaction around the block: the changes made inside commit together,
        and no other process changes the store meanwhile, so what the block reads stays true
        until it commits (two desks enrolling the same face under two ids at once: the
        second one's check sees the first one's photo)."""
        with self._transaction(not_done):
            yield

    def _new_embedding_id(self, db: Any, statement: str, values: Sequence[Any]) -> int:
        raise NotImplementedError

    def _set_meta(self, db: Any, values: Sequence[Tuple[str, str]]) -> None:
        raise NotImplementedError

    def _after_erasure(self, done: str) -> None:
        """Make erased rows unrecoverable from the engine's files (free pages, journal)."""
        raise NotImplementedError

    def _refuse_other_stamp(self, schema: int, model_id: Optional[str]) -> None:
        """`StoreError` for a store made by a newer greeter (`schema`) or holding another
        model's embeddings (`model_id`, None when it has no stamp)."""
        if schema > SCHEMA_VERSION:
            raise StoreError(
                f"{self.location}: made by a newer greeter (schema {schema}); upgrade greeter")
        if model_id != self.model_id:
            raise StoreError(
                f"{self.location}: holds embeddings of model {model_id or '?'}, this greeter "
                f"computes {self.model_id}; they cannot be compared (re-enrol)")

    # -- reading ----------------------------------------------------------------------

    def people(self) -> List[Person]:
        """Everybody enrolled, by id."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT p.id, p.name, p.created, COUNT(e.id) FROM people p "
                "LEFT JOIN embeddings e ON e.person_id = p.id GROUP BY p.id ORDER BY p.id"
            ).fetchall()
        return [Person(*row) for row in rows]

    def person(self, person_id: str) -> Optional[Person]:
        return next((p for p in self.people() if p.id == person_id), None)

    def photos(self, person_id: str) -> List[EnrolledPhoto]:
        with self._reading() as db:
            rows = db.execute(
                "SELECT person_id, photo_name, photo_sha256, face_size, sharpness, model_id, "
                "created FROM embeddings WHERE person_id=? ORDER BY id",
                (person_id,),
            ).fetchall()
        return [EnrolledPhoto(*row) for row in rows]

    def photo_qualities(self) -> Dict[str, List[Tuple[int, float]]]:
        """Id -> (face size in px, sharpness) of each of their photos, for everybody, in one
        query (the quality hints of the console's and the CLI's people lists)."""
        with self._reading() as db:
            rows = db.execute("SELECT person_id, face_size, sharpness FROM embeddings "
                              "ORDER BY person_id, id").fetchall()
        qualities: Dict[str, List[Tuple[int, float]]] = {}
        for person_id, size, sharpness in rows:
            qualities.setdefault(person_id, []).append((size, sharpness))
        return qualities

    def photo_owner(self, photo_sha256: str) -> Optional[str]:
        """Id of the person a photo (by content hash) is enrolled for, if any."""
        with self._reading() as db:
            row = db.execute(
                "SELECT person_id FROM embeddings WHERE photo_sha256=?", (photo_sha256,)
            ).fetchone()
        return row[0] if row else None

    def embeddings(self, model_id: Optional[str] = None) -> Iterator:
        """``(person_id, vector)`` pairs for every stored embedding of `model_id` (by default
        the store's own model)."""
        with self._reading() as db:
            if model_id in (None, self.model_id):
                rows = db.execute("SELECT person_id, vector FROM embeddings").fetchall()
            else:
                rows = db.execute(
                    "SELECT e.person_id, m.vector FROM more_embeddings m JOIN embeddings e "
                    "ON e.id = m.embedding_id WHERE m.model_id=?", (model_id,)).fetchall()
        for person_id, blob in rows:
            yield person_id, np.frombuffer(blob, dtype="<f4")

    def model_counts(self) -> Dict[str, int]:
        """Model id -> how many enrolled photos have an embedding of it (the store's own
        model: every photo)."""
        with self._reading() as db:
            counts = dict(db.execute("SELECT model_id, COUNT(*) FROM more_embeddings "
                                     "GROUP BY model_id").fetchall())
            counts[self.model_id] = db.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]
        return counts

    def export_people(self, only: Optional[Sequence[str]] = None) -> List[PersonRecord]:
        """Everybody (or the people of `only` who are enrolled) with all their embeddings, by
        id, read in one transaction: a consistent snapshot even while somebody enrols."""
        chosen, values = "", ()
        if only is not None:
            values = tuple(only)
            if not values:
                return []
            if len(values) > _MOST_VALUES:  # SQLite's limit on ?s: read all, keep those
                wanted = set(values)
                return [person for person in self.export_people() if person.id in wanted]
            chosen = f" WHERE p.id IN ({', '.join('?' * len(values))})"
        with self._reading() as db, self._snapshot(db):
            rows = db.execute(
                "SELECT p.id, p.name, p.created, e.vector, e.photo_sha256, e.photo_name, "
                "e.face_size, e.sharpness, e.created, e.id FROM people p "
                f"JOIN embeddings e ON e.person_id = p.id{chosen} ORDER BY p.id, e.id", values
            ).fetchall()
            more: Dict[int, Dict[str, np.ndarray]] = {}
            for embedding_id, model_id, blob in db.execute(
                    "SELECT m.embedding_id, m.model_id, m.vector FROM more_embeddings m "
                    "JOIN embeddings e ON e.id = m.embedding_id JOIN people p "
                    f"ON p.id = e.person_id{chosen}", values).fetchall():
                more.setdefault(embedding_id, {})[model_id] = np.frombuffer(blob, dtype="<f4")
        return [
            PersonRecord(person_id, name, created, tuple(
                EmbeddingRecord(np.frombuffer(row[3], dtype="<f4"), *row[4:9],
                                more=more.get(row[9], {}))
                for row in group
            ))
            for (person_id, name, created), group in itertools.groupby(
                rows, key=lambda row: row[:3])
        ]

    def people_and_photos(self) -> Dict[str, Tuple[str, FrozenSet[str]]]:
        """Id -> (name, hashes of their enrolled photos) of everybody: what tells two stores
        apart (a robot's snapshot and its server, after an outage) without their vectors."""
        with self._reading() as db:
            return _people_and_photos(db)

    def mirror(self, people: Sequence[PersonRecord], gone: Sequence[str]) -> None:
        """Make `people` as given and erase `gone`, in one transaction: how a robot's snapshot
        follows its server (`people` and `gone` are everybody whose rows changed there)."""
        with self._transaction("the snapshot was not updated") as db:
            for person_id in gone:
                db.execute("DELETE FROM people WHERE id=?", (person_id,))
            for person in people:  # photos may move between people: all go, then all come
                db.execute("DELETE FROM people WHERE id=?", (person.id,))
            self._apply_import(db, people, ImportReport(
                [ImportedPerson(p.id, p.name, IMPORT_ADDED, len(p.embeddings), 0)
                 for p in people], []))
        if gone or people:
            self._after_erasure("the snapshot is updated, but ")

    @contextmanager
    def _snapshot(self, db: Any) -> Iterator[None]:
        """Several statements reading one state of the store."""
        raise NotImplementedError
        yield

    def gallery(self, model_id: Optional[str] = None) -> Gallery:
        """All embeddings of `model_id` (by default the store's own) as one matrix for
        matching."""
        return Gallery.from_rows(self.embeddings(model_id))

    def calibration(self, model_id: Optional[str] = None) -> Optional[MatchPolicy]:
        """The still-photo policy saved by `greeter calibrate` for `model_id` (by default the
        store's own model), if any."""
        return self._saved_policy(*self._calibration_keys(model_id, "threshold", "ratio"))

    def track_calibration(self, model_id: Optional[str] = None) -> Optional[MatchPolicy]:
        """The live track policy saved by `greeter calibrate` for `model_id`, if any."""
        return self._saved_policy(*self._calibration_keys(model_id, "track_threshold",
                                                          "track_ratio"))

    def _calibration_keys(self, model_id: Optional[str], *keys: str) -> List[str]:
        """The meta keys of a model's calibration: the store's own model's as they always
        were, another model's prefixed with its id."""
        if model_id in (None, self.model_id):
            return list(keys)
        return [f"{model_id}:{key}" for key in keys]

    def _saved_policy(self, threshold_key: str, ratio_key: str) -> Optional[MatchPolicy]:
        with self._reading() as db:
            rows = dict(db.execute("SELECT key, value FROM meta WHERE key IN (?, ?)",
                                   (threshold_key, ratio_key)).fetchall())
        if len(rows) != 2:
            return None
        return MatchPolicy(threshold=float(rows[threshold_key]), ratio=float(rows[ratio_key]))

    def add_embedding(
        self,
        person_id: str,
        name: Optional[str],
        vector: np.ndarray,
        photo_sha256: str,
        photo_name: str,
        face_size: int,
        sharpness: float,
        more: Optional[Mapping[str, np.ndarray]] = None,
    ) -> None:
        """Enrol one photo's embedding (and `more`: its embeddings by other models, by model
        id), creating the person when new. A `name` different from the enrolled person's is a
        `NameConflict` (enrolment never renames: `rename` does)."""
        check_person_id(person_id)
        if name is not None:
            name = check_name(name, person_id)
        vector = _checked_vector(vector, person_id)
        more = {model: _checked_vector(v, person_id) for model, v in (more or {}).items()
                if model != self.model_id}
        with self._transaction("the photo was analysed but not stored") as db:
            existing = db.execute("SELECT name FROM people WHERE id=?", (person_id,)).fetchone()
            if existing is None:
                db.execute(
                    "INSERT INTO people (id, name, created) VALUES (?, ?, ?)",
                    (person_id, name or name_from_id(person_id), now_iso()),
                )
            elif name and name != existing[0]:
                raise NameConflict(person_id, existing[0], name)
            owner = db.execute("SELECT person_id FROM embeddings WHERE photo_sha256=?",
                               (photo_sha256,)).fetchone()
            if owner is not None:  # writers are serialised: nobody adds it before the commit
                raise StoreError(f"{photo_name}: this photo is already enrolled for {owner[0]}")
            self._insert_photo(db, person_id, EmbeddingRecord(
                vector, photo_sha256, photo_name, face_size, sharpness, now_iso(), more))

    def rename(self, person_id: str, name: str) -> None:
        name = check_name(name, person_id)
        with self._transaction(f"{person_id} was not renamed") as db:
            renamed = db.execute("UPDATE people SET name=? WHERE id=?", (name, person_id))
            if renamed.rowcount == 0:
                raise StoreError(f"nobody with id '{person_id}' is enrolled")

    def remove(self, person_id: str) -> int:
        """Erase a person and every embedding of theirs; returns how many embeddings went."""
        with self._transaction(f"{person_id} was not removed") as db:
            count = db.execute(
                "SELECT COUNT(*) FROM embeddings WHERE person_id=?", (person_id,)
            ).fetchone()[0]
            if db.execute("DELETE FROM people WHERE id=?", (person_id,)).rowcount == 0:
                raise StoreError(f"nobody with id '{person_id}' is enrolled")
        self._after_erasure(f"{person_id} was removed, but ")
        return count

    def import_people(self, people: Sequence[PersonRecord], model_id: str,
                      dry_run: bool = False) -> ImportReport:
        """Bring `people` (another machine's store, through a bundle) into this one, all or
        nothing, and say what happened to each.

        * a person not in the store is **added**, with their enrolment dates;
        * a person whose name and set of photo hashes are already the store's is **skipped**;
        * anyone else is **replaced**: their name, enrolment date and embeddings become
          `people`'s;
        * people of the store that `people` does not name stay as they are.

        Refused, with nothing changed, when `model_id` is not the store's (embeddings of two
        models cannot be compared), or when a photo of `people` is enrolled here for somebody
        `people` does not name: the same face under two ids would be greeted as either. With
        `dry_run` the report says what an import would do, and nothing is written.
        """
        if model_id != self.model_id:
            raise StoreError(
                f"embeddings of model {model_id} cannot join a store of {self.model_id}: "
                "embeddings of two models cannot be compared"
            )
        _check_records(people)
        if dry_run:
            with self._reading() as db:
                return _plan_import(people, _people_and_photos(db))
        with self._transaction("nothing was imported") as db:
            report = _plan_import(people, _people_and_photos(db))
            self._apply_import(db, people, report)
        if report.count(IMPORT_REPLACED):  # replaced embeddings must not linger anywhere
            self._after_erasure("the import is done, but ")
        return report

    def save_calibration(self, policy: MatchPolicy, track: Optional[MatchPolicy] = None,
                         model_id: Optional[str] = None) -> None:
        """Save the still-photo policy and, when given, the live track policy, of `model_id`
        (by default the store's own model)."""
        threshold, ratio, calibrated = self._calibration_keys(model_id, "threshold", "ratio",
                                                              "calibrated")
        values = [(threshold, repr(policy.threshold)), (ratio, repr(policy.ratio)),
                  (calibrated, now_iso())]
        if track is not None:
            track_threshold, track_ratio = self._calibration_keys(model_id, "track_threshold",
                                                                  "track_ratio")
            values += [(track_threshold, repr(track.threshold)),
                       (track_ratio, repr(track.ratio))]
        with self._transaction("the calibration was not saved") as db:
            self._set_meta(db, values)

    def calibration_entries(self) -> Dict[str, str]:
        """Every saved calibration value by its key (what `greeter store copy` carries; the
        store's schema and model stamps are not among them)."""
        with self._reading() as db:
            return dict(db.execute("SELECT key, value FROM meta WHERE key NOT IN "
                                   "('schema', 'model_id')").fetchall())

    def copy_from(self, people: Sequence[PersonRecord], calibration: Mapping[str, str],
                  model_id: str) -> None:
        """Fill this empty store with `people` and `calibration`, in one transaction
        (`greeter store copy`); refused when it holds anybody already."""
        with self.exclusive("nothing was copied"):
            present = self.people_and_photos()
            if present:
                raise StoreError(
                    f"{self.location} already holds {len(present)} "
                    f"{'person' if len(present) == 1 else 'people'}: copy into an empty store, "
                    "or merge into this one with `greeter people import` of an export")
            self.import_people(people, model_id)
            with self._transaction("nothing was copied") as db:
                self._set_meta(db, sorted(calibration.items()))

    def greetings_home(self) -> Optional[GreetingsHome]:
        """Where the greetings are shared besides this machine's file
        (`greeter.greetings.edit.GreetingsHome`): a server's `SharedGreetings`; a store file
        has none (its robot reads the greetings file itself)."""
        return None

    def door(self, robot: Optional[str]) -> "DoorChannel":
        """The enrol-at-the-door channel to `robot` (None: every robot, for erasing): a store
        file's robot is the one beside it, and its channel the door folder there."""
        from greeter.people.door import DoorFolder  # door imports this module

        return DoorFolder(self.local_folder)

    def robot_statuses(self) -> List[Tuple[str, str, float]]:
        """Robots' published statuses: (name, status JSON, seconds since). A store file has
        none: its one robot writes its status file beside it (`greeter.live.status`)."""
        return []

    def rows_after(self, row_id: int) -> Tuple[List[Tuple[str, np.ndarray]], int]:
        """``(person_id, vector)`` of the store's own model for each photo enrolled after the
        row `row_id` (0: every photo), and the newest row's id (`row_id` if none is newer).
        Rows are numbered in the order of their commits (writers are serialised), so a reader
        catching up from the last id it saw misses nothing; but for one case in an SQLite file,
        which numbers a new row after the newest one left: a photo enrolled right after the
        newest photo was removed takes its number, and a reader that had seen the removed one
        misses it."""
        with self._reading() as db:
            rows = db.execute("SELECT id, person_id, vector FROM embeddings WHERE id > ? "
                              "ORDER BY id", (row_id,)).fetchall()
        newest = rows[-1][0] if rows else row_id
        return [(person_id, np.frombuffer(blob, dtype="<f4")) for _, person_id, blob in rows], \
            newest

    def _apply_import(self, db: Any, people: Sequence[PersonRecord],
                      report: ImportReport) -> None:
        """Write `report`'s plan. Every replaced person's old embeddings go first: a photo may
        move between two imported people."""
        changed = [(person, planned.outcome) for person, planned in zip(people, report.people)
                   if planned.outcome != IMPORT_SKIPPED]
        for person, outcome in changed:
            if outcome == IMPORT_REPLACED:
                db.execute("DELETE FROM embeddings WHERE person_id=?", (person.id,))
                db.execute("UPDATE people SET name=?, created=? WHERE id=?",
                           (person.name, person.created, person.id))
            else:
                db.execute("INSERT INTO people (id, name, created) VALUES (?, ?, ?)",
                           (person.id, person.name, person.created))
        for person, _ in changed:
            for embedding in person.embeddings:
                self._insert_photo(db, person.id, embedding)

    def _insert_photo(self, db: Any, person_id: str, photo: EmbeddingRecord) -> None:
        """Write one enrolled photo: its embedding by the store's model and the other models'
        (`more`)."""
        embedding_id = self._new_embedding_id(
            db, "INSERT INTO embeddings (person_id, vector, photo_sha256, photo_name, face_size, "
            "sharpness, model_id, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (person_id, np.asarray(photo.vector, dtype="<f4").tobytes(), photo.photo_sha256,
             photo.photo_name, int(photo.face_size), float(photo.sharpness), self.model_id,
             photo.created))
        db.executemany(
            "INSERT INTO more_embeddings (embedding_id, model_id, vector) VALUES (?, ?, ?)",
            [(embedding_id, model, np.asarray(vector, dtype="<f4").tobytes())
             for model, vector in photo.more.items() if model != self.model_id])


class Store(StoreBase):
    """An open store file (SQLite), for one robot. Use as a context manager, or call `close`.

    Safe to share between threads (one connection behind a lock); several processes may
    open the same file (WAL).
    """

    def __init__(self, path: Union[str, Path], create: bool = True, model_id: str = MODEL_ID):
        self.path = Path(path)
        self.location = str(self.path)
        #: This machine's own files (door requests, the robot's status) sit beside the store.
        self.local_folder = self.path.parent
        self.model_id = model_id
        self._lock = threading.RLock()
        if not self.path.exists():
            if not create:
                raise NoStoreYet(f"{self.path}: no store here yet (enrol somebody first)")
            _create_private_file(self.path)
        elif self.path.is_dir():
            raise StoreError(f"{self.path}: is a directory, not a store file")
        else:
            _make_private(self.path)
        _repair_journal_modes(self.path)
        self._db = sqlite3.connect(
            str(self.path), timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
            check_same_thread=False,
        )
        try:
            with self._translated():
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute("PRAGMA foreign_keys=ON")
                self._db.execute("PRAGMA secure_delete=ON")
                self._migrate()
                self._data_version = self._read_data_version()
        except BaseException:
            self._db.close()
            raise

    # -- lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def _translated(self, not_done: Optional[str] = None) -> Iterator[None]:
        """Any SQLite error inside becomes the `StoreError` that explains it; `not_done` says
        what the failed change did not do."""
        try:
            yield
        except sqlite3.Error as error:
            raise self._explain(error, not_done) from None

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock, self._translated():
            yield self._db

    @contextmanager
    def _transaction(self, not_done: str) -> Iterator[sqlite3.Connection]:
        """``BEGIN IMMEDIATE``, a refusal if the store is damaged, the caller's statements,
        ``COMMIT``; on any exception ``ROLLBACK``, so a failed change leaves the store exactly
        as it was (on a full disk SQLite has already rolled back)."""
        with self._lock, self._translated(not_done):
            if self._depth:  # inside `exclusive`: its transaction
                yield self._db
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                self._refuse_if_damaged(not_done)
                yield self._db
                self._db.execute("COMMIT")
            except BaseException:
                self._rollback()
                raise
            finally:
                self._depth -= 1

    def _rollback(self) -> None:
        """Undo the open transaction, if SQLite has not already; the error that led here is the
        one worth reporting, so a failing ROLLBACK does not replace it."""
        if self._db.in_transaction:
            with suppress(sqlite3.Error):
                self._db.execute("ROLLBACK")

    # -- integrity and access -----------------------------------------------------------

    def check_integrity(self) -> None:
        """Raise `StoreDamaged` if the file's pages are damaged (``PRAGMA quick_check``).

        The robot checks at start-up and at each reload; every change checks inside its
        transaction. Cost, for 1,000 people with 3 photos each (a 2.8 MB file), on the 2-core
        x86 development box: 2.9 ms (median of 30), 7 ms on a newly opened store; it grows
        with the file's size.
        """
        with self._reading():
            self._refuse_if_damaged(None)

    def check_writable(self, not_done: str = "nothing was changed") -> None:
        """Raise what a change would raise now (damaged, read-only, another user's journal,
        busy) without changing anything, so a command can refuse before slow work whose
        result it could not store. A full disk shows only when a change needs the space."""
        with self._lock, self._translated(not_done):
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._refuse_if_damaged(not_done)
                self._db.execute("UPDATE meta SET value=value WHERE key='model_id'")
            finally:
                self._rollback()

    def _refuse_if_damaged(self, not_done: Optional[str]) -> None:
        problem = self._first_damage()
        if problem:
            raise _damaged(self.path, problem, not_done)

    def _first_damage(self) -> Optional[str]:
        """The first problem ``quick_check`` finds (``quick_check(1)`` stops there), or None."""
        found = self._db.execute("PRAGMA quick_check(1)").fetchone()[0]
        if found == "ok":
            return None
        lines = [line for line in found.splitlines() if not line.startswith("***")]
        return lines[0] if lines else found

    def _explain(self, error: sqlite3.Error, not_done: Optional[str]) -> StoreError:
        """The `StoreError` for an SQLite error on this store: which problem, and its fix."""
        text = str(error)
        if text == "file is not a database":
            return StoreDamaged(
                f"{self.path}: not a greeter store or damaged ({text})",
                f"check --store / GREETER_STORE; if it is the store, {_RESTORE}", not_done)
        if text == "database disk image is malformed":
            with suppress(sqlite3.Error):
                text = self._first_damage() or text
            return _damaged(self.path, text, not_done)
        if text == "database or disk is full" or (
                text.startswith("disk I/O error") and _nearly_full(self.path)):
            return _no_space(self.path, not_done)
        if text in ("database is locked", "database table is locked"):
            return StoreUnavailable(
                f"{self.path} is busy: another greeter command has been changing it for "
                f"{BUSY_TIMEOUT_SECONDS:g} s", "try again once it has finished", not_done)
        if "readonly" in text or text in ("unable to open database file", "disk I/O error"):
            found = _access_problem(self.path)
            if found:
                return StoreUnavailable(*found, not_done)
        if text.startswith("disk I/O error"):
            return StoreUnavailable(
                f"the disk holding {self.path} reported an I/O error",
                "check the disk (`dmesg`), and copy the store to a sound one", not_done)
        return StoreError(f"{self.path}: {text}" + (f"; {not_done}" if not_done else ""))

    def _migrate(self) -> None:
        """Create the schema in a new file; refuse newer schemas and other models. Opening an
        up-to-date store writes nothing, so read-only commands leave the file untouched."""
        if self._db.execute("PRAGMA user_version").fetchone()[0] < SCHEMA_VERSION:
            with self._transaction("the new store was not set up") as db:
                if db.execute("PRAGMA user_version").fetchone()[0] == 0:
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute("INSERT INTO meta VALUES ('model_id', ?)", (self.model_id,))
                db.execute(_MORE_EMBEDDINGS)  # schema 1 to 2
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        stored_model = self._db.execute("SELECT value FROM meta WHERE key='model_id'").fetchone()
        self._refuse_other_stamp(self._db.execute("PRAGMA user_version").fetchone()[0],
                                 stored_model[0] if stored_model else None)

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
        with self._reading() as db:
            return db.execute("PRAGMA data_version").fetchone()[0]

    # -- the engine's parts of StoreBase --------------------------------------------------

    @contextmanager
    def _snapshot(self, db: sqlite3.Connection) -> Iterator[None]:
        """A read transaction: its statements see one state of the file."""
        db.execute("BEGIN")
        try:
            yield
        finally:
            self._rollback()

    def _new_embedding_id(self, db: sqlite3.Connection, statement: str,
                          values: Sequence[Any]) -> int:
        return db.execute(statement, values).lastrowid

    def _set_meta(self, db: sqlite3.Connection, values: Sequence[Tuple[str, str]]) -> None:
        db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", values)

    def _after_erasure(self, done: str) -> None:
        """Copy the journal into the store and empty it, so erased embeddings do not linger in
        it; `done` starts the sentence saying what happened if this fails."""
        with self._lock, self._translated(
                f"{done}the journal {self.path.name}-wal may still hold the erased embeddings "
                "until the next change"):
            self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _checked_vector(vector: np.ndarray, person_id: str) -> np.ndarray:
    """`vector` as stored (little-endian float32), or a `StoreError` if it is not an
    embedding."""
    vector = np.asarray(vector, dtype="<f4").reshape(-1)
    if vector.shape != (EMBEDDING_SIZE,) or not np.all(np.isfinite(vector)):
        raise StoreError(f"not a valid {EMBEDDING_SIZE}-d embedding for {person_id}")
    return vector


def _check_records(people: Sequence[PersonRecord]) -> None:
    """Refuse what `add_embedding` would refuse, and ids or photos given twice."""
    for person in people:
        check_person_id(person.id)
        check_name(person.name, person.id)
        if not person.embeddings:
            raise StoreError(f"{person.id}: nobody is enrolled without an embedding")
        for embedding in person.embeddings:
            for vector in (embedding.vector, *embedding.more.values()):
                _checked_vector(vector, person.id)
    twice = [person_id for person_id, count in Counter(p.id for p in people).items() if count > 1]
    if twice:
        raise StoreError(f"{', '.join(twice)}: given more than once")
    photos = Counter(e.photo_sha256 for person in people for e in person.embeddings)
    twice = [sha256 for sha256, count in photos.items() if count > 1]
    if twice:
        raise StoreError(f"photo {twice[0]} given more than once")


_Enrolled = Dict[str, Tuple[str, FrozenSet[str]]]


def _people_and_photos(db: sqlite3.Connection) -> _Enrolled:
    """Id -> (name, photo hashes) of everybody in the store, read in one statement."""
    rows = db.execute(
        "SELECT p.id, p.name, e.photo_sha256 FROM people p "
        "LEFT JOIN embeddings e ON e.person_id = p.id ORDER BY p.id"
    ).fetchall()
    return {
        person_id: (name, frozenset(row[2] for row in group if row[2] is not None))
        for (person_id, name), group in itertools.groupby(rows, key=lambda row: row[:2])
    }


def _plan_import(people: Sequence[PersonRecord], enrolled: _Enrolled) -> ImportReport:
    """What `Store.import_people` does with each person; `StoreError` listing every photo
    enrolled here for somebody the import does not name."""
    importing = {person.id for person in people}
    owners = {sha256: person_id for person_id, (_, photos) in enrolled.items()
              for sha256 in photos}
    clashes = Counter(
        (person.id, owners[e.photo_sha256]) for person in people for e in person.embeddings
        if e.photo_sha256 in owners and owners[e.photo_sha256] not in importing
    )
    if clashes:
        raise StoreError("nothing imported:\n" + "\n".join(
            f"{count} photo{'s' if count != 1 else ''} of {person_id} "
            f"{'are' if count != 1 else 'is'} enrolled here for {owner}, who is not in the "
            f"import: one face under two ids; remove {owner} here (`greeter people remove "
            f"{owner}`) or enrol those photos under one id on both machines"
            for (person_id, owner), count in sorted(clashes.items())
        ))
    outcomes = []
    for person in people:
        photos = frozenset(e.photo_sha256 for e in person.embeddings)
        name_before, photos_before = enrolled.get(person.id, (None, frozenset()))
        if name_before is None:
            outcome = IMPORT_ADDED
        elif (name_before, photos_before) == (person.name, photos):
            outcome = IMPORT_SKIPPED
        else:
            outcome = IMPORT_REPLACED
        outcomes.append(ImportedPerson(person.id, person.name, outcome, len(photos),
                                       len(photos_before)))
    return ImportReport(outcomes, sorted(set(enrolled) - importing))


def _create_private_file(path: Path) -> None:
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.close(os.open(str(path), os.O_CREAT | os.O_WRONLY, 0o600))
    except OSError as error:
        raise StoreError(f"{path}: cannot create the store ({error.strerror})") from None


def _make_private(path: Path) -> None:
    """Take group and other permissions away from an existing store: it holds biometric
    data (`make_private`: a store made read-only on purpose stays so)."""
    with suppress(OSError):  # not ours, or a read-only file system: named when it matters
        make_private(path)


def _journals(path: Path) -> Tuple[Path, Path]:
    """SQLite's write-ahead log and its shared-memory index, beside the store."""
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def _repair_journal_modes(path: Path) -> None:
    """SQLite creates ``-wal`` and ``-shm`` with the store's mode of the moment, and they
    outlive a crash: a store once made read-only leaves a read-only ``-shm`` behind that keeps
    every change failing after the store's mode is fixed. Journal files of this user get
    ``0600`` back; another user's cannot be changed here and are named by `_access_problem`."""
    for journal in _journals(path):
        with suppress(OSError):
            info = journal.stat()
            if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) != 0o600:
                os.chmod(journal, 0o600)


def _damaged(path: Path, detail: str, not_done: Optional[str]) -> StoreDamaged:
    return StoreDamaged(f"{path} is damaged ({detail})", _RESTORE, not_done)


def _nearly_full(path: Path) -> bool:
    try:
        return shutil.disk_usage(str(path.parent)).free < _NEARLY_FULL_BYTES
    except OSError:
        return False


def _no_space(path: Path, not_done: Optional[str]) -> StoreUnavailable:
    return StoreUnavailable(f"no space left on the device holding {path}",
                            "free some space, then try again", not_done)


def _access_problem(path: Path) -> Optional[Tuple[str, str]]:
    """(problem, fix) when this user cannot write the store file, its journal files or its
    folder, checked in that order; None when all are writable.

    ``os.access`` answers for the effective user, root included: root is refused an immutable
    file or a read-only file system, and nothing else.
    """
    folder = path.parent
    user = _user_name(os.geteuid())
    try:
        read_only_mount = bool(os.statvfs(str(folder)).f_flag & os.ST_RDONLY)
    except OSError:
        read_only_mount = False
    if read_only_mount:
        return (f"{path} is on a read-only file system",
                "remount it read-write, or move the store to a writable disk")
    for candidate in (path, *_journals(path)):
        try:
            info = candidate.stat()
        except OSError:
            continue
        if os.access(str(candidate), os.R_OK | os.W_OK):
            continue
        owner = _user_name(info.st_uid)
        problem = (f"{candidate} is read-only for {user} (mode "
                   f"{stat.S_IMODE(info.st_mode):04o}, owner {owner})")
        if info.st_uid != os.geteuid():
            if candidate == path:
                return problem, f"`sudo chown {user} {path}`, or run greeter as {owner}"
            return problem, (f"it was left by running greeter as {owner}: `sudo chown "
                             f"--reference={path} {candidate}`")
        if not info.st_mode & stat.S_IWUSR:
            return problem, f"`chmod u+w {candidate}`"
        return problem, f"it may be immutable: `lsattr {candidate}`, `sudo chattr -i {candidate}`"
    if not os.access(str(folder), os.W_OK | os.X_OK):
        return (f"the folder {folder} is read-only for {user}, and SQLite must create the "
                f"store's journal ({path.name}-wal, {path.name}-shm) there",
                f"make it writable: `chmod u+w {folder}`" if folder.stat().st_uid == os.geteuid()
                else f"`sudo chown {user} {folder}`")
    return None


def _user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def open_store(location: Union[str, Path, ServerAddress], local_folder: Optional[Path] = None,
               create: bool = True, model_id: str = MODEL_ID) -> StoreBase:
    """The store at `location`: an SQLite file, or a PostgreSQL server (`ServerAddress`)
    whose users keep their own files in `local_folder` (`Settings.local_folder`)."""
    if isinstance(location, ServerAddress):
        # psycopg is imported only where a server is used: a robot alone never loads it
        from greeter.people.server_store import ServerStore

        return ServerStore(location, Path(local_folder or "data"), create, model_id)
    return Store(location, create, model_id)
