"""HCP/1.0: human to agent. Typed messages, the consent/pacing gate, social trust.

Theory of operation: everything here is sans-IO. ``messages`` declares the envelope and
payloads (``HCP_SPEC`` plugs them into the generic validator), ``builder`` signs
outbound envelopes, ``gate.HumanGate`` decides every automated agent action from the
human-state vector, ``social.SocialTrust`` keeps the per-human social trust FSM in the
node's store, and ``session.HcpSession`` ties them together for the router and the
agent loop. The normative text is ``docs/HCP_SPEC.md``.
"""

from web4.hcp.builder import build_hcp, msg_type_of
from web4.hcp.gate import AgentAction, HumanGate, Refusal, Verdict, check_decision, topic_in_scope
from web4.hcp.messages import (
    HCP_SPEC,
    MESSAGE_TYPES,
    PAYLOAD_TYPES,
    HcpContext,
    HcpDecision,
    HcpEnvelope,
    HcpFeedback,
    HcpHello,
    HcpIntent,
    HcpStateUpdate,
    HumanIdentity,
    HumanState,
    check_semantics,
)
from web4.hcp.session import HcpEvent, HcpSession, StoredRefusal
from web4.hcp.social import SOCIAL_TABLE, SocialEvent, SocialState, SocialTrust, events_for

__all__ = [
    "HCP_SPEC",
    "MESSAGE_TYPES",
    "PAYLOAD_TYPES",
    "SOCIAL_TABLE",
    "AgentAction",
    "HcpContext",
    "HcpDecision",
    "HcpEnvelope",
    "HcpEvent",
    "HcpFeedback",
    "HcpHello",
    "HcpIntent",
    "HcpSession",
    "HcpStateUpdate",
    "HumanGate",
    "HumanIdentity",
    "HumanState",
    "Refusal",
    "SocialEvent",
    "SocialState",
    "SocialTrust",
    "StoredRefusal",
    "Verdict",
    "build_hcp",
    "check_decision",
    "check_semantics",
    "events_for",
    "msg_type_of",
    "topic_in_scope",
]
