"""Link liveness for the node: the one re-dial policy for ``--peer``, and the LinkBook kept
in step with the transport.

Theory of operation: ``dial_peer`` is the whole life of one ``--peer``. A well-formed
address is dialled until the node stops: a failed dial waits ``DialBackoff`` (capped
exponential with jitter) and tries again, forever, whether or not a session ever existed.
What a person reads changes only with the state: ``rtt.peer_unreachable`` once when the
peer becomes unreachable (and again only if the reason's kind changes), then RTT's
``rtt.session_open`` when it answers; each attempt is a ``debug`` ``rtt.reconnect_attempt``.
Only a failure retrying cannot mend ends the dialler: a wrong peer id (the address answers
with another key) or an address the transport refuses. That is an ``error`` event; it
ends the node only when the node has no listener (then nothing else can happen).

While a session exists, RTT resumes it itself (the dialler re-dials with its own backoff
inside the resume window, RTT_SPEC §6); ``dial_peer`` waits for the session to end and
then starts over.

``LinkWatch`` turns RTT's lifecycle events (``session_open``, ``session_resumed``,
``disconnected``, ``session_close``) and the CIP handshake (the peer's agent id) into
``LinkBook`` rows for ``web4 peers``. Store failures there are reported once as an
``error`` event and never stop the node. Time and randomness come from the node.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol

from web4.cip import Role
from web4.cip.service import PeerConn
from web4.clock import Clock, Rng
from web4.errors import ConfigError, RTTError, StoreError
from web4.node.link import LinkSession, LinkTransport
from web4.node.link_state import LinkBook
from web4.observability import EventBus

__all__ = ["PERMANENT_KINDS", "DialBackoff", "DialHost", "LinkWatch", "dial_peer"]

# Dial failures that retrying the same address cannot mend.
PERMANENT_KINDS = frozenset({"peer_id_mismatch"})


class DialBackoff:
    """Delays between dials: ``min(cap, base * factor**n)``, less a random fraction of
    at most ``jitter`` (so nodes that lost the same peer do not dial in step)."""

    def __init__(
        self,
        rng: Rng,
        *,
        base: float = 0.2,
        factor: float = 2.0,
        cap: float = 10.0,
        jitter: float = 0.5,
    ) -> None:
        if not (0 < base <= cap and factor >= 1 and 0 <= jitter <= 1):
            raise ConfigError("dial backoff needs 0 < base <= cap, factor >= 1, 0 <= jitter <= 1")
        self._rng = rng
        self.base, self.factor, self.cap, self.jitter = base, factor, cap, jitter
        self.attempt = 0

    def next_delay(self) -> float:
        """The wait before the next dial; counts the attempt."""
        full = min(self.cap, self.base * self.factor ** min(self.attempt, 64))
        self.attempt += 1
        fraction = int.from_bytes(self._rng.bytes(8), "big") / 2**64
        return full * (1 - self.jitter * fraction)

    def reset(self) -> None:
        self.attempt = 0


class LinkWatch:
    """Keeps a ``LinkBook`` in step with the transport's events (see the module doc)."""

    def __init__(self, book: LinkBook, clock: Clock, report: Callable[[str], object]) -> None:
        self.book = book
        self._clock = clock
        self._report = report  # called once with the first store error
        self._failed = False

    def _do(self, write: Callable[[], None]) -> None:
        try:
            write()
        except StoreError as e:
            if not self._failed:
                self._failed = True
                self._report(str(e))

    def node_started(self) -> None:
        """Rows a killed node left "connected" are stale now."""
        self._do(lambda: self.book.mark_all_down("node restarted", self._clock.now()))

    def node_stopped(self) -> None:
        self._do(lambda: self.book.mark_all_down("node stopped", self._clock.now()))

    def on_rtt_events(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Apply drained transport events (``kind`` and ``peer`` = fingerprint)."""
        now = self._clock.now()
        for ev in events:
            peer, kind = ev.get("peer"), ev.get("kind")
            if not isinstance(peer, str) or not peer:
                continue
            if kind in ("session_open", "session_resumed"):
                self._do(functools.partial(self.book.up, peer, None, now))
            elif kind == "disconnected":
                why = f"disconnected ({ev.get('cause') or 'connection lost'})"
                self._do(functools.partial(self.book.down, peer, why, now))
            elif kind == "session_close":
                why = f"session closed ({ev.get('reason') or 'closed'})"
                self._do(functools.partial(self.book.down, peer, why, now))
            elif kind == "connection_path" and ev.get("path") in ("direct", "relayed"):
                self._do(functools.partial(self.book.path, peer, str(ev["path"])))

    def verified(self, peer: str, agent_id: str) -> None:
        """The CIP handshake proved the peer's key; its HELLO named ``agent_id``."""
        self._do(lambda: self.book.up(peer, agent_id, self._clock.now()))

    def found(self, peer: str, source: str | None) -> None:
        """How ``peer`` was found (None: it dialled us; nothing to record)."""
        if source is not None:
            self._do(lambda: self.book.found(peer, source, self._clock.now()))

    def closed(self, peer: str, reason: str) -> None:
        self._do(lambda: self.book.down(peer, reason[:200], self._clock.now()))

    def prune(self, cap: int, rank: Callable[[str], int]) -> None:
        """Keep the book at most ``cap`` rows (``LinkBook.prune``)."""

        def write() -> None:
            self.book.prune(cap, rank)

        self._do(write)

    def seen(self, peers: Iterable[str]) -> None:
        """Peers whose link is up now (heard within the heartbeat timeout)."""
        now = self._clock.now()
        for p in peers:
            self._do(functools.partial(self.book.seen, p, now))


class DialHost(Protocol):
    """What ``dial_peer`` needs from the node."""

    @property
    def rng(self) -> Rng: ...

    @property
    def bus(self) -> EventBus: ...

    @property
    def transport(self) -> LinkTransport: ...

    @property
    def dialling(self) -> asyncio.Lock:
        """Held while a dial is under way: one dial at a time."""
        ...

    @property
    def send_timeout(self) -> float: ...

    @property
    def tick(self) -> float: ...

    @property
    def listen_addrs(self) -> Sequence[str]: ...

    def running(self) -> bool: ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` or until a stop is asked."""
        ...

    def start_peer(
        self, session: LinkSession, role: Role, *, serve_inline: bool = False
    ) -> PeerConn | None:
        """The session's ``PeerConn``, or None when it is served already."""
        ...

    async def serve_peer(self, conn: PeerConn) -> None: ...


async def dial_peer(node: DialHost, addr: str) -> None:
    """Dial ``addr`` until the node stops (see the module docstring). Raises
    ``RTTHandshakeError``/``ConfigError`` only for a permanent failure on a node that
    does not listen."""
    backoff = DialBackoff(node.rng)
    state = "starting"  # "up", or "down:<kind>" once unreachable for that kind of reason
    while node.running():
        try:
            async with node.dialling:  # one dial at a time (see node's module docstring)
                if not node.running():  # stopped while this dial waited for its turn
                    return
                session = await node.transport.connect(addr, timeout=node.send_timeout)
        except (RTTError, ConfigError) as e:
            if not node.running():  # a dial cut short by the stop is no error
                return
            kind = e.kind if isinstance(e, RTTError) else "config"
            if kind in PERMANENT_KINDS or isinstance(e, ConfigError):
                node.bus.emit(
                    "error",
                    error=type(e).__name__,
                    error_kind=kind,
                    addr=addr,
                    detail=f"{e}; not dialling {addr} again"[:300],
                )
                if not node.listen_addrs:
                    raise
                return
            delay = backoff.next_delay()
            node.bus.emit(
                "rtt.reconnect_attempt",
                attempt=backoff.attempt,
                addr=addr,
                error_kind=kind,
                retry_in_s=round(delay, 3),
            )
            if state != f"down:{kind}":
                state = f"down:{kind}"
                node.bus.emit(
                    "rtt.peer_unreachable",
                    addr=addr,
                    error_kind=kind,
                    error=str(e)[:300],
                    detail="retrying with backoff until it answers",
                )
            await node.sleep(delay)
            continue
        backoff.reset()
        state = "up"
        # Usually ours; when both nodes dialled at once, the transport may hand us the
        # session the peer opened, and then the peer starts the CIP handshake.
        role = Role.INITIATOR if session.dialled else Role.RESPONDER
        conn = node.start_peer(session, role, serve_inline=True)
        if conn is not None:
            await node.serve_peer(conn)
        else:
            # Already served (the peer's dial reached us first, or both dialled at
            # once): stay out of its way until it ends, then dial again.
            while node.running() and not session.closed:
                await node.sleep(node.tick)
        await node.sleep(backoff.next_delay())
