"""``web4 id`` and ``web4 status``: who a data directory is, and whether its node runs.

Theory of operation: ``id`` reads the identity only (no store, no transport): agent id,
fingerprint, libp2p peer id (what ``/p2p/...`` in a peer's address names) and public
key. ``status`` reads ``DATA_DIR/status.json`` (written by the node, ``web4.node.status``)
and asks the kernel whether the node still holds the data directory's lock and its pid
still exists, so a node killed without a clean stop is reported as not running. Exit
status: 0 running, 3 not running (as LSB ``status`` does), 1 on errors.
"""

from __future__ import annotations

import argparse
import datetime
import json
from pathlib import Path
from typing import Any

from web4.cli import args as cli_args
from web4.identity import Identity
from web4.node.lock import held, holder
from web4.node.status import NodeStatus, pid_alive, read_status
from web4.observability.escape import printable

__all__ = ["add_id_parser", "add_status_parser", "identity_lines"]

EXIT_OK = 0
EXIT_NOT_RUNNING = 3


def identity_lines(identity: Identity) -> list[str]:
    return [
        f"agent_id:    {printable(identity.agent_id)}",
        f"fingerprint: {identity.fingerprint}",
        f"peer_id:     {identity.peer_id}",
        f"public_key:  {identity.public_key_b64}",
    ]


def _identity_json(identity: Identity) -> dict[str, str]:
    return {
        "agent_id": identity.agent_id,
        "fingerprint": identity.fingerprint,
        "peer_id": identity.peer_id,
        "public_key": identity.public_key_b64,
    }


def _cmd_id(args: argparse.Namespace) -> int:
    _, identity = cli_args.resolve_data_dir(args.data_dir)  # flag, $WEB4_DATA_DIR, config
    if args.json:
        print(json.dumps(_identity_json(identity)))
    else:
        print(*identity_lines(identity), sep="\n")
    return EXIT_OK


def add_id_parser(sub: Any) -> None:
    p = sub.add_parser(
        "id",
        help="print the agent id, fingerprint, peer id and public key of a data directory",
        description="Print the identity stored in DATA_DIR: agent id, fingerprint "
        "(hex SHA-256 of the public key), libp2p peer id (the /p2p/... part of the "
        "node's addresses) and the base64 public key.",
        epilog="Example: web4 id --data-dir ~/.web4/alice --json",
    )
    cli_args.add_data_dir(p, "the node's data directory")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_id)


def _when(t: float | None) -> str:
    if t is None:
        return "-"
    return datetime.datetime.fromtimestamp(t, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _cmd_status(args: argparse.Namespace) -> int:
    data, _ = cli_args.resolve_data_dir(args.data_dir)  # and the directory's privacy checks
    st = read_status(data)
    locked = held(data)
    lock_pid, lock_role = holder(data) if locked else (None, "")
    node_holds = locked and lock_role == "node"
    if st is not None and node_holds and st.state == "running" and lock_pid in (None, st.pid):
        running, state, why = pid_alive(st.pid), "running", ""
    elif node_holds:  # a node that has not written its status file yet
        running, state, why = True, "starting", "no status written yet"
    elif locked:
        running, state, why = False, "not running", f"web4 {lock_role} holds the directory"
    elif st is not None and st.state == "running":
        running, state, why = False, "not running", "it ended without a clean stop (killed?)"
    else:
        running, state, why = False, "stopped" if st else "never started", ""
    if args.json:
        doc: dict[str, Any] = {"running": running, "state": state}
        if lock_pid is not None:
            doc["lock_pid"] = lock_pid
        if st is not None:
            doc.update({k: v for k, v in st.to_json().items() if k not in ("format", "state")})
            doc["recorded_state"] = st.state
        print(json.dumps(doc))
    else:
        _print_status(data, st, state, why, lock_pid)
    return EXIT_OK if running else EXIT_NOT_RUNNING


def _print_status(
    data: Path, st: NodeStatus | None, state: str, why: str, lock_pid: int | None
) -> None:
    if st is None or (state == "starting" and lock_pid != st.pid):
        pid = f" (pid {lock_pid})" if lock_pid is not None else ""
        print(f"{data}: {state}{pid}{'; ' + why if why else ''}")
        return
    name = printable(st.agent_id)
    if state == "running":
        print(f"node {name}: running (pid {st.pid}, since {_when(st.started_at)})")
    elif state == "stopped":
        print(f"node {name}: stopped at {_when(st.stopped_at)} (was pid {st.pid})")
    else:
        print(f"node {name}: {state} (pid {st.pid}: {why})")
    print(f"fingerprint: {st.fingerprint}")
    print(f"peer_id:     {printable(st.peer_id)}")
    for a in st.listen:
        print(f"listening on {printable(a)}")
    if st.metrics_url:
        print(f"metrics on {printable(st.metrics_url)}")
    for a in st.observed_addrs:  # identify: what a peer told us, nothing checked it
        print(f"peers see it at {printable(a)}  (unverified: a peer's claim)")


def add_status_parser(sub: Any) -> None:
    p = sub.add_parser(
        "status",
        help="is a data directory's node running, and where to reach it",
        description="Read DATA_DIR/status.json (written by `web4 node`): pid, addresses "
        "(full multiaddrs with /p2p/), metrics URL, start time, the addresses peers say they "
        "see it at (identify; their unverified claims); and check that the node "
        "still holds the data directory. Exit status 0 if it runs, 3 if not.",
        epilog="Example: web4 status --data-dir ~/.web4/alice --json",
    )
    cli_args.add_data_dir(p, "the node's data directory")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_cmd_status)
