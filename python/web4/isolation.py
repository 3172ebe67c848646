"""Isolation of per-peer work: a bug met while serving one peer ends that peer's session
(or drops that one message), never the node.

Theory of operation: the node runs one task per peer session
(``web4.cip.service.serve``, task ``serve``; starting it: ``start``) and does other work
one peer at a time: a gossip message (``gossip``), a discovered peer's dial
(``discovery``), a ``--peer`` dialler (``dial``), an agent loop item (``agent``), a LIP
fetch job (``lip``), a human's agenda (``hcp``). Bad input we recognise is a typed
``RemoteError`` and is handled where it is met (dropped, audited, metered:
``web4.cip.faults``). Anything else that escapes such a unit of work (a ``TypeError``
from our own bug, an exception out of a check, the agent or a library) is *unexpected*:
the unit ends (the session is closed with the reason ``internal error: <class>``, a
gossip message gets the verdict ``ignore``, an item or a job is dropped, a dialler
starts again 5 s later) and ``PeerTaskFailures.isolate`` reports it; the node keeps
serving everyone else.

What must stop the node still does (``is_fatal``): anything that is not an ``Exception``
(``KeyboardInterrupt``, ``SystemExit``, ``asyncio.CancelledError``), ``StoreError`` (the
store failed an fsync and the node acknowledges nothing more, ``web4.node.durable_link``)
and ``MemoryError``; an exception group holding any of them. One ``StoreError`` is not a
failing disk: a broken constraint (``StoreConstraintError``, e.g. a UNIQUE key a peer's
chosen id collided with) is our bug met on that input; once ``Store.transaction()`` has
rolled back the transaction it happened in (``rolled_back``), nothing of it was written,
so it is isolated like any other bug. Raised outside a transaction, or when the rollback
itself failed, it still stops the node (what was written cannot be known).

Whose fault: an unexpected exception is never held against the peer. It is not a typed
verdict on the peer's input (a ``RemoteError`` is), so it records no trust event, counts
nothing towards the ``FaultMeter`` and blacklists nobody: a local bug must not cost an
honest peer its standing. It is still bounded, because a peer that found a bug can
trigger it again: ``refuse_at`` failed sessions of one peer within ``window_s`` refuse its
new sessions for ``refuse_s`` seconds (a cool-down, not a trust state: it expires, and
an honest peer loses nothing, since its sessions were failing anyway). Only session
failures (``serve``, ``start``) count towards it: a gossip message or a LIP page may come
from anyone through an honest forwarder.

Bounded reporting: each failure is counted, but only the first ``log_each`` per peer and
window, and ``log_max`` per window for all peers together (a thousand fresh keys), get
their own ``node.peer_task_failed`` event (level error, with the traceback). The rest are
summed per task and reported by ``flush`` once the window ends, as one
``node.peer_task_failures`` event per task with a ``count``; the metric
``web4_node_peer_task_failures_total{task}`` adds both, so it counts every failure.

Pure apart from ``emit``: the time is an argument (``now``); memory is bounded
(``max_peers`` peers are tracked, the least recently seen is forgotten first).
"""

from __future__ import annotations

import asyncio
import traceback
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from web4.errors import StoreConstraintError, StoreError

__all__ = [
    "FATAL",
    "INTERNAL_ERROR",
    "Isolate",
    "PeerTaskFailures",
    "is_fatal",
    "stop_reason",
]

FATAL: tuple[type[BaseException], ...] = (StoreError, MemoryError)
INTERNAL_ERROR = "internal error"  # the reason a session ended by isolation closes with
TRACEBACK_MAX = 8000  # characters of traceback in one event (the innermost frames kept)
SESSION_TASKS = frozenset({"serve", "start"})  # failures that count towards a cool-down

# isolate(peer, task, exc) -> True when ``exc`` was isolated and reported; False when it
# must propagate (``is_fatal``).
Isolate = Callable[[str | None, str, BaseException], bool]


def is_fatal(exc: BaseException) -> bool:
    """Must ``exc`` stop the node (see the module docstring)?"""
    if isinstance(exc, BaseExceptionGroup):
        return any(is_fatal(e) for e in exc.exceptions)
    if isinstance(exc, StoreConstraintError) and exc.rolled_back:
        return False  # a bug met on one peer's input, its transaction undone
    return not isinstance(exc, Exception) or isinstance(exc, FATAL)


def stop_reason(exc: BaseException | None) -> dict[str, Any]:
    """What ``node.stopped`` says about an exception that stopped the node: level
    ``error``, the class (an exception group: its members' classes), a short ``detail``
    and the ``traceback``; nothing for a normal stop (None, or a cancellation)."""
    if exc is None or isinstance(exc, asyncio.CancelledError):
        return {}
    leaves = _leaves(exc)
    return {
        "level": "error",
        "error": ",".join(sorted({type(e).__name__ for e in leaves}))[:200],
        "detail": "; ".join(str(e)[:200] for e in leaves[:4])[:400],
        "traceback": _traceback(exc),
    }


