//! Strict, bounded JSON parsing of received envelope bytes into a [`jcs::Value`].
//!
//! Theory of operation: an envelope's bytes are parsed once, here, and the same tree is
//! then both canonicalized for its signature ([`crate::envelope`]) and handed to the
//! schema checks above (the binding turns it into Python values). The grammar is RFC
//! 8259's, with the limits the validator promises (docs/CIP_SPEC.md §2), each checked
//! before it can cost more than a linear pass over at most `max_bytes` bytes:
//! size first, then UTF-8, then nesting (refused the moment it goes one level too deep,
//! so recursion is bounded by `max_depth`), duplicate object keys (anywhere; sorted, so
//! an object of many keys costs n log n), and numbers a double cannot carry (`1e400`).
//! `NaN` and `Infinity` are not JSON.
//!
//! What JSON text can carry but RFC 8785 cannot is kept, not refused, so that the check
//! that meets it first decides (a schema check may refuse the envelope before its
//! signature is looked at): integers beyond i64 ([`Value::BigInt`], their decimal text)
//! and strings with a lone surrogate escape such as `"\ud800"` ([`Value::Utf16`]).
//! Canonicalization refuses both. Object keys must be Unicode: a key with a lone
//! surrogate is refused here. An integer of more than 4300 digits is refused here too
//! (the limit CPython puts on int conversion).

use crate::error::ParseError;
use crate::jcs::{Value, MAX_DEPTH};

/// Bounds on the input, checked before any recursive work.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest accepted input, in bytes of JSON text.
    pub max_bytes: usize,
    /// Deepest nesting of objects and arrays; the top-level value is depth 1. Values
    /// above [`MAX_DEPTH`] are treated as [`MAX_DEPTH`].
    pub max_depth: usize,
}

/// A parsed document and what the limits saw of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub value: Value,
    /// Deepest nesting of objects and arrays met (0 for a scalar).
    pub depth: usize,
}

/// Longest integer literal accepted, in digits (CPython's default int conversion bound).
pub const MAX_INT_DIGITS: usize = 4300;

/// Parse `data` as one JSON value within `limits`.
///
/// Errors: [`ParseError`], one variant per refused property of the input.
pub fn parse(data: &[u8], limits: Limits) -> Result<Parsed, ParseError> {
    if data.len() > limits.max_bytes {
        return Err(ParseError::TooLarge {
            size: data.len(),
            limit: limits.max_bytes,
        });
    }
    let text = std::str::from_utf8(data).map_err(|_| ParseError::NotUtf8)?;
    let mut p = Parser {
        text,
        b: data,
        i: 0,
        max_depth: limits.max_depth.min(MAX_DEPTH),
        depth: 0,
    };
    p.ws();
    let value = p.value(1)?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.syntax("extra data after the value"));
    }
    Ok(Parsed {
        value,
        depth: p.depth,
    })
}

