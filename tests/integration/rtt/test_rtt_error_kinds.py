"""Errors crossing from Rust carry a kind and one plain line, never Rust ``Debug`` text."""

from __future__ import annotations

import asyncio
import pickle
import re
import socket

import pytest

from web4.errors import RTTError, RTTErrorKind, RTTHandshakeError, RTTTransportError
from web4.identity import Identity
from web4.rtt import Transport

# What Rust's Debug formatting of io/libp2p errors looks like.
_DEBUG = re.compile(r"Custom \{|Os \{|kind: |Left\(|Right\(|Other\(|Transport\(\[")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _a_refused_dial_has_kind_refused_and_a_plain_message() -> None:
    a, b = Transport(Identity(bytes([61]) * 32)), Transport(Identity(bytes([62]) * 32))
    try:
        addr = f"/ip4/127.0.0.1/tcp/{_free_port()}/p2p/{b.peer_id}"
        with pytest.raises(RTTTransportError) as info:
            await a.connect(addr, timeout=10)
        err = info.value
        assert err.kind is RTTErrorKind.REFUSED  # set by Rust, an enum member
        message = str(err)
        assert "\n" not in message
        assert not _DEBUG.search(message), message
        assert "connection refused" in message
        assert "127.0.0.1" in message
    finally:
        await a.shutdown()
        await b.shutdown()


def test_a_refused_dial_has_kind_refused_and_a_plain_message() -> None:
    asyncio.run(_a_refused_dial_has_kind_refused_and_a_plain_message())


async def _a_wrong_peer_id_has_kind_peer_id_mismatch() -> None:
    a, b = Transport(Identity(bytes([63]) * 32)), Transport(Identity(bytes([64]) * 32))
    other = Transport(Identity(bytes([65]) * 32))
    try:
        addr = (await b.listen("/ip4/127.0.0.1/tcp/0"))[0]
        wrong = addr.rsplit("/p2p/", 1)[0] + "/p2p/" + other.peer_id
        with pytest.raises(RTTHandshakeError) as info:
            await a.connect(wrong, timeout=10)
        assert info.value.kind is RTTErrorKind.PEER_ID_MISMATCH
        assert not _DEBUG.search(str(info.value)), str(info.value)
        assert b.peer_id in str(info.value)  # who answered there, in words
    finally:
        for t in (a, b, other):
            await t.shutdown()


def test_a_wrong_peer_id_has_kind_peer_id_mismatch() -> None:
    asyncio.run(_a_wrong_peer_id_has_kind_peer_id_mismatch())


def test_the_kind_survives_pickling_and_defaults_to_the_class_kind() -> None:
    err = pickle.loads(pickle.dumps(RTTTransportError("x", kind="refused")))
    assert (type(err), str(err), err.kind) == (RTTTransportError, "x", RTTErrorKind.REFUSED)
    assert err.kind is RTTErrorKind.REFUSED
    assert err.kind == "refused"  # a StrEnum: old string comparisons keep working
    assert RTTHandshakeError("y").kind is RTTErrorKind.HANDSHAKE
    assert RTTError("z").kind is RTTErrorKind.TRANSPORT
    with pytest.raises(ValueError, match="no such kind"):
        RTTError("z", kind="no such kind")


def test_errors_raised_by_rust_are_the_python_classes_with_an_enum_kind() -> None:
    from web4 import _core
    from web4.errors import ConfigError, IdentityError

    with pytest.raises(ConfigError):
        _core.RttNode(b"\x01" * 31)
    with pytest.raises(IdentityError):
        _core.fingerprint(b"short")
    node = _core.RttNode(b"\x01" * 32)
    try:
        node.shutdown()
        with pytest.raises(RTTTransportError) as info:
            node.listen("/ip4/127.0.0.1/tcp/0")
        assert type(info.value.kind) is RTTErrorKind
    finally:
        node.shutdown()
