"""`web4 mesh-demo`: four real node processes running the example agents (and a fifth,
the librarian); the newcomer's fact is accepted by the consensus of anchored peers, which
earns the newcomer no trust; its contradicting statement is disputed and demotes it; a
scripted human asks the librarian and gets the fact the mesh accepted, with its
provenance. Nobody is given a peer to dial: the first node is the DHT's bootstrap and the
others find the mesh through the DHT; knowledge travels directly and by gossip, and the
output says how each node found each peer and how the fact first reached it. Without
`examples/` (an installed package) the belief agent is built in and the librarian step is
skipped, saying why."""

from __future__ import annotations

import json
import re
from itertools import combinations
from pathlib import Path

import jsonschema
import pytest

from support.nodeproc import web4
from web4.agent.loading import available
from web4.cli.demo import EXAMPLES, agent_label, belief_agent, librarian_agent
from web4.cli.mesh_demo import FACT, QUESTION, run_mesh_demo

SCHEMA = Path(__file__).resolve().parents[3] / "docs" / "schemas" / "events.schema.json"

pytestmark = pytest.mark.timeout(90)


def test_mesh_demo_accepts_by_consensus_and_knowledge_buys_no_trust() -> None:
    run = web4("mesh-demo", "--agents", "4", "--json", timeout=80)
    assert run.returncode == 0, run.stderr[-2000:]
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    events, said, summary = [], [], None
    for line in run.stdout.splitlines():
        doc = json.loads(line)  # --json output is JSON lines only
        if set(doc) == {"source", "text"}:  # the demo's notes and the human's terminal
            said.append((doc["source"], doc["text"]))
            continue
        if "mesh_summary" in doc:
            summary = doc["mesh_summary"]
            continue
        validator.validate(doc)
        events.append(doc)
    assert summary is not None
    assert summary["result"] == "ok"
    for name in ("ann", "bo", "cy", "lib"):
        assert summary[name]["newcomer"] == "untrusted"
    # every node runs a named example agent
    assert ("demo", "ann, bo, cy and new run examples/belief; lib runs examples/librarian") in said
    missions = {
        e["node"]: e["attributes"]["mission"] for e in events if e["kind"] == "agent.started"
    }
    assert missions["lib"] == "answer people's questions from the knowledge this node has accepted"
    assert {missions[n] for n in ("ann", "bo", "cy", "new")} == {
        "exchange and verify knowledge with peers"
    }
    # verified knowledge never promoted the newcomer anywhere
    promoted = [
        e
        for e in events
        if e["kind"] == "trust.transition"
        and e["attributes"]["to"] == "trusted"
        and e["attributes"]["event"] == "knowledge_verified"
    ]
    assert promoted == []
    accepted = [e for e in events if e["kind"] == "knowledge.claim_accepted"]
    assert {e["node"] for e in accepted} == {"ann", "bo", "cy", "lib", "new"}
    assert all(e["attributes"]["has"] >= 2 for e in accepted)
    disputed = [e for e in events if e["kind"] == "knowledge.claim_disputed"]
    assert {e["node"] for e in disputed} == {"ann", "bo", "cy", "lib", "new"}
    # the human asked the librarian and got the fact the mesh accepted, with provenance
    dana = [text for who, text in said if who == "dana"]
    assert "you -> HCP_CONTEXT" in dana
    assert f"lib decision: {FACT}" in dana
    fps = {e["node"]: e["attributes"]["fingerprint"] for e in events if e["kind"] == "node.started"}
    lib = summary["librarian"]
    assert (lib["question"], lib["answer"]) == (QUESTION, FACT)
    rationale = lib["rationale"]
    assert rationale.startswith("accepted by this node's knowledge rules")
    assert any(t.strip() == f"rationale:    {rationale}" for t in dana)
    assert f"proposed by {fps['new'][:12]} (untrusted)" in rationale  # demoted by its lie
    for name in ("ann", "bo", "cy"):  # the mesh's confirmations, trusted at the librarian
        assert f"{fps[name][:12]} (trusted)" in rationale
    assert summary["lib"]["claims"] == {
        FACT: "accepted",
        "Light is not faster than sound in air": "disputed",
    }
    # no dial list: ann is the DHT's bootstrap, the others know only its address
    started = {e["node"]: e["attributes"] for e in events if e["kind"] == "node.started"}
    assert all(a["peers"] == [] for a in started.values())
    assert {n: a["bootstrap"] for n, a in started.items()} == {
        "ann": 0, "bo": 1, "cy": 1, "lib": 1, "new": 1,
    }  # fmt: skip
    assert all(a["mdns"].startswith("off") for a in started.values())  # loopback: no LAN
    found = summary["found"]
    names = {"ann", "bo", "cy", "lib", "new"}
    for name in names:  # a full mesh, every peer found by the DHT or dialling in
        assert set(found[name]) == names - {name}
        assert set(found[name].values()) <= {"dht", "inbound"}
    for a, b in combinations(sorted(names), 2):  # each session was a DHT-found dial
        assert "dht" in (found[a][b], found[b][a])
    dials = [e for e in events if e["kind"] == "node.peer_dial"]
    assert {e["attributes"]["source"] for e in dials} == {"dht"}
    # the fact went out on its domain's gossip topic and reached every agent by gossip
    # (first, or as a second copy after the direct one, which the desk drops)
    assert summary["fact_path"].keys() == names - {"new"}
    for path in summary["fact_path"].values():
        assert re.fullmatch(r"direct from new|gossip, (published by new|forwarded by \w+)", path)
    by_gossip = {
        e["node"]
        for e in events
        if e["kind"] == "cip.gossip.delivered"
        and e["attributes"]["type"] == "FACT_PROPOSE"
        and e["attributes"]["topic"] == "/web4/cip/1.0/knowledge/physics"
    }
    assert by_gossip == names - {"new"}


