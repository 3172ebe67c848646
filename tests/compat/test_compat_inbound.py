"""Inbound over the wire: one message of every original type (CIP 8, HCP 6, LIP 5), built
as a peer written from the original specifications builds it (``compat_support``: the
documents' examples, any RFC 3339 timestamp, UUIDs of any version and case, no
``sender.pubkey`` since RTT authenticated the key, HCP and LIP without ``trust``/
``state``, the original LIP payloads, votes without ``claim_hash``), sent to one real
``web4 node`` process over RTT and accepted there: the node routes it to its handler
(``router.routed`` for that ``msg_id`` in its ``--json`` events, no ``router.rejected`` or
``router.handler_error``). Also: an original-style initiator (HELLO, then STATE_UPDATE
and INTENT, no third HELLO) completes the handshake and exchanges a fact with the node,
an authorised human opens HCP with ``HCP_HELLO`` alone, and what the node sends these
peers validates against the original schemas.

One node serves the whole module: its trust anchor is the original-style agent (so
``DECISION_SHARE`` passes the trust gate), two humans are authorised, it proposes three
facts (the votes' targets) and serves no ``LIP_FETCH`` (no network). Every peer speaks
only the original protocols: the agent runs the original two-HELLO handshake, the humans
open with ``HCP_HELLO`` alone.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from compat_support import (
    OriginalPeer,
    example_payloads,
    original_uuid,
    schema_errors,
)
from compat_wire import Loop, Wire

from support.nodeproc import LOOPBACK, NodeProc, human_key, web4
from web4.cip.claims import claim_hash
from web4.conformance.cases_original import CASES
from web4.conformance.runner import run_cases
from web4.conformance.wire import Target
from web4.identity import Identity

PROPOSALS = (
    "copper conducts electricity|physics|0.8",
    "ice is less dense than liquid water|physics|0.8",
    "sound travels faster in water than in air|physics|0.8",
)
OUTCOMES = ("router.routed", "router.rejected", "router.handler_error", "router.unknown_type")


@dataclass
class World:
    root: Path
    node: NodeProc
    loop: Loop
    agent: Wire  # original-style agent, the node's trust anchor (original handshake done)
    human: Wire  # original-style authorised human (its HCP_HELLO sent, no CIP)
    proposals: list[dict[str, Any]]  # the node's FACT_PROPOSEs, as the agent got them
    wires: list[Wire]

    @property
    def receiver(self) -> tuple[str, str]:
        return (self.node.identity.agent_id, self.node.fingerprint)

    def wire(self, identity: Identity) -> Wire:
        w = Wire(self.loop, identity).connect(self.node.addr())
        self.wires.append(w)
        return w


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("compat")
    agent, human = Identity.generate("orig-agent"), Identity.generate("orig-human")
    node_dir = root / "node"
    Identity.create_in_data_dir(node_dir, "node")
    for h in (human, SOLO_HUMAN):
        r = human_key("add", h.fingerprint, "--name", h.agent_id, "--data-dir", str(node_dir))
        assert r.returncode == 0, r.stderr
    proposals = [x for p in PROPOSALS for x in ("--propose", p)]
    args = ("--trust", agent.fingerprint, "--lip-fetch-for", "none", *proposals)
    node = NodeProc(node_dir, *LOOPBACK, *args)
    loop = Loop()
    wires: list[Wire] = []
    try:
        node.kind("node.started", 20)
        w = World(root, node, loop, Wire(loop, agent), Wire(loop, human), [], wires)
        w.agent = w.wire(agent)
        original_handshake(w, w.agent)
        node.wait_for(
            lambda e: (
                e["kind"] == "trust.transition"
                and e.get("peer") == agent.fingerprint
                and e["attributes"].get("to") == "trusted"
            )
        )
        for p in PROPOSALS:
            statement = p.split("|")[0]
            w.proposals.append(
                w.agent.wait(
                    lambda d, s=statement: (
                        d.get("type") == "FACT_PROPOSE" and d["payload"]["fact"]["statement"] == s
                    )
                )
            )
        w.human = w.wire(human)
        original_hcp_hello(w, w.human)
        yield w
    finally:
        for wire in wires:
            wire.close()
        loop.close()
        node.stop()


SOLO_HUMAN = Identity.generate("orig-human-solo")


def earlier(node: NodeProc) -> set[int]:
    """The events so far (by identity): a wait for an event without a peer (a HELLO
    dropped before its sender was known) must not take one of these."""
    return {id(e) for e in list(node.events)}


def outcome(node: NodeProc, msg_id: str, timeout: float = 8.0) -> dict[str, Any]:
    """The router's verdict on ``msg_id`` (compared case-insensitively)."""
    mid = msg_id.lower()
    return node.wait_for(
        lambda e: e["kind"] in OUTCOMES and str(e.get("msg_id") or "").lower() == mid, timeout
    )


