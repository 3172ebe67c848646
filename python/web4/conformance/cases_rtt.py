"""The RTT cases of the wire conformance runner: frames built by hand over a raw stream.

Theory of operation: each case drives a ``RawPeer``, a ``web4._core.RawProbe`` (TCP,
Noise, yamux and multistream-select, no session layer) with a fresh key, which opens its
three RTT streams and writes whatever bytes the case wants, framed by
``web4.conformance.rtt_frames`` (written from docs/RTT_SPEC.md, not from the Rust codec).
What the target does is observable in four ways: a frame it sends back (``RESUME_OK``,
``RESUME_REJECT``, ``HEARTBEAT_ACK``, ``ACK``), a stream of ours it resets (§4: a bad length
prefix), the connection it drops (§5.7: a malformed frame, a gap, a frame on the wrong
stream), and what a new connection's ``RESUME`` then says about the session (kept: its
``RESUME_OK``; forgotten: ``RESUME_REJECT{unknown_session}``). "The connection is kept" is
checked by a ``HEARTBEAT`` that must still be answered. Probe calls block (they release
the GIL), so a case runs in a worker thread; each call has its own deadline.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable

from web4._core import RawProbe
from web4.conformance import rtt_frames as rf
from web4.conformance.runner import Case, Kind, Mismatch, register
from web4.conformance.wire import Target
from web4.errors import RTTError

__all__ = ["RawPeer"]

MAX_READ = (1 << 20) + 64  # the largest DATA frame of a default node, and some


class RawPeer:
    """One raw connection to the target (see the module docstring). ``seed``: come back
    as the same key (a resume)."""

    def __init__(self, target: Target, seed: bytes | None = None) -> None:
        self.target = target
        self.seed = seed if seed is not None else os.urandom(32)
        self.step = max(target.quiet, 0.3 * target.timeout)
        self.probe = RawProbe(self.seed)
        self.ours: dict[str, int] = {}
        self.theirs: dict[str, int] = {}

    def __enter__(self) -> RawPeer:
        try:
            self.probe.dial(self.target.addr, self.step)
            for kind in ("state", "knowledge", "control"):
                self.ours[kind] = self.probe.open_stream(rf.PROTOCOL[kind], self.step)
        except BaseException:
            self.probe.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.probe.close()

    def send(self, kind: str, body: bytes) -> None:
        self.probe.write(self.ours[kind], rf.framed(body), self.step)

    def send_raw(self, kind: str, data: bytes) -> None:
        self.probe.write(self.ours[kind], data, self.step)

    def _their(self, kind: str, deadline: float) -> int | None:
        while kind not in self.theirs:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            try:
                handle, proto, _ = self.probe.accept_stream(left)
            except TimeoutError:
                return None
            except RTTError:
                return None
            for k, p in rf.PROTOCOL.items():
                if p == proto:
                    self.theirs[k] = handle
        return self.theirs[kind]

    def frame(
        self, kind: str, want: Callable[[rf.Frame], bool], timeout: float | None = None
    ) -> rf.Frame | None:
        """The first frame on the target's ``kind`` stream that ``want`` accepts, within
        ``timeout`` (default: one step); None if none came or the stream ended."""
        deadline = time.monotonic() + (self.step if timeout is None else timeout)
        handle = self._their(kind, deadline)
        if handle is None:
            return None
        while (left := deadline - time.monotonic()) > 0:
            try:
                body = self.probe.read_message(handle, MAX_READ, left)
            except (TimeoutError, RTTError):
                return None
            if body is None:
                return None
            f = rf.parse(body)
            if f is not None and want(f):
                return f
        return None

    def open_session(self) -> bytes:
        """OPEN a session; its sid. Mismatch unless RESUME_OK answers it."""
        sid = os.urandom(16)
        self.send("control", rf.open_(sid))
        got = self.frame("control", lambda f: f.kind in ("RESUME_OK", "RESUME_REJECT"))
        if got is None or got.kind != "RESUME_OK" or got.sid != sid:
            raise Mismatch(f"OPEN was answered by {_said(got)}")
        return sid

    def heartbeat_answered(self) -> bool:
        nonce, ts = int.from_bytes(os.urandom(8), "little"), 123_456
        self.send("state", rf.heartbeat(nonce, ts))
        got = self.frame("state", lambda f: f.kind == "HEARTBEAT_ACK" and f.nonce == nonce)
        return got is not None and got.ts == ts

    def dropped(self) -> bool:
        """Whether the target closed the connection within one step."""
        deadline = time.monotonic() + self.step
        while time.monotonic() < deadline:
            if not self.probe.connected_peers():
                return True
            time.sleep(0.02)
        return False

    def stream_reset(self, kind: str) -> bool:
        """Whether the target reset (or ended) our ``kind`` stream within one step."""
        try:
            return self.probe.read(self.ours[kind], 16, self.step) == b""
        except TimeoutError:
            return False
        except RTTError:
            return True


def _said(f: rf.Frame | None) -> str:
    return "nothing" if f is None else f.describe()


def _resumed(target: Target, seed: bytes, sid: bytes) -> rf.Frame | None:
    """A new connection as the same key, RESUME{sid}: the target's answer."""
    with RawPeer(target, seed) as again:
        again.send("control", rf.resume(sid))
        return again.frame("control", lambda f: f.kind in ("RESUME_OK", "RESUME_REJECT"))


