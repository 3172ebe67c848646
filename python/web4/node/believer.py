"""BeliefAgent: the node's default agent, which judges peers' facts by what it believes.

Theory of operation: the agent holds ``beliefs``, statements it takes as true (from the
operator: ``web4 node --believe ...`` or the config). For every ``FACT_PROPOSE`` the agent
loop hands it, ``gather_context`` compares the proposed statement with each belief by
the knowledge layer's own normalisation (``web4.knowledge.rules.normalize``):

* the same statement (same words after normalising)  -> confirm it (``FACT_CONFIRM``);
* the same subject with the opposite polarity          -> challenge it (``FACT_CHALLENGE``,
  reason ``conflict``);
* anything else                                        -> no decision (ignored).

The reply is an ``Outbound`` with ``peer=None``: the node broadcasts votes to every ready
peer, so the proposer and every other holder of the claim count the same vote. An
accepted claim (``KnowledgeAccepted``) becomes a "remember" decision, so it reaches the
DMP trace and the causal-memory port. Pure: no IO, no clock; sync hooks, all quick.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from web4.agent.hooks import trace_of
from web4.agent.types import (
    ActionResult,
    Context,
    Decision,
    DMPTrace,
    InboundItem,
    InboundMessage,
    Intent,
    KnowledgeAccepted,
    Outbound,
)
from web4.cip.claims import claim_hash
from web4.errors import ConfigError
from web4.knowledge.rules import contradicts, normalize

__all__ = ["BeliefAgent"]

MAX_BELIEFS = 256


class BeliefAgent:
    """Confirms facts it believes, challenges facts that contradict a belief."""

    def __init__(self, mission: str, beliefs: Iterable[str] = (), confidence: float = 0.9) -> None:
        """Raises ``ConfigError`` for an empty mission, a blank belief or too many."""
        if not mission.strip():
            raise ConfigError("an agent declares a non-empty mission")
        self.mission = mission
        self.beliefs = tuple(b.strip() for b in beliefs)
        if any(not b for b in self.beliefs) or len(self.beliefs) > MAX_BELIEFS:
            raise ConfigError(f"beliefs are 1..{MAX_BELIEFS} non-blank statements")
        if not 0.0 <= confidence <= 1.0:
            raise ConfigError("confidence is within 0..1")
        self.confidence = confidence
        self._norm = [(b, normalize(b)) for b in self.beliefs]

    def judge(self, statement: str) -> tuple[str, str | None]:
        """``("confirm"|"challenge"|"unknown", the belief that decided it)``."""
        said = normalize(statement)
        for text, belief in self._norm:
            if belief.text == said.text:
                return "confirm", text
        for text, belief in self._norm:
            if contradicts(belief, said):
                return "challenge", text
        return "unknown", None

    def gather_context(self, item: InboundItem, base: Context) -> Context:
        facts: dict[str, Any] = {}
        if isinstance(item, InboundMessage) and item.type == "FACT_PROPOSE":
            fact = item.payload.get("fact")
            statement = fact.get("statement") if isinstance(fact, Mapping) else None
            if isinstance(statement, str):
                verdict, belief = self.judge(statement)
                facts.update(statement=statement, verdict=verdict, belief=belief)
        return replace(base, facts=MappingProxyType(facts))

    def decide(self, context: Context) -> Decision | None:
        item = context.item
        if isinstance(item, KnowledgeAccepted):
            return Decision(
                choice=f"remember accepted knowledge claim: {item.statement[:120]}",
                steps=(f"claim {item.claim_id} accepted by the knowledge rules",),
                counterfactuals=("keep it out of memory",),
                evidence=(f"accepted claim {item.claim_id}",),
            )
        verdict = context.facts.get("verdict")
        if not isinstance(item, InboundMessage) or verdict not in ("confirm", "challenge"):
            return None
        statement = str(context.facts.get("statement"))[:120]
        belief = str(context.facts.get("belief"))
        evidence = (f"FACT_PROPOSE {item.msg_id} from {item.peer}", f"belief: {belief}")
        if verdict == "confirm":
            return Decision(
                choice=f"confirm knowledge claim that matches a belief: {statement}",
                steps=("the statement equals a belief after normalisation",),
                counterfactuals=("ignore the claim", "challenge the claim"),
                evidence=evidence,
            )
        return Decision(
            choice=f"challenge knowledge claim that conflicts with a belief: {statement}",
            steps=("same subject as a belief, opposite polarity",),
            counterfactuals=("ignore the claim", "confirm the claim"),
            evidence=evidence,
        )

    def act(self, decision: Decision, context: Context) -> ActionResult:
        item = context.item
        if not isinstance(item, InboundMessage) or item.msg_id is None:
            return ActionResult(outcome="remembered")
        verdict = context.facts.get("verdict")
        notes = f"belief: {context.facts.get('belief')}"[:400]
        # the vote names the claim by its msg_id and by the hash of what its proposer
        # signed, so it cannot be applied to another statement under the same msg_id
        digest = claim_hash(item.peer, item.payload)
        if verdict == "confirm":
            payload: dict[str, Any] = {
                "fact_ref": item.msg_id,
                "claim_hash": digest,
                "decision": "confirm",
                "confidence": self.confidence,
                "notes": notes,
            }
            return ActionResult("confirmed", (Outbound("cip", "FACT_CONFIRM", payload),))
        payload = {
            "fact_ref": item.msg_id,
            "claim_hash": digest,
            "reason": "conflict",
            "notes": notes,
        }
        return ActionResult("challenged", (Outbound("cip", "FACT_CHALLENGE", payload),))

    def record(self, decision: Decision, result: ActionResult, context: Context) -> DMPTrace:
        return trace_of(decision, result, context)

    def update_state(
        self, decision: Decision, result: ActionResult, context: Context
    ) -> Intent | None:
        return None
