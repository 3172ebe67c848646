"""A ``web4 node`` with exactly one behaviour broken on purpose (tests only).

Usage: ``python broken_node.py FLIP node ARGS...``: patches the one check FLIP names in
this process, then runs ``web4 node ARGS...`` as the CLI would. The product has no break
switch: each flip is a monkeypatch of a function the real node calls, so everything else
(RTT, the store, the other checks) is the real code. ``FLIPS`` lists them; the
conformance tests start one node per flip and expect the runner to report the cases that
flip breaks, and no other.
"""

from __future__ import annotations

import base64
import dataclasses
import sys
from collections.abc import Callable, Mapping
from typing import Any

import msgspec

ED25519_L = 2**252 + 27742317777372353535851937790883648493


def _structure_fix(fix: Callable[[dict[str, Any]], None]) -> None:
    """The structure check (CIP §5 check 1) sees ``raw`` after ``fix``; the signature
    is still checked over the envelope as received."""
    from web4.envelope.validate import Validator

    original = Validator._structure

    def _structure(self: Any, raw: Mapping[str, Any]) -> Any:
        copy = dict(raw)
        fix(copy)
        return original(self, copy)

    Validator._structure = _structure  # type: ignore[method-assign]


def size() -> None:
    """No size limit on envelope bytes."""
    from web4.envelope import validate

    original = validate.parse_envelope

    def parse_envelope(data: bytes, limits: Any) -> Any:
        return original(data, dataclasses.replace(limits, max_bytes=64 << 20))

    validate.parse_envelope = parse_envelope


def version() -> None:
    """Takes any cip, hcp or lip version for 1.0."""

    def fix(raw: dict[str, Any]) -> None:
        for member in ("cip", "hcp", "lip"):
            if member in raw:
                raw[member] = "1.0"

    _structure_fix(fix)


def duplicates() -> None:
    """Duplicate JSON keys: the last one wins (as most JSON parsers do)."""
    import json

    from web4.envelope import validate
    from web4.errors import InvalidEnvelopeError

    original = validate.parse_envelope

    def parse_envelope(data: bytes, limits: Any) -> Any:
        try:
            return original(data, limits)
        except InvalidEnvelopeError as e:
            if "duplicate" not in str(e):
                raise
            # what a last-wins parser would have seen, parsed again without the duplicates
            return original(json.dumps(json.loads(data)).encode(), limits)

    validate.parse_envelope = parse_envelope


def timestamp_format() -> None:
    """Takes a space for the T of a timestamp."""

    def fix(raw: dict[str, Any]) -> None:
        if isinstance(raw.get("timestamp"), str):
            raw["timestamp"] = raw["timestamp"].replace(" ", "T")

    _structure_fix(fix)


def sign_algo() -> None:
    """Ignores sign.algo (it is not covered by the signature)."""

    def fix(raw: dict[str, Any]) -> None:
        if isinstance(raw.get("sign"), dict):
            raw["sign"] = {**raw["sign"], "algo": "ed25519"}

    _structure_fix(fix)


def sign_members() -> None:
    """Ignores unknown members of sign (the one block the signature does not cover)."""

    def fix(raw: dict[str, Any]) -> None:
        sign = raw.get("sign")
        if isinstance(sign, dict):
            raw["sign"] = {k: v for k, v in sign.items() if k in ("algo", "signature")}

    _structure_fix(fix)


def hcp_vocabulary() -> None:
    """Drops HCP safety flags it does not know instead of refusing the HCP_HELLO."""
    from web4.envelope.validate import Validator

    original = Validator._payload

    def _payload(self: Any, head: Any) -> Any:
        payload = head.payload
        if head.type == "HCP_HELLO" and isinstance(payload, dict):
            flags = payload.get("safety_flags")
            if isinstance(flags, list):
                known = [f for f in flags if f in ("avoid_conflict", "slow_pacing")]
                head = msgspec.structs.replace(head, payload={**payload, "safety_flags": known})
        return original(self, head)

    Validator._payload = _payload  # type: ignore[method-assign]


def lip_evidence() -> None:
    """Takes the original LIP_EVIDENCE's claims without evidence."""
    from web4.lip import messages

    original = messages.LIP_SPEC.normalise
    assert original is not None

    def normalise(env: Any) -> Any:
        p = env.payload
        if isinstance(p, messages.LipEvidenceOriginal) and not any(e.strip() for e in p.evidence):
            env = msgspec.structs.replace(env, payload=msgspec.structs.replace(p, evidence=["-"]))
        return original(env)

    object.__setattr__(messages.LIP_SPEC, "normalise", normalise)


def authorisation() -> None:
    """Acts on HCP from every key (no authorized_humans check)."""
    from web4.hcp.runtime import HcpLipRuntime

    HcpLipRuntime._authorized = lambda self, fp: True  # type: ignore[method-assign]


