"""Learning from the web, end to end: fetch, rate, extract, queue; and peer corroboration.

Theory of operation: ``learn`` is what the agent runs for a ``LIP_FETCH``: it refuses a
host whose tier is ``blocked`` without contacting it (on every hop: ``blocked_gate`` is
the fetcher's gate, so a redirect to a blocked host, or a name resolving to a blocked
address, is refused before it is contacted; hosts in the spelling httpx contacts,
``web4.lip.hosts``), fetches under the
``FetchPolicy`` (``LIPFetchError`` on any refusal), extracts claims, builds the
``source`` block and the ``LIP_EVIDENCE`` payload (provenance: uri, final uri,
retrieval time, SHA-256, content type, size; confidence from the tier, ``CONFIDENCE``),
and submits the claims to the deferred-acceptance queue. The tier is that of the final
host after redirects. ``answer_fetch`` is a peer's answer to our ``LIP_FETCH`` (its own
independent fetch, not queued). ``corroborate_with`` is the other half: a peer's ``LIP_EVIDENCE``
(or the same check done over CIP) confirms every claim id that both sides extracted
from the same content, so two trusted peers that independently fetched the page move a
low-tier claim to ``accepted``. ``reject_from`` records a peer's ``LIP_REJECT``, and
``payload_for`` turns a queue transition into the LIP message that announces it.
"""

from __future__ import annotations

from dataclasses import dataclass

from web4.clock import Clock
from web4.errors import LIPFetchError
from web4.lip._state import ClaimEvent, LearnedClaimState
from web4.lip.extract import extract_claims
from web4.lip.fetcher import FetchPolicy, FetchResult, HostGate, fetch
from web4.lip.hosts import host_of
from web4.lip.messages import (
    Claim,
    ClaimConflict,
    Evidence,
    LipAccept,
    LipConflict,
    LipEvidence,
    LipFetch,
    LipReject,
    Source,
    Tier,
)
from web4.lip.queue import ClaimQueue, Transition
from web4.lip.tiers import SourceTiers

__all__ = [
    "CONFIDENCE",
    "Learned",
    "answer_fetch",
    "blocked_gate",
    "corroborate_with",
    "evidence_from",
    "learn",
    "payload_for",
    "reject_from",
]

CONFIDENCE: dict[str, float] = {
    "high": 0.9,
    "medium": 0.7,
    "unknown": 0.4,
    "low": 0.2,
    "blocked": 0.0,
}


@dataclass(frozen=True, slots=True)
class Learned:
    source: Source
    evidence: LipEvidence
    transitions: tuple[Transition, ...]


def blocked_gate(tiers: SourceTiers) -> HostGate:
    """The fetcher's gate for ``tiers``: a host (or address) whose tier is ``blocked`` is
    not contacted."""

    def gate(host: str) -> str | None:
        if host and tiers.tier_of(host) == "blocked":
            return f"{host} is a blocked source; not fetched"
        return None

    return gate


def evidence_from(result: FetchResult, tier: Tier) -> tuple[Source, LipEvidence]:
    """The ``source`` block and ``LIP_EVIDENCE`` payload for a fetch result."""
    claims = extract_claims(result.body, result.content_type, result.charset)
    source = Source(uri=result.final_uri, trust_tier=tier, retrieved_at=result.retrieved_at)
    evidence = LipEvidence(
        claims=[Claim(c.claim_id, c.statement, c.locator) for c in claims],
        evidence=Evidence(
            uri=result.uri,
            final_uri=result.final_uri,
            retrieved_at=result.retrieved_at,
            sha256=result.sha256,
            content_type=result.content_type,
            size=len(result.body),
        ),
        confidence=CONFIDENCE[tier],
        extraction_notes=(
            f"{len(claims)} sentence claim(s) from title, meta description and <p> text"
            if result.content_type != "text/plain"
            else f"{len(claims)} sentence claim(s) from plain-text paragraphs"
        ),
    )
    return source, evidence


