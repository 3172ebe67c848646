"""The running node: the composition root of identity, store, trust, knowledge, router,
agent loop, observability and the transport.

Theory of operation: ``Node(config, ...)`` checks what a user can get wrong (the data
directory and its identity, addresses, proposals) before anything starts. ``run()``
opens the SQLite store, the ``TrustBook`` and ``KnowledgeExchange`` on it, the
observability sinks, the ``ProtocolRouter`` (CIP, and HCP/LIP when their specs exist)
and the ``AgentLoop``, listens, and then runs everything under one ``asyncio.TaskGroup``:
the agent loop, the accept loop, one dialler per ``--peer``, one ``serve`` task per
session (``web4.cip.service``), a telemetry pump, and the scripted proposals. ``stop()``
(SIGINT/SIGTERM in the CLI, or ``exit_after``) makes every task finish within about one
``tick`` (a dial already under way: within its connect deadline; queued dials do not
start); then the transport shuts down, sinks drain and the store closes. Every write is
its own SQLite transaction, so a kill -9 loses nothing that was committed; the store
fsyncs on a writer thread (group commit) and every send first waits until what was
committed before it is on disk (``web4.node.durable_link``). Dials run one
at a time (they once had to: concurrent RTT dials could lose a completion, fixed in the
transport since; one at a time keeps start-up orderly). Two nodes that list each other
as peers get one session (the transport settles simultaneous dials, RTT_SPEC §3); the
node serves it once, and a dial that returns it waits for it to end.

Routing (``web4.router.ROUTES``): ``knowledge`` -> ``KnowledgeDesk``; ``peer_state`` and
``intent`` -> the agent loop, except a retransmission of the INTENT that ended the
handshake (``Handshake.takes_repeat``), which goes to the handshake: it re-sends its
decision (bounded) and the agent does not see the intent twice; ``handshake`` -> the
peer's handshake (a HELLO after the end is dropped there); ``human``, ``agent``, ``lip``
and LIP's part of ``knowledge`` -> ``HcpLipRuntime`` (``web4.hcp.runtime``). Router
faults become trust events for the link's authenticated peer
(``web4.cip.service.CipService``, which also sends our CIP messages).

No module of ``web4.node`` imports this one or takes the node: each gets narrow ports
(callables, or a Protocol of what it reads: ``ProposalHost``, ``DialHost``, ``PortsHost``).
``Node(...)`` builds everything: it takes the data directory's lock first (one process
per data directory, ``web4.node.lock``), then opens the store, the observability sinks
and the transport and wires every part; ``run()`` only listens and runs the tasks, and
closes everything (and releases the lock) when it ends. A node runs once; one that is
built but never run is released with ``close()`` (``async with`` does all of this).

The agent (``Node(config, agent=...)``, ``web4 node --agent``; default: the belief agent)
is any Agent API agent (``web4.agent``), driven by the ``AgentLoop`` through
``HandlerCycle``; its actions come back through ``web4.node.agent_ports``. As a library:
``async with Node(config, agent=MyAgent()) as node: ...`` runs it in the background
(``run()`` runs it in the foreground).
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any

import msgspec

from web4.agent import AgentLike, AgentLoop, AgentLoopConfig, AgentOptions, InboundMessage
from web4.agent.driver import HandlerCycle
from web4.agent.loading import load_agent
from web4.cip import CipBuilder, Handshake, HandshakeConfig, Role
from web4.cip import messages as cm
from web4.cip.events import HandshakeEvent, PeerVerified
from web4.cip.faults import FaultMeter
from web4.cip.gossip import GossipService
from web4.cip.gossip_seen import GossipReplayCache
from web4.cip.service import CipService, PeerConn, link_key, sender_state, serve
from web4.clock import Clock, Rng, SystemClock, SystemRng
from web4.envelope.validate import Receiver
from web4.errors import (
    ConfigError,
    IdentityError,
    RTTError,
    RTTTransportError,
    TrustError,
    Web4Error,
)
from web4.hcp.runtime import HcpLipRuntime
from web4.identity import KEY_FILE_NAME, Identity
from web4.isolation import PeerTaskFailures, stop_reason
from web4.knowledge import KnowledgeExchange, KnowledgePolicy, LocalState
from web4.node import status
from web4.node.agent_ports import NodePorts
from web4.node.config import NodeConfig
from web4.node.desk import KnowledgeDesk
from web4.node.discovery import PeerFinder, fingerprint_of, is_peer_id
from web4.node.durable_link import DurableTransport
from web4.node.link import LinkSession, LinkTransport, parse_multiaddr
from web4.node.link_state import KEEP, KNOWN, STRANGER, LinkBook
from web4.node.liveness import LinkWatch, dial_peer
from web4.node.lock import DataDirLock
from web4.node.parts import (
    GOALS,
    JsonLinesSink,
    StoreMemory,
    default_transport,
    gossip_validator,
    make_validators,
)
from web4.node.proposals import Proposal, propose_all
from web4.node.protect import ProtectGate
from web4.node.relaying import RelayGate, listen_through, operator_standing
from web4.node.rtt_link import fingerprint_of_peer_id
from web4.observability import (
    EventBus,
    Observability,
    colour_wanted,
    emit_telemetry,
    forward_rtt_events,
)
from web4.router import Inbound, ProtocolRouter
from web4.store import GroupCommit, Store
from web4.trust import TrustBook, TrustState

__all__ = ["JsonLinesSink", "Node", "StoreMemory"]


class Node:
    """One Web4 node (see the module docstring)."""

    # opened by ``run()`` (``_open``); declared here for the ports that read them late
    obs: Observability
    bus: EventBus
    store: Store
    links: LinkWatch
    trust: TrustBook
    kx: KnowledgeExchange
    builder: CipBuilder
    cip: CipService
    router: ProtocolRouter
    loop: AgentLoop
    desk: KnowledgeDesk
    protocols: HcpLipRuntime
    transport: LinkTransport

    def __init__(
        self,
        config: NodeConfig,
        *,
        agent: AgentLike | None = None,
        beliefs: tuple[str, ...] = (),
        proposals: tuple[Proposal, ...] = (),
        exit_after: float | None = None,
        stdout: IO[str] | None = None,
        transport: Callable[[Identity], LinkTransport] | None = None,
        clock: Clock | None = None,
        rng: Rng | None = None,
        tick: float = 0.25,
    ) -> None:
        """``agent``: the agent this node runs (``web4.agent``); None: the one
        ``config.agent.spec`` names (``web4 node --agent``), else the belief agent with
        ``beliefs``. Takes the data directory's lock and opens the store, the sinks and
        the transport. Raises ``IdentityError`` (no data dir or no identity: run ``web4
        keygen``), ``ConfigError`` (bad address, bad ``exit_after``, an agent that cannot
        be loaded), ``DataDirBusyError`` (another process holds the data directory),
        ``StoreError`` and ``ObservabilityError`` (events file, metrics port); nothing
        stays open when it raises."""
        data_dir = Path(config.data_dir).expanduser()
        if not (data_dir / KEY_FILE_NAME).is_file():
            raise IdentityError(
                f"no identity in {data_dir}: run `web4 keygen --data-dir {data_dir}` first"
            )
        for addr in (*config.listen, *config.bootstrap):
            parse_multiaddr(addr)
        for addr in config.peers:
            if not is_peer_id(addr):  # a bare PeerId is resolved through discovery
                parse_multiaddr(addr)
        if exit_after is not None and not exit_after > 0:
            raise ConfigError("--exit-after needs a positive number of seconds")
        self.config = config
        self.identity = Identity.in_data_dir(data_dir)
        self.fingerprint = self.identity.fingerprint
        self.beliefs = beliefs
        self.agent = agent if agent is not None else self._load_agent(config, data_dir, beliefs)
        self.proposals = proposals
        self.exit_after = exit_after
        self.tick = tick
        self.send_timeout = 5.0
        self.clock = clock or SystemClock()
        self.rng = rng or SystemRng()
        self._stdout = stdout if stdout is not None else sys.stdout
        self._make_transport = transport or default_transport(config)
        self.conns: dict[str, PeerConn] = {}
        self.faults = FaultMeter()  # per-peer limits on faulty input (web4.cip.faults)
        self.listen_addrs: list[str] = []
        self.status_doc: status.NodeStatus | None = None  # DATA_DIR/status.json (web4 status)
        self._stop = asyncio.Event()
        self.dialling = asyncio.Lock()  # one dial at a time
        self._running = False
        self._started = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._ran = False
        self._lock = DataDirLock(data_dir, "node")
        self._lock.acquire()  # before any IO: one process per data directory
        try:
            self._open()
        except BaseException:  # half-open: close what was opened, then report
            self._close_parts()
            raise

    @staticmethod
    def _load_agent(config: NodeConfig, data_dir: Path, beliefs: tuple[str, ...]) -> AgentLike:
        settings = config.agent
        home = data_dir / "agent"  # the agent's own files, inside the private data dir
        home.mkdir(mode=0o700, exist_ok=True)
        options = AgentOptions(
            mission=settings.mission,
            data_dir=home,
            beliefs=beliefs,
            options=MappingProxyType(dict(settings.options)),
        )
        return load_agent(settings.spec or "belief", options)

    async def __aenter__(self) -> Node:
        """Start ``run()`` in the background and return once the node listens (its
        addresses are in ``listen_addrs``). Raises what ``run`` raises on start."""
        self._task = asyncio.create_task(self.run(), name="web4-node")
        started = asyncio.create_task(self._started.wait())
        await asyncio.wait({self._task, started}, return_when=asyncio.FIRST_COMPLETED)
        started.cancel()
        if self._task.done():
            await self._task  # raises its error; a clean early stop returns
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Stop gracefully and wait for ``run()`` to finish."""
        self.stop()
        if self._task is not None:
            await self._task

    # --- what peers and handlers call --------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def stop(self) -> None:
        """Ask ``run`` to shut down gracefully (safe from a signal handler on the loop)."""
        self._stop.set()

    def local_state(self) -> LocalState:
        return LocalState(presence=self.loop.presence, lri=self.loop.lri)

    # --- lifecycle ----------------------------------------------------------------------

    def _open(self) -> None:
        cfg = self.config
        self.obs = Observability.open(
            self.identity.agent_id,
            clock=self.clock,
            events_file=cfg.events_file,
            console=self._stdout if cfg.console and not cfg.json_events else None,
            colour=colour_wanted(self._stdout),  # a terminal, unless NO_COLOR
            min_console_level=cfg.log_level,
            metrics_port=cfg.metrics_port,
        )
        self.bus = self.obs.bus
        # a bug met serving one peer ends that peer's session, not the node (web4.isolation)
        self.failures = PeerTaskFailures(self.bus.emit, self.clock.monotonic)
        if cfg.json_events:
            self.bus.add_sink(JsonLinesSink(self._stdout))
        # fsyncs on a writer thread; every send waits for them (web4.node.durable_link).
        # No batching of transactions (batch_s=0): a batch holds SQLite's write lock across
        # loop callbacks, so an agent writing through its own connection on the loop thread
        # (the librarian's index) waited busy_timeout and failed with "database is locked".
        self.store = Store.in_data_dir(cfg.data_dir, group_commit=GroupCommit(batch_s=0.0))
        self.links = LinkWatch(  # who is connected / last seen, for `web4 peers`
            LinkBook(self.store),
            self.clock,
            lambda e: self.bus.emit("error", error="StoreError", detail=f"link book: {e}"[:200]),
        )
        self.trust = TrustBook(self.store, self.clock)
        # with gossip, claims of keys we never met arrive (CIP_SPEC §11): judged as probing
        policy = KnowledgePolicy(unmet_as_probing=cfg.gossip)
        self.kx = KnowledgeExchange(self.store, self.trust, self.clock, policy, me=self.fingerprint)
        validators = make_validators(self.fingerprint, self.clock, self.trust, self.store)
        self.builder = CipBuilder(self.identity, clock=self.clock, rng=self.rng)
        self.cip = CipService(  # the loop and the desk come next: late-bound ports
            builder=self.builder,
            trust=self.trust,
            bus=self.bus,
            rng=self.rng,
            now=self.now,
            state=lambda: self.loop.state(),
            offer=lambda m: self.loop.offer(m),
            record_vote=lambda *vote: self.desk.record_vote(*vote),
            trust_anchors=cfg.trust_anchors,
            faults=self.faults,
            conns=self.conns,
            send_timeout=self.send_timeout,
        )
        self.router = ProtocolRouter(
            validators, emit=self.bus.emit, clock=self.clock, on_fault=self.cip.on_fault
        )
        ports = NodePorts(self)
        handler_timeout = float(getattr(self.agent, "handler_timeout", 10.0))
        self.loop = AgentLoop(
            HandlerCycle(self.agent, ports, ports.perform),
            emit=self.bus.emit,
            memory=StoreMemory(self.kx, self.fingerprint, self.clock),
            clock=self.clock,
            state_sender=self.cip.send_state,
            outbound_sender=self.cip.send_outbound,
            intent_sender=self.cip.send_intent,
            config=AgentLoopConfig(
                sample_interval=cfg.agent.state_interval,
                hook_timeout=handler_timeout,
                act_timeout=max(30.0, 2 * handler_timeout),
            ),
            isolate=self.failures.isolate,
        )
        self.desk = KnowledgeDesk(
            self.kx, self.trust, self.bus, offer=self.loop.offer, local=self.local_state
        )
        self.router.bind("knowledge", self.desk.on_message)
        self.router.bind("peer_state", lambda m: self._to_loop(m))
        self.router.bind("intent", self._on_intent)
        self.router.bind("handshake", self._repeat_step)
        self.protocols = HcpLipRuntime(
            self.identity,
            self.store,
            self.trust,
            self.loop,
            self.bus.emit,
            self.clock,
            self.rng,
            send=self._send_raw,
            settings=cfg.lip,
            peers=lambda: [c.peer for c in self.ready_peers()],
            isolate=self.failures.isolate,
        )
        self.protocols.bind(self.router, knowledge=self.desk.on_message)
        self.protocols.to_agent = self.loop.offer  # humans and LIP evidence: the agent's
        self.transport = DurableTransport(self._make_transport(self.identity), self.store.durable)
        self.finder: PeerFinder | None = None
        disco = self.discovery = self.transport.discovery
        ids = [p if is_peer_id(p) else parse_multiaddr(p).peer for p in cfg.peers]
        configured = [fp for fp in (fingerprint_of(i) for i in ids if i) if fp]
        self._kept = frozenset((*configured, *cfg.trust_anchors))  # link rows never pruned
        if disco is not None:  # discovered peers, under the watermarks (RTT_SPEC §16)
            self.finder = PeerFinder(
                self, disco, self.transport.connect,
                min_peers=cfg.min_peers, max_peers=cfg.max_peers, configured=configured,
                anchors=cfg.trust_anchors, trust_of=self.trust.state_of,
                isolate=self.failures.isolate,
                protected=lambda fp: self.protocols.authorized.get(fp) is not None,
            )  # fmt: skip
        limits = self.transport.limits
        # trusted peers skip the connection caps' incoming and total bounds (RTT_SPEC §16)
        self.protect_gate = ProtectGate(limits, self.trust.state_of) if limits is not None else None
        relay = self.transport.relay
        # as a relay: the access lists follow the trust book (RTT_SPEC §17)
        self.relay_gate = (
            RelayGate(relay, self.trust.state_of, operator_standing(self.trust, cfg.trust_anchors))
            if cfg.relay_server and relay is not None
            else None
        )
        self.gossip: GossipService | None = None
        port = self.transport.gossip
        if cfg.gossip and port is not None:  # knowledge on topics too (CIP_SPEC §11)
            seen = GossipReplayCache(self.store)  # the validator's, shared with the service
            grouter = ProtocolRouter(
                {
                    "cip": gossip_validator(
                        self.fingerprint, self.clock, self.trust, self.store, seen
                    )
                },
                emit=self.bus.emit,
                clock=self.clock,
            )
            grouter.bind("knowledge", self.desk.on_message)
            self.gossip = GossipService(
                gossip=port,
                router=grouter,
                builder=self.builder,
                trust=self.trust,
                bus=self.bus,
                state=lambda: self.loop.state(),
                durable=self.store.durable,
                claim_domain=self._claim_domain,
                fingerprint_of=fingerprint_of_peer_id,
                on_fault=self.cip.on_fault,
                seen=seen,
                now=self.now,
                isolate=self.failures.isolate,
            )
            self.cip.publish = self.gossip.publish

    async def run(self) -> None:
        """Run until ``stop()`` or ``exit_after``, then close everything and release the
        data directory. Raises ``RTTTransportError`` (cannot listen),
        ``RTTHandshakeError`` (a ``--peer`` is another key, on a node that does not
        listen), ``ConfigError``, and ``ConfigError`` again when the node already ran or
        was closed (a node runs once)."""
        if self._ran or not self._lock.locked:
            raise ConfigError("this Node already ran or was closed: build a new one")
        self._ran = True
        try:
            await self._run()
        finally:
            data_dir = Path(self.config.data_dir).expanduser()
            status.stopped(data_dir, self.status_doc, self.now())
            self._lock.release()

    def close(self) -> None:
        """Release a node that was built but will not run (``run()`` releases its own):
        the sinks, the store and the data directory's lock. Idempotent."""
        if not self._ran:
            self._close_parts()

    def _close_parts(self) -> None:
        try:
            if hasattr(self, "obs"):
                self.obs.close()
            if hasattr(self, "store"):
                self.store.close()  # raises when it could not make every commit durable
        finally:
            self._lock.release()

    async def _run(self) -> None:
        stopped_by: BaseException | None = None  # node.stopped says why (web4.isolation)
        try:
            for addr in self.config.listen:
                self.listen_addrs += await self.transport.listen(addr)
            if self.config.relays:  # reachable through relays (RTT_SPEC §17)
                self.listen_addrs += await listen_through(
                    self.transport, self.config.relays, self.identity.peer_id, self.bus.emit
                )
            self._announce()  # listen addresses + metrics URL, printed and in status.json
            self.bus.emit(
                "node.started",
                agent_id=self.identity.agent_id,
                fingerprint=self.fingerprint,
                listen=self.listen_addrs,
                peers=list(self.config.peers),
                anchors=len(self.config.trust_anchors),
                mdns=self._mdns_state(),
                bootstrap=len(self.config.bootstrap),
            )
            self.links.node_started()
            self._running = True
            self._started.set()
            try:
                async with asyncio.TaskGroup() as tg:
                    self._tg = tg
                    tg.create_task(self.loop.run(), name="agent-loop")
                    tg.create_task(self._accept_loop(), name="accept")
                    tg.create_task(self._pump(), name="telemetry")
                    tg.create_task(self.protocols.run(self.running, self.tick), name="hcp-lip")
                    if self.finder is not None:
                        tg.create_task(self._discover(self.finder), name="discovery")
                    if self.gossip is not None:
                        domains = (*self.config.gossip_domains, *(p.domain for p in self.proposals))
                        self.gossip.follow(domains)
                        tg.create_task(self.gossip.run(self.running, self.tick), name="gossip")
                    for addr in self.config.peers:
                        tg.create_task(self._dial(addr), name=f"dial {addr}")
                    if self.proposals:
                        tg.create_task(propose_all(self, self.proposals), name="proposals")
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(self.exit_after):
                            await self._stop.wait()
                    self._shutdown_tasks()
            except* Web4Error as group:
                self._shutdown_tasks()
                raise group.exceptions[0] from None
        except BaseException as e:
            stopped_by = e
            raise
        finally:
            self._running = False
            with contextlib.suppress(Exception):
                async with asyncio.timeout(5.0):
                    await self.transport.shutdown()
            self._drain_rtt()
            self.links.node_stopped()
            self.failures.close()
            if self.gossip is not None:
                self.gossip.close()  # the invalid messages summed so far
            self.bus.emit(
                "node.stopped",
                peers=len(self.conns),
                attributes={f"route_{k}": v for k, v in self.router.counts.items()},
                **stop_reason(stopped_by),
            )
            self.obs.close()
            self.store.close()

    def _announce(self) -> None:
        cfg, server = self.config, self.obs.server
        self.status_doc = status.announce(
            out=self._stdout if cfg.console and not cfg.json_events else sys.stderr,
            data_dir=Path(cfg.data_dir).expanduser(),
            identity=self.identity,
            listen=self.listen_addrs,
            metrics_url=server.url if server is not None else None,
            peers=cfg.peers,
            previous=self.status_doc,
            now=self.now(),
            emit=self.bus.emit,
        )

    def _observed(self) -> None:
        """Carry the addresses peers say they see us at (identify) into status.json."""
        addrs = getattr(self.discovery, "observed_addrs", None)  # a transport without: none
        if addrs is None:
            return
        data_dir = Path(self.config.data_dir).expanduser()
        self.status_doc = status.observed(data_dir, self.status_doc, addrs(), self.bus.emit)

    def _link_rank(self, fp: str) -> int:
        """How the link book's bound treats ``fp``'s row (``web4.node.link_state``):
        configured peers, anchors, trusted keys, authorised humans and the peers whose
        session we hold (one being resumed says "not connected": its row has the agent id
        its handshake proved) are kept; keys with a trust record go after those without."""
        if fp in self._kept or fp in self.conns or self.protocols.authorized.get(fp) is not None:
            return KEEP
        try:
            if self.trust.state_of(fp) is TrustState.TRUSTED:
                return KEEP
            return KNOWN if self.trust.known(fp) else STRANGER
        except TrustError:  # not a fingerprint the book takes: nobody we know
            return STRANGER

    def _mdns_state(self) -> str:
        """For ``node.started``: mDNS on or off, and whether anyone can find us by it
        (libp2p-mdns announces no loopback address, RTT_SPEC §16)."""
        if not self.config.mdns or self.finder is None:
            return "off"
        if not self.config.mdns_active:
            return "off (loopback only; --listen /ip4/0.0.0.0/tcp/0 for the LAN)"
        return "on"

    def _shutdown_tasks(self) -> None:
        self._running = False
        self._stop.set()
        self.loop.stop()
        for conn in self.conns.values():
            conn.stop.set()

    def running(self) -> bool:
        return self._running

    # --- sessions -----------------------------------------------------------------------

    async def _accept_loop(self) -> None:
        while self._running:
            session = await self.transport.accept(timeout=self.tick)
            if session is not None:
                self.start_peer(session, Role.RESPONDER)

    async def _dial(self, addr: str) -> None:
        """``_dial_once``, with a bug met in it isolated (``web4.isolation``, task
        ``dial``): dialling starts again 5 s later. ``RTTError``/``ConfigError`` are the
        policy's own end (a permanent failure on a node that does not listen)."""
        while self._running:
            try:
                await self._dial_once(addr)
                return
            except (RTTError, ConfigError):
                raise
            except Exception as e:
                peer_id = addr if is_peer_id(addr) else parse_multiaddr(addr).peer
                peer = fingerprint_of(peer_id) if peer_id else None
                if not self.failures.isolate(peer, "dial", e):
                    raise
                await self.sleep(5.0)

    async def _dial_once(self, addr: str) -> None:
        """Dial ``addr`` until the node stops, serve its session, redial when it ends:
        one policy (``web4.node.liveness.dial_peer``)."""
        if is_peer_id(addr):  # a bare PeerId: found (and found again) through discovery
            if self.finder is None:
                self.bus.emit("error", error="ConfigError", detail=f"{addr}: no discovery")
                return
            await self.finder.dial_by_id(addr)
            return
        await dial_peer(self, addr)

    async def _discover(self, finder: PeerFinder) -> None:
        """Seed the DHT (``--bootstrap``), then keep the session count between the
        watermarks (``web4.node.discovery``)."""
        for addr in self.config.bootstrap:
            try:
                await self.discovery.add_bootstrap(addr)
            except Web4Error as e:
                self.bus.emit("error", error=type(e).__name__, addr=addr, detail=str(e)[:200])
        await finder.run()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` or until a stop is asked. Always yields to the loop: a set
        Event's ``wait()`` returns without suspending, and a loop calling this after a
        stop would otherwise starve every other task (the shutdown among them)."""
        if self._stop.is_set():
            await asyncio.sleep(0)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stop.wait()

    async def wait_for_peer(self, timeout: float | None) -> None:
        """Return when a CIP handshake ends well (``CipService.any_ready``), a stop is
        asked, or after ``timeout`` seconds (None: no bound). Deadline-driven: no polling."""
        ready = self.cip.any_ready
        ready.clear()
        waits = [asyncio.ensure_future(ready.wait()), asyncio.ensure_future(self._stop.wait())]
        try:
            await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    def start_peer(
        self, session: LinkSession, role: Role, *, serve_inline: bool = False
    ) -> PeerConn | None:
        """The ``PeerConn`` that serves ``session`` (in a task of its own unless
        ``serve_inline``), or None when it is not served: served already, refused, or a
        bug met starting it (isolated: the session is closed, ``web4.isolation``)."""
        try:
            return self._start_peer(session, role, serve_inline)
        except Exception as e:
            if not self.failures.isolate(session.peer, "start", e):
                raise
            if (conn := self.conns.get(session.peer)) is not None and conn.session is session:
                del self.conns[session.peer]
            self._tg.create_task(session.close())
            return None

    def _start_peer(self, session: LinkSession, role: Role, serve_inline: bool) -> PeerConn | None:
        old = self.conns.get(session.peer)
        if old is not None and old.session is session:
            return None  # already served by `old`
        if (old is not None and not old.session.closed) or session.peer == self.fingerprint:
            self._tg.create_task(session.close())
            return None
        if self.faults.banned(session.peer, self.now()):  # disconnected for a flood
            self.bus.emit(
                "error", peer=session.peer, error="FloodError",
                detail="session refused: recently disconnected for a flood of faults",
            )  # fmt: skip
            self._tg.create_task(session.close())
            return None
        if self.failures.refused(session.peer):  # its sessions kept failing: a cool-down
            self._tg.create_task(session.close())
            return None
        state = sender_state(self.loop.state())
        settings = self.config.agent
        goal = settings.intent if settings.intent in GOALS else "learn"
        hs = Handshake(
            self.identity,
            role,
            validator=make_validators(self.fingerprint, self.clock, self.trust)["cip"],
            rng=self.rng,
            local_state=state,
            peer=Receiver(session.peer[:16], session.peer),
            intent=cm.Intent(goal=goal, topic=settings.topic[:256] or "general"),  # type: ignore[arg-type]
            config=HandshakeConfig(step_timeout=self.config.handshake_timeout / 3),
            transport_key=link_key(session),  # RTT proved it: the original handshake works
        )
        self._drain_rtt()
        conn = PeerConn(session, hs, role)
        self.conns[session.peer] = conn
        self.links.found(session.peer, self.finder.source_of(session.peer) if self.finder else None)
        if role is Role.INITIATOR:
            self.bus.emit("cip.handshake.hello_sent", peer=session.peer)
        if not serve_inline:
            self._tg.create_task(self.serve_peer(conn), name=f"serve {conn.peer[:16]}")
        return conn

    async def serve_peer(self, conn: PeerConn) -> None:
        hello = self.config.handshake_timeout  # a silent peer's session ends after it
        await serve(
            self, conn, tick=self.tick, running=self.running, hello_timeout=hello,
            isolate=lambda e: self.failures.isolate(conn.peer, "serve", e),
        )  # fmt: skip

    def on_closed(self, conn: PeerConn, reason: str) -> None:
        self.cip.flush_faults([conn.peer], "before the session closed")
        # broadcasts the peer never acknowledged (it died or restarted): sent again by
        # the catch-up of its next session (RTT's unacked, CIP_SPEC §9 Broadcast)
        undelivered = getattr(conn.session, "undelivered", None)
        if callable(undelivered):
            with contextlib.suppress(Web4Error):
                self.cip.undelivered(conn.peer, undelivered())
        if self.conns.get(conn.peer) is conn:
            del self.conns[conn.peer]
            self.protocols.forget(conn.peer)
        self._drain_rtt()
        if conn.peer not in self.conns:  # no newer session replaced this one
            self.links.closed(conn.peer, reason)
        if conn.failed:
            self.bus.emit("error", peer=conn.peer, error="HandshakeError", detail=reason[:200])

    def on_handshake(self, conn: PeerConn, events: list[HandshakeEvent]) -> None:
        self.cip.on_handshake(conn, events)
        for e in events:
            if isinstance(e, PeerVerified):
                self.links.verified(e.peer, e.agent_id)

    # --- routed handlers ----------------------------------------------------------------

    def _claim_domain(self, fact_ref: str, claim_hash: str | None) -> str | None:
        """The domain of the claim a vote names (its gossip topic), None if unknown."""
        try:
            claim = self.kx.claim(fact_ref)
        except Web4Error:
            return None
        if claim_hash is not None and claim.claim_hash not in (None, claim_hash):
            return None
        return claim.fact.domain

    def _to_loop(self, msg: Inbound) -> None:
        self.loop.offer(InboundMessage.from_routed(msg))

    def _on_intent(self, msg: Inbound) -> None:
        """A peer's INTENT after its handshake: the agent's, unless it repeats the INTENT
        that ended the handshake (the peer lost our decision; CIP §6 Timers and retries)."""
        conn = self.conns.get(msg.link_peer or "")
        if (
            conn is not None
            and msg.peer == conn.peer
            and conn.handshake.takes_repeat(msg.type, msg.envelope.payload)
        ):
            self._repeat_step(msg)
        else:
            self._to_loop(msg)

    def _repeat_step(self, msg: Inbound) -> None:
        conn = self.conns.get(msg.link_peer or "")
        if conn is not None:
            # the bytes as received: a re-encoded envelope may no longer match its signature
            envelope = msg.raw or msgspec.to_builtins(msg.envelope)
            events = conn.handshake.receive(envelope, self.now())
            self.on_handshake(conn, events)

    async def _send_raw(self, peer: str, channel: str, data: bytes) -> None:
        """Send bytes to ``peer``'s live session (HCP/LIP runtime port). Raises
        ``RTTTransportError`` (no session), ``RTTError`` or ``TimeoutError``."""
        conn = self.conns.get(peer)
        if conn is None or conn.session.closed:
            raise RTTTransportError(f"no live session with {peer[:16]}…")
        await conn.session.send(channel, data, timeout=self.send_timeout)

    # --- outbound (web4.cip.service) ------------------------------------------------

    def ready_peers(self) -> list[PeerConn]:
        return self.cip.ready_peers()

    async def send(
        self, msg_type: str, payload: Any, *, peer: str | None = None, msg_id: str | None = None
    ) -> str:
        """See ``CipService.send``. Raises ``MessageBuildError``."""
        return await self.cip.send(msg_type, payload, peer=peer, msg_id=msg_id)

    async def _pump(self) -> None:
        """Forward transport events often and a telemetry snapshot every 2 seconds."""
        n = 0
        while self._running and not self._stop.is_set():
            await self.sleep(0.5)
            self._drain_rtt()
            self.links.seen(c.peer for c in self.conns.values() if c.session.connected)
            self.failures.flush()
            n += 1
            if n % 4 == 0:
                self.links.prune(self.config.link_rows_max, self._link_rank)
                with contextlib.suppress(Web4Error):
                    emit_telemetry(self.bus, self.transport.telemetry())
                self._observed()
                if self.gossip is not None:
                    self.gossip.emit_stats()
                    await self.gossip.retry_unpublished()
                conns = list(self.conns.values())
                ids = ((getattr(c.session, "peer_id", None), c.peer) for c in conns)
                known = [(i, fp) for i, fp in ids if isinstance(i, str)]
                if self.protect_gate is not None:
                    self.protect_gate.sync(known)
                if self.relay_gate is not None:
                    self.relay_gate.sync(known)

    def _drain_rtt(self) -> None:
        """Forward the transport's events to the bus and the link book."""
        events = self.transport.drain_events()
        self.links.on_rtt_events(events)
        forward_rtt_events(self.bus, events)
