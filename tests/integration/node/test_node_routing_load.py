"""Routing under real load: a real node (in this process) and two real RTT clients.

Each client runs the CIP handshake with the node over RTT's control channel (the node's
side is the real ``Node``). Then client A floods the node with junk while client B sends
every CIP message type, an unknown type, and a fact the knowledge layer refuses (its
handler raises). Expected: every type from B reaches its handler (``router.routed``), the
unknown type is a typed event, the raising handler is isolated and becomes a trust
anomaly for B, A is throttled (drops counted), and B is served throughout.
"""

from __future__ import annotations

import asyncio
import io
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest

from web4.cip import Handshake, Role, Step, cip_validator
from web4.cip.builder import CipBuilder
from web4.cip.claims import claim_hash
from web4.cip.messages import (
    DecisionShare,
    DmpTrace,
    Fact,
    FactChallenge,
    FactConfirm,
    FactPropose,
    FactReject,
    Hello,
    Intent,
    SenderState,
    SharedDecision,
    StateUpdate,
)
from web4.clock import SeededRng, SystemClock, SystemRng
from web4.envelope import canonicalize
from web4.envelope.validate import Receiver
from web4.identity import Identity
from web4.node import Node, NodeConfig
from web4.rtt import Transport
from web4.trust import TrustEvent

pytestmark = pytest.mark.timeout(90)
STATE = SenderState(presence="focused", lri=5)
DONE = (Step.ACCEPTED, Step.DEFERRED, Step.FAILED)


class Client:
    def __init__(self, name: str, node_fp: str) -> None:
        self.me = Identity.generate(name)
        self.node = Receiver("node", node_fp)
        self.t = Transport(self.me)
        self.clock = SystemClock()
        self.builder = CipBuilder(self.me, clock=self.clock, rng=SystemRng())

    async def connect(self, addr: str, seed: int) -> None:
        self.s = await self.t.connect(addr, timeout=5)
        self.ch = {k: self.s.open_channel(k) for k in ("control", "state", "knowledge")}
        v = cip_validator(self.me.fingerprint, clock=self.clock, trust_of=lambda fp: "trusted")
        hs = Handshake(
            self.me,
            Role.INITIATOR,
            validator=v,
            rng=SeededRng(seed),
            local_state=STATE,
            peer=self.node,
            intent=Intent(goal="learn", topic="load"),
        )
        hs.start(self.clock.now())
        async with asyncio.timeout(15):
            while True:
                while (out := hs.next_outgoing()) is not None:
                    await self.s.send(self.ch["control"], out)
                if hs.step in DONE:
                    break
                try:
                    data = await self.s.receive(self.ch["control"], timeout=0.5)
                except TimeoutError:
                    hs.handle_timeout(self.clock.now())
                    continue
                hs.receive(data, self.clock.now())
        assert hs.step is Step.ACCEPTED

    def envelope(self, payload: msgspec.Struct) -> dict[str, Any]:
        return self.builder.build(payload, receiver=self.node, sender_view="probing", state=STATE)

    async def send(self, channel: str, data: bytes | dict[str, Any]) -> None:
        raw = data if isinstance(data, bytes) else canonicalize(data)
        await self.s.send(self.ch[channel], raw)


def trace() -> DmpTrace:
    return DmpTrace(decision_id=str(uuid.uuid4()), steps=["measured"], evidence=["lab"])


