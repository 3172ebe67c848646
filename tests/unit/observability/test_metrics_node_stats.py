"""The transport's node-wide counters (``rtt.node_stats``) feed
web4_connections_denied_total{reason} and web4_relay_punch_addrs_refused_total
(docs/EVENTS.md, Metrics)."""

from __future__ import annotations

from support.metrics import counter
from web4 import _core
from web4.observability import Observability, emit_telemetry
from web4.observability.metrics import DENIAL_REASONS
from web4.rtt.stats import DENIAL_REASONS as RTT_DENIAL_REASONS
from web4.rtt.stats import NodeStats


def _node(**counts: int) -> dict[str, int]:
    out = {"connections_denied": sum(counts.values()), "punch_addrs_refused": 0}
    out.update({f"connections_denied_{r}": 0 for r in DENIAL_REASONS})
    out.update({f"connections_denied_{k}": v for k, v in counts.items()})
    return out


def test_every_reason_is_a_series_at_zero_before_any_refusal(obs: Observability) -> None:
    assert counter(obs, "web4_connections_denied", "reason") == dict.fromkeys(DENIAL_REASONS, 0)
    assert counter(obs, "web4_relay_punch_addrs_refused", "x") == {"": 0}


def test_increases_of_the_cumulative_counts_are_counted_by_reason(obs: Observability) -> None:
    bus = obs.bus
    bus.emit("rtt.node_stats", attributes=_node(pending_in=16))
    bus.emit("rtt.node_stats", attributes=_node(pending_in=16))  # no change: no count
    bus.emit("rtt.node_stats", attributes={**_node(pending_in=20, established_in=3)})
    # established_in 3 -> 0: a new transport counting from 0; then its own increases
    bus.emit("rtt.node_stats", attributes={**_node(pending_in=20, per_peer=1, total=2)})
    bus.emit("rtt.node_stats", attributes=_node(pending_in=20, established_in=2, per_peer=1))
    got = counter(obs, "web4_connections_denied", "reason")
    assert got == {
        "pending_in": 20,
        "pending_out": 0,
        "established_in": 5,
        "per_peer": 1,
        "total": 2,
    }


def test_punch_addresses_refused_are_counted(obs: Observability) -> None:
    bus = obs.bus
    for n in (0, 8, 8, 11):
        bus.emit("rtt.node_stats", attributes={**_node(), "punch_addrs_refused": n})
    assert counter(obs, "web4_relay_punch_addrs_refused", "x") == {"": 11}


def test_missing_or_bad_values_count_nothing(obs: Observability) -> None:
    bus = obs.bus
    bus.emit(
        "rtt.node_stats",
        attributes={
            "connections_denied": None,
            "punch_addrs_refused": None,
            "connections_denied_pending_in": True,  # not a count
            "connections_denied_total": "7",
        },
    )
    assert counter(obs, "web4_connections_denied", "reason") == dict.fromkeys(DENIAL_REASONS, 0)
    assert counter(obs, "web4_relay_punch_addrs_refused", "x") == {"": 0}


def test_the_telemetry_snapshot_node_part_is_one_event_with_or_without_peers(
    obs: Observability,
) -> None:
    node = _node(pending_out=2)
    events = emit_telemetry(obs.bus, {"transport": "rtt", "peers": {}, "node": node})
    assert [e.kind for e in events] == ["rtt.node_stats"]
    assert events[0].attributes["connections_denied_pending_out"] == 2
    events = emit_telemetry(
        obs.bus, {"transport": "rtt", "peers": {"ab" * 32: {"latency_p50_ms": 1.0}}, "node": node}
    )
    assert [e.kind for e in events] == ["rtt.node_stats", "rtt.telemetry"]
    # the node's counters are not repeated in each peer's telemetry
    assert not any(k.startswith(("node", "connections")) for k in events[1].attributes)
    assert counter(obs, "web4_connections_denied", "reason")["pending_out"] == 2
    # a snapshot without the required counts (an older transport) is still recorded
    (event,) = emit_telemetry(obs.bus, {"peers": {}, "node": {"connections_denied_total": 5}})
    assert event.attributes["punch_addrs_refused"] is None


def test_the_reasons_are_the_transports_stats_keys() -> None:
    assert RTT_DENIAL_REASONS == DENIAL_REASONS
    node = _core.RttNode(b"\x51" * 32)
    try:
        stats = node.stats()
        assert {f"connections_denied_{r}" for r in DENIAL_REASONS} <= stats.keys()
        assert NodeStats.from_core(stats).connections_denied_per_peer == 0
    finally:
        node.shutdown()
