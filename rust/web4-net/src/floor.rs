//! A measurement, not a feature: what one thread hand-off costs on this machine.
//!
//! Theory of operation: the RTT node does its IO on its own thread, so every message
//! crosses threads: the application wakes the node's IO thread, the socket wakes the
//! peer's IO thread, which wakes the peer's application. A ping-pong round trip between
//! two nodes therefore contains six hand-offs. [`handoff_round_trips`] times the
//! cheapest possible version of two of them (a mutex and condvar ping-pong between two
//! idle threads), so `make bench` can report the floor under the transport's latency
//! figures in the same run.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// `rounds` round trips between this thread and a helper thread (each round trip is two
/// hand-offs: wake the helper, be woken by it), sorted ascending.
pub fn handoff_round_trips(rounds: usize) -> Vec<Duration> {
    let pair = Arc::new((Mutex::new(0u64), Condvar::new()));
    let helper = {
        let pair = pair.clone();
        std::thread::spawn(move || {
            let (turn, cond) = &*pair;
            for i in 0..rounds as u64 {
                let mut t = turn.lock().unwrap_or_else(|e| e.into_inner());
                while *t != 2 * i + 1 {
                    t = cond.wait(t).unwrap_or_else(|e| e.into_inner());
                }
                *t += 1;
                cond.notify_one();
            }
        })
    };
    let (turn, cond) = &*pair;
    let mut out = Vec::with_capacity(rounds);
    for i in 0..rounds as u64 {
        let start = Instant::now();
        let mut t = turn.lock().unwrap_or_else(|e| e.into_inner());
        *t += 1;
        cond.notify_one();
        while *t != 2 * i + 2 {
            t = cond.wait(t).unwrap_or_else(|e| e.into_inner());
        }
        out.push(start.elapsed());
    }
    let _ = helper.join();
    out.sort();
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn returns_one_sorted_duration_per_round() {
        let d = super::handoff_round_trips(50);
        assert_eq!(d.len(), 50);
        assert!(d.windows(2).all(|w| w[0] <= w[1]));
    }
}
