//! One Ed25519 key, two names: the libp2p PeerId and the CIP fingerprint.
//!
//! Theory of operation: the node's `web4.Identity` seed (32 bytes) becomes the libp2p
//! keypair directly, so the key that signs envelopes is the key Noise authenticates.
//! PeerId = identity multihash (code 0x00) of the protobuf-encoded public key
//! (`KeyType = Ed25519 (1)`, `Data = raw 32 bytes`), printed in base58btc
//! (`12D3KooW…`). Fingerprint = lowercase hex SHA-256 of the raw 32-byte public key.
//! Either can be computed from the other's raw key; [`peer_id_of`] does one direction.

use libp2p::identity::{ed25519, Keypair, PublicKey};
use libp2p::PeerId;

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

/// The PeerId of a raw 32-byte Ed25519 public key.
///
/// Errors: `Config` when the bytes are not a valid Ed25519 public key.
pub fn peer_id_of(public_key: &[u8]) -> Result<PeerId, NetError> {
    let pk = ed25519::PublicKey::try_from_bytes(public_key)
        .map_err(|e| NetError::Config(format!("not an Ed25519 public key: {e}")))?;
    Ok(PeerId::from_public_key(&PublicKey::from(pk)))
}

/// The raw 32-byte Ed25519 key inside a PeerId, when it is an inline Ed25519 key.
pub fn public_key_of(peer: &PeerId) -> Option<[u8; 32]> {
    let mh = multihash_bytes(peer);
    // identity multihash: 0x00, length 36, then protobuf 08 01 12 20 <32 bytes>.
    if mh.len() == 2 + 36 && mh[0] == 0x00 && mh[1] == 36 && mh[2..6] == [0x08, 0x01, 0x12, 0x20] {
        let mut out = [0u8; 32];
        out.copy_from_slice(&mh[6..]);
        return Some(out);
    }
    None
}

fn multihash_bytes(peer: &PeerId) -> Vec<u8> {
    peer.to_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_peer_id_and_raw_key_agree() {
        let kp = keypair_from_seed(&[7u8; 32]).unwrap();
        let raw = kp.public().try_into_ed25519().unwrap().to_bytes();
        let pid = kp.public().to_peer_id();
        assert_eq!(peer_id_of(&raw).unwrap(), pid);
        assert_eq!(public_key_of(&pid), Some(raw));
        assert!(pid.to_base58().starts_with("12D3KooW"));
        assert!(keypair_from_seed(&[1u8; 31]).is_err());
    }
}
