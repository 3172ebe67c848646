"""Knowledge exchange: claims, confirmations, the anti-hallucination rules, causal memory
and DMP traces, persisted in the node's SQLite store.

The router builds the typed inputs (``Fact``, ``DmpTrace``, ``SharedDecision``: the CIP
wire Structs themselves, checked by ``check_fact``/``check_trace``/``check_decision``;
``CausalLink``, ``LocalState``) from decoded CIP payloads and calls
``KnowledgeExchange``; outcomes feed the ``TrustBook``.
"""

from web4.knowledge.exchange import Claim, ClaimOutcome, DecisionOutcome, KnowledgeExchange
from web4.knowledge.memory import KNOWLEDGE_MIGRATIONS, CausalMemory, MemoryNode, StoredTrace
from web4.knowledge.model import (
    CausalLink,
    ChallengeReason,
    ClaimState,
    DmpTrace,
    Fact,
    KnowledgePolicy,
    LinkRelation,
    LocalState,
    SharedDecision,
    check_decision,
    check_fact,
    check_trace,
)
from web4.knowledge.rules import (
    Assessment,
    DmpVerdict,
    MemoryConflict,
    Normalized,
    check_dmp,
    decide,
    normalize,
)

__all__ = [
    "KNOWLEDGE_MIGRATIONS",
    "Assessment",
    "CausalLink",
    "CausalMemory",
    "ChallengeReason",
    "Claim",
    "ClaimOutcome",
    "ClaimState",
    "DecisionOutcome",
    "DmpTrace",
    "DmpVerdict",
    "Fact",
    "KnowledgeExchange",
    "KnowledgePolicy",
    "LinkRelation",
    "LocalState",
    "MemoryConflict",
    "MemoryNode",
    "Normalized",
    "SharedDecision",
    "StoredTrace",
    "check_decision",
    "check_dmp",
    "check_fact",
    "check_trace",
    "decide",
    "normalize",
]
