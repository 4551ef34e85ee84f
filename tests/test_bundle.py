"""``greeter people export`` / ``import`` run for real: real stores and bundle files in a
temporary folder, and real photos from ../shared/faces for the end-to-end round trip."""

import base64
import hashlib
import json
import os
import re
import shutil
import stat

import numpy as np
import pytest
from conftest import cli_runner

from greeter.cli import main
from greeter.errors import StoreError
from greeter.people.bundle import checksum
from greeter.people.store import Store
from greeter.recognition.faces import MODEL_ID
from greeter.recognition.sface import MODEL_ID as SFACE_ID

OTHER_MODEL = "facenet_512_v2"


def invoke(store, *args):
    result = cli_runner().invoke(main, ["--store", str(store), *map(str, args)])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def sha(label):
    return hashlib.sha256(label.encode()).hexdigest()


def vector(label):
    """A made-up embedding with the length of dlib's (see `EMBEDDING_NORM_RANGE`)."""
    values = np.random.default_rng(int(sha(label)[:8], 16)).normal(size=128)
    return (1.4 * values / np.linalg.norm(values)).astype(np.float32)


def base64_of(values):
    return base64.b64encode(np.asarray(values, dtype="<f4").tobytes()).decode()


def enrol(store_path, person_id, photos, name=None):
    """Embeddings made up for `photos` (labels): the same label is the same photo and vector."""
    with Store(store_path) as store:
        for photo in photos:
            store.add_embedding(person_id, name, vector(photo), sha(photo), f"{photo}.jpg",
                                120 + len(photo), 80.5)


def contents(store_path):
    """Everything the store holds about people, comparable with ==."""
    with Store(store_path, create=False) as store:
        return [(p.id, p.name, p.created, [(e.vector.tobytes(), e.photo_sha256, e.photo_name,
                                             e.face_size, e.sharpness, e.created)
                                            for e in p.embeddings])
                for p in store.export_people()]


@pytest.fixture
def laptop(tmp_path):
    """The laptop's store: three people, names with characters beyond ASCII."""
    path = tmp_path / "laptop" / "greeter.sqlite3"
    enrol(path, "alex-m", ["alex-1", "alex-2"], "Alex Müller")
    enrol(path, "juergen", ["juergen-1"], "Jürgen Weiß")
    enrol(path, "zoe", ["zoe-1", "zoe-2", "zoe-3"], "Zoë")
    return path


@pytest.fixture
def bundle(laptop, tmp_path):
    path = tmp_path / "people.bundle"
    result = invoke(laptop, "people", "export", path)
    assert result.exit_code == 0, result.output
    return path


def rewrite(path, change, recompute=True):
    """Change the bundle's JSON with `change`; recompute its checksum to make a bundle that
    is intact but says something else."""
    document = json.loads(path.read_text())
    change(document)
    if recompute:
        document["sha256"] = checksum(document)
    path.write_text(json.dumps(document, indent=1))


# -- export ---------------------------------------------------------------------------------


def test_export_writes_a_private_bundle_of_everybody(laptop, tmp_path):
    path = tmp_path / "out" / "people.bundle"
    path.parent.mkdir()
    old_umask = os.umask(0o000)
    try:
        result = invoke(laptop, "people", "export", path)
    finally:
        os.umask(old_umask)

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        f"exported 3 people and 6 embeddings (model {MODEL_ID}) to {path}; it holds biometric "
        "data: delete it once imported\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(path.parent) == ["people.bundle"], "no temporary file is left behind"
    document = json.loads(path.read_bytes().decode("utf-8"))
    assert document["format"] == "greeter-people-bundle"
    assert document["version"] == 2
    assert document["model_id"] == MODEL_ID
    assert document["sha256"] == checksum(document)
    assert [p["id"] for p in document["people"]] == ["alex-m", "juergen", "zoe"]
    alex = document["people"][0]
    assert alex["name"] == "Alex Müller"
    assert [e["photo_name"] for e in alex["embeddings"]] == ["alex-1.jpg", "alex-2.jpg"]
    assert set(alex["embeddings"][0]) == {"vector", "photo_sha256", "photo_name", "face_size",
                                          "sharpness", "created", "more"}


def test_export_replaces_an_old_bundle_and_makes_it_private(laptop, tmp_path):
    path = tmp_path / "people.bundle"
    path.write_text("last week's bundle")
    os.chmod(path, 0o644)
    result = invoke(laptop, "people", "export", path)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert json.loads(path.read_text())["format"] == "greeter-people-bundle"


