"""HCP/1.0 and LIP/1.0 envelope vectors: signed envelopes a receiver must accept or refuse.

Theory of operation: as ``cip_envelopes`` (same identities, same fixed time ``T0``, same
case format), for the two other protocols. alice sends (a human for HCP, an agent peer for
LIP), bob is the node that validates, carol a third party. Envelopes are built with the
product's builders (``build_hcp``, ``build_lip``) or, for the original specifications'
shapes (no ``sender.pubkey``, no ``trust``/``state``, strings where we send objects), as
dicts signed with ``sign_envelope``; refused ones are then edited to break one check of
``docs/CIP_SPEC.md`` section 5, which HCP (HCP_SPEC §3) and LIP (LIP_SPEC §1) run in the
same order with the same errors. What the receiver knows is part of each case: its trust
book (``trust``), for HCP the human keys its operator authorised (``authorized_humans``,
HCP_SPEC §9.1), and the key the transport authenticated for the link, if any
(``transport_key_base64``: over RTT the PeerId's key, used when ``sender.pubkey`` is left
out). ``render_hcp_envelopes`` and ``render_lip_envelopes`` return the file texts.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable
from typing import Any

import msgspec

from web4 import errors
from web4.clock import FakeClock, SeededRng, rfc3339
from web4.conformance.cip_envelopes import (
    ALICE,
    BOB,
    CAROL,
    IDENTITIES,
    T0,
    Env,
    _drop,
    _flip_bit,
    _set,
    _signed_by,
    _sub,
    _wire,
)
from web4.envelope.crypto import sign_envelope
from web4.envelope.validate import MAX_SKEW_SECONDS, MissingPublicKeyError
from web4.hcp.builder import build_hcp
from web4.hcp.messages import (
    HCP_SPEC,
    HcpContext,
    HcpDecision,
    HcpFeedback,
    HcpHello,
    HcpIntent,
    HcpStateUpdate,
    HumanIdentity,
    HumanState,
)
from web4.identity import Identity
from web4.lip.builder import build_lip
from web4.lip.extract import claim_id
from web4.lip.messages import (
    LIP_SPEC,
    Claim,
    ClaimConflict,
    Evidence,
    LipAccept,
    LipConflict,
    LipEvidence,
    LipFetch,
    LipReject,
    Source,
)

__all__ = [
    "CHECK",
    "HCP_FORMAT",
    "HCP_TRUST_POLICY",
    "LIP_FORMAT",
    "LIP_TRUST_POLICY",
    "error_class",
    "render_hcp_envelopes",
    "render_lip_envelopes",
]

HCP_FORMAT = "web4-conformance/hcp-envelopes/1"
LIP_FORMAT = "web4-conformance/lip-envelopes/1"

# The node's trust gates (web4.node.parts.make_validators; a unit test checks they agree):
# HCP from any key but a blacklisted one (no CIP handshake needed), LIP only from peers
# that finished one (probing or trusted).
_HCP_TYPES = sorted(HCP_SPEC.payloads)
_LIP_TYPES = sorted(LIP_SPEC.payloads)
HCP_TRUST_POLICY: dict[str, list[str]] = {
    "untrusted": _HCP_TYPES,
    "probing": _HCP_TYPES,
    "trusted": _HCP_TYPES,
    "blacklisted": [],
}
LIP_TRUST_POLICY: dict[str, list[str]] = {
    "untrusted": [],
    "probing": _LIP_TYPES,
    "trusted": _LIP_TYPES,
    "blacklisted": [],
}

# Error class -> check number of docs/CIP_SPEC.md section 5 (HCP_SPEC §2's state-update
# rule is a payload rule: check 2, applied after the seven checks).
CHECK = {
    "InvalidEnvelopeError": 1,
    "PayloadSchemaError": 2,
    "MissingPublicKeyError": 3,
    "FingerprintMismatchError": 3,
    "SignatureMismatchError": 3,
    "ReceiverMismatchError": 4,
    "TimestampError": 5,
    "ReplayError": 6,
    "TrustViolationError": 7,
}


def error_class(name: str) -> type[Exception]:
    """The class a receiver raises for the error ``name`` of ``CHECK``."""
    if name == "MissingPublicKeyError":
        return MissingPublicKeyError
    cls = getattr(errors, name)
    if not (isinstance(cls, type) and issubclass(cls, Exception)):
        raise TypeError(f"{name} is not an error class")
    return cls


def _error_table(names: set[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for name in sorted(names, key=lambda n: (CHECK[n], n)):
        bases = [
            c.__name__
            for c in error_class(name).__mro__[1:]
            if issubclass(c, errors.RemoteError) and c.__module__ == errors.__name__
        ]
        out[name] = {"check": CHECK[name], "subclass_of": bases}
    return out


def _identities() -> dict[str, dict[str, str]]:
    return {
        name: {
            "seed_hex": ident.signing_key.seed().hex(),
            "seed_derivation": f'SHA-256 of the UTF-8 text "web4 conformance {name}"',
            "agent_id": ident.agent_id,
            "public_key_base64": ident.public_key_b64,
            "fingerprint": ident.fingerprint,
        }
        for name, ident in IDENTITIES.items()
    }


def _resigned(env: Env, edit: Callable[[Env], None], signer: Identity = ALICE) -> str:
    out = copy.deepcopy(env)
    edit(out)
    return _wire(sign_envelope({k: v for k, v in out.items() if k != "sign"}, signer))


def _unsigned_edit(env: Env, edit: Callable[[Env], None]) -> str:
    out = copy.deepcopy(env)
    edit(out)
    return _wire(out)


def _drop_in(path: str) -> Callable[[Env], None]:
    *parents, last = path.split(".")

    def edit(env: Env) -> None:
        target = env
        for key in parents:
            target = target[key]
        del target[last]

    return edit


class _Cases:
    """Collects the cases of one file (a case = what the receiver knows, the bytes, the
    expected outcome)."""

    def __init__(self, default_trust: dict[str, str], hcp: bool) -> None:
        self.cases: list[dict[str, Any]] = []
        self.default_trust = default_trust
        self.hcp = hcp

    def add(
        self,
        name: str,
        description: str,
        wire: str,
        expect: dict[str, Any],
        *,
        trust: dict[str, str] | None = None,
        authorized: list[Identity] | None = None,
        transport: Identity | None = None,
        prior: list[str] | None = None,
        pad_spaces: int = 0,
        now: float = T0,
    ) -> None:
        case: dict[str, Any] = {"name": name, "description": description, "now": now}
        case["trust"] = self.default_trust if trust is None else trust
        if self.hcp:
            who = [ALICE] if authorized is None else authorized
            case["authorized_humans"] = [i.fingerprint for i in who]
        if transport is not None:
            case["transport_key_base64"] = transport.public_key_b64
        if prior:
            case["prior"] = prior
        case["wire"] = wire
        if pad_spaces:
            case["pad_spaces"] = pad_spaces
        case["expect"] = expect
        self.cases.append(case)

    def ok(self, name: str, description: str, wire: str, **kw: Any) -> None:
        expect: dict[str, Any] = {"result": "accept", "type": json.loads(wire)["type"]}
        extra = kw.pop("expect", {})
        self.add(name, description, wire, {**expect, **extra}, **kw)

    def bad(self, name: str, description: str, wire: str, error: str, **kw: Any) -> None:
        expect = {"result": "refuse", "error": error, "check": CHECK[error]}
        self.add(name, description, wire, expect, **kw)


# --- HCP ------------------------------------------------------------------------------

HUMAN = HumanState(
    presence="engaged", affect="calm", clarity=75, pressure=25, intent="plan the week",
    consent="granted",
)  # fmt: skip


def _hcp(payload: Any, *, seed: int, at: float = T0, sender: Identity = ALICE) -> Env:
    return build_hcp(
        sender,
        receiver_id=BOB.agent_id,
        receiver_fingerprint=BOB.fingerprint,
        payload=payload,
        human=HUMAN,
        clock=FakeClock(at),
        rng=SeededRng(seed),
        sender_view="probing",
    )


def _hcp_hello() -> HcpHello:
    return HcpHello(HumanIdentity("Alice", "operator"), ["topic:work"], ["slow_pacing"])


def _original_hcp_hello(*, timestamp: str, msg_id: str, pubkey: bool = False) -> Env:
    """The original specification's HCP_HELLO (no trust block, no sender.pubkey unless
    ``pubkey``), signed by alice."""
    sender: Env = {"agent_id": ALICE.agent_id, "fingerprint": ALICE.fingerprint}
    if pubkey:
        sender["pubkey"] = ALICE.public_key_b64
    body: Env = {
        "hcp": "1.0",
        "msg_id": msg_id,
        "type": "HCP_HELLO",
        "timestamp": timestamp,
        "sender": sender,
        "receiver": {"agent_id": BOB.agent_id, "fingerprint": BOB.fingerprint},
        "state": {"human": msgspec.to_builtins(HUMAN)},
        "payload": {
            "identity": {"name": "Alice", "role": "operator"},
            "consent_scope": ["topic:work"],
            "safety_flags": ["slow_pacing"],
        },
    }
    return sign_envelope(body, ALICE)


_V1_ID = "6BA7B810-9DAD-11D1-80B4-00C04FD430C8"  # an upper-case version-1 UUID (RFC 4122)


def _hcp_cases() -> list[dict[str, Any]]:
    c = _Cases({}, hcp=True)
    probing = {ALICE.fingerprint: "probing"}
    hello = _hcp(_hcp_hello(), seed=31)
    hello_wire = _wire(hello)
    intent = _hcp(HcpIntent("decide", "work/hiring", "normal"), seed=32)
    context = _hcp(HcpContext("we hire two people", ["budget fixed"], []), seed=33)
    decision = _hcp(
        HcpDecision("hire Dana", "best fit for the team", ["hire Sam", "wait a month"], ""),
        seed=34,
    )
    feedback = _hcp(HcpFeedback("good summary", [], 80), seed=35)
    state = _hcp(HcpStateUpdate("engaged", "calm", 75, 25, "granted"), seed=36)
    max_bytes = HCP_SPEC.limits.max_bytes
    hello_len = len(hello_wire.encode("utf-8"))

    # --- accepted ---------------------------------------------------------------------
    c.ok(
        "hello_from_authorised_human",
        "An HCP_HELLO from alice, whose key the operator authorised: acted on (a session "
        "starts; HCP_SPEC §9).",
        hello_wire,
        expect={"acted_on": True},
    )
    c.ok(
        "hello_from_unknown_human",
        "The same HCP_HELLO to a node whose operator authorised nobody: the envelope is "
        "valid, but nothing is acted on; the only answer is the signed not_authorized "
        "refusal (HCP_SPEC §9.1).",
        hello_wire,
        authorized=[],
        expect={"acted_on": False},
    )
    c.ok(
        "hello_authorised_another_key",
        "The operator authorised carol, not alice: alice's HCP_HELLO is not acted on.",
        hello_wire,
        authorized=[CAROL],
        expect={"acted_on": False},
    )
    for name, env, what in (
        ("intent", intent, "An HCP_INTENT (goal decide)"),
        ("context", context, "An HCP_CONTEXT"),
        ("decision", decision, "An HCP_DECISION with its rationale and two alternatives"),
        ("feedback", feedback, "An HCP_FEEDBACK (satisfaction 80, no corrections)"),
        ("state_update", state, "An HCP_STATE_UPDATE equal to the envelope's state.human"),
    ):
        c.ok(f"{name}_from_authorised_human", f"{what} from alice.", _wire(env),
             expect={"acted_on": True})  # fmt: skip
    c.ok(
        "hello_from_probing_cip_peer",
        "alice also finished a CIP handshake (probing in the trust book): HCP is admitted "
        "with or without one.",
        hello_wire,
        trust=probing,
        expect={"acted_on": True},
    )
    original = _original_hcp_hello(timestamp="2026-01-01T01:00:00+01:00", msg_id=_V1_ID)
    c.ok(
        "original_hello_without_pubkey_transport_key",
        "The original's HCP_HELLO: no trust block, no sender.pubkey, an offset timestamp "
        "(the receiver's instant), an upper-case version-1 msg_id; the transport "
        "authenticated alice's key, which verifies the signature (HCP_SPEC §1, H2-H4).",
        _wire(original),
        transport=ALICE,
        expect={"acted_on": True},
    )
    c.ok(
        "original_hello_with_pubkey",
        "The original's HCP_HELLO with sender.pubkey and no transport key: no trust "
        "block is needed.",
        _wire(_original_hcp_hello(timestamp="2026-01-01T00:00:00Z", msg_id=_V1_ID, pubkey=True)),
        expect={"acted_on": True},
    )
    for name, stamp, what in (
        ("timestamp_offset", "2026-01-01T01:00:00+01:00", "a numeric offset, no fraction"),
        ("timestamp_negative_zero_offset", "2025-12-31T23:59:00-00:00", "offset -00:00"),
        ("timestamp_lowercase_t_z", "2025-12-31t23:59:59.5z", "lower-case t and z"),
        ("timestamp_nanoseconds", "2026-01-01T00:00:00.123456789Z", "nine fraction digits"),
        ("timestamp_leap_second", "2025-12-31T23:59:60Z",
         "a leap second (read as the next day's first second)"),
    ):  # fmt: skip
        c.ok(
            name,
            f"timestamp {stamp} ({what}), correctly signed: any RFC 3339 date-time.",
            _resigned(hello, _set("timestamp", stamp)),
            expect={"acted_on": True},
        )
    c.ok(
        "uppercase_msg_id",
        "msg_id in upper case, correctly signed (any UUID case and version).",
        _resigned(hello, _set("msg_id", hello["msg_id"].upper())),
        expect={"acted_on": True},
    )

    def open_members(env: Env) -> None:
        env["x_top"] = 1
        env["sender"]["x_client"] = "original-client/1.0"
        env["state"]["human"]["x_mood_detail"] = "rested"
        env["payload"]["x_locale"] = "de-DE"

    c.ok(
        "unknown_members",
        "Members the original leaves open (top level, sender, state.human, payload), "
        "correctly signed: accepted and ignored.",
        _resigned(hello, open_members),
        expect={"acted_on": True},
    )
    c.ok(
        "size_exactly_at_limit",
        f"The HCP_HELLO followed by ASCII spaces up to exactly {max_bytes} bytes.",
        hello_wire,
        pad_spaces=max_bytes - hello_len,
        expect={"acted_on": True},
    )
    # --- check 1 -----------------------------------------------------------------------
    c.bad(
        "oversize_by_one_byte",
        f"The HCP_HELLO padded with spaces to {max_bytes + 1} bytes.",
        hello_wire,
        "InvalidEnvelopeError",
        pad_spaces=max_bytes + 1 - hello_len,
    )
    c.bad("version_2_0", 'hcp: "2.0", correctly signed.',
          _resigned(hello, _set("hcp", "2.0")), "InvalidEnvelopeError")  # fmt: skip
    c.bad(
        "also_a_cip_envelope",
        'An extra member "cip": "1.0", correctly signed: one protocol per envelope.',
        _resigned(hello, _set("cip", "1.0")),
        "InvalidEnvelopeError",
    )
    c.bad(
        "sign_with_extra_member",
        'An extra member in sign ("sign.extra": 1): the one closed block.',
        _unsigned_edit(hello, _set("sign.extra", 1)),
        "InvalidEnvelopeError",
    )
    c.bad(
        "unknown_message_type",
        'type "HCP_GOODBYE", correctly signed.',
        _resigned(hello, _set("type", "HCP_GOODBYE")),
        "InvalidEnvelopeError",
    )
    c.bad(
        "human_state_without_consent",
        "state.human lacks consent (all six members are required), correctly signed.",
        _resigned(hello, _drop_in("state.human.consent")),
        "InvalidEnvelopeError",
    )
    c.bad(
        "clarity_above_100",
        "state.human.clarity is 101, correctly signed.",
        _resigned(hello, _set("state.human.clarity", 101)),
        "InvalidEnvelopeError",
    )
    c.bad(
        "timestamp_with_space_separator",
        "timestamp 2026-01-01 00:00:00.000Z, correctly signed: not RFC 3339.",
        _resigned(hello, _set("timestamp", "2026-01-01 00:00:00.000Z")),
        "InvalidEnvelopeError",
    )
    c.bad(
        "msg_id_not_a_uuid",
        'msg_id "hello-1", correctly signed.',
        _resigned(hello, _set("msg_id", "hello-1")),
        "InvalidEnvelopeError",
    )
    c.bad("missing_sign", "The sign member is absent.",
          _unsigned_edit(hello, _drop("sign")), "InvalidEnvelopeError")  # fmt: skip
    # --- check 2 -----------------------------------------------------------------------
    c.bad(
        "scope_not_a_topic_path",
        'payload.consent_scope ["work"] (not topic:<path>; H5), correctly signed.',
        _resigned(hello, _set("payload.consent_scope", ["work"])),
        "PayloadSchemaError",
    )
    c.bad(
        "unknown_safety_flag",
        'payload.safety_flags ["be_nice"] (H6), correctly signed.',
        _resigned(hello, _set("payload.safety_flags", ["be_nice"])),
        "PayloadSchemaError",
    )
    c.bad(
        "decision_without_rationale",
        "An HCP_DECISION whose rationale is empty, correctly signed.",
        _resigned(decision, _set("payload.rationale", "")),
        "PayloadSchemaError",
    )
    c.bad(
        "decision_without_alternatives",
        "An HCP_DECISION with no alternatives, correctly signed.",
        _resigned(decision, _set("payload.alternatives", [])),
        "PayloadSchemaError",
    )
    c.bad(
        "state_update_disagrees_with_state",
        "An HCP_STATE_UPDATE whose payload says pressure 90 while state.human says 25, "
        "correctly signed: the HCP_SPEC §2 rule, checked after the seven checks.",
        _resigned(state, _set("payload.pressure", 90)),
        "PayloadSchemaError",
    )
    # --- check 3 -----------------------------------------------------------------------
    no_pubkey = _resigned(hello, _drop_in("sender.pubkey"))
    c.bad(
        "missing_pubkey_no_transport_key",
        "No sender.pubkey and no key authenticated by the transport: nothing to verify "
        "the signature with.",
        no_pubkey,
        "MissingPublicKeyError",
    )
    c.ok(
        "missing_pubkey_with_transport_key",
        "No sender.pubkey; the transport authenticated alice's key.",
        no_pubkey,
        transport=ALICE,
        expect={"acted_on": True},
    )
    c.bad(
        "missing_pubkey_other_transport_key",
        "No sender.pubkey; the transport authenticated carol's key, not alice's "
        "(sender.fingerprint).",
        no_pubkey,
        "FingerprintMismatchError",
        transport=CAROL,
    )
    c.bad(
        "missing_pubkey_signed_by_another_key",
        "No sender.pubkey, the transport authenticated alice, but carol signed.",
        _resigned(hello, _drop_in("sender.pubkey"), signer=CAROL),
        "SignatureMismatchError",
        transport=ALICE,
    )
    c.bad(
        "wrong_fingerprint",
        "sender.fingerprint is carol's, sender.pubkey alice's (signed by alice).",
        _resigned(hello, _set("sender.fingerprint", CAROL.fingerprint)),
        "FingerprintMismatchError",
        authorized=[ALICE, CAROL],
    )
    c.bad(
        "tampered_human_state",
        "state.human.consent changed to revoked after signing.",
        _unsigned_edit(hello, _set("state.human.consent", "revoked")),
        "SignatureMismatchError",
    )
    c.bad("signature_bit_flipped", "One bit of the signature flipped.",
          _flip_bit(hello), "SignatureMismatchError")  # fmt: skip
    c.bad(
        "signature_by_another_key",
        "Claims alice (pubkey and fingerprint) but signed with carol's key.",
        _signed_by(hello, CAROL),
        "SignatureMismatchError",
    )
    # --- checks 4-7 --------------------------------------------------------------------
    to_carol = build_hcp(
        ALICE, receiver_id=CAROL.agent_id, receiver_fingerprint=CAROL.fingerprint,
        payload=_hcp_hello(), human=HUMAN, clock=FakeClock(T0), rng=SeededRng(37),
    )  # fmt: skip
    c.bad("addressed_to_another_agent", "A valid HCP_HELLO addressed to carol.",
          _wire(to_carol), "ReceiverMismatchError")  # fmt: skip
    c.bad(
        "stale_timestamp",
        "Sent 120.001 s before the receiver's time.",
        _wire(_hcp(_hcp_hello(), seed=38, at=T0 - MAX_SKEW_SECONDS - 0.001)),
        "TimestampError",
    )
    c.bad(
        "future_offset_timestamp",
        "timestamp 2026-01-01T02:02:01+02:00 (121 s ahead, in an offset form), signed.",
        _resigned(hello, _set("timestamp", "2026-01-01T02:02:01+02:00")),
        "TimestampError",
    )
    c.bad(
        "impossible_date",
        "timestamp 2026-02-30T00:00:00Z, correctly signed: not a date.",
        _resigned(hello, _set("timestamp", "2026-02-30T00:00:00Z")),
        "TimestampError",
    )
    c.bad("replay_same_bytes", "The same HCP_HELLO delivered a second time.", hello_wire,
          "ReplayError", prior=[hello_wire])  # fmt: skip
    c.bad(
        "replay_uppercase_msg_id",
        "The HCP_HELLO again, its msg_id in upper case and re-signed: ids are compared in "
        "lower case, so this is a replay.",
        _resigned(hello, _set("msg_id", hello["msg_id"].upper())),
        "ReplayError",
        prior=[hello_wire],
    )
    c.bad(
        "hello_from_blacklisted",
        "A key blacklisted in the node's CIP trust book may send nothing, HCP included.",
        hello_wire,
        "TrustViolationError",
        trust={ALICE.fingerprint: "blacklisted"},
    )
    return c.cases


# --- LIP ------------------------------------------------------------------------------

URI = "https://example.org/water"
SOURCE = Source(uri=URI, trust_tier="medium", retrieved_at=rfc3339(T0 - 60))
STATEMENTS = (
    "Water boils at 100 degrees Celsius at sea level.",
    "Ice melts at 0 degrees Celsius under normal pressure.",
)
BODY_SHA256 = hashlib.sha256(b"<p>" + STATEMENTS[0].encode() + b"</p>").hexdigest()


def _lip(payload: Any, *, seed: int, at: float = T0, to: Identity = BOB) -> Env:
    return build_lip(
        ALICE,
        receiver_id=to.agent_id,
        receiver_fingerprint=to.fingerprint,
        payload=payload,
        source=SOURCE,
        clock=FakeClock(at),
        rng=SeededRng(seed),
    )


def _evidence() -> LipEvidence:
    return LipEvidence(
        claims=[Claim(claim_id(s), s, f"p[{i}]") for i, s in enumerate(STATEMENTS)],
        evidence=Evidence(
            uri=URI, final_uri=URI, retrieved_at=rfc3339(T0 - 60), sha256=BODY_SHA256,
            content_type="text/html", size=58,
        ),
        confidence=0.7,
    )  # fmt: skip


def _original_lip(msg_type: str, payload: Env, *, msg_id: str) -> Env:
    """An envelope as the original LIP writes it: no trust, no state, no sender.pubkey,
    an offset timestamp; signed by alice."""
    body: Env = {
        "lip": "1.0",
        "msg_id": msg_id,
        "type": msg_type,
        "timestamp": "2026-01-01T01:00:00+01:00",
        "sender": {"agent_id": ALICE.agent_id, "fingerprint": ALICE.fingerprint},
        "receiver": {"agent_id": BOB.agent_id, "fingerprint": BOB.fingerprint},
        "source": {"uri": URI, "trust_tier": "medium", "retrieved_at": "2025-12-31T23:59:00Z"},
        "payload": payload,
    }
    return sign_envelope(body, ALICE)


def _lip_cases() -> list[dict[str, Any]]:
    probing = {ALICE.fingerprint: "probing"}
    c = _Cases(probing, hcp=False)
    fetch = _lip(LipFetch(URI, ["no_personal_data"]), seed=41)
    evidence = _lip(_evidence(), seed=42)
    evidence_wire = _wire(evidence)
    ids = [claim_id(s) for s in STATEMENTS]
    conflict = _lip(LipConflict([ClaimConflict(ids[0], "fact-17", "local says 99")], ["fact-17"],
                                "medium"), seed=43)  # fmt: skip
    accept = _lip(LipAccept("accept", [ids[0]], "two trusted confirmations"), seed=44)
    reject = _lip(LipReject("reject", [ids[1]], "contradicts local knowledge"), seed=45)
    original_evidence = _original_lip(
        "LIP_EVIDENCE",
        {
            "claims": list(STATEMENTS),
            "evidence": ["https://example.org/water#p0", "sha256:" + BODY_SHA256],
            "confidence": 0.7,
        },
        msg_id=_V1_ID,
    )
    max_bytes = LIP_SPEC.limits.max_bytes
    evidence_len = len(evidence_wire.encode("utf-8"))

    # --- accepted ---------------------------------------------------------------------
    c.ok("fetch_from_probing", "A LIP_FETCH of an https URI from a probing peer.", _wire(fetch))
    c.ok(
        "evidence_from_probing",
        "A LIP_EVIDENCE with two claims and the provenance object; expect.claim_ids are "
        "the claims the receiver takes (LIP_SPEC §2).",
        evidence_wire,
        expect={"claim_ids": ids},
    )
    c.ok("evidence_from_trusted", "The same LIP_EVIDENCE from a trusted peer.", evidence_wire,
         trust={ALICE.fingerprint: "trusted"}, expect={"claim_ids": ids})  # fmt: skip
    c.ok("conflict_objects", "A LIP_CONFLICT with a conflict object.", _wire(conflict))
    c.ok("accept_with_claim_ids", "A LIP_ACCEPT naming its claim.", _wire(accept))
    c.ok("reject_with_claim_ids", "A LIP_REJECT naming its claim.", _wire(reject))
    c.ok(
        "original_evidence_strings",
        "The original's LIP_EVIDENCE: claims and evidence as lists of strings; no trust, "
        "state or sender.pubkey (the transport authenticated alice); an offset timestamp "
        "and an upper-case version-1 msg_id. Each claim string is named by its claim_id "
        "(LIP_SPEC §2, §3), so it corroborates the same claims as the object form.",
        _wire(original_evidence),
        transport=ALICE,
        expect={"claim_ids": ids},
    )
    c.ok(
        "original_fetch_query",
        'The original\'s LIP_FETCH: query "boiling point of water" (any string; this '
        "node accepts it and its fetch fails, L6).",
        _wire(_original_lip("LIP_FETCH", {"query": "boiling point of water"}, msg_id=_V1_ID)),
        transport=ALICE,
    )
    c.ok(
        "original_conflict_strings",
        "The original's LIP_CONFLICT: conflicts as strings (recorded only, L8).",
        _wire(
            _original_lip(
                "LIP_CONFLICT",
                {"conflicts": ["boiling point differs"], "local_refs": [], "severity": "low"},
                msg_id=_V1_ID,
            )
        ),
        transport=ALICE,
    )
    c.ok(
        "original_reject_without_claim_ids",
        "The original's LIP_REJECT: decision, reason and agent ids as corroborators, no "
        "claim_ids (it decides no claim here, L9).",
        _wire(
            _original_lip(
                "LIP_REJECT",
                {"decision": "reject", "reason": "contradicted", "corroborators": ["bob"]},
                msg_id=_V1_ID,
            )
        ),
        transport=ALICE,
    )
    c.ok(
        "retrieved_at_offset_form",
        "source.retrieved_at 2025-12-31T23:59:00.5-05:00 (any RFC 3339 date-time), signed.",
        _resigned(evidence, _set("source.retrieved_at", "2025-12-31T23:59:00.5-05:00")),
        expect={"claim_ids": ids},
    )
    c.ok(
        "uppercase_msg_id",
        "msg_id in upper case, correctly signed.",
        _resigned(fetch, _set("msg_id", fetch["msg_id"].upper())),
    )
    c.ok(
        "missing_pubkey_with_transport_key",
        "No sender.pubkey; the transport authenticated alice's key.",
        _resigned(fetch, _drop_in("sender.pubkey")),
        transport=ALICE,
    )
    c.ok(
        "size_exactly_at_limit",
        f"The LIP_EVIDENCE followed by ASCII spaces up to exactly {max_bytes} bytes.",
        evidence_wire,
        pad_spaces=max_bytes - evidence_len,
        expect={"claim_ids": ids},
    )
    # --- check 1 -----------------------------------------------------------------------
    c.bad(
        "oversize_by_one_byte",
        f"The LIP_EVIDENCE padded with spaces to {max_bytes + 1} bytes.",
        evidence_wire,
        "InvalidEnvelopeError",
        pad_spaces=max_bytes + 1 - evidence_len,
    )
    c.bad("version_2_0", 'lip: "2.0", correctly signed.',
          _resigned(fetch, _set("lip", "2.0")), "InvalidEnvelopeError")  # fmt: skip
    c.bad("sign_with_extra_member", 'An extra member in sign ("sign.extra": 1).',
          _unsigned_edit(fetch, _set("sign.extra", 1)), "InvalidEnvelopeError")  # fmt: skip
    c.bad(
        "source_uri_not_http",
        'source.uri "ftp://example.org/water", correctly signed (L5).',
        _resigned(fetch, _set("source.uri", "ftp://example.org/water")),
        "InvalidEnvelopeError",
    )
    c.bad(
        "unknown_trust_tier",
        'source.trust_tier "very_high", correctly signed (L5).',
        _resigned(fetch, _set("source.trust_tier", "very_high")),
        "InvalidEnvelopeError",
    )
    c.bad(
        "missing_source",
        "No source member, correctly signed.",
        _resigned(fetch, _drop("source")),
        "InvalidEnvelopeError",
    )
    c.bad(
        "nested_too_deep",
        "payload.constraints holds 7 nested arrays (depth 9 > 8); refused before the "
        "structure is read.",
        _sub(_wire(fetch), '"constraints":["no_personal_data"]', '"constraints":[[[[[[[]]]]]]]'),
        "InvalidEnvelopeError",
    )

    # --- check 2 -----------------------------------------------------------------------
    def evidence_list(values: list[str]) -> Env:
        return _original_lip(
            "LIP_EVIDENCE",
            {"claims": list(STATEMENTS), "evidence": values, "confidence": 0.7},
            msg_id=_V1_ID,
        )

    c.bad(
        "original_claims_without_evidence",
        "The original's LIP_EVIDENCE with claims and an empty evidence list: claims "
        "without evidence are never taken (LIP_SPEC §3, L7).",
        _wire(evidence_list([])),
        "PayloadSchemaError",
        transport=ALICE,
    )
    c.bad(
        "original_claims_blank_evidence",
        "The original's LIP_EVIDENCE whose only evidence strings are blank.",
        _wire(evidence_list(["", "   "])),
        "PayloadSchemaError",
        transport=ALICE,
    )
    c.bad(
        "original_claim_without_words",
        'The original\'s LIP_EVIDENCE with evidence and a claim "..." (no words once normalised).',
        _wire(
            _original_lip(
                "LIP_EVIDENCE",
                {"claims": ["..."], "evidence": [URI], "confidence": 0.5},
                msg_id=_V1_ID,
            )
        ),
        "PayloadSchemaError",
        transport=ALICE,
    )
    c.bad(
        "evidence_object_missing",
        "Our LIP_EVIDENCE shape with the evidence object removed, correctly signed.",
        _resigned(evidence, _drop_in("payload.evidence")),
        "PayloadSchemaError",
    )
    c.bad(
        "claim_id_not_sha256",
        'A claim whose claim_id is "abc", correctly signed.',
        _resigned(evidence, lambda e: e["payload"]["claims"][0].update(claim_id="abc")),
        "PayloadSchemaError",
    )
    c.bad(
        "accept_with_decision_reject",
        'A LIP_ACCEPT whose decision is "reject", correctly signed (L9).',
        _resigned(accept, _set("payload.decision", "reject")),
        "PayloadSchemaError",
    )
    # --- check 3 -----------------------------------------------------------------------
    c.bad(
        "missing_pubkey_no_transport_key",
        "No sender.pubkey and no key authenticated by the transport.",
        _wire(original_evidence),
        "MissingPublicKeyError",
    )
    c.bad(
        "missing_pubkey_other_transport_key",
        "No sender.pubkey; the transport authenticated carol's key.",
        _wire(original_evidence),
        "FingerprintMismatchError",
        transport=CAROL,
    )
    c.bad(
        "tampered_claim",
        "A claim statement changed after signing.",
        _unsigned_edit(evidence, lambda e: e["payload"]["claims"][0].update(statement="x y z w")),
        "SignatureMismatchError",
    )
    c.bad(
        "tampered_source_tier",
        "source.trust_tier raised to high after signing.",
        _unsigned_edit(evidence, _set("source.trust_tier", "high")),
        "SignatureMismatchError",
    )
    # --- checks 4-7 --------------------------------------------------------------------
    c.bad("addressed_to_another_agent", "A valid LIP_FETCH addressed to carol.",
          _wire(_lip(LipFetch(URI), seed=46, to=CAROL)), "ReceiverMismatchError")  # fmt: skip
    c.bad(
        "stale_timestamp",
        "Sent 120.001 s before the receiver's time.",
        _wire(_lip(LipFetch(URI), seed=47, at=T0 - MAX_SKEW_SECONDS - 0.001)),
        "TimestampError",
    )
    c.bad("replay_same_bytes", "The same LIP_EVIDENCE delivered twice.", evidence_wire,
          "ReplayError", prior=[evidence_wire])  # fmt: skip
    c.bad(
        "evidence_from_untrusted",
        "A LIP_EVIDENCE from a peer that never finished a CIP handshake (untrusted): LIP "
        "is admitted from probing or trusted peers only (L15).",
        evidence_wire,
        "TrustViolationError",
        trust={},
    )
    c.bad(
        "fetch_from_blacklisted",
        "A LIP_FETCH from a blacklisted peer.",
        _wire(fetch),
        "TrustViolationError",
        trust={ALICE.fingerprint: "blacklisted"},
    )
    return c.cases


# --- the files ------------------------------------------------------------------------

_HOW = (
    "For each case: set the receiver's clock to `now` (seconds since the Unix epoch, UTC), "
    "its trust state for each sender fingerprint to `trust` (absent: untrusted){extra}; "
    "if `transport_key_base64` is given, the link the bytes arrive on authenticated that "
    "Ed25519 key (over RTT: the PeerId's key), otherwise none; deliver each envelope of "
    "`prior` (each must be accepted), then the case's bytes (`wire` encoded as UTF-8, "
    "followed by `pad_spaces` ASCII spaces). `expect.result` is `accept` (with the message "
    "`type`{accept}) or `refuse` with the error class of the first failing check of "
    "docs/CIP_SPEC.md section 5 and that check's number."
)


def _doc(
    fmt: str,
    description: str,
    spec: str,
    limits: Any,
    policy: dict[str, list[str]],
    cases: list[dict[str, Any]],
) -> str:
    doc = {
        "format": fmt,
        "description": description,
        "generated_by": "python -m web4.conformance (web4/conformance/hcp_lip_envelopes.py)",
        "spec": spec,
        "receiver": {
            "identity": "bob",
            "max_skew_seconds": MAX_SKEW_SECONDS,
            "replay_window_seconds": MAX_SKEW_SECONDS,
            "max_bytes": limits.max_bytes,
            "max_depth": limits.max_depth,
            "trust_policy": policy,
        },
        "identities": _identities(),
        "errors": _error_table({c["expect"]["error"] for c in cases if "error" in c["expect"]}),
        "cases": cases,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def render_hcp_envelopes() -> str:
    """The text of ``docs/conformance/hcp_envelopes.json``."""
    how = _HOW.format(
        extra=", and the human keys its operator authorised to `authorized_humans` "
        "(fingerprints; HCP_SPEC §9.1)",
        accept=", and `acted_on`: true when the receiver acts on it, false when the "
        "signer is not authorised, so that its only answer is the signed not_authorized "
        "refusal",
    )
    return _doc(
        HCP_FORMAT,
        "HCP/1.0 envelopes from a human (alice) to one agent node (bob). " + how,
        "docs/HCP_SPEC.md sections 1-3 and 9.1; docs/CIP_SPEC.md sections 1 and 5",
        HCP_SPEC.limits,
        HCP_TRUST_POLICY,
        _hcp_cases(),
    )


def render_lip_envelopes() -> str:
    """The text of ``docs/conformance/lip_envelopes.json``."""
    how = _HOW.format(
        extra="",
        accept=", and for LIP_EVIDENCE the `claim_ids` taken, in order (LIP_SPEC §2)",
    )
    return _doc(
        LIP_FORMAT,
        "LIP/1.0 envelopes from an agent peer (alice) to one agent node (bob). " + how,
        "docs/LIP_SPEC.md sections 1-3 and 10; docs/CIP_SPEC.md sections 1 and 5",
        LIP_SPEC.limits,
        LIP_TRUST_POLICY,
        _lip_cases(),
    )
