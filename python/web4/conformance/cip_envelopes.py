"""CIP/1.0 envelope vectors: signed envelopes a receiver must accept or refuse.

Theory of operation: three deterministic identities (seeds are SHA-256 of a label) play
sender (alice), receiver (bob, the node that validates) and a third party (carol). Every
envelope is built and signed with ``CipBuilder`` at a fixed time; the refused ones are
then edited (as a dict, re-signed or not, or as JSON text) to break exactly one check of
``docs/CIP_SPEC.md`` section 5. Each case states the receiver's local time, the trust
state it holds for each sender, any envelopes it accepted before, the exact wire text,
and the expected outcome: accept (with the message type) or the error class of the first
failing check and that check's number. ``render_cip_envelopes`` returns the file text.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

import msgspec

from web4 import errors
from web4.cip.builder import CipBuilder
from web4.cip.messages import (
    CIP_SPEC,
    DecisionShare,
    DmpTrace,
    Fact,
    FactPropose,
    Features,
    Hello,
    Intent,
    SenderState,
    SharedDecision,
    StateUpdate,
)
from web4.cip.validator import CIP_TRUST_POLICY
from web4.clock import FakeClock, SeededRng
from web4.envelope.crypto import canonicalize, sign_envelope
from web4.envelope.validate import MAX_SKEW_SECONDS, Receiver
from web4.identity import Identity

__all__ = ["FORMAT", "IDENTITIES", "T0", "render_cip_envelopes"]

FORMAT = "web4-conformance/cip-envelopes/1"
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00.000Z: the receiver's local time unless stated
ED25519_L = 2**252 + 27742317777372353535851937790883648493

IDENTITIES = {
    name: Identity(hashlib.sha256(f"web4 conformance {name}".encode()).digest(), name)
    for name in ("alice", "bob", "carol")
}
ALICE, BOB, CAROL = IDENTITIES["alice"], IDENTITIES["bob"], IDENTITIES["carol"]
STATE = SenderState(presence="focused", lri=20)

# Check numbers of docs/CIP_SPEC.md section 5 by error class.
CHECK = {
    "InvalidEnvelopeError": 1,
    "PayloadSchemaError": 2,
    "FingerprintMismatchError": 3,
    "SignatureMismatchError": 3,
    "ReceiverMismatchError": 4,
    "TimestampError": 5,
    "ReplayError": 6,
    "TrustViolationError": 7,
}

Env = dict[str, Any]


def _hello(seed: int) -> Hello:
    rng = SeededRng(seed)
    return Hello(
        protocols=["cip/1.0"],
        capabilities=["state_exchange"],
        session_nonce=base64.b64encode(rng.bytes(16)).decode(),
        challenge=base64.b64encode(rng.bytes(32)).decode(),
        features=Features(supports_mesh=True),
    )


def _fact(statement: str = "water boils at 100 C at 1 atm", confidence: float = 0.9) -> FactPropose:
    return FactPropose(
        fact=Fact(statement=statement, domain="physics", confidence=confidence),
        dmp_trace=DmpTrace(decision_id="0b9d6f8e-2a3c-4d5e-8f90-1a2b3c4d5e6f", steps=["read"]),
    )


def _build(
    payload: msgspec.Struct,
    *,
    seed: int,
    sender: Identity = ALICE,
    to: Identity = BOB,
    at: float = T0,
    sender_view: str = "probing",
) -> Env:
    builder = CipBuilder(sender, clock=FakeClock(at), rng=SeededRng(seed))
    return builder.build(
        payload,
        receiver=Receiver(agent_id=to.agent_id, fingerprint=to.fingerprint),
        sender_view=sender_view,  # type: ignore[arg-type]
        state=STATE,
    )


def _wire(env: Env) -> str:
    return canonicalize(env).decode("utf-8")


def _edited(env: Env, edit: Callable[[Env], None], *, resign: bool) -> str:
    """The wire text of ``env`` after ``edit``; re-signed by its sender if ``resign``."""
    out = copy.deepcopy(env)
    edit(out)
    if resign:
        body = {k: v for k, v in out.items() if k != "sign"}
        out = sign_envelope(body, ALICE)
    return _wire(out)


def _set(path: str, value: Any) -> Callable[[Env], None]:
    keys = path.split(".")

    def edit(env: Env) -> None:
        target = env
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


def _drop(key: str) -> Callable[[Env], None]:
    def edit(env: Env) -> None:
        del env[key]

    return edit


def _signature_with_s_plus_l(env: Env) -> str:
    sig = base64.b64decode(env["sign"]["signature"])
    s = int.from_bytes(sig[32:], "little") + ED25519_L
    out = copy.deepcopy(env)
    out["sign"]["signature"] = base64.b64encode(sig[:32] + s.to_bytes(32, "little")).decode()
    return _wire(out)


def _flip_bit(env: Env) -> str:
    sig = bytearray(base64.b64decode(env["sign"]["signature"]))
    sig[10] ^= 0x01
    out = copy.deepcopy(env)
    out["sign"]["signature"] = base64.b64encode(bytes(sig)).decode()
    return _wire(out)


def _signed_by(env: Env, signer: Identity) -> str:
    body = {k: v for k, v in env.items() if k != "sign"}
    out = dict(body, sign=sign_envelope(body, signer)["sign"])
    return _wire(out)


def _sub(text: str, old: str, new: str) -> str:
    """``text`` with its one occurrence of ``old`` replaced (a generator bug otherwise)."""
    if text.count(old) != 1:
        raise AssertionError(f"{old!r} occurs {text.count(old)} times")
    return text.replace(old, new)


def _error_classes() -> dict[str, list[str]]:
    """Every error class a receiver reports, with its ancestors up to ``RemoteError``."""
    out: dict[str, list[str]] = {}
    for name in CHECK:
        cls = getattr(errors, name)
        out[name] = [
            c.__name__
            for c in cls.__mro__[1:]
            if issubclass(c, errors.RemoteError) and c.__module__ == errors.__name__
        ]
    return out


def _cases() -> list[dict[str, Any]]:
    probing = {ALICE.fingerprint: "probing"}
    hello = _build(_hello(1), seed=11, sender_view="untrusted")
    fact = _build(_fact(), seed=12)
    decision = _build(
        DecisionShare(
            decision=SharedDecision(choice="use the cached copy", outcome="fast"),
            dmp_trace=DmpTrace(decision_id="5e0c1f5a-6b7d-4e8f-9a0b-1c2d3e4f5a6b"),
        ),
        seed=13,
    )
    state = _build(StateUpdate(presence="engaged", lri=40, ltppeerstate="probing"), seed=14)
    intent = _build(Intent(goal="ask", topic="boiling point"), seed=15)
    unicode_fact = _build(_fact("Wasser siedet bei 100 °C; 水は100度で沸騰する 🌡", 1e-7), seed=16)
    at_past_edge = _build(_state_payload(), seed=17, at=T0 - MAX_SKEW_SECONDS)
    at_future_edge = _build(_state_payload(), seed=18, at=T0 + MAX_SKEW_SECONDS)
    past_stale = _build(_state_payload(), seed=19, at=T0 - MAX_SKEW_SECONDS - 0.001)
    future_stale = _build(_state_payload(), seed=20, at=T0 + MAX_SKEW_SECONDS + 0.001)
    to_carol = _build(_state_payload(), seed=21, to=CAROL)
    to_carol_stale = _build(_state_payload(), seed=22, to=CAROL, at=T0 - 3600)
    from_carol_same_id = _build(_state_payload(), seed=23, sender=CAROL, sender_view="probing")
    from_carol_same_id = _resigned_as(from_carol_same_id, "msg_id", state["msg_id"], CAROL)

    hello_wire = _wire(hello)
    fact_wire = _wire(fact)
    state_wire = _wire(state)
    max_bytes = CIP_SPEC.limits.max_bytes
    fact_len = len(fact_wire.encode("utf-8"))

    cases: list[dict[str, Any]] = [
        # --- accepted ---------------------------------------------------------------------
        _ok("hello_from_untrusted", "A HELLO from an unknown (untrusted) peer.", hello_wire, {}),
        _ok("fact_propose_from_probing", "A FACT_PROPOSE from a probing peer.", fact_wire, probing),
        _ok(
            "decision_share_from_trusted",
            "A DECISION_SHARE from a trusted peer (absent payload members take defaults).",
            _wire(decision),
            {ALICE.fingerprint: "trusted"},
        ),
        _ok(
            "state_update_from_probing", "A STATE_UPDATE from a probing peer.", state_wire, probing
        ),
        _ok("intent_from_probing", "An INTENT from a probing peer.", _wire(intent), probing),
        _ok(
            "non_ascii_strings_and_small_number",
            "Non-ASCII text (raw UTF-8 in the canonical form, including a character outside "
            "the BMP) and confidence 1e-7 (ECMAScript form `1e-7`).",
            _wire(unicode_fact),
            probing,
        ),
        _ok(
            "non_canonical_wire_text",
            "The fact envelope sent as indented JSON with keys in another order: the "
            "signature covers the RFC 8785 form of the decoded value, not the bytes.",
            json.dumps(dict(reversed(list(fact.items()))), indent=1, ensure_ascii=True),
            probing,
        ),
        _ok(
            "timestamp_at_past_edge",
            "Sent exactly 120 s before the receiver's time: the skew bound is inclusive.",
            _wire(at_past_edge),
            probing,
        ),
        _ok(
            "timestamp_at_future_edge",
            "Sent exactly 120 s after the receiver's time: the skew bound is inclusive.",
            _wire(at_future_edge),
            probing,
        ),
        _ok(
            "size_exactly_at_limit",
            f"The fact envelope followed by ASCII spaces up to exactly {max_bytes} bytes.",
            fact_wire,
            probing,
            pad_spaces=max_bytes - fact_len,
        ),
        _ok(
            "same_msg_id_from_another_sender",
            "carol reuses the msg_id bob already accepted from alice: replay keys include "
            "the sender, so it is not a replay.",
            _wire(from_carol_same_id),
            {ALICE.fingerprint: "probing", CAROL.fingerprint: "probing"},
            prior=[state_wire],
        ),
        # --- check 1: size, syntax, structure ---------------------------------------------
        _bad(
            "oversize_by_one_byte",
            f"The fact envelope padded with spaces to {max_bytes + 1} bytes: refused before "
            "it is parsed.",
            fact_wire,
            probing,
            "InvalidEnvelopeError",
            pad_spaces=max_bytes + 1 - fact_len,
        ),
        _bad(
            "version_2_0",
            'cip: "2.0", correctly signed: an unknown version is refused by check 1.',
            _edited(state, _set("cip", "2.0"), resign=True),
            probing,
            "InvalidEnvelopeError",
        ),
        _bad(
            "version_2_0_bad_signature",
            'cip: "2.0" and a signature that does not verify: the version is checked first.',
            _edited(state, _set("cip", "2.0"), resign=False),
            probing,
            "InvalidEnvelopeError",
        ),
        _bad(
            "duplicate_key",
            'The member "type" appears twice (same value) in the wire text.',
            _sub(
                state_wire, '"type":"STATE_UPDATE"', '"type":"STATE_UPDATE","type":"STATE_UPDATE"'
            ),
            probing,
            "InvalidEnvelopeError",
        ),
        _bad(
            "nan_number",
            "payload.fact.confidence is the non-JSON literal NaN.",
            _sub(fact_wire, '"confidence":0.9', '"confidence":NaN'),
            probing,
            "InvalidEnvelopeError",
        ),
        _bad(
            "infinity_number",
            "payload.fact.confidence is the non-JSON literal Infinity.",
            _sub(fact_wire, '"confidence":0.9', '"confidence":Infinity'),
            probing,
            "InvalidEnvelopeError",
        ),
        _bad(
            "number_overflows_double",
            "payload.fact.confidence is 1e400, which no IEEE 754 double carries.",
            _sub(fact_wire, '"confidence":0.9', '"confidence":1e400'),
            probing,
            "InvalidEnvelopeError",
        ),
        _bad(
            "not_utf8",
            "A byte 0xff inside payload.fact.statement: the text is not UTF-8.",
            None,
            probing,
            "InvalidEnvelopeError",
            wire_base64=base64.b64encode(
                fact_wire.encode("utf-8").replace(b"water boils", b"water\xffboils")
            ).decode(),
        ),
        _bad(
            "malformed_json",
            "The wire text is cut off before its last byte.",
            fact_wire[:-1],
            probing,
            "InvalidEnvelopeError",
        ),
        _bad(
            "not_an_object",
            "A JSON array, not an object.",
            "[" + fact_wire + "]",
            probing,
            "InvalidEnvelopeError",
        ),
        _bad(
            "nested_too_deep",
            "payload.fact.context replaced by 8 nested arrays (depth 12 > 8): refused "
            "before the structure is read.",
            _sub(fact_wire, '"context":""', '"context":[[[[[[[[]]]]]]]]'),
            probing,
            "InvalidEnvelopeError",
        ),
        _ok(
            "unknown_top_level_member",
            'An extra member "extra": 1, correctly signed: accepted and ignored (objects are '
            "open, as in the original; the signature covers the member).",
            _edited(state, _set("extra", 1), resign=True),
            probing,
        ),
        _bad(
            "unknown_sign_member",
            'An extra member in sign ("sign.extra": 1) after signing: sign is the one block '
            "the signature does not cover, so it is closed.",
            _edited(state, _set("sign.extra", 1), resign=False),
            probing,
            "InvalidEnvelopeError",
        ),
        _bad(
            "missing_sign",
            "The sign member is absent.",
            _edited(state, _drop("sign"), resign=False),
            probing,
            "InvalidEnvelopeError",
        ),
        _bad(
            "wrong_sign_algo",
            'sign.algo is "rsa".',
            _edited(state, _set("sign.algo", "rsa"), resign=False),
            probing,
            "InvalidEnvelopeError",
        ),
        _ok(
            "uppercase_msg_id",
            "msg_id in uppercase, correctly signed: accepted (any UUID case and version, "
            "as the original's format: uuid; compared and remembered in lower case).",
            _edited(state, _set("msg_id", state["msg_id"].upper()), resign=True),
            probing,
        ),
        _bad(
            "timestamp_with_space_separator",
            "timestamp 2026-01-01 00:00:00.000Z (a space, not T), correctly signed: not an "
            "RFC 3339 date-time.",
            _edited(state, _set("timestamp", "2026-01-01 00:00:00.000Z"), resign=True),
            probing,
            "InvalidEnvelopeError",
        ),
        _bad(
            "unknown_message_type",
            'type "GOODBYE", correctly signed.',
            _edited(state, _set("type", "GOODBYE"), resign=True),
            probing,
            "InvalidEnvelopeError",
        ),
        _bad(
            "lri_out_of_range",
            "state.lri is 101, correctly signed.",
            _edited(state, _set("state.lri", 101), resign=True),
            probing,
            "InvalidEnvelopeError",
        ),
        # --- check 2: payload shape -------------------------------------------------------
        _bad(
            "confidence_above_one",
            "payload.fact.confidence is 1.5, correctly signed.",
            _edited(fact, _set("payload.fact.confidence", 1.5), resign=True),
            probing,
            "PayloadSchemaError",
        ),
        _bad(
            "unknown_intent_goal",
            'payload.goal is "conquer", correctly signed.',
            _edited(intent, _set("payload.goal", "conquer"), resign=True),
            probing,
            "PayloadSchemaError",
        ),
        _bad(
            "unknown_payload_member_bad_signature",
            "An extra payload member added after signing: the member itself is accepted "
            "(objects are open) but the signature covers it, so check 3 refuses.",
            _edited(intent, _set("payload.extra", True), resign=False),
            probing,
            "SignatureMismatchError",
        ),
        _bad(
            "bad_payload_bad_signature",
            'payload.goal "conquer" and a signature that does not verify: the payload '
            "shape (check 2) is checked before the signature (check 3).",
            _edited(intent, _set("payload.goal", "conquer"), resign=False),
            probing,
            "PayloadSchemaError",
        ),
        # --- check 3: fingerprint and signature -------------------------------------------
        _bad(
            "wrong_fingerprint",
            "sender.fingerprint is carol's while sender.pubkey is alice's (signed by alice).",
            _edited(state, _set("sender.fingerprint", CAROL.fingerprint), resign=True),
            {CAROL.fingerprint: "probing", ALICE.fingerprint: "probing"},
            "FingerprintMismatchError",
        ),
        _bad(
            "tampered_payload",
            "payload.fact.statement changed after signing.",
            _edited(fact, _set("payload.fact.statement", "water boils at 90 C"), resign=False),
            probing,
            "SignatureMismatchError",
        ),
        _bad(
            "tampered_timestamp",
            "timestamp moved by 1 ms after signing.",
            _edited(state, _set("timestamp", "2026-01-01T00:00:00.001Z"), resign=False),
            probing,
            "SignatureMismatchError",
        ),
        _bad(
            "tampered_trust_view",
            "trust.sender_view changed after signing (informational, but signed).",
            _edited(state, _set("trust.sender_view", "trusted"), resign=False),
            probing,
            "SignatureMismatchError",
        ),
        _bad(
            "signature_bit_flipped",
            "One bit of the signature flipped.",
            _flip_bit(state),
            probing,
            "SignatureMismatchError",
        ),
        _bad(
            "signature_by_another_key",
            "Claims alice (pubkey and fingerprint) but signed with carol's key.",
            _signed_by(state, CAROL),
            probing,
            "SignatureMismatchError",
        ),
        _bad(
            "signature_s_not_reduced",
            "The valid signature with S replaced by S + L (the group order): the same "
            "point equation holds, but strict verification refuses S >= L (malleability).",
            _signature_with_s_plus_l(state),
            probing,
            "SignatureMismatchError",
        ),
        _bad(
            "signature_all_zero",
            "sign.signature is 64 zero bytes.",
            _edited(
                state, _set("sign.signature", base64.b64encode(bytes(64)).decode()), resign=False
            ),
            probing,
            "SignatureMismatchError",
        ),
        # --- check 4: receiver -----------------------------------------------------------
        _bad(
            "addressed_to_another_agent",
            "A correctly signed envelope addressed to carol, delivered to bob.",
            _wire(to_carol),
            probing,
            "ReceiverMismatchError",
        ),
        _bad(
            "addressed_to_another_agent_and_stale",
            "Addressed to carol and an hour old: the receiver (check 4) is checked first.",
            _wire(to_carol_stale),
            probing,
            "ReceiverMismatchError",
        ),
        # --- check 5: timestamp ----------------------------------------------------------
        _bad(
            "stale_timestamp",
            "Sent 120.001 s before the receiver's time.",
            _wire(past_stale),
            probing,
            "TimestampError",
        ),
        _bad(
            "future_timestamp",
            "Sent 120.001 s after the receiver's time.",
            _wire(future_stale),
            probing,
            "TimestampError",
        ),
        _bad(
            "impossible_date",
            "timestamp 2026-02-30T00:00:00.000Z, correctly signed: the right shape, not a date.",
            _edited(state, _set("timestamp", "2026-02-30T00:00:00.000Z"), resign=True),
            probing,
            "TimestampError",
        ),
        # --- check 6: replay -------------------------------------------------------------
        _bad(
            "replay_same_bytes",
            "The same envelope delivered a second time.",
            state_wire,
            probing,
            "ReplayError",
            prior=[state_wire],
        ),
        _bad(
            "replay_reformatted",
            "The same envelope again, re-encoded with whitespace: replay is by "
            "(sender.fingerprint, msg_id), not by bytes.",
            json.dumps(json.loads(state_wire), indent=2),
            probing,
            "ReplayError",
            prior=[state_wire],
        ),
        # --- check 7: trust --------------------------------------------------------------
        _bad(
            "decision_share_from_probing",
            "DECISION_SHARE needs a trusted sender; alice is probing.",
            _wire(decision),
            probing,
            "TrustViolationError",
        ),
        _bad(
            "intent_from_untrusted",
            "An unknown (untrusted) peer may only send HELLO.",
            _wire(intent),
            {},
            "TrustViolationError",
        ),
        _bad(
            "hello_from_blacklisted",
            "A blacklisted peer may send nothing, not even HELLO.",
            hello_wire,
            {ALICE.fingerprint: "blacklisted"},
            "TrustViolationError",
        ),
    ]
    return cases


def _state_payload() -> StateUpdate:
    return StateUpdate(presence="focused", lri=20, ltppeerstate="probing")


def _resigned_as(env: Env, key: str, value: Any, signer: Identity) -> Env:
    body = {k: v for k, v in env.items() if k != "sign"}
    body[key] = value
    return sign_envelope(body, signer)


def _case(
    name: str,
    description: str,
    wire: str | None,
    trust: dict[str, str],
    expect: dict[str, Any],
    *,
    pad_spaces: int = 0,
    wire_base64: str | None = None,
    prior: list[str] | None = None,
) -> dict[str, Any]:
    case: dict[str, Any] = {"name": name, "description": description, "now": T0}
    case["trust"] = trust
    if prior:
        case["prior"] = prior
    if wire is not None:
        case["wire"] = wire
    if wire_base64 is not None:
        case["wire_base64"] = wire_base64
    if pad_spaces:
        case["pad_spaces"] = pad_spaces
    case["expect"] = expect
    return case


def _ok(
    name: str,
    description: str,
    wire: str,
    trust: dict[str, str],
    *,
    pad_spaces: int = 0,
    prior: list[str] | None = None,
) -> dict[str, Any]:
    msg_type = json.loads(wire)["type"]
    return _case(
        name,
        description,
        wire,
        trust,
        {"result": "accept", "type": msg_type},
        pad_spaces=pad_spaces,
        prior=prior,
    )


def _bad(
    name: str,
    description: str,
    wire: str | None,
    trust: dict[str, str],
    error: str,
    *,
    pad_spaces: int = 0,
    wire_base64: str | None = None,
    prior: list[str] | None = None,
) -> dict[str, Any]:
    return _case(
        name,
        description,
        wire,
        trust,
        {"result": "refuse", "error": error, "check": CHECK[error]},
        pad_spaces=pad_spaces,
        wire_base64=wire_base64,
        prior=prior,
    )


def wire_bytes(case: dict[str, Any]) -> bytes:
    """The exact bytes a case delivers (``wire`` as UTF-8 or ``wire_base64``, then
    ``pad_spaces`` ASCII spaces)."""
    if "wire_base64" in case:
        data = base64.b64decode(case["wire_base64"])
    else:
        data = str(case["wire"]).encode("utf-8")
    return data + b" " * int(case.get("pad_spaces", 0))


def render_cip_envelopes() -> str:
    """The text of ``docs/conformance/cip_envelopes.json``."""
    doc = {
        "format": FORMAT,
        "description": (
            "CIP/1.0 envelopes delivered to one receiver (bob). For each case: set the "
            "receiver's clock to `now` (seconds since the Unix epoch, UTC), its trust state "
            "for each sender fingerprint to `trust` (absent: untrusted), deliver each "
            "envelope of `prior` (each must be accepted), then deliver the case's bytes "
            "(`wire` encoded as UTF-8, or `wire_base64` decoded, followed by `pad_spaces` "
            "ASCII spaces). `expect.result` is `accept` (with the message `type`) or "
            "`refuse` with the error class of the first failing check of docs/CIP_SPEC.md "
            "section 5 and that check's number."
        ),
        "generated_by": "python -m web4.conformance (web4/conformance/cip_envelopes.py)",
        "spec": "docs/CIP_SPEC.md sections 1, 2 and 5",
        "receiver": {
            "identity": "bob",
            "max_skew_seconds": MAX_SKEW_SECONDS,
            "replay_window_seconds": MAX_SKEW_SECONDS,
            "max_bytes": CIP_SPEC.limits.max_bytes,
            "max_depth": CIP_SPEC.limits.max_depth,
            "trust_policy": {state: sorted(types) for state, types in CIP_TRUST_POLICY.items()},
        },
        "identities": {
            name: {
                "seed_hex": hashlib.sha256(f"web4 conformance {name}".encode()).hexdigest(),
                "seed_derivation": f'SHA-256 of the UTF-8 text "web4 conformance {name}"',
                "agent_id": ident.agent_id,
                "public_key_base64": ident.public_key_b64,
                "fingerprint": ident.fingerprint,
            }
            for name, ident in IDENTITIES.items()
        },
        "errors": {
            name: {"check": CHECK[name], "subclass_of": bases}
            for name, bases in _error_classes().items()
        },
        "cases": _cases(),
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
