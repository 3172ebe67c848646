//! Newtypes for the numbers the RTT layers pass around, so that a session, an
//! operation and a connection can never be mixed up (`CloseConn(PeerId, u64)` needed a
//! comment to say which number it was).

use std::fmt;

/// A session, as numbered by its [`Endpoint`](super::Endpoint) (never reused by one
/// endpoint; not the 16-byte wire session id, which is [`SessionId`](super::SessionId)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionHandle(pub u64);

/// An application operation (a dial, a listen) waiting for its result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OpId(pub u64);

/// A connection as one session numbers it (`Session::on_connected` returns the next):
/// frames and losses reported for any number but the current one are ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ConnNumber(pub u64);

impl fmt::Display for SessionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for OpId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Display for ConnNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
