"""Enrol at the door: the console asks the running robot to enrol the person in front of it.

**The channel** is a private folder beside the store, ``door-requests/`` (``0700``, created by
whichever side comes first; the console and the robot run as the same user and share the
store's folder). No port is opened: the file system's permissions are the authentication.

* The console writes ``<person>.request.json`` atomically (`ask`): person id, name, request
  time. A new request for a person replaces their previous request and result.
* The robot looks once a second (`DoorInbox.take`: one ``stat`` of the folder; the folder is
  listed only when its modification time changed). It takes the oldest request by deleting
  it; one older than `DoorRules.expire_after_seconds` (nobody was at the door to see it
  through) is answered "expired" instead.
* The robot answers with ``<person>.result.json`` (`DoorResult`): how many frames were
  enrolled, or the reason none was. The console shows it on the request's page.

**The collection** (`DoorCollection`): for `DoorRules.seconds` of the camera's time the robot
keeps, from each frame it detects faces in anyway, the single largest face, unless another
face is nearly as large (two people in front of the camera: which one registered?). Each kept
face is aligned and measured (size, sharpness) on a worker thread of its own, off the drawing
path; at the end the `DoorRules.best` sharpest distinct frames that pass enrolment's quality
rule (`greeter.people.enrolment.face_problem`, the one ``greeter enroll`` applies) are embedded,
also on that thread, checked like an enrolled photo against who is enrolled
(`greeter.people.enrolment.identity_problem`: not the face of somebody enrolled under another id,
not unlike the person's own photos; all or none), and written through the store's own write
(`Store.add_embedding`, with its integrity checks). A frame's ``photo_sha256`` is the SHA-256
of its pixels. No frame, chip or image is ever written anywhere: the face chips live in memory
for the few seconds of the collection. Measured on the development machine (640x360 clip):
measuring one frame's face costs ~6 ms and embedding the 3 chosen ones ~140 ms, both on the
worker; on 2 cores the worker competes with detection, so the frame rate dips for those
moments, the stall this design accepts.
"""

import hashlib
import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, List, Literal, Mapping, Optional, Protocol, Sequence, Tuple, Union

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from greeter.atomicfile import private_folder, replace_file
from greeter.errors import GreeterError
from greeter.filechange import FileState, file_state
from greeter.greetings.schema import PersonId, ShowableText
from greeter.names import check_name, check_person_id
from greeter.people.enrolment import (
    BLURRED,
    FACE_PROBLEMS,
    TOO_SMALL,
    TURNED,
    face_crops,
    face_problem,
    identity_problem,
    more_embeddings,
    release_more_models,
)
from greeter.people.store import StoreBase
from greeter.recognition.faces import Box, FaceEngine, box_size, sharpness
from greeter.recognition.sface import FaceCrop
from greeter.settings import EnrolmentSettings

log = logging.getLogger(__name__)

#: The folder of requests and results, beside the store.
FOLDER_NAME = "door-requests"
REQUEST_SUFFIX = ".request.json"
RESULT_SUFFIX = ".result.json"
#: The robot lists the folder at least this often, whatever its modification time says.
RELIST_SECONDS = 10.0

#: Why a request enrolled nothing.
NOBODY = "nobody in view"
SEVERAL = "several faces"
EXPIRED = "expired"
TIMED_OUT = "timed out"
FAILED = "failed"
STORE = "store problem"
#: The face looks like somebody else enrolled, or unlike the person's enrolled photos
#: (`greeter.people.enrolment.identity_problem`).
IDENTITY = "identity"
Reason = Literal["nobody in view", "several faces", "too small", "blurred", "turned away",
                 "expired", "timed out", "store problem", "identity", "failed"]


