"""The node's fetch jobs: a fair queue, so one requester cannot hold the fetch workers.

Theory of operation: every job belongs to a requester: a peer (its fingerprint) asking us
to fetch for it, or ``None`` for the node's own fetches. ``FairQueue`` keeps one FIFO per
requester and hands jobs out round-robin between requesters that have one waiting, so a
peer that queued many jobs gets one turn per round like everybody else. Limits:

- a peer may have at most ``peer_limit`` jobs outstanding (waiting or running), and at most
  one running at a time: a peer with slow URIs holds one worker, never all of them;
- all peers together may have at most ``peer_total`` jobs waiting;
- the node's own jobs are bounded only by ``own_limit`` waiting (the peer limits do not
  apply to them) and at most ``own_running`` run at once (the runtime leaves one worker
  for peers: an own job may wait seconds for peers to connect before it fetches).

``put`` raises ``WorkRefused`` with a reason (``peer_limit``, ``busy``) and queues nothing;
``take`` returns the next job or None; ``done`` ends a job taken. Pure: no IO, no clock.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Generic, TypeVar

from web4.errors import LIPQueueError

__all__ = ["FairQueue", "Taken", "WorkRefused"]

T = TypeVar("T")


class WorkRefused(LIPQueueError):  # noqa: N818 - named for what it is: a refusal
    """A fetch job not queued (nothing was); ``reason`` is ``peer_limit`` or ``busy``."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Taken(Generic[T]):
    requester: str | None
    job: T


class FairQueue(Generic[T]):
    """Round-robin between requesters, with per-peer limits (see the module docstring)."""

    def __init__(
        self, *, own_limit: int, peer_limit: int, peer_total: int, own_running: int = 1 << 30
    ) -> None:
        self.own_limit, self.peer_limit, self.peer_total = own_limit, peer_limit, peer_total
        self.own_running = own_running
        self._waiting: dict[str | None, deque[T]] = {}
        self._turns: deque[str | None] = deque()  # requesters with waiting jobs, in turn
        self._running: dict[str | None, int] = {}

    def outstanding(self, requester: str | None) -> int:
        """Jobs of ``requester`` waiting or running."""
        return len(self._waiting.get(requester, ())) + self._running.get(requester, 0)

    def waiting(self) -> int:
        return sum(len(q) for q in self._waiting.values())

    def put(self, requester: str | None, job: T) -> None:
        """Queue ``job`` for ``requester``. Raises ``WorkRefused``."""
        if requester is None:
            if len(self._waiting.get(None, ())) >= self.own_limit:
                raise WorkRefused("busy", f"our own fetch queue is full ({self.own_limit})")
        else:
            if self.outstanding(requester) >= self.peer_limit:
                raise WorkRefused(
                    "peer_limit",
                    f"peer has {self.outstanding(requester)} fetches outstanding "
                    f"(limit {self.peer_limit})",
                )
            peers = self.waiting() - len(self._waiting.get(None, ()))
            if peers >= self.peer_total:
                raise WorkRefused("busy", f"{peers} peer fetches waiting (limit {self.peer_total})")
        queue = self._waiting.setdefault(requester, deque())
        if not queue:
            self._turns.append(requester)
        queue.append(job)

    def take(self) -> Taken[T] | None:
        """The next job, round-robin; None when no requester may run one now."""
        for _ in range(len(self._turns)):
            requester = self._turns.popleft()
            cap = 1 if requester is not None else self.own_running
            if self._running.get(requester, 0) >= cap:
                self._turns.append(requester)  # its running job(s) first
                continue
            queue = self._waiting[requester]
            job = queue.popleft()
            if queue:
                self._turns.append(requester)
            else:
                del self._waiting[requester]
            self._running[requester] = self._running.get(requester, 0) + 1
            return Taken(requester, job)
        return None

    def done(self, requester: str | None) -> None:
        """A job of ``requester`` returned by ``take`` has ended."""
        left = self._running.get(requester, 0) - 1
        if left > 0:
            self._running[requester] = left
        else:
            self._running.pop(requester, None)
