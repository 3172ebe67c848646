"""Node configuration: a TOML file, then command-line flags on top.

Theory of operation: ``NodeConfig`` is frozen data with defaults a user can run with.
``load_config(path)`` reads ``[node]`` (and optional ``[agent]``, ``[lip]``) tables from
a TOML file and refuses unknown keys, listing the valid ones, so a typo is an error and
not a silently ignored setting; every flag of ``web4 node`` has a key (``FLAG_KEYS``).
``with_overrides`` applies flags given on the command line. Every error is a
``ConfigError`` naming the file and key.

Where the file is (``config_path``): ``--config FILE``, else ``$WEB4_CONFIG``, else
``$XDG_CONFIG_HOME/web4/node.toml`` (``~/.config/web4/node.toml``) when it exists. The
data directory (``data_dir_of``): ``--data-dir``, else ``$WEB4_DATA_DIR``, else the
file's ``[node] data_dir``; so ``web4 peers`` with no flag reads the node ``web4 node``
runs.

Example file::

    [node]
    data_dir = "~/.web4/alice"
    listen = ["/ip4/127.0.0.1/tcp/7001"]
    peers = ["/ip4/127.0.0.1/tcp/7002/p2p/12D3KooW..."]
    metrics_port = 9101
    events_file = "~/.web4/alice/events.jsonl"
    log_level = "info"         # console: debug, info, warning or error
    trust_anchors = ["<64-hex fingerprint of a peer the operator vouches for>"]
    believe = ["water boils at 100 degrees celsius at sea level"]
    propose = ["Water boils at 100 degrees Celsius at sea level|physics|0.9"]
    mdns = true                # find peers on the LAN (false: --no-mdns)
    bootstrap = ["/ip4/203.0.113.7/tcp/7001/p2p/12D3KooW..."]  # DHT entry points
    relays = ["/ip4/203.0.113.7/tcp/7001/p2p/12D3KooW..."]  # reachable through these
    relay_server = false       # serve as a bounded relay for nodes behind NAT
    relay_trusted_only = false # as a relay, serve only peers the operator trusts
    min_peers = 4              # dial discovered peers below this many sessions
    max_peers = 32             # close the least useful sessions above this many
    link_rows_max = 1024       # peers remembered for web4 peers (strangers pruned first)
    gossip_domains = ["physics"]  # knowledge topics to follow (CIP_SPEC §11)
    gossip = true              # false: --no-gossip
    json_events = false        # --json
    console = true             # false: --quiet
    exit_after = 3600          # seconds; omit to run until stopped
    agent = "myagent:make"     # which agent runs (docs/AGENTS.md); default: belief

    [agent]
    mission = "learn and verify physics facts"
    intent = "learn physics"

    [agent.options]            # strings for the agent's factory (--agent-opt KEY=VALUE)
    confidence = "0.8"

    [lip]
    tiers = "tiers.toml"       # source tier policy, relative to this file
    allow_private = false      # fetch from private/loopback addresses (tests, demo)
    fetch = ["https://example.org/page"]
    fetch_for = "trusted"      # whose LIP_FETCH we answer: trusted, probing or none
    workers = 4                # fetches at once; a peer gets one, round-robin
    peer_limit = 4             # a peer's fetches waiting or running
"""

from __future__ import annotations

import math
import os
import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from web4.errors import ConfigError
from web4.lip import LipSettings
from web4.node.addrs import PEER_EXAMPLE, check_bootstrap_addr, check_listen_addr, check_peer_addr
from web4.node.proposals import Proposal
from web4.observability.events import LEVELS, Level

__all__ = [
    "FLAG_KEYS",
    "AgentSettings",
    "NodeConfig",
    "config_path",
    "data_dir_of",
    "default_config_path",
    "load_config",
]

