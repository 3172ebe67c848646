"""Prometheus metrics, fed by events, served over HTTP on loopback.

Theory of operation: metrics are a *view* of the event stream, not a second reporting
path. ``MetricsSink`` is an inline sink: each event updates counters and gauges in its own
``CollectorRegistry`` (one per node, so two nodes in one process do not collide). Gauges
such as RTT latency come from ``rtt.telemetry`` events; counters from routing, handshake,
trust and agent events. The bus's own per-sink drop counts are read at scrape time.

Label values that come from the network (protocol, type, reason) are capped: after
``MAX_LABEL_VALUES`` distinct values of one label, further ones become ``other``, so a
peer sending random types cannot grow memory without bound.

``web4_gossip_messages_total{outcome}`` counts gossip messages by outcome (CIP_SPEC §11).

``web4_knowledge_claims_total{state}`` counts claims, each once per state it reaches: a
pending claim reported again with one more confirmation is the same claim in the same
state (the last ``CLAIMS_REMEMBERED`` (claim, state) pairs are remembered for that).

``web4_connections_denied_total{reason}`` (connections refused by the transport's caps,
by cap) and ``web4_relay_punch_addrs_refused_total`` (hole-punch addresses not dialled)
follow the increases of the cumulative counts in ``rtt.node_stats`` (every 2 s); the five
``reason`` series exist from the start at 0, so an alert on their rate needs no data.

``MetricsServer`` serves ``/metrics`` (text exposition format) from the registry on
``127.0.0.1:<port>``, and only there: any other path is 404, so a scraper pointed at the
wrong path fails loudly instead of scraping metrics by accident. Port 0 picks a free port
(tests). It runs a threaded WSGI server (prometheus-client's app behind a path check)
that logs nothing and stops within a deadline.
"""

from __future__ import annotations

import contextlib
import socket
import socketserver
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, Counter, Gauge, make_wsgi_app
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from web4.errors import ObservabilityError
from web4.observability.bus import SinkStats
from web4.observability.events import Event

__all__ = [
    "CLAIMS_REMEMBERED",
    "CUMULATIVE_REMEMBERED",
    "DENIAL_REASONS",
    "MAX_LABEL_VALUES",
    "METRICS_PATH",
    "TRUST_STATES",
    "MetricsServer",
    "MetricsSink",
]

# Events counted in web4_relay_events_total (RTT_SPEC §17).
_RELAY_KINDS = frozenset(
    {
        "rtt.relay_reservation",
        "rtt.relay_circuit",
        "rtt.hole_punch",
        "rtt.connection_path",
        "node.relay",
    }
)

# The transport's connection caps (RTT_SPEC §16): rtt.node_stats connections_denied_<reason>.
DENIAL_REASONS: Final = ("pending_in", "pending_out", "established_in", "per_peer", "total")

MAX_LABEL_VALUES: Final = 64
# Last cumulative value per (peer, count), least recently reported forgotten first: keyed
# by the peer itself, not its label (past MAX_LABEL_VALUES peers share ``other``, and two
# peers' counts under one key read as a reset each time); bounded, keys being free.
CUMULATIVE_REMEMBERED: Final = 4096
CLAIMS_REMEMBERED: Final = 65536  # (claim, state) pairs kept to count each once
METRICS_PATH: Final = "/metrics"
TRUST_STATES: Final = ("untrusted", "probing", "trusted", "blacklisted")
PRESENCES: Final = ("focused", "engaged", "diffuse", "overloaded")
_SIGNATURE_REASONS: Final = frozenset(
    {"SignatureMismatchError", "FingerprintMismatchError", "RTTHandshakeError"}
)

GOSSIP_OUTCOMES = frozenset({"published", "publish_failed", "delivered", "invalid", "ignored"})


class _BusCollector:
    """Reads the bus's sink counters at scrape time."""

    def __init__(self, provider: Callable[[], Iterable[SinkStats]]) -> None:
        self._provider = provider

    def collect(self) -> Iterator[Metric]:
        dropped = CounterMetricFamily(
            "web4_events_dropped",
            "Events a sink dropped because its queue was full",
            labels=["sink"],
        )
        failed = CounterMetricFamily(
            "web4_events_sink_failures", "Events a sink failed to handle", labels=["sink"]
        )
        queued = GaugeMetricFamily(
            "web4_events_queued", "Events waiting in a sink queue", labels=["sink"]
        )
        for s in self._provider():
            dropped.add_metric([s.name], s.dropped)
            failed.add_metric([s.name], s.failed)
            queued.add_metric([s.name], s.queued)
        yield dropped
        yield failed
        yield queued


