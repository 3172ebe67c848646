"""What the asyncio and the blocking faces of RTT share: channels, sessions, nodes.

Theory of operation: a ``Channel`` is frozen data naming (session, kind); it carries a
reference to the session object that created it so that ``transport.send(channel, …)``
and ``session.send(channel, …)`` are the same call. ``_SessionBase`` and ``_NodeBase``
hold the non-waiting parts (open/close channels, stats, unacked messages, events)
over the Rust objects; the two faces add only the waiting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from web4 import _core
from web4.errors import ConfigError, RTTTransportError
from web4.identity import Identity
from web4.rtt.config import ChannelKind, CloseReason, TransportConfig, check_kind
from web4.rtt.stats import NodeStats, SessionStats, Unacked

__all__ = ["Channel"]


@dataclass(frozen=True, slots=True)
class Channel:
    """An open channel of one session."""

    kind: ChannelKind
    session_id: int
    peer_id: str
    owner: Any = field(repr=False, compare=False)


class _SessionBase:
    __slots__ = ("_closed", "_core", "_node")

    def __init__(self, node: _core.RttNode, core: _core.RttSession) -> None:
        self._node = node
        self._core = core
        self._closed = False

    @property
    def id(self) -> int:
        return self._core.id

    @property
    def peer_id(self) -> str:
        """The peer's libp2p PeerId (it embeds the peer's Ed25519 public key)."""
        return self._core.peer_id

    @property
    def is_dialer(self) -> bool:
        """True if this side dialled the session. When two nodes dial each other at once,
        the transport gives the dialler's role to one of them only (RTT_SPEC §3), so a
        protocol above can let the dialler speak first."""
        return self._core.is_dialer

    @property
    def state(self) -> str:
        """connecting, handshaking, established, disconnected or closed."""
        return self._core.state

    @property
    def close_reason(self) -> str | None:
        """``reason`` or ``reason: text``, for a person; programs read ``close_code``."""
        return self._core.close_reason

    @property
    def close_code(self) -> CloseReason | None:
        """Why the session ended (``None`` while it is open)."""
        return self._core.close_code

    def open_channel(self, kind: str) -> Channel:
        """Open ``kind`` for sending and receiving.

        Raises ``ConfigError`` for an unknown kind, ``RTTTransportError`` if closed.
        """
        k = check_kind(kind)
        self._core.open_channel(k)
        return Channel(k, self.id, self.peer_id, self)

    def close_channel(self, channel: Channel) -> None:
        """Stop using ``channel`` locally (sends and receives on it then fail)."""
        self._own(channel)
        self._core.close_channel(channel.kind)

    def _own(self, channel: Channel) -> ChannelKind:
        if channel.owner is not self:
            raise ConfigError(f"channel {channel.kind} belongs to session {channel.session_id}")
        return channel.kind

    def stats(self) -> SessionStats:
        """A telemetry snapshot."""
        return SessionStats.from_core(self._core.stats())

    def unacked(self) -> list[Unacked]:
        """Messages the peer never acknowledged (known once the session closed)."""
        return [Unacked(check_kind(k), s, p) for k, s, p in self._core.take_unacked()]

    def _close(self) -> None:
        if not self._closed:
            self._closed = True
            self._node.close_session(self.id)


class _NodeBase:
    def __init__(self, identity: Identity, config: TransportConfig | None) -> None:
        self.config = config or TransportConfig()
        self._core = _core.RttNode(identity.signing_key.seed(), self.config)
        self.identity = identity

    @property
    def peer_id(self) -> str:
        """This node's libp2p PeerId, derived from ``identity``'s Ed25519 key."""
        return self._core.peer_id

    @property
    def listen_addrs(self) -> list[str]:
        """Listening multiaddrs, each ending with ``/p2p/<peer id>`` (ready to dial)."""
        return self._core.listen_addrs()

    def observed_addrs(self) -> list[str]:
        """Where peers report (libp2p identify) seeing this node, oldest first, the last
        8 distinct, each ending with ``/p2p/<peer id>``: each is one peer's claim,
        unverified (behind NAT, the address the network reaches us at, if it is true)."""
        return self._core.observed_addrs()

    def stats(self) -> NodeStats:
        return NodeStats.from_core(self._core.stats())

    def add_bootstrap(self, addr: str) -> int:
        """Seed the DHT with ``addr`` (``/ip4/.../tcp/.../p2p/<peer id>``); returns the
        operation (finishes once queued). Raises ``ConfigError`` for a bad address."""
        return self._core.add_bootstrap(addr)

    def discovered(self) -> list[tuple[str, list[str], str]]:
        """Peers found by mDNS or the DHT, most recently heard of first: (peer id,
        dialable addresses ending with ``/p2p/<peer id>``, ``mdns`` or ``dht``). Bounded
        (RTT_SPEC §16); discovery names peers, it authenticates and trusts nobody."""
        return self._core.discovered()

    def addrs_of(self, peer_id: str) -> list[str]:
        """``peer_id``'s discovered addresses. Raises ``ConfigError`` for a bad id."""
        return self._core.addrs_of(peer_id)

    def relay_access(self, peer_id: str, allow: bool | None, *, pinned: bool = False) -> None:
        """Admit (``True``), refuse (``False``) or forget (``None``) ``peer_id`` as a user
        of this node's relay server (RTT_SPEC §17); a ``pinned`` refusal cannot be pushed
        out of the bounded lists by other refusals. Raises ``ConfigError`` for a bad id."""
        self._core.relay_access(peer_id, allow, pinned)

    def protect_peer(self, peer_id: str, on: bool) -> None:
        """Let ``peer_id``'s connections skip the incoming, outbound handshake and total
        connection caps (``on``), or stop (RTT_SPEC §16 Connection caps). Raises
        ``ConfigError`` for a bad id, ``RTTBackpressureError`` when the transport's command
        queue is full."""
        self._core.protect_peer(peer_id, on)

    def relayed(self, session_id: int) -> bool | None:
        """Whether the session is carried by a relayed connection now (``None``: it has
        no connection yet)."""
        return self._core.relayed(session_id)

    def relay_stats(self) -> dict[str, int]:
        """Relay server and client counters, hole punches and relayed-to-direct
        upgrades (RTT_SPEC §17)."""
        return self._core.relay_stats()

    def drain_events(self, max_events: int = 1024) -> list[dict[str, str | int | bool]]:
        """Up to ``max_events`` lifecycle/telemetry events, oldest first (bounded queue;
        when nobody drains it the oldest are dropped and counted in ``stats``). Each is a
        dict with ``kind`` and its fields as native values: counts, ids and
        milliseconds are ``int``, flags ``bool``, names and texts ``str``."""
        return self._core.drain_events(max_events)

    def _check_open(self) -> None:
        if self._core.is_shut_down:
            raise RTTTransportError("the transport is shut down")
