"""``web4 mesh-demo --agents N``: knowledge consensus in a mesh, and trust it cannot buy.

Theory of operation: N-1 *established* agents (real node processes on loopback) form a
full mesh: each dials every one started before it, and each names all the others as
operator trust anchors, so after the handshakes they trust each other. Once every
established agent has finished its handshake with every other one, a *newcomer* joins:
it dials every established agent and anchors them (its operator joins a known network),
but nobody anchors it, so everywhere it starts as ``probing``. It proposes a fact every
established agent believes, then a statement that contradicts it. Each established agent
confirms the first, challenges the second, and broadcasts its vote to all its peers, so
every node counts the same votes for the same claim (bound by its claim hash):

* at the newcomer, N-1 trusted confirmations: its fact is accepted (consensus);
* at each established agent, the other N-2 established agents' confirmations count:
  with N >= 4 that is at least two, and the fact is accepted there too. With N = 3 one
  counted confirmation is all there is, and it stays pending there: the rule holds.
  Either way the newcomer stays ``probing``: repeating what others believe earns no
  trust (only an operator anchor promotes, docs/CIP_SPEC.md section 7);
* the contradicting statement is disputed everywhere by trusted challengers, and at each
  established agent that dispute demotes the newcomer ``probing -> untrusted``.

Output and cleanup as ``web4 demo``: every event live, prefixed by the agent; a summary
from every store; exit 0 only when each node ended as the rules say it must.
"""

from __future__ import annotations

import contextlib
import json
import queue
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

from web4.cli import args as cli_args
from web4.cli.demo import _Agent, _drain, _ended, _Printer, _WallClock
from web4.errors import ConfigError
from web4.knowledge import ClaimState, KnowledgeExchange
from web4.store import Store
from web4.trust import TrustBook

__all__ = ["add_parser", "run_mesh_demo"]

NAMES = ("ann", "bo", "cy", "di", "ed", "fay", "gus", "hal", "ivy")
FACT = "Light is faster than sound in air"
LIE = "Light is not faster than sound in air"  # same subject, opposite polarity


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "mesh-demo",
        help="run N agents in a mesh: a newcomer's fact accepted by consensus (earning it no "
        "trust), its lie disputed (costing it what it had)",
        description="Start N agents (3..10) as node processes on loopback: N-1 established "
        "agents that anchor each other, and a newcomer whose fact is accepted by their "
        "consensus while it stays probing, and whose contradicting statement is disputed "
        "and demotes it.",
        epilog="Example: web4 mesh-demo --agents 5",
    )
    p.add_argument(
        "--agents",
        type=cli_args.int_range(3, 10),
        default=5,
        help="how many agents, 3..10 (default 5)",
    )
    p.add_argument("--json", action="store_true", help="print events as JSON lines")
    p.add_argument(
        "--timeout",
        type=cli_args.positive_float,
        default=40.0,
        metavar="SECONDS",
        help="give up after SECONDS (default 40; a loaded machine may need more)",
    )
    p.set_defaults(func=lambda a: run_mesh_demo(a.agents, as_json=a.json, timeout=a.timeout))


def run_mesh_demo(agents: int = 5, *, as_json: bool = False, timeout: float = 40.0) -> int:
    """Raises ``ConfigError`` when ``agents`` is not within 3..10."""
    if not 3 <= agents <= 10:
        raise ConfigError(f"--agents {agents}: a mesh demo has 3..10 agents")
    root = Path(tempfile.mkdtemp(prefix="web4-mesh-"))
    nodes: list[_Agent] = []
    try:
        est = [_Agent(n, root) for n in NAMES[: agents - 1]]
        new = _Agent("new", root)
        nodes = [*est, new]
        printer = _Printer(as_json, nodes)
        lines: queue.Queue[tuple[str, str]] = queue.Queue()
        deadline = time.monotonic() + timeout
        addrs: dict[str, str] = {}
        accepted: set[str] = set()
        disputed: set[str] = set()
        met: dict[str, set[str]] = {a.name: set() for a in nodes}  # handshakes done, by agent
        want = {"new", *(a.name for a in est)} if agents >= 4 else {"new"}
        life = ["--listen", "/ip4/127.0.0.1/tcp/0", "--exit-after", str(timeout)]
        for i, a in enumerate(nodes):
            others = est if a is new else [b for b in est if b is not a]
            args = [*life, "--believe", FACT]
            args += [x for b in others for x in ("--trust", b.identity.fingerprint)]
            args += [x for b in nodes[:i] for x in ("--peer", addrs[b.name])]
            if a is new:  # the mesh first: every established agent met every other one
                args += ["--propose", f"{FACT}|physics|0.9", "--propose", f"{LIE}|physics|0.9"]
                while time.monotonic() < deadline and any(
                    len(met[b.name]) < len(est) - 1 for b in est
                ):
                    _step(lines, printer, deadline, addrs, accepted, disputed, met)
            a.start(args, lines)
            while a.name not in addrs and time.monotonic() < deadline:
                _step(lines, printer, deadline, addrs, accepted, disputed, met)
        everyone = {a.name for a in nodes}
        while (not want <= accepted or not everyone <= disputed) and time.monotonic() < deadline:
            _step(lines, printer, deadline, addrs, accepted, disputed, met)
        missing = []
        if len(addrs) < len(nodes):
            missing.append(f"every agent listening ({len(addrs)} of {len(nodes)})")
        if not want <= accepted:
            missing.append(f"the fact's acceptance at {_names(want - accepted)}")
        if not everyone <= disputed:
            missing.append(f"the contradiction's dispute at {_names(everyone - disputed)}")
        timed_out = timeout if missing and time.monotonic() >= deadline else None
        for a in nodes:
            a.stop(signal.SIGTERM)
        _drain(nodes, lines, printer, time.monotonic() + 8.0)
        return _summary(est, new, agents, as_json, missing, timed_out)
    finally:
        for a in nodes:
            a.stop(signal.SIGKILL)
            if a.proc is not None:
                with contextlib.suppress(Exception):
                    a.proc.wait(timeout=5)
        shutil.rmtree(root, ignore_errors=True)


