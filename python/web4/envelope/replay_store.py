"""The replay cache, persisted in the node's SQLite store so that it survives a restart.

Theory of operation: ``PersistentReplayCache`` is the in-memory ``ReplayCache`` (the
fast path: every lookup is a dict lookup) whose every change is also written to the
store, in the same call, before the envelope goes on to routing:

- an accepted ``(sender, msg_id)`` is a row of ``replay_seen`` (its ``sent`` time);
- an entry evicted by a bound deletes its row and raises the sender's row of
  ``replay_floors``, so the store holds at most what the memory holds (per-sender and
  global bounds included) plus the rows that expired since the last prune;
- every ``prune_interval`` seconds the rows whose envelope could no longer pass the
  timestamp check are deleted, and the forgotten mark is saved in ``replay_marks``.

Times are stored as the envelope's ``sent`` time (floors and the mark as ``expiry -
window``), so that a node restarted with another window computes expiries with the window
it now enforces. On construction the cache loads its rows (those already past are
forgotten at the first check, raising the forgotten mark as they would have in memory):
an envelope seen before a restart and still inside the window is refused after it.

Each cache has a ``scope`` (``cip``, ``hcp``, ``lip``): one table serves every protocol's
cache without one cache's bounds evicting another's rows. Two live caches must never share
a scope in one store (each would miss the other's entries in memory). A ``StoreError``
(disk full, store locked past its timeout) propagates: a local fault, not the peer's;
the entry stays remembered in memory, so the cache fails closed while the node runs.
"""

from __future__ import annotations

from web4.envelope.replay import DEFAULT_CAPACITY, ReplayCache
from web4.errors import ConfigError
from web4.store import Migration, MigrationSet, Store

__all__ = ["REPLAY_MIGRATIONS", "PersistentReplayCache"]

REPLAY_MIGRATIONS = MigrationSet(
    "replay",
    (
        Migration(
            1,
            "seen msg_ids, per-sender eviction floors and the forgotten mark, per scope",
            (
                "CREATE TABLE replay_seen (scope TEXT NOT NULL, sender TEXT NOT NULL, "
                "msg_id TEXT NOT NULL, sent REAL NOT NULL, "
                "PRIMARY KEY (scope, sender, msg_id)) STRICT, WITHOUT ROWID",
                "CREATE INDEX replay_seen_sent ON replay_seen (scope, sent)",
                "CREATE TABLE replay_floors (scope TEXT NOT NULL, sender TEXT NOT NULL, "
                "floor_sent REAL NOT NULL, PRIMARY KEY (scope, sender)) STRICT, WITHOUT ROWID",
                "CREATE TABLE replay_marks (scope TEXT PRIMARY KEY, "
                "forgotten_sent REAL NOT NULL) STRICT",
            ),
        ),
    ),
)

_NEG_INF = float("-inf")


