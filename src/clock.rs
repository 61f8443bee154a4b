//! Time as a dependency: nothing reads the wall clock except `SystemClock`.
//!
//! The demo, tests and benchmarks use `SimClock`, which can run faster than real
//! time and be advanced by hand, so an hour of scanning takes seconds.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

#[derive(Debug)]
struct SimState {
    /// Simulated time at `anchor`.
    base: DateTime<Utc>,
    /// Real instant the base was taken at.
    anchor: Instant,
    /// Simulated seconds per real second; 0 freezes the clock.
    speed: f64,
}

/// A simulated clock: starts at a given time, runs at `speed` × real time, and
/// can be advanced or set by hand. Cloning shares the same clock.
#[derive(Debug, Clone)]
pub struct SimClock {
    state: Arc<Mutex<SimState>>,
}

impl SimClock {
    /// A clock frozen at `start` (speed 0): time moves only by `advance`.
    pub fn frozen(start: DateTime<Utc>) -> Self {
        Self::running(start, 0.0)
    }

    /// A clock at `start` that runs `speed` simulated seconds per real second.
    pub fn running(start: DateTime<Utc>, speed: f64) -> Self {
        Self {
            state: Arc::new(Mutex::new(SimState {
                base: start,
                anchor: Instant::now(),
                speed: speed.max(0.0),
            })),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SimState> {
        // A poisoned lock only means another thread panicked mid-read of plain
        // data; the state itself is always consistent, so keep using it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn now_locked(s: &SimState) -> DateTime<Utc> {
        let real = s.anchor.elapsed().as_secs_f64() * s.speed;
        s.base + Duration::milliseconds((real * 1000.0) as i64)
    }

    /// Moves simulated time forward by `d`.
    pub fn advance(&self, d: Duration) {
        let mut s = self.lock();
        let now = Self::now_locked(&s);
        s.base = now + d;
        s.anchor = Instant::now();
    }

    /// Sets simulated time to `t` (never backwards).
    pub fn set(&self, t: DateTime<Utc>) {
        let mut s = self.lock();
        let now = Self::now_locked(&s);
        s.base = t.max(now);
        s.anchor = Instant::now();
    }

    /// Simulated seconds per real second.
    pub fn speed(&self) -> f64 {
        self.lock().speed
    }
}

impl Clock for SimClock {
    fn now(&self) -> DateTime<Utc> {
        Self::now_locked(&self.lock())
    }
}

/// A shared handle to whichever clock the process runs on.
pub type SharedClock = Arc<dyn Clock>;

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn frozen_clock_moves_only_when_advanced() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let c = SimClock::frozen(t0);
        assert_eq!(c.now(), t0);
        c.advance(Duration::hours(2));
        assert_eq!(c.now(), t0 + Duration::hours(2));
        c.set(t0); // never backwards
        assert_eq!(c.now(), t0 + Duration::hours(2));
        let shared = c.clone();
        shared.advance(Duration::minutes(1));
        assert_eq!(c.now(), t0 + Duration::minutes(121));
    }
}
