"""Every exception Web4 Runtime raises, in one hierarchy.

Theory of operation: an error says whose fault it is. ``LocalError`` is misuse on this
side (bad arguments, bad configuration, a value we were asked to sign that JSON cannot
carry). ``RemoteError`` is bad input from a peer (a tampered envelope, a replay, a
malformed frame): the runtime drops the message, records it, and keeps serving others.
The Rust core raises these same classes (``rust/web4-py/src/error.rs``, through pyo3's
``import_exception!``) and sets ``RTTError.kind`` to an ``RTTErrorKind`` member.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar

__all__ = [
    "CanonicalizationError",
    "ConfigError",
    "ConsentError",
    "DataDirBusyError",
    "DecisionError",
    "FingerprintMismatchError",
    "HandshakeError",
    "IdentityError",
    "InvalidEnvelopeError",
    "KnowledgeError",
    "LIPFetchError",
    "LIPQueueError",
    "LocalError",
    "MessageBuildError",
    "MissingPublicKeyError",
    "ObservabilityError",
    "PayloadSchemaError",
    "QuotaError",
    "RTTBackpressureError",
    "RTTError",
    "RTTErrorKind",
    "RTTHandshakeError",
    "RTTReplayError",
    "RTTTransportError",
    "ReceiverMismatchError",
    "RemoteError",
    "ReplayError",
    "RoutingError",
    "SignatureMismatchError",
    "StoreConstraintError",
    "StoreError",
    "TimestampError",
    "TopicMismatchError",
    "TrustError",
    "TrustViolationError",
    "UnknownClaimError",
    "Web4Error",
]


class Web4Error(Exception):
    """Base of every Web4 Runtime error."""


class LocalError(Web4Error):
    """Misuse on this side: fix the call, the configuration or the local files."""


class RemoteError(Web4Error):
    """A peer sent something we refuse. The message is dropped; the node keeps serving."""


# --- local misuse -------------------------------------------------------------------


class ConfigError(LocalError, ValueError):
    """A configuration value, flag or file is invalid."""


class DataDirBusyError(LocalError):
    """Another web4 process (a node, or a human session on the node's identity) holds
    the data directory's lock: one process per data directory."""


class IdentityError(LocalError):
    """An identity key file is missing, unreadable, corrupt, of the wrong length, or
    readable by group or others; or key material passed in has the wrong length."""


class CanonicalizationError(LocalError, ValueError):
    """A value has no RFC 8785 form: NaN, infinities, integers beyond 2^53 - 1, lone
    surrogates, non-string keys, unsupported types, or nesting that is too deep."""


class ObservabilityError(LocalError, ValueError):
    """An event breaks the v1.0 contract (unregistered kind, missing or non-JSON
    attribute, bad level), or an observability sink or reader is misconfigured."""


class ConsentError(LocalError):
    """HCP: an automated action was attempted that the human's consent does not cover."""


class DecisionError(LocalError, ValueError):
    """HCP: the agent tried to emit a decision without a rationale or alternatives."""


class LIPQueueError(LocalError):
    """LIP deferred-acceptance queue misuse or overflow: resolving a claim that is not
    disputed, or submitting more claims than the queue's bound (nothing is queued)."""


class MessageBuildError(LocalError, ValueError):
    """A builder was asked to sign a message that breaks its protocol's schema."""


class StoreError(LocalError):
    """The SQLite store cannot be opened or used: unreadable or corrupt file, a schema
    newer than this software, or a malformed migration."""


class StoreConstraintError(StoreError):
    """A statement broke a constraint of the schema (PRIMARY KEY, UNIQUE, CHECK, FOREIGN
    KEY, NOT NULL, STRICT type, a trigger's ``RAISE(ABORT)``): our bug met on some input,
    not a failing disk. ``rolled_back`` is True once the ``Store.transaction()`` it escaped
    was rolled back (nothing of that transaction was written): only then may the node
    treat it as a bug met serving one peer (``web4.isolation``) rather than stop."""

    rolled_back: bool = False


class TrustError(LocalError, ValueError):
    """Misuse of the trust API: a malformed peer id, an unknown event, or a manual
    override without an operator or a reason."""


# --- a peer's bad input: envelopes (checked in this order by the validator) ----------


class InvalidEnvelopeError(RemoteError, ValueError):
    """The envelope's structure or field types are wrong, or it breaks a size limit."""


class PayloadSchemaError(InvalidEnvelopeError):
    """The payload does not have the shape its message type requires."""


class MissingPublicKeyError(InvalidEnvelopeError):
    """The envelope has no ``sender.pubkey`` and the transport authenticated no key for
    its link, so there is nothing to verify the signature with."""


class SignatureMismatchError(RemoteError):
    """The signature does not verify, or the fingerprint does not match the public key."""


class FingerprintMismatchError(SignatureMismatchError):
    """``sender.fingerprint`` is not the fingerprint of ``sender.pubkey``: an identity
    claim that cannot be true. The handshake blacklists such a peer."""


class ReceiverMismatchError(RemoteError):
    """The envelope was addressed (and signed) for another agent."""


class TopicMismatchError(ReceiverMismatchError):
    """A broadcast envelope arrived on another topic than the one it is signed for, a
    topic-bound envelope arrived point to point, or a receiver-bound one on a topic."""


class TimestampError(RemoteError):
    """The envelope's timestamp is malformed or outside the accepted clock skew."""


class ReplayError(RemoteError):
    """The envelope's ``msg_id`` was already seen inside the replay window."""


class TrustViolationError(RemoteError):
    """The sender's trust state does not allow this message type."""


class HandshakeError(RemoteError):
    """The CIP handshake failed: wrong challenge response, unexpected step, timeout."""


class KnowledgeError(RemoteError, ValueError):
    """A knowledge message carries values the acceptance rules cannot take (empty or
    oversize statement, confidence outside 0..1, malformed decision id or causal link)
    or re-proposes a claim that already exists."""


class UnknownClaimError(KnowledgeError):
    """A confirmation, challenge or rejection refers to a claim we never received."""


class QuotaError(KnowledgeError):
    """The sender is over its quota of stored, not yet accepted claims (count or bytes);
    the claim is not stored. It clears as the sender's claims are accepted or expire."""


class RoutingError(RemoteError):
    """No route exists for the message's (protocol, type)."""


class LIPFetchError(RemoteError):
    """A LIP fetch was refused: size cap, timeout, content type, redirects, address."""


# --- the transport tunnel -----------------------------------------------------------


class RTTErrorKind(StrEnum):
    """What an RTT error says failed (``RTTError.kind``). A ``str``: it compares equal to
    its value (``err.kind == "refused"``)."""

    REFUSED = "refused"
    """A dial found nothing listening at the address."""
    TIMEOUT = "timeout"
    """A dial got no answer in time, or an operation missed its deadline."""
    UNREACHABLE = "unreachable"
    """No route to the address, or an address the transport cannot dial."""
    HANDSHAKE = "handshake"
    """The secure (Noise) handshake failed."""
    PEER_ID_MISMATCH = "peer_id_mismatch"
    """The address answered with another key than its peer id: retrying cannot help."""
    OTHER = "other"
    """A dial failed otherwise (reset mid-dial, aborted, denied)."""
    TRANSPORT = "transport"
    """The connection or session failed, or the session or channel is closed."""
    CLOSED = "closed"
    """The conformance probe (``web4._core.RawProbe``): its stream or the probe is closed."""
    MALFORMED = "malformed"
    """The conformance probe: the peer sent bytes that are not a valid frame."""
    UNSUPPORTED_PROTOCOL = "unsupported_protocol"
    """The conformance probe: the peer refused the stream's protocol id."""
    BACKPRESSURE = "backpressure"
    """A bounded send queue is full."""
    REPLAY = "replay"
    """A replayed or stale frame."""


class RTTError(Web4Error):
    """Base of the RTT transport errors.

    ``kind`` (an ``RTTErrorKind``) says what failed, for a program to act on without
    parsing the message: for a dial ``REFUSED``, ``TIMEOUT``, ``UNREACHABLE``,
    ``HANDSHAKE``, ``PEER_ID_MISMATCH`` (the peer is another key: retrying cannot help)
    or ``OTHER``; otherwise the class's own kind (``TRANSPORT``, ``HANDSHAKE``,
    ``BACKPRESSURE``, ``REPLAY``). The message is one line for a person.
    """

    default_kind: ClassVar[RTTErrorKind] = RTTErrorKind.TRANSPORT

    def __init__(self, message: str = "", *, kind: RTTErrorKind | str | None = None) -> None:
        """Raises ``ValueError`` for a ``kind`` that is not an ``RTTErrorKind`` value."""
        super().__init__(message)
        self.kind: RTTErrorKind = self.default_kind if kind is None else RTTErrorKind(kind)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_rtt_error, (type(self), str(self), self.kind.value))


class RTTHandshakeError(RTTError, RemoteError):
    """Authentication failed: the peer's key does not match the expected peer id, or
    the secure handshake did not complete. The session is dropped."""

    default_kind: ClassVar[RTTErrorKind] = RTTErrorKind.HANDSHAKE


class RTTTransportError(RTTError):
    """The connection or session failed: unreachable peer, closed session, expired
    session, message over the size limit."""


class RTTBackpressureError(RTTError):
    """A bounded send queue is full (policy ``error``) or stayed full past the
    ``block`` timeout. Nothing was queued."""

    default_kind: ClassVar[RTTErrorKind] = RTTErrorKind.BACKPRESSURE


class RTTReplayError(RTTError, RemoteError):
    """A frame at or below the last delivered sequence, or from a stale session."""

    default_kind: ClassVar[RTTErrorKind] = RTTErrorKind.REPLAY


def _rebuild_rtt_error(cls: type[RTTError], message: str, kind: str) -> RTTError:
    return cls(message, kind=kind)
