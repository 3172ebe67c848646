"""``web4 human`` driven by piped input against a real ``web4 node`` process (HCP over RTT).

One node serves every test (each human has its own fresh identity, authorised on the node
with ``web4 human-key add``, so its own session and gate); each test is bounded by the
human process's timeout and the node's deadlines.
"""

from __future__ import annotations

import datetime
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.nodeproc import NodeProc, new_human, run_human

pytestmark = pytest.mark.timeout(90)


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProc]:
    n = NodeProc.new(tmp_path_factory.mktemp("hcp"), "alice")
    try:
        yield n
    finally:
        assert n.stop() == 0


def _after(lines: list[str], marker: str, nth: int = 1) -> list[str]:
    """The output lines after the ``nth`` line that starts with ``marker``."""
    seen = 0
    for i, line in enumerate(lines):
        if line.startswith(marker):
            seen += 1
            if seen == nth:
                return lines[i + 1 :]
    raise AssertionError(f"{marker!r} #{nth} not in output:\n" + "\n".join(lines))


def _agent_lines(lines: list[str]) -> list[str]:
    return [x for x in lines if x.startswith("alice")]


def test_tense_affect_makes_the_next_action_a_check_in_then_a_decision(
    node: NodeProc, tmp_path: Path
) -> None:
    r = run_human(
        node.addr(),
        ["/state affect=tense", "/intent decide work/plan", "I am ready, go ahead"],
        # the answer must follow the check-in: wait for it longer than run_human's 1.5 s
        # (a wait ends at the reply), or on a loaded box the answer overtakes the
        # check-in and is plain context, and the decision stays deferred (CI saw it)
        "--reply-wait",
        "6",
        "--name",
        "Ana",
        "--data-dir",
        str(new_human(tmp_path, "ana", node)),
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    after_intent = _agent_lines(_after(out, "you -> HCP_INTENT"))
    assert after_intent[0].startswith("alice check-in: Check-in: you seem tense")
    # the decision waited for the answer to the check-in, and carries its reasons
    after_answer = _after(out, "you -> HCP_CONTEXT")
    assert after_answer[0].startswith("alice decision: Take the next step on work/plan")
    assert after_answer[1].strip().startswith("rationale:")
    assert "decide" in after_answer[1]
    assert after_answer[2].strip().startswith("alternatives:")
    assert " | " in after_answer[2]
    check_in = node.wait_for(lambda e: e["kind"] == "hcp.check_in", 15.0)
    assert "tense" in check_in["attributes"]["reason"]


def test_revoked_consent_stops_everything_and_is_recorded(node: NodeProc, tmp_path: Path) -> None:
    before = len(node.kinds("hcp.refused"))
    r = run_human(
        node.addr(),
        [
            "/intent align work/a",
            "/state consent=revoked",
            "/intent decide work/b",
            "please act now",
            "/feedback 90 fine",
        ],
        "--name",
        "Bo",
        "--data-dir",
        str(new_human(tmp_path, "bo", node)),
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert _agent_lines(_after(out, "you -> HCP_INTENT"))[0].startswith("alice: Understood: align")
    assert "(consent granted -> revoked; the agent may not act at all)" in out
    # nothing automated, and the human is told why, each time (HCP_SPEC §9.2)
    told = _agent_lines(_after(out, "you -> HCP_STATE_UPDATE"))
    assert len(told) == 3, out
    assert all(x.startswith("alice refused (consent): consent revoked") for x in told)
    node.wait_for(
        lambda e: e["kind"] == "hcp.consent_changed" and e["attributes"]["consent"] == "revoked",
        15.0,
    )
    refused = node.kinds("hcp.refused")[before:]
    # the intent's task, the decision, the context reply and the feedback reply
    assert len(refused) >= 4, refused
    assert all("revoked" in e["attributes"]["reason"] for e in refused)
    intents = [e["attributes"].get("intent") for e in node.kinds("agent.intent")]
    assert "ask: work/a" in intents
    assert not any("work/b" in str(i) for i in intents)
    db = sqlite3.connect(node.data_dir / "web4.sqlite3")
    try:
        (n,) = db.execute("SELECT COUNT(*) FROM hcp_refusals WHERE consent = 'revoked'").fetchone()
    finally:
        db.close()
    assert n >= 4


def test_limited_consent_acts_only_inside_the_scope(node: NodeProc, tmp_path: Path) -> None:
    lines = ["/intent decide personal/health", "/intent decide work/plan"]
    me = str(new_human(tmp_path, "cy", node))
    r = run_human(
        node.addr(), lines, "--name", "Cy", "--consent-scope", "topic:work", "--data-dir", me
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    assert "consent limited" in out[0]
    # out of scope: refused, and the human is told why (HCP_SPEC §9.2); in scope: a
    # decision with rationale and alternatives
    assert _after(out, "you -> HCP_INTENT", 1)[:2] == [
        "alice refused (scope): consent limited: topic 'personal/health' is outside ['topic:work']",
        "you -> HCP_INTENT",
    ]
    second = _after(out, "you -> HCP_INTENT", 2)
    assert second[0].startswith("alice decision: Take the next step on work/plan")
    assert second[1].strip().startswith("rationale:")
    assert second[2].strip().startswith("alternatives:")
    refused = [e["attributes"]["reason"] for e in node.kinds("hcp.refused")]
    assert any("'personal/health' is outside" in x for x in refused)


def test_slow_mode_defers_decisions_and_spaces_messages(node: NodeProc, tmp_path: Path) -> None:
    """pressure 85: no new decision; the question goes; the next message waits 10 s and
    is then sent by the node's retry, without any further input."""
    lines = [
        "/state pressure=85",
        "/intent decide work/next",
        "/intent clarify work/next",
        "one more thing",
    ]
    # --linger bounds the wait for the spaced reply: it ends when the reply arrives (~10 s).
    me = str(new_human(tmp_path, "ed", node))
    args = ("--name", "Ed", "--consent-scope", "topic:work", "--linger", "25", "--data-dir", me)
    r = run_human(node.addr(), lines, *args)
    assert r.returncode == 0, r.stderr
    out = r.stdout.splitlines()
    # the decision is deferred, and the human is told why (HCP_SPEC §9.2)
    assert _after(out, "you -> HCP_INTENT", 1)[0] == (
        "alice defers (pacing): decision deferred: slow mode: no new proposals or decisions"
    )
    assert _after(out, "you -> HCP_INTENT", 2)[0].startswith("alice asks: What is unclear")
    after_context = _agent_lines(_after(out, "you -> HCP_CONTEXT"))
    assert after_context[0].startswith("alice defers (pacing): reply deferred: slow mode: at")
    assert after_context[1] == "alice: Noted: one more thing"  # told once, then the reply
    assert not any(x.startswith("alice decision") for x in out)
    ed = next(e for e in node.kinds("hcp.") if e["attributes"].get("name") == "Ed")["peer"]
    deferred = [e["attributes"] for e in node.kinds("hcp.deferred") if e["peer"] == ed]
    assert any("slow mode: no new proposals" in d["reason"] for d in deferred)
    spaced = [d for d in deferred if "10s between agent messages" in d["reason"]]
    assert spaced
    assert spaced[0]["not_before"] is not None
    sent = [e for e in node.kinds("hcp.sent") if e["peer"] == ed]
    assert [e["attributes"]["action"] for e in sent] == ["question", "reply"]
    gap = _ts(sent[1]["time"]) - _ts(sent[0]["time"])
    # Spaced by 10 s on the monotonic clock; event times are wall-clock (they differ by a
    # few ms: 9.996 s was seen). The upper slack is the node's tick on a busy machine.
    assert 9.95 <= gap < 20.0


def _ts(rfc3339: str) -> float:
    return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def test_bad_lines_are_one_line_errors_and_the_session_goes_on(
    node: NodeProc, tmp_path: Path
) -> None:
    r = run_human(
        node.addr(),
        [
            "/decision go | | b",
            "/bogus",
            "/state pressure=200",
            "/intent",
            "/decision go | it is cheap | wait, ask",
            "/quit",
            "/context never sent",
        ],
        "--name",
        "Di",
        "--data-dir",
        str(new_human(tmp_path, "di", node)),
    )
    assert r.returncode == 0, r.stderr
    errors = [x for x in r.stdout.splitlines() if x.startswith("error:")]
    assert len(errors) == 4, r.stdout
    assert "rationale" in errors[0]
    assert "unknown command" in errors[1]
    assert "Traceback" not in r.stdout + r.stderr
    out = r.stdout.splitlines()
    assert _agent_lines(_after(out, "you -> HCP_DECISION"))[0].startswith(
        "alice: Your decision is recorded: go"
    )
    assert "you -> HCP_CONTEXT" not in out  # /quit ended the session


def test_unreachable_agent_is_a_one_line_error(tmp_path: Path) -> None:
    r = run_human(
        "/ip4/127.0.0.1/tcp/1/p2p/12D3KooWBnQXkqsYxPpE6ehfw3tga8hRNdUeVLHpNghn33EBbgGv",
        ["hello"],
        "--timeout",
        "2",
        "--data-dir",
        str(tmp_path / "me"),
        timeout=30,
    )
    assert r.returncode == 1
    assert r.stderr.startswith("web4 human: error:")
    assert len(r.stderr.strip().splitlines()) == 1
    assert "Traceback" not in r.stderr


def test_every_hcp_type_reaches_its_destination_on_the_node(node: NodeProc, tmp_path: Path) -> None:
    lines = [
        "/intent align work",
        "context",
        "/state clarity=60",
        "/feedback 80 good",
        "/decision ship | it is ready | wait a week",
    ]
    me = str(new_human(tmp_path, "fay", node))
    r = run_human(node.addr(), lines, "--name", "Fay", "--reply-wait", "0.5", "--data-dir", me)
    assert r.returncode == 0, r.stderr
    want = {
        ("HCP_HELLO", "human"),
        ("HCP_INTENT", "agent"),
        ("HCP_CONTEXT", "human"),
        ("HCP_STATE_UPDATE", "human"),
        ("HCP_FEEDBACK", "human"),
        ("HCP_DECISION", "human"),
    }
    for msg_type, destination in want:
        node.wait_for(
            lambda e, t=msg_type, d=destination: (
                e["kind"] == "router.routed"
                and e["attributes"]["type"] == t
                and e["attributes"]["destination"] == d
            ),
            15.0,
        )


def test_the_agent_going_away_is_a_one_line_error(tmp_path: Path) -> None:
    short = NodeProc.new(tmp_path, "brief")
    me = str(new_human(tmp_path, "gus", short))
    cmd = [sys.executable, "-m", "web4", "human", "--peer", short.addr(), "--reply-wait", "0.5",
           "--data-dir", me]  # fmt: skip
    human = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        # The agent goes away once it has greeted the human (not after a fixed time, which
        # a slow start of the human process on a loaded machine could outlast).
        short.wait_for(lambda e: e["kind"] == "hcp.sent", 30.0)
        assert short.stop() == 0
        out, err = human.communicate("still there?\n", timeout=20)
    finally:
        human.kill()
    assert human.returncode == 1
    assert "brief: Hello human" in out
    assert err.startswith("web4 human: error:")
    assert len(err.strip().splitlines()) == 1