def test_export_refuses_to_overwrite_the_store(laptop):
    before = contents(laptop)
    result = invoke(laptop, "people", "export", laptop)
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {laptop}: is the store itself; name the bundle another "
                             "file, e.g. people.bundle\n")
    assert contents(laptop) == before


def test_export_to_a_folder_names_a_file(laptop, tmp_path):
    result = invoke(laptop, "people", "export", tmp_path)
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {tmp_path}: is a directory; name the bundle file, e.g. "
                             f"{tmp_path / 'people.bundle'}\n")


def test_export_of_nobody(tmp_path):
    store = tmp_path / "greeter.sqlite3"
    missing = invoke(store, "people", "export", tmp_path / "people.bundle")
    assert missing.exit_code == 1
    assert missing.stderr == f"Error: {store}: no store here yet (enrol somebody first)\n"
    Store(store).close()
    empty = invoke(store, "people", "export", tmp_path / "people.bundle")
    assert empty.exit_code == 1
    assert empty.stderr == f"Error: {store}: nobody is enrolled, so there is nothing to export\n"
    assert not (tmp_path / "people.bundle").exists()


# -- import ---------------------------------------------------------------------------------


def test_import_into_a_new_store_copies_everything(laptop, bundle, tmp_path):
    robot = tmp_path / "robot" / "greeter.sqlite3"
    result = invoke(robot, "people", "import", bundle)
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "added alex-m (Alex Müller): 2 photos\n"
        "added juergen (Jürgen Weiß): 1 photo\n"
        "added zoe (Zoë): 3 photos\n"
        f"imported {bundle} into {robot}: 3 added, 0 replaced, 0 skipped\n")
    assert contents(robot) == contents(laptop)
    assert stat.S_IMODE(robot.stat().st_mode) == 0o600
    with Store(robot) as store:
        assert len(store.gallery()) == 3


def test_importing_again_skips_everybody(bundle, tmp_path):
    robot = tmp_path / "robot.sqlite3"
    assert invoke(robot, "people", "import", bundle).exit_code == 0
    before = contents(robot)
    again = invoke(robot, "people", "import", bundle)
    assert again.exit_code == 0
    assert again.stdout == (
        "skipped alex-m (Alex Müller): unchanged\n"
        "skipped juergen (Jürgen Weiß): unchanged\n"
        "skipped zoe (Zoë): unchanged\n"
        f"imported {bundle} into {robot}: 0 added, 0 replaced, 3 skipped\n")
    assert contents(robot) == before


def test_import_into_a_store_with_overlapping_people(laptop, bundle, tmp_path):
    """zoe is the same on both machines; alex-m has one photo less and juergen another name on
    the robot; kit is only on the robot."""
    robot = tmp_path / "robot.sqlite3"
    enrol(robot, "zoe", ["zoe-1", "zoe-2", "zoe-3"], "Zoë")
    enrol(robot, "alex-m", ["alex-1"], "Alex Müller")
    enrol(robot, "juergen", ["juergen-1"], "Juergen")
    enrol(robot, "kit", ["kit-1"], "Kit")
    zoe_before = [p for p in contents(robot) if p[0] == "zoe"]

    result = invoke(robot, "people", "import", bundle)

    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "replaced alex-m (Alex Müller): 1 -> 2 photos\n"
        "replaced juergen (Jürgen Weiß): 1 -> 1 photo\n"
        "skipped zoe (Zoë): unchanged\n"
        f"imported {bundle} into {robot}: 0 added, 2 replaced, 1 skipped\n"
        "not in the bundle, left as they are: kit\n")
    after = {p[0]: p for p in contents(robot)}
    laptop_people = {p[0]: p for p in contents(laptop)}
    assert sorted(after) == ["alex-m", "juergen", "kit", "zoe"]
    assert after["alex-m"] == laptop_people["alex-m"]
    assert after["juergen"] == laptop_people["juergen"]
    assert [after["zoe"]] == zoe_before, "a skipped person is not rewritten"
    assert after["kit"][3][0][1] == sha("kit-1")


