"""The persistent replay cache: a replay inside the window is refused after a restart
(a new cache over the same SQLite file), the store stays bounded by the window and by the
per-sender bound, and it behaves as the memory cache while it runs."""

from __future__ import annotations

from pathlib import Path

import pytest

from web4.envelope.replay import ReplayCache
from web4.envelope.replay_store import PersistentReplayCache
from web4.errors import ConfigError, ReplayError
from web4.store import Store

T0 = 1_700_000_000.0


def reopen(path: Path, scope: str = "cip", **kw: float) -> PersistentReplayCache:
    store = Store.open(path, synchronous="OFF")
    return PersistentReplayCache(store, scope, **kw)  # type: ignore[arg-type]


def test_a_replay_inside_the_window_is_refused_after_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    first = reopen(db)
    first.check_and_add("peer", "m1", T0, T0)
    first._store.close()
    again = reopen(db)  # the node restarted
    with pytest.raises(ReplayError, match="already seen"):
        again.check_and_add("peer", "m1", T0, T0 + 60)
    again.check_and_add("peer", "m2", T0, T0 + 60)  # a new message still passes


def test_the_memory_cache_forgets_on_restart_the_persistent_one_does_not(
    tmp_path: Path,
) -> None:
    # The observed bug: a fresh in-memory cache routes the same envelope again.
    ReplayCache().check_and_add("peer", "m1", T0, T0)
    ReplayCache().check_and_add("peer", "m1", T0, T0 + 60)  # no error: the old hole
    db = tmp_path / "s.sqlite3"
    reopen(db).check_and_add("peer", "m1", T0, T0)
    with pytest.raises(ReplayError):
        reopen(db).check_and_add("peer", "m1", T0, T0 + 60)


def test_scopes_are_separate_caches(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    store = Store.open(db, synchronous="OFF")
    cip = PersistentReplayCache(store, "cip")
    lip = PersistentReplayCache(store, "lip")
    cip.check_and_add("peer", "m1", T0, T0)
    lip.check_and_add("peer", "m1", T0, T0)  # another protocol's cache
    assert cip.stored() == lip.stored() == 1


def test_rows_older_than_the_window_are_pruned(tmp_path: Path) -> None:
    cache = reopen(tmp_path / "s.sqlite3", window=120.0, prune_interval=1.0)
    for i in range(50):
        cache.check_and_add("peer", f"old{i}", T0, T0)
    assert cache.stored() == 50
    cache.check_and_add("peer", "new", T0 + 200, T0 + 200)
    assert cache.stored() == 1
    assert len(cache) == 1


def test_expired_entries_raise_the_forgotten_mark_across_a_restart(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    cache = reopen(db, prune_interval=1.0)
    cache.check_and_add("peer", "m1", T0, T0)
    cache.check_and_add("peer", "m2", T0 + 200, T0 + 200)  # m1 pruned, mark = T0 + 120
    cache._store.close()
    again = reopen(db)
    # The clock stepped back: an envelope as old as the forgotten one is refused.
    with pytest.raises(ReplayError, match="forgotten"):
        again.check_and_add("peer", "m1", T0, T0 + 100)


def test_one_sender_cannot_fill_the_store(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    cache = reopen(db, capacity=64, per_sender_capacity=8)
    for i in range(100):
        cache.check_and_add("flooder", f"f{i}", T0 + i * 0.01, T0)
    cache.check_and_add("honest", "h1", T0, T0)
    assert cache.stored() == 9  # the flooder's 8 newest and the honest one
    cache._store.close()
    again = reopen(db, capacity=64, per_sender_capacity=8)
    # The flooder's floor survived: its evicted envelopes cannot be replayed.
    with pytest.raises(ReplayError, match="saturated"):
        again.check_and_add("flooder", "f0", T0, T0 + 1)
    with pytest.raises(ReplayError, match="already seen"):
        again.check_and_add("flooder", "f99", T0 + 0.99, T0 + 1)
    with pytest.raises(ReplayError, match="already seen"):
        again.check_and_add("honest", "h1", T0, T0 + 1)
    again.check_and_add("honest", "h2", T0, T0 + 1)


def test_the_global_bound_holds_in_the_store(tmp_path: Path) -> None:
    cache = reopen(tmp_path / "s.sqlite3", capacity=16, per_sender_capacity=16)
    for s in range(40):
        cache.check_and_add(f"sender{s}", "m", T0 + s * 0.01, T0)
    assert len(cache) == cache.stored() == 16


def test_a_smaller_window_after_restart_keeps_refusing_inside_it(tmp_path: Path) -> None:
    db = tmp_path / "s.sqlite3"
    reopen(db, window=300.0).check_and_add("peer", "m1", T0, T0)
    again = reopen(db, window=120.0)
    with pytest.raises(ReplayError):
        again.check_and_add("peer", "m1", T0, T0 + 100)


def test_an_empty_scope_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        PersistentReplayCache(Store.open(":memory:"), "")
