"""identify's observed addresses reach ``web4 status`` and ``web4 peers`` (real processes
on loopback): bob dials alice at her listen address, so bob's identify tells alice she
is seen there; alice's status.json, ``web4 status`` (text and JSON) and ``web4 peers``
show it, labelled as a peer's unverified claim."""

from __future__ import annotations

import json
import time
from pathlib import Path

from support.nodeproc import NodeProc, keygen, web4
from web4.node.status import read_status

LISTEN = ("--listen", "/ip4/127.0.0.1/tcp/0")


def wait_observed(data: Path, timeout: float = 30.0) -> tuple[str, ...]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = read_status(data)
        if st is not None and st.observed_addrs:
            return st.observed_addrs
        time.sleep(0.2)
    raise AssertionError("status.json never recorded an observed address")


def test_status_and_peers_show_where_peers_see_the_node(tmp_path: Path) -> None:
    a_dir, _ = keygen(tmp_path, "alice")
    b_dir, b_fp = keygen(tmp_path, "bob")
    alice = NodeProc(a_dir, *LISTEN, "--min-peers", "0")
    bob = None
    try:
        a_addr = alice.addr()
        assert read_status(a_dir) is not None
        bob = NodeProc(b_dir, *LISTEN, "--min-peers", "0", "--peer", a_addr)
        alice.wait_for(lambda e: e["kind"] == "cip.handshake.done" and e["peer"] == b_fp, 30)
        seen = wait_observed(a_dir)
        assert a_addr in seen  # bob reached her there and said so
        peer_id = alice.identity.peer_id
        assert all(a.startswith("/ip4/127.0.0.1/tcp/") for a in seen)
        assert all(a.endswith(f"/p2p/{peer_id}") for a in seen)

        doc = json.loads(web4("status", "--data-dir", str(a_dir), "--json").stdout)
        assert doc["running"] is True
        assert a_addr in doc["observed_addrs"]
        text = web4("status", "--data-dir", str(a_dir)).stdout
        assert f"peers see it at {a_addr}  (unverified: a peer's claim)" in text.splitlines()
        listed = web4("peers", "--data-dir", str(a_dir))
        assert listed.returncode == 0, listed.stderr
        mine = f"this node, as peers see it: {a_addr}  (unverified: a peer's claim)"
        assert mine in listed.stdout.splitlines()
        assert bob.stop() == 0
        assert alice.stop() == 0
        # a stopped node's status keeps what was seen, `peers` no longer claims it
        stopped = read_status(a_dir)
        assert stopped is not None
        assert stopped.state == "stopped"
        assert a_addr in stopped.observed_addrs
        after = web4("peers", "--data-dir", str(a_dir)).stdout
        assert "as peers see it" not in after
    finally:
        alice.kill()
        if bob is not None:
            bob.kill()
