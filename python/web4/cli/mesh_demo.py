"""``web4 mesh-demo --agents N``: knowledge consensus in a mesh, trust it cannot buy, and
a librarian that answers from what the mesh accepted.

Theory of operation: N-1 *established* agents (real node processes on loopback) form a
full mesh with no dial list: the first one is the DHT's bootstrap, every other one gets
only its address (``--bootstrap``) and finds the rest through the DHT, dialling them up
to ``--min-peers`` (all of them; mDNS is off on loopback, docs/RTT_SPEC.md section 16).
Each names all the others as operator trust anchors, so after the handshakes they trust
each other. Every agent follows the ``physics`` gossip topic (docs/CIP_SPEC.md section 11),
so knowledge travels both directly and by gossip; the end of the output shows how each
agent found each peer (``node.peer_dial`` source, else inbound) and whether the
newcomer's fact first reached it directly or by gossip (and from whom). The mesh must be
full: a vote counts only from a peer trusted before the claim arrived, and trust comes
from an anchor's handshake, so the newcomer (``--bootstrap``, no ``--peer``) proposes
once ``--min-peers`` handshakes are done (``web4.node.proposals.proposal_quorum``). In a source
checkout a librarian (``lib``, one more process) joins them: it dials and anchors every
established agent (its operator trusts the mesh), nobody anchors it, and it votes on
nothing. Once every one of them has finished its handshake with every other one, a
*newcomer* joins: it meets every established agent (and the librarian) and anchors the
established agents (its operator joins a known network), but nobody anchors it, so
everywhere it starts as ``probing``. It proposes a fact every established agent
believes, then a statement that contradicts it. Each established agent confirms the
first, challenges the second, and broadcasts its vote to all its peers, so every node
counts the same votes for the same claim (bound by its claim hash):

* at the newcomer and at the librarian, N-1 trusted confirmations: the fact is accepted
  (consensus);
* at each established agent, the other N-2 established agents' confirmations count:
  with N >= 4 that is at least two, and the fact is accepted there too. With N = 3 one
  counted confirmation is all there is, and it stays pending there: the rule holds.
  Either way the newcomer stays ``probing``: repeating what others believe earns no
  trust (only an operator anchor promotes, docs/CIP_SPEC.md section 7);
* the contradicting statement is disputed everywhere by trusted challengers, and at each
  established agent (and the librarian) that dispute demotes the newcomer
  ``probing -> untrusted``;
* then a scripted human (``web4 human``, Dana, whose key the demo authorised at the
  librarian before it started, as ``web4 human-key add`` does) asks the librarian about
  it; the answer is the fact the mesh accepted, with its provenance (proposed by the
  newcomer, untrusted now; confirmed by the established agents, trusted).

Every node runs an example agent on the public Agent API, named with ``--agent``: the
established agents and the newcomer run the belief agent (``examples/belief``, or the
built-in ``belief`` when there is no ``examples/``), the librarian runs
``examples/librarian``. An installed ``web4`` has no ``examples/``: the librarian step is
skipped, with a line saying why.

Output and cleanup as ``web4 demo``: every event live, prefixed by the agent (the human's
terminal lines too; ``--json``: ``{"source", "text"}`` lines); a summary from every
store; exit 0 only when each node ended as the rules say it must.
"""

from __future__ import annotations

import contextlib
import json
import queue
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from web4.cli import args as cli_args
from web4.cli.demo import (
    ASKER_ARGS,
    EXAMPLES,
    _Agent,
    _drain,
    _ended,
    _print_outcome,
    _Printer,
    _start_human,
    _WallClock,
    agent_label,
    belief_agent,
    librarian_agent,
)
from web4.errors import ConfigError
from web4.hcp.authorized import add_authorized, authorized_path
from web4.identity import Identity
from web4.knowledge import ClaimState, KnowledgeExchange
from web4.store import Store
from web4.trust import TrustBook

__all__ = ["add_parser", "run_mesh_demo"]