def _step(
    lines: queue.Queue[tuple[str, str]],
    printer: _Printer,
    deadline: float,
    addrs: dict[str, str],
    accepted: set[str],
    disputed: set[str],
    met: dict[str, set[str]],
) -> None:
    try:
        who, line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
    except queue.Empty:
        return
    ev = printer.show(who, line) if line else None
    if ev is None:
        return
    if ev["kind"] == "node.started":
        listen = ev["listen"]
        addrs[who] = str(listen[0] if isinstance(listen, list) else listen)
    elif ev["kind"] == "knowledge.claim_accepted":
        accepted.add(who)
    elif ev["kind"] == "knowledge.claim_disputed":
        disputed.add(who)
    elif ev["kind"] == "cip.handshake.done" and ev.get("peer"):
        met[who].add(str(ev["peer"]))


def _names(names: set[str]) -> str:
    return cli_args.words(sorted(names), "and") if names else "none"


def _summary(
    est: list[_Agent],
    new: _Agent,
    agents: int,
    as_json: bool,
    missing: list[str],
    timed_out: float | None,
) -> int:
    report: dict[str, Any] = {}
    for a in [*est, new]:
        with Store.in_data_dir(a.dir) as store:
            trust = TrustBook(store, _WallClock())
            claims = KnowledgeExchange(store, trust, _WallClock()).claims()
            report[a.name] = {
                "exit_code": None if a.proc is None else a.proc.returncode,
                "newcomer": trust.state_of(new.identity.fingerprint).value,
                "claims": {c.fact.statement: c.state.value for c in claims},
            }
    ok = all(r["exit_code"] == 0 for r in report.values())
    ok = ok and report["new"]["claims"].get(FACT) == ClaimState.ACCEPTED.value
    ok = ok and report["new"]["claims"].get(LIE) == ClaimState.DISPUTED.value
    for a in est:
        r = report[a.name]
        fact = "accepted" if agents >= 4 else "pending"
        ok = ok and (r["claims"].get(FACT), r["claims"].get(LIE)) == (fact, "disputed")
        ok = ok and r["newcomer"] == "untrusted"
    ok = ok and not missing
    report["result"] = "ok" if ok else "FAIL"
    report["missing"] = list(missing)
    report["timed_out"] = timed_out is not None
    if as_json:
        print(json.dumps({"mesh_summary": report}, sort_keys=True), flush=True)
        return 0 if ok else 1
    print(f"\n== summary ({agents} agents: {len(est)} established, 1 newcomer)")
    for a in [*est, new]:
        r = report[a.name]
        seen = "the newcomer itself" if a is new else f"sees the newcomer as {r['newcomer']}"
        fact, lie = r["claims"].get(FACT, "never seen"), r["claims"].get(LIE, "never seen")
        print(
            f"{a.name:<4} {_ended(r['exit_code'])}; {seen}; the fact is {fact}, its "
            f"contradiction {lie}"
        )
    if ok:
        print(
            "the newcomer's fact was judged by the established agents' consensus and earned "
            "it no trust (only an operator promotes); its contradiction was disputed and "
            "demoted it"
        )
    steps = cli_args.words(list(missing), "and") if missing else ""
    if timed_out is not None:
        longer = max(90.0, 2 * timed_out)
        print(
            f"the --timeout of {timed_out:g} seconds passed before {steps} (a loaded machine "
            f"needs longer: try --timeout {longer:g})"
        )
    elif missing:
        print(f"not seen: {steps} (the nodes' events above say why)")
    print(f"result: {report['result']}", flush=True)
    return 0 if ok else 1
