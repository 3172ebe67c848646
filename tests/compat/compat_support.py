"""The original CIP/HCP/LIP specifications, as a test peer sees them (issue 16).

Theory of operation: ``original_schemas/`` restates the original envelope schemas and
the payload shapes of the documents' examples as JSON Schema (draft 2020-12; see its
README). ``schema_errors`` checks one envelope against them with format checking on
(``uuid``, ``date-time``): the envelope schema of its protocol, then the payload schema
of its type. ``OriginalPeer`` builds messages the way a peer written from the original
documents would: the examples' payloads with their placeholders filled, any RFC 3339
timestamp spelling (``2026-12-07T10:00:00+01:00``), UUIDs of any version and case, no
``sender.pubkey`` (RTT authenticated the key), HCP and LIP envelopes without
``trust``/``state``, the original LIP payload shapes; each signed over its RFC 8785 form
with Ed25519 by web4's signing API (``web4.envelope.crypto.sign_envelope``).
"""

from __future__ import annotations

import base64
import json
import os
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from web4.envelope.crypto import sign_envelope
from web4.identity import Identity

SCHEMAS = Path(__file__).parent / "original_schemas"
PROTOCOLS = ("cip", "hcp", "lip")
CIP_TYPES = (
    "HELLO",
    "INTENT",
    "FACT_PROPOSE",
    "FACT_CHALLENGE",
    "FACT_CONFIRM",
    "FACT_REJECT",
    "DECISION_SHARE",
    "STATE_UPDATE",
)
HCP_TYPES = (
    "HCP_HELLO",
    "HCP_INTENT",
    "HCP_CONTEXT",
    "HCP_DECISION",
    "HCP_FEEDBACK",
    "HCP_STATE_UPDATE",
)
LIP_TYPES = ("LIP_FETCH", "LIP_EVIDENCE", "LIP_CONFLICT", "LIP_ACCEPT", "LIP_REJECT")
ALL_TYPES = CIP_TYPES + HCP_TYPES + LIP_TYPES
FORMAT_CHECKER = Draft202012Validator.FORMAT_CHECKER


def _load(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return doc


@cache
def envelope_schema(protocol: str) -> dict[str, Any]:
    return _load(SCHEMAS / f"{protocol}.schema.json")


@cache
def payload_schema(msg_type: str) -> dict[str, Any]:
    return _load(SCHEMAS / "payloads" / f"{msg_type}.schema.json")


def validator(schema: Mapping[str, Any]) -> Draft202012Validator:
    """A draft 2020-12 validator with format checking on."""
    return Draft202012Validator(schema, format_checker=FORMAT_CHECKER)


def _errors(schema: Mapping[str, Any], instance: Any, where: str) -> list[str]:
    return [
        f"{where}{''.join(f'/{p}' for p in e.absolute_path)}: {e.message}"
        for e in sorted(validator(schema).iter_errors(instance), key=lambda e: e.json_path)
    ]


def protocol_of(envelope: Mapping[str, Any]) -> str:
    found = [p for p in PROTOCOLS if p in envelope]
    assert len(found) == 1, f"not one protocol member: {sorted(envelope)}"
    return found[0]


def envelope_errors(envelope: Mapping[str, Any]) -> list[str]:
    """Every way ``envelope`` breaks its protocol's original envelope schema (the one the
    original repository publishes; its ``payload`` is any object)."""
    return _errors(envelope_schema(protocol_of(envelope)), envelope, "")


def schema_errors(envelope: Mapping[str, Any]) -> list[str]:
    """Every way ``envelope`` breaks the original schemas (empty: it validates): its
    protocol's envelope schema, then its type's payload schema."""
    out = envelope_errors(envelope)
    msg_type = envelope.get("type")
    if msg_type in ALL_TYPES:
        out += _errors(payload_schema(str(msg_type)), envelope.get("payload"), "/payload")
    return out


# --- an original-style peer -----------------------------------------------------------

# RFC 3339 spellings a peer following the originals may use (any offset, fraction or not).
_ZONES = (
    timezone(timedelta(hours=1)),
    UTC,
    timezone(timedelta(hours=-5, minutes=-30)),
    timezone(timedelta(hours=9)),
)


def original_timestamp(t: float, style: int) -> str:
    """``t`` as one of four RFC 3339 spellings: ``+01:00`` whole seconds, ``Z`` with
    microseconds, ``-05:30`` with tenths, ``+09:00`` whole seconds (lowercase ``t``)."""
    kind = style % 4
    dt = datetime.fromtimestamp(t, tz=_ZONES[kind])
    if kind == 0:
        return dt.strftime("%Y-%m-%dT%H:%M:%S+01:00")
    if kind == 1:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if kind == 2:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 100000}-05:30"
    return dt.strftime("%Y-%m-%dt%H:%M:%S+09:00")


