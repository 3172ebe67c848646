"""Discovery on the namespace test network (support.netns), with real ``web4 node``s.

mDNS needs a multicast-capable interface (libp2p-mdns skips loopback), hence the bridge.
Three nodes started with no ``--peer`` find each other by mDNS and complete their CIP
handshakes; ``web4 peers`` says how each was found. Kademlia: C knows only B (its
bootstrap) and A's bare PeerId, resolves A through B and connects; B serves the DHT
without a session with either. An attacker announcing thousands of fresh PeerIds by
mDNS leaves the victim's memory and dials bounded, and it keeps serving.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from support.netns import TestNet, start_node
from support.nodeproc import Event, NodeProc, web4

FLOOD = Path(__file__).resolve().parents[2] / "support" / "mdns_flood.py"


def _met(node: NodeProc, other: NodeProc, timeout: float = 30.0) -> Event:
    return node.wait_for(
        lambda e: e["kind"] == "cip.handshake.done" and e["peer"] == other.fingerprint, timeout
    )


def _found(node: NodeProc) -> dict[str, str | None]:
    """fingerprint -> how ``web4 peers`` says it was found."""
    out = web4("peers", "--json", "--data-dir", str(node.data_dir))
    assert out.returncode == 0, out.stderr
    return {r["fingerprint"]: r["found_by"] for r in json.loads(out.stdout)}


def _peer_id(node: NodeProc) -> str:
    return node.addr().rsplit("/p2p/", 1)[1]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_three_nodes_without_peers_find_each_other_by_mdns(net: TestNet, tmp_path: Path) -> None:
    hosts = [net.host(n) for n in ("a", "b", "c")]
    nodes = [start_node(h, tmp_path, h.label) for h in hosts]
    try:
        for node in nodes:
            for other in nodes:
                if other is not node:
                    _met(node, other)
        for node in nodes:
            found = _found(node)
            others = [o.fingerprint for o in nodes if o is not node]
            # Each saw the other two; a session it dialled says mdns, one dialled to it
            # says nothing (inbound).
            assert set(others) <= set(found), found
            assert {found[o] for o in others} <= {"mdns", None}
            assert node.kinds("rtt.peer_discovered")
        # Every pair met through at least one side's mDNS.
        for i, x in enumerate(nodes):
            for y in nodes[i + 1 :]:
                assert "mdns" in (_found(x)[y.fingerprint], _found(y)[x.fingerprint])
        for node in nodes:  # discovery grants no trust: every one of them is probing
            assert all(e["attributes"]["to"] != "trusted" for e in node.kinds("trust.transition"))
    finally:
        for n in nodes:
            n.stop()


def test_a_bare_peer_id_is_resolved_through_a_bootstrap_peer(net: TestNet, tmp_path: Path) -> None:
    a_host, b_host, c_host = net.host("a"), net.host("b"), net.host("c")
    # A and B dial no discovered peer (--min-peers 0): B serves the DHT and nothing else.
    b = start_node(b_host, tmp_path, "b", "--no-mdns", "--min-peers", "0")
    nodes = [b]
    try:
        a = start_node(
            a_host, tmp_path, "a", "--no-mdns", "--min-peers", "0", "--bootstrap", b.addr()
        )
        nodes.append(a)
        time.sleep(1.0)  # A's identify reaches B's routing table
        c = start_node(
            c_host, tmp_path, "c", "--no-mdns", "--bootstrap", b.addr(), "--peer", _peer_id(a)
        )
        nodes.append(c)
        _met(c, a)
        lookup = c.kind("node.peer_lookup", 20, peer_id=_peer_id(a))
        assert lookup["attributes"]["found"] >= 1
        assert _found(c)[a.fingerprint] == "configured"
        # C (default --min-peers 4) also dials the DHT peer it met, B: found by dht
        c.wait_for(
            lambda e: (
                e["kind"] == "node.peer_dial"
                and e["peer"] == b.fingerprint
                and e["attributes"]["source"] == "dht"
            )
        )
        _met(c, b)
        assert _found(c)[b.fingerprint] == "dht"
        # B answered Kademlia queries from A and C and has no RTT session with A.
        assert not [e for e in b.kinds("rtt.session_open") if e["peer"] == a.fingerprint]
    finally:
        for n in nodes:
            n.stop()


def test_an_mdns_flood_of_fresh_peer_ids_costs_bounded_memory_and_dials(
    net: TestNet, tmp_path: Path
) -> None:
    victim_host, friend_host, attacker = net.host("v"), net.host("f"), net.host("x")
    # The attacker drops TCP: a dial to a fake peer (mDNS puts the sender's address in)
    # hangs until the connect timeout, so dials in flight show.
    attacker.run("nft", "add", "table", "inet", "flood")
    attacker.run(
        "nft", "add", "chain", "inet", "flood", "in",
        "{ type filter hook input priority 0 ; policy accept ; }",
    )  # fmt: skip
    attacker.run("nft", "add", "rule", "inet", "flood", "in", "tcp", "dport", "1-65535", "drop")
    victim = start_node(victim_host, tmp_path, "victim", "--min-peers", "3", "-v")
    nodes = [victim]
    try:
        time.sleep(1.0)
        before = _rss_kib(victim.proc.pid)
        flood = subprocess.run(
            [*attacker.prefix(), sys.executable, str(FLOOD), "1000", "3", attacker.addr],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert flood.returncode == 0, flood.stderr
        assert int(flood.stdout.split()[-1]) == 3000
        time.sleep(4.0)  # the first dials are still hanging (connect timeout 5 s)
        dials = victim.kinds("node.peer_dial")
        assert 1 <= len(dials) <= 3, len(dials)  # at most the low watermark in flight
        time.sleep(4.0)
        grown = _rss_kib(victim.proc.pid) - before
        assert grown < 32 * 1024, f"RSS grew {grown} KiB for 3000 fresh peers"
        discovered = victim.kinds("rtt.peer_discovered")
        assert len(discovered) <= 32 * 12, len(discovered)  # rate-limited, not 3000
        # A configured peer started during the flood is served.
        friend = start_node(friend_host, tmp_path, "friend", "--no-mdns", "--peer", victim.addr())
        nodes.append(friend)
        _met(friend, victim)
        assert victim.proc.poll() is None
    finally:
        for n in nodes:
            n.stop()
