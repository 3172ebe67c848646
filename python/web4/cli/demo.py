"""``web4 demo``: two agents, two OS processes, one conversation, end to end.

Theory of operation: the demo creates two identities (alice, bob) in a temporary
directory and starts two real nodes as subprocesses (``python -m web4 node ... --json``),
each in its own process group. Alice listens on a free loopback port and names bob as a
trust anchor (``--trust``); bob dials alice and believes two statements. Alice proposes
two facts: one bob believes (bob confirms it: one trusted confirmation, and a claim needs
two, so it stays pending) and one that contradicts a belief of bob's (bob challenges it:
a trusted peer's conflict makes it disputed). Every event of both nodes is printed as it
arrives, prefixed with the agent's name (``--json``: the raw JSON lines). When alice has
seen both outcomes (or the deadline passes) the demo stops both nodes with SIGTERM,
reads both stores, prints a summary and exits 0 only if the expected outcome happened.
The ``finally`` kills both process groups and removes the directory, also on Ctrl-C.

HCP and LIP steps: alice also learns from a small local web site (``web4.lip.demo_site``:
two pages, an ``unknown`` tier that one trusted corroboration promotes) and asks bob to
corroborate (``LIP_FETCH``/``LIP_EVIDENCE``): her claims wait in the queue and are
accepted only after bob fetched the same pages. After bob's handshake a scripted human
(``web4 human`` with piped input, ``web4.cli.human.DEMO_LINES``), whose key the demo first
adds to alice's ``authorized_humans`` (what ``web4 human-key add`` does), talks to alice: limited
consent refuses an out-of-scope intent, tense affect makes her check in first, then a
decision with rationale and alternatives.

Both nodes run example agents on the public Agent API, named explicitly (``--agent``).
Bob runs the belief agent: ``examples/belief`` in a source checkout, else the built-in
``belief`` (the same code; ``web4 agents`` lists it). In a source checkout alice runs the
librarian (``examples/librarian``): her conversation above goes as before (only questions
are searched), and once she has accepted both web pages a second short session asks her
a question, which she answers from what she accepted, with its provenance. An installed
``web4`` has no ``examples/``: alice runs the belief agent and the librarian step is
skipped, with a line saying why.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from web4.cli import args as cli_args
from web4.cli.human import DEMO_ARGS, DEMO_LINES
from web4.hcp.authorized import add_authorized, authorized_path
from web4.identity import Identity
from web4.knowledge import ClaimState, KnowledgeExchange
from web4.lip.demo_site import DemoSite
from web4.observability import decode_event, format_event
from web4.observability.escape import printable
from web4.store import Store
from web4.trust import TrustBook

__all__ = [
    "EXAMPLES",
    "FACTS",
    "add_parser",
    "agent_label",
    "belief_agent",
    "librarian_agent",
    "run_demo",
]

FACTS = (
    "Water boils at 100 degrees Celsius at sea level|physics|0.9",
    "The Great Wall of China is visible from the Moon with the naked eye|geography|0.6",
)
# the example agents, when the demo runs from a source checkout
EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
QUESTION = "What is the highest mountain on Earth?"
ASKER_ARGS = ("--name", "Dana", "--reply-wait", "4", "--linger", "0.5")
BELIEFS = (
    "water boils at 100 degrees celsius at sea level",
    "The Great Wall of China is not visible from the Moon with the naked eye",
)


def agent_label(spec: str, examples: Path = EXAMPLES) -> str:
    """How a demo names the agent an ``--agent`` spec loads: ``examples/librarian``, or
    ``belief (built in)``."""
    where = Path(spec.rsplit(":", 1)[0])
    with contextlib.suppress(ValueError):
        return f"examples/{where.relative_to(examples)}"
    return f"{spec} (built in)"


def belief_agent(examples: Path = EXAMPLES) -> str:
    """``--agent`` for the belief agent: ``examples/belief`` when ``examples`` has it, else
    the built-in ``belief`` (an installed package; ``web4 agents`` lists it)."""
    where = examples / "belief"
    return f"{where}:make" if where.is_dir() else "belief"


def librarian_agent(examples: Path = EXAMPLES) -> tuple[str | None, str]:
    """``--agent`` for ``examples/librarian`` (None when ``examples`` lacks it) and the line
    that says why its step is skipped."""
    where = examples / "librarian"
    if where.is_dir():
        return f"{where}:make", ""
    return None, (
        f"the librarian step is skipped: {where} is not there (an installed web4 has no "
        "examples/; run the demo from a source checkout to see it)"
    )


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="run the two-agent demo: two node processes, handshakes, a fact confirmed, "
        "a fact disputed",
        description="Start two nodes (alice, bob) as processes on loopback with temporary "
        "data directories; print every event as it happens; end with a summary.",
        epilog="Example: web4 demo --json",
    )
    p.add_argument("--json", action="store_true", help="print events as JSON lines")
    p.add_argument(
        "--timeout",
        type=cli_args.positive_float,
        default=25.0,
        metavar="SECONDS",
        help="give up after SECONDS (default 25; a loaded machine may need more)",
    )
    p.set_defaults(func=lambda a: run_demo(as_json=a.json, timeout=a.timeout))


class _Agent:
    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.dir = root / name
        self.identity = Identity.create_in_data_dir(self.dir, name)
        self.proc: subprocess.Popen[str] | None = None

    def start(self, args: list[str], lines: queue.Queue[tuple[str, str]]) -> None:
        cmd = [sys.executable, "-m", "web4", "node", "--data-dir", str(self.dir), "--json"]
        with (self.dir / "stderr.txt").open("w") as err:  # the child keeps its own copy
            self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                [*cmd, *args],
                stdout=subprocess.PIPE,
                stderr=err,
                text=True,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        out = self.proc.stdout
        assert out is not None
        threading.Thread(target=_pump, args=(self.name, out, lines), daemon=True).start()

    def stop(self, sig: int) -> None:
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)


def _pump(name: str, stream: IO[str], lines: queue.Queue[tuple[str, str]]) -> None:
    for line in stream:
        if line.strip():  # "" below is the end of the stream, not a blank line
            lines.put((name, line.rstrip("\n")))
    lines.put((name, ""))


class _Printer:
    def __init__(self, as_json: bool, agents: list[_Agent]) -> None:
        self.as_json = as_json
        self.names = {a.identity.fingerprint: a.name for a in agents}

    def show(self, who: str, line: str) -> dict[str, Any] | None:
        try:
            event = decode_event(line)
        except Exception:  # noqa: BLE001 - a non-event line is shown as it is
            if self.as_json:  # keep --json output pure JSON lines
                print(json.dumps({"source": who, "text": line}, sort_keys=True), flush=True)
            else:  # a human's terminal: it names nodes by fingerprint (12 digits or more)
                text = printable(line)
                for fp, name in self.names.items():
                    text = re.sub(re.escape(fp[:12]) + "[0-9a-f]*…?", name, text)
                print(f"{who:<5} | {text}", flush=True)
            return None
        if self.as_json:
            print(line, flush=True)
        else:
            text = format_event(event)
            for fp, name in self.names.items():
                text = text.replace(fp[:13] + "…", name).replace(fp, name)
            print(f"{who:<5} | {text}", flush=True)
        return {"kind": event.kind, "peer": event.peer, **event.attributes}


def run_demo(as_json: bool = False, timeout: float = 25.0, *, examples: Path = EXAMPLES) -> int:
    """``examples``: where the example agents are (the source checkout's by default)."""
    librarian, skipped = librarian_agent(examples)
    root = Path(tempfile.mkdtemp(prefix="web4-demo-"))
    agents: list[_Agent] = []
    human: subprocess.Popen[str] | None = None
    try:
        alice, bob = _Agent("alice", root), _Agent("bob", root)
        agents = [alice, bob]
        printer = _Printer(as_json, agents)
        alice_runs = librarian or belief_agent(examples)
        printer.show("demo", f"alice runs {agent_label(alice_runs, examples)}, bob runs "
                     f"{agent_label(belief_agent(examples), examples)}")  # fmt: skip
        if skipped:
            printer.show("demo", skipped)
        lines: queue.Queue[tuple[str, str]] = queue.Queue()
        deadline = time.monotonic() + timeout
        facts = [a for f in FACTS for a in ("--propose", f)]
        site = DemoSite.start(root)  # HCP/LIP steps: a local web site for alice to learn from
        facts += site.node_args()
        # alice acts only on HCP from human keys her operator authorised (HCP_SPEC §9.1)
        dana = Identity.create_in_data_dir(root / "human", "dana")
        add_authorized(authorized_path(alice.dir), dana.fingerprint, "Dana (the demo's human)")
        alice.start(
            [
                "--listen",
                "/ip4/127.0.0.1/tcp/0",
                "--trust",
                bob.identity.fingerprint,
                *facts,
                "--agent",
                alice_runs,
                "--exit-after",
                str(timeout),
            ],
            lines,
        )
        asker: subprocess.Popen[str] | None = None  # the librarian step's session
        answered = librarian is None  # nothing to wait for without the example
        addr, disputed, confirmed = None, False, False
        learned: set[str] = set()  # claims alice accepted after bob corroborated them
        ended: set[str] = set()
        while (
            time.monotonic() < deadline
            and len(ended & {"alice", "bob"}) < 2
            and not (
                disputed
                and confirmed
                and len(learned) >= 2
                and "human" in ended
                and answered
                and (asker is None or "dana" in ended)  # the librarian step's session ended
            )
        ):
            try:
                who, line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                break
            if not line:
                ended.add(who)
                continue
            ev = printer.show(who, line)
            if who == "dana" and "decision: Mount Everest" in line:
                answered = True  # the librarian answered from what alice accepted
            if ev is None:
                continue
            if who == "alice" and ev["kind"] == "node.started" and addr is None:
                addr = ev["listen"][0] if isinstance(ev["listen"], list) else ev["listen"]
                believe = [a for b in BELIEFS for a in ("--believe", b)]
                # bob fetches for alice although she is only probing to him (LIP §9)
                bob.start(["--peer", str(addr), *believe, "--agent", belief_agent(examples),
                           "--lip-allow-private",
                           "--lip-fetch-for", "probing", "--exit-after", str(timeout)],
                          lines)  # fmt: skip
            if who == "alice" and ev["kind"] == "knowledge.claim_disputed":
                disputed = True
            if who == "alice" and ev["kind"] == "knowledge.claim_pending" and ev.get("has"):
                confirmed = True
            if who == "alice" and ev["kind"] == "cip.handshake.done" and human is None:
                human = _start_human(root, str(addr), lines)  # after bob: proposals go to bob
            if who == "alice" and ev["kind"] == "lip.accepted" and ev.get("corroborators"):
                learned.add(str(ev.get("claim")))
            if len(learned) >= 2 and "human" in ended and not answered and asker is None:
                asker = _start_human(root, str(addr), lines, who="dana", script=(QUESTION,),
                                     args=ASKER_ARGS)  # fmt: skip
        for a in agents:
            a.stop(signal.SIGTERM)
        _drain(agents, lines, printer, time.monotonic() + 5.0)
        site.stop()
        missing = [
            what
            for done, what in (
                (addr is not None, "alice listening"),
                (confirmed, "bob's confirmation of alice's first fact"),
                (disputed, "bob's challenge of her second fact"),
                (len(learned) >= 2, f"bob's corroboration of her web pages ({len(learned)} of 2)"),
                ("human" in ended, "the end of the human's HCP session"),
                (answered, "the librarian's answer from what alice accepted"),
            )
            if not done
        ]
        timed_out = bool(missing) and time.monotonic() >= deadline
        code = _summary(agents, as_json, missing, timeout if timed_out else None, skipped)
        return code if code or (len(learned) >= 2 and "human" in ended) else 1
    finally:
        for session in (human, asker):
            if session is not None and session.poll() is None:
                session.kill()
        for a in agents:
            a.stop(signal.SIGKILL)
            if a.proc is not None:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    a.proc.wait(timeout=5)
        shutil.rmtree(root, ignore_errors=True)


def _start_human(
    root: Path,
    addr: str,
    lines: queue.Queue[tuple[str, str]],
    who: str = "human",
    script: tuple[str, ...] = DEMO_LINES,
    args: tuple[str, ...] = DEMO_ARGS,
) -> subprocess.Popen[str]:
    """The scripted human (``web4 human``, piped input) talking to alice over HCP."""
    cmd = [sys.executable, "-m", "web4", "human", "--peer", addr, *args,
           "--data-dir", str(root / "human")]  # fmt: skip
    proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )  # fmt: skip
    assert proc.stdin is not None
    assert proc.stdout is not None
    proc.stdin.write("".join(x + "\n" for x in script))
    proc.stdin.close()
    threading.Thread(target=_pump, args=(who, proc.stdout, lines), daemon=True).start()
    return proc


