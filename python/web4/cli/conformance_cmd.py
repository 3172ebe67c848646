"""``web4 conformance MULTIADDR``: the wire conformance runner (issue 15).

Theory of operation: parse the flags, pick the cases (``--profile``, ``--case``) from the
catalogue (``web4.conformance.runner``), dial the target once to fail fast with one line
when nothing answers there, play the cases (fresh identities, at most ``--jobs`` at once,
each under ``--timeout``) and print one line per case as its result is known, in
catalogue order, then a summary; or, with ``--json``, one JSON document at the end.
Exit status: 0 every case passed, 1 a case failed (or the target could not be reached),
2 a usage mistake.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from web4 import __version__
from web4.cli import args as cli_args
from web4.conformance.runner import (
    PROFILES,
    Case,
    CaseResult,
    Summary,
    catalogue,
    run_cases,
    select,
)
from web4.conformance.wire import Peer, Target
from web4.errors import ConfigError
from web4.identity import Identity
from web4.observability import colour_wanted

__all__ = ["add_parser"]

EXIT_OK = 0
EXIT_FAILED = 1
REPORT_FORMAT = "web4-conformance/report/1"

HELP = """\
Every case dials MULTIADDR with a fresh Ed25519 key (libp2p: TCP, Noise, yamux), opens an
RTT session and talks CIP, HCP or LIP over it, as an independent implementation would. Kinds:
  positive    the target must do something (open a session, finish the CIP handshake)
  negative    the target must refuse something, observably: each sends a message that
              gets an answer when accepted (a first HELLO is answered by a HELLO), so
              "no answer, then the valid HELLO that follows is answered" or "the target
              ends the session" can be seen from outside
  robustness  the spec defines no reaction that can be told apart from outside; the
              case checks that the target drops it and keeps serving
A line per case: PASS or FAIL (or ERROR: the runner itself hit something unexpected),
the case, and for a failure what a conforming implementation does and what was seen.
Cases are described in docs/conformance/README.md; --list prints them.

The target must accept CIP from a key it has never seen (as `web4 node` does) and its
clock must be within a few seconds of this machine's (timestamps are checked to
±120 s; the stale/future cases send ±300 s). HCP cases talk to it as humans; one of
them (hcp.hello.authorised) needs a human key its operator authorised: --human-key."""

EPILOG = """\
Example: web4 conformance /ip4/127.0.0.1/tcp/7001/p2p/12D3KooW...
More:
  web4 conformance ADDR --case cip.hello          (every case under cip.hello)
  web4 conformance ADDR --case 'cip.*.tampered_*' --json \\
      | jq '.results[] | select(.result != "pass")'
  web4 conformance --list