NAMES = ("ann", "bo", "cy", "di", "ed", "fay", "gus", "hal", "ivy")
FACT = "Light is faster than sound in air"
LIE = "Light is not faster than sound in air"  # same subject, opposite polarity
QUESTION = "Is light faster than sound in air?"  # Dana asks the librarian


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "mesh-demo",
        help="run N agents in a mesh: a newcomer's fact accepted by consensus (earning it no "
        "trust), its lie disputed (costing it what it had)",
        description="Start N agents (3..10) as node processes on loopback: N-1 established "
        "agents that anchor each other, and a newcomer whose fact is accepted by their "
        "consensus while it stays probing, and whose contradicting statement is disputed "
        "and demotes it. In a source checkout a librarian (examples/librarian) listens in "
        "and answers a scripted human's question with the fact the mesh accepted. Nobody "
        "is given a peer to dial: the first agent is the DHT's bootstrap, every other one "
        "gets only its address (--bootstrap) and finds the rest through the DHT (--min-peers: "
        "all of them); knowledge travels directly and by gossip. The end of the output says "
        "how each agent found each peer (dht: it dialled a peer the DHT named; inbound: the "
        "peer dialled it) and how the newcomer's fact first reached each agent (directly, "
        "or by gossip and from whom). mDNS stays off: the agents listen on loopback only.",
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


@dataclass
class _Seen:
    """What the demo has seen so far, from the nodes' events and the human's terminal."""

    addrs: dict[str, str] = field(default_factory=dict)
    accepted: set[str] = field(default_factory=set)
    disputed: set[str] = field(default_factory=set)
    met: dict[str, set[str]] = field(default_factory=dict)  # handshakes done, by agent
    dialled: dict[str, dict[str, str]] = field(default_factory=dict)  # agent: {peer: source}
    fact_path: dict[str, str] = field(default_factory=dict)  # agent: first copy's forwarder
    ended: set[str] = field(default_factory=set)  # output streams that closed
    answer: str | None = None  # the librarian's decision, as Dana read it
    rationale: str | None = None


def run_mesh_demo(
    agents: int = 5, *, as_json: bool = False, timeout: float = 40.0, examples: Path = EXAMPLES
) -> int:
    """``examples``: where the example agents are (the source checkout's by default).
    Raises ``ConfigError`` when ``agents`` is not within 3..10."""
    if not 3 <= agents <= 10:
        raise ConfigError(f"--agents {agents}: a mesh demo has 3..10 agents")
    belief = belief_agent(examples)
    librarian, skipped = librarian_agent(examples)
    root = Path(tempfile.mkdtemp(prefix="web4-mesh-"))
    nodes: list[_Agent] = []
    asker: subprocess.Popen[str] | None = None
    try:
        est = [_Agent(n, root) for n in NAMES[: agents - 1]]
        lib = _Agent("lib", root) if librarian is not None else None
        new = _Agent("new", root)
        nodes = [*est, *([lib] if lib is not None else []), new]
        printer = _Printer(as_json, nodes)
        believers = cli_args.words([a.name for a in nodes if a is not lib], "and")
        runs = f"{believers} run {agent_label(belief, examples)}"
        if librarian is not None:
            runs += f"; lib runs {agent_label(librarian, examples)}"
        printer.show("demo", runs)
        if skipped:
            printer.show("demo", skipped)
        lines: queue.Queue[tuple[str, str]] = queue.Queue()
        deadline = time.monotonic() + timeout
        seen = _Seen(met={a.name: set() for a in nodes})

        def step() -> None:
            _step(lines, printer, deadline, seen)

        if lib is not None:  # the librarian acts only on HCP from keys its operator authorised
            dana = Identity.create_in_data_dir(root / "human", "dana")
            add_authorized(authorized_path(lib.dir), dana.fingerprint, "Dana (the demo's human)")
        want = {"new", *(a.name for a in est)} if agents >= 4 else {"new"}
        want |= {lib.name} if lib is not None else set()
        life = ["--listen", "/ip4/127.0.0.1/tcp/0", "--exit-after", str(timeout)]
        for i, a in enumerate(nodes):
            others = [b for b in est if b is not a]
            if a is lib:
                args = [*life, "--agent", str(librarian)]
            else:
                args = [*life, "--agent", belief, "--believe", FACT]
            args += [x for b in others for x in ("--trust", b.identity.fingerprint)]
            # no dial list: the first node is the DHT's entry point, the others find the
            # rest there and dial them up to --min-peers (everyone: a vote counts only
            # from a peer met, and trusted, before the claim arrived)
            args += ["--gossip-domain", "physics", "--min-peers", str(len(nodes) - 1)]
            if i:
                args += ["--bootstrap", seen.addrs[nodes[0].name]]
            if a is new:  # the mesh first: every agent before it met every other one
                args += ["--propose", f"{FACT}|physics|0.9", "--propose", f"{LIE}|physics|0.9"]
                while time.monotonic() < deadline and not _meshed(nodes[:i], seen):
                    step()
            a.start(args, lines)
            while a.name not in seen.addrs and time.monotonic() < deadline:
                step()
        everyone = {a.name for a in nodes}
        while time.monotonic() < deadline and not (
            want <= seen.accepted
            and everyone <= seen.disputed
            and (lib is None or (seen.answer is not None and "dana" in seen.ended))
        ):
            if lib is not None and asker is None and {lib.name} <= seen.accepted & seen.disputed:
                # the mesh has judged both statements at the librarian: Dana asks it
                asker = _start_human(root, seen.addrs[lib.name], lines, who="dana",
                                     script=(QUESTION,), args=ASKER_ARGS)  # fmt: skip
            step()
        missing = []
        if len(seen.addrs) < len(nodes):
            missing.append(f"every agent listening ({len(seen.addrs)} of {len(nodes)})")
        if not want <= seen.accepted:
            missing.append(f"the fact's acceptance at {_names(want - seen.accepted)}")
        if not everyone <= seen.disputed:
            missing.append(f"the contradiction's dispute at {_names(everyone - seen.disputed)}")
        if lib is not None and seen.answer != FACT:
            missing.append("the librarian's answer to Dana from the fact the mesh accepted")
        timed_out = timeout if missing and time.monotonic() >= deadline else None
        for a in nodes:
            a.stop(signal.SIGTERM)
        _drain(nodes, lines, printer, time.monotonic() + 8.0)
        asked = _Asked(lib, seen.answer, seen.rationale, skipped)
        return _summary(est, new, agents, asked, _paths(nodes, new, seen), as_json, missing,
                        timed_out)  # fmt: skip
    finally:
        if asker is not None and asker.poll() is None:
            asker.kill()
        for a in nodes:
            a.stop(signal.SIGKILL)
            if a.proc is not None:
                with contextlib.suppress(Exception):
                    a.proc.wait(timeout=5)
        shutil.rmtree(root, ignore_errors=True)


