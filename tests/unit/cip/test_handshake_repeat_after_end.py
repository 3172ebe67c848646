"""A repeated step after the handshake ended (CIP_SPEC §6, Timers and retries).

After the end only the responder's decision is answered again, on a repeat of the INTENT
that ended the handshake, at most ``max_retries`` times, and only until the peer sends
another INTENT (``Handshake.takes_repeat``). A final step that had no answer of ours (a
decision the initiator received, the initiator's ``defer:``) is never answered: before,
the handshake re-sent whatever it had sent last (the initiator's INTENT, to a repeated
decision).
"""

from __future__ import annotations

import json
from typing import Any

from cip_pair import Pair, identity, make_pair

from web4.cip._state import Step
from web4.cip.events import MessageDropped, Retransmitted
from web4.cip.handshake import HandshakeConfig
from web4.cip.messages import Intent, SenderState
from web4.envelope import canonicalize, sign_envelope

OVERLOADED = SenderState(presence="overloaded", lri=95, kernel_signals=["overload"])


def kinds(events: list[object]) -> list[str]:
    return [type(e).__name__ for e in events]


def sent_by(pair: Pair, who: str, msg_type: str) -> list[dict[str, Any]]:
    return [
        env
        for name, data in pair.transcript
        if name == who and (env := json.loads(data))["type"] == msg_type
    ]


def again(env: dict[str, Any], who: str, n: int, **edit: Any) -> bytes:
    """``env`` under a new msg_id (and ``edit`` applied to its payload), re-signed."""
    body = {k: v for k, v in env.items() if k != "sign"}
    body["msg_id"] = f"{n:08d}-0000-4000-8000-00000000abcd"
    body["payload"] = {**body["payload"], **edit}
    return canonicalize(sign_envelope(body, identity(who)))


def drain(pair: Pair, side: str) -> list[dict[str, Any]]:
    hs = (pair.a if side == "A" else pair.b).handshake
    out = []
    while (data := hs.next_outgoing()) is not None:
        out.append(json.loads(data))
    return out


def test_a_repeated_intent_after_acceptance_gets_the_decision_again_a_bounded_number_of_times() -> (
    None
):
    pair = make_pair(config=HandshakeConfig(max_retries=2))
    pair.pump()
    b = pair.b.handshake
    assert b.step is Step.ACCEPTED
    (intent,) = sent_by(pair, "A", "INTENT")
    decision = sent_by(pair, "B", "STATE_UPDATE")[-1]["payload"]
    assert decision["intent"] == f"accept:{intent['msg_id']}"
    events: list[object] = []
    answers = []
    for n in range(5):
        repeat = again(intent, "A", n)
        assert b.takes_repeat("INTENT", Intent(goal="verify_knowledge", topic="boiling point"))
        events += b.receive(repeat, pair.clock.now() + n)
        answers += drain(pair, "B")
    assert kinds(events) == ["Retransmitted"] * 2 + ["MessageDropped"] * 3
    assert next(e for e in events if isinstance(e, MessageDropped)).error == "ReplayError"
    # the same decision (payload), new msg_ids; no new trust or intent event above
    assert [a["payload"] for a in answers] == [decision, decision]
    assert len({a["msg_id"] for a in answers}) == 2
    assert b.step is Step.ACCEPTED


def test_the_initiator_takes_the_repeated_decision_and_ends() -> None:
    """A's retransmitted INTENT (new msg_id) is answered with accept:<first msg_id>,
    which A takes: it names an INTENT A sent."""
    lost: list[bytes] = []

    def tamper(src: str, data: bytes) -> bytes | None:
        if src == "B" and b"accept:" in data and not lost:
            lost.append(data)
            return None
        return data

    pair = make_pair(tamper=tamper)
    pair.pump()
    assert (pair.a.handshake.step, pair.b.handshake.step) == (Step.WAIT_DECISION, Step.ACCEPTED)
    pair.tick(10)
    pair.pump()
    assert pair.a.handshake.step is Step.ACCEPTED
    assert isinstance(pair.b.events[-1], Retransmitted)
    assert kinds(pair.b.events).count("IntentReceived") == 1  # the agent hears it once


