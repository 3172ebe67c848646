"""One web4 node of the end-to-end benchmark (``bench_e2e.py`` starts two of these).

``responder``: a node whose agent answers every ``INTENT`` whose topic starts ``q`` with a
signed ``DECISION_SHARE`` to the sender (choice = the topic), and every 64th ``INTENT``
whose topic starts ``w`` with an ``ack`` share (the one-way phase's flow control: the
agent inbox holds 256 items and drops past that).

``requester``: a node that dials the responder, then (1) sends ``INTENT`` ``q<i>`` and waits
for the matching ``DECISION_SHARE`` to reach its own agent, ``--n`` times one after the
other (round trips); (2) sends ``--one-way`` ``INTENT`` ``w<i>`` back to back, at most
``--window`` unacknowledged, and times them until the last ack. It prints one JSON line.

Both run the whole node (``web4.Node``): RTT, the router (throttle, decode, schema,
signature, receiver, timestamp, persistent replay cache, trust gate), the agent loop
(mission scoring, DMP trace in causal memory) and the store, with ``synchronous=FULL``.
The router's per-peer throttle (200 msg/s by default, a policy against floods) is lifted
on both nodes with ``--throttle-rate``: this measures the pipeline, not the policy.
``--inline-fsync`` opens the store as the node did before group commit (every COMMIT
fsyncs on the event loop; nothing to wait for before a send): the "before" figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import web4
from web4.agent import Agent, AgentContext, DecisionShared, IntentReceived
from web4.cip import messages as cm
from web4.node.config import AgentSettings
from web4.router.throttle import ThrottleConfig, TokenBuckets

ACK_EVERY = 64


class Responder(Agent):
    mission = "answer benchmark questions from peers"

    def __init__(self) -> None:
        self.seen = 0

    def on_intent(self, ctx: AgentContext, intent: IntentReceived) -> None:
        topic = intent.payload.topic
        if topic.startswith("q"):
            ctx.share_decision(topic, steps=["answer"], peer=intent.peer)
        elif topic.startswith("w"):
            self.seen += 1
            if int(topic[1:]) % ACK_EVERY == ACK_EVERY - 1:
                ctx.share_decision(f"ack {topic}", steps=["ack"], peer=intent.peer)


class Requester(Agent):
    mission = "ask benchmark questions"

    def __init__(self) -> None:
        self.waiting: dict[str, asyncio.Future[float]] = {}

    def on_decision_shared(self, ctx: AgentContext, shared: DecisionShared) -> None:
        fut = self.waiting.pop(shared.payload.decision.choice, None)
        if fut is not None and not fut.done():
            fut.set_result(time.perf_counter())


def _lift_throttle(node: web4.Node, rate: float) -> None:
    if rate > 0:
        node.router._buckets = TokenBuckets(ThrottleConfig(rate=rate, burst=rate))


def _config(data_dir: Path, peers: tuple[str, ...], trust: str) -> web4.NodeConfig:
    return web4.NodeConfig(
        data_dir=data_dir,
        peers=peers,
        console=False,
        trust_anchors=(trust,),
        agent=AgentSettings(state_interval=5.0),
    )


async def responder(args: argparse.Namespace) -> None:
    agent = Responder()
    async with web4.Node(_config(args.data_dir, (), args.trust), agent=agent) as node:
        _lift_throttle(node, args.throttle_rate)
        print(json.dumps({"listen": node.listen_addrs[0]}), flush=True)
        done = asyncio.Event()  # until the benchmark sends SIGTERM
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, done.set)
        await done.wait()
        print(json.dumps({"one_way_seen": agent.seen}), flush=True)


async def _ask(node: web4.Node, agent: Requester, peer: str, topic: str) -> asyncio.Future[float]:
    fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
    agent.waiting[topic] = fut
    await node.send("INTENT", cm.Intent(goal="ask", topic=topic), peer=peer)
    return fut


async def requester(args: argparse.Namespace) -> None:
    agent = Requester()
    cfg = _config(args.data_dir, (args.peer,), args.trust)
    async with web4.Node(cfg, agent=agent) as node:
        _lift_throttle(node, args.throttle_rate)
        await node.wait_for_peer(timeout=30)
        if not node.ready_peers():
            raise SystemExit("requester: no CIP handshake with the responder in 30 s")
        peer = node.ready_peers()[0].peer
        for i in range(args.warmup):  # handshake settled, caches warm
            await asyncio.wait_for(await _ask(node, agent, peer, f"qw{i}"), 10)
        rtts: list[float] = []
        for i in range(args.n):
            t0 = time.perf_counter()
            t1 = await asyncio.wait_for(await _ask(node, agent, peer, f"q{i}"), 10)
            rtts.append((t1 - t0) * 1e6)
        one_way = 0.0
        if args.one_way:
            n = args.one_way - args.one_way % ACK_EVERY
            acks: list[asyncio.Future[float]] = []
            t0 = time.perf_counter()
            for i in range(n):
                if i % ACK_EVERY == 0:
                    k = i + ACK_EVERY - 1
                    fut: asyncio.Future[float] = asyncio.get_running_loop().create_future()
                    agent.waiting[f"ack w{k}"] = fut
                    acks.append(fut)
                    # at most `window` messages unacknowledged
                    behind = len(acks) - 1 - args.window // ACK_EVERY
                    if behind >= 0:
                        await asyncio.wait_for(acks[behind], 30)
                await node.send("INTENT", cm.Intent(goal="learn", topic=f"w{i}"), peer=peer)
            await asyncio.wait_for(acks[-1], 30)
            one_way = n / (time.perf_counter() - t0)
        out: dict[str, Any] = {"rtt_us": rtts, "one_way_msgs_per_s": one_way}
        print(json.dumps(out), flush=True)


def _inline_fsync() -> None:
    """The store as before group commit: ``Store.in_data_dir`` without ``group_commit``
    (``synchronous=FULL``, ``durable()`` then returns at once)."""
    import web4.node.node as node_module

    opened = node_module.Store.in_data_dir

    def inline(data_dir: Any, **kwargs: Any) -> Any:
        kwargs.pop("group_commit", None)
        return opened(data_dir, **kwargs)

    node_module.Store.in_data_dir = inline  # type: ignore[method-assign]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("role", choices=["responder", "requester"])
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--trust", required=True, help="the other node's fingerprint")
    p.add_argument("--peer", default="", help="requester: the responder's address")
    p.add_argument("--n", type=int, default=5000, help="round trips")
    p.add_argument("--warmup", type=int, default=200)
    p.add_argument("--one-way", type=int, default=20000, help="one-way messages")
    p.add_argument("--window", type=int, default=192, help="one-way: most unacknowledged")
    p.add_argument("--throttle-rate", type=float, default=1e6)
    p.add_argument("--inline-fsync", action="store_true", help="the store before group commit")
    args = p.parse_args()
    if args.inline_fsync:
        _inline_fsync()
    asyncio.run(responder(args) if args.role == "responder" else requester(args))


if __name__ == "__main__":
    main()
