"""The claim hash (docs/CIP_SPEC.md section 3): the vector in the spec, defaults filled in,
and independence from the proposer and every payload member."""

from __future__ import annotations

import hashlib

import msgspec
import pytest
import rfc8785

from web4.cip.claims import claim_hash
from web4.cip.messages import FactPropose

PROPOSER = "a" * 64
SHORT = {
    "fact": {"statement": "x", "domain": "d", "confidence": 1},
    "dmp_trace": {"decision_id": "12345678-1234-4234-8234-123456789abc", "steps": ["a"]},
}
SPEC_VECTOR = "175cc76d88eda22d69cf09968d2bbc31ca6eab9fb6cc028e92c2129a7885cf8b"


def test_the_spec_vector() -> None:
    assert claim_hash(PROPOSER, SHORT) == SPEC_VECTOR


def test_absent_members_hash_as_their_defaults_computed_independently() -> None:
    full = msgspec.to_builtins(msgspec.convert(SHORT, FactPropose))
    assert set(full["fact"]) == {"statement", "domain", "confidence", "sources", "context"}
    # an independent RFC 8785 implementation over the complete payload
    expected = hashlib.sha256(rfc8785.dumps({"proposer": PROPOSER, "payload": full})).hexdigest()
    assert claim_hash(PROPOSER, SHORT) == expected
    assert claim_hash(PROPOSER, msgspec.convert(SHORT, FactPropose)) == expected


def test_another_proposer_or_statement_is_another_claim() -> None:
    other = {**SHORT, "fact": {**SHORT["fact"], "statement": "y"}}
    assert claim_hash("b" * 64, SHORT) != SPEC_VECTOR
    assert claim_hash(PROPOSER, other) != SPEC_VECTOR


def test_a_malformed_payload_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        claim_hash(PROPOSER, {"fact": {"statement": "x"}})
