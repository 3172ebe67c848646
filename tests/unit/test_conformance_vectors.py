"""The published conformance vectors (``docs/conformance/``) stay true: every envelope
case gives its stated outcome with the real validator, the handshake transcripts equal
the golden files and verify at their receivers, and every file equals what
``python -m web4.conformance`` renders now (rerun it when a change is intended)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from web4 import errors
from web4.cip.validator import cip_validator
from web4.clock import FakeClock
from web4.conformance import render_cip_envelopes, render_cip_handshakes
from web4.conformance.cip_envelopes import IDENTITIES, wire_bytes
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import parse_timestamp

ROOT = Path(__file__).resolve().parents[2]
CONFORMANCE = ROOT / "docs" / "conformance"
GOLDEN = ROOT / "tests" / "unit" / "cip" / "golden"
ENVELOPES = json.loads((CONFORMANCE / "cip_envelopes.json").read_text(encoding="utf-8"))
HANDSHAKES = json.loads((CONFORMANCE / "cip_handshakes.json").read_text(encoding="utf-8"))
RENDER_HINT = "stale: rerun `python -m web4.conformance` from the repository root"


def test_every_file_has_a_format_and_described_cases() -> None:
    for path in sorted(CONFORMANCE.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert doc["format"].startswith("web4-conformance/"), path.name
        assert doc["description"], path.name
    assert all(c["description"] for c in ENVELOPES["cases"])
    assert all(t["description"] for t in HANDSHAKES["transcripts"].values())
    names = [c["name"] for c in ENVELOPES["cases"]]
    assert len(names) == len(set(names))


def _outline(doc: dict[str, Any]) -> list[tuple[str, str, Any]]:
    return [(c["name"], c["description"], c["expect"]) for c in doc["cases"]]


def test_envelope_vectors_are_current() -> None:
    """The committed cases are the generator's cases with the same expectations. The
    envelope bytes themselves are frozen (a builder change need not rewrite them: the
    case tests above decide whether they still hold)."""
    rendered = json.loads(render_cip_envelopes())
    assert _outline(ENVELOPES) == _outline(rendered), RENDER_HINT
    for key in ("format", "receiver", "identities", "errors"):
        assert ENVELOPES[key] == rendered[key], RENDER_HINT


def test_handshake_vectors_are_current() -> None:
    text = (CONFORMANCE / "cip_handshakes.json").read_text(encoding="utf-8")
    assert text == render_cip_handshakes(GOLDEN), RENDER_HINT


def test_identities_derive_from_their_stated_seeds() -> None:
    for name, ident in ENVELOPES["identities"].items():
        assert ident["seed_hex"] == IDENTITIES[name].signing_key.seed().hex()
        assert ident["fingerprint"] == IDENTITIES[name].fingerprint


def _validate(case: dict[str, Any], data: bytes) -> Any:
    trust: dict[str, str] = case["trust"]
    validator = cip_validator(
        IDENTITIES[ENVELOPES["receiver"]["identity"]].fingerprint,
        clock=FakeClock(case["now"]),
        trust_of=lambda fp: trust.get(fp, "untrusted"),
        replay=ReplayCache(window=ENVELOPES["receiver"]["replay_window_seconds"]),
    )
    for prior in case.get("prior", []):
        validator.validate(prior.encode("utf-8"))
    return validator.validate(data)


@pytest.mark.parametrize("case", ENVELOPES["cases"], ids=lambda c: c["name"])
def test_envelope_case(case: dict[str, Any]) -> None:
    expect = case["expect"]
    data = wire_bytes(case)
    if expect["result"] == "accept":
        assert _validate(case, data).type == expect["type"]
        return
    assert expect["result"] == "refuse"
    with pytest.raises(errors.RemoteError) as info:
        _validate(case, data)
    # The most specific class, exactly: a FingerprintMismatchError is not enough where a
    # plain SignatureMismatchError is expected, nor the other way round.
    assert type(info.value).__name__ == expect["error"], info.value
    assert ENVELOPES["errors"][expect["error"]]["check"] == expect["check"]


def test_error_hierarchy_matches_web4_errors() -> None:
    for name, entry in ENVELOPES["errors"].items():
        cls = getattr(errors, name)
        for base in entry["subclass_of"]:
            assert issubclass(cls, getattr(errors, base))


def test_every_check_and_both_outcomes_are_covered() -> None:
    results = {c["expect"]["result"] for c in ENVELOPES["cases"]}
    assert results == {"accept", "refuse"}
    refused = {
        c["expect"]["error"] for c in ENVELOPES["cases"] if c["expect"]["result"] == "refuse"
    }
    assert refused == set(ENVELOPES["errors"])


@pytest.mark.parametrize("name", sorted(HANDSHAKES["transcripts"]))
def test_handshake_transcript_equals_golden_and_verifies(name: str) -> None:
    transcript = HANDSHAKES["transcripts"][name]
    golden = (GOLDEN / f"{name}.txt").read_text(encoding="utf-8").splitlines()
    assert [f"{s['from']}->{s['to']} {s['wire']}" for s in transcript["steps"]] == golden
    fingerprints = {n: i["fingerprint"] for n, i in HANDSHAKES["identities"].items()}
    validators = {
        n: cip_validator(
            fp, clock=FakeClock(HANDSHAKES["start_time"]), trust_of=lambda _: "probing"
        )
        for n, fp in fingerprints.items()
    }
    for step in transcript["steps"]:
        env = validators[step["to"]].validate(
            step["wire"].encode("utf-8"), now=parse_timestamp(step["timestamp"])
        )
        assert env.type == step["type"]
        assert env.sender.fingerprint == fingerprints[step["from"]]