struct Parser<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
    max_depth: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn syntax(&self, message: &'static str) -> ParseError {
        ParseError::Syntax {
            message,
            at: self.i,
        }
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn literal(&mut self, word: &'static str, value: Value) -> Result<Value, ParseError> {
        if self.b[self.i..].starts_with(word.as_bytes()) {
            self.i += word.len();
            Ok(value)
        } else {
            Err(self.syntax("expecting a value"))
        }
    }

    /// One value at nesting `depth` (the depth an array or object here would have).
    fn value(&mut self, depth: usize) -> Result<Value, ParseError> {
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string(),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b't') => self.literal("true", Value::Bool(true)),
            Some(b'f') => self.literal("false", Value::Bool(false)),
            Some(b'n') => self.literal("null", Value::Null),
            Some(b'N' | b'I') => Err(ParseError::NotJson("NaN and Infinity")),
            _ => Err(self.syntax("expecting a value")),
        }
    }

    fn enter(&mut self, depth: usize) -> Result<(), ParseError> {
        if depth > self.max_depth {
            return Err(ParseError::TooDeep(self.max_depth));
        }
        self.depth = self.depth.max(depth);
        self.i += 1; // the opening bracket
        self.ws();
        Ok(())
    }

    fn array(&mut self, depth: usize) -> Result<Value, ParseError> {
        self.enter(depth)?;
        let mut items = Vec::with_capacity(4);
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(Value::Array(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b']') => {
                    self.i += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.syntax("expecting ',' or ']'")),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, ParseError> {
        self.enter(depth)?;
        let mut members: Vec<(String, Value)> = Vec::with_capacity(8);
        if self.peek() == Some(b'}') {
            self.i += 1;
            return Ok(Value::Object(members));
        }
        loop {
            if self.peek() != Some(b'"') {
                return Err(self.syntax("expecting a string key"));
            }
            let key = match self.string()? {
                Value::String(s) => s,
                _ => return Err(ParseError::KeyNotUnicode),
            };
            self.ws();
            if self.peek() != Some(b':') {
                return Err(self.syntax("expecting ':'"));
            }
            self.i += 1;
            self.ws();
            let value = self.value(depth + 1)?;
            members.push((key, value));
            self.ws();
            match self.peek() {
                Some(b',') => {
                    self.i += 1;
                    self.ws();
                }
                Some(b'}') => {
                    self.i += 1;
                    break;
                }
                _ => return Err(self.syntax("expecting ',' or '}'")),
            }
        }
        no_duplicates(&members)?;
        Ok(Value::Object(members))
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        let digits_start = self.i;
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => self.digits(),
            Some(b'I') => return Err(ParseError::NotJson("NaN and Infinity")),
            _ => return Err(self.syntax("expecting a digit")),
        }
        let int_end = self.i;
        let mut integer = true;
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.syntax("expecting a digit after '.'"));
            }
            self.digits();
            integer = false;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(self.syntax("expecting a digit in the exponent"));
            }
            self.digits();
            integer = false;
        }
        let literal = &self.text[start..self.i];
        if integer {
            if int_end - digits_start > MAX_INT_DIGITS {
                return Err(ParseError::IntegerTooLong(MAX_INT_DIGITS));
            }
            return Ok(match literal.parse::<i64>() {
                Ok(n) => Value::Int(n),
                // "-0" is 0 (as integer parsing gives); beyond i64: kept as text.
                Err(_) => Value::BigInt(literal.to_owned()),
            });
        }
        match literal.parse::<f64>() {
            Ok(f) if f.is_finite() => Ok(Value::Float(f)),
            _ => Err(ParseError::Overflow(literal.chars().take(32).collect())),
        }
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    /// A string at `self.i` (the opening quote). Text without escapes is one copy.
    fn string(&mut self) -> Result<Value, ParseError> {
        self.i += 1;
        let start = self.i;
        // the plain run: up to a quote, a backslash or a control character
        self.i += self.b[start..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
            .unwrap_or(self.b.len() - start);
        match self.peek() {
            Some(b'"') => {
                let s = self.text[start..self.i].to_owned();
                self.i += 1;
                return Ok(Value::String(s));
            }
            Some(b'\\') => {}
            Some(_) => return Err(self.syntax("control character in a string")),
            None => return Err(self.syntax("unterminated string")),
        }
        // With escapes: decode into a String, or into UTF-16 code units once a lone
        // surrogate shows up (Unicode text cannot hold one).
        let mut text = String::from(&self.text[start..self.i]);
        let mut units: Option<Vec<u16>> = None;
        loop {
            let run = self.i;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.i += 1;
            }
            let chunk = &self.text[run..self.i];
            match &mut units {
                Some(u) => u.extend(chunk.encode_utf16()),
                None => text.push_str(chunk),
            }
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(match units {
                        Some(u) => Value::Utf16(u),
                        None => Value::String(text),
                    });
                }
                Some(b'\\') => {}
                Some(_) => return Err(self.syntax("control character in a string")),
                None => return Err(self.syntax("unterminated string")),
            }
            self.i += 1; // the backslash
            let escaped = match self.peek() {
                Some(b'"') => '"',
                Some(b'\\') => '\\',
                Some(b'/') => '/',
                Some(b'b') => '\u{8}',
                Some(b'f') => '\u{c}',
                Some(b'n') => '\n',
                Some(b'r') => '\r',
                Some(b't') => '\t',
                Some(b'u') => {
                    self.i += 1;
                    let unit = self.hex4()?;
                    let c = if (0xd800..0xdc00).contains(&unit) && self.low_follows() {
                        let low = self.hex4_at(self.i + 2)?;
                        self.i += 6;
                        let c = 0x10000
                            + ((u32::from(unit) - 0xd800) << 10)
                            + (u32::from(low) - 0xdc00);
                        char::from_u32(c)
                    } else {
                        char::from_u32(u32::from(unit))
                    };
                    match (c, &mut units) {
                        (Some(c), Some(u)) => {
                            let mut buf = [0u16; 2];
                            u.extend_from_slice(c.encode_utf16(&mut buf));
                        }
                        (Some(c), None) => text.push(c),
                        (None, Some(u)) => u.push(unit),
                        (None, None) => {
                            let mut u: Vec<u16> = text.encode_utf16().collect();
                            u.push(unit);
                            units = Some(u);
                        }
                    }
                    continue;
                }
                _ => return Err(self.syntax("invalid escape")),
            };
            self.i += 1;
            match &mut units {
                Some(u) => u.push(escaped as u16),
                None => text.push(escaped),
            }
        }
    }

    /// Four hex digits at `self.i`, consumed.
    fn hex4(&mut self) -> Result<u16, ParseError> {
        let unit = self.hex4_at(self.i)?;
        self.i += 4;
        Ok(unit)
    }

    fn hex4_at(&self, at: usize) -> Result<u16, ParseError> {
        let digits = self
            .b
            .get(at..at + 4)
            .ok_or_else(|| self.syntax("invalid \\u escape"))?;
        let mut unit = 0u16;
        for &d in digits {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return Err(self.syntax("invalid \\u escape")),
            };
            unit = unit << 4 | u16::from(v);
        }
        Ok(unit)
    }

    /// Does a `\u` escape of a low surrogate follow at `self.i`?
    fn low_follows(&self) -> bool {
        self.b.get(self.i..self.i + 2) == Some(b"\\u".as_slice())
            && matches!(self.hex4_at(self.i + 2), Ok(low) if (0xdc00..0xe000).contains(&low))
    }
}

