"""A small persisted record of this node's links: who is connected, who was, and when.

Theory of operation: the node writes here on session open (``up``), on a lost or closed
session (``down``), on traffic (``seen``, throttled so a busy link costs no write per
frame) and at start and stop (``mark_all_down``: a node that was killed left rows saying
"connected"; they are stale on the next start). ``web4 peers`` reads the same SQLite file
beside a running node (WAL lets it read while the node writes). Time is passed in.

``peer`` is the peer's RTT key fingerprint; ``agent_id`` is the ``sender.agent_id`` of its
HELLO, known once the handshake is done (``None`` before).

Bounded: keys are free, and every key that opens a session, or that discovery finds,
gets a row. ``prune`` (the node calls it every 2 s) keeps at most ``cap`` rows
(``LINK_ROWS_MAX``; ``[node] link_rows_max``): past it, rows of peers not connected now
are deleted down to 7/8 of ``cap``, those of keys the node holds no trust record of
first, then those of keys it does, least recently seen first within each; a row the
caller ranks ``KEEP`` (configured peers, anchors, trusted keys, authorised humans, the
peers whose session the node still holds) and a connected peer's row are never deleted
(both are bounded by the connection limits). A pass reads and ranks every disconnected
row (about 1 s per 100k rows with the node's rank): the eighth below the cap makes a
flood of fresh keys pay one pass per ``cap / 8`` new rows, and while no row was added
since a pass that could delete nothing more (more kept rows than ``cap``), a pass runs
only every ``STUCK_SKIPS`` calls (a kept row may have become deletable meanwhile).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from web4.store import Migration, MigrationSet, Store

__all__ = [
    "KEEP",
    "KNOWN",
    "LINK_ROWS_MAX",
    "MIGRATIONS",
    "SEEN_WRITE_INTERVAL_S",
    "STRANGER",
    "STUCK_SKIPS",
    "LinkBook",
    "LinkRecord",
]

LINK_ROWS_MAX = 1024  # rows kept past which ``prune`` deletes (see the module docstring)
STUCK_SKIPS = 30  # calls (2 s apart) a pass that could do no more is not repeated
STRANGER, KNOWN, KEEP = 0, 1, 2  # a peer's rank for ``prune``: deleted first .. never

# ``seen`` writes at most this often per peer: "last seen" to the second is all a reader needs.
SEEN_WRITE_INTERVAL_S = 1.0

MIGRATIONS = MigrationSet(
    "links",
    (
        Migration(
            1,
            "links: connected / last seen per peer",
            (
                """CREATE TABLE links_peers (
                    peer TEXT PRIMARY KEY,
                    agent_id TEXT,
                    connected INTEGER NOT NULL,
                    last_seen REAL NOT NULL,
                    reason TEXT
                ) STRICT""",
            ),
        ),
        Migration(
            2,
            "links: how each peer was found (configured, mdns, dht; NULL: it dialled us)",
            ("ALTER TABLE links_peers ADD COLUMN found_by TEXT",),
        ),
        Migration(
            3,
            "links: whether the connection is direct or through a relay (RTT_SPEC §17)",
            ("ALTER TABLE links_peers ADD COLUMN path TEXT",),
        ),
    ),
)


@dataclass(frozen=True, slots=True)
class LinkRecord:
    """One peer as the node last saw it. ``reason`` says why it went down (``None`` while up)."""

    peer: str
    agent_id: str | None
    connected: bool
    last_seen: float
    reason: str | None
    found_by: str | None = None
    path: str | None = None
    """``direct`` or ``relayed``: the connection carrying the session last (None: unknown)."""


class LinkBook:
    """The ``links_peers`` table. Thread-safe (the node's RTT callbacks run on other threads)."""

    def __init__(self, store: Store) -> None:
        """Applies the ``links`` migrations. Raises ``StoreError``."""
        self._store = store
        store.migrate(MIGRATIONS)
        self._lock = threading.Lock()
        self._last_write: dict[str, float] = {}
        self._stuck_at = 0  # rows left by the last pass that could delete no more
        self._skipped = 0  # calls skipped since (see STUCK_SKIPS)

    def up(self, peer: str, agent_id: str | None, now: float) -> None:
        """``peer`` is connected. A ``None`` agent_id keeps a known one. Raises ``StoreError``."""
        self._store.execute(
            "INSERT INTO links_peers (peer, agent_id, connected, last_seen, reason) "
            "VALUES (?, ?, 1, ?, NULL) ON CONFLICT(peer) DO UPDATE SET "
            "agent_id = COALESCE(excluded.agent_id, links_peers.agent_id), connected = 1, "
            "last_seen = MAX(links_peers.last_seen, excluded.last_seen), reason = NULL",
            (peer, agent_id, now),
        )
        with self._lock:
            self._last_write[peer] = now

    def down(self, peer: str, reason: str, now: float) -> None:
        """``peer`` is no longer connected, for ``reason``. Raises ``StoreError``.

        ``last_seen`` keeps the last time the peer was heard from (not ``now``) when the
        peer is known: a peer lost after a silent heartbeat timeout was last seen earlier.
        """
        self._store.execute(
            "INSERT INTO links_peers (peer, agent_id, connected, last_seen, reason) "
            "VALUES (?, NULL, 0, ?, ?) ON CONFLICT(peer) DO UPDATE SET "
            "connected = 0, reason = excluded.reason",
            (peer, now, reason),
        )
        with self._lock:
            self._last_write.pop(peer, None)

    def seen(self, peer: str, now: float) -> None:
        """Traffic from ``peer`` at ``now``; written at most every ``SEEN_WRITE_INTERVAL_S``.

        Does not create a row (``up`` does). Raises ``StoreError``.
        """
        with self._lock:
            last = self._last_write.get(peer)
            if last is not None and now - last < SEEN_WRITE_INTERVAL_S:
                return
            self._last_write[peer] = now
        self._store.execute(
            "UPDATE links_peers SET last_seen = MAX(last_seen, ?) WHERE peer = ?",
            (now, peer),
        )

    def found(self, peer: str, source: str, now: float) -> None:
        """``peer`` was found by ``source`` (``configured``, ``mdns``, ``dht``). Raises
        ``StoreError``."""
        self._store.execute(
            "INSERT INTO links_peers (peer, agent_id, connected, last_seen, reason, found_by) "
            "VALUES (?, NULL, 0, ?, NULL, ?) ON CONFLICT(peer) DO UPDATE SET "
            "found_by = excluded.found_by",
            (peer, now, source),
        )

    def path(self, peer: str, path: str) -> None:
        """``peer``'s session is now carried by a ``direct`` or ``relayed`` connection
        (an existing row only). Raises ``StoreError``."""
        self._store.execute("UPDATE links_peers SET path = ? WHERE peer = ?", (path, peer))

    def mark_all_down(self, reason: str, now: float) -> None:
        """Every connected row goes down with ``reason`` (node start and stop).

        ``now`` is unused for ``last_seen`` (it keeps the last real sighting); it is part
        of the API so callers never need to special-case it. Raises ``StoreError``.
        """
        del now
        self._store.execute(
            "UPDATE links_peers SET connected = 0, reason = ? WHERE connected = 1", (reason,)
        )
        with self._lock:
            self._last_write.clear()

    def prune(self, cap: int, rank: Callable[[str], int]) -> int:
        """Past ``cap`` rows, delete down to ``cap - cap // 8`` (see the module
        docstring); ``rank(peer)`` is ``STRANGER``, ``KNOWN`` or ``KEEP``. Returns how many
        were deleted. Raises ``StoreError``."""
        count = self.count()
        if count <= cap:
            return 0
        if count <= self._stuck_at and self._skipped < STUCK_SKIPS:
            # no row added since a pass that could do no more; a kept row may become
            # deletable all the same (its session closed, its trust withdrawn): a new
            # pass after STUCK_SKIPS calls
            self._skipped += 1
            return 0
        self._skipped = 0
        # a pass reads and ranks every disconnected row (O(rows)): going below the cap
        # by an eighth makes a flood pay one pass per cap/8 new rows, not one per tick
        excess = count - (cap - cap // 8)
        rows = self._store.query(
            "SELECT peer FROM links_peers WHERE connected = 0 ORDER BY last_seen, peer"
        )
        ranked = sorted(
            (r, i, peer) for i, peer in enumerate(str(x[0]) for x in rows)
            if (r := rank(peer)) < KEEP
        )  # fmt: skip
        victims = [peer for _, _, peer in ranked[:excess]]
        with self._store.transaction():
            for peer in victims:  # connected since the read: kept
                self._store.execute(
                    "DELETE FROM links_peers WHERE peer = ? AND connected = 0", (peer,)
                )
        with self._lock:
            for peer in victims:
                self._last_write.pop(peer, None)
        # nothing more could go: no new pass until a row is added
        self._stuck_at = count - len(victims) if len(victims) < excess else 0
        return len(victims)

    def count(self) -> int:
        """Rows in the table. Raises ``StoreError``."""
        row = self._store.query_one("SELECT COUNT(*) FROM links_peers")
        return int(row[0]) if row else 0

    def all(self) -> list[LinkRecord]:
        """Every known peer, connected first, then most recently seen first."""
        rows = self._store.query(
            "SELECT peer, agent_id, connected, last_seen, reason, found_by, path FROM links_peers "
            "ORDER BY connected DESC, last_seen DESC, peer"
        )
        return [
            LinkRecord(
                peer=str(r[0]),
                agent_id=None if r[1] is None else str(r[1]),
                connected=bool(r[2]),
                last_seen=float(r[3]),
                reason=None if r[4] is None else str(r[4]),
                found_by=None if r[5] is None else str(r[5]),
                path=None if r[6] is None else str(r[6]),
            )
            for r in rows
        ]
