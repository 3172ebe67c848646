//! Bounded adaptive spinning at the hand-offs between the IO thread and the application.
//!
//! Theory of operation: a message crosses threads twice per direction (application ->
//! IO thread, IO thread -> application). Waking a parked thread on another CPU costs
//! tens of microseconds on a small VM (the CPU has gone idle; the wake is an IPI), while
//! a thread that is still running sees the hand-off in well under a microsecond. So the
//! side that expects the next hand-off soon keeps running for a short, bounded time
//! before it parks:
//! - the IO thread, after handing a message to the application ([`IoSpin::expect_answer`],
//!   from `Waker::wake`), keeps polling its sockets and tasks (a task that yields in a
//!   loop makes the tokio worker poll epoll without blocking) until an application
//!   thread wakes one of its tasks ([`IoSpin::kicked`]) or the budget runs out;
//! - an application thread waiting for a message ([`Adaptive::spin`]: asyncio just before
//!   its loop would block, `recv_blocking` before its condvar) watches for the IO
//!   thread's wake-up instead of sleeping.
//!
//! Every spin is bounded by its [`Adaptive`] budget (at most `Config::spin_max`), and the
//! budget adapts: a spin that ends with the hand-off restores the maximum, a spin that
//! runs out halves it, and below [`MIN_SPIN`] spinning is off; while off, one wait in
//! [`PROBE_EVERY`] spins the maximum to notice a peer that became fast again. A slow
//! peer therefore costs a few wasted spins and then 1/[`PROBE_EVERY`] of one per wait,
//! and an idle node never spins: spins only follow traffic.
//!
//! Spinning pays only while a CPU would otherwise go idle. When the machine has more
//! runnable threads than CPUs, a wake-up is cheap (no CPU is halted) and a spinning
//! thread takes CPU time from the thread it waits for; so no spin starts while the
//! kernel's count of runnable threads (`/proc/loadavg`, sampled at most every
//! [`LOAD_SAMPLE`]) exceeds the CPUs this process may use ([`cpus_idle`]).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Below this, spinning is off (a spin this short rarely catches a hand-off).
pub const MIN_SPIN: Duration = Duration::from_micros(4);
/// While spinning is off, one wait in this many spins the maximum (a probe).
pub const PROBE_EVERY: u64 = 64;

/// How often the runnable-thread count is sampled.
pub const LOAD_SAMPLE: Duration = Duration::from_millis(20);

/// Nanoseconds since `EPOCH` of the last sample, and its verdict.
static LOAD_AT: AtomicU64 = AtomicU64::new(0);
static LOAD_IDLE: AtomicBool = AtomicBool::new(true);
static EPOCH: OnceLock<Instant> = OnceLock::new();

/// True when a CPU may go idle: the runnable threads of the machine (the kernel's count,
/// which includes the caller) do not exceed the CPUs available to this process. Sampled
/// at most every [`LOAD_SAMPLE`]; true where `/proc/loadavg` cannot be read.
pub fn cpus_idle() -> bool {
    let epoch = *EPOCH.get_or_init(Instant::now);
    let now = u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
    let last = LOAD_AT.load(Ordering::Relaxed);
    let period = u64::try_from(LOAD_SAMPLE.as_nanos()).unwrap_or(0);
    if now.saturating_sub(last) >= period
        && LOAD_AT
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
    {
        LOAD_IDLE.store(sample_idle(), Ordering::Relaxed);
    }
    LOAD_IDLE.load(Ordering::Relaxed)
}

fn sample_idle() -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/loadavg") else {
        return true;
    };
    // "0.50 0.60 0.70 RUNNABLE/TOTAL LASTPID"
    let runnable = text
        .split_whitespace()
        .nth(3)
        .and_then(|f| f.split('/').next())
        .and_then(|n| n.parse::<usize>().ok());
    // available_parallelism reads cgroup files: once is enough.
    static CPUS: OnceLock<usize> = OnceLock::new();
    let cpus = *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    runnable.is_none_or(|r| r <= cpus)
}

