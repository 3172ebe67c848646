"""Fixtures for the knowledge tests: ``world``, a ``support.knowledge_world.World`` on an
in-memory store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.knowledge_world import World
from web4.store import Store


@pytest.fixture
def world() -> Iterator[World]:
    store = Store.open(":memory:")
    yield World(store)
    store.close()
