//! Ed25519 identities and the verification policy.
//!
//! Theory of operation: a key is a 32-byte seed (RFC 8032 secret key) that the caller
//! supplies; this module never draws randomness itself. Signing is plain RFC 8032.
//! Verification is *strict* (ed25519-dalek `verify_strict`): S must be canonical (< L),
//! the public key and R must not be of small order, and the cofactorless equation is
//! used. Every node applies the same policy, so nodes never disagree about validity.
//! `docs/CIP_SPEC.md` states the policy and the speccheck vectors pin it.

use std::collections::{HashMap, VecDeque};
use std::sync::{LazyLock, Mutex};

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

/// Length in bytes of a seed, a public key, and a signature.
pub const SEED_LEN: usize = 32;
pub const PUBLIC_KEY_LEN: usize = 32;
pub const SIGNATURE_LEN: usize = 64;

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VerifyError {
    /// The public key is not 32 bytes or not a valid point encoding.
    BadPublicKey,
    /// The signature is not 64 bytes.
    BadSignatureLength,
    /// The signature does not verify under the strict policy.
    Invalid,
}

impl std::fmt::Display for VerifyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            VerifyError::BadPublicKey => "public key is not a valid Ed25519 point",
            VerifyError::BadSignatureLength => "signature is not 64 bytes",
            VerifyError::Invalid => "signature is invalid",
        })
    }
}

/// An Ed25519 signing key built from a caller-supplied seed.
#[derive(Clone)]
pub struct Keypair {
    signing: SigningKey,
}

impl std::fmt::Debug for Keypair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the secret.
        f.debug_struct("Keypair")
            .field("public_key", &hex(&self.public_key()))
            .finish()
    }
}

impl Keypair {
    pub fn from_seed(seed: &[u8; SEED_LEN]) -> Self {
        Keypair {
            signing: SigningKey::from_bytes(seed),
        }
    }

    pub fn seed(&self) -> [u8; SEED_LEN] {
        self.signing.to_bytes()
    }

    pub fn public_key(&self) -> [u8; PUBLIC_KEY_LEN] {
        self.signing.verifying_key().to_bytes()
    }

    pub fn sign(&self, message: &[u8]) -> [u8; SIGNATURE_LEN] {
        self.signing.sign(message).to_bytes()
    }
}

/// Decompressed public keys of recent peers. Decompressing a point costs a field
/// exponentiation on every verification; a node talks to few peers, so a small bounded
/// memo (FIFO eviction) removes that cost from the hot path. It caches only the result
/// of a pure function, so it cannot change any verification outcome.
const KEY_CACHE_CAPACITY: usize = 1024;

#[derive(Default)]
struct KeyCache {
    keys: HashMap<[u8; PUBLIC_KEY_LEN], VerifyingKey>,
    order: VecDeque<[u8; PUBLIC_KEY_LEN]>,
}

static KEY_CACHE: LazyLock<Mutex<KeyCache>> = LazyLock::new(|| Mutex::new(KeyCache::default()));

fn verifying_key(pk: &[u8; PUBLIC_KEY_LEN]) -> Result<VerifyingKey, VerifyError> {
    // A poisoned lock only means another thread panicked mid-insert; the map is still
    // a valid memo, so keep using it.
    let mut cache = KEY_CACHE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(vk) = cache.keys.get(pk) {
        return Ok(*vk);
    }
    let vk = VerifyingKey::from_bytes(pk).map_err(|_| VerifyError::BadPublicKey)?;
    if cache.order.len() >= KEY_CACHE_CAPACITY {
        if let Some(old) = cache.order.pop_front() {
            cache.keys.remove(&old);
        }
    }
    cache.keys.insert(*pk, vk);
    cache.order.push_back(*pk);
    Ok(vk)
}

/// Verify `signature` over `message` under `public_key` with the strict policy.
pub fn verify(public_key: &[u8], message: &[u8], signature: &[u8]) -> Result<(), VerifyError> {
    let pk: [u8; PUBLIC_KEY_LEN] = public_key
        .try_into()
        .map_err(|_| VerifyError::BadPublicKey)?;
    let vk = verifying_key(&pk)?;
    let sig: [u8; SIGNATURE_LEN] = signature
        .try_into()
        .map_err(|_| VerifyError::BadSignatureLength)?;
    vk.verify_strict(message, &Signature::from_bytes(&sig))
        .map_err(|_| VerifyError::Invalid)
}

/// The fingerprint of a public key: lowercase hex of SHA-256 over the raw 32 bytes.
pub fn fingerprint(public_key: &[u8]) -> String {
    hex(&Sha256::digest(public_key))
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 0xf) as usize] as char);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_then_verify_and_tamper() {
        let kp = Keypair::from_seed(&[7u8; 32]);
        let sig = kp.sign(b"hello");
        assert_eq!(verify(&kp.public_key(), b"hello", &sig), Ok(()));
        assert_eq!(
            verify(&kp.public_key(), b"hellO", &sig),
            Err(VerifyError::Invalid)
        );
        assert_eq!(
            verify(&kp.public_key()[..31], b"hello", &sig),
            Err(VerifyError::BadPublicKey)
        );
        assert_eq!(
            verify(&kp.public_key(), b"hello", &sig[..63]),
            Err(VerifyError::BadSignatureLength)
        );
    }

    #[test]
    fn key_cache_stays_bounded_and_correct() {
        let first = Keypair::from_seed(&[1u8; 32]);
        let sig = first.sign(b"m");
        for i in 0..(KEY_CACHE_CAPACITY + 10) {
            let mut seed = [0u8; 32];
            seed[..8].copy_from_slice(&(i as u64).to_le_bytes());
            seed[31] = 0xee;
            let kp = Keypair::from_seed(&seed);
            assert_eq!(verify(&kp.public_key(), b"m", &kp.sign(b"m")), Ok(()));
        }
        let cache = KEY_CACHE.lock().unwrap();
        assert!(cache.keys.len() <= KEY_CACHE_CAPACITY);
        assert_eq!(cache.keys.len(), cache.order.len());
        drop(cache);
        // Evicted or not, the answer is the same.
        assert_eq!(verify(&first.public_key(), b"m", &sig), Ok(()));
        assert_eq!(
            verify(&first.public_key(), b"x", &sig),
            Err(VerifyError::Invalid)
        );
    }

    #[test]
    fn fingerprint_is_sha256_hex() {
        // SHA-256 of 32 zero bytes.
        assert_eq!(
            fingerprint(&[0u8; 32]),
            "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
        );
    }

    #[test]
    fn debug_hides_the_seed() {
        let kp = Keypair::from_seed(&[9u8; 32]);
        assert!(!format!("{kp:?}").contains("0909"));
    }
}
