"""The event contract, version 1.0: one frozen record type for every layer.

Theory of operation: an ``Event`` is declared once, here, as a msgspec Struct. Encoding,
decoding (with validation) and the published JSON Schema (``docs/schemas/events.schema.json``)
all come from that one declaration, so they cannot disagree; a test regenerates the schema
and fails when the file is stale.

Kinds follow one naming scheme, ``<namespace>.<subject>[.<verb>...]`` in lowercase
snake_case, where the namespace is a layer (``rtt``, ``cip``, ``trust`` ...), or the single
word ``error``. The set of kinds is closed: every kind is registered in ``KINDS`` with its
default level, the attributes it must carry and a one-line description (``docs/EVENTS.md``
is written from this table). A subsystem that needs a new kind calls ``register_kind`` at
import time; an unregistered kind is local misuse and raises ``ObservabilityError``.

Attributes are a flat mapping of JSON scalars or lists of scalars; nested objects are
flattened by the emitter (see ``flatten``), never carried as-is.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Final, Literal

import msgspec

from web4.errors import ObservabilityError

__all__ = [
    "EVENT_VERSION",
    "KINDS",
    "KIND_PATTERN",
    "LEVELS",
    "NAMESPACES",
    "AttrValue",
    "Event",
    "KindSpec",
    "Level",
    "decode_event",
    "encode_event",
    "event_json_schema",
    "event_schema_text",
    "flatten",
    "kinds_markdown",
    "level_at_least",
    "make_event",
    "register_kind",
]

EVENT_VERSION: Final = "1.0"
Level = Literal["debug", "info", "warning", "error"]
LEVELS: Final[tuple[Level, ...]] = ("debug", "info", "warning", "error")
NAMESPACES: Final = (
    "rtt",
    "cip",
    "hcp",
    "lip",
    "trust",
    "router",
    "agent",
    "knowledge",
    "node",
    "observability",
)
KIND_PATTERN: Final = r"^(error|(" + "|".join(NAMESPACES) + r")(\.[a-z][a-z0-9_]*)+)$"
TIME_PATTERN: Final = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$"
MAX_ATTRIBUTES: Final = 64
MAX_TEXT: Final = 256

Scalar = str | int | float | bool | None
AttrValue = Scalar | list[Scalar]


class Event(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One observable fact. Every field is present in every encoded event."""

    version: Literal["1.0"]
    time: Annotated[str, msgspec.Meta(pattern=TIME_PATTERN, description="RFC 3339, UTC")]
    node: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT)]
    kind: Annotated[str, msgspec.Meta(pattern=KIND_PATTERN, max_length=MAX_TEXT)]
    level: Level
    peer: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT)] | None
    msg_id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TEXT)] | None
    attributes: Annotated[dict[str, AttrValue], msgspec.Meta(max_length=MAX_ATTRIBUTES)]


@dataclass(frozen=True)
class KindSpec:
    """A registered kind: its default level, required attributes and meaning."""

    kind: str
    level: Level
    required: tuple[str, ...]
    description: str


KINDS: dict[str, KindSpec] = {}
_KIND_RE = re.compile(KIND_PATTERN)


def register_kind(
    kind: str, level: Level, required: tuple[str, ...] = (), description: str = ""
) -> KindSpec:
    """Add ``kind`` to the closed set (idempotent for an identical spec).

    Raises ``ObservabilityError`` when the name breaks the naming scheme, the level is
    unknown, or the kind is already registered with a different spec.
    """
    if not _KIND_RE.match(kind):
        raise ObservabilityError(f"event kind {kind!r} does not match {KIND_PATTERN}")
    if level not in LEVELS:
        raise ObservabilityError(f"unknown level {level!r}")
    spec = KindSpec(kind, level, tuple(required), description)
    existing = KINDS.get(kind)
    if existing is not None and existing != spec:
        raise ObservabilityError(f"event kind {kind!r} is already registered differently")
    KINDS[kind] = spec
    return spec


