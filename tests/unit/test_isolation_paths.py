"""Each per-peer unit of work the node runs besides a session (``serve``, tested with real
processes in tests/integration/node/test_node_isolates_peer_bugs.py) hands a bug to
``web4.isolation`` and goes on with the next one, and lets a fatal error through: a
gossip message (``gossip``), a discovered peer's dial (``discovery``), an agent loop
item (``agent``), a LIP fetch job (``lip``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from web4.agent import (
    AgentLoop,
    AgentLoopConfig,
    Context,
    Decision,
    InboundMessage,
    InMemoryMemory,
    Outbound,
    SenderState,
)
from web4.cip.builder import CipBuilder
from web4.cip.gossip import GossipService
from web4.cip.messages import SenderState as CipState
from web4.clock import FakeClock, SeededRng, SystemClock, SystemRng
from web4.errors import StoreError
from web4.identity import Identity
from web4.isolation import PeerTaskFailures
from web4.lip.runtime import LipRuntime, LipSettings
from web4.node.discovery import PeerFinder
from web4.node.rtt_link import fingerprint_of_peer_id
from web4.observability import EventBus
from web4.router import RouteResult
from web4.rtt.gossip import GossipMessage, GossipStats, GossipVerdict, GossipView, message_id
from web4.store import Store
from web4.trust import TrustBook, TrustState

RELAY = Identity(bytes([3]) * 32, "relay")
PEER = Identity(bytes([4]) * 32, "peer")


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __call__(self, kind: str, **attrs: Any) -> None:
        self.events.append((kind, attrs))

    def failed(self) -> list[dict[str, Any]]:
        return [a for k, a in self.events if k == "node.peer_task_failed"]


def _run(coro: Callable[[], Coroutine[Any, Any, None]]) -> None:
    async def main() -> None:
        async with asyncio.timeout(10):
            await coro()

    asyncio.run(main())


# --- gossip: one message ------------------------------------------------------------


class _Port:
    def __init__(self, batch: list[GossipMessage]) -> None:
        self.batch = batch
        self.reports: list[tuple[str, GossipVerdict]] = []
        self.polls = 0

    def subscribe(self, topic: str) -> None: ...

    async def publish(self, topic: str, data: bytes, timeout: float | None = None) -> str | None:
        return None

    async def receive(self, max_messages: int = 64, timeout: float = 1.0) -> list[GossipMessage]:
        self.polls += 1
        batch, self.batch = self.batch, []
        return batch

    def report(self, msg: GossipMessage, verdict: GossipVerdict) -> None:
        self.reports.append((msg.id, verdict))

    def set_app_score(self, peer_id: str, score: float) -> None: ...

    def stats(self) -> GossipStats:
        return GossipStats(0, 0, 0, 0, 0, 0, 0, 0)

    def view(self) -> GossipView:
        return GossipView({}, {}, {})


class _Router:
    """Routes like a router with a bug: bytes with ``boom`` raise ``error``."""

    _on_fault: Any = None

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def route(self, data: bytes, **kw: Any) -> RouteResult:
        if b"boom" in data:
            raise self.error
        return RouteResult("routed", "cip", "FACT_PROPOSE")


def _gossip(error: Exception, failures: PeerTaskFailures | None) -> tuple[GossipService, _Port]:
    msgs = [
        GossipMessage(message_id(d), RELAY.peer_id, "/web4/cip/physics", d)
        for d in (b"boom", b"fine")
    ]
    port = _Port(msgs)
    store = Store.open(":memory:")
    clock = FakeClock()

    async def durable() -> None: ...

    service = GossipService(
        gossip=port, router=_Router(error), builder=CipBuilder(PEER, clock=clock,  # type: ignore[arg-type]
        rng=SeededRng(1)), trust=TrustBook(store, clock), bus=EventBus("me", clock=clock),
        state=lambda: CipState(presence="focused", lri=1), durable=durable,
        claim_domain=lambda ref, h: None, fingerprint_of=fingerprint_of_peer_id,
        on_fault=lambda f: None, isolate=None if failures is None else failures.isolate,
    )  # fmt: skip
    return service, port


def test_a_bug_on_one_gossip_message_ignores_it_and_the_next_is_judged() -> None:
    rec = Recorder()
    failures = PeerTaskFailures(rec, FakeClock().monotonic)
    service, port = _gossip(TypeError("planted"), failures)
    _run(lambda: service.run(lambda: port.polls < 2, tick=0.01))
    ids = [m for m, _ in port.reports]
    assert [v for _, v in port.reports] == [GossipVerdict.IGNORE, GossipVerdict.ACCEPT]
    assert ids[0] == message_id(b"boom")
    (failed,) = rec.failed()
    assert failed["task"] == "gossip"
    assert failed["error"] == "TypeError"
    assert failed["peer"] == RELAY.fingerprint  # the forwarder, never scored down for it


@pytest.mark.parametrize("isolated", [True, False])
def test_a_store_error_or_no_isolate_still_propagates_out_of_gossip(isolated: bool) -> None:
    failures = PeerTaskFailures(Recorder(), FakeClock().monotonic)
    error: Exception = StoreError("fsync failed") if isolated else TypeError("planted")
    service, port = _gossip(error, failures if isolated else None)
    with pytest.raises(type(error)):
        _run(lambda: service.run(lambda: port.polls < 2, tick=0.01))


# --- discovery: one dial ------------------------------------------------------------


class _Host:
    def __init__(self) -> None:
        self.bus = EventBus("me", clock=FakeClock())
        self.conns: dict[str, Any] = {}
        self.fingerprint = "00" * 32
        self.send_timeout = 1.0

    def running(self) -> bool:
        return True

    async def sleep(self, seconds: float) -> None: ...

    def now(self) -> float:
        return 0.0

    def start_peer(self, session: Any, role: Any, *, serve_inline: bool = False) -> Any:
        return None

    async def serve_peer(self, conn: Any) -> None: ...


class _Book:
    def discovered(self) -> list[tuple[str, list[str], str]]:
        return []

    def addrs_of(self, peer_id: str) -> list[str]:
        return []

    async def lookup(self, peer_id: str, *, timeout: float) -> list[str]:
        return []


async def _buggy_connect(addr: str, *, timeout: float) -> Any:
    raise TypeError("planted: connect() got an unexpected keyword argument")


def _finder(failures: PeerTaskFailures | None) -> PeerFinder:
    return PeerFinder(
        _Host(), _Book(), _buggy_connect, min_peers=1, max_peers=4, configured=(), anchors=(),
        trust_of=lambda fp: TrustState.UNTRUSTED,
        isolate=None if failures is None else failures.isolate,
    )  # fmt: skip


def test_a_bug_dialling_one_discovered_peer_ends_that_dial_only() -> None:
    rec = Recorder()
    finder = _finder(PeerTaskFailures(rec, FakeClock().monotonic))
    finder._dialling.add(PEER.fingerprint)
    addr = f"/ip4/127.0.0.1/tcp/9/p2p/{PEER.peer_id}"
    _run(lambda: finder._dial(PEER.fingerprint, PEER.peer_id, [addr], "mdns"))
    (failed,) = rec.failed()
    assert (failed["peer"], failed["task"]) == (PEER.fingerprint, "discovery")
    assert PEER.fingerprint not in finder._dialling
    assert PEER.fingerprint in finder._cooldown  # not dialled again at the next round
    bare = _finder(None)  # without isolation (a library user): it propagates as before
    with pytest.raises(TypeError):
        _run(lambda: bare._dial(PEER.fingerprint, PEER.peer_id, [addr], "mdns"))


# --- the agent loop: one item -------------------------------------------------------


class _Unusable:
    """An agent whose ``act`` returns something that is not an ``ActionResult`` for a
    message from ``bad``: the loop fails outside any hook."""

    mission = "verify facts and share verified knowledge"

    def __init__(self) -> None:
        self.acted: list[str] = []

    def gather_context(self, item: Any, base: Context) -> Context:
        return base

    def decide(self, context: Context) -> Decision:
        return Decision(choice="verify facts", steps=("think",), evidence=("msg",))

    def act(self, decision: Decision, context: Context) -> Any:
        peer = getattr(context.item, "peer", "")
        self.acted.append(peer)
        return None if peer == "bad" else _ok()

    def record(self, decision: Decision, result: Any, context: Context) -> Any:
        from web4.agent import DecisionRecord
        from web4.cip.messages import DmpTrace

        return DecisionRecord(DmpTrace(decision.decision_id, ["think"], [], []), "ok")

    def update_state(self, decision: Decision, result: Any, context: Context) -> None:
        return None


def _ok() -> Any:
    from web4.agent import ActionResult

    return ActionResult("done", ())


def _loop(agent: _Unusable, failures: PeerTaskFailures | None) -> AgentLoop:
    async def state(u: SenderState) -> None: ...

    async def out(o: Outbound) -> None: ...

    return AgentLoop(
        agent,  # type: ignore[arg-type]
        emit=EventBus("me", clock=FakeClock()).emit, memory=InMemoryMemory(),
        state_sender=state, outbound_sender=out, clock=FakeClock(),
        config=AgentLoopConfig(idle_poll=0.02, sample_interval=0.05),
        isolate=None if failures is None else failures.isolate,
    )  # fmt: skip


def _item(peer: str) -> InboundMessage:
    return InboundMessage("cip", "FACT_PROPOSE", peer, {"fact": {}}, f"m-{peer}")


async def _drive(loop: AgentLoop, agent: _Unusable) -> None:
    task = asyncio.create_task(loop.run())
    for peer in ("bad", "good"):
        assert loop.offer(_item(peer))
    while len(agent.acted) < 2 and not task.done():
        await asyncio.sleep(0.01)
    loop.stop()
    await task


def test_a_bug_in_one_agent_cycle_drops_that_item_and_the_loop_goes_on() -> None:
    rec, agent = Recorder(), _Unusable()
    loop = _loop(agent, PeerTaskFailures(rec, FakeClock().monotonic))
    _run(lambda: _drive(loop, agent))
    assert agent.acted == ["bad", "good"]
    (failed,) = rec.failed()
    assert (failed["peer"], failed["task"], failed["error"]) == ("bad", "agent", "AttributeError")
    bare_agent = _Unusable()
    with pytest.raises(ExceptionGroup):  # without isolation: out of run(), as before
        _run(lambda: _drive(_loop(bare_agent, None), bare_agent))


# --- a node's parts for the protocol runtimes (LIP, HCP) ---------------------------


@dataclass
class _Node:
    rec: Recorder
    failures: PeerTaskFailures
    identity: Identity
    store: Store

    @staticmethod
    async def send(peer: str, channel: str, data: bytes) -> None: ...


@pytest.fixture
def node(tmp_path: Path) -> Iterator[_Node]:
    rec = Recorder()
    store = Store.in_data_dir(tmp_path / "n", synchronous="OFF")
    identity = Identity.create_in_data_dir(tmp_path / "n", "n")
    yield _Node(rec, PeerTaskFailures(rec, FakeClock().monotonic), identity, store)
    store.close()


# --- LIP: one fetch job -------------------------------------------------------------


def test_a_bug_in_one_lip_job_ends_that_job_and_the_worker_takes_the_next(node: _Node) -> None:
    rec = node.rec
    rt = LipRuntime(
        node.identity, node.store, rec, SystemClock(), SystemRng(), send=node.send, peers=list,
        trust_of=lambda fp: "trusted", presence=lambda: "engaged", lri=lambda: 10,
        settings=LipSettings(workers=1), isolate=node.failures.isolate,
    )  # fmt: skip
    done: list[str] = []

    async def learn(uri: str) -> None:
        if "boom" in uri:
            raise KeyError("planted: a parser bug on this page")
        done.append(uri)

    rt._do_learn = learn  # type: ignore[method-assign]

    async def main() -> None:
        rt.learn("https://example.org/boom")
        rt.learn("https://example.org/fine")
        worker = asyncio.create_task(rt._worker(lambda: not done, 0.01))
        await worker

    _run(main)
    assert done == ["https://example.org/fine"]
    (failed,) = rec.failed()
    assert (failed["task"], failed["error"]) == ("lip", "KeyError")


# --- HCP: one human's agenda --------------------------------------------------------


class _Agenda:
    def __init__(self) -> None:
        self.cleared = 0

    def due(self, now: float) -> bool:
        return self.cleared == 0

    def clear(self) -> None:
        self.cleared += 1


def test_a_bug_draining_one_humans_agenda_is_isolated_and_not_met_every_tick(
    node: _Node,
) -> None:
    from web4.agent import AgentLoop as Loop
    from web4.hcp.runtime import HcpLipRuntime, _Human

    rec, store = node.rec, node.store
    agent = _Unusable()
    loop: Loop = _loop(agent, None)
    rt = HcpLipRuntime(
        node.identity, store, TrustBook(store, SystemClock()), loop, rec, SystemClock(),
        SystemRng(), send=node.send, peers=list, isolate=node.failures.isolate,
    )  # fmt: skip
    human = _Human(None, "link", "dana")  # type: ignore[arg-type]
    agenda = _Agenda()
    human.agenda = agenda  # type: ignore[assignment]
    rt.humans[PEER.fingerprint] = human
    rt._authorized = lambda fp: True  # type: ignore[method-assign]
    drains: list[str] = []

    async def drain(fp: str, h: Any, now: float) -> list[Any]:
        drains.append(fp)
        raise AttributeError("planted: 'NoneType' object has no attribute 'gate'")

    rt._drain = drain  # type: ignore[method-assign]
    ticks = iter(range(20))
    _run(lambda: rt.run(lambda: next(ticks, None) is not None, tick=0.01))
    assert drains == [PEER.fingerprint]  # once: the agenda that met the bug is dropped
    assert agenda.cleared == 1
    (failed,) = rec.failed()
    assert (failed["peer"], failed["task"], failed["error"]) == (
        PEER.fingerprint,
        "hcp",
        "AttributeError",
    )
