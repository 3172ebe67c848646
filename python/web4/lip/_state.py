"""The LIP claim life cycle: one transition table and the pure rule that picks the event.

Theory of operation: a claim is ``pending`` when it enters the deferred-acceptance
queue. ``CLAIM_TABLE`` holds exactly the four transitions of the protocol brief:

    pending  --verified-->  accepted
    pending  --conflict-->  disputed
    disputed --resolved-->  accepted
    pending  --low_trust--> rejected

``accepted`` and ``rejected`` are final. A dispute resolved *against* the claim leaves it
``disputed`` for good (it never reaches causal memory; the outcome is recorded).
``next_event`` is the whole acceptance rule, pure (everything it needs is an argument),
evaluated in this order for a pending claim:

1. source tier ``blocked``                                  -> low_trust
2. a conflict with local knowledge, or a rejection by a trusted peer -> conflict
3. the agent is overloaded                                  -> nothing (the claim waits)
4. tier >= ``medium``, or >= 2 distinct trusted peers confirmed -> verified
5. the corroboration deadline has passed                    -> low_trust
6. otherwise                                                -> nothing (keep waiting)

A disputed claim whose dispute was resolved in its favour moves on ``resolved``, unless
the agent is overloaded (it waits, like a pending claim).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from web4.fsm import Rule, TransitionTable
from web4.lip.messages import Tier
from web4.lip.tiers import tier_rank

__all__ = [
    "CLAIM_TABLE",
    "REQUIRED_CONFIRMATIONS",
    "ClaimEvent",
    "Facts",
    "LearnedClaimState",
    "next_event",
]

REQUIRED_CONFIRMATIONS = 2


class LearnedClaimState(StrEnum):
    """A learned (LIP) claim's state in the deferred-acceptance queue. Not
    ``web4.knowledge.ClaimState`` (a CIP claim under vote, CIP_SPEC section 8): there
    ``disputed`` is final and ``deferred`` exists; here a dispute can be resolved."""

    PENDING = "pending"
    DISPUTED = "disputed"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


class ClaimEvent(StrEnum):
    VERIFIED = "verified"
    CONFLICT = "conflict"
    RESOLVED = "resolved"
    LOW_TRUST = "low_trust"


_S, _E = LearnedClaimState, ClaimEvent
_R = Rule[LearnedClaimState, ClaimEvent, None]

CLAIM_TABLE: TransitionTable[LearnedClaimState, ClaimEvent, None] = TransitionTable(
    "lip-claims",
    list(LearnedClaimState),
    list(ClaimEvent),
    [
        _R(_S.PENDING, _E.VERIFIED, _S.ACCEPTED, "verified: may enter causal memory"),
        _R(_S.PENDING, _E.CONFLICT, _S.DISPUTED, "conflict: held until resolved"),
        _R(_S.DISPUTED, _E.RESOLVED, _S.ACCEPTED, "dispute resolved in the claim's favour"),
        _R(_S.PENDING, _E.LOW_TRUST, _S.REJECTED, "low trust: never enters causal memory"),
    ],
)


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the acceptance rule looks at, for one claim, at one moment."""

    state: LearnedClaimState
    tier: Tier
    trusted_confirmations: int
    trusted_rejections: int
    local_conflicts: int
    overloaded: bool
    now: float
    deadline: float
    resolved_in_favour: bool | None  # None: not resolved (yet)


def next_event(f: Facts) -> tuple[ClaimEvent, str] | None:
    """The event the rule fires now, with its reason; None when the claim must wait."""
    if f.state == LearnedClaimState.DISPUTED:
        if f.resolved_in_favour and not f.overloaded:
            return ClaimEvent.RESOLVED, "dispute resolved in the claim's favour"
        return None
    if f.state != LearnedClaimState.PENDING:
        return None
    if f.tier == "blocked":
        return ClaimEvent.LOW_TRUST, "source tier is blocked"
    if f.local_conflicts:
        return ClaimEvent.CONFLICT, f"conflicts with {f.local_conflicts} local knowledge item(s)"
    if f.trusted_rejections:
        return ClaimEvent.CONFLICT, f"rejected by {f.trusted_rejections} trusted peer(s)"
    if f.overloaded:
        return None
    if tier_rank(f.tier) >= tier_rank("medium"):
        return ClaimEvent.VERIFIED, f"source tier is {f.tier}"
    if f.trusted_confirmations >= REQUIRED_CONFIRMATIONS:
        return ClaimEvent.VERIFIED, f"confirmed by {f.trusted_confirmations} trusted peers"
    if f.now >= f.deadline:
        return (
            ClaimEvent.LOW_TRUST,
            f"source tier {f.tier} and {f.trusted_confirmations} trusted confirmation(s) "
            "when the corroboration window closed",
        )
    return None
