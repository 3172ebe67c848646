"""`web4 node --help` says where the node's address goes, and a real node does exactly
that: with --json, stdout is JSON events from its first line and the `listening on`
lines are on stderr."""

from __future__ import annotations

import json
import re
from pathlib import Path

from support.nodeproc import keygen, web4


def _flat(text: str) -> str:
    return " ".join(text.split())


def test_help_says_where_the_listen_lines_go_and_a_json_node_does_that(tmp_path: Path) -> None:
    shown = web4("node", "--help")
    assert shown.returncode == 0, shown.stderr
    help_text = _flat(shown.stdout)
    assert "one `listening on MULTIADDR` line per address" in help_text
    assert "with --json or --quiet these lines go to stderr" in help_text
    assert "first line" not in help_text  # what the old help promised, wrongly under --json

    data, _ = keygen(tmp_path, "alice")
    ran = web4(
        "node", "--data-dir", str(data), "--listen", "/ip4/127.0.0.1/tcp/0", "--json",
        "--exit-after", "1",
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines, ran.stderr
    events = [json.loads(line) for line in lines]  # every stdout line is a JSON event
    assert all(isinstance(e, dict) and "kind" in e for e in events)
    assert "node.started" in [e["kind"] for e in events]
    assert not any("listening on" in line for line in lines)
    assert re.search(r"^listening on /ip4/127\.0\.0\.1/tcp/\d+/p2p/12D3KooW", ran.stderr, re.M)
