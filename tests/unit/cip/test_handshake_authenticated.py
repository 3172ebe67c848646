"""The authenticated variant of the CIP handshake (CIP_SPEC §6): the original two-HELLO
handshake completes when the transport authenticated the peer's key, in both roles, and
does not without it. The other side is an original-style peer (``support.original_peer``)
or our own handshake; time is virtual and every byte deterministic."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import pytest
from cip_pair import T0, identity

from support.original_peer import OriginalPeer
from web4.cip._proof import response_message
from web4.cip._state import Role, Step
from web4.cip.events import (
    HandshakeDone,
    HandshakeEvent,
    HandshakeFailed,
    IntentReceived,
    MessageDropped,
    PeerBlacklisted,
    PeerUntrusted,
    PeerVerified,
)
from web4.cip.handshake import Handshake
from web4.cip.messages import Intent, SenderState
from web4.cip.validator import cip_validator
from web4.clock import FakeClock, SeededRng
from web4.envelope.crypto import verify_signature
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Receiver
from web4.errors import ConfigError
from web4.identity import Identity


@dataclass
class Ours:
    """Our handshake with a dict standing in for the node's TrustFSM."""

    hs: Handshake
    clock: FakeClock
    trust: dict[str, str] = field(default_factory=dict)
    events: list[HandshakeEvent] = field(default_factory=list)

    def feed(self, env: dict[str, Any] | bytes) -> list[HandshakeEvent]:
        self.clock.advance(0.05)
        events = self.hs.receive(env, self.clock.now())
        for e in events:  # as the node's CIP service does
            if isinstance(e, PeerVerified):
                self.trust[e.peer] = "probing"
            elif isinstance(e, PeerUntrusted):
                self.trust[e.peer] = "untrusted"
            elif isinstance(e, PeerBlacklisted):
                self.trust[e.peer] = "blacklisted"
        self.events.extend(events)
        return events

    def sent(self) -> list[dict[str, Any]]:
        out = []
        while (data := self.hs.next_outgoing()) is not None:
            out.append(OriginalPeer.parse(data))
        return out


def ours(
    role: Role,
    peer: Identity,
    *,
    authenticated: bool,
    state: SenderState | None = None,
    name: str = "N",
) -> Ours:
    clock = FakeClock(T0)
    me = identity(name)
    trust: dict[str, str] = {}
    validator = cip_validator(
        me.fingerprint,
        clock=clock,
        trust_of=lambda fp: trust.get(fp, "untrusted"),
        replay=ReplayCache(window=120.0, capacity=1024),
    )
    hs = Handshake(
        me,
        role,
        validator=validator,
        rng=SeededRng(3),
        local_state=state or SenderState(presence="focused", lri=10),
        peer=Receiver(peer.agent_id, peer.fingerprint),
        intent=Intent(goal="learn", topic="boiling point"),
        transport_key=peer.public_key if authenticated else None,
    )
    out = Ours(hs, clock, trust)
    if role is Role.INITIATOR:
        out.events.extend(hs.start(clock.now()))
    return out


def original(name: str = "O", **kw: Any) -> OriginalPeer:
    return OriginalPeer(identity(name), identity("N").fingerprint, **kw)


def done(events: list[HandshakeEvent]) -> HandshakeDone | None:
    return next((e for e in events if isinstance(e, HandshakeDone)), None)


# --- our node as responder, an original initiator -------------------------------------------


def run_original_initiator(node: Ours, peer: OriginalPeer, presence: str = "focused") -> None:
    node.feed(peer.hello(node.clock.now()))
    node.sent()  # our HELLO
    node.feed(peer.state_update(node.clock.now(), presence))
    node.feed(peer.intent(node.clock.now()))


def test_responder_completes_the_original_two_hello_handshake() -> None:
    peer = original()
    node = ours(Role.RESPONDER, peer.identity, authenticated=True)
    events = node.feed(peer.hello(node.clock.now()))
    # verified on its first HELLO: the trust gate lets its STATE_UPDATE and INTENT in
    assert [type(e) for e in events] == [PeerVerified]
    assert node.trust[peer.identity.fingerprint] == "probing"
    (hello,) = node.sent()
    assert hello["type"] == "HELLO"
    assert hello["trust"]["sender_view"] == "probing"
    # our answer proves our key over its challenge, in our form (CIP_SPEC §6)
    signed = response_message(
        peer.challenge,
        node.hs._id.fingerprint,
        peer.identity.fingerprint,
        base64.b64decode(hello["payload"]["session_nonce"]),
        peer.nonce,
    )
    proof = base64.b64decode(hello["payload"]["challenge_response"])
    assert verify_signature(identity("N").public_key, signed, proof)

    node.feed(peer.state_update(node.clock.now()))
    (state,) = node.sent()  # our STATE_UPDATE answers its state
    assert state["type"] == "STATE_UPDATE"
    assert state["payload"]["presence"] == "focused"
    events = node.feed(peer.intent(node.clock.now()))
    assert any(isinstance(e, IntentReceived) for e in events)
    (decision,) = node.sent()
    assert decision["payload"]["intent"] == f"accept:{peer.sent_intent}"
    result = done(events)
    assert result is not None
    assert result.outcome == "accepted"
    assert node.hs.step is Step.ACCEPTED
    assert not [e for e in node.events if isinstance(e, MessageDropped)]


