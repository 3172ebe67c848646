"""web4.isolation: what stops the node, what is isolated, and how much it may log."""

from __future__ import annotations

import asyncio

import pytest

from support.metrics import counter
from web4.clock import FakeClock
from web4.errors import ConfigError, InvalidEnvelopeError, StoreError
from web4.isolation import PeerTaskFailures, is_fatal, stop_reason
from web4.observability import Observability
from web4.observability.events import Event

A, B = "aa" * 32, "bb" * 32


def _boom(exc: BaseException) -> BaseException:
    try:
        raise exc
    except BaseException as e:  # noqa: BLE001 - a traceback to report
        return e


@pytest.mark.parametrize(
    "exc",
    [
        StoreError("fsync failed"),
        MemoryError(),
        KeyboardInterrupt(),
        SystemExit(1),
        asyncio.CancelledError(),
        ExceptionGroup("g", [TypeError("x"), StoreError("fsync")]),
        BaseExceptionGroup("g", [TypeError("x"), asyncio.CancelledError()]),
    ],
)
def test_what_must_stop_the_node_is_not_isolated(exc: BaseException) -> None:
    failures = PeerTaskFailures(lambda *a, **k: pytest.fail("reported"), FakeClock().monotonic)
    assert is_fatal(exc)
    assert failures.isolate(A, "serve", exc) is False
    assert failures.total == 0


@pytest.mark.parametrize(
    "exc",
    [
        TypeError("bug"),
        KeyError("k"),
        RecursionError(),
        ConfigError("local misuse"),
        InvalidEnvelopeError("escaped"),
        TimeoutError(),
        ExceptionGroup("g", [TypeError("x"), ValueError("y")]),
    ],
)
def test_anything_else_is_isolated(exc: Exception) -> None:
    assert not is_fatal(exc)


class _Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, object]]] = []

    def __call__(self, kind: str, **attrs: object) -> None:
        self.events.append((kind, attrs))

    def of(self, kind: str, peer: str | None = None) -> list[dict[str, object]]:
        return [a for k, a in self.events if k == kind and (peer is None or a.get("peer") == peer)]


def test_one_event_with_the_traceback_per_failure_up_to_the_per_peer_limit() -> None:
    clock, rec = FakeClock(), _Recorder()
    failures = PeerTaskFailures(rec, clock.monotonic, log_each=3, log_max=20)
    for _ in range(10):
        assert failures.isolate(A, "gossip", _boom(TypeError("planted")))
    (first, *_), n = rec.of("node.peer_task_failed", A), len(rec.of("node.peer_task_failed", A))
    assert n == 3  # the rest are counted, not written
    assert first["task"] == "gossip"
    assert first["error"] == "TypeError"
    assert first["message"] == "planted"
    assert "Traceback" in str(first["traceback"])
    assert "_boom" in str(first["traceback"])
    assert str(first["where"]).startswith("test_isolation.py:")
    assert failures.isolate(B, "gossip", _boom(TypeError("planted")))  # B has its own budget
    assert len(rec.of("node.peer_task_failed", B)) == 1
    assert rec.of("node.peer_task_failures") == []  # the window has not ended
    clock.advance(61.0)
    failures.flush()
    assert rec.of("node.peer_task_failures") == [
        {
            "task": "gossip",
            "count": 7,
            "window_s": 60.0,
            "detail": "failures past the per-peer or per-window event limit",
        }
    ]
    failures.isolate(A, "gossip", _boom(TypeError("planted")))  # a new window: written
    assert len(rec.of("node.peer_task_failed", A)) == 4
    assert failures.total == 12


def test_a_thousand_fresh_keys_write_at_most_log_max_events_per_window() -> None:
    clock, rec = FakeClock(), _Recorder()
    failures = PeerTaskFailures(rec, clock.monotonic, log_max=20, max_peers=64)
    for i in range(1000):
        failures.isolate(f"{i:064x}", "serve", _boom(TypeError("planted")))
    assert len(rec.of("node.peer_task_failed")) == 20
    failures.close()
    (summary,) = rec.of("node.peer_task_failures")
    assert summary["count"] == 980
    assert len(failures._peers) == 64  # bounded memory


def test_three_failed_sessions_cool_the_peer_down_and_other_tasks_never_do() -> None:
    clock, rec = FakeClock(), _Recorder()
    failures = PeerTaskFailures(rec, clock.monotonic, refuse_at=3, refuse_s=60.0)
    for _ in range(10):  # gossip content may come from anyone through an honest forwarder
        failures.isolate(B, "gossip", _boom(TypeError("x")))
    assert not failures.refused(B)
    failures.isolate(A, "serve", _boom(TypeError("x")))
    failures.isolate(A, "start", _boom(TypeError("x")))
    assert not failures.refused(A)
    failures.isolate(A, "serve", _boom(TypeError("x")))
    assert [a["refused_for_s"] for a in rec.of("node.peer_task_failed", A)] == [0.0, 0.0, 60.0]
    assert failures.refused(A)
    assert failures.refusals == 1
    clock.advance(59.0)
    assert failures.refused(A)
    clock.advance(2.0)
    assert not failures.refused(A)  # a cool-down, not a blacklist


def test_the_metric_counts_every_failure_written_or_summed() -> None:
    clock = FakeClock()
    obs = Observability.open("n", clock=clock)
    try:
        failures = PeerTaskFailures(obs.bus.emit, clock.monotonic, log_each=2)
        for _ in range(5):
            failures.isolate(A, "serve", _boom(TypeError("planted")))
        failures.close()
        obs.bus.flush(2.0)
        assert counter(obs, "web4_node_peer_task_failures", "task") == {"serve": 5.0}
        kinds = [e.kind for e in obs.ring.events("node.peer_task")]
        assert kinds == ["node.peer_task_failed"] * 2 + ["node.peer_task_failures"]
        failed: Event = obs.ring.events("node.peer_task_failed")[0]
        assert failed.peer == A
        assert failed.level == "error"
    finally:
        obs.close()


def test_node_stopped_says_why_the_node_stopped() -> None:
    assert stop_reason(None) == {}
    assert stop_reason(asyncio.CancelledError()) == {}
    group = _boom(ExceptionGroup("tasks", [StoreError("fsync failed"), _boom(TypeError("x"))]))
    reason = stop_reason(group)
    assert reason["level"] == "error"
    assert reason["error"] == "StoreError,TypeError"
    assert reason["detail"] == "fsync failed; x"
    assert "Traceback" in reason["traceback"]
