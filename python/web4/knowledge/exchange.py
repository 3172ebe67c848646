"""KnowledgeExchange: trust-gated claims, confirmations and decisions, persisted.

Theory of operation: the router calls one method per CIP knowledge message with decoded,
typed fields and the node's current ``LocalState``. ``propose`` stores a claim and
evaluates it; ``confirm``/``reject``/``challenge`` store a vote (one row per ``msg_id``)
and re-evaluate the claim it refers to; ``reevaluate`` revisits pending and deferred
claims (call it when load drops or trust changes). Evaluation gathers an ``Assessment``
(trust states are read from the ``TrustBook`` at that moment, so a confirmer demoted since
no longer counts) and applies ``rules.decide``. Accepted, disputed and rejected are final.

Each call is one store transaction: the claim's new state, its entry into causal memory
(only when accepted) and the trust events it causes commit together or not at all. Trust
events, for the claim's sender: accepted -> knowledge_verified; contradicts its own trace
-> malicious_evidence; trace incomplete -> unverifiable_claim; conflicts with an accepted
claim -> conflict, or severe_conflict if that claim was the sender's own or confirmed by
it; disputed by a trusted peer -> conflict (challenge reason ``conflict`` or a
FACT_REJECT) or unverifiable_claim (``insufficient_evidence``/``cannot_verify``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from web4.clock import Clock
from web4.errors import KnowledgeError, StoreError, UnknownClaimError
from web4.knowledge.memory import CausalMemory, domain_key
from web4.knowledge.model import (
    TERMINAL,
    CausalLink,
    ChallengeReason,
    ClaimState,
    DmpTrace,
    Fact,
    KnowledgePolicy,
    LocalState,
    SharedDecision,
    check_text,
    check_unit,
    to_json,
)
from web4.knowledge.rules import (
    Assessment,
    DmpVerdict,
    MemoryConflict,
    Normalized,
    check_dmp,
    contradicts,
    decide,
    normalize,
)
from web4.store import Store
from web4.trust import TrustBook, TrustEvent, TrustOutcome, TrustState

__all__ = ["Claim", "ClaimOutcome", "DecisionOutcome", "KnowledgeExchange"]

_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True, slots=True)
class Claim:
    """A stored claim and its current state."""

    msg_id: str
    sender: str
    fact: Fact
    trace: DmpTrace
    links: tuple[CausalLink, ...]
    state: ClaimState
    reason: str


@dataclass(frozen=True, slots=True)
class ClaimOutcome:
    """What a call did to a claim, and the trust events it caused."""

    claim_id: str
    previous: ClaimState | None
    state: ClaimState
    reason: str
    trust: tuple[TrustOutcome, ...] = ()

    @property
    def changed(self) -> bool:
        return self.previous != self.state


@dataclass(frozen=True, slots=True)
class DecisionOutcome:
    """Whether a DECISION_SHARE was stored, and why not if not."""

    msg_id: str
    stored: bool
    reason: str


class KnowledgeExchange:
    """The anti-hallucination rules over the store, fed by and feeding the TrustFSM."""

    def __init__(
        self, store: Store, trust: TrustBook, clock: Clock, policy: KnowledgePolicy | None = None
    ) -> None:
        """Applies the knowledge migrations. Raises ``StoreError`` if they fail."""
        self._store = store
        self._trust = trust
        self._clock = clock
        self.policy = policy or KnowledgePolicy()
        self.memory = CausalMemory(store)

    # --- incoming messages ----------------------------------------------------------

    def propose(
        self,
        *,
        msg_id: str,
        sender: str,
        fact: Fact,
        trace: DmpTrace,
        links: Sequence[CausalLink] = (),
        local: LocalState,
    ) -> ClaimOutcome:
        """FACT_PROPOSE: store the claim and evaluate it.

        Raises ``KnowledgeError`` on a malformed ``msg_id``/``sender``, too many links, or
        a ``msg_id`` already proposed; ``StoreError`` if the store fails.
        """
        _check_ids(msg_id, sender)
        if len(links) > 64:
            raise KnowledgeError("a claim has at most 64 causal links")
        norm = normalize(fact.statement)
        now = self._clock.now()
        with self._store.transaction():
            if self._row(msg_id) is not None:
                raise KnowledgeError(f"claim {msg_id!r} was already proposed")
            self._store.execute(
                "INSERT INTO knowledge_claims (msg_id, sender, domain_key, subject_key, "
                "negated, fact, trace, links, state, reason, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 'proposed', ?, ?)",
                (
                    msg_id,
                    sender,
                    domain_key(fact.domain),
                    norm.subject,
                    int(norm.negated),
                    json.dumps(to_json(fact)),
                    json.dumps(to_json(trace)),
                    json.dumps([to_json(link) for link in links]),
                    now,
                    now,
                ),
            )
            out = self._evaluate(msg_id, local, now)
        return ClaimOutcome(out.claim_id, None, out.state, out.reason, out.trust)

    def confirm(
        self, *, msg_id: str, sender: str, fact_ref: str, confidence: float, notes: str = "",
        local: LocalState,
    ) -> ClaimOutcome:  # fmt: skip
        """FACT_CONFIRM. Raises ``UnknownClaimError`` for an unknown ``fact_ref``,
        ``KnowledgeError`` for malformed fields or a duplicate ``msg_id``."""
        return self._vote(msg_id, sender, fact_ref, "confirm", "confirm", confidence, notes, local)

    def reject(
        self, *, msg_id: str, sender: str, fact_ref: str, confidence: float, notes: str = "",
        local: LocalState,
    ) -> ClaimOutcome:  # fmt: skip
        """FACT_REJECT. Raises as ``confirm``."""
        return self._vote(msg_id, sender, fact_ref, "reject", "reject", confidence, notes, local)

    def challenge(
        self, *, msg_id: str, sender: str, fact_ref: str, reason: str, notes: str = "",
        local: LocalState,
    ) -> ClaimOutcome:  # fmt: skip
        """FACT_CHALLENGE. Raises as ``confirm``, and ``KnowledgeError`` for an unknown
        reason."""
        try:
            why = ChallengeReason(reason)
        except ValueError as exc:
            raise KnowledgeError(f"unknown challenge reason {reason!r}") from exc
        return self._vote(msg_id, sender, fact_ref, "challenge", why.value, None, notes, local)

    def share_decision(
        self, *, msg_id: str, sender: str, decision: SharedDecision, trace: DmpTrace,
        retrospective: str = "",
    ) -> DecisionOutcome:  # fmt: skip
        """DECISION_SHARE: keep the DMP trace, if the sender is probing or trusted.

        Raises ``KnowledgeError`` on malformed ids or an oversize retrospective.
        """
        _check_ids(msg_id, sender)
        check_text("retrospective", retrospective, empty=True, limit=16384)
        state = self._trust.state_of(sender)
        if state not in (TrustState.PROBING, TrustState.TRUSTED):
            return DecisionOutcome(msg_id, False, f"sender is {state}")
        with self._store.transaction():
            stored = self.memory.record_decision(
                msg_id, sender, decision, trace, retrospective, self._clock.now()
            )
        return DecisionOutcome(msg_id, stored, "stored" if stored else "already stored")

    def reevaluate(self, local: LocalState, limit: int = 1000) -> list[ClaimOutcome]:
        """Re-evaluate the oldest ``limit`` pending and deferred claims under ``local`` (a
        bounded batch: call again while it returns ``limit`` outcomes)."""
        rows = self._store.query(
            "SELECT msg_id FROM knowledge_claims WHERE state IN ('pending', 'deferred') "
            "ORDER BY created_at, msg_id LIMIT ?",
            (max(limit, 0),),
        )
        outcomes = []
        for (claim_id,) in rows:
            with self._store.transaction():
                outcomes.append(self._evaluate(str(claim_id), local, self._clock.now()))
        return outcomes

    # --- reads ----------------------------------------------------------------------

    def claim(self, msg_id: str) -> Claim:
        """The stored claim. Raises ``UnknownClaimError`` if there is none."""
        row = self._row(msg_id)
        if row is None:
            raise UnknownClaimError(f"no claim {msg_id!r}")
        return _claim(row)

    def claims(self, state: ClaimState | None = None) -> list[Claim]:
        """Stored claims (all, or in one state), oldest first."""
        sql = _SELECT
        if state is None:
            rows = self._store.query(f"{sql} ORDER BY created_at, msg_id")
        else:
            rows = self._store.query(
                f"{sql} WHERE state = ? ORDER BY created_at, msg_id", (ClaimState(state).value,)
            )
        return [_claim(r) for r in rows]

    def confirmers(self, claim_id: str) -> list[str]:
        """Distinct peers that confirmed the claim (whatever their trust)."""
        rows = self._store.query(
            "SELECT DISTINCT voter FROM knowledge_votes WHERE claim_id = ? AND kind = 'confirm'"
            " ORDER BY voter",
            (claim_id,),
        )
        return [str(r[0]) for r in rows]

    # --- internals ------------------------------------------------------------------

    def _row(self, msg_id: str) -> tuple[Any, ...] | None:
        return self._store.query_one(_SELECT + " WHERE msg_id = ?", (msg_id,))

    def _vote(
        self, msg_id: str, voter: str, claim_id: str, kind: str, reason: str,
        confidence: float | None, notes: str, local: LocalState,
    ) -> ClaimOutcome:  # fmt: skip
        _check_ids(msg_id, voter)
        check_text("fact_ref", claim_id, limit=128)
        check_text("notes", notes, empty=True)
        conf = None if confidence is None else check_unit("confidence", confidence)
        now = self._clock.now()
        with self._store.transaction():
            if self._row(claim_id) is None:
                raise UnknownClaimError(f"{kind} refers to unknown claim {claim_id!r}")
            try:
                self._store.execute(
                    "INSERT INTO knowledge_votes (msg_id, claim_id, voter, kind, reason, "
                    "confidence, notes, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (msg_id, claim_id, voter, kind, reason, conf, notes, now),
                )
            except StoreError as exc:
                raise KnowledgeError(f"vote {msg_id!r} was already recorded") from exc
            return self._evaluate(claim_id, local, now)

    def _evaluate(self, claim_id: str, local: LocalState, now: float) -> ClaimOutcome:
        row = self._row(claim_id)
        assert row is not None
        claim = _claim(row)
        if claim.state in TERMINAL:
            return ClaimOutcome(claim_id, claim.state, claim.state, claim.reason)
        trusted = self._trusted_voters(claim_id, claim.sender)
        objection = next((v for v in trusted if v[1] != "confirm"), None)
        dmp, dmp_reason = check_dmp(claim.fact, claim.trace)
        conflict, conflicting = self._memory_conflict(claim)
        confirmers = sorted({v[0] for v in trusted if v[1] == "confirm"})
        state, reason = decide(
            Assessment(
                sender_trust=self._trust.state_of(claim.sender),
                trusted_confirmers=len(confirmers),
                trusted_objection=objection is not None,
                local_allows=local.allows_new_work(self.policy),
                dmp=dmp,
                dmp_reason=dmp_reason,
                memory=conflict,
                min_confirmations=self.policy.min_confirmations,
            )
        )
        if state == claim.state:
            return ClaimOutcome(claim_id, claim.state, state, reason)
        self._store.execute(
            "UPDATE knowledge_claims SET state = ?, reason = ?, updated_at = ? WHERE msg_id = ?",
            (state.value, reason, now, claim_id),
        )
        event: TrustEvent | None = None
        evidence = [claim_id]
        if state is ClaimState.ACCEPTED:
            keys = (str(row[2]), str(row[3]), bool(row[4]))
            self.memory.admit(
                claim_id, claim.sender, keys, claim.fact, claim.trace, claim.links, now
            )
            event = TrustEvent.KNOWLEDGE_VERIFIED
            evidence += [v[2] for v in trusted if v[1] == "confirm"]
        elif state is ClaimState.REJECTED and dmp is DmpVerdict.CONTRADICTED:
            event = TrustEvent.MALICIOUS_EVIDENCE
        elif state is ClaimState.REJECTED and dmp is DmpVerdict.INCOMPLETE:
            event = TrustEvent.UNVERIFIABLE_CLAIM
        elif state is ClaimState.DISPUTED and conflict is not MemoryConflict.NONE:
            severe = conflict is MemoryConflict.SEVERE
            event = TrustEvent.SEVERE_CONFLICT if severe else TrustEvent.CONFLICT
            evidence += conflicting
        elif state is ClaimState.DISPUTED and objection is not None:
            unverifiable = objection[1] in ("insufficient_evidence", "cannot_verify")
            event = TrustEvent.UNVERIFIABLE_CLAIM if unverifiable else TrustEvent.CONFLICT
            evidence.append(objection[2])
        trust: tuple[TrustOutcome, ...] = ()
        if event is not None:
            cause = f"claim {claim_id} {state}: {reason}"[:1024]
            trust = (self._trust.record(claim.sender, event, cause, evidence[:64]),)
        return ClaimOutcome(claim_id, claim.state, state, reason, trust)

    def _trusted_voters(self, claim_id: str, sender: str) -> list[tuple[str, str, str]]:
        """(voter, reason, msg_id) of votes by currently trusted peers other than the
        sender, oldest first."""
        rows = self._store.query(
            "SELECT voter, reason, msg_id FROM knowledge_votes WHERE claim_id = ? "
            "AND voter != ? ORDER BY at, msg_id",
            (claim_id, sender),
        )
        return [
            (str(v), str(r), str(m))
            for v, r, m in rows
            if self._trust.state_of(str(v)) is TrustState.TRUSTED
        ]

    def _memory_conflict(self, claim: Claim) -> tuple[MemoryConflict, list[str]]:
        """Does causal memory contradict the claim? Returns the kind and the node ids."""
        norm = normalize(claim.fact.statement)
        hits = [
            node_id
            for node_id, _, negated in self.memory.same_subject(
                domain_key(claim.fact.domain), norm.subject
            )
            if contradicts(norm, _polar(norm.subject, negated))
        ]
        marked = [link.target for link in claim.links if link.relation == "contradicts"]
        hits += [t for t in self.memory.senders_of(marked) if t not in hits]
        if not hits:
            return MemoryConflict.NONE, []
        own = {n for n, s in self.memory.senders_of(hits).items() if s == claim.sender}
        for node_id in hits:
            if claim.sender in self.confirmers(node_id):
                own.add(node_id)
        return (MemoryConflict.SEVERE if own else MemoryConflict.CONFLICT), hits


_SELECT = (
    "SELECT msg_id, sender, domain_key, subject_key, negated, fact, trace, links, state, reason"
    " FROM knowledge_claims"
)


def _polar(subject: str, negated: bool) -> Normalized:
    return Normalized((), subject, negated)


def _check_ids(msg_id: str, sender: str) -> None:
    check_text("msg_id", msg_id, limit=128)
    if not isinstance(sender, str) or not _FINGERPRINT.match(sender):
        raise KnowledgeError("sender must be a lowercase hex SHA-256 fingerprint")


def _claim(r: tuple[Any, ...]) -> Claim:
    return Claim(
        str(r[0]),
        str(r[1]),
        Fact(**json.loads(r[5])),
        DmpTrace(**json.loads(r[6])),
        tuple(CausalLink(**link) for link in json.loads(r[7])),
        ClaimState(r[8]),
        str(r[9]),
    )
