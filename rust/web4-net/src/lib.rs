//! web4-net: the IO driver of the RTT transport.
//!
//! Theory of operation: everything that touches sockets, timers and the tokio runtime
//! lives here; the protocol decisions it acts on come from `web4-proto`, which does no IO.
//! The libp2p swarm lands with the RTT issue; until then this crate only re-exports the
//! protocol identifiers so that the binding can already name them.

/// libp2p protocol id of an RTT channel kind, e.g. `/web4/rtt/knowledge/1.0.0`.
pub fn channel_protocol_id(kind: &str) -> String {
    format!("/web4/rtt/{kind}/1.0.0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_ids_follow_the_spec() {
        assert_eq!(channel_protocol_id("state"), "/web4/rtt/state/1.0.0");
    }
}
