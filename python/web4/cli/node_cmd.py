"""``web4 node``, ``web4 agents`` and ``web4 events``; ``web4 peers|facts|trust`` are in
``web4.cli.inspect_cmd``.

Theory of operation: argument parsing and wiring only. ``node`` builds a ``NodeConfig``
(the TOML file if ``--config``, then the flags on top), makes a ``Node`` and runs it on
an asyncio loop with SIGINT/SIGTERM mapped to a graceful stop. Errors are ``Web4Error``s,
which ``web4.cli.main`` prints as one line. Whatever a peer wrote (names, kinds, text in
events) is printed through ``printable``: control characters and newlines show as
escapes, so peer text cannot drive the terminal.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import signal
import sys
from pathlib import Path
from typing import Any

from web4.agent.loading import available
from web4.cli import args as cli_args
from web4.cli import inspect_cmd
from web4.errors import ConfigError, ObservabilityError
from web4.lip import LipSettings
from web4.node import Node, NodeConfig, Proposal, load_config
from web4.node.config import FLAG_KEYS, AgentSettings, config_path, default_config_path
from web4.observability import (
    LEVELS,
    EventFilter,
    NameBook,
    colour_wanted,
    format_event,
    format_traceback,
    read_events,
)
from web4.observability.escape import printable

__all__ = ["add_parsers"]

EXIT_OK = 0
EXIT_INTERRUPTED = 130


def _config(args: argparse.Namespace) -> NodeConfig:
    """The config file (``--config``, ``$WEB4_CONFIG``, the default location), then the
    flags on top; ``--data-dir`` or ``$WEB4_DATA_DIR`` win over the file's data_dir."""
    path = config_path(args.config)
    flag_dir = args.data_dir or os.environ.get("WEB4_DATA_DIR") or None
    if path is not None:
        cfg = load_config(path, data_dir=flag_dir)
    elif flag_dir:
        cfg = NodeConfig(data_dir=Path(flag_dir).expanduser())
    else:
        raise cli_args.UsageError(
            "give --data-dir DIR (or set WEB4_DATA_DIR, or --config FILE with data_dir "
            f"under [node], or create {default_config_path()})"
        )
    anchors = (*cfg.trust_anchors, *(t.lower() for t in args.trust or ()))
    return cfg.with_overrides(
        believe=(*cfg.believe, *args.believe) if args.believe else None,
        propose=(*cfg.propose, *args.propose) if args.propose else None,
        exit_after=args.exit_after,
        listen=tuple(args.listen) if args.listen else None,
        peers=(*cfg.peers, *args.peer) if args.peer else None,
        bootstrap=(*cfg.bootstrap, *args.bootstrap) if args.bootstrap else None,
        mdns=False if args.no_mdns else None,
        relays=(*cfg.relays, *args.relay) if args.relay else None,
        relay_server=True if args.relay_server else None,
        relay_trusted_only=True if args.relay_trusted_only else None,
        min_peers=args.min_peers,
        max_peers=args.max_peers,
        metrics_port=args.metrics_port,
        events_file=Path(args.events).expanduser() if args.events else None,
        trust_anchors=anchors if args.trust else None,
        json_events=True if args.json else None,
        console=False if args.quiet else None,
        log_level=args.log_level,
        lip=_lip(cfg, args),
        agent=_agent(cfg, args),
        gossip=False if args.no_gossip else None,
        gossip_domains=(*cfg.gossip_domains, *args.gossip_domain) if args.gossip_domain else None,
    )


def _agent(cfg: NodeConfig, args: argparse.Namespace) -> AgentSettings | None:
    """``[node] agent`` and ``[agent.options]`` with ``--agent``/``--agent-opt`` on top."""
    if not (args.agent or args.agent_opt):
        return None
    options = dict(cfg.agent.options)
    for item in args.agent_opt or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise cli_args.UsageError(f"--agent-opt wants KEY=VALUE, not {item!r}")
        options[key.strip()] = value
    return dataclasses.replace(
        cfg.agent, spec=args.agent or cfg.agent.spec, options=tuple(sorted(options.items()))
    )


