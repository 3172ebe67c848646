"""The CIP/1.0 handshake as a sans-IO state machine.

Theory of operation: a ``Handshake`` is one side of one handshake with one peer. Bytes
(or a decoded dict) go in through ``receive(envelope, now)``, signed envelopes come out
of ``next_outgoing()``, timers are driven by ``handle_timeout(now)``; each call returns
frozen events (``web4.cip.events``). Steps and legal inputs are the role's
``web4.fsm.TransitionTable`` in ``web4.cip._state``; every step change goes through it.
Randomness (nonce, challenge, msg_ids) comes from the injected ``Rng`` and time only
from ``now``, so fixed keys, seeds and times give the same bytes.

    A -> B  HELLO  {nonce_A, challenge_A}
    B -> A  HELLO  {nonce_B, challenge_B, challenge_response = sig_B(resp(challenge_A))}
    A       VERIFY: envelope, fingerprint, replay, nonce, response  -> PeerVerified
    A -> B  HELLO  {nonce_A, challenge_A, challenge_response = sig_A(resp(challenge_B))}
    A -> B  STATE_UPDATE
    B       VERIFY -> PeerVerified (TRUST GATE: untrusted -> probing, by the TrustFSM)
    B -> A  STATE_UPDATE
    A -> B  INTENT                 (or, if B is overloaded: STATE_UPDATE intent defer:<id>)
    B -> A  STATE_UPDATE intent accept:<intent msg_id> | defer:<intent msg_id>

``resp`` is in ``web4.cip._proof``. That is the three-HELLO variant, for a transport
that does not authenticate keys. Given a ``transport_key`` (the Ed25519 key the transport
already authenticated: over RTT, Noise XX proved possession of the PeerId's key) the
handshake also completes the original specification's two-HELLO handshake, where no
message carries the initiator's proof (``docs/CIP_SPEC.md`` §6, "The authenticated
variant"):

    A -> B  HELLO  {nonce_A, challenge_A}
    B       key == transport key -> PeerVerified (TRUST GATE) at once
    B -> A  HELLO  {nonce_B, challenge_B, challenge_response = sig_B(resp(challenge_A))}
    A -> B  STATE_UPDATE, INTENT            (no confirming HELLO)
    B -> A  STATE_UPDATE; STATE_UPDATE intent accept:<intent msg_id> | defer:<...>

As initiator we still send the confirming HELLO to a responder whose answer carries our
form of the proof (a web4 node; older ones need it); to an original responder (no proof,
or the original's signature over the bare challenge) we send STATE_UPDATE and INTENT and
take its STATE_UPDATE as the end. Inbound envelopes pass the node's CIP validator
first. A bad signature/response from the bound peer fails the handshake with
``PeerUntrusted``, a fingerprint mismatch with ``PeerBlacklisted``; an envelope that
fails verification counts against a peer only if that peer was given at construction
(the authenticated link's peer), never one bound by its first HELLO, since anyone can
forge a claim to be it. Other bad input is dropped alone (``MessageDropped``). A
repeated inbound step is answered again, at most ``max_retries`` times. After the end
only one step is still answered: the responder's decision, on a repeat of the INTENT
that ended the handshake (a lost decision is recovered), until the peer sends another
INTENT; ``takes_repeat`` tells the node which post-handshake message that is, so it
reaches the handshake and not the agent (``docs/CIP_SPEC.md`` §6, Timers and retries).
"""

from __future__ import annotations

import base64
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec

from web4.cip import events as ev
from web4.cip._proof import (
    b64,
    claimed_sender,
    envelope_msg_id,
    sign_response,
    verify_original_response,
    verify_response,
)
from web4.cip._state import EXPECTED_TYPE, HANDSHAKE_TABLES, TERMINAL, Input, Role, Step
from web4.cip.builder import CipBuilder
from web4.cip.events import HandshakeEvent
from web4.cip.messages import CipEnvelope, Features, Hello, Intent, SenderState, StateUpdate
from web4.cip.validator import CipValidator
from web4.clock import Rng
from web4.envelope.crypto import canonicalize, fingerprint_of
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Receiver
from web4.errors import ConfigError, FingerprintMismatchError, RemoteError, SignatureMismatchError
from web4.identity import Identity

