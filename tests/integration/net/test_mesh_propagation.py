"""``benches/bench_mesh.py`` at 6 nodes (the harness ``support.mesh`` with real node
processes on loopback): it runs, every node gets every fact, and the static full mesh's
figures are what that topology must give, so the harness cannot rot before the gossip
work compares against it (issue 14)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
NODES, FACTS = 6, 2


def test_full_mesh_propagation_figures(tmp_path: Path) -> None:
    out, md = tmp_path / "mesh.json", tmp_path / "mesh.md"
    cmd = [sys.executable, str(ROOT / "benches" / "bench_mesh.py"), "--nodes", str(NODES)]
    cmd += ["--facts", str(FACTS), "--timeout", "60", "--out", str(out), "--report", str(md)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    (run,) = json.loads(out.read_text())["runs"]
    assert run["holds"] is True
    assert (run["nodes"], run["facts"], run["unreached"]) == (NODES, FACTS, 0)
    p = run["propagation_ms"]
    assert p["n"] == FACTS * (NODES - 1)
    assert 0 <= p["p50"] <= p["p99"] <= p["max"] < 10_000
    # full mesh: the proposer (last node) sends each fact once to each other node; nobody
    # forwards, nobody gets a duplicate; every other node votes to each of its peers
    c = run["copies"]
    assert c["total_per_fact"] == NODES - 1
    assert c["amplification"] == 1.0
    assert c["max_sent_per_node_per_fact"] == NODES - 1
    assert c["duplicates_received_per_fact"] == 0
    assert c["votes_per_fact"] == (NODES - 1) * (NODES - 1)
    sent = run["copies_sent_by_node"]
    assert sent.pop(f"n{NODES - 1:02d}") == FACTS * (NODES - 1)
    assert set(sent.values()) == {0}
    assert f"| {NODES} | yes | {FACTS} |" in md.read_text()
