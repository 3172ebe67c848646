"""RTT/1.0 frames for the conformance runner, written from docs/RTT_SPEC.md §4 and §5.3.

Theory of operation: a second implementation's view of the wire, independent of the Rust
codec on purpose (the runner must be able to send what a correct encoder never would):
``frame(...)`` builders return a frame body, ``framed`` adds the ``uvarint(len)`` prefix,
``parse`` decodes a body the target sent into a ``Frame`` (``None`` for anything it cannot
read: the runner reports what it saw, it does not judge the target's encoder here).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CHANNEL",
    "PROTOCOL",
    "Frame",
    "ack",
    "close",
    "data",
    "framed",
    "heartbeat",
    "open_",
    "parse",
    "resume",
    "uvarint",
]

VERSION = 0x01
DATA, ACK, OPEN, RESUME, RESUME_OK, RESUME_REJECT, HEARTBEAT, HEARTBEAT_ACK, CLOSE = range(1, 10)
NAMES = {
    DATA: "DATA", ACK: "ACK", OPEN: "OPEN", RESUME: "RESUME", RESUME_OK: "RESUME_OK",
    RESUME_REJECT: "RESUME_REJECT", HEARTBEAT: "HEARTBEAT", HEARTBEAT_ACK: "HEARTBEAT_ACK",
    CLOSE: "CLOSE",
}  # fmt: skip
CHANNEL = {"state": 0, "knowledge": 1, "control": 2}
PROTOCOL = {kind: f"/web4/rtt/{kind}/1.0.0" for kind in CHANNEL}
REASONS = ("normal", "unknown_session", "expired", "peer_restarted", "protocol_error", "shutdown")


def uvarint(n: int) -> bytes:
    """Minimal unsigned LEB128 (multiformats unsigned-varint)."""
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def framed(body: bytes) -> bytes:
    """One RTT message: ``uvarint(len(body)) || body`` (§4)."""
    return uvarint(len(body)) + body


def _head(kind: int) -> bytes:
    return bytes([VERSION, kind])


def data(channel: str, sid: bytes, seq: int, payload: bytes) -> bytes:
    return _head(DATA) + bytes([CHANNEL[channel]]) + sid + uvarint(seq) + payload


def ack(channel: str, sid: bytes, seq: int) -> bytes:
    return _head(ACK) + bytes([CHANNEL[channel]]) + sid + uvarint(seq)


def _delivered(delivered: tuple[int, int, int]) -> bytes:
    return b"".join(uvarint(n) for n in delivered)


def open_(sid: bytes, delivered: tuple[int, int, int] = (0, 0, 0)) -> bytes:
    return _head(OPEN) + sid + _delivered(delivered)


def resume(sid: bytes, delivered: tuple[int, int, int] = (0, 0, 0)) -> bytes:
    return _head(RESUME) + sid + _delivered(delivered)


def resume_ok(sid: bytes, delivered: tuple[int, int, int] = (0, 0, 0)) -> bytes:
    return _head(RESUME_OK) + sid + _delivered(delivered)


def heartbeat(nonce: int, ts: int, *, answer: bool = False) -> bytes:
    kind = HEARTBEAT_ACK if answer else HEARTBEAT
    return _head(kind) + nonce.to_bytes(8, "little") + ts.to_bytes(8, "little")


def close(reason: int = 0, text: bytes = b"", *, reject: bool = False) -> bytes:
    return _head(RESUME_REJECT if reject else CLOSE) + bytes([reason]) + uvarint(len(text)) + text


@dataclass(frozen=True)
class Frame:
    """A decoded frame: ``kind`` is its name; the other members as far as it has them."""

    kind: str
    channel: str | None = None
    sid: bytes | None = None
    seq: int | None = None
    payload: bytes = b""
    delivered: tuple[int, ...] = ()
    nonce: int | None = None
    ts: int | None = None
    reason: str | None = None
    text: str = ""

    def describe(self) -> str:
        parts = [self.kind]
        if self.channel is not None:
            parts.append(self.channel)
        if self.seq is not None:
            parts.append(f"seq {self.seq}")
        if self.delivered:
            parts.append(f"delivered {list(self.delivered)}")
        if self.reason is not None:
            parts.append(f"reason {self.reason}")
        return " ".join(parts)


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    n, shift = 0, 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        if not b & 0x80:
            return n, i
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")


def parse(body: bytes) -> Frame | None:
    """The frame in ``body``, or None if it is not one this spec knows."""
    try:
        return _parse(body)
    except (IndexError, ValueError, KeyError):
        return None


def _parse(b: bytes) -> Frame | None:
    if len(b) < 2 or b[0] != VERSION or b[1] not in NAMES:
        return None
    kind, name = b[1], NAMES[b[1]]
    channels = {v: k for k, v in CHANNEL.items()}
    if kind in (DATA, ACK):
        channel, sid = channels[b[2]], b[3:19]
        seq, i = _varint(b, 19)
        return Frame(
            name, channel=channel, sid=sid, seq=seq, payload=b[i:] if kind == DATA else b""
        )
    if kind in (OPEN, RESUME, RESUME_OK):
        sid, i, out = b[2:18], 18, []
        for _ in range(3):
            n, i = _varint(b, i)
            out.append(n)
        return Frame(name, sid=sid, delivered=tuple(out))
    if kind in (HEARTBEAT, HEARTBEAT_ACK):
        return Frame(
            name, nonce=int.from_bytes(b[2:10], "little"), ts=int.from_bytes(b[10:18], "little")
        )
    n, i = _varint(b, 3)
    text = b[i : i + n].decode("utf-8", "replace")
    return Frame(name, reason=REASONS[b[2]] if b[2] < len(REASONS) else str(b[2]), text=text)
