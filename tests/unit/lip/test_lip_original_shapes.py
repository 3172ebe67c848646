"""LIP payloads in the original specification's shapes (issue 16), through the real
validator and the node's LIP runtime: claims and evidence as strings (turned into our
claims, named by ``claim_id``), conflicts as strings, LIP_ACCEPT/LIP_REJECT without
``claim_ids``, ``query`` any string, envelopes without ``trust``/``state``. The
anti-hallucination rule holds for the string form: claims without evidence are refused
and never corroborate anything."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from web4.clock import FakeClock, SeededRng, rfc3339
from web4.envelope import canonicalize, sign_envelope
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Validator
from web4.errors import PayloadSchemaError
from web4.identity import Identity
from web4.lip.extract import claim_id
from web4.lip.messages import (
    LIP_SPEC,
    ORIGINAL_EVIDENCE_TYPE,
    Claim,
    Evidence,
    LipAccept,
    LipConflict,
    LipEvidence,
    LipFetch,
    LipReject,
)
from web4.lip.runtime import LipRuntime, LipSettings
from web4.router import Inbound
from web4.store import Store

NODE = Identity(bytes([9]) * 32, "node")
P1 = Identity(bytes([1]) * 32, "p1")
P2 = Identity(bytes([2]) * 32, "p2")
STATEMENT = "Water boils at 100 degrees Celsius at sea level."
SOURCE_URI = "https://unknown.test/water"


class Node:
    def __init__(self, path: Path) -> None:
        self.clock = FakeClock()
        self.events: list[tuple[str, dict[str, Any]]] = []
        self.store = Store.open(path)
        self.validator = Validator(
            LIP_SPEC,
            our_fingerprint=NODE.fingerprint,
            clock=self.clock,
            replay=ReplayCache(),
            trust_gate=lambda f, t: None,
        )

        async def send(peer: str, channel: str, data: bytes) -> None:
            return None

        self.rt = LipRuntime(
            NODE, self.store, lambda kind, **kw: self.events.append((kind, kw)), self.clock,
            SeededRng(1), send=send, peers=list, trust_of=lambda fp: "trusted",
            presence=lambda: "engaged", lri=lambda: 10, settings=LipSettings(),
        )  # fmt: skip
        self.n = 0

    def envelope(self, sender: Identity, msg_type: str, payload: dict[str, Any]) -> bytes:
        """An original-spec envelope: no pubkey, trust or state; upper-case msg_id."""
        self.n += 1
        env = {
            "lip": "1.0",
            "msg_id": f"6F1C2B3A-0000-1000-8000-{self.n:012d}",
            "type": msg_type,
            "timestamp": rfc3339(self.clock.now()).replace(".000Z", "Z"),
            "sender": {"agent_id": sender.agent_id, "fingerprint": sender.fingerprint},
            "receiver": {"agent_id": NODE.agent_id, "fingerprint": NODE.fingerprint},
            "source": {
                "uri": SOURCE_URI,
                "trust_tier": "unknown",
                "retrieved_at": rfc3339(self.clock.now()),
            },
            "payload": payload,
        }
        return canonicalize(sign_envelope(env, sender))

    def deliver(self, sender: Identity, msg_type: str, payload: dict[str, Any]) -> Any:
        data = self.envelope(sender, msg_type, payload)
        env = self.validator.validate(data, transport_key=sender.public_key)
        fp = sender.fingerprint
        msg = Inbound("lip", msg_type, "knowledge", fp, env.msg_id, env, fp, 0.0, data)
        asyncio.run(self.rt.on_lip(msg))
        return env

    def hold(self, statement: str) -> str:
        """A claim of our own fetch, pending (unknown tier): it waits for corroboration."""
        ev = Evidence(SOURCE_URI, SOURCE_URI, rfc3339(self.clock.now()), "a" * 64, "text/html", 1)
        cid = claim_id(statement)
        self.rt.queue.submit(ev, [Claim(cid, statement, "p[1]")], now=self.clock.now())
        assert self.rt.queue.get(cid).state == "pending"
        return cid


@pytest.fixture
def node(tmp_path: Path):
    n = Node(tmp_path / "lip.sqlite3")
    yield n
    n.store.close()


def original_evidence(evidence: list[str]) -> dict[str, Any]:
    # the claim as another extractor wrote it: same claim once normalised
    return {
        "claims": ["  water boils at 100 degrees celsius at sea level!"],
        "evidence": evidence,
        "confidence": 0.8,
        "extraction_notes": "from the original spec example",
    }


def test_original_evidence_becomes_our_claims_with_provenance(node: Node) -> None:
    evidence = ["https://example.org/boiling", "quote: 100 C at 1 atm"]
    env = node.deliver(P1, "LIP_EVIDENCE", original_evidence(evidence))
    p = env.payload
    assert isinstance(p, LipEvidence)
    assert [c.claim_id for c in p.claims] == [claim_id(STATEMENT)]
    listed = canonicalize(evidence)
    assert p.evidence.sha256 == hashlib.sha256(listed).hexdigest()
    assert p.evidence.size == len(listed)
    assert p.evidence.content_type == ORIGINAL_EVIDENCE_TYPE
    assert p.evidence.uri == p.evidence.final_uri == SOURCE_URI
    assert env.trust is None
    assert env.state is None
    assert env.msg_id == env.msg_id.lower()


def test_two_trusted_peers_corroborate_in_the_original_shape(node: Node) -> None:
    cid = node.hold(STATEMENT)
    node.deliver(P1, "LIP_EVIDENCE", original_evidence(["https://a.example/x"]))
    assert node.rt.queue.get(cid).state == "pending"
    node.deliver(P2, "LIP_EVIDENCE", original_evidence(["https://b.example/y"]))
    assert node.rt.queue.get(cid).state == "accepted"


@pytest.mark.parametrize("evidence", [[], ["", "   "]])
def test_claims_without_evidence_are_refused_and_corroborate_nothing(
    node: Node, evidence: list[str]
) -> None:
    cid = node.hold(STATEMENT)
    for peer in (P1, P2):
        with pytest.raises(PayloadSchemaError, match="without evidence"):
            node.deliver(peer, "LIP_EVIDENCE", original_evidence(evidence))
    assert node.rt.queue.get(cid).state == "pending"


def test_a_claim_with_no_words_is_refused(node: Node) -> None:
    payload = {"claims": ["?!."], "evidence": ["https://x.example"], "confidence": 0.5}
    with pytest.raises(PayloadSchemaError, match="no words"):
        node.deliver(P1, "LIP_EVIDENCE", payload)


def test_evidence_without_claims_is_accepted_and_changes_nothing(node: Node) -> None:
    cid = node.hold(STATEMENT)
    payload = {"claims": [], "evidence": [], "confidence": 0.1}
    assert node.deliver(P1, "LIP_EVIDENCE", payload).payload.claims == []
    assert node.rt.queue.get(cid).state == "pending"


def test_accept_and_reject_without_claim_ids_decide_nothing(node: Node) -> None:
    cid = node.hold(STATEMENT)
    for peer in (P1, P2):
        env = node.deliver(
            peer, "LIP_REJECT", {"decision": "reject", "reason": "unsafe", "corroborators": []}
        )
        assert isinstance(env.payload, LipReject)
        assert env.payload.claim_ids == []
    assert node.rt.queue.get(cid).state == "pending"
    env = node.deliver(
        P1, "LIP_ACCEPT", {"decision": "accept", "reason": "ok", "corroborators": ["agent-b"]}
    )
    assert isinstance(env.payload, LipAccept)
    assert node.events[-1][0] == "lip.accepted"
    assert node.events[-1][1]["claims"] == 0


def test_conflicts_as_strings(node: Node) -> None:
    payload = {
        "conflicts": ["claim 1 contradicts local fact 9", "units differ"],
        "local_refs": ["fact-9"],
        "severity": "medium",
    }
    env = node.deliver(P1, "LIP_CONFLICT", payload)
    assert isinstance(env.payload, LipConflict)
    assert env.payload.conflicts == payload["conflicts"]
    kind, attrs = node.events[-1]
    assert kind == "lip.conflict"
    assert attrs["claims"] == 2
    assert attrs["severity"] == "medium"


def test_query_is_any_string(node: Node) -> None:
    payload = {"query": "boiling point of water at altitude", "constraints": ["no_personal_data"]}
    env = node.deliver(P1, "LIP_FETCH", payload)
    assert isinstance(env.payload, LipFetch)
    assert env.payload.query == payload["query"]


def test_a_search_query_fails_its_fetch_and_the_runtime_goes_on(node: Node) -> None:
    """LIP does not search: a free-text query is accepted, its fetch fails with a
    ``lip.fetch_failed`` event for that peer (no network IO), and ``run`` keeps going."""
    query = "boiling point of water at altitude"

    async def main() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(node.rt.run(lambda: not stop.is_set(), tick=0.01))
        data = node.envelope(P1, "LIP_FETCH", {"query": query, "constraints": []})
        env = node.validator.validate(data, transport_key=P1.public_key)
        fp = P1.fingerprint
        await node.rt.on_lip(Inbound("lip", "LIP_FETCH", "knowledge", fp, env.msg_id, env, fp, 0))
        async with asyncio.timeout(5):
            while not any(k == "lip.fetch_failed" for k, _ in node.events):
                await asyncio.sleep(0.01)
        stop.set()
        async with asyncio.timeout(5):
            await task

    asyncio.run(main())
    failed = [kw for k, kw in node.events if k == "lip.fetch_failed"]
    assert [(kw["peer"], kw["uri"]) for kw in failed] == [(P1.fingerprint, query)]


@pytest.mark.parametrize("where", ["claims", "evidence"])
def test_a_lone_surrogate_is_the_peers_error(node: Node, where: str) -> None:
    payload = original_evidence(["https://x.example"])
    payload[where] = ["ok", "\ud800"]
    with pytest.raises(PayloadSchemaError):
        # the bytes as a peer would send them (JSON may escape a lone surrogate)
        node.validator.validate(json.dumps(_unsigned(P1, "LIP_EVIDENCE", payload)).encode())


def _unsigned(sender: Identity, msg_type: str, payload: dict[str, Any]) -> dict[str, Any]:
    clock = FakeClock()
    return {
        "lip": "1.0",
        "msg_id": "6f1c2b3a-0000-1000-8000-000000000001",
        "type": msg_type,
        "timestamp": rfc3339(clock.now()),
        "sender": {"agent_id": sender.agent_id, "fingerprint": sender.fingerprint},
        "receiver": {"agent_id": NODE.agent_id, "fingerprint": NODE.fingerprint},
        "source": {"uri": SOURCE_URI, "trust_tier": "unknown", "retrieved_at": rfc3339(0)},
        "payload": payload,
        "sign": {"algo": "ed25519", "signature": "A" * 86 + "=="},
    }
