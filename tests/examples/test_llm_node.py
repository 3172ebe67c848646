"""The llm agent in a real ``web4 node --agent examples/llm:make`` process, its model a
loopback server speaking the chat-completions API: a peer's claim gets the model's vote,
a human's question the model's checked answer, and once the model server is gone the
human gets a clear reply instead (the node keeps running)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from example_nodes import Node, human, new_human
from fake_chat_server import FakeChatServer, Reply, Request, completion

pytestmark = pytest.mark.slow

COPPER = "Copper conducts electricity"
ANSWER = {
    "decision": "Yes: copper is one of the best electrical conductors.",
    "rationale": "Copper has free electrons; it is used for wiring.",
    "alternatives": ["Silver conducts slightly better but costs more."],
}
VOTE = {"decision": "confirm", "confidence": 0.95, "reason": "copper is a metal used in wires"}


def model(req: Request) -> Reply:
    name = req.body["response_format"]["json_schema"]["name"]
    return completion(json.dumps({"ReplyDraft": ANSWER, "VoteDraft": VOTE}[name]))


def test_the_llm_agent_votes_and_answers_then_degrades_when_the_model_is_gone(
    tmp_path: Path,
) -> None:
    nodes: list[Node] = []
    try:
        with FakeChatServer(model) as srv:
            llm = Node(
                tmp_path,
                "llm",
                "--agent",
                "examples/llm:make",
                "--agent-opt",
                f"url={srv.url}",
                "--agent-opt",
                "model=fake-7b",
            )
            nodes.append(llm)
            proposer = Node(
                tmp_path,
                "p",
                "--peer",
                llm.addr,
                "--trust",
                llm.fingerprint,
                "--propose",
                f"{COPPER}|physics|0.9",
            )
            nodes.append(proposer)
            # the model judged the peer's claim and the node sent its vote
            proposer.kind("knowledge.confirmation", 60.0, decision="confirm")
            votes = [r for r in srv.requests if COPPER in r.body["messages"][1]["content"]]
            assert votes
            assert votes[0].body["model"] == "fake-7b"
            dana = new_human(tmp_path, "dana", llm)
            out = human(dana, llm.addr, ["Does copper conduct electricity?"])
            assert out.returncode == 0, out.stderr
            assert f"decision: {ANSWER['decision']}" in out.stdout
            assert "drafted by the language model fake-7b" in out.stdout
        # the model server is gone: the same question gets a clear reply, no crash
        out = human(dana, llm.addr, ["Does copper conduct electricity?"])
        assert out.returncode == 0, out.stderr
        assert "My language model cannot answer right now" in out.stdout
        assert srv.url in out.stdout
        assert llm.proc.poll() is None
    finally:
        for node in nodes:
            node.stop()
