"""The link book's bound (``LinkBook.prune``, called every 2 s) costs little under a
flood, and never deletes the row of a peer whose session the node still holds.

Every pass reads every disconnected row and ranks each (two trust-book queries), so a
pass is O(rows): 0.8-1.0 s at 100k rows on the development host. Before, a pass ran
whenever the table was one row over the cap: under a flood of fresh keys (a few rows
per tick) every tick read and ranked the whole table, and with more kept rows than the
cap (trusted keys, anchors) every tick did so and deleted nothing. Now a pass prunes to
7/8 of the cap (the next one waits for cap/8 new rows), and while no row was added
since a pass that could delete nothing more, one runs every ``STUCK_SKIPS`` calls.

A session that lost its connection and is being resumed (RTT_SPEC §6) keeps its
``PeerConn`` in the node, but its row says "not connected": its row went with the
strangers', and the resumed session got a new one without the agent id its handshake
had proved (no new handshake on a resume) or how it was found."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from types import SimpleNamespace

from web4.identity import Identity
from web4.node import Node, NodeConfig
from web4.node.link_state import KEEP, STRANGER, STUCK_SKIPS, LinkBook
from web4.store import Store


def _fp(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def test_a_flood_costs_a_pass_per_eighth_of_the_cap_not_a_pass_per_tick(
    tmp_path: Path,
) -> None:
    with Store.in_data_dir(tmp_path / "d") as store:
        book = LinkBook(store)
        ranked: list[str] = []

        def rank(peer: str) -> int:
            ranked.append(peer)
            return STRANGER

        cap = 400
        for i in range(cap + 1):
            book.down(_fp(f"s{i}"), "gone", float(i))
        for tick in range(200):  # a flood: two fresh keys a tick
            for j in range(2):
                book.down(_fp(f"t{tick}-{j}"), "gone", 1000.0 + tick)
            book.prune(cap, rank)
            assert book.count() <= cap
        # 8 passes of <= cap + cap/8 rows; before: every tick, ~cap rows each (80,000)
        assert len(ranked) <= 10 * cap


def test_no_pass_while_nothing_more_can_go(tmp_path: Path) -> None:
    with Store.in_data_dir(tmp_path / "d") as store:
        book = LinkBook(store)
        ranked: list[str] = []

        def rank(peer: str) -> int:
            ranked.append(peer)
            return KEEP  # e.g. trusted keys past the cap: the operator's choice

        for i in range(50):
            book.down(_fp(f"k{i}"), "gone", float(i))
        for _ in range(STUCK_SKIPS + 1):
            assert book.prune(10, rank) == 0
        assert len(ranked) == 50  # one pass; before: one per call
        book.down(_fp("new"), "gone", 99.0)  # a new row: a new pass
        book.prune(10, rank)
        assert len(ranked) == 101
        assert book.count() == 51
        # a kept row may become deletable without a row added (a session closed): a
        # pass comes all the same, after STUCK_SKIPS calls
        for _ in range(STUCK_SKIPS):
            book.prune(10, rank)
        assert len(ranked) == 101
        book.prune(10, rank)
        assert len(ranked) == 152


def test_a_session_being_resumed_keeps_its_row(tmp_path: Path) -> None:
    Identity.create_in_data_dir(tmp_path / "n", "n")
    node = Node(
        NodeConfig(data_dir=tmp_path / "n", console=False, link_rows_max=2),
        stdout=io.StringIO(),
    )
    try:
        book = node.links.book
        resuming = _fp("resuming")
        book.up(resuming, "agent-r", 1.0)  # handshaken: its agent id is known
        book.down(resuming, "disconnected (connection lost)", 2.0)  # RTT resumes it
        node.conns[resuming] = SimpleNamespace(peer=resuming)  # type: ignore[assignment]
        for i in range(3):  # strangers seen since
            book.down(_fp(f"s{i}"), "gone", 10.0 + i)
        book.prune(node.config.link_rows_max, node._link_rank)
        rows = {r.peer: r for r in book.all()}
        assert resuming in rows
        assert rows[resuming].agent_id == "agent-r"
        assert len(rows) <= 2
    finally:
        node.store.close()
