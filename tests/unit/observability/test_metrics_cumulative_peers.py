"""Per-peer cumulative counts (``rtt.telemetry`` ``verification_failures``) are followed
per peer, not per label: past ``MAX_LABEL_VALUES`` peers share the label ``other``, and
two peers' counts alternating under one key looked like a counter reset every time,
counting their whole values again every 2 s (free keys inflate the series at will)."""

from __future__ import annotations

from support.metrics import counter
from web4.observability import Observability, emit_telemetry
from web4.observability.metrics import CUMULATIVE_REMEMBERED, MAX_LABEL_VALUES


def test_peers_past_the_label_cap_do_not_inflate_verification_failures(
    obs: Observability,
) -> None:
    bus = obs.bus
    filler = {f"p{i}": {"verification_failures": 0} for i in range(MAX_LABEL_VALUES)}
    late = {"x": {"verification_failures": 3}, "y": {"verification_failures": 5}}
    for _ in range(4):  # four telemetry rounds, nothing new failing
        emit_telemetry(bus, {"peers": {**filler, **late}})
    assert counter(obs, "web4_verification_failures", "source")["rtt"] == 8


def test_a_session_that_restarts_its_count_is_counted_again(obs: Observability) -> None:
    bus = obs.bus
    for vf in (2, 5, 1, 4):  # 5 -> 1: the peer's next session counting from 0
        emit_telemetry(bus, {"peer": "p", "verification_failures": vf})
    assert counter(obs, "web4_verification_failures", "source")["rtt"] == 9


def test_the_remembered_counts_are_bounded(obs: Observability) -> None:
    bus = obs.bus
    n = CUMULATIVE_REMEMBERED + 100
    for i in range(n):
        emit_telemetry(bus, {"peer": f"fresh{i}", "verification_failures": 1})
    assert len(obs.metrics._last_cumulative) <= CUMULATIVE_REMEMBERED
    assert counter(obs, "web4_verification_failures", "source")["rtt"] == n
