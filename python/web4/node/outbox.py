"""The node's outbound side: build, sign and send CIP messages to ready peers.

Theory of operation: ``send`` converts a payload (a CIP Struct or plain data) into its
typed Struct (a bad one is ``MessageBuildError``), gives all copies one ``msg_id`` (a
broadcast FACT_PROPOSE therefore names one claim everywhere), and sends one envelope per
ready peer on the channel its type belongs to: FACT_* and DECISION_SHARE on
``knowledge``, STATE_UPDATE on ``state``, the rest on ``control``. Each envelope carries
our state (from the agent loop), our claimed standing with that peer (from its
handshake) and our trust view of it. The copies go out concurrently, so a slow peer
(full queue, dead link waiting for its deadline) delays nobody else; ``send`` returns
when every copy is queued or has failed, so messages to one peer keep their order. A
failed send to one peer is an ``error`` event and does not stop the others. The agent
loop's three ports (state, intent, outbound) are thin wrappers; our own votes are also
recorded in our store. The Agent API's actions come through ``web4.node.agent_ports``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import msgspec

from web4.agent import Intent as AgentIntent
from web4.agent import Outbound
from web4.agent import StateUpdate as AgentState
from web4.cip import PAYLOADS, new_msg_id
from web4.cip import messages as cm
from web4.envelope.validate import Receiver
from web4.errors import MessageBuildError, RTTError
from web4.node.parts import label, sender_state
from web4.node.peers import PeerConn

if TYPE_CHECKING:
    from web4.node.node import Node

__all__ = ["ready_peers", "send", "send_intent", "send_outbound", "send_state", "send_state_to"]

VOTES = frozenset({"FACT_CONFIRM", "FACT_REJECT", "FACT_CHALLENGE"})
_KNOWLEDGE = VOTES | {"FACT_PROPOSE", "DECISION_SHARE"}


def ready_peers(node: Node) -> list[PeerConn]:
    return [c for c in node.conns.values() if c.ready and not c.session.closed]


async def send(
    node: Node, msg_type: str, payload: Any, *, peer: str | None = None, msg_id: str | None = None
) -> str:
    """Build, sign and send one CIP message to ``peer`` (or every ready peer), all
    copies with one ``msg_id``; returns it. Raises ``MessageBuildError`` for a payload
    that breaks the schema. A failed send to one peer is an event, not an error."""
    cls = PAYLOADS.get(msg_type)
    if cls is None:
        raise MessageBuildError(f"{msg_type!r} is not a CIP message type")
    try:
        struct = (
            payload
            if isinstance(payload, cls)
            else msgspec.convert(msgspec.to_builtins(payload), cls)
        )
    except msgspec.ValidationError as e:
        raise MessageBuildError(f"{msg_type} payload: {e}") from e
    msg_id = msg_id or new_msg_id(node.rng)
    channel = (
        "knowledge"
        if msg_type in _KNOWLEDGE
        else "state"
        if msg_type == "STATE_UPDATE"
        else "control"
    )
    state = sender_state(node.loop.state())
    copies = []
    for conn in ready_peers(node):
        if peer is not None and conn.peer != peer:
            continue
        receiver = conn.handshake.peer or Receiver(conn.peer[:16], conn.peer)
        env = node.builder.build(
            struct,
            receiver=receiver,
            sender_view=conn.handshake.our_view,  # type: ignore[arg-type]
            state=state,
            receiver_view=node.trust.state_of(conn.peer).value,
            msg_id=msg_id,
        )
        copies.append(_send_copy(node, conn, channel, node.builder.encode(env), msg_id, msg_type))
    if copies:
        await asyncio.gather(*copies)
    return msg_id


async def _send_copy(
    node: Node, conn: PeerConn, channel: str, data: bytes, msg_id: str, msg_type: str
) -> None:
    """Send one peer's copy; a failure is that peer's ``error`` event."""
    try:
        await conn.session.send(channel, data, timeout=node.send_timeout)
    except (RTTError, TimeoutError) as e:
        node.bus.emit(
            "error",
            peer=conn.peer,
            msg_id=msg_id,
            error=type(e).__name__,
            detail=str(e)[:200],
            source="send",
            type=msg_type,
        )


def _state_payload(node: Node, update: AgentState, peer: str) -> cm.StateUpdate:
    return cm.StateUpdate(
        presence=update.presence,
        lri=update.lri,
        ltppeerstate=node.trust.state_of(peer).value,
        kernel_signals=list(update.kernel_signals),
        intent=label(update.intent),
    )


async def send_state(node: Node, update: AgentState) -> None:
    """One STATE_UPDATE per ready peer (each carries our trust view of that peer), sent
    concurrently like any broadcast."""
    await asyncio.gather(*(send_state_to(node, update, c.peer) for c in ready_peers(node)))


async def send_state_to(node: Node, update: AgentState, peer: str) -> None:
    """One STATE_UPDATE to ``peer`` (nothing if it is not a ready peer)."""
    await send(node, "STATE_UPDATE", _state_payload(node, update, peer), peer=peer)


async def send_intent(node: Node, intent: AgentIntent) -> None:
    await send(node, "INTENT", intent.payload())


async def send_outbound(node: Node, out: Outbound) -> None:
    if out.protocol != "cip":
        raise MessageBuildError(f"no {out.protocol} sender on this node")
    payload = dict(out.payload)
    msg_id = await send(node, out.type, payload, peer=out.peer)
    if out.type in VOTES:
        node.desk.record_vote(msg_id, node.fingerprint, out.type, payload)
