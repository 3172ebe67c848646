"""Scripted fact proposals (``web4 node --propose "statement|domain|confidence"``).

Theory of operation: an operator (or the demo) gives the node facts to put to its peers.
``Proposal.parse`` checks the text form up front, so a typo is a one-line error before the
node starts. Once every peer it dials has finished the CIP handshake (every ``--peer``;
with none but a ``--bootstrap``, ``--min-peers`` discovered ones), or, after the
handshake timeout, at least one, ``propose_all`` puts each fact, ``gap`` seconds apart:
it records the claim locally first (the proposer's own copy, judged by the same rules: it
stays pending until trusted peers confirm it), then broadcasts one ``FACT_PROPOSE`` with
the same ``msg_id`` to every ready peer, so every confirmation's ``fact_ref`` names the
same claim. The DMP trace says where the fact came from (the operator), and names that
source as its evidence, which is what the knowledge rules require of a consistent trace.

Idempotent by content: a fact this node already proposed (its own claim in the store with
the same statement, domain, confidence and sources) is not proposed again, so restarting
with the same ``--propose`` (or giving it twice) adds no claim; the node says so
(``knowledge.proposal_skipped``, with the claim's id and state). Content, not the claim
hash: each proposal's DMP trace has a fresh ``decision_id``, so two proposals of one fact
never share a hash.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Sized
from dataclasses import dataclass
from typing import Any, Protocol

from web4.cip import new_msg_id
from web4.clock import Rng
from web4.errors import ConfigError, KnowledgeError, MessageBuildError
from web4.identity import Identity
from web4.knowledge import Claim, DmpTrace, Fact
from web4.knowledge.model import to_json
from web4.node.desk import KnowledgeDesk
from web4.observability import EventBus

__all__ = ["Proposal", "ProposalHost", "already_proposed", "proposal_quorum", "propose_all"]

EXAMPLE = "'Water boils at 100 degrees Celsius at sea level|physics|0.9'"

Content = tuple[str, str, float, tuple[str, ...]]


def _content(fact: Fact) -> Content:
    return (fact.statement, fact.domain, fact.confidence, tuple(fact.sources))


@dataclass(frozen=True)
class Proposal:
    statement: str
    domain: str = "general"
    confidence: float = 0.9

    @classmethod
    def parse(cls, text: str) -> Proposal:
        """``"statement|domain|confidence"`` (domain and confidence optional).
        Raises ``ConfigError`` on an empty statement or a confidence outside 0..1."""
        parts = [p.strip() for p in text.split("|")]
        if len(parts) > 3 or not parts[0]:
            raise ConfigError(f"{text!r} is not 'statement|domain|confidence', e.g. {EXAMPLE}")
        domain = parts[1] if len(parts) > 1 and parts[1] else "general"
        try:
            confidence = float(parts[2]) if len(parts) > 2 and parts[2] else 0.9
        except ValueError:
            raise ConfigError(
                f"{text!r}: confidence {parts[2]!r} is not a number 0..1, e.g. {EXAMPLE}"
            ) from None
        if not 0.0 <= confidence <= 1.0:
            raise ConfigError(f"{text!r}: confidence {confidence} is not within 0..1")
        if len(parts[0]) > 4096 or len(domain) > 256:
            raise ConfigError("a proposed statement is at most 4096, its domain 256 characters")
        return cls(parts[0], domain, confidence)

    def fact_and_trace(self, source: str) -> tuple[Fact, DmpTrace]:
        fact = Fact(self.statement, self.domain, self.confidence, [source])
        trace = DmpTrace(
            str(uuid.uuid4()),
            steps=["the operator asked this node to propose the fact"],
            evidence=[source],
        )
        return fact, trace


class _Config(Protocol):
    """The part of ``NodeConfig`` proposing reads (``NodeConfig`` imports this module)."""

    @property
    def peers(self) -> tuple[str, ...]: ...

    @property
    def bootstrap(self) -> tuple[str, ...]: ...

    @property
    def min_peers(self) -> int: ...

    @property
    def handshake_timeout(self) -> float: ...


class ProposalHost(Protocol):
    """What ``propose_all`` needs from the node."""

    @property
    def identity(self) -> Identity: ...

    @property
    def fingerprint(self) -> str: ...

    @property
    def config(self) -> _Config: ...

    @property
    def rng(self) -> Rng: ...

    @property
    def desk(self) -> KnowledgeDesk: ...

    @property
    def bus(self) -> EventBus: ...

    def running(self) -> bool: ...

    def ready_peers(self) -> Sized: ...

    async def wait_for_peer(self, timeout: float | None) -> None:
        """Return when a CIP handshake ends well, a stop is asked or ``timeout`` passes."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    async def send(
        self, msg_type: str, payload: Any, *, peer: str | None = None, msg_id: str | None = None
    ) -> str: ...


def already_proposed(
    claims: Iterable[Claim], me: str, proposal: Proposal, source: str
) -> Claim | None:
    """Our own claim with this proposal's content, if ``claims`` holds one. Pure."""
    want = _content(proposal.fact_and_trace(source)[0])
    return next((c for c in claims if c.sender == me and _content(c.fact) == want), None)


def proposal_quorum(config: _Config) -> int:
    """How many ready peers ``propose_all`` waits for (until the handshake timeout): every
    ``--peer``; with none but a ``--bootstrap``, ``--min-peers`` (the peers it dials are the
    ones it discovers: a claim counts only the votes of peers trusted before it was made,
    so proposing to the first one met would leave it pending); else one (peers that dial
    us). Pure."""
    if config.peers:
        return len(config.peers)
    return max(1, config.min_peers) if config.bootstrap else 1


async def propose_all(node: ProposalHost, proposals: tuple[Proposal, ...], gap: float = 1.0) -> int:
    """Wait until ``proposal_quorum`` peers are ready (or, after ``handshake_timeout``,
    at least one peer is), then propose each fact this node has not proposed before;
    returns how many were sent."""
    source = f"operator of {node.identity.agent_id}"
    todo: list[Proposal] = []
    for proposal in dict.fromkeys(proposals):  # one fact given twice is proposed once
        known = already_proposed(node.desk.kx.claims(), node.fingerprint, proposal, source)
        if known is None:
            todo.append(proposal)
        else:
            node.bus.emit(
                "knowledge.proposal_skipped",
                claim_id=known.msg_id,
                reason="this node proposed the same fact before",
                state=known.state.value,
            )
    if not todo:
        return 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + node.config.handshake_timeout
    want = proposal_quorum(node.config)
    while node.running():
        ready = len(node.ready_peers())
        if ready >= want or (ready and loop.time() >= deadline):
            break
        # no peer yet: wait for one, however long; some: for more, until the deadline
        await node.wait_for_peer(max(0.0, deadline - loop.time()) if ready else None)
    sent = 0
    for i, proposal in enumerate(todo):
        if not node.running():
            break
        if i:
            await node.sleep(gap)
        fact, trace = proposal.fact_and_trace(source)
        msg_id = new_msg_id(node.rng)
        try:
            node.desk.propose(msg_id, node.fingerprint, fact, trace)
            payload = {"fact": to_json(fact), "dmp_trace": to_json(trace), "causal_links": []}
            await node.send("FACT_PROPOSE", payload, msg_id=msg_id)
        except (KnowledgeError, MessageBuildError) as e:
            node.bus.emit("error", error=type(e).__name__, detail=str(e)[:200], source="propose")
            continue
        sent += 1
    return sent