@dataclass(frozen=True)
class DoorRules:
    """How the robot serves a request. 3 s at the door's ~10 detections a second gives ~30
    frames to choose from; 3 enrolled frames is what a good enrolment from photos has."""

    seconds: float = 3.0
    #: A collection whose frames stopped coming (camera lost) ends this long after its
    #: `seconds`, by the wall clock.
    grace_seconds: float = 10.0
    best: int = 3
    expire_after_seconds: float = 60.0
    #: A second face at least this fraction of the largest one's side makes the frame
    #: ambiguous.
    similar_size: float = 0.8


class _DoorFile(BaseModel):
    """What a request and its result share. The id and name are checked like every id and
    name (a planted request for "colin-p\n" was answered with a file of that name)."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    person: PersonId
    name: ShowableText
    requested: datetime


class DoorRequest(_DoorFile):
    format: Literal["greeter-door-request"] = "greeter-door-request"


class DoorResult(_DoorFile):
    format: Literal["greeter-door-result"] = "greeter-door-result"
    finished: datetime
    enrolled: int
    reason: Optional[Reason] = None
    #: One line for staff: what was enrolled, or what went wrong and what to do.
    message: str


def door_folder(local_folder: Union[str, Path]) -> Path:
    """The request folder in `local_folder` (`Settings.local_folder`: beside a store file)."""
    return Path(local_folder) / FOLDER_NAME


#: What travels: a request (console to robot) or its result (robot to console).
REQUEST, RESULT = "request", "result"


class DoorChannel(Protocol):
    """Where requests and results travel between consoles and a robot, by person: the folder
    beside a store file (`DoorFolder`), or a shared store's server, addressed to one robot
    (`greeter.people.server_store.ServerDoor`). Contents are a request's or result's JSON."""

    def put(self, person: str, kind: str, content: bytes) -> None: ...

    def get(self, person: str, kind: str) -> Optional[bytes]: ...

    def delete(self, person: str, kind: str) -> bool: ...

    def waiting(self) -> Optional[List[Tuple[str, bytes]]]:
        """Every request waiting, as (where, content); None when nothing can have changed
        since the last look (the robot asks once a second: it must cost next to nothing)."""


class DoorFolder:
    """The channel as files in ``door-requests/`` (see the module docstring)."""

    def __init__(self, local_folder: Union[str, Path],
                 clock: Callable[[], float] = time.monotonic):
        self.folder = door_folder(local_folder)
        self._clock = clock
        self._seen: Optional[FileState] = None
        self._listed_at = float("-inf")

    def _path(self, person: str, kind: str) -> Path:
        return self.folder / f"{person}{REQUEST_SUFFIX if kind == REQUEST else RESULT_SUFFIX}"

    def put(self, person: str, kind: str, content: bytes) -> None:
        private_folder(self.folder)
        replace_file(self._path(person, kind), content, mode=0o600)

    def get(self, person: str, kind: str) -> Optional[bytes]:
        path = self._path(person, kind)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise GreeterError(f"{path}: cannot be read ({error.strerror})") from None

    def delete(self, person: str, kind: str) -> bool:
        try:
            self._path(person, kind).unlink()
            return True
        except FileNotFoundError:
            return False

    def waiting(self) -> Optional[List[Tuple[str, bytes]]]:
        """The folder is listed only when it changed since it was last found empty
        (`greeter.filechange`), or `RELIST_SECONDS` ago (a change in the same clock tick as
        the last listing leaves its times as they were)."""
        state = file_state(self.folder)
        if state is None:
            return None
        if state == self._seen and self._clock() - self._listed_at < RELIST_SECONDS:
            return None
        self._listed_at = self._clock()
        found = []
        for path in sorted(self.folder.glob(f"*{REQUEST_SUFFIX}")):
            with suppress(FileNotFoundError):
                found.append((path.name[:-len(REQUEST_SUFFIX)], path.read_bytes()))
        self._seen = state if not found else None  # others may be waiting
        return found


def _channel(where: Union[DoorChannel, str, Path]) -> DoorChannel:
    """A channel as given, or the folder channel of a local folder's path."""
    return DoorFolder(where) if isinstance(where, (str, Path)) else where


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