def _expect_kept_after_drop(p: RawPeer, sid: bytes, what: str) -> None:
    """The target drops the connection and keeps the session (§5.7)."""
    if not p.dropped():
        raise Mismatch(f"the connection stayed up {p.step:g} s after {what}")
    p.probe.close()
    got = _resumed(p.target, p.seed, sid)
    if got is None or got.kind != "RESUME_OK" or got.sid != sid:
        raise Mismatch(f"the session was not kept: RESUME on a new connection got {_said(got)}")


# --- the cases ----------------------------------------------------------------------------


def _open(t: Target) -> None:
    with RawPeer(t) as p:
        p.open_session()


def _heartbeat(t: Target) -> None:
    with RawPeer(t) as p:
        p.open_session()
        if not p.heartbeat_answered():
            raise Mismatch("no HEARTBEAT_ACK echoing our nonce and timestamp")


def _data_acked(t: Target) -> None:
    with RawPeer(t) as p:
        sid = p.open_session()
        p.send("knowledge", rf.data("knowledge", sid, 1, b"conformance"))
        got = p.frame("state", lambda f: f.kind == "ACK" and f.channel == "knowledge")
        if got is None or got.seq != 1 or got.sid != sid:
            raise Mismatch(f"DATA seq 1 was acknowledged by {_said(got)}")


def _resume(t: Target) -> None:
    with RawPeer(t) as p:
        sid = p.open_session()
        p.send("knowledge", rf.data("knowledge", sid, 1, b"conformance"))
        if p.frame("state", lambda f: f.kind == "ACK" and f.seq == 1) is None:
            raise Mismatch("DATA seq 1 was not acknowledged")
        p.probe.disconnect(p.step)
    got = _resumed(t, p.seed, sid)
    if got is None or got.kind != "RESUME_OK" or got.delivered != (0, 1, 0):
        raise Mismatch(f"RESUME on a new connection got {_said(got)}, not delivered [0, 1, 0]")


def _resume_unknown(t: Target) -> None:
    with RawPeer(t) as p:
        p.send("control", rf.resume(os.urandom(16)))
        got = p.frame("control", lambda f: f.kind in ("RESUME_OK", "RESUME_REJECT"))
        if got is None or got.kind != "RESUME_REJECT" or got.reason != "unknown_session":
            raise Mismatch(f"RESUME of an unknown session got {_said(got)}")


def _bad_prefix(prefix: bytes) -> Callable[[Target], None]:
    def play(t: Target) -> None:
        with RawPeer(t) as p:
            p.open_session()
            p.send_raw("knowledge", prefix + b"\x01\x01")
            if not p.stream_reset("knowledge"):
                raise Mismatch(f"our knowledge stream stayed open {p.step:g} s after it")
            if not p.heartbeat_answered():
                raise Mismatch("the session stopped answering HEARTBEAT after the stream reset")

    return play


