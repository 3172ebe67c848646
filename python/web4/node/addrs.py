"""Checks of the addresses a node is given: where it listens and which peers it dials.

Theory of operation: pure functions, used by ``NodeConfig`` (so a config file is checked
as strictly as a flag) and by the CLI's flag types (``web4.cli.args``). A peer address
must name the peer's key (``/p2p/PEER_ID``): RTT authenticates the peer against it, so
an address without one, or with an id that is not an Ed25519 libp2p PeerId, can only
fail later. Each error is a ``ConfigError`` whose message shows a valid example.
"""

from __future__ import annotations

import re

from web4.errors import ConfigError

__all__ = ["PEER_EXAMPLE", "check_listen_addr", "check_peer_addr"]

PEER_EXAMPLE = (
    "/ip4/127.0.0.1/tcp/7001/p2p/12D3KooW... (what the peer's node prints after `listening on`)"
)
LISTEN_EXAMPLE = "/ip4/127.0.0.1/tcp/7001 (port 0: any free port)"
_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
# A libp2p PeerId of an Ed25519 key: the identity multihash (0x00, 36 bytes) of the
# protobuf PublicKey {type: Ed25519 (1), data: 32 bytes}; web4 keys are Ed25519 only.
_ED25519_PEER_ID_PREFIX = bytes([0x00, 0x24, 0x08, 0x01, 0x12, 0x20])
_TCP = re.compile(r"^/(ip4|ip6)/([^/]+)/tcp/([0-9]{1,5})(?:/p2p/([^/]*))?$")
_IP4 = re.compile(r"^\d{1,3}(\.\d{1,3}){3}$")


def _b58decode(text: str) -> bytes | None:
    n = 0
    for ch in text:
        i = _B58.find(ch)
        if i < 0:
            return None
        n = n * 58 + i
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\x00" * (len(text) - len(text.lstrip("1"))) + body


def _tcp(value: str, what: str, example: str) -> re.Match[str]:
    m = _TCP.match(value.strip())
    if m is None:
        raise ConfigError(f"{value!r} is not {what} like {example}")
    host, port = m.group(2), int(m.group(3))
    if m.group(1) == "ip4" and (not _IP4.match(host) or any(int(o) > 255 for o in host.split("."))):
        raise ConfigError(f"{value!r}: {host!r} is not an IPv4 address, e.g. {example}")
    if port > 65535:
        raise ConfigError(f"{value!r}: TCP port {port} is above 65535")
    return m


def check_peer_addr(value: str) -> str:
    """``/ip4/A/tcp/P/p2p/PEER_ID`` with an Ed25519 peer id; returns it stripped."""
    m = _tcp(value, "a peer address", PEER_EXAMPLE)
    if m.group(4) is None:
        raise ConfigError(
            f"{value!r} has no /p2p/PEER_ID (the peer's key must be known): give the full "
            f"address, e.g. {PEER_EXAMPLE}"
        )
    raw = _b58decode(m.group(4))
    if raw is None or len(raw) != 38 or not raw.startswith(_ED25519_PEER_ID_PREFIX):
        raise ConfigError(
            f"{value!r}: {m.group(4)!r} is not an Ed25519 peer id (52 characters, starting "
            f"12D3KooW); e.g. {PEER_EXAMPLE}"
        )
    return value.strip()


def check_listen_addr(value: str) -> str:
    """``/ip4/A/tcp/P`` or ``/ip6/A/tcp/P`` without ``/p2p/``; returns it stripped."""
    m = _tcp(value, "a listen address", LISTEN_EXAMPLE)
    if m.group(4) is not None:
        raise ConfigError(f"{value!r}: a listen address has no /p2p/ part, e.g. {LISTEN_EXAMPLE}")
    return value.strip()
