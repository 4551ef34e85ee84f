"""``make demo`` works on a machine with nothing but the package: no camera, no ../shared."""

import json

import pytest

from greeter.live.demo import DEMO_PERSON, run_demo

pytestmark = pytest.mark.slow


def test_demo_recognises_the_astronaut_in_the_photo_and_the_walk_by(tmp_path):
    said = []
    faces = run_demo(said.append, output=tmp_path)
    assert [face.person for face in faces] == [DEMO_PERSON]
    assert "  the robot says: Welcome back, Eileen!" in said
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert [event["person"] for event in events] == [DEMO_PERSON]  # the cat is no one
    assert events[0]["t"] < 0.5
    screenshots = sorted(tmp_path.glob("greeting-*.png"))
    assert len(screenshots) == 1
    assert f"  screenshot: {screenshots[0]}" in said
