"""Fact propagation through a mesh of real node processes: latency and amplification.

The harness is ``tests/support/mesh.py`` (shared with the tests; its docstring says what
is measured and how): ``N`` ``web4 node`` processes on loopback in the static full mesh
``web4 mesh-demo`` builds (``--topology full``, gossip off: the nodes of today), or a
sparse mesh where each node dials at most two earlier ones and the facts travel by
gossip (``--topology gossip``, issue 14: ``support.mesh.sparse``, every node following
the facts' domain), each believing the facts, and one of them proposing ``--facts``
facts one second apart. For every size in ``--nodes`` (in order) it records
propagation p50/p99/max (ms, from the nodes' ``--json`` event times) and the copies of
each fact sent per node (amplification). It stops at the first size that does not hold
(a node not reached, or a timeout): the sizes after it are not run, and the ones before
it stand. With gossip, the copies that reached each node by gossip (delivered to it, or
dropped by gossipsub as already seen) are counted too (``gossip_copies``), from each
node's last ``cip.gossip.stats``.

    python benches/bench_mesh.py --nodes 10 --out build/bench/mesh.json       # make bench
    python benches/bench_mesh.py --nodes 30 40 --out build/soak/mesh.json \\
        --report build/soak/mesh.md                                           # make soak
    python benches/bench_mesh.py --topology gossip --nodes 10 30 --out build/soak/gossip.json
    python benches/bench_mesh.py --topology gossip --churn --nodes 30 \
        --out build/soak/churn.json --report build/soak/churn.md            # make soak

``--churn`` (gossip only; issue 14): right after the proposer records its first fact, a
third of the nodes (every third one, never the proposer) are killed with SIGKILL, and
restarted 0.5 s later on the same store, identity, port and peers, while the facts
spread. Measured then from each node's store (SQLite, read-only) and its events, old
and new process alike: whether every fact is stored at every node (all are live and
subscribed again at the end: ``missing``, per (fact, node) never stored), whether any
node stored a fact twice (``stored_twice``), whether anything a killed node had stored
was lost (``lost``), invalid gossip anywhere (``invalid_gossip``), and propagation
p50/p99/max (to each node's first event naming the claim, in either process). It holds
when nothing is missing, twice, lost or invalid.

Exit status 1 when the first size does not hold.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# the harness lives with the tests (tests/support), which import it as `support`
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from support.mesh import (
    Mesh,
    event_time,
    full_mesh,
    gossip_copies,
    naming,
    own_claim,
    percentile,
    sparse,
)

TOPOLOGIES = {
    "full": "static full mesh: each node dials every node started before it (web4 "
    "mesh-demo), gossip off",
    "gossip": "sparse: each node dials nodes i-1 and (i-1)//2; facts by gossip (every node "
    "follows their domain) and point to point to direct peers",
}


def run_size(n: int, facts: int, timeout: float, topology: str = "full") -> dict[str, Any]:
    """One mesh of ``n`` nodes: its summary (``holds``: every node reached)."""
    statements = [f"Mesh propagation fact {i} of {facts} holds" for i in range(facts)]
    root = Path(tempfile.mkdtemp(prefix=f"web4-mesh{n}-"))
    t0 = time.monotonic()
    out: dict[str, Any]
    try:
        gossip = topology == "gossip"
        peers_of = sparse if gossip else full_mesh
        args = ("--gossip-domain", "mesh") if gossip else ("--no-gossip",)
        with Mesh(
            root, n, peers_of=peers_of, node_args=args, start_timeout=max(60.0, 4.0 * n)
        ) as mesh:
            mesh.start(believe=statements)
            print(f"mesh of {n}: linked in {mesh.mesh_setup_s:.1f} s", file=sys.stderr)
            result = mesh.propagate(statements, timeout=timeout)
            if gossip:
                time.sleep(2.5)  # one more cip.gossip.stats from every node
                per_node = gossip_copies(mesh.nodes)
                result.extra["gossip_copies"] = {
                    "per_fact": sum(per_node.values()) / facts,
                    "per_node_per_fact": sum(per_node.values()) / facts / n,
                    "max_per_node_per_fact": max(per_node.values(), default=0) / facts,
                    "by_node": per_node,
                }
        out = result.summary()
        out["copies_sent_by_node"] = result.copies_sent
        out["holds"] = not result.unreached
    except AssertionError as e:  # a wait ran out: the size did not hold
        out = {"nodes": n, "facts": facts, "holds": False, "error": str(e)[:2000]}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    out["wall_s"] = round(time.monotonic() - t0, 1)
    out["loadavg_1m"] = round(os.getloadavg()[0], 1)  # the machine is shared: say how busy
    return out


def victims_of(n: int) -> list[int]:
    """A third of the ``n`` nodes to kill: every third one, never the proposer (the last)."""
    return [i for i in range(n - 1) if i % 3 == 1]


def stored_claims(data_dir: Path) -> dict[str, int]:
    """Per claim id (``wire_msg_id``), the rows a node's store holds; read-only."""
    uri = f"file:{data_dir / 'web4.sqlite3'}?mode=ro"
    with contextlib.closing(sqlite3.connect(uri, uri=True, timeout=10)) as db:
        rows = db.execute(
            "SELECT wire_msg_id, COUNT(*) FROM knowledge_claims GROUP BY wire_msg_id"
        ).fetchall()
    return {str(m): int(c) for m, c in rows}


