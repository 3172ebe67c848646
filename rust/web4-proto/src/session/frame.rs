//! Session frames: the compact binary encoding RTT sessions exchange.
//!
//! Theory of operation: one frame is the whole payload of one varint-length-prefixed
//! message on a libp2p channel stream (the driver does the outer framing). Every frame
//! starts with a version byte ([`VERSION`]) and a type byte, then fixed fields:
//!
//! | type | code | fields after the two header bytes |
//! |---|---|---|
//! | DATA | 0x01 | channel u8, session id 16 bytes, seq varint, payload = the rest |
//! | ACK | 0x02 | channel u8, session id 16 bytes, cumulative seq varint |
//! | OPEN | 0x03 | session id 16 bytes, delivered seq varint x3 (state, knowledge, control) |
//! | RESUME | 0x04 | session id 16 bytes, delivered seq varint x3 (state, knowledge, control) |
//! | RESUME_OK | 0x05 | session id 16 bytes, delivered seq varint x3 |
//! | RESUME_REJECT | 0x06 | reason u8, text length varint (<= 256), UTF-8 text |
//! | HEARTBEAT | 0x07 | nonce u64 LE, timestamp (microseconds) u64 LE |
//! | HEARTBEAT_ACK | 0x08 | nonce u64 LE, echoed timestamp u64 LE |
//! | CLOSE | 0x09 | reason u8, text length varint (<= 256), UTF-8 text |
//!
//! Varints are unsigned LEB128, at most 10 bytes, minimal encoding only. The decoder
//! checks every length against the bytes that remain and against a maximum before it
//! looks at the data, never allocates from an untrusted length (payloads are borrowed),
//! and rejects trailing bytes. Anything malformed is a typed [`FrameError`].

use thiserror::Error;

use super::wire::{put_varint, Reader};
use super::ChannelKind;

/// The only frame format version this code speaks.
pub const VERSION: u8 = 1;
/// Length of a session id on the wire.
pub const SESSION_ID_LEN: usize = 16;
/// Longest reason text in CLOSE and RESUME_REJECT, in bytes.
pub const MAX_REASON_LEN: usize = 256;
/// Bytes a DATA frame adds to its payload at most (header, channel, id, 10-byte varint).
pub const DATA_OVERHEAD: usize = 2 + 1 + SESSION_ID_LEN + 10;

/// A 128-bit session id, chosen by the dialler from the injected rng.
pub type SessionId = [u8; SESSION_ID_LEN];

/// Why a session ends (CLOSE) or cannot be resumed (RESUME_REJECT). Wire codes in parens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// (0) The local application closed the session.
    Normal,
    /// (1) The peer does not know the session id (it restarted, or never had it).
    UnknownSession,
    /// (2) The session outlived its expiry while disconnected.
    Expired,
    /// (3) The peer started a new session, so the old one is gone.
    PeerRestarted,
    /// (4) The peer broke the session protocol.
    ProtocolError,
    /// (5) The transport is shutting down.
    Shutdown,
}

impl CloseReason {
    /// The wire code.
    pub fn code(self) -> u8 {
        match self {
            Self::Normal => 0,
            Self::UnknownSession => 1,
            Self::Expired => 2,
            Self::PeerRestarted => 3,
            Self::ProtocolError => 4,
            Self::Shutdown => 5,
        }
    }

    /// The reason for a wire code. Errors: [`FrameError::UnknownReason`].
    pub fn from_code(code: u8) -> Result<Self, FrameError> {
        Ok(match code {
            0 => Self::Normal,
            1 => Self::UnknownSession,
            2 => Self::Expired,
            3 => Self::PeerRestarted,
            4 => Self::ProtocolError,
            5 => Self::Shutdown,
            other => return Err(FrameError::UnknownReason(other)),
        })
    }

    /// Lowercase name used in events and docs, e.g. `unknown_session`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::UnknownSession => "unknown_session",
            Self::Expired => "expired",
            Self::PeerRestarted => "peer_restarted",
            Self::ProtocolError => "protocol_error",
            Self::Shutdown => "shutdown",
        }
    }
}

