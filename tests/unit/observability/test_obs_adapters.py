"""Handshake records and trust audit entries become contract events (real classes)."""

from __future__ import annotations

import json

import jsonschema
import pytest

from web4.clock import FakeClock
from web4.observability import (
    EventBus,
    MemoryRing,
    emit_handshake_event,
    emit_trust_audit,
    encode_event,
)
from web4.observability.adapters import HANDSHAKE_KINDS
from web4.observability.events import event_json_schema
from web4.trust._state import TrustEvent, TrustState
from web4.trust.book import AuditEntry

FP = "ab" * 32


def _bus() -> tuple[EventBus, MemoryRing]:
    bus = EventBus("node-a", clock=FakeClock())
    ring = MemoryRing(100)
    bus.add_sink(ring)
    return bus, ring


def _entry(src: TrustState, dst: TrustState, operator: str | None = None) -> AuditEntry:
    return AuditEntry(
        seq=1,
        peer=FP,
        event=TrustEvent.HANDSHAKE_VERIFIED,
        src=src,
        dst=dst,
        changed=src != dst,
        note="n",
        cause="valid handshake",
        evidence=(),
        at=1.0,
        operator=operator,
    )


def test_trust_audit_entries():
    bus, ring = _bus()
    emit_trust_audit(bus, _entry(TrustState.UNTRUSTED, TrustState.PROBING))
    emit_trust_audit(bus, _entry(TrustState.PROBING, TrustState.PROBING))
    emit_trust_audit(bus, _entry(TrustState.BLACKLISTED, TrustState.PROBING, operator="alice"))
    t, u, o = ring.events()
    assert (t.kind, t.peer, t.attributes["from"], t.attributes["to"]) == (
        "trust.transition",
        FP,
        "untrusted",
        "probing",
    )
    assert t.attributes["event"] == "handshake_verified"
    assert type(t.attributes["to"]) is str
    assert (u.kind, u.attributes["state"]) == ("trust.unchanged", "probing")
    assert (o.kind, o.attributes["operator"]) == ("trust.override", "alice")
    validator = jsonschema.Draft202012Validator(event_json_schema())
    for e in ring.events():
        validator.validate(json.loads(encode_event(e)))


def test_handshake_records():
    cip_events = pytest.importorskip("web4.cip.events")
    assert set(HANDSHAKE_KINDS) == set(cip_events.__all__) - {"HandshakeEvent"}
    bus, ring = _bus()
    records = [
        cip_events.PeerVerified(peer=FP, agent_id="bob", msg_ids=("m1", "m2"), at=1.0),
        cip_events.PeerUntrusted(peer=FP, reason="bad signature", msg_id="m3", at=1.0),
        cip_events.PeerBlacklisted(
            peer=FP, claimed="cd" * 32, reason="mismatch", msg_id="m4", at=1.0
        ),
        cip_events.PeerStateReceived(
            peer=FP,
            presence="engaged",
            lri=40,
            ltppeerstate="probing",
            kernel_signals=(),
            intent=None,
            msg_id="m5",
            at=1.0,
        ),
        cip_events.IntentReceived(
            peer=FP, goal="ask", topic="t", priority="low", msg_id="m6", at=1.0
        ),
        cip_events.HandshakeDone(
            peer=FP, outcome="deferred", reason="overloaded", intent_msg_id="m6", at=1.0
        ),
        cip_events.HandshakeFailed(peer=None, reason="timeout", at=1.0),
        cip_events.MessageDropped(error="ReplayError", reason="seen", at=1.0),
        cip_events.Retransmitted(step="hello", attempt=2, at=1.0),
    ]
    for r in records:
        emit_handshake_event(bus, r)
    kinds = [e.kind for e in ring.events()]
    assert kinds == [
        "cip.handshake.verified",
        "cip.handshake.failed",
        "cip.handshake.failed",
        "cip.handshake.state_received",
        "cip.intent.received",
        "cip.handshake.done",
        "cip.intent.deferred",
        "cip.handshake.failed",
        "cip.handshake.dropped",
        "cip.handshake.retransmitted",
    ]
    evs = ring.events()
    assert evs[0].attributes["msg_ids"] == ["m1", "m2"]
    assert evs[2].level == "error"
    assert evs[2].attributes["outcome"] == "blacklisted"
    assert evs[6].msg_id == "m6"
    assert "at" not in evs[0].attributes


def test_unknown_record_becomes_an_error_event():
    bus, ring = _bus()
    emit_handshake_event(bus, object())
    assert ring.events()[0].attributes == {"error": "UnknownHandshakeEvent", "detail": "object"}
