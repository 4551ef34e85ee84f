"""``greeter doctor`` on this machine, with real stores, greetings files and video files in a
temporary folder; the checks that depend on the hardware are also tested as functions."""

import json
import stat
import time
from types import SimpleNamespace

import numpy as np
import pytest
from conftest import cli_runner

from greeter.cli import main
from greeter.live import doctor
from greeter.live.doctor import FAIL, INFO, OK, WARN, Check
from greeter.live.throttle import MemoryReading
from greeter.people.store import Store
from greeter.recognition.faces import MODEL_ID

GiB = 2**30


def run_doctor(tmp_path, *args, store=None, greetings=None):
    store = store or tmp_path / "greeter.sqlite3"
    greetings = greetings or tmp_path / "greetings.json"
    return cli_runner().invoke(main, ["--store", str(store), "--greetings", str(greetings),
                                      "doctor", *map(str, args)])


def line(result, name):
    """The output line of the check `name`."""
    return next(text for text in result.stdout.splitlines() if text[6:].startswith(f"{name}: "))


@pytest.fixture
def robot(tmp_path):
    """A store with two people and a valid greetings file."""
    with Store(tmp_path / "greeter.sqlite3") as store:
        for index, person_id in enumerate(["alex-m", "alex-m", "zoe"]):
            vector = np.random.default_rng(index).normal(size=128)
            store.add_embedding(person_id, None, vector, f"sha-{index}", f"{index}.jpg", 120, 80.0)
    (tmp_path / "greetings.json").write_text(
        '{"people": {"zoe": {"name": "Zoë", "messages": ["Hi {first_name}!"]}}}')
    return tmp_path


def test_this_machine_is_ready_without_camera_and_display(robot):
    result = run_doctor(robot, "--no-camera", "--headless")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert [text[:4] for text in lines[:-1]].count("FAIL") == 0
    assert line(result, "python").startswith("OK    python: 3.")
    assert line(result, "dlib BLAS").startswith("OK    dlib BLAS: dlib ")
    assert line(result, "dlib BLAS").endswith(" uses BLAS")
    assert line(result, "models").startswith(
        "OK    models: shape_predictor_5_face_landmarks.dat, "
        "dlib_face_recognition_resnet_model_v1.dat in ")
    assert line(result, "store") == (f"OK    store: {robot / 'greeter.sqlite3'}: 2 people, "
                                     f"3 embeddings, model {MODEL_ID}")
    assert line(result, "greetings") == (f"OK    greetings: {robot / 'greetings.json'}: valid, "
                                         "1 personal greeting")
    assert line(result, "camera") == "INFO  camera: not checked (--no-camera)"
    assert line(result, "display") == "INFO  display: not checked (--headless)"
    assert line(result, "memory").startswith(("OK    memory: ", "WARN  memory: "))
    assert lines[-1].startswith("ready: 0 failed, ")


def test_nobody_enrolled_yet_is_a_warning(tmp_path):
    (tmp_path / "greetings.json").write_text("{}")
    result = run_doctor(tmp_path, "--no-camera", "--headless")
    assert result.exit_code == 0, result.output
    store = tmp_path / "greeter.sqlite3"
    assert line(result, "store") == (
        f"WARN  store: {store}: no store yet, nobody enrolled yet; fix: enrol people (`greeter "
        "enroll`), or import them from the laptop (`greeter people import people.bundle`)")
    assert not store.exists(), "doctor creates no store"


def test_a_damaged_store_fails(robot):
    store = robot / "greeter.sqlite3"
    store.write_bytes(b"not a database" * 100)
    result = run_doctor(robot, "--no-camera", "--headless")
    assert result.exit_code == 1
    assert line(result, "store").startswith(f"FAIL  store: {store}: not a greeter store or "
                                            "damaged (")
    assert "; fix: check --store / GREETER_STORE" in line(result, "store")
    assert result.stdout.splitlines()[-1].startswith("NOT READY: 1 failed, ")


def test_invalid_greetings_fail_with_the_problems(robot):
    greetings = robot / "greetings.json"
    greetings.write_text('{"stranger": ["Hello {name}"], "people": {"Zoe": '
                         '{"name": "Zoë", "messages": ["Hi"]}}}')
    result = run_doctor(robot, "--no-camera", "--headless")
    assert result.exit_code == 1
    assert line(result, "greetings") == (
        f"FAIL  greetings: {greetings}: stranger[0]: placeholder {{name}} cannot be used here, "
        f"only {{time_of_day}}; {greetings}: people.Zoe: 'Zoe' is not a valid person id: use "
        "lowercase letters, digits, '-' and '_' (at most 64, starting and ending with a letter "
        f"or digit), e.g. zoe; fix: fix {greetings}, then check it with `greeter greetings "
        "check`")


