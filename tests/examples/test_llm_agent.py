"""The llm agent's handlers against a real loopback server speaking the chat-completions
API: model output validated before any action, a down or slow model degrading to a clear
HCP reply (or an abstention), never an exception."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from examples_world import Mesh, ctx_for
from fake_chat_server import FakeChatServer, Reply, Request, completion
from llm.agent import LlmAgent, make
from llm.client import ModelConfig

from web4.agent import AgentContext, AgentOptions, HumanMessage, IntentReceived
from web4.agent.api import FactProposed
from web4.cip import messages as cm
from web4.cip.claims import claim_hash
from web4.errors import ConfigError
from web4.hcp.messages import HcpContext, HcpIntent, HumanState
from web4.hcp.responder import Planned
from web4.store import Store

STATE = HumanState("focused", "calm", 80, 20, "learn", "granted")
REPLY = {
    "decision": "Water boils at 100 degrees Celsius at sea level.",
    "rationale": "It is among the statements the node accepted.",
    "alternatives": ["At altitude it boils at a lower temperature."],
}
FACT = {
    "statement": "Copper conducts electricity",
    "domain": "physics",
    "confidence": 0.95,
    "sources": ["https://example.org/copper"],
    "steps": ["copper is a metal with free electrons"],
    "counterfactuals": ["copper is an insulator"],
    "evidence": ["https://example.org/copper"],
}


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Mesh]:
    store = Store.in_data_dir(tmp_path / "node", synchronous="OFF")
    yield Mesh(store)
    store.close()


def by_schema(outputs: dict[str, Any]) -> Callable[[Request], Reply]:
    """A model that answers each kind of request (by its schema's name) with ``outputs``."""

    def respond(req: Request) -> Reply:
        name = req.body["response_format"]["json_schema"]["name"]
        out = outputs[name]
        return out if isinstance(out, Reply) else completion(json.dumps(out))

    return respond


def run(agent: LlmAgent, handler: str, ctx: AgentContext, event: object) -> None:
    async def main() -> None:
        try:
            await getattr(agent, handler)(ctx, event)
        finally:
            await agent.aclose()

    asyncio.run(main())


def said(text: str) -> HumanMessage:
    payload = HcpContext(context=text, constraints=[], shared_history=[])
    return HumanMessage(
        "d" * 64, "Dana", str(uuid.uuid4()), "HCP_CONTEXT", payload, STATE, "granted", (), None
    )


def human(ctx: AgentContext) -> list[Planned]:
    return [a.payload for a in ctx.actions if a.kind == "human"]


def proposal(peer: str) -> FactProposed:
    payload = cm.FactPropose(
        cm.Fact("Copper conducts electricity", "physics", 0.9, ["https://example.org/cu"]),
        cm.DmpTrace(str(uuid.uuid4()), ["measured it"], [], ["https://example.org/cu"]),
    )
    return FactProposed(
        peer, str(uuid.uuid4()), claim_hash(peer, msgspec.to_builtins(payload)), payload
    )


def test_a_human_question_gets_the_models_checked_answer(mesh: Mesh) -> None:
    mesh.claim("Water boils at 100 degrees Celsius at sea level")
    with FakeChatServer(by_schema({"ReplyDraft": REPLY})) as srv:
        ctx = ctx_for(mesh)
        run(LlmAgent(ModelConfig(srv.url, "tiny")), "on_human", ctx, said("When does water boil?"))
    (planned,) = human(ctx)
    assert planned.kind == "decision"
    assert planned.text == REPLY["decision"]
    assert planned.rationale.startswith(REPLY["rationale"])
    assert "drafted by the language model tiny" in planned.rationale
    assert planned.alternatives == tuple(REPLY["alternatives"])
    prompt = srv.requests[0].body["messages"][1]["content"]
    assert "When does water boil?" in prompt
    assert "- Water boils at 100 degrees Celsius at sea level" in prompt  # accepted knowledge


def test_a_down_model_is_a_clear_reply_to_the_human(mesh: Mesh) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    ctx = ctx_for(mesh)
    run(LlmAgent(ModelConfig(url, "tiny")), "on_human", ctx, said("When does water boil?"))
    (planned,) = human(ctx)
    assert planned.kind == "reply"
    assert planned.text.startswith("My language model cannot answer right now")
    assert url in planned.text


def test_a_slow_model_is_a_clear_reply_within_the_deadline(mesh: Mesh) -> None:
    with FakeChatServer(lambda _r: Reply(delay_s=5.0)) as srv:
        ctx = ctx_for(mesh)
        agent = LlmAgent(ModelConfig(srv.url, "tiny", read_timeout_s=0.3, total_timeout_s=1.0))
        assert agent.handler_timeout > agent.config.total_timeout_s
        run(agent, "on_human", ctx, said("When does water boil?"))
    (planned,) = human(ctx)
    assert "cannot answer right now" in planned.text


def test_an_answer_in_the_wrong_shape_is_not_passed_on(mesh: Mesh) -> None:
    bad = {"decision": "Yes", "rationale": "", "alternatives": []}
    with FakeChatServer(by_schema({"ReplyDraft": bad})) as srv:
        ctx = ctx_for(mesh)
        run(LlmAgent(ModelConfig(srv.url, "tiny")), "on_human", ctx, said("Is it?"))
    (planned,) = human(ctx)
    assert planned.kind == "reply"
    assert "not in a form I can check" in planned.text
    assert "Yes" not in planned.text


def test_a_human_request_becomes_a_proposal_with_the_models_trace(mesh: Mesh) -> None:
    intent = HcpIntent(goal="request", topic="physics/metals", priority="normal")
    msg = HumanMessage(
        "d" * 64,
        "Dana",
        str(uuid.uuid4()),
        "HCP_INTENT",
        intent,
        STATE,
        "granted",
        (),
        "physics/metals",
    )
    with FakeChatServer(by_schema({"FactDraft": FACT})) as srv:
        ctx = ctx_for(mesh)
        run(LlmAgent(ModelConfig(srv.url, "tiny")), "on_human", ctx, msg)
    assert [a.kind for a in ctx.actions] == ["propose", "human"]
    p = ctx.actions[0].payload
    assert p.fact.statement == "Copper conducts electricity"
    assert p.fact.sources == ["https://example.org/copper"]
    assert p.dmp_trace.steps[0].startswith("drafted by the language model tiny")
    assert p.dmp_trace.counterfactuals == ["copper is an insulator"]
    (planned,) = human(ctx)
    assert planned.text == "I proposed to my peers: Copper conducts electricity"
    assert "two peers I trust" in planned.rationale


@pytest.mark.parametrize(
    ("vote", "expected"),
    [
        ({"decision": "confirm", "confidence": 0.9, "reason": "true"}, "FactConfirm"),
        ({"decision": "reject", "confidence": 0.9, "reason": "false"}, "FactReject"),
        ({"decision": "challenge", "confidence": 0.9, "reason": "unclear"}, "FactChallenge"),
        ({"decision": "confirm", "confidence": 0.3, "reason": "a guess"}, None),  # abstains
        ({"decision": "perhaps", "confidence": 0.9, "reason": "?"}, None),  # invalid: abstains
    ],
)
def test_a_peers_claim_gets_the_models_vote_with_its_reason(
    mesh: Mesh, vote: dict[str, Any], expected: str | None
) -> None:
    with FakeChatServer(by_schema({"VoteDraft": vote})) as srv:
        ctx = ctx_for(mesh)
        run(LlmAgent(ModelConfig(srv.url, "tiny")), "on_fact_proposed", ctx, proposal(mesh.bob))
    assert [type(a.payload).__name__ for a in ctx.actions] == ([expected] if expected else [])
    if expected:
        assert ctx.actions[0].payload.notes.startswith(vote["reason"])
    assert "Copper conducts electricity" in srv.requests[0].body["messages"][1]["content"]


def test_a_down_model_casts_no_vote(mesh: Mesh) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    ctx = ctx_for(mesh)
    run(LlmAgent(ModelConfig(url, "tiny")), "on_fact_proposed", ctx, proposal(mesh.bob))
    assert ctx.actions == []


def test_a_trusted_peers_ask_is_answered_with_a_drafted_proposal(mesh: Mesh) -> None:
    ask = cm.Intent("ask", "question: copper", "normal", "Does copper conduct electricity?")
    with FakeChatServer(by_schema({"FactDraft": FACT})) as srv:
        trusted, untrusted = ctx_for(mesh), ctx_for(mesh)
        run(
            LlmAgent(ModelConfig(srv.url, "m")),
            "on_intent",
            trusted,
            IntentReceived(mesh.bob, None, ask),
        )
        run(
            LlmAgent(ModelConfig(srv.url, "m")),
            "on_intent",
            untrusted,
            IntentReceived(mesh.mallory, None, ask),
        )
    assert [a.kind for a in trusted.actions] == ["propose"]
    assert untrusted.actions == []
    assert len(srv.requests) == 1


def test_the_factory_needs_a_url_and_a_model() -> None:
    agent = make(
        AgentOptions(
            options={
                "url": "http://127.0.0.1:11434/v1",
                "model": "qwen2.5:7b",
                "total_timeout": "20",
                "json_mode": "json_object",
            }
        )
    )
    assert agent.config.model == "qwen2.5:7b"
    assert agent.config.total_timeout_s == 20.0
    assert agent.config.json_mode == "json_object"
    with pytest.raises(ConfigError, match="name the model server"):
        make(AgentOptions(options={"model": "m"}))
    with pytest.raises(ConfigError):
        make(
            AgentOptions(options={"url": "http://127.0.0.1:1/v1", "model": "m", "json_mode": "xml"})
        )
    with pytest.raises(ConfigError):
        make(
            AgentOptions(
                options={"url": "http://127.0.0.1:1/v1", "model": "m", "read_timeout": "soon"}
            )
        )