def _meshed(agents: list[_Agent], seen: _Seen) -> bool:
    """Has every one of ``agents`` finished its handshake with every other one?"""
    fps = {a.name: a.identity.fingerprint for a in agents}
    return all(set(fps.values()) - {fps[a.name]} <= seen.met[a.name] for a in agents)


def _step(
    lines: queue.Queue[tuple[str, str]], printer: _Printer, deadline: float, seen: _Seen
) -> None:
    try:
        who, line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
    except queue.Empty:
        return
    if not line:  # "" is the end of that process's output
        seen.ended.add(who)
        return
    ev = printer.show(who, line)
    if who == "dana":  # the human's terminal: "lib decision: ...", "  rationale: ..."
        if "decision: " in line and seen.answer is None:
            seen.answer = line.split("decision: ", 1)[1].strip()
        elif line.strip().startswith("rationale:") and seen.rationale is None:
            seen.rationale = line.strip().removeprefix("rationale:").strip()
    if ev is None:
        return
    if ev["kind"] == "node.started":
        listen = ev["listen"]
        seen.addrs[who] = str(listen[0] if isinstance(listen, list) else listen)
    elif ev["kind"] == "knowledge.claim_accepted":
        seen.accepted.add(who)
    elif ev["kind"] == "knowledge.claim_disputed":
        seen.disputed.add(who)
    elif ev["kind"] == "cip.handshake.done" and ev.get("peer"):
        seen.met[who].add(str(ev["peer"]))
    elif ev["kind"] == "node.peer_dial" and ev.get("peer"):  # dht (or mdns, configured)
        seen.dialled.setdefault(who, {}).setdefault(str(ev["peer"]), str(ev.get("source")))
    elif ev.get("type") == "FACT_PROPOSE" and who not in seen.fact_path:
        # the fact comes first (the lie a second later); its first copy by gossip is
        # delivered, a gossip copy after the direct one is a duplicate dropped first
        if ev["kind"] == "cip.gossip.delivered":
            seen.fact_path[who] = str(ev.get("peer"))
        elif ev["kind"] == "knowledge.duplicate":
            seen.fact_path[who] = ""


