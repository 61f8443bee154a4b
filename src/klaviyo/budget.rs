//! Request pacing: one sliding window per (account, operation), sized from
//! Klaviyo's published burst (per second) and steady (per minute) limits.
//!
//! Callers reserve a start time before sending; reservations are handed out in
//! order, so concurrent fetches for one account queue up instead of racing and
//! drawing 429s. Time comes from `tokio::time`, so tests can pause it.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

use crate::klaviyo::limits;

/// The burst window, with a margin: the server sees our requests a little
/// after we start them, and jitter must not push four into its second.
const SECOND_WINDOW: Duration = Duration::from_millis(1_050);
/// The steady window, with the same kind of margin.
const MINUTE_WINDOW: Duration = Duration::from_millis(60_500);

/// Limits for one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests that may start in any one second.
    pub per_sec: u32,
    /// Requests that may start in any one minute.
    pub per_min: u32,
}

impl Limit {
    /// The limit for a request, from the generated table; unknown operations
    /// get the smallest tier (1/s, 15/min) so a guess never over-spends.
    pub fn for_request(method: &str, path: &str) -> (String, Limit) {
        match limits::operation(method, path) {
            Some(op) => (
                format!("{} {}", op.method, op.path),
                Limit {
                    per_sec: op.burst_per_sec,
                    per_min: op.steady_per_min,
                },
            ),
            None => (
                format!("{} ?", method.to_ascii_uppercase()),
                Limit {
                    per_sec: 1,
                    per_min: 15,
                },
            ),
        }
    }
}

#[derive(Debug)]
struct Window {
    limit: Limit,
    /// Reserved start times, ascending; only the last minute's are kept.
    starts: VecDeque<Instant>,
    /// Klaviyo told us to wait (429) until this time.
    blocked_until: Option<Instant>,
}

impl Window {
    fn reserve(&mut self, now: Instant) -> Instant {
        while let Some(&front) = self.starts.front() {
            if now.saturating_duration_since(front) >= MINUTE_WINDOW {
                self.starts.pop_front();
            } else {
                break;
            }
        }
        let mut t = now;
        if let Some(&last) = self.starts.back() {
            t = t.max(last);
        }
        if let Some(b) = self.blocked_until {
            t = t.max(b);
        }
        let len = self.starts.len();
        let per_sec = self.limit.per_sec.max(1) as usize;
        let per_min = self.limit.per_min.max(1) as usize;
        // Starts are ascending and `t` is at least the last one, so the n-th
        // newest start decides whether `t` would make n + 1 in one window.
        if len >= per_sec {
            t = t.max(self.starts[len - per_sec] + SECOND_WINDOW);
        }
        if len >= per_min {
            t = t.max(self.starts[len - per_min] + MINUTE_WINDOW);
        }
        self.starts.push_back(t);
        t
    }
}

/// The request budget of one account: a window per operation plus a call counter.
#[derive(Debug, Default)]
pub struct AccountBudget {
    windows: Mutex<HashMap<String, Window>>,
    calls: AtomicU64,
}

impl AccountBudget {
    /// An empty budget.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Window>> {
        // The map holds plain data updated in one step; a panic elsewhere
        // cannot leave it half-written, so a poisoned lock is still usable.
        self.windows.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until a request to `method path` may start, then counts it.
    pub async fn acquire(&self, method: &str, path: &str) {
        let (key, limit) = Limit::for_request(method, path);
        self.acquire_keyed(&key, limit).await;
    }

