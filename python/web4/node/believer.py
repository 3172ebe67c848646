"""BeliefAgent: the node's default agent, written on the public Agent API (``web4.agent``).

Theory of operation: the agent holds ``beliefs``, statements it takes as true (from the
operator: ``web4 node --believe ...`` or the config). For every fact a peer proposes it
compares the statement with each belief by the knowledge layer's own normalisation
(``web4.knowledge.rules.normalize``):

* the same statement (same words after normalising)  -> ``ctx.confirm`` (``FACT_CONFIRM``);
* the same subject with the opposite polarity          -> ``ctx.challenge`` (``FACT_CHALLENGE``,
  reason ``conflict``);
* anything else                                        -> no action.

The node broadcasts votes to every ready peer, so the proposer and every other holder of
the claim count the same vote; each vote carries the claim hash of what the proposer
signed. A human's HCP message gets the node's planned answer (``web4.hcp.responder``:
a reply, a question, or a decision with rationale and alternatives) through ``ctx.reply``
/ ``ctx.ask`` / ``ctx.decide``, so the consent and pacing gate rules it. It uses nothing
but the public API: it is what ``docs/AGENTS.md`` shows an agent can do. Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Iterable

from web4.agent import Agent, AgentContext, AgentOptions, FactProposed, HumanMessage
from web4.errors import ConfigError
from web4.knowledge.rules import contradicts, normalize

__all__ = ["MAX_BELIEFS", "BeliefAgent", "make"]

MAX_BELIEFS = 256


class BeliefAgent(Agent):
    """Confirms facts it believes, challenges facts that contradict a belief."""

    name = "belief"
    handler_timeout = 2.0

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

    def on_fact_proposed(self, ctx: AgentContext, proposal: FactProposed) -> None:
        verdict, belief = self.judge(proposal.statement)
        notes = f"belief: {belief}"[:400]
        if verdict == "confirm":
            ctx.confirm(proposal, confidence=self.confidence, notes=notes)
        elif verdict == "challenge":
            ctx.challenge(proposal, reason="conflict", notes=notes)

    def on_human(self, ctx: AgentContext, message: HumanMessage) -> None:
        ctx.usual_answer(message)


def make(options: AgentOptions) -> BeliefAgent:
    """The factory ``web4 node`` uses by default (``--agent belief``): the operator's
    mission and ``--believe`` statements. Raises ``ConfigError``."""
    confidence = options.options.get("confidence", "0.9")
    try:
        value = float(confidence)
    except ValueError:
        raise ConfigError(f"confidence {confidence!r} is not a number") from None
    return BeliefAgent(options.mission, options.beliefs, value)