# -- the console's side ---------------------------------------------------------------------


def ask(channel: Union[DoorChannel, str, Path], person_id: str, name: str,
        now: Optional[datetime] = None) -> DoorRequest:
    """Ask the robot at the other end of `channel` (or whose local folder it is) to enrol
    the person in front of it as `person_id`."""
    channel = _channel(channel)
    person_id = check_person_id(person_id)
    request = DoorRequest(person=person_id, name=check_name(name, person_id),
                          requested=now or _utc_now())
    channel.delete(person_id, RESULT)
    channel.put(person_id, REQUEST, request.model_dump_json().encode("utf-8"))
    return request


def pending(channel: Union[DoorChannel, str, Path], person_id: str,
            rules: Optional[DoorRules] = None,
            now: Optional[datetime] = None) -> Optional[DoorRequest]:
    """The request for `person_id` the robot has not taken yet. One older than
    `DoorRules.expire_after_seconds` is answered as expired here, as the robot would: when no
    robot runs, nobody else ever would, and the console would wait for ever."""
    channel = _channel(channel)
    request = _parsed(channel.get(person_id, REQUEST), DoorRequest, person_id)
    rules = rules or DoorRules()
    if request is not None and _expired(request, rules, now or _utc_now()):
        channel.delete(person_id, REQUEST)
        write_result(channel, _expiry(request, rules))
        return None
    return request


def _expired(request: DoorRequest, rules: DoorRules, now: datetime) -> bool:
    return (now - _aware(request.requested)).total_seconds() > rules.expire_after_seconds


def _expiry(request: DoorRequest, rules: DoorRules) -> DoorResult:
    return _result(request, 0, EXPIRED, f"the robot did not take the request within "
                   f"{rules.expire_after_seconds:g} s (is it running?): ask again")


def result_for(channel: Union[DoorChannel, str, Path], person_id: str) -> Optional[DoorResult]:
    """The robot's answer to the last request for `person_id`."""
    return _parsed(_channel(channel).get(person_id, RESULT), DoorResult, person_id)


def forget(channel: Union[DoorChannel, str, Path], person_id: str) -> int:
    """Delete the request and the result of `person_id` (they hold their name): part of
    erasing a person. Returns how many there were."""
    channel = _channel(channel)
    return sum(channel.delete(person_id, kind) for kind in (REQUEST, RESULT))


def _parsed(content: Optional[bytes], model, person_id: str):
    if content is None:
        return None
    try:
        return model.model_validate_json(content)
    except ValidationError:
        raise GreeterError(f"the door {model.__name__[4:].lower()} of {person_id} is not a "
                           "greeter door file; delete it") from None


# -- the robot's side -----------------------------------------------------------------------


def write_result(channel: Union[DoorChannel, str, Path], result: DoorResult) -> None:
    _channel(channel).put(result.person, RESULT, result.model_dump_json().encode("utf-8"))


def _result(request: DoorRequest, enrolled: int, reason: Optional[str],
            message: str) -> DoorResult:
    return DoorResult(person=request.person, name=request.name, requested=request.requested,
                      finished=_utc_now(), enrolled=enrolled, reason=reason, message=message)


