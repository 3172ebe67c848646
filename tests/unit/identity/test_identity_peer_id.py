"""``Identity.peer_id`` is the libp2p PeerId the RTT transport derives from the same key."""

from __future__ import annotations

from web4 import _core
from web4.identity import Identity
from web4.node.rtt_link import fingerprint_of_peer_id


def test_peer_id_matches_the_transports_peer_id_for_the_same_seed() -> None:
    for seed in (bytes(32), bytes(range(32)), b"\xff" * 32, b"\x01" * 32):
        identity = Identity(seed)
        node = _core.RttNode(seed)
        try:
            assert identity.peer_id == node.peer_id
        finally:
            node.shutdown()


def test_peer_id_embeds_the_key_so_the_fingerprint_is_recovered() -> None:
    identity = Identity(bytes(range(32)))
    assert identity.peer_id.startswith("12D3KooW")
    assert fingerprint_of_peer_id(identity.peer_id) == identity.fingerprint