def ranges() -> None:
    """Does not bound state.lri (0..100)."""

    def fix(raw: dict[str, Any]) -> None:
        state = raw.get("state")
        if isinstance(state, dict) and isinstance(state.get("lri"), int):
            raw["state"] = {**state, "lri": max(0, min(100, state["lri"]))}

    _structure_fix(fix)


def calendar() -> None:
    """Rolls fields over instead of refusing an impossible time (07:03:75 is 07:04:15)."""
    import calendar as cal
    import re

    from web4.envelope import validate
    from web4.errors import TimestampError

    original = validate.parse_timestamp
    shape = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?Z")

    def parse_timestamp(value: str) -> float:
        try:
            return original(value)
        except TimestampError:
            m = shape.fullmatch(value)
            if m is None:
                raise
            fields = tuple(int(m[i]) for i in range(1, 7))
            return cal.timegm(fields) + float(m[7] or 0)  # type: ignore[arg-type]

    validate.parse_timestamp = parse_timestamp


def check_order() -> None:
    """Checks the signature before the payload shape (CIP §5: check 2 comes first)."""
    from web4.envelope.validate import Validator

    original = Validator.validate

    def validate_(self: Any, data: Any, *, now: float | None = None, **kw: Any) -> Any:
        received = self._untyped(data)
        self._structure(received.value)
        # first; then every check again, in the usual order
        self._verify(received, kw.get("transport_key"))
        return original(self, data, now=now, **kw)

    Validator.validate = validate_  # type: ignore[method-assign]


def _verify(check_fingerprint: bool, check_signature: bool, reduce_s: bool = False) -> None:
    from web4.envelope.crypto import canonicalize, fingerprint_of, verify_signature
    from web4.envelope.validate import ReceivedEnvelope, Validator
    from web4.errors import FingerprintMismatchError, SignatureMismatchError

    original = Validator._verify

    def verify(received: Any, transport_key: bytes | None) -> str | None:
        envelope = received.value
        sender = envelope["sender"]
        if "pubkey" not in sender:
            return original(received, transport_key)
        key = base64.b64decode(sender["pubkey"])
        if reduce_s:
            sig = base64.b64decode(envelope["sign"]["signature"])
            s = int.from_bytes(sig[32:], "little") % ED25519_L
            reduced = base64.b64encode(sig[:32] + s.to_bytes(32, "little")).decode()
            sign = {**envelope["sign"], "signature": reduced}
            return original(ReceivedEnvelope.of({**envelope, "sign": sign}), transport_key)
        if check_fingerprint and fingerprint_of(key) != sender["fingerprint"]:
            raise FingerprintMismatchError("fingerprint is not the pubkey's")
        if check_signature:
            body = {k: v for k, v in envelope.items() if k != "sign"}
            sig = base64.b64decode(envelope["sign"]["signature"])
            if not verify_signature(key, canonicalize(body), sig):
                raise SignatureMismatchError("signature does not verify")
        return None

    Validator._verify = staticmethod(verify)  # type: ignore[method-assign,assignment]


def fingerprint() -> None:
    """Verifies the signature with the pubkey but never compares the fingerprint."""
    _verify(check_fingerprint=False, check_signature=True)


def signature() -> None:
    """Checks the fingerprint binding but not the signature."""
    _verify(check_fingerprint=True, check_signature=False)


def lax_ed25519() -> None:
    """Accepts a non-reduced S (S + L verifies in the lax equation)."""
    _verify(check_fingerprint=True, check_signature=True, reduce_s=True)


def _rest(receiver: bool = True, skew: bool = True) -> None:
    from web4.envelope.validate import Validator, parse_timestamp
    from web4.errors import ReceiverMismatchError, TimestampError, TrustViolationError

    def rest(self: Any, head: Any, now: float, topic: str | None = None) -> None:
        self._binding(head, topic)  # the topic half of check 4 is not what these flip
        to_us = head.receiver is not None and head.receiver.fingerprint == self.our_fingerprint
        if receiver and topic is None and not to_us:
            raise ReceiverMismatchError("not for us")
        sent = parse_timestamp(head.timestamp)
        if skew and abs(now - sent) > self.max_skew:
            raise TimestampError("skewed")
        self._replay.check_and_add(head.sender.fingerprint, head.msg_id, sent, now)
        reason = self._gate(head.sender.fingerprint, head.type)
        if reason is not None:
            raise TrustViolationError(reason)

    Validator._rest = rest  # type: ignore[method-assign]


def receiver() -> None:
    """Accepts envelopes addressed to anyone."""
    _rest(receiver=False)


def skew() -> None:
    """Accepts any timestamp, however far from local time."""
    _rest(skew=False)


def replay() -> None:
    """Remembers no msg_id (no replay protection)."""
    from web4.envelope.replay import ReplayCache
    from web4.envelope.replay_store import PersistentReplayCache

    def check_and_add(self: Any, sender: str, msg_id: str, sent: float, now: float) -> None:
        return None

    ReplayCache.check_and_add = check_and_add  # type: ignore[method-assign]
    PersistentReplayCache.check_and_add = check_and_add  # type: ignore[method-assign]


