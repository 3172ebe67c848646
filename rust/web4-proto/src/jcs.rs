//! RFC 8785 JSON Canonicalization Scheme (JCS).
//!
//! Theory of operation: callers build a [`Value`] (the binding converts Python objects,
//! tests parse JSON text) and [`canonicalize`] writes its one canonical byte form:
//! object members sorted by the UTF-16 code units of their keys, no insignificant
//! whitespace, numbers in ECMAScript `Number.prototype.toString` form (via `ryu-js`),
//! strings with only the escapes RFC 8785 §3.2.2.2 requires. Integers are kept apart
//! from floats so that an integer JSON cannot carry exactly (|n| > 2^53 - 1) is refused
//! instead of being rounded silently.

use crate::error::CanonicalError;

/// Deepest nesting of arrays and objects we accept; deeper input is refused, never recursed.
pub const MAX_DEPTH: usize = 128;

/// Largest integer magnitude a JSON number (an IEEE-754 double) represents exactly.
pub const MAX_SAFE_INTEGER: i64 = (1 << 53) - 1;

/// A JSON value as the canonicalizer sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    /// An integer; must satisfy |n| <= [`MAX_SAFE_INTEGER`] to be canonicalized.
    Int(i64),
    /// An integer literal beyond i64, as its decimal text (as parsed: [`crate::json`]);
    /// never canonicalized (it is beyond [`MAX_SAFE_INTEGER`]).
    BigInt(String),
    /// A double; must be finite.
    Float(f64),
    String(String),
    /// A string with a lone surrogate (JSON text can escape one, e.g. `"\ud800"`), as
    /// UTF-16 code units; never canonicalized (RFC 8785 output is UTF-8).
    Utf16(Vec<u16>),
    Array(Vec<Value>),
    /// Members in insertion order; canonicalization sorts them and refuses duplicates.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The member `key` of an object, if this is an object that has it.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(members) => members.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string content, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// Canonical bytes of `value`.
///
/// Errors: [`CanonicalError`] for non-finite floats, unsafe integers, duplicate keys and
/// nesting deeper than [`MAX_DEPTH`].
pub fn canonicalize(value: &Value) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(256);
    write_value(value, &mut out, 0, None)?;
    Ok(out)
}

/// Canonical bytes of an object `value` without its top-level member `skip_key`
/// (the signed form of an envelope is the envelope without `sign`).
pub fn canonicalize_without(value: &Value, skip_key: &str) -> Result<Vec<u8>, CanonicalError> {
    let mut out = Vec::with_capacity(256);
    write_value(value, &mut out, 0, Some(skip_key))?;
    Ok(out)
}

fn write_value(
    value: &Value,
    out: &mut Vec<u8>,
    depth: usize,
    skip_key: Option<&str>,
) -> Result<(), CanonicalError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Int(n) => write_int(*n, out)?,
        Value::BigInt(text) => return Err(CanonicalError::IntegerOutOfRange(text.clone())),
        Value::Float(f) => write_float(*f, out)?,
        Value::String(s) => write_string(s, out),
        Value::Utf16(_) => return Err(CanonicalError::LoneSurrogate),
        Value::Array(items) => {
            check_depth(depth)?;
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(item, out, depth + 1, None)?;
            }
            out.push(b']');
        }
        Value::Object(members) => {
            check_depth(depth)?;
            let mut sorted: Vec<&(String, Value)> = members
                .iter()
                .filter(|(k, _)| Some(k.as_str()) != skip_key)
                .collect();
            sorted.sort_by(|a, b| a.0.encode_utf16().cmp(b.0.encode_utf16()));
            if let Some(pair) = sorted.windows(2).find(|w| w[0].0 == w[1].0) {
                return Err(CanonicalError::DuplicateKey(pair[0].0.clone()));
            }
            out.push(b'{');
            for (i, (key, item)) in sorted.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(key, out);
                out.push(b':');
                write_value(item, out, depth + 1, None)?;
            }
            out.push(b'}');
        }
    }
    Ok(())
}

fn check_depth(depth: usize) -> Result<(), CanonicalError> {
    if depth >= MAX_DEPTH {
        Err(CanonicalError::TooDeep(MAX_DEPTH))
    } else {
        Ok(())
    }
}

