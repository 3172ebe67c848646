"""The replay cache: remembers within the window, forgets after, stays bounded, and
never lets a replay through when full."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from web4.envelope.replay import ReplayCache
from web4.errors import ConfigError, ReplayError

T0 = 1_700_000_000.0


def test_second_sighting_is_replay() -> None:
    cache = ReplayCache(window=120)
    cache.check_and_add("peer", "m1", T0, T0)
    with pytest.raises(ReplayError, match="already seen"):
        cache.check_and_add("peer", "m1", T0, T0 + 1)
    # The same msg_id from another sender is another message.
    cache.check_and_add("other", "m1", T0, T0 + 1)
    assert len(cache) == 2


def test_entries_expire_with_the_window() -> None:
    cache = ReplayCache(window=120)
    cache.check_and_add("p", "m1", T0, T0)
    with pytest.raises(ReplayError):
        cache.check_and_add("p", "m1", T0, T0 + 120)  # still acceptable by timestamp
    cache.expire(T0 + 120.001)
    assert len(cache) == 0
    assert ("p", "m1") not in cache


def test_future_timestamp_is_kept_until_its_own_expiry() -> None:
    cache = ReplayCache(window=120)
    cache.check_and_add("p", "m1", T0 + 100, T0)  # 100 s ahead of us
    cache.expire(T0 + 200)
    with pytest.raises(ReplayError):
        cache.check_and_add("p", "m1", T0 + 100, T0 + 219)


def test_already_expired_is_not_stored() -> None:
    cache = ReplayCache(window=120)
    cache.check_and_add("p", "old", T0 - 500, T0)
    assert len(cache) == 0


def test_capacity_bound_and_floor() -> None:
    cache = ReplayCache(window=120, capacity=3, per_sender_capacity=3)
    for i in range(3):
        cache.check_and_add("p", f"m{i}", T0 + i, T0 + i)
    cache.check_and_add("p", "m3", T0 + 3, T0 + 3)  # evicts m0 (earliest expiry)
    assert len(cache) == 3
    assert cache.evicted == 1
    assert cache.floor == T0 + 120
    # m0 was evicted: a replay of it is still refused, because it is below the floor.
    with pytest.raises(ReplayError, match="saturated"):
        cache.check_and_add("p", "m0", T0, T0 + 4)
    # Newer traffic still flows.
    cache.check_and_add("p", "m4", T0 + 4, T0 + 4)


def test_bad_configuration() -> None:
    with pytest.raises(ConfigError):
        ReplayCache(window=0)
    with pytest.raises(ConfigError):
        ReplayCache(capacity=0)


events = st.lists(st.tuples(st.integers(0, 5), st.floats(-130, 130), st.floats(0, 30)), max_size=60)


@settings(max_examples=200, deadline=None)
@given(events, st.integers(1, 8))
def test_never_admits_a_replay_and_stays_bounded(
    evs: list[tuple[int, float, float]], capacity: int
) -> None:
    """Against a reference that remembers everything: the cache admits an envelope only
    if the reference has not seen it inside the window (no false accept), and never
    holds more than ``capacity`` entries."""
    cache = ReplayCache(window=120, capacity=capacity)
    seen: dict[str, float] = {}
    signed_at: dict[str, float] = {}  # a replay is the same signed envelope: same time
    now = T0
    for msg, offset, step in evs:
        now += step
        key = f"m{msg}"
        sent = signed_at.setdefault(key, now + offset)
        if abs(now - sent) > 120:
            continue  # the validator's timestamp check refuses it before the cache
        try:
            cache.check_and_add("p", key, sent, now)
        except ReplayError:
            pass
        else:
            assert key not in seen or seen[key] + 120 < now, "replay admitted"
            seen[key] = sent
        assert len(cache) <= capacity


def test_a_flood_under_many_keys_does_not_refuse_an_honest_peer() -> None:
    """Future-dated envelopes from throwaway keys fill the cache; only the flooders'
    floors rise, so an honest peer's fresh traffic (and its old ids) stay correct."""
    cache = ReplayCache(window=120, capacity=64, per_sender_capacity=16)
    cache.check_and_add("honest", "h0", T0, T0)
    for k in range(20):
        for i in range(40):
            with contextlib.suppress(ReplayError):  # a flooder's own floor refuses it
                cache.check_and_add(f"sybil{k}", f"s{i}", T0 + 119, T0)
    assert len(cache) <= 64
    assert cache.evicted > 0
    assert cache.floor_of("honest") == float("-inf")
    cache.check_and_add("honest", "h1", T0 + 1, T0 + 1)  # fresh traffic flows
    with pytest.raises(ReplayError, match="already seen"):
        cache.check_and_add("honest", "h0", T0, T0 + 2)  # and its replay is still caught
    with pytest.raises(ReplayError, match="saturated"):
        cache.check_and_add("sybil19", "s0", T0 + 119, T0 + 2)  # flooder's evicted id


def test_one_sender_cannot_take_more_than_its_share() -> None:
    cache = ReplayCache(window=120, capacity=100, per_sender_capacity=10)
    for i in range(50):
        cache.check_and_add("loud", f"m{i}", T0 + i * 0.01, T0)
    assert len(cache) == 10
    cache.check_and_add("quiet", "q", T0, T0)
    assert ("quiet", "q") in cache


def test_per_sender_capacity_is_validated() -> None:
    with pytest.raises(ConfigError):
        ReplayCache(capacity=10, per_sender_capacity=-1)


multi = st.lists(
    st.tuples(st.integers(0, 3), st.integers(0, 5), st.floats(-130, 130), st.floats(0, 30)),
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(multi, st.integers(1, 8), st.integers(1, 8))
def test_never_admits_a_replay_with_many_senders(
    evs: list[tuple[int, int, float, float]], capacity: int, per_sender: int
) -> None:
    cache = ReplayCache(window=120, capacity=capacity, per_sender_capacity=per_sender)
    seen: dict[tuple[str, str], float] = {}
    signed_at: dict[tuple[str, str], float] = {}
    now = T0
    for sender_n, msg, offset, step in evs:
        now += step
        key = (f"s{sender_n}", f"m{msg}")
        sent = signed_at.setdefault(key, now + offset)
        if abs(now - sent) > 120:
            continue
        try:
            cache.check_and_add(key[0], key[1], sent, now)
        except ReplayError:
            pass
        else:
            assert key not in seen or seen[key] + 120 < now, "replay admitted"
            seen[key] = sent
        assert len(cache) <= capacity
