"""The node's link port: multiaddr parsing, the loopback TCP link (mutual authentication,
channels, refusals) and the PeerId -> fingerprint derivation the RTT adapter relies on."""

from __future__ import annotations

import asyncio

import pytest

from web4.clock import SeededRng
from web4.errors import ConfigError, RTTHandshakeError, RTTTransportError
from web4.identity import Identity
from web4.node.link import TcpLink, parse_multiaddr
from web4.node.rtt_link import fingerprint_of_peer_id
from web4.rtt import Transport

ALICE = Identity(SeededRng(1).bytes(32), "alice")
BOB = Identity(SeededRng(2).bytes(32), "bob")


def test_parse_multiaddr() -> None:
    ma = parse_multiaddr("/ip4/127.0.0.1/tcp/7001/p2p/abc")
    assert (ma.host, ma.port, ma.peer) == ("127.0.0.1", 7001, "abc")
    assert parse_multiaddr("/ip4/10.0.0.1/tcp/0").peer is None
    for bad in (
        "127.0.0.1:7001",
        "/ip4/127.0.0.1/udp/1",
        "/ip4/300.0.0.1/tcp/1",
        "/ip4/127.0.0.1/tcp/70000",
        "/dns/localhost/tcp/1",
        "",
    ):
        with pytest.raises(ConfigError):
            parse_multiaddr(bad)


async def drain_until_closed(session: object) -> None:
    for _ in range(20):  # the peer sees the close within the deadline
        await session.receive(timeout=0.1)  # type: ignore[attr-defined]


def test_tcp_link_authenticates_both_sides_and_carries_channels() -> None:
    async def main() -> None:
        a, b = TcpLink(ALICE, heartbeat=0.05), TcpLink(BOB, heartbeat=0.05)
        try:
            (addr,) = await a.listen("/ip4/127.0.0.1/tcp/0")
            assert addr.endswith(f"/p2p/{ALICE.fingerprint}")
            out = await b.connect(addr, timeout=2)
            inn = await a.accept(timeout=2)
            assert inn is not None
            assert out.peer == ALICE.fingerprint
            assert inn.peer == BOB.fingerprint
            for channel in ("control", "state", "knowledge"):
                await out.send(channel, channel.encode(), timeout=1)
            got = [await inn.receive(timeout=1) for _ in range(3)]
            assert got == [
                ("control", b"control"),
                ("state", b"state"),
                ("knowledge", b"knowledge"),
            ]
            assert await inn.receive(timeout=0.05) is None  # a quiet link times out
            await asyncio.sleep(0.3)  # a few pings
            tele = b.telemetry()["peers"][ALICE.fingerprint]
            assert tele["latency_p50_ms"] is not None
            assert tele["latency_p50_ms"] > 0
            kinds = [e["kind"] for e in a.drain_events()]
            assert kinds == ["session_open"]
            with pytest.raises(ConfigError):
                await out.send("video", b"x", timeout=1)
            await out.close()
            with pytest.raises(RTTTransportError):
                await drain_until_closed(inn)
            with pytest.raises(RTTTransportError):
                await out.send("control", b"late", timeout=1)
        finally:
            await a.shutdown()
            await b.shutdown()

    asyncio.run(main())


def test_tcp_link_refuses_a_peer_that_is_not_the_one_dialled() -> None:
    async def main() -> None:
        a, b = TcpLink(ALICE), TcpLink(BOB)
        try:
            (addr,) = await a.listen("/ip4/127.0.0.1/tcp/0")
            wrong = addr.rsplit("/p2p/", 1)[0] + f"/p2p/{BOB.fingerprint}"
            with pytest.raises(RTTHandshakeError):
                await b.connect(wrong, timeout=2)
            assert b.handshake_failures == 1
        finally:
            await a.shutdown()
            await b.shutdown()

    asyncio.run(main())


def test_tcp_link_unreachable_peer_and_busy_port() -> None:
    async def main() -> None:
        a, b = TcpLink(ALICE), TcpLink(BOB)
        try:
            (addr,) = await a.listen("/ip4/127.0.0.1/tcp/0")
            port = addr.split("/")[4]
            with pytest.raises(RTTTransportError):
                await b.listen(f"/ip4/127.0.0.1/tcp/{port}")
            await a.shutdown()
            with pytest.raises(RTTTransportError):
                await b.connect(addr, timeout=2)
        finally:
            await b.shutdown()

    asyncio.run(main())


def test_fingerprint_of_peer_id_matches_the_rtt_transport() -> None:
    async def main() -> str:
        t = Transport(ALICE)
        try:
            return t.peer_id
        finally:
            await t.shutdown()

    peer_id = asyncio.run(main())
    assert fingerprint_of_peer_id(peer_id) == ALICE.fingerprint
    for bad in ("", "0OIl", "12D3KooW", "Qm" + "1" * 44):
        with pytest.raises(RTTHandshakeError):
            fingerprint_of_peer_id(bad)
