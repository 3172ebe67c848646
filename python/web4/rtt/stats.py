"""Typed telemetry snapshots of the RTT transport.

Theory of operation: the Rust core reports counters as plain dicts; these frozen
dataclasses give them names and types (``SessionStats.from_core``). A snapshot is a
copy: it never changes after it was taken. ``Unacked`` is a message the peer never
acknowledged, handed back when a session ends without resumption, so nothing is lost
silently.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web4.rtt.config import CHANNEL_KINDS, ChannelKind, check_kind

__all__ = ["DENIAL_REASONS", "ChannelStats", "NodeStats", "SessionStats", "Unacked"]


@dataclass(frozen=True, slots=True)
class ChannelStats:
    """Counters of one channel of one session."""

    sent: int
    bytes_sent: int
    received: int
    bytes_received: int
    dropped: int
    refused: int
    queue_high_water: int
    queue_high_water_bytes: int
    retransmits: int
    replays_rejected: int
    # gauges: current sizes, always within the configured bounds
    send_queued: int = 0
    send_queued_bytes: int = 0
    inflight: int = 0
    inflight_bytes: int = 0
    recv_queued: int = 0
    recv_queued_bytes: int = 0

    @classmethod
    def from_core(cls, d: dict[str, Any]) -> ChannelStats:
        return cls(**{k: int(d[k]) for k in cls.__dataclass_fields__ if k in d})


@dataclass(frozen=True, slots=True)
class SessionStats:
    """Telemetry of one session: per channel, reconnects, heartbeat round trip."""

    state: ChannelStats
    knowledge: ChannelStats
    control: ChannelStats
    reconnects: int
    reconnect_attempts: int
    heartbeat_timeouts: int
    ack_timeouts: int  # connections dropped because a reliable frame went unacknowledged
    rekeys: int
    replays_rejected: int
    frames_rejected: int
    verification_failures: int
    rtt_p50_us: int | None
    rtt_p95_us: int | None

    def channel(self, kind: ChannelKind) -> ChannelStats:
        stats: ChannelStats = getattr(self, check_kind(kind))
        return stats

    @classmethod
    def from_core(cls, d: dict[str, Any]) -> SessionStats:
        chans = {k: ChannelStats.from_core(d[k]) for k in CHANNEL_KINDS}
        return cls(
            **chans,
            reconnects=int(d["reconnects"]),
            reconnect_attempts=int(d["reconnect_attempts"]),
            heartbeat_timeouts=int(d["heartbeat_timeouts"]),
            ack_timeouts=int(d["ack_timeouts"]),
            rekeys=int(d["rekeys"]),
            replays_rejected=int(d["replays_rejected"]),
            frames_rejected=int(d["frames_rejected"]),
            verification_failures=int(d["verification_failures"]),
            rtt_p50_us=d["rtt_p50_us"],
            rtt_p95_us=d["rtt_p95_us"],
        )


# The connection caps, as NodeStats names them (connections_denied_<reason>, RTT_SPEC §16).
DENIAL_REASONS = ("pending_in", "pending_out", "established_in", "per_peer", "total")


@dataclass(frozen=True, slots=True)
class NodeStats:
    """Node-wide counters."""

    frames_rejected: int
    handshake_failures: int
    events_dropped: int
    sessions: int
    discovered: int = 0
    """Peers in the discovery book (bounded, least recently heard of evicted)."""
    discovered_evicted: int = 0
    discovery_events_suppressed: int = 0
    """``peer_discovered`` events over the per-second budget, not emitted."""
    mdns_resets: int = 0
    """Times the mDNS table passed its cap (a flood of announcements) and restarted."""
    connections_denied: int = 0
    """Connections refused by the connection caps (RTT_SPEC §16 "Connection caps"),
    in all; by the cap that refused them below."""
    connections_denied_pending_in: int = 0
    connections_denied_pending_out: int = 0
    connections_denied_established_in: int = 0
    connections_denied_per_peer: int = 0
    connections_denied_total: int = 0

    @classmethod
    def from_core(cls, d: dict[str, int]) -> NodeStats:
        return cls(**{k: int(d[k]) for k in cls.__dataclass_fields__})


@dataclass(frozen=True, slots=True)
class Unacked:
    """A message the peer never acknowledged; ``seq`` is None if it never left."""

    channel: ChannelKind
    seq: int | None
    payload: bytes