@dataclass(frozen=True)
class _Paths:
    """How each agent found its peers, and how the newcomer's fact reached it."""

    found: dict[str, dict[str, str]]  # agent: {peer: dht (we dialled it), inbound, ...}
    fact: dict[str, str]  # agent: "direct from new", "gossip, forwarded by NAME", ...


def _paths(nodes: list[_Agent], new: _Agent, seen: _Seen) -> _Paths:
    name = {a.identity.fingerprint: a.name for a in nodes}
    found = {
        a.name: {
            name.get(fp, fp[:12]): seen.dialled.get(a.name, {}).get(fp, "inbound")
            for fp in sorted(seen.met[a.name], key=lambda f: name.get(f, f))
        }
        for a in nodes
    }
    fact = {}
    for a in nodes:
        if a is not new:
            via = seen.fact_path.get(a.name, "")
            by = name.get(via, via[:12])
            fact[a.name] = (
                "direct from new"
                if not via
                else "gossip, published by new"
                if by == new.name
                else f"gossip, forwarded by {by}"
            )
    return _Paths(found, fact)


def _names(names: set[str]) -> str:
    return cli_args.words(sorted(names), "and") if names else "none"


def _print_paths(nodes: list[_Agent], new: _Agent, paths: _Paths) -> None:
    print(f"\n== how they found each other (nobody had a --peer; {nodes[0].name} was the "
          "DHT's bootstrap)")  # fmt: skip
    for a in nodes:
        by: dict[str, list[str]] = {}
        for peer, source in paths.found[a.name].items():
            by.setdefault(source, []).append(peer)
        how = "; ".join(
            f"{'dialled them, found through the DHT' if src == 'dht' else src}: {', '.join(peers)}"
            for src, peers in sorted(by.items())
        )
        print(f"{a.name:<4} met {len(paths.found[a.name])}: {how or 'nobody'}")
    print("\n== how the newcomer's fact reached each agent (the first of its copies)")
    dialled = {p for p, src in paths.found[new.name].items() if src != "inbound"}
    for a in nodes:
        if a is not new:
            who = "new dialled it" if a.name in dialled else "new never dialled it"
            print(f"{a.name:<4} {paths.fact[a.name]} ({who})")


@dataclass(frozen=True)
class _Asked:
    """The librarian step: its node (None when skipped), what Dana read, why skipped."""

    lib: _Agent | None
    answer: str | None
    rationale: str | None
    skipped: str


def _summary(
    est: list[_Agent],
    new: _Agent,
    agents: int,
    asked: _Asked,
    paths: _Paths,
    as_json: bool,
    missing: list[str],
    timed_out: float | None,
) -> int:
    lib = asked.lib
    nodes = [*est, *([lib] if lib is not None else []), new]
    report: dict[str, Any] = {}
    for a in nodes:
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
    if lib is not None:  # the mesh's consensus decides at the librarian too, and it says so
        r = report[lib.name]
        ok = ok and (r["claims"].get(FACT), r["claims"].get(LIE)) == ("accepted", "disputed")
        ok = ok and r["newcomer"] == "untrusted" and asked.answer == FACT
        report["librarian"] = {
            "question": QUESTION,
            "answer": asked.answer,
            "rationale": asked.rationale,
        }
    else:
        report["librarian"] = {"skipped": asked.skipped}
    ok = ok and not missing
    report["found"] = paths.found
    report["fact_path"] = paths.fact
    report["result"] = "ok" if ok else "FAIL"
    report["missing"] = list(missing)
    report["timed_out"] = timed_out is not None
    if as_json:
        print(json.dumps({"mesh_summary": report}, sort_keys=True), flush=True)
        return 0 if ok else 1
    also = "; and lib, a librarian" if lib is not None else ""
    _print_paths(nodes, new, paths)
    print(f"\n== summary ({agents} agents: {len(est)} established, 1 newcomer{also})")
    for a in nodes:
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
        if lib is not None:
            print(
                f"lib, the librarian, answered Dana's question ({QUESTION!r}) with the fact "
                "the mesh accepted, and with its provenance: proposed by the newcomer, "
                "confirmed by the established agents"
            )
    if asked.skipped:
        print(asked.skipped)
    _print_outcome(list(missing), timed_out, report["result"], floor=90.0)
    return 0 if ok else 1