thread_local! {
    static ON_IO_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// Mark the calling thread as a runtime (IO) thread (`on_thread_start`).
pub(crate) fn mark_io_thread() {
    ON_IO_THREAD.with(|c| c.set(true));
}

/// True on a tokio worker thread of an RTT runtime.
pub(crate) fn on_io_thread() -> bool {
    ON_IO_THREAD.with(Cell::get)
}

/// An adaptive spin budget (see the module documentation).
#[derive(Debug)]
pub struct Adaptive {
    max_ns: u64,
    budget_ns: AtomicU64,
    waits: AtomicU64,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl Adaptive {
    /// A budget of at most `max` (zero: never spin), starting at `max`.
    pub fn new(max: Duration) -> Self {
        let max_ns = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        Adaptive {
            max_ns,
            budget_ns: AtomicU64::new(max_ns),
            waits: AtomicU64::new(0),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// How long the next spin may last (zero: park at once).
    pub fn budget(&self) -> Duration {
        if self.max_ns == 0 {
            return Duration::ZERO;
        }
        let b = self.budget_ns.load(Ordering::Relaxed);
        if b > 0 {
            return Duration::from_nanos(b);
        }
        if self
            .waits
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(PROBE_EVERY)
        {
            return Duration::from_nanos(self.max_ns);
        }
        Duration::ZERO
    }

    /// The outcome of a spin: `hit` if the hand-off came within the budget.
    pub fn record(&self, hit: bool) {
        let min = u64::try_from(MIN_SPIN.as_nanos()).unwrap_or(0);
        let b = self.budget_ns.load(Ordering::Relaxed);
        let next = if hit {
            self.hits.fetch_add(1, Ordering::Relaxed);
            self.max_ns
        } else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            let half = b / 2;
            if half < min {
                0
            } else {
                half
            }
        };
        self.budget_ns.store(next, Ordering::Relaxed);
    }

    /// Spin until `done()` or the budget runs out; records and returns the outcome.
    /// Returns false at once when spinning is off.
    pub fn spin(&self, done: impl Fn() -> bool) -> bool {
        let budget = self.budget();
        if budget.is_zero() {
            return false;
        }
        let start = Instant::now();
        loop {
            if done() {
                self.record(true);
                return true;
            }
            if start.elapsed() >= budget {
                self.record(false);
                return false;
            }
            // Give the CPU to any other runnable thread (the one about to hand off may
            // be waiting for it on a small machine); returns at once otherwise.
            std::thread::yield_now();
        }
    }

    /// (spins that caught their hand-off, spins that ran out).
    pub fn outcomes(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }
}

/// The IO thread's side: after it hands something to the application it keeps polling
/// until the application answers (wakes one of its tasks) or the budget runs out.
#[derive(Debug)]
pub struct IoSpin {
    notify: Notify,
    adaptive: Adaptive,
    kicks: AtomicU64,
}

impl IoSpin {
    pub(crate) fn new(max: Duration) -> Arc<Self> {
        Arc::new(IoSpin {
            notify: Notify::new(),
            adaptive: Adaptive::new(max),
            kicks: AtomicU64::new(0),
        })
    }

    /// The IO thread handed a message or a state change to the application: its answer
    /// may follow at once. A no-op on other threads.
    pub(crate) fn expect_answer(&self) {
        if self.adaptive.max_ns > 0 && on_io_thread() {
            self.notify.notify_one();
        }
    }

    /// An application thread woke an IO task (bytes to write, room to read).
    pub(crate) fn kicked(&self) {
        if !on_io_thread() {
            self.kicks.fetch_add(1, Ordering::Release);
        }
    }

    /// The spinner task: one per runtime, parked (costing nothing) until a hand-off.
    pub(crate) async fn run(self: Arc<Self>) {
        loop {
            self.notify.notified().await;
            if !cpus_idle() {
                continue;
            }
            let budget = self.adaptive.budget();
            if budget.is_zero() {
                continue;
            }
            let k0 = self.kicks.load(Ordering::Acquire);
            let start = Instant::now();
            let hit = loop {
                if self.kicks.load(Ordering::Acquire) != k0 {
                    break true;
                }
                if start.elapsed() >= budget {
                    break false;
                }
                // Give the CPU to any other runnable thread: the application thread
                // that must answer may have been woken onto this CPU, and a spinning
                // thread is not preempted for it at once.
                std::thread::yield_now();
                // Let the worker run ready tasks and poll epoll without blocking.
                tokio::task::yield_now().await;
            };
            self.adaptive.record(hit);
        }
    }

    pub fn outcomes(&self) -> (u64, u64) {
        self.adaptive.outcomes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_halves_on_misses_turns_off_and_probes() {
        let a = Adaptive::new(Duration::from_micros(32));
        assert_eq!(a.budget(), Duration::from_micros(32));
        for _ in 0..4 {
            a.record(false); // 16, 8, 4, then 2 < MIN_SPIN: off
        }
        let budgets: Vec<Duration> = (0..PROBE_EVERY).map(|_| a.budget()).collect();
        assert_eq!(budgets.iter().filter(|b| !b.is_zero()).count(), 1);
        assert!(
            budgets.contains(&Duration::from_micros(32)),
            "a probe spins the maximum"
        );
        a.record(true); // a probe caught its hand-off: spinning is back on
        assert_eq!(a.budget(), Duration::from_micros(32));
        a.record(false);
        assert_eq!(a.budget(), Duration::from_micros(16));
        a.record(true);
        assert_eq!(a.budget(), Duration::from_micros(32));
    }

    #[test]
    fn zero_maximum_never_spins() {
        let a = Adaptive::new(Duration::ZERO);
        assert!((0..200).all(|_| a.budget().is_zero()));
        assert!(!a.spin(|| false));
    }

    #[test]
    fn spin_stops_at_the_hand_off_or_the_budget() {
        let a = Adaptive::new(Duration::from_millis(5));
        assert!(a.spin(|| true));
        let t = Instant::now();
        assert!(!a.spin(|| false));
        assert!(t.elapsed() >= Duration::from_millis(5));
        assert_eq!(a.outcomes(), (1, 1));
    }
}