/// Refuse an object that has a key twice: n log n however many members it has.
fn no_duplicates(members: &[(String, Value)]) -> Result<(), ParseError> {
    if members.len() <= 8 {
        for (i, (k, _)) in members.iter().enumerate() {
            if members[..i].iter().any(|(other, _)| other == k) {
                return Err(ParseError::DuplicateKey(k.clone()));
            }
        }
        return Ok(());
    }
    let mut keys: Vec<&str> = members.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    match keys.windows(2).find(|w| w[0] == w[1]) {
        Some(w) => Err(ParseError::DuplicateKey(w[0].to_owned())),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        max_bytes: 1 << 20,
        max_depth: 8,
    };

    fn ok(text: &str) -> Value {
        parse(text.as_bytes(), LIMITS).unwrap().value
    }

    fn err(text: &[u8]) -> ParseError {
        parse(text, LIMITS).unwrap_err()
    }

    #[test]
    fn parses_what_json_allows() {
        assert_eq!(
            ok(" {\"a\" : [1, -0, 2.5e1, true, null, \"x\"]}\n"),
            Value::Object(vec![(
                "a".into(),
                Value::Array(vec![
                    Value::Int(1),
                    Value::Int(0),
                    Value::Float(25.0),
                    Value::Bool(true),
                    Value::Null,
                    Value::String("x".into()),
                ])
            )])
        );
        assert_eq!(ok("-0.0"), Value::Float(-0.0));
        assert_eq!(ok("5e-324"), Value::Float(5e-324));
        assert_eq!(ok("1e-400"), Value::Float(0.0));
    }

    #[test]
    fn escapes_and_surrogates() {
        assert_eq!(
            ok(r#""\"\\\/\b\f\n\r\t\u00e9\uD83D\ude00""#),
            Value::String("\"\\/\u{8}\u{c}\n\r\t\u{e9}\u{1f600}".into())
        );
        assert_eq!(ok(r#""a\ud800b""#), Value::Utf16(vec![0x61, 0xd800, 0x62]));
        assert_eq!(ok(r#""\udc00""#), Value::Utf16(vec![0xdc00]));
        // a high surrogate followed by another high one: both lone
        assert_eq!(
            ok(r#""\ud800\ud800é""#),
            Value::Utf16(vec![0xd800, 0xd800, 0xe9])
        );
        assert_eq!(err(br#"{"\ud800":1}"#), ParseError::KeyNotUnicode);
    }

    #[test]
    fn numbers_beyond_i64_are_kept_as_text_and_overflow_is_refused() {
        assert_eq!(
            ok("-9223372036854775809"),
            Value::BigInt("-9223372036854775809".into())
        );
        assert_eq!(ok("9223372036854775807"), Value::Int(i64::MAX));
        assert!(matches!(err(b"1e400"), ParseError::Overflow(_)));
        assert!(matches!(err(b"-1e400"), ParseError::Overflow(_)));
        let long = format!("1{}", "0".repeat(MAX_INT_DIGITS));
        assert_eq!(
            err(long.as_bytes()),
            ParseError::IntegerTooLong(MAX_INT_DIGITS)
        );
        let at_limit = format!("-1{}", "0".repeat(MAX_INT_DIGITS - 1));
        assert!(matches!(ok(&at_limit), Value::BigInt(_)));
    }

    #[test]
    fn refuses_what_json_does_not_allow() {
        for bad in [
            &b""[..],
            b"NaN",
            b"-Infinity",
            b"{\"a\":Infinity}",
            b"01",
            b"1.",
            b".5",
            b"1e",
            b"+1",
            b"[1,]",
            b"{\"a\":1,}",
            b"{a:1}",
            b"\"\x01\"",
            b"\"\\x\"",
            b"\"\\u12g4\"",
            b"[1] [2]",
            b"\xef\xbb\xbf{}",
            b"tru",
            b"\"abc",
            b"\x0c1",
        ] {
            assert!(parse(bad, LIMITS).is_err(), "{bad:?}");
        }
        assert_eq!(err(b"\xff"), ParseError::NotUtf8);
        assert_eq!(err(b"\"\xed\xa0\x80\""), ParseError::NotUtf8);
    }

    #[test]
    fn limits() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert_eq!(parse(deep(8).as_bytes(), LIMITS).unwrap().depth, 8);
        assert_eq!(err(deep(9).as_bytes()), ParseError::TooDeep(8));
        let three = Limits {
            max_bytes: 64,
            max_depth: 3,
        };
        assert_eq!(parse(b"[{\"a\":[]}]", three).unwrap().depth, 3);
        assert_eq!(parse(b"[{\"a\":[{}]}]", three), Err(ParseError::TooDeep(3)));
        let small = Limits {
            max_bytes: 4,
            max_depth: 8,
        };
        assert_eq!(
            parse(b"12345", small),
            Err(ParseError::TooLarge { size: 5, limit: 4 })
        );
        assert!(parse(b"1234", small).is_ok());
    }

    #[test]
    fn duplicate_keys_anywhere() {
        assert_eq!(
            err(br#"{"a":{"b":1,"b":2}}"#),
            ParseError::DuplicateKey("b".into())
        );
        let many: Vec<String> = (0..1000).map(|i| format!("\"k{i}\":0")).collect();
        let text = format!("{{{},\"k500\":1}}", many.join(","));
        assert_eq!(
            err(text.as_bytes()),
            ParseError::DuplicateKey("k500".into())
        );
        assert!(parse(format!("{{{}}}", many.join(",")).as_bytes(), LIMITS).is_ok());
        // an escaped key equal to a plain one is the same key
        assert_eq!(
            err(br#"{"a":1,"\u0061":2}"#),
            ParseError::DuplicateKey("a".into())
        );
    }
}