/// A malformed frame. Always the remote peer's fault.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum FrameError {
    #[error("empty frame")]
    Empty,
    #[error("unsupported frame version {0}")]
    UnsupportedVersion(u8),
    #[error("unknown frame type 0x{0:02x}")]
    UnknownType(u8),
    #[error("frame truncated in {0}")]
    Truncated(&'static str),
    #[error("{what} is {len} bytes, more than the maximum {max}")]
    TooLong {
        what: &'static str,
        len: usize,
        max: usize,
    },
    #[error("malformed varint in {0}")]
    BadVarint(&'static str),
    #[error("unknown channel {0}")]
    UnknownChannel(u8),
    #[error("unknown close reason {0}")]
    UnknownReason(u8),
    #[error("reason text is not UTF-8")]
    BadUtf8,
    #[error("{0} trailing bytes after the frame")]
    TrailingBytes(usize),
}

/// One session frame. Payload and text borrow from the decoded buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame<'a> {
    Data {
        channel: ChannelKind,
        session: SessionId,
        seq: u64,
        payload: &'a [u8],
    },
    Ack {
        channel: ChannelKind,
        session: SessionId,
        seq: u64,
    },
    Open {
        session: SessionId,
        delivered: [u64; 3],
    },
    Resume {
        session: SessionId,
        delivered: [u64; 3],
    },
    ResumeOk {
        session: SessionId,
        delivered: [u64; 3],
    },
    ResumeReject {
        reason: CloseReason,
        text: &'a str,
    },
    Heartbeat {
        nonce: u64,
        ts_us: u64,
    },
    HeartbeatAck {
        nonce: u64,
        ts_us: u64,
    },
    Close {
        reason: CloseReason,
        text: &'a str,
    },
}

const T_DATA: u8 = 0x01;
const T_ACK: u8 = 0x02;
const T_OPEN: u8 = 0x03;
const T_RESUME: u8 = 0x04;
const T_RESUME_OK: u8 = 0x05;
const T_RESUME_REJECT: u8 = 0x06;
const T_HEARTBEAT: u8 = 0x07;
const T_HEARTBEAT_ACK: u8 = 0x08;
const T_CLOSE: u8 = 0x09;

/// The type of a [`Frame`], without its fields (compare these, not names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FrameType {
    Data,
    Ack,
    Open,
    Resume,
    ResumeOk,
    ResumeReject,
    Heartbeat,
    HeartbeatAck,
    Close,
}

impl FrameType {
    /// The type's name in the spec, e.g. `RESUME_OK`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Data => "DATA",
            Self::Ack => "ACK",
            Self::Open => "OPEN",
            Self::Resume => "RESUME",
            Self::ResumeOk => "RESUME_OK",
            Self::ResumeReject => "RESUME_REJECT",
            Self::Heartbeat => "HEARTBEAT",
            Self::HeartbeatAck => "HEARTBEAT_ACK",
            Self::Close => "CLOSE",
        }
    }
}

