"""CIP/1.0, agent to agent: typed messages, builder, validator policy and handshake.

Theory of operation: ``messages`` declares the envelope and the eight payloads once
(msgspec Structs); ``builder`` fills and signs envelopes; ``validator`` binds the generic
envelope validator to CIP's Structs and trust policy; ``handshake`` is the sans-IO
handshake whose steps are the table in ``_state``; ``schemas`` publishes the JSON
Schemas. ``docs/CIP_SPEC.md`` is the normative description.
"""

from web4.cip._state import Role, Step
from web4.cip.builder import CipBuilder, new_msg_id
from web4.cip.handshake import Handshake, HandshakeConfig
from web4.cip.messages import CIP_SPEC, PAYLOADS, CipEnvelope
from web4.cip.validator import CIP_TRUST_POLICY, CipValidator, cip_gate, cip_validator

__all__ = [
    "CIP_SPEC",
    "CIP_TRUST_POLICY",
    "PAYLOADS",
    "CipBuilder",
    "CipEnvelope",
    "CipValidator",
    "Handshake",
    "HandshakeConfig",
    "Role",
    "Step",
    "cip_gate",
    "cip_validator",
    "new_msg_id",
]
