"""Two CIP handshake endpoints on a fake link with virtual time (test helper).

Each endpoint has its own identity, trust table (a dict standing in for the TrustFSM,
updated from the handshake's trust events) and CIP validator; both share one FakeClock.
``pump`` moves envelopes until both sides are quiet, recording the transcript: the exact
bytes, in order, with who sent them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from web4.cip._state import Role
from web4.cip.events import HandshakeEvent, PeerBlacklisted, PeerUntrusted, PeerVerified
from web4.cip.handshake import Handshake, HandshakeConfig
from web4.cip.messages import Intent, SenderState
from web4.cip.validator import cip_validator
from web4.clock import FakeClock, SeededRng
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Receiver
from web4.identity import Identity

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def identity(name: str) -> Identity:
    return Identity(hashlib.sha256(f"web4 golden {name}".encode()).digest(), name)


@dataclass
class Endpoint:
    name: str
    identity: Identity
    clock: FakeClock
    handshake: Handshake
    trust: dict[str, str] = field(default_factory=dict)
    events: list[HandshakeEvent] = field(default_factory=list)

    def record(self, events: list[HandshakeEvent]) -> None:
        for e in events:
            if isinstance(e, PeerVerified) and self.trust.get(e.peer, "untrusted") == "untrusted":
                self.trust[e.peer] = "probing"
            elif isinstance(e, PeerUntrusted):
                self.trust[e.peer] = "untrusted"
            elif isinstance(e, PeerBlacklisted):
                self.trust[e.peer] = "blacklisted"
        self.events.extend(events)


def endpoint(
    name: str,
    role: Role,
    clock: FakeClock,
    *,
    seed: int,
    peer: Identity | None = None,
    state: SenderState | None = None,
    intent: Intent | None = None,
    config: HandshakeConfig | None = None,
    bind_responder: bool = False,
) -> Endpoint:
    me = identity(name)
    trust: dict[str, str] = {}
    validator = cip_validator(
        me.fingerprint,
        clock=clock,
        trust_of=lambda fp: trust.get(fp, "untrusted"),
        replay=ReplayCache(window=120.0, capacity=1024),
    )
    receiver = None
    if peer is not None and (role is Role.INITIATOR or bind_responder):
        receiver = Receiver(agent_id=peer.agent_id, fingerprint=peer.fingerprint)
    hs = Handshake(
        me,
        role,
        validator=validator,
        rng=SeededRng(seed),
        local_state=state or SenderState(presence="focused", lri=25),
        peer=receiver,
        intent=intent,
        config=config,
    )
    return Endpoint(name, me, clock, hs, trust)


@dataclass
class Pair:
    a: Endpoint
    b: Endpoint
    clock: FakeClock
    transcript: list[tuple[str, bytes]] = field(default_factory=list)
    # (sender name, bytes) -> bytes to deliver instead, or None to lose it
    tamper: Callable[[str, bytes], bytes | None] | None = None
    latency: float = 0.05

    def pump(self, max_messages: int = 50) -> None:
        for _ in range(max_messages):
            moved = False
            for src, dst in ((self.a, self.b), (self.b, self.a)):
                data = src.handshake.next_outgoing()
                if data is None:
                    continue
                moved = True
                self.clock.advance(self.latency)
                self.transcript.append((src.name, data))
                if self.tamper is not None:
                    data = self.tamper(src.name, data)
                    if data is None:
                        continue
                dst.record(dst.handshake.receive(data, self.clock.now()))
            if not moved:
                return
        raise AssertionError("the link did not go quiet")

    def tick(self, seconds: float) -> None:
        self.clock.advance(seconds)
        for ep in (self.a, self.b):
            ep.record(ep.handshake.handle_timeout(self.clock.now()))

    def transcript_text(self) -> str:
        out = []
        for name, data in self.transcript:
            other = "B" if name == "A" else "A"
            out.append(f"{name}->{other} {data.decode('utf-8')}\n")
        return "".join(out)


def make_pair(
    *,
    a_state: SenderState | None = None,
    b_state: SenderState | None = None,
    intent: Intent | None = None,
    config: HandshakeConfig | None = None,
    bind_responder: bool = False,
    **kw: Any,
) -> Pair:
    clock = FakeClock(T0)
    b_id = identity("B")
    a = endpoint(
        "A",
        Role.INITIATOR,
        clock,
        seed=1,
        peer=b_id,
        state=a_state,
        intent=intent or Intent(goal="verify_knowledge", topic="boiling point"),
        config=config,
    )
    b = endpoint(
        "B",
        Role.RESPONDER,
        clock,
        seed=2,
        peer=identity("A"),
        state=b_state,
        config=config,
        bind_responder=bind_responder,
    )
    pair = Pair(a, b, clock, **kw)
    a.record(a.handshake.start(clock.now()))
    return pair
