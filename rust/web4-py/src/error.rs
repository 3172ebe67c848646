//! The one place where Rust errors become `web4.errors` exceptions.
//!
//! Theory of operation: every class is a typed handle made by `import_exception!`
//! (imported once, on first use, then cached by pyo3), so a raise neither looks a class
//! up by name nor imports a module. An RTT error's reason is [`RttKind`], set by Rust as
//! the exception's `kind` attribute: a member of the Python enum
//! `web4.errors.RTTErrorKind`, for programs to act on without reading the message.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyType};
use pyo3::PyTypeInfo;

use web4_proto::{CanonicalError, EnvelopeError, ParseError};

pyo3::import_exception!(web4.errors, CanonicalizationError);
pyo3::import_exception!(web4.errors, ConfigError);
pyo3::import_exception!(web4.errors, IdentityError);
pyo3::import_exception!(web4.errors, InvalidEnvelopeError);
pyo3::import_exception!(web4.errors, MissingPublicKeyError);
pyo3::import_exception!(web4.errors, MessageBuildError);
pyo3::import_exception!(web4.errors, SignatureMismatchError);
pyo3::import_exception!(web4.errors, TimestampError);
pyo3::import_exception!(web4.errors, FingerprintMismatchError);
pyo3::import_exception!(web4.errors, RTTHandshakeError);
pyo3::import_exception!(web4.errors, RTTTransportError);
pyo3::import_exception!(web4.errors, RTTBackpressureError);
pyo3::import_exception!(web4.errors, RTTReplayError);

/// What an RTT error says failed: `web4.errors.RTTErrorKind` (docs/RTT_SPEC.md §11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RttKind {
    Refused,
    Timeout,
    Unreachable,
    Handshake,
    PeerIdMismatch,
    Other,
    Transport,
    Closed,
    Malformed,
    UnsupportedProtocol,
    Backpressure,
    Replay,
}

impl RttKind {
    /// The name of the Python enum member.
    fn member(self) -> &'static str {
        match self {
            Self::Refused => "REFUSED",
            Self::Timeout => "TIMEOUT",
            Self::Unreachable => "UNREACHABLE",
            Self::Handshake => "HANDSHAKE",
            Self::PeerIdMismatch => "PEER_ID_MISMATCH",
            Self::Other => "OTHER",
            Self::Transport => "TRANSPORT",
            Self::Closed => "CLOSED",
            Self::Malformed => "MALFORMED",
            Self::UnsupportedProtocol => "UNSUPPORTED_PROTOCOL",
            Self::Backpressure => "BACKPRESSURE",
            Self::Replay => "REPLAY",
        }
    }

    /// The kind of its value (the enum's string form); `Other` for a name it does not know.
    pub fn from_value(value: &str) -> Self {
        match value {
            "refused" => Self::Refused,
            "timeout" => Self::Timeout,
            "unreachable" => Self::Unreachable,
            "handshake" => Self::Handshake,
            "peer_id_mismatch" => Self::PeerIdMismatch,
            "transport" => Self::Transport,
            "closed" => Self::Closed,
            "malformed" => Self::Malformed,
            "unsupported_protocol" => Self::UnsupportedProtocol,
            "backpressure" => Self::Backpressure,
            "replay" => Self::Replay,
            _ => Self::Other,
        }
    }
}

/// An instance of the RTT error class `E` with `message` and `kind` set.
pub fn rtt_error<E: PyTypeInfo>(kind: RttKind, message: String) -> PyErr {
    static KIND: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    Python::attach(|py| {
        let made = KIND
            .import(py, "web4.errors", "RTTErrorKind")
            .and_then(|k| k.getattr(kind.member()))
            .and_then(|k| {
                let kwargs = PyDict::new(py);
                kwargs.set_item("kind", k)?;
                py.get_type::<E>().call((message,), Some(&kwargs))
            });
        match made {
            Ok(instance) => PyErr::from_value(instance),
            Err(e) => e,
        }
    })
}

/// By class name, for callers that still name classes (`probe.rs`): prefer the typed
/// handles above. An unknown name is a `RuntimeError` saying so.
pub fn raise(class_name: &str, message: String) -> PyErr {
    match class_name {
        "ConfigError" => ConfigError::new_err(message),
        "CanonicalizationError" => CanonicalizationError::new_err(message),
        "IdentityError" => IdentityError::new_err(message),
        "RTTHandshakeError" => rtt_error::<RTTHandshakeError>(RttKind::Handshake, message),
        "RTTTransportError" => rtt_error::<RTTTransportError>(RttKind::Transport, message),
        other => pyo3::exceptions::PyRuntimeError::new_err(format!("{other}: {message}")),
    }
}

/// As [`raise`], with the RTT error's kind given by its value (`"refused"`, ...).
pub fn raise_kind(class_name: &str, message: String, kind: Option<&str>) -> PyErr {
    let k = kind.map(RttKind::from_value);
    match (class_name, k) {
        ("RTTHandshakeError", Some(k)) => rtt_error::<RTTHandshakeError>(k, message),
        ("RTTTransportError", Some(k)) => rtt_error::<RTTTransportError>(k, message),
        _ => raise(class_name, message),
    }
}

pub fn canonical_err(e: CanonicalError) -> PyErr {
    CanonicalizationError::new_err(e.to_string())
}

/// `remote` is true when the envelope came from a peer: then a value that cannot be
/// canonicalized is the peer's fault (InvalidEnvelopeError), not ours.
pub fn envelope_err(e: EnvelopeError, remote: bool) -> PyErr {
    match e {
        EnvelopeError::Invalid(m) if remote => InvalidEnvelopeError::new_err(m),
        // We were asked to sign something that is not an envelope: our own misuse.
        EnvelopeError::Invalid(m) => MessageBuildError::new_err(m),
        EnvelopeError::Canonical(c) if remote => InvalidEnvelopeError::new_err(c.to_string()),
        EnvelopeError::Canonical(c) => canonical_err(c),
        e @ EnvelopeError::FingerprintMismatch { .. } => {
            FingerprintMismatchError::new_err(e.to_string())
        }
        EnvelopeError::BadSignature(m) => SignatureMismatchError::new_err(m),
        e @ EnvelopeError::MissingKey => MissingPublicKeyError::new_err(e.to_string()),
    }
}

/// A received timestamp that was refused: the sender's fault.
pub fn timestamp_err(e: web4_proto::TimestampError) -> PyErr {
    TimestampError::new_err(e.to_string())
}

/// Received JSON text that was refused: always the sender's fault.
pub fn parse_err(e: ParseError) -> PyErr {
    InvalidEnvelopeError::new_err(e.to_string())
}

/// A conversion failure on a peer's envelope is the peer's fault.
pub fn as_remote_input(err: PyErr) -> PyErr {
    Python::attach(|py| {
        if err.is_instance_of::<CanonicalizationError>(py) {
            InvalidEnvelopeError::new_err(err.value(py).to_string())
        } else {
            err
        }
    })
}
