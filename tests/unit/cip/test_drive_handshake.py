"""``web4.cip.service.drive_handshake``: the one loop that drives a CIP handshake, for a
node's peer sessions and for ``web4 human``. Two handshakes driven by it over an in-memory
link reach the end; a silent peer ends it with a reason, not a hang."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from web4.cip import Handshake, Role, Step
from web4.cip import messages as cm
from web4.cip.events import HandshakeEvent
from web4.cip.service import drive_handshake
from web4.cip.validator import cip_validator
from web4.clock import SeededRng, SystemClock
from web4.envelope.validate import Receiver
from web4.identity import Identity


@dataclass
class Pipe:
    """One end of an in-memory link."""

    peer: str
    inbox: asyncio.Queue[tuple[str, bytes]]
    outbox: asyncio.Queue[tuple[str, bytes]]
    closed: bool = False
    connected: bool = True

    async def send(self, channel: str, data: bytes, *, timeout: float) -> None:
        self.outbox.put_nowait((channel, data))

    async def receive(self, *, timeout: float) -> tuple[str, bytes] | None:
        try:
            async with asyncio.timeout(timeout):
                return await self.inbox.get()
        except TimeoutError:
            return None

    async def close(self) -> None:
        self.closed = True


def _handshake(me: Identity, role: Role, peer: Identity, seed: int) -> Handshake:
    clock = SystemClock()
    return Handshake(
        me,
        role,
        rng=SeededRng(seed),
        peer=Receiver(peer.fingerprint[:16], peer.fingerprint),
        validator=cip_validator(me.fingerprint, clock=clock, trust_of=lambda fp: "probing"),
        local_state=cm.SenderState(presence="engaged", lri=0),
        intent=cm.Intent(goal="ask", topic="test"),
    )


def test_two_handshakes_driven_by_it_end_accepted() -> None:
    a, b = Identity(b"\x01" * 32, "a"), Identity(b"\x02" * 32, "b")

    async def scenario() -> tuple[Step, Step, list[HandshakeEvent]]:
        ab: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()  # a -> b
        ba: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue()  # b -> a
        hs_a, hs_b = _handshake(a, Role.INITIATOR, b, 1), _handshake(b, Role.RESPONDER, a, 2)
        seen: list[HandshakeEvent] = []
        clock = SystemClock()
        async with asyncio.timeout(10):
            cuts = await asyncio.gather(
                drive_handshake(
                    hs_a, Pipe(b.fingerprint, ba, ab), now=clock.now, send_timeout=1.0,
                    on_events=seen.extend, tick=0.05,
                ),
                drive_handshake(
                    hs_b, Pipe(a.fingerprint, ab, ba), now=clock.now, send_timeout=1.0,
                    on_events=lambda e: None, tick=0.05,
                ),
            )  # fmt: skip
        assert cuts == [None, None]
        return hs_a.step, hs_b.step, seen

    step_a, step_b, seen = asyncio.run(scenario())
    assert (step_a, step_b) == (Step.ACCEPTED, Step.ACCEPTED)
    assert any(type(e).__name__ == "PeerVerified" for e in seen)


def test_a_silent_peer_ends_it_with_a_reason() -> None:
    a, b = Identity(b"\x01" * 32, "a"), Identity(b"\x02" * 32, "b")

    async def scenario() -> str | None:
        hs = _handshake(b, Role.RESPONDER, a, 2)
        pipe = Pipe(a.fingerprint, asyncio.Queue(), asyncio.Queue())
        async with asyncio.timeout(10):
            return await drive_handshake(
                hs, pipe, now=SystemClock().now, send_timeout=1.0, on_events=lambda e: None,
                tick=0.05, timeout=0.3,
            )  # fmt: skip

    assert asyncio.run(scenario()) == "no CIP handshake within 0.3 s"
