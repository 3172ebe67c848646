"""CIP over gossip: broadcast knowledge on topics, and the validation loop (CIP_SPEC §11).

Theory of operation, outbound: a proposal, vote or shared decision that the node sends
to everyone (``CipService.send`` without a peer) is also published once on its gossip
topic (``web4.cip.topics``), as one envelope bound to that topic (``topic`` instead of
``receiver``, covered by the signature), under the same ``msg_id`` as its point-to-point
copies, so it names the same claim everywhere. Before it leaves, every commit made so
far is durable (as for any send: ``web4.node.durable_link``).

Inbound: the transport holds each received gossip message until we give a verdict, and
forwards it to the mesh only on ``ACCEPT``. ``run`` takes the messages in batches and
routes each through the gossip router (a ``ProtocolRouter`` whose CIP validator checks
the topic binding and keeps its own replay cache, scope ``cip-gossip``), with the
forwarder's fingerprint as the link peer (throttled per forwarder). The verdict comes
from the route's outcome (``verdict_of``): valid and applied -> ``ACCEPT``; refused for
its content (schema, signature, topic, timestamp, replay, an unknown type, a handler
fault of the sender's making) -> ``REJECT``, which scores the forwarder down in
gossipsub (an honest forwarder validated it before forwarding, so the fault is the
forwarder's); refused for local reasons (our trust in the sender, a shape declined by
design, a quota, throttling, our own bug) -> ``IGNORE``, no penalty, so an honest
relay of a Sybil's valid claims is never punished for our quotas. The very bytes that
passed our replay check before, sent again by a neighbour after our restart (gossipsub
forgot their id), are no replay: the validator's replay cache recorded their id with
the replay entry (``web4.cip.gossip_seen``) and lets them on to the desk, which drops
them if it holds them already and stores them if we died first; when the entry itself
is gone (a saturated cache), the replay is ignored, never the forwarder's fault.
Faults go to the node's fault handler blamed on the forwarder, never on the envelope's
signer (a replay re-published by a third party is not the signer's fault). A
forwarder's application score follows our trust in it (a blacklisted peer is graylisted
at once). Acceptance is decided by the knowledge rules as for any claim: only votes of
peers this node trusts count.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from web4.cip import messages as cm
from web4.cip.builder import CipBuilder
from web4.cip.topics import DECISIONS_TOPIC, VOTE_TYPES, knowledge_topic
from web4.envelope.validate import DeclinedShapeError
from web4.errors import (
    QuotaError,
    RemoteError,
    ReplayError,
    RTTError,
    TrustError,
    TrustViolationError,
    Web4Error,
)
from web4.isolation import Isolate
from web4.observability import EventBus
from web4.router import Fault, ProtocolRouter, RouteResult
from web4.rtt.gossip import GossipMessage, GossipStats, GossipVerdict, GossipView
from web4.trust import TrustBook, TrustState

__all__ = ["GossipPort", "GossipService", "InvalidReports", "SeenIds", "verdict_of"]

_LOCAL_REFUSALS = (TrustViolationError, DeclinedShapeError, QuotaError)
_APP_SCORES = {
    TrustState.TRUSTED: 5.0,
    TrustState.PROBING: 0.0,
    TrustState.UNTRUSTED: 0.0,
    TrustState.BLACKLISTED: -1000.0,  # below gossipsub's graylist threshold (-80)
}
_SCORED_BOUND = 4096  # forwarders whose last application score we remember
SUBSCRIBE_WAIT_S = 2.0  # how long a publish waits for a peer that follows its topic
RETRY_FOR_S = 90.0  # a broadcast nobody followed is published again this long (skew: 120)
UNPUBLISHED_BOUND = 256  # broadcasts kept for that


class SeenIds(Protocol):
    """The gossip validator's replay cache (``web4.cip.gossip_seen.GossipReplayCache``):
    it records ``message_id``, the message being validated, with the envelope's replay
    entry, in one transaction, and tells which ids it recorded."""

    message_id: str | None

    def recorded(self, message_id: str) -> bool: ...


class GossipPort(Protocol):
    """What the service needs of the transport's gossip (``web4.rtt.gossip.Gossip``)."""

    def subscribe(self, topic: str) -> None: ...

    async def publish(
        self, topic: str, data: bytes, timeout: float | None = None
    ) -> str | None: ...

    async def receive(
        self, max_messages: int = 64, timeout: float = 1.0
    ) -> list[GossipMessage]: ...

    def report(self, msg: GossipMessage, verdict: GossipVerdict) -> None: ...

    def set_app_score(self, peer_id: str, score: float) -> None: ...

    def stats(self) -> GossipStats: ...

    def view(self) -> GossipView: ...


