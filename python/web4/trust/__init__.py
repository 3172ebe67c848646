"""TrustFSM: per-peer trust for CIP, as one transition table, a pure evaluator, and a
SQLite persistence adapter with an append-only audit log.

The generic table mechanism is ``web4.fsm`` (shared with HCP social trust, LIP claim
states and the CIP handshake); ``TRUST_TABLE`` is CIP's instance; ``TrustBook`` persists
states and the audit log.
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

__all__ = [
    "TRUST_MIGRATIONS",
    "TRUST_TABLE",
    "AuditEntry",
    "Evaluation",
    "PeerRecord",
    "TrustBook",
    "TrustContext",
    "TrustEvent",
    "TrustOutcome",
    "TrustPolicy",
    "TrustState",
    "evaluate",
]
