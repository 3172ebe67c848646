"""EventBus: the one side channel every layer writes to.

Theory of operation: ``emit`` builds a checked ``Event`` (stamped with the injected clock
and this node's name) and offers it to every sink. It never waits on a sink:

* an *inline* sink (the memory ring, the metrics sink: constant-time work under a lock)
  is called directly in ``emit``;
* every other sink (files, the console) gets its own worker thread fed by a bounded
  queue. When the queue is full the event is dropped *for that sink only* and counted.
  A sink with ``handle_batch`` gets whatever is queued (up to ``MAX_BATCH``, at most its
  queue size) in one call (the JSONL sink writes it with one system call); so at most
  twice the queue size is ever held for one sink.

A sink that raises is isolated: the failure is counted and reported as an
``observability.sink_error`` event to the other sinks; its worker keeps running.
``stats()`` exposes per-sink delivered/dropped/failed counts and queue depths; the metrics
sink publishes them as ``web4_events_dropped_total`` and friends.

``emit`` is thread-safe, so the RTT drain thread, asyncio tasks and plain scripts may all
write to one bus. ``close(timeout)`` drains the queues within a deadline and stops the
workers; anything still queued after the deadline is counted as dropped.
"""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

from web4.clock import Clock, SystemClock, rfc3339
from web4.errors import ObservabilityError
from web4.observability.events import Event, Level, make_event

__all__ = ["DEFAULT_QUEUE_SIZE", "EventBus", "Sink", "SinkStats"]

DEFAULT_QUEUE_SIZE: Final = 1024
MAX_BATCH: Final = 256
_STOP: Final = object()


@runtime_checkable
class Sink(Protocol):
    """Where events go. ``inline`` sinks must be fast and never block."""

    name: str
    inline: bool

    def handle(self, event: Event) -> None: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class SinkStats:
    """Counters of one sink, as seen by the bus."""

    name: str
    inline: bool
    delivered: int
    dropped: int
    failed: int
    queued: int
    capacity: int


class _Slot:
    """One sink with its counters and, unless inline, its queue and worker thread."""

    def __init__(self, sink: Sink, capacity: int, on_error: _ErrorReporter) -> None:
        self.sink = sink
        self.capacity = capacity
        self.delivered = 0
        self.dropped = 0
        self.failed = 0
        self._lock = threading.Lock()
        self._on_error = on_error
        batching = getattr(sink, "handle_batch", None) is not None
        self.max_batch = min(MAX_BATCH, capacity) if batching else 1
        self.queue: queue.Queue[object] | None = None
        self.thread: threading.Thread | None = None
        if not sink.inline:
            self.queue = queue.Queue(maxsize=capacity)
            self.thread = threading.Thread(
                target=self._work, name=f"web4-sink-{sink.name}", daemon=True
            )
            self.thread.start()

    def offer(self, event: Event) -> None:
        if self.queue is None:
            self._deliver(event)
            return
        try:
            self.queue.put_nowait(event)
        except queue.Full:
            with self._lock:
                self.dropped += 1

    def _deliver(self, event: Event) -> None:
        try:
            self.sink.handle(event)
        except Exception as exc:  # noqa: BLE001 - a sink's failure must not spread
            with self._lock:
                self.failed += 1
            self._on_error(self.sink.name, exc, event)
        else:
            with self._lock:
                self.delivered += 1

    def _deliver_batch(self, batch: list[Event]) -> None:
        handle_batch = getattr(self.sink, "handle_batch", None)
        if handle_batch is None or len(batch) == 1:
            for event in batch:
                self._deliver(event)
            return
        try:
            handle_batch(batch)
        except Exception as exc:  # noqa: BLE001 - a sink's failure must not spread
            with self._lock:
                self.failed += len(batch)
            self._on_error(self.sink.name, exc, batch[0])
        else:
            with self._lock:
                self.delivered += len(batch)

    def _work(self) -> None:
        q = self.queue
        assert q is not None
        while True:
            batch: list[Event] = []
            stop = False
            item = q.get()
            while True:  # take what is already queued, up to MAX_BATCH, in one go
                if item is _STOP:
                    stop = True
                    q.task_done()
                    break
                assert isinstance(item, Event)
                batch.append(item)
                if len(batch) >= self.max_batch:
                    break
                try:
                    item = q.get_nowait()
                except queue.Empty:
                    break
            try:
                if batch:
                    self._deliver_batch(batch)
            finally:
                for _ in batch:
                    q.task_done()
            if stop:
                return

    def stop(self, deadline: float) -> None:
        if self.queue is not None and self.thread is not None:
            remaining = max(0.0, deadline - time.monotonic())
            with contextlib.suppress(queue.Full):
                self.queue.put(_STOP, timeout=remaining)
            self.thread.join(timeout=max(0.0, deadline - time.monotonic()))
            if self.thread.is_alive():  # still stuck in a slow handle(): count what is left
                with self._lock:
                    self.dropped += self.queue.qsize()
        try:
            self.sink.close()
        except Exception as exc:  # noqa: BLE001 - closing one sink must not stop the others
            self._on_error(self.sink.name, exc, None)

    def stats(self) -> SinkStats:
        with self._lock:
            return SinkStats(
                name=self.sink.name,
                inline=self.queue is None,
                delivered=self.delivered,
                dropped=self.dropped,
                failed=self.failed,
                queued=0 if self.queue is None else self.queue.qsize(),
                capacity=self.capacity,
            )


