"""KnowledgeExchange: trust-gated claims, confirmations and decisions, persisted.

Theory of operation: the router calls one method per CIP knowledge message with decoded,
typed fields and the node's current ``LocalState``. ``propose`` stores a claim and
evaluates it; ``confirm``/``reject``/``challenge`` store a vote (one per claim and voter)
and re-evaluate the claim it refers to. A claim is identified by its *claim hash*
(``web4.cip.claims.claim_hash``: the proposer and the payload it signed); a vote names
the claim's ``msg_id`` and its hash and applies only to the claim with that hash, so a
vote can never be moved to another statement by someone proposing under the same
``msg_id``; ``reevaluate`` revisits pending and deferred
claims (call it when load drops or trust changes). Evaluation gathers an ``Assessment``
(trust states are read from the ``TrustBook`` at that moment, so a confirmer demoted since
no longer counts; a vote counts only from a peer trusted since before the claim was first
seen here, once per voter, never the proposer's nor this node's own) and applies
``rules.decide``. Stored claims that are not accepted are bounded per sender (count and
bytes, ``KnowledgePolicy``) and expire after ``claim_ttl_s``: a flood of claims costs the
flooder its own quota, not the node's disk. Accepted, disputed and rejected are final.

Each call is one store transaction: the claim's new state, its entry into causal memory
(only when accepted) and the trust events it causes commit together or not at all. Trust
events, for the claim's sender: accepted -> knowledge_verified; contradicts its own trace
-> malicious_evidence; trace incomplete -> unverifiable_claim; conflicts with an accepted
claim -> conflict, or severe_conflict if that claim was the sender's own or confirmed by
it; disputed by a trusted peer -> conflict (challenge reason ``conflict`` or a
FACT_REJECT) or unverifiable_claim (``insufficient_evidence``/``cannot_verify``). A
``trusted`` sender is charged with a dispute only when a party behind it (an objector, or
a confirmer of the contradicted memory) has been trusted at least as long as the sender:
recently promoted peers alone cannot demote a senior one. This node's own claims (``me``)
follow the same acceptance rules but cause no trust events: the node is not in its own
peer trust book.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from web4.cip.claims import claim_hash_of_builtins
from web4.clock import Clock
from web4.errors import KnowledgeError, QuotaError, UnknownClaimError
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
    check_decision,
    check_fact,
    check_text,
    check_trace,
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
_HASH = _FINGERPRINT  # a claim hash is a lowercase hex SHA-256 too


@dataclass(frozen=True, slots=True)
class Claim:
    """A stored claim and its current state."""

    msg_id: str  # the claim's local id (the proposing msg_id unless another claim had it)
    sender: str
    fact: Fact
    trace: DmpTrace
    links: tuple[CausalLink, ...]
    state: ClaimState
    reason: str
    claim_hash: str | None = None  # None only for claims stored before hashes existed
    wire_msg_id: str = ""  # the msg_id it was proposed under (votes' fact_ref)
    created_at: float = 0.0  # when this node first saw it


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
    duplicate: bool = False  # not stored: the sender's message of that msg_id was, before


class KnowledgeExchange:
    """The anti-hallucination rules over the store, fed by and feeding the TrustFSM."""

    def __init__(
        self,
        store: Store,
        trust: TrustBook,
        clock: Clock,
        policy: KnowledgePolicy | None = None,
        *,
        me: str | None = None,
    ) -> None:
        """``me``: this node's fingerprint (its own claims cause no trust events and its
        own votes never count). Applies the knowledge migrations. Raises ``StoreError``
        if they fail."""
        self._store = store
        self._trust = trust
        self._clock = clock
        self.policy = policy or KnowledgePolicy()
        self.me = me
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
        claim_hash: str | None = None,
    ) -> ClaimOutcome:
        """FACT_PROPOSE: store the claim and evaluate it.

        ``claim_hash``: the hash of the payload as received (``web4.cip.claims``); when
        None it is computed from ``fact``, ``trace`` and ``links`` (a local claim).
        The outcome's ``claim_id`` is the claim's local id: ``msg_id``, or the claim hash
        when another claim already holds ``msg_id`` (someone proposed under a msg_id
        that is not theirs; the two claims stay apart).
        Raises ``KnowledgeError`` on a malformed ``msg_id``/``sender``/hash, too many
        links, or a claim already stored (same hash); ``QuotaError`` (a
        ``KnowledgeError``) when the sender is over its quota of stored claims;
        ``StoreError`` if the store fails.
        """
        _check_ids(msg_id, sender)
        fact, trace = check_fact(fact), check_trace(trace)
        if len(links) > 64:
            raise KnowledgeError("a claim has at most 64 causal links")
        if claim_hash is None:
            claim_hash = claim_hash_of_builtins(sender, _wire_payload(fact, trace, links))
        elif not isinstance(claim_hash, str) or not _HASH.match(claim_hash):
            raise KnowledgeError("claim_hash must be a lowercase hex SHA-256")
        norm = normalize(fact.statement)
        body = (
            json.dumps(to_json(fact)),
            json.dumps(to_json(trace)),
            json.dumps([to_json(link) for link in links]),
        )
        size = sum(len(b.encode()) for b in body)
        now = self._clock.now()
        with self._store.transaction():
            self._expire(now)
            if self._by_hash(claim_hash) is not None:
                raise KnowledgeError(f"claim {claim_hash[:16]}... was already proposed")
            if sender != self.me:
                self._check_quota(sender, size)
            claim_id = msg_id if self._row(msg_id) is None else claim_hash
            self._store.execute(
                "INSERT INTO knowledge_claims (msg_id, sender, domain_key, subject_key, "
                "negated, fact, trace, links, state, reason, created_at, updated_at, "
                "claim_hash, wire_msg_id, bytes) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', 'proposed', ?, ?, ?, ?, ?)",
                (
                    claim_id,
                    sender,
                    domain_key(fact.domain),
                    norm.subject,
                    int(norm.negated),
                    *body,
                    now,
                    now,
                    claim_hash,
                    msg_id,
                    size,
                ),
            )
            out = self._evaluate(claim_id, local, now)
        return ClaimOutcome(out.claim_id, None, out.state, out.reason, out.trust)

    def confirm(
        self, *, msg_id: str, sender: str, fact_ref: str, confidence: float, notes: str = "",
        local: LocalState, claim_hash: str | None = None,
    ) -> ClaimOutcome:  # fmt: skip
        """FACT_CONFIRM of the claim with ``claim_hash`` (proposed as ``fact_ref``).
        ``claim_hash`` None: the claim whose local id is ``fact_ref`` (local callers).
        Raises ``UnknownClaimError`` when no claim has that hash, ``KnowledgeError`` for
        malformed fields, a ``fact_ref`` that is not the claim's msg_id, or a second vote
        by the same voter on the same claim."""
        return self._vote(
            msg_id, sender, fact_ref, claim_hash, "confirm", "confirm", confidence, notes, local
        )

    def reject(
        self, *, msg_id: str, sender: str, fact_ref: str, confidence: float, notes: str = "",
        local: LocalState, claim_hash: str | None = None,
    ) -> ClaimOutcome:  # fmt: skip
        """FACT_REJECT. Raises as ``confirm``."""
        return self._vote(
            msg_id, sender, fact_ref, claim_hash, "reject", "reject", confidence, notes, local
        )

    def challenge(
        self, *, msg_id: str, sender: str, fact_ref: str, reason: str, notes: str = "",
        local: LocalState, claim_hash: str | None = None,
    ) -> ClaimOutcome:  # fmt: skip
        """FACT_CHALLENGE. Raises as ``confirm``, and ``KnowledgeError`` for an unknown
        reason."""
        try:
            why = ChallengeReason(reason)
        except ValueError as exc:
            raise KnowledgeError(f"unknown challenge reason {reason!r}") from exc
        return self._vote(
            msg_id, sender, fact_ref, claim_hash, "challenge", why.value, None, notes, local
        )

    def share_decision(
        self, *, msg_id: str, sender: str, decision: SharedDecision, trace: DmpTrace,
        retrospective: str = "",
    ) -> DecisionOutcome:  # fmt: skip
        """DECISION_SHARE: keep the DMP trace, if the sender is probing or trusted.

        Raises ``KnowledgeError`` on malformed ids or an oversize retrospective.
        """
        _check_ids(msg_id, sender)
        decision, trace = check_decision(decision), check_trace(trace)
        check_text("retrospective", retrospective, empty=True, limit=16384)
        state = self._trust.state_of(sender)
        if state not in (TrustState.PROBING, TrustState.TRUSTED):
            return DecisionOutcome(msg_id, False, f"sender is {state}")
        with self._store.transaction():
            stored = self.memory.record_decision(
                msg_id, sender, decision, trace, retrospective, self._clock.now()
            )
        # not stored: this sender's decision under this id is already (rows are per
        # origin, msg_id and sender), so this is a second copy of it
        return DecisionOutcome(
            msg_id, stored, "stored" if stored else "already stored", duplicate=not stored
        )

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

    def has_claim(self, claim_hash: str, sender: str, msg_id: str) -> bool:
        """Is this very proposal (hash, proposer, ``msg_id``) stored? A broadcast reaches
        a node twice, point to point and by gossip (CIP_SPEC §11)."""
        row = self._store.query_one(
            "SELECT 1 FROM knowledge_claims WHERE claim_hash = ? AND sender = ? "
            "AND wire_msg_id = ?",
            (claim_hash, sender, msg_id),
        )
        return row is not None

    def has_vote(self, voter: str, msg_id: str) -> bool:
        """Is the vote ``msg_id`` of ``voter`` stored (the other copy of a broadcast)?"""
        row = self._store.query_one(
            "SELECT 1 FROM knowledge_votes WHERE voter = ? AND msg_id IN (?, ?)",
            (voter, msg_id, _taken_id(voter, msg_id)),
        )
        return row is not None

    def _vote_id(self, msg_id: str, voter: str) -> str:
        """The row id of a vote: its ``msg_id``, or, when another voter's vote holds that
        id already (a key that saw the vote, e.g. by gossip, and planted its own under the
        same ``msg_id`` first), an id derived from the voter and the ``msg_id``, so the
        honest vote is not lost."""
        row = self._store.query_one("SELECT voter FROM knowledge_votes WHERE msg_id = ?", (msg_id,))
        return msg_id if row is None or row[0] == voter else _taken_id(voter, msg_id)

    def _row(self, msg_id: str) -> tuple[Any, ...] | None:
        return self._store.query_one(_SELECT + " WHERE msg_id = ?", (msg_id,))

    def _by_hash(self, claim_hash: str) -> tuple[Any, ...] | None:
        return self._store.query_one(_SELECT + " WHERE claim_hash = ?", (claim_hash,))

    def _expire(self, now: float) -> None:
        """Delete claims that were never accepted and are older than ``claim_ttl_s``
        (with their votes), a bounded batch per call. Accepted claims stay: causal
        memory refers to them."""
        rows = self._store.query(
            "SELECT msg_id FROM knowledge_claims WHERE created_at < ? AND state != "
            "'accepted' ORDER BY created_at LIMIT 256",
            (now - self.policy.claim_ttl_s,),
        )
        for (claim_id,) in rows:
            self._store.execute("DELETE FROM knowledge_votes WHERE claim_id = ?", (claim_id,))
            self._store.execute("DELETE FROM knowledge_claims WHERE msg_id = ?", (claim_id,))

    def _check_quota(self, sender: str, size: int) -> None:
        row = self._store.query_one(
            "SELECT COUNT(*), COALESCE(SUM(bytes), 0) FROM knowledge_claims "
            "WHERE sender = ? AND state != 'accepted'",
            (sender,),
        )
        count, used = (int(row[0]), int(row[1])) if row is not None else (0, 0)
        p = self.policy
        if count + 1 > p.max_open_claims_per_sender or used + size > p.max_open_bytes_per_sender:
            raise QuotaError(
                f"sender {sender[:16]} is over its quota of stored claims ({count} claims, "
                f"{used} bytes; at most {p.max_open_claims_per_sender} and "
                f"{p.max_open_bytes_per_sender} until some are accepted or expire)"
            )
        if self._trust.state_of(sender) is TrustState.TRUSTED:
            return
        row = self._store.query_one(
            "SELECT COALESCE(SUM(bytes), 0) FROM knowledge_claims WHERE state != 'accepted' "
            "AND sender != ? AND sender NOT IN "
            "(SELECT peer FROM trust_peers WHERE state = 'trusted')",
            (self.me or "",),
        )
        pooled = int(row[0]) if row is not None else 0
        if pooled + size > p.max_open_bytes_untrusted:
            raise QuotaError(
                f"the claims of peers that are not trusted fill their shared quota "
                f"({pooled} bytes, at most {p.max_open_bytes_untrusted}) until some are "
                "accepted or expire"
            )

    def _vote(
        self, msg_id: str, voter: str, fact_ref: str, claim_hash: str | None, kind: str,
        reason: str, confidence: float | None, notes: str, local: LocalState,
    ) -> ClaimOutcome:  # fmt: skip
        _check_ids(msg_id, voter)
        check_text("fact_ref", fact_ref, limit=128)
        check_text("notes", notes, empty=True)
        conf = None if confidence is None else check_unit("confidence", confidence)
        now = self._clock.now()
        with self._store.transaction():
            if claim_hash is None:  # a local caller naming the claim by its local id
                row = self._row(fact_ref)
            elif not isinstance(claim_hash, str) or not _HASH.match(claim_hash):
                raise KnowledgeError("claim_hash must be a lowercase hex SHA-256")
            else:
                row = self._by_hash(claim_hash)
            if row is None:
                raise UnknownClaimError(f"{kind} refers to unknown claim {fact_ref!r}")
            claim = _claim(row)
            if claim_hash is not None and claim.wire_msg_id != fact_ref:
                raise KnowledgeError(
                    f"{kind}: fact_ref {fact_ref!r} is not the msg_id of the claim with "
                    "that claim_hash"
                )
            if self._store.query_one(
                "SELECT 1 FROM knowledge_votes WHERE claim_id = ? AND voter = ?",
                (claim.msg_id, voter),
            ):
                raise KnowledgeError(f"{voter[:16]} already voted on claim {claim.msg_id!r}")
            self._store.execute(
                "INSERT INTO knowledge_votes (msg_id, claim_id, voter, kind, reason, "
                "confidence, notes, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (self._vote_id(msg_id, voter), claim.msg_id, voter, kind, reason, conf, notes,
                 now),
            )  # fmt: skip
            return self._evaluate(claim.msg_id, local, now)

    def _evaluate(self, claim_id: str, local: LocalState, now: float) -> ClaimOutcome:
        row = self._row(claim_id)
        assert row is not None
        claim = _claim(row)
        if claim.state in TERMINAL:
            return ClaimOutcome(claim_id, claim.state, claim.state, claim.reason)
        own = claim.sender == self.me
        # a sender met only through gossip (no trust record: CIP_SPEC §11) is judged like
        # a probing peer: one handshake would make it that; it has no record to charge
        unmet = self.policy.unmet_as_probing and not own and not self._trust.known(claim.sender)
        voters = self.counted_voters(claim)
        objection = next((v for v in voters if v[1] != "confirm"), None)
        dmp, dmp_reason = check_dmp(claim.fact, claim.trace)
        conflict, conflicting = self._memory_conflict(claim)
        confirmers = sorted({v[0] for v in voters if v[1] == "confirm"})
        state, reason = decide(
            Assessment(
                # our own claim is judged like a probing peer's: it needs the confirmations
                sender_trust=(
                    TrustState.PROBING if own or unmet else self._trust.state_of(claim.sender)
                ),
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
        parties: list[str] = []  # who stands behind a dispute (for the seniority rule)
        if state is ClaimState.ACCEPTED:
            keys = (str(row[2]), str(row[3]), bool(row[4]))
            self.memory.admit(
                claim_id, claim.sender, keys, claim.fact, claim.trace, claim.links, now
            )
            event = TrustEvent.KNOWLEDGE_VERIFIED
            evidence += [v[2] for v in voters if v[1] == "confirm"]
        elif state is ClaimState.REJECTED and dmp is DmpVerdict.CONTRADICTED:
            event = TrustEvent.MALICIOUS_EVIDENCE
        elif state is ClaimState.REJECTED and dmp is DmpVerdict.INCOMPLETE:
            event = TrustEvent.UNVERIFIABLE_CLAIM
        elif state is ClaimState.DISPUTED and conflict is not MemoryConflict.NONE:
            severe = conflict is MemoryConflict.SEVERE
            event = TrustEvent.SEVERE_CONFLICT if severe else TrustEvent.CONFLICT
            evidence += conflicting
            parties = self._backers(conflicting)
        elif state is ClaimState.DISPUTED and objection is not None:
            unverifiable = objection[1] in ("insufficient_evidence", "cannot_verify")
            event = TrustEvent.UNVERIFIABLE_CLAIM if unverifiable else TrustEvent.CONFLICT
            evidence.append(objection[2])
            parties = [v[0] for v in voters if v[1] != "confirm"]
        if own or unmet or (parties and not self._senior_among(claim.sender, parties)):
            event = None
        trust: tuple[TrustOutcome, ...] = ()
        if event is not None:
            cause = f"claim {claim_id} {state}: {reason}"[:1024]
            trust = (self._trust.record(claim.sender, event, cause, evidence[:64]),)
        return ClaimOutcome(claim_id, claim.state, state, reason, trust)

    def counted_voters(self, claim: Claim) -> list[tuple[str, str, str]]:
        """(voter, reason, msg_id) of the votes that count for ``claim``, oldest first:
        one per voter, by peers that are ``trusted`` now and were trusted when this node
        first saw the claim, never the proposer's nor this node's own."""
        rows = self._store.query(
            "SELECT voter, reason, msg_id FROM knowledge_votes WHERE claim_id = ? "
            "AND voter != ? ORDER BY at, msg_id",
            (claim.msg_id, claim.sender),
        )
        return [
            (str(v), str(r), str(m))
            for v, r, m in rows
            if v != self.me and self._trust.trusted_before(str(v), claim.created_at)
        ]

    def _backers(self, node_ids: Sequence[str]) -> list[str]:
        """The proposers and confirmers of accepted claims ``node_ids``."""
        people = set(self.memory.senders_of(list(node_ids)).values())
        for node_id in node_ids:
            people.update(self.confirmers(node_id))
        return sorted(people)

    def _senior_among(self, sender: str, parties: Sequence[str]) -> bool:
        """May these parties charge ``sender``? Always for a sender that is not trusted;
        for a trusted one, only if one of them is trusted and has been for at least as
        long (a recently promoted peer alone never demotes a senior one)."""
        since = self._trust.trusted_since(sender)
        if since is None:
            return True
        return any(p != self.me and self._trust.trusted_before(p, since) for p in parties)

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
    "SELECT msg_id, sender, domain_key, subject_key, negated, fact, trace, links, state, reason,"
    " claim_hash, wire_msg_id, created_at FROM knowledge_claims"
)


def _wire_payload(fact: Fact, trace: DmpTrace, links: Sequence[CausalLink]) -> dict[str, Any]:
    """The FACT_PROPOSE payload a local claim is broadcast as (CIP causal links are bare
    msg_ids)."""
    return {
        "fact": to_json(fact),
        "dmp_trace": to_json(trace),
        "causal_links": [link.target for link in links],
    }


def _polar(subject: str, negated: bool) -> Normalized:
    return Normalized((), subject, negated)


def _taken_id(voter: str, msg_id: str) -> str:
    return "vote:" + hashlib.sha256(f"{voter}:{msg_id}".encode()).hexdigest()


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
        None if r[10] is None else str(r[10]),
        str(r[11]) if r[11] is not None else str(r[0]),
        float(r[12]),
    )
