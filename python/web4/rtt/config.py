"""Configuration of the RTT transport, as frozen data.

Theory of operation: ``TransportConfig`` holds every knob of the tunnel: message size,
heartbeat, handshake and connect deadlines, session expiry, re-dial backoff, rekey
triggers, the event queue bound, and per-channel queue bounds and overflow policies
(``ChannelConfig``). It validates itself on construction (``ConfigError``) and crosses
to the Rust core as it is: ``web4._core.RttNode(seed, config)`` reads its fields by
name, with their types, once (``TransportSettings`` in ``rust/web4-py/src/rtt.rs``), so
the field names here are the contract and there is no settings dictionary in between.
Anything left ``None`` keeps the core's default (knowledge/control: ``block``, 1024
messages / 8 MiB; state: ``drop_oldest``, 64 messages / 1 MiB).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Literal, get_args

from web4.errors import ConfigError

__all__ = [
    "CHANNEL_KINDS",
    "POLICIES",
    "ChannelConfig",
    "ChannelKind",
    "CloseReason",
    "Policy",
    "TransportConfig",
]

ChannelKind = Literal["state", "knowledge", "control"]
Policy = Literal["block", "error", "drop_oldest", "drop_newest"]
CHANNEL_KINDS: tuple[ChannelKind, ...] = get_args(ChannelKind)
POLICIES: tuple[Policy, ...] = get_args(Policy)


class CloseReason(StrEnum):
    """Why a session ended (``Session.close_code``; the CLOSE frame's reason, RTT_SPEC
    §5.3). Set by the Rust core; a ``str`` equal to its value."""

    NORMAL = "normal"
    """This side or the peer closed it."""
    UNKNOWN_SESSION = "unknown_session"
    """The peer did not know the session id (it restarted, or never had it)."""
    EXPIRED = "expired"
    """It stayed disconnected past ``session_expiry``."""
    PEER_RESTARTED = "peer_restarted"
    """The peer started a new session, so this one is gone."""
    PROTOCOL_ERROR = "protocol_error"
    """The peer broke the session protocol."""
    SHUTDOWN = "shutdown"
    """The transport shut down."""


def check_kind(kind: str) -> ChannelKind:
    """``kind`` as a channel kind. Raises ``ConfigError`` for an unknown name."""
    for k in CHANNEL_KINDS:
        if k == kind:
            return k
    raise ConfigError(f"unknown channel kind {kind!r} (expected one of {', '.join(CHANNEL_KINDS)})")


@dataclass(frozen=True, slots=True)
class ChannelConfig:
    """Bounds and overflow policy of one channel kind; ``None`` keeps the default."""

    policy: Policy | None = None
    send_queue_msgs: int | None = None
    send_queue_bytes: int | None = None
    inflight_msgs: int | None = None
    inflight_bytes: int | None = None
    recv_queue_msgs: int | None = None
    recv_queue_bytes: int | None = None

    def __post_init__(self) -> None:
        if self.policy is not None and self.policy not in POLICIES:
            raise ConfigError(f"unknown policy {self.policy!r} (expected one of {POLICIES})")
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name != "policy" and v is not None and (not isinstance(v, int) or v <= 0):
                raise ConfigError(f"{f.name} must be a positive integer, got {v!r}")


@dataclass(frozen=True, slots=True)
class TransportConfig:
    """Every knob of the RTT transport. Durations are seconds."""

    max_message_size: int = 1 << 20
    heartbeat_interval: float = 1.0
    heartbeat_timeout: float = 3.0
    handshake_timeout: float = 10.0
    connect_timeout: float = 5.0
    session_expiry: float = 300.0
    reconnect_initial: float = 0.1
    reconnect_max: float = 10.0
    rekey_after_time: float | None = 3600.0
    rekey_after_bytes: int | None = 1 << 30
    max_events: int = 4096
    mdns: bool = False
    """Announce and find peers on the local network (mDNS; RTT_SPEC §16)."""
    dht: bool = False
    """Run the Kademlia DHT (``/web4/kad/1.0.0``): bootstrap, peer lookups."""
    discovery_loopback: bool = False
    """Accept loopback addresses from discovery (nodes on one machine; off: a LAN or
    DHT peer cannot make this node dial its own loopback services)."""
    send_timeout: float = 5.0
    """How long ``send`` waits for queue space under the ``block`` policy by default."""
    receive_timeout: float = 60.0
    """How long ``receive`` waits by default."""
    spin_max: float = 50e-6
    """Longest bounded, adaptive spin (seconds, at most 0.001; 0: never) at a hand-off
    between the IO thread and the application before the waiting side sleeps
    (RTT_SPEC §12): the budget halves on every spin that waits in vain and is off below
    4 us, so a slow peer costs a few spins and then none."""
    own_runtime: bool = False
    """Give this node an IO thread of its own instead of the process's shared one
    (the earlier design; a node with ``mdns`` always has its own)."""
    relay_server: bool = False
    """Serve as a circuit relay v2 for nodes behind NAT, within fixed bounds (RTT_SPEC
    §17: reservations and circuits in all, per peer and per IP, circuit duration and
    bytes); peers refused with ``relay_access(peer, False)`` are turned away."""
    relay_trusted_only: bool = False
    """With ``relay_server``: serve only peers admitted with ``relay_access(peer, True)``
    (the node admits the peers its operator trusts)."""
    max_connections: int = 256
    """Connections held at once (RTT_SPEC §16 "Connection caps"); 3/4 of it may be
    inbound, 1/4 in their handshake each way, 8 to one peer. Connections this node dials
    for its sessions are never refused, only counted."""
    protected_peers: tuple[str, ...] = ()
    """PeerIds (the operator's ``--peer`` ids) whose inbound connections skip the
    incoming and total caps: a flood that fills them cannot lock them out."""
    channels: Mapping[str, ChannelConfig] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in self.channels:
            check_kind(name)
        if not isinstance(self.max_message_size, int) or not 0 < self.max_message_size <= 64 << 20:
            raise ConfigError("max_message_size must be an integer in 1..64 MiB")
        for name in (
            "heartbeat_interval",
            "heartbeat_timeout",
            "handshake_timeout",
            "connect_timeout",
            "session_expiry",
            "reconnect_initial",
            "reconnect_max",
            "send_timeout",
            "receive_timeout",
        ):
            v = getattr(self, name)
            if not isinstance(v, int | float) or v <= 0:
                raise ConfigError(f"{name} must be a positive number of seconds, got {v!r}")
        if self.heartbeat_timeout < self.heartbeat_interval:
            raise ConfigError("heartbeat_timeout must be at least heartbeat_interval")
        if self.reconnect_max < self.reconnect_initial:
            raise ConfigError("reconnect_max must be at least reconnect_initial")
        if self.max_events <= 0:
            raise ConfigError("max_events must be positive")
        if not isinstance(self.max_connections, int) or not 16 <= self.max_connections <= 1 << 20:
            raise ConfigError(
                f"max_connections must be an integer in 16..{1 << 20}, got {self.max_connections!r}"
            )
        if isinstance(self.protected_peers, str) or not all(
            isinstance(p, str) for p in self.protected_peers
        ):
            raise ConfigError("protected_peers must be a sequence of PeerId strings")
        if not isinstance(self.spin_max, int | float) or not 0 <= self.spin_max <= 0.001:
            raise ConfigError(f"spin_max must be in 0..0.001 seconds, got {self.spin_max!r}")

    def channel(self, kind: ChannelKind) -> ChannelConfig:
        return self.channels.get(kind, ChannelConfig())
