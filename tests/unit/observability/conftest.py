"""Fixtures for the observability tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from web4.clock import FakeClock
from web4.observability import Observability


@pytest.fixture
def obs() -> Iterator[Observability]:
    """An ``Observability`` on a fake clock (events, ring, metrics; no sinks, no server),
    closed after the test."""
    o = Observability.open("n", clock=FakeClock())
    yield o
    o.close()
