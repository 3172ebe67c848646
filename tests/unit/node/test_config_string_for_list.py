"""A config file that gives a single string where a list is expected (``listen = "/ip4/
127.0.0.1/tcp/7001"`` instead of ``["..."]``) is a ``ConfigError`` that names the key.
Before, the string was split into characters and the error spoke of ``'/'`` or ``'i'``
not being a multiaddr."""

from __future__ import annotations

from pathlib import Path

import pytest

from web4.errors import ConfigError
from web4.node import load_config


@pytest.mark.parametrize(
    ("table", "key", "value"),
    [
        ("node", "listen", '"/ip4/127.0.0.1/tcp/7001"'),
        ("node", "peers", '"/ip4/127.0.0.1/tcp/7002/p2p/12D3KooW"'),
        ("node", "trust_anchors", '"' + "a" * 64 + '"'),
        ("lip", "fetch", '"https://example.org/"'),
    ],
)
def test_a_string_where_a_list_belongs_names_the_key(
    tmp_path: Path, table: str, key: str, value: str
) -> None:
    cfg = tmp_path / "node.toml"
    cfg.write_text(f"[{table}]\n{key} = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_config(cfg, data_dir=tmp_path)
    assert key in str(e.value)
    assert "list" in str(e.value)


def test_lists_still_load(tmp_path: Path) -> None:
    cfg = tmp_path / "node.toml"
    cfg.write_text(
        '[node]\nlisten = ["/ip4/127.0.0.1/tcp/7001"]\n[lip]\nfetch = ["https://example.org/"]\n',
        encoding="utf-8",
    )
    c = load_config(cfg, data_dir=tmp_path)
    assert c.listen == ("/ip4/127.0.0.1/tcp/7001",)
    assert c.lip.fetch == ("https://example.org/",)
