"""The CIP handshake on a fake link with virtual time: golden transcripts, each
acceptance rule, timeouts and retries, and refusal of bad input without derailing."""

from __future__ import annotations

import base64
import json
import os
from pathlib import Path

import pytest
from cip_pair import T0, identity, make_pair

from web4.cip._proof import response_message
from web4.cip._state import (
    HANDSHAKE_TABLES,
    TERMINAL,
    TRANSITIONS,
    Input,
    Role,
    Step,
    next_step,
    transition_table_markdown,
)
from web4.cip.builder import CipBuilder
from web4.cip.events import (
    HandshakeDone,
    HandshakeFailed,
    IntentReceived,
    MessageDropped,
    PeerBlacklisted,
    PeerStateReceived,
    PeerUntrusted,
    PeerVerified,
    Retransmitted,
)
from web4.cip.handshake import Handshake, HandshakeConfig
from web4.cip.messages import Hello, Intent, SenderState
from web4.cip.validator import cip_validator
from web4.clock import FakeClock, SeededRng
from web4.envelope import canonicalize, sign_envelope
from web4.envelope.validate import Receiver
from web4.errors import ConfigError

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("WEB4_UPDATE_GOLDEN") == "1"
OVERLOADED = SenderState(presence="overloaded", lri=95, kernel_signals=["overload"])


def kinds(events: list[object]) -> list[str]:
    return [type(e).__name__ for e in events]


def resign(data: bytes, who: str, edit: object) -> bytes:
    env = json.loads(data)
    edit(env)  # type: ignore[operator]
    return canonicalize(sign_envelope(env, identity(who)))


# --- the happy path and the golden transcripts -------------------------------------------


def test_handshake_accepts_and_moves_both_peers_to_probing() -> None:
    pair = make_pair()
    pair.pump()
    a, b = pair.a, pair.b
    assert a.handshake.step is Step.ACCEPTED
    assert b.handshake.step is Step.ACCEPTED
    assert a.trust == {b.identity.fingerprint: "probing"}
    assert b.trust == {a.identity.fingerprint: "probing"}
    assert kinds(a.events) == [
        "PeerVerified",
        "PeerStateReceived",
        "PeerStateReceived",
        "HandshakeDone",
    ]
    assert kinds(b.events) == [
        "PeerVerified",
        "PeerStateReceived",
        "IntentReceived",
        "HandshakeDone",
    ]
    done_a, done_b = a.events[-1], b.events[-1]
    assert isinstance(done_a, HandshakeDone)
    assert isinstance(done_b, HandshakeDone)
    assert done_a.outcome == done_b.outcome == "accepted"
    assert done_a.intent_msg_id == done_b.intent_msg_id is not None
    intent = b.events[2]
    assert isinstance(intent, IntentReceived)
    assert (intent.goal, intent.topic) == ("verify_knowledge", "boiling point")
    types = [json.loads(d)["type"] for _, d in pair.transcript]
    assert types == [
        "HELLO",
        "HELLO",
        "HELLO",
        "STATE_UPDATE",
        "STATE_UPDATE",
        "INTENT",
        "STATE_UPDATE",
    ]
    assert a.handshake.next_outgoing() is None
    assert b.handshake.next_outgoing() is None


