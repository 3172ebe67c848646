"""How the node reacts to handshake events and routing faults: trust, observability and
the agent loop.

Theory of operation: a handshake event goes to observability first, then: ``PeerVerified``
is the trust event "valid handshake" (``untrusted -> probing``) and, for an operator trust
anchor, an audited ``operator_vouch`` (``probing -> trusted``); ``PeerUntrusted`` is
``bad_signature``; ``PeerBlacklisted`` is ``fingerprint_mismatch``; the peer's state and
intent go to the agent loop; ``HandshakeDone`` makes the peer ready. A router fault from a
link peer (its key is authenticated by the link) is ``fingerprint_mismatch``,
``bad_signature`` or, for invalid messages and handler faults, ``anomaly``
(``docs/CIP_SPEC.md``, Trust FSM). Anomalies pass through the node's ``FaultMeter``
(``web4.node.faults``): a few per peer and window are audited one by one, the rest are
aggregated into one audit row, and a peer past the limit is disconnected and refused for a
while; a peer that never completed the handshake has no trust to lose, so its faults are
only aggregated. The node is not in its own trust book: its own claims are judged by the
knowledge rules without a self entry. Every trust change is audited and emitted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from web4.agent import InboundMessage
from web4.cip.events import (
    HandshakeDone,
    HandshakeEvent,
    IntentReceived,
    PeerBlacklisted,
    PeerStateReceived,
    PeerUntrusted,
    PeerVerified,
)
from web4.errors import (
    FingerprintMismatchError,
    InvalidEnvelopeError,
    ReplayError,
    SignatureMismatchError,
    TimestampError,
    TrustError,
)
from web4.node.faults import FaultVerdict
from web4.node.peers import PeerConn
from web4.observability import emit_handshake_event, emit_trust_audit
from web4.router import Fault
from web4.trust import TrustEvent, TrustState

if TYPE_CHECKING:
    from web4.node.node import Node

__all__ = ["flush_faults", "on_fault", "on_handshake", "trust_event"]

_ANOMALY = (InvalidEnvelopeError, TimestampError, ReplayError)


def on_handshake(node: Node, conn: PeerConn, events: list[HandshakeEvent]) -> None:
    for e in events:
        emit_handshake_event(node.bus, e)
        if isinstance(e, PeerVerified):
            trust_event(
                node,
                e.peer,
                TrustEvent.HANDSHAKE_VERIFIED,
                "CIP handshake verified: the peer proved its key",
                e.msg_ids,
            )
            if e.peer in node.config.trust_anchors:
                trust_event(
                    node,
                    e.peer,
                    TrustEvent.OPERATOR_VOUCH,
                    "operator trust anchor (config/--trust)",
                    e.msg_ids,
                )
        elif isinstance(e, PeerUntrusted):
            trust_event(node, e.peer, TrustEvent.BAD_SIGNATURE, e.reason, (e.msg_id,))
        elif isinstance(e, PeerBlacklisted):
            trust_event(node, e.peer, TrustEvent.FINGERPRINT_MISMATCH, e.reason, (e.msg_id,))
        elif isinstance(e, PeerStateReceived):
            payload = {
                "presence": e.presence,
                "lri": e.lri,
                "ltppeerstate": e.ltppeerstate,
                "kernel_signals": list(e.kernel_signals),
                "intent": e.intent,
            }
            node.loop.offer(InboundMessage("cip", "STATE_UPDATE", e.peer, payload, e.msg_id))
        elif isinstance(e, IntentReceived):
            payload = {"goal": e.goal, "topic": e.topic, "priority": e.priority}
            node.loop.offer(InboundMessage("cip", "INTENT", e.peer, payload, e.msg_id))
        elif isinstance(e, HandshakeDone):
            node._any_ready.set()


def trust_event(node: Node, peer: str, event: TrustEvent, cause: str, evidence: Any) -> None:
    try:
        out = node.trust.record(
            peer, event, cause[:1024] or event.value, [str(m)[:128] for m in evidence][:64]
        )
    except TrustError as e:
        node.bus.emit("error", peer=None, error="TrustError", detail=str(e)[:200])
        return
    emit_trust_audit(node.bus, out)


def on_fault(node: Node, fault: Fault) -> None:
    err = fault.error
    if isinstance(err, FingerprintMismatchError):
        event = TrustEvent.FINGERPRINT_MISMATCH
    elif isinstance(err, SignatureMismatchError):
        event = TrustEvent.BAD_SIGNATURE
    elif isinstance(err, _ANOMALY) or fault.stage == "handler":
        event = TrustEvent.ANOMALY
    else:
        return
    cause = f"{fault.stage}: {type(err).__name__}: {err}"
    evidence = (fault.msg_id,) if fault.msg_id else ()
    if event is not TrustEvent.ANOMALY:  # decisive on their own: never rate-limited
        trust_event(node, fault.peer, event, cause, evidence)
        return
    now = node.now()
    flush_faults(node, node.faults.expired(now), "in the last window")
    verdict, count = node.faults.observe(fault.peer, now)
    if verdict is FaultVerdict.DISCONNECT:
        trust_event(
            node,
            fault.peer,
            event,
            f"flood: {node.faults.disconnect_at} faults within {node.faults.window_s:g} s "
            f"({count} not audited one by one); disconnected for {node.faults.ban_s:g} s; "
            f"last: {cause}",
            evidence,
        )
        conn = node.conns.get(fault.peer)
        if conn is not None:
            conn.stop.set()
        node.bus.emit(
            "error",
            peer=fault.peer,
            error="FloodError",
            detail=f"disconnected: {node.faults.disconnect_at} faulty messages in "
            f"{node.faults.window_s:g} s",
            source="router",
        )
    elif verdict is FaultVerdict.AUDIT and _has_trust(node, fault.peer):
        trust_event(node, fault.peer, event, cause, evidence)
    else:
        node.faults.note_unreported(fault.peer)


def flush_faults(node: Node, peers: list[str], when: str) -> None:
    """One aggregated audit row per peer for its faults not audited one by one."""
    for peer in peers:
        count = node.faults.flush(peer)
        if count:
            trust_event(
                node,
                peer,
                TrustEvent.ANOMALY,
                f"{count} faulty message(s) {when}, aggregated (not audited one by one)",
                (),
            )


def _has_trust(node: Node, peer: str) -> bool:
    """Has the peer anything to lose (probing or trusted)? Faults of others change no
    state, so they are only aggregated."""
    try:
        return node.trust.state_of(peer) in (TrustState.PROBING, TrustState.TRUSTED)
    except TrustError:
        return False
