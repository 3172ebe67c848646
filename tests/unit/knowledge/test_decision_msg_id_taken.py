"""A DECISION_SHARE's msg_id is the sender's choice: a key that saw an id go by (a
pending claim's proposal, another peer's decision, both broadcast to every subscriber)
can send its own decision under it. Traces are kept per (origin, msg_id, sender), so that
squat neither makes the claim's acceptance fail (before: a UNIQUE constraint, a
StoreError, which stops the node) nor keeps the honest decision's trace out."""

from __future__ import annotations

import uuid

from support.knowledge_world import World
from web4.knowledge import ClaimState, DecisionOutcome, DmpTrace, SharedDecision
from web4.knowledge.memory import KNOWLEDGE_MIGRATIONS
from web4.store import MigrationSet, Store


def _share(world: World, msg_id: str, sender: str, choice: str = "c") -> DecisionOutcome:
    trace = DmpTrace(str(uuid.uuid4()), ["weighed it"], ["the other way"], [])
    return world.kx.share_decision(
        msg_id=msg_id, sender=sender, decision=SharedDecision(choice, "o", "ctx"), trace=trace
    )


def test_a_decision_under_a_pending_claims_id_does_not_block_its_acceptance(
    world: World,
) -> None:
    a, b = world.peer_trusted(), world.peer_trusted()
    squatter = world.peer_probing()
    world.clock.advance(1)
    claim = world.propose(world.peer_probing()).claim_id
    assert _share(world, claim, squatter).stored
    world.confirm(claim, a)
    assert world.confirm(claim, b).state is ClaimState.ACCEPTED
    origins = sorted((t.origin, t.sender) for t in world.kx.memory.traces())
    assert ("claim", world.kx.claim(claim).sender) in origins
    assert ("decision_share", squatter) in origins


def test_an_honest_decision_is_kept_when_its_id_was_squatted(world: World) -> None:
    honest, squatter = world.peer_trusted(), world.peer_probing()
    msg_id = world.msg_id()
    assert _share(world, msg_id, squatter, "squat").stored
    out = _share(world, msg_id, honest, "honest")
    assert out.stored
    assert not out.duplicate
    again = _share(world, msg_id, honest, "honest")
    assert (again.stored, again.duplicate) == (False, True)  # its second copy
    kept = {t.sender: t.decision for t in world.kx.memory.traces()}
    assert kept[honest] == SharedDecision("honest", "o", "ctx")
    assert kept[squatter] == SharedDecision("squat", "o", "ctx")


def test_migration_4_keeps_every_trace(tmp_path: object) -> None:
    path = f"{tmp_path}/k.sqlite3"
    old = MigrationSet(KNOWLEDGE_MIGRATIONS.subsystem, KNOWLEDGE_MIGRATIONS.migrations[:3])
    with Store.open(path, migrations=(old,)) as store:
        store.execute(
            "INSERT INTO knowledge_traces VALUES ('m1', 'decision_share', 'd1', 's1', '{}',"
            " '{}', '', 1.0)"
        )
    with Store.open(path, migrations=(KNOWLEDGE_MIGRATIONS,)) as store:
        assert store.query("SELECT origin_msg_id, origin, sender FROM knowledge_traces") == [
            ("m1", "decision_share", "s1")
        ]
        store.execute(  # the same id from another sender: a row of its own now
            "INSERT INTO knowledge_traces VALUES ('m1', 'decision_share', 'd2', 's2', '{}',"
            " '{}', '', 2.0)"
        )
