"""Who the running robot knows when its store is a server shared by several robots.

* **A local snapshot.** The robot greets from `snapshot.sqlite3` in its local folder (an
  ordinary store file, ``0600``), which mirrors the server's people and embeddings. It starts
  from it at once, so a robot switched on during an outage greets everybody it knew.
* **Changes, not reloads.** A follower thread LISTENs on the server
  (`greeter.people.server_store.CHANNEL`): every committed change to a person, made by any
  machine, names them; the follower reads only those people, writes them into the snapshot
  and builds the changed gallery (`Gallery.changed`) off the drawing thread; the robot's loop
  sees it waiting (`changes_waiting`) at its next turn and `poll` swaps it in.
* **Outages.** When the server cannot be reached the robot keeps greeting from the snapshot;
  the problem is logged once and published in the robot's status (`server_problem`), and the
  follower tries again every `RETRY_SECONDS`. On reconnecting it compares the server's people
  and photo hashes with the snapshot's and applies the difference, erasures included: an
  erased person leaves the snapshot, the matcher, and (`forget_erased`) the events file and
  the screenshots.
* **Greetings too.** The fleet's greetings document is on the server; the follower writes it
  into the robot's greetings file whenever it changes there (and at each catch-up), and the
  robot's `GreetingsWatcher` reloads the file as it does for a local edit. During an outage
  the file stays as it was.
* **Door requests** addressed to this robot (`greeter.people.server_store.ServerDoor`) are
  moved by the follower into the robot's door folder, and its answers back to the server,
  once a second: the robot's loop serves them as it serves a local console's.
* Calibration is read from the server when the follower (re)connects; a calibration saved
  while the robot runs applies at its next reconnection or start.
"""

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Dict, List, Optional, Set, Tuple

import numpy as np

from greeter.errors import ConfigError, StoreError
from greeter.greetings.edit import pull_greetings
from greeter.live.gallery_reload import KnownPeople
from greeter.live.status import RobotStatus
from greeter.people.door import REQUEST, RESULT, RESULT_SUFFIX, DoorFolder, forget
from greeter.people.store import PersonRecord, Store
from greeter.recognition.faces import FaceEngine
from greeter.recognition.figures import DLIB, ModelFigures
from greeter.recognition.matching import Gallery, MatchPolicy
from greeter.recognition.recogniser import Recogniser, resolve_policy, resolve_track_policy
from greeter.settings import MatchingSettings, ServerAddress

if TYPE_CHECKING:
    from greeter.people.server_store import ServerStore

log = logging.getLogger(__name__)

SNAPSHOT_NAME = "snapshot.sqlite3"

#: How long the follower waits before trying an unreachable server again.
RETRY_SECONDS = 2.0

#: Notifications arriving within this long of the first are applied together: an import of
#: many people is one change, not one per person.
GATHER_SECONDS = 0.05


class _Known:
    """What the follower hands to the drawing thread: a whole new state, swapped in at once."""

    def __init__(self, gallery: Gallery, names: Dict[str, str],
                 calibration: Tuple[Optional[MatchPolicy], Optional[MatchPolicy]],
                 erased: bool):
        self.gallery = gallery
        self.names = names
        self.calibration = calibration
        #: Whether somebody left: the outputs must forget them.
        self.erased = erased