class MetricsSink:
    """Turn events into Prometheus metrics in a private registry."""

    inline = True

    def __init__(
        self,
        *,
        stats_provider: Callable[[], Iterable[SinkStats]] | None = None,
        name: str = "metrics",
    ) -> None:
        self.name = name
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self._label_values: dict[str, set[str]] = {}
        self._trust: dict[str, str] = {}
        self._last_cumulative: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._claims_seen: OrderedDict[tuple[str, str], None] = OrderedDict()
        r = self.registry
        self.events = Counter("web4_events", "Events emitted", ["kind", "level"], registry=r)
        self.latency_p50 = Gauge(
            "web4_rtt_latency_p50_seconds", "RTT round-trip latency, median", ["peer"], registry=r
        )
        self.latency_p95 = Gauge(
            "web4_rtt_latency_p95_seconds", "RTT round-trip latency, 95th pct", ["peer"], registry=r
        )
        self.drop_rate = Gauge(
            "web4_rtt_drop_rate", "Fraction of RTT frames dropped (0..1)", ["peer"], registry=r
        )
        self.reconnects = Counter(
            "web4_rtt_reconnects", "RTT reconnect attempts", ["peer"], registry=r
        )
        self.verification_failures = Counter(
            "web4_verification_failures",
            "Signature, fingerprint or authentication failures",
            ["source"],
            registry=r,
        )
        self.trust_peers = Gauge("web4_trust_peers", "Peers per trust state", ["state"], registry=r)
        for state in TRUST_STATES:
            self.trust_peers.labels(state=state).set(0)
        self.routed = Counter(
            "web4_router_routed",
            "Messages dispatched to a handler",
            ["protocol", "type"],
            registry=r,
        )
        self.rejected = Counter(
            "web4_router_rejected",
            "Messages refused before or at dispatch",
            ["protocol", "type", "reason"],
            registry=r,
        )
        self.handler_errors = Counter(
            "web4_router_handler_errors", "Handlers that raised", ["protocol", "type"], registry=r
        )
        self.lri = Gauge("web4_agent_lri", "This agent's load index (0..100)", registry=r)
        self.presence = Gauge(
            "web4_agent_presence", "1 for this agent's current presence", ["presence"], registry=r
        )
        self.decisions = Counter("web4_agent_decisions", "Cognitive cycles decided", registry=r)
        self.drift = Counter("web4_agent_mission_drift", "Mission drift alarms", registry=r)
        self.claims = Counter(
            "web4_knowledge_claims", "Claims reaching a state", ["state"], registry=r
        )
        # discovery (RTT_SPEC §16): what found peers, whom we dialled, whom we dropped
        self.discovered = Counter(
            "web4_discovery_found", "Peers (or new addresses) discovered", ["source"], registry=r
        )
        self.discovery_dials = Counter(
            "web4_discovery_dials", "Dials of discovered peers", ["source"], registry=r
        )
        self.discovery_pruned = Counter(
            "web4_discovery_pruned", "Sessions closed above the high watermark", registry=r
        )
        # gossip (CIP_SPEC §11): every message by outcome; duplicates and dropped from
        # the transport's cumulative counts in cip.gossip.stats
        self.gossip = Counter(
            "web4_gossip_messages", "Gossip messages by outcome", ["outcome"], registry=r
        )
        # reachability (RTT_SPEC §17): relay reservations and circuits, hole punches and
        # sessions changing path, by what happened
        self.relay = Counter(
            "web4_relay_events",
            "Relay and hole-punch events by kind and outcome",
            ["event", "outcome"],
            registry=r,
        )
        self.punch_addrs_refused = Counter(
            "web4_relay_punch_addrs_refused",
            "Hole-punch (DCUtR) addresses a relayed peer sent that were not dialled",
            registry=r,
        )
        # connection caps (RTT_SPEC §16): refusals by the cap that refused them
        self.connections_denied = Counter(
            "web4_connections_denied",
            "Connections refused by the connection caps",
            ["reason"],
            registry=r,
        )
        for reason in DENIAL_REASONS:
            self.connections_denied.labels(reason=reason)
        # isolation (web4.isolation): every per-peer task failure, reported one by one or not
        self.peer_task_failures = Counter(
            "web4_node_peer_task_failures",
            "Unexpected exceptions isolated to one peer's task",
            ["task"],
            registry=r,
        )
        if stats_provider is not None:
            r.register(_BusCollector(stats_provider))

    def _label(self, dimension: str, value: object) -> str:
        text = "" if value is None else str(value)[:64]
        seen = self._label_values.setdefault(dimension, set())
        if text in seen:
            return text
        if len(seen) >= MAX_LABEL_VALUES:
            return "other"
        seen.add(text)
        return text

    def _cumulative_delta(self, peer: str, key: str, value: object) -> float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            return 0.0
        last = self._last_cumulative.pop((peer, key), 0.0)
        self._last_cumulative[(peer, key)] = float(value)
        if len(self._last_cumulative) > CUMULATIVE_REMEMBERED:
            self._last_cumulative.popitem(last=False)
        return float(value) - last if value >= last else float(value)

    def handle(self, event: Event) -> None:
        with self._lock:
            self._handle(event)

    def _handle(self, event: Event) -> None:
        a = event.attributes
        kind = event.kind
        self.events.labels(kind=kind, level=event.level).inc()  # kinds: a closed set
        peer = self._label("peer", event.peer or "")
        if kind == "rtt.telemetry":
            for attr, gauge in (
                ("latency_p50_ms", self.latency_p50),
                ("latency_p95_ms", self.latency_p95),
            ):
                v = a.get(attr)
                if isinstance(v, int | float) and not isinstance(v, bool):
                    gauge.labels(peer=peer).set(v / 1000.0)
            rate = a.get("drop_rate")
            if isinstance(rate, int | float) and not isinstance(rate, bool):
                self.drop_rate.labels(peer=peer).set(rate)
            # the peer itself, not its (capped) label: see CUMULATIVE_REMEMBERED
            raw_peer = (event.peer or "")[:128]
            delta = self._cumulative_delta(raw_peer, "vf", a.get("verification_failures"))
            if delta > 0:
                self.verification_failures.labels(source="rtt").inc(delta)
        elif kind == "rtt.node_stats":
            self._node_stats(a)
        elif kind == "rtt.reconnect_attempt":
            self.reconnects.labels(peer=peer).inc()
        elif kind == "rtt.peer_discovered":
            self.discovered.labels(source=self._label("source", a.get("source"))).inc()
        elif kind == "node.peer_dial":
            self.discovery_dials.labels(source=self._label("source", a.get("source"))).inc()
        elif kind == "node.peer_pruned":
            self.discovery_pruned.inc()
        elif kind in _RELAY_KINDS:
            outcome = a.get("path") if kind == "rtt.connection_path" else a.get("outcome")
            self.relay.labels(
                event=kind.removeprefix("rtt.").removeprefix("node."),
                outcome=self._label("relay_outcome", outcome),
            ).inc()
        elif kind in ("node.peer_task_failed", "node.peer_task_failures"):
            count = a.get("count", 1) if kind == "node.peer_task_failures" else 1
            if isinstance(count, int) and not isinstance(count, bool) and count > 0:
                task = self._label("task", a.get("task"))
                self.peer_task_failures.labels(task=task).inc(count)
        elif kind in ("rtt.disconnected", "rtt.session_close") and event.peer:
            self._forget_peer(peer)
        elif kind.startswith("cip.gossip.") or kind == "knowledge.duplicate":
            self._gossip(kind, a)
        elif kind == "cip.handshake.failed":
            self.verification_failures.labels(source="cip_handshake").inc()
        elif kind in ("trust.transition", "trust.override"):
            state = a.get("to")
            if isinstance(state, str) and state in TRUST_STATES and event.peer:
                self._trust[event.peer] = state
                for s in TRUST_STATES:
                    self.trust_peers.labels(state=s).set(
                        sum(1 for v in self._trust.values() if v == s)
                    )
        elif kind.startswith("router."):
            self._router(kind, a)
        elif kind == "agent.state_update":
            lri, presence = a.get("lri"), a.get("presence")
            if isinstance(lri, int | float) and not isinstance(lri, bool):
                self.lri.set(lri)
            for p in PRESENCES:
                self.presence.labels(presence=p).set(1 if p == presence else 0)
        elif kind == "agent.decision":
            self.decisions.inc()
        elif kind == "agent.mission_drift":
            self.drift.inc()
        elif kind.startswith("knowledge.claim_"):
            state = kind.removeprefix("knowledge.claim_")
            claim = str(a.get("claim_id") or event.msg_id or "")
            if self._first_time(claim, state):
                self.claims.labels(state=state).inc()

    def _gossip(self, kind: str, a: Mapping[str, object]) -> None:
        outcome = kind.removeprefix("cip.gossip.")
        if kind == "knowledge.duplicate":
            self.gossip.labels(outcome="second_copy").inc()  # point to point and gossip
        elif outcome in GOSSIP_OUTCOMES or outcome == "invalid_summary":
            # invalid messages past the event limits come summed (CIP_SPEC §11)
            count = a.get("count", 1) if outcome == "invalid_summary" else 1
            if not isinstance(count, int) or isinstance(count, bool) or count < 1:
                return
            self.gossip.labels(outcome=outcome.removesuffix("_summary")).inc(count)
            if outcome.startswith("invalid") and a.get("reason") in _SIGNATURE_REASONS:
                self.verification_failures.labels(source="gossip").inc(count)
        elif outcome == "stats":
            for attr, label in (("duplicates", "duplicate"), ("dropped", "dropped")):
                delta = self._cumulative_delta("", f"gossip_{attr}", a.get(attr))
                if delta > 0:
                    self.gossip.labels(outcome=label).inc(delta)

    def _node_stats(self, a: Mapping[str, object]) -> None:
        """Counters from the transport's cumulative counts (their increases)."""
        for reason in DENIAL_REASONS:
            key = f"connections_denied_{reason}"
            delta = self._cumulative_delta("", key, a.get(key))
            if delta > 0:
                self.connections_denied.labels(reason=reason).inc(delta)
        delta = self._cumulative_delta("", "punch_addrs_refused", a.get("punch_addrs_refused"))
        if delta > 0:
            self.punch_addrs_refused.inc(delta)

    def _first_time(self, claim: str, state: str) -> bool:
        """Has ``claim`` not been counted in ``state`` yet? (A claim without an id counts
        every time: nothing to tell two apart.)"""
        if not claim:
            return True
        key = (claim, state)
        if key in self._claims_seen:
            return False
        self._claims_seen[key] = None
        if len(self._claims_seen) > CLAIMS_REMEMBERED:
            self._claims_seen.popitem(last=False)
        return True

    def _forget_peer(self, peer: str) -> None:
        """A disconnected peer has no current latency or drop rate: its gauges go
        (they come back with its next ``rtt.telemetry``)."""
        for gauge in (self.latency_p50, self.latency_p95, self.drop_rate):
            with contextlib.suppress(KeyError):
                gauge.remove(peer)

    def _router(self, kind: str, a: Mapping[str, object]) -> None:
        proto = self._label("protocol", a.get("protocol"))
        mtype = self._label("type", a.get("type"))
        if kind == "router.routed":
            self.routed.labels(protocol=proto, type=mtype).inc()
        elif kind == "router.handler_error":
            self.handler_errors.labels(protocol=proto, type=mtype).inc()
        elif kind in ("router.rejected", "router.unknown_type", "router.throttled"):
            reason = a.get("reason") if kind == "router.rejected" else kind.removeprefix("router.")
            self.rejected.labels(
                protocol=proto, type=mtype, reason=self._label("reason", reason)
            ).inc()
            if reason in _SIGNATURE_REASONS:
                self.verification_failures.labels(source="envelope").inc()

    def close(self) -> None:
        return None