class DoorInbox:
    """The robot's end of the channel: takes requests, answers expired ones."""

    def __init__(self, channel: Union[DoorChannel, str, Path], rules: DoorRules,
                 clock: Callable[[], float] = time.monotonic):
        self.channel = DoorFolder(channel, clock) if isinstance(channel, (str, Path)) \
            else channel
        self.rules = rules

    def take(self, now: Optional[datetime] = None) -> Optional[DoorRequest]:
        """The oldest waiting request, removed from the channel; None when there is none.
        A request that is not one is logged and removed; an expired one is answered."""
        found = self.channel.waiting()
        if not found:
            return None
        waiting = []
        for person, content in found:
            try:
                request = _parsed(content, DoorRequest, person)
            except GreeterError as error:
                log.error("%s", error)
                self.channel.delete(person, REQUEST)
                continue
            waiting.append((_aware(request.requested), person, request))
        waiting.sort(key=lambda entry: entry[:2])
        now = now or _utc_now()
        for _, person, request in waiting:
            self.channel.delete(person, REQUEST)
            if _expired(request, self.rules, now):
                write_result(self.channel, _expiry(request, self.rules))
                continue
            return request
        return None


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def largest_face(boxes: Sequence[Box], similar_size: float) -> Tuple[Optional[Box], str]:
    """The one face to take from a frame, or None and why (`NOBODY`, `SEVERAL`)."""
    if not boxes:
        return None, NOBODY
    ordered = sorted(boxes, key=box_size, reverse=True)
    if len(ordered) > 1 and box_size(ordered[1]) >= similar_size * box_size(ordered[0]):
        return None, SEVERAL
    return ordered[0], ""


@dataclass
class Candidate:
    """One frame's face, measured: never written anywhere."""

    size: int
    sharpness: float
    chip: np.ndarray = field(repr=False)
    digest: str
    #: `greeter.recognition.faces.head_turn`
    turn: float = 0.0
    #: The face for the other installed models (`more_models`), by model id.
    crops: Mapping[str, Optional[FaceCrop]] = field(default_factory=dict, repr=False)


def choose(candidates: Sequence[Candidate], enrolment: EnrolmentSettings,
           best: int) -> Tuple[List[Candidate], Optional[str]]:
    """The `best` sharpest distinct frames passing enrolment's rule, or none and the reason
    the best of them failed (the first of `FACE_PROBLEMS` any of them has: too small before
    blurred, as coming closer fixes both; then turned away)."""
    good, seen = [], set()
    for candidate in sorted(candidates, key=lambda c: c.sharpness, reverse=True):
        if candidate.digest in seen:
            continue
        seen.add(candidate.digest)
        if face_problem(candidate.size, candidate.sharpness, enrolment, candidate.turn) is None:
            good.append(candidate)
    if good:
        return good[:best], None
    problems = {face_problem(c.size, c.sharpness, enrolment, c.turn) for c in candidates}
    return [], next(problem for problem in FACE_PROBLEMS if problem in problems)


