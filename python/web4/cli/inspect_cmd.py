"""``web4 peers``, ``web4 facts`` and ``web4 trust show|override|blacklist|verify|prune``.

Theory of operation: each command opens the node's SQLite store (safe beside a running
node: WAL lets this reader and the node's writer work at once), reads or records, and
prints a table for a person or, with ``--json``, one JSON document for a script. Peers are
named by the agent id their handshake announced (the ``LinkBook``, ``web4.node.link_state``)
where known. Wherever a fingerprint is asked for, a unique prefix of at least 8 hex digits
of a peer the store knows, or a known agent name, is accepted (``resolve_peer``); an
ambiguous or unknown one is a one-line error listing the candidates. Whatever a peer wrote
(agent names, statements, reasons) is printed through ``printable``, so stored peer text
cannot drive the terminal; ``--json`` output is JSON-escaped.
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from web4.cli import args as cli_args
from web4.errors import ConfigError, TrustError
from web4.knowledge import ClaimState, KnowledgeExchange
from web4.node.link_state import LinkBook
from web4.node.status import read_status
from web4.observability.escape import printable
from web4.store import Store
from web4.trust import TrustBook
from web4.trust.book import AuditEntry, TrustOutcome

__all__ = ["add_parsers", "resolve_peer"]

EXIT_OK = 0
_HEX = re.compile(r"^[0-9a-fA-F]+$")
MIN_PREFIX = 8


class _Clock:
    """Wall clock for these commands (the trust book stamps overrides with it)."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()


@dataclass
class _Ctx:
    store: Store
    trust: TrustBook
    links: LinkBook
    me: str
    data_dir: Path

    def names(self) -> dict[str, str]:
        """fingerprint -> agent id, for the peers whose handshake named them."""
        return {r.peer: r.agent_id for r in self.links.all() if r.agent_id}

    def known(self) -> list[str]:
        """Every peer this store knows: in the trust book or the link book."""
        return sorted({r.peer for r in self.trust.peers()} | {r.peer for r in self.links.all()})


def _open(args: argparse.Namespace) -> _Ctx:
    path, identity = cli_args.resolve_data_dir(args.data_dir)
    store = Store.in_data_dir(path)
    try:
        trust, links = TrustBook(store, _Clock()), LinkBook(store)
        return _Ctx(store, trust, links, identity.fingerprint, path)
    except BaseException:
        store.close()
        raise


def _when(t: float | None) -> str:
    if not t:
        return "-"
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _short(fp: str, names: dict[str, str]) -> str:
    """``alice (3f9a2c41…)`` or ``3f9a2c41d0e1b2c3…``: a peer for a person."""
    name = names.get(fp)
    return f"{printable(name)} ({fp[:8]}…)" if name else f"{printable(fp[:16])}…"


def resolve_peer(text: str, known: list[str], names: dict[str, str]) -> str:
    """The full fingerprint ``text`` names among ``known``: itself (64 hex digits, any
    case), the one known fingerprint it is a prefix of (at least 8 hex digits), or the one
    peer with that agent name. Raises ``TrustError`` (one line, with the candidates) when
    it names none or several."""
    t = text.strip()
    if _HEX.match(t) and len(t) == 64:
        return t.lower()
    if _HEX.match(t) and len(t) >= MIN_PREFIX:
        hits = [fp for fp in known if fp.startswith(t.lower())]
    else:
        hits = [fp for fp, name in names.items() if name == t and fp in known]
        if not hits and _HEX.match(t):
            raise TrustError(
                f"{printable(t)!r} is too short: give at least {MIN_PREFIX} hex digits of the "
                "fingerprint (see `web4 peers`)"
            )
    if len(hits) == 1:
        return hits[0]
    if not hits:
        raise TrustError(
            f"no known peer matches {printable(t)!r} ({len(known)} known; see `web4 peers`)"
        )
    shown = ", ".join(_short(fp, names) for fp in hits[:8])
    more = f" and {len(hits) - 8} more" if len(hits) > 8 else ""
    raise TrustError(f"{printable(t)!r} matches {len(hits)} peers: {shown}{more}; give more digits")


# --- peers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PeerRow:
    """One line of ``web4 peers`` (and one object of ``--json``)."""

    fingerprint: str
    agent_id: str | None
    trust: str
    connected: bool
    last_seen: float | None
    down_reason: str | None
    cooldown_until: float | None
    this_node: bool
    found_by: str | None = None
    """configured, mdns or dht; None: it dialled us (shown as ``inbound``)."""
    path: str | None = None
    """relayed, or direct after having been relayed (RTT_SPEC §17); None: never relayed."""


