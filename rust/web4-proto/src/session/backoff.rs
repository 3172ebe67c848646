//! Exponential backoff with jitter for re-dialling, as a pure calculator.
//!
//! Theory of operation: attempt `n` (0-based) waits `min(cap, base * factor^n)` scaled
//! down by a random fraction of at most `jitter`: the delay is uniform in
//! `[d * (1 - jitter), d]`. So delays grow geometrically, never exceed `cap`, and two
//! diallers that lost the same link spread out. [`Backoff::reset`] starts over after a
//! successful resume. The rng is an argument, so the sequence is reproducible.

use std::time::Duration;

use super::SessionRng;

/// Backoff parameters. Defaults: base 100 ms, factor 2, cap 10 s, jitter 0.5.
#[derive(Debug, Clone, PartialEq)]
pub struct BackoffConfig {
    /// Delay before the first re-dial, before jitter.
    pub base: Duration,
    /// Growth per attempt; values below 1 are treated as 1.
    pub factor: f64,
    /// Upper bound of any delay.
    pub cap: Duration,
    /// Fraction in `[0, 1]` of the delay that jitter may take away.
    pub jitter: f64,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        Self {
            base: Duration::from_millis(100),
            factor: 2.0,
            cap: Duration::from_secs(10),
            jitter: 0.5,
        }
    }
}

/// The state of one backoff sequence: how many attempts were made since the last reset.
#[derive(Debug, Clone)]
pub struct Backoff {
    config: BackoffConfig,
    attempt: u32,
}

impl Backoff {
    /// A fresh sequence.
    pub fn new(config: BackoffConfig) -> Self {
        Self { config, attempt: 0 }
    }

    /// Attempts made since the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// The delay before attempt `n` without jitter: `min(cap, base * factor^n)`.
    pub fn ceiling(&self, n: u32) -> Duration {
        let factor = self.config.factor.max(1.0);
        let cap = self.config.cap.as_secs_f64();
        let raw = self.config.base.as_secs_f64() * factor.powi(n.min(1024) as i32);
        Duration::from_secs_f64(if raw.is_finite() { raw.min(cap) } else { cap })
    }

    /// The delay before the next attempt, with jitter from `rng`; counts the attempt.
    pub fn next_delay(&mut self, rng: &mut dyn SessionRng) -> Duration {
        let ceiling = self.ceiling(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        let jitter = self.config.jitter.clamp(0.0, 1.0);
        let keep = 1.0 - jitter * rng.next_f64();
        ceiling.mul_f64(keep)
    }

    /// Start over (after a successful connection and resume).
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}