SCENARIOS = {
    "handshake_accept": {},
    "handshake_peer_overloaded": {"b_state": OVERLOADED},
    "handshake_intent_deferred": {"a_state": OVERLOADED},
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_golden_transcript(name: str) -> None:
    texts = []
    for _ in range(2):
        pair = make_pair(**SCENARIOS[name])
        pair.pump()
        texts.append(pair.transcript_text())
    assert texts[0] == texts[1], "the handshake is not deterministic"
    path = GOLDEN / f"{name}.txt"
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_bytes(texts[0].encode("utf-8"))
    assert path.read_bytes() == texts[0].encode("utf-8"), (
        f"{path.name} differs; if the change is intended, rerun with WEB4_UPDATE_GOLDEN=1"
    )


def test_golden_challenge_response_bytes() -> None:
    """The signed bytes of the first challenge response, pinned independently."""
    a, b = identity("A"), identity("B")
    first = (GOLDEN / "handshake_accept.txt").read_text().splitlines()
    hello_a = json.loads(first[0].split(" ", 1)[1])["payload"]
    hello_b = json.loads(first[1].split(" ", 1)[1])["payload"]
    message = response_message(
        base64.b64decode(hello_a["challenge"]),
        b.fingerprint,
        a.fingerprint,
        base64.b64decode(hello_b["session_nonce"]),
        base64.b64decode(hello_a["session_nonce"]),
    )
    assert len(message) == len(b"web4/cip/1.0 hello challenge-response\x00") + 32 + 128 + 32
    assert base64.b64encode(b.sign(message)).decode() == hello_b["challenge_response"]


# --- acceptance rules ------------------------------------------------------------------


def test_peer_overloaded_defers() -> None:
    pair = make_pair(b_state=OVERLOADED)
    pair.pump()
    assert pair.a.handshake.step is Step.DEFERRED
    assert pair.b.handshake.step is Step.DEFERRED
    done = pair.a.events[-1]
    assert isinstance(done, HandshakeDone)
    assert done.reason == "peer presence is overloaded"
    assert "INTENT" not in [json.loads(d)["type"] for _, d in pair.transcript]
    assert pair.a.trust[pair.b.identity.fingerprint] == "probing"  # deferred, not punished


def test_intent_from_overloaded_peer_is_deferred() -> None:
    pair = make_pair(a_state=OVERLOADED)
    pair.pump()
    assert pair.b.handshake.step is Step.DEFERRED
    assert pair.a.handshake.step is Step.DEFERRED
    last = json.loads(pair.transcript[-1][1])
    assert last["payload"]["intent"].startswith("defer:")


def test_bad_envelope_signature_drops_and_untrusts() -> None:
    def tamper(src: str, data: bytes) -> bytes:
        env = json.loads(data)
        if src == "B" and env["type"] == "HELLO":
            env["state"]["lri"] = 99  # changed after signing
        return json.dumps(env).encode()

    pair = make_pair(tamper=tamper)
    pair.pump()
    b_fp = pair.b.identity.fingerprint
    assert pair.a.handshake.step is Step.FAILED
    assert kinds(pair.a.events) == ["PeerUntrusted", "HandshakeFailed"]
    assert pair.a.trust[b_fp] == "untrusted"
    untrusted = pair.a.events[0]
    assert isinstance(untrusted, PeerUntrusted)
    assert untrusted.peer == b_fp


def test_wrong_challenge_response_drops_and_untrusts() -> None:
    """B signs its envelope properly but answers a different challenge."""

    def tamper(src: str, data: bytes) -> bytes:
        if src != "B" or b'"HELLO"' not in data:
            return data

        def edit(env: dict) -> None:
            env["payload"]["challenge_response"] = base64.b64encode(
                identity("B").sign(b"something else")
            ).decode()

        return resign(data, "B", edit)

    pair = make_pair(tamper=tamper)
    pair.pump()
    assert pair.a.handshake.step is Step.FAILED
    assert isinstance(pair.a.events[0], PeerUntrusted)
    assert "challenge response" in pair.a.events[0].reason
    assert pair.a.trust[pair.b.identity.fingerprint] == "untrusted"


def test_fingerprint_mismatch_drops_and_blacklists() -> None:
    """B's own key, signed by B, but claiming another fingerprint."""

    def tamper(src: str, data: bytes) -> bytes:
        if src != "B":
            return data
        return resign(data, "B", lambda env: env["sender"].update(fingerprint="ab" * 32))

    pair = make_pair(tamper=tamper)
    pair.pump()
    assert pair.a.handshake.step is Step.FAILED
    event = pair.a.events[0]
    assert isinstance(event, PeerBlacklisted)
    assert event.peer == pair.b.identity.fingerprint
    assert event.claimed == "ab" * 32
    assert pair.a.trust[pair.b.identity.fingerprint] == "blacklisted"
    assert isinstance(pair.a.events[1], HandshakeFailed)


def test_confirming_hello_with_bad_response_untrusts_initiator() -> None:
    def tamper(src: str, data: bytes) -> bytes:
        env = json.loads(data)
        if src == "A" and env["payload"].get("challenge_response"):
            return resign(
                data,
                "A",
                lambda e: e["payload"].update(
                    challenge_response=base64.b64encode(bytes(64)).decode()
                ),
            )
        return data

    pair = make_pair(tamper=tamper)
    pair.pump()
    assert pair.b.handshake.step is Step.FAILED
    assert pair.b.trust[pair.a.identity.fingerprint] == "untrusted"


def test_unbound_responder_does_not_attribute_forgeries() -> None:
    """A first HELLO with a bad signature names nobody the responder can hold to it."""

    def tamper(src: str, data: bytes) -> bytes:
        return data.replace(b'"lri":25', b'"lri":26') if src == "A" else data

    pair = make_pair(tamper=tamper)
    pair.pump()
    assert kinds(pair.b.events) == ["MessageDropped"]
    assert pair.b.events[0].error == "SignatureMismatchError"
    assert pair.b.trust == {}
    assert pair.b.handshake.step is Step.WAIT_HELLO  # still serving


def test_bound_responder_untrusts_on_forged_first_hello() -> None:
    def tamper(src: str, data: bytes) -> bytes:
        return data.replace(b'"lri":25', b'"lri":26') if src == "A" else data

    pair = make_pair(tamper=tamper, bind_responder=True)
    pair.pump()
    assert pair.b.trust == {pair.a.identity.fingerprint: "untrusted"}
    assert pair.b.handshake.step is Step.FAILED


# --- timeouts, retries, repeats ----------------------------------------------------------


def test_lost_first_hello_is_retransmitted() -> None:
    lost: list[bytes] = []

    def tamper(src: str, data: bytes) -> bytes | None:
        if not lost:
            lost.append(data)
            return None
        return data

    pair = make_pair(tamper=tamper)
    pair.pump()
    assert pair.a.handshake.step is Step.WAIT_HELLO
    pair.tick(5)
    assert pair.a.handshake.next_outgoing() is None  # not yet
    pair.tick(5)
    assert isinstance(pair.a.events[-1], Retransmitted)
    pair.pump()
    assert pair.a.handshake.step is Step.ACCEPTED
    assert pair.b.handshake.step is Step.ACCEPTED


def test_lost_answer_is_resent_on_repeat() -> None:
    dropped: list[str] = []

    def tamper(src: str, data: bytes) -> bytes | None:
        if src == "B" and not dropped:
            dropped.append("HELLO")
            return None
        return data

    pair = make_pair(tamper=tamper)
    pair.pump()
    pair.tick(10)  # A retransmits its HELLO; B sees a repeat and answers again
    pair.pump()
    assert isinstance(pair.b.events[0], Retransmitted)
    assert pair.a.handshake.step is Step.ACCEPTED
    assert pair.b.handshake.step is Step.ACCEPTED


def test_retries_exhausted_fails() -> None:
    pair = make_pair(tamper=lambda src, data: None, config=HandshakeConfig(max_retries=2))
    pair.pump()
    for _ in range(3):
        pair.tick(10)
        pair.pump()
    assert kinds(pair.a.events) == ["Retransmitted", "Retransmitted", "HandshakeFailed"]
    assert pair.a.handshake.step is Step.FAILED
    assert "timeout" in pair.a.events[-1].reason
    assert pair.a.trust == {}  # a timeout is no trust event
    assert pair.a.handshake.handle_timeout(pair.clock.now() + 100) == []


# --- bad input is dropped, the handshake goes on ------------------------------------------


def test_replayed_and_skewed_envelopes_are_dropped() -> None:
    pair = make_pair()
    a, b = pair.a.handshake, pair.b.handshake
    hello = a.next_outgoing()
    assert hello is not None
    assert b.receive(hello, T0) == []
    dropped = b.receive(hello, T0 + 1)
    # A repeat of the same bytes is a replay for the validator.
    assert kinds(dropped) == ["MessageDropped"]
    assert dropped[0].error == "ReplayError"
    late = json.loads(hello)
    assert kinds(b.receive(late, T0 + 500)) == ["MessageDropped"]
    assert b.step is Step.WAIT_CONFIRM


def test_unexpected_and_foreign_messages_are_dropped() -> None:
    pair = make_pair()
    b = pair.b.handshake
    clock = FakeClock(T0)
    receiver = Receiver(agent_id="B", fingerprint=pair.b.identity.fingerprint)
    intent = CipBuilder(identity("A"), clock=clock, rng=SeededRng(9)).build(
        Intent(goal="ask", topic="x"),
        receiver=receiver,
        sender_view="untrusted",
        state=SenderState(presence="focused", lri=1),
    )
    out = b.receive(intent, T0)
    assert kinds(out) == ["MessageDropped"]
    assert out[0].error == "TrustViolationError"  # untrusted peers: HELLO only
    pair.pump()
    assert b.step is Step.ACCEPTED
    mallory = CipBuilder(identity("M"), clock=clock, rng=SeededRng(10)).build(
        Intent(goal="ask", topic="x"),
        receiver=receiver,
        sender_view="untrusted",
        state=SenderState(presence="focused", lri=1),
    )
    assert kinds(b.receive(mallory, T0)) == ["MessageDropped"]


def test_misuse_is_a_local_error() -> None:
    pair = make_pair()
    with pytest.raises(ConfigError):
        pair.a.handshake.start(T0)
    with pytest.raises(ConfigError):
        pair.b.handshake.start(T0)
    me = identity("A")
    v = cip_validator(me.fingerprint, clock=FakeClock(T0), trust_of=lambda fp: "untrusted")
    with pytest.raises(ConfigError):
        Handshake(
            me,
            Role.INITIATOR,
            validator=v,
            rng=SeededRng(1),
            local_state=SenderState(presence="focused", lri=1),
        )


def test_events_and_payload_types() -> None:
    pair = make_pair()
    pair.pump()
    verified = pair.b.events[0]
    assert isinstance(verified, PeerVerified)
    assert len(verified.msg_ids) == 1
    state = pair.b.events[1]
    assert isinstance(state, PeerStateReceived)
    assert (state.presence, state.lri, state.ltppeerstate) == ("focused", 25, "probing")
    with pytest.raises(AttributeError):
        verified.peer = "x"  # type: ignore[misc]
    assert isinstance(Hello, type)
    assert not [e for e in pair.a.events + pair.b.events if isinstance(e, MessageDropped)]


# --- the table -----------------------------------------------------------------------------


def test_transition_table_shape() -> None:
    for (_role, step, event), target in TRANSITIONS.items():
        assert step not in TERMINAL
        if event in (Input.TIMEOUT, Input.BAD_SIGNATURE, Input.FINGERPRINT_MISMATCH):
            assert target is Step.FAILED
        if event is Input.RETRY:
            assert target is step
    for role in Role:
        reachable = {t for (r, _, _), t in TRANSITIONS.items() if r is role}
        assert {Step.ACCEPTED, Step.DEFERRED, Step.FAILED} <= reachable
    table = transition_table_markdown()
    assert table.count("\n") == len(TRANSITIONS) + 2
    spec = Path(__file__).resolve().parents[3] / "docs" / "CIP_SPEC.md"
    assert table in spec.read_text(encoding="utf-8"), "regenerate the table in CIP_SPEC.md"


def test_next_step_reads_the_role_tables() -> None:
    # Every (role, step, input) either has one rule (its target) or none (not allowed).
    for role, table in HANDSHAKE_TABLES.items():
        for step in Step:
            for event in Input:
                rules = table.rules_for(step, event)
                assert len(rules) <= 1
                assert all(r.guard is None for r in rules)
                expected = TRANSITIONS.get((role, step, event))
                assert next_step(role, step, event) == expected
                assert [r.dst for r in rules] == ([] if expected is None else [expected])
    assert next_step(Role.RESPONDER, Step.WAIT_HELLO, Input.TIMEOUT) is None


# --- more rejection rules -------------------------------------------------------------------


def hello_from(who: str, to: str, *, seed: int, **changes: object) -> dict:
    rng = SeededRng(seed)
    payload = Hello(
        protocols=["cip/1.0"],
        capabilities=["state_exchange"],
        session_nonce=base64.b64encode(rng.bytes(16)).decode(),
        challenge=base64.b64encode(rng.bytes(32)).decode(),
    )
    fields = {f: getattr(payload, f) for f in payload.__struct_fields__} | changes
    dest = identity(to)
    return CipBuilder(identity(who), clock=FakeClock(T0), rng=rng).build(
        Hello(**fields),  # type: ignore[arg-type]
        receiver=Receiver(agent_id=dest.agent_id, fingerprint=dest.fingerprint),
        sender_view="untrusted",
        state=SenderState(presence="focused", lri=1),
    )


def test_foreign_sender_mid_handshake_is_dropped() -> None:
    pair = make_pair()
    hello = pair.a.handshake.next_outgoing()
    assert hello is not None
    pair.b.handshake.receive(hello, T0)
    out = pair.b.handshake.receive(hello_from("M", "B", seed=5), T0)
    assert out[0].reason == "sender is not this handshake's peer"
    assert pair.b.handshake.step is Step.WAIT_CONFIRM


def test_response_before_hello_is_dropped() -> None:
    pair = make_pair()
    sig = base64.b64encode(bytes(64)).decode()
    out = pair.b.handshake.receive(hello_from("A", "B", seed=5, challenge_response=sig), T0)
    assert kinds(out) == ["MessageDropped"]
    assert "hello_response in WAIT_HELLO" in out[0].reason
    assert pair.b.trust == {}


def test_peer_without_cip_fails_without_trust_event() -> None:
    pair = make_pair()
    out = pair.b.handshake.receive(hello_from("A", "B", seed=5, protocols=["other/2.0"]), T0)
    assert kinds(out) == ["HandshakeFailed"]
    assert pair.b.handshake.step is Step.FAILED


def test_changed_nonce_in_confirming_hello_fails() -> None:
    def tamper(src: str, data: bytes) -> bytes:
        env = json.loads(data)
        if src == "A" and env["payload"].get("challenge_response"):
            return resign(
                data,
                "A",
                lambda e: e["payload"].update(session_nonce=base64.b64encode(bytes(16)).decode()),
            )
        return data

    pair = make_pair(tamper=tamper)
    pair.pump()
    assert pair.b.handshake.step is Step.FAILED
    failed = [e for e in pair.b.events if isinstance(e, HandshakeFailed)]
    assert [e.reason for e in failed] == ["peer changed its nonce or challenge"]
    assert pair.b.trust == {}


def test_reused_session_nonce_is_a_replay() -> None:
    from web4.envelope.replay import ReplayCache

    nonces = ReplayCache()
    me = identity("B")
    trust: dict[str, str] = {}

    def responder() -> Handshake:
        v = cip_validator(me.fingerprint, clock=FakeClock(T0), trust_of=lambda fp: "untrusted")
        return Handshake(
            me,
            Role.RESPONDER,
            validator=v,
            rng=SeededRng(3),
            nonces=nonces,
            local_state=SenderState(presence="focused", lri=1),
        )

    assert responder().receive(hello_from("A", "B", seed=5), T0) == []
    # Same nonce and challenge, new msg_id: a second session with a reused nonce.
    again = hello_from("A", "B", seed=5)
    again = sign_envelope(
        {**again, "msg_id": "0" * 8 + "-0000-4000-8000-" + "0" * 12}, identity("A")
    )
    out = responder().receive(again, T0 + 1)
    assert kinds(out) == ["MessageDropped"]
    assert out[0].error == "ReplayError"
    assert trust == {}


def test_mismatch_from_a_stranger_is_not_attributed() -> None:
    pair = make_pair(bind_responder=True)
    forged = hello_from("M", "B", seed=5)
    forged["sender"]["fingerprint"] = "cd" * 32
    out = pair.b.handshake.receive(sign_envelope(forged, identity("M")), T0)
    assert kinds(out) == ["MessageDropped"]
    assert out[0].error == "FingerprintMismatchError"
    assert pair.b.trust == {}
    assert pair.b.handshake.step is Step.WAIT_HELLO


def test_repeats_are_answered_a_bounded_number_of_times() -> None:
    pair = make_pair()
    hello = pair.a.handshake.next_outgoing()
    assert hello is not None
    b = pair.b.handshake
    b.receive(hello, T0)
    assert b.next_outgoing() is not None
    env = json.loads(hello)
    answers = []
    for i in range(4):
        repeat = sign_envelope(
            {**env, "msg_id": f"{i:08d}-0000-4000-8000-000000000000"}, identity("A")
        )
        answers += b.receive(repeat, T0 + i)
    assert kinds(answers) == ["Retransmitted", "Retransmitted", "MessageDropped", "MessageDropped"]
    assert b.step is Step.WAIT_CONFIRM


def test_lost_decision_is_answered_again_after_the_end() -> None:
    """B accepted, but its decision was lost: A's retransmitted INTENT gets it again."""
    seen: list[str] = []

    def tamper(src: str, data: bytes) -> bytes | None:
        env = json.loads(data)
        if src == "B" and (env["payload"].get("intent") or "").startswith("accept:"):
            seen.append(env["msg_id"])
            if len(seen) == 1:
                return None
        return data

    pair = make_pair(tamper=tamper)
    pair.pump()
    assert pair.b.handshake.step is Step.ACCEPTED
    assert pair.a.handshake.step is Step.WAIT_DECISION
    pair.tick(10)
    pair.pump()
    assert pair.a.handshake.step is Step.ACCEPTED
    assert len(seen) == 2
    done = pair.a.events[-1]
    assert isinstance(done, HandshakeDone)
    assert done.outcome == "accepted"
    # A fresh message to a finished handshake is refused, not processed.
    late = hello_from("A", "B", seed=8)
    assert kinds(pair.b.handshake.receive(late, pair.clock.now())) == ["MessageDropped"]
