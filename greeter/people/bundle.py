"""People bundles: the enrolled people and their embeddings in one file, to carry a store from
the laptop where staff enrol to the robot (``greeter people export`` / ``import``).

A bundle holds what the store holds, never a photo: ids, names, enrolment dates, and per
photo the embedding, the photo's SHA-256 and file name and its two quality figures. It is
biometric data, so it is written ``0600``, and should be deleted once imported.

Format, version 2 (version 1 had no ``more``; both are read): one JSON document, UTF-8
(written as ASCII, ``\\u`` escapes for other characters)::

    {
      "format": "greeter-people-bundle",
      "version": 2,
      "model_id": "<greeter.recognition.faces.MODEL_ID of the exporting greeter>",
      "created": "2024-05-01T09:30:00+00:00",
      "greeter": "0.1.0",
      "people": [
        {"id": "alex-m", "name": "Alex M\\u00fcller", "created": "...",
         "embeddings": [{"vector": "<base64 of 128 little-endian float32>",
                         "photo_sha256": "<hex SHA-256 of the photo>", "photo_name": "1.jpg",
                         "face_size": 212, "sharpness": 143.5, "created": "...",
                         "more": {"<another model's id>": "<base64 of its embedding>"}}]}
      ],
      "sha256": "<hex SHA-256 of the canonical form of all the keys above>"
    }

The canonical form is ``json.dumps(document without "sha256", sort_keys=True,
separators=(",", ":"), ensure_ascii=True)``, so the checksum covers every value but not the
indentation. A reader checks, before anything is written, in this order: the file is complete
JSON, the format marker, a version it knows, the checksum, the embedding model (which must be
the store's: embeddings of two models cannot be compared), then every field, by value and not
only by shape: a number JSON can write but a float cannot hold (``1e400`` reads as infinity),
an embedding that no face gives (all zeros, or far from the length of dlib's embeddings), a face
size or sharpness no photo gives. One bad value refuses the whole bundle, naming the field.
The dlib version that computed the embeddings does not matter; the model does. What an import
does with each person (added, replaced, skipped; never removed) is described at
`Store.import_people`.
"""

import base64
import binascii
import hashlib
import json
import math
from collections import Counter
from contextlib import suppress
from datetime import datetime
from pathlib import Path
from typing import Any, Callable, Dict, List, Sequence, Tuple, Union

import numpy as np
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from typing_extensions import Annotated

from greeter import __version__
from greeter.atomicfile import replace_file
from greeter.errors import GreeterError
from greeter.greetings.schema import PersonId, ShowableText
from greeter.people.store import (
    IMPORT_ADDED,
    EmbeddingRecord,
    ImportedPerson,
    ImportReport,
    NoStoreYet,
    PersonRecord,
    Store,
    StoreBase,
    now_iso,
)
from greeter.recognition.matching import EMBEDDING_SIZE

FORMAT = "greeter-people-bundle"
VERSION = 2

#: The L2 norms of this model's embeddings (dlib's ResNet with the mirror image, as enrolled):
#: 1.27 to 1.66, median 1.42, over 331 faces of lfw-dev and the samples. The accepted range
#: leaves a wide margin on both sides and still refuses vectors that would overflow (all
#: 3e38) or that no face gives (zeros, random numbers: ~11). SFace's (`more`) are scaled to
#: length 1.
EMBEDDING_NORM_RANGE = (0.8, 2.5)

#: Sharpness is the variance of the Laplacian of 8-bit gray levels: each Laplacian value lies
#: within +-4 x 255, so the variance cannot exceed (4 x 255)^2.
MAX_SHARPNESS = float((4 * 255) ** 2)

#: A face's size is the side of its box in a photo's pixels, and no JPEG is wider than this.
MAX_FACE_SIZE = 65535


class BundleError(GreeterError):
    """A bundle cannot be written, or is not a complete, intact bundle this greeter can use."""


# -- the document ---------------------------------------------------------------------------