def _drops(stream: str, body: Callable[[bytes], bytes], what: str) -> Callable[[Target], None]:
    def play(t: Target) -> None:
        with RawPeer(t) as p:
            sid = p.open_session()
            p.send(stream, body(sid))
            _expect_kept_after_drop(p, sid, what)

    return play


def _gap(t: Target) -> None:
    with RawPeer(t) as p:
        sid = p.open_session()
        p.send("knowledge", rf.data("knowledge", sid, 2, b"conformance"))
        if not p.dropped():
            raise Mismatch(f"the connection stayed up {p.step:g} s after the gap")
        p.probe.close()
    got = _resumed(t, p.seed, sid)
    if got is None or got.kind != "RESUME_OK" or got.delivered != (0, 0, 0):
        raise Mismatch(f"RESUME after the gap got {_said(got)}, not delivered [0, 0, 0]")


def _kept(send: Callable[[RawPeer, bytes], int], what: str) -> Callable[[Target], None]:
    """``send`` sends the frame to be dropped and returns the next seq on knowledge: that
    DATA, right behind it on the same stream, must be acknowledged."""

    def play(t: Target) -> None:
        with RawPeer(t) as p:
            sid = p.open_session()
            seq = send(p, sid)
            p.send("knowledge", rf.data("knowledge", sid, seq, b"conformance"))
            got = p.frame("state", lambda f: f.kind == "ACK" and f.seq == seq and f.sid == sid)
            if got is None:
                raise Mismatch(f"the DATA (seq {seq}) that followed {what} was not acknowledged")
            if not p.heartbeat_answered():
                raise Mismatch(f"no HEARTBEAT_ACK after {what} (the connection was dropped?)")

    return play


def _replayed(p: RawPeer, sid: bytes) -> int:
    p.send("knowledge", rf.data("knowledge", sid, 1, b"conformance"))
    if p.frame("state", lambda f: f.kind == "ACK" and f.seq == 1) is None:
        raise Mismatch("DATA seq 1 was not acknowledged")
    p.send("knowledge", rf.data("knowledge", sid, 1, b"conformance"))
    return 2


def _foreign(p: RawPeer, sid: bytes) -> int:
    p.send("knowledge", rf.data("knowledge", os.urandom(16), 1, b"conformance"))
    return 1


def _data_before_open(t: Target) -> None:
    with RawPeer(t) as p:
        p.send("knowledge", rf.data("knowledge", os.urandom(16), 1, b"conformance"))
        if not p.dropped():
            raise Mismatch(f"the connection stayed up {p.step:g} s after DATA before OPEN")


def _close(t: Target) -> None:
    with RawPeer(t) as p:
        sid = p.open_session()
        p.send("control", rf.close(0, b"conformance"))
        echo = p.frame("control", lambda f: f.kind == "CLOSE")
        if echo is not None:
            raise Mismatch("the target answered CLOSE with CLOSE")
        if not p.dropped():
            raise Mismatch(f"the connection stayed up {p.step:g} s after CLOSE")
    got = _resumed(t, p.seed, sid)
    if got is None or got.kind != "RESUME_REJECT" or got.reason != "unknown_session":
        raise Mismatch(f"RESUME of the closed session got {_said(got)}")


def _thread(fn: Callable[[Target], None]) -> Callable[[Target], Awaitable[None]]:
    async def play(t: Target) -> None:
        await asyncio.to_thread(fn, t)

    return play


def _case(
    name: str, title: str, expect: str, spec: str, kind: Kind, fn: Callable[[Target], None]
) -> None:
    register(Case(f"rtt.{name}", title, expect, spec, kind, _thread(fn)))