def original_uuid(style: int) -> str:
    """A fresh UUID the original's ``format: uuid`` allows: v4 lower case, v4 upper
    case, v1-style, v7-style (version bits set on random bytes)."""
    kind = style % 4
    version = (4, 4, 1, 7)[kind]
    text = str(uuid.UUID(bytes=os.urandom(16), version=4))
    text = text[:14] + str(version) + text[15:]
    return text.upper() if kind == 1 else text


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


HUMAN_STATE: dict[str, Any] = {
    "presence": "engaged",
    "affect": "calm",
    "clarity": 75,
    "pressure": 25,
    "intent": "plan the week's work",
    "consent": "granted",
}
SOURCE_URI = "https://example.org/science/water"


def example_payloads(
    *, fact_ref: str, earlier_msg_id: str, corroborator: str
) -> dict[str, dict[str, Any]]:
    """One payload of every original type: the documents' examples with their
    placeholders filled. ``fact_ref`` is the claim the votes name, ``earlier_msg_id`` a
    message the proposal links to, ``corroborator`` an agent id."""
    statement = "Water boils at 100 degrees Celsius at sea level"
    return {
        "HELLO": {
            "protocols": ["cip/1.0"],
            "capabilities": ["state_exchange", "knowledge_exchange", "dmp_trace"],
            "session_nonce": b64(os.urandom(16)),
            "challenge": b64(os.urandom(32)),
            "features": {"supports_mesh": True, "supports_multiplex": True},
        },
        "INTENT": {
            "goal": "verify_knowledge",
            "topic": "boiling point of water",
            "priority": "normal",
            "context": "checking a textbook fact before teaching it",
        },
        "FACT_PROPOSE": {
            "fact": {
                "statement": statement,
                "domain": "physics",
                "confidence": 0.92,
                "sources": ["textbook: General Chemistry, ch. 11"],
                "context": "standard atmospheric pressure",
            },
            "dmp_trace": {
                "decision_id": original_uuid(2),
                "steps": ["read the textbook chapter", "compared with a lab measurement"],
                "counterfactuals": ["at high altitude water boils below 100 degrees"],
                "evidence": ["textbook: General Chemistry, ch. 11"],
            },
            "causal_links": [earlier_msg_id],
        },
        "FACT_CHALLENGE": {
            "fact_ref": fact_ref,
            "reason": "insufficient_evidence",
            "notes": "one source only",
        },
        "FACT_CONFIRM": {
            "fact_ref": fact_ref,
            "decision": "confirm",
            "confidence": 0.85,
            "notes": "matches my measurements",
        },
        "FACT_REJECT": {
            "fact_ref": fact_ref,
            "decision": "reject",
            "confidence": 0.6,
            "notes": "the source is not reliable",
        },
        "DECISION_SHARE": {
            "decision": {
                "choice": "use the textbook value",
                "outcome": "lesson prepared",
                "context": "teaching preparation",
            },
            "dmp_trace": {
                "decision_id": original_uuid(3),
                "steps": ["compared two sources", "picked the textbook"],
                "evidence": ["textbook: General Chemistry, ch. 11"],
            },
            "retrospective": "a second source would have made this faster",
        },
        "STATE_UPDATE": {
            "presence": "focused",
            "lri": 20,
            "ltppeerstate": "probing",
            "kernel_signals": [],
            "intent": "verify_knowledge",
        },
        "HCP_HELLO": {
            "identity": {"name": "Alice", "role": "operator"},
            "consent_scope": ["topic:work"],
            "safety_flags": ["slow_pacing"],
        },
        "HCP_INTENT": {"goal": "clarify", "topic": "release plan", "priority": "normal"},
        "HCP_CONTEXT": {
            "context": "the release is due on Friday",
            "constraints": ["no weekend work"],
            "shared_history": ["we moved the release once already"],
        },
        "HCP_DECISION": {
            "decision": "ship on Friday with the current scope",
            "rationale": "the remaining items are not blocking",
            "alternatives": ["ship next Tuesday with everything"],
            "follow_up": "review the open items on Monday",
        },
        "HCP_FEEDBACK": {
            "feedback": "the summary was helpful",
            "corrections": ["the deadline is Friday, not Thursday"],
            "satisfaction": 80,
        },
        "HCP_STATE_UPDATE": {
            k: HUMAN_STATE[k] for k in ("presence", "affect", "clarity", "pressure", "consent")
        },
        "LIP_FETCH": {
            "query": "boiling point of water at sea level",
            "constraints": ["no_personal_data", "domain:science"],
        },
        "LIP_EVIDENCE": {
            "claims": [statement],
            "evidence": [f"{SOURCE_URI}: the boiling point of water is 100 degrees Celsius"],
            "confidence": 0.8,
            "extraction_notes": "taken from the first paragraph",
        },
        "LIP_CONFLICT": {
            "conflicts": ["Water boils at 90 degrees Celsius at sea level"],
            "local_refs": ["memory: boiling point of water"],
            "severity": "medium",
        },
        "LIP_ACCEPT": {
            "decision": "accept",
            "reason": "corroborated by a trusted peer",
            "corroborators": [corroborator],
        },
        "LIP_REJECT": {
            "decision": "reject",
            "reason": "the source is not reliable",
            "corroborators": [],
        },
    }


