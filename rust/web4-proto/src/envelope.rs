//! Signing and verifying Web4 envelopes (CIP, HCP and LIP share the shape).
//!
//! Theory of operation: the signed bytes are the RFC 8785 form of the whole envelope
//! without its top-level `sign` member. Verification first checks that
//! `sender.fingerprint` is the fingerprint of `sender.pubkey` (base64 of the raw key),
//! then the signature in `sign.signature` (base64) under that key, with `sign.algo`
//! equal to `"ed25519"`. Structural and schema checks belong to the validator above
//! this layer; here only what verification needs is looked at.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;

use crate::crypto::{self, Keypair};
use crate::error::EnvelopeError;
use crate::jcs::{self, Value};

/// The only signature algorithm envelopes use.
pub const SIGN_ALGO: &str = "ed25519";

/// Sign `envelope` (any `sign` member present is ignored) and return the raw signature.
pub fn sign(envelope: &Value, key: &Keypair) -> Result<[u8; crypto::SIGNATURE_LEN], EnvelopeError> {
    if !matches!(envelope, Value::Object(_)) {
        return Err(EnvelopeError::Invalid(
            "an envelope is a JSON object".into(),
        ));
    }
    let signed = jcs::canonicalize_without(envelope, "sign")?;
    Ok(key.sign(&signed))
}

/// Verify the fingerprint binding and the signature of `envelope` under its
/// `sender.pubkey`.
pub fn verify(envelope: &Value) -> Result<(), EnvelopeError> {
    let sender = field(envelope, "sender")?;
    let pubkey_b64 = string_field(sender, "sender", "pubkey")?;
    let claimed = string_field(sender, "sender", "fingerprint")?;
    let signature = signature_of(envelope)?;
    let pubkey = B64
        .decode(pubkey_b64)
        .map_err(|_| EnvelopeError::BadSignature("sender.pubkey is not base64".into()))?;
    if pubkey.len() != crypto::PUBLIC_KEY_LEN {
        return Err(EnvelopeError::BadSignature(format!(
            "sender.pubkey is {} bytes, expected 32",
            pubkey.len()
        )));
    }
    bound(claimed, &pubkey)?;
    verify_signed(envelope, &pubkey, &signature)
}

/// The key an envelope was verified with (see [`verify_received`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUsed {
    /// Its own `sender.pubkey`.
    Pubkey,
    /// The key the transport authenticated (the envelope names none).
    Transport,
}

/// Verify a received `envelope` as it came (unknown members included): with its
/// `sender.pubkey` when it names one (as [`verify`]), else with `transport_key`, the
/// raw key the transport authenticated for its link (over RTT the PeerId is the
/// Ed25519 key; the original specifications make `pubkey` optional), whose fingerprint
/// `sender.fingerprint` must then be. Neither: [`EnvelopeError::MissingKey`].
pub fn verify_received(
    envelope: &Value,
    transport_key: Option<&[u8; crypto::PUBLIC_KEY_LEN]>,
) -> Result<KeyUsed, EnvelopeError> {
    let sender = field(envelope, "sender")?;
    if sender.get("pubkey").is_some() {
        return verify(envelope).map(|()| KeyUsed::Pubkey);
    }
    let key = transport_key.ok_or(EnvelopeError::MissingKey)?;
    let claimed = string_field(sender, "sender", "fingerprint")?;
    bound(claimed, key)?;
    let signature = signature_of(envelope)?;
    verify_signed(envelope, key, &signature)?;
    Ok(KeyUsed::Transport)
}

/// `claimed` is the fingerprint of `pubkey`.
fn bound(claimed: &str, pubkey: &[u8]) -> Result<(), EnvelopeError> {
    let actual = crypto::fingerprint(pubkey);
    if claimed != actual.as_str() {
        return Err(EnvelopeError::FingerprintMismatch {
            claimed: claimed.to_owned(),
            actual,
        });
    }
    Ok(())
}

/// The raw signature of `sign` (whose algorithm must be ours).
fn signature_of(envelope: &Value) -> Result<Vec<u8>, EnvelopeError> {
    let sign = field(envelope, "sign")?;
    let algo = string_field(sign, "sign", "algo")?;
    let signature_b64 = string_field(sign, "sign", "signature")?;
    if algo != SIGN_ALGO {
        return Err(EnvelopeError::BadSignature(format!(
            "unsupported algorithm {algo:?}"
        )));
    }
    B64.decode(signature_b64)
        .map_err(|_| EnvelopeError::BadSignature("sign.signature is not base64".into()))
}

