"""``build/bench/report.md``: the benchmarks' JSON files as a page a person can read.

Reads whichever of ``envelope.json``, ``validate.json``, ``rtt.json``, ``e2e.json``,
``store.json`` and ``mesh.json`` are in ``--dir`` (``make bench`` writes them just
before), and writes ``report.md`` beside them with a table per benchmark (figure,
baseline, ratio, target) and two plots drawn as SVG by this file (no plotting
dependency): ``latency_cdf.svg``, the round-trip latency CDFs (web4 end to end, A2A end
to end, RTT transport ping-pong, raw TCP) on a log axis, and ``throughput.svg``,
messages per second of web4 and A2A one
way and of the store's inline vs group commit.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
from typing import Any

COLOURS = ["#1f77b4", "#d62728", "#2ca02c", "#7f7f7f", "#9467bd"]
W, H, L, R, T, B = 720, 420, 70, 20, 40, 60  # size and margins of a plot


def _load(d: Path, name: str) -> dict[str, Any] | None:
    p = d / f"{name}.json"
    return dict(json.loads(p.read_text())) if p.is_file() else None


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def cdf_svg(curves: dict[str, list[float]], title: str) -> str:
    """Each curve: latencies (us) at quantiles 0.5 % .. 100 % in 200 steps, x on log10."""
    values = [v for c in curves.values() for v in c if v > 0]
    lo = math.floor(math.log10(min(values)))
    hi = math.ceil(math.log10(max(values)))
    hi = max(hi, lo + 1)

    def x(us: float) -> float:
        return L + (math.log10(max(us, 10**lo)) - lo) / (hi - lo) * (W - L - R)

    def y(q: float) -> float:
        return H - B - q * (H - T - B)

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">{_esc(title)}</text>',
    ]
    for e in range(lo, hi + 1):  # decades
        px = x(10**e)
        label = f"{10**e:g} us" if e < 3 else f"{10 ** (e - 3):g} ms"
        out.append(f'<line x1="{px:.1f}" y1="{T}" x2="{px:.1f}" y2="{H - B}" stroke="#ddd"/>')
        out.append(f'<text x="{px:.1f}" y="{H - B + 16}" text-anchor="middle">{label}</text>')
    for q in (0, 0.25, 0.5, 0.75, 0.99, 1):
        py = y(q)
        out.append(f'<line x1="{L}" y1="{py:.1f}" x2="{W - R}" y2="{py:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{L - 6}" y="{py + 4:.1f}" text-anchor="end">{q:g}</text>')
    out.append(f'<text x="{W / 2}" y="{H - 20}" text-anchor="middle">round trip (log scale)</text>')
    out.append(
        f'<text x="16" y="{H / 2}" transform="rotate(-90 16 {H / 2})" '
        'text-anchor="middle">fraction of round trips</text>'
    )
    for i, (name, c) in enumerate(curves.items()):
        colour = COLOURS[i % len(COLOURS)]
        pts = " ".join(f"{x(v):.1f},{y((k + 1) / len(c)):.1f}" for k, v in enumerate(c))
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{pts}"/>')
        ly = T + 14 + 16 * i
        out.append(f'<rect x="{L + 10}" y="{ly - 9}" width="14" height="3" fill="{colour}"/>')
        out.append(f'<text x="{L + 30}" y="{ly - 4}">{_esc(name)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def bars_svg(bars: list[tuple[str, float]], title: str, unit: str) -> str:
    top = max(v for _, v in bars) or 1.0
    bw = (W - L - R) / len(bars)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" '
        'font-family="sans-serif" font-size="12">',
        f'<rect width="{W}" height="{H}" fill="white"/>',
        f'<text x="{W / 2}" y="20" text-anchor="middle" font-size="14">{_esc(title)}</text>',
        f'<line x1="{L}" y1="{H - B}" x2="{W - R}" y2="{H - B}" stroke="#333"/>',
    ]
    for i, (name, v) in enumerate(bars):
        h = v / top * (H - T - B - 20)
        bx = L + i * bw + bw * 0.15
        colour = COLOURS[i % len(COLOURS)]
        out.append(
            f'<rect x="{bx:.1f}" y="{H - B - h:.1f}" width="{bw * 0.7:.1f}" height="{h:.1f}" '
            f'fill="{colour}"/>'
        )
        out.append(
            f'<text x="{bx + bw * 0.35:.1f}" y="{H - B - h - 5:.1f}" text-anchor="middle">'
            f"{v:,.0f}</text>"
        )
        out.append(
            f'<text x="{bx + bw * 0.35:.1f}" y="{H - B + 16}" text-anchor="middle">'
            f"{_esc(name)}</text>"
        )
    out.append(f'<text x="{W / 2}" y="{H - 20}" text-anchor="middle">{_esc(unit)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _row(*cells: Any) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _met(ok: Any) -> str:
    return "met" if ok is True else "NOT met" if ok is False else "-"


def _rtt_target(rtt: dict[str, Any], key: str) -> str:
    target = rtt.get("targets", {}).get(key)
    if target is None:
        return ""
    return f"{target}: {_met(rtt.get('met', {}).get(key))}"


def report(d: Path) -> str:
    env, rtt, e2e, store = (_load(d, n) for n in ("envelope", "rtt", "e2e", "store"))
    lines = ["# Benchmarks", ""]
    lines.append(
        "Written by `make bench` (`benches/bench_report.py`) from the JSON files beside this "
        "page; each figure is next to its baseline measured in the same run. The machine "
        "is shared: compare ratios, not absolute figures, across runs."
    )
    if e2e is not None:
        w, a, r = e2e["web4"], e2e["baseline_a2a"], e2e["baseline_raw_tcp"]
        x, met = e2e["ratios"], e2e["met"]
        lines += [
            "",
            "## End to end: web4 vs the A2A Python SDK (`e2e.json`)",
            "",
            f"{e2e['when']}, {e2e['settings']['round_trips']} round trips each, "
            f"{e2e['machine']['cpus']} CPUs, load {e2e['machine']['loadavg_1m']}"
            f"{' (quick run)' if e2e.get('quick') else ''}, store: {e2e.get('store', '-')}. "
            "web4: two node processes, a "
            "signed CIP INTENT answered by the other agent's signed DECISION_SHARE, every "
            "message validated, trust-gated and persisted (replay cache, causal memory) "
            "before anything is acknowledged. A2A "
            f"{e2e['versions'].get('a2a-sdk')}: the SDK's server under uvicorn, its client's "
            "send_message, in-memory task store, nothing signed or persisted.",
            "",
            _row("figure", "web4", "A2A", "raw TCP", "web4 / A2A", "target"),
            _row("---", "---", "---", "---", "---", "---"),
            _row(
                "round trip p50 (us)",
                w["p50_us"],
                a["p50_us"],
                r["p50_us"],
                x["rtt_p50_vs_a2a"],
                f"<= 0.5x: {_met(met['rtt_p50_vs_a2a'])}",
            ),
            _row(
                "round trip p99 (us)",
                w["p99_us"],
                a["p99_us"],
                r["p99_us"],
                x["rtt_p99_vs_a2a"],
                "",
            ),
            _row(
                "one way (msgs/s)",
                w["one_way_msgs_per_s"],
                a["one_way_msgs_per_s"],
                "",
                x["one_way_vs_a2a"],
                f">= 3000: {_met(met['one_way_msgs_per_s'])}; >= 2x: {_met(met['one_way_vs_a2a'])}",
            ),
            "",
            f"Command: `{e2e['command']}`",
        ]
    if store is not None:
        g, i, sx = store["group_commit"], store["baseline_inline_fsync"], store["ratios"]
        lines += [
            "",
            "## Persistence: group commit vs an fsync per commit (`store.json`)",
            "",
            "Per accepted message two transactions and an acknowledgement that waits until "
            "both are on disk; bare fdatasync on this disk: "
            f"{store['fsync_p50_us']} us (p50).",
            "",
            _row("figure", "group commit (the node)", "inline fsync (before)", "ratio"),
            _row("---", "---", "---", "---"),
            _row("msgs/s, 64 in flight", g["msgs_per_s"], i["msgs_per_s"],
                 sx["msgs_per_s_vs_inline"]),
            _row("ack p50 (us), one at a time", g["ack_p50_us"], i["ack_p50_us"],
                 sx["ack_p50_vs_inline"]),
            _row("ack p99 (us), one at a time", g["ack_p99_us"], i["ack_p99_us"], ""),
            _row(
                "event loop blocked per msg (us)",
                g["loop_blocked_us_per_msg"],
                i["loop_blocked_us_per_msg"],
                sx["loop_blocked_vs_inline"],
            ),
        ]  # fmt: skip
    if rtt is not None:
        ra, rb, ratio = rtt["rtt"], rtt["raw_asyncio_tcp"], rtt["ratio_rtt_over_raw"]
        lines += [
            "",
            "## RTT transport vs raw asyncio TCP, one process (`rtt.json`)",
            "",
            _row("figure", "RTT", "raw TCP", "RTT / raw", "target"),
            _row("---", "---", "---", "---", "---"),
        ]
        for key in ra:
            lines.append(
                _row(
                    key,
                    ra[key],
                    rb.get(key, ""),
                    ratio.get(key, ""),
                    _rtt_target(rtt, key),
                )
            )
        floor = rtt.get("floor", {})
        lines += [
            "",
            f"Design: {rtt.get('design', {})}; idle CPU of two connected nodes: "
            f"{rtt.get('idle', {}).get('cpu_s_per_s', '-')} CPU-s/s; bare thread hand-off "
            f"round trip {floor.get('thread_handoff_rt_p50_us', '-')} us (p50); bare "
            f"TCP + Noise XX + yamux dial {floor.get('setup_stack_p50_ms', '-')} ms "
            f"({floor.get('setup_stack_over_raw', '-')}x raw setup), the floor under setup.",
        ]
    if env is not None:
        lines += [
            "",
            "## Envelope canonicalize + sign + verify (`envelope.json`)",
            "",
            _row("figure", "Rust", "pure Python", "speedup", "targets"),
            _row("---", "---", "---", "---", "---"),
            _row(
                "pairs/s",
                env["rust"]["ops_per_s"],
                env["baseline_pure_python"]["ops_per_s"],
                env["speedup_vs_baseline"],
                _met(env["targets"].get("met")),
            ),
        ]  # fmt: skip
    val = _load(d, "validate")
    if val is not None:  # benches/bench_validate.py: one signed envelope from its bytes
        new, old, x = val["parse_once"], val["baseline_python_parse"], val["speedup_vs_baseline"]
        steps = val["steps_us"]
        lines += ["", "## Validating one signed CIP envelope from its bytes (`validate.json`)", "",
                  f"{val['envelope']['bytes']} B; us per envelope; Ed25519 verify alone "
                  f"{steps['ed25519_verify_only']} us, parse once {steps['parse_once_rust']} us "
                  f"(json.loads with the former hooks {steps['python_decode_old']} us)", "",
                  _row("path", "parse once (Rust)", "Python parse (before)", "speedup"),
                  _row("---", "---", "---", "---"),
                  _row("Validator.validate(bytes)", new["validate_bytes_us"],
                       old["validate_bytes_us"], x["validate_bytes"]),
                  _row("router (parse, route, validate)", new["router_path_us"],
                       old["router_path_us"], x["router_path"])]  # fmt: skip
    mesh = _load(d, "mesh")
    if mesh is not None:  # benches/bench_mesh.py: the baseline of issue 14's gossip
        lines += ["", "## Fact propagation among node processes (`mesh.json`)", "",
                  f"{mesh['topology']}; command: `{mesh['command']}`", "",
                  _row("nodes", "holds", "p50 ms", "p99 ms", "copies/fact", "amplification",
                       "votes/fact"),
                  _row("---", "---", "---", "---", "---", "---", "---")]  # fmt: skip
        for r in mesh["runs"]:
            p, c = r.get("propagation_ms", {}), r.get("copies", {})
            lines.append(_row(r["nodes"], r["holds"], p.get("p50", "-"), p.get("p99", "-"),
                              c.get("total_per_fact", "-"), c.get("amplification", "-"),
                              c.get("votes_per_fact", "-")))  # fmt: skip
    curves: dict[str, list[float]] = {}
    if e2e is not None:
        curves["web4 end to end (signed, persisted)"] = e2e["cdf_us"]["web4"]
        curves["A2A SDK end to end"] = e2e["cdf_us"]["a2a"]
    if rtt is not None and "pingpong_64_cdf_us" in rtt:
        curves["RTT transport ping-pong, 64 B"] = rtt["pingpong_64_cdf_us"]["rtt"]
    if e2e is not None:
        curves["raw TCP ping-pong, 64 B, two processes"] = e2e["cdf_us"]["raw_tcp"]
    if curves:
        (d / "latency_cdf.svg").write_text(cdf_svg(curves, "Round-trip latency CDF"))
        lines += ["", "## Plots", "", "![round-trip latency CDF](latency_cdf.svg)"]
    bars: list[tuple[str, float]] = []
    if e2e is not None:
        bars += [
            ("web4 one way", float(e2e["web4"]["one_way_msgs_per_s"])),
            ("A2A one way", float(e2e["baseline_a2a"]["one_way_msgs_per_s"])),
        ]
    if store is not None:
        bars += [
            ("store: group commit", float(store["group_commit"]["msgs_per_s"])),
            ("store: inline fsync", float(store["baseline_inline_fsync"]["msgs_per_s"])),
        ]
    if bars:
        (d / "throughput.svg").write_text(bars_svg(bars, "Messages per second", "msgs/s"))
        lines += ["", "![messages per second](throughput.svg)"]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dir", type=Path, default=Path("build/bench"))
    a = p.parse_args()
    text = report(a.dir)
    (a.dir / "report.md").write_text(text)
    print(f"wrote {a.dir / 'report.md'}")


if __name__ == "__main__":
    main()
