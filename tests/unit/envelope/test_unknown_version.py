"""A version this node does not speak (docs/RTT_SPEC.md section 14): an envelope whose
``cip`` is not "1.0" is refused at the first validator check with a typed error, even
when it is correctly signed, and the refusal changes no state."""

from __future__ import annotations

import pytest

from web4.cip.builder import CipBuilder
from web4.cip.messages import Features, Hello, SenderState
from web4.cip.validator import cip_validator
from web4.clock import FakeClock, SeededRng
from web4.envelope import sign_envelope
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Receiver
from web4.errors import InvalidEnvelopeError, RemoteError
from web4.identity import Identity

ALICE = Identity(bytes([1]) * 32, "alice")
BOB = Identity(bytes([2]) * 32, "bob")


def _hello_envelope(clock: FakeClock) -> dict[str, object]:
    rng = SeededRng(1)
    hello = Hello(
        protocols=["cip/1.0"],
        capabilities=[],
        session_nonce="AAAAAAAAAAAAAAAAAAAAAA==",
        challenge="AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        features=Features(),
    )
    return CipBuilder(ALICE, clock=clock, rng=rng).build(
        hello,
        receiver=Receiver(agent_id=BOB.agent_id, fingerprint=BOB.fingerprint),
        sender_view="untrusted",
        state=SenderState(presence="focused", lri=20),
    )


@pytest.mark.parametrize("version", ["2.0", "1.1", "1", ""])
def test_an_envelope_of_another_cip_version_is_refused_with_a_typed_error(version: str) -> None:
    clock = FakeClock()
    replay = ReplayCache(window=120.0, capacity=100)
    validator = cip_validator(
        BOB.fingerprint, clock=clock, trust_of=lambda _fp: "untrusted", replay=replay
    )
    env = _hello_envelope(clock)
    env.pop("sign")
    env["cip"] = version
    signed = sign_envelope(env, ALICE)  # a valid signature: the version alone is refused
    with pytest.raises(InvalidEnvelopeError, match=r"\$\.cip") as refused:
        validator.validate(signed)
    assert isinstance(refused.value, RemoteError)  # the peer's fault, never a local error
    # the refusal recorded nothing: the same sender's 1.0 envelope with that msg_id passes
    ok = _hello_envelope(clock)
    assert validator.validate(ok).cip == "1.0"
