"""Discovery events feed their counters (docs/EVENTS.md, Metrics)."""

from __future__ import annotations

from web4.clock import FakeClock
from web4.observability import Observability


def _samples(obs: Observability, name: str) -> dict[str, float]:
    return {
        s.labels.get("source", ""): s.value
        for metric in obs.metrics.registry.collect()
        if metric.name == name
        for s in metric.samples
        if s.name == f"{name}_total"
    }


def test_discovered_dialled_and_pruned_peers_are_counted() -> None:
    obs = Observability.open("n", clock=FakeClock())
    try:
        bus = obs.bus
        for source in ("mdns", "mdns", "dht"):
            bus.emit(
                "rtt.peer_discovered", peer="ab" * 32, source=source, addrs="/ip4/10.0.0.1/tcp/1"
            )
        bus.emit("node.peer_dial", peer="ab" * 32, source="mdns", addr="/ip4/10.0.0.1/tcp/1")
        bus.emit("node.peer_pruned", peer="cd" * 32, reason="above the high watermark")
        assert _samples(obs, "web4_discovery_found") == {"mdns": 2, "dht": 1}
        assert _samples(obs, "web4_discovery_dials") == {"mdns": 1}
        assert _samples(obs, "web4_discovery_pruned") == {"": 1}
    finally:
        obs.close()
