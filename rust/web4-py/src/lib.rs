//! `web4._core`: the pyo3 binding. Translation only.
//!
//! Theory of operation: each function converts Python objects into `web4-proto` types,
//! calls the pure core, and converts results and errors back. No protocol logic lives
//! here; errors are mapped to `web4.errors` classes in one place (`error.rs`, typed
//! handles made by `import_exception!`).

mod addr;
mod convert;
mod error;
mod probe;
mod received;
mod rtt;
mod walsync;

use pyo3::prelude::*;
use pyo3::types::PyBytes;

use web4_proto::{crypto, envelope, jcs};

use crate::error::{canonical_err, envelope_err, IdentityError};

/// RFC 8785 canonical bytes of a JSON-like Python value.
#[pyfunction]
fn canonicalize<'py>(py: Python<'py>, obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyBytes>> {
    let value = convert::to_value(obj, None)?;
    let bytes = jcs::canonicalize(&value).map_err(canonical_err)?;
    Ok(PyBytes::new(py, &bytes))
}

/// SHA-256 fingerprint (lowercase hex) of a raw 32-byte public key.
#[pyfunction]
fn fingerprint(public_key: &[u8]) -> PyResult<String> {
    if public_key.len() != crypto::PUBLIC_KEY_LEN {
        return Err(IdentityError::new_err(format!(
            "public key is {} bytes, expected 32",
            public_key.len()
        )));
    }
    Ok(crypto::fingerprint(public_key))
}

/// Strict Ed25519 verification (see `docs/CIP_SPEC.md`): True when valid.
#[pyfunction]
fn verify(py: Python<'_>, public_key: &[u8], message: &[u8], signature: &[u8]) -> bool {
    py.detach(|| crypto::verify(public_key, message, signature).is_ok())
}

/// An Ed25519 signing key made from a caller-supplied 32-byte seed.
#[pyclass(frozen, module = "web4._core")]
struct SigningKey {
    inner: crypto::Keypair,
}

#[pymethods]
impl SigningKey {
    #[new]
    fn new(seed: &[u8]) -> PyResult<Self> {
        let seed: [u8; crypto::SEED_LEN] = seed.try_into().map_err(|_| {
            IdentityError::new_err(format!("an Ed25519 seed is 32 bytes, got {}", seed.len()))
        })?;
        Ok(SigningKey {
            inner: crypto::Keypair::from_seed(&seed),
        })
    }

    /// The raw 32-byte public key.
    #[getter]
    fn public_key<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.public_key())
    }

    /// The raw 32-byte seed (handle with care: this is the secret).
    fn seed<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.seed())
    }

    /// A 64-byte Ed25519 signature over `message`.
    fn sign<'py>(&self, py: Python<'py>, message: &[u8]) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.inner.sign(message))
    }

    /// Base64 signature over the canonical form of `envelope` without its `sign` member.
    fn sign_envelope(&self, envelope: &Bound<'_, PyAny>) -> PyResult<String> {
        let value = convert::to_value(envelope, Some("sign"))?;
        let sig = envelope::sign(&value, &self.inner).map_err(|e| envelope_err(e, false))?;
        Ok(envelope::b64encode(&sig))
    }

    fn __repr__(&self) -> String {
        format!(
            "SigningKey(fingerprint={})",
            crypto::fingerprint(&self.inner.public_key())
        )
    }
}

/// Verify an envelope's fingerprint binding and signature; raise on failure.
#[pyfunction]
fn verify_envelope(envelope: &Bound<'_, PyAny>) -> PyResult<()> {
    let value = convert::to_value(envelope, None).map_err(error::as_remote_input)?;
    envelope::verify(&value).map_err(|e| envelope_err(e, true))
}

/// Benchmark floor: `rounds` thread hand-off round trips in microseconds, sorted (see
/// `web4_net::floor`). Releases the GIL.
#[pyfunction]
fn thread_handoff_round_trips_us(py: Python<'_>, rounds: usize) -> Vec<f64> {
    py.detach(|| web4_net::floor::handoff_round_trips(rounds))
        .into_iter()
        .map(|d| d.as_secs_f64() * 1e6)
        .collect()
}

/// Benchmark floor under the setup figure: `rounds` bare libp2p dials (TCP + Noise XX +
/// yamux, no behaviour, one thread) in microseconds, sorted (see `web4_net::floor`).
/// Releases the GIL.
///
/// Errors: `RuntimeError` when a dial fails.
#[pyfunction]
fn stack_setups_us(py: Python<'_>, rounds: usize) -> PyResult<Vec<f64>> {
    let d = py
        .detach(|| web4_net::floor::stack_setups(rounds))
        .map_err(pyo3::exceptions::PyRuntimeError::new_err)?;
    Ok(d.into_iter().map(|d| d.as_secs_f64() * 1e6).collect())
}

#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("MAX_DEPTH", jcs::MAX_DEPTH)?;
    m.add_function(wrap_pyfunction!(canonicalize, m)?)?;
    m.add_function(wrap_pyfunction!(fingerprint, m)?)?;
    m.add_function(wrap_pyfunction!(verify, m)?)?;
    m.add_function(wrap_pyfunction!(verify_envelope, m)?)?;
    m.add_function(wrap_pyfunction!(received::parse_envelope, m)?)?;
    m.add_function(wrap_pyfunction!(received::parse_timestamp, m)?)?;
    m.add_function(wrap_pyfunction!(thread_handoff_round_trips_us, m)?)?;
    m.add_function(wrap_pyfunction!(stack_setups_us, m)?)?;
    m.add_function(wrap_pyfunction!(addr::peer_id_public_key, m)?)?;
    m.add_function(wrap_pyfunction!(addr::parse_multiaddr, m)?)?;
    m.add_function(wrap_pyfunction!(addr::peer_id_of, m)?)?;
    m.add_class::<SigningKey>()?;
    m.add_class::<received::ReceivedEnvelope>()?;
    m.add_class::<rtt::RttNode>()?;
    m.add_class::<rtt::RttSession>()?;
    m.add_class::<probe::RawProbe>()?;
    m.add_class::<walsync::WalSync>()?;
    Ok(())
}
