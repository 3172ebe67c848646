"""The node's relay use: access lists that follow the trust book, relay listening that
survives an unavailable relay, and the configuration's checks (RTT_SPEC §17)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from web4.errors import ConfigError, RTTTransportError, TrustError
from web4.node.config import NodeConfig
from web4.node.relaying import MAX_GATED, RelayGate, circuit_addr, listen_through
from web4.trust import TrustState

RELAY = "/ip4/10.0.0.1/tcp/4001/p2p/12D3KooWAQ24A1mdcb5vw3UjFDXYYvkrvtiWN9Mzr2BySyUp6h3N"


class Port:
    def __init__(self) -> None:
        self.calls: list[tuple[str, bool | None]] = []
        self.pinned: list[str] = []

    def relay_access(self, peer_id: str, allow: bool | None, *, pinned: bool = False) -> None:
        if peer_id == "bad":
            raise ConfigError("bad peer id")
        self.calls.append((peer_id, allow))
        if pinned:
            self.pinned.append(peer_id)


def test_the_gate_follows_trust_and_sends_only_changes() -> None:
    states = {"a": TrustState.TRUSTED, "b": TrustState.BLACKLISTED, "c": TrustState.PROBING}

    def trust_of(fp: str) -> TrustState:
        if fp == "x":
            raise TrustError("malformed")
        return states[fp]

    port = Port()
    gate = RelayGate(port, trust_of)
    peers = [("A", "a"), ("B", "b"), ("C", "c"), ("X", "x"), ("bad", "a")]
    assert gate.sync(peers) == 3
    assert port.calls == [("A", True), ("B", False), ("C", None)]
    assert gate.sync(peers) == 0, "nothing changed: nothing sent"
    states["c"] = TrustState.UNTRUSTED
    states["a"] = TrustState.BLACKLISTED  # a trusted peer gone bad loses the relay
    assert gate.sync(peers) == 2
    assert port.calls[-2:] == [("A", False), ("C", False)]


def test_the_gate_memory_is_bounded() -> None:
    port = Port()
    gate = RelayGate(port, lambda fp: TrustState.BLACKLISTED)
    gate.sync((f"p{i}", "f") for i in range(MAX_GATED + 10))
    assert len(gate._set) <= MAX_GATED
    assert len(port.calls) == MAX_GATED + 10


class Transport:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    async def listen(self, addr: str) -> list[str]:
        if self.fail:
            raise RTTTransportError("the listener closed: reservation refused")
        return [f"{addr}/p2p/12D3KooWUS"]


def test_listening_through_an_unavailable_relay_warns_and_keeps_its_address() -> None:
    events: list[tuple[str, dict[str, Any]]] = []

    def emit(kind: str, **kw: Any) -> None:
        events.append((kind, kw))

    got = asyncio.run(listen_through(Transport(fail=True), [RELAY], "12D3KooWUS", emit))
    assert got == [circuit_addr(RELAY, "12D3KooWUS")]
    assert events[0][0] == "node.relay"
    assert events[0][1]["outcome"] == "unavailable"
    assert events[0][1]["level"] == "warning"
    events.clear()
    got = asyncio.run(listen_through(Transport(fail=False), [RELAY], "12D3KooWUS", emit))
    assert got == [f"{RELAY}/p2p-circuit/p2p/12D3KooWUS"]
    assert events[0][1]["outcome"] == "reserved"


def test_relay_configuration_is_checked(tmp_path: Path) -> None:
    cfg = NodeConfig(data_dir=tmp_path, relays=(RELAY,), relay_server=True)
    assert cfg.relays == (RELAY,)
    with pytest.raises(ConfigError, match="relay's own address"):
        NodeConfig(data_dir=tmp_path, relays=(f"{RELAY}/p2p-circuit/p2p/{RELAY[-52:]}",))
    with pytest.raises(ConfigError):
        NodeConfig(data_dir=tmp_path, relays=("/ip4/10.0.0.1/tcp/1",))
    with pytest.raises(ConfigError, match="needs relay_server"):
        NodeConfig(data_dir=tmp_path, relay_trusted_only=True)
    with pytest.raises(ConfigError, match="at most 8"):
        NodeConfig(data_dir=tmp_path, relays=(RELAY,) * 9)


def test_refusals_of_keys_with_operator_standing_are_pinned(tmp_path: Path) -> None:
    """A key the operator vouched for or blacklisted by hand is refused in the tier fresh
    keys cannot flush; a fresh key that got itself blacklisted (a fingerprint mismatch
    costs nothing) or untrusted is not; an anchor's refusal is pinned too."""
    from web4.clock import FakeClock
    from web4.node.relaying import operator_standing
    from web4.store import Store
    from web4.trust import TrustBook, TrustEvent

    fps = {n: n * 64 for n in "abcdef"}  # fingerprints: 64 hex digits
    store = Store.open(tmp_path / "web4.sqlite3", synchronous="NORMAL")
    try:
        book = TrustBook(store, FakeClock(1000.0))
        a, b, c, d, e, f = (fps[n] for n in "abcdef")
        # a: trusted once (handshake, then the operator's vouch), then gone bad
        book.record(a, TrustEvent.HANDSHAKE_VERIFIED, "hello")
        book.record(a, TrustEvent.OPERATOR_VOUCH, "anchor")
        book.record(a, TrustEvent.MALICIOUS_EVIDENCE, "forged")
        book.blacklist(b, operator="alice", reason="spam")  # b: blacklisted by hand
        book.record(c, TrustEvent.FINGERPRINT_MISMATCH, "free to do")  # c: a fresh key
        book.record(d, TrustEvent.BAD_SIGNATURE, "free to do")  # d: untrusted, fresh
        book.record(e, TrustEvent.HANDSHAKE_VERIFIED, "hello")  # e: probing
        # f: an anchor, untrusted (never vouched for: no handshake yet)
        assert [book.state_of(x) for x in (a, b, c, d)] == [TrustState.BLACKLISTED] * 3 + [
            TrustState.UNTRUSTED
        ]
        port = Port()
        gate = RelayGate(port, book.state_of, operator_standing(book, [f]))
        peers = [(n.upper(), fps[n]) for n in "abcdef"]
        assert gate.sync(peers) == 6
        assert port.calls == [
            ("A", False), ("B", False), ("C", False), ("D", False), ("E", None), ("F", False)
        ]  # fmt: skip
        assert port.pinned == ["A", "B", "F"]
        assert gate.sync(peers) == 0
    finally:
        store.close()
