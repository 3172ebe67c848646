"""The generic envelope validator shared by CIP, HCP and LIP.

Theory of operation: a protocol describes itself once as a ``ProtocolSpec``: a msgspec
envelope Struct (generic in its ``payload``) and a table ``type -> payload Struct``. A
``Validator`` (one per node, serving every peer) turns untrusted input, JSON bytes from
the wire or an already-decoded dict, into a typed, frozen envelope, or raises the error
of the first check that fails, in this order:

1. limits and structure: size, nesting depth, JSON well-formedness (no duplicate keys,
   no NaN), then the envelope Struct               -> ``InvalidEnvelopeError``
2. the payload Struct for ``type``                 -> ``PayloadSchemaError``
3. fingerprint against pubkey, then the signature -> ``FingerprintMismatchError`` /
   ``SignatureMismatchError``
4. receiver binding: ``receiver.fingerprint`` is ours -> ``ReceiverMismatchError``
5. timestamp within ``max_skew`` of local time     -> ``TimestampError``
6. ``(sender.fingerprint, msg_id)`` not seen inside the window -> ``ReplayError``
7. the trust gate admits ``type`` for the sender   -> ``TrustViolationError``

Depth and size are checked before anything recursive runs, so hostile input costs at
most a few linear passes over at most ``Limits.max_bytes`` bytes. Each failure leaves
the validator as it was (only step 6 records state, and only for authenticated input),
so one bad peer never stops the validator from serving the others. Time is injected
(``Clock``, or ``now=`` per call); nothing here does IO.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, Literal, Protocol, TypeVar, cast

import msgspec

from web4.clock import Clock
from web4.envelope.crypto import verify_envelope
from web4.envelope.replay import ReplayCache
from web4.errors import (
    ConfigError,
    InvalidEnvelopeError,
    PayloadSchemaError,
    ReceiverMismatchError,
    TimestampError,
    TrustViolationError,
)

__all__ = [
    "MAX_SKEW_SECONDS",
    "AgentId",
    "Fingerprint",
    "Limits",
    "MsgId",
    "ProtocolSpec",
    "PublicKeyB64",
    "Receiver",
    "Sender",
    "Sign",
    "SignatureB64",
    "Timestamp",
    "Token",
    "TrustGate",
    "Validator",
    "parse_timestamp",
    "policy_gate",
]

MAX_SKEW_SECONDS = 120.0

# --- field types every protocol's envelope shares ------------------------------------

UUID4_PATTERN = "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
TIMESTAMP_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$"

# Python's `$` also matches before a trailing newline, so every pattern is paired with
# its exact length: "…\n" can never pass.
MsgId = Annotated[
    str,
    msgspec.Meta(
        pattern=UUID4_PATTERN, min_length=36, max_length=36, description="UUID v4, lowercase"
    ),
]
Timestamp = Annotated[
    str,
    msgspec.Meta(
        pattern=TIMESTAMP_PATTERN,
        min_length=24,
        max_length=24,
        description="RFC 3339 UTC, milliseconds, Z",
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


class Sender(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    agent_id: AgentId
    fingerprint: Fingerprint
    pubkey: PublicKeyB64
    capabilities: Annotated[list[Token], msgspec.Meta(max_length=32)] = []


class Receiver(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    agent_id: AgentId
    fingerprint: Fingerprint


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


class TrustGate(Protocol):
    """Admit or refuse a message type from a sender (step 7).

    Return ``None`` to admit, or a short reason (e.g. "untrusted peers may only send
    HELLO") to refuse; the validator raises ``TrustViolationError`` with it.
    """

    def __call__(self, sender_fingerprint: str, msg_type: str) -> str | None: ...


def policy_gate(trust_of: Callable[[str], str], allowed: Mapping[str, frozenset[str]]) -> TrustGate:
    """A gate from a per-peer trust lookup (fingerprint -> state) and a table
    ``state -> allowed types``. A state missing from the table admits nothing."""

    def gate(sender_fingerprint: str, msg_type: str) -> str | None:
        state = trust_of(sender_fingerprint)
        if msg_type in allowed.get(state, frozenset()):
            return None
        return f"{msg_type} is not allowed from a {state} peer"

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
    def receiver(self) -> _Party: ...
    @property
    def payload(self) -> Any: ...


# --- limits and untyped decoding ----------------------------------------------------

_STRING = re.compile(r'"[^"]*"')
_NOT_BRACKETS = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")


def _check_text_depth(text: str, max_depth: int) -> None:
    """Refuse JSON text nested deeper than ``max_depth`` in linear-time C passes: drop
    escape pairs (left to right, as JSON pairs them), then strings, then everything but
    brackets, then peel one level of innermost pairs per pass. Unbalanced brackets are
    refused too (the JSON would be malformed anyway)."""
    unescaped = text.replace("\\\\", "").replace('\\"', "")
    brackets = _NOT_BRACKETS.sub("", _STRING.sub("", unescaped))
    for _ in range(max_depth):
        if not brackets:
            return
        brackets = _INNERMOST.sub("", brackets)
    if brackets:
        raise InvalidEnvelopeError(f"nested deeper than {max_depth} (or unbalanced)")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise InvalidEnvelopeError("duplicate object key")
    return obj


def _refuse_constant(name: str) -> Any:
    raise InvalidEnvelopeError(f"{name} is not JSON")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):  # e.g. 1e400: no double carries it
        raise InvalidEnvelopeError(f"number {literal[:32]} overflows a double")
    return value


def decode_json(data: bytes, limits: Limits) -> Any:
    """Untyped, bounded decoding of envelope bytes.

    Raises ``InvalidEnvelopeError`` for oversize input, bad UTF-8, excessive nesting,
    malformed JSON, duplicate keys, NaN or infinities.
    """
    if len(data) > limits.max_bytes:
        raise InvalidEnvelopeError(f"envelope is {len(data)} bytes, limit {limits.max_bytes}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InvalidEnvelopeError("envelope is not UTF-8") from e
    _check_text_depth(text, limits.max_depth)
    try:
        return json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
    except InvalidEnvelopeError:
        raise
    except (ValueError, RecursionError) as e:  # JSONDecodeError, or an int of > 4300 digits
        raise InvalidEnvelopeError(f"envelope is not JSON: {e}") from e


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
    """Seconds since the epoch of an RFC 3339 ``YYYY-MM-DDTHH:MM:SS.mmmZ`` timestamp.

    Raises ``TimestampError`` if it is not such a timestamp or not a real date.
    """
    if not re.fullmatch(TIMESTAMP_PATTERN[1:-1], value):
        raise TimestampError(f"timestamp {value!r} is not YYYY-MM-DDTHH:MM:SS.mmmZ")
    try:
        dt = datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError as e:
        raise TimestampError(f"timestamp {value!r} is not a real date") from e
    return dt.timestamp()


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

    def validate(self, data: bytes | Mapping[str, Any], *, now: float | None = None) -> E:
        """A typed, frozen envelope whose ``payload`` is the Struct for its ``type``.

        ``now`` overrides the clock (sans-IO callers pass their own time).
        Raises, by the first failing check: ``InvalidEnvelopeError``,
        ``PayloadSchemaError``, ``FingerprintMismatchError``, ``SignatureMismatchError``,
        ``ReceiverMismatchError``, ``TimestampError``, ``ReplayError``,
        ``TrustViolationError``.
        """
        raw = self._untyped(data)
        head = self._structure(raw)
        typed = self._payload(head)
        verify_envelope(raw)
        self._rest(cast(_Head, head), self._clock.now() if now is None else now)
        return typed

    # The steps, separately callable for tests and for protocols that need to interleave.

    def _untyped(self, data: bytes | Mapping[str, Any]) -> dict[str, Any]:
        limits = self.spec.limits
        if isinstance(data, bytes | bytearray | memoryview):
            raw = decode_json(bytes(data), limits)
        else:
            _check_tree(data, limits)
            raw = data
        if not isinstance(raw, Mapping):
            raise InvalidEnvelopeError("an envelope is a JSON object")
        return dict(raw)

    def _structure(self, raw: Mapping[str, Any]) -> E:
        try:
            return msgspec.convert(raw, self.spec.envelope)
        except msgspec.ValidationError as e:
            raise InvalidEnvelopeError(f"{self.spec.name} envelope: {e}") from e

    def _payload(self, head: E) -> E:
        h = cast(_Head, head)
        payload_type = self.spec.payloads.get(h.type)
        if payload_type is None:
            raise InvalidEnvelopeError(f"{self.spec.name}: unknown message type {h.type!r}")
        try:
            payload = msgspec.convert(h.payload, payload_type)
        except msgspec.ValidationError as e:
            raise PayloadSchemaError(f"{h.type} payload: {e}") from e
        return msgspec.structs.replace(head, payload=payload)

    def _rest(self, head: _Head, now: float) -> None:
        if head.receiver.fingerprint != self.our_fingerprint:
            raise ReceiverMismatchError(
                f"addressed to {head.receiver.fingerprint[:16]}…, we are "
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
