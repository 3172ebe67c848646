"""The bridge from the LIP queue to the agent's knowledge: conflicts in, accepted claims out.

Theory of operation: ``KnowledgeBridge`` implements the queue's two ports over
``web4.knowledge`` in the same store (and so inside the queue's transaction):

- ``conflicts_with(statement)``: the node ids of causal-memory claims that contradict the
  statement, by the knowledge subsystem's own normalisation (``rules.normalize``: same
  subject, opposite polarity). Web claims carry no domain, so every domain is searched.
- ``record_claim(claim)``: an accepted LIP claim becomes causal-memory node
  ``lip:<claim_id>`` through ``CausalMemory.admit_external`` (the knowledge subsystem's
  public call for a claim accepted by another subsystem's rules): a ``knowledge_claims``
  row in state ``accepted`` (sender: this agent's fingerprint, domain ``web``, the source
  URI as its source, provenance in its context) and the causal-memory node, with a DMP
  trace whose steps give the acceptance reason and whose evidence lists the URI, the
  content hash and the corroborators. The accepted-only trigger still guards the insert.
"""

from __future__ import annotations

import uuid

from web4.knowledge import CausalMemory, DmpTrace, Fact
from web4.knowledge.rules import contradicts, normalize
from web4.lip.learn import CONFIDENCE
from web4.lip.queue import AcceptedClaim
from web4.store import Store

__all__ = ["WEB_DOMAIN", "KnowledgeBridge", "node_id_of"]

WEB_DOMAIN = "web"


def node_id_of(claim_id: str) -> str:
    """The causal-memory node id of an accepted LIP claim."""
    return f"lip:{claim_id}"


class KnowledgeBridge:
    """``LocalKnowledge`` and ``AcceptedClaimSink`` ports of ``ClaimQueue`` over
    ``web4.knowledge`` (see the module docstring)."""

    def __init__(self, store: Store, *, agent_fingerprint: str) -> None:
        """Applies the knowledge migrations. Raises ``StoreError``."""
        self._store = store
        self._me = agent_fingerprint
        self.memory = CausalMemory(store)

    def conflicts_with(self, statement: str) -> list[str]:
        """Node ids of causal-memory claims that contradict ``statement``.
        Raises ``StoreError``."""
        mine = normalize(statement)
        return [
            node.node_id
            for node in self.memory.nodes()
            if contradicts(mine, normalize(node.fact.statement))
        ]

    def record_claim(self, claim: AcceptedClaim) -> None:
        """Admit ``claim`` into causal memory. Raises ``StoreError`` and
        ``KnowledgeError`` (a statement the knowledge model refuses)."""
        node_id = node_id_of(claim.claim_id)
        fact = Fact(
            statement=claim.statement,
            domain=WEB_DOMAIN,
            confidence=CONFIDENCE[claim.tier] if claim.tier != "blocked" else 0.0,
            sources=[claim.final_uri],
            context=f"LIP evidence retrieved {claim.retrieved_at}, sha256 {claim.sha256}",
        )
        trace = DmpTrace(
            decision_id=str(uuid.uuid5(uuid.NAMESPACE_URL, node_id)),
            steps=[f"LIP acceptance: {claim.reason}"],
            evidence=[claim.final_uri, f"sha256:{claim.sha256}", *claim.corroborators],
        )
        self.memory.admit_external(
            node_id, self._me, fact, trace, (), f"LIP: {claim.reason}", claim.accepted_at
        )
