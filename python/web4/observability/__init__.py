"""Observability: the v1.0 event contract, the bus every layer writes to, and its sinks.

Theory of operation: a layer calls ``bus.emit(kind, peer=..., msg_id=..., **attributes)``;
the bus stamps time and node, checks the event against the contract and fans it out to
sinks without blocking (see ``bus``). ``Observability.open`` wires the usual set for a
node: a memory ring, optionally a rotating JSONL file, a console renderer and Prometheus
metrics on loopback. ``docs/EVENTS.md`` documents the kinds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO

from web4.clock import Clock
from web4.observability.adapters import emit_handshake_event, emit_trust_audit
from web4.observability.bus import DEFAULT_QUEUE_SIZE, EventBus, Sink, SinkStats
from web4.observability.events import (
    EVENT_VERSION,
    KINDS,
    LEVELS,
    Event,
    KindSpec,
    Level,
    decode_event,
    encode_event,
    event_json_schema,
    flatten,
    make_event,
    register_kind,
)
from web4.observability.metrics import MetricsServer, MetricsSink
from web4.observability.reader import EventFilter, read_events
from web4.observability.sinks import (
    ConsoleSink,
    JsonlFileSink,
    MemoryRing,
    NameBook,
    colour_wanted,
    format_event,
    format_traceback,
)
from web4.observability.telemetry import emit_telemetry, forward_rtt_event, forward_rtt_events

__all__ = [
    "DEFAULT_QUEUE_SIZE",
    "EVENT_VERSION",
    "KINDS",
    "LEVELS",
    "ConsoleSink",
    "Event",
    "EventBus",
    "EventFilter",
    "JsonlFileSink",
    "KindSpec",
    "Level",
    "MemoryRing",
    "MetricsServer",
    "MetricsSink",
    "NameBook",
    "Observability",
    "Sink",
    "SinkStats",
    "colour_wanted",
    "decode_event",
    "emit_handshake_event",
    "emit_telemetry",
    "emit_trust_audit",
    "encode_event",
    "event_json_schema",
    "flatten",
    "format_event",
    "format_traceback",
    "forward_rtt_event",
    "forward_rtt_events",
    "make_event",
    "read_events",
    "register_kind",
]


@dataclass
class Observability:
    """A node's bus with its standard sinks; ``close`` stops them all."""

    bus: EventBus
    ring: MemoryRing
    metrics: MetricsSink
    server: MetricsServer | None = None
    jsonl: JsonlFileSink | None = None
    console: ConsoleSink | None = None

    @classmethod
    def open(
        cls,
        node: str,
        *,
        clock: Clock | None = None,
        ring_size: int = 4096,
        events_file: str | os.PathLike[str] | None = None,
        max_bytes: int = 10 * 1024 * 1024,
        backups: int = 5,
        console: IO[str] | None = None,
        colour: bool = False,
        min_console_level: Level = "info",
        metrics_port: int | None = None,
        metrics_host: str = "127.0.0.1",
        queue_size: int = DEFAULT_QUEUE_SIZE,
        strict: bool = False,
    ) -> Observability:
        """Create the bus and attach sinks; ``metrics_port=None`` serves no HTTP. The bus
        is non-strict by default (contract violations become events, see ``EventBus``).

        Raises ``ObservabilityError`` when the event file cannot be opened or the metrics
        port cannot be bound (anything attached so far is closed again).
        """
        bus = EventBus(node, clock=clock, strict=strict)
        ring = MemoryRing(ring_size)
        metrics = MetricsSink(stats_provider=bus.stats)
        obs = cls(bus=bus, ring=ring, metrics=metrics)
        try:
            bus.add_sink(ring)
            bus.add_sink(metrics)
            if events_file is not None:
                obs.jsonl = JsonlFileSink(events_file, max_bytes=max_bytes, backups=backups)
                bus.add_sink(obs.jsonl, queue_size=queue_size)
            if console is not None:
                obs.console = ConsoleSink(console, colour=colour, min_level=min_console_level)
                bus.add_sink(obs.console, queue_size=queue_size)
            if metrics_port is not None:
                obs.server = MetricsServer(metrics.registry, host=metrics_host, port=metrics_port)
                obs.server.start()
        except BaseException:
            obs.close()
            raise
        return obs

    def close(self, timeout: float = 2.0) -> None:
        """Stop the metrics server and drain/close every sink within ``timeout``."""
        if self.server is not None:
            self.server.stop(timeout)
        self.bus.close(timeout)
