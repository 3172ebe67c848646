"""Gossip events feed web4_gossip_messages_total{outcome} (docs/EVENTS.md, Metrics)."""

from __future__ import annotations

from web4.clock import FakeClock
from web4.observability import Observability

TOPIC = "/web4/cip/1.0/knowledge/physics"


def _outcomes(obs: Observability) -> dict[str, float]:
    return {
        s.labels["outcome"]: s.value
        for metric in obs.metrics.registry.collect()
        if metric.name == "web4_gossip_messages"
        for s in metric.samples
        if s.name == "web4_gossip_messages_total"
    }


def _stats(duplicates: int, dropped: int) -> dict[str, object]:
    return {"delivered": 0, "invalid": 0, "duplicates": duplicates, "dropped": dropped}


def test_gossip_outcomes_and_cumulative_duplicates_are_counted() -> None:
    obs = Observability.open("n", clock=FakeClock())
    try:
        bus = obs.bus
        bus.emit("cip.gossip.published", topic=TOPIC, type="FACT_PROPOSE")
        for _ in range(3):
            bus.emit("cip.gossip.delivered", peer="ab" * 32, topic=TOPIC, type="FACT_CONFIRM")
        bus.emit("cip.gossip.invalid", peer="cd" * 32, topic=TOPIC, reason="ReplayError")
        bus.emit("cip.gossip.ignored", peer="cd" * 32, topic=TOPIC, reason="QuotaError")
        # past the event limits: summed (CIP_SPEC §11)
        bus.emit("cip.gossip.invalid_summary", reason="SignatureMismatchError", count=4)
        bus.emit("knowledge.duplicate", type="FACT_PROPOSE")
        bus.emit("cip.gossip.stats", **_stats(4, 0))
        bus.emit("cip.gossip.stats", **_stats(9, 2))  # cumulative: +5 duplicates, +2 dropped
        assert _outcomes(obs) == {
            "published": 1,
            "delivered": 3,
            "invalid": 5,
            "ignored": 1,
            "second_copy": 1,
            "duplicate": 9,
            "dropped": 2,
        }
        failures = {
            s.labels["source"]: s.value
            for metric in obs.metrics.registry.collect()
            if metric.name == "web4_verification_failures"
            for s in metric.samples
            if s.name == "web4_verification_failures_total"
        }
        assert failures == {"gossip": 4}  # bad signatures, summed ones included
    finally:
        obs.close()