_BUILTIN: tuple[tuple[str, Level, tuple[str, ...], str], ...] = (
    # CIP handshake steps
    ("cip.handshake.hello_sent", "info", (), "we sent our HELLO with nonce and challenge"),
    ("cip.handshake.hello_received", "info", (), "a peer's HELLO arrived"),
    ("cip.handshake.verified", "info", (), "the peer answered our challenge; identity proven"),
    ("cip.handshake.failed", "warning", ("reason",), "handshake failed; reason = error class"),
    ("cip.handshake.state_received", "info", ("presence", "lri"), "the first STATE_UPDATE"),
    ("cip.handshake.done", "info", ("outcome",), "handshake over: intent accepted/deferred"),
    (
        "cip.handshake.dropped",
        "warning",
        ("error",),
        "a message refused mid-handshake (or a repeat after the end past max_retries)",
    ),
    (
        "cip.handshake.retransmitted",
        "debug",
        ("step", "attempt"),
        "a step timer resent, or a repeated step answered again (after the end: the decision)",
    ),
    ("cip.intent.received", "info", ("goal",), "a peer declared an INTENT"),
    ("cip.intent.deferred", "info", ("reason",), "we deferred a peer's INTENT"),
    # trust
    ("trust.transition", "info", ("from", "to", "cause"), "a peer's trust state changed"),
    ("trust.unchanged", "debug", ("state", "cause"), "a trust event changed nothing"),
    ("trust.override", "warning", ("from", "to"), "a human overrode a trust state"),
    # routing
    ("router.routed", "debug", ("protocol", "type"), "a message reached its handler"),
    ("router.rejected", "warning", ("protocol", "type", "reason"), "validation refused it"),
    ("router.unknown_type", "warning", ("protocol", "type"), "no route for (protocol, type)"),
    ("router.handler_error", "error", ("protocol", "type", "error"), "a handler raised"),
    ("router.throttled", "warning", ("dropped",), "a flooding peer's message was dropped"),
    # knowledge exchange
    ("knowledge.claim_pending", "info", ("claim_id",), "a claim waits for confirmations"),
    ("knowledge.claim_accepted", "info", ("claim_id",), "a claim was accepted"),
    ("knowledge.claim_disputed", "warning", ("claim_id",), "a trusted peer conflicts"),
    ("knowledge.claim_rejected", "warning", ("claim_id", "reason"), "a claim was rejected"),
    ("knowledge.claim_deferred", "info", ("claim_id", "reason"), "acceptance postponed"),
    ("knowledge.confirmation", "info", ("claim_id", "decision"), "a peer confirmed/rejected"),
    (
        "knowledge.proposal_skipped",
        "info",
        ("claim_id", "reason"),
        "a fact this node proposed before (same content): not proposed again",
    ),
    (
        "knowledge.duplicate",
        "debug",
        ("type",),
        "the second copy of a broadcast (point to point and by gossip): dropped, no fault",
    ),
    # gossip (CIP_SPEC §11)
    ("cip.gossip.subscribed", "info", ("topic",), "we follow a gossip topic"),
    ("cip.gossip.published", "info", ("topic", "type"), "a broadcast went out on its gossip topic"),
    (
        "cip.gossip.publish_failed",
        "warning",
        ("topic", "reason"),
        "a broadcast reached no gossip peer (none subscribed yet, queues full)",
    ),
    (
        "cip.gossip.delivered",
        "debug",
        ("topic", "type"),
        "a gossip message was valid: applied, forwarded",
    ),
    (
        "cip.gossip.invalid",
        "warning",
        ("topic", "reason"),
        "a gossip message refused for its content; its forwarder (peer) is scored down; "
        "rate-limited per forwarder and window",
    ),
    (
        "cip.gossip.invalid_summary",
        "warning",
        ("reason", "count"),
        "invalid gossip messages past the event limits, summed per reason when the window ends",
    ),
    (
        "cip.gossip.ignored",
        "debug",
        ("topic", "reason"),
        "a gossip message dropped without penalty (our trust, a quota, throttling)",
    ),
    (
        "cip.gossip.stats",
        "debug",
        ("delivered", "invalid", "duplicates"),
        "gossip counters every 2 s, peers scored below zero (negative), our mesh peers",
    ),
    # RTT lifecycle and telemetry
    ("rtt.session_open", "info", (), "an RTT session to a peer is established"),
    (
        "rtt.mdns_unavailable",
        "warning",
        ("error",),
        "mDNS could not start (no UDP port 5353 or interface watcher): the node runs without it",
    ),
    (
        "rtt.peer_discovered",
        "info",
        ("source", "addrs"),
        "mDNS or the DHT named a peer or a new address of it (rate-limited)",
    ),
    ("rtt.session_resumed", "info", (), "a session resumed after a reconnect"),
    (
        "rtt.connection_path",
        "info",
        ("path",),
        "a session is now carried by a direct or a relayed connection (RTT_SPEC §17)",
    ),
    (
        "rtt.relay_reservation",
        "info",
        ("role", "outcome"),
        "a relay reservation: as server accepted/denied (denials rate-limited), as "
        "client accepted, or lost (then tried again after retry_ms)",
    ),
    (
        "rtt.relay_circuit",
        "info",
        ("role", "outcome", "dst"),
        "as a relay server: a circuit from peer to dst accepted, denied (rate-limited) "
        "or closed (ended, or past its duration or byte limit)",
    ),
    (
        "rtt.hole_punch",
        "info",
        ("outcome",),
        "DCUtR: a relayed connection was upgraded to a direct one, or the attempt failed",
    ),
    ("rtt.heartbeat_timeout", "warning", (), "the peer missed heartbeats"),
    (
        "rtt.disconnected",
        "warning",
        ("cause",),
        "a session lost its connection; it may resume until expires_in_ms",
    ),
    (
        "rtt.peer_unreachable",
        "warning",
        ("addr", "error_kind"),
        "a --peer does not answer; retried with backoff (once per change)",
    ),
    ("rtt.reconnect_attempt", "debug", ("attempt",), "one re-dial of a peer, with backoff"),
    ("rtt.session_close", "info", (), "a session closed"),
    ("rtt.replay_dropped", "warning", (), "a replayed frame was dropped; session kept"),
    ("rtt.backpressure", "warning", ("channel",), "a bounded send queue was full"),
    ("rtt.telemetry", "debug", (), "periodic transport metrics (latency, drops, ...)"),
    (
        "rtt.node_stats",
        "debug",
        ("connections_denied", "punch_addrs_refused"),
        "node-wide transport counters every 2 s: connections refused by the connection "
        "caps (in all and by cap), hole-punch addresses refused",
    ),
    ("rtt.other", "info", ("rtt_kind",), "a transport event this contract does not name"),
    # agent loop
    ("agent.state_update", "info", ("presence", "lri"), "our presence/LRI changed and was sent"),
    ("agent.peer_state", "debug", ("presence", "lri"), "a peer's STATE_UPDATE was applied"),
    ("agent.decision", "info", ("decision_id", "choice"), "a cognitive cycle decided"),
    ("agent.intent", "info", ("intent",), "our current intent changed"),
    ("agent.mission_drift", "warning", ("average", "threshold"), "actions drift off mission"),
    ("agent.mission_realigned", "info", ("average",), "actions are back on mission"),
    ("agent.hook_error", "error", ("hook", "error"), "an agent hook raised or timed out"),
    ("agent.dropped", "warning", ("reason",), "an inbound item was dropped (queue full)"),
    ("agent.started", "info", (), "the agent loop started"),
    ("agent.stopped", "info", (), "the agent loop stopped"),
    # HCP and LIP
    ("hcp.session_open", "info", (), "a human opened an HCP session"),
    ("hcp.intent", "info", ("goal",), "a human declared an intent"),
    ("hcp.consent_changed", "warning", ("consent",), "the human's consent changed"),
    ("hcp.deferred", "info", ("reason",), "an action was deferred by the human's state"),
    ("hcp.check_in", "info", ("reason",), "an explicit check-in was requested"),
    ("hcp.social", "info", ("from", "to", "event"), "a human's social trust state changed"),
    ("hcp.sent", "info", ("type", "action"), "the agent sent a message to a human"),
    ("hcp.refused", "warning", ("reason",), "consent refused an agent action"),
    (
        "hcp.unauthorized",
        "warning",
        ("reason",),
        "a key not in authorized_humans sent HCP; refused",
    ),
    ("lip.fetch", "info", ("uri",), "a web source was fetched"),
    ("lip.fetch_failed", "warning", ("uri", "reason"), "a fetch was refused or failed"),
    ("lip.evidence", "info", ("uri",), "evidence was extracted from a source"),
    ("lip.conflict", "warning", ("severity",), "evidence conflicts with local knowledge"),
    ("lip.accepted", "info", (), "evidence was accepted"),
    ("lip.rejected", "warning", ("reason",), "evidence was rejected"),
    ("lip.claim", "info", ("claim", "to"), "a claim entered the acceptance queue"),
    ("lip.asked", "info", ("uri", "peers"), "peers were asked to corroborate a fetch"),
    # node and observability itself
    ("node.started", "info", (), "the node is up"),
    (
        "node.stopped",
        "info",
        (),
        "the node shut down; stopped by an error: level error, with error, detail, traceback",
    ),
    # discovery (RTT_SPEC §16): names peers, never trusts them
    (
        "node.peer_dial",
        "info",
        ("source", "addr"),
        "dialling a discovered peer (below the low watermark): source = mdns or dht",
    ),
    ("node.peer_dial_failed", "debug", ("source", "addr"), "a discovered peer's address failed"),
    (
        "node.relay",
        "info",
        ("relay", "outcome"),
        "the node listens through a relay (--relay): reserved, or unavailable (retried)",
    ),
    (
        "node.peer_pruned",
        "info",
        ("reason",),
        "a session closed above the high watermark (least useful first)",
    ),
    ("node.peer_lookup", "info", ("peer_id", "found"), "a bare --peer PeerId looked up"),
    # isolation (web4.isolation, CIP_SPEC §9): a bug meets one peer, not the node
    (
        "node.peer_task_failed",
        "error",
        ("task", "error", "message", "traceback"),
        "an unexpected exception in one peer's task: that session ended (or that message "
        "dropped), the node serves the others; rate-limited per peer and window",
    ),
    (
        "node.peer_task_failures",
        "warning",
        ("task", "count"),
        "peer task failures past the event limits, summed per task when the window ends",
    ),
    ("observability.sink_error", "error", ("sink", "error"), "a sink raised; event lost there"),
    (
        "observability.contract_violation",
        "error",
        ("rejected_kind", "detail"),
        "a non-strict bus refused an event that broke the contract",
    ),
    ("error", "error", ("error",), "any other error; error = class name"),
)
for _k, _lvl, _req, _desc in _BUILTIN:
    register_kind(_k, _lvl, _req, _desc)


