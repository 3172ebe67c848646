"""The ``original`` profile's own cases: a peer built from the original CIP specification
(the Web4 project, safal207/LS; issue 16) against the target.

Theory of operation: a peer written from the original documents sends envelopes this
runtime never sends: a timestamp in another RFC 3339 spelling (an offset, no fraction), a
``msg_id`` that is an upper-case UUID of another version, no ``sender.pubkey`` (over RTT
the session already authenticated the key), members the original leaves open, and the
original's two-HELLO handshake (HELLO, the answering HELLO, then STATE_UPDATE and INTENT;
no third HELLO). Each case builds such a peer's messages by hand (signed over their
RFC 8785 form with Ed25519, as the original requires) and asks for what the original
makes observable: the answering HELLO, then the decision on the INTENT (CIP_SPEC §6: a
STATE_UPDATE whose payload intent is ``accept:<INTENT msg_id>``). The same messages are
sent to a real node by the compatibility suite (``tests/compat/``), which also checks
them against the original schemas.

``CASES`` lists them; ``register_all`` adds them to the catalogue (the runner calls it).
"""

from __future__ import annotations

import base64
import os
import time
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any

from web4.conformance.runner import Case, Kind, Mismatch, register
from web4.conformance.wire import Env, Got, Peer, Target, wire

__all__ = ["CASES", "original_envelope", "register_all"]

_PLUS_ONE = timezone(timedelta(hours=1))
SPEC = "CIP_SPEC §6 and §10 (D3, D4, D5, D6, D19); the original CIP_SPEC §4"


def _timestamp(t: float) -> str:
    """``t`` as ``2026-12-07T10:00:00+01:00``: an offset and no fraction."""
    return datetime.fromtimestamp(t, tz=_PLUS_ONE).strftime("%Y-%m-%dT%H:%M:%S+01:00")


def _msg_id() -> str:
    """An upper-case UUID of version 1 layout (random bits; the original's ``format: uuid``
    takes any version and case)."""
    text = str(uuid.UUID(bytes=os.urandom(16), version=4))
    return (text[:14] + "1" + text[15:]).upper()


def original_envelope(
    p: Peer, msg_type: str, payload: Env, *, extra: Env | None = None, pubkey: bool = False
) -> Env:
    """A signed CIP envelope from ``p`` to the target as the original writes it: no
    ``sender.pubkey`` (unless ``pubkey``), an offset timestamp, an upper-case v1 UUID;
    ``extra`` members are added at the top level before signing."""
    sender: Env = {
        "agent_id": p.identity.agent_id,
        "fingerprint": p.fingerprint,
        "capabilities": ["state_exchange", "knowledge_exchange"],
    }
    if pubkey:
        sender["pubkey"] = p.identity.public_key_b64
    receiver = p.target.receiver
    env: Env = {
        "cip": "1.0",
        "msg_id": _msg_id(),
        "type": msg_type,
        "timestamp": _timestamp(time.time()),
        "sender": sender,
        "receiver": {"agent_id": receiver.agent_id, "fingerprint": receiver.fingerprint},
        "trust": {"sender_view": "untrusted", "receiver_view": "unknown"},
        "state": {"presence": "focused", "lri": 20, "kernel_signals": []},
        "payload": payload,
        **(extra or {}),
    }
    return p.sign(env)


def _hello_payload() -> Env:
    return {
        "protocols": ["cip/1.0"],
        "capabilities": ["state_exchange", "knowledge_exchange"],
        "session_nonce": base64.b64encode(os.urandom(16)).decode("ascii"),
        "challenge": base64.b64encode(os.urandom(32)).decode("ascii"),
        "features": {"supports_mesh": False, "supports_multiplex": True},
    }


def _step(target: Target) -> float:
    return max(target.quiet, 0.4 * target.timeout)


def _is_hello(g: Got) -> bool:
    return g.channel == "control" and g.type == "HELLO"


async def _answered(p: Peer, hello: Env) -> Got:
    await p.send(wire(hello))
    got = await p.wait(_is_hello, _step(p.target))
    if got is None:
        ended = " and ended the session" if p.closed else ""
        raise Mismatch(f"no HELLO in answer to the original HELLO{ended}")
    if not isinstance(got.payload.get("challenge_response"), str):
        raise Mismatch("the answering HELLO carries no challenge_response")
    return got


async def _hello(target: Target) -> None:
    async with Peer(target, "original-hello") as p:
        await _answered(p, original_envelope(p, "HELLO", _hello_payload()))