def assert_accepted(node: NodeProc, msg_id: str) -> None:
    verdict = outcome(node, msg_id)
    assert verdict["kind"] == "router.routed", f"{verdict['kind']}: {verdict['attributes']}"


# Known to fail today, each for the reason given (strict: a case that starts passing fails
# here until its mark is removed). Empty since the node passes the key RTT authenticated to
# its handshake and router (issue 16).
KNOWN_FAILING: dict[str, str] = {}


def _xfail(name: str) -> list[pytest.MarkDecorator]:
    reason = KNOWN_FAILING.get(name)
    return [] if reason is None else [pytest.mark.xfail(strict=True, reason=reason)]


def _case(name: str) -> Any:
    return pytest.param(name, id=name, marks=_xfail(name))


# Each type, who sends it and on which channel (CIP_SPEC §9). DECISION_SHARE goes before
# the votes: a refused vote is a trust anomaly, and three would demote the trusted agent.
INBOUND: dict[str, tuple[str, str]] = {
    "STATE_UPDATE": ("agent", "state"),
    "INTENT": ("agent", "control"),
    "DECISION_SHARE": ("agent", "knowledge"),
    "FACT_PROPOSE": ("agent", "knowledge"),
    "FACT_CONFIRM": ("agent", "knowledge"),
    "FACT_REJECT": ("agent", "knowledge"),
    "FACT_CHALLENGE": ("agent", "knowledge"),
    "HCP_HELLO": ("human", "control"),
    "HCP_INTENT": ("human", "control"),
    "HCP_CONTEXT": ("human", "control"),
    "HCP_DECISION": ("human", "control"),
    "HCP_FEEDBACK": ("human", "control"),
    "HCP_STATE_UPDATE": ("human", "control"),
    "LIP_FETCH": ("agent", "knowledge"),
    "LIP_EVIDENCE": ("agent", "knowledge"),
    "LIP_CONFLICT": ("agent", "knowledge"),
    "LIP_ACCEPT": ("agent", "knowledge"),
    "LIP_REJECT": ("agent", "knowledge"),
}
VOTE_TARGET = {"FACT_CONFIRM": 0, "FACT_REJECT": 1, "FACT_CHALLENGE": 2}
# What the handler did with it, as the node reports it (docs/EVENTS.md), for the types
# whose handling names the msg_id (INTENT, DECISION_SHARE, HCP_STATE_UPDATE and LIP_REJECT
# are only routed: nothing of theirs is reported by msg_id).
EFFECTS: dict[str, str] = {
    "STATE_UPDATE": "agent.peer_state",
    "FACT_PROPOSE": "knowledge.claim_pending",
    "FACT_CONFIRM": "knowledge.confirmation",
    "FACT_REJECT": "knowledge.confirmation",
    "FACT_CHALLENGE": "knowledge.confirmation",
    "HCP_HELLO": "hcp.session_open",
    "HCP_INTENT": "hcp.intent",
    "HCP_CONTEXT": "agent.decision",
    "HCP_DECISION": "agent.decision",
    "HCP_FEEDBACK": "agent.decision",
    "LIP_EVIDENCE": "lip.evidence",
    "LIP_CONFLICT": "lip.conflict",
    "LIP_ACCEPT": "lip.accepted",
}


