"""Shared by the example agents' tests: a node's real store where the real knowledge
rules accept claims (``Mesh``), and the node's side of an ``AgentContext`` over it
(``Ports``), so a handler's queued actions can be checked without a running node."""

from __future__ import annotations

import hashlib
import itertools
import uuid

from web4.agent import AgentContext
from web4.clock import FakeClock
from web4.errors import UnknownClaimError
from web4.knowledge import (
    ClaimState,
    DmpTrace,
    Fact,
    KnowledgeExchange,
    LocalState,
    MemoryNode,
    StoredTrace,
)
from web4.knowledge.exchange import Claim
from web4.store import Store
from web4.trust import TrustBook, TrustEvent

OK = LocalState("engaged", 10)


class Mesh:
    """A node's store with two trusted peers who confirm what a third proposes."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.clock = FakeClock(1_800_000_000.0)
        self.trust = TrustBook(store, self.clock)
        self.kx = KnowledgeExchange(store, self.trust, self.clock)
        self._ids = itertools.count(1)
        self.alice, self.bob, self.carol = (self._peer(n, True) for n in ("a", "b", "c"))
        self.mallory = self._peer("m", False)

    def _peer(self, name: str, trusted: bool) -> str:
        pid = hashlib.sha256(name.encode()).hexdigest()
        self.trust.record(pid, TrustEvent.HANDSHAKE_VERIFIED, "setup")
        if trusted:
            self.trust.record(pid, TrustEvent.OPERATOR_VOUCH, "setup")
        return pid

    def _id(self) -> str:
        return str(uuid.UUID(int=next(self._ids), version=4))

    def claim(
        self,
        statement: str,
        *,
        sources: tuple[str, ...] = ("https://example.org/ref",),
        confirm: bool = True,
        domain: str = "science",
    ) -> str:
        self.clock.advance(60)
        fact = Fact(statement, domain, 0.9, list(sources), "")
        out = self.kx.propose(
            msg_id=self._id(),
            sender=self.alice,
            fact=fact,
            trace=DmpTrace(self._id(), ["read it"], evidence=list(sources)),
            local=OK,
        )
        if confirm:
            for voter in (self.bob, self.carol):
                self.kx.confirm(
                    msg_id=self._id(), sender=voter, fact_ref=out.claim_id, confidence=0.8, local=OK
                )
            assert self.kx.claim(out.claim_id).state is ClaimState.ACCEPTED
        return out.claim_id

    def trust_of(self, fp: str) -> str:
        return self.trust.state_of(fp).value


class Ports:
    """The node's side of an AgentContext, read from the real store."""

    def __init__(self, mesh: Mesh, me: str, peers: list[str]) -> None:
        self.mesh, self.fingerprint, self._peers = mesh, me, peers

    def new_msg_id(self) -> str:
        return str(uuid.uuid4())

    def now(self) -> float:
        return self.mesh.clock.now()

    def trust_of(self, peer: str) -> str:
        return self.mesh.trust_of(peer)

    def claim(self, claim_id: str) -> Claim | None:
        try:
            return self.mesh.kx.claim(claim_id)
        except UnknownClaimError:
            return None

    def claims(self, state: ClaimState | None, limit: int) -> list[Claim]:
        return self.mesh.kx.claims(state)[:limit]

    def memory(self, limit: int) -> list[MemoryNode]:
        return self.mesh.kx.memory.nodes()[:limit]

    def traces(self, decision_id: str | None, limit: int) -> list[StoredTrace]:
        return self.mesh.kx.memory.traces(decision_id)[:limit]

    def agent_peers(self) -> list[str]:
        return list(self._peers)


def ctx_for(mesh: Mesh, peers: list[str] | None = None, me: str = "e" * 64) -> AgentContext:
    """A context as the node gives a handler: our peers are bob, carol (trusted) and
    mallory (probing) unless told otherwise."""
    ports = Ports(mesh, me, [mesh.bob, mesh.carol, mesh.mallory] if peers is None else peers)
    return AgentContext(
        ports, mission="m", presence="engaged", lri=0, intent=None, peers={}, now=mesh.clock.now()
    )