def verdict_of(result: RouteResult) -> GossipVerdict:
    """The gossip verdict for a route's outcome (see the module docstring)."""
    if result.outcome == "routed":
        return GossipVerdict.ACCEPT
    err = result.error
    if result.outcome in ("rejected", "handler_error"):
        if isinstance(err, _LOCAL_REFUSALS) or not isinstance(err, RemoteError):
            return GossipVerdict.IGNORE
        return GossipVerdict.REJECT
    if result.outcome == "unknown":
        return GossipVerdict.REJECT
    return GossipVerdict.IGNORE  # throttled


class InvalidReports:
    """How many ``cip.gossip.invalid`` events a window gets: every invalid message is
    counted, but only the first ``log_each`` per forwarder and ``log_max`` for all
    forwarders together per ``window_s`` get an event of their own (a forwarder is
    scored down in any case; a thousand fresh keys, each forwarding junk, must not
    write a thousand lines a second). The rest are summed per reason and reported by
    ``flush`` once the window ends, one ``cip.gossip.invalid_summary`` per reason with
    its ``count``. As ``node.peer_task_failed`` (``web4.isolation``). Memory: at most
    ``max_peers`` forwarders (least recently seen forgotten first) and one count per
    reason (the error class names of the validator and the handlers)."""

    def __init__(
        self,
        emit: Callable[..., Any],
        *,
        window_s: float = 60.0,
        log_each: int = 3,
        log_max: int = 20,
        max_peers: int = 4096,
    ) -> None:
        self._emit = emit
        self.window_s, self.log_each, self.log_max = window_s, log_each, log_max
        self.max_peers = max_peers
        self._window_start: float | None = None
        self._logged = 0  # events in the current window, every forwarder
        self._peers: OrderedDict[str, int] = OrderedDict()  # events this window
        self._suppressed: dict[str, tuple[int, set[str]]] = {}  # reason -> (count, peers)

    def report(self, now: float, peer: str, reason: str, **attributes: Any) -> bool:
        """One invalid message forwarded by ``peer``: its own event when the limits
        allow (True), else counted for the summary (False)."""
        self.flush(now)
        n = self._peers.pop(peer, 0)
        self._peers[peer] = n + 1  # most recently seen last
        while len(self._peers) > self.max_peers:
            self._peers.popitem(last=False)
        if n < self.log_each and self._logged < self.log_max:
            self._logged += 1
            self._emit("cip.gossip.invalid", peer=peer, reason=reason, **attributes)
            return True
        count, peers = self._suppressed.get(reason, (0, set()))
        if len(peers) < 64:  # how many forwarders, up to 64: a hint, not a list to keep
            peers.add(peer)
        self._suppressed[reason] = (count + 1, peers)
        return False

    def flush(self, now: float, *, force: bool = False) -> None:
        """Once the window has ended (or ``force``): the summaries, and a new window."""
        if self._window_start is None:
            self._window_start = now
        if not force and now - self._window_start < self.window_s:
            return
        for reason, (count, peers) in sorted(self._suppressed.items()):
            self._emit(
                "cip.gossip.invalid_summary",
                reason=reason,
                count=count,
                forwarders=len(peers),
                window_s=self.window_s,
            )
        self._suppressed.clear()
        self._peers.clear()
        self._window_start, self._logged = now, 0


