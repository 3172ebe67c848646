"""A flood of fresh keys cannot grow the link book (``links_peers``, what ``web4 peers``
shows) without bound (issue 14): keys are free, and each that opens a session gets a
row. Past ``link_rows_max`` the node prunes the rows of peers not connected, those of
keys it holds no trust record of first; its configured peer and its anchor keep theirs
even when long gone."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from harness import Attacker, Nodes, keygen, query

pytestmark = pytest.mark.timeout(300)

CAP = 8


def test_a_flood_of_fresh_keys_leaves_the_link_book_bounded(tmp_path: Path) -> None:
    conf = tmp_path / "victim.toml"
    conf.write_text(f"[node]\nlink_rows_max = {CAP}\n")
    with Nodes(tmp_path) as nodes, Attacker() as att:
        friend = nodes.start("friend", "--min-peers", "0")
        a_data = keygen(tmp_path, "anchor")
        v = nodes.start(
            "victim", "--config", str(conf), "--min-peers", "0",
            "--peer", friend.addr, "--trust", a_data[1],
        )  # fmt: skip
        anchor = nodes.start("anchor", "--min-peers", "0", "--peer", v.addr, data=a_data)
        for peer in (friend, anchor):
            v.kind("cip.handshake.done", peer=peer.fp, timeout=30)
        anchor.proc.stop()  # gone: its row stays all the same

        handshaken = set()
        for i in range(24):  # a third complete a handshake (a trust record: probing)
            key = att.key(f"fresh{i}")
            conn = key.connect(v) if i % 3 == 0 else key.open(v)
            if i % 3 == 0:
                handshaken.add(key.fp)
            conn.close()

        def rows() -> dict[str, int]:
            got = query(v.data, "SELECT peer, connected FROM links_peers")
            return {str(p): int(c) for p, c in got}

        deadline = time.monotonic() + 60
        book = rows()
        while len(book) > CAP and time.monotonic() < deadline:
            time.sleep(0.5)
            book = rows()
        assert len(book) <= CAP, book  # 26 rows before the bound
        assert {friend.fp, anchor.fp} <= set(book)
        # what is left of the flood: keys the node holds a trust record of (the
        # strangers went first)
        assert set(book) - {friend.fp, anchor.fp} <= handshaken, book
        assert v.proc.proc.poll() is None  # and it kept serving
