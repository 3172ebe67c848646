"""Accepted LIP claims reach the knowledge subsystem's causal memory; its contents
dispute contradicting web claims."""

from __future__ import annotations

import pytest

from web4.errors import StoreError
from web4.knowledge import CausalMemory
from web4.lip._state import LearnedClaimState
from web4.lip.extract import claim_id
from web4.lip.memory import KnowledgeBridge, node_id_of
from web4.lip.messages import Claim, Evidence
from web4.lip.queue import AcceptedClaim, ClaimQueue
from web4.lip.tiers import SourceTiers, TierPolicy
from web4.store import Store

ME = "ab" * 32


def evidence(host: str) -> Evidence:
    return Evidence(
        uri=f"https://{host}/x",
        final_uri=f"https://{host}/x",
        retrieved_at="2026-01-01T00:00:00.000Z",
        sha256="c" * 64,
        content_type="text/html",
        size=3,
    )


@pytest.fixture
def world(tmp_path):
    store = Store.open(tmp_path / "k.sqlite3")
    bridge = KnowledgeBridge(store, agent_fingerprint=ME)
    tiers = SourceTiers(store, TierPolicy.from_toml('[domains]\n"good.test" = "high"\n'))
    queue = ClaimQueue(
        store, tiers, knowledge=bridge, memory=bridge, is_trusted=lambda p: p == "agent-b"
    )
    yield store, bridge, queue
    store.close()


def submit(queue: ClaimQueue, host: str, statement: str):
    c = Claim(claim_id(statement), statement, "p[1]")
    queue.submit(evidence(host), [c], now=10.0)
    return c.claim_id


def test_accepted_claims_enter_causal_memory_and_dispute_contradictions(world) -> None:
    store, _bridge, queue = world
    first = submit(queue, "good.test", "Water boils at one hundred degrees at sea level.")
    assert queue.get(first).state == LearnedClaimState.ACCEPTED
    node = CausalMemory(store).get(node_id_of(first))
    assert node is not None
    assert node.fact.sources == ["https://good.test/x"]
    assert node.fact.domain == "web"

    pending = submit(queue, "other.test", "Owls are nocturnal birds of prey.")
    assert queue.get(pending).state == LearnedClaimState.PENDING
    assert CausalMemory(store).get(node_id_of(pending)) is None

    contra = submit(queue, "good.test", "Water never boils at one hundred degrees at sea level.")
    assert queue.get(contra).state == LearnedClaimState.DISPUTED
    assert queue.get(contra).local_refs == (node_id_of(first),)
    assert [n.node_id for n in CausalMemory(store).nodes()] == [node_id_of(first)]


def test_causal_memory_refuses_what_was_not_accepted(world) -> None:
    """The knowledge trigger still guards the door: a bridge write for an id whose
    staging row is missing fails and rolls back."""
    store, bridge, _ = world
    claim = AcceptedClaim(
        claim_id("x y z w"), "x y z w", "https://a.test/", "https://a.test/", "d" * 64,
        "2026-01-01T00:00:00.000Z", "high", (), "test", 1.0,
    )  # fmt: skip
    bridge.record_claim(claim)
    with pytest.raises(StoreError):
        bridge.record_claim(claim)  # the same node twice: refused, nothing half-written
    assert len(CausalMemory(store).nodes()) == 1