def test_every_type_routed_bad_input_contained_flood_throttled(tmp_path: Path) -> None:
    async def main() -> None:
        data = tmp_path / "node"
        Identity.create_in_data_dir(data, "node")
        node_fp = Identity.in_data_dir(data).fingerprint
        a, b = Client("flooder", node_fp), Client("bee", node_fp)
        cfg = NodeConfig(data_dir=data, console=False, trust_anchors=(b.me.fingerprint,))
        node = Node(cfg, stdout=io.StringIO())
        run = asyncio.create_task(node.run())
        try:
            async with asyncio.timeout(10):
                while not node.listen_addrs:
                    await asyncio.sleep(0.05)
            addr = node.listen_addrs[0]
            await a.connect(addr, 1)
            await b.connect(addr, 2)

            junk = b'{"cip":"1.0","type":"NOPE"}'
            flood = asyncio.create_task(a.s.send_many(a.ch["knowledge"], [junk] * 1500, timeout=20))

            # one claim per vote type: a voter has one vote per claim
            props = [
                b.envelope(
                    FactPropose(
                        fact=Fact(
                            statement=f"Ice melts at {t} C",
                            domain="physics",
                            confidence=0.9,
                            sources=["lab"],
                        ),
                        dmp_trace=trace(),
                    )
                )
                for t in (0, 1, 2)
            ]
            refs = [p["msg_id"] for p in props]
            digests = [claim_hash(b.me.fingerprint, p["payload"]) for p in props]
            hello = Hello(
                protocols=["cip/1.0"],
                capabilities=[],
                session_nonce="AAAAAAAAAAAAAAAAAAAAAA==",
                challenge="A" * 43 + "=",
            )
            sends = [
                ("control", b.envelope(hello)),
                ("control", b.envelope(Intent(goal="ask", topic="ice"))),
                (
                    "state",
                    b.envelope(StateUpdate(presence="engaged", lri=9, ltppeerstate="trusted")),
                ),
                *(("knowledge", p) for p in props),
                (
                    "knowledge",
                    b.envelope(
                        FactConfirm(
                            fact_ref=refs[0],
                            claim_hash=digests[0],
                            decision="confirm",
                            confidence=0.9,
                        )
                    ),
                ),
                (
                    "knowledge",
                    b.envelope(
                        FactReject(
                            fact_ref=refs[1],
                            claim_hash=digests[1],
                            decision="reject",
                            confidence=0.2,
                        )
                    ),
                ),
                (
                    "knowledge",
                    b.envelope(
                        FactChallenge(
                            fact_ref=refs[2], claim_hash=digests[2], reason="cannot_verify"
                        )
                    ),
                ),
                (
                    "knowledge",
                    b.envelope(
                        DecisionShare(decision=SharedDecision(choice="boil"), dmp_trace=trace())
                    ),
                ),
                ("control", b'{"cip":"1.0","type":"BOGUS","msg_id":"x"}'),
                (
                    "knowledge",
                    b.envelope(
                        FactPropose(
                            fact=Fact(statement="   ", domain="physics", confidence=0.5),
                            dmp_trace=trace(),
                        )
                    ),
                ),
            ]
            for channel, msg in sends:
                await b.send(channel, msg)

            def seen() -> tuple[set[str], list[Any]]:
                node.bus.flush(2.0)
                evs = node.obs.ring.events("router.")
                routed = {
                    str(e.attributes["type"])
                    for e in evs
                    if e.kind == "router.routed" and e.peer == b.me.fingerprint
                }
                return routed, evs

            everything = {
                "HELLO",
                "INTENT",
                "STATE_UPDATE",
                "FACT_PROPOSE",
                "FACT_CONFIRM",
                "FACT_REJECT",
                "FACT_CHALLENGE",
                "DECISION_SHARE",
            }
            async with asyncio.timeout(20):
                while True:
                    routed, evs = seen()
                    kinds = {(e.kind, e.peer) for e in evs}
                    if (
                        routed == everything
                        and ("router.handler_error", b.me.fingerprint) in kinds
                        and ("router.unknown_type", b.me.fingerprint) in kinds
                        and ("router.throttled", a.me.fingerprint) in kinds
                    ):
                        break
                    await asyncio.sleep(0.2)
            unknown = [e for e in evs if e.kind == "router.unknown_type"]
            assert any(
                e.peer == b.me.fingerprint and e.attributes["type"] == "BOGUS" for e in unknown
            )
            (err,) = [e for e in evs if e.kind == "router.handler_error"]
            assert err.attributes["error"] == "KnowledgeError"
            anomalies = [
                x for x in node.trust.audit(b.me.fingerprint) if x.event is TrustEvent.ANOMALY
            ]
            assert len(anomalies) == 1  # the raising handler became a trust anomaly
            assert node.router.throttled > 0
            assert node.kx.claim(refs[0]).fact.statement == "Ice melts at 0 C"
            await asyncio.wait_for(flood, 20)
        finally:
            node.stop()
            await asyncio.wait_for(run, 15)
            await a.t.shutdown()
            await b.t.shutdown()

    asyncio.run(main())
