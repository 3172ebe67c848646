"""The gossip messages this node accepted, by id, across restarts (CIP_SPEC §11).

Theory of operation: gossipsub remembers the ids of the messages it has seen only in
memory. After a restart, a neighbour may send us again, byte for byte, a message we
accepted just before (its gossip advertises what it still holds, and we ask for what we
do not remember); our persistent replay cache then refuses it as a replay. That is no
fault of the honest neighbour, so the verdict must be ``ignore``, not ``reject``. A
*respelled* replay (the same signed envelope with other bytes, e.g. added whitespace) is
deliberate: an honest node forwards bytes as it got them. The message id is the SHA-256
of the bytes, so remembering the ids we accepted tells the two apart: a replay whose id
we accepted is a re-delivery, any other replay is the forwarder's fault.

The id is recorded by the gossip validator's replay cache (``GossipReplayCache``) in the
same transaction as the envelope's replay entry: recorded after the message was handled,
a node killed between the two refused the neighbour's re-delivery after its restart as a
replay with no id to excuse it (one penalty for an honest forwarder; seen in the churn
test). So the table holds the ids of the messages whose envelope passed the replay check
(signature, topic and timestamp included), accepted or then refused for our own reasons:
either way a later copy of the same bytes is no fault of whoever forwards it.

Such a re-delivery is let through the replay check to the handlers rather than refused:
the replay entry is written when the message is validated, before the knowledge desk
stores it, so a node killed between the two would otherwise refuse every later copy and
never store the fact. The desk drops a message it holds already (``knowledge.duplicate``,
as the second copy of a broadcast that came both point to point and by gossip), so
handling the same bytes twice stores nothing twice; and gossipsub drops every further
copy of an id it has seen (300 s, longer than the timestamp check lets an envelope
live), so this happens at most once per restart.

Bounded: ids are kept ``WINDOW_S`` (longer than the replay window plus the skew, after
which the timestamp check refuses the envelope anyway) and at most ``MAX_IDS`` of them
(checked every ``COUNT_EVERY`` adds, so at most that many more for a moment); each
``add`` deletes what fell out of the window, oldest first. One small write per
accepted gossip message, in the store's ``gossip`` migration set.
"""

from __future__ import annotations

from web4.envelope.replay_store import PersistentReplayCache
from web4.errors import ReplayError
from web4.store import Migration, MigrationSet, Store

__all__ = [
    "COUNT_EVERY",
    "GOSSIP_MIGRATIONS",
    "MAX_IDS",
    "WINDOW_S",
    "GossipReplayCache",
    "SeenGossip",
]

WINDOW_S = 600.0
MAX_IDS = 65_536
COUNT_EVERY = 256  # the count bound is enforced every this many adds

GOSSIP_MIGRATIONS = MigrationSet(
    "gossip",
    (
        Migration(
            1,
            "ids of the gossip messages accepted in the last window",
            (
                "CREATE TABLE gossip_seen (id TEXT PRIMARY KEY, at REAL NOT NULL) "
                "STRICT, WITHOUT ROWID",
                "CREATE INDEX gossip_seen_at ON gossip_seen (at)",
            ),
        ),
    ),
)


class SeenGossip:
    """Accepted gossip message ids in ``store`` (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        window_s: float = WINDOW_S,
        max_ids: int = MAX_IDS,
        count_every: int = COUNT_EVERY,
    ) -> None:
        """Applies the migrations. Raises ``StoreError``."""
        self._store = store
        self.window_s, self.max_ids, self.count_every = window_s, max_ids, count_every
        self._adds = 0
        store.migrate(GOSSIP_MIGRATIONS)

    def add(self, message_id: str, now: float) -> None:
        """Remember an accepted message; forget what fell out of the bounds. Raises
        ``StoreError``."""
        with self._store.transaction():
            self._store.execute(
                "INSERT OR REPLACE INTO gossip_seen (id, at) VALUES (?, ?)", (message_id, now)
            )
            self._store.execute("DELETE FROM gossip_seen WHERE at < ?", (now - self.window_s,))
            self._adds += 1
            if self._adds % self.count_every == 0:  # it walks the index: not on every add
                self._store.execute(
                    "DELETE FROM gossip_seen WHERE id IN (SELECT id FROM gossip_seen "
                    "ORDER BY at DESC LIMIT -1 OFFSET ?)",
                    (self.max_ids,),
                )

    def __contains__(self, message_id: object) -> bool:
        if not isinstance(message_id, str):
            return False
        row = self._store.query_one("SELECT 1 FROM gossip_seen WHERE id = ?", (message_id,))
        return row is not None


class GossipReplayCache(PersistentReplayCache):
    """The gossip validator's replay cache (scope ``cip-gossip``): the envelope's replay
    entry and the id of the gossip message that carried it (``message_id``, set by the
    gossip service around each validation) are written in one transaction, so a restart
    never finds the one without the other (see the module docstring). Raises
    ``StoreError`` as ``PersistentReplayCache``."""

    def __init__(self, store: Store, seen: SeenGossip | None = None) -> None:
        super().__init__(store, "cip-gossip")
        self.seen = SeenGossip(store) if seen is None else seen
        self.message_id: str | None = None  # the gossip message being validated

    def check_and_add(self, sender: str, msg_id: str, sent: float, now: float) -> None:
        with self._store.transaction():
            try:
                super().check_and_add(sender, msg_id, sent, now)  # ReplayError: nothing added
            except ReplayError:
                if self.redelivery(sender, msg_id):
                    return  # the very bytes that passed before: on to the desk, which dedupes
                raise
            if self.message_id is not None:
                self.seen.add(self.message_id, now)

    def redelivery(self, sender: str, msg_id: str) -> bool:
        """Is the message being validated the very bytes of ``(sender, msg_id)``'s
        envelope that passed this check before? (Its replay entry is there, not just a
        floor, and its gossip id was recorded with it.) Raises ``StoreError``."""
        mid = self.message_id
        return mid is not None and (sender, msg_id) in self and self.recorded(mid)

    def recorded(self, message_id: str) -> bool:
        """Was ``message_id`` recorded with a replay entry (in the window)? Raises
        ``StoreError``."""
        return message_id in self.seen
