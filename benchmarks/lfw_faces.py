"""Every face of every lfw-dev photo, detected and embedded once and cached for the benchmarks.

Each photo becomes a `PhotoFaces`: the image's size and, for each face the detector finds
(largest first), its box, embedding, sharpness and head turn, with greeter's own pipeline
(`FaceEngine.faces_in_photo` with the default detection settings). The enrolment checks are
pure functions of these figures, so the benchmarks can apply them (and variants of them) without
analysing the photos again. The cache is a pickle under /work/cache/ (never in the repository),
keyed by the photo's path relative to lfw-dev and its size in bytes.
"""

import argparse
import os
import pickle
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from greeter.recognition.faces import Face

DEFAULT_CACHE = Path(os.environ.get("GREETER_BENCH_CACHE", "/work/cache/i10a")) / "lfw_faces.pickle"
#: lfw-dev beside the project (``../shared/faces``).
DEFAULT_LFW = Path(__file__).resolve().parent.parent.parent / "shared" / "faces" / "lfw-dev"


def lfw_arguments(description: str) -> argparse.ArgumentParser:
    """A benchmark's options, starting with ``--lfw``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    return parser


def lfw_found(lfw: Path) -> bool:
    """Whether `lfw` holds lfw-dev's people; if not, says so on stderr."""
    if (lfw / "people").is_dir():
        return True
    print(f"lfw-dev not found at {lfw}", file=sys.stderr)
    return False


def lfw_photos(lfw: Path, limit: int = 0) -> Tuple[List[List[Path]], List[Path]]:
    """Each person's photos (sorted) and the strangers' photos. With `limit`, the first `limit`
    people and half as many strangers (at least 20)."""
    people = sorted(p for p in (lfw / "people").iterdir() if p.is_dir())[: limit or None]
    strangers = sorted((lfw / "strangers").glob("*.jpg"))
    if limit:
        strangers = strangers[: max(20, limit // 2)]
    return [sorted(folder.glob("*.jpg")) for folder in people], strangers


@dataclass(frozen=True)
class PhotoFaces:
    """What the detector and embedder make of one photo: ``(height, width)`` and its faces."""

    shape: Tuple[int, int]
    faces: Tuple[Face, ...]


_engine = None


def _analyse(path: Path) -> PhotoFaces:
    global _engine
    from greeter.recognition.faces import FaceEngine
    from greeter.recognition.imaging import load_rgb
    from greeter.settings import Settings

    detection = Settings.load(environ={}).detection
    _engine = _engine or FaceEngine()
    rgb = load_rgb(path, max_side=detection.load_max_side)
    _, faces = _engine.faces_in_photo(rgb, detection.photo_max_side, detection.retry_upsample)
    return PhotoFaces(tuple(rgb.shape[:2]), tuple(faces))


def photo_faces(lfw: Path, photos: Sequence[Path],
                cache: Optional[Path] = DEFAULT_CACHE) -> List[PhotoFaces]:
    """`PhotoFaces` of each photo, from the cache where it has them (then saved again)."""
    known: Dict[Tuple[str, int], PhotoFaces] = {}
    if cache is not None and cache.is_file():
        known = {key: PhotoFaces(shape, faces)
                 for key, (shape, faces) in pickle.loads(cache.read_bytes()).items()}
    keys = [(str(Path(photo).relative_to(lfw)), Path(photo).stat().st_size) for photo in photos]
    missing = [photo for photo, key in zip(photos, keys) if key not in known]
    if missing:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
        with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
            for photo, result in zip(missing, pool.map(_analyse, missing, chunksize=8)):
                known[(str(Path(photo).relative_to(lfw)), Path(photo).stat().st_size)] = result
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            temporary = cache.with_suffix(".tmp")
            # plain tuples: a pickled PhotoFaces would name the module that ran this first
            temporary.write_bytes(pickle.dumps(
                {key: (value.shape, value.faces) for key, value in known.items()}))
            temporary.replace(cache)
    return [known[key] for key in keys]


if __name__ == "__main__":
    import sys
    import time

    lfw = Path(sys.argv[1])
    every = sorted(lfw.glob("people/*/*.jpg")) + sorted(lfw.glob("strangers/*.jpg"))
    started = time.perf_counter()
    results = photo_faces(lfw, every)
    print(f"{len(results)} photos, {time.perf_counter() - started:.0f} s")
