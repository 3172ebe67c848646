"""``benches/bench_e2e.py --quick``: the end-to-end benchmark still runs (two real web4
node processes, the A2A SDK's server and client, raw TCP) and writes a complete JSON;
``benches/bench_report.py`` turns it into ``report.md`` with its plots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_bench_e2e_quick_writes_every_figure(tmp_path: Path) -> None:
    out = tmp_path / "e2e.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "benches" / "bench_e2e.py"), "--quick", "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert doc["quick"] is True
    n = doc["settings"]["round_trips"]
    for side in ("web4", "baseline_a2a", "baseline_raw_tcp"):
        assert doc[side]["n"] == n
        assert 0 < doc[side]["p50_us"] <= doc[side]["p99_us"]
    # every one-way message reached the responder's agent, and both rates were measured
    assert doc["web4"]["one_way_seen_by_responder"] == doc["settings"]["web4_one_way"]
    assert doc["web4"]["one_way_msgs_per_s"] > 0
    assert doc["baseline_a2a"]["one_way_msgs_per_s"] > 0
    assert set(doc["met"]) == set(doc["targets"])
    for curve in doc["cdf_us"].values():
        assert len(curve) == 200
        assert curve == sorted(curve)
    assert "one way msgs/s: web4" in done.stdout
    report = subprocess.run(
        [sys.executable, str(ROOT / "benches" / "bench_report.py"), "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert report.returncode == 0, report.stderr[-3000:]
    text = (tmp_path / "report.md").read_text()
    assert "## End to end: web4 vs the A2A Python SDK" in text
    assert f"| round trip p50 (us) | {doc['web4']['p50_us']} |" in text
    svg = (tmp_path / "latency_cdf.svg").read_text()
    assert svg.count("<polyline") == 3  # web4, A2A, raw TCP (no rtt.json here)
    assert "<svg" in (tmp_path / "throughput.svg").read_text()
