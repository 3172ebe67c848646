"""The trust audit log is a hash chain: tampering breaks verification; pruning keeps the
chain verifiable from the last removed link, and is itself recorded."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from web4.clock import FakeClock
from web4.errors import StoreError, TrustError
from web4.store import Store
from web4.trust import TrustBook, TrustEvent
from web4.trust.book import GENESIS

P = "ab" * 32


def book_with_rows(tmp_path: Path, n: int = 6) -> tuple[Store, TrustBook, FakeClock]:
    clock = FakeClock(1_700_000_000.0)
    store = Store.open(tmp_path / "db.sqlite3", synchronous="OFF")
    book = TrustBook(store, clock)
    for i in range(n):
        book.record(P, TrustEvent.ANOMALY, f"fault {i}", [f"m{i}"])
        clock.advance(100.0)
    return store, book, clock


def test_a_fresh_log_verifies_and_its_head_moves_with_each_row(tmp_path: Path) -> None:
    store, book, _ = book_with_rows(tmp_path, 0)
    assert book.head() == (0, GENESIS)
    assert book.verify_chain().ok
    book.record(P, TrustEvent.HANDSHAKE_VERIFIED, "hs")
    seq, digest = book.head()
    assert seq == 1
    assert digest != GENESIS
    store.close()


def test_an_edited_row_breaks_the_chain(tmp_path: Path) -> None:
    store, _, _ = book_with_rows(tmp_path)
    store.close()
    raw = sqlite3.connect(tmp_path / "db.sqlite3")
    raw.execute("DROP TRIGGER trust_audit_no_update")  # an attacker with the file
    raw.execute("UPDATE trust_audit SET to_state = 'trusted' WHERE seq = 3")
    raw.commit()
    raw.close()
    store = Store.open(tmp_path / "db.sqlite3")
    check = TrustBook(store, FakeClock(0.0)).verify_chain()
    assert not check.ok
    assert check.first_bad_seq == 3
    with pytest.raises(TrustError, match="broken"):
        TrustBook(store, FakeClock(0.0)).prune(2e9, operator="ada")
    store.close()


def test_rows_cannot_be_deleted_except_by_prune(tmp_path: Path) -> None:
    store, _, _ = book_with_rows(tmp_path)
    with pytest.raises(StoreError, match="append-only"):
        store.execute("DELETE FROM trust_audit WHERE seq = 1")
    with pytest.raises(StoreError, match="append-only"):
        store.execute("DELETE FROM trust_audit_chain WHERE seq = 1")
    store.close()


def test_prune_removes_old_rows_keeps_the_head_and_the_chain_verifies(tmp_path: Path) -> None:
    store, book, clock = book_with_rows(tmp_path)
    head = book.head()
    out = book.prune(1_700_000_000.0 + 250.0, operator="ada")  # rows at +0, +100, +200
    assert out.removed == 3
    assert out.last_seq == 3
    assert [e.seq for e in book.audit()] == [4, 5, 6]
    check = book.verify_chain()
    assert check.ok
    assert (check.head_seq, check.head_hash) == head
    assert book.prunes()[0][1:5] == ("ada", 1_700_000_250.0, 3, 3)
    # the chain goes on after a prune, across a restart
    book.record(P, TrustEvent.ANOMALY, "later")
    store.close()
    store = Store.open(tmp_path / "db.sqlite3")
    assert TrustBook(store, clock).verify_chain().ok
    store.close()


def test_prune_never_removes_the_newest_row_and_needs_an_operator(tmp_path: Path) -> None:
    store, book, _ = book_with_rows(tmp_path, 2)
    with pytest.raises(TrustError, match="operator"):
        book.prune(2e9, operator=" ")
    out = book.prune(2e9, operator="ada")
    assert out.removed == 1
    assert [e.seq for e in book.audit()] == [2]
    assert book.verify_chain().ok
    store.close()
