"""Patterned envelope fields also have exact lengths: Python's `$` matches before a
trailing newline, so without them "<msg_id>\\n" or "<timestamp>\\n" would pass the schema."""

from __future__ import annotations

from typing import Any

import pytest

from web4.cip.builder import CipBuilder
from web4.cip.messages import Intent, SenderState
from web4.cip.validator import cip_validator
from web4.clock import FakeClock, SeededRng
from web4.envelope import sign_envelope
from web4.envelope.validate import Receiver
from web4.errors import InvalidEnvelopeError
from web4.identity import Identity

ALICE = Identity(SeededRng(11).bytes(32), "alice")
BOB = Identity(SeededRng(12).bytes(32), "bob")


@pytest.mark.parametrize(
    "path", [("msg_id",), ("timestamp",), ("sender", "fingerprint"), ("receiver", "fingerprint")]
)
def test_a_trailing_newline_is_a_structure_error(path: tuple[str, ...]) -> None:
    clock = FakeClock()
    builder = CipBuilder(ALICE, clock=clock, rng=SeededRng(1))
    env: dict[str, Any] = builder.build(
        Intent(goal="learn", topic="physics"),
        receiver=Receiver(agent_id=BOB.agent_id, fingerprint=BOB.fingerprint),
        sender_view="trusted",
        state=SenderState(presence="focused", lri=1),
    )
    node = env
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] += "\n"
    resigned = sign_envelope({k: v for k, v in env.items() if k != "sign"}, ALICE)
    validator = cip_validator(BOB.fingerprint, clock=clock, trust_of=lambda _: "trusted")
    with pytest.raises(InvalidEnvelopeError):
        validator.validate(resigned)
