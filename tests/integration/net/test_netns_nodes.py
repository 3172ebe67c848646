"""Real ``web4 node`` processes on the namespace test network (support.netns).

Two nodes on the LAN connect by their configured addresses and exchange a fact. A node
behind the NAT dials out to a LAN node and exchanges a fact with it; the LAN node cannot
dial it, neither by the inside node's own address nor by the NAT's. That last one is
today's behaviour, the reachability problem issue 14 solves with relays and hole
punching: ``test_lan_node_cannot_reach_node_behind_nat_today`` asserts it so that the
change shows; the session that adds relaying turns it into the test that it can.
"""

from __future__ import annotations

from pathlib import Path

from support.netns import TestNet, start_node
from support.nodeproc import Event, NodeProc

FACT = "Water boils at 100 degrees Celsius at sea level"
PROPOSE = ("--propose", f"{FACT}|physics|0.9")


def _met(node: NodeProc, other: NodeProc) -> Event:
    return node.wait_for(
        lambda e: e["kind"] == "cip.handshake.done" and e["peer"] == other.fingerprint, 20
    )


def _fact_exchanged(proposer: NodeProc, believer: NodeProc) -> None:
    """``believer`` received ``proposer``'s fact and ``proposer`` received its vote."""
    got = believer.kind("knowledge.claim_pending", 20, statement=FACT)
    assert got["peer"] == proposer.fingerprint
    claim = got["attributes"]["claim_id"]
    believer.wait_for(
        lambda e: (
            e["kind"] == "router.routed"
            and e["attributes"]["type"] == "FACT_PROPOSE"
            and e["msg_id"] == claim
        )
    )
    vote = proposer.kind("knowledge.confirmation", 20, claim_id=claim, decision="confirm")
    assert vote["peer"] == believer.fingerprint


def test_two_lan_nodes_connect_by_address_and_exchange_a_fact(net: TestNet, tmp_path: Path) -> None:
    a, b = net.host("a"), net.host("b")
    nodes = [start_node(a, tmp_path, "alice", "--believe", FACT)]
    try:
        alice = nodes[0]
        assert alice.addr().startswith(f"/ip4/{a.addr}/tcp/")
        nodes.append(start_node(b, tmp_path, "bob", "--peer", alice.addr(), *PROPOSE))
        bob = nodes[1]
        _met(alice, bob)
        _fact_exchanged(bob, alice)
    finally:
        for node in nodes:
            node.stop()


def test_node_behind_nat_dials_out_to_a_lan_node(nat_net: TestNet, tmp_path: Path) -> None:
    a = nat_net.host("a")
    _, inside = nat_net.nat()
    nodes = [start_node(a, tmp_path, "alice", "--believe", FACT)]
    try:
        alice = nodes[0]
        before = nat_net.masqueraded()
        nodes.append(start_node(inside, tmp_path, "inner", "--peer", alice.addr(), *PROPOSE))
        inner = nodes[1]
        _met(alice, inner)
        assert nat_net.masqueraded() > before  # alice was reached through the masquerade
        _fact_exchanged(inner, alice)
    finally:
        for node in nodes:
            node.stop()


def test_lan_node_cannot_reach_node_behind_nat_today(nat_net: TestNet, tmp_path: Path) -> None:
    """Issue 14 (relays, DCUtR, AutoNAT) makes this reachable: flip this test then."""
    b = nat_net.host("b")
    router, inside = nat_net.nat()
    nodes = [start_node(inside, tmp_path, "inner")]
    try:
        inner = nodes[0]
        own = inner.addr()  # /ip4/192.168.47.2/tcp/P/p2p/ID: private, no route from the LAN
        _, _, ip, _, port, _, peer_id = own.split("/")
        assert ip == inside.addr
        public = f"/ip4/{router.addr}/tcp/{port}/p2p/{peer_id}"  # the NAT: nothing mapped
        nodes.append(start_node(b, tmp_path, "carl", "--peer", own, "--peer", public))
        carl = nodes[1]
        kinds = {}
        for addr in (own, public):
            ev = carl.kind("rtt.peer_unreachable", 20, addr=addr)
            kinds[addr] = ev["attributes"]["error_kind"]
        assert kinds == {own: "unreachable", public: "refused"}
        assert not [e for e in carl.kinds("rtt.session_open") if e["peer"] == inner.fingerprint]
        assert not inner.kinds("rtt.session_open")
    finally:
        for node in nodes:
            node.stop()
