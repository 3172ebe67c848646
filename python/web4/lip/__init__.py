"""LIP/1.0: internet to agent. Typed messages, guarded fetching, claims, tiers, queue.

Theory of operation: ``fetch`` is the only IO (one bounded, guarded HTTP(S) GET);
``extract`` turns bytes into claims with stable ids; ``messages`` declares the envelope
and payloads (``LIP_SPEC`` plugs them into the generic validator). The normative text
is ``docs/LIP_SPEC.md``.
"""

from web4.lip.extract import ExtractedClaim, claim_id, extract_claims
from web4.lip.fetch import FetchPolicy, FetchResult, fetch
from web4.lip.messages import LIP_SPEC, MESSAGE_TYPES, PAYLOAD_TYPES, LipEnvelope

__all__ = [
    "LIP_SPEC",
    "MESSAGE_TYPES",
    "PAYLOAD_TYPES",
    "ExtractedClaim",
    "FetchPolicy",
    "FetchResult",
    "LipEnvelope",
    "claim_id",
    "extract_claims",
    "fetch",
]