def _hello(peer: OriginalPeer, world: World) -> dict[str, Any]:
    payload = example_payloads(fact_ref="", earlier_msg_id="", corroborator="")["HELLO"]
    return peer.envelope("HELLO", payload, receiver=world.receiver, now=time.time())


def original_handshake(world: World, wire: Wire) -> str:
    """The original CIP handshake as initiator over ``wire`` (HELLO; the node's HELLO,
    which must validate against the original schema; STATE_UPDATE and INTENT, no third
    HELLO) until the node accepts the intent; returns the INTENT's msg_id."""
    peer = OriginalPeer(wire.identity)
    wire.send("control", _hello(peer, world))
    node_hello = wire.wait(lambda d: d.get("type") == "HELLO", 8)
    assert schema_errors(node_hello) == []
    payloads = example_payloads(fact_ref="", earlier_msg_id="", corroborator="")
    now = time.time()
    state = peer.envelope(
        "STATE_UPDATE", payloads["STATE_UPDATE"], receiver=world.receiver, now=now
    )
    intent = peer.envelope("INTENT", payloads["INTENT"], receiver=world.receiver, now=now)
    wire.send("control", state)
    wire.send("control", intent)
    accept = f"accept:{intent['msg_id']}".lower()
    wire.wait(
        lambda d: (
            d.get("type") == "STATE_UPDATE"
            and str(d["payload"].get("intent") or "").lower() == accept
        ),
        10,
    )
    return str(intent["msg_id"])


def original_hcp_hello(world: World, wire: Wire) -> dict[str, Any]:
    """An authorised human's first message, as the original HCP has it: HCP_HELLO (no
    CIP handshake before it); returns the envelope once the node routed it."""
    payload = example_payloads(fact_ref="", earlier_msg_id="", corroborator="")["HCP_HELLO"]
    env = OriginalPeer(wire.identity).envelope(
        "HCP_HELLO", payload, receiver=world.receiver, now=time.time()
    )
    wire.send("control", env)
    assert_accepted(world.node, env["msg_id"])
    return env


@pytest.mark.parametrize("name", [_case("HELLO")])
def test_original_hello_is_answered(world: World, name: str) -> None:
    """A peer's first HELLO, as the original writes it, gets the node's HELLO back."""
    me = Identity.generate("orig-hello")
    wire = world.wire(me)
    before = earlier(world.node)
    wire.send("control", _hello(OriginalPeer(me), world))
    try:
        answer = wire.wait(lambda d: d.get("type") == "HELLO", 8)
    except AssertionError:
        said = [
            (e["kind"], e["attributes"])
            for e in list(world.node.events)
            if id(e) not in before and e["kind"].startswith("cip.handshake.")
        ]
        raise AssertionError(f"no HELLO back; the node's handshake events: {said}") from None
    assert answer["payload"]["challenge_response"]
    assert schema_errors(answer) == []


