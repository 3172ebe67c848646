"""A trusted-only relay (``--relay-server --relay-trusted-only``, RTT_SPEC §17) with real
node processes on loopback: a stranger's reservation is refused and the relay keeps
serving; the key its operator trusts, once it holds a session with the relay (so that
the relay's trust book reaches its access lists), is served on its next attempt (the
transport retries a refused reservation with backoff); a third node, a stranger too,
cannot open a circuit through the relay to it either."""

from __future__ import annotations

from pathlib import Path

from support.nodeproc import Event, NodeProc
from web4.identity import Identity


def _reservation(node: NodeProc, outcome: str, timeout: float = 30) -> Event:
    return node.wait_for(
        lambda e: (
            e["kind"] == "rtt.relay_reservation" and e["attributes"].get("outcome") == outcome
        ),
        timeout,
    )


def test_a_trusted_only_relay_serves_the_operators_peer_and_refuses_a_stranger(
    tmp_path: Path,
) -> None:
    friend_id = Identity.create_in_data_dir(tmp_path / "friend", "friend")
    relay = NodeProc.new(
        tmp_path, "relay", "--no-mdns", "--relay-server", "--relay-trusted-only",
        "--trust", friend_id.fingerprint,
    )  # fmt: skip
    nodes = [relay]
    try:
        stranger = NodeProc.new(tmp_path, "stranger", "--no-mdns", "--relay", relay.addr())
        nodes.append(stranger)
        assert stranger.kind("node.relay", 20)["attributes"]["outcome"] == "unavailable"
        denied = _reservation(relay, "denied")
        assert denied["peer"] == stranger.fingerprint
        # the stranger's event says why, as text: libp2p's error and its cause (the
        # source chain's Display), not "Failed to get Reservation." alone nor Debug text
        error = _reservation(stranger, "lost")["attributes"]["error"]
        assert error.startswith("Failed to get Reservation: Remote reported "), error
        assert not any(c in error for c in "{}()"), error
        # the friend holds a session with the relay (--peer) and is trusted there
        friend = NodeProc(
            tmp_path / "friend", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns",
            "--peer", relay.addr(), "--relay", relay.addr(),
        )  # fmt: skip
        nodes.append(friend)
        accepted = _reservation(relay, "accepted", 60)
        assert accepted["peer"] == friend.fingerprint
        assert _reservation(friend, "accepted")["peer"] == relay.fingerprint
        peer_id = friend.addr().rsplit("/", 1)[1]
        circuit = f"{relay.addr()}/p2p-circuit/p2p/{peer_id}"
        # a third node may not open circuits either (trusted-only covers circuits too) ...
        third = NodeProc.new(tmp_path, "third", "--no-mdns", "--peer", circuit)
        nodes.append(third)
        circuit_denied = relay.wait_for(
            lambda e: (
                e["kind"] == "rtt.relay_circuit" and e["attributes"].get("outcome") == "denied"
            ),
            30,
        )
        assert circuit_denied["peer"] == third.fingerprint
        assert not [e for e in third.kinds("rtt.session_open") if e["peer"] == friend.fingerprint]
        # ... and the stranger's reservation was never accepted
        assert not [
            e
            for e in relay.kinds("rtt.relay_reservation")
            if e["peer"] == stranger.fingerprint and e["attributes"].get("outcome") == "accepted"
        ]
    finally:
        for node in nodes:
            node.stop()