class PersistentReplayCache(ReplayCache):
    """A ``ReplayCache`` mirrored in ``store`` under ``scope`` (see the module docstring).

    Raises ``ConfigError`` for bad bounds or an empty scope and ``StoreError`` when the
    store refuses the migration or the load.
    """

    def __init__(
        self,
        store: Store,
        scope: str,
        window: float = 120.0,
        capacity: int = DEFAULT_CAPACITY,
        per_sender_capacity: int | None = None,
        *,
        prune_interval: float = 10.0,
    ) -> None:
        super().__init__(window, capacity, per_sender_capacity)
        if not scope:
            raise ConfigError("a persistent replay cache needs a scope")
        if not prune_interval > 0:
            raise ConfigError(f"prune interval must be positive, got {prune_interval!r}")
        self._store = store
        self.scope = scope
        self.prune_interval = float(prune_interval)
        self._next_prune = _NEG_INF
        store.migrate(REPLAY_MIGRATIONS)
        self._load()

    def _load(self) -> None:
        w = self.window
        with self._store.transaction():  # evictions while loading write their rows too
            rows = self._store.query(
                "SELECT sender, msg_id, sent FROM replay_seen WHERE scope = ?", (self.scope,)
            )
            floors = self._store.query(
                "SELECT sender, floor_sent FROM replay_floors WHERE scope = ?", (self.scope,)
            )
            mark = self._store.query_one(
                "SELECT forgotten_sent FROM replay_marks WHERE scope = ?", (self.scope,)
            )
            self._restore(
                [(str(s), str(m), float(t) + w) for s, m, t in rows],
                {str(s): float(f) + w for s, f in floors},
                _NEG_INF if mark is None else float(mark[0]) + w,
            )

    def check_and_add(self, sender: str, msg_id: str, sent: float, now: float) -> None:
        """As ``ReplayCache.check_and_add``, and durable before it returns.

        Raises ``ReplayError`` (as the memory cache) and ``StoreError`` when the store
        cannot record the entry (it is then remembered in memory only).
        """
        with self._store.transaction():
            super().check_and_add(sender, msg_id, sent, now)
            if now >= self._next_prune:
                self._prune(now)

    def _remembered(self, sender: str, msg_id: str, expiry: float) -> None:
        self._store.execute(
            "INSERT OR REPLACE INTO replay_seen (scope, sender, msg_id, sent) VALUES (?, ?, ?, ?)",
            (self.scope, sender, msg_id, expiry - self.window),
        )

    def _evicted(self, sender: str, msg_id: str, floor: float) -> None:
        self._store.execute(
            "DELETE FROM replay_seen WHERE scope = ? AND sender = ? AND msg_id = ?",
            (self.scope, sender, msg_id),
        )
        self._store.execute(
            "INSERT INTO replay_floors (scope, sender, floor_sent) VALUES (?, ?, ?) "
            "ON CONFLICT (scope, sender) DO UPDATE SET "
            "floor_sent = MAX(floor_sent, excluded.floor_sent)",
            (self.scope, sender, floor - self.window),
        )

    def _prune(self, now: float) -> None:
        """Delete the rows and floors that lie in the past; save the forgotten mark."""
        cutoff = now - self.window  # sent + window < now  <=>  sent < now - window
        scope = self.scope
        row = self._store.query_one(
            "SELECT MAX(sent) FROM replay_seen WHERE scope = ? AND sent < ?", (scope, cutoff)
        )
        marks = [self.forgotten - self.window]
        if row is not None and row[0] is not None:
            marks.append(float(row[0]))
        self._store.execute("DELETE FROM replay_seen WHERE scope = ? AND sent < ?", (scope, cutoff))
        # A floor in the past protects nothing the timestamp check lets through; fold it
        # into the mark (as the memory cache does when a bucket empties) and drop it.
        stale = (
            "FROM replay_floors WHERE scope = ? AND floor_sent < ? AND NOT EXISTS "
            "(SELECT 1 FROM replay_seen s WHERE s.scope = replay_floors.scope "
            "AND s.sender = replay_floors.sender)"
        )
        row = self._store.query_one(f"SELECT MAX(floor_sent) {stale}", (scope, cutoff))
        if row is not None and row[0] is not None:
            marks.append(float(row[0]))
        self._store.execute(f"DELETE {stale}", (scope, cutoff))
        mark = max(marks)
        if mark > _NEG_INF:
            self._store.execute(
                "INSERT INTO replay_marks (scope, forgotten_sent) VALUES (?, ?) "
                "ON CONFLICT (scope) DO UPDATE SET "
                "forgotten_sent = MAX(forgotten_sent, excluded.forgotten_sent)",
                (scope, mark),
            )
        self._next_prune = now + self.prune_interval

    def stored(self) -> int:
        """Rows of this scope in the store (for tests and diagnostics)."""
        row = self._store.query_one(
            "SELECT COUNT(*) FROM replay_seen WHERE scope = ?", (self.scope,)
        )
        return int(row[0]) if row else 0
