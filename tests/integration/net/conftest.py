"""The test network (support.netns) as a fixture: skipped, with the reason, only where
network namespaces cannot be made (not root, no netns support)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from support.netns import TestNet, unavailable


@pytest.fixture
def net() -> Iterator[TestNet]:
    why = unavailable()
    if why is not None:
        pytest.skip(why)
    with TestNet() as made:
        yield made


@pytest.fixture
def nat_net(net: TestNet) -> TestNet:
    """``net`` that can also make a NAT (needs nft)."""
    why = unavailable(nat=True)
    if why is not None:
        pytest.skip(why)
    return net