class SharedGallery(KnownPeople):
    """The recogniser of a shared store (`recogniser`), following the server from a local
    snapshot; the same surface as `greeter.live.gallery_reload.GalleryReload`."""

    def __init__(self, address: ServerAddress, local_folder: Path, engine: FaceEngine,
                 matching: MatchingSettings, figures: ModelFigures = DLIB,
                 robot_name: str = "robot", greetings_path: Optional[Path] = None):
        self.address = address
        self.greetings_path = greetings_path
        self.robot_name = robot_name
        #: The server while the follower is connected to it, else None.
        self._server: Optional[ServerStore] = None
        self._engine = engine
        self._matching = matching
        self._figures = figures
        self.snapshot = Store(Path(local_folder) / SNAPSHOT_NAME, create=True)
        # `problem` stays None: the snapshot is this robot's own file, never broken by others
        names = {person.id: person.name for person in self.snapshot.people()}
        calibration = (self.snapshot.calibration(figures.model_id),
                       self.snapshot.track_calibration(figures.model_id))
        self._known = _Known(self.snapshot.gallery(figures.model_id), names, calibration,
                             erased=True)  # erased while the robot was off
        self.recogniser = self._recogniser(self._known)
        self._forget_due = True
        self._newer: Optional[_Known] = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        #: Why the server cannot be reached now (None: following it).
        self.server_problem: Optional[str] = None
        #: Set once the follower has caught up with the server at least once.
        self.caught_up = threading.Event()
        self._follower = threading.Thread(target=self._follow, name="store-follower",
                                          daemon=True)
        self._follower.start()

    @property
    def read(self) -> bool:
        return True

    @property
    def store_problem(self) -> Optional[str]:
        """What the robot's status says is wrong with the store, or None."""
        return self.server_problem

    def changes_waiting(self) -> bool:
        """Whether the follower has prepared a change (read without the lock: a hint)."""
        return self._newer is not None

    def poll(self) -> None:
        """Swap in what the follower prepared, if anything (no store access here)."""
        with self._lock:
            newer, self._newer = self._newer, None
        if newer is None:
            return
        self.recogniser = self._recogniser(newer)
        self._forget_due |= newer.erased
        log.info("store changed: %d people enrolled", len(newer.names))

    def publish_status(self, status: RobotStatus) -> None:
        """Publish the robot's status on the server, for every console's Robots page (called
        on the status output's thread); skipped while the server cannot be reached: the page
        then shows the last one and how old it is."""
        server = self._server
        if server is not None:
            server.publish_status(self.robot_name, status.model_dump_json(exclude_none=True))

    def close(self) -> None:
        self._stop.set()
        self._follower.join(timeout=10)
        self.snapshot.close()

    def _recogniser(self, known: _Known) -> Recogniser:
        still, track = known.calibration
        people = len(known.gallery)
        return Recogniser(
            self._engine, known.gallery, known.names,
            resolve_policy(self._matching, still, people, self._figures.policy),
            resolve_track_policy(self._matching, track, people, self._figures.track_policy))

    # -- the follower thread -------------------------------------------------------------

    def _follow(self) -> None:
        # psycopg is imported here, on the follower's thread: a robot alone never loads it
        import psycopg

        from greeter.people.server_store import (
            GREETINGS_CHANNEL,
            ServerStore,
            explain,
            listening,
        )

        while not self._stop.is_set():
            try:
                with ServerStore(self.address, self.snapshot.local_folder) as server, \
                        listening(self.address) as listener:
                    self._catch_up(server)
                    self._server = server
                    try:
                        self._listen(server, listener, GREETINGS_CHANNEL)
                    finally:
                        self._server = None
            except StoreError as error:
                self._lost(str(error))
            except psycopg.Error as error:
                self._lost(str(explain(self.address, error, None)))
            except Exception as error:  # noqa: BLE001 - the robot greets on, whatever broke
                self._lost(f"following the store's server failed ({type(error).__name__}: "
                           f"{error})")
            self._stop.wait(RETRY_SECONDS)

    def _lost(self, problem: str) -> None:
        if problem != self.server_problem:
            log.error("%s; greeting from this robot's snapshot (%d people) until it is back",
                      problem, len(self._known.names))
            self.server_problem = problem

    def _catch_up(self, server) -> None:
        """Apply every difference between the server and the snapshot (an outage, or the
        robot's first start), and the server's calibration."""
        theirs = server.people_and_photos()
        ours = self.snapshot.people_and_photos()
        changed = [person for person, entry in theirs.items() if ours.get(person) != entry]
        gone = sorted(set(ours) - set(theirs))
        calibration = (server.calibration(self._figures.model_id),
                       server.track_calibration(self._figures.model_id))
        if calibration != self._known.calibration and calibration[0] is not None:
            self.snapshot.save_calibration(calibration[0], calibration[1],
                                           self._figures.model_id)
        self._apply(server.export_people(changed), gone, calibration)
        self._follow_greetings(server)
        if self.server_problem is not None:
            log.warning("the store's server %s is back: %d changed, %d erased meanwhile",
                        self.address.host, len(changed), len(gone))
            self.server_problem = None
        self.caught_up.set()

    def _listen(self, server, listener, greetings_channel: str) -> None:
        """Apply each notified change until told to stop (a notice on `greetings_channel`:
        the greetings'; any other names a person); a lost connection raises."""
        while not self._stop.is_set():
            people: Set[str] = set()
            greetings = False
            notices = list(listener.notifies(timeout=1.0, stop_after=1))
            self._relay_door(server)
            if not notices:
                listener.execute("SELECT 1")  # a server gone quietly is noticed within a second
                continue
            notices += listener.notifies(timeout=GATHER_SECONDS)
            for notice in notices:
                if notice.channel == greetings_channel:
                    greetings = True
                else:
                    people.add(notice.payload)
            if greetings:
                self._follow_greetings(server)
            if not people:
                continue
            records = server.export_people(sorted(people))
            self._apply(records, sorted(people - {record.id for record in records}),
                        self._known.calibration)

    def _relay_door(self, server) -> None:
        """Requests for this robot from the server into its door folder; its answers back."""
        theirs, ours = server.door(self.robot_name), DoorFolder(self.snapshot.local_folder)
        for person, content in theirs.waiting() or []:
            ours.put(person, REQUEST, content)
            theirs.delete(person, REQUEST)
        for path in sorted(ours.folder.glob(f"*{RESULT_SUFFIX}")):
            person = path.name[:-len(RESULT_SUFFIX)]
            content = ours.get(person, RESULT)
            if content is not None:
                theirs.put(person, RESULT, content)
                ours.delete(person, RESULT)

    def _follow_greetings(self, server) -> None:
        """Write the server's greetings into the robot's file when they differ from it (never
        edited on the server: the robot's own file stands)."""
        if self.greetings_path is None:
            return
        try:
            pull_greetings(self.greetings_path, server.greetings_home())
        except (ConfigError, OSError) as error:
            log.error("the server's greetings could not be written to %s (%s); the robot "
                      "greets with the file as it was", self.greetings_path, error)

    def _apply(self, records: List[PersonRecord], gone: List[str],
               calibration: Tuple[Optional[MatchPolicy], Optional[MatchPolicy]]) -> None:
        """Write the change into the snapshot, then prepare the matcher's new state."""
        if not records and not gone and calibration == self._known.calibration:
            return
        self.snapshot.mirror(records, gone)
        for person in gone:  # a request relayed before the erasure holds their name
            forget(DoorFolder(self.snapshot.local_folder), person)
        model = self._figures.model_id
        rows = [(record.id, vector) for record in records for photo in record.embeddings
                for vector in [_vector_of(photo, model, self.snapshot.model_id)]
                if vector is not None]
        names = {person: name for person, name in self._known.names.items()
                 if person not in gone}
        names.update((record.id, record.name) for record in records)
        known = _Known(self._known.gallery.changed([*gone, *(r.id for r in records)], rows),
                       names, calibration, erased=bool(gone))
        self._known = known
        with self._lock:
            if self._newer is not None:
                known.erased |= self._newer.erased
            self._newer = known


def _vector_of(photo, model_id: str, store_model: str) -> Optional[np.ndarray]:
    """A photo's embedding by `model_id`: its own, or one of `more` (None when that model was
    not installed where it was enrolled)."""
    return photo.vector if model_id == store_model else photo.more.get(model_id)
