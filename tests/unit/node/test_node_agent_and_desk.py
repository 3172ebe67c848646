"""The node's default agent (BeliefAgent), scripted proposals, and the knowledge desk
(claims, votes, a vote that overtakes its claim, the bounded vote buffer)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from web4.agent.types import InboundMessage, KnowledgeAccepted
from web4.cip.claims import claim_hash
from web4.cip.messages import DmpTrace, Fact, FactConfirm, FactPropose
from web4.clock import FakeClock
from web4.errors import ConfigError
from web4.knowledge import ClaimState, KnowledgeExchange, LocalState
from web4.node.believer import BeliefAgent
from web4.node.config import NodeConfig
from web4.node.desk import KnowledgeDesk
from web4.node.proposals import Proposal, proposal_quorum
from web4.observability import EventBus, MemoryRing
from web4.store import Store
from web4.trust import TrustBook, TrustEvent, TrustState

ME, P1, P2, P3 = (hashlib.sha256(n.encode()).hexdigest() for n in ("me", "p1", "p2", "p3"))


def test_belief_agent_judges_by_normalised_beliefs_and_refuses_bad_ones() -> None:
    agent = BeliefAgent("verify knowledge", ["Water boils at 100 C", "The moon is not cheese"])
    assert agent.judge("water  BOILS at 100 c")[0] == "confirm"
    assert agent.judge("The moon is cheese")[0] == "challenge"
    assert agent.judge("Water freezes at 0 C") == ("unknown", None)
    for bad in ([" "], ["x"] * 300):
        with pytest.raises(ConfigError):
            BeliefAgent("m", bad)
    with pytest.raises(ConfigError):
        BeliefAgent(" ")


def test_a_proposal_waits_for_the_peers_the_node_dials_or_discovers(tmp_path: Path) -> None:
    # a claim counts only votes of peers trusted before it: propose once they are met
    boot = "/ip4/127.0.0.1/tcp/7001/p2p/12D3KooWJ8VtwaNiLuPC5TTrwx1ZVqxtRfquK3PiCg84x3hCAKTp"
    peer = boot.replace("7001", "7002")
    assert proposal_quorum(NodeConfig(data_dir=tmp_path)) == 1  # peers dial us: the first
    assert proposal_quorum(NodeConfig(data_dir=tmp_path, peers=(boot, peer))) == 2
    found = NodeConfig(data_dir=tmp_path, bootstrap=(boot,), min_peers=6)
    assert proposal_quorum(found) == 6  # no --peer: --min-peers discovered ones
    assert proposal_quorum(NodeConfig(data_dir=tmp_path, bootstrap=(boot,), min_peers=0)) == 1
    configured = NodeConfig(data_dir=tmp_path, peers=(peer,), bootstrap=(boot,), min_peers=6)
    assert proposal_quorum(configured) == 1  # the --peer list says whom it waits for


def test_proposal_parse() -> None:
    assert Proposal.parse("Water boils|physics|0.7") == Proposal("Water boils", "physics", 0.7)
    assert Proposal.parse("Just this") == Proposal("Just this", "general", 0.9)
    for bad in ("", "|physics", "a|b|c|d", "a|b|high", "a|b|1.5"):
        with pytest.raises(ConfigError):
            Proposal.parse(bad)
    fact, trace = Proposal("x", "d", 0.5).fact_and_trace("operator")
    assert fact.sources == ["operator"]
    assert trace.evidence == ["operator"]


@dataclass
class FakeEnvelope:
    payload: Any


@dataclass
class FakeInbound:
    protocol: str
    type: str
    peer: str
    msg_id: str
    envelope: FakeEnvelope
    destination: str = "knowledge"
    link_peer: str | None = None
    received_at: float = 0.0


class Harness:
    def __init__(self, tmp: Any, vote_buffer: int = 256) -> None:
        self.clock = FakeClock(1_800_000_000.0)
        self.store = Store.open(tmp / "db.sqlite3", synchronous="NORMAL")
        self.trust = TrustBook(self.store, self.clock)
        self.kx = KnowledgeExchange(self.store, self.trust, self.clock)
        self.bus = EventBus("me", clock=self.clock)
        self.ring = MemoryRing(1000)
        self.bus.add_sink(self.ring)
        self.offered: list[Any] = []
        self.desk = KnowledgeDesk(
            self.kx,
            self.trust,
            self.bus,
            offer=self._offer,
            local=lambda: LocalState(),
            vote_buffer=vote_buffer,
        )

    def _offer(self, item: Any) -> bool:
        self.offered.append(item)
        return True

    def kinds(self) -> list[str]:
        self.bus.flush(2.0)
        return [e.kind for e in self.ring.events()]

    def trusted(self, *peers: str) -> None:
        for p in peers:
            self.trust.record(p, TrustEvent.HANDSHAKE_VERIFIED, "test")
            self.trust.record(p, TrustEvent.OPERATOR_VOUCH, "test anchor")


def proposal(msg_id: str, sender: str = P1) -> FakeInbound:
    payload = FactPropose(
        fact=Fact(
            statement="Water boils at 100 C", domain="physics", confidence=0.9, sources=["lab"]
        ),
        dmp_trace=DmpTrace(decision_id=str(uuid.uuid4()), steps=["measured"], evidence=["lab"]),
    )
    return FakeInbound("cip", "FACT_PROPOSE", sender, msg_id, FakeEnvelope(payload))


def confirm(msg_id: str, voter: str, claim: FakeInbound) -> FakeInbound:
    digest = claim_hash(claim.peer, claim.envelope.payload)
    payload = FactConfirm(
        fact_ref=claim.msg_id, claim_hash=digest, decision="confirm", confidence=0.9
    )
    return FakeInbound("cip", "FACT_CONFIRM", voter, msg_id, FakeEnvelope(payload))


def test_desk_accepts_with_two_trusted_confirmations_even_when_votes_come_first(
    tmp_path: Any,
) -> None:
    h = Harness(tmp_path)
    h.trusted(P2, P3)
    h.trust.record(P1, TrustEvent.HANDSHAKE_VERIFIED, "test")
    claim = str(uuid.uuid4())
    prop = proposal(claim)
    h.desk.on_message(confirm(str(uuid.uuid4()), P2, prop))  # overtakes its claim
    assert h.desk.waiting == 1
    h.desk.on_message(prop)
    assert h.desk.waiting == 0
    assert h.kx.claim(claim).state is ClaimState.PENDING
    h.desk.on_message(confirm(str(uuid.uuid4()), P3, prop))
    assert h.kx.claim(claim).state is ClaimState.ACCEPTED
    kinds = h.kinds()
    assert "knowledge.claim_pending" in kinds
    assert "knowledge.claim_accepted" in kinds
    pending = list(h.ring.events("knowledge.claim_pending"))[-1]
    assert (pending.attributes["has"], pending.attributes["needs"]) == (1, 2)
    assert isinstance(h.offered[0], InboundMessage)  # the agent sees the proposal
    accepted = [o for o in h.offered if isinstance(o, KnowledgeAccepted)]
    assert [a.claim_id for a in accepted] == [claim]
    assert sorted(accepted[0].confirmed_by) == sorted([P2, P3])
    # knowledge earns no trust: the sender's knowledge_verified changes nothing
    assert h.trust.state_of(P1) is TrustState.PROBING


def test_desk_vote_buffer_is_bounded_and_lip_is_reported(tmp_path: Any) -> None:
    h = Harness(tmp_path, vote_buffer=2)
    for _ in range(3):
        h.desk.on_message(confirm(str(uuid.uuid4()), P2, proposal(str(uuid.uuid4()))))
    assert h.desk.waiting == 2
    assert "agent.dropped" in h.kinds()
    h.desk.on_message(FakeInbound("lip", "LIP_EVIDENCE", P2, "x", FakeEnvelope(None)))
    rejected = h.ring.events("router.rejected")
    h.bus.flush(2.0)
    assert [e.attributes["reason"] for e in h.ring.events("router.rejected")] == ["no_runtime"]
    assert rejected is not None


def test_desk_reports_a_claim_once_per_news_not_again_for_a_vote_that_changes_nothing(
    tmp_path: Any,
) -> None:
    """One line per event: a vote that neither moves the claim nor adds a counted
    confirmation (an untrusted voter's, our own) is only ``knowledge.confirmation``; a
    counted one re-reports the pending claim with its new count."""
    h = Harness(tmp_path)
    h.trusted(P2)
    h.trust.record(P1, TrustEvent.HANDSHAKE_VERIFIED, "test")
    claim = str(uuid.uuid4())
    prop = proposal(claim)
    h.desk.on_message(prop)
    h.desk.on_message(confirm(str(uuid.uuid4()), P3, prop))  # P3 unknown: does not count
    h.bus.flush(2.0)
    pending = [e.attributes["has"] for e in h.ring.events("knowledge.claim_pending")]
    assert pending == [0]
    assert len(h.ring.events("knowledge.confirmation")) == 1
    h.desk.on_message(confirm(str(uuid.uuid4()), P2, prop))  # trusted: counts
    h.bus.flush(2.0)
    pending = [e.attributes["has"] for e in h.ring.events("knowledge.claim_pending")]
    assert pending == [0, 1]
