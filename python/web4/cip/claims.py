"""Claim identity: the hash that binds a vote to the content it judges.

Theory of operation: a claim is named on the wire by its proposing ``msg_id``
(``fact_ref``), but a ``msg_id`` is only a label its author chose: anyone can propose
another statement under the same ``msg_id``. A vote therefore also carries
``claim_hash``, the lowercase hex SHA-256 of the RFC 8785 canonical JSON of
``{"proposer": <proposer fingerprint>, "payload": <the FACT_PROPOSE payload>}``: the
proposer and exactly what it signed. A node applies a vote only to the claim with that
hash, so a vote can never be moved to another statement or another proposer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import msgspec

from web4.cip.messages import FactPropose
from web4.envelope import canonicalize

__all__ = ["claim_hash", "claim_hash_of_builtins"]


def claim_hash(proposer: str, payload: Mapping[str, Any] | msgspec.Struct) -> str:
    """The claim hash of a ``FACT_PROPOSE`` ``payload`` by ``proposer`` (its fingerprint).

    ``payload`` is the decoded payload, a mapping or the typed ``FactPropose``; it is
    read through ``FactPropose`` first, so an omitted optional field and its default
    hash alike. Raises ``msgspec.ValidationError`` when ``payload`` is not a valid
    ``FACT_PROPOSE`` payload.
    """
    typed = payload if isinstance(payload, FactPropose) else msgspec.convert(payload, FactPropose)
    return claim_hash_of_builtins(proposer, msgspec.to_builtins(typed))


def claim_hash_of_builtins(proposer: str, body: Mapping[str, Any]) -> str:
    """The claim hash of a payload already in its complete builtin form (every field
    present, as ``msgspec.to_builtins`` of a ``FactPropose`` gives it). Raises
    ``CanonicalizationError`` for a value RFC 8785 cannot represent."""
    data = canonicalize({"proposer": proposer, "payload": body})
    return hashlib.sha256(data).hexdigest()
