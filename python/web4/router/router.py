"""ProtocolRouter: one entry point for every inbound envelope.

Theory of operation: ``route(data, link_peer=...)`` takes the bytes of one envelope as
they came off an RTT channel and walks a fixed pipeline:

1. throttle: the link peer's token bucket (before any parsing, so a flood costs little)
   -> ``router.throttled``;
2. bounded JSON parsing, once, in Rust (``parse_envelope``), then the protocol by its
   version member (``cip``/``hcp``/``lip``) and the (protocol, type) route ->
   ``router.unknown_type`` (``RoutingError``);
3. the protocol's ``Validator`` on that parsed envelope (its limits, schema, signature
   over the same parsed tree, receiver, timestamp, replay, trust gate) ->
   ``router.rejected`` with the error class;
4. the handler bound to the route's destination -> ``router.routed``; a handler that
   raises is isolated: ``router.handler_error``, the message is dropped.

Every refusal is an event, never an exception out of ``route``, so one bad peer cannot
stop the node serving the others. Faults that are the remote's (a ``RemoteError``) are
also reported through ``on_fault`` so the node can turn them into trust anomalies,
except a ``DeclinedShapeError``: a shape the original specification allows and this node
refuses by design (e.g. a vote without ``claim_hash``, CIP D23), which a peer following
the original sends in good faith; its event names the departure.
Time comes from the injected clock; the router itself does no IO.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from web4.clock import Clock
from web4.envelope.validate import (
    DeclinedShapeError,
    Limits,
    ReceivedEnvelope,
    Validator,
    parse_envelope,
)
from web4.errors import (
    ConfigError,
    InvalidEnvelopeError,
    ReceiverMismatchError,
    RemoteError,
    ReplayError,
    RoutingError,
    TimestampError,
    TrustViolationError,
    Web4Error,
)
from web4.router.routes import ROUTES, Destination
from web4.router.throttle import ThrottleConfig, TokenBuckets

__all__ = ["Emit", "Fault", "Inbound", "ProtocolRouter", "RouteResult"]


class Emit(Protocol):
    """The observability hook (``EventBus.emit`` satisfies it)."""

    def __call__(
        self,
        kind: str,
        *,
        level: Any = None,
        peer: str | None = None,
        msg_id: str | None = None,
        **attrs: Any,
    ) -> object: ...


@dataclass(frozen=True)
class Inbound:
    """A validated message on its way to a handler."""

    protocol: str
    type: str
    destination: Destination
    peer: str  # the sender's fingerprint (authenticated by the signature)
    msg_id: str
    envelope: Any  # the protocol's typed envelope; ``.payload`` is the typed payload
    link_peer: str | None  # the RTT peer the bytes came from, if known
    received_at: float
    # The envelope exactly as received. A handler that validates again (the handshake)
    # must use these bytes: re-encoding ``envelope`` fills in defaults the sender left
    # out (e.g. ``state.intent: null``) and so breaks the signature.
    raw: bytes = b""


@dataclass(frozen=True)
class Fault:
    """A remote's bad input, for the trust layer."""

    peer: str  # the proven sender once authenticated, else the link peer
    authenticated: bool  # True once the signature verified (the fault is surely theirs)
    error: RemoteError
    msg_id: str | None
    stage: str  # "validate" or "handler"


@dataclass(frozen=True)
class RouteResult:
    outcome: str  # routed | rejected | unknown | throttled | handler_error
    protocol: str | None = None
    type: str | None = None
    error: Exception | None = None


Handler = Callable[[Inbound], Awaitable[None] | None]

# Validator checks that run after the signature verified (docs/CIP_SPEC.md, order).
_AFTER_SIGNATURE = (ReceiverMismatchError, TimestampError, ReplayError, TrustViolationError)


