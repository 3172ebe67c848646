"""Bring RTT's own events and telemetry snapshots into the event contract.

Theory of operation: the Rust transport reports lifecycle events and metrics as plain
dicts (``transport.drain_events()`` and a telemetry snapshot). These functions map them
onto registered v1.0 kinds and emit them on the bus, so that sinks and the metrics view
see transport facts the same way as every other layer's.

* ``forward_rtt_event``: a dict with ``kind`` (``"session_open"`` or ``"rtt.session_open"``),
  optional ``peer`` and ``msg_id``, everything else attributes (nested dicts flattened with
  dotted keys). A kind this version does not know becomes ``rtt.other`` with the original
  name in ``rtt_kind``, so a newer transport never breaks an older contract.
* ``emit_telemetry``: a snapshot, either flat for one peer or ``{"peers": {peer: {...}}}``,
  becomes one ``rtt.telemetry`` event per peer. The metrics view reads ``latency_p50_ms``,
  ``latency_p95_ms``, ``drop_rate`` and the cumulative ``verification_failures``; the
  aliases ``p50_ms``/``p95_ms`` are accepted and renamed. The snapshot's ``node`` part
  (node-wide counters: connections refused by the caps, hole-punch addresses refused)
  becomes one ``rtt.node_stats`` event, whether or not any peer is connected.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from web4.errors import ObservabilityError
from web4.observability.bus import EventBus
from web4.observability.events import KINDS, Event, flatten

__all__ = ["emit_telemetry", "forward_rtt_event", "forward_rtt_events"]

_ALIASES: Final = {"p50_ms": "latency_p50_ms", "p95_ms": "latency_p95_ms"}
# The transport's own event names -> the contract's kinds (docs/RTT_SPEC.md §9).
_RENAMES: Final = {
    "replay_rejected": "replay_dropped",  # a replayed frame dropped, session kept
    "dropped": "backpressure",  # messages dropped by a drop_oldest/drop_newest policy
}
_RESERVED: Final = frozenset({"kind", "peer", "msg_id", "level"})


def _level(raw: Mapping[str, Any]) -> Any:
    level = raw.get("level")
    return level if level in ("debug", "info", "warning", "error") else None


def forward_rtt_event(bus: EventBus, raw: Mapping[str, Any]) -> Event:
    """Emit one transport event dict. Raises ``ObservabilityError`` when it has no
    string ``kind`` or its attributes are not JSON scalars/lists."""
    name = raw.get("kind")
    if not isinstance(name, str) or not name:
        raise ObservabilityError("an RTT event needs a string 'kind'")
    short = name.removeprefix("rtt.")
    kind = f"rtt.{_RENAMES.get(short, short)}"
    attrs = flatten({k: v for k, v in raw.items() if k not in _RESERVED})
    peer = raw.get("peer")
    msg_id = raw.get("msg_id")
    if kind not in KINDS:
        attrs["rtt_kind"] = name
        kind = "rtt.other"
    spec = KINDS[kind]
    for required in spec.required:  # a transport that omits one still gets recorded
        attrs.setdefault(required, None)
    return bus.emit(
        kind,
        level=_level(raw),
        peer=peer if isinstance(peer, str) and peer else None,
        msg_id=msg_id if isinstance(msg_id, str) and msg_id else None,
        attributes=attrs,
    )


def forward_rtt_events(bus: EventBus, raws: Iterable[Mapping[str, Any]]) -> int:
    """Forward a batch (``transport.drain_events()``); a malformed one becomes an
    ``error`` event instead of stopping the batch. Returns how many were forwarded."""
    count = 0
    for raw in raws:
        try:
            forward_rtt_event(bus, raw)
            count += 1
        except ObservabilityError as exc:
            bus.emit("error", error="ObservabilityError", detail=str(exc)[:200], source="rtt")
    return count


def emit_telemetry(bus: EventBus, snapshot: Mapping[str, Any]) -> list[Event]:
    """Emit ``rtt.telemetry`` per peer (and ``rtt.node_stats`` for its ``node`` part)
    from a snapshot; returns the events.

    Raises ``ObservabilityError`` when a value is not a JSON scalar or list.
    """
    events: list[Event] = []
    node = snapshot.get("node")
    if isinstance(node, Mapping):
        attrs = flatten(dict(node))
        for required in KINDS["rtt.node_stats"].required:  # an older transport lacks one
            attrs.setdefault(required, None)
        events.append(bus.emit("rtt.node_stats", attributes=attrs))
    snapshot = {k: v for k, v in snapshot.items() if k != "node"}
    peers = snapshot.get("peers")
    if isinstance(peers, Mapping):
        common = {k: v for k, v in snapshot.items() if k != "peers"}
        items: list[tuple[str | None, Mapping[str, Any]]] = [
            (str(p), {**common, **v}) for p, v in peers.items() if isinstance(v, Mapping)
        ]
    else:
        peer = snapshot.get("peer")
        items = [(peer if isinstance(peer, str) else None, snapshot)]
    for peer, values in items:
        attrs = flatten({_ALIASES.get(k, k): v for k, v in values.items() if k != "peer"})
        events.append(bus.emit("rtt.telemetry", peer=peer or None, attributes=attrs))
    return events
