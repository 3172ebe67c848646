"""One way to build an envelope: CIP, HCP and LIP builders share it and its error type."""

from __future__ import annotations

import pytest

from web4.cip.builder import CipBuilder
from web4.cip.messages import CIP_SPEC, Intent, SenderState
from web4.clock import FakeClock, SeededRng
from web4.envelope import verify_envelope
from web4.envelope.build import build, msg_type_of
from web4.envelope.validate import Receiver
from web4.errors import MessageBuildError
from web4.hcp.builder import build_hcp
from web4.hcp.messages import HCP_SPEC, HcpContext, HumanState
from web4.identity import Identity
from web4.lip.builder import build_lip
from web4.lip.messages import LIP_SPEC, Source

ALICE = Identity(bytes([1]) * 32, "alice")
BOB = Identity(bytes([2]) * 32, "bob")
CLOCK = FakeClock(1_700_000_000.25)
STATE = SenderState(presence="engaged", lri=0)
HUMAN = HumanState(
    presence="focused", affect="calm", clarity=70, pressure=40, intent="plan", consent="granted"
)
SOURCE = Source("https://example.org/w", "medium", "2023-11-14T22:13:20.000Z")
NOT_A_PAYLOAD = SenderState(presence="engaged", lri=0)


def test_the_generic_build_signs_a_valid_envelope() -> None:
    env = build(
        CIP_SPEC,
        Intent(goal="ask", topic="weather"),
        identity=ALICE,
        receiver_id="bob",
        receiver_fingerprint=BOB.fingerprint,
        trust={"sender_view": "probing", "receiver_view": "unknown"},
        state=STATE,
        clock=CLOCK,
        rng=SeededRng(1),
        capabilities=("state_exchange",),
    )
    assert (env["cip"], env["type"]) == ("1.0", "INTENT")
    verify_envelope(env)


@pytest.mark.parametrize("spec", [CIP_SPEC, HCP_SPEC, LIP_SPEC], ids=lambda s: s.name)
def test_a_foreign_struct_is_a_build_error_for_every_protocol(spec: object) -> None:
    with pytest.raises(MessageBuildError, match="is not a"):
        msg_type_of(spec, NOT_A_PAYLOAD)  # type: ignore[arg-type]


def test_all_three_builders_raise_message_build_error() -> None:
    with pytest.raises(MessageBuildError):
        CipBuilder(ALICE, clock=CLOCK, rng=SeededRng(1)).build(
            NOT_A_PAYLOAD,
            receiver=Receiver(agent_id="bob", fingerprint=BOB.fingerprint),
            sender_view="probing",
            state=STATE,
        )
    with pytest.raises(MessageBuildError):
        build_hcp(
            ALICE,
            receiver_id="bob",
            receiver_fingerprint=BOB.fingerprint,
            payload=NOT_A_PAYLOAD,  # type: ignore[arg-type]
            human=HUMAN,
            clock=CLOCK,
            rng=SeededRng(1),
        )
    with pytest.raises(MessageBuildError):
        build_lip(
            ALICE,
            receiver_id="bob",
            receiver_fingerprint=BOB.fingerprint,
            payload=NOT_A_PAYLOAD,
            source=SOURCE,
            clock=CLOCK,
            rng=SeededRng(1),
        )


def test_a_schema_breaking_envelope_is_refused_for_hcp_too() -> None:
    with pytest.raises(MessageBuildError, match="would be invalid"):
        build_hcp(
            ALICE,
            receiver_id="bob",
            receiver_fingerprint="not-a-fingerprint",
            payload=HcpContext("hello", [], []),
            human=HUMAN,
            clock=CLOCK,
            rng=SeededRng(1),
        )
