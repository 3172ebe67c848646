"""Causal memory and the knowledge tables, in the node's SQLite store.

Theory of operation: ``knowledge_claims`` and ``knowledge_votes`` are the staging area:
every proposed claim, in whatever state, and every confirmation, rejection and challenge.
Causal memory is separate: ``knowledge_memory`` holds accepted claims only (a SQLite
trigger refuses any row whose claim is not ``accepted`` in ``knowledge_claims``, so nothing
un-accepted can get in even by mistake), ``knowledge_links`` their causal links, and
``knowledge_traces`` DMP traces: those of accepted claims, and those shared by peers with
``DECISION_SHARE``, and this agent's own decisions. ``CausalMemory`` is the read side
plus the insertions; ``admit_external`` lets another subsystem's acceptance rules (LIP)
put a claim they accepted into causal memory through the same accepted-only path.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from web4.knowledge.model import (
    CausalLink,
    DmpTrace,
    Fact,
    SharedDecision,
    check_decision,
    check_fact,
    check_trace,
    to_json,
)
from web4.knowledge.rules import normalize
from web4.store import Migration, MigrationSet, Store

__all__ = ["KNOWLEDGE_MIGRATIONS", "CausalMemory", "MemoryNode", "StoredTrace"]

_STATES = "('pending', 'deferred', 'accepted', 'disputed', 'rejected')"

KNOWLEDGE_MIGRATIONS = MigrationSet(
    "knowledge",
    (
        Migration(
            1,
            "claims, votes, causal memory, DMP traces",
            (
                f"""CREATE TABLE knowledge_claims (
                    msg_id TEXT PRIMARY KEY,
                    sender TEXT NOT NULL,
                    domain_key TEXT NOT NULL,
                    subject_key TEXT NOT NULL,
                    negated INTEGER NOT NULL,
                    fact TEXT NOT NULL,
                    trace TEXT NOT NULL,
                    links TEXT NOT NULL,
                    state TEXT NOT NULL CHECK (state IN {_STATES}),
                    reason TEXT NOT NULL,
                    created_at REAL NOT NULL,
                    updated_at REAL NOT NULL
                ) STRICT""",
                "CREATE INDEX knowledge_claims_state ON knowledge_claims (state)",
                """CREATE TABLE knowledge_votes (
                    msg_id TEXT PRIMARY KEY,
                    claim_id TEXT NOT NULL REFERENCES knowledge_claims (msg_id),
                    voter TEXT NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('confirm', 'reject', 'challenge')),
                    reason TEXT NOT NULL,
                    confidence REAL,
                    notes TEXT NOT NULL,
                    at REAL NOT NULL
                ) STRICT""",
                "CREATE INDEX knowledge_votes_claim ON knowledge_votes (claim_id, at)",
                """CREATE TABLE knowledge_memory (
                    node_id TEXT PRIMARY KEY REFERENCES knowledge_claims (msg_id),
                    sender TEXT NOT NULL,
                    domain_key TEXT NOT NULL,
                    subject_key TEXT NOT NULL,
                    negated INTEGER NOT NULL,
                    fact TEXT NOT NULL,
                    decision_id TEXT NOT NULL,
                    at REAL NOT NULL
                ) STRICT""",
                "CREATE INDEX knowledge_memory_subject ON knowledge_memory "
                "(domain_key, subject_key)",
                """CREATE TRIGGER knowledge_memory_only_accepted
                   BEFORE INSERT ON knowledge_memory
                   WHEN NOT EXISTS (SELECT 1 FROM knowledge_claims
                                    WHERE msg_id = NEW.node_id AND state = 'accepted')
                   BEGIN SELECT RAISE(ABORT, 'only accepted claims enter causal memory'); END""",
                """CREATE TABLE knowledge_links (
                    src TEXT NOT NULL REFERENCES knowledge_memory (node_id),
                    dst TEXT NOT NULL,
                    relation TEXT NOT NULL,
                    PRIMARY KEY (src, dst, relation)
                ) STRICT""",
                "CREATE INDEX knowledge_links_dst ON knowledge_links (dst)",
                """CREATE TABLE knowledge_traces (
                    origin_msg_id TEXT PRIMARY KEY,
                    origin TEXT NOT NULL CHECK (origin IN ('claim', 'decision_share')),
                    decision_id TEXT NOT NULL,
                    sender TEXT NOT NULL,
                    trace TEXT NOT NULL,
                    decision TEXT,
                    retrospective TEXT,
                    at REAL NOT NULL
                ) STRICT""",
                "CREATE INDEX knowledge_traces_decision ON knowledge_traces (decision_id)",
            ),
        ),
        Migration(
            2,
            "DMP traces of this agent's own decisions (origin 'local_decision')",
            (
                """CREATE TABLE knowledge_traces_v2 (
                    origin_msg_id TEXT PRIMARY KEY,
                    origin TEXT NOT NULL CHECK (origin IN
                        ('claim', 'decision_share', 'local_decision')),
                    decision_id TEXT NOT NULL,
                    sender TEXT NOT NULL,
                    trace TEXT NOT NULL,
                    decision TEXT,
                    retrospective TEXT,
                    at REAL NOT NULL
                ) STRICT""",
                "INSERT INTO knowledge_traces_v2 SELECT origin_msg_id, origin, decision_id, "
                "sender, trace, decision, retrospective, at FROM knowledge_traces",
                "DROP TABLE knowledge_traces",
                "ALTER TABLE knowledge_traces_v2 RENAME TO knowledge_traces",
                "CREATE INDEX knowledge_traces_decision ON knowledge_traces (decision_id)",
            ),
        ),
        Migration(
            3,
            "votes bound to content: claim hash, proposing msg_id and size per claim; one "
            "vote per (claim, voter)",
            (
                # msg_id stays the claim's local id (the proposing msg_id, or the claim
                # hash when another claim already holds that msg_id); wire_msg_id is the
                # msg_id it was proposed under, which votes name as fact_ref.
                "ALTER TABLE knowledge_claims ADD COLUMN claim_hash TEXT",
                "ALTER TABLE knowledge_claims ADD COLUMN wire_msg_id TEXT",
                "ALTER TABLE knowledge_claims ADD COLUMN bytes INTEGER NOT NULL DEFAULT 0",
                "UPDATE knowledge_claims SET wire_msg_id = msg_id",
                "CREATE UNIQUE INDEX knowledge_claims_hash ON knowledge_claims (claim_hash)",
                "CREATE INDEX knowledge_claims_sender ON knowledge_claims (sender, state)",
                "CREATE INDEX knowledge_claims_created ON knowledge_claims (created_at)",
                """CREATE TABLE knowledge_votes_v3 (
                    claim_id TEXT NOT NULL REFERENCES knowledge_claims (msg_id),
                    voter TEXT NOT NULL,
                    msg_id TEXT NOT NULL,
                    kind TEXT NOT NULL CHECK (kind IN ('confirm', 'reject', 'challenge')),
                    reason TEXT NOT NULL,
                    confidence REAL,
                    notes TEXT NOT NULL,
                    at REAL NOT NULL,
                    PRIMARY KEY (claim_id, voter)
                ) STRICT""",
                "INSERT OR IGNORE INTO knowledge_votes_v3 SELECT claim_id, voter, msg_id, kind,"
                " reason, confidence, notes, at FROM knowledge_votes ORDER BY at, msg_id",
                "DROP TABLE knowledge_votes",
                "ALTER TABLE knowledge_votes_v3 RENAME TO knowledge_votes",
                "CREATE INDEX knowledge_votes_claim ON knowledge_votes (claim_id, at)",
            ),
        ),
        Migration(
            4,
            "DMP traces keyed by (origin, origin_msg_id, sender): a DECISION_SHARE sent "
            "under a pending claim's msg_id made the claim's acceptance fail (StoreError), "
            "and under another sender's decision's msg_id kept that trace out",
            (
                """CREATE TABLE knowledge_traces_v4 (
                    origin_msg_id TEXT NOT NULL,
                    origin TEXT NOT NULL CHECK (origin IN
                        ('claim', 'decision_share', 'local_decision')),
                    decision_id TEXT NOT NULL,
                    sender TEXT NOT NULL,
                    trace TEXT NOT NULL,
                    decision TEXT,
                    retrospective TEXT,
                    at REAL NOT NULL,
                    PRIMARY KEY (origin, origin_msg_id, sender)
                ) STRICT""",
                "INSERT INTO knowledge_traces_v4 SELECT origin_msg_id, origin, decision_id, "
                "sender, trace, decision, retrospective, at FROM knowledge_traces",
                "DROP TABLE knowledge_traces",
                "ALTER TABLE knowledge_traces_v4 RENAME TO knowledge_traces",
                "CREATE INDEX knowledge_traces_decision ON knowledge_traces (decision_id)",
            ),
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class MemoryNode:
    """An accepted claim in causal memory."""

    node_id: str
    sender: str
    fact: Fact
    decision_id: str
    at: float


@dataclass(frozen=True, slots=True)
class StoredTrace:
    """A DMP trace kept in causal memory (from an accepted claim or a DECISION_SHARE)."""

    origin_msg_id: str
    origin: str
    sender: str
    trace: DmpTrace
    decision: SharedDecision | None
    retrospective: str | None
    at: float


class CausalMemory:
    """Read and (for the exchange only) write causal memory in ``store``."""

    def __init__(self, store: Store) -> None:
        """Applies the knowledge migrations. Raises ``StoreError`` if they fail."""
        self._store = store
        store.migrate(KNOWLEDGE_MIGRATIONS)

    # --- reads ----------------------------------------------------------------------

    def get(self, node_id: str) -> MemoryNode | None:
        row = self._store.query_one(
            "SELECT node_id, sender, fact, decision_id, at FROM knowledge_memory WHERE node_id = ?",
            (node_id,),
        )
        return None if row is None else _node(row)

    def nodes(self) -> list[MemoryNode]:
        """Every accepted claim, oldest first."""
        rows = self._store.query(
            "SELECT node_id, sender, fact, decision_id, at FROM knowledge_memory "
            "ORDER BY at, node_id"
        )
        return [_node(r) for r in rows]

    def links_from(self, node_id: str) -> list[CausalLink]:
        rows = self._store.query(
            "SELECT dst, relation FROM knowledge_links WHERE src = ? ORDER BY dst, relation",
            (node_id,),
        )
        return [CausalLink(str(r[0]), str(r[1])) for r in rows]

    def links_to(self, target: str) -> list[tuple[str, str]]:
        """(source node, relation) of every link pointing at ``target``."""
        rows = self._store.query(
            "SELECT src, relation FROM knowledge_links WHERE dst = ? ORDER BY src, relation",
            (target,),
        )
        return [(str(r[0]), str(r[1])) for r in rows]

    def traces(self, decision_id: str | None = None) -> list[StoredTrace]:
        """Stored DMP traces (all, or those of one decision id), oldest first."""
        sql = (
            "SELECT origin_msg_id, origin, sender, trace, decision, retrospective, at "
            "FROM knowledge_traces"
        )
        if decision_id is None:
            rows = self._store.query(f"{sql} ORDER BY at, origin_msg_id")
        else:
            rows = self._store.query(
                f"{sql} WHERE decision_id = ? ORDER BY at, origin_msg_id", (decision_id,)
            )
        return [_trace(r) for r in rows]

    def same_subject(self, domain_key: str, subject_key: str) -> list[tuple[str, str, bool]]:
        """(node id, sender, negated) of accepted claims about the same subject."""
        rows = self._store.query(
            "SELECT node_id, sender, negated FROM knowledge_memory "
            "WHERE domain_key = ? AND subject_key = ? ORDER BY node_id",
            (domain_key, subject_key),
        )
        return [(str(r[0]), str(r[1]), bool(r[2])) for r in rows]

    def senders_of(self, node_ids: Sequence[str]) -> dict[str, str]:
        """node id -> proposer, for those ids that are in causal memory."""
        out: dict[str, str] = {}
        for node_id in node_ids:
            node = self._store.query_one(
                "SELECT sender FROM knowledge_memory WHERE node_id = ?", (node_id,)
            )
            if node is not None:
                out[node_id] = str(node[0])
        return out

    # --- writes (called by the exchange inside its transaction) ------------------------

    def admit(
        self,
        claim_id: str,
        sender: str,
        keys: tuple[str, str, bool],
        fact: Fact,
        trace: DmpTrace,
        links: Sequence[CausalLink],
        now: float,
    ) -> None:
        """Put an accepted claim, its links and its trace into causal memory.

        Raises ``StoreError`` (from the trigger) if the claim is not ``accepted``.
        """
        domain_key, subject_key, negated = keys
        self._store.execute(
            "INSERT INTO knowledge_memory (node_id, sender, domain_key, subject_key, negated,"
            " fact, decision_id, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                claim_id,
                sender,
                domain_key,
                subject_key,
                int(negated),
                json.dumps(to_json(fact)),
                trace.decision_id,
                now,
            ),
        )
        for link in links:
            self._store.execute(
                "INSERT OR IGNORE INTO knowledge_links (src, dst, relation) VALUES (?, ?, ?)",
                (claim_id, link.target, str(link.relation)),
            )
        self._store.execute(
            "INSERT INTO knowledge_traces (origin_msg_id, origin, decision_id, sender, trace,"
            " decision, retrospective, at) VALUES (?, 'claim', ?, ?, ?, NULL, NULL, ?)",
            (claim_id, trace.decision_id, sender, json.dumps(to_json(trace)), now),
        )

    def record_decision(
        self,
        msg_id: str,
        sender: str,
        decision: SharedDecision,
        trace: DmpTrace,
        retrospective: str,
        now: float,
    ) -> bool:
        """Store a shared decision's DMP trace. False if ``sender``'s decision under
        ``msg_id`` was already stored (another sender's under the same id, or a claim's
        trace, is another row: a key cannot squat an id it saw go by).
        Raises ``KnowledgeError`` (a decision or trace the knowledge checks refuse)."""
        decision, trace = check_decision(decision), check_trace(trace)
        return self._insert_decision(
            msg_id, "decision_share", sender, decision, trace, retrospective, now
        )

    def record_local_decision(
        self, me: str, decision: SharedDecision, trace: DmpTrace, retrospective: str, now: float
    ) -> bool:
        """Store a DMP trace of this agent's own decision (origin ``local_decision``, keyed
        by its ``decision_id``). False if that decision was already stored.
        Raises ``KnowledgeError`` (a decision or trace the knowledge checks refuse),
        ``StoreError``."""
        decision, trace = check_decision(decision), check_trace(trace)
        with self._store.transaction():
            return self._insert_decision(
                f"local:{trace.decision_id}",
                "local_decision",
                me,
                decision,
                trace,
                retrospective,
                now,
            )

    def _insert_decision(
        self,
        origin_msg_id: str,
        origin: str,
        sender: str,
        decision: SharedDecision,
        trace: DmpTrace,
        retrospective: str,
        now: float,
    ) -> bool:
        changed = self._store.execute(
            "INSERT OR IGNORE INTO knowledge_traces (origin_msg_id, origin, decision_id, "
            "sender, trace, decision, retrospective, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                origin_msg_id,
                origin,
                trace.decision_id,
                sender,
                json.dumps(to_json(trace)),
                json.dumps(to_json(decision)),
                retrospective,
                now,
            ),
        )
        return changed == 1

    def admit_external(
        self,
        node_id: str,
        sender: str,
        fact: Fact,
        trace: DmpTrace,
        links: Sequence[CausalLink],
        reason: str,
        now: float,
    ) -> None:
        """Admit a claim accepted by another subsystem's acceptance rules (LIP's
        deferred-acceptance queue): it is recorded in ``knowledge_claims`` as ``accepted``
        with ``reason``, then enters causal memory like any accepted claim, in one
        transaction. Raises ``KnowledgeError`` (a fact or trace the knowledge checks
        refuse) and ``StoreError`` if ``node_id`` is already a claim."""
        fact, trace = check_fact(fact), check_trace(trace)
        norm = normalize(fact.statement)
        keys = (domain_key(fact.domain), norm.subject, norm.negated)
        with self._store.transaction():
            self._store.execute(
                "INSERT INTO knowledge_claims (msg_id, sender, domain_key, subject_key, "
                "negated, fact, trace, links, state, reason, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'accepted', ?, ?, ?)",
                (
                    node_id,
                    sender,
                    keys[0],
                    keys[1],
                    int(keys[2]),
                    json.dumps(to_json(fact)),
                    json.dumps(to_json(trace)),
                    json.dumps([to_json(link) for link in links]),
                    reason,
                    now,
                    now,
                ),
            )
            self.admit(node_id, sender, keys, fact, trace, links, now)


def domain_key(domain: str) -> str:
    """The comparison key of a domain: casefolded, whitespace collapsed."""
    return " ".join(domain.casefold().split())


def _node(r: tuple[Any, ...]) -> MemoryNode:
    return MemoryNode(str(r[0]), str(r[1]), Fact(**json.loads(r[2])), str(r[3]), float(r[4]))


def _trace(r: tuple[Any, ...]) -> StoredTrace:
    decision = None if r[4] is None else SharedDecision(**json.loads(r[4]))
    return StoredTrace(
        str(r[0]),
        str(r[1]),
        str(r[2]),
        DmpTrace(**json.loads(r[3])),
        decision,
        None if r[5] is None else str(r[5]),
        float(r[6]),
    )
