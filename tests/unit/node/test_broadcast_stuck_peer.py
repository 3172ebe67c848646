"""A broadcast goes to every ready peer concurrently: a peer whose send is stuck (full
queue, dead link waiting for its deadline) delays nobody else. Before, copies went out
one peer after another, so one slow peer held every later peer's copy for up to the
send timeout. The stuck peer here is released only once the other peer has its copy,
which a one-after-another broadcast never reaches (it would fail on the deadline)."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from web4.cip.builder import CipBuilder
from web4.cip.messages import SenderState
from web4.cip.service import CipService
from web4.clock import FakeClock, SeededRng
from web4.identity import Identity

FAST, SLOW = (hashlib.sha256(n.encode()).hexdigest() for n in ("fast", "slow"))


@dataclass
class FakeSession:
    peer: str
    gate: asyncio.Event | None = None  # a stuck peer: send waits for this
    sent: list[tuple[str, bytes]] = field(default_factory=list)
    closed: bool = False

    async def send(self, channel: str, data: bytes, *, timeout: float) -> None:
        if self.gate is not None:
            async with asyncio.timeout(timeout):
                await self.gate.wait()
        self.sent.append((channel, data))


def fake_node(sessions: list[FakeSession], events: list[dict[str, Any]]) -> CipService:
    clock, rng = FakeClock(1_800_000_000.0), SeededRng(3)
    conns = {
        s.peer: SimpleNamespace(
            peer=s.peer,
            ready=True,
            session=s,
            handshake=SimpleNamespace(peer=None, our_view="probing", peer_view="unknown"),
        )
        for s in sessions
    }
    trust: Any = SimpleNamespace(state_of=lambda peer: SimpleNamespace(value="probing"))
    bus: Any = SimpleNamespace(emit=lambda kind, **attrs: events.append({"kind": kind, **attrs}))
    return CipService(
        builder=CipBuilder(Identity(b"\x07" * 32), clock=clock, rng=rng),
        trust=trust,
        bus=bus,
        rng=rng,
        now=clock.now,
        state=lambda: SenderState(presence="engaged", lri=10),
        offer=lambda m: None,
        record_vote=lambda *vote: None,
        conns=conns,  # type: ignore[arg-type]
        send_timeout=2.0,
    )


def test_a_stuck_peer_does_not_hold_the_broadcast_to_the_others() -> None:
    async def main() -> None:
        gate = asyncio.Event()
        slow, fast = FakeSession(SLOW, gate), FakeSession(FAST)
        events: list[dict[str, Any]] = []
        # The stuck peer comes first, as the worst case for a one-by-one broadcast.
        node = fake_node([slow, fast], events)

        async def release_once_fast_has_it() -> None:
            while not fast.sent:
                await asyncio.sleep(0)
            gate.set()

        releaser = asyncio.create_task(release_once_fast_has_it())
        msg_id = await node.send("INTENT", {"goal": "learn", "topic": "general"})
        await releaser
        assert len(fast.sent) == 1
        assert len(slow.sent) == 1
        assert fast.sent[0][0] == slow.sent[0][0] == "control"
        assert events == [], events  # nothing timed out
        assert msg_id

    asyncio.run(main())


def test_a_failed_copy_is_an_error_event_for_that_peer_only() -> None:
    async def main() -> None:
        dead, fast = FakeSession(SLOW, asyncio.Event()), FakeSession(FAST)
        events: list[dict[str, Any]] = []
        node = fake_node([dead, fast], events)
        node.send_timeout = 0.05
        await node.send("INTENT", {"goal": "learn", "topic": "general"})
        assert len(fast.sent) == 1
        assert dead.sent == []
        assert [(e["kind"], e["peer"], e["error"]) for e in events] == [
            ("error", SLOW, "TimeoutError")
        ]

    asyncio.run(main())
