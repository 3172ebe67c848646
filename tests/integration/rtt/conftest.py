"""Fixtures for the RTT integration tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from rtt_helpers import Peer


@pytest.fixture
def spawn_peer() -> Iterator[Callable[..., Peer]]:
    """Start peer processes; every one is killed at teardown."""
    made: list[Peer] = []

    def spawn(*args: str) -> Peer:
        p = Peer(*args)
        made.append(p)
        return p

    yield spawn
    for p in made:
        p.stop()
