"""``greeter calibrate`` on real LFW photos: people with two photos each, and strangers."""

import pytest
from conftest import cli_runner

from greeter.cli import main
from greeter.people.store import Store
from greeter.recognition.faces import FaceEngine
from greeter.recognition.figures import SFACE
from greeter.recognition.recogniser import Recogniser
from greeter.settings import MatchingSettings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def event(lfw, tmp_path_factory):
    """A store with 12 LFW people enrolled from two photos each, and a folder of 30 strangers."""
    folder = tmp_path_factory.mktemp("event")
    inbox = folder / "inbox"
    people = sorted(p for p in (lfw / "people").iterdir() if p.is_dir())[:12]
    for person in people:
        target = inbox / person.name.lower()
        target.mkdir(parents=True)
        for photo in sorted(person.glob("*.jpg"))[:2]:
            (target / photo.name).symlink_to(photo)
    strangers = folder / "strangers"
    strangers.mkdir()
    for photo in sorted((lfw / "strangers").glob("*.jpg"))[:30]:
        (strangers / photo.name).symlink_to(photo)
    store = folder / "greeter.sqlite3"
    # LFW news photos are small, soft and often show somebody else in the background
    enrolled = cli_runner().invoke(
        main, ["--store", str(store), "enroll", "--largest", str(inbox)],
        env={"GREETER_ENROLMENT__MIN_FACE_SIZE": "40", "GREETER_ENROLMENT__MIN_SHARPNESS": "5"})
    assert "enrolled" in enrolled.stdout, enrolled.output
    with Store(store) as opened:
        pairs = sum(p.photos for p in opened.people() if p.photos >= 2)
    assert pairs >= 16, enrolled.output
    return store, strangers, pairs


def calibrate(store, *args):
    return cli_runner().invoke(main, ["--store", str(store), "calibrate", *map(str, args)])


def test_dry_run_reports_and_saves_nothing(event):
    store, strangers, pairs = event
    result = calibrate(store, "--strangers", strangers, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "   current: threshold" in result.stdout
    assert "calibrated: threshold" in result.stdout
    assert f"of 30 strangers named ({pairs} enrolled photos)" in result.stdout
    assert "   current live: threshold" in result.stdout
    assert "calibrated live: threshold" in result.stdout
    assert f"of 30 strangers named ({pairs // 2} guests walking past)" in result.stdout
    assert "dry run: nothing saved" in result.stdout
    with Store(store) as opened:
        assert opened.calibration() is None
        assert opened.track_calibration() is None


def test_calibration_is_saved_and_keeps_strangers_unnamed(event):
    store, strangers, _ = event
    with Store(store) as opened:
        before = len(list(opened.embeddings()))
    result = calibrate(store, "--strangers", strangers, "--target-far", "0")
    assert result.exit_code == 0, result.output
    calibrated = next(line for line in result.stdout.splitlines()
                      if line.startswith("calibrated:"))
    assert "0.0% wrong name, 0.0% of 30 strangers named" in calibrated
    with Store(store) as opened:
        policy = opened.calibration()
        assert policy is not None and 0 < policy.threshold <= 0.6 and 0.6 <= policy.ratio <= 1
        assert len(list(opened.embeddings())) == before  # no stranger was stored


def test_the_live_track_rule_is_calibrated_saved_and_used_by_the_robot(event):
    store, strangers, _ = event
    result = calibrate(store, "--strangers", strangers, "--target-far", "0")
    assert result.exit_code == 0, result.output
    live = next(line for line in result.stdout.splitlines()
                if line.startswith("calibrated live:"))
    assert "0.0% wrong name, 0.0% of 30 strangers named" in live
    assert "of guests greeted by name" in live
    with Store(store) as opened:
        track = opened.track_calibration()
        assert track is not None and 0.4 <= track.threshold <= 0.65
        recogniser = Recogniser.from_store(FaceEngine(), opened, MatchingSettings())
    assert recogniser.track_policy == track
    assert f"threshold {track.threshold:.4f}" in live


def test_each_model_is_calibrated_apart_and_used_by_the_robot_recognising_with_it(event):
    store, strangers, _ = event
    with Store(store) as opened:
        dlib_before = opened.track_calibration()
    result = cli_runner().invoke(
        main, ["--store", str(store), "calibrate", "--strangers", str(strangers),
               "--target-far", "0"], env={"GREETER_RECOGNITION__MODEL": "sface"})
    assert result.exit_code == 0, result.output
    assert result.stdout.rstrip().endswith(f"saved in {store} for sface")
    live = next(line for line in result.stdout.splitlines()
                if line.startswith("calibrated live:"))
    assert "0.0% wrong name, 0.0% of 30 strangers named" in live
    with Store(store) as opened:
        track = opened.track_calibration(SFACE.model_id)
        assert opened.track_calibration() == dlib_before, "dlib's calibration untouched"
        assert track is not None and 0.9 <= track.threshold <= 1.6, "SFace's distances"
        recogniser = Recogniser.from_store(FaceEngine(), opened, MatchingSettings(), SFACE)
    assert recogniser.track_policy == track


def test_too_few_photos_to_calibrate(tmp_path, samples):
    store = tmp_path / "greeter.sqlite3"
    cli_runner().invoke(main, ["--store", str(store), "enroll", "--person", "obama",
                               str(samples / "obama.jpg")])
    result = calibrate(store, "--strangers", samples / "knn" / "test")
    assert result.exit_code == 1
    assert "calibration needs at least 10 enrolled photos of people with 2 or more photos; " \
           "the store has 0" in result.stderr
