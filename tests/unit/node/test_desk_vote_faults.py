"""A vote that waited for its claim and then fails (here: its ``fact_ref`` is not the
msg_id of the claim its ``claim_hash`` names) is that voter's fault alone. Before, the
``KnowledgeError`` left ``KnowledgeDesk.propose`` from inside the *proposer's*
``FACT_PROPOSE`` handler: the router isolated it as a handler fault of the proposer (a
trust anomaly against the peer that did nothing wrong), the proposal never reached the
agent loop, and the other votes waiting for the claim were left in the buffer."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web4.agent.types import InboundMessage
from web4.cip.claims import claim_hash
from web4.cip.messages import DmpTrace, Fact, FactConfirm, FactPropose
from web4.clock import FakeClock
from web4.knowledge import KnowledgeExchange, LocalState
from web4.node.desk import KnowledgeDesk
from web4.observability import EventBus, MemoryRing
from web4.store import Store
from web4.trust import TrustBook, TrustEvent

PROPOSER, HONEST, SPOILER, LATE = (
    hashlib.sha256(n.encode()).hexdigest() for n in ("z", "x", "y", "w")
)


@dataclass
class _Env:
    payload: Any


@dataclass
class _In:
    protocol: str
    type: str
    peer: str
    msg_id: str
    envelope: _Env
    destination: str = "knowledge"
    link_peer: str | None = None
    received_at: float = 0.0


def _proposal(msg_id: str, sender: str) -> _In:
    payload = FactPropose(
        fact=Fact(statement="Ice melts at 0 C", domain="physics", confidence=0.9, sources=["x"]),
        dmp_trace=DmpTrace(decision_id=str(uuid.uuid4()), steps=["seen"], evidence=["x"]),
    )
    return _In("cip", "FACT_PROPOSE", sender, msg_id, _Env(payload))


def _confirm(msg_id: str, voter: str, claim: _In, ref: str | None = None) -> _In:
    """A confirmation of ``claim`` (a proposal, delivered or not), bound to its hash;
    ``ref`` overrides the ``fact_ref``."""
    digest = claim_hash(claim.peer, claim.envelope.payload)
    vote = FactConfirm(ref or claim.msg_id, digest, "confirm", 0.9)
    return _In("cip", "FACT_CONFIRM", voter, msg_id, _Env(vote))


@dataclass
class DeskRig:
    """A knowledge desk on a real store, its event ring and what it offered the loop."""

    desk: KnowledgeDesk
    store: Store
    bus: EventBus
    ring: MemoryRing
    offered: list[Any]


def desk_rig(tmp_path: Path, peers: tuple[str, ...], **kw: Any) -> DeskRig:
    """A desk whose ``peers`` have a verified handshake (``kw`` goes to the desk)."""
    clock = FakeClock(1_800_000_000.0)
    store = Store.open(tmp_path / "db.sqlite3", synchronous="NORMAL")
    trust = TrustBook(store, clock)
    for p in peers:
        trust.record(p, TrustEvent.HANDSHAKE_VERIFIED, "test")
    bus = EventBus("me", clock=clock)
    ring = MemoryRing(1000)
    bus.add_sink(ring)
    offered: list[Any] = []
    desk = KnowledgeDesk(
        KnowledgeExchange(store, trust, clock),
        trust,
        bus,
        offer=lambda item: offered.append(item) or True,
        local=lambda: LocalState(),
        **kw,
    )
    return DeskRig(desk, store, bus, ring, offered)


def test_a_failing_waiting_vote_is_not_the_proposers_fault(tmp_path: Path) -> None:
    rig = desk_rig(tmp_path, (PROPOSER, HONEST, SPOILER, LATE))
    desk, store, bus, ring, offered = rig.desk, rig.store, rig.bus, rig.ring, rig.offered
    try:
        first, second = str(uuid.uuid4()), str(uuid.uuid4())
        claim1, claim2 = _proposal(first, PROPOSER), _proposal(second, PROPOSER)
        desk.on_message(claim1)
        shared = str(uuid.uuid4())
        desk.on_message(_confirm(shared, HONEST, claim1))
        # names `second`'s hash under `first`'s msg_id: waits, and fails once applied
        desk.on_message(_confirm(shared, SPOILER, claim2, ref=first))
        desk.on_message(_confirm(str(uuid.uuid4()), LATE, claim2))  # waits too
        assert desk.waiting == 2
        offered.clear()

        desk.on_message(claim2)  # raised KnowledgeError from the proposer's handler before

        assert [o.msg_id for o in offered if isinstance(o, InboundMessage)] == [second]
        assert desk.waiting == 0
        assert LATE in desk.kx.confirmers(second)  # the good waiting vote still counts
        bus.flush(2.0)
        errors = [e for e in ring.events("error") if e.msg_id == shared]
        assert [e.peer for e in errors] == [SPOILER]
    finally:
        store.close()
