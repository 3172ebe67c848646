"""The two-agent demo and the metrics endpoint, in real processes over real RTT.

* `web4 demo --json`: exit 0, the summary says ok, and EVERY event both nodes emitted
  validates against the published schema `docs/schemas/events.schema.json`.
* `/metrics` scraped over real HTTP while two nodes talk: nonzero RTT latency (from the
  transport's heartbeat round trips) and nonzero routed messages.
"""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path

import jsonschema
import pytest

from support.nodeproc import NodeProc, keygen, web4
from web4.cli.demo import run_demo

SCHEMA = Path(__file__).resolve().parents[3] / "docs" / "schemas" / "events.schema.json"

pytestmark = pytest.mark.timeout(90)


def test_demo_json_events_all_validate_and_the_summary_is_ok() -> None:
    demo = web4("demo", "--json", timeout=60)
    assert demo.returncode == 0, demo.stderr[-2000:]
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA.read_text()))
    events, notes, summary = [], [], None
    for line in demo.stdout.splitlines():
        doc = json.loads(line)  # --json output is JSON lines only
        if set(doc) == {"source", "text"}:  # a non-event line (the scripted human's terminal)
            if doc["source"] == "demo":
                notes.append(doc["text"])
            continue
        if "demo_summary" in doc:
            summary = doc["demo_summary"]
            continue
        if len(doc) == 1 and next(iter(doc)).startswith("demo_"):  # another step's summary
            continue
        validator.validate(doc)
        events.append(doc)
    assert summary is not None
    assert summary["result"] == "ok"
    assert summary["alice"]["trust"]["bob"] == "trusted"
    assert summary["bob"]["trust"]["alice"] == "probing"
    kinds = {(e["node"], e["kind"]) for e in events}
    for node in ("alice", "bob"):
        for kind in (
            "node.started",
            "rtt.session_open",
            "cip.handshake.verified",
            "cip.handshake.state_received",
            "cip.handshake.done",
            "node.stopped",
        ):
            assert (node, kind) in kinds
    assert ("alice", "cip.intent.received") in kinds  # bob declared its INTENT
    assert ("alice", "knowledge.claim_disputed") in kinds
    pending = [e for e in events if e["node"] == "alice" and e["kind"] == "knowledge.claim_pending"]
    assert {e["attributes"]["has"] for e in pending} == {0, 1}
    assert all(e["attributes"]["needs"] == 2 for e in pending)
    assert len(events) > 40
    # both nodes run named example agents
    assert notes == ["alice runs examples/librarian, bob runs examples/belief"]
    missions = {
        e["node"]: e["attributes"]["mission"] for e in events if e["kind"] == "agent.started"
    }
    assert missions == {
        "alice": "answer people's questions from the knowledge this node has accepted",
        "bob": "exchange and verify knowledge with peers",
    }
    assert summary["librarian"] == "ran"


def test_demo_without_examples_runs_the_built_in_belief_agent_and_says_why_no_librarian(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = run_demo(as_json=True, timeout=60.0, examples=tmp_path / "none")
    out = capsys.readouterr().out
    docs = [json.loads(line) for line in out.splitlines()]  # still JSON lines only
    assert code == 0, out[-3000:]
    notes = [d["text"] for d in docs if d.get("source") == "demo"]
    assert notes[0] == "alice runs belief (built in), bob runs belief (built in)"
    assert notes[1].startswith("the librarian step is skipped: ")
    assert "examples/" in notes[1]
    assert not any(d.get("source") == "dana" for d in docs)  # no librarian session
    assert any(d.get("source") == "human" for d in docs)  # the HCP conversation still runs
    (summary,) = [d["demo_summary"] for d in docs if "demo_summary" in d]
    assert summary["result"] == "ok"
    assert summary["librarian"] == "skipped"
    assert summary["alice"]["trust"]["bob"] == "trusted"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def sample(text: str, name: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and not line.startswith("#"):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_metrics_over_http_while_two_nodes_talk(tmp_path: Path) -> None:
    (a_dir, _), (b_dir, _) = keygen(tmp_path, "alice"), keygen(tmp_path, "bob")
    # The node does not report a --metrics-port 0 choice, so a free port is picked here;
    # another process may take it before the node binds it: then a fresh one is tried.
    for attempt in range(3):
        port = free_port()
        alice = NodeProc(
            a_dir,
            "--listen",
            "/ip4/127.0.0.1/tcp/0",
            "--metrics-port",
            str(port),
            "--believe",
            "grass is green",
        )
        try:
            alice.addr()
            break
        except AssertionError:
            alice.kill()
            if attempt == 2:
                raise
    nodes = [alice]
    try:
        bob = NodeProc(b_dir, "--peer", alice.addr(), "--propose", "grass is green|botany|0.8")
        nodes.append(bob)
        alice.kind("knowledge.claim_pending")
        deadline = time.monotonic() + 20
        latency = routed = 0.0
        while time.monotonic() < deadline and not (latency > 0 and routed > 0):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                text = r.read().decode()
            latency = sample(text, "web4_rtt_latency_p50_seconds")
            routed = sample(text, "web4_router_routed_total")
            time.sleep(0.5)
        assert latency > 0, "no RTT latency in /metrics"
        assert routed > 0, "no routed messages in /metrics"
        assert sample(text, 'web4_trust_peers{state="probing"}') >= 1
        for node in nodes:
            assert node.stop() == 0
    finally:
        for node in nodes:
            node.kill()