def _cmd_agents(args: argparse.Namespace) -> int:
    entries = available()
    width = max(len(e.name) for e in entries)
    for e in entries:
        print(f"{printable(e.name):<{width}}  {printable(e.target)}  ({printable(e.origin)})")
    return EXIT_OK


def _lip(cfg: NodeConfig, args: argparse.Namespace) -> LipSettings | None:
    """``[lip]`` with ``--fetch``/``--lip-tiers``/``--lip-allow-private``/``--lip-fetch-for``
    on top."""
    if not (args.fetch or args.lip_tiers or args.lip_allow_private or args.lip_fetch_for):
        return None
    return dataclasses.replace(
        cfg.lip,
        fetch=(*cfg.lip.fetch, *(args.fetch or ())),
        tiers=Path(args.lip_tiers).expanduser() if args.lip_tiers else cfg.lip.tiers,
        allow_private=cfg.lip.allow_private or args.lip_allow_private,
        fetch_for=args.lip_fetch_for or cfg.lip.fetch_for,
    )


def _cmd_node(args: argparse.Namespace) -> int:
    cfg = _config(args)
    cli_args.data_dir(cfg.data_dir)  # an unreadable or foreign data dir: one line, now
    node = Node(cfg, beliefs=cfg.believe, proposals=cfg.proposals(), exit_after=cfg.exit_after)
    interrupted = False

    def on_sigint() -> None:
        nonlocal interrupted
        interrupted = True
        node.stop()

    async def main() -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGINT, on_sigint)
        loop.add_signal_handler(signal.SIGTERM, node.stop)
        await node.run()

    asyncio.run(main())
    # Ctrl-C still stops gracefully, but says so as every command does (SIGTERM: 0)
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


_SKIPS_SHOWN = 10  # malformed lines reported one by one; the rest are counted


def _cmd_events(args: argparse.Namespace) -> int:
    """Print (and follow) an event file: peers by name once their handshake is in the
    file, colour on a terminal; lines that are not events are reported on stderr."""
    flt = EventFilter(kind_prefix=args.kind or "", peer=args.peer, min_level=args.level)
    path = Path(args.file).expanduser()
    names, colour = NameBook(), colour_wanted(sys.stdout)
    skipped = 0

    def invalid(_line: bytes, err: ObservabilityError) -> None:
        nonlocal skipped
        skipped += 1
        if skipped <= _SKIPS_SHOWN:
            why = printable(str(err))[:200]
            print(f"web4 events: skipped a line that is not an event: {why}", file=sys.stderr)

    if args.follow and not path.exists():
        print(f"web4 events: waiting for {printable(str(path))} to appear", file=sys.stderr)
    try:
        for event in read_events(path, follow=args.follow, on_invalid=invalid):
            names.learn_from(event)  # also from events the filter hides
            if flt.matches(event):
                print(format_event(event, colour=colour, names=names), flush=True)
                for line in format_traceback(event):  # the innermost frames, below it
                    print(line, flush=True)
    except BrokenPipeError:  # pragma: no cover - `web4 events ... | head`
        pass
    finally:
        if skipped:
            print(f"web4 events: skipped {skipped} malformed line(s)", file=sys.stderr)
    return EXIT_OK


