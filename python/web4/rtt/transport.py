"""The asyncio face of RTT: ``Transport`` and ``Session``.

Theory of operation: the Rust core never calls into Python. It signals progress on one
wake-up fd per node, writing a byte only when the fd goes from idle to armed; the event
loop watches it with ``add_reader``. On a wake-up, ``_on_wake`` disarms the fd and
re-polls every pending waiter with a non-blocking core call (``try_recv``,
``try_send``, ``poll_op``, ``try_accept``). A burst of ten thousand messages therefore
costs one wake-up, and no thread hop happens per message. Every wait has a deadline
(``TransportConfig.send_timeout`` / ``receive_timeout`` / ``connect_timeout`` unless
the caller gives one).
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypeVar

from web4.errors import RTTBackpressureError, RTTErrorKind, RTTTransportError, Web4Error
from web4.identity import Identity
from web4.rtt._base import Channel, _NodeBase, _SessionBase
from web4.rtt.config import TransportConfig

__all__ = ["Session", "Transport"]

T = TypeVar("T")


class Session(_SessionBase):
    """One session with one peer; it survives reconnects. Made by ``Transport``."""

    __slots__ = ("_transport",)

    def __init__(self, transport: Transport, session_id: int) -> None:
        super().__init__(transport._core, transport._core.session(session_id))
        self._transport = transport

    async def send(self, channel: Channel, payload: bytes, timeout: float | None = None) -> None:
        """Queue ``payload``. Under the ``block`` policy wait up to ``timeout`` for space.

        Raises ``RTTBackpressureError`` (queue full: policy ``error``, or the wait timed
        out), ``RTTTransportError`` (closed, or over the size limit).
        """
        kind, core = self._own(channel), self._core
        if core.try_send(kind, payload):
            return
        t = self._transport.config.send_timeout if timeout is None else timeout
        try:
            await self._transport._wait(lambda: True if core.try_send(kind, payload) else None, t)
        except TimeoutError:
            raise RTTBackpressureError(
                f"send queue of channel {kind} stayed full for {t} s (policy block)"
            ) from None

    async def send_many(
        self, channel: Channel, payloads: Sequence[bytes], timeout: float | None = None
    ) -> None:
        """Queue ``payloads`` in order (one core call per batch that fits).

        Raises as ``send``; on a timeout some leading payloads may have been queued.
        """
        kind, core = self._own(channel), self._core
        pending = list(payloads)
        pending = pending[core.try_send_many(kind, pending) :]
        t = self._transport.config.send_timeout if timeout is None else timeout
        loop = asyncio.get_running_loop()
        deadline = loop.time() + t

        def progress() -> int | None:
            n = core.try_send_many(kind, pending)
            return n or None

        while pending:
            try:
                n = await self._transport._wait(progress, max(0.0, deadline - loop.time()))
            except TimeoutError:
                raise RTTBackpressureError(
                    f"send queue of channel {kind} stayed full for {t} s; "
                    f"{len(payloads) - len(pending)} of {len(payloads)} queued"
                ) from None
            pending = pending[n:]

    async def receive(self, channel: Channel, timeout: float | None = None) -> bytes:
        """The next message on ``channel``.

        Raises ``TimeoutError`` when none arrives in time, ``RTTTransportError`` when the
        session is closed and nothing is left.
        """
        kind, core = self._own(channel), self._core

        def one() -> bytes | None:
            got = core.try_recv(kind, 1)
            return got[0] if got else None

        t = self._transport.config.receive_timeout if timeout is None else timeout
        return await self._transport._wait(one, t)

    async def receive_many(
        self, channel: Channel, max_messages: int = 1024, timeout: float | None = None
    ) -> list[bytes]:
        """Between 1 and ``max_messages`` messages, oldest first. Raises as ``receive``."""
        kind, core = self._own(channel), self._core

        def some() -> list[bytes] | None:
            return core.try_recv(kind, max_messages) or None

        t = self._transport.config.receive_timeout if timeout is None else timeout
        return await self._transport._wait(some, t)

    async def close(self) -> None:
        """Close the session: CLOSE goes to the peer, unacked messages stay readable."""
        self._close()


class Transport(_NodeBase):
    """An RTT node for asyncio code. ``shutdown`` it when done."""

    def __init__(self, identity: Identity, config: TransportConfig | None = None) -> None:
        """Raises ``ConfigError`` for bad configuration, ``RTTTransportError`` if the
        runtime cannot start."""
        super().__init__(identity, config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ids = itertools.count()
        # key -> (poll, future, deadline in loop time)
        self._waiters: dict[int, tuple[Callable[[], object | None], asyncio.Future[object], float]]
        self._waiters = {}
        # One timer for every waiter's deadline (at the earliest), not one per wait:
        # arming and cancelling a timer per message cost more than the message.
        self._timer: asyncio.TimerHandle | None = None
        self._sessions: dict[int, Session] = {}

    # --- waiting ----------------------------------------------------------------------

    def _bind(self) -> asyncio.AbstractEventLoop:
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._check_open()
            loop.add_reader(self._core.wake_fd(), self._on_wake)
            self._loop = loop
        elif self._loop is not loop:
            raise RTTTransportError("a Transport is bound to the event loop that first used it")
        return loop

    def _on_wake(self) -> None:
        self._core.clear_wake()
        for poll, fut, _ in list(self._waiters.values()):
            if fut.done():
                continue
            try:
                r = poll()
            except (Web4Error, TimeoutError) as e:  # the core's typed error: the result
                fut.set_exception(e)
                continue
            if r is not None:
                fut.set_result(r)

    async def _wait(self, poll: Callable[[], T | None], timeout: float) -> T:
        r = poll()
        if r is not None:
            return r
        loop = self._bind()
        if not getattr(loop, "_ready", True) and self._core.spin_until_armed():
            # The loop had nothing else to run, so it would have slept in select() and
            # been woken by the IO thread (a cross-CPU wake-up); the bounded spin saw a
            # wake fd armed instead: our result may be here already.
            r = poll()
            if r is not None:
                return r
        fut: asyncio.Future[object] = loop.create_future()
        key = next(self._ids)
        deadline = loop.time() + timeout
        self._waiters[key] = (poll, fut, deadline)
        if self._timer is None or deadline < self._timer.when():
            self._arm(loop, deadline)
        try:
            return await fut  # type: ignore[return-value]
        finally:
            self._waiters.pop(key, None)

    def _arm(self, loop: asyncio.AbstractEventLoop, when: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = loop.call_at(when, self._expire)

    def _expire(self) -> None:
        """Fail the waits whose deadline passed (a result that landed first is kept);
        re-arm for the earliest deadline left."""
        self._timer = None
        loop = self._loop
        if loop is None:
            return
        now, nxt = loop.time(), None
        for _, fut, deadline in list(self._waiters.values()):
            if fut.done():
                continue
            if deadline <= now + 1e-6:  # the loop may run a timer a hair early
                fut.set_exception(TimeoutError())
            elif nxt is None or deadline < nxt:
                nxt = deadline
        if nxt is not None:
            self._arm(loop, nxt)

    # --- nodes and sessions -----------------------------------------------------------

    async def listen(self, addr: str, timeout: float | None = None) -> list[str]:
        """Listen on ``addr`` (e.g. ``/ip4/127.0.0.1/tcp/0``); return ``listen_addrs``.

        Raises ``ConfigError`` (bad multiaddr), ``RTTTransportError`` (cannot bind).
        """
        self._check_open()
        try:
            await self._op(self._core.listen(addr), timeout)
        except RTTTransportError as e:
            raise RTTTransportError(
                f"cannot listen on {addr}: {str(e) or 'the address cannot be bound'}",
                kind=e.kind,
            ) from e
        return self.listen_addrs

    async def connect(self, addr: str, timeout: float | None = None) -> Session:
        """Dial ``/ip4/…/tcp/…/p2p/<peer-id>`` and open a session.

        Raises ``RTTHandshakeError`` (the key there is not ``<peer-id>``),
        ``RTTTransportError`` (unreachable, timed out), ``ConfigError`` (bad address).
        """
        self._check_open()
        op = self._core.dial(addr)
        return self._session(await self._op(op, timeout))

    async def lookup(self, peer_id: str, timeout: float | None = None) -> list[str]:
        """Find ``peer_id``'s addresses through the DHT (each ending with its
        ``/p2p/``). Raises ``ConfigError`` (bad id, DHT off), ``RTTTransportError``
        (nothing found), ``RTTBackpressureError`` (too many lookups at once) or
        ``TimeoutError``."""
        self._check_open()
        await self._op(self._core.lookup(peer_id), timeout)
        return self._core.addrs_of(peer_id)

    async def _op(self, op: int, timeout: float | None) -> int:
        t = 2 * self.config.connect_timeout if timeout is None else timeout
        try:
            return await self._wait(lambda: self._core.poll_op(op), t)
        except TimeoutError:
            self._core.cancel_op(op)
            raise RTTTransportError(
                f"operation did not complete within {t} s", kind=RTTErrorKind.TIMEOUT
            ) from None

    def _session(self, sid: int) -> Session:
        s = self._sessions.get(sid)
        if s is None:
            # Forget closed sessions (their callers keep their own references).
            self._sessions = {k: v for k, v in self._sessions.items() if v.state != "closed"}
            s = self._sessions[sid] = Session(self, sid)
        return s

    async def accept_one(self, timeout: float | None = None) -> Session:
        """The next session a peer opens to us. Raises ``TimeoutError``."""
        self._check_open()
        t = self.config.receive_timeout if timeout is None else timeout
        return self._session(await self._wait(self._core.try_accept, t))

    async def accept(self, timeout: float | None = None) -> AsyncIterator[Session]:
        """``async for session in transport.accept()``: sessions peers open to us.

        Each wait is bounded by ``timeout`` (``TimeoutError``); ``None`` waits in rounds
        of ``receive_timeout`` until the transport shuts down.
        """
        while not self._core.is_shut_down:
            try:
                yield await self.accept_one(timeout)
            except TimeoutError:
                if timeout is not None:
                    raise

    # --- the brief's transport-level calls --------------------------------------------

    def open_channel(self, kind: str, session: Session | None = None) -> Channel:
        """Open ``kind`` on ``session`` (default: the only open session).

        Raises ``RTTTransportError`` when there is no single session to choose.
        """
        return (session or self._only_session()).open_channel(kind)

    def _only_session(self) -> Session:
        live = [s for s in self._sessions.values() if not s._closed]
        if len(live) != 1:
            raise RTTTransportError(f"{len(live)} open sessions: name the session")
        return live[0]

    async def send(self, channel: Channel, payload: bytes, timeout: float | None = None) -> None:
        """``channel``'s session ``send``."""
        await _owner(channel).send(channel, payload, timeout)

    async def receive(self, channel: Channel, timeout: float | None = None) -> bytes:
        """``channel``'s session ``receive``."""
        return await _owner(channel).receive(channel, timeout)

    def close_channel(self, channel: Channel) -> None:
        _owner(channel).close_channel(channel)

    async def shutdown(self) -> None:
        """Close every session (CLOSE to peers), stop the runtime. Idempotent."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._core.wake_fd())
        await asyncio.to_thread(self._core.shutdown)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        for _, fut, _ in self._waiters.values():
            if not fut.done():
                fut.set_exception(RTTTransportError("the transport is shut down"))
        self._loop = None

    async def __aenter__(self) -> Transport:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.shutdown()


def _owner(channel: Channel) -> Session:
    owner = channel.owner
    if not isinstance(owner, Session):
        raise RTTTransportError("not a channel of an asyncio session")
    return owner
