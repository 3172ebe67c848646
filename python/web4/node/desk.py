"""The node's knowledge desk: routed knowledge messages in, claims and votes out.

Theory of operation: the router's ``knowledge`` destination is bound to ``on_message``.
A CIP ``FACT_PROPOSE`` becomes a claim (``KnowledgeExchange.propose``) and goes to the
agent loop, whose agent decides whether to confirm or challenge it; a ``FACT_CONFIRM``,
``FACT_REJECT`` or ``FACT_CHALLENGE`` becomes a vote on the claim it names. A vote names
its claim by the proposing ``msg_id`` (``fact_ref``, which a broadcast gives to every peer
alike) and by the claim hash (``claim_hash``: the proposer and the signed payload), and
applies only to the claim with that hash. A vote can overtake its claim (they may travel
on different sessions): it waits in a bounded buffer keyed by (voter, claim hash), so it
can be neither moved to another statement proposed under the same ``msg_id`` nor
replaced by another peer's vote (``vote_buffer`` votes; when full, the oldest vote of the
voter with the most waiting votes is dropped, so a peer flooding votes for claims that
never come evicts only its own; each drop an event). It is applied when the claim with
that hash arrives; if it fails then, that is an ``error`` event about the voter, never a
fault of the claim's sender. ``DECISION_SHARE``
keeps the peer's DMP trace. LIP evidence has no runtime here yet: it is reported
(``router.rejected``, reason ``no_runtime``) and dropped.

Every outcome is an event: ``knowledge.claim_<state>`` with the reason and, for a pending
claim, how many trusted confirmations it has and needs; ``knowledge.confirmation`` for a
vote; ``trust.*`` for the trust events the rules caused. An accepted claim is offered to
the agent loop as ``KnowledgeAccepted`` (causal memory); a disputed or rejected one as
``ClaimSettled``, a peer's applied vote as ``Vote`` and a ``DECISION_SHARE`` as a routed
message (the Agent API's events, ``web4.agent.api``). A peer's malformed values raise
``KnowledgeError`` to the router, which isolates it and turns it into a trust anomaly.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from typing import Any

from web4.agent.api import AgentEvent, ClaimSettled, Settled, Vote, VoteKind
from web4.agent.types import InboundItem, InboundMessage, KnowledgeAccepted
from web4.cip.claims import claim_hash
from web4.errors import KnowledgeError, UnknownClaimError
from web4.knowledge import (
    CausalLink,
    Claim,
    ClaimOutcome,
    ClaimState,
    DmpTrace,
    Fact,
    KnowledgeExchange,
    LocalState,
    SharedDecision,
    check_decision,
    check_fact,
    check_trace,
)
from web4.observability import EventBus, emit_trust_audit
from web4.router import Inbound
from web4.trust import TrustBook

__all__ = ["KnowledgeDesk", "fact_from", "trace_from"]

_VOTES = ("FACT_CONFIRM", "FACT_REJECT", "FACT_CHALLENGE")
_KINDS: dict[str, VoteKind] = {
    "FACT_CONFIRM": "confirm",
    "FACT_REJECT": "reject",
    "FACT_CHALLENGE": "challenge",
}
_REPORTED_BOUND = 4096  # claims whose last reported (state, count) the desk remembers


def _getter(raw: Any) -> Callable[..., Any]:
    if isinstance(raw, dict):
        return raw.get
    return lambda k, d=None: getattr(raw, k, d)


def fact_from(raw: Any) -> Fact:
    """A ``Fact`` from a decoded payload's ``fact`` (Struct or mapping).
    Raises ``KnowledgeError`` on a broken limit."""
    get = _getter(raw)
    return check_fact(
        Fact(
            get("statement"),
            get("domain"),
            get("confidence"),
            list(get("sources", ()) or ()),
            get("context", "") or "",
        )
    )


def trace_from(raw: Any) -> DmpTrace:
    """A ``DmpTrace`` from a decoded payload's ``dmp_trace``. Raises ``KnowledgeError``."""
    get = _getter(raw)
    return check_trace(
        DmpTrace(
            get("decision_id"),
            list(get("steps", ()) or ()),
            list(get("counterfactuals", ()) or ()),
            list(get("evidence", ()) or ()),
        )
    )