class _BundleModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _iso_time(value: str) -> str:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is not an ISO 8601 time") from None
    return value


IsoTime = Annotated[str, AfterValidator(_iso_time)]


class BundledEmbedding(_BundleModel):
    vector: bytes = Field(description=f"base64 of {EMBEDDING_SIZE} little-endian float32")
    photo_sha256: str = Field(min_length=1)
    photo_name: str
    face_size: int = Field(ge=1, le=MAX_FACE_SIZE)
    sharpness: float = Field(ge=0, le=MAX_SHARPNESS, allow_inf_nan=False)
    created: IsoTime
    more: Dict[str, bytes] = Field(
        default_factory=dict,
        description="The same photo's embeddings by other models (model id -> base64), so "
        "that the robot can switch model without re-enrolment.")

    @field_validator("vector", mode="before")
    @classmethod
    def _decode_vector(cls, value: Any) -> bytes:
        return _decoded_vector(value)

    @field_validator("more", mode="before")
    @classmethod
    def _decode_more(cls, value: Any) -> Dict[str, bytes]:
        if not isinstance(value, dict):
            raise ValueError("must be an object of model ids and base64 strings")
        return {str(model): _decoded_vector(vector) for model, vector in value.items()}


def _decoded_vector(value: Any) -> bytes:
    if not isinstance(value, str):
        raise ValueError("must be a base64 string")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None
    if len(raw) != EMBEDDING_SIZE * 4 or not np.all(np.isfinite(np.frombuffer(raw, "<f4"))):
        raise ValueError(f"not {EMBEDDING_SIZE} finite float32 values")
    norm = float(np.linalg.norm(np.frombuffer(raw, "<f4").astype(np.float64)))
    if norm == 0:
        raise ValueError(f"all {EMBEDDING_SIZE} values are 0: not a face's embedding")
    low, high = EMBEDDING_NORM_RANGE
    if not low <= norm <= high:
        raise ValueError(f"length (L2 norm) {norm:.3g}, but face embeddings have {low:g} to "
                         f"{high:g}: not a face's embedding")
    return raw


class BundledPerson(_BundleModel):
    id: PersonId
    name: ShowableText
    created: IsoTime
    embeddings: List[BundledEmbedding] = Field(min_length=1)


class Bundle(_BundleModel):
    format: str
    version: int
    model_id: str
    created: IsoTime
    greeter: str
    people: List[BundledPerson]
    sha256: str

    @model_validator(mode="after")
    def _each_person_and_photo_once(self) -> "Bundle":
        ids = Counter(person.id for person in self.people)
        twice = sorted(person_id for person_id, count in ids.items() if count > 1)
        if twice:
            raise ValueError(f"{', '.join(twice)}: more than one person with this id")
        owners: Dict[str, str] = {}
        for person in self.people:
            for embedding in person.embeddings:
                owner = owners.setdefault(embedding.photo_sha256, person.id)
                if owner != person.id:
                    raise ValueError(f"photo {embedding.photo_name} is in the bundle for both "
                                     f"{owner} and {person.id}")
        return self

    def records(self) -> List[PersonRecord]:
        """The people as the store takes them."""
        return [
            PersonRecord(person.id, person.name, person.created, tuple(
                EmbeddingRecord(np.frombuffer(e.vector, dtype="<f4").copy(), e.photo_sha256,
                                e.photo_name, e.face_size, e.sharpness, e.created,
                                {model: np.frombuffer(vector, dtype="<f4").copy()
                                 for model, vector in e.more.items()})
                for e in person.embeddings
            ))
            for person in self.people
        ]


def checksum(document: Dict[str, Any]) -> str:
    """SHA-256 of the canonical form of `document` without its ``sha256`` key."""
    payload = {key: value for key, value in document.items() if key != "sha256"}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                           allow_nan=False)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()


