"""The conformance runner's side of the wire: a fresh peer that dials the target.

Theory of operation: every case plays one or more ``Peer``s. A peer is a fresh Ed25519
identity (so one case's trust consequences, a blacklisting or a cooldown, never leak into
another), its own RTT transport (``web4.node.rtt_link``) and one session to the target.
A reader task keeps everything the target sends (``Got``: channel, bytes, the decoded
envelope if it is one) and notices when the target ends the session. Cases ask three
kinds of question, each under a deadline: "did a message like this arrive" (``wait``),
"did nothing arrive for this long" (``silence``), and "did the target end the session"
(``wait_closed``). Envelopes are built and signed here with the product's own builder and
signer (``web4.cip.CipBuilder``, ``web4.envelope.sign_envelope``), then edited as a dict or
as text by the cases, so the runner can send anything a hostile peer could.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from web4.cip import Handshake, Role, Step, cip_validator
from web4.cip import messages as cm
from web4.cip.builder import CipBuilder
from web4.cip.events import HandshakeEvent
from web4.clock import SystemClock, SystemRng
from web4.envelope.crypto import canonicalize, sign_envelope
from web4.envelope.validate import Receiver
from web4.errors import RTTError
from web4.identity import Identity
from web4.node.rtt_link import RttLink, RttSession, fingerprint_of_peer_id
from web4.rtt import TransportConfig

__all__ = ["Env", "Got", "Peer", "Target", "handshake_for", "wire"]

Env = dict[str, Any]
_CLOCK = SystemClock()
_TERMINAL = frozenset({Step.ACCEPTED, Step.DEFERRED, Step.FAILED})


@dataclass(frozen=True)
class Target:
    """The implementation under test and the runner's timing."""

    addr: str  # /ip4/A/tcp/P/p2p/PEER_ID
    timeout: float = 10.0  # per case
    quiet: float = 1.0  # how long "no answer" is waited for
    # a human key the target's operator authorised (HCP_SPEC §9.1), for the HCP cases
    # that need an answer from the agent; None: those cases fail with the setup hint
    human: Identity | None = None

    @property
    def fingerprint(self) -> str:
        """The target's fingerprint, from the Ed25519 key its peer id embeds.
        Raises ``RTTHandshakeError`` (not an Ed25519 peer id)."""
        return fingerprint_of_peer_id(self.addr.rsplit("/p2p/", 1)[-1])

    @property
    def receiver(self) -> Receiver:
        # CIP section 9: before the first HELLO the agent id is the fingerprint's first 16
        # hex digits (validators check only the fingerprint)
        fp = self.fingerprint
        return Receiver(fp[:16], fp)


@dataclass(frozen=True)
class Got:
    """One message the target sent: its channel, its bytes, the envelope (or None)."""

    channel: str
    raw: bytes
    envelope: Env | None
    index: int  # its place in ``Peer.received``

    @property
    def type(self) -> str | None:
        t = None if self.envelope is None else self.envelope.get("type")
        return t if isinstance(t, str) else None

    @property
    def payload(self) -> Env:
        p = None if self.envelope is None else self.envelope.get("payload")
        return p if isinstance(p, dict) else {}

    def describe(self) -> str:
        if self.type is None:
            return f"{len(self.raw)} bytes on {self.channel} (not an envelope)"
        intent = self.payload.get("intent")
        extra = f" intent {intent!r}" if isinstance(intent, str) else ""
        return f"{self.type}{extra} on {self.channel}"