def test_a_missing_greetings_file_is_a_warning(robot):
    (robot / "greetings.json").unlink()
    result = run_doctor(robot, "--no-camera", "--headless")
    assert result.exit_code == 0, result.output
    assert line(result, "greetings").startswith(
        f"WARN  greetings: {robot / 'greetings.json'}: no greetings file, the built-in "
        "greetings are used; fix: ")


def test_a_camera_that_cannot_open_fails_with_a_fix(robot):
    missing = robot / "missing.mp4"
    result = run_doctor(robot, "--headless", "--source", missing)
    assert result.exit_code == 1
    assert line(result, "camera") == (
        f"FAIL  camera: {missing}: no such file or folder, and not a camera (0, 1...), csi://N "
        f"or rtsp:// address; fix: {doctor.CAMERA_FIX}")


def test_a_file_that_is_no_video_fails(robot):
    notes = robot / "notes.mp4"
    notes.write_text("not a video")
    result = run_doctor(robot, "--headless", "--source", notes)
    assert result.exit_code == 1
    assert line(result, "camera") == (f"FAIL  camera: {notes}: cannot open (not a video OpenCV "
                                      f"can read); fix: {doctor.CAMERA_FIX}")


@pytest.mark.slow
def test_a_video_delivers_a_frame(robot, samples):
    clip = samples / "short_hamilton_clip.mp4"
    result = run_doctor(robot, "--headless", "--json", "--source", clip)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ready"] is True
    camera = next(check for check in report["checks"] if check["name"] == "camera")
    assert camera["status"] == OK
    assert camera["detail"].startswith(f"{clip}: a ")


