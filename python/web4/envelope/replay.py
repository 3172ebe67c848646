"""A bounded, time-expiring replay cache for envelope ``msg_id``s, fair across senders.

Theory of operation: the validator accepts an envelope only if its timestamp lies within
``window`` seconds of local time, so an envelope sent at ``t`` can be replayed
successfully only until local time ``t + window``. The cache therefore remembers each
authenticated ``(sender fingerprint, msg_id)`` until ``t + window`` and forgets it after:
memory follows the traffic of one window, never the lifetime of the node. Keys include
the sender so that one peer cannot burn another peer's ids.

Bounds are per sender and global. Each sender has a bucket of at most
``per_sender_capacity`` entries; all buckets together hold at most ``capacity``. When a
bound is hit, the entry that expires first *in the sender's own bucket* (for the global
bound: in the largest bucket) is evicted and its expiry becomes that bucket's *floor*:
from then on that sender's envelopes whose expiry is at or below the floor are refused
as possible replays, because an earlier copy may have been evicted. Eviction takes the
earliest expiry of a bucket, so every envelope of that sender above its floor that was
seen before is still there: a full cache fails closed but never lets a replay through.
Floors are per sender so that a flood, even of future-dated envelopes under many
throwaway keys, only raises the floors of the largest buckets (the flooders') and never
refuses an honest peer's fresh traffic.

Expiry forgets the same way: every entry forgotten because its time passed (and every
floor of a bucket dropped when it empties) raises the global *forgotten* mark, and an
envelope whose expiry is at or below that mark is refused. Forgotten expiries lie in
the past, so with time that only moves forward no acceptable envelope is that old; the
mark matters if ``now`` steps back (a wall clock corrected by NTP).

Time is passed in (``now``); nothing here reads a clock, and nothing here does IO:
``web4.envelope.replay_store.PersistentReplayCache`` is this cache with every change
also written to the node's SQLite store, so that it survives a restart.
"""

from __future__ import annotations

import heapq
import itertools

from web4.errors import ConfigError, ReplayError

__all__ = ["DEFAULT_CAPACITY", "ReplayCache"]

DEFAULT_CAPACITY = 65_536


class _Bucket:
    """One sender's remembered msg_ids and its eviction floor."""

    __slots__ = ("expiry", "floor", "heap")

    def __init__(self) -> None:
        self.expiry: dict[str, float] = {}
        self.heap: list[tuple[float, str]] = []
        self.floor = float("-inf")

    def pop_earliest(self) -> tuple[float, str]:
        while True:
            expiry, msg_id = heapq.heappop(self.heap)
            if self.expiry.get(msg_id) == expiry:
                del self.expiry[msg_id]
                return expiry, msg_id


