"""Build signed HCP/1.0 envelopes (the human client's and the agent's outbound side).

Theory of operation: ``build_hcp`` fills in what the sender owns (``hcp``, ``msg_id``
from the injected ``Rng``, ``timestamp`` from the injected ``Clock``, ``sender`` from
the ``Identity``), encodes the typed payload and the human-state vector with msgspec,
and signs the whole envelope (RFC 8785 canonical JSON, Ed25519) via the shared
``web4.envelope.build.build``. For ``HCP_STATE_UPDATE`` it refuses a payload that
disagrees with ``state.human``, so what it builds always passes ``check_semantics``.
The result is a plain dict, ready for canonical encoding and the RTT ``control`` or
``state`` channel.
"""

from __future__ import annotations

from typing import Any

import msgspec

from web4.clock import Clock, Rng
from web4.envelope.build import build
from web4.envelope.build import msg_type_of as envelope_msg_type_of
from web4.errors import ConfigError, MessageBuildError
from web4.hcp.gate import ActionKind, check_decision
from web4.hcp.messages import (
    HCP_SPEC,
    HcpContext,
    HcpDecision,
    HcpStateUpdate,
    HumanState,
    Payload,
)
from web4.identity import Identity

__all__ = [
    "AGENT_MARKERS",
    "CONSENT",
    "NOT_AUTHORIZED",
    "PACING",
    "REFUSAL_MARKER",
    "SCOPE",
    "agent_kind_of",
    "agent_payload",
    "build_hcp",
    "msg_type_of",
    "not_authorized_text",
    "refusal_of",
    "refusal_payload",
    "refusal_reason",
]

# HCP_SPEC.md section 6: how an agent action travels to the human.
AGENT_MARKERS: dict[str, str] = {
    "reply": "agent:reply",
    "question": "agent:question",
    "check_in": "agent:check-in",
}

# HCP_SPEC.md section 9.1: the node's refusal of a human key it does not act on.
REFUSAL_MARKER = "agent:refused"
NOT_AUTHORIZED = "not_authorized"
# HCP_SPEC.md section 9.2: why the agent did not answer an authorised human.
CONSENT, SCOPE, PACING = "consent", "scope", "pacing"


def msg_type_of(payload: Payload) -> str:
    """The HCP message type that carries ``payload``. Raises ``MessageBuildError`` for
    a Struct that is not an HCP payload."""
    return envelope_msg_type_of(HCP_SPEC, payload)


def build_hcp(
    identity: Identity,
    *,
    receiver_id: str,
    receiver_fingerprint: str,
    payload: Payload,
    human: HumanState,
    clock: Clock,
    rng: Rng,
    sender_view: str = "probing",
    receiver_view: str = "unknown",
    capabilities: tuple[str, ...] = ("hcp/1.0",),
) -> dict[str, Any]:
    """A signed HCP envelope carrying ``payload`` (its type is derived from it).

    Raises ``MessageBuildError`` when an ``HCP_STATE_UPDATE`` payload disagrees with
    ``human``, the payload is not an HCP payload or the envelope breaks the HCP schema,
    and ``CanonicalizationError`` if the envelope has no canonical form.
    """
    if isinstance(payload, HcpStateUpdate):
        pairs = zip(
            ("presence", "affect", "clarity", "pressure", "consent"),
            (payload.presence, payload.affect, payload.clarity, payload.pressure, payload.consent),
            strict=True,
        )
        for name, value in pairs:
            if getattr(human, name) != value:
                raise MessageBuildError(
                    f"HCP_STATE_UPDATE {name}={value!r} disagrees with state.human"
                )
    return build(
        HCP_SPEC,
        payload,
        identity=identity,
        receiver_id=receiver_id,
        receiver_fingerprint=receiver_fingerprint,
        trust={"sender_view": sender_view, "receiver_view": receiver_view},
        state={"human": msgspec.to_builtins(human)},
        clock=clock,
        rng=rng,
        capabilities=capabilities,
    )


def agent_payload(
    kind: ActionKind,
    text: str,
    *,
    rationale: str = "",
    alternatives: tuple[str, ...] = (),
    follow_up: str = "",
) -> Payload:
    """The payload that carries an agent action to the human: ``HCP_CONTEXT`` with one
    ``agent:<kind>`` marker in ``constraints`` for a reply, question or check-in;
    ``HCP_DECISION`` for a proposal or decision (``text`` is the decision).

    Raises ``DecisionError`` for a proposal or decision without rationale or
    alternatives, ``ConfigError`` for ``task`` (a task sends nothing to the human).
    """
    if kind in ("proposal", "decision"):
        d = check_decision(text, rationale, list(alternatives))
        return HcpDecision(d.decision, d.rationale, d.alternatives, follow_up)
    marker = AGENT_MARKERS.get(kind)
    if marker is None:
        raise ConfigError(f"a {kind!r} action sends no message to the human")
    return HcpContext(context=text, constraints=[marker], shared_history=[])


def agent_kind_of(payload: Payload) -> str | None:
    """What an agent's message is, for display: reply, question, check_in or decision
    (None for anything else)."""
    if isinstance(payload, HcpDecision):
        return "decision"
    if isinstance(payload, HcpContext):
        for kind, marker in AGENT_MARKERS.items():
            if marker in payload.constraints:
                return kind
    return None


def refusal_payload(reason: str, text: str) -> HcpContext:
    """The refusal the node sends a human it does not act on: ``HCP_CONTEXT`` with
    ``text`` and the markers ``agent:refused`` and ``reason:<reason>``."""
    return HcpContext(
        context=text, constraints=[REFUSAL_MARKER, f"reason:{reason}"], shared_history=[]
    )


def refusal_reason(gate_reason: str) -> str:
    """The refusal reason a human is told (HCP_SPEC §9.2) for a consent refusal of the
    gate: ``scope`` (limited consent, the action is outside the scope) or ``consent``
    (revoked, or anything else consent refused)."""
    return SCOPE if gate_reason.startswith("consent limited") else CONSENT


def not_authorized_text(fingerprint: str) -> str:
    """The text of the ``not_authorized`` refusal (HCP_SPEC §9.1): what happened and the
    command the operator must run (the node's path stays out of it)."""
    return (
        f"{NOT_AUTHORIZED}: this agent takes guidance only from human keys its operator "
        f"authorised, and yours ({fingerprint}) is not one of them; nothing you send is acted "
        f"on. Ask the operator to run: web4 human-key add {fingerprint} --data-dir "
        "<the agent's data dir>"
    )


def refusal_of(payload: Payload) -> str | None:
    """The reason of a refusal (``not_authorized``, ...), or None for any other message."""
    if not isinstance(payload, HcpContext) or REFUSAL_MARKER not in payload.constraints:
        return None
    reasons = [c.removeprefix("reason:") for c in payload.constraints if c.startswith("reason:")]
    return reasons[0] if reasons else "refused"
