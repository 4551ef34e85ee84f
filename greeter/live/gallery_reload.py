"""Who the running robot knows: the store's people as a `Recogniser`, kept in step with the
store while the robot runs, and the outputs kept in step with erasures.

* **Hot reload**: `poll` (once a second) asks the store whether it changed (one PRAGMA) and
  its file whether it was replaced (one stat, `greeter.filechange`).
* **A broken store** (damaged, not a store, another model's) does not stop the robot: it
  greets everybody as a stranger, logs the problem once (again only if the problem changes),
  and opens the store again when its files change (fixed, replaced, re-enrolled). Strangers
  rather than the last good gallery: the damage may hide a removal, and a removed person must
  not be greeted by name.
* **Erasure reaches the outputs**: a person erased from the store is erased from the events
  file and the screenshots too (`forget_erased`), after the reload that lost them, or at the
  start when the robot was off.
"""

import contextlib
import logging
import sqlite3
from pathlib import Path
from typing import Optional

from greeter.errors import StoreError
from greeter.filechange import FileState, FileWatch, file_state, same_file
from greeter.live.outputs import Outputs
from greeter.people.store import Store
from greeter.recognition.faces import FaceEngine
from greeter.recognition.figures import DLIB, ModelFigures
from greeter.recognition.recogniser import Recogniser
from greeter.settings import MatchingSettings

log = logging.getLogger(__name__)


class KnownPeople:
    """What the two ways of knowing the store's people share (`GalleryReload` for a store
    file, `greeter.live.shared_gallery.SharedGallery` for a server): the recogniser now, and
    erasing the outputs' records of people who left."""

    recogniser: Recogniser
    #: What is wrong with the store (it cannot be read), or None.
    problem: Optional[str] = None
    #: Whether the outputs may hold records of people erased from the store.
    _forget_due: bool = True

    def enrolled(self, person: str) -> bool:
        return person in self.recogniser.names

    def changes_waiting(self) -> bool:
        """Whether a change is ready to be taken by `poll` now, without its once-a-second
        turn; costs nothing. A store file's changes are found by `poll` itself: never."""
        return False

    def forget_erased(self, outputs: Outputs) -> None:
        """Erase the events and screenshots of people no longer enrolled (`Output.forget`),
        when due and the store was read (a store that cannot be read says nothing about who
        was erased)."""
        if not self._forget_due or self.problem is not None:
            return
        erased = outputs.forget(self.enrolled)
        if erased is None:
            return  # an output failed (logged): asked again at the next change
        self._forget_due = False
        for description, count in erased.items():
            log.info("%s: erased %d greeting%s of people no longer enrolled", description,
                     count, "s" if count != 1 else "")


class GalleryReload(KnownPeople):
    """The recogniser of the store at `path` now (`recogniser`), reloaded by `poll`."""

    def __init__(self, path: Path, engine: FaceEngine, matching: MatchingSettings,
                 figures: ModelFigures = DLIB):
        self.path = Path(path)
        self._engine = engine
        self._matching = matching
        self._figures = figures
        self.store: Optional[Store] = None
        #: The open store's file: a file replaced under it is reopened.
        self._opened: Optional[FileState] = None
        #: What is wrong with the store (logged once), and its files as they were then: it is
        #: opened again only once they change.
        self.problem: Optional[str] = None
        self._broken_files: Optional[FileWatch] = None
        self.recogniser = self._load()
        #: Whether the outputs may hold records of people erased from the store: at the start
        #: (erased while the robot was off), after a reload that lost somebody, and once a
        #: store that could not be read (missing, damaged) can be again.
        self._forget_due = self.read

    @property
    def read(self) -> bool:
        """Whether the people enrolled now are the store's (it is open and was read)."""
        return self.store is not None and self.problem is None

    @property
    def store_problem(self) -> Optional[str]:
        """What the robot's status says is wrong with the store, or None."""
        return self.problem

    def poll(self) -> None:
        """Reload the recogniser when the store changed (see the module docstring)."""
        read_before = self.read
        if not self._due():
            return
        before = self.recogniser.names
        self.recogniser = self._load()
        if self.problem is None:
            log.info("store reloaded: %d people enrolled", len(self.recogniser.names))
            # somebody left, or a store that could not be read says who is enrolled again
            self._forget_due |= (not read_before
                                 or not before.keys() <= self.recogniser.names.keys())

    def close(self) -> None:
        if self.store is not None:
            self.store.close()
            self.store = None

    def _load(self) -> Recogniser:
        """The store's people now; everybody a stranger when there is no store or it cannot
        be read."""
        try:
            if self.store is None and self.path.exists():
                self.store = Store(self.path, create=False)
                self._opened = self._file_now()
            if self.store is not None:
                self.store.check_integrity()
            recogniser = Recogniser.from_store(self._engine, self.store, self._matching,
                                               self._figures)
        except (StoreError, sqlite3.DatabaseError) as error:
            self._broken(error)
            return Recogniser.from_store(self._engine, None, self._matching, self._figures)
        missing = set(recogniser.names) - set(recogniser.gallery.person_ids)
        if missing:
            log.warning("%d enrolled %s no embedding of %s (enrolled before it was installed) "
                        "and cannot be named: enrol a photo of them again (%s)", len(missing),
                        "person has" if len(missing) == 1 else "people have",
                        self._figures.model_id, ", ".join(sorted(missing)[:5]))
        if self.problem:
            if self.store is None:
                log.warning("%s: gone; everybody is a stranger until somebody is enrolled",
                            self.path)
            else:
                log.warning("%s: readable again, %d people enrolled", self.path,
                            len(recogniser.names))
            self.problem = None
        return recogniser

    def _broken(self, error: Exception) -> None:
        """Close the store, log what is wrong (once per problem), and watch its files so the
        store is opened again only once they change."""
        if self.store is not None:
            with contextlib.suppress(sqlite3.Error):  # a damaged store may fail to close too
                self.store.close()
            self.store = None
        self._broken_files = FileWatch(self.path, self.path.with_name(self.path.name + "-wal"))
        problem = str(error) if isinstance(error, StoreError) else \
            f"{self.path}: cannot be read ({error})"
        if problem != self.problem:
            log.error("%s; everybody is greeted as a stranger until it is fixed", problem)
            self.problem = problem

    def _due(self) -> bool:
        """True when the store should be (re)loaded: it changed, its file was replaced, it
        appeared, or it was broken and its files changed since."""
        if self.store is None:
            if self.problem is not None:
                return self._broken_files.changed()
            return self.path.exists()
        if not same_file(self._file_now(), self._opened):
            self.close()
            return True
        try:
            return self.store.changed()
        except (StoreError, sqlite3.DatabaseError):
            return True  # reloading finds out what is wrong and logs it

    def _file_now(self) -> Optional[FileState]:
        try:
            return file_state(self.path)
        except OSError:  # cannot be looked at: as good as gone, reopening says why
            return None
