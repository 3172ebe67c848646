"""The CIP TrustFSM: per-peer trust states, as one transition table, evaluated purely.

Theory of operation: each peer (keyed by its fingerprint) has a ``PeerRecord``: its state,
the time until which a handshake cannot promote it (cooldown), and the recent times of two
kinds of observation that only count when repeated (unverifiable claims, anomalies). The
runtime turns what it sees into ``TrustEvent``s; ``evaluate(record, event, now, policy)``
looks the event up in ``TRUST_TABLE`` and returns the new record and an explanation. It is
pure: the time is an argument, nothing is read or written.

A human operator can also blacklist any peer (``manual_blacklist``, recorded only through
``TrustBook.blacklist`` with the operator's name and a reason), as only a human can lift a
blacklist (``manual_override``).

Nothing a peer does itself promotes it: ``knowledge_verified`` is recorded but moves no
one, and ``trusted`` is reached only by ``operator_vouch`` (docs/CIP_SPEC.md section 7,
"Trust that cannot be bought"). ``PeerRecord.trusted_since`` remembers when a peer became
``trusted``, for the seniority rules the knowledge layer applies.

The table is the brief's six rows, plus the handshake's acceptance rules expressed as
rows (a bad signature demotes to ``untrusted``; a fingerprint/pubkey mismatch blacklists
from any state), plus "else" rows that only count an observation. Decay: observations
older than their window are forgotten, and cooldowns simply expire.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from web4.fsm import Rule, TransitionTable

__all__ = [
    "TRUST_TABLE",
    "Evaluation",
    "PeerRecord",
    "TrustContext",
    "TrustEvent",
    "TrustPolicy",
    "TrustState",
    "evaluate",
]


class TrustState(StrEnum):
    UNTRUSTED = "untrusted"
    PROBING = "probing"
    TRUSTED = "trusted"
    BLACKLISTED = "blacklisted"


class TrustEvent(StrEnum):
    HANDSHAKE_VERIFIED = "handshake_verified"
    KNOWLEDGE_VERIFIED = "knowledge_verified"
    CONFLICT = "conflict"
    UNVERIFIABLE_CLAIM = "unverifiable_claim"
    SEVERE_CONFLICT = "severe_conflict"
    MALICIOUS_EVIDENCE = "malicious_evidence"
    BAD_SIGNATURE = "bad_signature"
    FINGERPRINT_MISMATCH = "fingerprint_mismatch"
    ANOMALY = "anomaly"
    MANUAL_OVERRIDE = "manual_override"
    MANUAL_BLACKLIST = "manual_blacklist"
    OPERATOR_VOUCH = "operator_vouch"
    # Written only by store migrations that change the trust model (never evaluated).
    POLICY_CHANGE = "policy_change"


@dataclass(frozen=True, slots=True)
class TrustPolicy:
    """Escalation and decay parameters (seconds and counts). Defaults are normative."""

    demotion_cooldown_s: float = 300.0
    malicious_cooldown_s: float = 3600.0
    unverifiable_limit: int = 3
    unverifiable_window_s: float = 600.0
    anomaly_limit: int = 3
    anomaly_window_s: float = 300.0

    def __post_init__(self) -> None:
        for name in ("demotion_cooldown_s", "malicious_cooldown_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"TrustPolicy.{name} must be >= 0")
        for name in ("unverifiable_window_s", "anomaly_window_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"TrustPolicy.{name} must be > 0")
        if self.unverifiable_limit < 1 or self.anomaly_limit < 1:
            raise ValueError("TrustPolicy limits must be >= 1")


@dataclass(frozen=True, slots=True)
class PeerRecord:
    """Everything the FSM remembers about one peer."""

    peer: str
    state: TrustState = TrustState.UNTRUSTED
    cooldown_until: float = 0.0
    unverifiable: tuple[float, ...] = ()
    anomalies: tuple[float, ...] = ()
    # When the peer last became ``trusted`` (None while it is not): votes count only from
    # peers trusted before the claim arrived, and seniority decides who may demote whom.
    trusted_since: float | None = None


@dataclass(frozen=True, slots=True)
class TrustContext:
    """What guards and effects see: the record, the time and the policy."""

    record: PeerRecord
    now: float
    policy: TrustPolicy


@dataclass(frozen=True, slots=True)
class Evaluation:
    """The outcome of one event for one peer."""

    peer: str
    event: TrustEvent
    src: TrustState
    dst: TrustState
    note: str
    record: PeerRecord

    @property
    def changed(self) -> bool:
        return self.src != self.dst


# --- guards and effects ----------------------------------------------------------------


def _recent(times: tuple[float, ...], now: float, window: float) -> tuple[float, ...]:
    return tuple(t for t in times if t > now - window)


def _cooldown_over(c: TrustContext) -> bool:
    return c.now >= c.record.cooldown_until


def _unverifiable_limit(c: TrustContext) -> bool:
    p = c.policy
    return len(_recent(c.record.unverifiable, c.now, p.unverifiable_window_s)) + 1 >= (
        p.unverifiable_limit
    )


def _anomaly_limit(c: TrustContext) -> bool:
    p = c.policy
    return len(_recent(c.record.anomalies, c.now, p.anomaly_window_s)) + 1 >= p.anomaly_limit


def _fresh(c: TrustContext) -> TrustContext:
    return replace(c, record=replace(c.record, unverifiable=(), anomalies=()))


def _cooldown(c: TrustContext, seconds: float) -> TrustContext:
    until = max(c.record.cooldown_until, c.now + seconds)
    return replace(c, record=replace(c.record, unverifiable=(), anomalies=(), cooldown_until=until))


def _short_cooldown(c: TrustContext) -> TrustContext:
    return _cooldown(c, c.policy.demotion_cooldown_s)


def _long_cooldown(c: TrustContext) -> TrustContext:
    return _cooldown(c, c.policy.malicious_cooldown_s)


def _count_unverifiable(c: TrustContext) -> TrustContext:
    kept = _recent(c.record.unverifiable, c.now, c.policy.unverifiable_window_s)
    return replace(c, record=replace(c.record, unverifiable=(*kept, c.now)))


def _count_anomaly(c: TrustContext) -> TrustContext:
    kept = _recent(c.record.anomalies, c.now, c.policy.anomaly_window_s)
    return replace(c, record=replace(c.record, anomalies=(*kept, c.now)))


# --- the table -------------------------------------------------------------------------

U, P, T, B = TrustState.UNTRUSTED, TrustState.PROBING, TrustState.TRUSTED, TrustState.BLACKLISTED
Ev = TrustEvent
R = Rule[TrustState, TrustEvent, TrustContext]
_COOL = "cooldown over"
_UNV = "unverifiable_limit reached in unverifiable_window_s"
_ANOM = "anomaly_limit reached in anomaly_window_s"
_OP_DENY = "blacklisted by a human operator: long-term deny"

TRUST_TABLE: TransitionTable[TrustState, TrustEvent, TrustContext] = TransitionTable(
    "cip-trust",
    TrustState,
    TrustEvent,
    [
        # untrusted
        R(U, Ev.HANDSHAKE_VERIFIED, P, "valid handshake: minimal interaction only",
          _cooldown_over, _COOL, _fresh),
        R(U, Ev.HANDSHAKE_VERIFIED, U, "valid handshake ignored: cooldown active"),
        R(U, Ev.BAD_SIGNATURE, U, "bad signature: cooldown restarted", effect=_short_cooldown),
        R(U, Ev.MALICIOUS_EVIDENCE, U, "malicious evidence: long cooldown",
          effect=_long_cooldown),
        R(U, Ev.FINGERPRINT_MISMATCH, B, "fingerprint/pubkey mismatch: long-term deny"),
        R(U, Ev.MANUAL_BLACKLIST, B, _OP_DENY, effect=_fresh),
        # probing
        # Knowledge earns no trust: a claim's acceptance is evidence the proposer can farm
        # (repeat what trusted peers already believe), so only the operator promotes.
        R(P, Ev.KNOWLEDGE_VERIFIED, P,
          "verified knowledge recorded: earns no trust (only an operator anchor promotes)"),
        R(P, Ev.CONFLICT, U, "conflict: demoted, with a cooldown", effect=_short_cooldown),
        R(P, Ev.SEVERE_CONFLICT, U, "severe conflict: demoted, with a cooldown",
          effect=_short_cooldown),
        R(P, Ev.UNVERIFIABLE_CLAIM, U, "repeated unverifiable claims: demoted, with a cooldown",
          _unverifiable_limit, _UNV, _short_cooldown),
        R(P, Ev.UNVERIFIABLE_CLAIM, P, "unverifiable claim counted", effect=_count_unverifiable),
        R(P, Ev.BAD_SIGNATURE, U, "bad signature: demoted, with a cooldown",
          effect=_short_cooldown),
        R(P, Ev.MALICIOUS_EVIDENCE, U, "malicious evidence: demoted, with a long cooldown",
          effect=_long_cooldown),
        R(P, Ev.FINGERPRINT_MISMATCH, B, "fingerprint/pubkey mismatch: long-term deny"),
        R(P, Ev.MANUAL_BLACKLIST, B, _OP_DENY, effect=_fresh),
        R(P, Ev.OPERATOR_VOUCH, T, "operator trust anchor: vouched for after a valid handshake",
          effect=_fresh),
        # trusted
        R(T, Ev.SEVERE_CONFLICT, B, "severe conflict: long-term deny"),
        R(T, Ev.MALICIOUS_EVIDENCE, B, "malicious evidence: long-term deny"),
        R(T, Ev.BAD_SIGNATURE, B, "tampered signature from a trusted peer: long-term deny"),
        R(T, Ev.FINGERPRINT_MISMATCH, B, "fingerprint/pubkey mismatch: long-term deny"),
        R(T, Ev.MANUAL_BLACKLIST, B, _OP_DENY, effect=_fresh),
        R(T, Ev.ANOMALY, P, "temporary anomaly: re-verify", _anomaly_limit, _ANOM, _fresh),
        R(T, Ev.ANOMALY, T, "anomaly counted", effect=_count_anomaly),
        R(T, Ev.CONFLICT, P, "temporary anomaly (conflicts): re-verify",
          _anomaly_limit, _ANOM, _fresh),
        R(T, Ev.CONFLICT, T, "conflict counted as an anomaly", effect=_count_anomaly),
        R(T, Ev.UNVERIFIABLE_CLAIM, P, "temporary anomaly (unverifiable claims): re-verify",
          _anomaly_limit, _ANOM, _fresh),
        R(T, Ev.UNVERIFIABLE_CLAIM, T, "unverifiable claim counted as an anomaly",
          effect=_count_anomaly),
        # blacklisted
        R(B, Ev.MANUAL_OVERRIDE, P, "manual override by a human: re-verify", effect=_fresh),
    ],
    no_rule_note="no transition: event recorded only",
)  # fmt: skip


def evaluate(record: PeerRecord, event: TrustEvent, now: float, policy: TrustPolicy) -> Evaluation:
    """Apply one event to one peer's record at time ``now``. Pure.

    Raises ``ValueError`` when ``event`` is not a ``TrustEvent`` value.
    """
    step = TRUST_TABLE.step(record.state, TrustEvent(event), TrustContext(record, now, policy))
    since = step.ctx.record.trusted_since
    if step.dst is not TrustState.TRUSTED:
        since = None
    elif step.src is not TrustState.TRUSTED or since is None:
        since = now
    new_record = replace(step.ctx.record, state=step.dst, trusted_since=since)
    return Evaluation(record.peer, step.event, step.src, step.dst, step.note, new_record)
