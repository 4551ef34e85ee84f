"""Memory levels from made-up readings: thresholds, hysteresis, the once-a-second reading, and
the jtop/psutil readers."""

import logging
import sys
import types

import pytest
from hypothesis import given
from hypothesis import strategies as st

from greeter.live.throttle import (
    JtopMemoryReader,
    Level,
    MemoryReader,
    MemoryReading,
    Throttle,
    detection_plan,
    next_level,
    open_memory_reader,
)
from greeter.settings import ThrottleSettings

SETTINGS = ThrottleSettings(pressure_below=0.25, critical_below=0.10, hysteresis=0.05)
GIB = 2**30


def walk(fractions, start=Level.NORMAL):
    levels, level = [], start
    for fraction in fractions:
        level = next_level(level, fraction, SETTINGS)
        levels.append(level)
    return levels


def test_plenty_of_memory_is_normal():
    assert walk([0.9, 0.5, 0.25]) == [Level.NORMAL] * 3


def test_levels_get_worse_as_soon_as_a_threshold_is_crossed():
    assert walk([0.24, 0.09]) == [Level.PRESSURE, Level.CRITICAL]
    assert walk([0.05]) == [Level.CRITICAL]  # straight from normal


def test_levels_get_better_only_past_the_hysteresis_margin():
    assert walk([0.11, 0.14, 0.16], start=Level.CRITICAL) == [
        Level.CRITICAL, Level.CRITICAL, Level.PRESSURE]
    assert walk([0.26, 0.29, 0.31], start=Level.PRESSURE) == [
        Level.PRESSURE, Level.PRESSURE, Level.NORMAL]


def test_a_big_recovery_jumps_from_critical_to_normal():
    assert walk([0.5], start=Level.CRITICAL) == [Level.NORMAL]


def test_memory_hovering_at_a_threshold_does_not_flap():
    levels = walk([0.249, 0.251, 0.249, 0.26, 0.24, 0.27])
    assert levels == [Level.PRESSURE] * 6


@given(st.lists(st.floats(0, 1), max_size=30), st.sampled_from(list(Level)))
def test_the_level_always_respects_the_thresholds(fractions, start):
    level = start
    for fraction in fractions:
        level = next_level(level, fraction, SETTINGS)
        if fraction < SETTINGS.critical_below:
            assert level is Level.CRITICAL
        elif fraction < SETTINGS.pressure_below:
            assert level >= Level.PRESSURE
        if fraction >= SETTINGS.pressure_below + SETTINGS.hysteresis:
            assert level is Level.NORMAL


def test_each_level_tells_the_detector_what_to_do():
    settings = ThrottleSettings(normal_detect_every_seconds=0.0, normal_scale=1.0,
                                pressure_detect_every_seconds=0.25, pressure_scale=0.5)
    normal = detection_plan(Level.NORMAL, settings)
    pressure = detection_plan(Level.PRESSURE, settings)
    critical = detection_plan(Level.CRITICAL, settings)
    assert (normal.recognise, normal.every_seconds, normal.scale) == (True, 0.0, 1.0)
    assert (pressure.recognise, pressure.every_seconds, pressure.scale) == (True, 0.25, 0.5)
    assert critical.recognise is False


def test_thresholds_out_of_order_are_refused():
    with pytest.raises(ValueError, match="critical_below"):
        ThrottleSettings(pressure_below=0.1, critical_below=0.2)
    with pytest.raises(ValueError, match="hysteresis"):
        ThrottleSettings(pressure_below=0.9, hysteresis=0.2)


class FakeReader(MemoryReader):
    def __init__(self, fractions):
        self.fractions = list(fractions)
        self.reads = 0

    def read(self):
        fraction = self.fractions[min(self.reads, len(self.fractions) - 1)]
        self.reads += 1
        return MemoryReading(available=int(fraction * 4 * GIB), total=4 * GIB)


