//! The wake-up fd and the bounded event queue that Python drains.
//!
//! Theory of operation: asyncio learns about progress (a message arrived, queue space
//! freed, a dial finished, a session was accepted) through one non-blocking socket per
//! node, registered with `loop.add_reader`. The driver writes a single byte only when the
//! `armed` flag goes from false to true, so a burst of ten thousand messages costs one
//! byte and one loop wake-up; Python clears the flag, drains the socket, then re-polls
//! every waiter with non-blocking calls. No thread hop per message.
//!
//! Each hand-off through here may be met by a bounded, adaptive spin (`spin.rs`): a wake
//! from the IO thread asks that thread to keep polling for the application's answer
//! ([`IoSpin::expect_answer`]), and a waiting application thread may watch for the wake
//! instead of parking ([`Waker::spin_until_armed`] for asyncio, [`Waker::spin_until_woken`]
//! for blocking calls). [`armed_now`] counts the armed wake fds of the process.
//!
//! Events (lifecycle and telemetry: a name and typed fields, [`Field`]) go into a
//! bounded queue: when it is full the oldest event is dropped and counted, so an idle
//! observer cannot make memory grow.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::spin::{cpus_idle, Adaptive, IoSpin};

/// Wake fds of this process that are armed now (readable, or about to be).
static ARMED: AtomicI64 = AtomicI64::new(0);

/// How many wake fds of this process are armed: an event loop watching them would not
/// sleep now.
pub fn armed_now() -> i64 {
    ARMED.load(Ordering::Acquire)
}

/// One event: a name plus typed fields, in a fixed documented vocabulary (RTT_SPEC §9).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub name: &'static str,
    pub fields: Vec<(&'static str, Field)>,
}

/// The value of an event field, with its type (it reaches Python as `str`, `int` or
/// `bool`, not as text to parse).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    Str(String),
    Int(u64),
    Bool(bool),
}

impl From<String> for Field {
    fn from(v: String) -> Self {
        Field::Str(v)
    }
}

impl From<&str> for Field {
    fn from(v: &str) -> Self {
        Field::Str(v.to_string())
    }
}

impl From<u64> for Field {
    fn from(v: u64) -> Self {
        Field::Int(v)
    }
}

impl From<u32> for Field {
    fn from(v: u32) -> Self {
        Field::Int(v.into())
    }
}

impl From<usize> for Field {
    fn from(v: usize) -> Self {
        Field::Int(v as u64)
    }
}

impl From<bool> for Field {
    fn from(v: bool) -> Self {
        Field::Bool(v)
    }
}

impl From<std::time::Duration> for Field {
    /// Whole milliseconds (saturating).
    fn from(d: std::time::Duration) -> Self {
        Field::Int(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }
}

/// An error as one line of text for an event field or an error message: its `Display`
/// text, then each `source()`'s that it does not already contain, joined by ": "
/// (libp2p puts the cause in the source: "Failed to get Reservation." alone hides
/// "Reservation refused."). Never `Debug` text (`Custom { kind: Other, .. }`,
/// `Transport(..)`); whitespace collapsed, at most 300 characters.
pub fn error_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    // bounded: a source chain is short, but nothing stops a cycle-free chain being long
    for _ in 0..8 {
        let Some(cause) = next else { break };
        let part = cause.to_string();
        if !part.is_empty() && !text.contains(&part) {
            text = format!("{}: {part}", text.trim_end_matches('.'));
        }
        next = cause.source();
    }
    let flat = text.split_whitespace().collect::<Vec<_>>().join(" ");
    flat.chars().take(300).collect()
}

/// Wake-up socket pair plus the bounded event queue.
#[derive(Debug)]
pub struct Waker {
    armed: AtomicBool,
    tx: UnixStream,
    rx: UnixStream,
    events: Mutex<VecDeque<Event>>,
    max_events: usize,
    events_dropped: AtomicU64,
    /// Wake-ups so far (blocking waiters spin on it).
    wakes: AtomicU64,
    /// The IO thread's spin, asked for at each wake-up.
    io_spin: Arc<IoSpin>,
    /// The application side's spin budget.
    app_spin: Adaptive,
}

impl Waker {
    /// A waker without spinning.
    ///
    /// Errors: the OS refused to create a socket pair.
    pub fn new(max_events: usize) -> std::io::Result<Self> {
        Self::with_spin(max_events, IoSpin::new(Duration::ZERO), Duration::ZERO)
    }

    /// A waker whose wake-ups ask `io_spin` to spin, and whose waiters spin up to
    /// `spin_max` (adaptive) before parking.
    ///
    /// Errors: the OS refused to create a socket pair.
    pub(crate) fn with_spin(
        max_events: usize,
        io_spin: Arc<IoSpin>,
        spin_max: Duration,
    ) -> std::io::Result<Self> {
        let (tx, rx) = UnixStream::pair()?;
        tx.set_nonblocking(true)?;
        rx.set_nonblocking(true)?;
        Ok(Waker {
            armed: AtomicBool::new(false),
            tx,
            rx,
            events: Mutex::new(VecDeque::new()),
            max_events: max_events.max(1),
            events_dropped: AtomicU64::new(0),
            wakes: AtomicU64::new(0),
            io_spin,
            app_spin: Adaptive::new(spin_max),
        })
    }

