"""The robot's status output (`greeter.live.outputs.StatusFile`) on real files: what it publishes,
that strangers never get in, and that a folder it cannot write to fails alone."""

import logging
import stat

import numpy as np

from greeter.live.camera import Frame
from greeter.live.outputs import GreetingEvent, Outputs, RobotCounters, StatusFile
from greeter.live.status import read_status


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def greeted(index: int, person=None, name=None):
    """A greeting event and its frame, as `Outputs.greeted` takes them."""
    event = GreetingEvent(t=index / 10, frame=index, person=person, name=name, message="Hello",
                          distance=None, language="en")
    return event, Frame(np.zeros((8, 8, 3), np.uint8), index, index / 10)


def test_status_holds_rates_and_enrolled_greetings_only(tmp_path):
    counters = RobotCounters(frames=0, detections=0, memory_level="normal", camera="ok")
    clock = Clock()
    path = tmp_path / "robot-status.json"
    output = StatusFile(path, lambda: counters, every_seconds=2.0, clock=clock)
    output.poll()  # the first write: no rate measured yet
    output.wait()
    assert read_status(path).status.fps == 0
    output.greeted(*greeted(1))  # a stranger
    output.greeted(*greeted(2, "alex-m", "Alex Müller"))
    output.greeted(*greeted(3, "zoe", "Zoë Example"))
    counters = RobotCounters(frames=50, detections=20, memory_level="pressure", camera="lost",
                             cpu_seconds=0.5)
    clock.now += 1.0
    output.poll()  # not due yet
    output.wait()
    assert read_status(path).status.greeted == []
    clock.now += 1.0
    output.poll()
    output.wait()
    status = read_status(path).status
    assert (status.fps, status.detection_rate, status.cpu_percent) == (25.0, 10.0, 25.0)
    assert (status.memory_level, status.camera) == ("pressure", "lost")
    assert [(g.person, g.name) for g in status.greeted] == [("zoe", "Zoë Example"),
                                                             ("alex-m", "Alex Müller")]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "null" not in path.read_text(encoding="utf-8")
    output.close()


def test_an_unwritable_status_file_is_logged_once_and_tried_every_few_seconds(
        tmp_path, caplog):
    """A failed write is raised at the next poll (the write runs off the robot's loop)."""
    clock = Clock()
    path = tmp_path / "gone" / "robot-status.json"
    status = StatusFile(path, lambda: RobotCounters(0, 0, "normal", "ok"), 2.0, clock)
    with caplog.at_level(logging.ERROR):
        outputs = Outputs([status])
        for _ in range(3):
            outputs.poll()
            status.wait()
            clock.now += 2.0
        path.parent.mkdir()
        outputs.poll()  # the third failure comes out; the fourth write works
        status.wait()
        outputs.poll()
    assert outputs.failures == {"status": 3}
    assert [r.getMessage().split(" failed: ")[0] for r in caplog.records] == [
        f"status file {path}"]
    assert read_status(path).status is not None  # works again once the folder is back
    outputs.close()


def test_a_person_erased_since_their_greeting_leaves_the_status_file(tmp_path):
    enrolled = {"alex-m", "zoe"}
    clock = Clock()
    path = tmp_path / "robot-status.json"
    output = StatusFile(path, lambda: RobotCounters(0, 0, "normal", "ok"), 2.0, clock,
                        enrolled=lambda person: person in enrolled)
    output.greeted(*greeted(1, "alex-m", "Alex Müller"))
    output.greeted(*greeted(2, "zoe", "Zoë Example"))
    enrolled.discard("zoe")  # `greeter people remove zoe`, seen at the robot's store reload
    output.poll()
    output.wait()
    assert [g.person for g in read_status(path).status.greeted] == ["alex-m"]
    assert "Zo" not in path.read_text(encoding="utf-8")
    enrolled.add("zoe")  # enrolled again: the old greeting does not come back
    output.close()
    assert [g.person for g in read_status(path).status.greeted] == ["alex-m"]
