//! Transport configuration.
//!
//! Theory of operation: a [`Config`] is plain data validated once by
//! [`Config::validate`] when a node is built. Session behaviour (message size limit,
//! queue bounds and policies, heartbeat, backoff, expiry, rekey) is the session layer's
//! [`SessionConfig`]; the rest bounds the driver: the libp2p upgrade timeout, the idle
//! connection timeout and the event queue.

use std::time::Duration;

use libp2p::StreamProtocol;
use web4_proto::session::{frame::DATA_OVERHEAD, ChannelKind, SessionConfig};

use crate::discovery::DiscoveryConfig;
use crate::gossip::GossipConfig;
use crate::limits::LimitsConfig;
use crate::relay::RelayConfig;
use crate::NetError;

/// The libp2p protocol of a channel kind, `/web4/rtt/<kind>/1.0.0`.
pub fn protocol(kind: ChannelKind) -> StreamProtocol {
    StreamProtocol::new(kind.protocol_id())
}

/// Parse a channel kind name. Errors: `Config` for anything but state/knowledge/control.
pub fn parse_kind(s: &str) -> Result<ChannelKind, NetError> {
    ChannelKind::parse(s).ok_or_else(|| {
        NetError::Config(format!(
            "unknown channel kind {s:?} (expected state, knowledge or control)"
        ))
    })
}

/// Every knob of the transport.
#[derive(Debug, Clone)]
pub struct Config {
    pub session: SessionConfig,
    /// Bound on the TCP + Noise + yamux upgrade of a new connection.
    pub connect_timeout: Duration,
    /// A connection no handler keeps alive is closed after this long. A connection
    /// carrying an RTT session is always kept (RTT closes it itself); this closes the
    /// others: Kademlia's, and inbound ones that never opened an RTT stream.
    pub idle_timeout: Duration,
    /// Bound of the event queue Python drains (oldest dropped beyond it).
    pub max_events: usize,
    /// Gossip bounds (`gossip.rs`).
    pub gossip: GossipConfig,
    /// mDNS and Kademlia (both off by default; `discovery.rs`).
    pub discovery: DiscoveryConfig,
    /// Relay server (off by default) and client, hole punching (`relay.rs`).
    pub relay: RelayConfig,
    /// Caps on connections, and on connections still in their handshake (`limits.rs`).
    pub limits: LimitsConfig,
    /// Run this node's IO on a runtime of its own instead of the process's shared IO
    /// thread (`runtime.rs`; a node with mDNS always gets its own).
    pub own_runtime: bool,
    /// Longest bounded, adaptive spin at a hand-off between the IO thread and the
    /// application before the waiting side parks (`spin.rs`); zero: never spin.
    pub spin_max: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            session: SessionConfig::default(),
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(30),
            max_events: 4096,
            gossip: GossipConfig::default(),
            discovery: DiscoveryConfig::default(),
            relay: RelayConfig::default(),
            limits: LimitsConfig::default(),
            own_runtime: false,
            spin_max: Duration::from_micros(50),
        }
    }
}

impl Config {
    /// The largest frame a reader accepts: one maximal DATA frame.
    pub fn max_frame(&self) -> usize {
        self.session.max_payload + DATA_OVERHEAD
    }

    /// Errors: `Config` naming the first bound that is zero or inconsistent.
    pub fn validate(&self) -> Result<(), NetError> {
        let s = &self.session;
        if s.max_payload == 0 || s.max_payload > 64 << 20 {
            return Err(NetError::Config(
                "max_message_size must be in 1..=64 MiB".into(),
            ));
        }
        for (k, c) in ChannelKind::ALL.iter().zip(s.channels.iter()) {
            let bounds = [
                c.send_queue_msgs,
                c.send_queue_bytes,
                c.inflight_msgs,
                c.inflight_bytes,
                c.recv_queue_msgs,
                c.recv_queue_bytes,
            ];
            if bounds.contains(&0) {
                return Err(NetError::Config(format!(
                    "channel {}: queue bounds must be positive",
                    k.as_str()
                )));
            }
        }
        if s.heartbeat.interval.is_zero() || s.heartbeat.timeout < s.heartbeat.interval {
            return Err(NetError::Config(
                "heartbeat_interval must be positive and heartbeat_timeout >= interval".into(),
            ));
        }
        if s.backoff.base.is_zero() || s.backoff.cap < s.backoff.base {
            return Err(NetError::Config(
                "reconnect backoff: need 0 < base <= cap".into(),
            ));
        }
        if self.connect_timeout.is_zero() || s.handshake_timeout.is_zero() || s.expiry.is_zero() {
            return Err(NetError::Config(
                "timeouts and expiry must be positive".into(),
            ));
        }
        let g = &self.gossip;
        let rates = g.rate_per_s.is_finite() && g.rate_per_s > 0.0 && g.burst.is_finite();
        if g.max_message == 0 || g.inbox == 0 || !rates || g.burst < 1.0 {
            return Err(NetError::Config(
                "gossip: message size, inbox, rate and burst must be positive".into(),
            ));
        }
        if self.spin_max > Duration::from_millis(1) {
            return Err(NetError::Config("spin_max must be at most 1 ms".into()));
        }
        if self.max_events == 0 {
            return Err(NetError::Config("max_events must be positive".into()));
        }
        self.relay.validate()?;
        self.limits.validate()?;
        self.discovery.validate()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_validation() {
        assert_eq!(
            protocol(parse_kind("knowledge").unwrap()).as_ref(),
            "/web4/rtt/knowledge/1.0.0"
        );
        assert!(parse_kind("video").is_err());
        assert!(Config::default().validate().is_ok());
        let mut bad = Config::default();
        bad.session.channels[1].recv_queue_msgs = 0;
        assert!(bad.validate().is_err());
        let mut bad = Config::default();
        bad.session.heartbeat.timeout = Duration::from_millis(1);
        assert!(bad.validate().is_err());
    }
}