@pytest.mark.parametrize("msg_type", [_case(t) for t in INBOUND])
def test_original_message_is_accepted(world: World, msg_type: str) -> None:
    who, channel = INBOUND[msg_type]
    wire = world.agent if who == "agent" else world.human
    proposal = world.proposals[VOTE_TARGET.get(msg_type, 0)]
    target = proposal["msg_id"]
    payload = example_payloads(
        fact_ref=target, earlier_msg_id=target.upper(), corroborator=world.agent.identity.agent_id
    )[msg_type]
    if msg_type in VOTE_TARGET:
        # the one member CIP D23 adds to the original's votes (security: it binds the
        # vote to the claim's content)
        payload["claim_hash"] = claim_hash(world.node.fingerprint, proposal["payload"])
    env = OriginalPeer(wire.identity).envelope(
        msg_type, payload, receiver=world.receiver, now=time.time(), style=len(msg_type)
    )
    assert schema_errors(env) == []  # it is what the original schemas allow
    assert "pubkey" not in env["sender"]
    wire.send(channel, env)
    assert_accepted(world.node, env["msg_id"])
    mid = env["msg_id"].lower()
    if msg_type in EFFECTS:
        world.node.wait_for(
            lambda e: e["kind"] == EFFECTS[msg_type] and str(e["msg_id"] or "").lower() == mid, 5
        )
    if msg_type == "LIP_FETCH":  # a free-text query: accepted, and its fetch fails (LIP L6)
        world.node.wait_for(
            lambda e: (
                e["kind"] == "lip.fetch_failed" and e["attributes"]["uri"] == payload["query"]
            ),
            5,
        )
    if msg_type == "FACT_PROPOSE":
        statement = payload["fact"]["statement"]
        facts = web4("facts", "--json", "--data-dir", str(world.node.data_dir))
        assert facts.returncode == 0, facts.stderr
        assert statement in {f.get("statement") for f in json.loads(facts.stdout)}


def test_original_vote_without_claim_hash_is_refused_as_documented(world: World) -> None:
    """CIP_SPEC §10 D23: a vote exactly as the original writes it (no ``claim_hash``) is
    refused with PayloadSchemaError naming the member (``sender.pubkey`` is sent here so
    that this is the only difference from an accepted vote)."""
    payload = example_payloads(
        fact_ref=world.proposals[0]["msg_id"], earlier_msg_id="", corroborator=""
    )["FACT_CONFIRM"]
    env = OriginalPeer(world.agent.identity).envelope(
        "FACT_CONFIRM", payload, receiver=world.receiver, now=time.time(), pubkey=True
    )
    world.agent.send("knowledge", env)
    verdict = outcome(world.node, env["msg_id"])
    assert verdict["kind"] == "router.rejected", verdict
    # DeclinedShapeError: the PayloadSchemaError of a shape refused by design
    assert verdict["attributes"]["reason"] in ("PayloadSchemaError", "DeclinedShapeError")
    assert "claim_hash" in verdict["attributes"]["message"]
    assert "| D23 |" in (Path(__file__).parents[2] / "docs/CIP_SPEC.md").read_text("utf-8")


def test_the_wire_and_the_verdicts_work(world: World) -> None:
    """The control case: the agent's STATE_UPDATE with ``sender.pubkey`` and a lowercase
    UUID v4 (what this node accepted before issue 16) is routed, so a refusal above is
    the node's verdict on the original form, not a fault of this harness."""
    payload = example_payloads(fact_ref="", earlier_msg_id="", corroborator="")["STATE_UPDATE"]
    env = OriginalPeer(world.agent.identity).envelope(
        "STATE_UPDATE", payload, receiver=world.receiver, now=time.time(), pubkey=True, style=0
    )
    world.agent.send("state", env)
    assert_accepted(world.node, env["msg_id"])


@pytest.mark.parametrize("name", [_case("original handshake")])
def test_original_initiator_completes_the_handshake_and_exchanges_a_fact(
    world: World, name: str
) -> None:
    """HELLO, the node's HELLO, then STATE_UPDATE and INTENT (no third HELLO): the node
    accepts the intent; then a FACT_PROPOSE each way (ours is stored, the node's proposal
    reaches us) in the original shape."""
    me = Identity.generate("orig-initiator")
    peer, wire = OriginalPeer(me), world.wire(me)
    intent_id = original_handshake(world, wire)
    done = world.node.wait_for(
        lambda e: e["kind"] == "cip.handshake.done" and e["peer"] == me.fingerprint, 5
    )
    assert done["attributes"]["outcome"] == "accepted"

    payloads = example_payloads(fact_ref="", earlier_msg_id="", corroborator="")
    fact = payloads["FACT_PROPOSE"]
    fact["fact"]["statement"] = "Water freezes at 0 degrees Celsius at sea level"
    fact["causal_links"] = [intent_id]
    env = peer.envelope("FACT_PROPOSE", fact, receiver=world.receiver, now=time.time())
    wire.send("knowledge", env)
    assert_accepted(world.node, env["msg_id"])
    facts = web4("facts", "--json", "--data-dir", str(world.node.data_dir))
    assert facts.returncode == 0, facts.stderr
    assert fact["fact"]["statement"] in {f.get("statement") for f in json.loads(facts.stdout)}
    theirs = wire.wait(lambda d: d.get("type") == "FACT_PROPOSE", 10)
    assert schema_errors(theirs) == []


