"""Gossip topics of CIP: which topic a broadcast envelope belongs to (CIP_SPEC §11).

Theory of operation: knowledge meant for everyone travels on gossipsub topics, one per
knowledge domain, plus one for shared decisions. A topic-bound envelope carries its
topic in the signed member ``topic`` (instead of ``receiver``), so it is valid on that
topic only. ``topic_check`` is CIP's rule for which envelope may be on which topic: a
``FACT_PROPOSE`` on the topic of its fact's domain, a vote on any knowledge topic (it is
bound to its claim by ``claim_hash`` already), a ``DECISION_SHARE`` on the decisions
topic; nothing else is ever topic-bound. Pure functions, no IO.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote

__all__ = [
    "BROADCAST_TYPES",
    "DECISIONS_TOPIC",
    "KNOWLEDGE_PREFIX",
    "knowledge_topic",
    "topic_check",
]

KNOWLEDGE_PREFIX = "/web4/cip/1.0/knowledge/"
DECISIONS_TOPIC = "/web4/cip/1.0/decisions"
VOTE_TYPES = frozenset({"FACT_CONFIRM", "FACT_REJECT", "FACT_CHALLENGE"})
BROADCAST_TYPES = VOTE_TYPES | {"FACT_PROPOSE", "DECISION_SHARE"}
_MAX_READABLE = 160  # longer domain keys are named by their hash (a topic is <= 256 bytes)


def domain_key(domain: str) -> str:
    """The comparison key of a domain: casefolded, whitespace collapsed (as the
    knowledge layer compares domains)."""
    return " ".join(domain.casefold().split())


def knowledge_topic(domain: str) -> str:
    """The topic of a knowledge domain: the prefix and the percent-encoded (UTF-8, RFC
    3986 unreserved characters kept) domain key, or ``sha256-<hex>`` of the key when the
    encoding is longer than 160 characters."""
    key = domain_key(domain)
    text = quote(key, safe="-._~")
    if len(text) > _MAX_READABLE:
        text = "sha256-" + hashlib.sha256(key.encode()).hexdigest()
    return KNOWLEDGE_PREFIX + text


def topic_check(envelope: Any, topic: str) -> str | None:
    """Why ``envelope`` (typed, payload converted) may not be on ``topic``, or None."""
    msg_type = envelope.type
    if msg_type not in BROADCAST_TYPES:
        return f"{msg_type} is point to point: it is never topic-bound"
    if msg_type == "DECISION_SHARE":
        return None if topic == DECISIONS_TOPIC else f"DECISION_SHARE belongs on {DECISIONS_TOPIC}"
    if not topic.startswith(KNOWLEDGE_PREFIX):
        return f"{msg_type} belongs on a knowledge topic ({KNOWLEDGE_PREFIX}...)"
    if msg_type == "FACT_PROPOSE":
        want = knowledge_topic(envelope.payload.fact.domain)
        if topic != want:
            return f"a FACT_PROPOSE of this domain belongs on {want}"
    return None