def test_photos_may_move_between_people_of_the_bundle(tmp_path):
    """Swapped on the laptop: the robot's old embeddings go before the new ones come."""
    laptop, robot = tmp_path / "laptop.sqlite3", tmp_path / "robot.sqlite3"
    enrol(robot, "ann", ["photo-a"])
    enrol(robot, "bob", ["photo-b"])
    enrol(laptop, "ann", ["photo-b"])
    enrol(laptop, "bob", ["photo-a"])
    bundle = tmp_path / "people.bundle"
    assert invoke(laptop, "people", "export", bundle).exit_code == 0
    result = invoke(robot, "people", "import", bundle)
    assert result.exit_code == 0, result.output
    assert "0 added, 2 replaced, 0 skipped" in result.stdout
    assert contents(robot) == contents(laptop)


def test_a_photo_enrolled_here_for_somebody_else_refuses_the_import(bundle, tmp_path):
    robot = tmp_path / "robot.sqlite3"
    enrol(robot, "alex", ["alex-1", "alex-2"], "Alex")
    enrol(robot, "jw", ["juergen-1"], "J. W.")
    before = contents(robot)
    result = invoke(robot, "people", "import", bundle)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == (
        "Error: nothing imported:\n"
        "2 photos of alex-m are enrolled here for alex, who is not in the import: one face "
        "under two ids; remove alex here (`greeter people remove alex`) or enrol those photos "
        "under one id on both machines\n"
        "1 photo of juergen is enrolled here for jw, who is not in the import: one face under "
        "two ids; remove jw here (`greeter people remove jw`) or enrol those photos under one "
        "id on both machines\n")
    assert contents(robot) == before


def test_dry_run_reports_and_writes_nothing(bundle, tmp_path):
    robot = tmp_path / "robot.sqlite3"
    new = invoke(robot, "people", "import", "--dry-run", bundle)
    assert new.exit_code == 0, new.output
    assert new.stdout == (
        "would add alex-m (Alex Müller): 2 photos\n"
        "would add juergen (Jürgen Weiß): 1 photo\n"
        "would add zoe (Zoë): 3 photos\n"
        f"dry run, nothing written to {robot}: would add 3, replace 0, skip 0\n")
    assert not robot.exists(), "a dry run does not even create the store"

    enrol(robot, "zoe", ["zoe-1"], "Zoë")
    before = contents(robot)
    existing = invoke(robot, "people", "import", "--dry-run", bundle)
    assert existing.exit_code == 0
    assert "would replace zoe (Zoë): 1 -> 3 photos\n" in existing.stdout
    assert existing.stdout.endswith("would add 2, replace 1, skip 0\n")
    assert contents(robot) == before


# -- bad bundles: one line, exit 1, the store untouched --------------------------------------


