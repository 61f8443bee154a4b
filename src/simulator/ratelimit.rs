//! Klaviyo's rate limits, enforced per account and per operation in real time.
//!
//! Pacing uses `tokio::time::Instant`, not the simulated clock: a demo clock at
//! 600x must not let a client send 600x as many requests as Klaviyo would take.
//! Each (account, operation) keeps a log of the last minute's admitted requests
//! (a sliding window for burst and steady) and a fixed 24-hour window for the
//! daily cap of the reporting endpoints.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::klaviyo::limits::OperationLimit;

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);

#[derive(Debug, Default)]
struct Bucket {
    /// Admission times within the last minute, oldest first.
    recent: VecDeque<Instant>,
    /// Start of the current daily window and requests admitted in it.
    day: Option<(Instant, u32)>,
}

/// Per-account, per-operation request logs.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    buckets: Mutex<HashMap<(usize, &'static str, &'static str), Bucket>>,
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
        let mut map = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = map.entry((account, op.method, op.path)).or_default();
        while b
            .recent
            .front()
            .is_some_and(|&t| now.saturating_duration_since(t) >= MINUTE)
        {
            b.recent.pop_front();
        }
        let mut wait = Duration::ZERO;
        let in_last_second = b
            .recent
            .iter()
            .rev()
            .take_while(|&&t| now.saturating_duration_since(t) < SECOND)
            .count();
        if in_last_second >= op.burst_per_sec as usize {
            // The oldest request inside the last second must age out.
            let idx = b.recent.len() - in_last_second;
            wait = wait.max(SECOND.saturating_sub(now.saturating_duration_since(b.recent[idx])));
        }
        if b.recent.len() >= op.steady_per_min as usize {
            let idx = b.recent.len() - op.steady_per_min as usize;
            wait = wait.max(MINUTE.saturating_sub(now.saturating_duration_since(b.recent[idx])));
        }
        if let (Some(cap), Some((start, used))) = (op.daily, b.day) {
            let age = now.saturating_duration_since(start);
            if age < DAY && used >= cap {
                wait = wait.max(DAY - age);
            }
        }
        if !wait.is_zero() {
            return Err(retry_after_secs(wait));
        }
        b.recent.push_back(now);
        if op.daily.is_some() {
            b.day = match b.day {
                Some((start, used)) if now.saturating_duration_since(start) < DAY => {
                    Some((start, used + 1))
                }
                _ => Some((now, 1)),
            };
        }
        Ok(())
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
    fn retry_after_rounds_up_to_at_least_one() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
    }
}
