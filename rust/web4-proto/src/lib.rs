//! web4-proto: the sans-IO core of Web4 Runtime.
//!
//! Theory of operation: every function here is pure. Bytes and values go in, bytes,
//! values and decisions come out; time and randomness are arguments. That keeps the
//! protocol logic testable with `cargo test` alone (no Python, no sockets, no clock),
//! and lets the IO driver (`web4-net`) and the binding (`web4-py`) stay thin.
//!
//! Modules:
//! - [`jcs`]: RFC 8785 canonical JSON over a small [`jcs::Value`] tree.
//! - [`json`]: strict, bounded parsing of received JSON text into that tree (once).
//! - [`rfc3339`]: RFC 3339 timestamps to POSIX seconds (the validator's skew check).
//! - [`crypto`]: Ed25519 keys, signing and the strict verification policy.
//! - [`envelope`]: signing and verifying Web4 envelopes (CIP/HCP/LIP) and fingerprints.
//! - [`session`]: the RTT session layer (frames, seq/ack, resume, replay, heartbeat,
//!   backoff, bounded queues).

pub mod crypto;
pub mod envelope;
pub mod error;
pub mod jcs;
pub mod json;
pub mod rfc3339;
pub mod session;

pub use error::{CanonicalError, EnvelopeError, ParseError, TimestampError};
