"""A full-text index (SQLite FTS5) over the node's accepted knowledge.

Theory of operation: causal memory (``knowledge_memory``, accepted claims only: a trigger
keeps anything else out) is the single source of truth; this index is derived data, kept
in the node's own store under the migration subsystem ``librarian``. ``sync`` indexes
every accepted claim not indexed yet (accepted claims are never deleted, so indexing is
append-only and a crash between syncs only delays an entry). ``search`` turns a human's
question into FTS5 terms (``terms``: words, casefolded, stop words dropped, each quoted so
no FTS5 syntax from the question is ever interpreted), finds the claims that match each
term (the porter tokenizer makes "boils" match "boil"), keeps those that match at least
``min_coverage`` of the terms, and ranks them by how many terms they match, then by BM25
(the statement weighs most). Each ``Hit`` carries what a human needs to judge it: the
statement, its sources, confidence, when it was accepted, who proposed it and who
confirmed it, each with the trust state the caller reports (``trust_of``).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from web4.errors import ConfigError
from web4.store import Migration, MigrationSet, Store

__all__ = ["LIBRARIAN_MIGRATIONS", "Hit", "KnowledgeIndex", "Person", "terms"]

MAX_TERMS = 16
MAX_QUESTION = 4096

LIBRARIAN_MIGRATIONS = MigrationSet(
    "librarian",
    (
        Migration(
            1,
            "FTS5 index over accepted claims (derived from knowledge_memory)",
            (
                # rowid of the FTS table = doc of librarian_docs: FTS5 keeps no TEXT key.
                """CREATE TABLE librarian_docs (
                    doc INTEGER PRIMARY KEY,
                    node_id TEXT NOT NULL UNIQUE
                ) STRICT""",
                "CREATE VIRTUAL TABLE librarian_fts USING fts5(statement, domain, context, "
                "sources, tokenize = 'porter unicode61 remove_diacritics 2')",
            ),
        ),
    ),
)

# Words that carry no subject in a question; dropping them keeps "what is X" about X.
STOP_WORDS = frozenset(
    """a about above after again all am an and any are as at be been before being below
    between both but by can could did do does doing down during each few for from further
    had has have having he her here hers him his how i if in into is it its itself just
    know me more most my no nor not of off on once only or other our out over own please
    same she should so some such tell than that the their them then there these they this
    those through to too true under until up very was we were what when where which while
    who whom why will with would you your""".split()  # noqa: SIM905 (a word list reads better)
)
_WORD = re.compile(r"[^\W_]+")
_BM25_WEIGHTS = "10.0, 2.0, 1.0, 0.5"  # statement, domain, context, sources


@dataclass(frozen=True, slots=True)
class Person:
    """A peer involved in a claim and the trust state this node gives it now."""

    fingerprint: str
    trust: str


@dataclass(frozen=True, slots=True)
class Hit:
    """An accepted claim that matches a question."""

    node_id: str
    statement: str
    domain: str
    confidence: float
    sources: tuple[str, ...]
    context: str
    accepted_at: float
    accepted_because: str  # the acceptance rule that admitted it (votes, LIP tier, ...)
    proposer: Person
    confirmers: tuple[Person, ...]
    matched: tuple[str, ...]  # the question's terms this claim matches
    of_terms: int  # how many terms the question had
    score: float  # BM25 (lower is better, as SQLite reports it)


def terms(question: str) -> tuple[str, ...]:
    """The searchable words of ``question``: casefolded, stop words and one-letter words
    dropped (digits kept), duplicates removed, at most ``MAX_TERMS``, in order."""
    out: list[str] = []
    for word in _WORD.findall(question[:MAX_QUESTION].casefold()):
        if word in STOP_WORDS or (len(word) < 2 and not word.isdigit()) or word in out:
            continue
        out.append(word)
        if len(out) == MAX_TERMS:
            break
    return tuple(out)


def _phrase(term: str) -> str:
    """``term`` as an FTS5 string: quoted, so it is never read as an operator."""
    return '"' + term.replace('"', '""') + '"'


class KnowledgeIndex:
    """The FTS5 index of accepted claims in ``store`` (see the module docstring)."""

    def __init__(self, store: Store, *, min_coverage: float = 0.5, limit: int = 5) -> None:
        """Applies the librarian migrations (and the knowledge tables must exist: the
        node creates them). Raises ``ConfigError`` on a bad setting, ``StoreError``."""
        if not 0.0 < min_coverage <= 1.0:
            raise ConfigError("min_coverage must be within (0, 1]")
        if not 1 <= limit <= 50:
            raise ConfigError("limit must be within 1..50")
        self._store, self.min_coverage, self.limit = store, min_coverage, limit
        store.migrate(LIBRARIAN_MIGRATIONS)

    def sync(self) -> int:
        """Index every accepted claim not indexed yet; returns how many were added.
        Raises ``StoreError``."""
        with self._store.transaction():
            rows = self._store.query(
                "SELECT m.node_id, m.fact FROM knowledge_memory m "
                "WHERE NOT EXISTS (SELECT 1 FROM librarian_docs d WHERE d.node_id = m.node_id)"
                " ORDER BY m.at, m.node_id"
            )
            for node_id, raw in rows:
                fact = json.loads(raw)
                self._store.execute(
                    "INSERT INTO librarian_docs (node_id) VALUES (?)", (str(node_id),)
                )
                self._store.execute(
                    "INSERT INTO librarian_fts (rowid, statement, domain, context, sources) "
                    "VALUES ((SELECT doc FROM librarian_docs WHERE node_id = ?), ?, ?, ?, ?)",
                    (
                        str(node_id),
                        str(fact.get("statement", "")),
                        str(fact.get("domain", "")),
                        str(fact.get("context", "")),
                        " ".join(str(s) for s in fact.get("sources", ())),
                    ),
                )
        return len(rows)

    def size(self) -> int:
        row = self._store.query_one("SELECT COUNT(*) FROM librarian_docs")
        return int(row[0]) if row else 0

    def search(self, question: str, trust_of: Callable[[str], str]) -> list[Hit]:
        """The accepted claims that answer ``question`` best, best first (at most
        ``limit``); empty when none matches enough of its terms. Syncs first.
        Raises ``StoreError``."""
        self.sync()
        words = terms(question)
        if not words:
            return []
        matched: dict[int, list[str]] = {}
        for word in words:
            for (doc,) in self._store.query(
                "SELECT rowid FROM librarian_fts WHERE librarian_fts MATCH ?", (_phrase(word),)
            ):
                matched.setdefault(int(doc), []).append(word)
        need = max(1, math.ceil(len(words) * self.min_coverage - 1e-9))
        docs = {doc: ws for doc, ws in matched.items() if len(ws) >= need}
        if not docs:
            return []
        query = " OR ".join(_phrase(w) for w in words)
        scores = {
            int(doc): float(score)
            for doc, score in self._store.query(
                # only a module constant is formatted in; the question is a parameter
                f"SELECT rowid, bm25(librarian_fts, {_BM25_WEIGHTS}) FROM librarian_fts "  # noqa: S608
                "WHERE librarian_fts MATCH ?",
                (query,),
            )
            if int(doc) in docs
        }
        best = sorted(docs, key=lambda d: (-len(docs[d]), scores.get(d, 0.0), d))[: self.limit]
        return [self._hit(doc, tuple(docs[doc]), len(words), scores[doc], trust_of) for doc in best]

    def _hit(
        self,
        doc: int,
        matched: tuple[str, ...],
        of_terms: int,
        score: float,
        trust_of: Callable[[str], str],
    ) -> Hit:
        row = self._store.query_one(
            "SELECT m.node_id, m.sender, m.fact, m.at, c.reason FROM librarian_docs d "
            "JOIN knowledge_memory m ON m.node_id = d.node_id "
            "JOIN knowledge_claims c ON c.msg_id = m.node_id WHERE d.doc = ?",
            (doc,),
        )
        assert row is not None  # indexed rows come from knowledge_memory, never deleted
        node_id, sender, raw, at = str(row[0]), str(row[1]), json.loads(row[2]), float(row[3])
        voters = self._store.query(
            "SELECT voter FROM knowledge_votes WHERE claim_id = ? AND kind = 'confirm' "
            "ORDER BY at, rowid",  # the order the votes arrived in
            (node_id,),
        )
        return Hit(
            node_id=node_id,
            statement=str(raw["statement"]),
            domain=str(raw.get("domain", "")),
            confidence=float(raw.get("confidence", 0.0)),
            sources=tuple(str(s) for s in raw.get("sources", ())),
            context=str(raw.get("context", "")),
            accepted_at=at,
            accepted_because=str(row[4]),
            proposer=Person(sender, trust_of(sender)),
            confirmers=tuple(Person(str(v), trust_of(str(v))) for (v,) in voters),
            matched=matched,
            of_terms=of_terms,
            score=score,
        )