def _register() -> None:
    pos: Kind = "positive"
    neg: Kind = "negative"
    hb = " (a HEARTBEAT is still answered)"
    _case(
        "open",
        "OPEN{sid, [0,0,0]} on our control stream",
        "RESUME_OK{sid, [0,0,0]} on its control stream",
        "RTT_SPEC §5.3, §5.5",
        pos,
        _open,
    )
    _case(
        "heartbeat",
        "HEARTBEAT{nonce, ts} on our state stream",
        "HEARTBEAT_ACK echoing nonce and ts unchanged, on its state stream",
        "RTT_SPEC §6",
        pos,
        _heartbeat,
    )
    _case(
        "data_acked",
        "DATA{knowledge, sid, 1}",
        "ACK{knowledge, sid, 1} on its state stream",
        "RTT_SPEC §5.4",
        pos,
        _data_acked,
    )
    _case(
        "resume",
        "DATA seq 1 (acknowledged), the connection closed, RESUME{sid} on a new one",
        "RESUME_OK{sid, delivered [0,1,0]}",
        "RTT_SPEC §5.5",
        pos,
        _resume,
    )
    _case(
        "resume_unknown_session",
        "RESUME with a session id the target never saw",
        "RESUME_REJECT{unknown_session}",
        "RTT_SPEC §5.5 step 2",
        neg,
        _resume_unknown,
    )
    _case(
        "prefix.non_minimal",
        "a length prefix 0x81 0x00 (1, not minimally encoded)",
        "the target resets that stream; the session lives on" + hb,
        "RTT_SPEC §4",
        neg,
        _bad_prefix(b"\x81\x00"),
    )
    _case(
        "prefix.oversize",
        "a length prefix of 1 GiB",
        "the target resets that stream; the session lives on" + hb,
        "RTT_SPEC §4",
        neg,
        _bad_prefix(rf.uvarint(1 << 30)),
    )
    _case(
        "prefix.overlong",
        "a length prefix of 11 bytes",
        "the target resets that stream; the session lives on" + hb,
        "RTT_SPEC §4",
        neg,
        _bad_prefix(b"\xff" * 10 + b"\x01"),
    )
    _case(
        "frame.unknown_type",
        "a frame of type 0x0a on control",
        "the target drops the "
        "connection and keeps the session (RESUME on a new connection: RESUME_OK)",
        "RTT_SPEC §5.3, §5.7",
        neg,
        _drops("control", lambda sid: b"\x01\x0a", "it"),
    )
    _case(
        "frame.bad_version",
        "a HEARTBEAT with version byte 0x02",
        "the target drops the connection and keeps the session",
        "RTT_SPEC §5.3, §5.7, §14",
        neg,
        _drops("state", lambda sid: b"\x02" + rf.heartbeat(1, 1)[1:], "it"),
    )
    _case(
        "frame.wrong_stream",
        "a HEARTBEAT on the control stream",
        "the target drops the connection and keeps the session",
        "RTT_SPEC §5.2, §5.7",
        neg,
        _drops("control", lambda sid: rf.heartbeat(1, 1), "it"),
    )
    _case(
        "frame.gap",
        "DATA{knowledge, seq 2} with nothing before it",
        "the target drops the connection and keeps the session; RESUME: delivered [0,0,0]",
        "RTT_SPEC §5.4, §5.7",
        neg,
        _gap,
    )
    _case(
        "frame.replay",
        "DATA{knowledge, seq 1} twice, then seq 2",
        "the second is dropped as a replay, the connection kept: seq 2 is acknowledged" + hb,
        "RTT_SPEC §5.7",
        neg,
        _kept(_replayed, "the replay"),
    )
    _case(
        "frame.foreign_session",
        "DATA with another session's id, then DATA{sid, seq 1}",
        "dropped as a replay, the connection kept: seq 1 is acknowledged" + hb,
        "RTT_SPEC §5.7",
        neg,
        _kept(_foreign, "DATA of a foreign session"),
    )
    _case(
        "frame.data_before_open",
        "DATA before OPEN",
        "the target drops the connection",
        "RTT_SPEC §5.5 step 1, §5.7",
        neg,
        _data_before_open,
    )
    _case(
        "close",
        "CLOSE{normal} after OPEN",
        "no CLOSE echo; the target closes the "
        "connection; RESUME of that session gets RESUME_REJECT{unknown_session}",
        "RTT_SPEC §5.6",
        neg,
        _close,
    )


_register()