class _QuietHandler(WSGIRequestHandler):
    """No access log on stderr (it would interleave with the node's console)."""

    def log_message(self, format: str, *args: Any) -> None:
        return None


class _ThreadingServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


def metrics_app(registry: CollectorRegistry) -> Callable[..., Iterable[bytes]]:
    """The WSGI app: the registry's exposition on ``/metrics``, 404 on any other path."""
    inner = make_wsgi_app(registry)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != METRICS_PATH:
            body = b"not found: metrics are served on /metrics\n"
            start_response(
                "404 Not Found",
                [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))],
            )
            return [body]
        result: Iterable[bytes] = inner(environ, start_response)
        return result

    return app


class MetricsServer:
    """Serve a registry at ``http://<host>:<port>/metrics`` (and nothing else) in a
    background thread."""

    def __init__(
        self, registry: CollectorRegistry, *, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        if not 0 <= port <= 65535:
            raise ObservabilityError(f"metrics port {port} is out of range")
        self._registry = registry
        self.host = host
        self._requested_port = port
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port = port

    def start(self) -> int:
        """Bind and serve; returns the bound port. Raises ``ObservabilityError`` if the
        address cannot be bound or the server is already running."""
        if self._server is not None:
            raise ObservabilityError("the metrics server is already running")

        class Server(_ThreadingServer):
            address_family = socket.AF_INET6 if ":" in self.host else socket.AF_INET

        try:
            server = make_server(
                self.host,
                self._requested_port,
                metrics_app(self._registry),
                Server,
                handler_class=_QuietHandler,
            )
        except OSError as exc:
            raise ObservabilityError(
                f"cannot serve metrics on {self.host}:{self._requested_port}: {exc}"
            ) from exc
        thread = threading.Thread(target=server.serve_forever, name="metrics", daemon=True)
        thread.start()
        self._server, self._thread = server, thread
        self.port = int(server.server_port)
        return self.port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/metrics"

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving and release the port, waiting at most ``timeout`` seconds."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None or thread is None:
            return
        server.shutdown()
        server.server_close()
        thread.join(timeout=timeout)
