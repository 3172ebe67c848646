//! web4-net: the IO driver of the RTT transport, on rust-libp2p and tokio.
//!
//! Theory of operation: a [`Node`] runs on a tokio runtime with one worker thread, shared
//! by every node of the process (`runtime.rs`; bounded adaptive spinning at
//! the hand-offs between that IO thread and the application: [`spin`]) and owns one
//! libp2p swarm (TCP + Noise XX + yamux, with identify) whose identity is the
//! node's Ed25519 key. Each RTT channel kind is a libp2p protocol
//! (`/web4/rtt/<kind>/1.0.0`) carried on *unidirectional* streams that our own
//! connection handler opens and reads inside each connection's task: every side writes
//! only to the streams it opened and reads only the streams its peer opened, so no
//! stream is ever split between a reading and a writing task (the pattern behind the
//! libp2p-stream/yamux lost-wake-up deadlock, rust-libp2p issue 5410). Messages are
//! unsigned-varint length-prefixed ([`framing`]). A
//! [`Session`] per peer outlives connections: it wraps the sans-IO session layer of
//! `web4-proto` (seq/ack, resume, retransmit, replay, heartbeat, backoff, bounded
//! queues), which makes every protocol decision; this crate only carries its bytes,
//! time and dial requests. A wake-up fd ([`wake`]) tells asyncio about progress without
//! a thread hop per message.

pub mod config;
pub mod discovery;
mod driver;
pub mod floor;
pub mod framing;
pub mod gossip;
mod handler;
pub mod keys;
pub mod limits;
mod node;
mod pump;
pub mod relay;
mod runtime;
pub mod session;
mod session_app;
mod shared;
pub mod spin;
pub mod wake;

pub use config::{parse_kind, Config};
pub use discovery::{DiscoveryConfig, Source, KAD_PROTOCOL};
pub use driver::describe_dial_error;
pub use limits::LimitsConfig;
pub use node::{Node, NodeStats};
pub use relay::{RelayConfig, RelayServerConfig, RelayStats};
pub use session::Session;
pub use wake::{Event, Field};
pub use web4_proto::session::{
    ChannelKind, CloseReason, QueuePolicy, SessionConfig, SessionState, SessionStats,
};

/// Every error the transport reports, by whose fault and what kind (mapped one to one
/// onto `web4.errors` classes by the binding).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetError {
    /// Local misuse: bad configuration, bad address, unknown channel kind.
    #[error("{0}")]
    Config(String),
    /// Authentication failed: wrong peer key, failed Noise handshake.
    #[error("{0}")]
    Handshake(String),
    /// Connection or session failure, closed session or channel, oversize message.
    #[error("{0}")]
    Transport(String),
    /// A bounded send queue refused a message, or stayed full past the deadline.
    #[error("{0}")]
    Backpressure(String),
    /// A replayed or stale frame (reported in stats and events, never raised to a sender).
    #[error("{0}")]
    Replay(String),
    /// A waited-for result did not arrive in time.
    #[error("{0}")]
    Timeout(String),
    /// A dial failed: why, as a kind a program can act on, and one line for a person.
    #[error("{message}")]
    Dial { kind: DialFailure, message: String },
}

/// Why a dial failed (`kind` of the Python exception).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DialFailure {
    /// Nothing listens at that address (the host answered with a reset).
    Refused,
    /// No answer within the connect timeout.
    Timeout,
    /// No route to the host or network, or an address this transport cannot dial.
    Unreachable,
    /// The connection came up but the secure (Noise) handshake failed.
    Handshake,
    /// The peer authenticated as another key than the address's peer id: retrying
    /// the same address cannot help.
    PeerIdMismatch,
    /// Anything else (reset mid-dial, aborted, denied).
    Other,
}

impl DialFailure {
    /// The kind's name (`RTTError.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Refused => "refused",
            Self::Timeout => "timeout",
            Self::Unreachable => "unreachable",
            Self::Handshake => "handshake",
            Self::PeerIdMismatch => "peer_id_mismatch",
            Self::Other => "other",
        }
    }
}

impl NetError {
    /// A short machine-readable kind: a dial's [`DialFailure`], else the variant's name.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Config(_) => "config",
            Self::Handshake(_) => "handshake",
            Self::Transport(_) => "transport",
            Self::Backpressure(_) => "backpressure",
            Self::Replay(_) => "replay",
            Self::Timeout(_) => "timeout",
            Self::Dial { kind, .. } => kind.as_str(),
        }
    }
}
