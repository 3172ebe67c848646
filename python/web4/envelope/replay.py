"""A bounded, time-expiring replay cache for envelope ``msg_id``s.

Theory of operation: the validator accepts an envelope only if its timestamp lies within
``window`` seconds of local time, so an envelope sent at ``t`` can be replayed
successfully only until local time ``t + window``. The cache therefore remembers each
authenticated ``(sender fingerprint, msg_id)`` until ``t + window`` and forgets it after:
memory follows the traffic of one window, never the lifetime of the node. Keys include
the sender so that one peer cannot burn another peer's ids.

The cache holds at most ``capacity`` entries. When it is full, the entry that expires
first is evicted and its expiry becomes the *floor*: from then on any envelope whose own
expiry is at or below the floor is refused as a possible replay, because an earlier copy
of it may have been evicted. Since eviction always takes the earliest expiry, every
envelope above the floor that was seen before is still in the cache: a full cache can
refuse fresh old-ish traffic (fail closed), but it never lets a replay through.

Expiry forgets the same way: every entry forgotten because its time passed raises the
*forgotten* mark to its expiry, and an envelope whose expiry is at or below that mark is
refused too. With time that only moves forward no acceptable envelope is that old, but
if ``now`` steps back (a wall clock corrected by NTP, callers passing slightly different
times) an envelope already forgotten could pass the timestamp check again.

Time is passed in (``now``); nothing here reads a clock.
"""

from __future__ import annotations

import heapq

from web4.errors import ConfigError, ReplayError

__all__ = ["DEFAULT_CAPACITY", "ReplayCache"]

DEFAULT_CAPACITY = 65_536


class ReplayCache:
    """Remembers ``(sender, msg_id)`` pairs until their envelope could no longer pass the
    timestamp check. Not thread-safe; one per validator."""

    def __init__(self, window: float = 120.0, capacity: int = DEFAULT_CAPACITY) -> None:
        """Raises ``ConfigError`` unless ``window > 0`` and ``capacity >= 1``."""
        if not window > 0:
            raise ConfigError(f"replay window must be positive, got {window!r}")
        if capacity < 1:
            raise ConfigError(f"replay capacity must be at least 1, got {capacity!r}")
        self.window = float(window)
        self.capacity = capacity
        self._expiry: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, tuple[str, str]]] = []
        self._floor = float("-inf")
        self._forgotten = float("-inf")  # highest expiry dropped by `expire`
        self.evicted = 0  # entries pushed out by capacity (a sign of overload or attack)

    def __len__(self) -> int:
        return len(self._expiry)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._expiry

    @property
    def floor(self) -> float:
        """Expiry at or below which envelopes are refused since an eviction."""
        return self._floor

    def check_and_add(self, sender: str, msg_id: str, sent: float, now: float) -> None:
        """Record an authenticated envelope sent at ``sent`` (epoch seconds), seen ``now``.

        Raises ``ReplayError`` if the pair is still remembered, or if the envelope is so
        old that an earlier copy may have been evicted from a full cache.
        """
        self.expire(now)
        key = (sender, msg_id)
        if key in self._expiry:
            raise ReplayError(f"msg_id {msg_id} from {sender[:16]}… was already seen")
        expiry = sent + self.window
        if expiry <= self._forgotten:
            raise ReplayError(
                f"msg_id {msg_id}: older than entries the cache has already forgotten "
                f"(did the clock step back?), cannot rule out a replay"
            )
        if expiry <= self._floor:
            raise ReplayError(
                f"msg_id {msg_id}: replay cache saturated, cannot rule out a replay of an "
                f"envelope this old"
            )
        if expiry < now:
            # The timestamp check refuses such envelopes anyway; do not store them.
            return
        while len(self._expiry) >= self.capacity:
            self._evict_one()
        self._expiry[key] = expiry
        heapq.heappush(self._heap, (expiry, key))

    def expire(self, now: float) -> None:
        """Forget every entry whose envelope could no longer pass the timestamp check."""
        while self._heap and self._heap[0][0] < now:
            expiry, key = heapq.heappop(self._heap)
            self._expiry.pop(key, None)
            self._forgotten = max(self._forgotten, expiry)

    def _evict_one(self) -> None:
        expiry, key = heapq.heappop(self._heap)
        del self._expiry[key]
        self._floor = max(self._floor, expiry)
        self.evicted += 1
