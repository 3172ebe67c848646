"""Node configuration: a TOML file, then command-line flags on top.

Theory of operation: ``NodeConfig`` is frozen data with defaults a user can run with.
``load_config(path)`` reads ``[node]`` (and optional ``[agent]``, ``[rtt]``) tables from
a TOML file and refuses unknown keys, so a typo is an error and not a silently ignored
setting; ``with_overrides`` applies flags given on the command line. Every error is a
``ConfigError`` naming the file and key.

Example file::

    [node]
    data_dir = "~/.web4/alice"
    listen = ["/ip4/127.0.0.1/tcp/7001"]
    peers = ["/ip4/127.0.0.1/tcp/7002/p2p/12D3KooW..."]
    metrics_port = 9101
    events_file = "~/.web4/alice/events.jsonl"
    trust_anchors = ["<64-hex fingerprint of a peer the operator vouches for>"]

    [agent]
    mission = "learn and verify physics facts"
    intent = "learn physics"

    [lip]
    tiers = "tiers.toml"       # source tier policy, relative to this file
    allow_private = false      # fetch from private/loopback addresses (tests, demo)
    fetch = ["https://example.org/page"]
    fetch_for = "trusted"      # whose LIP_FETCH we answer: trusted, probing or none
    workers = 4                # fetches at once; a peer gets one, round-robin
    peer_limit = 4             # a peer's fetches waiting or running
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from web4.errors import ConfigError
from web4.node.protocols_hcp_lip import LipSettings

__all__ = ["AgentSettings", "NodeConfig", "load_config"]

_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class AgentSettings:
    mission: str = "exchange and verify knowledge with peers"
    intent: str = "learn"
    topic: str = "general"
    state_interval: float = 1.0  # seconds between load samples


@dataclass(frozen=True)
class NodeConfig:
    data_dir: Path
    listen: tuple[str, ...] = ("/ip4/127.0.0.1/tcp/0",)
    peers: tuple[str, ...] = ()
    metrics_port: int | None = None  # None: no /metrics server; 0: any free port
    events_file: Path | None = None
    console: bool = True  # print events readably on stdout
    json_events: bool = False  # print events as JSON lines on stdout instead
    trust_anchors: tuple[str, ...] = ()  # fingerprints the operator vouches for
    heartbeat_interval: float = 1.0
    handshake_timeout: float = 10.0
    agent: AgentSettings = field(default_factory=AgentSettings)
    lip: LipSettings = field(default_factory=LipSettings)

    def __post_init__(self) -> None:
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"metrics_port {self.metrics_port} is not a TCP port")
        for fp in self.trust_anchors:
            if not _FINGERPRINT.match(fp):
                raise ConfigError(f"trust anchor {fp!r} is not a 64-hex-digit fingerprint")
        for addr in (*self.listen, *self.peers):
            if not addr.startswith("/"):
                raise ConfigError(f"{addr!r} is not a multiaddr (e.g. /ip4/127.0.0.1/tcp/7001)")
        if self.heartbeat_interval <= 0 or self.handshake_timeout <= 0:
            raise ConfigError("heartbeat_interval and handshake_timeout must be > 0")

    def with_overrides(self, **changes: Any) -> NodeConfig:
        """A copy with every non-None value in ``changes`` applied."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _expect(table: dict[str, Any], where: str, allowed: set[str]) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")


def _strings(value: Any, where: str) -> tuple[str, ...]:
    """A TOML list of strings as a tuple. Raises ``ConfigError`` for anything else (a
    lone string would otherwise become a tuple of its characters)."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f'{where}: expected a list of strings, e.g. ["..."]')
    return tuple(value)


def load_config(path: str | Path, *, data_dir: str | Path | None = None) -> NodeConfig:
    """Read a TOML node configuration. ``data_dir`` (a flag) wins over the file's.

    Raises ``ConfigError`` for a missing or malformed file, unknown keys or bad values.
    """
    p = Path(path).expanduser()
    try:
        doc = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: no such config file") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"{p}: cannot read config: {e}") from e
    _expect(doc, str(p), {"node", "agent", "lip"})
    node = doc.get("node", {})
    agent = doc.get("agent", {})
    if not isinstance(node, dict) or not isinstance(agent, dict):
        raise ConfigError(f"{p}: [node] and [agent] must be tables")
    node_keys = {f.name for f in fields(NodeConfig)} - {"agent"}
    _expect(node, f"{p} [node]", node_keys)
    _expect(agent, f"{p} [agent]", {f.name for f in fields(AgentSettings)})
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
        for key in ("listen", "peers", "trust_anchors"):
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