class DoorCollection:
    """One request being served by the robot. `offer` and `due` run on the robot's loop and
    cost it almost nothing; the faces are measured, embedded and stored on `worker`."""

    def __init__(self, request: DoorRequest, rules: DoorRules, enrolment: EnrolmentSettings,
                 open_store: Callable[[], StoreBase], local_folder: Path,
                 worker: ThreadPoolExecutor, engine: FaceEngine,
                 clock: Callable[[], float] = time.monotonic):
        self.request = request
        #: The time of the first frame after the request (the camera's clock, or the video's).
        self.started: Optional[float] = None
        self._clock = clock
        self._taken_at = clock()
        self.rules = rules
        self._enrolment = enrolment
        self._open_store = open_store
        self._local_folder = local_folder
        self._worker = worker
        self._engine = engine
        self._candidates: List[Candidate] = []
        self._seen_faces = 0
        self._several = 0

    def due(self, t: float) -> bool:
        """True once the frame at time `t` is `DoorRules.seconds` after the first one."""
        if self.started is None:
            self.started = t
        return t - self.started >= self.rules.seconds

    def timed_out(self) -> bool:
        """True when frames stopped coming: the collection must end without them."""
        return self._clock() - self._taken_at >= self.rules.seconds + self.rules.grace_seconds

    def offer(self, rgb: np.ndarray, boxes: Sequence[Box]) -> None:
        """A frame the robot detected faces in (`boxes`, maybe none)."""
        box, why = largest_face(boxes, self.rules.similar_size)
        if why == SEVERAL:
            self._several += 1
        if box is not None:
            self._seen_faces += 1
            self._worker.submit(self._measure, rgb, box)

    def _measure(self, rgb: np.ndarray, box: Box) -> None:
        (chip,), (turn,) = self._engine.chips_and_turns(rgb, [box])
        crops = face_crops(rgb, box)
        self._candidates.append(Candidate(box_size(box), sharpness(chip), chip,
                                          hashlib.sha256(rgb.tobytes()).hexdigest(), turn,
                                          crops))

    def finish(self) -> "Future[DoorResult]":
        """Enrol the best frames and write the result (on the worker, after every face
        offered so far has been measured)."""
        return self._worker.submit(self._finish)

    def _finish(self) -> DoorResult:
        try:
            result = self._outcome()
        except Exception as error:  # the console must get an answer whatever went wrong
            log.exception("door enrolment of %s failed", self.request.person)
            result = _result(self.request, 0, FAILED, f"the robot could not enrol the frames "
                             f"({type(error).__name__}; details in its log): ask again")
        write_result(self._local_folder, result)
        log.info("door enrolment of %s: %s", result.person, result.message)
        return result

    def _outcome(self) -> DoorResult:
        request, enrolment = self.request, self._enrolment
        if not self._candidates:
            if self.started is None:
                return _result(request, 0, TIMED_OUT, "the camera gave no frames: check it "
                               "on the Status page and ask again")
            if self._several:
                return _result(request, 0, SEVERAL, "several people were in front of the "
                               "camera: ask again with only the guest in view")
            return _result(request, 0, NOBODY, f"nobody was in front of the camera for "
                           f"{self.rules.seconds:g} s: ask again with the guest facing it")
        chosen, problem = choose(self._candidates, enrolment, self.rules.best)
        if problem == TOO_SMALL:
            largest = max(c.size for c in self._candidates)
            return _result(request, 0, TOO_SMALL, f"the face was at most {largest} px, smaller "
                           f"than the minimum of {enrolment.min_face_size} px: ask again with "
                           f"the guest closer to the camera")
        if problem == BLURRED:
            sharpest = max(c.sharpness for c in self._candidates)
            return _result(request, 0, BLURRED, f"the face was blurred (sharpness at best "
                           f"{sharpest:.1f}, minimum {enrolment.min_sharpness:g}): ask again "
                           f"with the guest standing still in good light")
        if problem == TURNED:
            frontal = min(c.turn for c in self._candidates)
            return _result(request, 0, TURNED, f"the face was turned away (head turn at best "
                           f"{frontal:.2f}, at most {enrolment.max_turn:g}): ask again with "
                           f"the guest looking straight at the camera")
        embeddings = self._engine.embed_chips([c.chip for c in chosen], enrolment.jitter)
        try:
            more = [more_embeddings(c.crops) for c in chosen]
        finally:
            release_more_models()  # the robot holds SFace only while it enrols
        stamp = request.requested.strftime("%Y%m%d-%H%M%S")
        stored = 0
        try:
            # one transaction: on a shared store another desk may enrol the same face meanwhile
            with self._open_store() as store, store.exclusive("nothing was enrolled"):
                gallery = store.gallery()
                for embedding in embeddings:
                    problem = identity_problem(embedding, request.person, gallery, enrolment)
                    if problem:
                        return _result(request, 0, IDENTITY, f"the face {problem}")
                for candidate, embedding, others in zip(chosen, embeddings, more):
                    store.add_embedding(request.person, request.name, embedding,
                                        candidate.digest, f"door-{stamp}-{stored + 1}",
                                        candidate.size, candidate.sharpness, others)
                    stored += 1
        except GreeterError as error:
            return _result(request, stored, STORE, f"{error} ({stored} frames enrolled)")
        finally:
            self._candidates.clear()  # the chips go now, not with the collection
        sizes = ", ".join(str(c.size) for c in chosen)
        return _result(request, len(chosen), None, f"enrolled {len(chosen)} frames from the "
                       f"robot's camera (face {sizes} px)")
