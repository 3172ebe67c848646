"""TrustFSM: per-peer trust for CIP, as one transition table, a pure evaluator, and a
SQLite persistence adapter with an append-only audit log.

``web4.trust.table`` is the generic table mechanism (reused by HCP's social-trust FSM);
``TRUST_TABLE`` is CIP's instance; ``TrustBook`` persists states and the audit log.
"""

from web4.trust._state import (
    TRUST_TABLE,
    Evaluation,
    PeerRecord,
    TrustContext,
    TrustEvent,
    TrustPolicy,
    TrustState,
    evaluate,
)
from web4.trust.book import TRUST_MIGRATIONS, AuditEntry, TrustBook, TrustOutcome
from web4.trust.table import Rule, Step, TransitionTable

__all__ = [
    "TRUST_MIGRATIONS",
    "TRUST_TABLE",
    "AuditEntry",
    "Evaluation",
    "PeerRecord",
    "Rule",
    "Step",
    "TransitionTable",
    "TrustBook",
    "TrustContext",
    "TrustEvent",
    "TrustOutcome",
    "TrustPolicy",
    "TrustState",
    "evaluate",
]