fn verify_signed(envelope: &Value, pubkey: &[u8], signature: &[u8]) -> Result<(), EnvelopeError> {
    let signed = jcs::canonicalize_without(envelope, "sign")?;
    crypto::verify(pubkey, &signed, signature)
        .map_err(|e| EnvelopeError::BadSignature(e.to_string()))
}

/// Base64 (standard alphabet, padded) of raw bytes: the encoding envelopes use.
pub fn b64encode(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value, EnvelopeError> {
    match v.get(name) {
        Some(inner @ Value::Object(_)) => Ok(inner),
        Some(_) => Err(EnvelopeError::Invalid(format!("{name} must be an object"))),
        None => Err(EnvelopeError::Invalid(format!("missing field {name}"))),
    }
}

fn string_field<'a>(v: &'a Value, parent: &str, name: &str) -> Result<&'a str, EnvelopeError> {
    v.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| EnvelopeError::Invalid(format!("{parent}.{name} must be a string")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(key: &Keypair) -> Value {
        let pk = key.public_key();
        Value::Object(vec![
            ("cip".into(), Value::String("1.0".into())),
            ("type".into(), Value::String("HELLO".into())),
            (
                "sender".into(),
                Value::Object(vec![
                    ("agent_id".into(), Value::String("a".into())),
                    (
                        "fingerprint".into(),
                        Value::String(crypto::fingerprint(&pk)),
                    ),
                    ("pubkey".into(), Value::String(b64encode(&pk))),
                ]),
            ),
            (
                "payload".into(),
                Value::Object(vec![("n".into(), Value::Int(1))]),
            ),
        ])
    }

    fn signed(key: &Keypair) -> Value {
        let mut env = envelope(key);
        let sig = sign(&env, key).unwrap();
        if let Value::Object(m) = &mut env {
            m.push((
                "sign".into(),
                Value::Object(vec![
                    ("algo".into(), Value::String("ed25519".into())),
                    ("signature".into(), Value::String(b64encode(&sig))),
                ]),
            ));
        }
        env
    }

    #[test]
    fn round_trip() {
        let key = Keypair::from_seed(&[1u8; 32]);
        assert_eq!(verify(&signed(&key)), Ok(()));
    }

    #[test]
    fn tampered_payload_fails() {
        let key = Keypair::from_seed(&[1u8; 32]);
        let mut env = signed(&key);
        if let Value::Object(m) = &mut env {
            m[3].1 = Value::Object(vec![("n".into(), Value::Int(2))]);
        }
        assert!(matches!(verify(&env), Err(EnvelopeError::BadSignature(_))));
    }

    #[test]
    fn foreign_fingerprint_fails() {
        let key = Keypair::from_seed(&[1u8; 32]);
        let other = Keypair::from_seed(&[2u8; 32]);
        let mut env = signed(&key);
        if let Value::Object(m) = &mut env {
            if let Value::Object(s) = &mut m[2].1 {
                s[1].1 = Value::String(crypto::fingerprint(&other.public_key()));
            }
        }
        assert!(matches!(
            verify(&env),
            Err(EnvelopeError::FingerprintMismatch { .. })
        ));
    }

    fn without_pubkey(env: &mut Value) {
        if let Value::Object(m) = env {
            if let Value::Object(s) = &mut m[2].1 {
                s.retain(|(k, _)| k != "pubkey");
            }
        }
    }

    #[test]
    fn received_without_pubkey_verifies_with_the_transport_key_only() {
        let key = Keypair::from_seed(&[1u8; 32]);
        let other = Keypair::from_seed(&[2u8; 32]);
        // signed without pubkey, as a peer following the original may send it
        let mut env = envelope(&key);
        without_pubkey(&mut env);
        let sig = sign(&env, &key).unwrap();
        if let Value::Object(m) = &mut env {
            m.push((
                "sign".into(),
                Value::Object(vec![
                    ("algo".into(), Value::String("ed25519".into())),
                    ("signature".into(), Value::String(b64encode(&sig))),
                ]),
            ));
        }
        assert_eq!(
            verify_received(&env, Some(&key.public_key())),
            Ok(KeyUsed::Transport)
        );
        assert_eq!(verify_received(&env, None), Err(EnvelopeError::MissingKey));
        assert!(matches!(
            verify_received(&env, Some(&other.public_key())),
            Err(EnvelopeError::FingerprintMismatch { .. })
        ));
        // with its pubkey the transport key plays no part
        assert_eq!(
            verify_received(&signed(&key), Some(&other.public_key())),
            Ok(KeyUsed::Pubkey)
        );
    }

    #[test]
    fn missing_sign_is_invalid() {
        let key = Keypair::from_seed(&[1u8; 32]);
        assert!(matches!(
            verify(&envelope(&key)),
            Err(EnvelopeError::Invalid(_))
        ));
    }
}