(a node's full address is what `web4 node` prints after `listening on`, or what
`web4 status` shows)"""

_COLOURS = {"pass": "\033[32m", "fail": "\033[31m", "error": "\033[33m"}
_RESET = "\033[0m"


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "conformance",
        help="test another implementation over the wire (RTT session, CIP handshake, refusals)",
        description="Play the conformance cases of docs/conformance/README.md against the "
        "implementation at MULTIADDR and report each.\n\n" + HELP,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "target",
        nargs="?",
        type=cli_args.peer_addr,
        metavar="MULTIADDR",
        help="the implementation under test: /ip4/A/tcp/P/p2p/PEER_ID (an Ed25519 peer id)",
    )
    p.add_argument(
        "--case",
        action="append",
        default=[],
        metavar="PATTERN",
        help="run only the matching cases (repeatable): a shell glob on the name, or a "
        "name prefix (cip.hello matches cip.hello.*)",
    )
    p.add_argument(
        "--profile",
        type=_profile,
        default="web4",
        metavar="|".join(sorted(PROFILES, key=lambda n: n != "web4")),
        help="which specifications the cases hold the target to: web4 (docs/RTT_SPEC.md, "
        "docs/CIP_SPEC.md; the default) or original (the original Web4 specifications)",
    )
    p.add_argument("--json", action="store_true", help="one JSON document on stdout at the end")
    seconds = cli_args.positive_float
    p.add_argument("--timeout", type=seconds, default=10.0, help="seconds per case (default 10)")
    p.add_argument(
        "--quiet-time",
        type=seconds,
        default=1.0,
        metavar="SECONDS",
        help="how long 'no answer' is waited for (default 1; raise it for a slow link)",
    )
    p.add_argument(
        "--jobs",
        type=cli_args.int_range(1, 64),
        default=4,
        help="cases played at once (default 4; each uses its own key and session)",
    )
    p.add_argument(
        "--human-key",
        metavar="DATA_DIR",
        help="the data directory of a human key the target's operator authorised (`web4 "
        "human --data-dir DATA_DIR --print-key` makes one and prints its fingerprint; on "
        "the target: web4 human-key add <fingerprint>); without it hcp.hello.authorised fails",
    )
    p.add_argument("--list", action="store_true", help="list the cases and exit")
    p.add_argument(
        "--verbose", "-v", action="store_true", help="also show the expectation of passed cases"
    )
    p.set_defaults(func=_cmd)


def _profile(value: str) -> str:
    if value not in PROFILES:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a profile: {cli_args.words(sorted(PROFILES))}"
        )
    return value


def _cmd(args: argparse.Namespace) -> int:
    try:
        cases = select(catalogue(args.profile), args.case)
    except ConfigError as e:  # a --case that matches nothing: a usage mistake
        raise cli_args.UsageError(str(e)) from None
    if args.list:
        _print_list(cases, as_json=args.json)
        return EXIT_OK
    if args.target is None:
        raise cli_args.UsageError("give the MULTIADDR of the implementation to test")
    human = None
    if args.human_key is not None:
        human = Identity.in_data_dir(Path(args.human_key).expanduser())
    target = Target(args.target, timeout=args.timeout, quiet=args.quiet_time, human=human)
    colour = not args.json and colour_wanted(sys.stdout)
    start = time.monotonic()

    def show(r: CaseResult) -> None:
        if not args.json:
            print(_line(r, colour=colour, verbose=args.verbose), flush=True)

    async def go() -> list[CaseResult]:
        async with Peer(target, "reachability"):  # one line and exit 1 if nobody answers
            pass
        return await run_cases(cases, target, jobs=args.jobs, on_result=show)

    results = asyncio.run(go())
    summary = Summary.of(results)
    took = time.monotonic() - start
    if args.json:
        doc = {
            "format": REPORT_FORMAT,
            "runner": f"web4 {__version__}",
            "target": target.addr,
            "profile": args.profile,
            "summary": {
                "cases": len(results),
                "passed": summary.passed,
                "failed": summary.failed,
                "errors": summary.errors,
                "seconds": round(took, 3),
            },
            "results": [r.to_json() for r in results],
        }
        print(json.dumps(doc, indent=2))
    else:
        bad = summary.failed + summary.errors
        tail = f": {', '.join(summary.names)}" if bad else ""
        print(
            f"{len(results)} cases against {target.addr}: {summary.passed} passed, "
            f"{summary.failed} failed, {summary.errors} errors in {took:.1f} s{tail}"
        )
    return EXIT_OK if summary.passed == len(results) else EXIT_FAILED


def _line(r: CaseResult, *, colour: bool, verbose: bool) -> str:
    word = r.outcome.upper()
    pad = " " * (6 - len(word))
    if colour:
        word = f"{_COLOURS[r.outcome]}{word}{_RESET}"
    line = f"{word}{pad}{r.case.name}"
    if r.outcome != "pass":
        return f"{line}: expected {r.case.expect}; seen {r.seen} [{r.case.spec}]"
    if verbose:
        return f"{line}: {r.case.expect} [{r.case.spec}]"
    return line


def _print_list(cases: list[Case], *, as_json: bool) -> None:
    if as_json:
        doc = [
            {
                "case": c.name,
                "kind": c.kind,
                "title": c.title,
                "expected": c.expect,
                "spec": c.spec,
                "vector": c.vector,
                "profiles": sorted(c.profiles),
            }
            for c in cases
        ]
        print(json.dumps(doc, indent=2))
        return
    for c in cases:
        print(f"{c.name}  [{c.kind}]\n    sends:   {c.title}\n    expects: {c.expect}")
