"""RTT: the encrypted, multiplexed, resumable transport tunnel between agents.

Theory of operation: the Rust core (``web4._core.RttNode``, built on rust-libp2p with
TCP + Noise + yamux) owns sockets, timers and the session layer (sequence numbers,
acks, resume, retransmit, replay rejection, heartbeat, bounded queues). This package is
its Python face: ``Transport``/``Session`` for asyncio, ``BlockingTransport``/
``BlockingSession`` for scripts, ``TransportConfig`` for every knob, typed
``SessionStats`` snapshots, and ``drain_events()`` for the observability layer. Channel
kinds: ``state`` (may conflate), ``knowledge`` and ``control`` (exactly once, in order).
"""

from web4.rtt._base import Channel
from web4.rtt.blocking import BlockingSession, BlockingTransport
from web4.rtt.config import (
    CHANNEL_KINDS,
    POLICIES,
    ChannelConfig,
    ChannelKind,
    CloseReason,
    Policy,
    TransportConfig,
)
from web4.rtt.stats import ChannelStats, NodeStats, SessionStats, Unacked
from web4.rtt.transport import Session, Transport

__all__ = [
    "CHANNEL_KINDS",
    "POLICIES",
    "BlockingSession",
    "BlockingTransport",
    "Channel",
    "ChannelConfig",
    "ChannelKind",
    "ChannelStats",
    "CloseReason",
    "NodeStats",
    "Policy",
    "Session",
    "SessionStats",
    "Transport",
    "TransportConfig",
    "Unacked",
]