# Each flag of ``web4 node`` and the TOML key that sets the same thing.
FLAG_KEYS = {
    "--data-dir": "[node] data_dir",
    "--listen": "[node] listen",
    "--peer": "[node] peers",
    "--metrics-port": "[node] metrics_port",
    "--events": "[node] events_file",
    "--trust": "[node] trust_anchors",
    "--json": "[node] json_events",
    "--quiet": "[node] console = false",
    "--log-level": "[node] log_level",
    "-v": '[node] log_level = "debug"',
    "--propose": "[node] propose",
    "--believe": "[node] believe",
    "--no-mdns": "[node] mdns = false",
    "--bootstrap": "[node] bootstrap",
    "--relay": "[node] relays",
    "--relay-server": "[node] relay_server = true",
    "--relay-trusted-only": "[node] relay_trusted_only = true",
    "--min-peers": "[node] min_peers",
    "--max-peers": "[node] max_peers",
    "--gossip-domain": "[node] gossip_domains",
    "--no-gossip": "[node] gossip = false",
    "--exit-after": "[node] exit_after",
    "--agent": "[node] agent",
    "--agent-opt": "[agent.options]",
    "--fetch": "[lip] fetch",
    "--lip-tiers": "[lip] tiers",
    "--lip-allow-private": "[lip] allow_private",
    "--lip-fetch-for": "[lip] fetch_for",
}

_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")


def _is_loopback(addr: str) -> bool:
    """A listen multiaddr on 127.0.0.0/8 or ::1."""
    return addr.startswith(("/ip4/127.", "/ip6/::1/"))


@dataclass(frozen=True)
class AgentSettings:
    mission: str = "exchange and verify knowledge with peers"
    intent: str = "learn"
    topic: str = "general"
    state_interval: float = 1.0  # seconds between load samples
    spec: str | None = None  # which agent runs ([node] agent, --agent); None: belief
    options: tuple[tuple[str, str], ...] = ()  # [agent.options], --agent-opt KEY=VALUE


