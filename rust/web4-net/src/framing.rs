//! Message framing on an RTT stream: unsigned-varint length prefix, then the body.
//!
//! Theory of operation: a stream carries a sequence of `uvarint(len) || body` records
//! (the multiformats unsigned varint, little-endian base-128, at most 9 bytes, minimal
//! encoding). The reader never trusts the prefix: it decodes at most
//! `varint_len(max)` prefix bytes, rejects a non-minimal or over-long prefix, and compares
//! the length against the configured maximum *before* a byte of the body is buffered.
//! Any violation is a [`FrameError`]; the caller resets that one stream and counts it.

/// Why a frame was refused or could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The prefix announces more than the configured maximum message size.
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    Oversize { len: u64, max: usize },
    /// The prefix is not a valid minimal unsigned varint.
    #[error("malformed length prefix")]
    Malformed,
}

/// Append `uvarint(value)` to `out`.
pub fn encode_varint(mut value: u64, out: &mut Vec<u8>) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Number of bytes `uvarint(value)` takes.
pub fn varint_len(value: u64) -> usize {
    let bits = 64 - value.max(1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Append one frame (`uvarint(len) || body`) to `out`.
pub fn encode_frame(body: &[u8], out: &mut Vec<u8>) {
    encode_varint(body.len() as u64, out);
    out.extend_from_slice(body);
}

/// Decode the length prefix at the front of `buf`: `Ok(Some((prefix_len, body_len)))`,
/// or `Ok(None)` when `buf` ends inside the prefix. Never allocates.
///
/// Errors: [`FrameError::Oversize`] when the prefix exceeds `max` (or needs more bytes
/// than any length up to `max` can), [`FrameError::Malformed`] for a non-minimal prefix.
pub fn decode_prefix(buf: &[u8], max: usize) -> Result<Option<(usize, usize)>, FrameError> {
    let limit = varint_len(max as u64);
    let mut value: u64 = 0;
    for i in 0..limit {
        let Some(&b) = buf.get(i) else {
            return Ok(None);
        };
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            if b == 0 && i > 0 {
                return Err(FrameError::Malformed); // non-minimal encoding
            }
            if value > max as u64 {
                return Err(FrameError::Oversize { len: value, max });
            }
            return Ok(Some((i + 1, value as usize)));
        }
    }
    // More continuation bytes than any length <= max can need: oversize or garbage.
    Err(FrameError::Oversize { len: value, max })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cut `bytes` into frames the way the connection handler does: `Ok(None)` at a clean
    /// end, an error for a bad prefix or a buffer that ends inside a frame.
    fn read_all(bytes: &[u8], max: usize) -> Vec<Result<Option<Vec<u8>>, String>> {
        let mut rest = bytes;
        let mut out = Vec::new();
        loop {
            let r = match decode_prefix(rest, max) {
                Ok(Some((p, n))) if p + n <= rest.len() => {
                    let body = rest[p..p + n].to_vec();
                    rest = &rest[p + n..];
                    Ok(Some(body))
                }
                Ok(_) if rest.is_empty() => Ok(None),
                Ok(_) => Err("stream ended inside a frame".to_string()),
                Err(e) => Err(e.to_string()),
            };
            let stop = !matches!(r, Ok(Some(_)));
            out.push(r);
            if stop {
                return out;
            }
        }
    }

    #[test]
    fn varint_round_trip_and_lengths() {
        for v in [
            0u64,
            1,
            127,
            128,
            300,
            16_383,
            16_384,
            1 << 20,
            u64::from(u32::MAX),
        ] {
            let mut buf = Vec::new();
            encode_varint(v, &mut buf);
            assert_eq!(buf.len(), varint_len(v), "{v}");
        }
        let mut buf = Vec::new();
        encode_varint(300, &mut buf);
        assert_eq!(buf, [0xac, 0x02]);
    }

    #[test]
    fn frames_round_trip() {
        let mut wire = Vec::new();
        encode_frame(b"hello", &mut wire);
        encode_frame(b"", &mut wire);
        encode_frame(&[7u8; 200], &mut wire);
        let got = read_all(&wire, 1024);
        assert_eq!(got[0], Ok(Some(b"hello".to_vec())));
        assert_eq!(got[1], Ok(Some(Vec::new())));
        assert_eq!(got[2], Ok(Some(vec![7u8; 200])));
        assert_eq!(got[3], Ok(None));
    }

    #[test]
    fn oversize_prefix_is_refused_before_allocation() {
        let mut wire = Vec::new();
        encode_varint(u64::MAX, &mut wire); // claims 16 EiB; must not allocate
        let got = read_all(&wire, 1 << 20);
        assert!(got[0].as_ref().unwrap_err().contains("exceeds"));
        let mut wire = Vec::new();
        encode_varint(1025, &mut wire);
        let got = read_all(&wire, 1024);
        assert!(got[0].as_ref().unwrap_err().contains("exceeds"));
    }

    #[test]
    fn non_minimal_and_truncated_are_refused() {
        assert_eq!(
            read_all(&[0x80, 0x00], 1024)[0],
            Err("malformed length prefix".into())
        );
        assert!(read_all(&[0x05, 1, 2], 1024)[0].is_err());
        assert!(read_all(&[0x80], 1024)[0].is_err());
    }
}
