"""/metrics scraped over real HTTP on loopback after a burst of events."""

from __future__ import annotations

import urllib.request

import pytest

from support.metrics import counter
from web4.clock import FakeClock
from web4.errors import ObservabilityError
from web4.observability import MetricsServer, Observability, emit_telemetry
from web4.observability.metrics import MAX_LABEL_VALUES


def _scrape(url: str) -> dict[str, float]:
    with urllib.request.urlopen(url, timeout=5) as resp:  # loopback only
        assert resp.status == 200
        text = resp.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def test_metrics_over_http_have_names_and_values():
    obs = Observability.open("node-a", clock=FakeClock(), metrics_port=0)
    try:
        assert obs.server is not None
        assert obs.server.port > 0
        bus = obs.bus
        emit_telemetry(
            bus,
            {
                "peer": "p1",
                "latency_p50_ms": 2.0,
                "latency_p95_ms": 9.0,
                "drop_rate": 0.05,
                "verification_failures": 2,
            },
        )
        emit_telemetry(bus, {"peer": "p1", "verification_failures": 5})
        bus.emit("rtt.reconnect_attempt", peer="p1", attempt=1)
        bus.emit("cip.handshake.failed", peer="p2", reason="SignatureMismatchError")
        bus.emit(
            "trust.transition",
            peer="p1",
            attributes={"from": "untrusted", "to": "probing", "cause": "handshake"},
        )
        bus.emit(
            "trust.transition",
            peer="p2",
            attributes={"from": "untrusted", "to": "probing", "cause": "handshake"},
        )
        bus.emit(
            "trust.transition",
            peer="p2",
            attributes={"from": "probing", "to": "trusted", "cause": "confirmations"},
        )
        for _ in range(3):
            bus.emit("router.routed", protocol="cip", type="FACT_PROPOSE")
        bus.emit("router.rejected", protocol="cip", type="INTENT", reason="SignatureMismatchError")
        bus.emit("router.unknown_type", protocol="cip", type="NOPE")
        bus.emit("router.throttled", protocol="cip", type="INTENT", dropped=1)
        bus.emit("agent.state_update", presence="engaged", lri=42)
        m = _scrape(obs.server.url)
    finally:
        obs.close()
    assert m['web4_rtt_latency_p50_seconds{peer="p1"}'] == pytest.approx(0.002)
    assert m['web4_rtt_latency_p95_seconds{peer="p1"}'] == pytest.approx(0.009)
    assert m['web4_rtt_drop_rate{peer="p1"}'] == pytest.approx(0.05)
    assert m['web4_rtt_reconnects_total{peer="p1"}'] == 1
    assert m['web4_verification_failures_total{source="rtt"}'] == 5
    assert m['web4_verification_failures_total{source="cip_handshake"}'] == 1
    assert m['web4_verification_failures_total{source="envelope"}'] == 1
    assert m['web4_trust_peers{state="probing"}'] == 1
    assert m['web4_trust_peers{state="trusted"}'] == 1
    assert m['web4_trust_peers{state="blacklisted"}'] == 0
    assert m['web4_router_routed_total{protocol="cip",type="FACT_PROPOSE"}'] == 3
    assert (
        m[
            'web4_router_rejected_total{protocol="cip",reason="SignatureMismatchError",type="INTENT"}'
        ]
        == 1
    )
    assert m['web4_router_rejected_total{protocol="cip",reason="unknown_type",type="NOPE"}'] == 1
    assert m['web4_router_rejected_total{protocol="cip",reason="throttled",type="INTENT"}'] == 1
    assert m["web4_agent_lri"] == 42
    assert m['web4_agent_presence{presence="engaged"}'] == 1
    assert m['web4_events_dropped_total{sink="memory"}'] == 0
    assert m['web4_events_total{kind="router.routed",level="debug"}'] == 3


def test_label_values_from_the_network_are_capped():
    obs = Observability.open("n")
    for i in range(MAX_LABEL_VALUES + 20):
        obs.bus.emit("router.unknown_type", protocol="cip", type=f"T{i}")
    by_type = counter(obs, "web4_router_rejected", "type")
    assert len(by_type) == MAX_LABEL_VALUES + 1
    assert by_type["other"] == 20
    obs.close()


def test_server_errors_are_typed():
    with pytest.raises(ObservabilityError):
        MetricsServer(Observability.open("n").metrics.registry, port=70000)
    obs = Observability.open("n", metrics_port=0)
    assert obs.server is not None
    with pytest.raises(ObservabilityError, match="already running"):
        obs.server.start()
    with pytest.raises(ObservabilityError, match="cannot serve"):
        Observability.open("m", metrics_port=obs.server.port)
    obs.close()
