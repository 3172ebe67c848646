"""FaultMeter: per-peer rate limits on invalid input, so a flood costs the flooder only.

Theory of operation: every router fault of a link peer (an invalid envelope, a replay, a
handler fault) passes through ``FaultMeter.observe(peer, now)``, which says what to do
with it. Within one window (``window_s``) per peer, the first ``audit_each`` faults are
audited one by one as trust ``anomaly`` events (for a peer that has passed the handshake;
faults of a peer that never did change no trust state, so they are only counted); the
rest are counted. At ``disconnect_at`` faults in one window the peer is disconnected and
refused for ``ban_s`` seconds, and one aggregated audit row says how many faults there
were. Counted faults that were never audited are reported by ``flush`` when the window
ends or the peer's session closes, again as one row. The audit log thus grows by at most
``audit_each + 1`` rows per peer and window, however fast the peer sends.

Pure: the time is an argument; memory is bounded (``max_peers`` peers are tracked, the
least recently seen is forgotten first).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["FaultMeter", "FaultVerdict", "Tally"]


class FaultVerdict(StrEnum):
    AUDIT = "audit"  # record this fault as its own trust event
    COUNT = "count"  # count it only (it will be reported in an aggregate)
    DISCONNECT = "disconnect"  # over the limit: report the aggregate and disconnect


@dataclass
class Tally:
    """One peer's faults in the current window."""

    window_start: float
    faults: int = 0
    unreported: int = 0  # counted but in no audit row yet
    banned_until: float = 0.0


class FaultMeter:
    """See the module docstring. Raises ``ValueError`` on nonsense limits."""

    def __init__(
        self,
        *,
        window_s: float = 60.0,
        audit_each: int = 3,
        disconnect_at: int = 20,
        ban_s: float = 60.0,
        max_peers: int = 4096,
    ) -> None:
        if not (window_s > 0 and ban_s >= 0 and 1 <= audit_each < disconnect_at):
            raise ValueError("FaultMeter: need window_s > 0, ban_s >= 0, 1 <= audit_each < "
                             "disconnect_at")  # fmt: skip
        self.window_s = window_s
        self.audit_each = audit_each
        self.disconnect_at = disconnect_at
        self.ban_s = ban_s
        self.max_peers = max_peers
        self._peers: OrderedDict[str, Tally] = OrderedDict()
        self._last_scan = float("-inf")

    def observe(self, peer: str, now: float) -> tuple[FaultVerdict, int]:
        """One fault of ``peer`` at ``now``: the verdict and, for ``DISCONNECT``, how
        many faults the aggregate reports (else 0). A fault in a new window first needs
        ``flush`` of the old one (``expired`` lists those peers)."""
        tally = self._tally(peer, now)
        tally.faults += 1
        if tally.faults >= self.disconnect_at:
            reported = tally.unreported + 1
            tally.unreported = 0
            tally.faults = 0
            tally.window_start = now
            tally.banned_until = now + self.ban_s
            return FaultVerdict.DISCONNECT, reported
        if tally.faults <= self.audit_each:
            return FaultVerdict.AUDIT, 0
        tally.unreported += 1
        return FaultVerdict.COUNT, 0

    def note_unreported(self, peer: str) -> None:
        """The caller did not audit an ``AUDIT`` fault (the peer has no trust to lose):
        count it for the aggregate."""
        tally = self._peers.get(peer)
        if tally is not None:
            tally.unreported += 1

    def flush(self, peer: str) -> int:
        """Take the count of ``peer``'s faults not yet in any audit row (0 if none)."""
        tally = self._peers.get(peer)
        if tally is None:
            return 0
        count, tally.unreported = tally.unreported, 0
        return count

    def expired(self, now: float) -> list[str]:
        """Peers whose window ended with unreported faults (for the caller to flush). A
        scan of every tracked peer, so at most one per second: a flood of faults from
        many keys does not pay it per fault (a flush is at most a second late)."""
        if now - self._last_scan < 1.0:
            return []
        self._last_scan = now
        return [
            p
            for p, t in self._peers.items()
            if t.unreported and now - t.window_start >= self.window_s
        ]

    def banned(self, peer: str, now: float) -> bool:
        """Was ``peer`` disconnected for a flood less than ``ban_s`` ago?"""
        tally = self._peers.get(peer)
        return tally is not None and now < tally.banned_until

    def _tally(self, peer: str, now: float) -> Tally:
        tally = self._peers.get(peer)
        if tally is None:
            tally = self._peers[peer] = Tally(now)
            while len(self._peers) > self.max_peers:
                self._peers.popitem(last=False)
        else:
            self._peers.move_to_end(peer)
            if now - tally.window_start >= self.window_s:
                tally.window_start, tally.faults = now, 0
        return tally
