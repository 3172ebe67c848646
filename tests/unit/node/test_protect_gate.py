"""ProtectGate: the transport's protected peers follow the trust book's ``trusted``
(RTT_SPEC §16 Connection caps); a real transport takes and drops the protection."""

from __future__ import annotations

import pytest

from web4 import _core
from web4.errors import ConfigError, TrustError
from web4.node.protect import MAX_PROTECTED, ProtectGate
from web4.trust import TrustState


class Port:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def protect_peer(self, peer_id: str, on: bool) -> None:
        if peer_id == "bad":
            raise ConfigError("bad peer id")
        self.calls.append((peer_id, on))


def test_trusted_peers_are_protected_and_unprotected_when_they_fall() -> None:
    states = {"a": TrustState.TRUSTED, "b": TrustState.PROBING, "c": TrustState.UNTRUSTED}

    def trust_of(fp: str) -> TrustState:
        if fp == "x":
            raise TrustError("malformed")
        return states[fp]

    port = Port()
    gate = ProtectGate(port, trust_of)
    peers = [("A", "a"), ("B", "b"), ("C", "c"), ("X", "x"), ("bad", "a")]
    assert gate.sync(peers) == 1
    assert port.calls == [("A", True)]
    assert gate.sync(peers) == 0, "nothing changed: nothing sent"
    states["a"] = TrustState.BLACKLISTED  # a trusted peer gone bad loses its protection
    states["b"] = TrustState.TRUSTED  # the operator vouched for b
    assert gate.sync(peers) == 2
    assert port.calls[1:] == [("A", False), ("B", True)]


def test_the_gate_protects_a_bounded_number() -> None:
    port = Port()
    gate = ProtectGate(port, lambda fp: TrustState.TRUSTED)
    gate.sync((f"p{i}", "f") for i in range(MAX_PROTECTED + 10))
    assert len(port.calls) == MAX_PROTECTED


def test_a_real_transport_takes_the_protection() -> None:
    node = _core.RttNode(b"\x41" * 32)
    other = _core.RttNode(b"\x42" * 32)
    try:
        node.protect_peer(other.peer_id, True)
        node.protect_peer(other.peer_id, False)
        with pytest.raises(ConfigError):
            node.protect_peer("not-a-peer-id", True)
    finally:
        node.shutdown()
        other.shutdown()


def test_a_peer_that_falls_while_disconnected_loses_its_protection() -> None:
    # The node syncs the peers it holds sessions with; a protected peer that is gone
    # when the operator blacklists it must not keep skipping the caps until it is back.
    states = {"a": TrustState.TRUSTED}
    port = Port()
    gate = ProtectGate(port, lambda fp: states[fp])
    assert gate.sync([("A", "a")]) == 1
    states["a"] = TrustState.BLACKLISTED
    assert gate.sync([]) == 1, "A is not connected now"
    assert port.calls == [("A", True), ("A", False)]
    assert gate.sync([]) == 0
