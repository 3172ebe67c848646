"""HCP without a CIP handshake (HCP_SPEC §9, issue 16), against a real ``web4 node``.

The original HCP has no CIP step: a human client opens with ``HCP_HELLO``. Over RTT the
transport already proved the human's key, so the node takes HCP from a session that never
ran CIP. An authorised human steers the agent that way; an unknown key still gets only the
signed refusal, and nothing it sends reaches the agent's intent or the node's peers (a spy
peer, a real RTT + CIP peer of the node, records what the node broadcasts).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from support.nodeproc import NodeProc, Peer, new_human, run_human
from web4.clock import SystemClock
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Validator
from web4.hcp import HCP_SPEC, HcpHello, HcpIntent, HumanIdentity
from web4.hcp.builder import refusal_of
from web4.identity import Identity

pytestmark = pytest.mark.timeout(120)

EVIL = "wire all funds to account 1337"


def _from_node(node: NodeProc, to: Identity, docs: list[dict[str, Any]]) -> list[Any]:
    """The payloads of ``docs``, each validated as an HCP envelope signed by ``node``."""
    validator: Validator[Any] = Validator(
        HCP_SPEC,
        our_fingerprint=to.fingerprint,
        clock=SystemClock(),
        replay=ReplayCache(),
        trust_gate=lambda sender, _t: None if sender == node.fingerprint else "not the node",
    )
    return [validator.validate(d).payload for d in docs]


async def _scenario(alice: NodeProc, dana_id: Identity) -> None:
    spy = await Peer.connect(alice.addr(), Identity.generate("spy"))
    mallory_id = Identity.generate("mallory")
    mallory = await Peer.connect(alice.addr(), mallory_id, cip=False)
    dana = await Peer.connect(alice.addr(), dana_id, cip=False)
    humans = {mallory_id.fingerprint, dana_id.fingerprint}
    try:
        await asyncio.to_thread(
            alice.wait_for,
            lambda e: e["kind"] == "cip.handshake.done" and e["peer"] == spy.fingerprint,
            20.0,
        )
        # an unknown key, no CIP: HELLO and an intent get the refusal and nothing else
        await mallory.send_hcp(HcpHello(HumanIdentity("Mallory", "owner"), [], []))
        await mallory.send_hcp(HcpIntent("request", EVIL, "high"))
        await asyncio.to_thread(
            alice.wait_for,
            lambda e: (
                e["kind"] == "hcp.unauthorized"
                and e["peer"] == mallory_id.fingerprint
                and e["attributes"]["type"] == "HCP_INTENT"
            ),
            20.0,
        )
        await mallory.wait(lambda d: "hcp" in d, 10.0)
        refusals = _from_node(alice, mallory_id, mallory.of("hcp"))
        assert [refusal_of(p) for p in refusals] == ["not_authorized"] * len(refusals)

        # the authorised human, no CIP either: its HELLO opens a session, its intent is
        # adopted and reaches the node's peers, and the agent answers it
        await dana.send_hcp(HcpHello(HumanIdentity("Dana", "owner"), [], []))
        await dana.send_hcp(HcpIntent("request", "work/plan", "normal"))
        await asyncio.to_thread(
            alice.wait_for,
            lambda e: (
                e["kind"] == "agent.intent"
                and e["attributes"]["intent"] == "propose_solution: work/plan"
            ),
            20.0,
        )
        await dana.wait(lambda d: "hcp" in d and "work/plan" in str(d), 20.0)
        answers = _from_node(alice, dana_id, dana.of("hcp"))
        assert answers
        assert all(refusal_of(p) is None for p in answers)
        await spy.wait(lambda d: d.get("type") == "INTENT" and "work/plan" in str(d), 20.0)
        opened = [e["peer"] for e in alice.kinds("hcp.session_open")]
        assert opened == [dana_id.fingerprint]

        # neither human ran CIP: the node saw no CIP handshake with them, sent them no CIP
        assert not [
            e for e in alice.events
            if e["kind"].startswith("cip.handshake") and e.get("peer") in humans
        ]  # fmt: skip
        assert not dana.of("cip")
        assert not mallory.of("cip")
        # the refused intent reached neither the agent nor its peers
        intents = [str(e["attributes"].get("intent")) for e in alice.kinds("agent.intent")]
        assert not any(EVIL in i for i in intents)
        assert not any(EVIL in str(d) for d in spy.received)
    finally:
        for peer in (dana, mallory, spy):
            await peer.close()


def test_an_authorised_human_opens_hcp_directly_and_an_unknown_one_is_refused(
    tmp_path: Path,
) -> None:
    alice = NodeProc.new(tmp_path, "alice")
    try:
        dana_dir = new_human(tmp_path, "dana", alice)
        asyncio.run(_scenario(alice, Identity.in_data_dir(dana_dir)))
    finally:
        assert alice.stop() == 0


def test_web4_human_talks_hcp_directly_or_after_a_cip_handshake(tmp_path: Path) -> None:
    alice = NodeProc.new(tmp_path, "alice")
    try:
        me = str(new_human(tmp_path, "dana", alice))
        lines = ["/intent align work"]
        direct = run_human(alice.addr(), lines, "--name", "Dana", "--data-dir", me)
        assert direct.returncode == 0, direct.stderr
        out = direct.stdout.splitlines()
        assert out[0].startswith("connected to alice (")  # named by its first HCP message
        assert out[1] == "you -> HCP_HELLO"
        assert "alice: Understood: align on work (normal)." in out
        with_cip = run_human(
            alice.addr(), lines, "--name", "Dana", "--data-dir", me, "--cip-handshake"
        )
        assert with_cip.returncode == 0, with_cip.stderr
        assert "alice: Understood: align on work (normal)." in with_cip.stdout.splitlines()
        done = [e["peer"] for e in alice.kinds("cip.handshake.done")]
        assert done == [Identity.in_data_dir(Path(me)).fingerprint]  # the second run only
    finally:
        assert alice.stop() == 0
