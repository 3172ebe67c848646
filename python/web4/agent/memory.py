"""Memory: where the agent loop records decisions (DMP traces) and accepted knowledge.

Theory of operation: the loop depends only on the small ``Memory`` protocol. The node
wires it to ``web4.knowledge`` (causal memory and DMP storage in SQLite); tests and demos
use ``InMemoryMemory``. Methods may be plain or ``async``; the loop awaits the result when
it is awaitable, under its hook deadline. Only *accepted* knowledge may be recorded
(brief §2, anti-hallucination): the loop calls ``record_accepted`` only for
``KnowledgeAccepted`` items, which the knowledge layer emits after its acceptance rules.

``InMemoryMemory`` is bounded (oldest entries are evicted, and counted) and links each
accepted claim to the decisions that cited it, the minimal causal link the node's real
store also keeps.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable
from typing import Protocol

from web4.agent.types import DecisionRecord, KnowledgeAccepted
from web4.errors import ConfigError

__all__ = ["InMemoryMemory", "Memory"]


class Memory(Protocol):
    """The causal-memory port of the agent loop."""

    def record_decision(self, trace: DecisionRecord) -> Awaitable[None] | None:
        """Store a decision's DMP trace."""
        ...

    def record_accepted(self, claim: KnowledgeAccepted) -> Awaitable[None] | None:
        """Store an accepted claim (and its link to the decision that accepted it)."""
        ...


class InMemoryMemory:
    """A bounded in-process memory, for tests and the demo."""

    def __init__(self, capacity: int = 10_000) -> None:
        if capacity < 1:
            raise ConfigError("memory capacity must be at least 1")
        self.capacity = capacity
        self._decisions: OrderedDict[str, DecisionRecord] = OrderedDict()
        self._claims: OrderedDict[str, KnowledgeAccepted] = OrderedDict()
        self.evicted = 0

    def _bound(
        self, store: OrderedDict[str, DecisionRecord] | OrderedDict[str, KnowledgeAccepted]
    ) -> None:
        while len(store) > self.capacity:
            store.popitem(last=False)
            self.evicted += 1

    def record_decision(self, trace: DecisionRecord) -> None:
        self._decisions[trace.decision_id] = trace
        self._bound(self._decisions)

    def record_accepted(self, claim: KnowledgeAccepted) -> None:
        self._claims[claim.claim_id] = claim
        self._bound(self._claims)

    @property
    def decisions(self) -> list[DecisionRecord]:
        return list(self._decisions.values())

    @property
    def accepted(self) -> list[KnowledgeAccepted]:
        return list(self._claims.values())

    def decision(self, decision_id: str) -> DecisionRecord | None:
        return self._decisions.get(decision_id)

    def links(self, claim_id: str) -> DecisionRecord | None:
        """The decision an accepted claim is linked to, when it is still held."""
        claim = self._claims.get(claim_id)
        if claim is None or claim.decision_id is None:
            return None
        return self._decisions.get(claim.decision_id)
