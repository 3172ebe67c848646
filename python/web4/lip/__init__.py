"""LIP/1.0: internet to agent. Typed messages, guarded fetching, claims, tiers, queue.

Theory of operation: ``fetcher`` is the only IO (one bounded, guarded HTTP(S) GET);
``extract`` turns bytes into claims with stable ids; ``messages`` declares the envelope
and payloads (``LIP_SPEC`` plugs them into the generic validator); ``tiers`` rates
sources from a TOML policy and their track record; ``queue.ClaimQueue`` holds claims in
SQLite until the acceptance rule (``_state``) lets them into causal memory; ``learn``
ties fetch, tier, extraction and queue together and counts peers' corroboration;
``memory.KnowledgeBridge`` connects the queue to ``web4.knowledge`` (conflicts in,
accepted claims out to causal memory). ``hosts`` gives the one host spelling tiers are
decided on (the host httpx contacts); ``work.FairQueue`` shares the node's fetch workers
fairly between peers; ``runtime`` is the node's LIP side. The normative text is
``docs/LIP_SPEC.md``.
"""

from web4.lip._state import CLAIM_TABLE, ClaimEvent, LearnedClaimState
from web4.lip.builder import build_lip
from web4.lip.extract import ExtractedClaim, claim_id, extract_claims
from web4.lip.fetcher import FetchPolicy, FetchResult, fetch
from web4.lip.learn import Learned, corroborate_with, evidence_from, learn, payload_for, reject_from
from web4.lip.memory import KnowledgeBridge
from web4.lip.messages import LIP_SPEC, MESSAGE_TYPES, PAYLOAD_TYPES, LipEnvelope
from web4.lip.queue import (
    AcceptedClaim,
    AcceptedClaimSink,
    ClaimQueue,
    LocalKnowledge,
    Transition,
)
from web4.lip.runtime import LipRuntime, LipSettings
from web4.lip.tiers import SourceTiers, TierPolicy

__all__ = [
    "CLAIM_TABLE",
    "LIP_SPEC",
    "MESSAGE_TYPES",
    "PAYLOAD_TYPES",
    "AcceptedClaim",
    "AcceptedClaimSink",
    "ClaimEvent",
    "ClaimQueue",
    "ExtractedClaim",
    "FetchPolicy",
    "FetchResult",
    "KnowledgeBridge",
    "Learned",
    "LearnedClaimState",
    "LipEnvelope",
    "LipRuntime",
    "LipSettings",
    "LocalKnowledge",
    "SourceTiers",
    "TierPolicy",
    "Transition",
    "build_lip",
    "claim_id",
    "corroborate_with",
    "evidence_from",
    "extract_claims",
    "fetch",
    "learn",
    "payload_for",
    "reject_from",
]