__all__ = ["Handshake", "HandshakeConfig"]

PROTOCOL = "cip/1.0"


@dataclass(frozen=True)
class HandshakeConfig:
    step_timeout: float = 10.0  # seconds to wait for the peer's next step
    max_retries: int = 2  # retransmissions per step before FAILED
    queue_bound: int = 8  # unsent outgoing envelopes kept (oldest dropped beyond)
    capabilities: tuple[str, ...] = ("state_exchange", "knowledge_exchange", "dmp_trace")
    features: Features = field(default_factory=lambda: Features(True, True))


def _drop(error: str, reason: str, now: float) -> list[HandshakeEvent]:
    return [ev.MessageDropped(error, reason, now)]


class _CallClock:
    """The builder's clock: the ``now`` of the current call (no wall clock here)."""

    t = 0.0

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t


class Handshake:
    """One side of a CIP handshake (see the module docstring)."""

    def __init__(
        self,
        identity: Identity,
        role: Role,
        *,
        validator: CipValidator,
        rng: Rng,
        local_state: SenderState,
        peer: Receiver | None = None,
        intent: Intent | None = None,
        nonces: ReplayCache | None = None,
        config: HandshakeConfig | None = None,
        transport_key: bytes | None = None,
    ) -> None:
        """``peer`` is required for the initiator (it addresses the first HELLO) and
        optional for the responder (the link's authenticated peer, if known). The
        initiator also needs its ``intent``. ``transport_key``: the raw 32-byte Ed25519
        key the transport authenticated for this peer (RTT: the PeerId's key); given, the
        authenticated variant runs (the original two-HELLO handshake completes) and the
        peer is bound to that key. Raises ``ConfigError`` otherwise (also for a ``peer``
        whose fingerprint is not the transport key's)."""
        if transport_key is not None:
            if len(transport_key) != 32:
                raise ConfigError("the transport key is a raw 32-byte Ed25519 public key")
            bound = fingerprint_of(transport_key)
            if peer is None and role is Role.RESPONDER:
                peer = Receiver(bound[:16], bound)
            if peer is not None and peer.fingerprint != bound:
                raise ConfigError("the peer's fingerprint is not the transport key's")
        if role is Role.INITIATOR and (peer is None or intent is None):
            raise ConfigError("the initiator needs a peer and an intent")
        self.role = role
        self.config = config or HandshakeConfig()
        self.step = Step.START if role is Role.INITIATOR else Step.WAIT_HELLO
        self._table = HANDSHAKE_TABLES[role]
        self.deadline: float | None = None
        self.our_view = "untrusted"
        self._id = identity
        self._validator = validator
        self._limits = validator.spec.limits
        self._nonces = nonces if nonces is not None else ReplayCache()
        self._clock = _CallClock()
        self._builder = CipBuilder(
            identity, clock=self._clock, rng=rng, capabilities=self.config.capabilities
        )
        self._state = local_state
        self._intent = intent
        self._nonce = rng.bytes(16)
        self._challenge = rng.bytes(32)
        self._peer = peer
        # Only a peer given here (the link's authenticated peer, or the one we dial) makes
        # an envelope that fails verification attributable; a peer bound later by its
        # first valid HELLO does not: anyone could forge an envelope claiming it.
        self._link_bound = peer is not None
        self._transport_key = transport_key
        self._state_sent = False  # our STATE_UPDATE of the handshake went out
        self._peer_key = b""
        self._peer_nonce = b""
        self._peer_hello: Hello | None = None
        self._peer_view = "unknown"
        self._peer_presence: str | None = None
        self._intent_id: str | None = None
        self._sent_intents: list[str] = []  # msg_ids of our INTENT (and retransmissions)
        self._verified_ids: list[str] = []
        self._last_in: tuple[str, Any] | None = None
        self._last_out: list[msgspec.Struct] = []  # our answer to _last_in ([]: none)
        # After the end: may a repeat of the final INTENT still get the decision again?
        # Closed by any other INTENT from the peer (it has its decision and moved on).
        self._repeat_window = True
        self._retries = 0
        self._repeats = 0
        self._out: deque[bytes] = deque(maxlen=self.config.queue_bound)

    # --- the sans-IO surface ----------------------------------------------------------

    @property
    def peer(self) -> Receiver | None:
        return self._peer

    @property
    def authenticated(self) -> bool:
        """Does the transport authenticate the peer's key (the two-HELLO variant)?"""
        return self._transport_key is not None

    @property
    def peer_view(self) -> str:
        """The peer's trust state for us, as its last STATE_UPDATE reported it
        (``ltppeerstate``), else ``unknown``: what our ``trust.receiver_view`` carries."""
        return self._peer_view

    def start(self, now: float) -> list[HandshakeEvent]:
        """Initiator only, once: queue the first HELLO. Raises ``ConfigError`` otherwise."""
        if self.role is not Role.INITIATOR or self.step is not Step.START:
            raise ConfigError("start() is for an initiator that has not started")
        self._clock.t = now
        self._move(Input.START, now)
        self._send_step(now, [self._hello(response=None)])
        return []

    def next_outgoing(self) -> bytes | None:
        """The next envelope to send (RFC 8785 bytes), or ``None``."""
        return self._out.popleft() if self._out else None

    def handle_timeout(self, now: float) -> list[HandshakeEvent]:
        """Drive the step timer: retransmit while retries last, then fail."""
        if self.step in TERMINAL or self.deadline is None or now < self.deadline:
            return []
        self._clock.t = now
        if self._retries < self.config.max_retries:
            self._retries += 1
            self._move(Input.RETRY, now)
            self._resend(now)
            return [ev.Retransmitted(self.step.value, self._retries, now)]
        return self._fail(Input.TIMEOUT, f"timeout in {self.step.value}", now)

    def receive(self, envelope: bytes | Mapping[str, Any], now: float) -> list[HandshakeEvent]:
        """Feed one inbound envelope. Never raises for a peer's bad input: refusals are
        events (``MessageDropped``, ``PeerUntrusted``, ``PeerBlacklisted``)."""
        if self.step in (Step.START, Step.FAILED):
            return _drop("HandshakeError", f"no handshake in {self.step.value}", now)
        self._clock.t = now
        try:
            msg = self._validator.validate(envelope, now=now, transport_key=self._transport_key)
        except FingerprintMismatchError as e:
            return self._on_mismatch(envelope, str(e), now)
        except SignatureMismatchError as e:
            return self._on_bad_signature(envelope, str(e), now)
        except RemoteError as e:
            return _drop(type(e).__name__, str(e), now)
        if self._peer is not None and msg.sender.fingerprint != self._peer.fingerprint:
            return _drop("HandshakeError", "sender is not this handshake's peer", now)
        if self.step in TERMINAL:
            if self.takes_repeat(msg.type, msg.payload):  # our decision was lost
                return self._answer_repeat(now)
            return _drop("HandshakeError", f"the handshake is over ({self.step.value})", now)
        if self._last_in == (msg.type, msg.payload):  # our answer was lost: answer again
            return self._answer_repeat(now)
        if msg.type not in EXPECTED_TYPE.get((self.role, self.step), frozenset()):
            return _drop("HandshakeError", f"{msg.type} in {self.step.value}", now)
        if isinstance(msg.payload, Hello):
            return self._on_hello(msg, msg.payload, now)
        if isinstance(msg.payload, StateUpdate):
            return self._on_state(msg, msg.payload, now)
        assert isinstance(msg.payload, Intent)
        return self._on_intent(msg, msg.payload, now)

    def takes_repeat(self, msg_type: str, payload: object) -> bool:
        """After the handshake ended: is a (validated) message of ``msg_type`` with
        ``payload`` from the peer a retransmission of the INTENT that ended it, which
        belongs to the handshake and not to the application? Only a responder that ended
        on the peer's INTENT (accepted, or deferred because the peer is overloaded) has
        such a step: feed the message to ``receive``, which re-sends the decision at most
        ``max_retries`` times and drops it after. False for everything else, and false
        for good once another INTENT came from the peer (it has its decision and moved
        on: an INTENT equal to the first after that is a new one). Before the end: False
        (``receive`` takes every message then)."""
        if self.step not in (Step.ACCEPTED, Step.DEFERRED) or self._last_in is None:
            return False
        if self.role is not Role.RESPONDER or self._last_in[0] != "INTENT" or not self._last_out:
            return False
        if msg_type != "INTENT" or not self._repeat_window:
            return False
        if self._last_in[1] != payload:
            self._repeat_window = False  # the peer's next intent: the window closes
            return False
        return True

    # --- inbound steps ------------------------------------------------------------------

    def _hello_kind(self, p: Hello) -> Input:
        if p.challenge_response is None:
            return Input.HELLO_AUTHENTICATED if self.authenticated else Input.HELLO
        if self.authenticated and self.role is Role.RESPONDER and self.step is Step.WAIT_STATE:
            return Input.HELLO_CONFIRM
        return Input.HELLO_RESPONSE

    def _on_hello(self, msg: CipEnvelope[Any], p: Hello, now: float) -> list[HandshakeEvent]:
        kind = self._hello_kind(p)
        if not self._table.rules_for(self.step, kind):
            return _drop("HandshakeError", f"{kind.value} in {self.step.value}", now)
        if PROTOCOL not in p.protocols:
            return self._fail(Input.PROTOCOL_ERROR, f"peer does not speak {PROTOCOL}", now)
        if self._peer_hello is not None and (
            p.session_nonce != self._peer_hello.session_nonce
            or p.challenge != self._peer_hello.challenge
        ):
            return self._fail(Input.PROTOCOL_ERROR, "peer changed its nonce or challenge", now)
        if self._peer_hello is None:
            key = self._key_of(msg)
            if key is None:
                return _drop("HandshakeError", "the HELLO names no key we can verify", now)
            try:
                self._nonces.check_and_add(
                    msg.sender.fingerprint, "nonce:" + p.session_nonce, now, now
                )
            except RemoteError as e:
                return _drop(type(e).__name__, f"session nonce: {e}", now)
            self._peer = Receiver(msg.sender.agent_id, msg.sender.fingerprint)
            self._peer_key = key
            self._peer_nonce = base64.b64decode(p.session_nonce)
            self._peer_hello = p
        if kind is Input.HELLO:  # responder, first HELLO
            self._accept_in(msg, Input.HELLO, now)
            self._send_step(now, [self._hello(response=self._respond())])
            return []
        if kind is Input.HELLO_RESPONSE and p.challenge_response is not None:
            if not verify_response(
                self._peer_key, p.challenge_response, self._challenge,
                msg.sender.fingerprint, self._id.fingerprint, self._peer_nonce, self._nonce,
            ):  # fmt: skip
                if self.authenticated and verify_original_response(
                    self._peer_key, p.challenge_response, self._challenge
                ):  # an original responder's proof: the transport proved the key anyway
                    kind = Input.HELLO_AUTHENTICATED
                else:
                    return self._on_bad_signature(
                        msg, "challenge response does not verify", now, signed=True
                    )
        elif kind is Input.HELLO_CONFIRM and p.challenge_response is not None:
            if not verify_response(
                self._peer_key, p.challenge_response, self._challenge,
                msg.sender.fingerprint, self._id.fingerprint, self._peer_nonce, self._nonce,
            ):  # fmt: skip
                return self._on_bad_signature(
                    msg, "challenge response does not verify", now, signed=True
                )
            self._accept_in(msg, kind, now)
            if not self._state_sent:  # nothing to prove any more: the state exchange
                self._send_step(now, [self._state_update(self._state.intent)])
            return []
        self._verified_ids.append(msg.msg_id)
        self._accept_in(msg, kind, now)
        if self.our_view == "untrusted":
            self.our_view = "probing"
        out: list[msgspec.Struct]
        if kind is Input.HELLO_AUTHENTICATED and self.role is Role.RESPONDER:
            out = [self._hello(response=self._respond())]
        elif kind is Input.HELLO_AUTHENTICATED:  # an original responder: no third HELLO
            assert self._intent is not None
            out = [self._state_update(self._state.intent), self._intent]
        else:
            out = [self._state_update(self._state.intent)]
            if self.role is Role.INITIATOR:
                out.insert(0, self._hello(response=self._respond()))
        self._send_step(now, out)
        assert self._peer is not None
        return [
            ev.PeerVerified(
                self._peer.fingerprint, self._peer.agent_id, tuple(self._verified_ids), now
            )
        ]

    def _key_of(self, msg: CipEnvelope[Any]) -> bytes | None:
        """The key the peer's first HELLO proves: the transport's (the HELLO's
        ``sender.pubkey``, if any, must be it), else its ``sender.pubkey``."""
        pubkey = msg.sender.pubkey
        named = base64.b64decode(pubkey) if pubkey else None
        if self._transport_key is None:
            return named
        if named is not None and named != self._transport_key:
            return None
        return self._transport_key

    def _on_state(self, msg: CipEnvelope[Any], p: StateUpdate, now: float) -> list[HandshakeEvent]:
        assert self._peer is not None
        self._peer_view = p.ltppeerstate
        self._peer_presence = p.presence
        events: list[HandshakeEvent] = [
            ev.PeerStateReceived(
                self._peer.fingerprint, p.presence, p.lri, p.ltppeerstate,
                tuple(p.kernel_signals), p.intent, msg.msg_id, now,
            )
        ]  # fmt: skip
        decision = p.intent or ""
        verdict, _, ref = decision.partition(":")
        if verdict == "accept" and ref in self._sent_intents:
            self._intent_id = ref
            event = Input.DECISION_ACCEPT
        elif verdict == "defer" and ref in self._sent_intents:
            self._intent_id = ref
            event = Input.DECISION_DEFER
        elif verdict == "defer" and self.step is Step.WAIT_INTENT:
            event = Input.DECISION_DEFER
        elif p.presence == "overloaded":
            event = Input.PEER_OVERLOADED
        else:
            event = Input.STATE_UPDATE
        before = self.step
        self._accept_in(msg, event, now)
        if self.step in TERMINAL:
            self._last_out = []  # ended with no answer of ours (unless one is sent below)
        if event is Input.DECISION_ACCEPT:
            events.append(self._done("accepted", "peer accepted the intent", now))
        elif event is Input.DECISION_DEFER:
            events.append(self._done("deferred", "peer deferred the intent", now))
        elif before is Step.WAIT_STATE and self.role is Role.INITIATOR:
            if event is Input.PEER_OVERLOADED:
                self._send_step(now, [self._state_update(f"defer:{msg.msg_id}")])
                events.append(self._done("deferred", "peer presence is overloaded", now))
            else:
                assert self._intent is not None
                self._send_step(now, [self._intent])
        elif before is Step.WAIT_PEER_STATE and event is Input.STATE_UPDATE:
            self._intent_id = self._sent_intents[-1] if self._sent_intents else None
            events.append(self._done("accepted", "original peer: its state ends it", now))
        elif before is Step.WAIT_PEER_STATE:
            self._intent_id = self._sent_intents[-1] if self._sent_intents else None
            events.append(self._done("deferred", "peer presence is overloaded", now))
        elif before is Step.WAIT_STATE and not self._state_sent:
            # responder, authenticated variant: the peer sent no confirming HELLO
            self._send_step(now, [self._state_update(self._state.intent)])
        elif before is Step.WAIT_STATE:
            self._arm(now)  # responder: now waiting for the INTENT
        return events

    def _on_intent(self, msg: CipEnvelope[Any], p: Intent, now: float) -> list[HandshakeEvent]:
        assert self._peer is not None
        presence = msg.state.presence if msg.state is not None else None  # state optional
        overloaded = "overloaded" in (self._peer_presence, presence)
        event = Input.INTENT_OVERLOADED if overloaded else Input.INTENT
        self._accept_in(msg, event, now)
        verdict = "defer" if overloaded else "accept"
        self._send_step(now, [self._state_update(f"{verdict}:{msg.msg_id}")])
        self._intent_id = msg.msg_id
        received = ev.IntentReceived(
            self._peer.fingerprint, p.goal, p.topic, p.priority, msg.msg_id, now
        )
        if overloaded:
            return [received, self._done("deferred", "peer presence is overloaded", now)]
        return [received, self._done("accepted", "intent accepted", now)]

    # --- failures -----------------------------------------------------------------------

    def _on_mismatch(self, envelope: Any, reason: str, now: float) -> list[HandshakeEvent]:
        claimed, actual = claimed_sender(envelope, self._limits)
        if (
            self._peer is None
            or not self._link_bound
            or self._peer.fingerprint not in (claimed, actual)
        ):
            return _drop("FingerprintMismatchError", reason + " (unattributed)", now)
        msg_id = envelope_msg_id(envelope, self._limits)
        event = ev.PeerBlacklisted(self._peer.fingerprint, claimed, reason, msg_id, now)
        return [event, *self._fail(Input.FINGERPRINT_MISMATCH, reason, now)]

    def _on_bad_signature(
        self, envelope: Any, reason: str, now: float, *, signed: bool = False
    ) -> list[HandshakeEvent]:
        """``signed``: the envelope itself verified (a bad challenge response)."""
        claimed, _ = claimed_sender(envelope, self._limits)
        if (
            self._peer is None
            or not (signed or self._link_bound)
            or claimed != self._peer.fingerprint
        ):
            return _drop("SignatureMismatchError", reason + " (unattributed)", now)
        event = ev.PeerUntrusted(claimed, reason, envelope_msg_id(envelope, self._limits), now)
        return [event, *self._fail(Input.BAD_SIGNATURE, reason, now)]

    def _fail(self, event: Input, reason: str, now: float) -> list[HandshakeEvent]:
        self._move(event, now)
        self._out.clear()
        peer = self._peer.fingerprint if self._peer is not None else None
        return [ev.HandshakeFailed(peer, reason, now)]

    # --- outbound and bookkeeping ----------------------------------------------------------

    def _move(self, event: Input, now: float) -> None:
        result = self._table.step(self.step, event, None)
        assert result.rule is not None, (self.role, self.step, event)  # callers check first
        self.step = result.dst
        if self.step in TERMINAL:
            self.deadline = None

    def _accept_in(self, msg: CipEnvelope[Any], event: Input, now: float) -> None:
        self._move(event, now)
        self._last_in = (msg.type, msg.payload)
        self._repeats = 0

    def _arm(self, now: float) -> None:
        if self.step not in TERMINAL:
            self.deadline = now + self.config.step_timeout
            self._retries = 0

    def _send_step(self, now: float, payloads: list[msgspec.Struct]) -> None:
        self._last_out = payloads
        self._state_sent |= any(isinstance(x, StateUpdate) for x in payloads)
        self._resend(now)
        self._arm(now)

    def _resend(self, now: float) -> None:
        assert self._peer is not None
        for payload in self._last_out:
            env = self._builder.build(
                payload,
                receiver=self._peer,
                sender_view=self.our_view,  # type: ignore[arg-type]
                receiver_view=self._peer_view,  # type: ignore[arg-type]
                state=self._state,
                now=now,
            )
            if isinstance(payload, Intent):
                self._sent_intents.append(env["msg_id"])
            self._out.append(canonicalize(env))

    def _answer_repeat(self, now: float) -> list[HandshakeEvent]:
        if self._repeats >= self.config.max_retries or not self._last_out:
            return _drop("ReplayError", "repeated step, not answered again", now)
        self._repeats += 1
        self._resend(now)
        return [ev.Retransmitted(self.step.value, self._repeats, now)]

    def _hello(self, response: str | None) -> Hello:
        return Hello(
            protocols=[PROTOCOL],
            capabilities=list(self.config.capabilities),
            session_nonce=b64(self._nonce),
            challenge=b64(self._challenge),
            features=self.config.features,
            challenge_response=response,
        )

    def _respond(self) -> str:
        assert self._peer is not None
        assert self._peer_hello is not None
        challenge = base64.b64decode(self._peer_hello.challenge)
        return sign_response(
            self._id, challenge, self._peer.fingerprint, self._nonce, self._peer_nonce
        )

    def _state_update(self, intent: str | None) -> StateUpdate:
        s = self._state
        return StateUpdate(
            presence=s.presence,
            lri=s.lri,
            ltppeerstate=self.our_view,  # type: ignore[arg-type]
            kernel_signals=list(s.kernel_signals),
            intent=intent,
        )

    def _done(
        self, outcome: Literal["accepted", "deferred"], reason: str, now: float
    ) -> ev.HandshakeDone:
        assert self._peer is not None
        return ev.HandshakeDone(self._peer.fingerprint, outcome, reason, self._intent_id, now)