def cut_half(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def cut_in_a_vector(path):
    content = path.read_bytes()
    path.write_bytes(content[: content.index(b'"vector": "') + 40])


BAD_BUNDLES = {
    "truncated": (cut_half, "truncated: the file ends in the middle of the bundle (after {size} "
                  "bytes); copy it again"),
    "truncated in a vector": (cut_in_a_vector, "truncated: the file ends in the middle of the "
                              "bundle (after {size} bytes); copy it again"),
    "changed after export": (
        lambda path: path.write_text(path.read_text().replace('"Zo\\u00eb"', '"Zoe"')),
        "checksum mismatch: the file was changed or damaged after export; export it and copy "
        "it again"),
    "checksum removed": (
        lambda path: rewrite(path, lambda d: d.pop("sha256"), recompute=False),
        "no checksum; export it again"),
    "other model": (
        lambda path: rewrite(path, lambda d: d.update(model_id=OTHER_MODEL)),
        f"holds embeddings of model {OTHER_MODEL}, but this store uses {MODEL_ID}; embeddings "
        "of two models cannot be compared, so nothing was imported (enrol the photos again with "
        "this greeter)"),
    "not JSON": (
        lambda path: path.write_text("alex-m,Alex Müller\n"),
        "not a people bundle (not JSON: expecting value at line 1 column 1); make one with "
        "`greeter people export`"),
    "damaged JSON": (
        lambda path: path.write_text(path.read_text().replace('"version": 2,', '"version" 2,')),
        "damaged: expecting ':' delimiter at line 3 column 12; export it again"),
    "binary": (
        lambda path: path.write_bytes(b"SQLite format 3\x00\xff\xfe\x00\x01"),
        "not a people bundle (binary data, not JSON); make one with `greeter people export`"),
    "empty": (lambda path: path.write_bytes(b""),
              "the file is empty, not a people bundle; export it again"),
    "a directory": (lambda path: (path.unlink(), path.mkdir()),
                    "is a directory, not a people bundle"),
    "missing": (lambda path: path.unlink(), "no such file"),
    "other format": (
        lambda path: rewrite(path, lambda d: d.update(format="greeter-greetings")),
        "not a people bundle (format 'greeter-greetings', expected 'greeter-people-bundle'); "
        "make one with `greeter people export`"),
    "no format": (
        lambda path: path.write_text('{"people": []}'),
        "not a people bundle (no \"format\": \"greeter-people-bundle\"); make one with "
        "`greeter people export`"),
    "newer version": (
        lambda path: rewrite(path, lambda d: d.update(version=3)),
        "bundle version 3 is newer than this greeter reads (2); upgrade greeter here, or "
        "export with the greeter version installed here"),
    "invalid person id": (
        lambda path: rewrite(path, lambda d: d["people"][0].update(id="Alex M")),
        "invalid bundle: people[0].id: 'Alex M' is not a valid person id: use lowercase "
        "letters, digits, '-' and '_' (at most 64, starting and ending with a letter or digit), "
        "e.g. alex-m"),
    "short vector": (
        lambda path: rewrite(path, lambda d: d["people"][1]["embeddings"][0].update(
            vector="AAAAAA==")),
        "invalid bundle: people[1].embeddings[0].vector: not 128 finite float32 values"),
    "vector not base64": (
        lambda path: rewrite(path, lambda d: d["people"][1]["embeddings"][0].update(
            vector="not base64!")),
        "invalid bundle: people[1].embeddings[0].vector: not valid base64"),
    "a number beyond float": (
        lambda path: path.write_text(path.read_text().replace(
            '"sharpness": 80.5', '"sharpness": 1e400', 1)),
        "invalid bundle: people[0].embeddings[0].sharpness: a number out of range (not a finite "
        "float); export it again"),
    "vector of 3e38": (
        lambda path: rewrite(path, lambda d: d["people"][0]["embeddings"][1].update(
            vector=base64_of(np.full(128, 3e38)))),
        "invalid bundle: people[0].embeddings[1].vector: length (L2 norm) 3.39e+39, but face "
        "embeddings have 0.8 to 2.5: not a face's embedding"),
    "vector of zeros": (
        lambda path: rewrite(path, lambda d: d["people"][2]["embeddings"][0].update(
            vector=base64_of(np.zeros(128)))),
        "invalid bundle: people[2].embeddings[0].vector: all 128 values are 0: not a face's "
        "embedding"),
    "random vector": (
        lambda path: rewrite(path, lambda d: d["people"][1]["embeddings"][0].update(
            vector=base64_of(np.random.default_rng(1).normal(size=128)))),
        "invalid bundle: people[1].embeddings[0].vector: length (L2 norm) 10.3, but face "
        "embeddings have 0.8 to 2.5: not a face's embedding"),
    "huge face size": (
        lambda path: rewrite(path, lambda d: d["people"][0]["embeddings"][0].update(
            face_size=10**30)),
        "invalid bundle: people[0].embeddings[0].face_size: input should be less than or equal "
        "to 65535"),
    "face size 0": (
        lambda path: rewrite(path, lambda d: d["people"][0]["embeddings"][0].update(
            face_size=0)),
        "invalid bundle: people[0].embeddings[0].face_size: input should be greater than or "
        "equal to 1"),
    "impossible sharpness": (
        lambda path: rewrite(path, lambda d: d["people"][0]["embeddings"][0].update(
            sharpness=2e6)),
        "invalid bundle: people[0].embeddings[0].sharpness: input should be less than or equal "
        "to 1040400"),
    "a photo twice": (
        lambda path: rewrite(path, lambda d: d["people"][2]["embeddings"].append(
            d["people"][0]["embeddings"][0])),
        "invalid bundle: photo alex-1.jpg is in the bundle for both alex-m and zoe"),
}


@pytest.mark.parametrize("damage, message", list(BAD_BUNDLES.values()), ids=list(BAD_BUNDLES))
def test_a_bad_bundle_is_refused_and_changes_nothing(bundle, tmp_path, damage, message):
    robot = tmp_path / "robot.sqlite3"
    enrol(robot, "zoe", ["zoe-1"], "Zoë")
    before = contents(robot)
    damage(bundle)
    size = bundle.stat().st_size if bundle.is_file() else 0

    result = invoke(robot, "people", "import", bundle)

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"Error: {bundle}: {message.format(size=size)}\n"
    assert contents(robot) == before


def test_an_infinite_value_is_refused(bundle, tmp_path):
    infinite = np.full(128, np.inf, dtype="<f4").tobytes()
    rewrite(bundle, lambda d: d["people"][0]["embeddings"][0].update(
        vector=base64.b64encode(infinite).decode()))
    result = invoke(tmp_path / "robot.sqlite3", "people", "import", bundle)
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {bundle}: invalid bundle: people[0].embeddings[0].vector: "
                             "not 128 finite float32 values\n")


