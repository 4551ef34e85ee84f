"""Moving an event between stores: `greeter store copy FROM TO` copies everybody, every
embedding of every model and the calibration from one store into an empty one (an SQLite file
into a PostgreSQL server when one robot becomes several, and back when the event ends), then
proves the copy by counts and a checksum of both stores' content.

The checksum is SHA-256 over each person's id, name and enrolment date and each photo's hash,
name, quality figures, date and embedding bytes (every model's, in model order), people by id
and photos by hash, then the calibration entries: two stores with the same content have the
same checksum whatever their engine or row numbers.
"""

import hashlib
from dataclasses import dataclass
from typing import Dict, List, Mapping

import numpy as np

from greeter.errors import StoreError
from greeter.people.store import PersonRecord, StoreBase


@dataclass(frozen=True)
class StoreCount:
    """What a store holds: people, photos, embeddings by model id, and the checksum."""

    people: int
    photos: int
    embeddings: Dict[str, int]
    checksum: str


@dataclass(frozen=True)
class CopyReport:
    source: StoreCount
    target: StoreCount


def count_store(people: List[PersonRecord], calibration: Mapping[str, str],
                model_id: str) -> StoreCount:
    """The counts and the checksum of a store's content (see the module docstring)."""
    digest = hashlib.sha256()
    embeddings: Dict[str, int] = {}
    for person in sorted(people, key=lambda record: record.id):
        digest.update(repr((person.id, person.name, person.created)).encode("utf-8"))
        for photo in sorted(person.embeddings, key=lambda record: record.photo_sha256):
            digest.update(repr((photo.photo_sha256, photo.photo_name, int(photo.face_size),
                                float(photo.sharpness), photo.created)).encode("utf-8"))
            vectors = {model_id: photo.vector, **photo.more}
            for model in sorted(vectors):
                embeddings[model] = embeddings.get(model, 0) + 1
                digest.update(model.encode("utf-8"))
                digest.update(np.asarray(vectors[model], dtype="<f4").tobytes())
    digest.update(repr(sorted(calibration.items())).encode("utf-8"))
    return StoreCount(len(people), sum(len(person.embeddings) for person in people),
                      embeddings, digest.hexdigest())


def copy_store(source: StoreBase, target: StoreBase) -> CopyReport:
    """Copy everything in `source` into the empty `target` in one transaction, then read
    `target` back and compare; `StoreError` if they differ (the target is then left as
    written, for inspection: it was empty before)."""
    people = source.export_people()
    calibration = source.calibration_entries()
    before = count_store(people, calibration, source.model_id)
    target.copy_from(people, calibration, source.model_id)
    after = count_store(target.export_people(), target.calibration_entries(), target.model_id)
    if after != before:
        raise StoreError(
            f"the copy in {target.location} differs from {source.location} ({after.people} "
            f"people, {after.photos} photos, checksum {after.checksum[:12]} vs "
            f"{before.people}, {before.photos}, {before.checksum[:12]}): do not use it")
    return CopyReport(before, after)