def peer_rows(ctx: _Ctx, now: float) -> list[PeerRow]:
    """Every known peer: connected first, then the most recently seen, then the others
    (known only to the trust book) by fingerprint."""
    records = {r.peer: r for r in ctx.trust.peers()}
    links = {r.peer: r for r in ctx.links.all()}

    def key(fp: str) -> tuple[bool, float, str]:
        link = links.get(fp)
        return (not (link and link.connected), -(link.last_seen if link else 0.0), fp)

    rows = []
    for fp in sorted(set(records) | set(links), key=key):
        rec, link = records.get(fp), links.get(fp)
        cool = rec.cooldown_until if rec is not None and rec.cooldown_until > now else None
        rows.append(
            PeerRow(
                fingerprint=fp,
                agent_id=link.agent_id if link else None,
                trust=rec.state.value if rec else "untrusted",
                connected=bool(link and link.connected),
                last_seen=link.last_seen if link else None,
                down_reason=link.reason if link else None,
                cooldown_until=cool,
                this_node=fp == ctx.me,
                found_by=link.found_by if link else None,
                path=link.path if link else None,
            )
        )
    return rows


def _cmd_peers(args: argparse.Namespace) -> int:
    ctx = _open(args)
    with ctx.store:
        rows = peer_rows(ctx, time.time())
    if args.json:
        print(json.dumps([asdict(r) for r in rows]))
        return EXIT_OK
    if not rows:
        print("no peers yet")
        return EXIT_OK
    print(
        f"{'FINGERPRINT':<64}  {'TRUST':<11}  {'LINK':<9}  {'PATH':<7}  {'FOUND':<10}  "
        f"{'LAST SEEN':<20}  AGENT"
    )
    for r in rows:
        link = "-" if r.last_seen is None else "connected" if r.connected else "down"
        notes = []
        if r.cooldown_until is not None:
            notes.append(f"cooldown until {_when(r.cooldown_until)}")
        if not r.connected and r.down_reason:
            notes.append(f"down: {printable(r.down_reason)}")
        if r.this_node:
            notes.append("this node")
        agent = printable(r.agent_id) if r.agent_id else "-"
        extra = f"  ({'; '.join(notes)})" if notes else ""
        found = printable(r.found_by) if r.found_by else "-" if r.last_seen is None else "inbound"
        # a session never relayed reports no path: it was direct
        path = printable(r.path) if r.path else "-" if r.last_seen is None else "direct"
        print(
            f"{r.fingerprint}  {r.trust:<11}  {link:<9}  {path:<7}  {found:<10}  "
            f"{_when(r.last_seen):<20}  {agent}{extra}"
        )
    for a in _seen_at(ctx.data_dir):
        print(f"this node, as peers see it: {printable(a)}  (unverified: a peer's claim)")
    return EXIT_OK


def _seen_at(data_dir: Path) -> tuple[str, ...]:
    """Where the running node's peers say they see it (identify, from status.json)."""
    try:
        st = read_status(data_dir)
    except (ConfigError, OSError):  # no status to show is not an error for `peers`
        return ()
    return st.observed_addrs if st is not None and st.state == "running" else ()


# --- facts ------------------------------------------------------------------------------


def _cmd_facts(args: argparse.Namespace) -> int:
    ctx = _open(args)
    with ctx.store:
        names = ctx.names()
        names.setdefault(ctx.me, "this node")
        kx = KnowledgeExchange(ctx.store, ctx.trust, _Clock())
        state = ClaimState(args.state) if args.state else None
        out = []
        for c in kx.claims(state):
            votes = [v for v in kx.confirmers(c.msg_id) if v != c.sender]
            # counted as the rules count: trusted since before the claim arrived
            trusted = len({v for v, kind, _ in kx.counted_voters(c) if kind == "confirm"})
            out.append(
                {
                    "claim_id": c.msg_id,
                    "state": c.state.value,
                    "statement": c.fact.statement,
                    "domain": c.fact.domain,
                    "confidence": c.fact.confidence,
                    "sender": c.sender,
                    "sender_agent": names.get(c.sender),
                    "confirmations": len(votes),
                    "trusted_confirmations": trusted,
                    "needed": kx.policy.min_confirmations,
                    "reason": c.reason,
                    "seen_at": c.created_at,
                }
            )
    if args.json:
        print(json.dumps(out))
        return EXIT_OK
    if not out:
        print("no claims" + (f" in state {state.value}" if state else ""))
    for f in out:
        sender = str(f["sender"])
        print(
            f"{printable(str(f['claim_id']))}  {f['state']:<9} {f['statement']!r}"  # repr escapes
            f" [{printable(str(f['domain']))}]"
        )
        print(
            f"    from {_short(sender, names)}  confirmations {f['confirmations']} "
            f"({f['trusted_confirmations']} trusted, {f['needed']} needed)  "
            f"reason: {printable(str(f['reason']))}"
        )
    return EXIT_OK


