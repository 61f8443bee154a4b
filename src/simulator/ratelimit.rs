//! Klaviyo's rate limits, enforced per account and per operation in real time.
//!
//! Pacing uses `tokio::time::Instant`, not the simulated clock: a demo clock at
//! 600x must not let a client send 600x as many requests as Klaviyo would take.
//! Each (account, operation) keeps a log of the last minute's admitted requests
//! (a sliding window for burst and steady) and a fixed 24-hour window for the
//! daily cap of the reporting endpoints.
//!
//! A portfolio of thousands of accounts, each scanned now and then, must not
//! keep a log per account and operation forever: once a minute the limiter
//! drops logs idle for a minute (they would admit the next request anyway)
//! and daily counters whose 24-hour window has passed. Daily counters live
//! apart from the logs, a few dozen bytes each, so an idle log can go while
//! its day still counts.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::klaviyo::limits::OperationLimit;

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);

/// An account and an operation (method, path template).
type Key = (usize, &'static str, &'static str);

/// The logs and counters behind the lock.
#[derive(Debug, Default)]
struct State {
    /// Admission times within the last minute, oldest first.
    recent: HashMap<Key, VecDeque<Instant>>,
    /// Start of the current daily window and requests admitted in it
    /// (operations with a daily cap only).
    daily: HashMap<Key, (Instant, u32)>,
    /// When idle entries were last dropped.
    last_sweep: Option<Instant>,
}

impl State {
    /// Drops logs idle for a minute and daily windows that have ended, at
    /// most once a minute so the cost stays a small share of requests.
    fn sweep(&mut self, now: Instant) {
        if self
            .last_sweep
            .is_some_and(|t| now.saturating_duration_since(t) < MINUTE)
        {
            return;
        }
        self.last_sweep = Some(now);
        self.recent.retain(|_, log| {
            log.back()
                .is_some_and(|&t| now.saturating_duration_since(t) < MINUTE)
        });
        self.daily
            .retain(|_, (start, _)| now.saturating_duration_since(*start) < DAY);
    }
}

/// Per-account, per-operation request logs.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    state: Mutex<State>,
}

impl Limiter {
    /// Admits a request of `account` to `op` at `now`, or says how many whole
    /// seconds (at least 1) to wait.
    pub(crate) fn check(
        &self,
        account: usize,
        op: &OperationLimit,
        now: Instant,
    ) -> Result<(), u64> {
        // A poisoned lock only means a panic elsewhere mid-update of plain
        // counters; carrying on with them is safe.
        let mut guard = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let state = &mut *guard;
        state.sweep(now);
        let key = (account, op.method, op.path);
        let recent = state.recent.entry(key).or_default();
        while recent
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= MINUTE)
        {
            recent.pop_front();
        }
        let mut wait = Duration::ZERO;
        let in_last_second = recent
            .iter()
            .rev()
            .take_while(|&&t| now.saturating_duration_since(t) < SECOND)
            .count();
        if in_last_second >= op.burst_per_sec as usize {
            // The oldest request inside the last second must age out.
            let idx = recent.len() - in_last_second;
            wait = wait.max(SECOND.saturating_sub(now.saturating_duration_since(recent[idx])));
        }
        if recent.len() >= op.steady_per_min as usize {
            let idx = recent.len() - op.steady_per_min as usize;
            wait = wait.max(MINUTE.saturating_sub(now.saturating_duration_since(recent[idx])));
        }
        let day = state.daily.get(&key).copied();
        if let (Some(cap), Some((start, used))) = (op.daily, day) {
            let age = now.saturating_duration_since(start);
            if age < DAY && used >= cap {
                wait = wait.max(DAY - age);
            }
        }
        if !wait.is_zero() {
            return Err(retry_after_secs(wait));
        }
        recent.push_back(now);
        if op.daily.is_some() {
            let next = match day {
                Some((start, used)) if now.saturating_duration_since(start) < DAY => {
                    (start, used + 1)
                }
                _ => (now, 1),
            };
            state.daily.insert(key, next);
        }
        Ok(())
    }

    /// `(logs, daily counters)` held now: what eviction keeps bounded.
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize) {
        let s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        (s.recent.len(), s.daily.len())
    }
}

