"""Authentication and bad input on real sockets."""

from __future__ import annotations

import asyncio
import hashlib
import socket

import pytest

from web4.errors import ConfigError, RTTHandshakeError, RTTTransportError
from web4.identity import Identity
from web4.rtt import Transport, TransportConfig

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def b58decode(s: str) -> bytes:
    n = 0
    for c in s:
        n = n * 58 + _B58.index(c)
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return b"\x00" * (len(s) - len(s.lstrip("1"))) + body


def ident(n: int) -> Identity:
    return Identity(bytes([n]) * 32)


async def _peer_id_and_fingerprint_come_from_one_key() -> None:
    from web4 import _core

    i = ident(40)
    t = Transport(i)
    # PeerId = base58btc(identity multihash (0x00, 36) of protobuf {KeyType=Ed25519,
    # Data=raw 32-byte key}); the fingerprint is hex SHA-256 of the same raw key.
    raw = b58decode(t.peer_id)
    assert raw[:6] == bytes([0x00, 36, 0x08, 0x01, 0x12, 0x20])
    assert raw[6:] == i.public_key
    assert hashlib.sha256(raw[6:]).hexdigest() == i.fingerprint == _core.fingerprint(raw[6:])
    other = Transport(ident(41))
    assert other.peer_id != t.peer_id
    await t.shutdown()
    await other.shutdown()


def test_peer_id_and_fingerprint_come_from_one_key() -> None:
    asyncio.run(_peer_id_and_fingerprint_come_from_one_key())


async def _wrong_peer_key_is_refused_and_nothing_is_delivered() -> None:
    a, b = Transport(ident(1)), Transport(ident(2))
    imposter = Transport(ident(3))
    try:
        addr = (await b.listen("/ip4/127.0.0.1/tcp/0"))[0]
        wrong = addr.rsplit("/p2p/", 1)[0] + "/p2p/" + imposter.peer_id
        with pytest.raises(RTTHandshakeError):
            await a.connect(wrong, timeout=5)
        with pytest.raises(TimeoutError):
            await b.accept_one(timeout=0.3)
        assert a.stats().handshake_failures == 1
        # The right key still works afterwards.
        s = await a.connect(addr, timeout=5)
        assert s.peer_id == b.peer_id
    finally:
        for t in (a, b, imposter):
            await t.shutdown()


def test_wrong_peer_key_is_refused_and_nothing_is_delivered() -> None:
    asyncio.run(_wrong_peer_key_is_refused_and_nothing_is_delivered())


async def _bad_addresses_are_local_errors() -> None:
    a = Transport(ident(4))
    try:
        with pytest.raises(ConfigError):
            await a.connect("/ip4/127.0.0.1/tcp/1")  # no /p2p/<peer-id>
        with pytest.raises(ConfigError):
            await a.connect("not a multiaddr")
        with pytest.raises(RTTTransportError):
            await a.listen("/dns/nowhere")  # parses, but TCP cannot listen there
    finally:
        await a.shutdown()
    with pytest.raises(RTTTransportError):
        await a.connect("/ip4/127.0.0.1/tcp/1/p2p/" + a.peer_id)


def test_bad_addresses_are_local_errors() -> None:
    asyncio.run(_bad_addresses_are_local_errors())


async def _unreachable_peer_is_a_transport_error() -> None:
    a, b = Transport(ident(5)), Transport(ident(6))
    try:
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()  # nothing listens there now
        with pytest.raises(RTTTransportError):
            await a.connect(f"/ip4/127.0.0.1/tcp/{port}/p2p/{b.peer_id}", timeout=5)
    finally:
        await a.shutdown()
        await b.shutdown()


def test_unreachable_peer_is_a_transport_error() -> None:
    asyncio.run(_unreachable_peer_is_a_transport_error())


async def _raw_tcp_garbage_does_not_harm_a_live_session() -> None:
    a, b = Transport(ident(7)), Transport(ident(8))
    try:
        addr = (await b.listen("/ip4/127.0.0.1/tcp/0"))[0]
        sa = await a.connect(addr, timeout=5)
        sb = await b.accept_one(timeout=5)
        ca, cb = sa.open_channel("control"), sb.open_channel("control")
        port = int(addr.split("/")[4])
        for junk in (b"\xff" * 4096, b"GET / HTTP/1.1\r\n\r\n", b"/multistream/1.0.0\n" * 50):
            _r, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(junk)
            await w.drain()
            w.close()
        for i in range(100):
            await sa.send(ca, b"%d" % i)
        got = [await sb.receive(cb, timeout=5) for _ in range(100)]
        assert got == [b"%d" % i for i in range(100)]
        with pytest.raises(TimeoutError):
            await b.accept_one(timeout=0.2)  # the junk made no session
    finally:
        await a.shutdown()
        await b.shutdown()


def test_raw_tcp_garbage_does_not_harm_a_live_session() -> None:
    asyncio.run(_raw_tcp_garbage_does_not_harm_a_live_session())


async def _oversize_send_is_a_typed_local_error() -> None:
    cfg = TransportConfig(max_message_size=1024)
    a, b = Transport(ident(9), cfg), Transport(ident(10), cfg)
    try:
        addr = (await b.listen("/ip4/127.0.0.1/tcp/0"))[0]
        sa = await a.connect(addr, timeout=5)
        ch = sa.open_channel("knowledge")
        with pytest.raises(RTTTransportError, match="1024"):
            await sa.send(ch, b"x" * 1025)
        await sa.send(ch, b"x" * 1024)
    finally:
        await a.shutdown()
        await b.shutdown()


def test_oversize_send_is_a_typed_local_error() -> None:
    asyncio.run(_oversize_send_is_a_typed_local_error())
