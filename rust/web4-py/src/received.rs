//! `ReceivedEnvelope`: an envelope's bytes parsed once, verified from the same tree.
//!
//! Theory of operation: `parse_envelope(data, max_bytes, max_depth)` runs the strict,
//! bounded parser (`web4_proto::json`) over the bytes as received and keeps the tree;
//! `value` is that tree as plain Python values, for the schema checks, which run in
//! Python before the signature is looked at (docs/CIP_SPEC.md §5: check 2 before 3).
//! `verify(transport_key)` then canonicalizes the same tree (RFC 8785, without `sign`)
//! and checks the fingerprint and the strict Ed25519 signature (`web4_proto::envelope::
//! verify_received`), with the GIL released. Nothing is parsed or canonicalized twice.
//! `ReceivedEnvelope.of(mapping)` wraps an already-decoded envelope (tests, callers
//! holding a dict): it is converted to a tree only when verified, as before.

use pyo3::prelude::*;

use web4_proto::crypto::PUBLIC_KEY_LEN;
use web4_proto::envelope::{self, KeyUsed};
use web4_proto::jcs::Value;
use web4_proto::json::{self, Limits};
use web4_proto::rfc3339;

use crate::convert;
use crate::error::{self, envelope_err, parse_err, timestamp_err, IdentityError};

#[derive(Debug)]
enum Tree {
    Parsed(Value),
    /// An already-decoded envelope: converted when verified.
    Python(Py<PyAny>),
}

/// An envelope as received: its Python value, and its tree for verification.
#[derive(Debug)]
#[pyclass(frozen, module = "web4._core")]
pub struct ReceivedEnvelope {
    tree: Tree,
    value: Py<PyAny>,
    size: usize,
    depth: usize,
}

#[pymethods]
impl ReceivedEnvelope {
    /// Wrap an already-decoded envelope (its limits are the caller's to check).
    #[staticmethod]
    fn of(value: Bound<'_, PyAny>) -> Self {
        ReceivedEnvelope {
            tree: Tree::Python(value.clone().unbind()),
            value: value.unbind(),
            size: 0,
            depth: 0,
        }
    }

    /// The envelope as plain Python values (what `json.loads` gives).
    #[getter]
    fn value(&self, py: Python<'_>) -> Py<PyAny> {
        self.value.clone_ref(py)
    }

    /// Bytes of JSON text parsed (0 for `of`).
    #[getter]
    fn size(&self) -> usize {
        self.size
    }

    /// Deepest nesting of objects and arrays (the envelope object is 1; 0 for `of`).
    #[getter]
    fn depth(&self) -> usize {
        self.depth
    }

    /// Check the fingerprint binding and the signature over the envelope as received.
    /// The key is `sender.pubkey`, or when the envelope names none, `transport_key`
    /// (the raw 32-byte key the transport authenticated). Returns the base64 of
    /// `transport_key` when it was the key used, else None. Raises
    /// `MissingPublicKeyError`, `FingerprintMismatchError`, `SignatureMismatchError`,
    /// `InvalidEnvelopeError` (no canonical form), `IdentityError` (a needed
    /// `transport_key` that is not 32 bytes: our misuse).
    #[pyo3(signature = (transport_key=None))]
    fn verify(&self, py: Python<'_>, transport_key: Option<&[u8]>) -> PyResult<Option<String>> {
        let converted;
        let tree = match &self.tree {
            Tree::Parsed(v) => v,
            Tree::Python(obj) => {
                converted =
                    convert::to_value(obj.bind(py), None).map_err(error::as_remote_input)?;
                &converted
            }
        };
        let key: Option<[u8; PUBLIC_KEY_LEN]> = match transport_key {
            None => None,
            Some(k) => match k.try_into() {
                Ok(k) => Some(k),
                Err(_) if names_pubkey(tree) => None,
                Err(_) => {
                    return Err(IdentityError::new_err(format!(
                        "public key is {} bytes, expected 32",
                        k.len()
                    )))
                }
            },
        };
        let used = py
            .detach(|| envelope::verify_received(tree, key.as_ref()))
            .map_err(|e| envelope_err(e, true))?;
        Ok(match (used, key) {
            (KeyUsed::Transport, Some(k)) => Some(envelope::b64encode(&k)),
            _ => None,
        })
    }

    fn __repr__(&self) -> String {
        format!("ReceivedEnvelope(size={}, depth={})", self.size, self.depth)
    }
}

fn names_pubkey(tree: &Value) -> bool {
    tree.get("sender").and_then(|s| s.get("pubkey")).is_some()
}

/// Parse envelope bytes once (strict JSON within the limits; docs/CIP_SPEC.md §2).
/// Raises `InvalidEnvelopeError`.
#[pyfunction]
pub fn parse_envelope(
    py: Python<'_>,
    data: &[u8],
    max_bytes: usize,
    max_depth: usize,
) -> PyResult<ReceivedEnvelope> {
    let parsed = json::parse(
        data,
        Limits {
            max_bytes,
            max_depth,
        },
    )
    .map_err(parse_err)?;
    let value = convert::to_python(py, &parsed.value)?.unbind();
    Ok(ReceivedEnvelope {
        tree: Tree::Parsed(parsed.value),
        value,
        size: data.len(),
        depth: parsed.depth,
    })
}

/// Seconds since the epoch (POSIX time, UTC) of an RFC 3339 `date-time` (step 5 of the
/// validator; `web4_proto::rfc3339`). Raises `TimestampError`.
#[pyfunction]
pub fn parse_timestamp(value: &str) -> PyResult<f64> {
    rfc3339::parse(value).map_err(timestamp_err)
}
