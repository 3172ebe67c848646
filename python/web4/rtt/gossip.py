"""Gossip on the RTT swarm: topics, publishing, and the verdict loop (RTT_SPEC §15).

Theory of operation: the Rust core runs rust-libp2p's gossipsub on the same connections
as the RTT sessions. Messages are content-addressed (id = SHA-256 of the bytes, so the
same envelope is one message however many peers forward it) and validated by the
application: a received message waits in a bounded inbox in Rust, forwarded to nobody,
until Python reports a ``GossipVerdict`` for it. ``ACCEPT`` forwards it, ``REJECT``
scores the peer that forwarded it down (gossipsub's P4; a negative score prunes it from
the mesh, below the graylist threshold everything it sends is ignored), ``IGNORE`` drops
it without a penalty. ``Gossip`` wraps one ``Transport``'s core: its waits share the
transport's wake-up fd (no thread hop per message) and every wait has a deadline.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import StrEnum

from web4.errors import RTTErrorKind, RTTTransportError
from web4.rtt.transport import Transport

NO_SUBSCRIBER = 1  # a publish operation's result: no connected peer follows the topic

__all__ = ["Gossip", "GossipMessage", "GossipStats", "GossipVerdict", "GossipView", "message_id"]


class GossipVerdict(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    IGNORE = "ignore"


@dataclass(frozen=True, slots=True)
class GossipMessage:
    """A received message waiting for its verdict."""

    id: str  # lowercase hex SHA-256 of ``data``
    source: str  # PeerId of the peer that forwarded it (not necessarily its author)
    topic: str
    data: bytes


@dataclass(frozen=True, slots=True)
class GossipStats:
    """Node-wide gossip counters (``duplicates``: copies gossipsub dropped itself)."""

    published: int
    publish_failed: int
    received: int
    duplicates: int
    accepted: int
    rejected: int
    ignored: int
    dropped: int  # answered IGNORE by the core: inbox full or forwarder over its rate


@dataclass(frozen=True, slots=True)
class GossipView:
    """Scores, meshes and known subscribers by PeerId, as of the last gossip heartbeat."""

    scores: dict[str, float]
    mesh: dict[str, list[str]]
    subscribers: dict[str, list[str]]


def message_id(data: bytes) -> str:
    """The gossip message id of ``data`` (what gossipsub deduplicates on)."""
    return hashlib.sha256(data).hexdigest()


class Gossip:
    """Gossip over one ``Transport`` (see the module docstring)."""

    def __init__(self, transport: Transport) -> None:
        self._t = transport
        self._core = transport._core

    def subscribe(self, topic: str) -> None:
        """Raises ``ConfigError`` unless ``topic`` starts with ``/web4/`` (<= 256 bytes)."""
        self._core.gossip_subscribe(topic)

    def unsubscribe(self, topic: str) -> None:
        self._core.gossip_unsubscribe(topic)

    async def publish(self, topic: str, data: bytes, timeout: float | None = None) -> str | None:
        """Publish ``data`` on ``topic``; returns its message id, or None when no
        connected peer subscribes to the topic (nothing was sent). Raises
        ``RTTTransportError`` (too big, queues full, published already), ``ConfigError``
        (bad topic)."""
        op = self._core.gossip_publish(topic, data)
        t = self._t.config.connect_timeout if timeout is None else timeout
        try:
            sent = await self._t._wait(lambda: self._core.poll_op(op), t)
        except TimeoutError:
            self._core.cancel_op(op)
            raise RTTTransportError(
                f"gossip publish did not complete within {t} s", kind=RTTErrorKind.TIMEOUT
            ) from None
        return None if sent == NO_SUBSCRIBER else message_id(data)

    def take(self, max_messages: int = 64) -> list[GossipMessage]:
        """Received messages, oldest first, without waiting; each needs one ``report``."""
        return [
            GossipMessage(str(d["id"]), str(d["source"]), str(d["topic"]), bytes(d["data"]))  # type: ignore[arg-type]
            for d in self._core.gossip_take(max_messages)
        ]

    async def receive(self, max_messages: int = 64, timeout: float = 1.0) -> list[GossipMessage]:
        """Between 1 and ``max_messages`` received messages; ``[]`` after ``timeout``."""
        try:
            return await self._t._wait(lambda: self.take(max_messages) or None, timeout)
        except TimeoutError:
            return []

    def report(self, msg: GossipMessage, verdict: GossipVerdict) -> None:
        """The verdict on ``msg`` (once per message)."""
        self._core.gossip_report(msg.id, msg.source, verdict.value)

    def set_app_score(self, peer_id: str, score: float) -> None:
        """Our own score of a peer (its trust), added to gossipsub's."""
        self._core.gossip_app_score(peer_id, score)

    def stats(self) -> GossipStats:
        d = self._core.gossip_stats()
        return GossipStats(**{k: int(d[k]) for k in GossipStats.__dataclass_fields__})

    def view(self) -> GossipView:
        d = self._core.gossip_view()
        return GossipView(dict(d["scores"]), dict(d["mesh"]), dict(d["subscribers"]))
