"""The LinkBook: who is connected, who was, when last seen, and why a link went down."""

from __future__ import annotations

from pathlib import Path

import pytest

from web4.node.link_state import (
    KEEP,
    KNOWN,
    SEEN_WRITE_INTERVAL_S,
    STRANGER,
    LinkBook,
    LinkRecord,
)
from web4.store import Store


@pytest.fixture
def book(tmp_path: Path) -> LinkBook:
    return LinkBook(Store.in_data_dir(tmp_path / "d"))


def test_up_then_down_keeps_agent_id_and_last_sighting(book: LinkBook) -> None:
    book.up("fp-a", None, 10.0)
    book.up("fp-a", "agent-a", 11.0)
    book.seen("fp-a", 20.0)
    book.down("fp-a", "heartbeat timeout", 25.0)
    assert book.all() == [LinkRecord("fp-a", "agent-a", False, 20.0, "heartbeat timeout")]
    book.up("fp-a", None, 30.0)
    assert book.all() == [LinkRecord("fp-a", "agent-a", True, 30.0, None)]


def test_seen_is_throttled_and_never_creates_a_row(book: LinkBook) -> None:
    book.seen("stranger", 1.0)
    assert book.all() == []
    book.up("fp-a", None, 100.0)
    book.seen("fp-a", 100.0 + SEEN_WRITE_INTERVAL_S / 2)
    assert book.all()[0].last_seen == 100.0
    book.seen("fp-a", 100.0 + SEEN_WRITE_INTERVAL_S)
    assert book.all()[0].last_seen == 100.0 + SEEN_WRITE_INTERVAL_S


def test_mark_all_down_clears_stale_connected_rows_and_sorts_connected_first(
    tmp_path: Path,
) -> None:
    with Store.in_data_dir(tmp_path / "d") as store:
        book = LinkBook(store)
        book.up("fp-a", "a", 1.0)
        book.up("fp-b", "b", 2.0)
    # A killed node left both "connected"; the next start marks them down.
    with Store.in_data_dir(tmp_path / "d") as store:
        book = LinkBook(store)
        assert [r.connected for r in book.all()] == [True, True]
        book.mark_all_down("node restarted", 50.0)
        book.up("fp-a", None, 51.0)
        rows = book.all()
        assert [(r.peer, r.connected, r.reason) for r in rows] == [
            ("fp-a", True, None),
            ("fp-b", False, "node restarted"),
        ]
        assert rows[1].last_seen == 2.0


def test_a_second_reader_sees_the_writer_rows(tmp_path: Path) -> None:
    with Store.in_data_dir(tmp_path / "d") as writer, Store.in_data_dir(tmp_path / "d") as reader:
        LinkBook(writer).up("fp-a", "a", 1.0)
        assert LinkBook(reader).all() == [LinkRecord("fp-a", "a", True, 1.0, None)]


def test_prune_bounds_a_flood_of_fresh_keys_and_keeps_who_matters(book: LinkBook) -> None:
    # Keys are free: every one that opens a session gets a row. Past the cap, rows of
    # keys with no trust record go first, then those with one, oldest first; kept rows
    # (configured, anchors, trusted) and connected peers never.
    kept = {"configured", "anchor", "trusted"}
    known = {f"known{i}" for i in range(5)}
    for i, fp in enumerate(sorted(kept)):
        book.up(fp, None, float(i))
        book.down(fp, "gone", float(i))  # long gone: still kept
    for i, fp in enumerate(sorted(known)):
        book.up(fp, None, 10.0 + i)
        book.down(fp, "gone", 10.0 + i)
    book.up("live", None, 11.0)  # connected: never pruned
    for i in range(1000):
        book.found(f"fresh{i:04d}", "mdns", 100.0 + i)
        book.up(f"fresh{i:04d}", None, 100.0 + i)
        book.down(f"fresh{i:04d}", "closed", 100.0 + i)

    def rank(fp: str) -> int:
        return KEEP if fp in kept else KNOWN if fp in known else STRANGER

    assert book.prune(64, rank) == 1009 - 56  # down to 7/8 of the cap
    peers = {r.peer for r in book.all()}
    assert book.count() == 56
    assert kept | known | {"live"} <= peers
    assert {f"fresh{i:04d}" for i in range(1000 - 47, 1000)} <= peers  # the most recent
    assert book.prune(64, rank) == 0  # bounded: nothing more to do
    # a cap below what must stay: strangers, then known keys go; never the rest
    assert book.prune(2, rank) == 56 - 4
    assert {r.peer for r in book.all()} == kept | {"live"}
