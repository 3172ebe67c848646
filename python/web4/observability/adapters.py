"""Turn other layers' frozen event records into v1.0 events, without importing them.

Theory of operation: the CIP handshake returns frozen dataclasses (``web4.cip.events``)
and the trust book returns audit entries (``web4.trust.book.AuditEntry``). The node
passes each one here and the bus gets the matching contract event. Observability is
a leaf package that every layer imports, so it must not import them back: the mapping is
by class name (handshake) and by field names (trust), both pinned by tests against the
real classes. A record this module does not know is reported as an ``error`` event with
its class name rather than lost.

Mapping, handshake (``peer`` = the handshake's peer fingerprint, ``msg_id`` kept):

====================  ===================================  ==============================
``PeerVerified``      ``cip.handshake.verified``           agent_id, msg_ids
``PeerUntrusted``     ``cip.handshake.failed``             reason, outcome=untrusted
``PeerBlacklisted``   ``cip.handshake.failed``             reason, claimed, outcome=blacklisted
``PeerStateReceived`` ``cip.handshake.state_received``     presence, lri, ...
``IntentReceived``    ``cip.intent.received``              goal, topic, priority
``HandshakeDone``     ``cip.handshake.done`` (+ ``cip.intent.deferred`` when deferred)
``HandshakeFailed``   ``cip.handshake.failed``             reason
``MessageDropped``    ``cip.handshake.dropped``            error, reason
``Retransmitted``     ``cip.handshake.retransmitted``      step, attempt
====================  ===================================  ==============================

Trust: a changed entry with an ``operator`` is ``trust.override``; other changes are
``trust.transition`` (``from``, ``to``, ``cause``, ``event``, ``note``); an entry that changed
nothing is ``trust.unchanged`` (``state``, ``cause``, ``event``).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Final

from web4.observability.bus import EventBus
from web4.observability.events import Event, Level

__all__ = ["HANDSHAKE_KINDS", "emit_handshake_event", "emit_trust_audit"]

HANDSHAKE_KINDS: Final[dict[str, str]] = {
    "PeerVerified": "cip.handshake.verified",
    "PeerUntrusted": "cip.handshake.failed",
    "PeerBlacklisted": "cip.handshake.failed",
    "PeerStateReceived": "cip.handshake.state_received",
    "IntentReceived": "cip.intent.received",
    "HandshakeDone": "cip.handshake.done",
    "HandshakeFailed": "cip.handshake.failed",
    "MessageDropped": "cip.handshake.dropped",
    "Retransmitted": "cip.handshake.retransmitted",
}
_OUTCOME: Final = {"PeerUntrusted": "untrusted", "PeerBlacklisted": "blacklisted"}


def _text(value: object) -> object:
    """Enum members and other non-JSON scalars become their string value."""
    if value is None or isinstance(value, bool | int | float | str | list | tuple):
        return value
    return str(getattr(value, "value", value))


def emit_handshake_event(bus: EventBus, record: Any) -> list[Event]:
    """Emit the contract event(s) for one handshake record; returns them."""
    name = type(record).__name__
    kind = HANDSHAKE_KINDS.get(name)
    if kind is None or not dataclasses.is_dataclass(record):
        return [bus.emit("error", error="UnknownHandshakeEvent", detail=name[:200])]
    fields = {f.name: _text(getattr(record, f.name)) for f in dataclasses.fields(record)}
    peer = fields.pop("peer", None)
    msg_id = fields.pop("msg_id", None)
    fields.pop("at", None)
    if name in _OUTCOME:
        fields["outcome"] = _OUTCOME[name]
    level: Level | None = "error" if name == "PeerBlacklisted" else None
    events = [
        bus.emit(
            kind,
            level=level,
            peer=peer if isinstance(peer, str) else None,
            msg_id=msg_id if isinstance(msg_id, str) else None,
            attributes=fields,
        )
    ]
    if name == "HandshakeDone" and fields.get("outcome") == "deferred":
        intent_msg = fields.get("intent_msg_id")
        events.append(
            bus.emit(
                "cip.intent.deferred",
                peer=peer if isinstance(peer, str) else None,
                msg_id=intent_msg if isinstance(intent_msg, str) else None,
                reason=fields.get("reason"),
            )
        )
    return events


def emit_trust_audit(bus: EventBus, entry: Any) -> Event:
    """Emit ``trust.transition``/``trust.override``/``trust.unchanged`` for an audit entry
    (or anything with ``audit``, like a ``TrustOutcome``)."""
    entry = getattr(entry, "audit", entry)
    src, dst = _text(entry.src), _text(entry.dst)
    common = {"cause": _text(entry.cause), "event": _text(entry.event)}
    if not entry.changed:
        return bus.emit("trust.unchanged", peer=entry.peer, attributes={"state": dst, **common})
    attrs = {"from": src, "to": dst, **common, "note": _text(entry.note)}
    operator = getattr(entry, "operator", None)
    if operator:
        return bus.emit(
            "trust.override", peer=entry.peer, attributes={**attrs, "operator": operator}
        )
    return bus.emit("trust.transition", peer=entry.peer, attributes=attrs)
