"""A fact reaches every node of a 12-node sparse mesh through gossip (issue 14).

Twelve ``web4 node`` processes on loopback (``support.mesh``), each dialling at most two
earlier nodes (``sparse``: a chain with a binary tree over it), all following the
fact's domain. The proposer dials two nodes; the fact must reach all eleven others,
most of them several hops away, and every one of them must store it exactly once,
whichever path (its proposer's point-to-point copy, or any gossip copy) came first.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from support.mesh import Mesh, sparse

pytestmark = pytest.mark.timeout(300)

N = 12


def test_a_fact_reaches_every_node_of_a_sparse_mesh_once(tmp_path: Path) -> None:
    facts = ["Gossip crosses a sparse mesh of twelve nodes"]
    args = ("--gossip-domain", "mesh")
    with Mesh(tmp_path, N, peers_of=sparse, node_args=args, start_timeout=120) as mesh:
        mesh.start(believe=facts)
        result = mesh.propagate(facts, timeout=60)
        assert result.unreached == [], result.unreached
        (claim,) = result.facts
        proposer_peers = set(mesh._dialled[-1])
        far = [
            node for node, addr in zip(mesh.nodes[:-1], mesh.addrs[:-1], strict=True)
            if addr not in proposer_peers
        ]  # fmt: skip
        assert len(far) >= N - 3
        for node in far:  # reached by gossip alone: the proposer never met them
            assert any(
                e["kind"] == "cip.gossip.delivered"
                and e["attributes"].get("type") == "FACT_PROPOSE"
                for e in node.events
            ), node.data_dir.name
        for node in mesh.nodes:
            with sqlite3.connect(node.data_dir / "web4.sqlite3") as db:
                rows = db.execute(
                    "SELECT COUNT(*) FROM knowledge_claims WHERE wire_msg_id = ?", (claim,)
                ).fetchall()
            assert rows == [(1,)], (node.data_dir.name, rows)
            assert not [e for e in node.events if e["kind"] == "cip.gossip.invalid"]
        summary = result.summary()
        assert summary["propagation_ms"]["n"] == N - 1
