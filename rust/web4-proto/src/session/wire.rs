//! Wire primitives of session frames: unsigned LEB128 varints and a bounds-checked
//! reader.
//!
//! Theory of operation: the reader only ever hands out sub-slices of the buffer it
//! was given, after checking the length against what remains; it never allocates, so
//! an untrusted length can at worst produce a `Truncated` error.

use super::frame::{FrameError, SessionId, SESSION_ID_LEN};

/// Append `v` as an unsigned LEB128 varint.
pub fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Read a minimal unsigned LEB128 varint from the front of `buf`: `(value, bytes used)`.
/// Errors: [`FrameError::Truncated`] if `buf` ends inside it, [`FrameError::BadVarint`]
/// if it is longer than 10 bytes, overflows 64 bits, or is not minimal.
pub fn get_varint(buf: &[u8], what: &'static str) -> Result<(u64, usize), FrameError> {
    let mut value: u64 = 0;
    for (i, &b) in buf.iter().enumerate().take(10) {
        let part = u64::from(b & 0x7f);
        if i == 9 && b > 1 {
            return Err(FrameError::BadVarint(what));
        }
        value |= part << (7 * i);
        if b & 0x80 == 0 {
            if b == 0 && i > 0 {
                return Err(FrameError::BadVarint(what));
            }
            return Ok((value, i + 1));
        }
    }
    if buf.len() >= 10 {
        Err(FrameError::BadVarint(what))
    } else {
        Err(FrameError::Truncated(what))
    }
}

/// A cursor over an untrusted buffer.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub(crate) fn remaining(&self) -> usize {
        self.buf.len()
    }

    pub(crate) fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], FrameError> {
        if n > self.buf.len() {
            return Err(FrameError::Truncated(what));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }

    pub(crate) fn u8(&mut self, what: &'static str) -> Result<u8, FrameError> {
        Ok(self.take(1, what)?[0])
    }

    pub(crate) fn u64_le(&mut self, what: &'static str) -> Result<u64, FrameError> {
        let b = self.take(8, what)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }

    pub(crate) fn session_id(&mut self) -> Result<SessionId, FrameError> {
        let b = self.take(SESSION_ID_LEN, "session id")?;
        let mut id = [0u8; SESSION_ID_LEN];
        id.copy_from_slice(b);
        Ok(id)
    }

    pub(crate) fn varint(&mut self, what: &'static str) -> Result<u64, FrameError> {
        let (v, used) = get_varint(self.buf, what)?;
        self.buf = &self.buf[used..];
        Ok(v)
    }

    pub(crate) fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }
}