fn write_int(n: i64, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    if !(-MAX_SAFE_INTEGER..=MAX_SAFE_INTEGER).contains(&n) {
        return Err(CanonicalError::IntegerOutOfRange(n.to_string()));
    }
    // For safe integers the decimal form equals ECMAScript's Number-to-String.
    out.extend_from_slice(n.to_string().as_bytes());
    Ok(())
}

fn write_float(f: f64, out: &mut Vec<u8>) -> Result<(), CanonicalError> {
    if !f.is_finite() {
        return Err(CanonicalError::NonFinite);
    }
    let mut buf = ryu_js::Buffer::new();
    out.extend_from_slice(buf.format_finite(f).as_bytes());
    Ok(())
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape: Option<&[u8]> = match b {
            b'"' => Some(b"\\\""),
            b'\\' => Some(b"\\\\"),
            0x08 => Some(b"\\b"),
            0x0c => Some(b"\\f"),
            b'\n' => Some(b"\\n"),
            b'\r' => Some(b"\\r"),
            b'\t' => Some(b"\\t"),
            0x00..=0x1f => None,
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        match escape {
            Some(e) => out.extend_from_slice(e),
            None => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[(b >> 4) as usize]);
                out.push(HEX[(b & 0xf) as usize]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(v: &Value) -> String {
        String::from_utf8(canonicalize(v).unwrap()).unwrap()
    }

    #[test]
    fn sorts_keys_by_utf16_code_units() {
        // U+1F600 (surrogates D83D DE00) sorts before U+FB33 in UTF-16, after it in UTF-8.
        let v = Value::Object(vec![
            ("\u{fb33}".into(), Value::Int(1)),
            ("\u{1f600}".into(), Value::Int(2)),
        ]);
        assert_eq!(canon(&v), "{\"\u{1f600}\":2,\"\u{fb33}\":1}");
    }

    #[test]
    fn refuses_what_json_cannot_carry() {
        assert_eq!(
            canonicalize(&Value::Float(f64::NAN)),
            Err(CanonicalError::NonFinite)
        );
        assert_eq!(
            canonicalize(&Value::Float(f64::INFINITY)),
            Err(CanonicalError::NonFinite)
        );
        assert!(matches!(
            canonicalize(&Value::Int(MAX_SAFE_INTEGER + 1)),
            Err(CanonicalError::IntegerOutOfRange(_))
        ));
        assert_eq!(canon(&Value::Int(-MAX_SAFE_INTEGER)), "-9007199254740991");
        assert!(matches!(
            canonicalize(&Value::BigInt("1".repeat(30))),
            Err(CanonicalError::IntegerOutOfRange(_))
        ));
        assert_eq!(
            canonicalize(&Value::Utf16(vec![0xd800])),
            Err(CanonicalError::LoneSurrogate)
        );
        let dup = Value::Object(vec![("a".into(), Value::Null), ("a".into(), Value::Null)]);
        assert_eq!(
            canonicalize(&dup),
            Err(CanonicalError::DuplicateKey("a".into()))
        );
    }

    #[test]
    fn refuses_deep_nesting_without_recursing_further() {
        let mut v = Value::Null;
        for _ in 0..=MAX_DEPTH {
            v = Value::Array(vec![v]);
        }
        assert_eq!(canonicalize(&v), Err(CanonicalError::TooDeep(MAX_DEPTH)));
    }

    #[test]
    fn escapes_only_what_rfc8785_requires() {
        let v = Value::String("\u{0f}\n\"\\/\u{20ac}\u{7f}".into());
        assert_eq!(canon(&v), "\"\\u000f\\n\\\"\\\\/\u{20ac}\u{7f}\"");
    }

    #[test]
    fn skips_only_the_top_level_member() {
        let v = Value::Object(vec![
            ("sign".into(), Value::Int(1)),
            (
                "b".into(),
                Value::Object(vec![("sign".into(), Value::Int(2))]),
            ),
        ]);
        assert_eq!(
            String::from_utf8(canonicalize_without(&v, "sign").unwrap()).unwrap(),
            "{\"b\":{\"sign\":2}}"
        );
    }
}