def _node_parser(sub: Any) -> None:
    p = sub.add_parser(
        "node",
        help="run a node: listen, dial peers, handshake, exchange state and knowledge",
        description="Run a Web4 node from DATA_DIR (run `web4 keygen` first). It first "
        "says where it listens: one `listening on MULTIADDR` line per address (then "
        "`metrics on URL`), on stdout; with --json or --quiet these lines go to stderr, so "
        "stdout carries only events. Events print on stdout as they happen (--json: one "
        "JSON object per line, --quiet: none). The addresses are also in "
        "DATA_DIR/status.json (`web4 status`).",
        epilog="Example: web4 node --data-dir ~/.web4/bob --listen /ip4/127.0.0.1/tcp/7002 "
        "--peer /ip4/127.0.0.1/tcp/7001/p2p/12D3KooW... --believe 'water boils at 100 "
        "degrees celsius'  (a peer's full address is what its node prints after "
        "`listening on`, or what `web4 status` shows for it)",
    )
    p.add_argument(
        "--data-dir",
        metavar="DIR",
        help="the node's data directory (identity and store; default: $WEB4_DATA_DIR, else "
        "[node] data_dir of the config file)",
    )
    p.add_argument(
        "--config",
        metavar="FILE",
        help="a TOML node configuration file (default: $WEB4_CONFIG, else "
        "$XDG_CONFIG_HOME/web4/node.toml if it exists); every flag has a key: "
        + "; ".join(f"{flag} {key}" for flag, key in FLAG_KEYS.items()),
    )
    p.add_argument(
        "--listen",
        action="append",
        type=cli_args.listen_addr,
        metavar="MULTIADDR",
        help="listen address, e.g. /ip4/127.0.0.1/tcp/7001 (repeat)",
    )
    p.add_argument(
        "--peer",
        action="append",
        type=cli_args.peer_addr,
        metavar="MULTIADDR",
        help="dial a peer at /ip4/A/tcp/P/p2p/PEER_ID, or by its PEER_ID alone (12D3KooW..., "
        "found through mDNS or the DHT); redialled until the node stops (repeat)",
    )
    p.add_argument(
        "--bootstrap",
        action="append",
        type=cli_args.bootstrap_addr,
        metavar="MULTIADDR",
        help="a DHT entry point, /ip4/A/tcp/P/p2p/PEER_ID: the node finds peers by id "
        "through it (repeat); discovery names peers, it never trusts them",
    )
    p.add_argument(
        "--relay",
        action="append",
        type=cli_args.peer_addr,
        metavar="MULTIADDR",
        help="reserve a slot on the relay at /ip4/A/tcp/P/p2p/RELAY_ID and be reachable "
        "through it (…/p2p/RELAY_ID/p2p-circuit/p2p/OUR_ID, printed with the listen "
        "addresses) when behind NAT; a direct connection replaces it where the NAT allows "
        "(repeat, at most 8)",
    )
    p.add_argument(
        "--relay-server",
        action="store_true",
        help="serve as a circuit relay for nodes behind NAT, within fixed bounds "
        "(reservations, circuits, their duration and bytes; RTT_SPEC §17); peers this "
        "node holds untrusted or blacklisted are refused",
    )
    p.add_argument(
        "--relay-trusted-only",
        action="store_true",
        help="with --relay-server: serve only peers the operator trusts",
    )
    p.add_argument(
        "--no-mdns",
        action="store_true",
        help="do not announce or look for peers on the local network (mDNS is on by "
        "default for a node that listens beyond loopback; a node listening on loopback "
        "only, the default, stays off the LAN: use --listen /ip4/0.0.0.0/tcp/0 to find "
        "and be found there)",
    )
    p.add_argument(
        "--min-peers",
        type=cli_args.int_range(0, 1024),
        metavar="N",
        help="dial discovered peers while fewer than N sessions are up (default 4)",
    )
    p.add_argument(
        "--max-peers",
        type=cli_args.int_range(0, 1024),
        metavar="N",
        help="above N sessions close the least useful (never a --peer or a --trust "
        "anchor; untrusted and idle first; default 32)",
    )
    p.add_argument(
        "--metrics-port",
        type=cli_args.port,
        metavar="PORT",
        help="serve Prometheus /metrics on loopback (0: any free port)",
    )
    p.add_argument("--events", metavar="FILE", help="also write events to a rotating JSONL file")
    p.add_argument(
        "--trust",
        action="append",
        type=cli_args.fingerprint,
        metavar="FINGERPRINT",
        help="trust anchor: a peer's fingerprint, as `web4 id` prints it (repeat)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print events as JSON lines on stdout (the `listening on` lines go to stderr)",
    )
    p.add_argument(
        "--quiet",
        action="store_true",
        help="print no events (the `listening on` lines go to stderr)",
    )
    p.add_argument(
        "--log-level",
        choices=LEVELS,
        dest="log_level",
        help="print events at this level and above (default: info; JSON lines: all)",
    )
    p.add_argument(
        "-v",
        "--verbose",
        action="store_const",
        const="debug",
        dest="log_level",
        help="print every event (--log-level debug: routing, telemetry, ...)",
    )
    p.add_argument(
        "--propose",
        action="append",
        type=_proposal,
        metavar="'STATEMENT|DOMAIN|CONFIDENCE'",
        help="propose a fact to peers once every --peer (with none but a --bootstrap: "
        "--min-peers found ones; else the first peer) has done the handshake, or after "
        "10 s at least one (repeat)",
    )
    p.add_argument(
        "--believe",
        action="append",
        metavar="STATEMENT",
        help="a statement the agent holds true (confirms it, challenges its negation)",
    )
    p.add_argument(
        "--gossip-domain",
        action="append",
        metavar="DOMAIN",
        help="follow this knowledge domain's gossip topic (repeat; our own proposals' "
        "domains are followed anyway)",
    )
    p.add_argument(
        "--no-gossip",
        action="store_true",
        help="knowledge only to directly connected peers (no gossip topics)",
    )
    p.add_argument(
        "--agent",
        metavar="SPEC",
        help="the agent to run: module:factory, path/to/file.py:factory or an installed "
        "name (web4 agents); default: belief (docs/AGENTS.md)",
    )
    p.add_argument(
        "--agent-opt",
        action="append",
        metavar="KEY=VALUE",
        help="an option for the agent's factory (repeat)",
    )
    p.add_argument("--fetch", action="append", metavar="URI", help="learn from URI (LIP; repeat)")
    p.add_argument("--lip-tiers", metavar="FILE", help="LIP source tier policy (TOML)")
    p.add_argument(
        "--lip-allow-private",
        action="store_true",
        help="LIP may fetch from loopback/private addresses (tests and demos only)",
    )
    p.add_argument(
        "--lip-fetch-for",
        choices=("trusted", "probing", "none"),
        help="whose LIP_FETCH this node answers with its own fetch (default: trusted peers)",
    )
    p.add_argument(
        "--exit-after", type=cli_args.positive_float, metavar="SECONDS", help="stop after SECONDS"
    )
    p.set_defaults(func=_cmd_node)


