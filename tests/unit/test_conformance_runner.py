"""The conformance runner's catalogue, selection, scheduling and frame codec (no network:
the wire itself is exercised against real nodes in tests/integration/conformance)."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest

from web4.cli.main import main
from web4.conformance import rtt_frames as rf
from web4.conformance.runner import (
    Case,
    Mismatch,
    catalogue,
    catalogue_markdown,
    matches,
    run_cases,
    select,
)
from web4.conformance.wire import Target
from web4.errors import ConfigError

VECTORS = Path(__file__).parents[2] / "docs" / "conformance" / "cip_envelopes.json"
ADDR = "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWSwwAJDk9iywN2GK9UJrLjBKkbt73KLjqsjsMPghszwyn"


def test_catalogue_names_kinds_and_texts() -> None:
    cases = catalogue()
    names = [c.name for c in cases]
    assert len(names) == len(set(names))
    assert names[0] == "rtt.session"
    for c in cases:
        assert re.fullmatch(r"(rtt|cip|hcp|lip)\.[a-z0-9_]+(\.[a-z0-9_]+)*", c.name), c.name
        assert c.kind in ("positive", "negative", "robustness")
        assert c.title, c.name
        assert c.expect, c.name
        assert c.spec, c.name
        assert "web4" in c.profiles
    kinds = {c.kind for c in cases}
    assert kinds == {"positive", "negative", "robustness"}
    original = [c.name for c in catalogue("original")]
    assert original[0] == "rtt.session"
    assert {"cip.original.hello", "cip.original.handshake"} <= set(original)
    with pytest.raises(ConfigError, match="unknown profile"):
        catalogue("nope")


def test_every_mirrored_vector_exists_with_the_same_outcome() -> None:
    """A case mirrors a vector of its protocol's file (cip, hcp or lip_envelopes.json):
    positive cases an accepted one, negative cases a refused one, or for HCP an accepted
    one that is not acted on (the signer is not authorised)."""
    files = {
        area: {c["name"]: c for c in json.loads(path.read_text("utf-8"))["cases"]}
        for area in ("cip", "hcp", "lip")
        for path in [VECTORS.with_name(f"{area}_envelopes.json")]
    }
    mirrored = [c for c in catalogue() if c.vector is not None]
    assert len(mirrored) >= 35
    for c in mirrored:
        vectors = files[c.name.split(".")[0]]
        assert c.vector in vectors, (c.name, c.vector)
        expect = vectors[c.vector]["expect"]
        if c.kind == "positive":
            assert expect["result"] == "accept", (c.name, c.vector)
            assert expect.get("acted_on", True), (c.name, c.vector)
        else:
            refused = expect["result"] == "refuse" or expect.get("acted_on") is False
            assert refused, (c.name, c.vector)


def test_selection_by_name_prefix_and_glob() -> None:
    cases = catalogue()
    assert matches("cip.hello.stale", "cip.hello")
    assert matches("cip.hello.stale", "cip.hello.")
    assert not matches("cip.hello.stale", "cip.hell")
    assert matches("cip.hello.stale", "cip.*.stale")
    assert [c.name for c in select(cases, ["rtt.session"])] == ["rtt.session"]
    picked = select(cases, ["cip.after", "*.replay*"])
    assert {c.name for c in picked} >= {"cip.after.flood", "cip.hello.replay_same_bytes"}
    assert [c.name for c in picked] == [c.name for c in cases if c in picked]  # catalogue order
    assert select(cases, []) == cases
    with pytest.raises(ConfigError, match="matches no case"):
        select(cases, ["cip.nothing"])


def _case(name: str, play: object) -> Case:
    return Case(name, "t", "e", "s", "positive", play)  # type: ignore[arg-type]


def test_outcomes_order_and_timeouts() -> None:
    async def ok(t: Target) -> None:
        await asyncio.sleep(0.05)

    async def bad(t: Target) -> None:
        raise Mismatch("something else")

    async def boom(t: Target) -> None:
        raise RuntimeError("runner bug")

    async def slow(t: Target) -> None:
        await asyncio.sleep(10)

    cases = [_case("a.ok", ok), _case("a.bad", bad), _case("a.boom", boom), _case("a.slow", slow)]
    seen: list[str] = []
    results = asyncio.run(
        run_cases(
            cases, Target(ADDR, timeout=0.3), jobs=4, on_result=lambda r: seen.append(r.case.name)
        )
    )
    assert [r.outcome for r in results] == ["pass", "fail", "error", "fail"]
    assert seen == ["a.ok", "a.bad", "a.boom", "a.slow"]  # reported in catalogue order
    assert results[1].seen == "something else"
    assert results[2].seen == "RuntimeError: runner bug"
    assert "case timeout of 0.3 s" in results[3].seen
    assert results[0].to_json()["result"] == "pass"


def test_target_fingerprint_comes_from_the_peer_id() -> None:
    t = Target(ADDR)
    assert len(t.fingerprint) == 64
    assert t.receiver.agent_id == t.fingerprint[:16]


def test_rtt_frames_match_the_spec_example() -> None:
    # RTT_SPEC §5.3: DATA on knowledge, sid aa..aa, seq 300, payload "xy"
    sid = b"\xaa" * 16
    body = rf.data("knowledge", sid, 300, b"xy")
    assert body == bytes([1, 1, 1]) + sid + bytes([0xAC, 0x02]) + b"xy"
    assert rf.framed(body)[0] == len(body)
    f = rf.parse(body)
    assert f is not None
    assert (f.kind, f.channel, f.sid, f.seq, f.payload) == ("DATA", "knowledge", sid, 300, b"xy")
    assert rf.parse(rf.open_(sid, (1, 2, 300))) == rf.Frame("OPEN", sid=sid, delivered=(1, 2, 300))
    assert rf.parse(rf.close(1, b"gone", reject=True)) == rf.Frame(
        "RESUME_REJECT", reason="unknown_session", text="gone"
    )
    hb = rf.parse(rf.heartbeat(7, 9, answer=True))
    assert hb is not None
    assert (hb.kind, hb.nonce, hb.ts) == ("HEARTBEAT_ACK", 7, 9)
    assert rf.parse(b"\x02\x01") is None
    assert rf.parse(b"\x01\x0a") is None
    assert rf.uvarint(1) == b"\x01"
    assert rf.uvarint(128) == b"\x80\x01"


def test_cli_lists_cases_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["conformance", "--list", "--json", "--case", "cip.after"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [d["case"] for d in doc] == [c.name for c in select(catalogue(), ["cip.after"])]
    assert set(doc[0]) == {"case", "kind", "title", "expected", "spec", "vector", "profiles"}


def test_the_readme_lists_the_catalogue() -> None:
    readme = (Path(__file__).parents[2] / "docs" / "conformance" / "README.md").read_text("utf-8")
    for profile in ("web4", "original"):
        assert catalogue_markdown(profile) in readme, "rewrite the tables: web4.conformance"
