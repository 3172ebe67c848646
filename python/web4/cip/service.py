"""The CIP service of a node: peer sessions (the handshake, then routing), the node's
reactions to handshake events and routing faults, and its outbound side.

Theory of operation, sessions: the node makes a ``PeerConn`` for every authenticated link
session (dialled: we are the handshake's initiator; accepted: the responder) and runs
``serve`` for it in its TaskGroup. The handshake is bound to the fingerprint the link
authenticated, so a HELLO signed by any other key is dropped by the handshake itself.
While the handshake is not over, ``control`` bytes go straight to ``Handshake.receive``
(it has its own validator; the router never sees them, so its replay cache cannot
mistake them for replays). Everything else, and ``control`` after the handshake, goes to
``router.route(data, link_peer=<fingerprint>)``. The loop waits for input at most
``tick`` seconds, then drives the handshake's timers, and sends whatever the handshake
queued, each send under a deadline. Handshake events go to ``host.on_handshake`` (trust,
observability, agent loop). The responder's handshake arms no timer before the first
HELLO, so ``serve`` bounds that wait by ``hello_timeout``: a peer that opens a session and
stays silent is dropped (a failed handshake, no trust event). A human client may skip
CIP altogether (``docs/HCP_SPEC.md`` §9): before the peer's first CIP HELLO, an HCP
envelope on ``control`` goes to the router (whose HCP handler decides whether that key
may steer the agent), and once one was routed the session is an HCP session: the hello
bound no longer applies and it is never ``ready`` (no CIP traffic is sent to it). The
session ends when the link closes, the handshake fails, or the node stops; then the link
is closed and ``host.on_closed`` is called.

Reactions (``CipService.on_handshake``/``on_fault``): a handshake event goes to
observability first, then: ``PeerVerified`` is the trust event "valid handshake"
(``untrusted -> probing``) and, for an operator trust anchor, an audited
``operator_vouch`` (``probing -> trusted``); ``PeerUntrusted`` is ``bad_signature``;
``PeerBlacklisted`` is ``fingerprint_mismatch``; the peer's state and intent go to the
agent loop; ``HandshakeDone`` makes the peer ready. A router fault from a link peer (its
key is authenticated by the link) is ``fingerprint_mismatch``, ``bad_signature`` or, for
invalid messages and handler faults, ``anomaly`` (``docs/CIP_SPEC.md``, Trust FSM).
Anomalies pass through the ``FaultMeter`` (``web4.cip.faults``): a few per peer and window
are audited one by one, the rest are aggregated into one audit row, and a peer past the
limit is disconnected and refused for a while; a peer that never completed the handshake
has no trust to lose, so its faults are only aggregated. The node is not in its own trust
book. Every trust change is audited and emitted.

Outbound (``CipService.send``): a payload (a CIP Struct or plain data) becomes its typed
Struct (a bad one is ``MessageBuildError``), all copies get one ``msg_id`` (a broadcast
FACT_PROPOSE therefore names one claim everywhere), and one envelope goes to each ready
peer on the channel its type belongs to: FACT_* and DECISION_SHARE on ``knowledge``,
STATE_UPDATE on ``state``, the rest on ``control``. Each envelope carries our state (from
the agent loop), our claimed standing with that peer (from its handshake) and our trust
view of it. The copies go out concurrently, so a slow peer delays nobody else; ``send``
returns when every copy is queued or has failed, so messages to one peer keep their
order. A failed send to one peer is an ``error`` event and does not stop the others. Our
own votes are also recorded (``record_vote``, the knowledge desk's).

The service takes narrow ports, not the node: the event bus, the trust book, the CIP
builder, the agent loop's state and inbox, and the node's clock and randomness.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol

import msgspec

from web4.agent import InboundMessage, Outbound
from web4.cip import PAYLOADS, Handshake, Role, Step, new_msg_id
from web4.cip import messages as cm
from web4.cip.builder import CipBuilder
from web4.cip.events import (
    HandshakeDone,
    HandshakeEvent,
    HandshakeFailed,
    IntentReceived,
    PeerBlacklisted,
    PeerStateReceived,
    PeerUntrusted,
    PeerVerified,
)
from web4.cip.faults import FaultMeter, FaultVerdict
from web4.clock import Rng
from web4.envelope.validate import Limits, Receiver, decode_json
from web4.errors import (
    FingerprintMismatchError,
    InvalidEnvelopeError,
    MessageBuildError,
    ReplayError,
    RTTError,
    SignatureMismatchError,
    TimestampError,
    TrustError,
    Web4Error,
)
from web4.isolation import INTERNAL_ERROR
from web4.observability import EventBus, emit_handshake_event, emit_trust_audit
from web4.router import Fault, ProtocolRouter
from web4.trust import TrustBook, TrustEvent, TrustState

__all__ = [
    "STOPPING",
    "VOTES",
    "CipService",
    "PeerConn",
    "PeerHost",
    "Session",
    "drive_handshake",
    "is_hcp",
    "label",
    "link_key",
    "sender_state",
    "serve",
]

VOTES = frozenset({"FACT_CONFIRM", "FACT_REJECT", "FACT_CHALLENGE"})
RECENT_BROADCASTS = 256  # knowledge broadcasts kept for peers that become ready later
RECENT_WINDOW_S = 600.0  # ... for this long


@dataclass
class _Broadcast:
    msg_type: str
    struct: Any
    sent_to: set[str]
    at: float


_KNOWLEDGE = VOTES | {"FACT_PROPOSE", "DECISION_SHARE"}


def _addressed_to(envelope: dict[str, Any], peer: str) -> bool:
    receiver = envelope.get("receiver")
    return isinstance(receiver, dict) and receiver.get("fingerprint") == peer


_ANOMALY = (InvalidEnvelopeError, TimestampError, ReplayError)

_TERMINAL = frozenset({Step.ACCEPTED, Step.DEFERRED, Step.FAILED})


class Session(Protocol):
    """The part of a link session (``web4.node.link.LinkSession``) CIP uses."""

    @property
    def peer(self) -> str: ...

    @property
    def closed(self) -> bool: ...

    @property
    def connected(self) -> bool: ...

    async def send(self, channel: str, data: bytes, *, timeout: float) -> None: ...

    async def receive(self, *, timeout: float) -> tuple[str, bytes] | None: ...

    async def close(self) -> None: ...


class PeerHost(Protocol):
    """What a peer session needs from the node."""

    router: ProtocolRouter
    send_timeout: float

    def now(self) -> float: ...

    def on_handshake(self, conn: PeerConn, events: list[HandshakeEvent]) -> None: ...

    def on_closed(self, conn: PeerConn, reason: str) -> None: ...


@dataclass
class PeerConn:
    """A live session with one peer and its handshake."""

    session: Session
    handshake: Handshake
    role: Role
    ready: bool = False  # the handshake ended (accepted or deferred): normal traffic
    failed: bool = False
    routed: int = 0
    stop: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def peer(self) -> str:
        return self.session.peer

    @property
    def in_handshake(self) -> bool:
        return self.handshake.step not in _TERMINAL


async def _flush(hs: Handshake, session: Session, send_timeout: float) -> None:
    while (data := hs.next_outgoing()) is not None:
        await session.send("control", data, timeout=send_timeout)


STOPPING = "node stopping"


_PEEK = Limits(max_bytes=256 * 1024, max_depth=12)


def link_key(session: object) -> bytes | None:
    """The raw Ed25519 key the transport authenticated for ``session`` (its ``peer_key``;
    a wrapping session is looked through via its ``inner``), or None when the session
    does not say (then the handshake runs its three-HELLO variant and envelopes must name
    their key)."""
    for _ in range(4):  # wrappers are shallow; a cycle must not hang us
        key = getattr(session, "peer_key", None)
        if isinstance(key, bytes) and len(key) == 32:
            return key
        session = getattr(session, "inner", None)
        if session is None:
            return None
    return None


def is_hcp(data: bytes) -> bool:
    """Is ``data`` an HCP envelope (a JSON object with an ``hcp`` member)? Bounded
    decoding; anything unreadable is not."""
    try:
        doc = decode_json(data, _PEEK)
    except InvalidEnvelopeError:
        return False
    return isinstance(doc, dict) and "hcp" in doc


async def drive_handshake(
    hs: Handshake,
    session: Session,
    *,
    now: Callable[[], float],
    send_timeout: float,
    on_events: Callable[[list[HandshakeEvent]], None],
    route: Callable[[str, bytes], Awaitable[None]] | None = None,
    hcp: Callable[[bytes], Awaitable[bool]] | None = None,
    tick: float = 0.25,
    running: Callable[[], bool] = lambda: True,
    hello_timeout: float | None = None,
    timeout: float | None = None,
) -> str | None:
    """Drive the CIP handshake ``hs`` over ``session`` until it ends: the one loop for a
    node's peers (``serve``) and for ``web4 human``. Starts it if we are the initiator;
    ``control`` input goes to the handshake, other input to ``route`` (None: dropped);
    a responder's ``control`` input that is HCP, before the peer's first CIP HELLO, goes
    to ``hcp`` (None: to the handshake, which drops it), which says whether it opened an
    HCP session (then ``hello_timeout`` no longer applies);
    its timers are driven at least every ``tick`` seconds and whatever it queues is sent,
    each send under ``send_timeout``; its events go to ``on_events``. Returns None once
    the handshake has ended (``hs.step``: accepted, deferred or failed), else why it was
    cut short: ``STOPPING`` (``running()`` turned False), no HELLO within
    ``hello_timeout`` seconds while no timer is armed (a responder before the peer's
    first HELLO), or no end within ``timeout`` seconds. Raises ``RTTError`` (the link
    closed) and ``TimeoutError`` (a send deadline passed)."""
    loop = asyncio.get_running_loop()
    end = None if timeout is None else loop.time() + timeout
    started = now()
    hcp_session = False
    if hs.role is Role.INITIATOR:
        on_events(hs.start(now()))
        await _flush(hs, session, send_timeout)
    while hs.step not in _TERMINAL:
        if not running():
            return STOPPING
        wait = tick
        if end is not None:
            if loop.time() >= end:
                return f"no CIP handshake within {timeout:g} s"
            wait = min(tick, end - loop.time())
        item = await session.receive(timeout=wait)
        t = now()
        if item is not None:
            channel, data = item
            if (
                channel == "control"
                and hcp is not None
                and hs.role is Role.RESPONDER
                and hs.step is Step.WAIT_HELLO
                and is_hcp(data)
            ):
                hcp_session = await hcp(data) or hcp_session
            elif channel == "control":
                on_events(hs.receive(data, t))
            elif route is not None:
                await route(channel, data)
        on_events(hs.handle_timeout(t))
        if (
            hello_timeout is not None
            and not hcp_session
            and hs.step not in _TERMINAL
            and hs.deadline is None
            and t - started >= hello_timeout
        ):
            return f"no CIP HELLO within {hello_timeout:g} s"
        await _flush(hs, session, send_timeout)
    return None


def _apply(host: PeerHost, conn: PeerConn, events: list[HandshakeEvent]) -> None:
    if not events:
        return
    for e in events:
        if isinstance(e, HandshakeDone):
            conn.ready = True
        elif isinstance(e, HandshakeFailed):
            conn.failed = True
    host.on_handshake(conn, events)


async def serve(
    host: PeerHost,
    conn: PeerConn,
    *,
    tick: float = 0.25,
    running: Callable[[], bool] = lambda: True,
    hello_timeout: float | None = None,
    isolate: Callable[[Exception], bool] | None = None,
) -> None:
    """Run one peer session until it ends (see the module docstring): the handshake
    (``drive_handshake``), then routing. Never raises for the peer's or the link's
    faults: they end the session with a reason. ``hello_timeout``: seconds the handshake
    may wait with no timer armed (a responder before the peer's first HELLO); None: no
    bound. ``isolate``: called with any other exception (a bug met serving this peer);
    when it returns True the session ends with the reason ``internal error: <class>``
    instead of raising (``web4.isolation``); None: it propagates."""
    hs, session = conn.handshake, conn.session

    def live() -> bool:
        return running() and not conn.stop.is_set()

    key = link_key(session)  # envelopes may leave out the key the transport proved

    async def route(channel: str, data: bytes) -> None:
        conn.routed += 1
        await host.router.route(data, link_peer=conn.peer, link_key=key)

    async def hcp(data: bytes) -> bool:  # HCP without CIP (HCP_SPEC §9)
        conn.routed += 1
        result = await host.router.route(data, link_peer=conn.peer, link_key=key)
        return result.outcome == "routed"

    reason = STOPPING
    try:
        cut = await drive_handshake(
            hs, session, now=host.now, send_timeout=host.send_timeout,
            on_events=lambda events: _apply(host, conn, events), route=route, hcp=hcp,
            tick=tick, running=live, hello_timeout=hello_timeout,
        )  # fmt: skip
        if cut is not None and cut != STOPPING:
            conn.failed = True
            reason = cut
        while cut is None and live():
            if conn.failed:
                reason = "CIP handshake failed"
                break
            # after the handshake: every channel to the router (a repeated handshake
            # step too: the node answers it, and what the handshake queues goes out here)
            item = await session.receive(timeout=tick)
            if item is not None:
                await route(*item)
            _apply(host, conn, hs.handle_timeout(host.now()))
            await _flush(hs, session, host.send_timeout)
    except RTTError as e:
        reason = f"link closed: {e}"
    except TimeoutError:
        reason = "send deadline passed"
    except Exception as e:
        if isolate is None or not isolate(e):
            raise
        reason = f"{INTERNAL_ERROR}: {type(e).__name__}"
    finally:
        await session.close()
        host.on_closed(conn, reason)


def sender_state(s: cm.SenderState) -> cm.SenderState:
    """The ``state`` block of an outgoing envelope: the agent loop's state (already a
    ``SenderState``) with its intent cut to a label and its signals copied."""
    return cm.SenderState(
        presence=s.presence,
        lri=s.lri,
        kernel_signals=list(s.kernel_signals),
        intent=label(s.intent),
    )


def label(text: str | None) -> str | None:
    return None if not text else text[:256]


class CipService:
    """The node's CIP side over narrow ports (see the module docstring). ``conns`` is the
    table of live sessions by peer fingerprint (the node adds and removes them)."""

    def __init__(
        self,
        *,
        builder: CipBuilder,
        trust: TrustBook,
        bus: EventBus,
        rng: Rng,
        now: Callable[[], float],
        state: Callable[[], cm.SenderState],
        offer: Callable[[InboundMessage], object],
        record_vote: Callable[[str, str, str, dict[str, Any]], object],
        trust_anchors: Collection[str] = (),
        faults: FaultMeter | None = None,
        conns: dict[str, PeerConn] | None = None,
        send_timeout: float = 5.0,
    ) -> None:
        self.builder, self.trust, self.bus, self.rng = builder, trust, bus, rng
        self.now, self._state, self._offer, self._record_vote = now, state, offer, record_vote
        self.trust_anchors = trust_anchors
        self.faults = faults if faults is not None else FaultMeter()
        self.conns: dict[str, PeerConn] = conns if conns is not None else {}
        self.send_timeout = send_timeout
        self.any_ready = asyncio.Event()  # set whenever a handshake ends well
        # Recent knowledge broadcasts (proposals, votes, shared decisions) and who got a
        # copy: a peer whose handshake ends later gets the copies it missed (a vote sent
        # while that peer was still in its handshake was lost before). Bounded.
        self._recent: OrderedDict[str, _Broadcast] = OrderedDict()
        self._catching_up: set[asyncio.Task[None]] = set()
        # a broadcast of knowledge is also published on its gossip topic (web4.cip.gossip)
        self.publish: Callable[[str, Any, str], Awaitable[None]] | None = None

    # --- reactions ---------------------------------------------------------------------

    def on_handshake(self, conn: PeerConn, events: list[HandshakeEvent]) -> None:
        for e in events:
            emit_handshake_event(self.bus, e)
            if isinstance(e, PeerVerified):
                self.trust_event(
                    e.peer,
                    TrustEvent.HANDSHAKE_VERIFIED,
                    "CIP handshake verified: the peer proved its key",
                    e.msg_ids,
                )
                if e.peer in self.trust_anchors:
                    self.trust_event(
                        e.peer,
                        TrustEvent.OPERATOR_VOUCH,
                        "operator trust anchor (config/--trust)",
                        e.msg_ids,
                    )
            elif isinstance(e, PeerUntrusted):
                self.trust_event(e.peer, TrustEvent.BAD_SIGNATURE, e.reason, (e.msg_id,))
            elif isinstance(e, PeerBlacklisted):
                self.trust_event(e.peer, TrustEvent.FINGERPRINT_MISMATCH, e.reason, (e.msg_id,))
            elif isinstance(e, PeerStateReceived):
                payload = {
                    "presence": e.presence,
                    "lri": e.lri,
                    "ltppeerstate": e.ltppeerstate,
                    "kernel_signals": list(e.kernel_signals),
                    "intent": e.intent,
                }
                self._offer(InboundMessage("cip", "STATE_UPDATE", e.peer, payload, e.msg_id))
            elif isinstance(e, IntentReceived):
                payload = {"goal": e.goal, "topic": e.topic, "priority": e.priority}
                self._offer(InboundMessage("cip", "INTENT", e.peer, payload, e.msg_id))
            elif isinstance(e, HandshakeDone):
                self.any_ready.set()
                task = asyncio.get_running_loop().create_task(self._catch_up(e.peer))
                self._catching_up.add(task)  # a strong reference until it is done
                task.add_done_callback(self._catching_up.discard)

    def trust_event(self, peer: str, event: TrustEvent, cause: str, evidence: Any) -> None:
        try:
            out = self.trust.record(
                peer, event, cause[:1024] or event.value, [str(m)[:128] for m in evidence][:64]
            )
        except TrustError as e:
            self.bus.emit("error", peer=None, error="TrustError", detail=str(e)[:200])
            return
        emit_trust_audit(self.bus, out)

    def on_fault(self, fault: Fault) -> None:
        err = fault.error
        if isinstance(err, FingerprintMismatchError):
            event = TrustEvent.FINGERPRINT_MISMATCH
        elif isinstance(err, SignatureMismatchError):
            event = TrustEvent.BAD_SIGNATURE
        elif isinstance(err, _ANOMALY) or fault.stage == "handler":
            event = TrustEvent.ANOMALY
        else:
            return
        cause = f"{fault.stage}: {type(err).__name__}: {err}"
        evidence = (fault.msg_id,) if fault.msg_id else ()
        if event is not TrustEvent.ANOMALY:  # decisive on their own: never rate-limited
            self.trust_event(fault.peer, event, cause, evidence)
            return
        now, faults = self.now(), self.faults
        self.flush_faults(faults.expired(now), "in the last window")
        verdict, count = faults.observe(fault.peer, now)
        if verdict is FaultVerdict.DISCONNECT:
            self.trust_event(
                fault.peer,
                event,
                f"flood: {faults.disconnect_at} faults within {faults.window_s:g} s "
                f"({count} not audited one by one); disconnected for {faults.ban_s:g} s; "
                f"last: {cause}",
                evidence,
            )
            conn = self.conns.get(fault.peer)
            if conn is not None:
                conn.stop.set()
            self.bus.emit(
                "error",
                peer=fault.peer,
                error="FloodError",
                detail=f"disconnected: {faults.disconnect_at} faulty messages in "
                f"{faults.window_s:g} s",
                source="router",
            )
        elif verdict is FaultVerdict.AUDIT and self._has_trust(fault.peer):
            self.trust_event(fault.peer, event, cause, evidence)
        else:
            faults.note_unreported(fault.peer)

    def flush_faults(self, peers: list[str], when: str) -> None:
        """One aggregated audit row per peer for its faults not audited one by one."""
        for peer in peers:
            count = self.faults.flush(peer)
            if count:
                self.trust_event(
                    peer,
                    TrustEvent.ANOMALY,
                    f"{count} faulty message(s) {when}, aggregated (not audited one by one)",
                    (),
                )

    def _has_trust(self, peer: str) -> bool:
        """Has the peer anything to lose (probing or trusted)? Faults of others change no
        state, so they are only aggregated."""
        try:
            return self.trust.state_of(peer) in (TrustState.PROBING, TrustState.TRUSTED)
        except TrustError:
            return False

    # --- outbound ----------------------------------------------------------------------

    def ready_peers(self) -> list[PeerConn]:
        return [c for c in self.conns.values() if c.ready and not c.session.closed]

    async def send(
        self, msg_type: str, payload: Any, *, peer: str | None = None, msg_id: str | None = None
    ) -> str:
        """Build, sign and send one CIP message to ``peer`` (or every ready peer), all
        copies with one ``msg_id``; returns it. Raises ``MessageBuildError`` for a payload
        that breaks the schema. A failed send to one peer is an event, not an error."""
        cls = PAYLOADS.get(msg_type)
        if cls is None:
            raise MessageBuildError(f"{msg_type!r} is not a CIP message type")
        try:
            struct = (
                payload
                if isinstance(payload, cls)
                else msgspec.convert(msgspec.to_builtins(payload), cls)
            )
        except msgspec.ValidationError as e:
            raise MessageBuildError(f"{msg_type} payload: {e}") from e
        msg_id = msg_id or new_msg_id(self.rng)
        channel = (
            "knowledge"
            if msg_type in _KNOWLEDGE
            else "state"
            if msg_type == "STATE_UPDATE"
            else "control"
        )
        state = sender_state(self._state())
        copies = []
        sent_to: set[str] = set()
        for conn in self.ready_peers():
            if peer is not None and conn.peer != peer:
                continue
            sent_to.add(conn.peer)
            receiver = conn.handshake.peer or Receiver(conn.peer[:16], conn.peer)
            env = self.builder.build(
                struct,
                receiver=receiver,
                # CIP section 1: sender_view is our state for the receiver; receiver_view
                # is the receiver's state for us as it last reported it
                sender_view=self.trust.state_of(conn.peer).value,
                state=state,
                receiver_view=conn.handshake.peer_view,  # type: ignore[arg-type]
                msg_id=msg_id,
            )
            data = self.builder.encode(env)
            copies.append(self._send_copy(conn, channel, data, msg_id, msg_type))
        if peer is None and msg_type in _KNOWLEDGE:
            self._remember(msg_id, msg_type, struct, sent_to)
            if self.publish is not None:
                copies.append(self._publish(msg_type, struct, msg_id))
        if copies:
            await asyncio.gather(*copies)
        return msg_id

    def _remember(self, msg_id: str, msg_type: str, struct: Any, sent_to: set[str]) -> None:
        now = self.now()
        self._recent[msg_id] = _Broadcast(msg_type, struct, sent_to, now)
        while self._recent and (
            len(self._recent) > RECENT_BROADCASTS
            or next(iter(self._recent.values())).at < now - RECENT_WINDOW_S
        ):
            self._recent.popitem(last=False)

    def undelivered(self, peer: str, messages: Collection[tuple[str, bytes]]) -> int:
        """``peer``'s session closed with ``messages`` (channel, bytes) never acknowledged
        (RTT's ``unacked``: a peer killed or restarted before it got them). Its recent
        knowledge broadcasts among them count as not sent to it, so the next catch-up
        (now, if a newer session with it is ready already) sends them again. Returns how
        many; bytes that are not one of our recent broadcasts are skipped."""
        count = 0
        for channel, data in messages:
            if channel != "knowledge":
                continue
            try:
                value = decode_json(data, Limits())
            except Web4Error:
                continue
            if not isinstance(value, dict) or not _addressed_to(value, peer):
                continue  # our copy for that peer only
            msg_id = value.get("msg_id")
            b = self._recent.get(msg_id) if isinstance(msg_id, str) else None
            if b is not None and peer in b.sent_to:
                b.sent_to.discard(peer)
                count += 1
        if count and any(c.peer == peer for c in self.ready_peers()):
            task = asyncio.get_running_loop().create_task(self._catch_up(peer))
            self._catching_up.add(task)  # a strong reference until it is done
            task.add_done_callback(self._catching_up.discard)
        return count

    async def _catch_up(self, peer: str) -> None:
        """Send ``peer`` (whose handshake just ended) the recent knowledge broadcasts it
        has no copy of, each under its original ``msg_id`` (so the peer's replay cache
        still refuses a second copy, and a vote still names the same claim)."""
        now = self.now()
        for msg_id, b in list(self._recent.items()):
            if peer in b.sent_to or b.at < now - RECENT_WINDOW_S:
                continue
            b.sent_to.add(peer)
            try:
                await self.send(b.msg_type, b.struct, peer=peer, msg_id=msg_id)
            except Exception as e:  # noqa: BLE001 - a catch-up never takes the node down
                self.bus.emit(
                    "error", peer=peer, msg_id=msg_id, error=type(e).__name__,
                    detail=str(e)[:200], source="catch_up",
                )  # fmt: skip

    async def _publish(self, msg_type: str, struct: Any, msg_id: str) -> None:
        """The gossip copy of a broadcast; a failure is an ``error`` event."""
        assert self.publish is not None
        try:
            await self.publish(msg_type, struct, msg_id)
        except (Web4Error, TimeoutError) as e:
            self.bus.emit(
                "error", msg_id=msg_id, error=type(e).__name__, detail=str(e)[:200],
                source="gossip", type=msg_type,
            )  # fmt: skip

    async def _send_copy(
        self, conn: PeerConn, channel: str, data: bytes, msg_id: str, msg_type: str
    ) -> None:
        """Send one peer's copy; a failure is that peer's ``error`` event."""
        try:
            await conn.session.send(channel, data, timeout=self.send_timeout)
        except (RTTError, TimeoutError) as e:
            self.bus.emit(
                "error",
                peer=conn.peer,
                msg_id=msg_id,
                error=type(e).__name__,
                detail=str(e)[:200],
                source="send",
                type=msg_type,
            )

    async def send_state(self, update: cm.SenderState) -> None:
        """One STATE_UPDATE per ready peer (each carries our trust view of that peer),
        sent concurrently like any broadcast."""
        await asyncio.gather(*(self.send_state_to(update, c.peer) for c in self.ready_peers()))

    async def send_state_to(self, update: cm.SenderState, peer: str) -> None:
        """One STATE_UPDATE to ``peer`` (nothing if it is not a ready peer)."""
        payload = cm.StateUpdate(
            presence=update.presence,
            lri=update.lri,
            ltppeerstate=self.trust.state_of(peer).value,
            kernel_signals=list(update.kernel_signals),
            intent=label(update.intent),
        )
        await self.send("STATE_UPDATE", payload, peer=peer)

    async def send_intent(self, intent: cm.Intent) -> None:
        await self.send("INTENT", intent)

    async def send_outbound(self, out: Outbound) -> None:
        if out.protocol != "cip":
            raise MessageBuildError(f"no {out.protocol} sender on this node")
        payload = dict(out.payload)
        msg_id = await self.send(out.type, payload, peer=out.peer)
        if out.type in VOTES:
            self._record_vote(msg_id, self.builder.identity.fingerprint, out.type, payload)