def run_churn(n: int, facts: int, timeout: float) -> dict[str, Any]:
    """One sparse gossip mesh of ``n`` nodes, a third killed and restarted while the
    facts spread (see the module docstring)."""
    statements = [f"Churn fact {i} of {facts} survives restarts" for i in range(facts)]
    root = Path(tempfile.mkdtemp(prefix=f"web4-churn{n}-"))
    victims = victims_of(n)
    t0 = time.monotonic()
    out: dict[str, Any] = {"nodes": n, "facts": facts, "killed": len(victims)}
    try:
        args = ("--gossip-domain", "mesh")
        with Mesh(
            root, n, peers_of=sparse, node_args=args, start_timeout=max(60.0, 4.0 * n)
        ) as mesh:
            mesh.start(believe=statements)
            print(f"mesh of {n}: linked in {mesh.mesh_setup_s:.1f} s", file=sys.stderr)
            proposer = mesh._start(n - 1, statements, statements)
            deadline = time.monotonic() + timeout
            me = proposer.fingerprint
            first = proposer.wait_for(own_claim(me, statements[0]), timeout)
            before: dict[int, set[str]] = {}
            for i in victims:  # SIGKILL, then what its store held at that moment
                mesh.kill(i)
            for i in victims:
                before[i] = set(stored_claims(mesh.root / mesh.names[i]))
            time.sleep(0.5)
            r0 = time.monotonic()
            for i in victims:
                mesh.restart(i, statements, wait=False)
            for i in victims:
                mesh.nodes[i].kind("node.started", max(0.1, deadline - time.monotonic()))
            out["restart_s"] = round(time.monotonic() - r0, 2)
            print(f"killed and restarted {len(victims)} nodes", file=sys.stderr)
            claims = [str(first["attributes"]["claim_id"])]
            for st in statements[1:]:
                ev = proposer.wait_for(own_claim(me, st), max(0.1, deadline - time.monotonic()))
                claims.append(str(ev["attributes"]["claim_id"]))
            for i in range(n - 1):  # until every node has every fact (or the deadline)
                for c in claims:
                    left = max(0.1, deadline - time.monotonic())
                    with contextlib.suppress(AssertionError):
                        if not any(naming(c)(e) for e in mesh.events_of(i)):
                            mesh.nodes[i].wait_for(naming(c), left)
            # the stores, once the last events are in (a claim is stored before its event)
            time.sleep(2.5)
            sent_at = {
                c: min(event_time(e) for e in mesh.events_of(n - 1) if naming(c)(e)) for c in claims
            }
            ms: list[float] = []
            by_group: dict[str, list[float]] = {"kept": [], "restarted": []}
            missing: list[tuple[int, str]] = []
            twice: list[tuple[str, str, int]] = []
            lost: list[tuple[str, str]] = []
            invalid = 0
            for i in range(n):
                name = mesh.names[i]
                held = stored_claims(mesh.root / name)
                events = mesh.events_of(i)
                invalid += sum(1 for e in events if e["kind"].startswith("cip.gossip.invalid"))
                twice += [(name, c, k) for c, k in held.items() if k > 1]
                lost += [(name, c) for c in sorted(before.get(i, set()) - set(held))]
                if i == n - 1:
                    continue
                for k, c in enumerate(claims):
                    if c not in held:
                        missing.append((k, name))
                    firsts = [event_time(e) for e in events if naming(c)(e)]
                    if firsts:
                        ms.append(round(max(0.0, (min(firsts) - sent_at[c]) * 1000.0), 1))
                        by_group["restarted" if i in before else "kept"].append(ms[-1])
            out.update(
                propagation_ms={
                    "p50": percentile(ms, 0.50),
                    "p99": percentile(ms, 0.99),
                    "max": max(ms, default=float("nan")),
                    "n": len(ms),
                },
                propagation_ms_by_group={
                    g: {"p50": percentile(xs, 0.50), "p99": percentile(xs, 0.99), "n": len(xs)}
                    for g, xs in by_group.items()
                },  # nodes never killed, and the killed and restarted ones
                stored=(n - 1) * facts - len(missing),
                expected=(n - 1) * facts,
                missing=missing,
                stored_twice=twice,
                lost=lost,
                invalid_gossip=invalid,
                mesh_setup_s=round(mesh.mesh_setup_s, 2),
                victims=[mesh.names[i] for i in victims],
            )
            out["holds"] = not (missing or twice or lost or invalid)
    except AssertionError as e:  # a wait ran out: the size did not hold
        out.update(holds=False, error=str(e)[:2000])
    finally:
        shutil.rmtree(root, ignore_errors=True)
    out["wall_s"] = round(time.monotonic() - t0, 1)
    out["loadavg_1m"] = round(os.getloadavg()[0], 1)  # the machine is shared: say how busy
    return out


