"""HCP_SPEC and LIP_SPEC plugged into the real ProtocolRouter: every type is routed,
HCP_INTENT to the agent loop, LIP_EVIDENCE to knowledge exchange."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec

from web4.clock import FakeClock, SeededRng
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Validator
from web4.hcp.builder import build_hcp
from web4.hcp.messages import (
    HCP_SPEC,
    HcpContext,
    HcpDecision,
    HcpFeedback,
    HcpHello,
    HcpIntent,
    HcpStateUpdate,
    HumanIdentity,
    HumanState,
)
from web4.identity import Identity
from web4.lip.builder import build_lip
from web4.lip.extract import claim_id
from web4.lip.messages import (
    LIP_SPEC,
    Claim,
    ClaimConflict,
    Evidence,
    LipAccept,
    LipConflict,
    LipEvidence,
    LipFetch,
    LipReject,
    Source,
)
from web4.router.router import Inbound, ProtocolRouter

HUMAN = HumanState("focused", "calm", 70, 40, "plan", "granted")
CID = claim_id("Water boils at 100 degrees Celsius.")
EVIDENCE = Evidence(
    uri="https://example.org/w",
    final_uri="https://example.org/w",
    retrieved_at="2023-11-14T22:13:20.000Z",
    sha256="e" * 64,
    content_type="text/html",
    size=5,
)
SOURCE = Source("https://example.org/w", "medium", "2023-11-14T22:13:20.000Z")
HCP = [
    (HcpHello(HumanIdentity("Ada", "eng"), ["topic:work"], []), "human"),
    (HcpIntent("request", "work", "normal"), "agent"),
    (HcpContext("ctx", [], []), "human"),
    (HcpDecision("ship", "green", ["wait"], ""), "human"),
    (HcpFeedback("ok", [], 80), "human"),
    (HcpStateUpdate("focused", "calm", 70, 40, "granted"), "human"),
]
LIP = [
    (LipFetch("https://example.org/w", ["domain:science"]), "lip"),
    (LipEvidence([Claim(CID, "Water boils at 100 degrees Celsius.")], EVIDENCE, 0.7), "knowledge"),
    (LipConflict([ClaimConflict(CID, "lip:x")], ["lip:x"], "high"), "lip"),
    (LipAccept("accept", [CID], "tier medium", ["agent-b"]), "lip"),
    (LipReject("reject", [CID], "blocked"), "lip"),
]


def test_every_hcp_and_lip_type_is_routed() -> None:
    clock = FakeClock()
    me = Identity(bytes([5]) * 32, "agent-a")
    human = Identity(bytes([6]) * 32, "ada")
    peer = Identity(bytes([7]) * 32, "agent-b")

    def validator(spec: Any) -> Validator[Any]:
        return Validator(
            spec,
            our_fingerprint=me.fingerprint,
            clock=clock,
            replay=ReplayCache(),
            trust_gate=lambda fp, t: None,
        )

    events: list[tuple[str, dict[str, Any]]] = []
    router = ProtocolRouter(
        {"hcp": validator(HCP_SPEC), "lip": validator(LIP_SPEC)},
        emit=lambda kind, **kw: events.append((kind, kw)),
        clock=clock,
    )
    seen: list[Inbound] = []
    for destination in ("human", "agent", "lip", "knowledge"):
        router.bind(destination, seen.append)  # type: ignore[arg-type]
    rng = SeededRng(11)
    wire: list[bytes] = []
    for payload, _ in HCP:
        env = build_hcp(
            human,
            receiver_id=me.agent_id,
            receiver_fingerprint=me.fingerprint,
            payload=payload,  # type: ignore[arg-type]
            human=HUMAN,
            clock=clock,
            rng=rng,
        )
        wire.append(json.dumps(env).encode())
    for payload, _ in LIP:
        env = build_lip(
            peer,
            receiver_id=me.agent_id,
            receiver_fingerprint=me.fingerprint,
            payload=payload,
            source=SOURCE,
            clock=clock,
            rng=rng,
        )
        wire.append(json.dumps(env).encode())

    async def run() -> list[str]:
        return [(await router.route(data)).outcome for data in wire]

    assert asyncio.run(run()) == ["routed"] * 11, events
    expected = [(type(p).__name__, d) for p, d in HCP + LIP]
    assert [(type(m.envelope.payload).__name__, m.destination) for m in seen] == expected
    for msg, (payload, _) in zip(seen, HCP + LIP, strict=True):
        assert msgspec.to_builtins(msg.envelope.payload) == msgspec.to_builtins(payload)
