"""Liveness of links between real `web4 node` processes (issue 11).

* kill -9 of a peer that dialled us is reported (``rtt.disconnected``) within
  heartbeat_timeout + 1 s at the listener; its per-peer gauges leave ``/metrics``, its
  ``rtt.telemetry`` stops, and the link book says "disconnected".
* a peer frozen by SIGSTOP is reported lost within heartbeat_timeout + 1 s and resumes;
* a ``--peer`` not up at start is retried until it comes up (one ``rtt.peer_unreachable``,
  never an exit);
* a wrong peer id is an ``error`` event; a node that listens keeps running, one that does
  not exits with one line.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import time
import urllib.request
from datetime import datetime
from pathlib import Path

import pytest

from support.nodeproc import NodeProc, keygen, web4
from web4.identity import Identity
from web4.node.link_state import LinkBook
from web4.store import Store

pytestmark = pytest.mark.timeout(120)

LISTEN = ("--listen", "/ip4/127.0.0.1/tcp/0")
HEARTBEAT_TIMEOUT_S = 3.0  # RTT's default (RTT_SPEC §5)
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def peer_id_of(data: Path) -> str:
    """The libp2p PeerId of the node identity in ``data`` (identity multihash, base58)."""
    raw = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20]) + Identity.in_data_dir(data).public_key
    n, out = int.from_bytes(raw, "big"), ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    return "1" * (len(raw) - len(raw.lstrip(b"\0"))) + out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        return str(r.read().decode())


def collect(node: NodeProc, seconds: float) -> None:
    """Read the node's events for ``seconds`` (into ``node.events``)."""
    with contextlib.suppress(AssertionError):
        node.wait_for(lambda e: False, timeout=seconds)


def ts(event: dict[str, object]) -> float:
    return datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00")).timestamp()


def test_kill_9_of_a_dialling_peer_is_reported_at_once_and_its_gauges_go(
    tmp_path: Path,
) -> None:
    (a_dir, _), (b_dir, b_fp) = keygen(tmp_path, "alice"), keygen(tmp_path, "bob")
    for attempt in range(3):  # a free port may be taken before the node binds it
        port = free_port()
        alice = NodeProc(a_dir, *LISTEN, "--metrics-port", str(port))
        try:
            alice.addr()
            break
        except AssertionError:
            alice.kill()
            if attempt == 2:
                raise
    bob = NodeProc(b_dir, "--peer", alice.addr())
    try:
        alice.kind("rtt.session_open", timeout=30)
        gauge = f'web4_rtt_latency_p50_seconds{{peer="{b_fp}"}}'
        deadline = time.monotonic() + 30
        while gauge not in scrape(port):
            assert time.monotonic() < deadline, "bob's latency never reached /metrics"
            time.sleep(0.5)
        killed_at = time.time()
        bob.kill()  # SIGKILL: no CLOSE, nothing said
        lost = alice.wait_for(
            lambda e: e["kind"] == "rtt.disconnected" and e.get("peer") == b_fp, timeout=30
        )
        assert ts(lost) - killed_at <= HEARTBEAT_TIMEOUT_S + 1.0, ts(lost) - killed_at
        assert lost["attributes"]["cause"] in ("connection_closed", "heartbeat_timeout")
        assert int(lost["attributes"]["expires_in_ms"]) > 0  # the resume window stays open
        deadline = time.monotonic() + 15
        while gauge in scrape(port) or 'drop_rate{peer="' + b_fp in scrape(port):
            assert time.monotonic() < deadline, "bob's gauges stayed in /metrics"
            time.sleep(0.5)
        collect(alice, 4.5)  # two telemetry rounds (every 2 s)
        after = [e for e in alice.events if ts(e) > ts(lost) + 0.1]
        assert not [e for e in after if e["kind"] == "rtt.telemetry" and e.get("peer") == b_fp]
        with Store.in_data_dir(a_dir) as store:  # beside the running node, as `web4 peers`
            rows = {r.peer: r for r in LinkBook(store).all()}
        assert rows[b_fp].connected is False
        assert rows[b_fp].agent_id == "bob"
        assert rows[b_fp].reason is not None
        assert rows[b_fp].reason.startswith("disconnected")
        assert alice.stop() == 0
    finally:
        alice.kill()
        bob.kill()