def churn_report(doc: dict[str, Any]) -> str:
    lines = [
        "# Fact propagation under churn (a third of the nodes SIGKILLed and restarted)",
        "",
        f"Topology: {doc['topology']}. Machine: {doc['machine']['cpus']} CPUs, "
        f"{doc['machine']['system']}. Command: `{doc['command']}`.",
        "",
        "| nodes | killed | holds | facts | stored / expected | stored twice | lost "
        "| invalid gossip | p50 ms | p99 ms | max ms | restart s | wall s | load 1m |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["runs"]:
        if "propagation_ms" not in r:
            lines.append(f"| {r['nodes']} | no: {r.get('error', '')[:80]} |" + " |" * 12)
            continue
        p = r["propagation_ms"]
        cells = [r["nodes"], r["killed"], "yes" if r["holds"] else "no", r["facts"],
                 f"{r['stored']} / {r['expected']}", len(r["stored_twice"]), len(r["lost"]),
                 r["invalid_gossip"], p["p50"], p["p99"], p["max"], r["restart_s"],
                 r["wall_s"], r["loadavg_1m"]]  # fmt: skip
        lines.append("| " + " | ".join(_f(x) for x in cells) + " |")
    for r in doc["runs"]:
        g = r.get("propagation_ms_by_group")
        if g:
            k, x = g["kept"], g["restarted"]
            lines.append(
                f"\n{r['nodes']} nodes: never killed p50 {_f(k['p50'])} / p99 {_f(k['p99'])} "
                f"ms; killed and restarted p50 {_f(x['p50'])} / p99 {_f(x['p99'])} ms."
            )
    lines += [
        "",
        "Killed right after the proposer recorded its first fact, restarted 0.5 s later on "
        "the same store, port and peers. Stored: claim rows in each node's SQLite store "
        "(every fact at every node but the proposer); propagation: from the proposer's "
        "first event naming a claim to each node's first one, in its killed or its new "
        "process.",
    ]
    return "\n".join(lines) + "\n"


def _f(x: Any) -> str:
    return f"{x:.1f}" if isinstance(x, float) else str(x)


def report(doc: dict[str, Any]) -> str:
    lines = [
        "# Fact propagation in a mesh of real node processes",
        "",
        f"Topology: {doc['topology']}. Machine: {doc['machine']['cpus']} CPUs, "
        f"{doc['machine']['system']}. Command: `{doc['command']}`.",
        "",
        "| nodes | holds | facts | p50 ms | p99 ms | max ms | copies/fact | amplification "
        "| max sent/node/fact | duplicates/fact | votes/fact | gossip/fact | mesh setup s "
        "| wall s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in doc["runs"]:
        if "propagation_ms" not in r:
            lines.append(f"| {r['nodes']} | no: {r.get('error', '')[:80]} |" + " |" * 12)
            continue
        p, c = r["propagation_ms"], r["copies"]
        cells = [r["nodes"], "yes" if r["holds"] else f"no ({r['unreached']} unreached)",
                 r["facts"], p["p50"], p["p99"], p["max"], c["total_per_fact"],
                 c["amplification"], c["max_sent_per_node_per_fact"],
                 c["duplicates_received_per_fact"], c["votes_per_fact"],
                 r.get("gossip_copies", {}).get("per_fact", "-"), r["mesh_setup_s"],
                 r["wall_s"]]  # fmt: skip
        lines.append("| " + " | ".join(_f(x) for x in cells) + " |")
    lines += [
        "",
        "Propagation: from the proposer's first event naming a claim to each other node's "
        "first one (event times: millisecond precision). Copies: FACT_PROPOSE envelopes "
        "the routers handled or refused, by the peer that delivered them; amplification "
        "= copies per fact / (nodes - 1). Votes: FACT_CONFIRM/CHALLENGE/REJECT envelopes. "
        "Copies a router handled are counted for the envelope's sender; gossip copies "
        "(delivered or dropped as seen by gossipsub, proposals and votes alike) per node: "
        "gossip/fact.",
    ]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, nargs="+", default=[10], help="mesh sizes, in order")
    p.add_argument("--facts", type=int, default=5, help="facts proposed (1 s apart)")
    p.add_argument("--timeout", type=float, default=120.0, help="propagation deadline (s)")
    p.add_argument("--out", type=Path, required=True, help="JSON results")
    p.add_argument("--report", type=Path, help="also a Markdown report")
    p.add_argument("--topology", choices=sorted(TOPOLOGIES), default="full",
                   help="full: the static full mesh without gossip (the baseline); gossip: "
                   "a sparse mesh, facts by gossip")  # fmt: skip
    p.add_argument("--churn", action="store_true",
                   help="kill a third of the nodes (SIGKILL) and restart them while the "
                   "facts spread (gossip only)")  # fmt: skip
    a = p.parse_args()
    if any(n < 2 for n in a.nodes) or a.facts < 1:
        p.error("--nodes: each at least 2; --facts: at least 1")
    if a.churn and (a.topology != "gossip" or any(n < 3 for n in a.nodes)):
        p.error("--churn: with --topology gossip and at least 3 nodes")
    doc: dict[str, Any] = {
        "benchmark": "mesh_propagation",
        "topology": TOPOLOGIES[a.topology] + ("; churn" if a.churn else ""),
        "command": " ".join(["python", "benches/bench_mesh.py", *sys.argv[1:]]),
        "machine": {"cpus": os.cpu_count(), "system": platform.platform(terse=True)},
        "settings": {"nodes": a.nodes, "facts": a.facts, "timeout_s": a.timeout},
        "runs": [],
    }
    for n in a.nodes:
        if a.churn:
            run = run_churn(n, a.facts, a.timeout)
        else:
            run = run_size(n, a.facts, a.timeout, a.topology)
        doc["runs"].append(run)
        a.out.parent.mkdir(parents=True, exist_ok=True)
        a.out.write_text(json.dumps(doc, indent=2) + "\n")  # what holds so far, kept
        print(json.dumps({k: run.get(k) for k in ("nodes", "holds", "propagation_ms")}))
        if not run["holds"]:
            break
    if a.report is not None:
        a.report.parent.mkdir(parents=True, exist_ok=True)
        a.report.write_text(churn_report(doc) if a.churn else report(doc))
        print(f"wrote {a.report}")
    return 0 if doc["runs"][0]["holds"] else 1


if __name__ == "__main__":
    sys.exit(main())