@pytest.mark.parametrize("name", [_case("hcp without cip")])
def test_authorised_human_opens_hcp_with_hcp_hello_alone(world: World, name: str) -> None:
    """An authorised human following the original HCP sends HCP_HELLO first (no CIP
    handshake), then HCP_INTENT, and gets the agent's answer."""
    me, wire = SOLO_HUMAN, world.wire(SOLO_HUMAN)
    peer = OriginalPeer(me)
    payloads = example_payloads(fact_ref="", earlier_msg_id="", corroborator="")
    hello = peer.envelope(
        "HCP_HELLO", payloads["HCP_HELLO"], receiver=world.receiver, now=time.time()
    )
    before = earlier(world.node)
    wire.send("control", hello)
    mid = hello["msg_id"].lower()
    verdict = world.node.wait_for(
        lambda e: (
            id(e) not in before
            and (
                (e["kind"] in OUTCOMES and str(e["msg_id"] or "").lower() == mid)
                or (e["kind"] == "cip.handshake.dropped" and e["peer"] in (me.fingerprint, None))
            )
        ),
        8,
    )
    assert verdict["kind"] == "router.routed", f"{verdict['kind']}: {verdict['attributes']}"
    ask = peer.envelope(
        "HCP_INTENT", payloads["HCP_INTENT"], receiver=world.receiver, now=time.time()
    )
    wire.send("control", ask)
    assert_accepted(world.node, ask["msg_id"])
    answer = wire.wait(lambda d: "hcp" in d, 10)
    assert schema_errors(answer) == []


@pytest.mark.parametrize("case", [_case(c.name) for c in CASES])
def test_conformance_original_profile_case(world: World, case: str) -> None:
    """The ``web4 conformance --profile original`` cases of issue 16 pass against the node."""
    target = Target(world.node.addr(), timeout=10.0, quiet=1.0)
    picked = [c for c in CASES if c.name == case]
    [result] = world.loop.run(run_cases(picked, target), 30)
    assert result.outcome == "pass", result.seen


# What the node sent the peers of this module, by type; each must fit the original shapes.
NODE_SENDS = ("HELLO", "STATE_UPDATE", "FACT_PROPOSE")


@pytest.mark.parametrize("msg_type", [_case(f"node sends {t}") for t in NODE_SENDS])
def test_what_the_node_sent_validates(world: World, msg_type: str) -> None:
    msg_type = msg_type.removeprefix("node sends ")
    sent = [d for w in world.wires for d in w.messages(msg_type)]
    assert sent, f"the node sent no {msg_type}"
    errors = {e for d in sent for e in schema_errors(d)}
    assert not errors, sorted(errors)


def test_every_original_type_is_sent() -> None:
    assert sorted([*INBOUND, "HELLO"]) == sorted(
        example_payloads(fact_ref="", earlier_msg_id="", corroborator="")
    )
    cases = {*INBOUND, "HELLO", "original handshake", "hcp without cip", *(c.name for c in CASES)}
    assert set(KNOWN_FAILING) <= cases | {f"node sends {t}" for t in NODE_SENDS}
    assert len(original_uuid(0)) == 36