class GossipService:
    """The node's gossip side over narrow ports (see the module docstring)."""

    def __init__(
        self,
        *,
        gossip: GossipPort,
        router: ProtocolRouter,
        builder: CipBuilder,
        trust: TrustBook,
        bus: EventBus,
        state: Callable[[], cm.SenderState],
        durable: Callable[[], Awaitable[None]],
        claim_domain: Callable[[str, str | None], str | None],
        fingerprint_of: Callable[[str], str],
        on_fault: Callable[[Fault], None],
        publish_timeout: float = 5.0,
        seen: SeenIds | None = None,
        now: Callable[[], float] | None = None,
        isolate: Isolate | None = None,
    ) -> None:
        self.gossip, self.router, self.builder = gossip, router, builder
        self.trust, self.bus, self._state, self._durable = trust, bus, state, durable
        self._claim_domain, self._fp_of, self._on_fault = claim_domain, fingerprint_of, on_fault
        self.publish_timeout = publish_timeout
        # the ids of the messages that passed our replay check, across restarts
        # (web4.cip.gossip_seen): a neighbour re-sending one after our restart is not
        # blamed for the replay
        self._seen = seen
        self._clock = now or time.monotonic
        self._unpublished: OrderedDict[str, tuple[str, bytes, float, str]] = OrderedDict()
        self._current: GossipMessage | None = None
        self._isolate = isolate  # a bug met on one message drops it (web4.isolation)
        self.topics: set[str] = set()
        self._forwarder: str | None = None  # the fingerprint of the message being routed
        self._scored: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.invalid = InvalidReports(bus.emit)  # one rate-limited event per message
        self._routed: list[tuple[str, dict[str, Any]]] = []  # the router's, held
        router._on_fault = self._fault  # faults are the forwarder's (module docstring)
        emit = getattr(router, "_emit", None)  # a stand-in router may have none
        self._router_emit: Callable[..., Any] = bus.emit if emit is None else emit
        router._emit = self._router_event  # its refusals: in our verdict event, once

    # --- topics and publishing ------------------------------------------------------

    def follow(self, domains: tuple[str, ...] | list[str]) -> None:
        """Subscribe to the topics of ``domains`` and to the decisions topic."""
        for topic in (DECISIONS_TOPIC, *(knowledge_topic(d) for d in domains)):
            if topic not in self.topics:
                self.gossip.subscribe(topic)
                self.topics.add(topic)
                self.bus.emit("cip.gossip.subscribed", topic=topic)

    def topic_for(self, msg_type: str, struct: Any) -> str | None:
        """The topic a broadcast of ``msg_type`` goes on; None: none (a vote on a claim
        we do not know the domain of)."""
        if msg_type == "FACT_PROPOSE":
            return knowledge_topic(struct.fact.domain)
        if msg_type == "DECISION_SHARE":
            return DECISIONS_TOPIC
        if msg_type in VOTE_TYPES:
            domain = self._claim_domain(struct.fact_ref, getattr(struct, "claim_hash", None))
            return None if domain is None else knowledge_topic(domain)
        return None

    async def publish(self, msg_type: str, struct: Any, msg_id: str) -> None:
        """Publish one topic-bound envelope of a broadcast. Never raises for the
        network: a publish that reaches nobody is a ``cip.gossip.publish_failed`` event."""
        topic = self.topic_for(msg_type, struct)
        if topic is None:
            return
        env = self.builder.build(
            struct,
            receiver=None,
            topic=topic,
            sender_view="probing",  # ignored: a topic-bound envelope has no trust views
            state=_sender_state(self._state()),
            msg_id=msg_id,
        )
        data = self.builder.encode(env)
        await self._durable()
        try:
            gid = await self._publish(topic, data)
        except RTTError as e:
            self._count("publish_failed")
            self.bus.emit(
                "cip.gossip.publish_failed", msg_id=msg_id, topic=topic, type=msg_type,
                reason=str(e)[:200],
            )  # fmt: skip
            return
        if gid is None:  # nobody we are connected to follows the domain: normal
            self._unpublished[msg_id] = (topic, data, self._clock(), msg_type)
            while len(self._unpublished) > UNPUBLISHED_BOUND:
                self._unpublished.popitem(last=False)
            self._count("publish_failed")
            self.bus.emit(
                "cip.gossip.publish_failed", level="debug", msg_id=msg_id, topic=topic,
                type=msg_type, reason="no connected peer follows the topic",
            )  # fmt: skip
            return
        self._count("published")
        self.bus.emit("cip.gossip.published", msg_id=msg_id, topic=topic, type=msg_type, id=gid)

    async def retry_unpublished(self) -> None:
        """Publish again the broadcasts that found no follower (a peer following the
        domain may have connected since), while receivers would still take them
        (``RETRY_FOR_S``, below the 120 s skew bound); the same bytes, so a copy that did
        go out meanwhile is refused as a duplicate and dropped here."""
        now = self._clock()
        for msg_id, (topic, data, at, msg_type) in list(self._unpublished.items()):
            if now - at > RETRY_FOR_S:
                del self._unpublished[msg_id]
                continue
            try:
                gid = await self.gossip.publish(topic, data, self.publish_timeout)
            except RTTError:
                del self._unpublished[msg_id]  # published already, or cannot be
                continue
            if gid is not None:
                del self._unpublished[msg_id]
                self._count("published")
                self.bus.emit(
                    "cip.gossip.published", msg_id=msg_id, topic=topic, type=msg_type, id=gid,
                    retried=True,
                )  # fmt: skip

    async def _publish(self, topic: str, data: bytes) -> str | None:
        """Publish, retrying while no connected peer is known to follow the topic: a
        peer's subscriptions arrive just after its connection, and a proposal goes out
        as soon as its handshake ends (at most ``SUBSCRIBE_WAIT_S``)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + SUBSCRIBE_WAIT_S
        while True:
            gid = await self.gossip.publish(topic, data, self.publish_timeout)
            if gid is not None or loop.time() >= end:
                return gid
            await asyncio.sleep(0.25)

    # --- the verdict loop ---------------------------------------------------------------

    async def run(self, running: Callable[[], bool], tick: float = 0.25) -> None:
        """Validate received messages until ``running()`` turns False."""
        while running():
            for msg in await self.gossip.receive(64, timeout=tick):
                try:
                    await self.handle(msg)
                except Exception as e:  # noqa: BLE001 - re-raised there when fatal
                    self._isolated(msg, e)

    def _isolated(self, msg: GossipMessage, exc: Exception) -> None:
        """A bug met on one message: reported through ``isolate`` (then the message is
        ignored: no penalty, the fault is ours), or raised when there is no ``isolate``
        or it is fatal."""
        try:
            forwarder: str | None = self._fp_of(msg.source)
        except Web4Error:
            forwarder = None
        if self._isolate is None or not self._isolate(forwarder, "gossip", exc):
            raise exc
        with contextlib.suppress(Web4Error):  # it may have had its verdict already
            self.gossip.report(msg, GossipVerdict.IGNORE)

    async def handle(self, msg: GossipMessage) -> GossipVerdict:
        """Route one message and report its verdict (see the module docstring)."""
        try:
            forwarder = self._fp_of(msg.source)
        except Web4Error:  # not an Ed25519 peer: it cannot be a node of ours
            self.gossip.report(msg, GossipVerdict.REJECT)
            return GossipVerdict.REJECT
        self._score(msg.source, forwarder)
        self._forwarder, self._current = forwarder, msg
        if self._seen is not None:  # recorded with the replay entry, atomically
            self._seen.message_id = msg.id
        self._routed.clear()
        try:
            result = await self.router.route(msg.data, link_peer=forwarder, topic=msg.topic)
        finally:
            self._forwarder = self._current = None
            if self._seen is not None:
                self._seen.message_id = None
        verdict = verdict_of(result)
        if verdict is GossipVerdict.REJECT and self._redelivered(msg, result.error):
            verdict = GossipVerdict.IGNORE
        self.gossip.report(msg, verdict)
        name = {"accept": "delivered", "reject": "invalid", "ignore": "ignored"}[verdict.value]
        self._count(name)
        err = result.error
        attributes: dict[str, Any] = {
            "topic": msg.topic,
            "type": str(result.type),
            "id": msg.id,
            "reason": (
                type(err).__name__ if err is not None
                else "throttled" if result.outcome == "throttled" else ""
            ),
        }  # fmt: skip
        if err is not None:
            attributes["message"] = str(err)[:200]
        if verdict is GossipVerdict.REJECT:  # one event at most, rate-limited
            self.invalid.report(self._clock(), forwarder, **attributes)
        else:
            for kind, held in self._routed:  # a handler's error of our own: said once
                self._router_emit(kind, **held)
            self.bus.emit(f"cip.gossip.{name}", peer=forwarder, **attributes)
        self._routed.clear()
        return verdict

    def _router_event(self, kind: str, **attributes: Any) -> None:
        """The gossip router's events: a refusal (``router.rejected``,
        ``unknown_type``, ``throttled``) is said by our verdict event instead, once per
        message; a handler's error waits for the verdict (said by the invalid event
        when the sender caused it, else passed on); the rest pass."""
        if kind in ("router.rejected", "router.unknown_type", "router.throttled"):
            return
        if kind == "router.handler_error" and self._current is not None:
            self._routed.append((kind, attributes))
            return
        self._router_emit(kind, **attributes)

    def emit_stats(self) -> None:
        """One ``cip.gossip.stats`` event: the transport's counters (``duplicates``: copies
        gossipsub dropped itself), ours, the peers whose gossipsub score is below zero
        (pruned from our meshes; below -80 ignored altogether) and our mesh per topic,
        peers by fingerprint (at most 32 of each; ``min_score``: the lowest score). Also
        brings every known peer's application score in step with our trust in it, so a
        peer blacklisted meanwhile is graylisted even if it sends nothing."""
        self.invalid.flush(self._clock())  # the invalid messages past the event limits
        try:
            stats, view = self.gossip.stats(), self.gossip.view()
        except Web4Error:
            return

        def fp(peer_id: str) -> str:
            try:
                return self._fp_of(peer_id)
            except Web4Error:
                return peer_id

        for peer_id in list(view.scores)[:_SCORED_BOUND]:  # trust changes reach gossip too
            with contextlib.suppress(Web4Error):
                self._score(peer_id, self._fp_of(peer_id))
        negative = sorted(fp(p) for p, s in view.scores.items() if s < 0)[:32]
        mesh = sorted({fp(p) for ps in view.mesh.values() for p in ps})[:32]
        low = min(view.scores.values(), default=0.0)
        self.bus.emit(
            "cip.gossip.stats",
            topics=len(self.topics),
            published=stats.published,
            publish_failed=stats.publish_failed,
            received=stats.received,
            duplicates=stats.duplicates,
            delivered=stats.accepted,
            invalid=stats.rejected,
            ignored=stats.ignored,
            dropped=stats.dropped,
            negative=negative,
            min_score=round(low, 3),
            mesh=mesh,
        )

    def close(self) -> None:
        """Report the invalid messages summed so far, whether or not their window has
        ended (the node calls this when it stops: they would not be counted else)."""
        self.invalid.flush(self._clock(), force=True)

    def _redelivered(self, msg: GossipMessage | None, error: object) -> bool:
        """Is this replay the very bytes we accepted before (a neighbour re-sending
        after our restart), not a respelling? (``web4.cip.gossip_seen``)"""
        if msg is None or self._seen is None or not isinstance(error, ReplayError):
            return False
        try:
            return self._seen.recorded(msg.id)
        except Web4Error:
            return False

    def _fault(self, fault: Fault) -> None:
        if self._forwarder is None or isinstance(fault.error, _LOCAL_REFUSALS):
            return
        if self._redelivered(self._current, fault.error):
            return
        self._on_fault(Fault(self._forwarder, False, fault.error, fault.msg_id, fault.stage))

    def _score(self, peer_id: str, fingerprint: str) -> None:
        """Keep the forwarder's application score in step with our trust in it."""
        try:
            score = _APP_SCORES[self.trust.state_of(fingerprint)]
        except TrustError:
            return
        if self._scored.get(peer_id) == score:
            return
        if len(self._scored) >= _SCORED_BOUND:
            self._scored.clear()
        self._scored[peer_id] = score
        with contextlib.suppress(Web4Error):
            self.gossip.set_app_score(peer_id, score)

    def _count(self, name: str) -> None:
        self.counts[name] = self.counts.get(name, 0) + 1


def _sender_state(s: cm.SenderState) -> cm.SenderState:
    return cm.SenderState(
        presence=s.presence,
        lri=s.lri,
        kernel_signals=list(s.kernel_signals),
        intent=None if not s.intent else s.intent[:256],
    )
