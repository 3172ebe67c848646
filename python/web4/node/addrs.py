"""Checks of the addresses a node is given: where it listens and which peers it dials.

Theory of operation: pure functions, used by ``NodeConfig`` (so a config file is checked
as strictly as a flag) and by the CLI's flag types (``web4.cli.args``). Parsing is
libp2p's, in Rust (``web4._core.parse_multiaddr``), the parser the transport dials with,
so what passes here is what RTT accepts. A peer address must name the peer's key
(``/p2p/PEER_ID``): RTT authenticates the peer against it, so an address without one, or
with an id that is not an Ed25519 libp2p PeerId, can only fail later. Each error is a
``ConfigError`` whose message shows a valid example.
"""

from __future__ import annotations

from web4 import _core
from web4.errors import ConfigError

__all__ = ["PEER_EXAMPLE", "check_bootstrap_addr", "check_listen_addr", "check_peer_addr"]

PEER_EXAMPLE = (
    "/ip4/127.0.0.1/tcp/7001/p2p/12D3KooW... (what the peer's node prints after `listening on`)"
)
LISTEN_EXAMPLE = "/ip4/127.0.0.1/tcp/7001 (port 0: any free port)"


def _tcp(value: str, what: str, example: str) -> str | None:
    """The peer id of ``/ip4|ip6/A/tcp/P[/p2p/ID]`` (None without one)."""
    try:
        return _core.parse_multiaddr(value.strip())[3]
    except ConfigError as e:
        raise ConfigError(f"{value!r} is not {what}: {e}; e.g. {example}") from None


def check_peer_addr(value: str) -> str:
    """``/ip4/A/tcp/P/p2p/PEER_ID`` with an Ed25519 peer id, or a bare Ed25519 PeerId
    (``12D3KooW...``, resolved through discovery); returns it stripped."""
    bare = value.strip()
    if bare.startswith("12D3Koo"):  # what an Ed25519 PeerId looks like
        try:
            _core.peer_id_public_key(bare)
        except ConfigError as e:
            raise ConfigError(
                f"{value!r} is not a peer address nor an Ed25519 peer id: {e}; "
                f"e.g. {PEER_EXAMPLE}, or 12D3KooW... alone (found through discovery)"
            ) from None
        return bare
    if _tcp(value, "a peer address", PEER_EXAMPLE) is None:
        raise ConfigError(
            f"{value!r} has no /p2p/PEER_ID (the peer's key must be known): give the full "
            f"address, e.g. {PEER_EXAMPLE}"
        )
    return value.strip()


def check_bootstrap_addr(value: str) -> str:
    """A DHT entry point: a full ``/ip4/A/tcp/P/p2p/PEER_ID`` (a bare peer id cannot be
    found before the DHT is joined); returns it stripped."""
    if not value.strip().startswith("/"):
        raise ConfigError(
            f"{value!r}: a bootstrap peer needs its full address (the DHT cannot find it "
            f"before it is joined), e.g. {PEER_EXAMPLE}"
        )
    return check_peer_addr(value)


def check_listen_addr(value: str) -> str:
    """``/ip4/A/tcp/P`` or ``/ip6/A/tcp/P`` without ``/p2p/``; returns it stripped."""
    if _tcp(value, "a listen address", LISTEN_EXAMPLE) is not None:
        raise ConfigError(f"{value!r}: a listen address has no /p2p/ part, e.g. {LISTEN_EXAMPLE}")
    return value.strip()
