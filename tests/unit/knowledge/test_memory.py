"""Causal memory: schema upgrade, this agent's decisions, claims accepted by LIP."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from web4.errors import StoreError
from web4.knowledge import (
    KNOWLEDGE_MIGRATIONS,
    CausalLink,
    CausalMemory,
    ClaimState,
    DmpTrace,
    Fact,
    LocalState,
    SharedDecision,
)
from web4.store import MigrationSet, Store

ME = "ab" * 32


def test_upgrade_from_schema_1_keeps_traces(tmp_path: Path) -> None:
    path = tmp_path / "db"
    v1 = MigrationSet("knowledge", KNOWLEDGE_MIGRATIONS.migrations[:1])
    trace = DmpTrace(str(uuid.uuid4()), ["s"])
    with Store.open(path, migrations=[v1]) as store:
        assert store.schema_version("knowledge") == 1
        memory = CausalMemory.__new__(CausalMemory)
        memory._store = store  # schema 1 only: bypass the constructor's migration
        assert memory.record_decision("m1", ME, SharedDecision("go"), trace, "", 1.0)
        with pytest.raises(StoreError, match="CHECK"):
            store.execute(
                "INSERT INTO knowledge_traces VALUES ('x', 'local_decision', 'd', 's', '{}',"
                " NULL, NULL, 0)"
            )
    with Store.open(path) as store:
        memory = CausalMemory(store)
        assert store.schema_version("knowledge") == KNOWLEDGE_MIGRATIONS.latest == 4
        (kept,) = memory.traces()
        assert (kept.origin_msg_id, kept.trace) == ("m1", trace)
        assert memory.record_local_decision(ME, SharedDecision("rest"), trace, "ok", 2.0)
        assert [t.origin for t in memory.traces(trace.decision_id)] == [
            "decision_share",
            "local_decision",
        ]


def test_local_decisions_are_stored_once(world) -> None:
    trace = DmpTrace(str(uuid.uuid4()), ["thought"], ["other"], ["why"])
    memory = world.kx.memory
    assert memory.record_local_decision(ME, SharedDecision("act", "done"), trace, "", 5.0)
    assert not memory.record_local_decision(ME, SharedDecision("act"), trace, "", 6.0)
    (stored,) = memory.traces()
    assert (stored.origin, stored.sender, stored.at) == ("local_decision", ME, 5.0)
    assert stored.decision == SharedDecision("act", "done")
    assert memory.nodes() == []


def test_admit_external_goes_through_the_accepted_path(world) -> None:
    memory = world.kx.memory
    fact = Fact("The moon is round", "Astronomy", 0.9, ["https://example.org/moon"])
    trace = DmpTrace(str(uuid.uuid4()), ["LIP: corroborated"], [], ["https://example.org/moon"])
    memory.admit_external("lip:1", ME, fact, trace, (CausalLink("lip:0"),), "LIP: tier high", 7.0)
    node = memory.get("lip:1")
    assert node is not None
    assert node.fact == fact
    assert world.kx.claim("lip:1").state is ClaimState.ACCEPTED
    assert memory.links_from("lip:1") == [CausalLink("lip:0")]
    with pytest.raises(StoreError):
        memory.admit_external("lip:1", ME, fact, trace, (), "again", 8.0)
    # and a peer's claim contradicting it is disputed
    out = world.propose(world.peer_probing(), "the moon is not round", domain="astronomy")
    assert out.state is ClaimState.DISPUTED


def test_nothing_but_accepted_claims_in_memory_after_a_mixed_run(world) -> None:
    busy = LocalState("overloaded", 99)
    p = world.peer_probing()
    ids = [world.propose(p, f"fact {i}", local=busy if i % 2 else LocalState()).claim_id
           for i in range(6)]  # fmt: skip
    for claim in ids[:2]:
        for _ in range(2):
            world.confirm(claim, world.peer_trusted())
    accepted = {c.msg_id for c in world.kx.claims(ClaimState.ACCEPTED)}
    assert accepted == set(ids[:2])  # the deferred one was re-evaluated under normal load
    assert {n.node_id for n in world.kx.memory.nodes()} == accepted