def binding() -> None:
    """The responder's handshake is not bound to the link's key (binds to the first
    valid HELLO instead)."""
    from web4.cip import handshake
    from web4.cip._state import Role

    original = handshake.Handshake.__init__

    def init(self: Any, identity: Any, role: Any, **kw: Any) -> None:
        if role is Role.RESPONDER:
            kw["peer"] = None
            kw.pop("transport_key", None)  # nor to the key the transport authenticated
        original(self, identity, role, **kw)

    handshake.Handshake.__init__ = init  # type: ignore[method-assign]


def _on_hello(before: Callable[[Any, Any], Any]) -> None:
    from web4.cip import handshake

    original = handshake.Handshake._on_hello

    def on_hello(self: Any, msg: Any, p: Any, now: float) -> Any:
        return original(self, msg, before(self, p), now)

    handshake.Handshake._on_hello = on_hello  # type: ignore[method-assign]


def protocols() -> None:
    """Does not require cip/1.0 in the HELLO's protocols."""

    def before(self: Any, p: Any) -> Any:
        if "cip/1.0" in p.protocols:
            return p
        return msgspec.structs.replace(p, protocols=[*p.protocols, "cip/1.0"][-8:])

    _on_hello(before)


def nonce_binding() -> None:
    """Takes a confirming HELLO whose nonce and challenge changed (as a new first one)."""

    def before(self: Any, p: Any) -> Any:
        was = self._peer_hello
        if was is not None and (
            p.session_nonce != was.session_nonce or p.challenge != was.challenge
        ):
            self._peer_hello = None  # treated as a first HELLO: its new nonce is taken
        return p

    _on_hello(before)


def challenge() -> None:
    """Never checks the challenge response."""
    from web4.cip import handshake

    handshake.verify_response = lambda *a, **k: True


def after_signature() -> None:
    """A bad signature after the handshake is no trust event."""
    from web4.cip.service import CipService
    from web4.errors import FingerprintMismatchError, SignatureMismatchError

    original = CipService.on_fault

    def on_fault(self: Any, fault: Any) -> None:
        err = fault.error
        if isinstance(err, SignatureMismatchError) and not isinstance(
            err, FingerprintMismatchError
        ):
            return
        original(self, fault)

    CipService.on_fault = on_fault  # type: ignore[method-assign]


def flood() -> None:
    """Never disconnects a peer for its faults."""
    from web4.cip.faults import FaultMeter

    original = FaultMeter.__init__

    def init(self: Any, *a: Any, **kw: Any) -> None:
        original(self, *a, **kw)
        self.disconnect_at = 1 << 30

    FaultMeter.__init__ = init  # type: ignore[method-assign]


def gate() -> None:
    """Lets a blacklisted peer send HELLO."""
    from web4.cip import validator

    policy = dict(validator.CIP_TRUST_POLICY)
    policy["blacklisted"] = frozenset({"HELLO"})
    validator.CIP_TRUST_POLICY = policy


def repeat_after_end() -> None:
    """Gives no INTENT after the handshake to the handshake (every one goes to the agent,
    so a lost decision is never sent again)."""
    from web4.cip import handshake

    handshake.Handshake.takes_repeat = lambda self, msg_type, payload: False  # type: ignore[method-assign]


def repeat_unbounded() -> None:
    """Answers every repeat of a step (no max_retries bound)."""
    from web4.cip import handshake

    original = handshake.Handshake._answer_repeat

    def answer_repeat(self: Any, now: float) -> Any:
        self._repeats = 0
        return original(self, now)

    handshake.Handshake._answer_repeat = answer_repeat  # type: ignore[method-assign]


def repeat_window() -> None:
    """Takes an INTENT equal to the handshake's for a repeat even after another INTENT."""
    from web4.cip import handshake

    original = handshake.Handshake.takes_repeat

    def takes_repeat(self: Any, msg_type: str, payload: object) -> bool:
        self._repeat_window = True  # never closed
        return original(self, msg_type, payload)

    handshake.Handshake.takes_repeat = takes_repeat  # type: ignore[method-assign]


FLIPS: dict[str, Callable[[], None]] = {
    f.__name__: f
    for f in (
        size, version, duplicates, timestamp_format, sign_algo, ranges, calendar, check_order,
        fingerprint, signature,
        lax_ed25519, receiver, skew, replay, binding, protocols, nonce_binding, challenge,
        after_signature, flood, gate, sign_members, hcp_vocabulary, lip_evidence,
        authorisation, repeat_after_end, repeat_unbounded, repeat_window,
    )
}  # fmt: skip


def main() -> int:
    flip, *argv = sys.argv[1:]
    FLIPS[flip]()
    from web4.cli.main import main as web4

    return web4(argv)


if __name__ == "__main__":
    sys.exit(main())