def test_json_lists_every_check(robot):
    result = run_doctor(robot, "--no-camera", "--headless", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ready"] is True
    assert [check["name"] for check in report["checks"]] == [
        "python", "packages", "dlib BLAS", "dlib CUDA", "models", "SFace model", "store",
        "private files", "greetings", "camera", "display", "memory", "jetson"]
    assert set(report["checks"][0]) == {"name", "status", "detail", "fix"}


# -- the checks as functions ----------------------------------------------------------------


def test_dlib_without_blas_fails_and_says_how_to_rebuild():
    blas, cuda = doctor.check_dlib(on_jetson=False, dlib=SimpleNamespace(
        __version__="19.24.0", DLIB_USE_BLAS=False, DLIB_USE_CUDA=False))
    assert blas.status == FAIL
    assert blas.detail == ("dlib 19.24.0 was built without BLAS: face embeddings are ~5x "
                           "slower")
    assert "libopenblas-dev" in blas.fix and "make test" in blas.fix
    assert "deploy/jetbot/install.sh" in blas.fix
    assert cuda.status == INFO


def test_dlib_without_cuda_is_a_warning_on_a_jetson_only():
    dlib = SimpleNamespace(__version__="19.24.0", DLIB_USE_BLAS=True, DLIB_USE_CUDA=False)
    assert doctor.check_dlib(on_jetson=True, dlib=dlib)[1].status == WARN
    assert doctor.check_dlib(on_jetson=False, dlib=dlib)[1].status == INFO
    dlib.DLIB_USE_CUDA = True
    assert doctor.check_dlib(on_jetson=True, dlib=dlib)[1] == Check("dlib CUDA", OK, "uses CUDA")


def test_python_older_than_38_fails():
    check = doctor.check_python((3, 7, 9))
    assert check.status == FAIL
    assert check.detail == "3.7.9 is too old, greeter needs 3.8 or newer"
    assert doctor.check_python((3, 8, 18)).status == OK


def test_a_missing_package_fails(monkeypatch):
    monkeypatch.setattr(doctor, "KEY_PACKAGES", (
        ("numpy", "numpy", ("numpy",), "1.21"),
        ("no-such-package", "no_such_module", ("no-such-package",), "1.0"),
        ("pydantic", "pydantic", ("pydantic",), "999"),
    ))
    check = doctor.check_packages()
    assert check.status == FAIL
    assert check.detail.startswith("missing: no-such-package; too old: pydantic ")
    assert check.detail.endswith(" (needs 999+)")


@pytest.mark.parametrize("ram_gib, swap_gib, status", [
    (4, 0, WARN), (4, 2, OK), (8, 0, OK),
])
def test_swap_is_needed_below_6_gb(ram_gib, swap_gib, status):
    memory = MemoryReading(available=2 * GiB, total=ram_gib * GiB)
    check = doctor.check_memory(memory, swap_gib * GiB, "psutil")
    assert check.status == status
    assert check.detail.startswith(f"2048 MiB of {ram_gib * 1024} MiB available")
    if status == WARN:
        assert "/swapfile" in check.fix


def test_jetson_detection(tmp_path):
    release = tmp_path / "nv_tegra_release"
    assert doctor.jetson_release(release) is None
    release.write_text("# R32 (release), REVISION: 7.1, GCID: 29818004, BOARD: t210ref, "
                       "EABI: aarch64, DATE: Sat Feb 19 17:05:08 UTC 2022\n")
    assert doctor.jetson_release(release) == "R32.7.1"
    assert doctor.check_jetson(None, False, "psutil").status == INFO
    assert doctor.check_jetson("R32.7.1", False, "psutil").status == WARN
    assert "jtop.service" in doctor.check_jetson("R32.7.1", True, "psutil").detail
    assert doctor.check_jetson("R32.7.1", True, "jtop") == Check(
        "jetson", OK, "Jetson, L4T R32.7.1, jtop answers")


def test_the_dummy_sdl_driver_shows_nothing(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    assert doctor.check_display() == Check(
        "display", WARN, "SDL_VIDEODRIVER=dummy: nothing is shown on a screen",
        "unset SDL_VIDEODRIVER, or run the robot with --headless")


def test_no_display_server_fails(monkeypatch):
    monkeypatch.setenv("SDL_VIDEODRIVER", "x11")
    monkeypatch.delenv("DISPLAY", raising=False)
    check = doctor.check_display()
    assert check.status == FAIL
    assert check.detail.startswith("no screen (")
    assert check.fix == doctor.DISPLAY_FIX


def test_a_camera_that_hangs_fails_after_the_timeout(monkeypatch):
    monkeypatch.setattr(doctor, "open_source", lambda spec, settings=None: time.sleep(5))
    started = time.monotonic()
    check = doctor.check_camera("csi://0", timeout=0.2)
    assert time.monotonic() - started < 1
    assert check == Check("camera", FAIL, "csi://0: no frame within 0.2 s", doctor.CAMERA_FIX)


def test_files_beside_the_store_made_readable_by_others_are_made_private_again(robot):
    password = robot / "console-password.json"
    password.write_text("{}")
    password.chmod(0o644)
    (robot / "greetings.json").chmod(0o644)  # the admin's file: theirs to share
    result = run_doctor(robot, "--no-camera", "--headless")
    assert "made private again (0600): console-password.json (0644)" in \
        line(result, "private files")
    assert stat.S_IMODE(password.stat().st_mode) == 0o600
    assert stat.S_IMODE((robot / "greetings.json").stat().st_mode) == 0o644
    again = run_doctor(robot, "--no-camera", "--headless")
    assert "all private" in line(again, "private files")


def test_the_second_models_files_are_checked_by_hash_and_opencv_version(tmp_path, monkeypatch):
    from greeter.recognition import sface

    assert doctor.check_sface_models().status == OK
    assert doctor.check_sface_models("5.1.0").status == WARN
    assert "5.1.0 cannot run" in doctor.check_sface_models("5.1.0").detail
    models = tmp_path / "models"
    models.mkdir()
    for name, _ in sface.WEIGHTS.values():  # the same files, one byte changed in one
        (models / name).write_bytes((sface.weights_folder() / name).read_bytes())
    detector = models / sface.WEIGHTS["detector"][0]
    detector.write_bytes(detector.read_bytes()[:-1] + b"\0")
    monkeypatch.setattr(sface, "weights_folder", lambda: models)
    check = doctor.check_sface_models()
    assert check.status == WARN and "not the model greeter was measured with" in check.detail
    detector.unlink()
    assert "face model missing" in doctor.check_sface_models().detail


def test_a_robot_recognising_with_sface_needs_its_files_and_its_embeddings(robot, tmp_path):
    assert doctor.check_sface_models("5.1.0", required=True).status == FAIL
    store = tmp_path / "greeter.sqlite3"
    assert doctor.check_store(store).status == OK
    check = doctor.check_store(store, "sface")
    assert check.status == WARN and "3 photos have no embedding of it" in check.detail
    with Store(store) as enrolled:
        vector = np.random.default_rng(9).normal(size=128)
        enrolled.add_embedding("zoe", None, vector, "sha-sface", "z.jpg", 120, 80.0,
                               more={"opencv_zoo_sface_2021dec_int8bq": vector / 10})
    check = doctor.check_store(store, "sface")
    assert "opencv_zoo_sface_2021dec_int8bq: 1 of 4 photos" in check.detail
    assert "3 photos have no embedding of it" in check.detail
