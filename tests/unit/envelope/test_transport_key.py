"""``sender.pubkey`` optional when the transport authenticated the key (issue 16): the
validator verifies with ``transport_key`` (over RTT the PeerId embeds it), the
fingerprint must match it, and without either key the error is typed."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

from web4.cip.builder import CipBuilder
from web4.cip.messages import Intent, SenderState
from web4.cip.validator import cip_validator
from web4.clock import FakeClock, SeededRng, rfc3339
from web4.envelope import MissingPublicKeyError, public_key_of_peer_id, sign_envelope
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Receiver, Validator
from web4.errors import (
    FingerprintMismatchError,
    InvalidEnvelopeError,
    SignatureMismatchError,
)
from web4.hcp.messages import HCP_SPEC, HcpIntent
from web4.identity import Identity
from web4.router import DESTINATIONS, Fault, Inbound, ProtocolRouter

ALICE = Identity(bytes([1]) * 32, "alice")
BOB = Identity(bytes([2]) * 32, "bob")
CAROL = Identity(bytes([3]) * 32, "carol")


def validator(clock: FakeClock) -> Validator[Any]:
    return cip_validator(
        BOB.fingerprint,
        clock=clock,
        trust_of=lambda fp: "probing",
        replay=ReplayCache(window=120.0, capacity=100),
    )


def without_pubkey(clock: FakeClock, signer: Identity = ALICE) -> dict[str, Any]:
    """An INTENT as an original peer sends it: no sender.pubkey, signed over that."""
    env = CipBuilder(ALICE, clock=clock, rng=SeededRng(5)).build(
        Intent(goal="ask", topic="tea"),
        receiver=Receiver(BOB.agent_id, BOB.fingerprint),
        sender_view="probing",
        state=SenderState(presence="focused", lri=10),
    )
    body = {k: v for k, v in env.items() if k != "sign"}
    del body["sender"]["pubkey"]
    return sign_envelope(body, signer)


def test_verified_with_the_transport_key() -> None:
    clock = FakeClock()
    msg = validator(clock).validate(
        json.dumps(without_pubkey(clock)).encode(), transport_key=ALICE.public_key
    )
    assert msg.type == "INTENT"
    # the typed envelope names the key it was verified with
    assert msg.sender.pubkey == ALICE.public_key_b64
    assert base64.b64decode(msg.sender.pubkey) == ALICE.public_key


def test_no_pubkey_and_no_transport_key_is_a_typed_error() -> None:
    clock = FakeClock()
    with pytest.raises(MissingPublicKeyError, match=r"sender\.pubkey is absent"):
        validator(clock).validate(without_pubkey(clock))
    assert issubclass(MissingPublicKeyError, InvalidEnvelopeError)


def test_fingerprint_must_match_the_transport_key() -> None:
    clock = FakeClock()
    # claims alice, but the transport authenticated carol
    with pytest.raises(FingerprintMismatchError):
        validator(clock).validate(without_pubkey(clock), transport_key=CAROL.public_key)
    # claims alice, signed by carol, carol's link: the fingerprint is alice's, refused too
    with pytest.raises(FingerprintMismatchError):
        validator(clock).validate(
            without_pubkey(clock, signer=CAROL), transport_key=CAROL.public_key
        )


def test_signature_still_checked_under_the_transport_key() -> None:
    clock = FakeClock()
    env = without_pubkey(clock, signer=CAROL)  # alice's fingerprint, carol's signature
    with pytest.raises(SignatureMismatchError):
        validator(clock).validate(env, transport_key=ALICE.public_key)
    env = without_pubkey(clock)
    env["payload"]["topic"] = "coffee"  # tampered after signing
    with pytest.raises(SignatureMismatchError):
        validator(clock).validate(env, transport_key=ALICE.public_key)


def test_a_present_pubkey_is_used_as_before() -> None:
    clock = FakeClock()
    env = CipBuilder(ALICE, clock=clock, rng=SeededRng(5)).build(
        Intent(goal="ask", topic="tea"),
        receiver=Receiver(BOB.agent_id, BOB.fingerprint),
        sender_view="probing",
        state=SenderState(presence="focused", lri=10),
    )
    assert validator(clock).validate(env, transport_key=CAROL.public_key).type == "INTENT"


def test_public_key_of_peer_id() -> None:
    assert public_key_of_peer_id(ALICE.peer_id) == ALICE.public_key
    for bad in ("", "0OIl", "1" * 65, "12D3KooW"):
        with pytest.raises(InvalidEnvelopeError):
            public_key_of_peer_id(bad)


def test_hcp_without_pubkey_and_trust_over_an_authenticated_link() -> None:
    clock = FakeClock()
    v = Validator(
        HCP_SPEC,
        our_fingerprint=BOB.fingerprint,
        clock=clock,
        replay=ReplayCache(),
        trust_gate=lambda f, t: None,
    )
    # the original HCP envelope: no pubkey, no capabilities, no trust
    env = sign_envelope(
        {
            "hcp": "1.0",
            "msg_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "type": "HCP_INTENT",
            "timestamp": rfc3339(clock.now()),
            "sender": {"agent_id": "human:ann", "fingerprint": ALICE.fingerprint},
            "receiver": {"agent_id": BOB.agent_id, "fingerprint": BOB.fingerprint},
            "state": {
                "human": {
                    "presence": "focused",
                    "affect": "calm",
                    "clarity": 80,
                    "pressure": 20,
                    "intent": "plan",
                    "consent": "granted",
                }
            },
            "payload": {"goal": "align", "topic": "plan", "priority": "normal"},
        },
        ALICE,
    )
    with pytest.raises(MissingPublicKeyError):
        v.validate(env)
    msg = v.validate(env, transport_key=ALICE.public_key)
    assert msg.trust is None
    assert isinstance(msg.payload, HcpIntent)
    assert msg.sender.pubkey == ALICE.public_key_b64


def test_the_router_passes_the_link_key() -> None:
    clock = FakeClock()
    seen: list[Inbound] = []
    faults: list[Fault] = []
    router = ProtocolRouter(
        {"cip": validator(clock)},
        emit=lambda kind, **kw: None,
        clock=clock,
        on_fault=faults.append,
    )
    for dest in DESTINATIONS:
        router.bind(dest, seen.append)
    data = json.dumps(without_pubkey(clock)).encode()
    refused = asyncio.run(router.route(data, link_peer=ALICE.fingerprint))
    assert refused.outcome == "rejected"
    assert isinstance(refused.error, MissingPublicKeyError)
    assert faults
    assert not faults[0].authenticated
    routed = asyncio.run(router.route(data, link_peer=ALICE.fingerprint, link_key=ALICE.public_key))
    assert routed.outcome == "routed", routed
    assert [m.peer for m in seen] == [ALICE.fingerprint]
    assert seen[0].raw == data


@pytest.mark.parametrize("with_pubkey", [True, False])
def test_an_envelope_without_canonical_form_is_the_peers_error(with_pubkey: bool) -> None:
    # An unknown member is accepted, but RFC 8785 has no form for an integer beyond 2^53:
    # the peer's fault (InvalidEnvelopeError, a RemoteError), never a local error.
    clock = FakeClock()
    env = without_pubkey(clock)
    env["x_big"] = 2**60
    if with_pubkey:
        env["sender"]["pubkey"] = ALICE.public_key_b64
    with pytest.raises(InvalidEnvelopeError):
        validator(clock).validate(env, transport_key=ALICE.public_key)
