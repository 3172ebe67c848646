"""TransportConfig / ChannelConfig validation, and the core reading a TransportConfig."""

from __future__ import annotations

from pathlib import Path
from types import MappingProxyType

import pytest

from web4 import _core
from web4.errors import ConfigError
from web4.identity import Identity
from web4.rtt import ChannelConfig, SessionStats, TransportConfig
from web4.rtt.config import check_kind


def test_the_core_reads_a_transport_config() -> None:
    cfg = TransportConfig(
        channels=MappingProxyType({"state": ChannelConfig(policy="drop_newest")}),
        rekey_after_time=None,
        rekey_after_bytes=None,
    )
    node = _core.RttNode(b"\x01" * 32, cfg)
    node.shutdown()
    node = _core.RttNode(b"\x01" * 32, TransportConfig())
    node.shutdown()


def test_the_core_uses_the_config_max_message_size() -> None:
    from web4.errors import RTTTransportError
    from web4.rtt import BlockingTransport

    cfg = TransportConfig(max_message_size=100)
    a, b = BlockingTransport(Identity(b"\x74" * 32), cfg), BlockingTransport(Identity(b"\x75" * 32))
    try:
        s = a.connect(b.listen("/ip4/127.0.0.1/tcp/0")[0], timeout=5)
        ch = s.open_channel("knowledge")
        s.send(ch, b"x" * 100)
        with pytest.raises(RTTTransportError):
            s.send(ch, b"x" * 101)
    finally:
        a.shutdown()
        b.shutdown()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_message_size": 0},
        {"max_message_size": (64 << 20) + 1},
        {"heartbeat_interval": 0},
        {"heartbeat_interval": 2.0, "heartbeat_timeout": 1.0},
        {"reconnect_initial": 5.0, "reconnect_max": 1.0},
        {"send_timeout": -1},
        {"channels": {"video": ChannelConfig()}},
        {"max_connections": 15},
        {"max_connections": 2.5},
        {"protected_peers": "12D3KooW"},
    ],
)
def test_bad_transport_config_is_a_config_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        TransportConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kwargs", [{"policy": "maybe"}, {"send_queue_msgs": 0}, {"recv_queue_bytes": -5}]
)
def test_bad_channel_config_is_a_config_error(kwargs: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        ChannelConfig(**kwargs)  # type: ignore[arg-type]


def _forced(cfg: object, **fields: object) -> object:
    """``cfg`` with ``fields`` set past its own validation (as a careless caller might)."""
    for name, value in fields.items():
        object.__setattr__(cfg, name, value)
    return cfg


@pytest.mark.parametrize(
    ("config", "words"),
    [
        (_forced(TransportConfig(), heartbeat_interval="x"), "heartbeat_interval"),
        (_forced(TransportConfig(), heartbeat_interval=float("nan")), "seconds"),
        (_forced(TransportConfig(), session_expiry=-1.0), "seconds"),
        (_forced(TransportConfig(), max_message_size=-1), "max_message_size"),
        (_forced(TransportConfig(), max_message_size=0), "max_message_size"),
        (_forced(TransportConfig(), channels={"video": ChannelConfig()}), "video"),
        (
            TransportConfig(channels={"state": _forced(ChannelConfig(), policy="sometimes")}),  # type: ignore[dict-item]
            "sometimes",
        ),
        (
            TransportConfig(channels={"state": _forced(ChannelConfig(), recv_queue_msgs=0)}),  # type: ignore[dict-item]
            "queue bounds",
        ),
        (_forced(TransportConfig(), protected_peers=("not-a-peer-id",)), "protected peer"),
        (_forced(TransportConfig(), max_connections=0), "connection limits"),
        ({"heartbeat_interval": 1.0}, "max_message_size"),  # the old settings dict
        (object(), "transport config"),
    ],
)
def test_the_core_refuses_a_bad_config_with_a_config_error(config: object, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        _core.RttNode(b"\x01" * 32, config)  # type: ignore[arg-type]


def test_the_core_refuses_a_bad_seed() -> None:
    with pytest.raises(ConfigError):
        _core.RttNode(b"\x01" * 31)


def test_kinds_and_stats_shape() -> None:
    assert check_kind("control") == "control"
    with pytest.raises(ConfigError):
        check_kind("Control")
    ch = dict.fromkeys(
        (
            "sent",
            "bytes_sent",
            "received",
            "bytes_received",
            "dropped",
            "refused",
            "queue_high_water",
            "queue_high_water_bytes",
            "retransmits",
            "replays_rejected",
        ),
        0,
    )
    raw = {
        "state": ch,
        "knowledge": {**ch, "sent": 3},
        "control": ch,
        "reconnects": 2,
        "reconnect_attempts": 2,
        "heartbeat_timeouts": 0,
        "ack_timeouts": 1,
        "rekeys": 0,
        "replays_rejected": 1,
        "frames_rejected": 0,
        "verification_failures": 0,
        "rtt_p50_us": None,
        "rtt_p95_us": 120,
    }
    st = SessionStats.from_core(raw)
    assert st.channel("knowledge").sent == 3
    assert st.reconnects == 2
    assert st.rtt_p95_us == 120
    assert st.ack_timeouts == 1


def test_channel_of_another_session_is_refused() -> None:
    from web4.rtt import BlockingTransport

    a = BlockingTransport(Identity(b"\x71" * 32))
    b = BlockingTransport(Identity(b"\x72" * 32))
    c = BlockingTransport(Identity(b"\x73" * 32))
    try:
        addr = b.listen("/ip4/127.0.0.1/tcp/0")[0]
        s1 = a.connect(addr, timeout=5)
        addr_c = c.listen("/ip4/127.0.0.1/tcp/0")[0]
        s2 = a.connect(addr_c, timeout=5)
        ch = s1.open_channel("knowledge")
        with pytest.raises(ConfigError):
            s2.send(ch, b"x")
        with pytest.raises(ConfigError):
            s1.open_channel("video")
    finally:
        for t in (a, b, c):
            t.shutdown()


def test_the_node_protects_its_configured_peer_ids(tmp_path: Path) -> None:
    from web4.node.config import NodeConfig
    from web4.node.parts import configured_peer_ids, protected_peer_ids

    a = _core.RttNode(b"\x31" * 32)
    b = _core.RttNode(b"\x32" * 32)
    try:
        pa, pb = a.peer_id, b.peer_id
        relayed = f"/ip4/1.2.3.4/tcp/1/p2p/{pb}/p2p-circuit/p2p/{pa}"
        got = configured_peer_ids(
            [pa, f"/ip4/127.0.0.1/tcp/1/p2p/{pb}", relayed, "/ip4/127.0.0.1/tcp/2", "garbage"]
        )
        assert got == (pa, pb)
        # --relay ids too: the relay client's dial to its relay is not one RTT makes
        cfg = NodeConfig(data_dir=tmp_path, peers=(pa,), relays=(f"/ip4/1.2.3.4/tcp/1/p2p/{pb}",))
        assert protected_peer_ids(cfg) == (pa, pb)
        node = _core.RttNode(b"\x33" * 32, TransportConfig(protected_peers=got))
        assert node.stats()["connections_denied"] == 0
        node.shutdown()
    finally:
        a.shutdown()
        b.shutdown()