def test_responder_without_a_transport_key_still_needs_the_confirming_hello() -> None:
    # The three-HELLO variant: the same original initiator never completes (this is the
    # behaviour the authenticated variant changes; the test above fails without it).
    peer = original()
    node = ours(Role.RESPONDER, peer.identity, authenticated=False)
    run_original_initiator(node, peer)
    assert node.hs.step is Step.WAIT_CONFIRM
    assert not any(isinstance(e, PeerVerified) for e in node.events)
    dropped = [e for e in node.events if isinstance(e, MessageDropped)]
    assert [d.error for d in dropped] == ["TrustViolationError", "TrustViolationError"]


def test_responder_defers_an_overloaded_original_initiator() -> None:
    peer = original()
    node = ours(Role.RESPONDER, peer.identity, authenticated=True)
    run_original_initiator(node, peer, presence="overloaded")
    result = done(node.events)
    assert result is not None
    assert result.outcome == "deferred"
    assert node.hs.step is Step.DEFERRED


def test_responder_refuses_a_hello_whose_key_is_not_the_transports() -> None:
    # The transport authenticated O; a HELLO signed by M (valid in itself) is not O's.
    peer, mallory = original(), original("M")
    node = ours(Role.RESPONDER, peer.identity, authenticated=True)
    node.feed(mallory.hello(node.clock.now()))
    assert node.hs.step is Step.WAIT_HELLO
    assert not any(isinstance(e, PeerVerified) for e in node.events)
    assert node.sent() == []
    # ... and a HELLO claiming O's fingerprint with M's key blacklists nobody but the
    # claimed (bound) peer, as before; the handshake fails
    forged = mallory.hello(node.clock.now())
    forged["sender"]["fingerprint"] = peer.identity.fingerprint
    events = node.feed(forged)
    assert any(isinstance(e, PeerBlacklisted) for e in events)
    assert node.hs.step is Step.FAILED


def test_responder_checks_an_optional_confirming_hello() -> None:
    # A confirming HELLO over an authenticated transport is still verified: a bad proof
    # fails the handshake as a bad signature.
    peer = original()
    node = ours(Role.RESPONDER, peer.identity, authenticated=True)
    node.feed(peer.hello(node.clock.now()))
    node.sent()
    bad = peer.hello(node.clock.now(), response=base64.b64encode(bytes(64)).decode())
    events = node.feed(bad)
    assert any(isinstance(e, PeerUntrusted) for e in events)
    assert node.hs.step is Step.FAILED


def test_web4_initiator_and_responder_both_authenticated() -> None:
    # Our own two sides over an authenticated transport: the initiator still sends the
    # confirming HELLO (a web4 responder's proof is in our form) and both complete.
    a_id, b_id = identity("A"), identity("N")
    b = ours(Role.RESPONDER, a_id, authenticated=True)
    a = ours(Role.INITIATOR, b_id, authenticated=True, name="A")
    a.clock = b.clock  # one clock for both
    wire: list[tuple[str, str]] = []
    for _ in range(20):
        moved = False
        for src, dst, name in ((a, b, "A"), (b, a, "B")):
            while (data := src.hs.next_outgoing()) is not None:
                moved = True
                wire.append((name, OriginalPeer.parse(data)["type"]))
                dst.feed(data)
        if not moved:
            break
    assert a.hs.step is Step.ACCEPTED
    assert b.hs.step is Step.ACCEPTED
    assert wire[:3] == [("A", "HELLO"), ("B", "HELLO"), ("A", "HELLO")]
    assert sum(1 for _, t in wire if t == "HELLO") == 3
    for side in (a, b):
        assert not [e for e in side.events if isinstance(e, MessageDropped)]
        assert sum(isinstance(e, PeerVerified) for e in side.events) == 1


# --- our node as initiator, an original responder -------------------------------------------


def run_original_responder(
    node: Ours, peer: OriginalPeer, *, proof: str | None = None, presence: str = "focused"
) -> list[dict[str, Any]]:
    (our_hello,) = node.sent()
    assert "challenge_response" not in our_hello["payload"] or (
        our_hello["payload"]["challenge_response"] is None
    )
    if proof == "bare":
        response: str | None = peer.bare_proof(our_hello)
    elif proof == "junk":
        response = base64.b64encode(peer.identity.sign(b"something else")).decode()
    else:
        response = None
    node.feed(peer.hello(node.clock.now(), response=response))
    sent = node.sent()
    node.feed(peer.state_update(node.clock.now(), presence))
    return sent + node.sent()