def level_at_least(level: str, minimum: str) -> bool:
    """True when ``level`` is as severe as ``minimum`` or more. Raises ObservabilityError."""
    if level not in LEVELS or minimum not in LEVELS:
        raise ObservabilityError(f"unknown level {level!r} or {minimum!r}")
    return LEVELS.index(level) >= LEVELS.index(minimum)


def _scalar(key: str, value: object) -> Scalar:
    if isinstance(value, str):
        return str(value)  # a StrEnum member becomes its plain value
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ObservabilityError(f"attribute {key!r} is not a finite number")
        return value
    raise ObservabilityError(f"attribute {key!r} has type {type(value).__name__}")


def _attr(key: str, value: object) -> AttrValue:
    if isinstance(value, list | tuple | frozenset | set):
        items = sorted(value, key=str) if isinstance(value, frozenset | set) else value
        return [_scalar(key, v) for v in items]
    return _scalar(key, value)


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, AttrValue]:
    """Flatten nested mappings into dotted keys (``{"a": {"b": 1}}`` -> ``{"a.b": 1}``).

    Raises ``ObservabilityError`` for values that are not JSON scalars or lists of them.
    """
    out: dict[str, AttrValue] = {}
    for key, value in mapping.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten(value, name + "."))
        else:
            out[name] = _attr(name, value)
    return out


