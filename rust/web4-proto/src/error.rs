//! Error types of the protocol core. The binding maps each variant to one Python class
//! of `web4.errors`, so a variant says whose fault it is (local misuse vs remote input).

use thiserror::Error;

/// A value that RFC 8785 cannot represent, or that breaks our structural limits.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum CanonicalError {
    #[error("NaN and infinities have no JSON form")]
    NonFinite,
    #[error("integer {0} is outside the range a JSON number carries exactly (|n| <= 2^53 - 1)")]
    IntegerOutOfRange(String),
    #[error("duplicate object key {0:?}")]
    DuplicateKey(String),
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    #[error("string is not valid Unicode (lone surrogate)")]
    LoneSurrogate,
}

/// Why received JSON text was refused (docs/CIP_SPEC.md §2). All of it is the sender's
/// fault; the messages are the ones the validator has always given.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum ParseError {
    #[error("envelope is {size} bytes, limit {limit}")]
    TooLarge { size: usize, limit: usize },
    #[error("envelope is not UTF-8")]
    NotUtf8,
    #[error("nested deeper than {0}")]
    TooDeep(usize),
    #[error("duplicate object key {0:?}")]
    DuplicateKey(String),
    #[error("number {0} overflows a double")]
    Overflow(String),
    #[error("envelope is not JSON: an integer of more than {0} digits")]
    IntegerTooLong(usize),
    #[error("{0} is not JSON")]
    NotJson(&'static str),
    #[error("object key is not valid Unicode (lone surrogate)")]
    KeyNotUnicode,
    #[error("envelope is not JSON: {message} at byte {at}")]
    Syntax { message: &'static str, at: usize },
}

/// Why an envelope could not be signed or verified.
#[derive(Debug, Error, Clone, PartialEq)]
pub enum EnvelopeError {
    /// The envelope lacks a field verification needs, or it has the wrong type.
    #[error("invalid envelope: {0}")]
    Invalid(String),
    /// The envelope cannot be canonicalized.
    #[error(transparent)]
    Canonical(#[from] CanonicalError),
    /// `sender.fingerprint` is not the fingerprint of `sender.pubkey`.
    #[error("fingerprint {claimed} does not match the public key (expected {actual})")]
    FingerprintMismatch { claimed: String, actual: String },
    /// The signature does not verify under the sender's key, or is malformed.
    #[error("signature does not verify: {0}")]
    BadSignature(String),
    /// The envelope names no `sender.pubkey` and no transport-authenticated key was given.
    #[error(
        "sender.pubkey is absent and the transport authenticated no key for this link: \
         nothing to verify the signature with"
    )]
    MissingKey,
}

/// Why a timestamp was refused (docs/CIP_SPEC.md §1, "Timestamps"; the validator's
/// step 5). Each carries the text as received (the syntax error at most 80 characters).
#[derive(Debug, Error, Clone, PartialEq)]
pub enum TimestampError {
    #[error("timestamp {0:?} is not an RFC 3339 date-time")]
    NotRfc3339(String),
    #[error("timestamp {0:?} is not a real date")]
    NotRealDate(String),
    #[error("timestamp {0:?} is not a real time of day")]
    NotRealTime(String),
    #[error("timestamp {0:?} has an offset beyond 23:59")]
    OffsetBeyond(String),
    #[error("timestamp {0:?}: second 60 only at 23:59:60 UTC on a month's last day")]
    LeapSecond(String),
}