@pytest.mark.parametrize("proof", [None, "bare"])
def test_initiator_completes_with_an_original_responder(proof: str | None) -> None:
    peer = original()
    node = ours(Role.INITIATOR, peer.identity, authenticated=True)
    sent = run_original_responder(node, peer, proof=proof)
    # STATE_UPDATE and INTENT after its HELLO, and no third HELLO
    assert [e["type"] for e in sent] == ["STATE_UPDATE", "INTENT"]
    verified = [e for e in node.events if isinstance(e, PeerVerified)]
    assert len(verified) == 1
    assert verified[0].peer == peer.identity.fingerprint
    result = done(node.events)
    assert result is not None
    assert result.outcome == "accepted"
    assert result.intent_msg_id == sent[1]["msg_id"]
    assert node.hs.step is Step.ACCEPTED


@pytest.mark.parametrize("proof", [None, "bare"])
def test_initiator_without_a_transport_key_does_not_take_the_original_answer(
    proof: str | None,
) -> None:
    peer = original()
    node = ours(Role.INITIATOR, peer.identity, authenticated=False)
    sent = run_original_responder(node, peer, proof=proof)
    assert sent == []
    assert done(node.events) is None
    assert not any(isinstance(e, PeerVerified) for e in node.events)
    if proof == "bare":  # the bare proof is not ours: a bad signature without the transport
        assert any(isinstance(e, PeerUntrusted) for e in node.events)
        assert node.hs.step is Step.FAILED
    else:
        assert node.hs.step is Step.WAIT_HELLO


def test_initiator_refuses_a_proof_in_no_known_form() -> None:
    peer = original()
    node = ours(Role.INITIATOR, peer.identity, authenticated=True)
    run_original_responder(node, peer, proof="junk")
    assert any(isinstance(e, PeerUntrusted) for e in node.events)
    assert any(isinstance(e, HandshakeFailed) for e in node.events)
    assert node.hs.step is Step.FAILED


def test_initiator_defers_when_the_original_responder_is_overloaded() -> None:
    peer = original()
    node = ours(Role.INITIATOR, peer.identity, authenticated=True)
    run_original_responder(node, peer, presence="overloaded")
    result = done(node.events)
    assert result is not None
    assert result.outcome == "deferred"


def test_initiator_takes_an_explicit_decision_from_an_original_responder() -> None:
    peer = original()
    node = ours(Role.INITIATOR, peer.identity, authenticated=True)
    node.sent()
    node.feed(peer.hello(node.clock.now()))
    intent = node.sent()[1]
    decision = peer.state_update(node.clock.now())
    decision["payload"]["intent"] = f"defer:{intent['msg_id']}"
    decision = peer.envelope("STATE_UPDATE", decision["payload"], node.clock.now())
    node.feed(decision)
    result = done(node.events)
    assert result is not None
    assert result.outcome == "deferred"


def test_initiator_retransmits_state_and_intent_then_fails() -> None:
    peer = original()
    node = ours(Role.INITIATOR, peer.identity, authenticated=True)
    node.sent()
    node.feed(peer.hello(node.clock.now()))
    assert [e["type"] for e in node.sent()] == ["STATE_UPDATE", "INTENT"]
    node.clock.advance(10.0)
    node.events.extend(node.hs.handle_timeout(node.clock.now()))
    assert [e["type"] for e in node.sent()] == ["STATE_UPDATE", "INTENT"]
    for _ in range(2):
        node.clock.advance(10.0)
        node.events.extend(node.hs.handle_timeout(node.clock.now()))
    assert node.hs.step is Step.FAILED


# --- construction ---------------------------------------------------------------------------


def test_transport_key_must_be_the_peers() -> None:
    me, other = identity("N"), identity("O")
    clock = FakeClock(T0)
    validator = cip_validator(me.fingerprint, clock=clock, trust_of=lambda fp: "untrusted")
    common: dict[str, Any] = {
        "validator": validator,
        "rng": SeededRng(1),
        "local_state": SenderState(presence="focused", lri=1),
        "intent": Intent(goal="learn", topic="t"),
    }
    with pytest.raises(ConfigError):
        Handshake(
            me, Role.INITIATOR, peer=Receiver("x", me.fingerprint),
            transport_key=other.public_key, **common,
        )  # fmt: skip
    with pytest.raises(ConfigError):
        Handshake(me, Role.RESPONDER, transport_key=b"short", **common)
    hs = Handshake(me, Role.RESPONDER, transport_key=other.public_key, **common)
    assert hs.authenticated
    assert hs.peer is not None
    assert hs.peer.fingerprint == other.fingerprint
    plain = Handshake(me, Role.RESPONDER, **common)
    assert not plain.authenticated
