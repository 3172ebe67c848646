"""Knowledge exchange data: facts, DMP traces, causal links, claims and outcomes.

Theory of operation: these are frozen values with no behaviour beyond validating
themselves. ``Fact``, ``DmpTrace`` and ``SharedDecision`` are the CIP wire Structs
themselves (``web4.cip.messages``, one type per concept); what the knowledge rules demand
beyond the wire schema (no blank statement, domain or choice; a canonical UUID; lists,
not tuples) is ``check_fact``, ``check_trace`` and ``check_decision``, which every entry
point of ``KnowledgeExchange`` and ``CausalMemory`` runs (the router's builders too), so
a peer's bad input raises ``KnowledgeError`` where it did before. ``CausalLink`` and the
settings below are the knowledge layer's own and check themselves when constructed;
local settings that are wrong (``LocalState``, ``KnowledgePolicy``) raise
``ConfigError``.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import msgspec

from web4.cip.messages import DmpTrace, Fact, SharedDecision
from web4.errors import ConfigError, KnowledgeError

__all__ = [
    "MAX_ITEMS",
    "MAX_SOURCES",
    "MAX_TEXT",
    "CausalLink",
    "ChallengeReason",
    "ClaimState",
    "DmpTrace",
    "Fact",
    "KnowledgePolicy",
    "LinkRelation",
    "LocalState",
    "SharedDecision",
    "check_decision",
    "check_fact",
    "check_text",
    "check_texts",
    "check_trace",
    "check_unit",
]

MAX_TEXT = 4096
MAX_ITEMS = 256  # a locally built trace may hold more than the wire's 64 (never sent so)
MAX_SOURCES = 64
MAX_LINKS = 64
PRESENCE = ("focused", "engaged", "diffuse", "overloaded")


class ClaimState(StrEnum):
    PENDING = "pending"
    DEFERRED = "deferred"
    ACCEPTED = "accepted"
    DISPUTED = "disputed"
    REJECTED = "rejected"


TERMINAL = frozenset({ClaimState.ACCEPTED, ClaimState.DISPUTED, ClaimState.REJECTED})


class ChallengeReason(StrEnum):
    CONFLICT = "conflict"
    INSUFFICIENT_EVIDENCE = "insufficient_evidence"
    CANNOT_VERIFY = "cannot_verify"


class LinkRelation(StrEnum):
    RELATES_TO = "relates_to"
    SUPPORTS = "supports"
    DERIVES_FROM = "derives_from"
    REFINES = "refines"
    CONTRADICTS = "contradicts"


def check_text(name: str, value: object, *, empty: bool = False, limit: int = MAX_TEXT) -> str:
    if not isinstance(value, str):
        raise KnowledgeError(f"{name} must be a string")
    if (not empty and not value.strip()) or len(value) > limit:
        raise KnowledgeError(f"{name} must be {0 if empty else 1}..{limit} characters")
    return value


def check_texts(name: str, values: object, limit: int) -> tuple[str, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, list | tuple):
        raise KnowledgeError(f"{name} must be a list of strings")
    if len(values) > limit:
        raise KnowledgeError(f"{name} has more than {limit} items")
    return tuple(check_text(f"{name}[]", v, empty=True) for v in values)


def check_unit(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise KnowledgeError(f"{name} must be a number")
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise KnowledgeError(f"{name} must be within 0..1")
    return float(value)


def check_fact(fact: Fact) -> Fact:
    """``fact`` as the knowledge rules take it (confidence a float, sources a list).
    Raises ``KnowledgeError`` on a broken limit, e.g. a blank statement the wire schema
    admits."""
    check_text("fact.statement", fact.statement)
    check_text("fact.domain", fact.domain, limit=256)
    confidence = check_unit("fact.confidence", fact.confidence)
    sources = check_texts("fact.sources", fact.sources, MAX_SOURCES)
    check_text("fact.context", fact.context, empty=True)
    return msgspec.structs.replace(fact, confidence=confidence, sources=list(sources))


def check_trace(trace: DmpTrace) -> DmpTrace:
    """``trace`` with its ``decision_id`` in canonical lowercase UUID form and its lists
    as lists. Raises ``KnowledgeError`` on a malformed id or a broken limit."""
    try:
        canonical = str(uuid.UUID(check_text("dmp_trace.decision_id", trace.decision_id)))
    except ValueError as exc:
        raise KnowledgeError("dmp_trace.decision_id must be a UUID") from exc
    lists = {
        name: list(check_texts(f"dmp_trace.{name}", getattr(trace, name), MAX_ITEMS))
        for name in ("steps", "counterfactuals", "evidence")
    }
    return msgspec.structs.replace(trace, decision_id=canonical, **lists)


def check_decision(decision: SharedDecision) -> SharedDecision:
    """``decision`` unchanged. Raises ``KnowledgeError`` on a broken limit."""
    check_text("decision.choice", decision.choice, limit=256)
    check_text("decision.outcome", decision.outcome, empty=True)
    check_text("decision.context", decision.context, empty=True)
    return decision


@dataclass(frozen=True, slots=True)
class CausalLink:
    """A link from a claim to another node (claim ``msg_id`` or decision id)."""

    target: str
    relation: str = LinkRelation.RELATES_TO

    def __post_init__(self) -> None:
        check_text("causal_link.target", self.target, limit=128)
        try:
            object.__setattr__(self, "relation", LinkRelation(self.relation))
        except ValueError as exc:
            raise KnowledgeError(f"unknown causal link relation {self.relation!r}") from exc

    @classmethod
    def parse(cls, raw: object) -> CausalLink:
        """From a payload item: a bare target string, or {"target", "relation"}.
        Raises ``KnowledgeError`` on any other shape."""
        if isinstance(raw, str):
            return cls(raw)
        if isinstance(raw, Mapping) and set(raw) <= {"target", "relation"} and "target" in raw:
            return cls(raw["target"], raw.get("relation", LinkRelation.RELATES_TO))
        raise KnowledgeError("a causal link is a string or {target, relation}")

    @classmethod
    def parse_all(cls, raw: object) -> tuple[CausalLink, ...]:
        """A payload's ``causal_links`` list. Raises ``KnowledgeError`` on a bad shape."""
        if not isinstance(raw, list | tuple) or len(raw) > MAX_LINKS:
            raise KnowledgeError(f"causal_links must be a list of at most {MAX_LINKS}")
        return tuple(cls.parse(item) for item in raw)


