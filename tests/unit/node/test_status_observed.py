"""``web4.node.status``: the addresses peers report seeing the node at (identify) are
written once per new set, kept across a re-announce and a stop, and read back; a status
file from before them still reads."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from web4.identity import Identity
from web4.node import status
from web4.node.status import NodeStatus, read_status

A = "/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWA"
B = "/ip4/127.0.0.1/tcp/7001/p2p/12D3KooWA"


def _base(tmp_path: Path) -> NodeStatus:
    doc = NodeStatus(
        pid=os.getpid(), agent_id="a", fingerprint="f" * 64, peer_id="12D3KooWA",
        listen=(B,), metrics_url=None, started_at=1.0,
    )  # fmt: skip
    status.write_status(tmp_path, doc)
    return doc


def test_a_new_set_is_written_and_the_same_set_reordered_is_not(tmp_path: Path) -> None:
    errors: list[Any] = []
    doc = _base(tmp_path)
    path = tmp_path / status.STATUS_FILE_NAME
    doc = status.observed(tmp_path, doc, [B, A], errors.append)
    assert doc is not None
    assert doc.observed_addrs == (B, A)
    assert read_status(tmp_path) == doc
    before = path.stat().st_mtime_ns, path.stat().st_ino
    assert status.observed(tmp_path, doc, [A, B], errors.append) is doc
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == before  # not rewritten
    doc = status.observed(tmp_path, doc, [A], errors.append)
    assert doc is not None
    assert read_status(tmp_path) == doc
    assert doc.observed_addrs == (A,)
    assert errors == []


def test_nothing_is_written_before_the_node_announced(tmp_path: Path) -> None:
    assert status.observed(tmp_path, None, [A], print) is None
    assert read_status(tmp_path) is None


def test_a_re_announce_and_a_stop_keep_them(tmp_path: Path) -> None:
    identity = Identity.create_in_data_dir(tmp_path / "d", "a")
    data = tmp_path / "d"
    with open(os.devnull, "w") as out:
        first = status.announce(
            out=out, data_dir=data, identity=identity, listen=[B], metrics_url=None,
            peers=[], previous=None, now=1.0, emit=print,
        )  # fmt: skip
        seen = status.observed(data, first, [A], print)
        again = status.announce(
            out=out, data_dir=data, identity=identity, listen=[B, A], metrics_url=None,
            peers=[], previous=seen, now=2.0, emit=print,
        )  # fmt: skip
    assert again.observed_addrs == (A,)
    status.stopped(data, again, 3.0)
    st = read_status(data)
    assert st is not None
    assert st.state == "stopped"
    assert st.observed_addrs == (A,)


def test_a_status_file_without_them_still_reads(tmp_path: Path) -> None:
    doc = _base(tmp_path).to_json()
    del doc["observed_addrs"]
    path = tmp_path / status.STATUS_FILE_NAME
    path.write_text(json.dumps(doc))
    st = read_status(tmp_path)
    assert st is not None
    assert st.observed_addrs == ()