class _ErrorReporter(Protocol):
    def __call__(self, sink: str, exc: BaseException, event: Event | None) -> None: ...


class EventBus:
    """Fan events out to sinks without ever blocking the caller.

    ``node`` names this node in every event (its agent id or fingerprint). A *strict* bus
    (the default, for tests) raises ``ObservabilityError`` when an emit breaks the
    contract; a non-strict bus (for a running node: observability must never take the
    runtime down) records ``observability.contract_violation`` instead and returns it.
    """

    def __init__(self, node: str, *, clock: Clock | None = None, strict: bool = True) -> None:
        if not node:
            raise ObservabilityError("an EventBus needs a non-empty node name")
        self.node = node
        self._clock: Clock = clock or SystemClock()
        self._slots: list[_Slot] = []
        self._lock = threading.Lock()
        self._closed = False
        self._emitted = 0
        self._local = threading.local()
        self.strict = strict
        self.violations = 0

    def add_sink(self, sink: Sink, *, queue_size: int = DEFAULT_QUEUE_SIZE) -> Sink:
        """Attach a sink. Raises ``ObservabilityError`` on a duplicate name, a queue size
        below 1, or a closed bus."""
        if queue_size < 1:
            raise ObservabilityError("a sink queue holds at least one event")
        with self._lock:
            if self._closed:
                raise ObservabilityError("the event bus is closed")
            if any(s.sink.name == sink.name for s in self._slots):
                raise ObservabilityError(f"a sink named {sink.name!r} is already attached")
            self._slots = [*self._slots, _Slot(sink, queue_size, self._report_sink_error)]
        return sink

    def emit(
        self,
        kind: str,
        *,
        level: Level | None = None,
        peer: str | None = None,
        msg_id: str | None = None,
        attributes: Mapping[str, object] | None = None,
        **attrs: object,
    ) -> Event:
        """Record one event and offer it to every sink; returns the event.

        Attributes come from ``attributes`` (for names that are not identifiers, like
        ``from``) and keyword arguments. On a strict bus, raises ``ObservabilityError`` when
        the event breaks the contract (see ``make_event``); never blocks on a sink.
        """
        merged = {**(attributes or {}), **attrs}
        time_ = rfc3339(self._clock.now())
        try:
            event = make_event(
                kind,
                time=time_,
                node=self.node,
                level=level,
                peer=peer,
                msg_id=msg_id,
                attributes=merged,
            )
        except ObservabilityError as exc:
            if self.strict:
                raise
            with self._lock:
                self.violations += 1
            event = make_event(
                "observability.contract_violation",
                time=time_,
                node=self.node,
                attributes={"rejected_kind": str(kind)[:200], "detail": str(exc)[:200]},
            )
        self.publish(event)
        return event

    def publish(self, event: Event) -> None:
        """Offer an already built event to every sink (used for replay and forwarding)."""
        with self._lock:
            if self._closed:
                return
            self._emitted += 1
            slots = self._slots
        for slot in slots:
            slot.offer(event)

    @property
    def emitted(self) -> int:
        """Events accepted by ``emit``/``publish`` since the bus was created."""
        with self._lock:
            return self._emitted

    def stats(self) -> list[SinkStats]:
        """A snapshot of every sink's counters."""
        with self._lock:
            slots = self._slots
        return [s.stats() for s in slots]

    def flush(self, timeout: float) -> bool:
        """Wait until every sink queue is empty; False if the deadline passed first."""
        deadline = time.monotonic() + timeout
        with self._lock:
            slots = self._slots
        for slot in slots:
            while slot.queue is not None and slot.queue.unfinished_tasks:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(0.002)
        return True

    def close(self, timeout: float = 2.0) -> None:
        """Drain and stop every sink within ``timeout`` seconds in total. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            slots = self._slots
        deadline = time.monotonic() + timeout
        for slot in slots:
            slot.stop(deadline)

    def _report_sink_error(self, sink: str, exc: BaseException, event: Event | None) -> None:
        # Report once to the other sinks, never recursively (a failing error report is
        # only counted).
        if getattr(self._local, "reporting", False) or (
            event is not None and event.kind == "observability.sink_error"
        ):
            return
        self._local.reporting = True
        try:
            self.emit(
                "observability.sink_error",
                sink=sink,
                error=type(exc).__name__,
                detail=str(exc)[:200],
                failed_kind=None if event is None else event.kind,
            )
        finally:
            self._local.reporting = False