class OriginalPeer:
    """Builds and signs envelopes as a peer written from the original documents does."""

    def __init__(self, identity: Identity) -> None:
        self.identity = identity
        self._n = 0

    def envelope(
        self,
        msg_type: str,
        payload: Mapping[str, Any],
        *,
        receiver: tuple[str, str],
        now: float,
        msg_id: str | None = None,
        pubkey: bool = False,
        style: int | None = None,
    ) -> dict[str, Any]:
        """A signed original-style envelope of ``msg_type`` to ``receiver`` (agent id,
        fingerprint). ``style`` picks the timestamp and UUID spellings (default: the next
        one, so a run covers them all); ``pubkey`` adds ``sender.pubkey``."""
        style = self._n if style is None else style
        self._n += 1
        protocol = msg_type.split("_")[0].lower() if msg_type[:4] in ("HCP_", "LIP_") else "cip"
        sender: dict[str, Any] = {
            "agent_id": self.identity.agent_id,
            "fingerprint": self.identity.fingerprint,
        }
        if protocol == "cip":
            sender["capabilities"] = ["state_exchange", "knowledge_exchange", "dmp_trace"]
        if pubkey:
            sender["pubkey"] = self.identity.public_key_b64
        env: dict[str, Any] = {
            protocol: "1.0",
            "msg_id": msg_id or original_uuid(style),
            "type": msg_type,
            "timestamp": original_timestamp(now, style),
            "sender": sender,
            "receiver": {"agent_id": receiver[0], "fingerprint": receiver[1]},
        }
        if protocol == "cip":
            env["trust"] = {"sender_view": "probing", "receiver_view": "probing"}
            env["state"] = {"presence": "focused", "lri": 20, "kernel_signals": []}
        elif protocol == "hcp":
            env["state"] = {"human": dict(HUMAN_STATE)}
        else:
            env["source"] = {
                "uri": SOURCE_URI,
                "trust_tier": "medium",
                "retrieved_at": original_timestamp(now - 5, style + 1),
            }
        env["payload"] = dict(payload)
        return sign_envelope(env, self.identity)