def add_parsers(sub: Any) -> None:
    """Add node, peers, trust, facts and events to the ``web4`` subparsers."""
    _node_parser(sub)
    p = sub.add_parser(
        "agents",
        help="list the agents web4 node --agent NAME can run",
        description="List the built-in agents and those installed by packages (entry-point "
        "group web4.agents): name, module:factory, where from. Your own agent needs no "
        "installing: web4 node --agent myagent:make (docs/AGENTS.md).",
        epilog="Example: web4 agents",
    )
    p.set_defaults(func=_cmd_agents)
    inspect_cmd.add_parsers(sub)  # peers, facts, trust

    p = sub.add_parser(
        "events",
        help="print (and follow) a node's JSONL event file",
        description="Print the events of FILE readably, filtered; --follow "
        "keeps reading as the node writes, across rotations, and waits for FILE if the "
        "node has not created it yet (Ctrl-C stops). Lines that are not events are "
        "skipped and reported on stderr.",
        epilog="Example: web4 events ~/.web4/alice/events.jsonl --follow "
        "--kind trust. --level info",
    )
    p.add_argument("file", help="the JSONL event file (web4 node --events FILE)")
    p.add_argument("--follow", action="store_true", help="keep reading new events")
    p.add_argument("--kind", help="only kinds starting with this prefix")
    p.add_argument("--peer", help="only events about peers starting with this prefix")
    p.add_argument(
        "--level",
        default="debug",
        choices=LEVELS,
        help="only events at this level or above: debug < info < warning < error "
        "(default: debug, every event)",
    )
    p.set_defaults(func=_cmd_events)


def _proposal(text: str) -> str:
    """``--propose``: checked while parsing, kept as text (as ``[node] propose`` is)."""
    try:
        Proposal.parse(text)
    except ConfigError as e:
        raise argparse.ArgumentTypeError(str(e).removeprefix("--propose: ")) from None
    return text
