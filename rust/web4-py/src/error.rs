//! The one place where Rust errors become `web4.errors` exceptions.

use pyo3::prelude::*;
use pyo3::types::PyModule;

use web4_proto::{CanonicalError, EnvelopeError};

/// An instance of `web4.errors.<class_name>` with `message`. If the errors module
/// cannot be imported (a broken install), fall back to RuntimeError saying so.
pub fn raise(class_name: &str, message: String) -> PyErr {
    raise_kind(class_name, message, None)
}

/// As [`raise`], with the RTT error's `kind` attribute (`web4.errors.RTTError.kind`).
pub fn raise_kind(class_name: &str, message: String, kind: Option<&str>) -> PyErr {
    Python::attach(|py| {
        let made = PyModule::import(py, "web4.errors")
            .and_then(|m| m.getattr(class_name))
            .and_then(|cls| match kind {
                Some(k) => {
                    let kwargs = pyo3::types::PyDict::new(py);
                    kwargs.set_item("kind", k)?;
                    cls.call((message.clone(),), Some(&kwargs))
                }
                None => cls.call1((message.clone(),)),
            });
        match made {
            Ok(instance) => PyErr::from_value(instance),
            Err(e) => e,
        }
    })
}

pub fn canonical_err(e: CanonicalError) -> PyErr {
    raise("CanonicalizationError", e.to_string())
}

/// `remote` is true when the envelope came from a peer: then a value that cannot be
/// canonicalized is the peer's fault (InvalidEnvelopeError), not ours.
pub fn envelope_err(e: EnvelopeError, remote: bool) -> PyErr {
    match e {
        EnvelopeError::Invalid(m) if remote => raise("InvalidEnvelopeError", m),
        // We were asked to sign something that is not an envelope: our own misuse.
        EnvelopeError::Invalid(m) => raise("MessageBuildError", m),
        EnvelopeError::Canonical(c) if remote => raise("InvalidEnvelopeError", c.to_string()),
        EnvelopeError::Canonical(c) => canonical_err(c),
        e @ EnvelopeError::FingerprintMismatch { .. } => {
            raise("FingerprintMismatchError", e.to_string())
        }
        EnvelopeError::BadSignature(m) => raise("SignatureMismatchError", m),
    }
}

/// A conversion failure on a peer's envelope is the peer's fault.
pub fn as_remote_input(err: PyErr) -> PyErr {
    Python::attach(|py| {
        let is_canon = PyModule::import(py, "web4.errors")
            .and_then(|m| m.getattr("CanonicalizationError"))
            .map(|cls| err.value(py).is_instance(&cls).unwrap_or(false))
            .unwrap_or(false);
        if is_canon {
            raise("InvalidEnvelopeError", err.value(py).to_string())
        } else {
            err
        }
    })
}