async def _open_objects(target: Target) -> None:
    async with Peer(target, "original-open") as p:
        payload = {**_hello_payload(), "x_vendor_hint": {"level": 1}}
        hello = original_envelope(p, "HELLO", payload, extra={"x_trace": "abc"}, pubkey=True)
        hello["sender"]["x_client"] = "original-peer/1.0"
        await _answered(p, p.sign(hello))


async def _handshake(target: Target) -> None:
    async with Peer(target, "original-handshake") as p:
        await _answered(p, original_envelope(p, "HELLO", _hello_payload()))
        state = {
            "presence": "focused",
            "lri": 20,
            "ltppeerstate": "probing",
            "kernel_signals": [],
            "intent": "verify_knowledge",
        }
        intent: dict[str, Any] = {
            "goal": "verify_knowledge",
            "topic": "boiling point of water",
            "priority": "normal",
            "context": "original-style initiator",
        }
        sent_state = original_envelope(p, "STATE_UPDATE", state)
        sent_intent = original_envelope(p, "INTENT", intent)
        await p.send(wire(sent_state))
        await p.send(wire(sent_intent))
        accept = f"accept:{sent_intent['msg_id']}".lower()

        def decided(g: Got) -> bool:
            said = g.payload.get("intent")
            return g.type == "STATE_UPDATE" and isinstance(said, str) and said.lower() == accept

        if await p.wait(decided, _step(target)) is None:
            seen = [g.describe() for g in p.received]
            raise Mismatch(f"no STATE_UPDATE with intent {accept}; the target sent {seen}")


async def _hcp_hello(target: Target) -> None:
    async with Peer(target, "original-human") as p:
        human = {
            "presence": "engaged",
            "affect": "calm",
            "clarity": 75,
            "pressure": 25,
            "intent": "plan the week",
            "consent": "granted",
        }
        receiver = p.target.receiver
        env: Env = {
            "hcp": "1.0",
            "msg_id": _msg_id(),
            "type": "HCP_HELLO",
            "timestamp": _timestamp(time.time()),
            "sender": {"agent_id": p.identity.agent_id, "fingerprint": p.fingerprint},
            "receiver": {"agent_id": receiver.agent_id, "fingerprint": receiver.fingerprint},
            "state": {"human": human},
            "payload": {
                "identity": {"name": "Alice", "role": "operator"},
                "consent_scope": ["topic:work"],
                "safety_flags": ["slow_pacing"],
            },
        }
        await p.send(wire(p.sign(env)))
        got = await p.wait(lambda g: g.envelope is not None and "hcp" in g.envelope, _step(target))
        if got is None:
            ended = " and ended the session" if p.closed else ""
            raise Mismatch(f"no HCP message in answer to the original HCP_HELLO{ended}")


_POS: Kind = "positive"
CASES: tuple[Case, ...] = (
    Case(
        "cip.original.hello",
        "the original's first HELLO: no sender.pubkey, an offset timestamp, an upper-case "
        "v1 msg_id, no challenge_response",
        "a HELLO with a challenge_response (the original's step 2)",
        SPEC, _POS, _hello, profiles=frozenset({"original"}),
    ),
    Case(
        "cip.original.open_objects",
        "the original's first HELLO with members the original leaves open (top level, "
        "sender, payload) and sender.pubkey",
        "a HELLO (unknown members are ignored)",
        SPEC, _POS, _open_objects, profiles=frozenset({"original"}),
    ),
    Case(
        "cip.original.handshake",
        "the original two-HELLO handshake: HELLO, then STATE_UPDATE and INTENT, no third "
        "HELLO",
        "a HELLO, then a STATE_UPDATE whose payload intent is accept:<our INTENT's msg_id>",
        SPEC, _POS, _handshake, profiles=frozenset({"original"}),
    ),
    Case(
        "hcp.original.hello",
        "the original's HCP_HELLO as a human's first message: no CIP handshake, no "
        "sender.pubkey, no trust block, an offset timestamp",
        "an HCP answer (to a key the operator did not authorise: the signed not_authorized "
        "refusal)",
        "HCP_SPEC §9, §9.1 and §10; the original HCP_SPEC", _POS, _hcp_hello,
        profiles=frozenset({"original"}),
    ),
)  # fmt: skip


_registered: list[Case] = []


def register_all() -> None:
    """Add ``CASES`` to the catalogue; again is a no-op."""
    for case in CASES:
        if case not in _registered:
            _registered.append(register(case))