def bundle_document(people: Sequence[PersonRecord], model_id: str) -> Dict[str, Any]:
    """The bundle of `people` as a JSON-ready dict, checksum included."""
    document: Dict[str, Any] = {
        "format": FORMAT,
        "version": VERSION,
        "model_id": model_id,
        "created": now_iso(),
        "greeter": __version__,
        "people": [
            {"id": person.id, "name": person.name, "created": person.created, "embeddings": [
                {"vector": base64.b64encode(
                    np.asarray(e.vector, dtype="<f4").tobytes()).decode("ascii"),
                 "photo_sha256": e.photo_sha256, "photo_name": e.photo_name,
                 "face_size": int(e.face_size), "sharpness": float(e.sharpness),
                 "created": e.created,
                 "more": {model: base64.b64encode(
                     np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")
                     for model, vector in sorted(e.more.items())}}
                for e in person.embeddings
            ]}
            for person in people
        ],
    }
    document["sha256"] = checksum(document)
    return document


# -- export ---------------------------------------------------------------------------------


def export_bundle(store: StoreBase, path: Union[str, Path]) -> List[PersonRecord]:
    """Write everybody in `store` to the bundle `path` and return who was written.

    The file is replaced atomically (a temporary file in the same folder, fsynced, renamed),
    so an interrupted export never leaves half a bundle under the name the robot is given,
    and it is created ``0600``: it holds biometric data.
    """
    path = Path(path)
    if path.is_dir():
        raise BundleError(f"{path}: is a directory; name the bundle file, e.g. "
                          f"{path / 'people.bundle'}")
    if isinstance(store, Store) and _same_file(path, store.path):
        raise BundleError(f"{path}: is the store itself; name the bundle another file, e.g. "
                          "people.bundle")
    people, content = bundle_content(store)
    try:
        replace_file(path, content, mode=0o600)
    except OSError as error:
        raise BundleError(f"{path}: cannot be written ({error.strerror})") from None
    return people


def bundle_content(store: StoreBase) -> Tuple[List[PersonRecord], bytes]:
    """Everybody in `store` and their bundle's content, as `export_bundle` writes it (the
    console sends it as a download, the CLI to standard output)."""
    people = store.export_people()
    if not people:
        raise BundleError(f"{store.location}: nobody is enrolled, so there is nothing to export")
    text = json.dumps(bundle_document(people, store.model_id), indent=1, ensure_ascii=True)
    return people, (text + "\n").encode("ascii")


def _same_file(path: Path, other: Path) -> bool:
    with suppress(OSError):
        return path.exists() and path.samefile(other)
    return False


# -- import ---------------------------------------------------------------------------------


def read_bundle(path: Union[str, Path], model_id: str) -> Bundle:
    """The bundle in `path`, fully checked, or `BundleError` naming the one thing wrong with it.

    `model_id` is the model of the store the bundle is for; a bundle of another model is
    refused. Nothing is written, so a store is untouched by a refused bundle.
    """
    path = Path(path)
    return bundle_from_bytes(_read(path), path, model_id)


def bundle_from_bytes(content: bytes, path: Union[str, Path], model_id: str) -> Bundle:
    """`read_bundle` for a bundle held in memory (an upload to the console, standard input);
    `path` names it in the messages."""
    document = _parse(content, Path(path))
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        found = document.get("format") if isinstance(document, dict) else None
        raise BundleError(
            f"{path}: not a people bundle ("
            + (f"format {found!r}, expected {FORMAT!r}" if found is not None
               else f"no \"format\": \"{FORMAT}\"")
            + "); make one with `greeter people export`"
        )
    version = document.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise BundleError(f"{path}: unknown bundle version {version!r}; export it again")
    if version > VERSION:
        raise BundleError(
            f"{path}: bundle version {version} is newer than this greeter reads ({VERSION}); "
            "upgrade greeter here, or export with the greeter version installed here"
        )
    infinite = _first_non_finite(document)
    if infinite:
        raise BundleError(f"{path}: invalid bundle: {infinite}: a number out of range (not a "
                          "finite float); export it again")
    if not isinstance(document.get("sha256"), str):
        raise BundleError(f"{path}: no checksum; export it again")
    if document["sha256"] != checksum(document):
        raise BundleError(f"{path}: checksum mismatch: the file was changed or damaged after "
                          "export; export it and copy it again")
    if document.get("model_id") != model_id:
        raise BundleError(
            f"{path}: holds embeddings of model {document.get('model_id')}, but this store "
            f"uses {model_id}; embeddings of two models cannot be compared, so nothing was "
            "imported (enrol the photos again with this greeter)"
        )
    try:
        return Bundle.model_validate(document)
    except ValidationError as error:
        raise BundleError(f"{path}: invalid bundle: {_first_problem(error)}") from None


def import_bundle(bundle: Bundle, open_store: Callable[[bool], StoreBase],
                  dry_run: bool = False) -> ImportReport:
    """Import `bundle` into the store `open_store(create)` opens (see
    `StoreBase.import_people`), creating the store when there is none yet; with `dry_run`,
    report what would happen and write nothing, not even a new store."""
    people = bundle.records()
    try:
        store = open_store(not dry_run)
    except NoStoreYet:  # a dry run on a new store: everybody would be added
        return ImportReport([ImportedPerson(person.id, person.name, IMPORT_ADDED,
                                            len(person.embeddings), 0) for person in people], [])
    with store:
        return store.import_people(people, bundle.model_id, dry_run=dry_run)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise BundleError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BundleError(f"{path}: is a directory, not a people bundle") from None
    except OSError as error:
        raise BundleError(f"{path}: cannot be read ({error.strerror})") from None


def _parse(content: bytes, path: Path) -> Any:
    if not content.strip():
        raise BundleError(f"{path}: the file is empty, not a people bundle; export it again")
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise BundleError(f"{path}: not a people bundle (binary data, not JSON); make one "
                          "with `greeter people export`") from None
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        if error.pos >= len(text.rstrip()) or error.msg.startswith("Unterminated string"):
            raise BundleError(f"{path}: truncated: the file ends in the middle of the bundle "
                              f"(after {len(content)} bytes); copy it again") from None
        where = f"{error.msg.lower()} at line {error.lineno} column {error.colno}"
        if FORMAT in text:
            raise BundleError(f"{path}: damaged: {where}; export it again") from None
        raise BundleError(f"{path}: not a people bundle (not JSON: {where}); make one with "
                          "`greeter people export`") from None
    except (ValueError, RecursionError):
        raise BundleError(f"{path}: not a people bundle (not plain JSON); make one with "
                          "`greeter people export`") from None


def _first_non_finite(document: Any) -> str:
    """Where in `document` (as ``people[0].embeddings[1].sharpness``) the first infinite float
    is, or ``""``: JSON's ``1e400`` parses as infinity, which nothing in a bundle can be, and
    which would stop the checksum from being computed. Iterative: JSON nests deeper than
    Python recurses."""
    pending = [("", document)]
    while pending:
        where, value = pending.pop()
        if isinstance(value, float) and not math.isfinite(value):
            return where
        if isinstance(value, dict):
            children = [(f"{where}.{key}" if where else str(key), item)
                        for key, item in value.items()]
        elif isinstance(value, list):
            children = [(f"{where}[{index}]", item) for index, item in enumerate(value)]
        else:
            continue
        pending.extend(reversed(children))
    return ""


def _refuse_constant(name: str) -> None:
    """NaN and Infinity are not JSON, and never in a bundle."""
    raise ValueError(name)


def _first_problem(error: ValidationError) -> str:
    """Pydantic's first error as ``people[2].embeddings[0].vector: message``."""
    detail = error.errors()[0]
    path = "".join(f"[{part}]" if isinstance(part, int) else f".{part}"
                   for part in detail["loc"]).lstrip(".")
    if detail["type"] in ("value_error", "assertion_error"):
        message = str(detail["ctx"]["error"])
    else:
        message = detail["msg"][:1].lower() + detail["msg"][1:]
    return f"{path}: {message}" if path else message