# --- trust ------------------------------------------------------------------------------


def _entry_json(a: AuditEntry, names: dict[str, str]) -> dict[str, Any]:
    return {
        "seq": a.seq,
        "at": a.at,
        "peer": a.peer,
        "agent_id": names.get(a.peer),
        "event": a.event.value,
        "from": a.src.value,
        "to": a.dst.value,
        "changed": a.changed,
        "note": a.note,
        "cause": a.cause,
        "evidence": list(a.evidence),
        "operator": a.operator,
    }


def _cmd_show(args: argparse.Namespace) -> int:
    ctx = _open(args)
    with ctx.store:
        names = ctx.names()
        peer = resolve_peer(args.peer, ctx.known(), names) if args.peer else None
        state = ctx.trust.state_of(peer).value if peer else None
        entries = ctx.trust.audit(peer, limit=args.limit, newest=True)
    if args.json:
        doc = {"peer": peer, "agent_id": names.get(peer or ""), "state": state}
        print(json.dumps({**doc, "audit": [_entry_json(a, names) for a in entries]}))
        return EXIT_OK
    if peer:
        name = names.get(peer)
        print(f"{peer}  {state}" + (f"  {printable(name)}" if name else ""))
    if not entries:
        print("no audit entries" + (" for this peer" if peer else ""))
    for a in entries:
        op = f" by {printable(a.operator)}" if a.operator else ""
        arrow = f"{a.src.value} -> {a.dst.value}" if a.changed else f"= {a.dst.value}"
        cause = printable(a.cause)
        who = _short(a.peer, names)
        print(f"#{a.seq} {_when(a.at)} {who} {a.event.value}: {arrow}{op}  {cause}")
    return EXIT_OK


def _manual(args: argparse.Namespace, blacklist: bool) -> int:
    ctx = _open(args)
    with ctx.store:
        names = ctx.names()
        known = ctx.known()
        peer = resolve_peer(args.peer, known, names)
        if peer not in known and not blacklist:  # nothing to lift: surely a typo
            raise TrustError(
                f"unknown peer {peer[:16]}…: this node has no record of it (see `web4 peers`)"
            )
        if peer == ctx.me:
            raise TrustError("that is this node's own fingerprint: it has no trust entry")
        act = ctx.trust.blacklist if blacklist else ctx.trust.override
        out: TrustOutcome = act(peer, operator=args.operator, reason=args.reason)
    a, who = out.audit, _short(peer, names)
    if out.changed:
        print(f"{who}: {a.src.value} -> {a.dst.value} by {printable(a.operator or '')} ({a.note})")
    elif blacklist:
        print(f"no change: {who} is already blacklisted (the attempt is audited as #{a.seq})")
    else:
        print(
            f"no change: {who} is {a.dst.value}, not blacklisted; only a blacklist can be "
            f"lifted (the attempt is audited as #{a.seq})"
        )
    return EXIT_OK


def _cmd_override(args: argparse.Namespace) -> int:
    return _manual(args, blacklist=False)


def _cmd_blacklist(args: argparse.Namespace) -> int:
    return _manual(args, blacklist=True)


def _cmd_verify(args: argparse.Namespace) -> int:
    ctx = _open(args)
    with ctx.store:
        check = ctx.trust.verify_chain()
        prunes = ctx.trust.prunes()
    if not check.ok:
        raise TrustError(
            f"the audit log's hash chain is broken at seq {check.first_bad_seq}: "
            "rows were edited, inserted or removed outside web4"
        )
    print(f"audit chain ok: {check.rows} rows, head #{check.head_seq} {check.head_hash}")
    for at, op, before, removed, seq, digest in prunes:
        print(
            f"  pruned {removed} rows before {_when(before)} on {_when(at)} by "
            f"{printable(op)} (chain continues from #{seq} {digest[:16]}…)"
        )
    return EXIT_OK


def _cmd_prune(args: argparse.Namespace) -> int:
    when: datetime.datetime = args.before  # checked while parsing (cli_args.iso_time)
    ctx = _open(args)
    with ctx.store:
        out = ctx.trust.prune(when.timestamp(), operator=args.operator)
    if not out.removed:
        print(f"nothing to prune before {_when(when.timestamp())}")
        return EXIT_OK
    print(
        f"pruned {out.removed} audit rows before {_when(when.timestamp())}; the chain "
        f"continues from #{out.last_seq} {out.last_hash} (kept, with who pruned and when)"
    )
    return EXIT_OK


# --- parsers ----------------------------------------------------------------------------

_DATA = "the node's data directory"
_PEER_HELP = (
    "the peer: its fingerprint, a unique prefix of 8+ hex digits, or its agent name "
    "(see `web4 peers`)"
)


