"""Enrolling staff photos into the store: the library behind ``greeter enroll``.

Every photo ends as exactly one `PhotoOutcome`: *enrolled*, *skipped* (nothing to do: already
enrolled, or not a photo file) or *rejected* (with the reason staff need to fix it). A bad photo
never stops the others, and each good photo is committed on its own, so an interrupted run
keeps everything enrolled before the interruption.

Photos are analysed in worker processes, one per core: dlib holds the GIL for most of its
work, so threads would not use the second core. Only the main process writes to the store.
"""

import hashlib
import multiprocessing
import os
from concurrent.futures import BrokenExecutor, ProcessPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

import numpy as np

from greeter.errors import FaceError, GreeterError, ImageError
from greeter.faces import FaceEngine
from greeter.imaging import check_readable, file_sha256, is_photo_name, load_rgb, load_rgb_bytes
from greeter.settings import DetectionSettings, EnrolmentSettings
from greeter.store import Store, check_person_id

ENROLLED = "enrolled"
SKIPPED = "skipped"
REJECTED = "rejected"

#: Optional display name file inside a person's folder.
NAME_FILE = "name.txt"


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
    path: Path
    person_id: Optional[str]
    status: str
    reason: str = ""


@dataclass(frozen=True)
class PhotoAnalysis:
    """What enrolment keeps from a photo: one embedding and its quality figures."""

    embedding: np.ndarray
    face_size: int
    sharpness: float


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
            outcomes.append(PhotoOutcome(path, None, REJECTED, "not a folder of person folders"))
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
    name = _read_name_file(folder / NAME_FILE)
    for child in sorted(folder.iterdir()):
        if child.name.startswith(".") or child.name == NAME_FILE \
                or child.name.lower().startswith("readme"):
            continue
        if is_photo_name(child):
            jobs.append(PhotoJob(person_id, name, child))
        else:
            outcomes.append(
                PhotoOutcome(child, person_id, SKIPPED, "not a photo file (by its name)"))


def _read_name_file(path: Path) -> Optional[str]:
    try:
        name = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None
    return name.splitlines()[0].strip() if name else None


def jobs_for_person(person_id: str, name: Optional[str], photos: Iterable[Path]) -> List[PhotoJob]:
    check_person_id(person_id)
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
    """The embedding of the one face in a photo (the file `path`, or `data` named `path`), or a
    `GreeterError` saying why it is unusable."""
    global _worker_engine
    if engine is None:
        _worker_engine = _worker_engine or FaceEngine()
        engine = _worker_engine
    if data is None:
        rgb = load_rgb(path, max_side=detection.load_max_side)
    else:
        rgb = load_rgb_bytes(data, str(path), max_side=detection.load_max_side)
    boxes, faces = engine.faces_in_photo(
        rgb, detection.photo_max_side, detection.retry_upsample, enrolment.jitter, limit=1
    )
    if not boxes:
        raise FaceError(f"{path}: no face found (use a photo where the face is clearly visible)")
    if len(boxes) > 1 and not largest:
        raise FaceError(
            f"{path}: {len(boxes)} faces found; use a photo of this person alone, or --largest "
            f"to enrol the largest face"
        )
    face = faces[0]
    if face.size < enrolment.min_face_size:
        raise FaceError(
            f"{path}: face is {face.size} px, smaller than the minimum of "
            f"{enrolment.min_face_size} px (use a closer or larger photo)"
        )
    if face.sharpness < enrolment.min_sharpness:
        raise FaceError(
            f"{path}: face is blurred (sharpness {face.sharpness:.1f}, minimum "
            f"{enrolment.min_sharpness:g})"
        )
    return PhotoAnalysis(face.embedding, face.size, face.sharpness)


def _limit_blas_threads() -> None:
    # Each worker already has a core of its own; BLAS threads on top only contend.
    for variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"


def analyse_photos(
    paths: Sequence[Path],
    detection: DetectionSettings,
    enrolment: EnrolmentSettings,
    largest: bool = False,
) -> Iterator[Tuple[Path, Union[PhotoAnalysis, GreeterError]]]:
    """`analyse_photo` over many photos on all cores; yields in the order given.

    A worker that dies (out of memory, killed) turns its photo and the ones after it into
    errors instead of ending the whole run.
    """
    workers = min(enrolment.workers or os.cpu_count() or 1, len(paths))
    if workers <= 1:
        engine = FaceEngine()
        for path in paths:
            yield path, _attempt(lambda path=path: analyse_photo(
                path, detection, enrolment, largest, engine))
        return
    # spawn, not fork: the caller may run threads (progress bars) that fork would copy.
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context, initializer=_limit_blas_threads) as pool:
        futures = [pool.submit(analyse_photo, path, detection, enrolment, largest)
                   for path in paths]
        for path, future in zip(paths, futures):
            yield path, _attempt(future.result)


def _attempt(analysis: Callable[[], PhotoAnalysis]) -> Union[PhotoAnalysis, GreeterError]:
    try:
        return analysis()
    except GreeterError as error:
        return error
    except MemoryError:
        return GreeterError("not enough memory to read this photo")
    except BrokenExecutor:
        return GreeterError("the analysing process died (out of memory?); run again")


# --- the run ------------------------------------------------------------------------------


class Enroller:
    """Runs photo jobs into a store and reports one outcome per photo.

    With an `engine` (a server keeping the face models loaded between requests) photos are
    analysed in this process with it, instead of in worker processes.
    """

    def __init__(
        self,
        store: Store,
        detection: DetectionSettings,
        enrolment: EnrolmentSettings,
        largest: bool = False,
        engine: Optional[FaceEngine] = None,
    ):
        self.store = store
        self.detection = detection
        self.enrolment = enrolment
        self.largest = largest
        self.engine = engine

    def run(
        self,
        jobs: Sequence[PhotoJob],
        on_outcome: Callable[[PhotoOutcome], None] = lambda outcome: None,
    ) -> List[PhotoOutcome]:
        outcomes: List[PhotoOutcome] = []

        def report(outcome: PhotoOutcome) -> None:
            outcomes.append(outcome)
            on_outcome(outcome)

        pending: List[Tuple[PhotoJob, str]] = []
        seen: Dict[str, Path] = {}
        for job in jobs:
            screened = self._screen(job, seen)
            if isinstance(screened, PhotoOutcome):
                report(screened)
            else:
                pending.append((job, screened))
        engine = self.engine
        if engine is None and any(job.data is not None for job, _ in pending):
            engine = FaceEngine()  # photos in memory are not copied to worker processes
        if engine is None:
            results = analyse_photos([job.path for job, _ in pending], self.detection,
                                     self.enrolment, self.largest)
        else:
            results = ((job.path, _attempt(partial(
                analyse_photo, job.path, self.detection, self.enrolment, self.largest,
                engine, job.data))) for job, _ in pending)
        for (job, digest), (_, result) in zip(pending, results):
            report(self._store(job, digest, result))
        return outcomes

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
            self.store.add_embedding(job.person_id, job.name, result.embedding, digest,
                                     job.path.name, result.face_size, result.sharpness)
        except GreeterError as error:
            return PhotoOutcome(job.path, job.person_id, REJECTED, _reason(error, job.path))
        return PhotoOutcome(job.path, job.person_id, ENROLLED)


def _reason(error: Exception, path: Path) -> str:
    """The error's message without the leading path (outcomes carry the path already)."""
    text = str(error)
    prefix = f"{path}: "
    return text[len(prefix):] if text.startswith(prefix) else text
