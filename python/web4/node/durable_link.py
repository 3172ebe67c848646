"""Nothing leaves the node before what it wrote is durable.

Theory of operation: the node's store commits on the event loop and fsyncs on a writer
thread (``web4.store.group_commit``). Anything the node sends may acknowledge a message
it accepted (a reply, a vote, a handshake step, even a later unrelated message tells the
peer the earlier one was processed), so every ``send`` of every session first awaits
``store.durable()``: every transaction committed before the send is on disk before the
peer can see a byte. Many sends waiting at once share one fsync (group commit).

``DurableTransport`` wraps the node's ``LinkTransport`` and hands out one
``DurableSession`` per underlying session (the node compares sessions by identity: a
dial can return the session the peer opened), each the session with that wait in front
of ``send``; every other attribute is the session's. After a failed fsync every
``send`` raises ``StoreError`` (a local fault, not the peer's): the node acknowledges
nothing more (fail closed); a ``StoreError`` that reaches the node's task group stops the
node with that error.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from web4.node.link import LinkSession, LinkTransport

__all__ = ["DurableSession", "DurableTransport"]

Durable = Callable[[], Awaitable[None]]


class DurableSession:
    """A ``LinkSession`` whose ``send`` waits for the store (see the module docstring)."""

    def __init__(self, inner: LinkSession, durable: Durable) -> None:
        self.inner = inner
        self._durable = durable

    @property
    def peer(self) -> str:
        return self.inner.peer

    @property
    def closed(self) -> bool:
        return self.inner.closed

    @property
    def connected(self) -> bool:
        return self.inner.connected

    @property
    def dialled(self) -> bool:
        return self.inner.dialled

    async def send(self, channel: str, data: bytes, *, timeout: float) -> None:
        """As ``LinkSession.send``, after every earlier commit is durable. Raises what it
        raises, and ``StoreError`` when the store cannot make its commits durable."""
        await self._durable()
        await self.inner.send(channel, data, timeout=timeout)

    async def receive(self, *, timeout: float) -> tuple[str, bytes] | None:
        return await self.inner.receive(timeout=timeout)

    def __getattr__(self, name: str) -> Any:
        # what a transport's session offers beyond LinkSession (RTT's ``peer_key``, the
        # key it authenticated, read by ``web4.cip.service.link_key``) passes through
        if name == "inner":  # not set yet (a copy being made): no recursion
            raise AttributeError(name)
        return getattr(self.inner, name)

    async def close(self) -> None:
        await self.inner.close()


class DurableTransport:
    """A ``LinkTransport`` whose sessions are ``DurableSession``s, one per session."""

    def __init__(self, inner: LinkTransport, durable: Durable) -> None:
        self.inner = inner
        self._durable = durable
        self._sessions: dict[int, DurableSession] = {}

    def _wrap(self, session: LinkSession) -> DurableSession:
        # forget closed sessions: a node that reconnects for days keeps a bounded table
        for key in [k for k, s in self._sessions.items() if s.closed]:
            del self._sessions[key]
        wrapped = self._sessions.get(id(session))
        if wrapped is None or wrapped.inner is not session:
            wrapped = DurableSession(session, self._durable)
            self._sessions[id(session)] = wrapped
        return wrapped

    @property
    def gossip(self) -> Any:
        """The transport's gossip (``web4.rtt.gossip.Gossip``), None if it has none; its
        publisher waits for the store itself (``web4.cip.gossip``)."""
        return getattr(self.inner, "gossip", None)

    @property
    def discovery(self) -> Any:
        """The transport's discovery port (``web4.node.discovery``), None without one."""
        return getattr(self.inner, "discovery", None)

    @property
    def relay(self) -> Any:
        """The transport's relay controls (``web4.node.relaying.RelayPort``), or None."""
        return getattr(self.inner, "relay", None)

    @property
    def limits(self) -> Any:
        """The transport's connection-cap controls (``web4.node.protect.ProtectPort``),
        or None."""
        return getattr(self.inner, "limits", None)

    async def listen(self, addr: str) -> list[str]:
        return await self.inner.listen(addr)

    async def connect(self, addr: str, *, timeout: float) -> LinkSession:
        return self._wrap(await self.inner.connect(addr, timeout=timeout))

    async def accept(self, *, timeout: float) -> LinkSession | None:
        session = await self.inner.accept(timeout=timeout)
        return None if session is None else self._wrap(session)

    def drain_events(self) -> list[dict[str, Any]]:
        return self.inner.drain_events()

    def telemetry(self) -> dict[str, Any]:
        return self.inner.telemetry()

    async def shutdown(self) -> None:
        await self.inner.shutdown()
