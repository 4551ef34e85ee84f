"""Each face model's distances (greeter.recognition.figures): the robot recognising with
SFace takes SFace's, but for what a setting says explicitly; a store's calibration (fitted on
dlib's embeddings) serves dlib only."""

import numpy as np

from greeter.people.store import Store
from greeter.recognition.faces import FaceEngine
from greeter.recognition.figures import DLIB, SFACE, SFACE_TRACK_POLICY, tracking_for
from greeter.recognition.matching import MatchPolicy, default_track_policy
from greeter.recognition.recogniser import Recogniser
from greeter.settings import Settings, TrackingSettings


def test_the_track_rule_takes_the_models_distances_but_for_explicit_settings():
    assert tracking_for(TrackingSettings(), DLIB) == TrackingSettings()
    sface = tracking_for(TrackingSettings(), SFACE)
    assert sface.split_distance == 1.05 and sface.frame_margin > TrackingSettings().frame_margin
    chosen = Settings.load(environ={"GREETER_TRACKING__SPLIT_DISTANCE": "0.9"}).tracking
    assert tracking_for(chosen, SFACE).split_distance == 0.9


def test_a_recogniser_matches_the_models_embeddings_with_its_policies(tmp_path):
    rng = np.random.default_rng(1)
    with Store(tmp_path / "greeter.sqlite3") as store:
        for index, person in enumerate(["alex", "zoe", "sam"]):
            dlib_vector = rng.normal(size=128)
            sface_vector = rng.normal(size=128)
            store.add_embedding(person, None, dlib_vector, f"sha-{index}", "a.jpg", 100, 50.0,
                                more={SFACE.model_id: sface_vector / np.linalg.norm(
                                    sface_vector)} if person != "sam" else None)
        store.save_calibration(MatchPolicy(0.5, 0.8), MatchPolicy(0.45, 0.8))
        matching = Settings.load(environ={}).matching
        by_dlib = Recogniser.from_store(FaceEngine(), store, matching)
        by_sface = Recogniser.from_store(FaceEngine(), store, matching, SFACE)
    assert by_dlib.gallery.person_ids == ("alex", "sam", "zoe")
    assert by_dlib.track_policy == MatchPolicy(0.45, 0.8), "the store's calibration"
    assert by_sface.gallery.person_ids == ("alex", "zoe"), "sam has no SFace embedding"
    assert by_sface.track_policy == SFACE_TRACK_POLICY != default_track_policy(2)
    assert set(by_sface.names) == {"alex", "sam", "zoe"}
