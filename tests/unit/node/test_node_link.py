"""The node's link port: multiaddr parsing, the PeerId -> fingerprint derivation the RTT
adapter relies on, and RTT as the only transport (no ``transport`` option is left)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

import web4.node
from web4.cli.main import build_parser
from web4.clock import SeededRng
from web4.errors import ConfigError, RTTHandshakeError
from web4.identity import Identity
from web4.node import NodeConfig, load_config
from web4.node.link import parse_multiaddr
from web4.node.parts import default_transport
from web4.node.rtt_link import RttLink, fingerprint_of_peer_id, peer_key_of_peer_id
from web4.rtt import Transport

ALICE = Identity(SeededRng(1).bytes(32), "alice")


def test_parse_multiaddr() -> None:
    ma = parse_multiaddr(f"/ip4/127.0.0.1/tcp/7001/p2p/{ALICE.peer_id}")
    assert (ma.host, ma.port, ma.peer) == ("127.0.0.1", 7001, ALICE.peer_id)
    assert parse_multiaddr("/ip4/10.0.0.1/tcp/0").peer is None
    assert parse_multiaddr(" /ip6/::1/tcp/7001 ").host == "::1"
    for bad, words in (
        ("127.0.0.1:7001", "starts with /"),
        ("/ip4/127.0.0.1/udp/1", "/tcp/<port>"),
        ("/ip4/300.0.0.1/tcp/1", "not an IPv4 address"),
        ("/ip4/127.0.0.01/tcp/1", "not an IPv4 address"),
        ("/ip6/::g/tcp/1", "not an IPv6 address"),
        ("/ip4/127.0.0.1/tcp/70000", "TCP port"),
        ("/ip4/127.0.0.1/tcp/-1", "TCP port"),
        ("/ip4/127.0.0.1/tcp", "needs a value"),
        ("/ip4/127.0.0.1/tcp/1/", "empty component"),
        ("/ip4/127.0.0.1//tcp/1", "empty component"),
        ("/dns/localhost/tcp/1", "/ip4/<address>"),
        ("/ip4/127.0.0.1/tcp/1/tls", "only /ip4/"),
        ("/ip4/127.0.0.1/tcp/1/p2p/abc", "not an Ed25519 peer id"),
        ("/ip4/127.0.0.1/tcp/1/p2p/0OIl", "not an Ed25519 peer id"),
        ("/ip4/127.0.0.1/tcp/1/p2p/" + ALICE.peer_id[:-1], "not an Ed25519 peer id"),
        # a valid PeerId, but a hash of a key (not an inline Ed25519 key)
        (
            "/ip4/127.0.0.1/tcp/1/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
            "not an Ed25519 peer id",
        ),
        (f"/ip4/127.0.0.1/tcp/1/p2p/{ALICE.peer_id}/p2p/{ALICE.peer_id}", "only /ip4/"),
        ("/bogus/1", "unknown protocol"),
        ("", "starts with /"),
    ):
        with pytest.raises(ConfigError, match=words):
            parse_multiaddr(bad)


def test_fingerprint_of_peer_id_matches_the_rtt_transport() -> None:
    async def main() -> str:
        t = Transport(ALICE)
        try:
            return t.peer_id
        finally:
            await t.shutdown()

    peer_id = asyncio.run(main())
    assert fingerprint_of_peer_id(peer_id) == ALICE.fingerprint
    assert peer_key_of_peer_id(peer_id) == ALICE.signing_key.public_key
    for bad in (
        "",
        "0OIl",
        "12D3KooW",
        "Qm" + "1" * 44,
        peer_id[:-1],
        peer_id + "1",
        "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",  # hashed: no key inside
        "1" * 200,
    ):
        with pytest.raises(RTTHandshakeError):
            fingerprint_of_peer_id(bad)


def test_rtt_is_the_only_transport(tmp_path: Path) -> None:
    assert not hasattr(web4.node, "TcpLink")

    async def main() -> None:
        link = default_transport(NodeConfig(data_dir=tmp_path))(ALICE)
        try:
            assert isinstance(link, RttLink)
        finally:
            await link.shutdown()

    asyncio.run(main())
    with pytest.raises(TypeError):
        NodeConfig(data_dir=tmp_path, transport="tcp")  # type: ignore[call-arg]
    cfg = tmp_path / "node.toml"
    cfg.write_text('[node]\ndata_dir = "d"\ntransport = "tcp"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"unknown key.*transport"):
        load_config(cfg)
    for argv in (
        ["node", "--data-dir", str(tmp_path), "--transport", "tcp"],
        ["human", "--peer", f"/ip4/127.0.0.1/tcp/1/p2p/{ALICE.peer_id}", "--transport", "tcp"],
    ):
        build_parser().parse_args(argv[:-2])  # fine without the flag
        with pytest.raises(SystemExit) as exit_:
            build_parser().parse_args(argv)
        assert exit_.value.code == 2
