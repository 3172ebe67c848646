"""`web4 peers`, `web4 facts` and `web4 trust show|override|blacklist` in real `web4`
processes, over a store seeded with the library (the trust book and the link book a node
writes)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from pathlib import Path

from web4.clock import SystemClock
from web4.node.link_state import LinkBook
from web4.store import Store
from web4.trust import TrustBook, TrustEvent

WEB4 = [sys.executable, "-m", "web4"]
ALICE = hashlib.sha256(b"alice").hexdigest()
BOB = hashlib.sha256(b"bob").hexdigest()
CAROL = hashlib.sha256(b"carol").hexdigest()
TWIN_A = "abcdef01" + "0" * 56  # two peers that share an 8-digit prefix
TWIN_B = "abcdef01" + "1" * 56
HOSTILE = "\x1b]0;pwned\x07evil\nname"


def run(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*WEB4, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def one_line_error(got: subprocess.CompletedProcess[str], code: int, *needles: str) -> None:
    assert got.returncode == code, (got.stdout, got.stderr)
    assert got.stderr.count("\n") == 1, got.stderr
    assert "Traceback" not in got.stderr
    for needle in needles:
        assert needle in got.stderr, got.stderr


def seeded(tmp_path: Path) -> Path:
    """A data dir whose store knows: alice (trusted, connected), bob (probing, link down),
    carol (untrusted, never linked), two peers with a common prefix, one hostile name."""
    data = tmp_path / "me"
    assert run("keygen", "--data-dir", str(data), "--agent-id", "me").returncode == 0
    now = time.time()
    with Store.in_data_dir(data) as store:
        trust, links = TrustBook(store, SystemClock()), LinkBook(store)
        for fp in (ALICE, BOB):
            trust.record(fp, TrustEvent.HANDSHAKE_VERIFIED, "hello")
        trust.record(ALICE, TrustEvent.OPERATOR_VOUCH, "operator trust anchor")
        trust.record(CAROL, TrustEvent.BAD_SIGNATURE, "bad signature")
        for fp in (TWIN_A, TWIN_B):
            trust.record(fp, TrustEvent.ANOMALY, "twin")
        links.up(ALICE, "alice", now - 5)
        links.up(BOB, "bob", now - 100)
        links.down(BOB, "heartbeat timeout", now - 50)
        links.up(TWIN_A, HOSTILE, now - 200)
        links.found(ALICE, "configured", now)
        links.found(BOB, "mdns", now)
        links.path(ALICE, "relayed")
    return data


def test_peers_lists_a_header_names_trust_link_found_and_last_seen(tmp_path: Path) -> None:
    data = seeded(tmp_path)
    got = run("peers", "--data-dir", str(data))
    assert got.returncode == 0, got.stderr
    lines = got.stdout.splitlines()
    header = ["FINGERPRINT", "TRUST", "LINK", "PATH", "FOUND", "LAST", "SEEN", "AGENT"]
    assert lines[0].split() == header
    rows = {line.split()[0]: line for line in lines[1:]}
    assert lines[1].startswith(ALICE)  # the connected peer first
    assert rows[ALICE].split()[1:5] == ["trusted", "connected", "relayed", "configured"]
    assert rows[ALICE].split()[6] == "alice"
    assert rows[BOB].split()[1:5] == ["probing", "down", "direct", "mdns"]  # never relayed
    assert rows[TWIN_A].split()[4] == "inbound"  # linked, found by nobody: it dialled us
    assert "bob" in rows[BOB]
    assert "heartbeat timeout" in rows[BOB]
    assert rows[CAROL].split()[1:6] == ["untrusted", "-", "-", "-", "-"]  # never linked
    assert "cooldown until" in rows[CAROL]
    assert "\x1b" not in got.stdout  # a peer's name cannot drive the terminal
    assert "\\x1b]0;pwned" in rows[TWIN_A]

    as_json = run("peers", "--data-dir", str(data), "--json")
    assert as_json.returncode == 0, as_json.stderr
    peers = {p["fingerprint"]: p for p in json.loads(as_json.stdout)}
    assert peers[ALICE]["agent_id"] == "alice"
    assert peers[ALICE]["trust"] == "trusted"
    assert peers[ALICE]["connected"] is True
    assert peers[BOB]["connected"] is False
    assert peers[BOB]["down_reason"] == "heartbeat timeout"
    assert peers[CAROL]["last_seen"] is None
    assert peers[TWIN_A]["agent_id"] == HOSTILE
    assert (peers[ALICE]["found_by"], peers[BOB]["found_by"]) == ("configured", "mdns")
    assert (peers[ALICE]["path"], peers[BOB]["path"]) == ("relayed", None)
    assert peers[TWIN_A]["found_by"] is None


def test_a_fingerprint_prefix_or_agent_name_names_a_peer_and_a_bad_one_is_one_line(
    tmp_path: Path,
) -> None:
    data = seeded(tmp_path)
    by_prefix = run("trust", "show", ALICE[:8], "--data-dir", str(data))
    assert by_prefix.returncode == 0, by_prefix.stderr
    assert by_prefix.stdout.splitlines()[0].split() == [ALICE, "trusted", "alice"]
    by_name = run("trust", "show", "bob", "--data-dir", str(data), "--json")
    assert by_name.returncode == 0, by_name.stderr
    assert json.loads(by_name.stdout)["peer"] == BOB
    upper = run("trust", "show", ALICE[:10].upper(), "--data-dir", str(data), "--json")
    assert json.loads(upper.stdout)["peer"] == ALICE

    ambiguous = run("trust", "show", "abcdef01", "--data-dir", str(data))
    one_line_error(ambiguous, 1, "matches 2 peers", "abcdef01")
    unknown = run("trust", "override", "deadbeef", "--data-dir", str(data), "--reason", "x")
    one_line_error(unknown, 1, "no known peer matches 'deadbeef'")
    short = run("trust", "blacklist", ALICE[:7], "--data-dir", str(data), "--reason", "x")
    one_line_error(short, 1, "at least 8 hex digits")


def test_trust_show_limit_shows_the_newest_entries(tmp_path: Path) -> None:
    data = seeded(tmp_path)
    newest = run("trust", "show", "--data-dir", str(data), "--limit", "2", "--json")
    assert newest.returncode == 0, newest.stderr
    audit = json.loads(newest.stdout)["audit"]
    assert [a["cause"] for a in audit] == ["twin", "twin"]  # the last two recorded
    assert audit[0]["seq"] < audit[1]["seq"]
    text = run("trust", "show", "--data-dir", str(data), "--limit", "1")
    assert text.stdout.count("\n") == 1
    assert "anomaly" in text.stdout


def test_override_refuses_an_unknown_peer_and_says_when_nothing_changed(
    tmp_path: Path,
) -> None:
    data = seeded(tmp_path)
    nobody = hashlib.sha256(b"nobody").hexdigest()
    unknown = run("trust", "override", nobody, "--data-dir", str(data), "--reason", "typo")
    one_line_error(unknown, 1, "unknown peer")
    same = run("trust", "override", ALICE[:12], "--data-dir", str(data), "--reason", "why")
    assert same.returncode == 0, same.stderr
    assert same.stdout.startswith("no change: alice")
    assert "trusted, not blacklisted" in same.stdout
    shown = json.loads(run("trust", "show", ALICE, "--data-dir", str(data), "--json").stdout)
    assert shown["state"] == "trusted"
    assert shown["audit"][-1]["event"] == "manual_override"  # the attempt is audited


def test_an_operator_blacklists_from_the_cli_and_only_an_override_lifts_it(
    tmp_path: Path,
) -> None:
    data = seeded(tmp_path)
    args = ("--data-dir", str(data), "--operator", "ada")
    denied = run("trust", "blacklist", "alice", *args, "--reason", "floods us")
    assert denied.returncode == 0, denied.stderr
    assert "alice" in denied.stdout
    assert "trusted -> blacklisted by ada" in denied.stdout
    again = run("trust", "blacklist", ALICE, *args, "--reason", "still")
    assert again.stdout.startswith("no change:")
    assert "already blacklisted" in again.stdout
    peers = json.loads(run("peers", *args[:2], "--json").stdout)
    state = {p["fingerprint"]: p["trust"] for p in peers}
    assert state[ALICE] == "blacklisted"
    entry = json.loads(run("trust", "show", ALICE, *args[:2], "--json").stdout)["audit"][-2]
    assert (entry["event"], entry["operator"], entry["cause"]) == (
        "manual_blacklist",
        "ada",
        "floods us",
    )
    lifted = run("trust", "override", ALICE[:8], *args, "--reason", "spoke to alice")
    assert "blacklisted -> probing by ada" in lifted.stdout
    # blacklisting in advance: a full fingerprint never seen is accepted
    stranger = hashlib.sha256(b"stranger").hexdigest()
    ahead = run("trust", "blacklist", stranger, *args, "--reason", "known spammer")
    assert ahead.returncode == 0, ahead.stderr
    assert "untrusted -> blacklisted" in ahead.stdout
    missing = run("trust", "blacklist", ALICE, *args)
    one_line_error(missing, 2, "--reason")
    assert run("trust", "verify", *args[:2]).returncode == 0


def test_each_trust_action_has_help_with_only_its_own_options() -> None:
    own = {
        "show": {"--limit", "--json"},
        "override": {"--reason", "--operator"},
        "blacklist": {"--reason", "--operator"},
        "verify": set(),
        "prune": {"--before", "--operator"},
    }
    every = set().union(*own.values())
    for action, flags in own.items():
        got = run("trust", action, "--help")
        assert got.returncode == 0, got.stderr
        assert "Example:" in got.stdout
        for flag in flags:
            assert flag in got.stdout, (action, flag)
        for flag in every - flags:
            assert flag not in got.stdout, (action, flag)
    one_line_error(run("trust"), 2, "ACTION")


def test_facts_json_names_the_proposer(tmp_path: Path) -> None:
    data = seeded(tmp_path)
    empty = run("facts", "--data-dir", str(data), "--json")
    assert empty.returncode == 0, empty.stderr
    assert json.loads(empty.stdout) == []
    text = run("facts", "--data-dir", str(data))
    assert text.stdout.strip() == "no claims"
