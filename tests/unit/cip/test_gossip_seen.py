"""Accepted gossip ids survive a restart and stay bounded (web4.cip.gossip_seen)."""

from __future__ import annotations

from pathlib import Path

from web4.cip.gossip_seen import SeenGossip
from web4.store import Store


def test_ids_persist_and_are_bounded_by_age_and_count(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.sqlite3")
    seen = SeenGossip(store, window_s=100.0, max_ids=3, count_every=1)
    for i in range(5):
        seen.add(f"id{i}", 1000.0 + i)
    assert [f"id{i}" in seen for i in range(5)] == [False, False, True, True, True]
    store.close()
    store = Store.open(tmp_path / "s.sqlite3")  # a restart
    seen = SeenGossip(store, window_s=100.0, max_ids=3, count_every=1)
    assert "id4" in seen
    seen.add("late", 1200.0)  # the others are older than the window now
    assert [x in seen for x in ("id2", "id3", "id4", "late")] == [False, False, False, True]
    assert 42 not in seen
    store.close()
