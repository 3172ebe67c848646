"""TrustBook: the TrustFSM's persistence adapter and its append-only audit log.

Theory of operation: ``TrustBook`` keeps one row per peer (``trust_peers``) and one row per
event (``trust_audit``) in the node's SQLite store. ``record(peer, event, cause, evidence)``
reads the peer's row, runs the pure ``evaluate`` with the time from the injected ``Clock``,
and writes the new row and an audit entry in one transaction, whether or not the state
changed. The audit table is append-only: SQLite triggers refuse UPDATE and DELETE on it.
A blacklist is lifted only by ``override(peer, operator=..., reason=...)``, and a human
blacklists a peer with ``blacklist(peer, operator=..., reason=...)``; both record the
operator and the reason in the audit entry. An unknown peer is ``untrusted``.

The audit log is tamper-evident: every row is linked into a SHA-256 hash chain
(``trust_audit_chain``: each link hashes the previous link and the row), so an edited,
inserted or removed row breaks ``verify_chain``. ``prune(before, operator=...)`` is the
only way rows leave: it removes the oldest rows and keeps the last removed link (with
the operator, the time and the count, in the append-only ``trust_audit_prunes``), from
which the chain still verifies. ``head()`` is the newest link, for the operator to note.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from web4.clock import Clock
from web4.envelope import canonicalize
from web4.errors import TrustError
from web4.store import Migration, MigrationSet, Store
from web4.trust._state import (
    Evaluation,
    PeerRecord,
    TrustEvent,
    TrustPolicy,
    TrustState,
    evaluate,
)

__all__ = [
    "TRUST_MIGRATIONS",
    "AuditEntry",
    "ChainCheck",
    "PruneResult",
    "TrustBook",
    "TrustOutcome",
]

TRUST_MIGRATIONS = MigrationSet(
    "trust",
    (
        Migration(
            1,
            "peer trust states and the append-only audit log",
            (
                """CREATE TABLE trust_peers (
                    peer TEXT PRIMARY KEY,
                    state TEXT NOT NULL CHECK (state IN
                        ('untrusted', 'probing', 'trusted', 'blacklisted')),
                    cooldown_until REAL NOT NULL,
                    unverifiable TEXT NOT NULL,
                    anomalies TEXT NOT NULL,
                    updated_at REAL NOT NULL
                ) STRICT""",
                """CREATE TABLE trust_audit (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    peer TEXT NOT NULL,
                    event TEXT NOT NULL,
                    from_state TEXT NOT NULL,
                    to_state TEXT NOT NULL,
                    changed INTEGER NOT NULL,
                    note TEXT NOT NULL,
                    cause TEXT NOT NULL,
                    evidence TEXT NOT NULL,
                    at REAL NOT NULL,
                    operator TEXT
                ) STRICT""",
                "CREATE INDEX trust_audit_peer ON trust_audit (peer, seq)",
                """CREATE TRIGGER trust_audit_no_update BEFORE UPDATE ON trust_audit
                   BEGIN SELECT RAISE(ABORT, 'trust_audit is append-only'); END""",
                """CREATE TRIGGER trust_audit_no_delete BEFORE DELETE ON trust_audit
                   BEGIN SELECT RAISE(ABORT, 'trust_audit is append-only'); END""",
            ),
        ),
        Migration(
            2,
            "trust that cannot be bought: trusted_since, a hash-chained audit log with "
            "audited pruning; trust earned by knowledge_verified withdrawn",
            (
                "ALTER TABLE trust_peers ADD COLUMN trusted_since REAL",
                # Under the old model an accepted claim promoted its proposer; that trust
                # could be farmed by fresh keys, so only operator vouches keep it.
                """INSERT INTO trust_audit (peer, event, from_state, to_state, changed, note,
                       cause, evidence, at, operator)
                   SELECT peer, 'policy_change', 'trusted', 'probing', 1,
                       'trust model v2: trust not given by an operator anchor withdrawn',
                       'store migration (trust 2)', '[]', updated_at, NULL
                   FROM trust_peers WHERE state = 'trusted' AND peer NOT IN
                       (SELECT peer FROM trust_audit WHERE event = 'operator_vouch'
                        AND changed = 1)""",
                """UPDATE trust_peers SET state = 'probing' WHERE state = 'trusted' AND peer
                   NOT IN (SELECT peer FROM trust_audit WHERE event = 'operator_vouch'
                           AND changed = 1)""",
                "UPDATE trust_peers SET trusted_since = updated_at WHERE state = 'trusted'",
                """CREATE TABLE trust_audit_chain (
                    seq INTEGER PRIMARY KEY,
                    hash TEXT NOT NULL
                ) STRICT""",
                """CREATE TABLE trust_audit_prunes (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    at REAL NOT NULL,
                    operator TEXT NOT NULL,
                    before REAL NOT NULL,
                    removed INTEGER NOT NULL,
                    last_seq INTEGER NOT NULL,
                    last_hash TEXT NOT NULL
                ) STRICT""",
                # A row here is the only thing that lets a DELETE through, and only
                # prune() writes one, inside the transaction that removes it again.
                "CREATE TABLE trust_audit_prune_permit (one INTEGER PRIMARY KEY) STRICT",
                "DROP TRIGGER trust_audit_no_delete",
                """CREATE TRIGGER trust_audit_no_delete BEFORE DELETE ON trust_audit
                   WHEN NOT EXISTS (SELECT 1 FROM trust_audit_prune_permit)
                   BEGIN SELECT RAISE(ABORT, 'trust_audit is append-only'); END""",
                """CREATE TRIGGER trust_audit_chain_no_update BEFORE UPDATE ON trust_audit_chain
                   BEGIN SELECT RAISE(ABORT, 'trust_audit_chain is append-only'); END""",
                """CREATE TRIGGER trust_audit_chain_no_delete BEFORE DELETE ON trust_audit_chain
                   WHEN NOT EXISTS (SELECT 1 FROM trust_audit_prune_permit)
                   BEGIN SELECT RAISE(ABORT, 'trust_audit_chain is append-only'); END""",
                """CREATE TRIGGER trust_audit_prunes_no_change BEFORE UPDATE ON
                   trust_audit_prunes
                   BEGIN SELECT RAISE(ABORT, 'trust_audit_prunes is append-only'); END""",
                """CREATE TRIGGER trust_audit_prunes_no_delete BEFORE DELETE ON
                   trust_audit_prunes
                   BEGIN SELECT RAISE(ABORT, 'trust_audit_prunes is append-only'); END""",
            ),
        ),
    ),
)

GENESIS = "0" * 64

_PEER = re.compile(r"^[0-9a-f]{64}$")
_MAX_TEXT = 1024
_MAX_EVIDENCE = 64


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One recorded event, as stored."""

    seq: int
    peer: str
    event: TrustEvent
    src: TrustState
    dst: TrustState
    changed: bool
    note: str
    cause: str
    evidence: tuple[str, ...]
    at: float
    operator: str | None


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """The result of ``verify_chain``: whether every kept audit row hashes to its stored
    link, the head (last seq and hash), and the first row that does not, if any."""

    ok: bool
    rows: int
    head_seq: int
    head_hash: str
    first_bad_seq: int | None = None