class KnowledgeDesk:
    """Applies knowledge messages to the ``KnowledgeExchange``; see the module docstring."""

    def __init__(
        self,
        kx: KnowledgeExchange,
        trust: TrustBook,
        bus: EventBus,
        *,
        offer: Callable[[InboundItem | AgentEvent], bool],
        local: Callable[[], LocalState],
        vote_buffer: int = 256,
    ) -> None:
        self.kx = kx
        self._trust = trust
        self._bus = bus
        self._to_loop = offer
        self._held: list[InboundItem | AgentEvent] | None = None
        self._local = local
        self._bound = vote_buffer
        # (voter, claim hash) -> the vote waiting for that claim
        self._waiting: OrderedDict[tuple[str, str], Inbound] = OrderedDict()
        # claim id -> (state, counted confirmations) last reported: a vote that changes
        # neither says nothing new (one console line per event, not two per vote)
        self._reported: OrderedDict[str, tuple[ClaimState, int]] = OrderedDict()

    def _offer(self, item: InboundItem | AgentEvent) -> None:
        if self._held is not None:
            self._held.append(item)
        else:
            self._to_loop(item)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    # --- the router's handler ---------------------------------------------------------

    def on_message(self, msg: Inbound) -> None:
        """Handle one routed knowledge message. Raises ``KnowledgeError`` (the peer's bad
        values) for the router to isolate."""
        if msg.protocol != "cip":
            self._bus.emit(
                "router.rejected",
                peer=msg.peer,
                msg_id=msg.msg_id,
                protocol=msg.protocol,
                type=msg.type,
                reason="no_runtime",
                message=f"no {msg.protocol} runtime bound on this node yet",
            )
            return
        p = msg.envelope.payload
        if self._duplicate(msg):
            return
        if msg.type == "FACT_PROPOSE":
            links = CausalLink.parse_all(list(p.causal_links))
            # the agent sees the proposal before the waiting votes it let through
            held: list[InboundItem | AgentEvent] = []
            self._held = held
            try:
                self.propose(
                    msg.msg_id,
                    msg.peer,
                    fact_from(p.fact),
                    trace_from(p.dmp_trace),
                    links,
                    claim_hash=claim_hash(msg.peer, p),
                )
            finally:
                self._held = None
            self._offer(InboundMessage.from_routed(msg))
            for item in held:
                self._offer(item)
        elif msg.type in _VOTES:
            self._vote(msg)
        elif msg.type == "DECISION_SHARE":
            d = p.decision
            out = self.kx.share_decision(
                msg_id=msg.msg_id,
                sender=msg.peer,
                decision=check_decision(SharedDecision(d.choice, d.outcome, d.context)),
                trace=trace_from(p.dmp_trace),
                retrospective=p.retrospective,
            )
            if out.duplicate:  # stored by its first copy, which the agent had
                self._bus.emit(
                    "knowledge.duplicate", peer=msg.peer, msg_id=msg.msg_id, type=msg.type
                )
                return
            self._offer(InboundMessage.from_routed(msg))

    def _duplicate(self, msg: Inbound) -> bool:
        """Is ``msg`` the second copy of a broadcast (its point-to-point copy and its
        gossip copy: CIP_SPEC §11)? Then it is dropped with a ``knowledge.duplicate``
        event: not a fault, the same message came by two paths."""
        p = msg.envelope.payload
        if msg.type == "FACT_PROPOSE":
            seen = self.kx.has_claim(claim_hash(msg.peer, p), msg.peer, msg.msg_id)
        elif msg.type in _VOTES:
            waiting = self._waiting.get((msg.peer, p.claim_hash))
            seen = (waiting is not None and waiting.msg_id == msg.msg_id) or self.kx.has_vote(
                msg.peer, msg.msg_id
            )
        else:
            return False  # a shared decision: told by its store (``on_message``)
        if seen:
            self._bus.emit("knowledge.duplicate", peer=msg.peer, msg_id=msg.msg_id, type=msg.type)
        return seen

    # --- our own claims and votes -------------------------------------------------------

    def propose(
        self,
        msg_id: str,
        sender: str,
        fact: Fact,
        trace: DmpTrace,
        links: Sequence[CausalLink] = (),
        *,
        claim_hash: str | None = None,
    ) -> ClaimOutcome:
        """Store and evaluate a claim (a peer's, with the hash of the payload it signed,
        or our own before we broadcast it), then apply the votes that were waiting for
        that hash. Raises ``KnowledgeError``."""
        out = self.kx.propose(
            msg_id=msg_id,
            sender=sender,
            fact=fact,
            trace=trace,
            links=links,
            local=self._local(),
            claim_hash=claim_hash,
        )
        self._report(out, sender, out.claim_id, domain=fact.domain)
        digest = self.kx.claim(out.claim_id).claim_hash
        for key in [k for k in self._waiting if k[1] == digest]:
            vote = self._waiting.pop(key)
            try:
                self._vote(vote)
            except KnowledgeError as e:  # the voter's fault, not this claim's sender's
                self._bus.emit(
                    "error",
                    peer=vote.peer,
                    msg_id=vote.msg_id,
                    error=type(e).__name__,
                    detail=str(e)[:200],
                    source="knowledge",
                )
        return out

    def record_vote(self, msg_id: str, voter: str, msg_type: str, payload: dict[str, Any]) -> None:
        """Record our own broadcast vote locally (it never counts for us: we are not a
        trusted peer of ourselves). Raises ``KnowledgeError``."""
        self._apply_vote(msg_id, voter, msg_type, payload)

    # --- internals ----------------------------------------------------------------------

    def _vote(self, msg: Inbound) -> None:
        p = msg.envelope.payload
        payload = {
            "fact_ref": p.fact_ref,
            "claim_hash": p.claim_hash,
            "notes": p.notes,
            "confidence": getattr(p, "confidence", None),
            "reason": getattr(p, "reason", None),
        }
        try:
            counts, claim = self._apply_vote(msg.msg_id, msg.peer, msg.type, payload)
        except UnknownClaimError:
            key = (msg.peer, str(p.claim_hash))
            if key in self._waiting:  # one waiting vote per voter and claim: the first
                raise KnowledgeError(
                    f"{msg.peer[:16]} already has a vote waiting for this claim"
                ) from None
            self._waiting[key] = msg
            if len(self._waiting) > self._bound:
                dropped = self._evict()
                self._bus.emit(
                    "agent.dropped",
                    peer=dropped.peer,
                    msg_id=dropped.msg_id,
                    reason="vote_buffer_full",
                )
            self._bus.emit(
                "knowledge.confirmation",
                peer=msg.peer,
                msg_id=msg.msg_id,
                claim_id=p.fact_ref,
                decision=_decision(msg.type, payload),
                state="waiting_for_claim",
            )
            return
        kind: VoteKind = _KINDS[msg.type]
        self._offer(Vote(msg.peer, msg.msg_id, claim.msg_id, kind, p, counts, claim.state.value))

    def _evict(self) -> Inbound:
        """Drop the oldest waiting vote of the voter holding the most (the oldest vote of
        all on a tie), and return it."""
        counts = Counter(v.peer for v in self._waiting.values())
        heaviest = max(counts.values())
        for vote_id, vote in self._waiting.items():
            if counts[vote.peer] == heaviest:
                return self._waiting.pop(vote_id)
        raise AssertionError("unreachable: the buffer is over its bound, so not empty")

    def _apply_vote(
        self, msg_id: str, voter: str, msg_type: str, p: dict[str, Any]
    ) -> tuple[bool, Claim]:
        """Apply a vote; returns whether it counted and the claim after it."""
        common: dict[str, Any] = {
            "msg_id": msg_id,
            "sender": voter,
            "fact_ref": p["fact_ref"],
            "claim_hash": p.get("claim_hash"),
            "notes": p.get("notes") or "",
            "local": self._local(),
        }
        if msg_type == "FACT_CONFIRM":
            out = self.kx.confirm(confidence=p["confidence"], **common)
        elif msg_type == "FACT_REJECT":
            out = self.kx.reject(confidence=p["confidence"], **common)
        else:
            out = self.kx.challenge(reason=p["reason"], **common)
        claim = self.kx.claim(out.claim_id)
        # counts only from a peer trusted since before the claim arrived
        counts = any(v == voter for v, _, _ in self.kx.counted_voters(claim))
        self._bus.emit(
            "knowledge.confirmation",
            peer=voter,
            msg_id=msg_id,
            claim_id=out.claim_id,
            decision=_decision(msg_type, p),
            voter_trust=self._trust.state_of(voter).value,
            counts=counts,
        )
        self._report(out, claim.sender, out.claim_id, after_vote=True)
        return counts, self.kx.claim(out.claim_id)

    def _report(
        self,
        out: ClaimOutcome,
        sender: str,
        claim_id: str,
        *,
        after_vote: bool = False,
        **attrs: Any,
    ) -> None:
        """Emit the claim's state when it changed, or, after a vote, when the vote changed
        its count of trusted confirmations (pending with one more); a vote that changes
        neither (an uncounted one, our own) is reported by ``knowledge.confirmation``
        alone."""
        for t in out.trust:
            emit_trust_audit(self._bus, t)
        if out.previous == out.state and not after_vote:
            return
        claim = self.kx.claim(claim_id)
        has = sorted({v for v, kind, _ in self.kx.counted_voters(claim) if kind == "confirm"})
        if self._reported.get(claim_id) == (out.state, len(has)):
            return
        self._reported[claim_id] = (out.state, len(has))
        self._reported.move_to_end(claim_id)
        if len(self._reported) > _REPORTED_BOUND:
            self._reported.popitem(last=False)  # worst case: one repeated line later
        needs = self.kx.policy.min_confirmations
        self._bus.emit(
            f"knowledge.claim_{out.state.value}",
            peer=sender,
            msg_id=claim_id,
            claim_id=claim_id,
            reason=out.reason,
            needs=needs,
            has=len(has),
            statement=claim.fact.statement[:200],
            **attrs,
        )
        if out.state is ClaimState.ACCEPTED:
            self._offer(
                KnowledgeAccepted(
                    claim_id=claim_id,
                    statement=claim.fact.statement,
                    domain=claim.fact.domain,
                    confidence=claim.fact.confidence,
                    sources=tuple(claim.fact.sources),
                    confirmed_by=tuple(has),
                    decision_id=claim.trace.decision_id,
                )
            )
        elif out.state is ClaimState.DISPUTED or out.state is ClaimState.REJECTED:
            settled: Settled = "disputed" if out.state is ClaimState.DISPUTED else "rejected"
            self._offer(ClaimSettled(claim_id, settled, out.reason, claim, tuple(has)))


def _decision(msg_type: str, p: dict[str, Any]) -> str:
    if msg_type == "FACT_CHALLENGE":
        return f"challenge:{p.get('reason')}"
    return "confirm" if msg_type == "FACT_CONFIRM" else "reject"
