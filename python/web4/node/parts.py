"""Small parts of the node: the JSON-lines stdout sink, the agent's memory port over the
store, the transport factory, and constants.

Theory of operation: ``JsonLinesSink`` prints every event as one JSON line (``web4 node
--json``); ``StoreMemory`` writes the DMP trace of each agent decision to causal memory;
``default_transport`` makes the RTT link (the only transport) with the config's heartbeat.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import IO, Any

from web4.agent.types import DecisionRecord
from web4.cip import CIP_SPEC, cip_validator
from web4.cip.gossip_seen import GossipReplayCache
from web4.cip.topics import BROADCAST_TYPES, VOTE_TYPES
from web4.clock import Clock
from web4.envelope.replay import ReplayCache
from web4.envelope.replay_store import PersistentReplayCache
from web4.envelope.validate import Validator, policy_gate
from web4.identity import Identity
from web4.knowledge import KnowledgeExchange, SharedDecision
from web4.node.config import NodeConfig
from web4.node.link import LinkTransport
from web4.observability import Event, encode_event
from web4.observability.escape import ascii_json
from web4.store import Store
from web4.trust import TrustBook, TrustState

__all__ = [
    "GOALS",
    "HCP_LIP_TYPES",
    "JsonLinesSink",
    "StoreMemory",
    "default_transport",
    "gossip_validator",
]


class JsonLinesSink:
    """Events as JSON lines on a text stream (``web4 node --json``)."""

    inline = False
    name = "stdout-json"

    def __init__(self, stream: IO[str]) -> None:
        self._stream = stream

    def handle(self, event: Event) -> None:
        # ascii_json: the JSON as is, with DEL, C1 and bidi controls escaped for a terminal
        self._stream.write(ascii_json(encode_event(event).decode("utf-8")) + "\n")
        self._stream.flush()

    def close(self) -> None:
        self._stream.flush()


class StoreMemory:
    """The agent loop's memory port over the store: the DMP trace of every decision the
    agent takes goes to causal memory (``record_local_decision``); accepted claims are
    already admitted by ``KnowledgeExchange`` in the transaction that accepted them."""

    def __init__(self, kx: KnowledgeExchange, me: str, clock: Clock) -> None:
        self._kx, self._me, self._clock = kx, me, clock

    def record_decision(self, record: DecisionRecord) -> None:
        """Raises ``KnowledgeError`` (a trace the store cannot take), ``StoreError``."""
        decision = SharedDecision(record.choice[:256] or "decision", record.outcome[:4096])
        self._kx.memory.record_local_decision(
            self._me, decision, record.trace, "", self._clock.now()
        )

    def record_accepted(self, claim: Any) -> None:
        return None


GOALS = ("verify_knowledge", "ask", "learn", "propose_solution", "test_hypothesis")
HCP_LIP_TYPES = frozenset(
    {
        "HCP_HELLO",
        "HCP_INTENT",
        "HCP_CONTEXT",
        "HCP_DECISION",
        "HCP_FEEDBACK",
        "HCP_STATE_UPDATE",
        "LIP_FETCH",
        "LIP_EVIDENCE",
        "LIP_CONFLICT",
        "LIP_ACCEPT",
        "LIP_REJECT",
    }
)


def configured_peer_ids(peers: Iterable[str]) -> tuple[str, ...]:
    """The PeerIds named by ``--peer`` values (a bare PeerId, or the last ``/p2p/`` part
    of an address, relayed ones included); anything else is skipped."""
    from web4.node.discovery import is_peer_id

    out: list[str] = []
    for p in peers:
        pid = p.rsplit("/p2p/", 1)[-1] if p.startswith("/") else p
        if is_peer_id(pid) and pid not in out:
            out.append(pid)
    return tuple(out)


def protected_peer_ids(config: NodeConfig) -> tuple[str, ...]:
    """The PeerIds whose connections skip the transport's connection caps from the start:
    the operator's ``--peer`` and ``--relay`` ids (a relay is reached by the relay
    client's own dial, which a flood of Kademlia dials must not crowd out)."""
    return configured_peer_ids((*config.peers, *config.relays))


