"""A knowledge broadcast reaches a peer whose handshake ends just after it was sent.
Before, a vote went only to the peers that were ready at that moment: a peer still in
its handshake (the dialler's side finishes last) never got it, and its claim could stay
pending for want of a vote that had been cast. Now the node keeps its recent knowledge
broadcasts and sends a newly ready peer the copies it missed, under the same msg_id,
once."""

from __future__ import annotations

import asyncio
import json
from types import SimpleNamespace
from typing import Any

from test_broadcast_stuck_peer import FAST, SLOW, FakeSession, fake_node

from web4.cip.events import HandshakeDone

VOTE = {
    "fact_ref": "1b4e28ba-2fa1-4d3b-a3f5-ef19b5a7633b",
    "claim_hash": "ab" * 32,
    "decision": "confirm",
    "confidence": 0.9,
}


def msg_ids(session: FakeSession) -> list[str]:
    return [json.loads(data)["msg_id"] for _, data in session.sent]


def done(peer: str) -> HandshakeDone:
    return HandshakeDone(peer=peer, outcome="accepted", reason="ok", intent_msg_id=None, at=0.0)


def test_a_peer_ready_after_a_vote_gets_it_once_under_the_same_msg_id() -> None:
    async def main() -> None:
        early, late = FakeSession(FAST), FakeSession(SLOW)
        events: list[dict[str, Any]] = []
        node = fake_node([early, late], events)
        node.conns[SLOW].ready = False  # still in its handshake  # type: ignore[misc]
        vote_id = await node.send("FACT_CONFIRM", VOTE)
        intent_id = await node.send("INTENT", {"goal": "learn", "topic": "general"})
        assert msg_ids(early) == [vote_id, intent_id]
        assert late.sent == []

        node.conns[SLOW].ready = True  # type: ignore[misc]
        node.on_handshake(node.conns[SLOW], [done(SLOW)])  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        # the vote (knowledge) is caught up; the intent (not knowledge) is not
        assert msg_ids(late) == [vote_id]
        assert [ch for ch, _ in late.sent] == ["knowledge"]
        # a second handshake end (a reconnect) sends nothing twice
        node.on_handshake(node.conns[SLOW], [done(SLOW)])  # type: ignore[arg-type]
        node.on_handshake(node.conns[FAST], [done(FAST)])  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        assert msg_ids(late) == [vote_id]
        assert msg_ids(early) == [vote_id, intent_id]
        assert [e for e in events if e["kind"] == "error"] == [], events

    asyncio.run(main())


def test_old_broadcasts_are_not_caught_up_and_the_memory_is_bounded() -> None:
    async def main() -> None:
        early, late = FakeSession(FAST), FakeSession(SLOW)
        node = fake_node([early, late], [])
        node.conns[SLOW].ready = False  # type: ignore[misc]
        clock = SimpleNamespace(t=1_800_000_000.0)
        node.now = lambda: clock.t
        await node.send("FACT_CONFIRM", VOTE)
        clock.t += 601.0  # past the catch-up window
        for i in range(300):
            await node.send("FACT_CONFIRM", {**VOTE, "claim_hash": f"{i:064x}"})
        assert len(node._recent) == 256
        node.conns[SLOW].ready = True  # type: ignore[misc]
        node.on_handshake(node.conns[SLOW], [done(SLOW)])  # type: ignore[arg-type]
        await asyncio.sleep(0.2)
        assert len(late.sent) == 256  # the newest 256, not the expired first one

    asyncio.run(main())


def test_a_copy_the_peer_never_acknowledged_is_sent_again_once_it_is_back() -> None:
    # A peer killed (or restarted) before it acknowledged a broadcast: RTT reports the
    # copy in the closed session's unacked. It was counted as sent, so the peer's next
    # session never got it (seen with bench_mesh --churn: a restarted direct peer of the
    # proposer missed the facts sent while it was down, for good).
    async def main() -> None:
        early, late = FakeSession(FAST), FakeSession(SLOW)
        events: list[dict[str, Any]] = []
        node = fake_node([early, late], events)
        vote_id = await node.send("FACT_CONFIRM", VOTE)
        intent_id = await node.send("INTENT", {"goal": "learn", "topic": "general"})
        lost = list(late.sent)  # both in flight when the peer died
        assert msg_ids(late) == [vote_id, intent_id]

        node.conns[SLOW].ready = False  # type: ignore[misc]
        junk = [("knowledge", b"{not json"), ("knowledge", b"[1]"), ("state", b"{}")]
        assert node.undelivered(SLOW, [*lost, *junk]) == 1  # the vote; not the intent
        assert node.undelivered(FAST, lost) == 0  # not the early peer's copies
        await asyncio.sleep(0.05)
        assert msg_ids(late) == [vote_id, intent_id]  # not before it is ready again

        node.conns[SLOW].ready = True  # type: ignore[misc]
        node.on_handshake(node.conns[SLOW], [done(SLOW)])  # type: ignore[arg-type]
        await asyncio.sleep(0.05)
        assert msg_ids(late) == [vote_id, intent_id, vote_id]  # again, the same msg_id
        assert msg_ids(early) == [vote_id, intent_id]
        # ready already when the loss is known (a newer session): sent at once
        assert node.undelivered(SLOW, late.sent[-1:]) == 1
        await asyncio.sleep(0.05)
        assert msg_ids(late) == [vote_id, intent_id, vote_id, vote_id]
        assert [e for e in events if e["kind"] == "error"] == [], events

    asyncio.run(main())