    /// Waits for a slot in the window `key` with the given limit, then counts it.
    pub async fn acquire_keyed(&self, key: &str, limit: Limit) {
        loop {
            let slot = {
                let mut map = self.lock();
                let w = map.entry(key.to_owned()).or_insert_with(|| Window {
                    limit,
                    starts: VecDeque::new(),
                    blocked_until: None,
                });
                w.reserve(Instant::now())
            };
            tokio::time::sleep_until(slot).await;
            // A 429 seen while we slept moves the whole operation back; a
            // reservation made before it must not fire into the block.
            let blocked = self
                .lock()
                .get(key)
                .and_then(|w| w.blocked_until)
                .is_some_and(|b| b > Instant::now());
            if !blocked {
                break;
            }
        }
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts a request sent without waiting for a slot (pacing is off).
    pub fn count_unpaced(&self) {
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Holds every request to `method path` until `until` (after a 429).
    pub fn block(&self, method: &str, path: &str, until: Instant) {
        let (key, limit) = Limit::for_request(method, path);
        let mut map = self.lock();
        let w = map.entry(key).or_insert_with(|| Window {
            limit,
            starts: VecDeque::new(),
            blocked_until: None,
        });
        w.blocked_until = Some(w.blocked_until.map_or(until, |b| b.max(until)));
    }

    /// Requests started through this budget.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    async fn start_times(budget: Arc<AccountBudget>, limit: Limit, n: usize) -> Vec<Instant> {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..n {
            let b = budget.clone();
            set.spawn(async move {
                b.acquire_keyed("op", limit).await;
                Instant::now()
            });
        }
        let mut times = set.join_all().await;
        times.sort();
        times
    }

    fn max_in_window(times: &[Instant], window: Duration) -> usize {
        (0..times.len())
            .map(|i| {
                times[i..]
                    .iter()
                    .take_while(|t| t.duration_since(times[i]) < window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[tokio::test(start_paused = true)]
    async fn burst_limit_spaces_requests() {
        let limit = Limit {
            per_sec: 3,
            per_min: 60,
        };
        let t0 = Instant::now();
        let times = start_times(Arc::new(AccountBudget::new()), limit, 10).await;
        assert_eq!(max_in_window(&times, Duration::from_secs(1)), 3);
        // The first burst goes out at once: pacing must not slow a small scan.
        assert_eq!(times[2], t0);
        assert!(times[3] >= t0 + Duration::from_secs(1));
        // Ten requests at 3/s need three full windows.
        assert!(times[9] >= t0 + Duration::from_secs(3));
    }

    #[tokio::test(start_paused = true)]
    async fn steady_limit_spaces_requests() {
        let limit = Limit {
            per_sec: 1,
            per_min: 15,
        };
        let t0 = Instant::now();
        let times = start_times(Arc::new(AccountBudget::new()), limit, 20).await;
        assert_eq!(max_in_window(&times, Duration::from_secs(60)), 15);
        assert_eq!(max_in_window(&times, Duration::from_secs(1)), 1);
        assert!(times[15] >= t0 + Duration::from_secs(60));
    }

    #[tokio::test(start_paused = true)]
    async fn operations_and_accounts_have_separate_windows() {
        let budget = AccountBudget::new();
        let t0 = Instant::now();
        // /api/accounts is 1/s; /api/lists is 75/s: they do not share a window.
        budget.acquire("GET", "/api/accounts").await;
        budget.acquire("GET", "/api/lists").await;
        budget.acquire("GET", "/api/lists?page[cursor]=x").await;
        assert_eq!(Instant::now(), t0);
        budget.acquire("GET", "/api/accounts").await;
        assert!(Instant::now() >= t0 + Duration::from_secs(1));
        assert_eq!(budget.calls(), 4);
        let other = AccountBudget::new();
        let t1 = Instant::now();
        other.acquire("GET", "/api/accounts").await;
        assert_eq!(Instant::now(), t1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_block_holds_the_operation() {
        let budget = AccountBudget::new();
        let t0 = Instant::now();
        budget.block("GET", "/api/flows", t0 + Duration::from_secs(5));
        budget.acquire("GET", "/api/flows").await;
        assert!(Instant::now() >= t0 + Duration::from_secs(5));
        // Other operations are not held.
        let t1 = Instant::now();
        budget.acquire("GET", "/api/lists").await;
        assert_eq!(Instant::now(), t1);
    }

    #[test]
    fn unknown_operations_get_the_smallest_tier() {
        let (key, limit) = Limit::for_request("GET", "/api/not-a-thing");
        assert_eq!(key, "GET ?");
        assert_eq!(
            limit,
            Limit {
                per_sec: 1,
                per_min: 15
            }
        );
        let (key, limit) = Limit::for_request("POST", "/api/metric-aggregates");
        assert_eq!(key, "POST /api/metric-aggregates");
        assert_eq!((limit.per_sec, limit.per_min), (3, 60));
    }
}
