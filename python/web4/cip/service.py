"""One peer session: the CIP handshake over ``control``, then routing of every channel.

Theory of operation: the node makes a ``PeerConn`` for every authenticated link session
(dialled: we are the handshake's initiator; accepted: the responder) and runs ``serve``
for it in its TaskGroup. The handshake is bound to the fingerprint the link
authenticated, so a HELLO signed by any other key is dropped by the handshake itself.

While the handshake is not over, ``control`` bytes go straight to ``Handshake.receive``
(it has its own validator; the router never sees them, so its replay cache cannot
mistake them for replays). Everything else, and ``control`` after the handshake, goes to
``router.route(data, link_peer=<fingerprint>)``. The loop waits for input at most
``tick`` seconds, then drives the handshake's timers, and sends whatever the handshake
queued, each send under a deadline. Handshake events go to ``host.on_handshake`` (trust,
observability, agent loop). The responder's handshake arms no timer before the first
HELLO, so ``serve`` bounds that wait by ``hello_timeout``: a peer that opens a session and
stays silent is dropped (a failed handshake, no trust event). The session ends when the
link closes, the handshake fails, or the node stops; then the link is closed and
``host.on_closed`` is called.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from web4.cip import Handshake, Role, Step
from web4.cip.events import HandshakeDone, HandshakeEvent, HandshakeFailed
from web4.errors import RTTError
from web4.node.link import LinkSession
from web4.router import ProtocolRouter

__all__ = ["PeerConn", "PeerHost", "serve"]

_TERMINAL = frozenset({Step.ACCEPTED, Step.DEFERRED, Step.FAILED})


class PeerHost(Protocol):
    """What a peer session needs from the node."""

    router: ProtocolRouter
    send_timeout: float

    def now(self) -> float: ...

    def on_handshake(self, conn: PeerConn, events: list[HandshakeEvent]) -> None: ...

    def on_closed(self, conn: PeerConn, reason: str) -> None: ...


@dataclass
class PeerConn:
    """A live session with one peer and its handshake."""

    session: LinkSession
    handshake: Handshake
    role: Role
    ready: bool = False  # the handshake ended (accepted or deferred): normal traffic
    failed: bool = False
    routed: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def peer(self) -> str:
        return self.session.peer

    @property
    def in_handshake(self) -> bool:
        return self.handshake.step not in _TERMINAL


async def _flush(host: PeerHost, conn: PeerConn) -> None:
    while (data := conn.handshake.next_outgoing()) is not None:
        await conn.session.send("control", data, timeout=host.send_timeout)


def _apply(host: PeerHost, conn: PeerConn, events: list[HandshakeEvent]) -> None:
    if not events:
        return
    for e in events:
        if isinstance(e, HandshakeDone):
            conn.ready = True
        elif isinstance(e, HandshakeFailed):
            conn.failed = True
    host.on_handshake(conn, events)


async def serve(
    host: PeerHost,
    conn: PeerConn,
    *,
    tick: float = 0.25,
    running: Callable[[], bool] = lambda: True,
    hello_timeout: float | None = None,
) -> None:
    """Run one peer session until it ends (see the module docstring). Never raises for
    the peer's or the link's faults: they end the session with a reason.
    ``hello_timeout``: seconds the handshake may wait with no timer armed (a responder
    before the peer's first HELLO); None: no bound."""
    reason = "node stopping"
    hs = conn.handshake
    started = host.now()
    try:
        if conn.role is Role.INITIATOR:
            _apply(host, conn, hs.start(host.now()))
            await _flush(host, conn)
        while running() and not conn.stop.is_set():
            if conn.failed:
                reason = "CIP handshake failed"
                break
            item = await conn.session.receive(timeout=tick)
            now = host.now()
            if item is not None:
                channel, data = item
                if channel == "control" and conn.in_handshake:
                    _apply(host, conn, hs.receive(data, now))
                else:
                    conn.routed += 1
                    await host.router.route(data, link_peer=conn.peer)
            _apply(host, conn, hs.handle_timeout(now))
            if (
                hello_timeout is not None
                and conn.in_handshake
                and hs.deadline is None
                and now - started >= hello_timeout
            ):
                conn.failed = True
                reason = f"no CIP HELLO within {hello_timeout:g} s"
                break
            await _flush(host, conn)
    except RTTError as e:
        reason = f"link closed: {e}"
    except TimeoutError:
        reason = "send deadline passed"
    finally:
        await conn.session.close()
        host.on_closed(conn, reason)