@dataclass(frozen=True, slots=True)
class PruneResult:
    """What ``prune`` removed, and the chain link it keeps as the new start."""

    removed: int
    last_seq: int
    last_hash: str


@dataclass(frozen=True, slots=True)
class TrustOutcome:
    """What ``record``/``override`` did: the evaluation and its audit entry."""

    evaluation: Evaluation
    audit: AuditEntry

    @property
    def changed(self) -> bool:
        return self.evaluation.changed

    @property
    def state(self) -> TrustState:
        return self.evaluation.dst


class TrustBook:
    """Per-peer trust states and their audit log, persisted in ``store``."""

    def __init__(self, store: Store, clock: Clock, policy: TrustPolicy | None = None) -> None:
        """Applies the trust migrations. Raises ``StoreError`` if the store refuses them."""
        self._store = store
        self._clock = clock
        self.policy = policy or TrustPolicy()
        store.migrate(TRUST_MIGRATIONS)
        with store.transaction():
            self._extend_chain()  # rows written before the chain existed (migration 2)

    # --- reads ----------------------------------------------------------------------

    def peer(self, peer: str) -> PeerRecord:
        """The stored record of ``peer`` (a fresh ``untrusted`` one if never seen).

        Raises ``TrustError`` when ``peer`` is not a lowercase hex SHA-256 fingerprint.
        """
        _check_peer(peer)
        row = self._store.query_one(
            "SELECT state, cooldown_until, unverifiable, anomalies, trusted_since "
            "FROM trust_peers WHERE peer = ?",
            (peer,),
        )
        if row is None:
            return PeerRecord(peer)
        return PeerRecord(
            peer,
            TrustState(row[0]),
            float(row[1]),
            tuple(float(t) for t in json.loads(row[2])),
            tuple(float(t) for t in json.loads(row[3])),
            None if row[4] is None else float(row[4]),
        )

    def known(self, peer: str) -> bool:
        """Has ``peer`` a stored record (met in a handshake, or any trust event)? A key
        seen only through gossip has none. Raises ``TrustError`` on a malformed id."""
        _check_peer(peer)
        return (
            self._store.query_one("SELECT 1 FROM trust_peers WHERE peer = ?", (peer,)) is not None
        )

    def state_of(self, peer: str) -> TrustState:
        """The trust state of ``peer``. Raises ``TrustError`` on a malformed peer id."""
        return self.peer(peer).state

    def trusted_since(self, peer: str) -> float | None:
        """When ``peer`` became ``trusted`` (None if it is not). Raises ``TrustError``."""
        return self.peer(peer).trusted_since

    def trusted_before(self, peer: str, when: float) -> bool:
        """Is ``peer`` ``trusted`` now, and has it been since ``when`` or earlier?"""
        since = self.peer(peer).trusted_since
        return since is not None and since <= when

    def peers(self) -> list[PeerRecord]:
        """Every peer with a stored record, ordered by fingerprint."""
        rows = self._store.query("SELECT peer FROM trust_peers ORDER BY peer")
        return [self.peer(str(r[0])) for r in rows]

    def audit(
        self, peer: str | None = None, limit: int = 1000, *, newest: bool = False
    ) -> list[AuditEntry]:
        """Audit entries, oldest first (all peers, or one), at most ``limit`` of them: the
        oldest ``limit``, or with ``newest`` the most recent ``limit`` (still oldest first).

        Raises ``TrustError`` on a malformed peer id.
        """
        cols, order = _AUDIT_COLS, "DESC" if newest else "ASC"
        if peer is None:
            rows = self._store.query(f"{cols} ORDER BY seq {order} LIMIT ?", (limit,))
        else:
            _check_peer(peer)
            rows = self._store.query(
                f"{cols} WHERE peer = ? ORDER BY seq {order} LIMIT ?", (peer, limit)
            )
        entries = [_entry(r) for r in rows]
        return entries[::-1] if newest else entries

    # --- writes ---------------------------------------------------------------------

    def record(
        self, peer: str, event: TrustEvent, cause: str, evidence: Sequence[str] = ()
    ) -> TrustOutcome:
        """Apply ``event`` to ``peer`` now, persist the new state and an audit entry.

        ``cause`` says what happened in words; ``evidence`` lists the ``msg_id``s behind it.
        Raises ``TrustError`` on a malformed peer id, an unknown event, an empty or oversize
        cause, too much evidence, or a ``MANUAL_OVERRIDE``/``MANUAL_BLACKLIST`` (use
        ``override``/``blacklist``); ``StoreError``
        if the store fails (nothing is then written).
        """
        try:
            ev = TrustEvent(event)
        except ValueError as exc:
            raise TrustError(f"unknown trust event {event!r}") from exc
        if ev is TrustEvent.MANUAL_OVERRIDE:
            raise TrustError("a manual override needs an operator and a reason: use override()")
        if ev is TrustEvent.MANUAL_BLACKLIST:
            raise TrustError("a manual blacklist needs an operator and a reason: use blacklist()")
        return self._apply(peer, ev, cause, evidence, None)

    def override(self, peer: str, *, operator: str, reason: str) -> TrustOutcome:
        """A human lifts a blacklist: ``blacklisted`` -> ``probing``, audited with the
        operator's name and the reason. On a peer that is not blacklisted nothing changes
        (the attempt is still audited; check ``outcome.changed``).

        Raises ``TrustError`` when ``operator`` or ``reason`` is empty or oversize, or the
        peer id is malformed.
        """
        operator = operator.strip()
        if not operator or len(operator) > _MAX_TEXT:
            raise TrustError("a manual override needs an operator name (1..1024 characters)")
        return self._apply(peer, TrustEvent.MANUAL_OVERRIDE, reason, (), operator)

    def blacklist(self, peer: str, *, operator: str, reason: str) -> TrustOutcome:
        """A human blacklists a peer: any state -> ``blacklisted`` (lifted only by
        ``override``), audited with the operator's name and the reason. On a peer already
        blacklisted nothing changes (the attempt is still audited; check ``changed``).

        Raises ``TrustError`` when ``operator`` or ``reason`` is empty or oversize, or the
        peer id is malformed.
        """
        operator = operator.strip()
        if not operator or len(operator) > _MAX_TEXT:
            raise TrustError("a manual blacklist needs an operator name (1..1024 characters)")
        return self._apply(peer, TrustEvent.MANUAL_BLACKLIST, reason, (), operator)

    def head(self) -> tuple[int, str]:
        """The newest chain link: (seq, hash); (0, GENESIS) for an empty log. Writing the
        head down elsewhere lets an operator prove later that nothing before it changed."""
        row = self._store.query_one(
            "SELECT seq, hash FROM trust_audit_chain ORDER BY seq DESC LIMIT 1"
        )
        if row is not None:
            return int(row[0]), str(row[1])
        return self._chain_start()

    def verify_chain(self) -> ChainCheck:
        """Recompute the hash chain over every kept audit row, from the last prune's link
        (or the genesis) on. A row edited, inserted or removed in the middle breaks it."""
        seq, prev = self._chain_start()
        links: dict[int, str] = dict(self._store.query("SELECT seq, hash FROM trust_audit_chain"))
        rows = self._store.query(f"{_AUDIT_COLS} WHERE seq > ? ORDER BY seq", (seq,))
        for row in rows:
            expected = _link(prev, row)
            if links.get(int(row[0])) != expected:
                return ChainCheck(False, len(rows), seq, prev, int(row[0]))
            seq, prev = int(row[0]), expected
        if len(links) != len(rows) or (links and max(links) != seq):
            return ChainCheck(False, len(rows), seq, prev, seq + 1)
        return ChainCheck(True, len(rows), seq, prev)

    def prune(self, before: float, *, operator: str) -> PruneResult:
        """Remove audit rows older than ``before`` (a Unix time), keeping the chain
        verifiable: the last removed row's link is kept in ``trust_audit_prunes`` with
        the operator, the time and the count, and the chain goes on from it. The newest
        row is never removed (it holds the head). Raises ``TrustError`` for an empty
        operator or a chain that does not verify (nothing is removed then)."""
        operator = operator.strip()
        if not operator or len(operator) > _MAX_TEXT:
            raise TrustError("pruning the audit log needs an operator name (1..1024 chars)")
        check = self.verify_chain()
        if not check.ok:
            raise TrustError(f"the audit chain is broken at seq {check.first_bad_seq}: not pruning")
        with self._store.transaction():
            row = self._store.query_one(
                "SELECT c.seq, c.hash FROM trust_audit_chain c JOIN trust_audit a "
                "ON a.seq = c.seq WHERE a.at < ? AND c.seq < ? ORDER BY c.seq DESC LIMIT 1",
                (before, check.head_seq),
            )
            if row is None:
                seq, last = self._chain_start()
                return PruneResult(0, seq, last)
            last_seq, last_hash = int(row[0]), str(row[1])
            count = self._store.query_one(
                "SELECT COUNT(*) FROM trust_audit WHERE seq <= ?", (last_seq,)
            )
            removed = int(count[0]) if count else 0
            self._store.execute("INSERT INTO trust_audit_prune_permit (one) VALUES (1)")
            self._store.execute("DELETE FROM trust_audit WHERE seq <= ?", (last_seq,))
            self._store.execute("DELETE FROM trust_audit_chain WHERE seq <= ?", (last_seq,))
            self._store.execute("DELETE FROM trust_audit_prune_permit")
            self._store.execute(
                "INSERT INTO trust_audit_prunes (at, operator, before, removed, last_seq, "
                "last_hash) VALUES (?, ?, ?, ?, ?, ?)",
                (self._clock.now(), operator, before, removed, last_seq, last_hash),
            )
        return PruneResult(removed, last_seq, last_hash)

    def prunes(self) -> list[tuple[float, str, float, int, int, str]]:
        """Every prune: (at, operator, before, removed, last_seq, last_hash), oldest first."""
        rows = self._store.query(
            "SELECT at, operator, before, removed, last_seq, last_hash FROM "
            "trust_audit_prunes ORDER BY id"
        )
        return [(float(a), str(o), float(b), int(r), int(q), str(h)) for a, o, b, r, q, h in rows]

    def _chain_start(self) -> tuple[int, str]:
        row = self._store.query_one(
            "SELECT last_seq, last_hash FROM trust_audit_prunes ORDER BY id DESC LIMIT 1"
        )
        return (int(row[0]), str(row[1])) if row is not None else (0, GENESIS)

    def _extend_chain(self) -> None:
        """Link every audit row that has no chain entry yet, in seq order (inside the
        caller's transaction)."""
        last = self._store.query_one(
            "SELECT seq, hash FROM trust_audit_chain ORDER BY seq DESC LIMIT 1"
        )
        seq, prev = (int(last[0]), str(last[1])) if last is not None else self._chain_start()
        for row in self._store.query(f"{_AUDIT_COLS} WHERE seq > ? ORDER BY seq", (seq,)):
            prev = _link(prev, row)
            self._store.execute(
                "INSERT INTO trust_audit_chain (seq, hash) VALUES (?, ?)", (int(row[0]), prev)
            )

    def _apply(
        self,
        peer: str,
        event: TrustEvent,
        cause: str,
        evidence: Sequence[str],
        operator: str | None,
    ) -> TrustOutcome:
        _check_peer(peer)
        cause = cause.strip()
        if not cause or len(cause) > _MAX_TEXT:
            raise TrustError("a trust event needs a cause (1..1024 characters)")
        ev = tuple(str(e) for e in evidence)
        if len(ev) > _MAX_EVIDENCE or any(not e or len(e) > 128 for e in ev):
            raise TrustError("evidence is at most 64 msg_ids of 1..128 characters")
        with self._store.transaction():
            now = self._clock.now()
            result = evaluate(self.peer(peer), event, now, self.policy)
            rec = result.record
            self._store.execute(
                "INSERT INTO trust_peers (peer, state, cooldown_until, unverifiable, "
                "anomalies, updated_at, trusted_since) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (peer) DO UPDATE SET state = excluded.state, "
                "cooldown_until = excluded.cooldown_until, unverifiable = "
                "excluded.unverifiable, anomalies = excluded.anomalies, updated_at = "
                "excluded.updated_at, trusted_since = excluded.trusted_since",
                (
                    peer,
                    rec.state.value,
                    rec.cooldown_until,
                    json.dumps(list(rec.unverifiable)),
                    json.dumps(list(rec.anomalies)),
                    now,
                    rec.trusted_since,
                ),
            )
            self._store.execute(
                "INSERT INTO trust_audit (peer, event, from_state, to_state, changed, note,"
                " cause, evidence, at, operator) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    peer,
                    event.value,
                    result.src.value,
                    result.dst.value,
                    int(result.changed),
                    result.note,
                    cause,
                    json.dumps(list(ev)),
                    now,
                    operator,
                ),
            )
            row = self._store.query_one("SELECT last_insert_rowid()")
            self._extend_chain()
        assert row is not None
        entry = AuditEntry(
            int(row[0]),
            peer,
            event,
            result.src,
            result.dst,
            result.changed,
            result.note,
            cause,
            ev,
            now,
            operator,
        )
        return TrustOutcome(result, entry)


