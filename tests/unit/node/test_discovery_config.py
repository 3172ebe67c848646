"""Discovery settings of a node (web4.node.config): a bare PeerId as --peer, bootstrap
addresses, the watermarks, and what a config file may say."""

from __future__ import annotations

from pathlib import Path

import pytest

from web4 import _core
from web4.errors import ConfigError
from web4.identity import Identity
from web4.node.config import NodeConfig, load_config

PEER = _core.peer_id_of(Identity.generate("p").public_key)
FULL = f"/ip4/10.0.0.1/tcp/7001/p2p/{PEER}"


def test_defaults_find_peers_on_the_lan_between_the_watermarks(tmp_path: Path) -> None:
    cfg = NodeConfig(data_dir=tmp_path)
    assert cfg.mdns is True
    assert (cfg.min_peers, cfg.max_peers, cfg.bootstrap) == (4, 32, ())


def test_a_peer_may_be_a_bare_peer_id_but_a_bootstrap_may_not(tmp_path: Path) -> None:
    assert NodeConfig(data_dir=tmp_path, peers=(PEER,), bootstrap=(FULL,)).peers == (PEER,)
    with pytest.raises(ConfigError, match="full address"):
        NodeConfig(data_dir=tmp_path, bootstrap=(PEER,))
    with pytest.raises(ConfigError, match="peer id"):
        NodeConfig(data_dir=tmp_path, peers=("12D3KooWnot-an-id",))
    with pytest.raises(ConfigError, match="not a peer address"):
        NodeConfig(data_dir=tmp_path, peers=("127.0.0.1:7001",))


@pytest.mark.parametrize(("low", "high"), [(5, 2), (0, 0), (-1, 4), (True, 4), (4, 2000), (1.5, 4)])
def test_watermarks_are_checked(tmp_path: Path, low: object, high: object) -> None:
    with pytest.raises(ConfigError):
        NodeConfig(data_dir=tmp_path, min_peers=low, max_peers=high)  # type: ignore[arg-type]


def test_a_config_file_sets_discovery(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(
        f'[node]\ndata_dir = "{tmp_path}"\nmdns = false\nbootstrap = ["{FULL}"]\n'
        "min_peers = 0\nmax_peers = 8\n"
    )
    cfg = load_config(path)
    assert (cfg.mdns, cfg.bootstrap, cfg.min_peers, cfg.max_peers) == (False, (FULL,), 0, 8)
    path.write_text(f'[node]\ndata_dir = "{tmp_path}"\nmdns = "yes"\n')
    with pytest.raises(ConfigError, match="mdns"):
        load_config(path)


def test_mdns_runs_only_for_a_node_listening_beyond_loopback(tmp_path: Path) -> None:
    # a loopback-only node (the default, the demos, the tests) sends nothing on the LAN
    assert NodeConfig(data_dir=tmp_path).mdns_active is False
    assert NodeConfig(data_dir=tmp_path, listen=("/ip6/::1/tcp/0",)).mdns_active is False
    lan = ("/ip4/127.0.0.1/tcp/0", "/ip4/0.0.0.0/tcp/0")
    assert NodeConfig(data_dir=tmp_path, listen=lan).mdns_active is True
    assert NodeConfig(data_dir=tmp_path, listen=lan, mdns=False).mdns_active is False