    /// The fd to watch for readability.
    pub fn fd(&self) -> i32 {
        use std::os::fd::AsRawFd;
        self.rx.as_raw_fd()
    }

    /// Signal progress. Cheap when already armed.
    pub fn wake(&self) {
        self.wakes.fetch_add(1, Ordering::Release);
        if !self.armed.swap(true, Ordering::AcqRel) {
            ARMED.fetch_add(1, Ordering::AcqRel);
            // A full socket buffer already means "readable"; ignore WouldBlock.
            let _ = (&self.tx).write(&[1u8]);
        }
        self.io_spin.expect_answer();
    }

    /// An application thread woke an IO task (the IO thread's spin may end).
    pub(crate) fn kicked_io(&self) {
        self.io_spin.kicked();
    }

    /// Wake-ups so far.
    pub(crate) fn wakes(&self) -> u64 {
        self.wakes.load(Ordering::Acquire)
    }

    /// asyncio is about to wait with nothing else to run: spin (bounded, adaptive) until
    /// some wake fd of the process is armed, so the loop finds it readable instead of
    /// sleeping through the IO thread's wake-up. Returns whether one is.
    pub fn spin_until_armed(&self) -> bool {
        armed_now() > 0 || (cpus_idle() && self.app_spin.spin(|| armed_now() > 0))
    }

    /// A blocking caller is about to park: spin (bounded, adaptive) until a wake-up
    /// after the `seen`-th. Returns whether one came.
    pub(crate) fn spin_until_woken(&self, seen: u64) -> bool {
        self.wakes() != seen || (cpus_idle() && self.app_spin.spin(|| self.wakes() != seen))
    }

    /// (spins that caught their hand-off, spins that ran out), application side then
    /// IO side.
    pub fn spin_outcomes(&self) -> [(u64, u64); 2] {
        [self.app_spin.outcomes(), self.io_spin.outcomes()]
    }

    /// Empty the socket, then disarm. Call before re-polling the waiters. (In this
    /// order: a wake-up racing with the drain finds the flag still armed and writes
    /// nothing, but its progress is visible to the re-poll that follows; disarming
    /// first could swallow its byte and leave the flag armed with the socket empty.)
    pub fn clear(&self) {
        let mut buf = [0u8; 256];
        while let Ok(n) = (&self.rx).read(&mut buf) {
            if n < buf.len() {
                break;
            }
        }
        if self.armed.swap(false, Ordering::AcqRel) {
            ARMED.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Queue an event (dropping the oldest when full). No wake-up: events are drained by
    /// polling (`drain_events`), and nothing waits on them; waking here would wake
    /// asyncio for a `session_open` a moment before the dial it completes is finished,
    /// costing a second wake-up on every dial.
    pub fn emit(&self, name: &'static str, fields: Vec<(&'static str, Field)>) {
        {
            let mut q = self.events.lock().unwrap_or_else(|e| e.into_inner());
            if q.len() >= self.max_events {
                q.pop_front();
                self.events_dropped.fetch_add(1, Ordering::Relaxed);
            }
            q.push_back(Event { name, fields });
        }
    }

    /// Take up to `max` events, oldest first.
    pub fn drain(&self, max: usize) -> Vec<Event> {
        let mut q = self.events.lock().unwrap_or_else(|e| e.into_inner());
        let n = max.min(q.len());
        q.drain(..n).collect()
    }

    pub fn events_dropped(&self) -> u64 {
        self.events_dropped.load(Ordering::Relaxed)
    }
}

impl Drop for Waker {
    fn drop(&mut self) {
        if *self.armed.get_mut() {
            ARMED.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    enum Refusal {
        #[error("Reservation refused.")]
        Refused,
        #[error("IO error")]
        Io(#[from] std::io::Error),
    }

    #[derive(Debug, thiserror::Error)]
    enum Setup {
        #[error("Failed to get Reservation.")]
        Reservation(#[from] Refusal),
    }

    #[test]
    fn error_text_is_the_display_chain_never_debug() {
        // as the swarm reports a closed relay listener: an io::Error around libp2p's error
        let e = std::io::Error::other(Setup::Reservation(Refusal::Refused));
        assert_eq!(
            error_text(&e),
            "Failed to get Reservation: Reservation refused."
        );
        let os = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        let e = std::io::Error::other(Setup::Reservation(Refusal::Io(os)));
        let text = error_text(&e);
        assert_eq!(
            text,
            "Failed to get Reservation: IO error: connection reset"
        );
        assert!(!format!("{e:?}").is_empty() && !text.contains("Custom"));
        // a Display that already shows its source is not repeated
        let e = std::io::Error::other("dial failed: boom\n  second   line");
        assert_eq!(error_text(&e), "dial failed: boom second line");
        let long = std::io::Error::other("x".repeat(1000));
        assert_eq!(error_text(&long).len(), 300);
    }

    #[test]
    fn one_byte_per_arming_and_bounded_events() {
        let w = Waker::new(2).unwrap();
        w.wake();
        w.wake();
        let mut buf = [0u8; 8];
        assert_eq!((&w.rx).read(&mut buf).unwrap(), 1);
        w.clear();
        w.emit("a", vec![]);
        w.emit("b", vec![]);
        w.emit("c", vec![("k", "v".into())]);
        let got = w.drain(10);
        assert_eq!(got.iter().map(|e| e.name).collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!(w.events_dropped(), 1);
    }
}
