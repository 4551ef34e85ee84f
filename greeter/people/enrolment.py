"""Enrolling staff photos into the store: the library behind ``greeter enroll``.

Every photo ends as exactly one `PhotoOutcome`: *enrolled*, *skipped* (nothing to do: already
enrolled, or not a photo file) or *rejected* (with the reason staff need to fix it). A bad photo
never stops the others, and each good photo is committed on its own, so an interrupted run
keeps everything enrolled before the interruption.

What a photo must pass is decided from measurements on lfw-dev (written beside each limit in
`EnrolmentSettings`): a photo is rejected only where it would make wrong names likely (a face
turned far away, a blurred one, no clear subject among several faces, a face that looks like
another enrolled person or unlike the person's own enrolled photos: `identity_problem`); a
usable but weak photo is enrolled with a warning that says how to do better (`face_advice`). Of
photo 1 of each of lfw-dev's 1,184 people, these rules enrol 98.1 % (68.3 % before), 30 % of
them with a warning, and give fewer wrong names than before (``benchmarks/openset_lfw.py``).

Photos are analysed in worker processes, one per core: dlib holds the GIL for most of its
work, so threads would not use the second core. Only the main process writes to the store.
Workers never outlive the run: they die with the main process even when it is killed with
``kill -9``, and Ctrl-C or SIGTERM ends them at once (`EnrolmentInterrupted`), mid-photo,
instead of after every queued photo.
"""

import gc
import hashlib
import logging
import multiprocessing
import os
import signal
import threading
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import (
    Callable,
    Dict,
    Iterable,
    Iterator,
    List,
    Mapping,
    Optional,
    Sequence,
    Tuple,
    Union,
)

import numpy as np

from greeter.background import prepare_worker
from greeter.errors import FaceError, GreeterError, ImageError
from greeter.names import check_name, check_person_id, name_from_file
from greeter.people.store import Store, check_same_name
from greeter.recognition.faces import Box, FaceEngine, box_size
from greeter.recognition.imaging import (
    PHOTO_SUFFIXES,
    check_readable,
    file_sha256,
    is_photo_name,
    load_rgb,
    load_rgb_bytes,
)
from greeter.recognition.matching import Gallery
from greeter.recognition.sface import MODEL_ID as SFACE_ID
from greeter.recognition.sface import FaceCrop, SFaceEngine, face_crop, why_not_runnable
from greeter.settings import DetectionSettings, EnrolmentSettings

log = logging.getLogger(__name__)

ENROLLED = "enrolled"
SKIPPED = "skipped"
REJECTED = "rejected"

#: Why a face is not good enough to enrol (`face_problem`).
TOO_SMALL = "too small"
BLURRED = "blurred"
TURNED = "turned away"
#: The problems in the order `face_problem` checks them.
FACE_PROBLEMS = (TOO_SMALL, BLURRED, TURNED)

#: A central face is the subject only if no other face is more than this many times its size:
#: a much larger face nearer an edge is somebody the photographer meant as well.
CENTRAL_SUBJECT_SIZE_RATIO = 1.25

#: Optional display name file inside a person's folder.
NAME_FILE = "name.txt"


class SeveralFacesError(FaceError):
    """Several faces in a photo and none clearly the subject: enrolling its largest face (each
    shell has its own way to ask for that) would take the photo."""


@dataclass(frozen=True)
class PhotoJob:
    """One photo to enrol for one person.

    With `data` the photo is held in memory (an upload to the console): `path` only names it,
    and nothing is read from or written to disk.
    """

    person_id: str
    name: Optional[str]
    path: Path
    data: Optional[bytes] = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class PhotoOutcome:
    """What became of one photo (or of a folder, for problems found while scanning one).

    ``warning`` marks what staff must hear about: a skip such as a person folder without
    photos, or a photo enrolled although a better one would be recognised more often (the
    `reason` says why and how).
    """

    path: Path
    person_id: Optional[str]
    status: str
    reason: str = ""
    warning: bool = False


class EnrolmentInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM (`signal_number`; None for a KeyboardInterrupt raised otherwise)
    stopped a run.

    `outcomes` are final and match the store (enrolled photos stay enrolled); the other
    `not_analysed` photos were left as they were. A KeyboardInterrupt, so that callers that do
    not look at it stop as they did before.
    """

    def __init__(self, outcomes: List["PhotoOutcome"], not_analysed: int,
                 signal_number: Optional[int]):
        super().__init__(f"interrupted: {not_analysed} photos not analysed")
        self.outcomes = outcomes
        self.not_analysed = not_analysed
        self.signal_number = signal_number


@dataclass(frozen=True)
class PhotoAnalysis:
    """What enrolment keeps from a photo: one embedding and its quality figures."""

    embedding: np.ndarray
    face_size: int
    sharpness: float
    #: `face_advice`: how a better photo would be recognised more often; empty for a good one.
    advice: Tuple[str, ...] = ()
    #: The same face's embeddings by the other installed models, by model id (`more_models`).
    more: Mapping[str, np.ndarray] = field(default_factory=dict)


# --- finding the photos -------------------------------------------------------------------


def jobs_from_folders(paths: Iterable[Path]) -> Tuple[List[PhotoJob], List[PhotoOutcome]]:
    """Photos to enrol from inbox folders, and the outcomes already known (bad folders, files
    that are not photos).

    A folder with photo files directly inside is one person's folder (its name is the id);
    any other folder is an inbox whose sub-folders are person folders.
    """
    jobs: List[PhotoJob] = []
    outcomes: List[PhotoOutcome] = []
    for path in paths:
        path = Path(path)
        if not path.is_dir():
            outcomes.append(PhotoOutcome(
                path, None, REJECTED, "not a folder of person folders (to enrol single photos, "
                "name the person: greeter enroll --person ID PHOTO...)"))
        elif any(is_photo_name(child) for child in path.iterdir() if child.is_file()):
            _person_folder(path, jobs, outcomes)
        else:
            for child in sorted(path.iterdir()):
                if child.is_dir() and not child.name.startswith("."):
                    _person_folder(child, jobs, outcomes)
    return jobs, outcomes


def _person_folder(folder: Path, jobs: List[PhotoJob], outcomes: List[PhotoOutcome]) -> None:
    try:
        person_id = check_person_id(folder.name)
    except GreeterError as error:
        outcomes.append(PhotoOutcome(folder, None, REJECTED, f"folder name: {error}"))
        return
    try:
        name = _read_name_file(folder / NAME_FILE)
    except ValueError as error:
        outcomes.append(PhotoOutcome(folder, person_id, REJECTED,
                                     f"{NAME_FILE} {error}; no photo of {person_id} was enrolled"))
        return
    photos = others = 0
    for child in sorted(folder.iterdir()):
        if child.name.startswith(".") or child.name == NAME_FILE \
                or child.name.lower().startswith("readme"):
            continue
        if is_photo_name(child):
            jobs.append(PhotoJob(person_id, name, child))
            photos += 1
        else:
            outcomes.append(
                PhotoOutcome(child, person_id, SKIPPED, "not a photo file (by its name)"))
            others += 1
    if not photos:
        found = f"none of its {others} files is a photo" if others else "no photos in it"
        outcomes.append(PhotoOutcome(
            folder, person_id, SKIPPED, warning=True,
            reason=f"{found}: put photos of {person_id}'s face in this folder "
                   f"({', '.join(sorted(PHOTO_SUFFIXES))})"))


def _read_name_file(path: Path) -> Optional[str]:
    """The display name in `path`, None without the file; `ValueError` when it cannot be used
    (never silently replaced by a name made from the id: staff wrote it for a reason)."""
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise ValueError(f"cannot be read ({error.strerror})") from None
    return name_from_file(content)


def jobs_for_person(person_id: str, name: Optional[str], photos: Iterable[Path]) -> List[PhotoJob]:
    check_person_id(person_id)
    if name is not None:
        name = check_name(name)
    return [PhotoJob(person_id, name, Path(photo)) for photo in photos]


# --- analysing one photo (runs in a worker process) ---------------------------------------

_worker_engine: Optional[FaceEngine] = None


def analyse_photo(
    path: Path,
    detection: DetectionSettings,
    enrolment: EnrolmentSettings,
    largest: bool = False,
    engine: Optional[FaceEngine] = None,
    data: Optional[bytes] = None,
) -> PhotoAnalysis:
    """The embedding of the face that is the subject of a photo (the file `path`, or `data`
    named `path`; with `largest`, its largest face) and advice on how a better photo would be
    recognised more often, or a `GreeterError` saying why it is unusable."""
    global _worker_engine
    if engine is None:
        _worker_engine = _worker_engine or FaceEngine()
        engine = _worker_engine
    if data is None:
        rgb = load_rgb(path, max_side=detection.load_max_side)
    else:
        rgb = load_rgb_bytes(data, str(path), max_side=detection.load_max_side)
    boxes = engine.detect_in_photo(rgb, detection.photo_max_side, detection.retry_upsample)
    if not boxes:
        raise FaceError(f"{path}: no face found (use a photo where the face is clearly visible)")
    subject = 0 if largest else subject_face(boxes, rgb.shape[:2], enrolment, path)
    face = engine.faces(rgb, [boxes[subject]], enrolment.jitter)[0]
    advice = check_face(face.size, face.sharpness, face.turn, enrolment, path)
    return PhotoAnalysis(face.embedding, face.size, face.sharpness, advice,
                         more_embeddings(face_crops(rgb, face.box)))


_more_model_ids: Optional[Tuple[str, ...]] = None
_more_models: Dict[str, SFaceEngine] = {}


def more_model_ids() -> Tuple[str, ...]:
    """The ids of the other face models this machine runs (SFace, when it does), checked once
    per process. Enrolment embeds each photo with every one of them, so that the robot can
    switch model without re-enrolment (the store keeps every model's embedding, never the
    photo)."""
    global _more_model_ids
    if _more_model_ids is None:
        problem = why_not_runnable()
        if problem:
            log.info("enrolling without the SFace model: %s", problem)
        _more_model_ids = () if problem else (SFACE_ID,)
    return _more_model_ids


def more_models() -> Dict[str, SFaceEngine]:
    """The other installed models, loaded on first use and kept until `release_more_models`."""
    for model_id in more_model_ids():
        if model_id not in _more_models:
            _more_models[model_id] = SFaceEngine()
    return _more_models


def release_more_models() -> None:
    """Let the other models go: a process that stays (the console, the robot's door desk) holds
    SFace only while it enrols. Loaded, SFace through OpenCV held 102 MB of resident memory (26
    once released), and loading it again takes 0.3 s (measured on the 2-core x86 stand-in)."""
    _more_models.clear()
    gc.collect()  # OpenCV's buffers go with the last reference; do not wait for a cycle


def face_crops(rgb: np.ndarray, box: Box) -> Dict[str, Optional[FaceCrop]]:
    """The face in `box` as each of the other installed models takes it, by model id."""
    return {model_id: face_crop(rgb, box) for model_id in more_model_ids()}


def more_embeddings(crops: Mapping[str, Optional[FaceCrop]]) -> Dict[str, np.ndarray]:
    """The embeddings of `crops` (`face_crops`) by the other installed models, by model id;
    a model that finds no face in its crop gives none."""
    found = {}
    for model_id, engine in more_models().items():
        try:
            vector = engine.embed_crop(crops.get(model_id))
        except Exception as error:  # cv2.error or worse: never lose the photo's enrolment
            log.warning("%s could not embed this face (%s); enrolled without it", model_id,
                        error)
            continue
        if vector is not None:
            found[model_id] = vector
    return found


def subject_face(boxes: Sequence[Box], shape: Tuple[int, int], enrolment: EnrolmentSettings,
                 path: Path = Path("photo")) -> int:
    """The index of the face that is clearly the subject of a photo with these `boxes`
    (`shape` is the photo's ``(height, width)``), or a `SeveralFacesError` naming the sizes
    when no face is.

    The subject is a face much larger than every other (`subject_size_ratio`), or else the
    face nearest the photo's centre when every other face is clearly farther from it
    (`subject_centre_margin`) and none is much larger (`CENTRAL_SUBJECT_SIZE_RATIO`): on
    lfw-dev the person was always the most central face, but not always the largest.
    """
    if len(boxes) == 1:
        return 0
    sizes = [box_size(box) for box in boxes]
    by_size = sorted(range(len(boxes)), key=lambda index: -sizes[index])
    largest, runner_up = by_size[0], by_size[1]
    if sizes[largest] >= enrolment.subject_size_ratio * sizes[runner_up]:
        return largest
    height, width = shape
    offsets = [_centre_offset(box, height, width) for box in boxes]
    by_offset = sorted(range(len(boxes)), key=lambda index: offsets[index])
    central, next_central = by_offset[0], by_offset[1]
    if offsets[next_central] - offsets[central] >= enrolment.subject_centre_margin \
            and sizes[largest] <= CENTRAL_SUBJECT_SIZE_RATIO * sizes[central]:
        return central
    listed = ", ".join(f"{sizes[index]} px" for index in by_size)
    raise SeveralFacesError(
        f"{path}: {len(boxes)} faces found ({listed}) and none is clearly the subject; use a "
        f"photo of this person alone or in the middle")


def _centre_offset(box: Box, height: int, width: int) -> float:
    """How far a face's centre lies from the photo's centre, in shares of its longer side."""
    top, right, bottom, left = box
    return float(np.hypot((left + right) / 2.0 - width / 2.0,
                          (top + bottom) / 2.0 - height / 2.0)) / max(height, width)


def check_face(face_size: int, face_sharpness: float, face_turn: float,
               enrolment: EnrolmentSettings, path: Path = Path("photo")) -> Tuple[str, ...]:
    """`face_advice` for a face good enough to enrol, or a `FaceError` saying why it is not."""
    problem = face_problem(face_size, face_sharpness, enrolment, face_turn)
    if problem == TOO_SMALL:
        raise FaceError(
            f"{path}: face is {face_size} px, smaller than the minimum of "
            f"{enrolment.min_face_size} px (use a closer or larger photo)"
        )
    if problem == BLURRED:
        raise FaceError(
            f"{path}: face is blurred (sharpness {face_sharpness:.1f}, minimum "
            f"{enrolment.min_sharpness:g}; use a sharper photo)"
        )
    if problem == TURNED:
        raise FaceError(
            f"{path}: face is turned away (head turn {face_turn:.2f}, at most "
            f"{enrolment.max_turn:g}; use a photo looking at the camera)"
        )
    return face_advice(face_size, face_sharpness, face_turn, enrolment)


def face_problem(face_size: int, face_sharpness: float, enrolment: EnrolmentSettings,
                 face_turn: float = 0.0) -> Optional[str]:
    """The one rule for a face good enough to enrol, from a photo or from the robot's camera
    (`greeter.people.door`): `TOO_SMALL`, `BLURRED`, `TURNED`, or None when it is good enough."""
    if face_size < enrolment.min_face_size:
        return TOO_SMALL
    if face_sharpness < enrolment.min_sharpness:
        return BLURRED
    if face_turn > enrolment.max_turn:
        return TURNED
    return None


def face_advice(face_size: int, face_sharpness: float, face_turn: Optional[float],
                enrolment: EnrolmentSettings) -> Tuple[str, ...]:
    """What makes an enrollable face weak, each with how to do better; empty for a good face.

    `face_turn` None: not known (the store keeps no head turn for older photos).
    """
    advice = []
    if face_size < enrolment.good_face_size:
        advice.append(f"small face ({face_size} px): a larger photo will be recognised more often")
    if face_sharpness < enrolment.good_sharpness:
        advice.append(f"soft face (sharpness {face_sharpness:.0f}): a sharper photo will be "
                      f"recognised more often")
    if face_turn is not None and face_turn > enrolment.good_turn:
        advice.append(f"head turned ({face_turn:.2f}): a photo looking at the camera will be "
                      f"recognised more often")
    return tuple(advice)


def identity_problem(embedding: np.ndarray, person_id: str, gallery: Gallery,
                     enrolment: EnrolmentSettings) -> Optional[str]:
    """Why a face must not be enrolled as `person_id` given who is enrolled (`gallery`), or
    None: it lies within `same_face_distance` of another person (the same person under two
    ids, or people the robot cannot tell apart), or beyond `own_face_distance` from every
    photo of `person_id` (probably somebody else's photo)."""
    if not len(gallery):
        return None
    distances = gallery.person_distances(embedding)[0]
    own = gallery.person_ids.index(person_id) if person_id in gallery.person_ids else None
    others = [(float(distance), gallery.person_ids[index])
              for index, distance in enumerate(distances) if index != own]
    if others:
        nearest, other = min(others)
        if nearest <= enrolment.same_face_distance:
            return (f"looks like {other}, already enrolled (distance {nearest:.2f}, at most "
                    f"{enrolment.same_face_distance:g} for two people): the robot could not "
                    f"tell them apart and would greet both as strangers; if this is {other}, "
                    f"enrol the photo as {other}")
    if own is not None and distances[own] > enrolment.own_face_distance:
        photos = int(np.sum(gallery.row_person == own))
        enrolled = "the photo" if photos == 1 else f"any of the {photos} photos"
        return (f"does not look like {enrolled} enrolled for {person_id} (distance "
                f"{distances[own]:.2f}, more than {enrolment.own_face_distance:g}): a photo of "
                f"somebody else? If it is {person_id}, an enrolled photo may be somebody "
                f"else's: remove {person_id} and enrol their photos again")
    return None


def analyse_photos(
    paths: Sequence[Path],
    detection: DetectionSettings,
    enrolment: EnrolmentSettings,
    largest: bool = False,
    engine: Optional[FaceEngine] = None,
    contents: Optional[Sequence[Optional[bytes]]] = None,
) -> Iterator[Tuple[Path, Union[PhotoAnalysis, GreeterError]]]:
    """`analyse_photo` over many photos on all cores; yields in the order given.

    A worker that dies (out of memory, killed) turns its photo and the ones after it into
    errors instead of ending the whole run. When the caller stops early (an exception such as
    KeyboardInterrupt while waiting, or closing the generator), queued photos are cancelled and
    the workers ended at once, mid-photo.

    With an `engine` (a server keeping the face models loaded), with photos held in memory
    (`contents`, one per path, None for a file: they are not copied to worker processes) or
    with one worker, photos are analysed in this process instead, one at a time.
    """
    workers = min(enrolment.workers or os.cpu_count() or 1, len(paths))
    if engine is not None or contents is not None or workers <= 1:
        engine = engine or FaceEngine()
        for path, data in zip(paths, contents or [None] * len(paths)):
            yield path, _attempt(partial(
                analyse_photo, path, detection, enrolment, largest, engine, data))
        return
    # spawn, not fork: the caller may run threads (progress bars) that fork would copy.
    context = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(workers, mp_context=context, initializer=prepare_worker,
                               initargs=(os.getpid(),))
    futures: List[Future] = []
    try:
        futures = [pool.submit(analyse_photo, path, detection, enrolment, largest)
                   for path in paths]
        for path, future in zip(paths, futures):
            yield path, _attempt(future.result)
    finally:
        # A caller that took the last result may close the generator before it resumes here
        # (zip does): with every photo done, that is a normal end.
        if all(future.done() for future in futures):
            pool.shutdown()
        else:
            _stop_now(pool)


def _stop_now(pool: ProcessPoolExecutor) -> None:
    """End the workers mid-photo: `shutdown` alone would wait until every photo already handed
    to the pool was analysed. The executor then sees its workers gone, fails the queued photos
    and ends; cancelling them or shutting it down first makes its management thread trip over
    cancelled futures or closed pipes (a traceback on stderr, on Python 3.8 and 3.11 alike)."""
    # The executor has no public way to end its workers before Python 3.14 (terminate_workers).
    processes = list((pool._processes or {}).values())
    for process in processes:
        process.terminate()
    for process in processes:
        process.join()
    pool.shutdown(wait=True)


def _attempt(analysis: Callable[[], PhotoAnalysis]) -> Union[PhotoAnalysis, GreeterError]:
    try:
        return analysis()
    except GreeterError as error:
        return error
    except MemoryError:
        return GreeterError("not enough memory to read this photo")
    except BrokenExecutor:
        return GreeterError("the analysing process died (out of memory?); run again")
    except Exception as error:
        # A library's surprise on one odd photo (or a bug) must not end the whole run.
        return GreeterError(f"could not be analysed: {type(error).__name__}: {error} (use "
                            f"another photo, or re-save this one as JPEG)")


# --- the run ------------------------------------------------------------------------------


class Enroller:
    """Runs photo jobs into a store and reports one outcome per photo.

    With an `engine` (a server keeping the face models loaded between requests) photos are
    analysed in this process with it, instead of in worker processes. `largest_hint` is how
    the caller asks for the largest face (the CLI: ``--largest to enrol the largest face``): a
    photo rejected for several faces ends its reason with ", or" and the hint.
    """

    def __init__(
        self,
        store: Store,
        detection: DetectionSettings,
        enrolment: EnrolmentSettings,
        largest: bool = False,
        engine: Optional[FaceEngine] = None,
        largest_hint: str = "",
    ):
        self.store = store
        self.detection = detection
        self.enrolment = enrolment
        self.largest = largest
        self.engine = engine
        self.largest_hint = largest_hint
        #: Who is enrolled, for `identity_problem`: read at the first analysed photo, then
        #: brought up to date before each photo is stored (`_gallery_row`: the newest row
        #: read), with this run's photos and those other desks enrolled meanwhile.
        self._gallery = Gallery.empty()
        self._gallery_row = 0

    def run(
        self,
        jobs: Sequence[PhotoJob],
        on_outcome: Callable[[PhotoOutcome], None] = lambda outcome: None,
    ) -> List[PhotoOutcome]:
        """One outcome per job, in the order of `jobs` except that photos needing no analysis
        come first. Ctrl-C or SIGTERM raise `EnrolmentInterrupted` with the outcomes so far."""
        outcomes: List[PhotoOutcome] = []

        def report(outcome: PhotoOutcome) -> None:
            outcomes.append(outcome)
            on_outcome(outcome)

        interruptions = _Interruptions()
        try:
            with interruptions.caught():
                self._run(jobs, report, interruptions)
        except KeyboardInterrupt:
            raise EnrolmentInterrupted(outcomes, len(jobs) - len(outcomes),
                                       interruptions.signal_number) from None
        finally:
            if self.engine is not None:  # a server analysing in its own process: it stays
                release_more_models()
        return outcomes

    def _run(self, jobs: Sequence[PhotoJob], report: Callable[[PhotoOutcome], None],
             interruptions: "_Interruptions") -> None:
        pending: List[Tuple[PhotoJob, str]] = []
        seen: Dict[str, Path] = {}
        for job in jobs:
            screened = self._screen(job, seen)
            if isinstance(screened, PhotoOutcome):
                report(screened)
            else:
                pending.append((job, screened))
        contents = [job.data for job, _ in pending]
        results = analyse_photos(
            [job.path for job, _ in pending], self.detection, self.enrolment, self.largest,
            self.engine, contents if any(data is not None for data in contents) else None)
        # closing: an interruption between two photos ends the workers now, not at exit
        with closing(results):
            for (job, digest), (_, result) in zip(pending, results):
                with interruptions.held():
                    report(self._store(job, digest, result))

    def _screen(self, job: PhotoJob, seen: Dict[str, Path]) -> Union[str, PhotoOutcome]:
        """The hash of a photo worth analysing, or the outcome that makes analysis needless."""
        try:
            if job.data is None:
                check_readable(job.path)
                digest = file_sha256(job.path)
            elif not job.data:
                raise ImageError(f"{job.path}: empty file (0 bytes)")
            else:
                digest = hashlib.sha256(job.data).hexdigest()
        except ImageError as error:
            return PhotoOutcome(job.path, job.person_id, REJECTED, _reason(error, job.path))
        except OSError as error:
            return PhotoOutcome(job.path, job.person_id, REJECTED,
                                f"cannot read file ({error.strerror or error})")
        try:
            check_same_name(self.store.person(job.person_id),
                            check_name(job.name, job.person_id) if job.name else None)
        except GreeterError as error:
            return PhotoOutcome(job.path, job.person_id, REJECTED, str(error))
        owner = self.store.photo_owner(digest)
        if owner == job.person_id:
            return PhotoOutcome(job.path, job.person_id, SKIPPED, "already enrolled")
        if owner is not None:
            return PhotoOutcome(job.path, job.person_id, REJECTED,
                                f"the same photo is already enrolled for {owner}")
        if digest in seen:
            return PhotoOutcome(job.path, job.person_id, SKIPPED, f"same photo as {seen[digest]}")
        seen[digest] = job.path
        return digest

    def _store(self, job: PhotoJob, digest: str,
               result: Union[PhotoAnalysis, GreeterError]) -> PhotoOutcome:
        try:
            if isinstance(result, GreeterError):
                raise result
            # the check and the write in one transaction: on a shared store another desk may
            # enrol the same face under another id at the same moment
            with self.store.exclusive("the photo was analysed but not stored"):
                rows, self._gallery_row = self.store.rows_after(self._gallery_row)
                if rows:
                    self._gallery = self._gallery.changed((), rows)
                problem = identity_problem(result.embedding, job.person_id, self._gallery,
                                           self.enrolment)
                if problem:
                    return PhotoOutcome(job.path, job.person_id, REJECTED, problem)
                self.store.add_embedding(job.person_id, job.name, result.embedding, digest,
                                         job.path.name, result.face_size, result.sharpness,
                                         result.more)
        except GreeterError as error:
            reason = _reason(error, job.path)
            if isinstance(error, SeveralFacesError) and self.largest_hint:
                reason += f", or {self.largest_hint}"
            return PhotoOutcome(job.path, job.person_id, REJECTED, reason)
        return PhotoOutcome(job.path, job.person_id, ENROLLED, "; ".join(result.advice),
                            warning=bool(result.advice))


class _Interruptions:
    """SIGINT (Ctrl-C) and SIGTERM during a run, raised as KeyboardInterrupt in the main
    thread, except while a photo is being stored and reported: there the signal waits until
    the outcome is reported, so that what the run reports is exactly what the store holds."""

    def __init__(self) -> None:
        self.signal_number: Optional[int] = None
        self._holding = False
        self._pending = False

    @contextmanager
    def caught(self) -> Iterator[None]:
        """Handle both signals while the block runs (signals reach only the main thread; a
        signal the process ignores, such as SIGINT under ``nohup``, stays ignored)."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {number: signal.getsignal(number)
                    for number in (signal.SIGINT, signal.SIGTERM)}
        for number, handler in previous.items():
            if handler is not signal.SIG_IGN:
                signal.signal(number, self._handle)
        try:
            yield
        finally:
            for number, handler in previous.items():
                signal.signal(number, handler)

    @contextmanager
    def held(self) -> Iterator[None]:
        self._holding = True
        try:
            yield
        finally:
            self._holding = False
        if self._pending:
            raise KeyboardInterrupt

    def _handle(self, number: int, frame: object) -> None:
        self.signal_number = self.signal_number or number
        if self._holding:
            self._pending = True
        else:
            raise KeyboardInterrupt


def _reason(error: Exception, path: Path) -> str:
    """The error's message without the leading path (outcomes carry the path already)."""
    text = str(error)
    prefix = f"{path}: "
    return text[len(prefix):] if text.startswith(prefix) else text