class FakeClock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_throttle_reads_memory_at_most_once_a_second():
    reader, clock = FakeReader([0.5, 0.05]), FakeClock()
    throttle = Throttle(SETTINGS, reader, clock)
    assert throttle.update() is Level.NORMAL
    clock.now += 0.5
    assert throttle.update() is Level.NORMAL
    assert reader.reads == 1
    clock.now += 0.5
    assert throttle.update() is Level.CRITICAL
    assert reader.reads == 2
    assert throttle.plan.recognise is False


def test_throttle_logs_level_changes_with_the_reading(caplog):
    reader, clock = FakeReader([0.5, 0.2, 0.2, 0.5]), FakeClock()
    throttle = Throttle(SETTINGS, reader, clock)
    with caplog.at_level(logging.INFO, logger="greeter.live.throttle"):
        for _ in range(4):
            throttle.update()
            clock.now += 1.0
    messages = [(record.levelno, record.getMessage()) for record in caplog.records]
    assert len(messages) == 2
    assert messages[0][0] == logging.WARNING
    assert "normal -> pressure" in messages[0][1] and "(20%)" in messages[0][1]
    assert messages[1][0] == logging.INFO and "pressure -> normal" in messages[1][1]


def test_psutil_reader_reads_this_machine():
    reading = MemoryReader().read()
    assert 0 < reading.available <= reading.total
    assert "MiB available" in str(reading)


class FakeJtop:
    """The part of jetson-stats' client that the reader uses; RAM in kB."""

    instances = []

    def __init__(self, interval):
        self.interval = interval
        self.memory = {"RAM": {"tot": 4_000_000, "used": 3_000_000, "free": 200_000}}
        self.running = True
        self.error = None
        self.closed = False
        FakeJtop.instances.append(self)

    def start(self):
        pass

    def ok(self, spin=False):
        assert spin, "the reader must not wait for jtop's next update"
        if self.error:
            raise self.error
        return self.running

    def close(self):
        self.closed = True


@pytest.fixture
def fake_jtop(monkeypatch):
    module = types.ModuleType("jtop")
    module.jtop = FakeJtop
    monkeypatch.setitem(sys.modules, "jtop", module)
    FakeJtop.instances = []
    return FakeJtop


def test_jtop_reader_converts_kilobytes_and_excludes_cache(fake_jtop):
    reader = open_memory_reader()
    assert isinstance(reader, JtopMemoryReader)
    reading = reader.read()
    assert reading.total == 4_000_000 * 1024
    assert reading.available == 1_000_000 * 1024
    assert reading.available_fraction == pytest.approx(0.25)


def test_jtop_reader_falls_back_to_psutil_when_the_service_dies(fake_jtop, caplog):
    reader = open_memory_reader()
    fake_jtop.instances[0].error = ConnectionError("Lost connection with jtop server")
    with caplog.at_level(logging.WARNING, logger="greeter.live.throttle"):
        first = reader.read()
        second = reader.read()
    assert first.total == MemoryReader().read().total  # this machine's RAM, from psutil
    assert second.total == first.total
    assert fake_jtop.instances[0].closed
    assert len(caplog.records) == 1 and "psutil" in caplog.records[0].getMessage()


def test_without_the_jtop_service_psutil_is_used(fake_jtop, monkeypatch, caplog):
    def refuse(self):
        raise OSError("The jetson_stats.service is not active")

    monkeypatch.setattr(fake_jtop, "start", refuse)
    with caplog.at_level(logging.WARNING, logger="greeter.live.throttle"):
        reader = open_memory_reader()
    assert type(reader) is MemoryReader
    assert "jetson_stats.service is not active" in caplog.text


def test_without_jetson_stats_psutil_is_used(monkeypatch):
    monkeypatch.setitem(sys.modules, "jtop", None)  # import jtop raises ImportError
    assert type(open_memory_reader()) is MemoryReader
