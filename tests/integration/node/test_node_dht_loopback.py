"""A bare-PeerId --peer resolved through the DHT by real nodes on one machine (loopback:
no root, no namespace). C knows only its bootstrap B and A's PeerId; it finds A through
B, dials it and completes the CIP handshake; B and A dial nobody (--min-peers 0)."""

from __future__ import annotations

from pathlib import Path

from support.nodeproc import NodeProc


def test_a_bare_peer_id_is_found_through_a_bootstrap_node_on_loopback(tmp_path: Path) -> None:
    nodes: list[NodeProc] = []
    try:
        b = NodeProc.new(tmp_path, "b", "--no-mdns", "--min-peers", "0")
        nodes.append(b)
        a = NodeProc.new(tmp_path, "a", "--no-mdns", "--min-peers", "0", "--bootstrap", b.addr())
        nodes.append(a)
        a_id = a.addr().rsplit("/p2p/", 1)[1]
        c = NodeProc.new(tmp_path, "c", "--no-mdns", "--bootstrap", b.addr(), "--peer", a_id)
        nodes.append(c)
        c.wait_for(lambda e: e["kind"] == "cip.handshake.done" and e["peer"] == a.fingerprint, 30)
        found = [e for e in c.kinds("node.peer_lookup") if e["attributes"]["found"] >= 1]
        assert found, c.kinds("node.peer_lookup")
        assert not [e for e in b.kinds("rtt.session_open") if e["peer"] == a.fingerprint]
    finally:
        for n in nodes:
            n.stop()