@dataclass(frozen=True, slots=True)
class KnowledgePolicy:
    """Acceptance parameters. Raises ``ConfigError`` on nonsense values."""

    min_confirmations: int = 2
    lri_threshold: int = 80
    # Per-sender bounds on stored claims that are not accepted (pending, deferred,
    # disputed, rejected), and how long such a claim is kept: a flood costs the flooder
    # its own quota, never the node's disk.
    max_open_claims_per_sender: int = 64
    max_open_bytes_per_sender: int = 2 * 1024 * 1024
    # The same, over every sender that is not trusted together: a thousand fresh keys
    # share one pool, so minting keys cannot multiply the disk a node gives them.
    max_open_bytes_untrusted: int = 64 * 1024 * 1024
    claim_ttl_s: float = 86_400.0
    # A sender with no trust record (a key met only through gossip, CIP_SPEC §11) is
    # judged like a probing peer, not rejected as untrusted: one handshake would make it
    # probing anyway, and only trusted voters count. A node with gossip sets it.
    unmet_as_probing: bool = False

    def __post_init__(self) -> None:
        if self.min_confirmations < 2:
            raise ConfigError("min_confirmations must be at least 2 (normative)")
        if (
            self.max_open_claims_per_sender < 1
            or self.max_open_bytes_per_sender < 1
            or self.max_open_bytes_untrusted < 1
        ):
            raise ConfigError("the per-sender claim quotas must be at least 1")
        if not self.claim_ttl_s > 0:
            raise ConfigError("claim_ttl_s must be > 0")
        if not 0 <= self.lri_threshold <= 100:
            raise ConfigError("lri_threshold must be within 0..100")


@dataclass(frozen=True, slots=True)
class LocalState:
    """This node's presence (LPI) and load index (LRI) when a message is handled.
    Raises ``ConfigError`` on an unknown presence or an LRI outside 0..100."""

    presence: str = "engaged"
    lri: int = 0

    def __post_init__(self) -> None:
        if self.presence not in PRESENCE:
            raise ConfigError(f"presence must be one of {PRESENCE}")
        if isinstance(self.lri, bool) or not isinstance(self.lri, int) or not 0 <= self.lri <= 100:
            raise ConfigError("lri must be an integer within 0..100")

    def allows_new_work(self, policy: KnowledgePolicy) -> bool:
        """False while ``overloaded`` or at/above the LRI threshold."""
        return self.presence != "overloaded" and self.lri < policy.lri_threshold


def to_json(value: Fact | DmpTrace | SharedDecision | CausalLink) -> dict[str, Any]:
    """A plain dict of a value (for storage)."""
    if isinstance(value, msgspec.Struct):
        return msgspec.structs.asdict(value)
    return {name: getattr(value, name) for name in value.__slots__}
