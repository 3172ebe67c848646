//! Transport configuration and the channel kinds.
//!
//! Theory of operation: a [`Config`] is plain data, validated once by [`Config::validate`]
//! when a node is built; every bound in the transport (message size, queue lengths and
//! bytes, timeouts) comes from here, so nothing is unbounded by accident.

use std::time::Duration;

use libp2p::StreamProtocol;

use crate::queue::Policy;
use crate::NetError;

/// The three RTT channel kinds; each one is a libp2p protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChannelKind {
    State = 0,
    Knowledge = 1,
    Control = 2,
}

impl ChannelKind {
    pub const ALL: [ChannelKind; 3] = [
        ChannelKind::State,
        ChannelKind::Knowledge,
        ChannelKind::Control,
    ];

    /// Errors: `Config` for a name that is not `state`, `knowledge` or `control`.
    pub fn parse(s: &str) -> Result<ChannelKind, NetError> {
        match s {
            "state" => Ok(ChannelKind::State),
            "knowledge" => Ok(ChannelKind::Knowledge),
            "control" => Ok(ChannelKind::Control),
            other => Err(NetError::Config(format!(
                "unknown channel kind {other:?} (expected state, knowledge or control)"
            ))),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ChannelKind::State => "state",
            ChannelKind::Knowledge => "knowledge",
            ChannelKind::Control => "control",
        }
    }

    /// `/web4/rtt/<kind>/1.0.0`.
    pub fn protocol(self) -> StreamProtocol {
        StreamProtocol::new(match self {
            ChannelKind::State => "/web4/rtt/state/1.0.0",
            ChannelKind::Knowledge => "/web4/rtt/knowledge/1.0.0",
            ChannelKind::Control => "/web4/rtt/control/1.0.0",
        })
    }
}

/// Every knob of the transport.
#[derive(Debug, Clone)]
pub struct Config {
    pub max_message_size: usize,
    pub send_queue_msgs: usize,
    pub send_queue_bytes: usize,
    pub recv_queue_msgs: usize,
    pub recv_queue_bytes: usize,
    /// Overflow policy per kind, indexed by `ChannelKind as usize`.
    pub policy: [Policy; 3],
    pub heartbeat_interval: Duration,
    /// Missing heartbeats for this long: the link is dead.
    pub heartbeat_timeout: Duration,
    pub handshake_timeout: Duration,
    pub idle_timeout: Duration,
    pub reconnect_initial: Duration,
    pub reconnect_max: Duration,
    pub max_events: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_message_size: 1 << 20,
            send_queue_msgs: 4096,
            send_queue_bytes: 8 << 20,
            recv_queue_msgs: 4096,
            recv_queue_bytes: 8 << 20,
            policy: [Policy::DropOldest, Policy::Block, Policy::Block],
            heartbeat_interval: Duration::from_secs(1),
            heartbeat_timeout: Duration::from_secs(3),
            handshake_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(3600),
            reconnect_initial: Duration::from_millis(50),
            reconnect_max: Duration::from_secs(2),
            max_events: 4096,
        }
    }
}

impl Config {
    /// Errors: `Config` naming the first bound that is zero or inconsistent.
    pub fn validate(&self) -> Result<(), NetError> {
        let positive = [
            ("max_message_size", self.max_message_size),
            ("send_queue_msgs", self.send_queue_msgs),
            ("send_queue_bytes", self.send_queue_bytes),
            ("recv_queue_msgs", self.recv_queue_msgs),
            ("recv_queue_bytes", self.recv_queue_bytes),
            ("max_events", self.max_events),
        ];
        for (name, v) in positive {
            if v == 0 {
                return Err(NetError::Config(format!("{name} must be positive")));
            }
        }
        if self.max_message_size > 64 << 20 {
            return Err(NetError::Config(
                "max_message_size is capped at 64 MiB".into(),
            ));
        }
        if self.heartbeat_interval.is_zero() || self.heartbeat_timeout < self.heartbeat_interval {
            return Err(NetError::Config(
                "heartbeat_interval must be positive and heartbeat_timeout >= interval".into(),
            ));
        }
        if self.handshake_timeout.is_zero() || self.reconnect_initial.is_zero() {
            return Err(NetError::Config("timeouts must be positive".into()));
        }
        if self.reconnect_max < self.reconnect_initial {
            return Err(NetError::Config(
                "reconnect_max must be >= reconnect_initial".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_validation() {
        assert_eq!(
            ChannelKind::parse("knowledge").unwrap().protocol().as_ref(),
            "/web4/rtt/knowledge/1.0.0"
        );
        assert!(ChannelKind::parse("video").is_err());
        assert!(Config::default().validate().is_ok());
        let bad = Config {
            recv_queue_msgs: 0,
            ..Config::default()
        };
        assert!(bad.validate().is_err());
    }
}
