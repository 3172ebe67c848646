//! Message framing on an RTT stream: unsigned-varint length prefix, then the body.
//!
//! Theory of operation: a stream carries a sequence of `uvarint(len) || body` records
//! (the multiformats unsigned varint, little-endian base-128, minimal encoding). There
//! is one varint codec, the session layer's (`web4_proto::session::{put_varint,
//! get_varint}`): writers prefix frames with it, and this reader uses it on a bounded
//! slice. The reader never trusts the prefix: it decodes at most `varint_len(max)`
//! prefix bytes, rejects a non-minimal or over-long prefix, and compares the length
//! against the configured maximum *before* a byte of the body is buffered. Any violation
//! is a [`FrameError`]; the caller resets that one stream and counts it.

use web4_proto::session::{get_varint, FrameError as VarintError};

/// Why a frame was refused or could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The prefix announces more than the configured maximum message size (`len`: the
    /// length announced, or the least length a prefix that long can announce).
    #[error("frame of {len} bytes exceeds the maximum of {max}")]
    Oversize { len: u64, max: usize },
    /// The prefix is not a valid minimal unsigned varint.
    #[error("malformed length prefix")]
    Malformed,
}

/// Number of bytes `uvarint(value)` takes.
fn varint_len(value: u64) -> usize {
    let bits = 64 - value.max(1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Decode the length prefix at the front of `buf`: `Ok(Some((prefix_len, body_len)))`,
/// or `Ok(None)` when `buf` ends inside the prefix. Never allocates.
///
/// Errors: [`FrameError::Oversize`] when the prefix exceeds `max` (or needs more bytes
/// than any length up to `max` can), [`FrameError::Malformed`] for a non-minimal prefix.
pub fn decode_prefix(buf: &[u8], max: usize) -> Result<Option<(usize, usize)>, FrameError> {
    let limit = varint_len(max as u64);
    match get_varint(&buf[..buf.len().min(limit)], "length prefix") {
        Ok((len, _)) if len > max as u64 => Err(FrameError::Oversize { len, max }),
        Ok((len, used)) => Ok(Some((used, len as usize))),
        Err(VarintError::Truncated(_)) if buf.len() < limit => Ok(None),
        // Every byte up to the limit continues: more than any length <= max needs.
        Err(VarintError::Truncated(_)) => Err(FrameError::Oversize {
            len: 1u64.checked_shl(7 * limit as u32).unwrap_or(u64::MAX),
            max,
        }),
        Err(_) => Err(FrameError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use web4_proto::session::put_varint;

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

    fn frame(body: &[u8], out: &mut Vec<u8>) {
        put_varint(out, body.len() as u64);
        out.extend_from_slice(body);
    }

    #[test]
    fn varint_lengths_match_the_codec() {
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
            put_varint(&mut buf, v);
            assert_eq!(buf.len(), varint_len(v), "{v}");
        }
    }

    #[test]
    fn frames_round_trip() {
        let mut wire = Vec::new();
        frame(b"hello", &mut wire);
        frame(b"", &mut wire);
        frame(&[7u8; 200], &mut wire);
        let got = read_all(&wire, 1024);
        assert_eq!(got[0], Ok(Some(b"hello".to_vec())));
        assert_eq!(got[1], Ok(Some(Vec::new())));
        assert_eq!(got[2], Ok(Some(vec![7u8; 200])));
        assert_eq!(got[3], Ok(None));
    }

    #[test]
    fn a_prefix_cut_short_waits_for_more() {
        assert!(matches!(decode_prefix(&[0x9d], 1 << 20), Ok(None)));
        assert!(matches!(decode_prefix(&[0x9d, 0x80], 1 << 20), Ok(None)));
        assert!(matches!(
            decode_prefix(&[0x9d, 0x80, 0x40], 1 << 21),
            Ok(Some((3, 1_048_605)))
        ));
    }

    #[test]
    fn oversize_prefix_is_refused_before_allocation() {
        let mut wire = Vec::new();
        put_varint(&mut wire, u64::MAX); // claims 16 EiB; must not allocate
        let got = read_all(&wire, 1 << 20);
        assert!(got[0].as_ref().unwrap_err().contains("exceeds"));
        let mut wire = Vec::new();
        put_varint(&mut wire, 1025);
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