def test_a_refused_bundle_creates_no_store(bundle, tmp_path):
    rewrite(bundle, lambda d: d.update(model_id=OTHER_MODEL))
    robot = tmp_path / "robot" / "greeter.sqlite3"
    assert invoke(robot, "people", "import", bundle).exit_code == 1
    assert not robot.parent.exists()


def test_the_store_refuses_embeddings_of_another_model(laptop, tmp_path):
    with Store(laptop) as store:
        people = store.export_people()
    robot = tmp_path / "robot.sqlite3"
    with Store(robot) as store:
        with pytest.raises(StoreError, match=re.escape(
                f"embeddings of model {OTHER_MODEL} cannot join a store of {MODEL_ID}: ")):
            store.import_people(people, OTHER_MODEL)
        assert store.people() == []


# -- real photos ----------------------------------------------------------------------------


@pytest.mark.slow
def test_people_enrolled_from_photos_are_recognised_after_the_trip(samples, tmp_path):
    inbox = tmp_path / "enroll"
    for person in ("biden", "obama"):
        shutil.copytree(samples / "knn" / "train" / person, inbox / person)
    laptop, robot = tmp_path / "laptop.sqlite3", tmp_path / "robot.sqlite3"
    assert invoke(laptop, "enroll", inbox).exit_code == 0
    bundle = tmp_path / "people.bundle"
    assert invoke(laptop, "people", "export", bundle).exit_code == 0

    result = invoke(robot, "people", "import", bundle)

    assert result.exit_code == 0, result.output
    assert result.stdout.endswith(f"imported {bundle} into {robot}: 2 added, 0 replaced, "
                                  "0 skipped\n")
    assert contents(robot) == contents(laptop)
    with Store(laptop) as before, Store(robot) as after:
        sface = [(p, e.more) for p in before.export_people() for e in p.embeddings]
        assert before.model_counts() == after.model_counts() == {
            MODEL_ID: len(sface), SFACE_ID: len(sface)}, "each photo embedded by both models"
        assert all(np.array_equal(a.more[SFACE_ID], b.more[SFACE_ID]) for a, b in zip(
            [e for p in before.export_people() for e in p.embeddings],
            [e for p in after.export_people() for e in p.embeddings]))
    identified = invoke(robot, "identify", "--json", samples / "knn/test/obama_and_biden.jpg")
    people = {face["person"] for face in json.loads(identified.stdout)[0]["faces"]}
    assert {"biden", "obama"} <= people
    photos = sum(len(person[3]) for person in contents(robot))
    again = invoke(robot, "enroll", inbox)
    assert f"0 enrolled, {photos} skipped, 0 rejected" in again.stdout, "photo hashes travelled"


def test_a_bundle_of_version_1_without_other_models_is_still_read(bundle, tmp_path):
    def as_version_1(document):
        document["version"] = 1
        for person in document["people"]:
            for embedding in person["embeddings"]:
                del embedding["more"]

    rewrite(bundle, as_version_1)
    robot = tmp_path / "robot.sqlite3"
    result = invoke(robot, "people", "import", bundle)
    assert result.exit_code == 0, result.output
    with Store(robot) as store:
        assert store.model_counts() == {MODEL_ID: 6}


def test_a_bad_embedding_of_another_model_refuses_the_bundle(bundle, tmp_path):
    def damage(document):
        document["people"][0]["embeddings"][0]["more"] = {SFACE_ID: base64_of(np.zeros(128))}

    rewrite(bundle, damage)
    robot = tmp_path / "robot.sqlite3"
    result = invoke(robot, "people", "import", bundle)
    assert result.exit_code != 0 and "not a face's embedding" in result.stderr
    assert not robot.exists()