@dataclass(frozen=True)
class NodeConfig:
    data_dir: Path
    listen: tuple[str, ...] = ("/ip4/127.0.0.1/tcp/0",)
    peers: tuple[str, ...] = ()
    metrics_port: int | None = None  # None: no /metrics server; 0: any free port
    events_file: Path | None = None
    console: bool = True  # print events readably on stdout
    json_events: bool = False  # print events as JSON lines on stdout instead
    log_level: Level = "info"  # the readable console's minimum level (-v: debug)
    trust_anchors: tuple[str, ...] = ()  # fingerprints the operator vouches for
    heartbeat_interval: float = 1.0
    handshake_timeout: float = 10.0
    believe: tuple[str, ...] = ()  # statements the default agent holds true (--believe)
    propose: tuple[str, ...] = ()  # "statement|domain|confidence" to propose (--propose)
    exit_after: float | None = None  # stop after this many seconds (--exit-after)
    agent: AgentSettings = field(default_factory=AgentSettings)
    lip: LipSettings = field(default_factory=LipSettings)
    # discovery (RTT_SPEC §16): mDNS on the LAN, DHT entry points, the session watermarks
    mdns: bool = True
    bootstrap: tuple[str, ...] = ()
    min_peers: int = 4
    max_peers: int = 32
    # knowledge on gossip topics (CIP_SPEC §11): on, and the domains subscribed to
    # besides those of our own proposals (--gossip-domain, --no-gossip)
    gossip: bool = True
    gossip_domains: tuple[str, ...] = ()
    # reachability (RTT_SPEC §17): relays to reserve a slot on and be reached through,
    # and whether this node serves as a (bounded) relay, to everyone or trusted peers only
    relays: tuple[str, ...] = ()
    relay_server: bool = False
    relay_trusted_only: bool = False
    # rows of the link book (web4 peers) past which those of strangers are pruned
    link_rows_max: int = 1024

    @property
    def mdns_active(self) -> bool:
        """mDNS runs only when asked for and the node listens beyond loopback: a node
        listening on loopback alone cannot be reached from the LAN (libp2p-mdns announces
        no loopback address), so it neither announces nor queries there; local nodes,
        demos and tests stay off the network (RTT_SPEC §16)."""
        return self.mdns and any(not _is_loopback(addr) for addr in self.listen)

    def __post_init__(self) -> None:
        if self.metrics_port is not None and (
            isinstance(self.metrics_port, bool) or not 0 <= self.metrics_port <= 65535
        ):
            raise ConfigError(f"metrics_port {self.metrics_port} is not a TCP port (0..65535)")
        for fp in self.trust_anchors:
            if not _FINGERPRINT.match(fp):
                raise ConfigError(f"trust anchor {fp!r} is not a 64-hex-digit fingerprint")
        for addr in self.listen:
            check_listen_addr(addr)
        for addr in self.peers:
            check_peer_addr(addr)
        for addr in self.bootstrap:
            check_bootstrap_addr(addr)
        for addr in self.relays:
            check_peer_addr(addr)
            if not addr.startswith("/") or "/p2p-circuit" in addr:
                raise ConfigError(f"relay {addr!r}: give the relay's own address, {PEER_EXAMPLE}")
        if len(self.relays) > 8:
            raise ConfigError("relays: at most 8")
        if self.relay_trusted_only and not self.relay_server:
            raise ConfigError("relay_trusted_only needs relay_server")
        for name in ("min_peers", "max_peers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1024:
                raise ConfigError(f"{name} must be an integer in 0..1024, got {value!r}")
        if self.max_peers < 1 or self.min_peers > self.max_peers:
            raise ConfigError(
                f"need min_peers <= max_peers and max_peers >= 1 "
                f"(got {self.min_peers} and {self.max_peers})"
            )
        if (
            isinstance(self.link_rows_max, bool)
            or not isinstance(self.link_rows_max, int)
            or not 1 <= self.link_rows_max <= 1_000_000
        ):
            raise ConfigError(
                f"link_rows_max must be an integer in 1..1000000, got {self.link_rows_max!r}"
            )
        for name in ("heartbeat_interval", "handshake_timeout", "exit_after"):
            value = getattr(self, name)
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise ConfigError(f"{name} must be a number of seconds above 0, got {value}")
        for text in self.propose:
            Proposal.parse(text)
        if any(not b.strip() for b in self.believe):
            raise ConfigError("believe: a belief is a non-empty statement")
        if len(self.gossip_domains) > 64 or any(
            not d.strip() or len(d) > 256 for d in self.gossip_domains
        ):
            raise ConfigError("gossip_domains: at most 64 domains of 1..256 characters")
        if self.log_level not in LEVELS:
            raise ConfigError(f"log_level {self.log_level!r} is not one of {', '.join(LEVELS)}")

    def proposals(self) -> tuple[Proposal, ...]:
        return tuple(Proposal.parse(p) for p in self.propose)

    def with_overrides(self, **changes: Any) -> NodeConfig:
        """A copy with every non-None value in ``changes`` applied."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _expect(table: dict[str, Any], where: str, allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        valid = ", ".join(sorted(allowed))
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; valid keys: {valid}")


# [node] keys and the TOML types they take (bool is an int in Python: checked first)
_NODE_TYPES: dict[str, tuple[str, tuple[type, ...]]] = {
    "metrics_port": ("an integer", (int,)),
    "console": ("true or false", (bool,)),
    "json_events": ("true or false", (bool,)),
    "mdns": ("true or false", (bool,)),
    "min_peers": ("an integer", (int,)),
    "max_peers": ("an integer", (int,)),
    "link_rows_max": ("an integer", (int,)),
    "gossip": ("true or false", (bool,)),
    "relay_server": ("true or false", (bool,)),
    "relay_trusted_only": ("true or false", (bool,)),
    "heartbeat_interval": ("a number", (int, float)),
    "handshake_timeout": ("a number", (int, float)),
    "exit_after": ("a number", (int, float)),
    "data_dir": ("a string", (str,)),
    "events_file": ("a string", (str,)),
    "agent": ("a string (module:factory, path:factory or a name)", (str,)),
}


def _check_types(node: dict[str, Any], where: str) -> None:
    for key, (what, types) in _NODE_TYPES.items():
        if key not in node:
            continue
        value = node[key]
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise ConfigError(f"{where} {key}: expected {what}, got {value!r}")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    """A TOML list of strings as a tuple. Raises ``ConfigError`` for anything else (a
    lone string would otherwise become a tuple of its characters)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f'{where}: expected a list of strings, e.g. ["..."]')
    return tuple(value)


def default_config_path(env: dict[str, str] | None = None) -> Path:
    """``$XDG_CONFIG_HOME/web4/node.toml``, ``~/.config/web4/node.toml`` without it."""
    env = dict(os.environ) if env is None else env
    base = env.get("XDG_CONFIG_HOME") or str(Path("~/.config").expanduser())
    return Path(base).expanduser() / "web4" / "node.toml"


