"""TrustBook: the TrustFSM's persistence adapter and its append-only audit log.

Theory of operation: ``TrustBook`` keeps one row per peer (``trust_peers``) and one row per
event (``trust_audit``) in the node's SQLite store. ``record(peer, event, cause, evidence)``
reads the peer's row, runs the pure ``evaluate`` with the time from the injected ``Clock``,
and writes the new row and an audit entry in one transaction, whether or not the state
changed. The audit table is append-only: SQLite triggers refuse UPDATE and DELETE on it.
A blacklist is lifted only by ``override(peer, operator=..., reason=...)``, which records
the operator and the reason in the audit entry. An unknown peer is ``untrusted``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from web4.clock import Clock
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

__all__ = ["TRUST_MIGRATIONS", "AuditEntry", "TrustBook", "TrustOutcome"]

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
    ),
)

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

    # --- reads ----------------------------------------------------------------------

    def peer(self, peer: str) -> PeerRecord:
        """The stored record of ``peer`` (a fresh ``untrusted`` one if never seen).

        Raises ``TrustError`` when ``peer`` is not a lowercase hex SHA-256 fingerprint.
        """
        _check_peer(peer)
        row = self._store.query_one(
            "SELECT state, cooldown_until, unverifiable, anomalies FROM trust_peers WHERE peer = ?",
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
        )

    def state_of(self, peer: str) -> TrustState:
        """The trust state of ``peer``. Raises ``TrustError`` on a malformed peer id."""
        return self.peer(peer).state

    def peers(self) -> list[PeerRecord]:
        """Every peer with a stored record, ordered by fingerprint."""
        rows = self._store.query("SELECT peer FROM trust_peers ORDER BY peer")
        return [self.peer(str(r[0])) for r in rows]

    def audit(self, peer: str | None = None, limit: int = 1000) -> list[AuditEntry]:
        """Audit entries, oldest first (all peers, or one), at most ``limit`` of them.

        Raises ``TrustError`` on a malformed peer id.
        """
        cols = (
            "SELECT seq, peer, event, from_state, to_state, changed, note, cause, "
            "evidence, at, operator FROM trust_audit"
        )
        if peer is None:
            rows = self._store.query(f"{cols} ORDER BY seq LIMIT ?", (limit,))
        else:
            _check_peer(peer)
            rows = self._store.query(f"{cols} WHERE peer = ? ORDER BY seq LIMIT ?", (peer, limit))
        return [_entry(r) for r in rows]

    # --- writes ---------------------------------------------------------------------

    def record(
        self, peer: str, event: TrustEvent, cause: str, evidence: Sequence[str] = ()
    ) -> TrustOutcome:
        """Apply ``event`` to ``peer`` now, persist the new state and an audit entry.

        ``cause`` says what happened in words; ``evidence`` lists the ``msg_id``s behind it.
        Raises ``TrustError`` on a malformed peer id, an unknown event, an empty or oversize
        cause, too much evidence, or a ``MANUAL_OVERRIDE`` (use ``override``); ``StoreError``
        if the store fails (nothing is then written).
        """
        try:
            ev = TrustEvent(event)
        except ValueError as exc:
            raise TrustError(f"unknown trust event {event!r}") from exc
        if ev is TrustEvent.MANUAL_OVERRIDE:
            raise TrustError("a manual override needs an operator and a reason: use override()")
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
                "anomalies, updated_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (peer) DO "
                "UPDATE SET state = excluded.state, cooldown_until = excluded.cooldown_until,"
                " unverifiable = excluded.unverifiable, anomalies = excluded.anomalies,"
                " updated_at = excluded.updated_at",
                (
                    peer,
                    rec.state.value,
                    rec.cooldown_until,
                    json.dumps(list(rec.unverifiable)),
                    json.dumps(list(rec.anomalies)),
                    now,
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
