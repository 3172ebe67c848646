"""Knowledge exchange data: facts, DMP traces, causal links, claims and outcomes.

Theory of operation: these are frozen values with no behaviour beyond validating
themselves. ``Fact``, ``DmpTrace`` and ``SharedDecision`` are the CIP wire Structs
themselves (``web4.cip.messages``, one type per concept), whose ``__post_init__`` runs
the knowledge checks (``check_text`` and friends, defined there too); ``CausalLink`` and
the settings below are the knowledge layer's own. A value that breaks a limit raises
``KnowledgeError`` (a peer's bad input) when it is constructed; local settings that are
wrong (``LocalState``, ``KnowledgePolicy``) raise ``ConfigError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import msgspec

from web4.cip.messages import (
    MAX_ITEMS,
    MAX_SOURCES,
    MAX_TEXT,
    DmpTrace,
    Fact,
    SharedDecision,
    check_text,
    check_texts,
    check_unit,
)
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
    "check_text",
    "check_texts",
    "check_unit",
]

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
    claim_ttl_s: float = 86_400.0

    def __post_init__(self) -> None:
        if self.min_confirmations < 2:
            raise ConfigError("min_confirmations must be at least 2 (normative)")
        if self.max_open_claims_per_sender < 1 or self.max_open_bytes_per_sender < 1:
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
