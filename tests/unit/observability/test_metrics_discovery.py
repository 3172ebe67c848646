"""Discovery events feed their counters (docs/EVENTS.md, Metrics)."""

from __future__ import annotations

from support.metrics import counter
from web4.observability import Observability


def test_discovered_dialled_and_pruned_peers_are_counted(obs: Observability) -> None:
    bus = obs.bus
    for source in ("mdns", "mdns", "dht"):
        bus.emit("rtt.peer_discovered", peer="ab" * 32, source=source, addrs="/ip4/10.0.0.1/tcp/1")
    bus.emit("node.peer_dial", peer="ab" * 32, source="mdns", addr="/ip4/10.0.0.1/tcp/1")
    bus.emit("node.peer_pruned", peer="cd" * 32, reason="above the high watermark")
    assert counter(obs, "web4_discovery_found", "source") == {"mdns": 2, "dht": 1}
    assert counter(obs, "web4_discovery_dials", "source") == {"mdns": 1}
    assert counter(obs, "web4_discovery_pruned", "source") == {"": 1}
