"""The published HCP and LIP envelope vectors (``docs/conformance/hcp_envelopes.json``,
``lip_envelopes.json``) stay true: every case gives its stated outcome with the validators
the node itself builds (``web4.node.parts.make_validators``), the node's authorisation
rule and HCP's state-update rule; the files' trust policies are the node's gates; and the
files equal what ``python -m web4.conformance`` renders now."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, cast

import pytest

from web4 import errors
from web4.clock import FakeClock
from web4.conformance import render_hcp_envelopes, render_lip_envelopes
from web4.conformance.cip_envelopes import IDENTITIES, wire_bytes
from web4.conformance.hcp_lip_envelopes import error_class
from web4.hcp.authorized import parse_authorized
from web4.hcp.messages import check_semantics
from web4.lip.messages import LipEvidence
from web4.node.parts import make_validators
from web4.trust.book import TrustBook

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "docs" / "conformance"
DOCS = {
    name: json.loads((CONFORMANCE / f"{name}_envelopes.json").read_text(encoding="utf-8"))
    for name in ("hcp", "lip")
}
RENDER = {"hcp": render_hcp_envelopes, "lip": render_lip_envelopes}
RENDER_HINT = "stale: rerun `python -m web4.conformance` from the repository root"


class _State:
    def __init__(self, value: str) -> None:
        self.value = value


class _Book:
    """The one thing ``make_validators`` asks a trust book: a sender's state."""

    def __init__(self, states: dict[str, str]) -> None:
        self.states = states

    def state_of(self, fp: str) -> _State:
        return _State(self.states.get(fp, "untrusted"))


def _validator(protocol: str, trust: dict[str, str], now: float) -> Any:
    me = DOCS[protocol]["identities"][DOCS[protocol]["receiver"]["identity"]]["fingerprint"]
    return make_validators(me, FakeClock(now), cast(TrustBook, _Book(trust)))[protocol]


def _deliver(protocol: str, case: dict[str, Any]) -> Any:
    validator = _validator(protocol, case["trust"], case["now"])
    key = case.get("transport_key_base64")
    transport = None if key is None else base64.b64decode(key)
    for prior in case.get("prior", []):
        validator.validate(prior.encode("utf-8"), transport_key=transport)
    env = validator.validate(wire_bytes(case), transport_key=transport)
    if protocol == "hcp":
        check_semantics(env)
    return env


CASES = [(p, c) for p in ("hcp", "lip") for c in DOCS[p]["cases"]]


@pytest.mark.parametrize(("protocol", "case"), CASES, ids=[f"{p}-{c['name']}" for p, c in CASES])
def test_envelope_case(protocol: str, case: dict[str, Any]) -> None:
    expect = case["expect"]
    if expect["result"] == "refuse":
        with pytest.raises(errors.RemoteError) as info:
            _deliver(protocol, case)
        assert type(info.value).__name__ == expect["error"], info.value  # exactly that class
        assert DOCS[protocol]["errors"][expect["error"]]["check"] == expect["check"]
        return
    assert expect["result"] == "accept"
    env = _deliver(protocol, case)
    assert env.type == expect["type"]
    if protocol == "hcp":  # the node's rule: acted on only for an authorised signer
        listed = parse_authorized("\n".join(case["authorized_humans"]))
        authorised = any(h.fingerprint == env.sender.fingerprint for h in listed)
        assert authorised == expect["acted_on"]
    if isinstance(env.payload, LipEvidence):
        assert [c.claim_id for c in env.payload.claims] == expect["claim_ids"]
    else:
        assert "claim_ids" not in expect


@pytest.mark.parametrize("protocol", sorted(DOCS))
def test_vectors_are_current(protocol: str) -> None:
    """Cases and expectations as the generator has them; the envelope bytes are frozen,
    as in cip_envelopes.json (the case test decides whether they still hold)."""
    rendered = json.loads(RENDER[protocol]())
    doc = DOCS[protocol]

    def outline(d: dict[str, Any]) -> list[tuple[str, str, Any]]:
        return [(c["name"], c["description"], c["expect"]) for c in d["cases"]]

    assert outline(doc) == outline(rendered), RENDER_HINT
    for key in ("format", "description", "receiver", "identities", "errors"):
        assert doc[key] == rendered[key], RENDER_HINT
    names = [c["name"] for c in doc["cases"]]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("protocol", sorted(DOCS))
def test_the_stated_trust_policy_is_the_nodes_gate(protocol: str) -> None:
    doc = DOCS[protocol]
    fp = IDENTITIES["alice"].fingerprint
    policy: dict[str, list[str]] = doc["receiver"]["trust_policy"]
    every = set().union(*policy.values())
    assert len(every) >= 5
    for state, allowed in policy.items():
        gate = _validator(protocol, {fp: state}, 0.0)._gate
        for msg_type in sorted(every):
            assert (gate(fp, msg_type) is None) == (msg_type in allowed), (state, msg_type)


@pytest.mark.parametrize("protocol", sorted(DOCS))
def test_every_check_both_outcomes_and_the_identities(protocol: str) -> None:
    doc = DOCS[protocol]
    assert {c["expect"]["result"] for c in doc["cases"]} == {"accept", "refuse"}
    refused = {c["expect"]["error"] for c in doc["cases"] if c["expect"]["result"] == "refuse"}
    assert refused == set(doc["errors"])
    assert {e["check"] for e in doc["errors"].values()} == set(range(1, 8))
    for name, entry in doc["errors"].items():
        for base in entry["subclass_of"]:
            assert issubclass(error_class(name), getattr(errors, base))
    for name, ident in doc["identities"].items():
        assert ident["seed_hex"] == IDENTITIES[name].signing_key.seed().hex()
        assert ident["fingerprint"] == IDENTITIES[name].fingerprint