class ReplayCache:
    """Remembers ``(sender, msg_id)`` pairs until their envelope could no longer pass the
    timestamp check. Not thread-safe; one per validator."""

    def __init__(
        self,
        window: float = 120.0,
        capacity: int = DEFAULT_CAPACITY,
        per_sender_capacity: int | None = None,
    ) -> None:
        """``per_sender_capacity`` defaults to a quarter of ``capacity`` (at least 1).

        Raises ``ConfigError`` unless ``window > 0`` and both capacities are >= 1.
        """
        if not window > 0:
            raise ConfigError(f"replay window must be positive, got {window!r}")
        if capacity < 1:
            raise ConfigError(f"replay capacity must be at least 1, got {capacity!r}")
        per_sender = per_sender_capacity or max(1, capacity // 4)
        if per_sender < 1:
            raise ConfigError(f"per-sender capacity must be at least 1, got {per_sender!r}")
        self.window = float(window)
        self.capacity = capacity
        self.per_sender_capacity = min(per_sender, capacity)
        self._buckets: dict[str, _Bucket] = {}
        self._size = 0
        self._expiries: list[tuple[float, str, str]] = []  # (expiry, sender, msg_id), lazy
        self._largest: list[tuple[int, int, str]] = []  # (-size, tiebreak, sender), lazy
        self._tiebreak = itertools.count()
        self._forgotten = float("-inf")
        self.evicted = 0  # entries pushed out by a bound (a sign of overload or attack)

    def __len__(self) -> int:
        return self._size

    def __contains__(self, key: tuple[str, str]) -> bool:
        bucket = self._buckets.get(key[0])
        return bucket is not None and key[1] in bucket.expiry

    @property
    def floor(self) -> float:
        """The highest per-sender floor (for diagnostics)."""
        return max((b.floor for b in self._buckets.values()), default=float("-inf"))

    def floor_of(self, sender: str) -> float:
        """Expiry at or below which ``sender``'s envelopes are refused since an eviction."""
        bucket = self._buckets.get(sender)
        return float("-inf") if bucket is None else bucket.floor

    def check_and_add(self, sender: str, msg_id: str, sent: float, now: float) -> None:
        """Record an authenticated envelope sent at ``sent`` (epoch seconds), seen ``now``.

        Raises ``ReplayError`` if the pair is still remembered, or if the envelope is so
        old that an earlier copy may have been evicted or forgotten.
        """
        self.expire(now)
        bucket = self._buckets.get(sender)
        if bucket is not None and msg_id in bucket.expiry:
            raise ReplayError(f"msg_id {msg_id} from {sender[:16]}… was already seen")
        expiry = sent + self.window
        if expiry <= self._forgotten:
            raise ReplayError(
                f"msg_id {msg_id}: older than entries the cache has already forgotten "
                f"(did the clock step back?), cannot rule out a replay"
            )
        if bucket is not None and expiry <= bucket.floor:
            raise ReplayError(
                f"msg_id {msg_id}: replay cache saturated for this sender, cannot rule out "
                f"a replay of an envelope this old"
            )
        if expiry < now:
            # The timestamp check refuses such envelopes anyway; do not store them.
            return
        self._remember(sender, msg_id, expiry)
        self._remembered(sender, msg_id, expiry)

    def _remember(self, sender: str, msg_id: str, expiry: float) -> None:
        """Insert one entry, evicting by the bounds first (no replay checks)."""
        bucket = self._buckets.get(sender)
        if bucket is None:
            bucket = self._buckets[sender] = _Bucket()
        if len(bucket.expiry) >= self.per_sender_capacity:
            self._evict_from(sender, bucket)
        while self._size >= self.capacity:
            self._evict_from_largest()
        bucket.expiry[msg_id] = expiry
        heapq.heappush(bucket.heap, (expiry, msg_id))
        heapq.heappush(self._expiries, (expiry, sender, msg_id))
        self._size += 1
        self._note_size(sender, bucket)

    # Hooks for a subclass that mirrors the cache elsewhere (a store); no-ops here.

    def _remembered(self, sender: str, msg_id: str, expiry: float) -> None:
        """``(sender, msg_id)`` is now remembered until ``expiry``."""

    def _evicted(self, sender: str, msg_id: str, floor: float) -> None:
        """``(sender, msg_id)`` was pushed out by a bound; ``sender``'s floor is now
        ``floor``."""

    def _restore(
        self,
        entries: list[tuple[str, str, float]],
        floors: dict[str, float],
        forgotten: float,
    ) -> None:
        """Load a saved state: ``(sender, msg_id, expiry)`` entries (earliest first, so
        that the bounds evict the entries that expire first), per-sender floors and the
        forgotten mark. Entries already past are forgotten at the next ``expire``."""
        for sender, msg_id, expiry in sorted(entries, key=lambda e: e[2]):
            bucket = self._buckets.get(sender)
            if bucket is None or msg_id not in bucket.expiry:
                self._remember(sender, msg_id, expiry)
        for sender, floor in floors.items():
            # A bucket emptied by the global bound keeps its floor, as in memory.
            bucket = self._buckets.setdefault(sender, _Bucket())
            bucket.floor = max(bucket.floor, floor)
        self._forgotten = max(self._forgotten, forgotten)

    @property
    def forgotten(self) -> float:
        """Expiry at or below which every envelope is refused (see the module docstring)."""
        return self._forgotten

    def expire(self, now: float) -> None:
        """Forget every entry whose envelope could no longer pass the timestamp check."""
        while self._expiries and self._expiries[0][0] < now:
            expiry, sender, msg_id = heapq.heappop(self._expiries)
            bucket = self._buckets.get(sender)
            if bucket is None or bucket.expiry.get(msg_id) != expiry:
                continue  # already evicted
            del bucket.expiry[msg_id]
            self._size -= 1
            self._forgotten = max(self._forgotten, expiry)
            if bucket.expiry:
                self._note_size(sender, bucket)
            else:
                # The floor lies below expiries that are now past: fold it into the mark.
                self._forgotten = max(self._forgotten, bucket.floor)
                del self._buckets[sender]
        if len(self._largest) > 2 * len(self._buckets) + 64:
            self._largest = [(-len(b.expiry), 0, s) for s, b in self._buckets.items()]
            heapq.heapify(self._largest)

    def _evict_from(self, sender: str, bucket: _Bucket) -> None:
        expiry, msg_id = bucket.pop_earliest()
        bucket.floor = max(bucket.floor, expiry)
        self._size -= 1
        self.evicted += 1
        self._note_size(sender, bucket)
        self._evicted(sender, msg_id, bucket.floor)

    def _evict_from_largest(self) -> None:
        while True:
            neg_size, _, sender = heapq.heappop(self._largest)
            bucket = self._buckets.get(sender)
            if bucket is not None and len(bucket.expiry) == -neg_size and bucket.expiry:
                self._evict_from(sender, bucket)
                return

    def _note_size(self, sender: str, bucket: _Bucket) -> None:
        heapq.heappush(self._largest, (-len(bucket.expiry), next(self._tiebreak), sender))
