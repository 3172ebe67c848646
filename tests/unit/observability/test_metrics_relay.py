"""Relay and hole-punch events feed web4_relay_events_total (docs/EVENTS.md, Metrics)."""

from __future__ import annotations

from support.metrics import counter
from web4.observability import Observability


def test_relay_use_is_counted_by_event_and_outcome(obs: Observability) -> None:
    bus = obs.bus
    p = "ab" * 32
    bus.emit("rtt.relay_reservation", peer=p, role="server", outcome="accepted")
    bus.emit("rtt.relay_reservation", peer=p, role="server", outcome="denied")
    bus.emit("rtt.relay_circuit", peer=p, role="server", outcome="accepted", dst="x")
    bus.emit("rtt.relay_circuit", peer=p, role="server", outcome="closed", dst="x")
    bus.emit("rtt.hole_punch", peer=p, outcome="failed")
    bus.emit("rtt.connection_path", peer=p, path="relayed")
    bus.emit("rtt.connection_path", peer=p, path="direct")
    bus.emit("node.relay", relay="/ip4/10.0.0.1/tcp/1/p2p/x", outcome="reserved")
    assert counter(obs, "web4_relay_events", "event", "outcome") == {
        ("relay_reservation", "accepted"): 1,
        ("relay_reservation", "denied"): 1,
        ("relay_circuit", "accepted"): 1,
        ("relay_circuit", "closed"): 1,
        ("hole_punch", "failed"): 1,
        ("connection_path", "relayed"): 1,
        ("connection_path", "direct"): 1,
        ("relay", "reserved"): 1,
    }
