"""RawProbe (web4._core, for the conformance runner) against a real RTT node.

The frames are built here from docs/RTT_SPEC.md §4 and §5.3 alone, as a second
implementation would: a probe that dials opens the RTT session by hand, and a probe
that listens answers a real dialler by hand.
"""

from __future__ import annotations

import socket
import threading

import pytest

from web4._core import RawProbe
from web4.errors import ConfigError, RTTTransportError
from web4.identity import Identity
from web4.rtt import BlockingTransport

CONTROL = "/web4/rtt/control/1.0.0"
SID = bytes(range(0xA0, 0xB0))
T = 5.0


def uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def framed(frame: bytes) -> bytes:
    return uvarint(len(frame)) + frame


def open_frame(sid: bytes) -> bytes:  # OPEN{sid, delivered [0, 0, 0]}
    return b"\x01\x03" + sid + b"\x00\x00\x00"


def resume_ok(sid: bytes) -> bytes:
    return b"\x01\x05" + sid + b"\x00\x00\x00"


def accept_control(probe: RawProbe) -> int:
    """The peer's control stream (its other streams may appear first, or never)."""
    while True:
        handle, proto, _peer = probe.accept_stream(T)
        if proto == CONTROL:
            return handle


def test_dialling_probe_opens_a_session_by_hand() -> None:
    node = BlockingTransport(Identity(b"\x71" * 32))
    probe = RawProbe(b"\x72" * 32)
    try:
        addr = node.listen("/ip4/127.0.0.1/tcp/0")[0]
        assert probe.dial(addr, T) == addr.rsplit("/p2p/", 1)[1]
        control = probe.open_stream(CONTROL, T)
        assert probe.stream_info(control) == (CONTROL, addr.rsplit("/p2p/", 1)[1])
        probe.write(control, framed(open_frame(SID)), T)
        theirs = accept_control(probe)
        assert probe.read_message(theirs, 1024, T) == resume_ok(SID)
        session = node.accept(timeout=T)
        assert session.peer_id == probe.peer_id
        # Nothing more on control until someone sends: the wait ends in TimeoutError.
        with pytest.raises(TimeoutError):
            probe.read_message(theirs, 1024, 0.2)
        # CLOSE{normal, "bye"}: the node ends the session and answers nothing (§5.6).
        probe.write(control, framed(b"\x01\x09\x00\x03bye"), T)
        assert probe.read_message(theirs, 1024, T) is None
    finally:
        probe.close()
        node.shutdown()


def test_listening_probe_answers_a_real_dialler_by_hand() -> None:
    node = BlockingTransport(Identity(b"\x73" * 32))
    probe = RawProbe(b"\x74" * 32)
    try:
        addr = probe.listen("/ip4/127.0.0.1/tcp/0", T)
        assert addr.endswith("/p2p/" + probe.peer_id)
        # connect() waits for our RESUME_OK, so it runs while we script the answer.
        result: list[object] = []
        th = threading.Thread(target=lambda: result.append(node.connect(addr, timeout=T)))
        th.start()
        theirs = accept_control(probe)
        opened = probe.read_message(theirs, 1024, T)
        assert opened is not None
        assert opened[:2] == b"\x01\x03"  # OPEN
        assert opened[18:] == b"\0\0\0"
        ours = probe.open_stream(CONTROL, T)
        probe.write(ours, framed(resume_ok(opened[2:18])), T)
        th.join(T)
        assert result
        assert getattr(result[0], "peer_id", None) == probe.peer_id
    finally:
        probe.close()
        node.shutdown()


def test_an_oversize_prefix_resets_only_that_stream() -> None:
    node = BlockingTransport(Identity(b"\x75" * 32))
    probe = RawProbe()
    try:
        addr = node.listen("/ip4/127.0.0.1/tcp/0")[0]
        probe.dial(addr, T)
        knowledge = probe.open_stream("/web4/rtt/knowledge/1.0.0", T)
        probe.write(knowledge, bytes([0x80, 0x80, 0x80, 0x80, 0x80, 0x20]) + bytes(64), T)
        # RTT_SPEC §4: the node resets that stream; yamux reports a reset as the end.
        assert probe.read(knowledge, 16, T) == b""
        # The connection lives on: a session still opens on it.
        control = probe.open_stream(CONTROL, T)
        probe.write(control, framed(open_frame(SID)), T)
        assert probe.read_message(accept_control(probe), 1024, T) == resume_ok(SID)
    finally:
        probe.close()
        node.shutdown()


def test_typed_errors() -> None:
    node = BlockingTransport(Identity(b"\x76" * 32))
    probe = RawProbe()
    try:
        addr = node.listen("/ip4/127.0.0.1/tcp/0")[0]
        with pytest.raises(RTTTransportError) as not_connected:
            probe.open_stream(CONTROL, T)
        assert not_connected.value.kind == "closed"
        probe.dial(addr, T)
        with pytest.raises(RTTTransportError) as refused:
            probe.open_stream("/web4/rtt/control/2.0.0", T)
        assert refused.value.kind == "unsupported_protocol"
        with pytest.raises(ConfigError):
            probe.dial("/ip4/127.0.0.1/tcp/1", T)  # no /p2p/
        with pytest.raises(ConfigError):
            RawProbe(b"short")
        # A port nothing listens on: refused, with the dial kind of RTT_SPEC §11.
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        peer = addr.rsplit("/p2p/", 1)[1]
        with pytest.raises(RTTTransportError) as dial:
            probe.dial(f"/ip4/127.0.0.1/tcp/{port}/p2p/{peer}", T)
        assert dial.value.kind == "refused"
        probe.close()
        with pytest.raises(RTTTransportError) as closed:
            probe.dial(addr, T)
        assert closed.value.kind == "closed"
        probe.close()  # twice: nothing
    finally:
        probe.close()
        node.shutdown()