def default_transport(config: NodeConfig) -> Callable[[Identity], LinkTransport]:
    hb = config.heartbeat_interval

    def rtt(identity: Identity) -> LinkTransport:
        from web4.node.rtt_link import RttLink
        from web4.rtt import TransportConfig

        # discovery (RTT_SPEC §16): mDNS as configured, when the node listens beyond
        # loopback; the DHT always (lookups of a bare --peer, --bootstrap), a server
        # once the node listens
        return RttLink(
            identity,
            TransportConfig(
                heartbeat_interval=hb,
                heartbeat_timeout=3 * hb,
                mdns=config.mdns_active,
                dht=True,
                relay_server=config.relay_server,
                relay_trusted_only=config.relay_trusted_only,
                # connection caps (RTT_SPEC §16): headroom above the session watermark,
                # and the operator's --peer and --relay ids are never locked out by a flood
                max_connections=max(256, 8 * config.max_peers),
                protected_peers=protected_peer_ids(config),
            ),
        )

    return rtt


def make_validators(
    me: str, clock: Clock, trust: TrustBook, store: Store | None = None
) -> dict[str, Validator[Any]]:
    """The router's validators: CIP with its trust policy; HCP from any key that is not
    ``blacklisted`` (no CIP handshake needed: the HCP runtime checks authorisation); LIP
    from ``probing`` or ``trusted`` peers only. Each has its own replay cache,
    persisted in ``store`` when given (the router's: replays are refused across restarts),
    in memory otherwise (a handshake's own validator). Raises ``StoreError``."""

    def trust_of(fp: str) -> str:
        return trust.state_of(fp).value

    def replay(scope: str) -> ReplayCache:
        return ReplayCache() if store is None else PersistentReplayCache(store, scope)

    out: dict[str, Validator[Any]] = {
        "cip": cip_validator(me, clock=clock, trust_of=trust_of, replay=replay("cip"))
    }
    with contextlib.suppress(ImportError):
        from web4.hcp.messages import HCP_SPEC
        from web4.lip.messages import LIP_SPEC

        hcp = frozenset(t for t in HCP_LIP_TYPES if t.startswith("HCP_"))
        lip = HCP_LIP_TYPES - hcp
        # HCP needs no CIP handshake (HCP_SPEC §9): any key but a blacklisted one reaches
        # the HCP runtime, which acts only for authorised humans and refuses the rest
        gates = {
            "hcp": policy_gate(trust_of, {"untrusted": hcp, "probing": hcp, "trusted": hcp}),
            "lip": policy_gate(trust_of, {"probing": lip, "trusted": lip}),
        }
        for name, spec in (("hcp", HCP_SPEC), ("lip", LIP_SPEC)):
            out[name] = Validator(
                spec, our_fingerprint=me, clock=clock, replay=replay(name), trust_gate=gates[name]
            )
    return out


def gossip_validator(
    me: str, clock: Clock, trust: TrustBook, store: Store, replay: ReplayCache | None = None
) -> Validator[Any]:
    """The CIP validator of the gossip router (CIP_SPEC §11): topic-bound envelopes, its
    own persistent replay cache (scope ``cip-gossip``: a broadcast's point-to-point copy
    and its gossip copy are two envelopes; ``replay``: a ``GossipReplayCache`` shared
    with the gossip service, which sets the id of the message being validated; default,
    one of its own), and a gate for senders we may never have met: proposals from
    anyone but a blacklisted peer or one we recorded as ``untrusted`` (a key met only
    through gossip has no record; it gains nothing a handshake would not give it: only
    trusted voters count), votes only from keys we have a record of (one we never met
    can never count here), shared decisions from trusted peers only.
    Raises ``StoreError``."""

    def gate(sender_fingerprint: str, msg_type: str) -> str | None:
        sender = sender_fingerprint
        state = trust.state_of(sender)
        if msg_type not in BROADCAST_TYPES:
            return f"{msg_type} is never broadcast"
        if state is TrustState.BLACKLISTED or (
            state is TrustState.UNTRUSTED and trust.known(sender)
        ):
            article = "a" if state is TrustState.BLACKLISTED else "an"
            return f"{msg_type} is not admitted from {article} {state.value} peer"
        if msg_type in VOTE_TYPES and not trust.known(sender):
            # it could never count here (only peers trusted before the claim do), and
            # storing it would let fresh keys grow the vote table without bound
            return f"{msg_type} from a key this node never met: it could never count"
        if msg_type == "DECISION_SHARE" and state is not TrustState.TRUSTED:
            return f"DECISION_SHARE is admitted from trusted peers only, not {state.value}"
        return None

    return Validator(
        CIP_SPEC,
        our_fingerprint=me,
        clock=clock,
        replay=GossipReplayCache(store) if replay is None else replay,
        trust_gate=gate,
    )
