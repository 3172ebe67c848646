"""The deferred-acceptance queue: claims wait in SQLite until the rule lets them in.

Theory of operation: every claim from a fetch (ours, or a peer's ``LIP_EVIDENCE``) is
``submit``ted with its provenance and enters ``pending``. The node then reports what
happens to it: a peer's confirmation or rejection (``corroborate``; only peers trusted at
that moment count, each peer once, its latest verdict wins), the resolution of a dispute
(``resolve``), or just the passing of time and load (``process``). After each report the
pure rule in ``web4.lip._state`` picks at most one event per claim and ``CLAIM_TABLE``
applies it. Everything one report changes (claim row, audit rows, tier counters, and the
causal-memory write of an accepted claim) happens in one store transaction, so a crash
leaves either all of it or none, and the queue picks up where it was after a restart.
Only ``accepted`` claims are handed to ``AcceptedClaimSink``. Tier outcomes: a claim's first
trusted confirmation counts once as ``corroborated`` for its host, its first trusted
rejection or a dispute resolved against it once as ``rejected`` (``web4.lip.tiers``).
Bounded: at most ``max_open`` claims may be pending or disputed at once.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from web4.errors import LIPQueueError, UnknownClaimError
from web4.lip._state import CLAIM_TABLE, Facts, LearnedClaimState, next_event
from web4.lip.hosts import host_of
from web4.lip.messages import (
    Claim,
    Evidence,
    Tier,
)
from web4.lip.tiers import SourceTiers
from web4.store import Migration, MigrationSet, Store

__all__ = [
    "MIGRATIONS",
    "AcceptedClaim",
    "AcceptedClaimSink",
    "ClaimQueue",
    "LocalKnowledge",
    "QueuedClaim",
    "Transition",
]


class LocalKnowledge(Protocol):
    """What the agent already holds: ids of local items a statement contradicts."""

    def conflicts_with(self, statement: str) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class AcceptedClaim:
    claim_id: str
    statement: str
    uri: str
    final_uri: str
    sha256: str
    retrieved_at: str
    tier: Tier
    corroborators: tuple[str, ...]
    reason: str
    accepted_at: float


class AcceptedClaimSink(Protocol):
    """Where accepted claims go (and nothing else)."""

    def record_claim(self, claim: AcceptedClaim) -> None: ...


@dataclass(frozen=True, slots=True)
class QueuedClaim:
    claim_id: str
    statement: str
    uri: str
    host: str
    state: LearnedClaimState
    reason: str
    deadline: float
    local_refs: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Transition:
    """One change of state (or the intake, ``event == "queued"``), for events/messages."""

    claim_id: str
    src: str
    event: str
    dst: str
    reason: str
    host: str
    corroborators: tuple[str, ...]
    local_refs: tuple[str, ...]


MIGRATIONS = MigrationSet(
    "lip_queue",
    (
        Migration(
            1,
            "deferred-acceptance queue, peer corroborations, audit log",
            (
                """CREATE TABLE lip_claims (
                    claim_id TEXT PRIMARY KEY, statement TEXT NOT NULL,
                    locator TEXT NOT NULL, uri TEXT NOT NULL, final_uri TEXT NOT NULL,
                    host TEXT NOT NULL, sha256 TEXT NOT NULL, retrieved_at TEXT NOT NULL,
                    state TEXT NOT NULL, reason TEXT NOT NULL, created_at REAL NOT NULL,
                    updated_at REAL NOT NULL, deadline REAL NOT NULL,
                    resolution INTEGER, local_refs TEXT NOT NULL,
                    counted_good INTEGER NOT NULL, counted_bad INTEGER NOT NULL
                ) STRICT""",
                "CREATE INDEX lip_claims_open ON lip_claims (state, created_at)",
                """CREATE TABLE lip_corroborations (
                    claim_id TEXT NOT NULL REFERENCES lip_claims (claim_id),
                    peer TEXT NOT NULL, verdict TEXT NOT NULL, trusted INTEGER NOT NULL,
                    at REAL NOT NULL, PRIMARY KEY (claim_id, peer)
                ) STRICT""",
                """CREATE TABLE lip_claim_audit (
                    id INTEGER PRIMARY KEY AUTOINCREMENT, claim_id TEXT NOT NULL,
                    at REAL NOT NULL, src TEXT NOT NULL, event TEXT NOT NULL,
                    dst TEXT NOT NULL, note TEXT NOT NULL, cause TEXT NOT NULL
                ) STRICT""",
            ),
        ),
    ),
)

_OPEN = (LearnedClaimState.PENDING.value, LearnedClaimState.DISPUTED.value)
_SELECT = (
    "SELECT claim_id, statement, uri, host, state, reason, deadline, local_refs FROM lip_claims"
)


class ClaimQueue:
    """The deferred-acceptance queue of one node (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        tiers: SourceTiers,
        *,
        knowledge: LocalKnowledge,
        memory: AcceptedClaimSink,
        is_trusted: Callable[[str], bool],
        window: float = 24 * 3600.0,
        max_open: int = 10_000,
    ) -> None:
        """``window``: seconds a claim waits for corroboration before low trust rejects
        it. Applies the ``lip_queue`` migrations. Raises ``StoreError``."""
        self._store = store
        self._tiers = tiers
        self._knowledge = knowledge
        self._memory = memory
        self._is_trusted = is_trusted
        self.window = window
        self.max_open = max_open
        store.migrate(MIGRATIONS)

    # --- reports --------------------------------------------------------------------

    def submit(
        self,
        evidence: Evidence,
        claims: Sequence[Claim],
        *,
        now: float,
        overloaded: bool = False,
        cause: str = "",
    ) -> list[Transition]:
        """Queue new claims (known claim ids are skipped) and evaluate them.

        Raises ``LIPQueueError`` when the claims would exceed ``max_open`` open claims
        (nothing is queued then), ``StoreError`` on a store failure.
        """
        host = host_of(evidence.final_uri)
        out: list[Transition] = []
        with self._store.transaction():
            unique = {c.claim_id: c for c in claims}
            fresh = [c for c in unique.values() if not self.has(c.claim_id)]
            row = self._store.query_one(
                "SELECT COUNT(*) FROM lip_claims WHERE state IN (?, ?)", _OPEN
            )
            if (row[0] if row else 0) + len(fresh) > self.max_open:
                raise LIPQueueError(f"queue full: {self.max_open} open claims")
            for c in fresh:
                self._store.execute(
                    "INSERT INTO lip_claims VALUES "
                    "(?, ?, ?, ?, ?, ?, ?, ?, 'pending', 'queued', ?, ?, ?, NULL, '[]', 0, 0)",
                    (
                        c.claim_id, c.statement, c.locator, evidence.uri, evidence.final_uri,
                        host, evidence.sha256, evidence.retrieved_at, now, now, now + self.window,
                    ),
                )  # fmt: skip
                self._audit(c.claim_id, now, "", "queued", "pending", evidence.final_uri, cause)
                out.append(Transition(c.claim_id, "", "queued", "pending", "queued", host, (), ()))
                out.extend(self._evaluate(c.claim_id, now, overloaded, cause))
        return out

    def corroborate(
        self,
        claim_id: str,
        peer: str,
        verdict: Literal["confirm", "reject"],
        *,
        now: float,
        overloaded: bool = False,
        cause: str = "",
    ) -> list[Transition]:
        """Record a peer's verdict on a claim and re-evaluate it.

        Raises ``UnknownClaimError`` for a claim id we never queued, ``StoreError``.
        """
        trusted = bool(self._is_trusted(peer))
        with self._store.transaction():
            claim = self.get(claim_id)
            self._store.execute(
                "INSERT INTO lip_corroborations VALUES (?, ?, ?, ?, ?) ON CONFLICT "
                "(claim_id, peer) DO UPDATE SET verdict = excluded.verdict, "
                "trusted = excluded.trusted, at = excluded.at",
                (claim_id, peer, verdict, int(trusted), now),
            )
            note = f"{'trusted' if trusted else 'untrusted (not counted)'} peer {peer}"
            self._audit(claim_id, now, claim.state, verdict, claim.state, note, cause)
            if trusted:
                self._count_tier(claim, "corroborated" if verdict == "confirm" else "rejected", now)
            return self._evaluate(claim_id, now, overloaded, cause)

    def resolve(
        self, claim_id: str, *, in_favour: bool, now: float, overloaded: bool = False, cause: str
    ) -> list[Transition]:
        """Record how a dispute was resolved and re-evaluate the claim.

        Raises ``UnknownClaimError`` for an unknown id, ``LIPQueueError`` when the claim is
        not disputed, ``StoreError``.
        """
        with self._store.transaction():
            claim = self.get(claim_id)
            if claim.state != LearnedClaimState.DISPUTED:
                raise LIPQueueError(f"claim {claim_id[:12]}… is {claim.state}, not disputed")
            self._store.execute(
                "UPDATE lip_claims SET resolution = ?, updated_at = ? WHERE claim_id = ?",
                (int(in_favour), now, claim_id),
            )
            side = "in favour of the claim" if in_favour else "against the claim (final)"
            self._audit(claim_id, now, "disputed", "resolution", "disputed", side, cause)
            if not in_favour:
                self._count_tier(claim, "rejected", now)
            return self._evaluate(claim_id, now, overloaded, cause)

    def process(
        self, *, now: float, overloaded: bool = False, cause: str = "tick"
    ) -> list[Transition]:
        """Re-evaluate every open claim, oldest first (deadlines, load). Raises ``StoreError``."""
        out: list[Transition] = []
        with self._store.transaction():
            rows = self._store.query(
                "SELECT claim_id FROM lip_claims WHERE state IN (?, ?) ORDER BY created_at, "
                "claim_id",
                _OPEN,
            )
            for (claim_id,) in rows:
                out.extend(self._evaluate(str(claim_id), now, overloaded, cause))
        return out

    # --- reads ----------------------------------------------------------------------

    def get(self, claim_id: str) -> QueuedClaim:
        """Raises ``UnknownClaimError`` for an id never queued, ``StoreError``."""
        row = self._store.query_one(_SELECT + " WHERE claim_id = ?", (claim_id,))
        if row is None:
            raise UnknownClaimError(f"no queued claim {claim_id[:12]}…")
        return _claim(row)

    def by_state(self, state: LearnedClaimState) -> list[QueuedClaim]:
        """Claims in ``state``, oldest first. Raises ``StoreError``."""
        rows = self._store.query(
            _SELECT + " WHERE state = ? ORDER BY created_at, claim_id",
            (state.value,),
        )
        return [_claim(r) for r in rows]

    def audit(self, claim_id: str) -> list[tuple[str, str, str, str, str]]:
        """(src, event, dst, note, cause) of every recorded event, oldest first."""
        rows = self._store.query(
            "SELECT src, event, dst, note, cause FROM lip_claim_audit WHERE claim_id = ? "
            "ORDER BY id",
            (claim_id,),
        )
        return [(str(a), str(b), str(c), str(d), str(e)) for a, b, c, d, e in rows]

    # --- internals ------------------------------------------------------------------

    def has(self, claim_id: str) -> bool:
        """Whether ``claim_id`` was ever queued. Raises ``StoreError``."""
        row = self._store.query_one("SELECT 1 FROM lip_claims WHERE claim_id = ?", (claim_id,))
        return row is not None

    def _peers(self, claim_id: str, verdict: str) -> tuple[str, ...]:
        rows = self._store.query(
            "SELECT peer FROM lip_corroborations WHERE claim_id = ? AND verdict = ? "
            "AND trusted = 1 ORDER BY peer",
            (claim_id, verdict),
        )
        return tuple(str(r[0]) for r in rows)

    def _count_tier(
        self, claim: QueuedClaim, outcome: Literal["corroborated", "rejected"], now: float
    ) -> None:
        sql = (
            "UPDATE lip_claims SET counted_good = 1 WHERE claim_id = ? AND counted_good = 0"
            if outcome == "corroborated"
            else "UPDATE lip_claims SET counted_bad = 1 WHERE claim_id = ? AND counted_bad = 0"
        )
        changed = self._store.execute(sql, (claim.claim_id,))
        if changed:
            self._tiers.record(claim.host, outcome, now=now, cause=f"claim {claim.claim_id[:12]}")

    def _evaluate(
        self, claim_id: str, now: float, overloaded: bool, cause: str
    ) -> list[Transition]:
        claim = self.get(claim_id)
        refs = claim.local_refs
        if claim.state == LearnedClaimState.PENDING:
            refs = tuple(self._knowledge.conflicts_with(claim.statement))
        row = self._store.query_one(
            "SELECT resolution FROM lip_claims WHERE claim_id = ?", (claim_id,)
        )
        resolution = None if row is None or row[0] is None else bool(row[0])
        confirmers = self._peers(claim_id, "confirm")
        tier = self._tiers.tier_of(claim.host)
        facts = Facts(
            state=claim.state,
            tier=tier,
            trusted_confirmations=len(confirmers),
            trusted_rejections=len(self._peers(claim_id, "reject")),
            local_conflicts=len(refs),
            overloaded=overloaded,
            now=now,
            deadline=claim.deadline,
            resolved_in_favour=resolution,
        )
        decided = next_event(facts)
        if decided is None:
            return []
        event, reason = decided
        step = CLAIM_TABLE.step(claim.state, event, None)
        self._store.execute(
            "UPDATE lip_claims SET state = ?, reason = ?, updated_at = ?, local_refs = ? "
            "WHERE claim_id = ?",
            (step.dst.value, reason, now, json.dumps(list(refs)), claim_id),
        )
        self._audit(claim_id, now, step.src.value, event.value, step.dst.value, reason, cause)
        if step.dst == LearnedClaimState.ACCEPTED:
            full = self._store.query_one(
                "SELECT final_uri, sha256, retrieved_at FROM lip_claims WHERE claim_id = ?",
                (claim_id,),
            )
            assert full is not None
            self._memory.record_claim(
                AcceptedClaim(
                    claim_id, claim.statement, claim.uri, str(full[0]), str(full[1]),
                    str(full[2]), tier, confirmers, reason, now,
                )
            )  # fmt: skip
        return [
            Transition(
                claim_id, step.src.value, event.value, step.dst.value, reason, claim.host,
                confirmers, refs,
            )
        ]  # fmt: skip

    def _audit(
        self, claim_id: str, now: float, src: str, event: str, dst: str, note: str, cause: str
    ) -> None:
        self._store.execute(
            "INSERT INTO lip_claim_audit (claim_id, at, src, event, dst, note, cause) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (claim_id, now, src, event, dst, note, cause),
        )


def _claim(row: tuple[object, ...]) -> QueuedClaim:
    return QueuedClaim(
        claim_id=str(row[0]),
        statement=str(row[1]),
        uri=str(row[2]),
        host=str(row[3]),
        state=LearnedClaimState(str(row[4])),
        reason=str(row[5]),
        deadline=float(str(row[6])),
        local_refs=tuple(json.loads(str(row[7]))),
    )
