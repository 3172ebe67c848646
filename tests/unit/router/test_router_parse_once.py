"""The router parses an envelope's bytes once and validates that parse: a lone surrogate
(JSON text can escape one) anywhere a peer puts it is that peer's refused input, never
an exception out of ``route``; the router keeps serving."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from web4.cip.builder import CipBuilder
from web4.cip.messages import Intent, SenderState
from web4.cip.validator import cip_validator
from web4.clock import FakeClock, SeededRng
from web4.envelope.crypto import canonicalize
from web4.envelope.validate import Receiver
from web4.identity import Identity
from web4.router import DESTINATIONS, Fault, Inbound, ProtocolRouter

ME = Identity(SeededRng(1).bytes(32), "me")
ALICE = Identity(SeededRng(2).bytes(32), "alice")


def _router(clock: FakeClock, seen: list[Inbound], events: list[str]) -> ProtocolRouter:
    faults: list[Fault] = []
    router = ProtocolRouter(
        {"cip": cip_validator(ME.fingerprint, clock=clock, trust_of=lambda _: "trusted")},
        emit=lambda kind, **_: events.append(kind),
        clock=clock,
        on_fault=faults.append,
    )
    for dest in DESTINATIONS:
        router.bind(dest, seen.append)
    return router


def _intent(clock: FakeClock, seed: int) -> bytes:
    env = CipBuilder(ALICE, clock=clock, rng=SeededRng(seed)).build(
        Intent(goal="learn", topic="tides"),
        receiver=Receiver(agent_id=ME.agent_id, fingerprint=ME.fingerprint),
        sender_view="trusted",
        state=SenderState(presence="focused", lri=5),
    )
    return canonicalize(env)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (b'"goal":"learn"', b'"goal":"\\ud800"'),  # a Literal: msgspec must encode it
        (b'"topic":"tides"', b'"topic":"\\udfff"'),
        (b'"type":"INTENT"', b'"type":"\\ud800"'),
        (b'"presence":"focused"', b'"presence":"\\ud800"'),
        (b'"agent_id":"alice"', b'"agent_id":"\\ud800"'),
        (b'"cip":"1.0"', b'"cip":"\\ud800"'),
    ],
)
def test_a_lone_surrogate_is_refused_and_the_router_keeps_serving(old: bytes, new: bytes) -> None:
    clock = FakeClock()
    seen: list[Inbound] = []
    events: list[str] = []
    router = _router(clock, seen, events)
    bad = _intent(clock, 1)
    assert bad.count(old) == 1
    bad = bad.replace(old, new)
    json.loads(bad)  # still JSON

    async def main() -> list[Any]:
        return [await router.route(bad, link_peer="l"), await router.route(_intent(clock, 2))]

    refused, served = asyncio.run(main())
    assert refused.outcome in ("rejected", "unknown"), refused
    assert served.outcome == "routed", served
    assert [m.type for m in seen] == ["INTENT"]


def test_a_routed_envelope_is_parsed_once_and_never_by_python_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One Rust parse per envelope, whatever the router and the validator do with it;
    the Python JSON decoder and the dict-to-tree conversion are not on the path."""
    import web4.envelope.validate as validate_module
    from web4 import _core

    calls: list[int] = []

    class Counting:
        def __getattr__(self, name: str) -> Any:
            return getattr(_core, name)

        @staticmethod
        def parse_envelope(data: bytes, max_bytes: int, max_depth: int) -> Any:
            calls.append(len(data))
            return _core.parse_envelope(data, max_bytes, max_depth)

    def refuse(*_: Any, **__: Any) -> Any:
        raise AssertionError("not on the inbound path")

    monkeypatch.setattr(validate_module, "_core", Counting())
    monkeypatch.setattr(json, "loads", refuse)
    monkeypatch.setattr(validate_module.ReceivedEnvelope, "of", refuse, raising=False)
    clock = FakeClock()
    seen: list[Inbound] = []
    router = _router(clock, seen, [])
    data = _intent(clock, 3)
    assert asyncio.run(router.route(data)).outcome == "routed"
    assert calls == [len(data)]
    assert [m.type for m in seen] == ["INTENT"]
