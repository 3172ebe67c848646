"""Review: a responder bound to its peer by the first valid HELLO (no authenticated
link) must not turn a later *unauthenticated* envelope that merely claims to be from that
peer into a trust event: anyone could have forged it."""

from __future__ import annotations

import json
import uuid

from cip_pair import identity, make_pair

from web4.cip._state import Step
from web4.envelope import canonicalize, sign_envelope


def _bound_pair():  # type: ignore[no-untyped-def]
    pair = make_pair()  # the responder is given no link peer
    hello = pair.a.handshake.next_outgoing()
    assert hello is not None
    pair.clock.advance(0.05)
    pair.b.record(pair.b.handshake.receive(hello, pair.clock.now()))
    assert pair.b.handshake.step is Step.WAIT_CONFIRM  # bound to A by A's signed HELLO
    assert pair.b.handshake.peer is not None
    assert pair.b.handshake.peer.fingerprint == pair.a.identity.fingerprint
    return pair, json.loads(hello)


def test_forged_fingerprint_claim_does_not_blacklist_hello_bound_peer() -> None:
    pair, env = _bound_pair()
    a_fp = pair.a.identity.fingerprint
    mallory = identity("M")
    env.pop("sign")
    env["msg_id"] = str(uuid.UUID(int=7, version=4))
    env["sender"]["pubkey"] = mallory.public_key_b64  # A's fingerprint, Mallory's key
    forged = canonicalize(sign_envelope(env, mallory))
    events = pair.b.handshake.receive(forged, pair.clock.now())
    pair.b.record(events)
    assert [type(e).__name__ for e in events] == ["MessageDropped"]
    assert pair.b.trust.get(a_fp) is None
    assert pair.b.handshake.step is Step.WAIT_CONFIRM


def test_forged_signature_does_not_untrust_hello_bound_peer() -> None:
    pair, env = _bound_pair()
    a_fp = pair.a.identity.fingerprint
    env["msg_id"] = str(uuid.UUID(int=8, version=4))  # A's key and fingerprint, bad sig
    forged = canonicalize(env)
    events = pair.b.handshake.receive(forged, pair.clock.now())
    pair.b.record(events)
    assert [type(e).__name__ for e in events] == ["MessageDropped"]
    assert pair.b.trust.get(a_fp) is None
    assert pair.b.handshake.step is Step.WAIT_CONFIRM
    pair.pump()  # and the genuine handshake still completes
    assert pair.b.handshake.step is Step.ACCEPTED