def test_another_intent_closes_the_window_for_good() -> None:
    pair = make_pair()
    pair.pump()
    b = pair.b.handshake
    (intent,) = sent_by(pair, "A", "INTENT")
    first = Intent(goal="verify_knowledge", topic="boiling point")
    other = Intent(goal="ask", topic="melting point")
    assert not b.takes_repeat("STATE_UPDATE", first)  # only an INTENT
    assert b.takes_repeat("INTENT", first)
    assert not b.takes_repeat("INTENT", other)  # the peer's next intent: the agent's
    assert not b.takes_repeat("INTENT", first)  # a change back, not a retransmission
    out = b.receive(again(intent, "A", 1), pair.clock.now())
    assert kinds(out) == ["MessageDropped"]
    assert "over" in out[0].reason
    assert b.next_outgoing() is None


def test_a_different_intent_given_to_the_handshake_closes_the_window_too() -> None:
    pair = make_pair()
    pair.pump()
    b = pair.b.handshake
    (intent,) = sent_by(pair, "A", "INTENT")
    assert kinds(b.receive(again(intent, "A", 1, topic="other"), pair.clock.now())) == [
        "MessageDropped"
    ]
    assert kinds(b.receive(again(intent, "A", 2), pair.clock.now())) == ["MessageDropped"]
    assert b.next_outgoing() is None


def test_nothing_is_taken_before_the_end() -> None:
    pair = make_pair()
    first = Intent(goal="verify_knowledge", topic="boiling point")
    assert not pair.b.handshake.takes_repeat("INTENT", first)
    assert not pair.a.handshake.takes_repeat("INTENT", first)
    pair.pump()
    assert not pair.a.handshake.takes_repeat("INTENT", first)  # the initiator: never


def test_a_deferred_intent_repeated_gets_the_deferral_again() -> None:
    pair = make_pair(a_state=OVERLOADED)
    pair.pump()
    b = pair.b.handshake
    assert b.step is Step.DEFERRED
    (intent,) = sent_by(pair, "A", "INTENT")
    assert kinds(b.receive(again(intent, "A", 1), pair.clock.now())) == ["Retransmitted"]
    (answer,) = drain(pair, "B")
    assert answer["payload"]["intent"] == f"defer:{intent['msg_id']}"


def test_a_repeated_decision_is_not_answered_by_the_initiator() -> None:
    """The decision needs no answer: the initiator must not send its INTENT again."""
    pair = make_pair()
    pair.pump()
    a = pair.a.handshake
    decision = sent_by(pair, "B", "STATE_UPDATE")[-1]
    out = a.receive(again(decision, "B", 1), pair.clock.now())
    assert kinds(out) == ["MessageDropped"]
    assert a.next_outgoing() is None


def test_the_initiators_deferral_is_not_answered_again_after_the_end() -> None:
    """B overloaded: A defers on B's STATE_UPDATE and is done. A repeat of that
    STATE_UPDATE after the end is not answered (after the handshake a STATE_UPDATE is a
    state report, which may well equal the handshake's); nor does B answer a repeat of
    A's defer:."""
    pair = make_pair(b_state=OVERLOADED)
    pair.pump()
    a, b = pair.a.handshake, pair.b.handshake
    assert (a.step, b.step) == (Step.DEFERRED, Step.DEFERRED)
    overloaded = sent_by(pair, "B", "STATE_UPDATE")[-1]
    assert kinds(a.receive(again(overloaded, "B", 1), pair.clock.now())) == ["MessageDropped"]
    assert a.next_outgoing() is None
    defer = sent_by(pair, "A", "STATE_UPDATE")[-1]
    assert defer["payload"]["intent"].startswith("defer:")
    assert kinds(b.receive(again(defer, "A", 2), pair.clock.now())) == ["MessageDropped"]
    assert b.next_outgoing() is None
