//! Bounded per-channel queues and their overflow policies.
//!
//! Theory of operation: every queue in the transport is bounded twice, in messages and
//! in bytes. A push onto a full send queue is decided by the channel's [`Policy`]:
//! `Block` tells the caller to wait for space (the caller owns the deadline), `Error`
//! refuses, `DropOldest` evicts from the head until the new message fits, `DropNewest`
//! discards the new message. Drops are counted. A receive queue never drops: its reader
//! simply stops reading the stream while it is full, so yamux's window stops the sender.

use std::collections::VecDeque;

/// What to do when a send queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    Block,
    Error,
    DropOldest,
    DropNewest,
}

impl Policy {
    /// Parse `block`, `error`, `drop_oldest` or `drop_newest`.
    pub fn parse(s: &str) -> Option<Policy> {
        Some(match s {
            "block" => Policy::Block,
            "error" => Policy::Error,
            "drop_oldest" => Policy::DropOldest,
            "drop_newest" => Policy::DropNewest,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Policy::Block => "block",
            Policy::Error => "error",
            Policy::DropOldest => "drop_oldest",
            Policy::DropNewest => "drop_newest",
        }
    }
}

/// Outcome of [`BoundedQueue::push`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Push {
    /// Queued; `evicted` older messages were dropped to make room.
    Queued { evicted: usize },
    /// Full and the policy is `Block`: nothing queued, wait for space and retry.
    WouldBlock,
    /// Full and the policy is `Error`: nothing queued.
    Refused,
    /// Full and the policy is `DropNewest`: the new message was discarded.
    DroppedNewest,
}

/// A FIFO bounded in messages and bytes.
#[derive(Debug)]
pub struct BoundedQueue {
    items: VecDeque<Vec<u8>>,
    bytes: usize,
    max_msgs: usize,
    max_bytes: usize,
    high_water: usize,
}

impl BoundedQueue {
    pub fn new(max_msgs: usize, max_bytes: usize) -> Self {
        BoundedQueue {
            items: VecDeque::new(),
            bytes: 0,
            max_msgs: max_msgs.max(1),
            max_bytes: max_bytes.max(1),
            high_water: 0,
        }
    }

    fn fits(&self, len: usize) -> bool {
        // An empty queue accepts one message of any (already size-checked) length, so a
        // message larger than `max_bytes` cannot wedge a channel forever.
        self.items.is_empty()
            || (self.items.len() < self.max_msgs && self.bytes + len <= self.max_bytes)
    }

    /// True when a message of `len` bytes would be queued without a policy decision.
    pub fn has_room(&self, len: usize) -> bool {
        self.fits(len)
    }

    /// Push under `policy` (see [`Push`]).
    pub fn push(&mut self, msg: Vec<u8>, policy: Policy) -> Push {
        let mut evicted = 0;
        if !self.fits(msg.len()) {
            match policy {
                Policy::Block => return Push::WouldBlock,
                Policy::Error => return Push::Refused,
                Policy::DropNewest => return Push::DroppedNewest,
                Policy::DropOldest => {
                    while !self.fits(msg.len()) {
                        self.pop();
                        evicted += 1;
                    }
                }
            }
        }
        self.bytes += msg.len();
        self.items.push_back(msg);
        self.high_water = self.high_water.max(self.items.len());
        Push::Queued { evicted }
    }

    pub fn pop(&mut self) -> Option<Vec<u8>> {
        let msg = self.items.pop_front()?;
        self.bytes -= msg.len();
        Some(msg)
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn is_full(&self) -> bool {
        self.items.len() >= self.max_msgs || self.bytes >= self.max_bytes
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }

    pub fn high_water(&self) -> usize {
        self.high_water
    }

    pub fn clear(&mut self) -> usize {
        let n = self.items.len();
        self.items.clear();
        self.bytes = 0;
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_decide_on_a_full_queue() {
        let mut q = BoundedQueue::new(2, 1000);
        assert_eq!(q.push(vec![1], Policy::Block), Push::Queued { evicted: 0 });
        assert_eq!(q.push(vec![2], Policy::Block), Push::Queued { evicted: 0 });
        assert_eq!(q.push(vec![3], Policy::Block), Push::WouldBlock);
        assert_eq!(q.push(vec![3], Policy::Error), Push::Refused);
        assert_eq!(q.push(vec![3], Policy::DropNewest), Push::DroppedNewest);
        assert_eq!(
            q.push(vec![3], Policy::DropOldest),
            Push::Queued { evicted: 1 }
        );
        assert_eq!(q.pop(), Some(vec![2]));
        assert_eq!(q.pop(), Some(vec![3]));
        assert_eq!(q.pop(), None);
        assert_eq!(q.high_water(), 2);
    }

    #[test]
    fn byte_bound_counts_and_oversize_single_message_passes_when_empty() {
        let mut q = BoundedQueue::new(100, 10);
        assert_eq!(
            q.push(vec![0; 8], Policy::Error),
            Push::Queued { evicted: 0 }
        );
        assert_eq!(q.push(vec![0; 3], Policy::Error), Push::Refused);
        assert_eq!(
            q.push(vec![0; 2], Policy::Error),
            Push::Queued { evicted: 0 }
        );
        assert_eq!(q.bytes(), 10);
        assert_eq!(
            q.push(vec![0; 50], Policy::DropOldest),
            Push::Queued { evicted: 2 }
        );
        assert_eq!(q.len(), 1);
        assert_eq!(q.clear(), 1);
        assert!(q.is_empty());
    }
}
