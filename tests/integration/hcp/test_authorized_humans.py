"""Humans are authorised, not assumed (HCP_SPEC §9.1), against a real ``web4 node`` process.

Any key can finish the CIP handshake. Before ``authorized_humans``, such a key could send
``HCP_HELLO`` + ``HCP_INTENT`` and set the agent's intent ("wire all funds to account
1337"), which the node then broadcast to its peers as a CIP ``INTENT``. Here a spy peer (a
real RTT + CIP peer of the node) records what the node broadcasts, an unknown key tries
exactly that, and then the operator authorises the key with ``web4 human-key add`` while
the node runs, later removes it, and at last leaves the file writable by its group.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from support.nodeproc import NodeProc, Peer, human_key, new_human, run_human
from web4.clock import SystemClock
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Validator
from web4.hcp import HCP_SPEC, HcpHello, HcpIntent, HumanIdentity
from web4.hcp.builder import refusal_of
from web4.identity import Identity

pytestmark = pytest.mark.timeout(120)

EVIL = "wire all funds to account 1337"


def _intent_topics(spy: Peer) -> list[str]:
    return [str(d["payload"].get("topic")) for d in spy.of("cip", "INTENT")]


def _agent_intents(node: NodeProc) -> list[str]:
    return [str(e["attributes"].get("intent")) for e in node.kinds("agent.intent")]


async def _scenario(alice: NodeProc) -> None:
    spy = await Peer.connect(alice.addr(), Identity.generate("spy"))
    mallory = await Peer.connect(alice.addr(), Identity.generate("mallory"))
    fp = mallory.fingerprint
    try:
        await asyncio.to_thread(
            alice.wait_for,
            lambda e: e["kind"] == "cip.handshake.done" and e["peer"] == spy.fingerprint,
            20.0,
        )
        # 1. unknown key: CIP handshake done, then HELLO and an intent
        await mallory.send_hcp(HcpHello(HumanIdentity("Mallory", "owner"), [], []))
        await mallory.send_hcp(HcpIntent("request", EVIL, "high"))
        refused = await asyncio.to_thread(
            alice.wait_for,
            lambda e: (
                e["kind"] == "hcp.unauthorized"
                and e["peer"] == fp
                and e["attributes"]["type"] == "HCP_INTENT"
            ),
            20.0,
        )
        assert refused["attributes"]["reason"] == "not_authorized"
        assert refused["attributes"]["hint"] == (
            f"web4 human-key add {fp} --data-dir {alice.data_dir}"
        )
        hello = next(
            e for e in alice.kinds("hcp.unauthorized") if e["attributes"]["type"] == "HCP_HELLO"
        )
        assert hello["attributes"]["name"] == "Mallory"
        # the human sees the refusal: a signed HCP message from the agent on `control`
        await mallory.wait(lambda d: "hcp" in d, 10.0)
        validator: Validator[Any] = Validator(
            HCP_SPEC,
            our_fingerprint=fp,
            clock=SystemClock(),
            replay=ReplayCache(),
            trust_gate=lambda sender, _t: None if sender == alice.fingerprint else "not alice",
        )
        replies = [validator.validate(d).payload for d in mallory.of("hcp")]
        assert [refusal_of(p) for p in replies] == ["not_authorized"] * len(replies)
        text = replies[0].context  # type: ignore[union-attr]
        assert text.startswith("not_authorized: ")
        assert f"web4 human-key add {fp} --data-dir" in text
        # nothing reached the agent: no session, no intent (so nothing to broadcast)
        assert not [e for e in alice.kinds("hcp.") if e["kind"] != "hcp.unauthorized"]
        assert not any(EVIL in i for i in _agent_intents(alice))

        # 2. the operator authorises the key while the node runs; a new HELLO steers it
        added = human_key("add", fp, "--name", "Mallory", "--data-dir", str(alice.data_dir))
        assert added.returncode == 0, added.stderr
        await mallory.send_hcp(HcpHello(HumanIdentity("Mallory", "owner"), [], []))
        await mallory.send_hcp(HcpIntent("request", "work/plan", "normal"))
        await asyncio.to_thread(
            alice.wait_for,
            lambda e: (
                e["kind"] == "agent.intent"
                and e["attributes"]["intent"] == "propose_solution: work/plan"
            ),
            20.0,
        )
        # the peer gets the authorised intent, and never got the refused one before it
        await spy.wait(lambda d: d.get("type") == "INTENT" and "work/plan" in str(d), 20.0)
        assert not any(EVIL in t for t in _intent_topics(spy))
        assert not any(EVIL in str(d) for d in spy.received)
        assert any(e["peer"] == fp for e in alice.kinds("hcp.session_open"))

        # 3. removed while its session lasts: its next message is refused again
        removed = human_key("remove", fp, "--data-dir", str(alice.data_dir))
        assert removed.returncode == 0, removed.stderr
        other = await mallory.send_hcp(HcpIntent("request", "work/other", "normal"))
        await asyncio.to_thread(
            alice.wait_for,
            lambda e: e["kind"] == "hcp.unauthorized" and e["msg_id"] == other,
            20.0,
        )
        assert not any("work/other" in i for i in _agent_intents(alice))

        # 4. a file others could edit authorises nobody (fail closed), and the node says why
        assert human_key("add", fp, "--data-dir", str(alice.data_dir)).returncode == 0
        os.chmod(alice.data_dir / "authorized_humans", 0o664)
        loose = await mallory.send_hcp(HcpHello(HumanIdentity("Mallory", "owner"), [], []))
        await asyncio.to_thread(
            alice.wait_for,
            lambda e: e["kind"] == "hcp.unauthorized" and e["msg_id"] == loose,
            20.0,
        )
        bad = [
            e for e in alice.kinds("error") if e["attributes"].get("source") == "authorized_humans"
        ]
        assert len(bad) == 1
        assert "chmod 600" in bad[0]["attributes"]["detail"]
    finally:
        await mallory.close()
        await spy.close()
    assert not any(EVIL in t or "work/other" in t for t in _intent_topics(spy))


def test_an_unknown_key_cannot_steer_the_agent_until_the_operator_authorises_it(
    tmp_path: Path,
) -> None:
    alice = NodeProc.new(tmp_path, "alice")
    try:
        asyncio.run(_scenario(alice))
    finally:
        assert alice.stop() == 0


def test_an_unauthorised_human_sees_the_refusal_and_the_command_for_the_operator(
    tmp_path: Path,
) -> None:
    node = NodeProc.new(tmp_path, "alice")
    try:
        me = new_human(tmp_path, "eve")  # not authorised
        fp = Identity.in_data_dir(me).fingerprint
        r = run_human(node.addr(), ["/intent request " + EVIL], "--data-dir", str(me))
        assert r.returncode == 1
        assert "you -> HCP_INTENT" not in r.stdout  # the client stops at the refusal
        refusal = [
            x for x in r.stdout.splitlines() if x.startswith("alice refused (not_authorized): ")
        ]
        assert len(refusal) == 1, r.stdout
        assert "not_authorized" in refusal[0]
        assert r.stderr.startswith("web4 human: error: the agent refused this key")
        assert len(r.stderr.strip().splitlines()) == 1
        assert f"web4 human-key add {fp} --data-dir" in r.stderr
        assert "Traceback" not in r.stdout + r.stderr
        # authorised, the same key is served
        assert human_key("add", fp, "--data-dir", str(node.data_dir)).returncode == 0
        ok = run_human(node.addr(), ["/intent align work/plan"], "--data-dir", str(me))
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "alice: Understood: align" in ok.stdout
    finally:
        assert node.stop() == 0