impl Frame<'_> {
    /// The frame's type.
    pub fn frame_type(&self) -> FrameType {
        match self {
            Frame::Data { .. } => FrameType::Data,
            Frame::Ack { .. } => FrameType::Ack,
            Frame::Open { .. } => FrameType::Open,
            Frame::Resume { .. } => FrameType::Resume,
            Frame::ResumeOk { .. } => FrameType::ResumeOk,
            Frame::ResumeReject { .. } => FrameType::ResumeReject,
            Frame::Heartbeat { .. } => FrameType::Heartbeat,
            Frame::HeartbeatAck { .. } => FrameType::HeartbeatAck,
            Frame::Close { .. } => FrameType::Close,
        }
    }

    /// The frame type's name, e.g. `RESUME_OK` (for messages and vectors).
    pub fn name(&self) -> &'static str {
        self.frame_type().as_str()
    }

    /// Append the encoding of this frame to `out`. Reason texts longer than
    /// [`MAX_REASON_LEN`] are cut at a character boundary so the result always decodes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(VERSION);
        match self {
            Frame::Data {
                channel,
                session,
                seq,
                payload,
            } => {
                out.extend_from_slice(&[T_DATA, channel.code()]);
                out.extend_from_slice(session);
                put_varint(out, *seq);
                out.extend_from_slice(payload);
            }
            Frame::Ack {
                channel,
                session,
                seq,
            } => {
                out.extend_from_slice(&[T_ACK, channel.code()]);
                out.extend_from_slice(session);
                put_varint(out, *seq);
            }
            Frame::Open { session, delivered }
            | Frame::Resume { session, delivered }
            | Frame::ResumeOk { session, delivered } => {
                out.push(match self {
                    Frame::Open { .. } => T_OPEN,
                    Frame::Resume { .. } => T_RESUME,
                    _ => T_RESUME_OK,
                });
                out.extend_from_slice(session);
                delivered.iter().for_each(|d| put_varint(out, *d));
            }
            Frame::ResumeReject { reason, text } | Frame::Close { reason, text } => {
                let t = if matches!(self, Frame::Close { .. }) {
                    T_CLOSE
                } else {
                    T_RESUME_REJECT
                };
                out.extend_from_slice(&[t, reason.code()]);
                let text = truncate_utf8(text, MAX_REASON_LEN);
                put_varint(out, text.len() as u64);
                out.extend_from_slice(text.as_bytes());
            }
            Frame::Heartbeat { nonce, ts_us } | Frame::HeartbeatAck { nonce, ts_us } => {
                out.push(if matches!(self, Frame::Heartbeat { .. }) {
                    T_HEARTBEAT
                } else {
                    T_HEARTBEAT_ACK
                });
                out.extend_from_slice(&nonce.to_le_bytes());
                out.extend_from_slice(&ts_us.to_le_bytes());
            }
        }
    }

    /// The number of bytes [`Frame::encode`] appends.
    pub fn encoded_len(&self) -> usize {
        let id = SESSION_ID_LEN;
        2 + match self {
            Frame::Data { seq, payload, .. } => 1 + id + varint_len(*seq) + payload.len(),
            Frame::Ack { seq, .. } => 1 + id + varint_len(*seq),
            Frame::Open { delivered, .. }
            | Frame::Resume { delivered, .. }
            | Frame::ResumeOk { delivered, .. } => {
                id + delivered.iter().map(|d| varint_len(*d)).sum::<usize>()
            }
            Frame::ResumeReject { text, .. } | Frame::Close { text, .. } => {
                let t = truncate_utf8(text, MAX_REASON_LEN).len();
                1 + varint_len(t as u64) + t
            }
            Frame::Heartbeat { .. } | Frame::HeartbeatAck { .. } => 16,
        }
    }

    /// The encoding as a new vector.
    pub fn to_vec(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode(&mut out);
        out
    }

    /// Decode one frame occupying all of `bytes`. A DATA payload longer than
    /// `max_payload` is rejected. Errors: [`FrameError`] for anything malformed.
    pub fn decode(bytes: &[u8], max_payload: usize) -> Result<Frame<'_>, FrameError> {
        let mut r = Reader::new(bytes);
        let version = r.u8("version").map_err(|_| FrameError::Empty)?;
        if version != VERSION {
            return Err(FrameError::UnsupportedVersion(version));
        }
        let frame = match r.u8("type")? {
            T_DATA => {
                let channel = ChannelKind::from_code(r.u8("channel")?)?;
                let session = r.session_id()?;
                let seq = r.varint("seq")?;
                let payload = r.rest();
                if payload.len() > max_payload {
                    return Err(FrameError::TooLong {
                        what: "payload",
                        len: payload.len(),
                        max: max_payload,
                    });
                }
                Frame::Data {
                    channel,
                    session,
                    seq,
                    payload,
                }
            }
            T_ACK => {
                let channel = ChannelKind::from_code(r.u8("channel")?)?;
                Frame::Ack {
                    channel,
                    session: r.session_id()?,
                    seq: r.varint("ack seq")?,
                }
            }
            t @ (T_OPEN | T_RESUME | T_RESUME_OK) => {
                let session = r.session_id()?;
                let delivered = [
                    r.varint("delivered")?,
                    r.varint("delivered")?,
                    r.varint("delivered")?,
                ];
                match t {
                    T_OPEN => Frame::Open { session, delivered },
                    T_RESUME => Frame::Resume { session, delivered },
                    _ => Frame::ResumeOk { session, delivered },
                }
            }
            t @ (T_RESUME_REJECT | T_CLOSE) => {
                let reason = CloseReason::from_code(r.u8("reason")?)?;
                let len = r.varint("reason length")?;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                if len > MAX_REASON_LEN {
                    return Err(FrameError::TooLong {
                        what: "reason text",
                        len,
                        max: MAX_REASON_LEN,
                    });
                }
                let text = std::str::from_utf8(r.take(len, "reason text")?)
                    .map_err(|_| FrameError::BadUtf8)?;
                if t == T_CLOSE {
                    Frame::Close { reason, text }
                } else {
                    Frame::ResumeReject { reason, text }
                }
            }
            t @ (T_HEARTBEAT | T_HEARTBEAT_ACK) => {
                let nonce = r.u64_le("nonce")?;
                let ts_us = r.u64_le("timestamp")?;
                if t == T_HEARTBEAT {
                    Frame::Heartbeat { nonce, ts_us }
                } else {
                    Frame::HeartbeatAck { nonce, ts_us }
                }
            }
            other => return Err(FrameError::UnknownType(other)),
        };
        if !r.is_empty() {
            return Err(FrameError::TrailingBytes(r.remaining()));
        }
        Ok(frame)
    }
}

/// Bytes of the LEB128 varint encoding of `v`.
fn varint_len(v: u64) -> usize {
    (64 - v.leading_zeros() as usize).div_ceil(7).max(1)
}

fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