def _leaves(exc: BaseException) -> list[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        return [leaf for e in exc.exceptions for leaf in _leaves(e)]
    return [exc]


def where(exc: BaseException) -> str:
    """``file.py:line in function`` of the innermost frame of ``exc``'s traceback."""
    tb = traceback.extract_tb(exc.__traceback__)
    if not tb:
        return "?"
    f = tb[-1]
    return f"{f.filename.rsplit('/', 1)[-1]}:{f.lineno} in {f.name}"


@dataclass
class _Tally:
    window_start: float
    failures: int = 0  # this window, every task
    sessions: int = 0  # this window, session tasks (towards the cool-down)
    refused_until: float = 0.0


class PeerTaskFailures:
    """See the module docstring. ``emit`` is the event bus's ``emit``. Raises
    ``ValueError`` on nonsense limits."""

    def __init__(
        self,
        emit: Callable[..., Any],
        now: Callable[[], float],
        *,
        window_s: float = 60.0,
        log_each: int = 3,
        log_max: int = 20,
        refuse_at: int = 3,
        refuse_s: float = 60.0,
        max_peers: int = 4096,
    ) -> None:
        if not (window_s > 0 and refuse_s >= 0 and log_each >= 1 and log_max >= 1):
            raise ValueError("PeerTaskFailures: need window_s > 0, refuse_s >= 0, log_* >= 1")
        if refuse_at < 1 or max_peers < 1:
            raise ValueError("PeerTaskFailures: need refuse_at >= 1 and max_peers >= 1")
        self._emit, self._now = emit, now
        self.window_s, self.log_each, self.log_max = window_s, log_each, log_max
        self.refuse_at, self.refuse_s, self.max_peers = refuse_at, refuse_s, max_peers
        self._peers: OrderedDict[str, _Tally] = OrderedDict()
        self._window_start = now()
        self._logged = 0  # full events in the current global window
        self._suppressed: dict[str, int] = {}  # task -> failures not reported one by one
        self.total = 0  # every failure isolated (tests)
        self.refusals = 0  # sessions refused during a cool-down

    def isolate(self, peer: str | None, task: str, exc: BaseException) -> bool:
        """Report ``exc``, met by ``task`` serving ``peer``; True when the caller may go on
        (end that peer's unit of work), False when ``exc`` must propagate (fatal)."""
        if is_fatal(exc):
            return False
        now = self._now()
        self.total += 1
        self._roll(now)
        tally = self._tally(peer, now) if peer is not None else None
        if tally is not None:
            tally.failures += 1
            if task in SESSION_TASKS:
                tally.sessions += 1
                if tally.sessions >= self.refuse_at:
                    tally.refused_until = now + self.refuse_s
        if self._logged < self.log_max and (tally is None or tally.failures <= self.log_each):
            self._logged += 1
            refused = tally is not None and tally.refused_until > now
            self._emit(
                "node.peer_task_failed",
                peer=peer,
                task=task,
                error=type(exc).__name__,
                message=str(exc)[:200],
                where=where(exc),
                traceback=_traceback(exc),
                refused_for_s=self.refuse_s if refused else 0.0,
            )
        else:
            self._suppressed[task] = self._suppressed.get(task, 0) + 1
        return True

    def refused(self, peer: str) -> bool:
        """Is ``peer`` in a cool-down (its sessions failed ``refuse_at`` times in a
        window)? Counted in ``refusals``; no event (a peer reconnecting in a loop must not
        write a line per attempt: the failure that began the cool-down said so)."""
        tally = self._peers.get(peer)
        if tally is None or self._now() >= tally.refused_until:
            return False
        self.refusals += 1
        return True

    def flush(self) -> None:
        """Once the window has ended: one ``node.peer_task_failures`` per task for the
        failures that got no event of their own (the node calls this every few
        seconds and when it stops)."""
        self._roll(self._now())

    def close(self) -> None:
        """Report what is left now, whether or not the window has ended."""
        self._roll(self._now(), force=True)

    def _roll(self, now: float, *, force: bool = False) -> None:
        if not force and now - self._window_start < self.window_s:
            return
        for task, count in sorted(self._suppressed.items()):
            self._emit(
                "node.peer_task_failures",
                task=task,
                count=count,
                window_s=self.window_s,
                detail="failures past the per-peer or per-window event limit",
            )
        self._suppressed.clear()
        self._window_start, self._logged = now, 0

    def _tally(self, peer: str, now: float) -> _Tally:
        tally = self._peers.get(peer)
        if tally is None:
            tally = self._peers[peer] = _Tally(now)
            while len(self._peers) > self.max_peers:
                self._peers.popitem(last=False)
        else:
            self._peers.move_to_end(peer)
            if now - tally.window_start >= self.window_s:
                tally.window_start, tally.failures, tally.sessions = now, 0, 0
        return tally


def _traceback(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(exc))
    return text if len(text) <= TRACEBACK_MAX else "…" + text[-TRACEBACK_MAX:]