class ProtocolRouter:
    """Routes envelopes to handlers by (protocol, type); see the module docstring."""

    def __init__(
        self,
        validators: Mapping[str, Validator[Any]],
        *,
        emit: Emit,
        clock: Clock,
        throttle: ThrottleConfig | None = None,
        on_fault: Callable[[Fault], None] | None = None,
    ) -> None:
        self._validators = dict(validators)
        self._emit = emit
        self._clock = clock
        self._buckets = TokenBuckets(throttle)
        self._on_fault = on_fault
        self._handlers: dict[Destination, Handler] = {}
        self._max_bytes = max(v.spec.limits.max_bytes for v in self._validators.values())
        self._max_depth = max(v.spec.limits.max_depth for v in self._validators.values())
        self.counts: dict[str, int] = {}

    def bind(self, destination: Destination, handler: Handler) -> None:
        """Send every route to ``destination`` to ``handler`` (sync or async)."""
        if destination not in set(ROUTES.values()):
            raise ConfigError(f"unknown destination {destination!r}")
        self._handlers[destination] = handler

    @property
    def throttled(self) -> int:
        return self._buckets.dropped_total

    async def route(
        self,
        data: bytes,
        *,
        link_peer: str | None = None,
        link_key: bytes | None = None,
        topic: str | None = None,
    ) -> RouteResult:
        """Route one envelope; never raises for bad input (see module docstring).
        ``link_key``: the raw Ed25519 key the transport authenticated for the link (over
        RTT, the key in the PeerId), which verifies an envelope without ``sender.pubkey``
        (the original specifications make it optional). ``topic``: the gossip topic
        the bytes came on (the validator checks the envelope is bound to it; CIP_SPEC
        §11), None for point to point."""
        now = self._clock.monotonic()
        if link_peer is not None and not self._buckets.admit(link_peer, now):
            self._emit(
                "router.throttled",
                peer=link_peer,
                dropped=self._buckets.dropped.get(link_peer, 0),
            )
            return self._count(RouteResult("throttled"))
        try:
            received = self._decode(data)
        except InvalidEnvelopeError as e:
            return self._reject(None, None, None, link_peer, e, authenticated=False)
        raw: dict[str, Any] = received.value
        protocol = next((p for p in self._validators if p in raw), None)
        msg_type = raw.get("type") if isinstance(raw.get("type"), str) else None
        msg_id = raw.get("msg_id") if isinstance(raw.get("msg_id"), str) else None
        route = ROUTES.get((protocol, msg_type)) if protocol and msg_type else None  # type: ignore[arg-type]
        if protocol is None or msg_type is None or route is None:
            err = RoutingError(f"no route for protocol={protocol} type={msg_type!r}")
            self._emit(
                "router.unknown_type",
                peer=link_peer,
                msg_id=msg_id,
                protocol=str(protocol),
                type=str(msg_type),
            )
            return self._count(RouteResult("unknown", protocol, msg_type, err))
        try:
            envelope = self._validators[protocol].validate(
                received, transport_key=link_key, topic=topic
            )
        except _AFTER_SIGNATURE as e:
            # These checks run after the signature verified: the sender is proven.
            sender = raw.get("sender", {}).get("fingerprint")
            return self._reject(
                protocol, msg_type, msg_id, link_peer, e, authenticated=True, sender=sender
            )
        except RemoteError as e:
            return self._reject(protocol, msg_type, msg_id, link_peer, e, authenticated=False)
        inbound = Inbound(
            protocol=protocol,
            type=msg_type,
            destination=route,
            peer=envelope.sender.fingerprint,
            msg_id=envelope.msg_id,
            envelope=envelope,
            link_peer=link_peer,
            received_at=self._clock.now(),
            raw=bytes(data),
        )
        return await self._dispatch(inbound)

    # --- internals --------------------------------------------------------------------

    def _decode(self, data: bytes) -> ReceivedEnvelope:
        """Parsed once, within the largest protocol's limits (each validator applies its
        own to the same parse)."""
        received = parse_envelope(
            data, Limits(max_bytes=self._max_bytes, max_depth=self._max_depth)
        )
        if not isinstance(received.value, dict):
            raise InvalidEnvelopeError("an envelope is a JSON object")
        return received

    async def _dispatch(self, msg: Inbound) -> RouteResult:
        handler = self._handlers.get(msg.destination)
        if handler is None:
            err = RoutingError(f"no handler bound for destination {msg.destination!r}")
            self._emit(
                "router.unknown_type",
                peer=msg.peer,
                msg_id=msg.msg_id,
                protocol=msg.protocol,
                type=msg.type,
                destination=msg.destination,
            )
            return self._count(RouteResult("unknown", msg.protocol, msg.type, err))
        try:
            result = handler(msg)
            if inspect.isawaitable(result):
                await result
        except Exception as e:  # noqa: BLE001 - isolation is the point: report, drop, go on
            self._emit(
                "router.handler_error",
                peer=msg.peer,
                msg_id=msg.msg_id,
                protocol=msg.protocol,
                type=msg.type,
                error=type(e).__name__,
                message=str(e)[:200],
            )
            if isinstance(e, RemoteError) and self._on_fault is not None:
                self._on_fault(Fault(msg.peer, True, e, msg.msg_id, "handler"))
            return self._count(RouteResult("handler_error", msg.protocol, msg.type, e))
        self._emit(
            "router.routed",
            peer=msg.peer,
            msg_id=msg.msg_id,
            protocol=msg.protocol,
            type=msg.type,
            destination=msg.destination,
        )
        return self._count(RouteResult("routed", msg.protocol, msg.type))

    def _reject(
        self,
        protocol: str | None,
        msg_type: str | None,
        msg_id: str | None,
        link_peer: str | None,
        error: Web4Error,
        *,
        authenticated: bool,
        sender: str | None = None,
    ) -> RouteResult:
        declined = isinstance(error, DeclinedShapeError)
        self._emit(
            "router.rejected",
            peer=link_peer,
            msg_id=msg_id,
            protocol=str(protocol),
            type=str(msg_type),
            reason=type(error).__name__,
            message=str(error)[:200],
            **({"departure": error.departure} if isinstance(error, DeclinedShapeError) else {}),
        )
        blamed = sender if authenticated and sender else link_peer
        # a shape refused by design was sent in good faith: not the peer's fault
        if not declined and isinstance(error, RemoteError) and self._on_fault and blamed:
            self._on_fault(Fault(blamed, authenticated, error, msg_id, "validate"))
        return self._count(RouteResult("rejected", protocol, msg_type, error))

    def _count(self, result: RouteResult) -> RouteResult:
        self.counts[result.outcome] = self.counts.get(result.outcome, 0) + 1
        return result
