"""Presence/LRI pure function at its boundaries, the real probe, and STATE_UPDATE rate limiting."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from web4.agent import (
    LoadSample,
    PresenceConfig,
    SenderState,
    StatePublisher,
    SystemLoadProbe,
    assess,
)
from web4.agent.presence import read_meminfo
from web4.clock import FakeClock
from web4.errors import ConfigError

CFG = PresenceConfig()  # weights 0.4/0.2/0.4; engaged 25, focused 55, overloaded 80


def _lri_sample(lri: int) -> LoadSample:
    # equal cpu, memory and queue fill give LRI = 100 * fill exactly
    f = lri / 100
    return LoadSample(cpu=f, memory=f, queue=f)


@pytest.mark.parametrize(
    ("lri", "presence"),
    [
        (0, "diffuse"),
        (24, "diffuse"),
        (25, "engaged"),
        (54, "engaged"),
        (55, "focused"),
        (79, "focused"),
        (80, "overloaded"),
        (100, "overloaded"),
    ],
)
def test_presence_thresholds(lri: int, presence: str):
    cfg = PresenceConfig(queue_overloaded_at=1.0)
    a = assess(_lri_sample(lri), cfg)
    assert a.lri == lri
    assert a.presence == presence


def test_lri_weights_clamping_and_signals():
    assert assess(LoadSample(cpu=0, memory=0, queue=0), CFG).lri == 0
    assert assess(LoadSample(cpu=1, memory=0, queue=0), CFG).lri == 40
    assert assess(LoadSample(cpu=0, memory=1, queue=0), CFG).lri == 20
    hot = assess(LoadSample(cpu=7.5, memory=0.95, queue=0.95), CFG)  # cpu above 1 per core
    assert hot.lri == 97  # cpu clamps to 1: 40 + 19 + 38
    assert hot.kernel_signals == ("cpu_overload", "memory_pressure", "queue_backlog")
    nan = assess(LoadSample(cpu=math.nan, memory=-3, queue=0), CFG)
    assert (nan.lri, nan.presence, nan.kernel_signals) == (0, "diffuse", ())


def test_a_full_queue_is_overloaded_even_when_idle():
    a = assess(LoadSample(cpu=0, memory=0, queue=0.9), CFG)
    assert a.lri == 36
    assert a.presence == "overloaded"
    b = assess(LoadSample(cpu=0, memory=0, queue=0.89), CFG)
    assert b.presence == "engaged"


def test_presence_config_is_checked():
    for bad in (
        {"w_cpu": -1},
        {"w_cpu": 0, "w_memory": 0, "w_queue": 0},
        {"engaged_at": 60},
        {"overloaded_at": 101},
        {"queue_overloaded_at": 0},
        {"min_interval": -1},
    ):
        with pytest.raises(ConfigError):
            PresenceConfig(**bad)  # type: ignore[arg-type]


def test_meminfo_and_probe(tmp_path: Path):
    f = tmp_path / "meminfo"
    f.write_text("MemTotal:       1000 kB\nMemFree:  100 kB\nMemAvailable:    250 kB\n")
    assert read_meminfo(f) == pytest.approx(0.75)
    assert read_meminfo(tmp_path / "missing") == 0.0
    (tmp_path / "junk").write_bytes(b"\xff\xfe")
    assert read_meminfo(tmp_path / "junk") == 0.0
    probe = SystemLoadProbe([lambda: (3, 10)])
    probe.add_queue(lambda: (9, 10))
    probe.add_queue(lambda: (5, 0))  # capacity 0 ignored
    s = probe.sample()
    assert s.queue == pytest.approx(0.9)
    assert 0.0 <= s.memory <= 1.0
    assert s.cpu >= 0.0


def test_state_updates_are_rate_limited_with_hysteresis():
    clock = FakeClock()
    pub = StatePublisher(PresenceConfig(min_lri_delta=5, min_interval=1.0))
    up = lambda p, lri: SenderState(p, lri)  # noqa: E731
    assert pub.offer(up("diffuse", 10), clock.monotonic())  # first one always goes
    assert not pub.offer(up("diffuse", 10), clock.monotonic())  # nothing changed
    clock.advance(5)
    assert not pub.offer(up("diffuse", 14), clock.monotonic())  # below min_lri_delta
    assert pub.offer(up("diffuse", 15), clock.monotonic())  # delta reached
    clock.advance(0.5)
    assert not pub.offer(up("engaged", 30), clock.monotonic())  # changed, but too soon
    assert pub.suppressed == 1
    clock.advance(0.5)
    assert pub.offer(up("engaged", 30), clock.monotonic())  # interval passed
    assert pub.last == up("engaged", 30)
    # at most one per second even under a storm of changes
    sent = 0
    for i in range(100):
        clock.advance(0.05)
        sent += pub.offer(up("focused" if i % 2 else "engaged", 60 + i % 20), clock.monotonic())
    assert 4 <= sent <= 5  # 5 s of changes every 50 ms: one per second at most
    pub.forget()
    clock.advance(1)
    assert pub.offer(pub_last := up("focused", 61), clock.monotonic())
    assert pub.last == pub_last
