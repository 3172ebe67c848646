"""FaultMeter: a flood of faulty messages is audited a few times, aggregated, and ends in a
disconnection; memory stays bounded (web4.cip.faults)."""

from __future__ import annotations

import pytest

from web4.cip.faults import FaultMeter, FaultVerdict

A, B = "a" * 64, "b" * 64


def test_a_flood_is_audited_a_few_times_then_counted_then_disconnected() -> None:
    m = FaultMeter(window_s=60, audit_each=3, disconnect_at=20, ban_s=30)
    verdicts = [m.observe(A, 100.0 + i * 0.01)[0] for i in range(19)]
    assert verdicts[:3] == [FaultVerdict.AUDIT] * 3
    assert set(verdicts[3:]) == {FaultVerdict.COUNT}
    verdict, reported = m.observe(A, 100.5)
    assert verdict is FaultVerdict.DISCONNECT
    assert reported == 17  # the 16 counted ones and this one, in one aggregate row
    assert m.banned(A, 129.0)
    assert not m.banned(A, 131.0)
    assert not m.banned(B, 100.5)  # another peer is not touched
    assert m.observe(B, 100.6)[0] is FaultVerdict.AUDIT


def test_counted_faults_are_flushed_once_when_the_window_ends() -> None:
    m = FaultMeter(window_s=10, audit_each=1, disconnect_at=50)
    for i in range(5):
        m.observe(A, 100.0 + i)
    assert m.expired(105.0) == []
    assert m.expired(110.0) == [A]
    assert m.flush(A) == 4
    assert m.flush(A) == 0
    assert m.observe(A, 111.0)[0] is FaultVerdict.AUDIT  # a new window


def test_a_fault_not_audited_by_the_caller_is_aggregated() -> None:
    m = FaultMeter()
    assert m.observe(A, 1.0)[0] is FaultVerdict.AUDIT
    m.note_unreported(A)  # the peer had no trust to lose: the caller only counts it
    assert m.flush(A) == 1


def test_memory_is_bounded_by_max_peers() -> None:
    m = FaultMeter(max_peers=100)
    for i in range(10_000):
        m.observe(f"{i:064x}", 1.0)
    assert len(m._peers) == 100


def test_nonsense_limits_are_refused() -> None:
    with pytest.raises(ValueError, match="audit_each"):
        FaultMeter(audit_each=5, disconnect_at=5)


def test_the_expiry_scan_runs_at_most_once_a_second() -> None:
    m = FaultMeter(window_s=10, audit_each=1, disconnect_at=50)
    for i in range(3):
        m.observe(A, 100.0 + i)
    assert m.expired(109.5) == []  # the window of A started at 100.0: not over yet
    assert m.expired(110.0) == []  # over, but scanned less than a second ago
    assert m.expired(110.6) == [A]
