"""The store: a real SQLite file in a temporary folder and, for every test taking the `store`
fixture, the same on a real PostgreSQL server (tests/postgres.py)."""

import os
import sqlite3
import stat

import numpy as np
import pytest

from greeter.errors import StoreError
from greeter.people.store import Store, check_person_id, name_from_id, open_store
from greeter.recognition.matching import MatchPolicy


def vector(seed):
    return np.random.default_rng(seed).normal(size=128).astype(np.float32)


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        location = tmp_path / "data" / "greeter.sqlite3"
    else:
        location = request.getfixturevalue("server_address")
    with open_store(location, tmp_path) as opened:
        yield opened


def add(store, person_id, seed, name=None):
    store.add_embedding(person_id, name, vector(seed), f"sha-{seed}", f"{seed}.jpg", 120, 80.0)


def test_new_store_is_private_and_versioned(tmp_path):
    path = tmp_path / "data" / "greeter.sqlite3"
    with Store(path) as store:
        add(store, "alex-m", 1)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    with sqlite3.connect(str(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_open_tightens_a_world_readable_store(tmp_path):
    path = tmp_path / "greeter.sqlite3"
    Store(path).close()
    os.chmod(path, 0o644)
    Store(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_embeddings_round_trip_into_the_gallery(store):
    add(store, "alex-m", 1, "Alex Müller")
    add(store, "alex-m", 2)
    add(store, "zoe", 3, "Zoë")
    gallery = store.gallery()
    assert gallery.person_ids == ("alex-m", "zoe")
    assert gallery.matrix.shape == (3, 128)
    np.testing.assert_array_equal(gallery.matrix[2], vector(3))
    assert [(p.id, p.name, p.photos) for p in store.people()] == [
        ("alex-m", "Alex Müller", 2), ("zoe", "Zoë", 1)]


def test_display_name_defaults_from_the_id(store):
    add(store, "jurgen-weiss", 1)
    assert store.person("jurgen-weiss").name == "Jurgen Weiss"
    assert name_from_id("alex_k") == "Alex K"


def test_same_photo_cannot_belong_to_two_people(store):
    add(store, "alex-m", 1)
    with pytest.raises(StoreError, match="already enrolled for alex-m"):
        store.add_embedding("alex-k", None, vector(9), "sha-1", "copy.jpg", 100, 50.0)
    assert store.person("alex-k") is None  # the failed photo did not leave a person behind


def test_invalid_ids_are_refused_with_a_suggestion():
    with pytest.raises(StoreError, match="e.g. alex-mueller"):
        check_person_id("Alex Mueller")
    for good in ("alex", "alex-m", "a1", "x", "alex_k"):
        assert check_person_id(good) == good
    for bad in ("", "-alex", "alex-", "Alex", "al ex", "a" * 65, "../etc"):
        with pytest.raises(StoreError):
            check_person_id(bad)


def test_invalid_vectors_are_refused(store):
    with pytest.raises(StoreError, match="128-d"):
        store.add_embedding("alex", None, np.zeros(127), "sha", "a.jpg", 100, 50.0)
    with pytest.raises(StoreError):
        store.add_embedding("alex", None, np.full(128, np.nan), "sha", "a.jpg", 100, 50.0)
    assert store.people() == []


def test_remove_erases_the_person_and_every_embedding(store):
    add(store, "alex-m", 1)
    add(store, "alex-m", 2)
    add(store, "zoe", 3)
    assert store.remove("alex-m") == 2
    assert [p.id for p in store.people()] == ["zoe"]
    assert store.photos("alex-m") == []
    assert store.photo_owner("sha-1") is None
    with pytest.raises(StoreError, match="nobody with id 'alex-m'"):
        store.remove("alex-m")


def test_removed_embeddings_do_not_linger_in_the_file(tmp_path):
    path = tmp_path / "greeter.sqlite3"
    secret = vector(42)
    with Store(path) as store:
        store.add_embedding("alex", None, secret, "sha", "a.jpg", 100, 50.0)
        add(store, "zoe", 1)
        store.remove("alex")
    raw = path.read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.iterdir() if p.name != path.name)
    assert secret.tobytes() not in raw
    assert b"alex" not in raw


def test_rename(store):
    add(store, "alex-m", 1)
    store.rename("alex-m", "  Łukasz  ")
    assert store.person("alex-m").name == "Łukasz"
    with pytest.raises(StoreError):
        store.rename("nobody", "X")
    with pytest.raises(StoreError, match="empty"):
        store.rename("alex-m", "  ")


def test_changed_sees_commits_of_other_connections(tmp_path):
    path = tmp_path / "greeter.sqlite3"
    with Store(path) as robot, Store(path) as staff:
        assert not robot.changed()
        add(staff, "alex", 1)
        assert robot.changed()
        assert not robot.changed()  # once per change
        assert robot.gallery().person_ids == ("alex",)


def test_calibration_is_saved(store):
    assert store.calibration() is None
    store.save_calibration(MatchPolicy(threshold=0.43, ratio=0.9))
    assert store.calibration() == MatchPolicy(threshold=0.43, ratio=0.9)


def test_a_failed_write_leaves_the_store_as_it_was(store, monkeypatch):
    add(store, "zoe", 1)

    class Boom(Exception):
        pass

    original = store._db

    class FailingAfterPersonInsert:
        """Fails the embedding insert: the person insert before it must be rolled back."""

        def __getattr__(self, name):
            return getattr(original, name)

        def execute(self, sql, *args):
            if sql.startswith("INSERT INTO embeddings"):
                raise Boom()
            return original.execute(sql, *args)

    monkeypatch.setattr(store, "_db", FailingAfterPersonInsert())
    with pytest.raises(Boom):
        add(store, "alex", 2)
    monkeypatch.setattr(store, "_db", original)
    assert [p.id for p in store.people()] == ["zoe"]


def test_a_store_of_another_model_is_refused(tmp_path):
    path = tmp_path / "greeter.sqlite3"
    Store(path, model_id="other-model").close()
    with pytest.raises(StoreError, match="other-model"):
        Store(path)


def test_not_a_store(tmp_path):
    path = tmp_path / "greeter.sqlite3"
    path.write_text("hello, I am not SQLite" * 100)
    with pytest.raises(StoreError, match="not a greeter store"):
        Store(path)
    with pytest.raises(StoreError, match="no store here yet"):
        Store(tmp_path / "missing.sqlite3", create=False)
    with pytest.raises(StoreError, match="is a directory"):
        Store(tmp_path)


# -- each photo's embeddings by the other models (schema 2) -----------------------------------


def test_a_photos_other_model_embeddings_are_kept_beside_it_and_erased_with_it(tmp_path):
    path = tmp_path / "greeter.sqlite3"
    secret = vector(42)
    with Store(path) as store:
        store.add_embedding("alex", None, vector(1), "sha-1", "a.jpg", 100, 50.0,
                            more={"sface": secret})
        store.add_embedding("zoe", None, vector(2), "sha-2", "z.jpg", 100, 50.0,
                            more={"sface": vector(3)})
        store.add_embedding("zoe", None, vector(4), "sha-4", "z2.jpg", 100, 50.0)  # none found
        assert store.model_counts() == {store.model_id: 3, "sface": 2}
        gallery = store.gallery("sface")
        assert sorted(gallery.person_ids) == ["alex", "zoe"]
        assert np.allclose(dict(store.embeddings("sface"))["alex"], secret)
        assert len(list(store.embeddings())) == 3  # the store's own model: every photo
        (record,) = [p for p in store.export_people() if p.id == "alex"]
        assert np.allclose(record.embeddings[0].more["sface"], secret)
        store.remove("alex")
        assert store.model_counts() == {store.model_id: 2, "sface": 1}
    raw = path.read_bytes() + b"".join(
        p.read_bytes() for p in tmp_path.iterdir() if p.name != path.name)
    assert secret.tobytes() not in raw, "erasing a person erases every model's embeddings"


def test_an_invalid_other_model_embedding_refuses_the_photo(store):
    with pytest.raises(StoreError, match="not a valid 128-d embedding"):
        store.add_embedding("alex", None, vector(1), "sha-1", "a.jpg", 100, 50.0,
                            more={"sface": np.full(128, np.nan, np.float32)})
    assert store.people() == []


def test_a_store_of_schema_1_gains_the_other_models_table_and_keeps_its_people(tmp_path):
    path = tmp_path / "greeter.sqlite3"
    with Store(path) as store:
        add(store, "alex-m", 1)
    with sqlite3.connect(str(path)) as db:  # as greeter made it before schema 2
        db.execute("DROP TABLE more_embeddings")
        db.execute("PRAGMA user_version=1")
    with Store(path) as store:
        assert [p.id for p in store.people()] == ["alex-m"]
        assert store.model_counts() == {store.model_id: 1}
        store.add_embedding("zoe", None, vector(2), "sha-2", "z.jpg", 100, 50.0,
                            more={"sface": vector(3)})
        assert store.model_counts()["sface"] == 1
    with sqlite3.connect(str(path)) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2