def config_path(explicit: str | None, env: dict[str, str] | None = None) -> Path | None:
    """The config file to read: ``explicit`` (``--config``), else ``$WEB4_CONFIG``, else the
    default location when a file is there; None when there is none. An explicit or
    ``$WEB4_CONFIG`` file that is missing is an error when it is loaded, not skipped."""
    env = dict(os.environ) if env is None else env
    if explicit:
        return Path(explicit).expanduser()
    if env.get("WEB4_CONFIG"):
        return Path(env["WEB4_CONFIG"]).expanduser()
    default = default_config_path(env)
    try:
        return default if default.is_file() else None
    except OSError:  # a home we may not look into (another user's HOME): no default file
        return None


def data_dir_of(flag: str | None, env: dict[str, str] | None = None) -> Path | None:
    """``--data-dir``, else ``$WEB4_DATA_DIR``, else the config file's ``[node] data_dir``
    (``config_path(None)``); None when none of them says. Raises ``ConfigError`` for a
    config file that cannot be read."""
    env = dict(os.environ) if env is None else env
    if flag:
        return Path(flag).expanduser()
    if env.get("WEB4_DATA_DIR"):
        return Path(env["WEB4_DATA_DIR"]).expanduser()
    path = config_path(None, env)
    if path is None:
        return None
    node = _read(path).get("node", {})
    chosen = node.get("data_dir") if isinstance(node, dict) else None
    return Path(str(chosen)).expanduser() if isinstance(chosen, str) else None


def _read(p: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file") from None
    except IsADirectoryError:
        raise ConfigError(f"{p}: is a directory, not a config file") from None
    except PermissionError:
        raise ConfigError(f"{p}: cannot read config: permission denied") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{p}: cannot read config: {e}") from e


def load_config(path: str | Path, *, data_dir: str | Path | None = None) -> NodeConfig:
    """Read a TOML node configuration. ``data_dir`` (a flag) wins over the file's.

    Raises ``ConfigError`` for a missing or malformed file, unknown keys or bad values.
    """
    p = Path(path).expanduser()
    doc = _read(p)
    _expect(doc, str(p), {"node", "agent", "lip"})
    node = doc.get("node", {})
    agent = doc.get("agent", {})
    if not isinstance(node, dict) or not isinstance(agent, dict):
        raise ConfigError(f"{p}: [node] and [agent] must be tables")
    node_keys = {f.name for f in fields(NodeConfig)} - {"lip"}  # agent: which agent runs
    _expect(node, f"{p} [node]", node_keys)
    _check_types(node, f"{p} [node]")
    _expect(agent, f"{p} [agent]", {f.name for f in fields(AgentSettings)} - {"spec"})
    agent = dict(agent)
    if "agent" in node:
        agent["spec"] = node.pop("agent")
    if "options" in agent:
        opts = agent["options"]
        if not isinstance(opts, dict) or not all(isinstance(v, str) for v in opts.values()):
            raise ConfigError(f'{p} [agent.options]: a table of strings, e.g. model = "x"')
        agent["options"] = tuple(sorted(opts.items()))
    lip = doc.get("lip", {})
    if not isinstance(lip, dict):
        raise ConfigError(f"{p}: [lip] must be a table")
    _expect(lip, f"{p} [lip]", {f.name for f in fields(LipSettings)})
    if "tiers" in lip:  # relative to the config file
        lip["tiers"] = (p.parent / Path(str(lip["tiers"])).expanduser()).resolve()
    if "fetch" in lip:
        lip["fetch"] = _strings(lip["fetch"], f"{p} [lip] fetch")
    chosen = data_dir if data_dir is not None else node.get("data_dir")
    if chosen is None:
        raise ConfigError(f"{p}: no data_dir (set [node] data_dir or pass --data-dir)")
    try:
        kwargs: dict[str, Any] = {k: v for k, v in node.items() if k != "data_dir"}
        for key in (
            "listen",
            "peers",
            "bootstrap",
            "trust_anchors",
            "believe",
            "propose",
            "gossip_domains",
            "relays",
        ):
            if key in kwargs:
                kwargs[key] = _strings(kwargs[key], f"{p} [node] {key}")
        if "events_file" in kwargs:
            kwargs["events_file"] = Path(str(kwargs["events_file"])).expanduser()
        return NodeConfig(
            data_dir=Path(str(chosen)).expanduser(),
            agent=AgentSettings(**agent),
            lip=LipSettings(**lip),
            **kwargs,
        )
    except TypeError as e:
        raise ConfigError(f"{p}: bad value: {e}") from e
    except ConfigError as e:
        raise ConfigError(f"{p}: {e}") from None