/// Whole seconds to wait, rounded up, never below 1.
fn retry_after_secs(d: Duration) -> u64 {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::klaviyo::limits::operation;

    fn op(method: &str, path: &str) -> &'static OperationLimit {
        operation(method, path).expect("operation in the spec")
    }

    #[test]
    fn burst_then_steady_limits_apply_per_account() {
        let l = Limiter::default();
        let flows = op("GET", "/api/flows"); // 3/s, 60/min
        let t = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.check(0, flows, t), Ok(()));
        }
        assert_eq!(l.check(0, flows, t), Err(1));
        // Another account and another operation have their own budgets.
        assert_eq!(l.check(1, flows, t), Ok(()));
        assert_eq!(l.check(0, op("GET", "/api/lists"), t), Ok(()));
        // A second later the burst window has room again.
        assert_eq!(l.check(0, flows, t + SECOND), Ok(()));
        // Fill the minute: 60 admitted, then a wait of most of a minute.
        let mut now = t + SECOND;
        let mut admitted = 4;
        while admitted < 60 {
            now += Duration::from_millis(400);
            if l.check(0, flows, now).is_ok() {
                admitted += 1;
            }
        }
        now += Duration::from_millis(400);
        let wait = l.check(0, flows, now).unwrap_err();
        assert!((30..=60).contains(&wait), "wait {wait}");
        assert_eq!(l.check(0, flows, t + MINUTE + SECOND * 2), Ok(()));
    }

    #[test]
    fn daily_cap_for_reporting_endpoints() {
        let l = Limiter::default();
        let rep = op("POST", "/api/flow-values-reports"); // 1/s, 2/min, 225/day
        let t = Instant::now();
        let mut now = t;
        for _ in 0..225 {
            assert_eq!(l.check(3, rep, now), Ok(()));
            now += Duration::from_secs(31);
        }
        let wait = l.check(3, rep, now).unwrap_err();
        assert!(wait > 3600, "daily wait {wait}");
        assert_eq!(l.check(3, rep, t + DAY + SECOND), Ok(()));
    }

    #[test]
    fn idle_logs_go_after_a_minute_and_daily_counters_after_their_day() {
        let l = Limiter::default();
        let flows = op("GET", "/api/flows");
        let rep = op("POST", "/api/flow-values-reports");
        let t = Instant::now();
        // 5,000 accounts scanned once.
        for a in 0..5_000 {
            assert_eq!(l.check(a, flows, t), Ok(()));
        }
        assert_eq!(l.check(0, rep, t), Ok(()));
        assert_eq!(l.sizes(), (5_001, 1));
        // Within the minute, nothing may go: the logs still limit.
        assert_eq!(l.check(1, flows, t + SECOND * 30), Ok(()));
        assert_eq!(l.sizes(), (5_001, 1));
        // A minute later the idle logs are gone; the report's day still counts.
        let later = t + MINUTE + SECOND * 31;
        assert_eq!(l.check(7, flows, later), Ok(()));
        assert_eq!(l.sizes(), (1, 1));
        // The daily counter still applies after its log went: 225 a day.
        let mut now = later;
        for _ in 1..225 {
            now += Duration::from_secs(31);
            assert_eq!(l.check(0, rep, now), Ok(()));
        }
        now += Duration::from_secs(31);
        assert!(l.check(0, rep, now).unwrap_err() > 3600);
        // Once its day has passed, the counter goes too.
        assert_eq!(l.check(7, flows, t + DAY + SECOND), Ok(()));
        assert_eq!(l.sizes(), (1, 0));
        assert_eq!(l.check(0, rep, t + DAY + SECOND * 2), Ok(()));
    }

    #[test]
    fn retry_after_rounds_up_to_at_least_one() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