def _operator(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument(
        "--operator", default="operator", help=f"who {what}, for the audit log (default: operator)"
    )


def add_parsers(sub: Any) -> None:
    """Add ``peers``, ``facts`` and ``trust`` (with its own subcommands)."""
    p = sub.add_parser(
        "peers",
        help="list known peers: agent name, trust state, connected, last seen",
        description="List the peers in DATA_DIR's store: fingerprint, trust state, "
        "link (connected / down / - never linked), when last seen, agent name (from "
        "its handshake). Safe while the node runs.",
        epilog="Example: web4 peers --data-dir ~/.web4/alice --json",
    )
    cli_args.add_data_dir(p, _DATA)
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p.set_defaults(func=_cmd_peers)

    p = sub.add_parser(
        "facts",
        help="list knowledge claims and their states",
        description="List the claims in DATA_DIR's store (safe while the node runs).",
        epilog="Example: web4 facts --data-dir ~/.web4/alice --state pending",
    )
    cli_args.add_data_dir(p, _DATA)
    p.add_argument("--state", choices=[s.value for s in ClaimState], help="only this state")
    p.add_argument("--json", action="store_true", help="print one JSON array")
    p.set_defaults(func=_cmd_facts)

    trust = sub.add_parser(
        "trust",
        help="show the trust audit log, blacklist or lift a blacklist, verify or prune the log",
        description="Trust states and their audit log (see `web4 trust ACTION --help`).",
        epilog="Example: web4 trust show 3f9a2c41 --data-dir ~/.web4/alice --limit 20;  "
        "web4 trust blacklist 3f9a2c41 --data-dir ~/.web4/alice --reason 'spam' "
        "--operator ada",
    )
    actions = trust.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True

    p = actions.add_parser(
        "show",
        help="a peer's state and the newest audit entries (all peers, or one)",
        description="Print the newest --limit audit entries (oldest first), for every "
        "peer or one; with PEER, its state first.",
        epilog="Example: web4 trust show 3f9a2c41 --data-dir ~/.web4/alice --limit 20 --json",
    )
    p.add_argument("peer", nargs="?", metavar="PEER", help=_PEER_HELP)
    cli_args.add_data_dir(p, _DATA)
    p.add_argument(
        "--limit",
        type=cli_args.int_range(1),
        default=200,
        metavar="N",
        help="show the newest N entries (default: 200)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_show)

    for name, func, help_text, what, example, desc in (
        (
            "override",
            _cmd_override,
            "a human lifts a blacklist (blacklisted -> probing)",
            "lifts it",
            "key rotated, verified by phone",
            "A human lifts a blacklist: blacklisted -> probing, audited with --operator "
            "and --reason. A peer this node never saw is refused; a peer that is not "
            "blacklisted is left as it is ('no change'; the attempt is audited).",
        ),
        (
            "blacklist",
            _cmd_blacklist,
            "a human blacklists a peer (any state -> blacklisted)",
            "blacklists it",
            "floods us with junk claims",
            "A human blacklists a peer: any state -> blacklisted (only `web4 trust "
            "override` lifts it), audited with --operator and --reason. Takes effect on "
            "the peer's next message to a running node. A full fingerprint of a peer not "
            "seen yet is accepted (blacklisted in advance).",
        ),
    ):
        p = actions.add_parser(
            name,
            help=help_text,
            description=desc,
            epilog=f"Example: web4 trust {name} 3f9a2c41 --data-dir ~/.web4/alice "
            f"--reason '{example}' --operator ada",
        )
        p.add_argument("peer", metavar="PEER", help=_PEER_HELP)
        cli_args.add_data_dir(p, _DATA)
        p.add_argument("--reason", required=True, help="why, for the audit log")
        _operator(p, what)
        p.set_defaults(func=func)

    p = actions.add_parser(
        "verify",
        help="recompute the audit log's hash chain and print its head",
        description="Recompute the audit log's hash chain (any row edited, inserted or "
        "removed outside web4 breaks it) and print its head.",
        epilog="Example: web4 trust verify --data-dir ~/.web4/alice",
    )
    cli_args.add_data_dir(p, _DATA)
    p.set_defaults(func=_cmd_verify)

    p = actions.add_parser(
        "prune",
        help="remove audit rows older than --before (the chain stays verifiable)",
        description="Remove audit rows older than --before; the chain stays verifiable "
        "from the last removed row, which is kept with the operator and the time.",
        epilog="Example: web4 trust prune --data-dir ~/.web4/alice --before 2026-01-01 "
        "--operator ada",
    )
    cli_args.add_data_dir(p, _DATA)
    p.add_argument(
        "--before",
        type=cli_args.iso_time,
        required=True,
        help="remove audit rows older than this ISO date/time, e.g. 2026-01-01",
    )
    _operator(p, "prunes")
    p.set_defaults(func=_cmd_prune)
