"""``DATA_DIR/status.json``: how to reach a running node, for ``web4 status`` and scripts.

Theory of operation: a node writes the file when it starts listening (and again whenever
its listen addresses change) and marks it ``stopped`` when it exits, so an operator who
started it with ``--quiet`` (or lost its terminal) can still find its full multiaddrs,
peer id and metrics URL. Writes are atomic (a private temporary file in the data
directory, fsynced, then ``os.replace``): a reader sees the old document or the new one,
never half of one. The file is 0600 like every other file in the data directory.
``read_status`` reads it back and ``pid_alive`` says whether the recorded process still
exists (a node killed with ``kill -9`` leaves ``state: running`` behind; its pid is then
gone, or it is no longer the lock holder).
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from web4.errors import ConfigError
from web4.private import check_private_file

if TYPE_CHECKING:
    from web4.node.node import Node

__all__ = [
    "STATUS_FILE_NAME",
    "NodeStatus",
    "announce",
    "pid_alive",
    "read_status",
    "stopped",
    "write_status",
]

STATUS_FILE_NAME = "status.json"
_FORMAT = "web4-status/1"
_MAX_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class NodeStatus:
    """What ``status.json`` holds. Times are Unix seconds (wall clock)."""

    pid: int
    agent_id: str
    fingerprint: str
    peer_id: str
    listen: tuple[str, ...]
    metrics_url: str | None
    started_at: float
    state: str = "running"  # "running" or "stopped"
    stopped_at: float | None = None
    peers: tuple[str, ...] = field(default=())  # the --peer addresses it dials

    def stopped(self, at: float) -> NodeStatus:
        return replace(self, state="stopped", stopped_at=at)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["listen"] = list(self.listen)
        doc["peers"] = list(self.peers)
        return {"format": _FORMAT, **doc}


def write_status(data_dir: Path, status: NodeStatus) -> None:
    """Atomically replace ``DATA_DIR/status.json`` (0600). Raises ``OSError``."""
    path = Path(data_dir) / STATUS_FILE_NAME
    tmp = path.with_name(f".{STATUS_FILE_NAME}.{os.getpid()}.tmp")
    data = (json.dumps(status.to_json(), indent=2) + "\n").encode()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def read_status(data_dir: Path) -> NodeStatus | None:
    """The status a node left in ``data_dir`` (``None``: no node has run there since
    status files exist). Raises ``ConfigError`` for a file that is not a private file of
    ours or not a status document."""
    path = Path(data_dir) / STATUS_FILE_NAME
    if not check_private_file(path, ConfigError):
        return None
    raw = path.read_bytes()[:_MAX_BYTES]
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict) or doc.get("format") != _FORMAT:
            raise ValueError(f"format is not {_FORMAT!r}")
        return NodeStatus(
            pid=int(doc["pid"]),
            agent_id=str(doc["agent_id"]),
            fingerprint=str(doc["fingerprint"]),
            peer_id=str(doc["peer_id"]),
            listen=tuple(str(a) for a in doc["listen"]),
            metrics_url=None if doc.get("metrics_url") is None else str(doc["metrics_url"]),
            started_at=float(doc["started_at"]),
            state=str(doc.get("state", "running")),
            stopped_at=None if doc.get("stopped_at") is None else float(doc["stopped_at"]),
            peers=tuple(str(a) for a in doc.get("peers", ())),
        )
    except (ValueError, KeyError, TypeError) as e:
        raise ConfigError(f"{path}: not a web4 status file ({e})") from None


def pid_alive(pid: int) -> bool:
    """Does process ``pid`` exist (``kill(pid, 0)``; EPERM means it does, as another user)?"""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def announce(node: Node) -> None:
    """Say where ``node`` can be reached, whatever the console settings: its full listen
    multiaddrs (with ``/p2p/<peer id>``, to copy into a peer's ``--peer``) and its metrics
    URL, on the node's stdout when the readable console is on, else on stderr (``--quiet``
    and ``--json`` keep stdout for events or nothing); and (re)write ``status.json``.
    Called again whenever the listen addresses change. A status file that cannot be
    written is reported as an ``error`` event, not fatal."""
    server = node.obs.server
    url = server.url if server is not None else None
    lines = [f"listening on {a}" for a in node.listen_addrs]
    if url is not None:
        lines.append(f"metrics on {url}")
    cfg = node.config
    out = node._stdout if cfg.console and not cfg.json_events else sys.stderr
    if lines:
        print(*lines, sep="\n", file=out, flush=True)
    previous: NodeStatus | None = node.status_doc
    node.status_doc = NodeStatus(
        pid=os.getpid(),
        agent_id=node.identity.agent_id,
        fingerprint=node.fingerprint,
        peer_id=node.identity.peer_id,
        listen=tuple(node.listen_addrs),
        metrics_url=url,
        started_at=previous.started_at if previous is not None else node.now(),
        peers=tuple(cfg.peers),
    )
    _write(node, node.status_doc)


def stopped(node: Node) -> None:
    """Mark ``node``'s status file ``stopped`` (if it wrote one) as it exits."""
    current: NodeStatus | None = node.status_doc
    if current is not None:
        _write(node, current.stopped(node.now()), report=False)  # the bus is closed


def _write(node: Node, status: NodeStatus, *, report: bool = True) -> None:
    try:
        write_status(Path(node.config.data_dir).expanduser(), status)
    except OSError as e:
        if report:
            node.bus.emit("error", error="StatusFileError", detail=f"status.json: {e}"[:200])