async def learn(
    uri: str,
    *,
    queue: ClaimQueue,
    tiers: SourceTiers,
    clock: Clock,
    policy: FetchPolicy | None = None,
    overloaded: bool = False,
    cause: str = "",
) -> Learned:
    """Fetch ``uri`` and queue its claims.

    Raises ``LIPFetchError`` (reason ``blocked`` for a blocked host, or any fetch
    refusal), ``LIPQueueError`` when the queue is full, ``StoreError``.
    """
    result = await _fetch_unblocked(uri, tiers, clock, policy)
    source, evidence = evidence_from(result, tiers.tier_of(host_of(result.final_uri)))
    transitions = queue.submit(
        evidence.evidence,
        evidence.claims,
        now=clock.now(),
        overloaded=overloaded,
        cause=cause or f"LIP_FETCH {uri}",
    )
    return Learned(source, evidence, tuple(transitions))


async def answer_fetch(
    request: LipFetch,
    *,
    tiers: SourceTiers,
    clock: Clock,
    policy: FetchPolicy | None = None,
) -> tuple[Source, LipEvidence]:
    """A peer's side of corroboration: fetch ``request.query`` independently and answer
    with our own ``source`` block and ``LIP_EVIDENCE`` (nothing is queued here).

    Raises ``LIPFetchError`` (``blocked`` for a blocked host, or any fetch refusal),
    ``StoreError``.
    """
    result = await _fetch_unblocked(request.query, tiers, clock, policy)
    return evidence_from(result, tiers.tier_of(host_of(result.final_uri)))


async def _fetch_unblocked(
    uri: str, tiers: SourceTiers, clock: Clock, policy: FetchPolicy | None
) -> FetchResult:
    """``fetch`` with the blocked-tier gate on every hop. The first check also covers a
    URI httpx refuses to parse, so it is reported as ``blocked``, not as a bad URL."""
    gate = blocked_gate(tiers)
    why = gate(host_of(uri))
    if why is not None:
        raise LIPFetchError(f"blocked: {why}")
    return await fetch(uri, clock=clock, policy=policy, gate=gate)


def corroborate_with(
    queue: ClaimQueue,
    peer: str,
    theirs: LipEvidence,
    *,
    now: float,
    overloaded: bool = False,
) -> list[Transition]:
    """Count ``peer``'s evidence as a confirmation of every claim we hold that it also
    extracted. Claims we never queued are ignored (they are the peer's, not ours).
    Raises ``StoreError``."""
    out: list[Transition] = []
    for claim in theirs.claims:
        if queue.has(claim.claim_id):
            out.extend(
                queue.corroborate(
                    claim.claim_id,
                    peer,
                    "confirm",
                    now=now,
                    overloaded=overloaded,
                    cause=f"LIP_EVIDENCE from {peer} ({theirs.evidence.sha256[:12]})",
                )
            )
    return out


def reject_from(
    queue: ClaimQueue, peer: str, reject: LipReject, *, now: float, overloaded: bool = False
) -> list[Transition]:
    """Record ``peer``'s ``LIP_REJECT`` for the claims we hold. Raises ``StoreError``."""
    out: list[Transition] = []
    for cid in reject.claim_ids:
        if queue.has(cid):
            out.extend(
                queue.corroborate(
                    cid, peer, "reject", now=now, overloaded=overloaded, cause=reject.reason
                )
            )
    return out


def payload_for(t: Transition) -> LipAccept | LipReject | LipConflict | None:
    """The LIP message a transition announces: ``LIP_ACCEPT`` on accepted,
    ``LIP_REJECT`` on rejected, ``LIP_CONFLICT`` on disputed (severity ``high`` for a
    conflict with local knowledge, ``medium`` for a trusted peer's rejection alone)."""
    if t.dst == LearnedClaimState.ACCEPTED:
        return LipAccept("accept", [t.claim_id], t.reason, list(t.corroborators))
    if t.dst == LearnedClaimState.REJECTED:
        return LipReject("reject", [t.claim_id], t.reason, list(t.corroborators))
    if t.dst == LearnedClaimState.DISPUTED and t.event == ClaimEvent.CONFLICT:
        refs = list(t.local_refs) or ["trusted-peer-rejection"]
        conflicts: list[ClaimConflict | str] = [
            ClaimConflict(t.claim_id, ref, t.reason) for ref in refs
        ]
        return LipConflict(conflicts, list(t.local_refs), "high" if t.local_refs else "medium")
    return None
