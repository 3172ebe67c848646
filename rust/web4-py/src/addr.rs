//! PeerIds and multiaddrs for Python, parsed by libp2p's own types.
//!
//! Theory of operation: the transport dials and authenticates with libp2p's `PeerId` and
//! `Multiaddr`; checking an address or recovering a peer's key anywhere else with another
//! parser would let the two disagree on what is valid (a security-relevant duplicate).
//! So Python asks here. A web4 PeerId is the identity multihash of an Ed25519 public key
//! (RTT_SPEC §2): the key comes out of it, and any other PeerId (a hashed one, another
//! key type) is refused. Addresses are TCP only: `/ip4|ip6/<a>/tcp/<p>[/p2p/<peer>]`.
//! Errors are `ConfigError` with one line naming the part that is wrong.

use libp2p::identity::PublicKey;
use libp2p::multiaddr::Protocol;
use libp2p::PeerId;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use crate::error::{ConfigError, IdentityError};

const ED25519_PEER_ID: &str = "an Ed25519 peer id (52 characters, starting 12D3KooW)";

/// The first characters of untrusted text, for an error message.
fn short(text: &str) -> String {
    let head: String = text.chars().take(60).collect();
    if head.len() < text.len() {
        format!("{head}...")
    } else {
        head
    }
}

/// The raw Ed25519 key inside `peer`, when it is inline (identity multihash).
fn ed25519_key(peer: &PeerId) -> Option<[u8; 32]> {
    let mh = peer.as_ref();
    if mh.code() != 0 {
        return None; // a hashed PeerId names a key without holding it
    }
    let key = PublicKey::try_decode_protobuf(mh.digest()).ok()?;
    Some(key.try_into_ed25519().ok()?.to_bytes())
}

fn peer_error(text: &str) -> String {
    format!("{:?} is not {ED25519_PEER_ID}", short(text))
}

/// The Ed25519 key of the PeerId `text`. Errors: a one-line reason.
fn key_of_text(text: &str) -> Result<[u8; 32], String> {
    let peer: PeerId = text.parse().map_err(|_| peer_error(text))?;
    ed25519_key(&peer).ok_or_else(|| peer_error(text))
}

/// The raw 32-byte Ed25519 public key inside an Ed25519 libp2p PeerId.
///
/// Raises `ConfigError` for text that is not a PeerId or a PeerId of another key type.
#[pyfunction]
pub fn peer_id_public_key<'py>(py: Python<'py>, peer_id: &str) -> PyResult<Bound<'py, PyBytes>> {
    let key = key_of_text(peer_id).map_err(ConfigError::new_err)?;
    Ok(PyBytes::new(py, &key))
}

/// The libp2p PeerId (base58btc, `12D3KooW...`) of a raw 32-byte Ed25519 public key.
///
/// Raises `IdentityError` when the bytes are not an Ed25519 public key.
#[pyfunction]
pub fn peer_id_of(public_key: &[u8]) -> PyResult<String> {
    peer_id_text_of(public_key).map_err(IdentityError::new_err)
}

/// Pure part of [`peer_id_of`] (unit tests link no Python, so they call this one).
fn peer_id_text_of(public_key: &[u8]) -> Result<String, String> {
    let key = libp2p::identity::ed25519::PublicKey::try_from_bytes(public_key)
        .map_err(|e| format!("not an Ed25519 public key: {e}"))?;
    Ok(PeerId::from_public_key(&PublicKey::from(key)).to_base58())
}