_AUDIT_COLS = (
    "SELECT seq, peer, event, from_state, to_state, changed, note, cause, "
    "evidence, at, operator FROM trust_audit"
)


def _link(prev: str, row: tuple[Any, ...]) -> str:
    """The chain hash of one audit row: SHA-256 over the previous link and the row's
    canonical JSON (every column, as stored)."""
    body = [
        int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]), int(row[5]),
        str(row[6]), str(row[7]), json.loads(row[8]), float(row[9]),
        None if row[10] is None else str(row[10]),
    ]  # fmt: skip
    return hashlib.sha256(prev.encode() + b"\n" + canonicalize(body)).hexdigest()


def _check_peer(peer: str) -> None:
    if not isinstance(peer, str) or not _PEER.match(peer):
        raise TrustError(f"a peer id is a lowercase hex SHA-256 fingerprint, not {peer!r}")


def _entry(r: tuple[Any, ...]) -> AuditEntry:
    return AuditEntry(
        int(r[0]),
        str(r[1]),
        TrustEvent(r[2]),
        TrustState(r[3]),
        TrustState(r[4]),
        bool(r[5]),
        str(r[6]),
        str(r[7]),
        tuple(str(e) for e in json.loads(r[8])),
        float(r[9]),
        None if r[10] is None else str(r[10]),
    )
