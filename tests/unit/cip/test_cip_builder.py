"""The builder fills the fields a sender must not get wrong, deterministically."""

from __future__ import annotations

import re
import uuid

import msgspec
import pytest

from web4.cip.builder import CipBuilder, new_msg_id
from web4.cip.messages import Intent, SenderState
from web4.clock import FakeClock, SeededRng
from web4.envelope import canonicalize, verify_envelope
from web4.envelope.validate import Receiver
from web4.errors import MessageBuildError
from web4.identity import Identity

ALICE = Identity(bytes([1]) * 32, "alice")
BOB = Receiver(agent_id="bob", fingerprint=Identity(bytes([2]) * 32).fingerprint)
STATE = SenderState(presence="engaged", lri=40, kernel_signals=["overload"], intent="learn")


def make(seed: int = 5) -> CipBuilder:
    return CipBuilder(ALICE, clock=FakeClock(1_700_000_000.25), rng=SeededRng(seed))


def test_fills_header_fields_and_signs() -> None:
    env = make().build(
        Intent(goal="ask", topic="weather"),
        receiver=BOB,
        sender_view="probing",
        state=STATE,
        receiver_view="trusted",
    )
    assert env["cip"] == "1.0"
    assert env["type"] == "INTENT"
    assert uuid.UUID(env["msg_id"]).version == 4
    assert env["timestamp"] == "2023-11-14T22:13:20.250Z"
    assert env["sender"] == {
        "agent_id": "alice",
        "fingerprint": ALICE.fingerprint,
        "pubkey": ALICE.public_key_b64,
        "capabilities": ["state_exchange", "knowledge_exchange", "dmp_trace"],
    }
    assert env["trust"] == {"sender_view": "probing", "receiver_view": "trusted"}
    assert env["payload"]["priority"] == "normal"
    verify_envelope(env)


def test_deterministic_for_fixed_inputs() -> None:
    def one(seed: int) -> bytes:
        builder = make(seed)
        env = builder.build(
            Intent(goal="ask", topic="t"), receiver=BOB, sender_view="untrusted", state=STATE
        )
        return builder.encode(env)

    assert one(5) == one(5)
    assert one(5) != one(6)
    assert one(5) == canonicalize(msgspec.json.decode(one(5)))


def test_msg_ids_are_uuid4_from_the_rng() -> None:
    rng = SeededRng(1)
    ids = {new_msg_id(rng) for _ in range(100)}
    assert len(ids) == 100
    pattern = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
    assert all(pattern.match(i) for i in ids)


def test_refuses_to_sign_an_invalid_message() -> None:
    with pytest.raises(MessageBuildError, match="topic"):
        make().build(
            Intent(goal="ask", topic=""), receiver=BOB, sender_view="untrusted", state=STATE
        )
    with pytest.raises(MessageBuildError, match="lri"):
        make().build(
            Intent(goal="ask", topic="t"),
            receiver=BOB,
            sender_view="untrusted",
            state=SenderState(presence="focused", lri=101),
        )
    with pytest.raises(MessageBuildError, match="not a CIP payload"):
        make().build(
            Receiver(agent_id="x", fingerprint="0" * 64),
            receiver=BOB,
            sender_view="untrusted",
            state=STATE,
        )


def test_explicit_msg_id_is_shared_by_copies_to_several_peers() -> None:
    carol = Receiver(agent_id="carol", fingerprint=Identity(bytes([3]) * 32).fingerprint)
    builder = make()
    shared = new_msg_id(SeededRng(9))
    a = builder.build(Intent(goal="ask", topic="t"), receiver=BOB, sender_view="probing",
                      state=STATE, msg_id=shared)  # fmt: skip
    b = builder.build(Intent(goal="ask", topic="t"), receiver=carol, sender_view="probing",
                      state=STATE, msg_id=shared)  # fmt: skip
    assert a["msg_id"] == b["msg_id"] == shared
    verify_envelope(a)
    verify_envelope(b)
    with pytest.raises(MessageBuildError):
        builder.build(Intent(goal="ask", topic="t"), receiver=BOB, sender_view="probing",
                      state=STATE, msg_id="not-a-uuid")  # fmt: skip