def test_mesh_demo_says_how_each_agent_found_its_peers_and_how_the_fact_travelled() -> None:
    run = web4("mesh-demo", "--agents", "3", timeout=80)  # the readable output
    assert run.returncode == 0, run.stdout[-3000:]
    out = run.stdout.splitlines()
    head = out.index(
        "== how they found each other (nobody had a --peer; ann was the DHT's bootstrap)"
    )
    met = out[head + 1 : head + 5]
    assert [line.split()[0] for line in met] == ["ann", "bo", "lib", "new"]
    for line in met:
        assert re.match(r"\w+ +met 3: ", line), line
        assert "dialled them, found through the DHT: " in line or "inbound: " in line
    assert "dialled them, found through the DHT" in " ".join(met)
    head = out.index("== how the newcomer's fact reached each agent (the first of its copies)")
    for name, line in zip(("ann", "bo", "lib"), out[head + 1 : head + 4], strict=True):
        assert re.fullmatch(
            name + r" +(direct from new|gossip, (published by new|forwarded by \w+)) "
            r"\(new (never )?dialled it\)",
            line,
        ), line
    assert out[-1] == "result: ok"


def test_mesh_demo_refuses_a_size_out_of_range() -> None:
    run = web4("mesh-demo", "--agents", "11")
    assert run.returncode == 2  # a usage error
    assert run.stderr.count("\n") == 1
    assert "3..10" in run.stderr


def test_the_demos_name_their_example_agents() -> None:
    assert belief_agent() == f"{EXAMPLES / 'belief'}:make"
    assert librarian_agent() == (f"{EXAMPLES / 'librarian'}:make", "")
    assert agent_label(belief_agent()) == "examples/belief"
    assert agent_label(librarian_agent()[0] or "") == "examples/librarian"


def test_without_examples_the_belief_agent_is_built_in_and_the_librarian_is_skipped(
    tmp_path: Path,
) -> None:
    # an installed package has no examples/: what `web4 agents` lists is what runs
    assert belief_agent(tmp_path) == "belief"
    assert "belief" in {entry.name for entry in available()}
    assert agent_label("belief", tmp_path) == "belief (built in)"
    spec, why = librarian_agent(tmp_path)
    assert spec is None
    assert why.startswith("the librarian step is skipped: ")
    assert "examples/" in why


def test_mesh_demo_without_examples_runs_the_built_in_belief_agent_and_says_why_no_librarian(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_mesh_demo(3, as_json=True, timeout=60.0, examples=tmp_path / "none")
    out = capsys.readouterr().out
    docs = [json.loads(line) for line in out.splitlines()]  # still JSON lines only
    assert code == 0, out[-3000:]
    notes = [d["text"] for d in docs if d.get("source") == "demo"]
    assert notes[0] == "ann, bo and new run belief (built in)"
    assert notes[1].startswith("the librarian step is skipped: ")
    assert not any(d.get("source") == "dana" for d in docs)
    assert not any(d.get("node") == "lib" for d in docs)
    (summary,) = [d["mesh_summary"] for d in docs if "mesh_summary" in d]
    assert summary["result"] == "ok"
    assert summary["librarian"] == {"skipped": notes[1]}
    for name in ("ann", "bo"):
        assert summary[name]["newcomer"] == "untrusted"
    assert summary["new"]["claims"][FACT] == "accepted"
