"""`web4 peers` and `web4 trust blacklist` beside running nodes (real processes): the peer
shows by its agent name, connected, then down once it stops; an operator's blacklist
refuses the peer's next handshake at the running node."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from support.nodeproc import NodeProc, keygen, web4

LISTEN = ("--listen", "/ip4/127.0.0.1/tcp/0")


def peers(data: Path) -> dict[str, dict[str, Any]]:
    got = web4("peers", "--data-dir", str(data), "--json")
    assert got.returncode == 0, got.stderr
    return {p["fingerprint"]: p for p in json.loads(got.stdout)}


def wait_peer(data: Path, fp: str, timeout: float = 30.0, **want: Any) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    row: dict[str, Any] = {}
    while time.monotonic() < deadline:
        row = peers(data).get(fp, {})
        if all(row.get(k) == v for k, v in want.items()):
            return row
        time.sleep(0.3)
    raise AssertionError(f"web4 peers never showed {want} for {fp[:16]}: {row}")


def test_peers_names_a_connected_peer_and_shows_it_down_after_it_stops(tmp_path: Path) -> None:
    a_dir, _ = keygen(tmp_path, "alice")
    b_dir, b_fp = keygen(tmp_path, "bob")
    alice = NodeProc(a_dir, *LISTEN)
    bob = None
    try:
        bob = NodeProc(b_dir, *LISTEN, "--peer", alice.addr())
        alice.wait_for(lambda e: e["kind"] == "cip.handshake.done" and e["peer"] == b_fp, 30)
        row = wait_peer(a_dir, b_fp, agent_id="bob", connected=True)
        assert row["trust"] == "probing"
        assert row["last_seen"] > time.time() - 60
        text = web4("peers", "--data-dir", str(a_dir))
        line = next(line for line in text.stdout.splitlines() if line.startswith(b_fp))
        assert line.split()[1:3] == ["probing", "connected"]
        assert line.split()[4] == "inbound"  # FOUND (after PATH): bob dialled alice
        assert line.split()[6] == "bob"
        assert bob.stop() == 0
        wait_peer(a_dir, b_fp, connected=False)
    finally:
        alice.stop()
        if bob is not None:
            bob.kill()


def test_a_blacklist_from_the_cli_refuses_the_peer_at_a_running_node(tmp_path: Path) -> None:
    a_dir, _ = keygen(tmp_path, "alice")
    b_dir, b_fp = keygen(tmp_path, "bob")
    alice = NodeProc(a_dir, *LISTEN)
    bob = None
    try:
        bob = NodeProc(b_dir, *LISTEN, "--peer", alice.addr())
        alice.wait_for(lambda e: e["kind"] == "cip.handshake.done" and e["peer"] == b_fp, 30)
        got = web4(
            "trust", "blacklist", "bob", "--data-dir", str(a_dir),
            "--reason", "floods us", "--operator", "ada",
        )  # fmt: skip
        assert got.returncode == 0, got.stderr
        assert "probing -> blacklisted by ada" in got.stdout
        assert bob.stop() == 0
        done = sum(1 for e in alice.events if e["kind"] == "cip.handshake.done")
        bob = NodeProc(b_dir, *LISTEN, "--peer", alice.addr())  # bob comes back
        alice.wait_for(
            lambda e: (
                e["kind"] == "cip.handshake.dropped"
                and e["attributes"].get("error") == "TrustViolationError"
                and "blacklisted" in e["attributes"].get("reason", "")
            ),
            timeout=30,
        )
        assert sum(1 for e in alice.events if e["kind"] == "cip.handshake.done") == done
        assert peers(a_dir)[b_fp]["trust"] == "blacklisted"
    finally:
        alice.stop()
        if bob is not None:
            bob.kill()
