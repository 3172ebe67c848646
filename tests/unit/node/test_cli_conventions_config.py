"""Every flag of `web4 node` has a TOML key, and the config file's locations (issue 11)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from web4.cli.main import build_parser
from web4.errors import ConfigError
from web4.node.config import FLAG_KEYS, config_path, data_dir_of, load_config

VALUES = {  # a valid TOML value for each key
    "listen": '["/ip4/127.0.0.1/tcp/0"]',
    "peers": '["/ip4/127.0.0.1/tcp/7001/p2p/12D3KooWAQ24A1mdcb5vw3UjFDXYYvkrvtiWN9Mzr2BySyUp6h3N"]',
    "metrics_port": "0",
    "events_file": '"ev.jsonl"',
    "trust_anchors": '["' + "ab" * 32 + '"]',
    "json_events": "true",
    "console": "false",
    "propose": '["water is wet|physics|0.9"]',
    "believe": '["water is wet"]',
    "exit_after": "2.5",
    "fetch": '["https://example.org/"]',
    "tiers": '"tiers.toml"',
    "allow_private": "true",
    "fetch_for": '"none"',
    "log_level": '"debug"',
    "agent": '"belief"',
    "mdns": "false",
    "bootstrap": '["/ip4/10.0.0.1/tcp/1/p2p/12D3KooWAQ24A1mdcb5vw3UjFDXYYvkrvtiWN9Mzr2BySyUp6h3N"]',
    "min_peers": "2",
    "max_peers": "8",
    "gossip_domains": '["physics"]',
    "gossip": "false",
    "relays": '["/ip4/10.0.0.1/tcp/1/p2p/12D3KooWAQ24A1mdcb5vw3UjFDXYYvkrvtiWN9Mzr2BySyUp6h3N"]',
    "relay_server": "true",
    "relay_trusted_only": "true",
}


def _node_flags() -> list[tuple[str, ...]]:
    """Each flag of `web4 node` with its aliases (``-v``, ``--verbose``)."""
    sub = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return [tuple(a.option_strings) for a in sub.choices["node"]._actions if a.option_strings]


def test_every_node_flag_has_a_config_key() -> None:
    flags = [f for f in _node_flags() if not {"--help", "--config"} & set(f)]
    missing = [f for f in flags if not set(f) & set(FLAG_KEYS)]
    assert not missing, missing


def test_every_config_key_of_a_flag_is_accepted(tmp_path: Path) -> None:
    tables: dict[str, list[str]] = {"node": [], "lip": []}
    for key in FLAG_KEYS.values():
        if "] " not in key:  # a table of its own ([agent.options]): not a flat key
            continue
        table, name = key.strip("[").split("] ")
        name = name.split()[0]
        if name == "data_dir":
            continue
        line = f"{name} = {VALUES[name]}"
        if line not in tables[table]:  # -v and --log-level set one key
            tables[table].append(line)
    text = "\n".join(f"[{t}]\n" + "\n".join(lines) for t, lines in tables.items())
    path = tmp_path / "node.toml"
    path.write_text(f'[node]\ndata_dir = "{tmp_path}"\n' + text.removeprefix("[node]\n"))
    cfg = load_config(path)
    assert cfg.believe == ("water is wet",)
    assert cfg.proposals()[0].statement == "water is wet"
    assert cfg.exit_after == 2.5
    assert cfg.console is False
    assert cfg.lip.fetch_for == "none"


def test_an_unknown_key_lists_the_valid_ones(tmp_path: Path) -> None:
    path = tmp_path / "node.toml"
    path.write_text(f'[node]\ndata_dir = "{tmp_path}"\nbelieves = ["x"]\n')
    with pytest.raises(ConfigError, match=r"unknown key\(s\) believes; valid keys: .*believe"):
        load_config(path)


def test_config_and_data_dir_locations(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    assert config_path(None, {"XDG_CONFIG_HOME": str(xdg)}) is None  # absent: no config
    (xdg / "web4").mkdir(parents=True)
    default = xdg / "web4" / "node.toml"
    default.write_text('[node]\ndata_dir = "/srv/web4"\n')
    env = {"XDG_CONFIG_HOME": str(xdg)}
    assert config_path(None, env) == default
    assert config_path("x.toml", env) == Path("x.toml")  # --config wins
    assert config_path(None, {**env, "WEB4_CONFIG": "y.toml"}) == Path("y.toml")
    assert data_dir_of(None, env) == Path("/srv/web4")  # the file's
    assert data_dir_of(None, {**env, "WEB4_DATA_DIR": "/d"}) == Path("/d")  # env over file
    assert data_dir_of("/flag", {**env, "WEB4_DATA_DIR": "/d"}) == Path("/flag")
