//! One Ed25519 key, two names: the libp2p PeerId and the CIP fingerprint.
//!
//! Theory of operation: the node's `web4.Identity` seed (32 bytes) becomes the libp2p
//! keypair directly, so the key that signs envelopes is the key Noise authenticates.
//! PeerId = identity multihash (code 0x00) of the protobuf-encoded public key
//! (`KeyType = Ed25519 (1)`, `Data = raw 32 bytes`), printed in base58btc
//! (`12D3KooW…`). Fingerprint = lowercase hex SHA-256 of the raw 32-byte public key.
//! Either can be computed from the other's raw key (the binding does, with libp2p's
//! types).

use libp2p::identity::Keypair;

use crate::NetError;

/// The libp2p keypair of a 32-byte Ed25519 seed.
///
/// Errors: `Config` when the seed is not 32 bytes.
pub fn keypair_from_seed(seed: &[u8]) -> Result<Keypair, NetError> {
    let mut bytes: [u8; 32] = seed.try_into().map_err(|_| {
        NetError::Config(format!("an Ed25519 seed is 32 bytes, got {}", seed.len()))
    })?;
    Keypair::ed25519_from_bytes(&mut bytes).map_err(|e| NetError::Config(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_peer_id_and_raw_key_agree() {
        let kp = keypair_from_seed(&[7u8; 32]).unwrap();
        let pid = kp.public().to_peer_id();
        assert!(pid.to_base58().starts_with("12D3KooW"));
        assert!(keypair_from_seed(&[1u8; 31]).is_err());
    }
}
