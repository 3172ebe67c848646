"""The blocking face of RTT for scripts: ``BlockingTransport`` and ``BlockingSession``.

Theory of operation: the same Rust objects as the asyncio face, called through their
blocking entry points, which release the GIL while they wait (other Python threads
keep running) and always carry a timeout. The brief's calls are here as written:
``open_channel``, ``send``, ``receive``, ``close_channel``, ``shutdown``.
"""

from __future__ import annotations

from collections.abc import Sequence

from web4.errors import RTTErrorKind, RTTTransportError
from web4.identity import Identity
from web4.rtt._base import Channel, _NodeBase, _SessionBase
from web4.rtt.config import TransportConfig

__all__ = ["BlockingSession", "BlockingTransport"]


class BlockingSession(_SessionBase):
    """One session with one peer, for blocking code."""

    __slots__ = ("_transport",)

    def __init__(self, transport: BlockingTransport, session_id: int) -> None:
        super().__init__(transport._core, transport._core.session(session_id))
        self._transport = transport

    def send(self, channel: Channel, payload: bytes, timeout: float | None = None) -> None:
        """Queue ``payload``, waiting up to ``timeout`` for space (policy ``block``).

        Raises ``RTTBackpressureError`` (full: policy ``error`` or timed out),
        ``RTTTransportError`` (closed, or over the size limit).
        """
        t = self._transport.config.send_timeout if timeout is None else timeout
        self._core.send_blocking(self._own(channel), payload, t)

    def send_many(
        self, channel: Channel, payloads: Sequence[bytes], timeout: float | None = None
    ) -> None:
        """Queue ``payloads`` in order. Raises as ``send``."""
        kind = self._own(channel)
        pending = list(payloads)
        while pending:
            n = self._core.try_send_many(kind, pending)
            pending = pending[n:]
            if pending:  # wait for room for the next one, then batch again
                self.send(channel, pending[0], timeout)
                pending = pending[1:]

    def receive(self, channel: Channel, timeout: float | None = None) -> bytes:
        """The next message. Raises ``TimeoutError``, or ``RTTTransportError`` when the
        session is closed and nothing is left."""
        t = self._transport.config.receive_timeout if timeout is None else timeout
        got = self._core.recv_blocking(self._own(channel), t)
        if got is None:
            raise TimeoutError(f"no message on {channel.kind} within {t} s")
        return got

    def receive_many(
        self, channel: Channel, max_messages: int = 1024, timeout: float | None = None
    ) -> list[bytes]:
        """Between 1 and ``max_messages`` messages. Raises as ``receive``."""
        kind = self._own(channel)
        got = self._core.try_recv(kind, max_messages)
        if got:
            return got
        first = self.receive(channel, timeout)
        return [first, *self._core.try_recv(kind, max_messages - 1)]

    def close(self) -> None:
        self._close()


class BlockingTransport(_NodeBase):
    """An RTT node for blocking code. ``shutdown`` it when done (or use ``with``)."""

    def __init__(self, identity: Identity, config: TransportConfig | None = None) -> None:
        super().__init__(identity, config)
        self._sessions: dict[int, BlockingSession] = {}

    def listen(self, addr: str, timeout: float | None = None) -> list[str]:
        """Listen on ``addr``; return ``listen_addrs``. Raises ``ConfigError``,
        ``RTTTransportError``."""
        self._check_open()
        try:
            self._wait(self._core.listen(addr), timeout)
        except RTTTransportError as e:
            raise RTTTransportError(
                f"cannot listen on {addr}: {str(e) or 'the address cannot be bound'}",
                kind=e.kind,
            ) from e
        return self.listen_addrs

    def connect(self, addr: str, timeout: float | None = None) -> BlockingSession:
        """Dial ``/ip4/…/tcp/…/p2p/<peer-id>``. Raises ``RTTHandshakeError``,
        ``RTTTransportError``, ``ConfigError``."""
        self._check_open()
        return self._session(self._wait(self._core.dial(addr), timeout))

    def _wait(self, op: int, timeout: float | None) -> int:
        t = 2 * self.config.connect_timeout if timeout is None else timeout
        try:
            return self._core.wait_op(op, t)
        except TimeoutError:
            raise RTTTransportError(
                f"operation did not complete within {t} s", kind=RTTErrorKind.TIMEOUT
            ) from None

    def _session(self, sid: int) -> BlockingSession:
        s = self._sessions.get(sid)
        if s is None:
            # Forget closed sessions (their callers keep their own references).
            self._sessions = {k: v for k, v in self._sessions.items() if v.state != "closed"}
            s = self._sessions[sid] = BlockingSession(self, sid)
        return s

    def accept(self, timeout: float | None = None) -> BlockingSession:
        """The next session a peer opens to us. Raises ``TimeoutError``."""
        self._check_open()
        t = self.config.receive_timeout if timeout is None else timeout
        sid = self._core.accept_blocking(t)
        if sid is None:
            raise TimeoutError(f"no session within {t} s")
        return self._session(sid)

    def open_channel(self, kind: str, session: BlockingSession | None = None) -> Channel:
        """Open ``kind`` on ``session`` (default: the only open session)."""
        if session is None:
            live = [s for s in self._sessions.values() if not s._closed]
            if len(live) != 1:
                raise RTTTransportError(f"{len(live)} open sessions: name the session")
            session = live[0]
        return session.open_channel(kind)

    def send(self, channel: Channel, payload: bytes, timeout: float | None = None) -> None:
        _owner(channel).send(channel, payload, timeout)

    def receive(self, channel: Channel, timeout: float | None = None) -> bytes:
        return _owner(channel).receive(channel, timeout)

    def close_channel(self, channel: Channel) -> None:
        _owner(channel).close_channel(channel)

    def shutdown(self) -> None:
        """Close every session (CLOSE to peers), stop the runtime. Idempotent."""
        self._core.shutdown()

    def __enter__(self) -> BlockingTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def _owner(channel: Channel) -> BlockingSession:
    owner = channel.owner
    if not isinstance(owner, BlockingSession):
        raise RTTTransportError("not a channel of a blocking session")
    return owner
