"""``DATA_DIR/status.json``: how to reach a running node, for ``web4 status`` and scripts.

Theory of operation: a node writes the file when it starts listening (and again whenever
its listen addresses change) and marks it ``stopped`` when it exits, so an operator who
started it with ``--quiet`` (or lost its terminal) can still find its full multiaddrs,
peer id and metrics URL. Writes are atomic (a private temporary file in the data
directory, fsynced, then ``os.replace``): a reader sees the old document or the new one,
never half of one. The file is 0600 like every other file in the data directory.
The node also records the addresses its peers say they see it at (libp2p identify's
observed address, the last 8 distinct, ``observed_addrs``): behind NAT, how the network
reaches it. Each is one peer's claim, unverified (a peer can report anything), so it is
shown as that and never used to dial. ``read_status`` reads it back and ``pid_alive``
says whether the recorded process still
exists (a node killed with ``kill -9`` leaves ``state: running`` behind; its pid is then
gone, or it is no longer the lock holder).
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import IO, Any

from web4.errors import ConfigError
from web4.identity import Identity
from web4.private import check_private_file

__all__ = [
    "STATUS_FILE_NAME",
    "NodeStatus",
    "announce",
    "observed",
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
    # where peers say they see it (identify), oldest first: their claims, unverified
    observed_addrs: tuple[str, ...] = field(default=())

    def stopped(self, at: float) -> NodeStatus:
        return replace(self, state="stopped", stopped_at=at)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["listen"] = list(self.listen)
        doc["peers"] = list(self.peers)
        doc["observed_addrs"] = list(self.observed_addrs)
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
            observed_addrs=tuple(str(a) for a in doc.get("observed_addrs", ())),
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


def announce(
    *,
    out: IO[str],
    data_dir: Path,
    identity: Identity,
    listen: Sequence[str],
    metrics_url: str | None,
    peers: Sequence[str],
    previous: NodeStatus | None,
    now: float,
    emit: Callable[..., object],
) -> NodeStatus:
    """Say where a node can be reached, whatever the console settings: its full listen
    multiaddrs (with ``/p2p/<peer id>``, to copy into a peer's ``--peer``) and its metrics
    URL, on ``out`` (the node's stdout when the readable console is on, else stderr:
    ``--quiet`` and ``--json`` keep stdout for events or nothing); and (re)write
    ``status.json``; returns what it wrote. Called again whenever the listen addresses
    change (``previous``: the last one). A status file that cannot be written is reported
    through ``emit`` as an ``error`` event, not fatal."""
    lines = [f"listening on {a}" for a in listen]
    if metrics_url is not None:
        lines.append(f"metrics on {metrics_url}")
    if lines:
        print(*lines, sep="\n", file=out, flush=True)
    doc = NodeStatus(
        pid=os.getpid(),
        agent_id=identity.agent_id,
        fingerprint=identity.fingerprint,
        peer_id=identity.peer_id,
        listen=tuple(listen),
        metrics_url=metrics_url,
        started_at=previous.started_at if previous is not None else now,
        peers=tuple(peers),
        observed_addrs=previous.observed_addrs if previous is not None else (),
    )
    try:
        write_status(data_dir, doc)
    except OSError as e:
        emit("error", error="StatusFileError", detail=f"status.json: {e}"[:200])
    return doc


def observed(
    data_dir: Path,
    current: NodeStatus | None,
    addrs: Sequence[str],
    emit: Callable[..., object],
) -> NodeStatus | None:
    """Rewrite ``status.json`` when the addresses peers report seeing the node at
    (``addrs``, from the transport) are not the ones ``current`` has; returns the status now in
    force. Nothing is printed (they change as peers come and go); a write that fails is
    an ``error`` event, as in ``announce``."""
    # the same set in another order (a peer re-confirmed one) is not worth an fsync
    if current is None or set(addrs) == set(current.observed_addrs):
        return current
    doc = replace(current, observed_addrs=tuple(addrs))
    try:
        write_status(data_dir, doc)
    except OSError as e:
        emit("error", error="StatusFileError", detail=f"status.json: {e}"[:200])
    return doc


def stopped(data_dir: Path, current: NodeStatus | None, now: float) -> None:
    """Mark the status file ``stopped`` (if the node wrote one) as it exits; the event bus
    is closed by then, so a failure is not reported."""
    if current is not None:
        with contextlib.suppress(OSError):
            write_status(data_dir, current.stopped(now))