/// A parsed TCP multiaddr: `("ip4" | "ip6", host, port, peer id or None)`.
type Parsed = (&'static str, String, u16, Option<String>);

/// Why one component `/<tag>/<value>` does not parse.
fn component_error(tag: &str, value: Option<&str>) -> String {
    if tag.is_empty() {
        return "an empty component (a doubled or trailing /)".to_string();
    }
    let Some(v) = value.filter(|v| !v.is_empty()) else {
        return match tag {
            "ip4" | "ip6" | "tcp" | "p2p" => format!("/{tag} needs a value"),
            _ => format!("unknown protocol {:?}", short(tag)),
        };
    };
    match tag {
        "ip4" => format!("{:?} is not an IPv4 address", short(v)),
        "ip6" => format!("{:?} is not an IPv6 address", short(v)),
        "tcp" => format!("TCP port {:?} is not in 0..=65535", short(v)),
        "p2p" => peer_error(v),
        _ => format!("unknown protocol {:?}", short(tag)),
    }
}

fn parse(addr: &str) -> Result<Parsed, String> {
    let mut parts = addr.split('/').peekable();
    if parts.next() != Some("") || parts.peek().is_none() {
        return Err("a multiaddr starts with /".into());
    }
    let mut protocols = Vec::new();
    while let Some(&tag) = parts.peek() {
        let value = parts.clone().nth(1);
        match Protocol::from_str_parts(&mut parts) {
            Ok(p) => protocols.push(p),
            Err(_) => return Err(component_error(tag, value)),
        }
    }
    let (ip, host) = match protocols.first() {
        Some(Protocol::Ip4(a)) => ("ip4", a.to_string()),
        Some(Protocol::Ip6(a)) => ("ip6", a.to_string()),
        _ => return Err("the address must start with /ip4/<address> or /ip6/<address>".into()),
    };
    let port = match protocols.get(1) {
        Some(Protocol::Tcp(p)) => *p,
        _ => return Err(format!("/{ip}/{host} must be followed by /tcp/<port>")),
    };
    let peer = match (protocols.get(2), protocols.len()) {
        (None, _) => None,
        (Some(Protocol::P2p(peer)), 3) => {
            if ed25519_key(peer).is_none() {
                return Err(peer_error(&peer.to_base58()));
            }
            Some(peer.to_base58())
        }
        // Through a relay (RTT_SPEC §17): the relay's address, then the peer's id; the
        // address and port returned are the relay's.
        (Some(Protocol::P2p(relay)), 5)
            if protocols[3] == Protocol::P2pCircuit && matches!(protocols[4], Protocol::P2p(_)) =>
        {
            let Protocol::P2p(peer) = &protocols[4] else {
                unreachable!("matched above")
            };
            for p in [relay, peer] {
                if ed25519_key(p).is_none() {
                    return Err(peer_error(&p.to_base58()));
                }
            }
            Some(peer.to_base58())
        }
        (Some(_), _) => {
            return Err(format!(
                "only /{ip}/<address>/tcp/<port> with an optional /p2p/<peer id> (or \
                 /p2p/<relay id>/p2p-circuit/p2p/<peer id>) is supported"
            ))
        }
    };
    Ok((ip, host, port, peer))
}

/// Parse `/ip4|ip6/<address>/tcp/<port>[/p2p/<peer id>]` with libp2p's parser; the
/// peer id must be an Ed25519 PeerId. Returns `(ip, host, port, peer id or None)`.
///
/// Raises `ConfigError` saying which part is wrong.
#[pyfunction]
pub fn parse_multiaddr(addr: &str) -> PyResult<Parsed> {
    parse(addr).map_err(ConfigError::new_err)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PEER: &str = "12D3KooWAQ24A1mdcb5vw3UjFDXYYvkrvtiWN9Mzr2BySyUp6h3N";

    #[test]
    fn tcp_addresses_with_an_optional_ed25519_peer() {
        assert_eq!(
            parse("/ip4/127.0.0.1/tcp/7001").unwrap(),
            ("ip4", "127.0.0.1".into(), 7001, None)
        );
        let with_peer = parse(&format!("/ip6/::1/tcp/0/p2p/{PEER}")).unwrap();
        assert_eq!(with_peer, ("ip6", "::1".into(), 0, Some(PEER.into())));
        let relayed = format!("/ip4/10.0.0.1/tcp/4001/p2p/{PEER}/p2p-circuit/p2p/{PEER}");
        assert_eq!(
            parse(&relayed).unwrap(),
            ("ip4", "10.0.0.1".into(), 4001, Some(PEER.into()))
        );
        assert!(parse(&format!("/ip4/10.0.0.1/tcp/1/p2p/{PEER}/p2p-circuit")).is_err());
        for bad in [
            "",
            "ip4/127.0.0.1/tcp/1",
            "/ip4/300.0.0.1/tcp/1",
            "/ip4/127.0.0.1/tcp/70000",
            "/ip4/127.0.0.1/udp/1",
            "/dns/localhost/tcp/1",
            "/ip4/127.0.0.1/tcp/1/",
            "/ip4/127.0.0.1/tcp/1/p2p/xyz",
            "/ip4/127.0.0.1/tcp/1/p2p/QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
            "/ip4/127.0.0.1",
            "/ip4/127.0.0.1/tcp/1/tls",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_key_of_an_ed25519_peer_id_and_nothing_else() {
        let kp = libp2p::identity::Keypair::ed25519_from_bytes([7u8; 32]).unwrap();
        let raw = kp.public().try_into_ed25519().unwrap().to_bytes();
        assert_eq!(key_of_text(&kp.public().to_peer_id().to_base58()), Ok(raw));
        assert_eq!(
            peer_id_text_of(&raw).unwrap(),
            kp.public().to_peer_id().to_base58()
        );
        assert!(peer_id_text_of(&[0u8; 31]).is_err());
        for bad in [
            "",
            "0OIl",
            "12D3KooW",
            "QmYyQSo1c1Ym7orWxLYvCrM2EmxFTANf8wXmmE7DWjhx5N",
        ] {
            assert!(key_of_text(bad).is_err(), "{bad}");
        }
    }
}
