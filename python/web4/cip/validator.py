"""CIP's use of the generic envelope validator: the trust policy and a factory.

Theory of operation: ``web4.envelope.validate.Validator`` does the checks; CIP supplies
its Structs (``CIP_SPEC``) and the table of which message types each trust state of the
sender may send (step 7 of the validator, normative in ``docs/CIP_SPEC.md``):

- ``untrusted``: the handshake only (``HELLO``);
- ``probing``: the handshake, state and intent, and knowledge traffic
  (``FACT_*``): a probing peer must be able to propose the facts whose confirmation
  makes it trusted; its confirmations and challenges are admitted but knowledge
  exchange does not count them (only trusted peers count);
- ``trusted``: every type, including ``DECISION_SHARE``;
- ``blacklisted``: nothing.

A peer the trust lookup does not know is ``untrusted`` (that is the lookup's job).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from web4.cip.messages import CIP_SPEC, MESSAGE_TYPES, CipEnvelope
from web4.clock import Clock
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import MAX_SKEW_SECONDS, TrustGate, Validator, policy_gate

__all__ = ["CIP_TRUST_POLICY", "CipValidator", "cip_gate", "cip_validator"]

_HANDSHAKE = frozenset({"HELLO"})
_PROBING = _HANDSHAKE | {
    "STATE_UPDATE",
    "INTENT",
    "FACT_PROPOSE",
    "FACT_CHALLENGE",
    "FACT_CONFIRM",
    "FACT_REJECT",
}

CIP_TRUST_POLICY: Mapping[str, frozenset[str]] = {
    "untrusted": _HANDSHAKE,
    "probing": frozenset(_PROBING),
    "trusted": frozenset(MESSAGE_TYPES),
    "blacklisted": frozenset(),
}

CipValidator = Validator[CipEnvelope[object]]


def cip_gate(trust_of: Callable[[str], str]) -> TrustGate:
    """The CIP trust gate over a lookup ``sender fingerprint -> trust state``."""
    return policy_gate(trust_of, CIP_TRUST_POLICY)


def cip_validator(
    our_fingerprint: str,
    *,
    clock: Clock,
    trust_of: Callable[[str], str],
    replay: ReplayCache | None = None,
    max_skew: float = MAX_SKEW_SECONDS,
) -> CipValidator:
    """A CIP validator for the node whose fingerprint is ``our_fingerprint``.

    Raises ``ConfigError`` if ``replay``'s window is shorter than ``max_skew``.
    """
    return Validator(
        CIP_SPEC,
        our_fingerprint=our_fingerprint,
        clock=clock,
        replay=replay if replay is not None else ReplayCache(window=max_skew),
        trust_gate=cip_gate(trust_of),
        max_skew=max_skew,
    )