def make_event(
    kind: str,
    *,
    time: str,
    node: str,
    level: Level | None = None,
    peer: str | None = None,
    msg_id: str | None = None,
    attributes: Mapping[str, object] | None = None,
) -> Event:
    """Build a checked ``Event`` of a registered kind.

    Raises ``ObservabilityError`` when the kind is unregistered, the level unknown, a
    required attribute missing, an attribute not a JSON scalar or list, or a field too long.
    """
    spec = KINDS.get(kind)
    if spec is None:
        raise ObservabilityError(f"unregistered event kind {kind!r}")
    lvl = spec.level if level is None else level
    if lvl not in LEVELS:
        raise ObservabilityError(f"unknown level {lvl!r}")
    attrs = {str(k): _attr(str(k), v) for k, v in (attributes or {}).items()}
    missing = [r for r in spec.required if r not in attrs]
    if missing:
        raise ObservabilityError(f"event {kind!r} lacks required attributes {missing}")
    event = Event(
        version=EVENT_VERSION,
        time=time,
        node=node,
        kind=kind,
        level=lvl,
        peer=peer,
        msg_id=msg_id,
        attributes=attrs,
    )
    try:  # the Struct's constraints (patterns, lengths) are checked by a decode round trip
        msgspec.json.decode(msgspec.json.encode(event), type=Event)
    except msgspec.ValidationError as exc:
        raise ObservabilityError(f"event {kind!r} breaks the contract: {exc}") from exc
    return event


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(Event)


def encode_event(event: Event) -> bytes:
    """One event as compact JSON bytes (no trailing newline)."""
    return _ENCODER.encode(event)


def decode_event(data: bytes | str) -> Event:
    """Parse and validate one event. Raises ``ObservabilityError`` on any contract breach."""
    try:
        return _DECODER.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ObservabilityError(f"not a v{EVENT_VERSION} event: {exc}") from exc


def event_json_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) published as ``docs/schemas/events.schema.json``."""
    generated = msgspec.json.schema(Event)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:web4:schemas:events:1.0",
        "title": f"Web4 observability event v{EVENT_VERSION}",
        "description": "Generated from web4.observability.events.Event; see docs/EVENTS.md.",
        **generated,
    }


def event_schema_text() -> str:
    """The exact text of ``docs/schemas/events.schema.json`` (a test checks it is fresh)."""
    return json.dumps(event_json_schema(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def kinds_markdown() -> str:
    """The kinds table of ``docs/EVENTS.md``: kind, default level, required attributes."""
    rows = ["| kind | level | required attributes | meaning |", "|---|---|---|---|"]
    for spec in sorted(KINDS.values(), key=lambda s: s.kind):
        required = ", ".join(f"`{r}`" for r in spec.required) or "-"
        rows.append(f"| `{spec.kind}` | {spec.level} | {required} | {spec.description} |")
    return "\n".join(rows) + "\n"
