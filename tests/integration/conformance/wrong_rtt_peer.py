"""A scripted RTT peer that answers wrongly (tests only), built on ``web4._core.RawProbe``.

The RTT checks live in Rust (``web4-proto``), so a node with one of them flipped cannot be
built from Python. Instead this peer listens with a raw probe and answers by hand, doing
what every positive case needs (``OPEN``/``RESUME`` get ``RESUME_OK`` with its delivered
counts, ``HEARTBEAT`` gets ``HEARTBEAT_ACK``, ``DATA`` gets ``ACK``) and the wrong thing in
every negative case: it resumes sessions it never saw, never resets a stream with a bad
length prefix (it just stops reading it), ignores malformed frames and frames on the wrong
stream instead of dropping the connection, accepts a gap, echoes ``CLOSE`` and keeps the
connection, and treats a replayed or foreign ``DATA`` as fatal (it stops answering that
peer) where RTT drops the frame and carries on. One thread accepts streams, one thread per
inbound stream reads it; every call has a deadline, ``stop()`` ends it all.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from web4._core import RawProbe
from web4.conformance import rtt_frames as rf
from web4.errors import RTTError

T = 2.0


@dataclass
class _Peer:
    sid: bytes | None = None
    delivered: dict[str, int] = field(default_factory=lambda: dict.fromkeys(rf.CHANNEL, 0))
    out: dict[str, int] = field(default_factory=dict)
    dead: bool = False


class WrongRttPeer:
    def __init__(self) -> None:
        self.probe = RawProbe()
        self.addr = self.probe.listen("/ip4/127.0.0.1/tcp/0", T)
        self._peers: dict[str, _Peer] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._accept, daemon=True)]
        self._threads[0].start()

    def stop(self) -> None:
        self._stop.set()
        for t in list(self._threads):
            t.join(timeout=5)
        self.probe.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                handle, proto, peer = self.probe.accept_stream(0.2)
            except (TimeoutError, RTTError):
                continue
            kind = next(k for k, p in rf.PROTOCOL.items() if p == proto)
            t = threading.Thread(target=self._read, args=(handle, kind, peer), daemon=True)
            self._threads.append(t)
            t.start()

    def _read(self, handle: int, kind: str, peer_id: str) -> None:
        while not self._stop.is_set():
            try:
                body = self.probe.read_message(handle, 2 << 20, 0.2)
            except TimeoutError:
                continue
            except RTTError:
                return  # a bad prefix: stop reading, but never reset the stream (wrong)
            if body is None:
                return
            with self._lock:
                peer = self._peers.setdefault(peer_id, _Peer())
            if not peer.dead:
                self._answer(peer, peer_id, kind, body)

    def _send(self, peer: _Peer, peer_id: str, kind: str, body: bytes) -> None:
        try:
            if kind not in peer.out:
                peer.out[kind] = self.probe.open_stream(rf.PROTOCOL[kind], T, peer_id)
            self.probe.write(peer.out[kind], rf.framed(body), T)
        except (TimeoutError, RTTError):
            peer.out.pop(kind, None)

    def _answer(self, peer: _Peer, peer_id: str, kind: str, body: bytes) -> None:
        f = rf.parse(body)
        if f is None:
            return  # malformed: ignored (wrong: RTT drops the connection)
        if f.kind in ("OPEN", "RESUME") and f.sid is not None:
            if f.sid != peer.sid:  # any session id is "resumed" (wrong for RESUME)
                peer.sid, peer.delivered = f.sid, dict.fromkeys(rf.CHANNEL, 0)
            peer.out.clear()  # a new connection: new streams
            d = peer.delivered
            counts = (d["state"], d["knowledge"], d["control"])
            self._send(peer, peer_id, "control", rf.resume_ok(f.sid, counts))
        elif f.kind == "HEARTBEAT" and f.nonce is not None and f.ts is not None:
            self._send(peer, peer_id, "state", rf.heartbeat(f.nonce, f.ts, answer=True))
        elif f.kind == "DATA" and f.channel and f.seq is not None and f.sid is not None:
            if f.sid != peer.sid or f.seq <= peer.delivered[f.channel]:
                peer.dead = True  # a replay or a foreign sid: fatal here (wrong)
                return
            peer.delivered[f.channel] = f.seq  # a gap is accepted (wrong)
            self._send(peer, peer_id, "state", rf.ack(f.channel, f.sid, f.seq))
        elif f.kind == "CLOSE":
            self._send(peer, peer_id, "control", rf.close(0))  # echoed (wrong)
