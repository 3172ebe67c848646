"""Review: the replay cache must not let a replay through after it has forgotten the
original because time moved on and then stepped back (a wall clock corrected by NTP, or
callers with slightly different ``now``s sharing one validator)."""

from __future__ import annotations

import pytest

from web4.cip.builder import CipBuilder
from web4.cip.messages import SenderState, StateUpdate
from web4.cip.validator import cip_validator
from web4.clock import FakeClock, SeededRng
from web4.envelope.replay import ReplayCache
from web4.envelope.validate import Receiver
from web4.errors import ReplayError
from web4.identity import Identity

T0 = 1_700_000_000.0


def test_forgotten_entry_is_not_accepted_again_when_time_steps_back() -> None:
    cache = ReplayCache(window=120)
    cache.check_and_add("p", "m1", T0, T0)
    cache.check_and_add("p", "m2", T0 + 200, T0 + 200)  # m1 is forgotten here
    assert ("p", "m1") not in cache
    with pytest.raises(ReplayError):
        cache.check_and_add("p", "m1", T0, T0 + 100)  # clock stepped back 100 s


def test_validator_refuses_replay_after_clock_steps_back() -> None:
    alice = Identity(bytes([1]) * 32, "alice")
    bob = Identity(bytes([2]) * 32, "bob")
    clock = FakeClock(T0)
    validator = cip_validator(
        bob.fingerprint, clock=clock, trust_of=lambda _: "trusted", replay=ReplayCache(120)
    )
    builder = CipBuilder(alice, clock=clock, rng=SeededRng(1))
    to_bob = Receiver(bob.agent_id, bob.fingerprint)
    state = SenderState(presence="focused", lri=10)

    def update() -> dict[str, object]:
        payload = StateUpdate(presence="focused", lri=10, ltppeerstate="trusted")
        return builder.build(payload, receiver=to_bob, sender_view="trusted", state=state)

    first = update()
    validator.validate(first)
    clock.advance(200)
    validator.validate(update())  # the cache forgets `first` now
    clock.advance(-100)  # NTP steps the wall clock back
    with pytest.raises(ReplayError):
        validator.validate(first)
