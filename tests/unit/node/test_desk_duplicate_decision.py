"""A ``DECISION_SHARE`` the desk has stored already reaches the agent once.

A broadcast comes twice to a peer connected to its sender (point to point and by
gossip, one envelope per scope: CIP_SPEC §11), and a gossip re-delivery after a restart
goes on to the desk (``web4.cip.gossip_seen``). The desk drops the second copy of a
proposal or a vote (``knowledge.duplicate``); a shared decision was stored once by its
``msg_id`` but offered to the agent loop again on every copy: the agent saw the same
decision twice (and once more per restart)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from web4.agent.types import InboundMessage
from web4.cip.messages import DecisionShare, DmpTrace, SharedDecision
from web4.clock import FakeClock
from web4.knowledge import KnowledgeExchange, LocalState
from web4.node.desk import KnowledgeDesk
from web4.observability import EventBus, MemoryRing
from web4.store import Store
from web4.trust import TrustBook, TrustEvent

SENDER, OTHER = (hashlib.sha256(n).hexdigest() for n in (b"decider", b"other"))


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


def _share(msg_id: str, sender: str = SENDER) -> _In:
    payload = DecisionShare(
        decision=SharedDecision(choice="wait", outcome="ok"),
        dmp_trace=DmpTrace(decision_id=str(uuid.uuid4()), steps=["seen"], evidence=["x"]),
    )
    return _In("cip", "DECISION_SHARE", sender, msg_id, _Env(payload))


def test_a_second_copy_of_a_shared_decision_is_not_offered_again(tmp_path: Path) -> None:
    clock = FakeClock(1_800_000_000.0)
    store = Store.open(tmp_path / "db.sqlite3", synchronous="NORMAL")
    try:
        trust = TrustBook(store, clock)
        for p in (SENDER, OTHER):
            trust.record(p, TrustEvent.HANDSHAKE_VERIFIED, "test")
        bus = EventBus("me", clock=clock)
        ring = MemoryRing(100)
        bus.add_sink(ring)
        offered: list[Any] = []
        desk = KnowledgeDesk(
            KnowledgeExchange(store, trust, clock),
            trust,
            bus,
            offer=lambda item: offered.append(item) or True,
            local=lambda: LocalState(),
        )
        mid = str(uuid.uuid4())
        share = _share(mid)
        desk.on_message(share)  # point to point
        desk.on_message(share)  # the gossip copy, or a re-delivery after a restart
        assert [o.msg_id for o in offered if isinstance(o, InboundMessage)] == [mid]
        bus.flush(2.0)
        dup = [e for e in ring.events("knowledge.duplicate") if e.msg_id == mid]
        assert [e.attributes["type"] for e in dup] == ["DECISION_SHARE"]
        # another decision is still offered, and so is another sender's under the same
        # msg_id (not a copy: the store keeps the first, the agent sees both)
        other = str(uuid.uuid4())
        desk.on_message(_share(other))
        desk.on_message(_share(mid, OTHER))
        seen = [(o.peer, o.msg_id) for o in offered if isinstance(o, InboundMessage)]
        assert seen == [(SENDER, mid), (SENDER, other), (OTHER, mid)]
    finally:
        store.close()