def _decode(raw: bytes) -> Env | None:
    try:
        value = json.loads(raw)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class Peer:
    """One identity with one RTT session to the target (see the module doc): a fresh key,
    or ``identity`` to come back as a key the target already judged."""

    def __init__(
        self, target: Target, name: str = "conformance", *, identity: Identity | None = None
    ) -> None:
        self.target = target
        self.name = name
        self.identity = identity if identity is not None else Identity.generate(name)
        self.received: list[Got] = []
        self.closed = False
        self._link: RttLink | None = None
        self._session: RttSession | None = None
        self._reader: asyncio.Task[None] | None = None
        self._changed = asyncio.Event()

    @property
    def fingerprint(self) -> str:
        return self.identity.fingerprint

    async def connect(self) -> Peer:
        """Dial the target (RTT session open). Raises ``RTTError``, ``ConfigError``."""
        config = TransportConfig(connect_timeout=min(5.0, self.target.timeout), session_expiry=30.0)
        self._link = RttLink(self.identity, config)
        self._session = await self._link.connect(self.target.addr, timeout=self.target.timeout)
        self._reader = asyncio.create_task(self._read(), name=f"conformance-read-{self.name}")
        return self

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._link is not None:
            with contextlib.suppress(RTTError, TimeoutError):
                async with asyncio.timeout(5.0):
                    await self._link.shutdown()

    async def __aenter__(self) -> Peer:
        try:
            return await self.connect()
        except BaseException:
            await self.close()
            raise

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _read(self) -> None:
        assert self._session is not None
        try:
            while True:
                item = await self._session.receive(timeout=0.25)
                if item is not None:
                    channel, data = item
                    n = len(self.received)
                    self.received.append(Got(channel, data, _decode(data), n))
                    self._changed.set()
        except RTTError:
            self.closed = True
            self._changed.set()

    # --- sending ------------------------------------------------------------------------

    async def send(self, data: bytes, channel: str = "control") -> None:
        """Send ``data`` as it is. Raises ``RTTError`` (e.g. the target ended the session)."""
        assert self._session is not None
        await self._session.send(channel, data, timeout=self.target.timeout)

    def sign(self, env: Env, by: Identity | None = None) -> Env:
        body = {k: v for k, v in env.items() if k != "sign"}
        return sign_envelope(body, by or self.identity)

    def build(
        self,
        payload: Any,
        *,
        sender_view: str = "untrusted",
        receiver_view: str = "unknown",
        at: float | None = None,
    ) -> Env:
        """A valid, signed envelope from us to the target carrying ``payload``."""
        builder = CipBuilder(self.identity, clock=_CLOCK, rng=SystemRng())
        return builder.build(
            payload,
            receiver=self.target.receiver,
            sender_view=sender_view,  # type: ignore[arg-type]
            receiver_view=receiver_view,  # type: ignore[arg-type]
            state=cm.SenderState(presence="focused", lri=20),
            now=at,
        )

    # --- receiving ----------------------------------------------------------------------

    async def wait(self, pred: Callable[[Got], bool], timeout: float, since: int = 0) -> Got | None:
        """The first message at index ``since`` or later that ``pred`` accepts, within
        ``timeout`` seconds; None if none came (or the session ended first)."""
        deadline = time.monotonic() + timeout
        while True:
            for got in self.received[since:]:
                if pred(got):
                    return got
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                return None
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._changed.wait()

    async def silence(
        self, seconds: float, since: int, channel: str | None = "control"
    ) -> Got | None:
        """Wait up to ``seconds``; the first message (on ``channel``, None: any) that
        arrived from index ``since`` on, or None if there was none."""
        return await self.wait(lambda g: channel is None or g.channel == channel, seconds, since)

    async def wait_closed(self, timeout: float) -> bool:
        """Whether the target ended the session within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._changed.wait()
        return True

    # --- the CIP handshake --------------------------------------------------------------

    async def drive(
        self, hs: Handshake, timeout: float, until: Callable[[Handshake], bool] | None = None
    ) -> list[HandshakeEvent]:
        """Run ``hs`` against the target: send what it queues, feed it every ``control``
        message, until it ends (or ``until(hs)``), the deadline passes or the session
        ends. Returns its events."""
        events: list[HandshakeEvent] = []
        deadline = time.monotonic() + timeout
        seen = len(self.received)
        while True:
            while (data := hs.next_outgoing()) is not None:
                await self.send(data)
            if hs.step in _TERMINAL or (until is not None and until(hs)):
                return events
            got = await self.wait(
                lambda g: g.channel == "control", max(0.0, deadline - time.monotonic()), seen
            )
            if got is None:
                return events
            seen = got.index + 1
            events += hs.receive(got.raw, _CLOCK.now())


def handshake_for(peer: Peer, *, topic: str = "conformance") -> Handshake:
    """A CIP initiator for ``peer`` towards the target (its validator treats the target as
    ``probing``, as a client that dialled it would)."""
    target = peer.target.fingerprint
    return Handshake(
        peer.identity,
        Role.INITIATOR,
        validator=cip_validator(
            peer.fingerprint,
            clock=_CLOCK,
            trust_of=lambda fp: "probing" if fp == target else "untrusted",
        ),
        rng=SystemRng(),
        local_state=cm.SenderState(presence="focused", lri=20),
        peer=peer.target.receiver,
        intent=cm.Intent(goal="ask", topic=topic),
    )


def wire(env: Env) -> bytes:
    """The RFC 8785 bytes of ``env`` (how this runtime sends every envelope)."""
    return canonicalize(env)