def test_a_peer_not_up_at_start_is_retried_until_it_comes_up(tmp_path: Path) -> None:
    (a_dir, _), (b_dir, _) = keygen(tmp_path, "alice"), keygen(tmp_path, "bob")
    port = free_port()
    alice_addr = f"/ip4/127.0.0.1/tcp/{port}/p2p/{peer_id_of(a_dir)}"
    bob = NodeProc(b_dir, "--peer", alice_addr)
    alice = None
    try:
        first = bob.kind("rtt.peer_unreachable", timeout=30)
        assert first["attributes"]["error_kind"] == "refused"
        assert "Custom {" not in first["attributes"]["error"]
        time.sleep(5)  # the peer comes up 5 s later
        assert bob.proc.poll() is None, "the node gave up on a peer that is not up yet"
        alice = NodeProc(a_dir, "--listen", f"/ip4/127.0.0.1/tcp/{port}")
        bob.kind("cip.handshake.done", timeout=60)
        assert bob.proc.poll() is None
        unreachable = [e for e in bob.events if e["kind"] == "rtt.peer_unreachable"]
        assert len(unreachable) == 1, unreachable  # one line per state change
        attempts = [e for e in bob.events if e["kind"] == "rtt.reconnect_attempt"]
        assert attempts, "each attempt is still recorded (at debug level)"
        assert all(e["level"] == "debug" for e in attempts)
        assert not [e for e in bob.events if e["kind"] == "error"]
        assert bob.stop() == 0
    finally:
        bob.kill()
        if alice is not None:
            alice.kill()


def test_a_wrong_peer_id_is_an_error_and_a_listening_node_keeps_running(tmp_path: Path) -> None:
    (a_dir, _), (b_dir, _) = keygen(tmp_path, "alice"), keygen(tmp_path, "bob")
    c_dir, _ = keygen(tmp_path, "carol")
    alice = NodeProc(a_dir, *LISTEN)
    try:
        wrong = alice.addr().rsplit("/p2p/", 1)[0] + "/p2p/" + peer_id_of(c_dir)
        bob = NodeProc(b_dir, *LISTEN, "--peer", wrong)
        try:
            err = bob.kind("error", timeout=30, error_kind="peer_id_mismatch")
            assert "retrying cannot help" in err["attributes"]["detail"]
            time.sleep(2)
            assert bob.proc.poll() is None, "a listening node died of a wrong --peer"
            assert bob.stop() == 0
        finally:
            bob.kill()
        # A node that does not listen has nothing left to do: one line, exit 1.
        cfg = tmp_path / "bob.toml"
        cfg.write_text(f'[node]\ndata_dir = "{b_dir}"\nlisten = []\n')
        r = web4("node", "--config", str(cfg), "--quiet", "--peer", wrong, timeout=60)
        assert r.returncode == 1, (r.returncode, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr
        assert "not the peer id in the address" in r.stderr
        assert "Traceback" not in r.stderr
        assert alice.stop() == 0
    finally:
        alice.kill()


def test_a_frozen_peer_is_reported_lost_after_the_heartbeat_timeout_and_resumes(
    tmp_path: Path,
) -> None:
    (a_dir, _), (b_dir, b_fp) = keygen(tmp_path, "alice"), keygen(tmp_path, "bob")
    alice = NodeProc(a_dir, *LISTEN)
    bob = NodeProc(b_dir, "--peer", alice.addr())
    try:
        alice.kind("rtt.session_open", timeout=30)
        stopped_at = time.time()
        os.killpg(bob.proc.pid, signal.SIGSTOP)  # the link stays up; nothing answers
        try:
            lost = alice.wait_for(
                lambda e: e["kind"] == "rtt.disconnected" and e.get("peer") == b_fp, timeout=30
            )
        finally:
            os.killpg(bob.proc.pid, signal.SIGCONT)
        assert ts(lost) - stopped_at <= HEARTBEAT_TIMEOUT_S + 1.0, ts(lost) - stopped_at
        assert lost["attributes"]["cause"] in ("heartbeat_timeout", "connection_closed")
        alice.wait_for(
            lambda e: e["kind"] == "rtt.session_resumed" and e.get("peer") == b_fp, timeout=60
        )
        assert alice.stop() == 0
        assert bob.stop() == 0
    finally:
        alice.kill()
        bob.kill()