def _drain(
    agents: list[_Agent], lines: queue.Queue[tuple[str, str]], printer: _Printer, deadline: float
) -> None:
    for a in agents:
        if a.proc is not None:
            try:
                a.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                a.stop(signal.SIGKILL)
    while True:
        try:
            who, line = lines.get(timeout=0.2)
        except queue.Empty:
            return
        if line:
            printer.show(who, line)


def _summary(
    agents: list[_Agent],
    as_json: bool,
    missing: list[str],
    timed_out: float | None,
    skipped: str = "",
) -> int:
    """Read both stores, print what happened in words (``--json``: one JSON line), and
    return 0 only when it is what the rules say. ``missing``: the steps not seen;
    ``timed_out``: the ``--timeout`` that passed first, if it did; ``skipped``: why the
    librarian step did not run ("" when it did)."""
    names = {a.identity.fingerprint: a.name for a in agents}
    report: dict[str, Any] = {}
    for a in agents:
        with Store.in_data_dir(a.dir) as store:
            trust = TrustBook(store, _WallClock())
            kx = KnowledgeExchange(store, trust, _WallClock())
            report[a.name] = {
                "exit_code": None if a.proc is None else a.proc.returncode,
                "trust": {names.get(p.peer, p.peer[:12]): p.state.value for p in trust.peers()},
                "claims": [_claim(c, kx, trust) for c in kx.claims()],
            }
    alice, bob = report.get("alice", {}), report.get("bob", {})
    states = {c["statement"][:10]: c["state"] for c in alice.get("claims", [])}
    ok = (
        alice.get("trust", {}).get("bob") == "trusted"
        and bob.get("trust", {}).get("alice") == "probing"
        and states.get("Water boil") == "pending"
        and states.get("The Great ") == "disputed"
        and len(bob.get("claims", [])) == 2
        and all(r.get("exit_code") == 0 for r in report.values())
    )
    ok = ok and not missing
    report["result"] = "ok" if ok else "FAIL"
    report["missing"] = missing
    report["timed_out"] = timed_out is not None
    report["librarian"] = "skipped" if skipped else "ran"
    if as_json:
        print(json.dumps({"demo_summary": report}, sort_keys=True), flush=True)
        return 0 if ok else 1
    print("\n== summary")
    for name in ("alice", "bob"):
        r = report.get(name, {})
        print(f"{name}: {_ended(r.get('exit_code'))}; {_trust_words(r.get('trust', {}))}")
        for c in r.get("claims", []):
            print(f"  {c['state']:<9} {c['statement']!r}: {printable(c['reason'])}")
    if not missing:
        print("alice learned both web pages once bob corroborated them; the human's session ended")
        if not skipped:
            print("alice, the librarian, answered Dana's question from a page she had accepted")
    if skipped:
        print(skipped)
    _print_outcome(missing, timed_out, report["result"], floor=60.0)
    return 0 if ok else 1


