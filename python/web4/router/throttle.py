"""Per-peer token buckets: a flooding peer is throttled, the others are not.

Theory of operation: each peer key owns a bucket of ``burst`` tokens refilled at
``rate`` tokens per second; a message takes one token or is dropped. Time is passed in
(monotonic seconds), so the policy is deterministic under a fake clock. The table of
buckets is bounded: past ``max_peers`` the least recently seen peer's bucket is
forgotten (it starts full again, which only ever favours a quiet peer).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from web4.errors import ConfigError

__all__ = ["ThrottleConfig", "TokenBuckets"]


@dataclass(frozen=True)
class ThrottleConfig:
    rate: float = 200.0  # sustained messages per second per peer
    burst: float = 400.0  # messages a peer may send at once after a quiet spell
    max_peers: int = 4096  # buckets kept; bounded memory


class TokenBuckets:
    """Admit or drop messages per peer. Counts drops per peer and in total."""

    def __init__(self, config: ThrottleConfig | None = None) -> None:
        self.config = config or ThrottleConfig()
        if self.config.rate <= 0 or self.config.burst < 1 or self.config.max_peers < 1:
            raise ConfigError("throttle needs rate > 0, burst >= 1 and max_peers >= 1")
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()
        self.dropped: dict[str, int] = {}
        self.dropped_total = 0

    def admit(self, peer: str, now: float) -> bool:
        """Take one token from ``peer``'s bucket at time ``now``; False means drop."""
        cfg = self.config
        tokens, last = self._buckets.pop(peer, (cfg.burst, now))
        tokens = min(cfg.burst, tokens + max(0.0, now - last) * cfg.rate)
        admitted = tokens >= 1.0
        if admitted:
            tokens -= 1.0
        else:
            self.dropped[peer] = self.dropped.get(peer, 0) + 1
            self.dropped_total += 1
            if len(self.dropped) > cfg.max_peers:
                self.dropped.pop(next(iter(self.dropped)))
        self._buckets[peer] = (tokens, now)
        if len(self._buckets) > cfg.max_peers:
            self._buckets.popitem(last=False)
        return admitted
