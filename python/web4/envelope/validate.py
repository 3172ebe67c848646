"""The generic envelope validator shared by CIP, HCP and LIP.

Theory of operation: a protocol describes itself once as a ``ProtocolSpec``: a msgspec
envelope Struct (generic in its ``payload``) and a table ``type -> payload Struct``. A
``Validator`` (one per node, serving every peer) turns untrusted input, JSON bytes from
the wire or an already-decoded dict, into a typed, frozen envelope, or raises the error
of the first check that fails, in this order:

1. limits and structure: size, nesting depth, JSON well-formedness (no duplicate keys,
   no NaN), then the envelope Struct               -> ``InvalidEnvelopeError``
2. the payload Struct for ``type``                 -> ``PayloadSchemaError`` (a shape
   the original specification allows and this protocol declines by design, a
   documented departure: ``DeclinedShapeError``, which is not the sender's fault)
3. fingerprint against the key, then the signature -> ``FingerprintMismatchError`` /
   ``SignatureMismatchError``; the key is ``sender.pubkey``, or when the sender left it
   out (the original specifications make it optional) the key the transport
   authenticated (``transport_key``; over RTT the PeerId is the Ed25519 key); neither
   -> ``MissingPublicKeyError``
4. receiver binding: ``receiver.fingerprint`` is ours -> ``ReceiverMismatchError``;
   or, for an envelope that came on a gossip topic (``topic=``), topic binding: it
   carries that ``topic`` and no ``receiver``, and the protocol admits it there
   (``ProtocolSpec.topic_check``) -> ``TopicMismatchError``; a topic-bound envelope
   that came point to point -> ``TopicMismatchError`` too
5. timestamp within ``max_skew`` of local time     -> ``TimestampError``
6. ``(sender.fingerprint, msg_id)`` not seen inside the window -> ``ReplayError``
7. the trust gate admits ``type`` for the sender   -> ``TrustViolationError``

Objects are open, as in the original specifications: unknown members are accepted and
ignored by the typed envelope, and stay covered by the signature, which is always
verified over the envelope as received (never a re-encoding of the typed form). Refused:
unknown members inside ``sign`` (the one block the signature does not cover) and a
second protocol member (``cip``/``hcp``/``lip``: which protocol the signer meant would be
ambiguous). UUIDs (``msg_id`` and the ids a protocol names) are accepted in any version
and case; the typed envelope carries them in lower case, and the replay cache keys on
that form, so the same id in upper case is a replay.

Bytes are parsed once, in Rust (``parse_envelope``: size, UTF-8, depth, duplicate keys
and numbers checked as it goes, so hostile input costs one linear pass over at most
``Limits.max_bytes`` bytes); steps 1 and 2 read the parsed value, and step 3
canonicalizes and verifies the same parsed tree: nothing is parsed or canonicalized
twice. The router parses once to route and hands the parsed envelope on
(``ReceivedEnvelope``). An already-decoded dict is walked once for its limits and
converted to a tree only when its signature is checked. Each failure leaves
the validator as it was (only step 6 records state, and only for authenticated input),
so one bad peer never stops the validator from serving the others. Time is injected
(``Clock``, or ``now=`` per call); nothing here does IO.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, Literal, Protocol, TypeVar, cast

import msgspec

from web4 import _core
from web4._core import ReceivedEnvelope
from web4.clock import Clock
from web4.envelope.replay import ReplayCache
from web4.errors import (
    ConfigError,
    InvalidEnvelopeError,
    MissingPublicKeyError,
    PayloadSchemaError,
    ReceiverMismatchError,
    TimestampError,
    TopicMismatchError,
    TrustViolationError,
)

__all__ = [
    "MAX_SKEW_SECONDS",
    "PROTOCOL_MEMBERS",
    "TIMESTAMP_MAX_LENGTH",
    "TIMESTAMP_PATTERN",
    "UUID_PATTERN",
    "AgentId",
    "DeclinedShapeError",
    "Fingerprint",
    "Limits",
    "MissingPublicKeyError",
    "MsgId",
    "ProtocolSpec",
    "PublicKeyB64",
    "ReceivedEnvelope",
    "Receiver",
    "Sender",
    "Sign",
    "SignatureB64",
    "Timestamp",
    "Token",
    "TrustGate",
    "Uuid",
    "Validator",
    "decode_json",
    "norm_uuid",
    "parse_envelope",
    "parse_timestamp",
    "policy_gate",
]

MAX_SKEW_SECONDS = 120.0
# The version members that name a protocol; an envelope carries exactly one.
PROTOCOL_MEMBERS: tuple[str, ...] = ("cip", "hcp", "lip")


class DeclinedShapeError(PayloadSchemaError):
    """The payload has a shape the original specification allows and this node refuses
    by design (``departure`` names the documented departure, e.g. ``CIP D23``: a vote
    without ``claim_hash``). A peer that follows the original sends it in good faith, so
    it is refused without counting against the sender (no trust anomaly, no flood
    fault: ``web4.router``)."""

    def __init__(self, message: str, *, departure: str) -> None:
        super().__init__(message)
        self.departure = departure


# --- field types every protocol's envelope shares ------------------------------------

# The original's `format: uuid`: RFC 4122 syntax, any version or variant, any case. What
# this runtime sends is always a lowercase UUID v4 (``web4.envelope.head.new_msg_id``).
UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
# RFC 3339 section 5.6 `date-time` (the original's `format: date-time`): any fractional
# precision or none, `T`/`t`, `Z`/`z` or a numeric offset (`-00:00` included). The pattern
# is the syntax only (step 1); the ranges (month, day of that month, hour, minute, second,
# offset) and the leap-second rule are checked by ``parse_timestamp`` (step 5). The
# leading lookahead refuses a newline anywhere: Python's `$` also matches before a trailing
# one, and the length is not fixed. What this runtime sends is always the one strict form
# ``web4.clock.rfc3339`` writes (``YYYY-MM-DDTHH:MM:SS.mmmZ``).
TIMESTAMP_PATTERN = (
    r"^(?!.*\n)[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
    r"(?:[Zz]|[+-][0-9]{2}:[0-9]{2})$"
)
TIMESTAMP_MAX_LENGTH = 64  # 19 + "." + at most 38 fraction digits + "Z" (32 with an offset)

# Python's `$` also matches before a trailing newline, so every pattern is paired with
# its exact length: "…\n" can never pass.
Uuid = Annotated[
    str,
    msgspec.Meta(
        pattern=UUID_PATTERN,
        min_length=36,
        max_length=36,
        description=(
            "UUID (RFC 4122 syntax), any version, any case; compared in lower case. This "
            "runtime sends lowercase UUID v4"
        ),
        extra_json_schema={"format": "uuid"},
    ),
]
MsgId = Uuid
Timestamp = Annotated[
    str,
    msgspec.Meta(
        pattern=TIMESTAMP_PATTERN,
        min_length=20,
        max_length=TIMESTAMP_MAX_LENGTH,
        description=(
            "RFC 3339 date-time (section 5.6): any fractional precision or none, T or t, "
            "Z, z or a numeric offset; a real date and time (second 60 only at 23:59:60 "
            "UTC on the last day of a month); compared in UTC, signed as written. This "
            "runtime sends YYYY-MM-DDTHH:MM:SS.mmmZ"
        ),
        extra_json_schema={"format": "date-time"},
    ),
]
Fingerprint = Annotated[
    str,
    msgspec.Meta(
        pattern="^[0-9a-f]{64}$",
        min_length=64,
        max_length=64,
        description="hex SHA-256 of the raw pubkey",
    ),
]
PublicKeyB64 = Annotated[
    str,
    msgspec.Meta(
        pattern="^[A-Za-z0-9+/]{43}=$",
        min_length=44,
        max_length=44,
        description="base64 of 32 key bytes",
    ),
]
SignatureB64 = Annotated[
    str,
    msgspec.Meta(
        pattern="^[A-Za-z0-9+/]{86}==$",
        min_length=88,
        max_length=88,
        description="base64 of 64 bytes",
    ),
]
AgentId = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
Token = Annotated[str, msgspec.Meta(pattern="^[A-Za-z0-9_.:/+-]{1,64}$")]


def norm_uuid(value: str) -> str:
    """The form UUIDs are compared and remembered in (lower case; RFC 4122 section 3:
    hex digits are case-insensitive on input)."""
    return value.lower()


# Open objects (the original leaves every object open): unknown members are ignored here
# and stay covered by the signature, which is verified over the envelope as received.
class Sender(msgspec.Struct, frozen=True):
    """``pubkey`` may be left out when the transport authenticated the sender's key; on a
    validated envelope it is always the key the signature was verified with."""

    agent_id: AgentId
    fingerprint: Fingerprint
    # A factory default: the published schema shows the member optional, not "" as a value.
    pubkey: PublicKeyB64 = msgspec.field(default_factory=str)
    capabilities: Annotated[list[Token], msgspec.Meta(max_length=32)] = []


class Receiver(msgspec.Struct, frozen=True):
    agent_id: AgentId
    fingerprint: Fingerprint


# Closed: `sign` is the one block the signature does not cover, so a member added there
# would travel unauthenticated; nothing may ride in it.
class Sign(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    algo: Literal["ed25519"]
    signature: SignatureB64


# --- the protocol description -------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """Hard bounds checked before any recursive work on the input."""

    max_bytes: int = 256 * 1024  # of JSON text (for a dict: of its compact JSON encoding)
    max_depth: int = 12  # nesting of objects and arrays; the envelope itself is depth 1


E = TypeVar("E", bound=msgspec.Struct)


@dataclass(frozen=True)
class ProtocolSpec(Generic[E]):
    """What the validator needs to know about one protocol.

    ``envelope`` is a msgspec Struct generic in its ``payload`` field (left unparametrized:
    the payload is first taken as plain JSON, then converted with ``payloads[type]``). It
    must have the fields ``msg_id``, ``type``, ``timestamp``, ``sender`` (with
    ``fingerprint`` and ``pubkey``), ``receiver`` (with ``fingerprint``), ``payload`` and
    ``sign``, and its version member (e.g. ``cip: Literal["1.0"]``).
    """

    name: str
    envelope: type[E]
    payloads: Mapping[str, type[msgspec.Struct]]
    limits: Limits = field(default_factory=Limits)
    # type -> a second accepted payload shape (the original specification's, where ours
    # is richer); tried when the payload does not fit ``payloads[type]``.
    alternatives: Mapping[str, type[msgspec.Struct]] = field(default_factory=dict)
    # Runs on the typed envelope after its payload was converted (step 2): lower-cases
    # the UUIDs a payload names, turns an alternative payload into ``payloads[type]``.
    # May raise ``PayloadSchemaError``.
    normalise: Callable[[Any], Any] | None = None
    # type -> payload members this node always sends, with this value when the payload
    # has none (the original's examples always carry them; e.g. STATE_UPDATE `intent: ""`).
    sent_defaults: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # type -> (a payload shape the original specification allows, the departure that
    # refuses it): a payload that fits neither ``payloads[type]`` nor an alternative but
    # fits this shape is refused with ``DeclinedShapeError`` naming the departure.
    declined: Mapping[str, tuple[type[msgspec.Struct], str]] = field(default_factory=dict)
    # Broadcast (CIP_SPEC §11): None: every envelope names a ``receiver``. Else the
    # envelope has exactly one of ``receiver`` and ``topic``, and this says why a typed
    # envelope may not be on a topic (None: it may).
    topic_check: Callable[[Any, str], str | None] | None = None


class TrustGate(Protocol):
    """Admit or refuse a message type from a sender (step 7).

    Return ``None`` to admit, or a short reason (e.g. "untrusted peers may only send
    HELLO") to refuse; the validator raises ``TrustViolationError`` with it.
    """

    def __call__(self, sender_fingerprint: str, msg_type: str) -> str | None: ...


def _a(word: str) -> str:
    """The article before a trust state ("an untrusted", "a probing")."""
    return "an" if word[:1] in ("a", "e", "i", "o", "u") else "a"


def policy_gate(trust_of: Callable[[str], str], allowed: Mapping[str, frozenset[str]]) -> TrustGate:
    """A gate from a per-peer trust lookup (fingerprint -> state) and a table
    ``state -> allowed types``. A state missing from the table admits nothing."""

    def gate(sender_fingerprint: str, msg_type: str) -> str | None:
        state = trust_of(sender_fingerprint)
        if msg_type in allowed.get(state, frozenset()):
            return None
        return f"{msg_type} is not allowed from {_a(state)} {state} peer"

    return gate


class _Party(Protocol):
    @property
    def fingerprint(self) -> str: ...


class _Head(Protocol):
    @property
    def msg_id(self) -> str: ...
    @property
    def type(self) -> str: ...
    @property
    def timestamp(self) -> str: ...
    @property
    def sender(self) -> _Party: ...
    @property
    def receiver(self) -> _Party | None: ...
    @property
    def payload(self) -> Any: ...


# --- limits and untyped decoding ----------------------------------------------------


# What a schema conversion raises for a value of the wrong shape. msgspec raises
# UnicodeEncodeError, not ValidationError, where it must encode a string with a lone
# surrogate (e.g. to match it against a Literal); JSON text can carry one ("\ud800"), so
# that too is the peer's malformed input, never a local crash.
_SHAPE_ERRORS = (msgspec.ValidationError, UnicodeEncodeError)


def parse_envelope(data: bytes, limits: Limits) -> ReceivedEnvelope:
    """Envelope bytes parsed once, in Rust, within ``limits``: the parsed value
    (``.value``: plain Python values, as ``json.loads`` gives them) and the tree its
    signature is verified from (``.verify``).

    Raises ``InvalidEnvelopeError`` for oversize input, bad UTF-8, excessive nesting,
    malformed JSON, duplicate keys, NaN or infinities, a number that overflows a double,
    an integer of more than 4300 digits, an object key with a lone surrogate.
    """
    return _core.parse_envelope(bytes(data), limits.max_bytes, limits.max_depth)


def decode_json(data: bytes, limits: Limits) -> Any:
    """Untyped, bounded decoding of envelope bytes: ``parse_envelope(...).value``.
    Raises ``InvalidEnvelopeError`` as ``parse_envelope`` does."""
    return parse_envelope(data, limits).value


def _check_tree(obj: Any, limits: Limits) -> None:
    """Depth, JSON types and size of an already-decoded value (iterative, bounded)."""
    stack: list[tuple[Any, int]] = [(obj, 1)]
    budget = limits.max_bytes  # every node costs at least one byte of JSON
    while stack:
        value, depth = stack.pop()
        budget -= 1
        if budget < 0:
            raise InvalidEnvelopeError(f"envelope larger than {limits.max_bytes} bytes")
        if isinstance(value, dict):
            if depth > limits.max_depth:
                raise InvalidEnvelopeError(f"nested deeper than {limits.max_depth}")
            for k, v in value.items():
                if not isinstance(k, str):
                    raise InvalidEnvelopeError("object keys must be strings")
                stack.append((v, depth + 1))
        elif isinstance(value, list | tuple):
            if depth > limits.max_depth:
                raise InvalidEnvelopeError(f"nested deeper than {limits.max_depth}")
            stack.extend((v, depth + 1) for v in value)
        elif not (value is None or isinstance(value, str | int | float)):
            raise InvalidEnvelopeError(f"{type(value).__name__} is not a JSON value")
    size = len(msgspec.json.encode(obj))
    if size > limits.max_bytes:
        raise InvalidEnvelopeError(f"envelope is {size} bytes of JSON, limit {limits.max_bytes}")


def parse_timestamp(value: str) -> float:
    """Seconds since the epoch (POSIX time, UTC) of an RFC 3339 ``date-time``.

    Accepts what RFC 3339 section 5.6 allows: any number of fractional digits or none,
    ``T`` or ``t``, ``Z``, ``z`` or a numeric offset (``-00:00`` is UTC, section 4.3),
    at most ``TIMESTAMP_MAX_LENGTH`` characters. Every rendering of one instant gives the
    same float (the sum is exact before one rounding), so the skew check treats them
    alike. Leap seconds (section 5.7): second ``60`` is accepted only where a leap second
    can be, at 23:59:60 UTC (after the offset) on the last day of a month, and counts as
    POSIX time does, as the first second of the next day; nothing checks that a leap
    second was actually inserted then (the skew check decides anyway).

    Raises ``TimestampError`` if it is not such a timestamp, or a field is out of range
    (not a real date or time, offset beyond 23:59). Runs in Rust
    (``web4_proto::rfc3339``): the exact instant is built as decimal text and rounded
    once, as ``float(Fraction(...))`` would.
    """
    return _core.parse_timestamp(value)


# --- the validator ------------------------------------------------------------------


class Validator(Generic[E]):
    """Validates envelopes of one protocol for one node (see the module docstring).

    ``our_fingerprint`` binds receivers; ``replay`` is shared by every peer (entries are
    keyed by sender fingerprint and msg_id); ``trust_gate`` decides step 7.
    """

    def __init__(
        self,
        spec: ProtocolSpec[E],
        *,
        our_fingerprint: str,
        clock: Clock,
        replay: ReplayCache,
        trust_gate: TrustGate,
        max_skew: float = MAX_SKEW_SECONDS,
    ) -> None:
        self.spec = spec
        self.our_fingerprint = our_fingerprint
        self._clock = clock
        self._replay = replay
        self._gate = trust_gate
        self.max_skew = max_skew
        if replay.window < max_skew:
            raise ConfigError(
                f"replay window {replay.window:g} s is shorter than the skew {max_skew:g} s"
            )

    def validate(
        self,
        data: bytes | Mapping[str, Any] | ReceivedEnvelope,
        *,
        now: float | None = None,
        transport_key: bytes | None = None,
        topic: str | None = None,
    ) -> E:
        """A typed, frozen envelope whose ``payload`` is the Struct for its ``type``.

        ``now`` overrides the clock (sans-IO callers pass their own time).
        ``transport_key``: the raw 32-byte Ed25519 public key the transport authenticated
        for the link ``data`` came from (over RTT: the key inside the PeerId), used when
        the envelope has no ``sender.pubkey``; ``sender.fingerprint`` must then be its
        fingerprint. Raises, by the first failing check: ``InvalidEnvelopeError``,
        ``PayloadSchemaError``, ``MissingPublicKeyError``, ``FingerprintMismatchError``,
        ``SignatureMismatchError``, ``ReceiverMismatchError``, ``TimestampError``,
        ``ReplayError``, ``TrustViolationError``, ``TopicMismatchError``.
        ``topic``: the gossip topic ``data`` arrived on (None: point to point).
        """
        received = self._untyped(data)
        head = self._structure(received.value)
        typed = self._payload(head)
        key = self._verify(received, transport_key)
        self._rest(cast(_Head, typed), self._clock.now() if now is None else now, topic)
        if key is not None:  # verified with the transport's key: say so on the envelope
            sender = msgspec.structs.replace(cast(Any, typed).sender, pubkey=key)
            typed = msgspec.structs.replace(typed, sender=sender)
        return typed

    # The steps, separately callable for tests and for protocols that need to interleave.

    def _untyped(self, data: bytes | Mapping[str, Any] | ReceivedEnvelope) -> ReceivedEnvelope:
        limits = self.spec.limits
        if isinstance(data, ReceivedEnvelope):
            # Parsed already (by the router, within the largest protocol's limits).
            if data.size > limits.max_bytes:
                raise InvalidEnvelopeError(
                    f"envelope is {data.size} bytes, limit {limits.max_bytes}"
                )
            if data.depth > limits.max_depth:
                raise InvalidEnvelopeError(f"nested deeper than {limits.max_depth}")
            received = data
        elif isinstance(data, bytes | bytearray | memoryview):
            received = parse_envelope(bytes(data), limits)
        else:
            _check_tree(data, limits)
            received = ReceivedEnvelope.of(dict(data) if isinstance(data, Mapping) else data)
        if not isinstance(received.value, Mapping):
            raise InvalidEnvelopeError("an envelope is a JSON object")
        return received

    def _structure(self, raw: Mapping[str, Any]) -> E:
        others = [p for p in PROTOCOL_MEMBERS if p != self.spec.name and p in raw]
        if others:
            raise InvalidEnvelopeError(
                f"{self.spec.name} envelope also carries {others[0]!r}: one protocol per envelope"
            )
        try:
            head = msgspec.convert(raw, self.spec.envelope)
        except _SHAPE_ERRORS as e:
            raise InvalidEnvelopeError(f"{self.spec.name} envelope: {e}") from e
        # null is absent (section 1 of CIP_SPEC: inbound null, "" or absent mean the same)
        bound = raw.get("topic") is not None, raw.get("receiver") is not None
        if self.spec.topic_check is not None and bound[0] == bound[1]:
            raise InvalidEnvelopeError(
                f"{self.spec.name} envelope: exactly one of receiver and topic is required"
            )
        msg_id = cast(_Head, head).msg_id
        return msgspec.structs.replace(head, msg_id=norm_uuid(msg_id))

    def _payload(self, head: E) -> E:
        h = cast(_Head, head)
        payload_type = self.spec.payloads.get(h.type)
        if payload_type is None:
            raise InvalidEnvelopeError(f"{self.spec.name}: unknown message type {h.type!r}")
        try:
            payload: Any = msgspec.convert(h.payload, payload_type)
        except _SHAPE_ERRORS as e:
            alternative = self.spec.alternatives.get(h.type)
            if alternative is None:
                self._declined(h, e)
                raise PayloadSchemaError(f"{h.type} payload: {e}") from e
            try:
                payload = msgspec.convert(h.payload, alternative)
            except _SHAPE_ERRORS as e2:
                self._declined(h, e)
                raise PayloadSchemaError(
                    f"{h.type} payload: {e}; as the original specification's shape: {e2}"
                ) from e2
        typed = msgspec.structs.replace(head, payload=payload)
        if self.spec.normalise is not None:
            typed = self.spec.normalise(typed)
        return typed

    def _declined(self, h: _Head, error: msgspec.ValidationError | UnicodeEncodeError) -> None:
        """Raise ``DeclinedShapeError`` if the payload has the original specification's
        shape that this protocol declines by design (``ProtocolSpec.declined``)."""
        declined = self.spec.declined.get(h.type)
        if declined is None:
            return
        shape, departure = declined
        try:
            msgspec.convert(h.payload, shape)
        except _SHAPE_ERRORS:
            return  # not even the original's shape: an ordinary schema error
        raise DeclinedShapeError(
            f"{h.type} payload: {error} (the original specification's shape, refused by "
            f"design: {departure}; not counted against the sender)",
            departure=departure,
        ) from error

    @staticmethod
    def _verify(received: ReceivedEnvelope, transport_key: bytes | None) -> str | None:
        """Step 3 over the envelope as received (unknown members included), from the
        tree parsed in step 1 (``ReceivedEnvelope.verify``: the key, the fingerprint
        binding, RFC 8785 without ``sign``, strict Ed25519). Returns the base64 of the
        transport key when it was the key used, else None."""
        return received.verify(transport_key)

    def _binding(self, head: _Head, topic: str | None) -> None:
        """Step 4's topic half: a topic-bound envelope is valid on its topic only, a
        receiver-bound one only point to point (neither can be turned into the other:
        the signature covers both members)."""
        bound = getattr(head, "topic", None)
        if topic is None:
            if bound is not None:
                raise TopicMismatchError(f"bound to topic {bound[:64]!r}, came point to point")
            return
        if bound is None or getattr(head, "receiver", None) is not None:
            raise TopicMismatchError("addressed to one receiver, came on a gossip topic")
        if bound != topic:
            raise TopicMismatchError(f"bound to topic {bound[:64]!r}, came on {topic[:64]!r}")
        check = self.spec.topic_check
        reason = "this protocol has no topics" if check is None else check(head, topic)
        if reason is not None:
            raise TopicMismatchError(reason)

    def _rest(self, head: _Head, now: float, topic: str | None = None) -> None:
        self._binding(head, topic)
        receiver = head.receiver
        if topic is None and (receiver is None or receiver.fingerprint != self.our_fingerprint):
            raise ReceiverMismatchError(
                f"addressed to {receiver.fingerprint[:16] if receiver else 'nobody'}…, we are "
                f"{self.our_fingerprint[:16]}…"
            )
        sent = parse_timestamp(head.timestamp)
        if abs(now - sent) > self.max_skew:
            raise TimestampError(
                f"timestamp {head.timestamp} is {now - sent:+.3f} s from local time "
                f"(limit ±{self.max_skew:g} s)"
            )
        self._replay.check_and_add(head.sender.fingerprint, head.msg_id, sent, now)
        reason = self._gate(head.sender.fingerprint, head.type)
        if reason is not None:
            raise TrustViolationError(reason)
