"""Fixtures for the trust tests: a fake clock, a store, a TrustBook, peer ids."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from web4.clock import FakeClock
from web4.store import Store
from web4.trust import TrustBook


@pytest.fixture
def peers() -> list[str]:
    """Four distinct, well-formed peer ids (fingerprints)."""
    return [hashlib.sha256(f"peer-{n}".encode()).hexdigest() for n in range(4)]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_800_000_000.0)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open(tmp_path / "web4.sqlite3", synchronous="NORMAL")
    yield s
    s.close()


@pytest.fixture
def book(store: Store, clock: FakeClock) -> TrustBook:
    return TrustBook(store, clock)