def _print_outcome(
    missing: Sequence[str], timed_out: float | None, result: str, *, floor: float
) -> None:
    """The summary's last lines, shared by the demos: why steps were not seen (a
    ``--timeout`` too short, with a longer one to try) and the result."""
    steps = cli_args.words(list(missing), "and") if missing else ""
    if timed_out is not None:
        longer = max(floor, 2 * timed_out)
        print(
            f"the --timeout of {timed_out:g} seconds passed before {steps} (a loaded machine "
            f"needs longer: try --timeout {longer:g})"
        )
    elif missing:
        print(f"not seen: {steps} (the nodes' events above say why)")
    print(f"result: {result}", flush=True)


def _ended(code: int | None) -> str:
    if code is None:
        return "never started"
    return "stopped cleanly" if code == 0 else f"exited with status {code}"


def _trust_words(trust: dict[str, str]) -> str:
    if not trust:
        return "has met no peer"
    return "sees " + cli_args.words([f"{p} as {s}" for p, s in sorted(trust.items())], "and")


def _claim(c: Any, kx: KnowledgeExchange, trust: TrustBook) -> dict[str, Any]:
    # counted as the rules count them: trusted since before the claim arrived
    has = sorted({v for v, kind, _ in kx.counted_voters(c) if kind == "confirm"})
    needs = kx.policy.min_confirmations
    reason = c.reason
    if c.state is ClaimState.PENDING:
        reason = f"needs {needs} trusted confirmations, has {len(has)}"
    return {
        "statement": c.fact.statement,
        "state": c.state.value,
        "reason": reason,
        "trusted_confirmations": len(has),
    }


class _WallClock:
    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()
