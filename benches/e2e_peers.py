"""The baselines of the end-to-end benchmark, each side in its own process.

``a2a-server PORT``: the A2A Python SDK's JSON-RPC server (``a2a-sdk``, its Starlette
routes under uvicorn on loopback) whose agent answers every message with a text message.
``a2a-client URL``: the SDK's client (``ClientFactory``, non-streaming) sending messages
with ``send_message`` and reading the agent's answer: ``--n`` one after the other (round
trips), then ``--one-way`` with ``--window`` in flight (messages per second). The server
keeps tasks in memory (``InMemoryTaskStore``), signs nothing and persists nothing: what
A2A users get by default.

``raw-server PORT`` / ``raw-client PORT``: asyncio TCP streams with 4-byte length framing,
64-byte messages echoed (the floor: two processes, no crypto, no parsing). Each client
prints one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import struct
import time
from typing import Any

WARMUP = 200


def _card(url: str) -> Any:
    from a2a.types import AgentCapabilities, AgentCard, AgentInterface, AgentSkill

    return AgentCard(
        name="bench",
        description="answers benchmark questions",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(protocol_binding="JSONRPC", url=url, protocol_version="1.0")
        ],
        capabilities=AgentCapabilities(streaming=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[AgentSkill(id="answer", name="answer", description="answers", tags=["bench"])],
    )


def a2a_server(port: int) -> None:
    import uvicorn
    from a2a.helpers import new_text_message
    from a2a.server.agent_execution import AgentExecutor, RequestContext
    from a2a.server.events import EventQueue
    from a2a.server.request_handlers import DefaultRequestHandler
    from a2a.server.routes import create_agent_card_routes, create_jsonrpc_routes
    from a2a.server.tasks import InMemoryTaskStore
    from starlette.applications import Starlette

    class Answer(AgentExecutor):
        async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
            await event_queue.enqueue_event(new_text_message(context.get_user_input()))

        async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
            raise NotImplementedError("nothing to cancel")

    card = _card(f"http://127.0.0.1:{port}/")
    handler = DefaultRequestHandler(
        agent_executor=Answer(), task_store=InMemoryTaskStore(), agent_card=card
    )
    app = Starlette(routes=[*create_agent_card_routes(card), *create_jsonrpc_routes(handler, "/")])
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


async def a2a_client(url: str, n: int, one_way: int, window: int) -> dict[str, Any]:
    import httpx
    from a2a.client import ClientConfig, ClientFactory
    from a2a.helpers import get_message_text, new_text_message
    from a2a.types import Role, SendMessageRequest

    limits = httpx.Limits(max_connections=window, max_keepalive_connections=window)
    async with httpx.AsyncClient(limits=limits, timeout=30) as http:
        factory = ClientFactory(ClientConfig(streaming=False, httpx_client=http))
        client = await factory.create_from_url(url)

        async def ask(text: str) -> None:
            request = SendMessageRequest(message=new_text_message(text, role=Role.ROLE_USER))
            answer = ""
            async for event in client.send_message(request):
                answer = get_message_text(event.message)
            if answer != text:
                raise RuntimeError(f"A2A answered {answer!r} to {text!r}")

        for i in range(WARMUP):
            await ask(f"w{i}")
        rtts: list[float] = []
        for i in range(n):
            t0 = time.perf_counter()
            await ask(f"q{i}")
            rtts.append((time.perf_counter() - t0) * 1e6)
        rate = 0.0
        if one_way:
            slots = asyncio.Semaphore(window)

            async def one(i: int) -> None:
                async with slots:
                    await ask(f"o{i}")

            t0 = time.perf_counter()
            await asyncio.gather(*(one(i) for i in range(one_way)))
            rate = one_way / (time.perf_counter() - t0)
    return {"rtt_us": rtts, "one_way_msgs_per_s": rate}


async def raw_server(port: int) -> None:
    async def echo(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await r.readexactly(4)
                w.write(head + await r.readexactly(struct.unpack(">I", head)[0]))
        except (asyncio.IncompleteReadError, ConnectionError):
            w.close()

    server = await asyncio.start_server(echo, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


async def raw_client(port: int, n: int) -> dict[str, Any]:
    r, w = await asyncio.open_connection("127.0.0.1", port)
    frame = struct.pack(">I", 64) + bytes(64)
    rtts: list[float] = []
    for i in range(WARMUP + n):
        t0 = time.perf_counter()
        w.write(frame)
        await r.readexactly(len(frame))
        if i >= WARMUP:
            rtts.append((time.perf_counter() - t0) * 1e6)
    w.close()
    return {"rtt_us": rtts}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("role", choices=["a2a-server", "a2a-client", "raw-server", "raw-client"])
    p.add_argument("where", help="a port (servers, raw-client) or the A2A server's URL")
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--one-way", type=int, default=5000)
    p.add_argument("--window", type=int, default=64)
    a = p.parse_args()
    if a.role == "a2a-server":
        a2a_server(int(a.where))
    elif a.role == "raw-server":
        asyncio.run(raw_server(int(a.where)))
    else:
        out = (
            asyncio.run(a2a_client(a.where, a.n, a.one_way, a.window))
            if a.role == "a2a-client"
            else asyncio.run(raw_client(int(a.where), a.n))
        )
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
