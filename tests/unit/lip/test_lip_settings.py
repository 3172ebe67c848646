"""The node's ``[lip]`` settings: TOML table, flags, and refusals of bad values."""

from __future__ import annotations

from pathlib import Path

import pytest

from web4.errors import ConfigError
from web4.lip.runtime import LipSettings
from web4.node.config import load_config


def test_defaults_are_safe() -> None:
    s = LipSettings()
    assert s.allow_private is False
    assert s.tiers is None
    assert s.fetch == ()


@pytest.mark.parametrize(
    "kwargs",
    [{"window": 0.0}, {"peer_wait": -1.0}, {"fetch": ("ftp://x.example/a",)}, {"fetch": ("x",)}],
)
def test_bad_values_are_config_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        LipSettings(**kwargs)  # type: ignore[arg-type]


def test_lip_table_is_read_with_tiers_relative_to_the_file(tmp_path: Path) -> None:
    cfg = tmp_path / "node.toml"
    cfg.write_text(
        '[node]\ndata_dir = "d"\n[lip]\ntiers = "tiers.toml"\nallow_private = true\n'
        'fetch = ["https://example.org/a"]\nwindow = 60.0\n',
        encoding="utf-8",
    )
    lip = load_config(cfg).lip
    assert lip.tiers == (tmp_path / "tiers.toml").resolve()
    assert lip.allow_private is True
    assert lip.fetch == ("https://example.org/a",)
    assert lip.window == 60.0


@pytest.mark.parametrize(
    "table",
    ['[lip]\ntier = "x.toml"\n', "lip = 3\n", '[lip]\nfetch = ["file:///etc/passwd"]\n'],
)
def test_bad_lip_tables_are_refused(tmp_path: Path, table: str) -> None:
    cfg = tmp_path / "node.toml"
    cfg.write_text('[node]\ndata_dir = "d"\n' + table, encoding="utf-8")
    with pytest.raises(ConfigError):
        load_config(cfg)


def test_node_flags_override_the_table(tmp_path: Path) -> None:
    from web4.cli.main import build_parser
    from web4.cli.node_cmd import _config

    args = build_parser().parse_args(
        [
            "node",
            "--data-dir",
            str(tmp_path),
            "--fetch",
            "http://127.0.0.1:9/a",
            "--lip-allow-private",
            "--lip-tiers",
            str(tmp_path / "t.toml"),
        ]
    )
    lip = _config(args).lip
    assert lip.fetch == ("http://127.0.0.1:9/a",)
    assert lip.allow_private is True
    assert lip.tiers == tmp_path / "t.toml"


def test_fetching_for_peers_defaults_to_trusted_peers_and_four_workers() -> None:
    s = LipSettings()
    assert (s.fetch_for, s.workers, s.peer_limit) == ("trusted", 4, 4)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fetch_for": "everyone"},
        {"fetch_for": "untrusted"},
        {"workers": 0},
        {"workers": True},
        {"workers": 2.5},
        {"peer_limit": 0},
        {"peer_limit": 1000},
    ],
)
def test_bad_fetch_settings_are_config_errors(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        LipSettings(**kwargs)  # type: ignore[arg-type]


def test_lip_table_sets_the_fetch_policy(tmp_path: Path) -> None:
    cfg = tmp_path / "node.toml"
    cfg.write_text(
        '[node]\ndata_dir = "d"\n[lip]\nfetch_for = "probing"\nworkers = 2\npeer_limit = 3\n',
        encoding="utf-8",
    )
    lip = load_config(cfg).lip
    assert (lip.fetch_for, lip.workers, lip.peer_limit) == ("probing", 2, 3)


def test_lip_fetch_for_flag_overrides_the_table(tmp_path: Path) -> None:
    from web4.cli.main import build_parser
    from web4.cli.node_cmd import _config

    cfg = tmp_path / "node.toml"
    cfg.write_text('[node]\ndata_dir = "d"\n[lip]\nfetch_for = "none"\n', encoding="utf-8")
    node = ["node", "--data-dir", str(tmp_path)]
    assert _config(build_parser().parse_args([*node, "--config", str(cfg)])).lip.fetch_for == "none"
    args = build_parser().parse_args([*node, "--config", str(cfg), "--lip-fetch-for", "probing"])
    assert _config(args).lip.fetch_for == "probing"
    with pytest.raises(SystemExit):
        build_parser().parse_args([*node, "--lip-fetch-for", "everyone"])
