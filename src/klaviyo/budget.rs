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

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::klaviyo::limits;

/// The burst window, counted from an earlier request's answer (see
/// `Window::reserve`), plus a hair for clocks that tick coarsely.
const SECOND_WINDOW: Duration = Duration::from_millis(1_002);
/// The steady window, the same way.
const MINUTE_WINDOW: Duration = Duration::from_millis(60_002);

/// Share of a daily cap that may be spent at once; the rest comes back
/// evenly over the day, so an hourly scan still finds reports at 23:00.
const DAILY_BURST_SHARE: f64 = 0.1;
const DAY_SECS: f64 = 86_400.0;

/// Limits for one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests that may start in any one second.
    pub per_sec: u32,
    /// Requests that may start in any one minute.
    pub per_min: u32,
    /// Requests per day (the reporting endpoints), if capped.
    pub per_day: Option<u32>,
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
                    per_day: op.daily,
                },
            ),
            None => (
                format!("{} ?", method.to_ascii_uppercase()),
                Limit {
                    per_sec: 1,
                    per_min: 15,
                    per_day: None,
                },
            ),
        }
    }
}

/// A daily cap spread over the day: a token bucket holding a tenth of the
/// cap, refilled with the rest evenly over 24 hours. Any 24 hours then see
/// at most the cap, and a burst of scans early in the day cannot spend the
/// reports the evening's scans need.
#[derive(Debug, Clone, Copy)]
struct DailyBucket {
    tokens: f64,
    capacity: f64,
    refill_per_sec: f64,
    at: Instant,
}

impl DailyBucket {
    fn new(cap: u32, now: Instant) -> Self {
        let capacity = (f64::from(cap) * DAILY_BURST_SHARE).floor().max(1.0);
        Self {
            tokens: capacity,
            capacity,
            refill_per_sec: (f64::from(cap) - capacity).max(0.0) / DAY_SECS,
            at: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let secs = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + secs * self.refill_per_sec).min(self.capacity);
        self.at = now;
    }

    /// Takes one request's share, or says how long until one is back.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else if self.refill_per_sec > 0.0 {
            Err(Duration::from_secs_f64(
                (1.0 - self.tokens) / self.refill_per_sec,
            ))
        } else {
            Err(Duration::from_secs(86_400))
        }
    }
}

/// One request's place in its operation's window.
#[derive(Debug, Clone, Copy)]
struct Slot {
    id: u64,
    start: Instant,
    /// When its answer (or failure) came back: it reached Klaviyo before then.
    done: Option<Instant>,
}

#[derive(Debug)]
struct Window {
    limit: Limit,
    /// The latest `per_min` slots, oldest first (older ones constrain nothing).
    slots: VecDeque<Slot>,
    /// Klaviyo told us to wait (429) until this time.
    blocked_until: Option<Instant>,
    /// The daily share, for operations with a daily cap.
    daily: Option<DailyBucket>,
    /// Requests started in this window.
    calls: u64,
}

/// Where a new request may go.
enum Reservation {
    /// Start at this time (the slot is taken).
    At(Instant, u64),
    /// An earlier request that decides it has not come back yet.
    WaitForAnswer,
}

impl Window {
    fn new(limit: Limit, now: Instant) -> Self {
        Self {
            limit,
            slots: VecDeque::new(),
            blocked_until: None,
            daily: limit.per_day.map(|cap| DailyBucket::new(cap, now)),
            calls: 0,
        }
    }

    /// Klaviyo counts a request when it arrives, which we never see; it is
    /// no later than when the answer is back. So the (n+per_sec)-th request
    /// starts a second after the n-th one's answer, not its start: however
    /// late a busy machine or network delivers a request, it cannot arrive
    /// within a second of one counted before it.
    fn reserve(&mut self, now: Instant, id: u64) -> Reservation {
        let per_sec = self.limit.per_sec.max(1) as usize;
        let per_min = self.limit.per_min.max(1) as usize;
        while self.slots.len() > per_min {
            self.slots.pop_front();
        }
        let mut t = now;
        if let Some(last) = self.slots.back() {
            t = t.max(last.start);
        }
        if let Some(b) = self.blocked_until {
            t = t.max(b);
        }
        let len = self.slots.len();
        for (n, window) in [(per_sec, SECOND_WINDOW), (per_min, MINUTE_WINDOW)] {
            if len >= n {
                match self.slots[len - n].done {
                    Some(done) => t = t.max(done + window),
                    None => return Reservation::WaitForAnswer,
                }
            }
        }
        self.slots.push_back(Slot {
            id,
            start: t,
            done: None,
        });
        Reservation::At(t, id)
    }

    fn finish(&mut self, id: u64, at: Instant) {
        if let Some(s) = self.slots.iter_mut().rev().find(|s| s.id == id) {
            s.done = Some(at);
        }
    }
}

/// The daily share of a capped operation is spent: the call is not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "the daily allowance for {operation} is spent for now ({cap} a day, spread over the day); the next one is due in {} min",
    next_in.as_secs().div_ceil(60)
)]
pub struct DailyCapSpent {
    /// `METHOD /path`.
    pub operation: String,
    /// Klaviyo's cap per day.
    pub cap: u32,
    /// When the next request may be made.
    pub next_in: Duration,
}

/// Requests made to one operation through a budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    /// `METHOD /path-template`.
    pub operation: String,
    /// The operation's limits.
    pub limit: Limit,
    /// Requests started.
    pub calls: u64,
}

/// The request budget of one account: a window per operation plus counters.
#[derive(Debug, Default)]
pub struct AccountBudget {
    windows: Mutex<HashMap<String, Window>>,
    calls: AtomicU64,
    throttled: AtomicU64,
    next_id: AtomicU64,
    /// Woken whenever a request's answer is back (a slot may have opened).
    answered: Notify,
}

/// A request's place in its window; drop it when the answer is back.
#[derive(Debug)]
pub struct Ticket<'a> {
    budget: &'a AccountBudget,
    key: String,
    id: u64,
}

impl Ticket<'_> {
    /// Gives the place back unused (the request was never sent).
    fn withdraw(self) {
        let this = std::mem::ManuallyDrop::new(self);
        this.budget.finish(&this.key, this.id, true);
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        self.budget.finish(&self.key, self.id, false);
    }
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

    /// Waits until a request to `method path` may start, then counts it; an
    /// operation whose daily share is spent is refused at once instead. Hold
    /// the ticket until the answer is back: the window counts from then.
    pub async fn acquire(&self, method: &str, path: &str) -> Result<Ticket<'_>, DailyCapSpent> {
        let (key, limit) = Limit::for_request(method, path);
        self.acquire_keyed(&key, limit).await
    }

    /// Waits for a slot in the window `key` with the given limit, then counts it.
    pub async fn acquire_keyed(
        &self,
        key: &str,
        limit: Limit,
    ) -> Result<Ticket<'_>, DailyCapSpent> {
        let mut first = true;
        loop {
            let notified = self.answered.notified();
            tokio::pin!(notified);
            // Registered before the window is read, so an answer that comes
            // back between the read and the wait still wakes us.
            notified.as_mut().enable();
            let reservation = {
                let mut map = self.lock();
                let now = Instant::now();
                let w = map
                    .entry(key.to_owned())
                    .or_insert_with(|| Window::new(limit, now));
                if first {
                    if let Some(daily) = &mut w.daily
                        && let Err(next_in) = daily.take(now)
                    {
                        return Err(DailyCapSpent {
                            operation: key.to_owned(),
                            cap: limit.per_day.unwrap_or(0),
                            next_in,
                        });
                    }
                    w.calls += 1;
                    first = false;
                }
                w.reserve(now, self.next_id.fetch_add(1, Ordering::Relaxed))
            };
            let (at, id) = match reservation {
                Reservation::At(at, id) => (at, id),
                Reservation::WaitForAnswer => {
                    // Every ticket is finished when dropped, so the answer
                    // comes; the timeout only bounds a wait on a lost wake-up.
                    let _ = tokio::time::timeout(Duration::from_secs(1), notified).await;
                    continue;
                }
            };
            // From here the slot is ours; dropping the ticket (also when this
            // future is cancelled) gives it back.
            let ticket = Ticket {
                budget: self,
                key: key.to_owned(),
                id,
            };
            tokio::time::sleep_until(at).await;
            // A 429 seen while we slept moves the whole operation back; a
            // slot taken before it must not fire into the block.
            let blocked = self
                .lock()
                .get(key)
                .and_then(|w| w.blocked_until)
                .is_some_and(|b| b > Instant::now());
            if !blocked {
                self.calls.fetch_add(1, Ordering::Relaxed);
                return Ok(ticket);
            }
            ticket.withdraw();
        }
    }

    fn finish(&self, key: &str, id: u64, withdrawn: bool) {
        if let Some(w) = self.lock().get_mut(key) {
            if withdrawn {
                w.slots.retain(|s| s.id != id);
            } else {
                w.finish(id, Instant::now());
            }
        }
        self.answered.notify_waiters();
    }

    /// Counts a request sent without waiting for a slot (pacing is off).
    pub fn count_unpaced(&self, method: &str, path: &str) {
        let (key, limit) = Limit::for_request(method, path);
        self.lock()
            .entry(key)
            .or_insert_with(|| Window::new(limit, Instant::now()))
            .calls += 1;
        self.calls.fetch_add(1, Ordering::Relaxed);
    }

    /// Holds every request to `method path` until `until` (after a 429), and counts the 429.
    pub fn block(&self, method: &str, path: &str, until: Instant) {
        self.throttled.fetch_add(1, Ordering::Relaxed);
        let (key, limit) = Limit::for_request(method, path);
        let mut map = self.lock();
        let w = map
            .entry(key)
            .or_insert_with(|| Window::new(limit, Instant::now()));
        w.blocked_until = Some(w.blocked_until.map_or(until, |b| b.max(until)));
    }

    /// Requests started through this budget.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// 429s received through this budget.
    pub fn throttled(&self) -> u64 {
        self.throttled.load(Ordering::Relaxed)
    }

    /// Requests per operation, sorted by operation.
    pub fn usage(&self) -> Vec<Usage> {
        let mut out: Vec<Usage> = self
            .lock()
            .iter()
            .map(|(k, w)| Usage {
                operation: k.clone(),
                limit: w.limit,
                calls: w.calls,
            })
            .collect();
        out.sort_by(|a, b| a.operation.cmp(&b.operation));
        out
    }
}

/// The least time, from the first request to the start of the last, in which
/// `calls` requests fit under `limit` (ignoring the daily cap): each request
/// starts as early as the per-second and per-minute windows allow.
pub fn floor_secs(calls: u64, limit: Limit) -> f64 {
    let per_sec = limit.per_sec.max(1) as usize;
    let per_min = limit.per_min.max(1) as usize;
    let mut starts: Vec<f64> = Vec::with_capacity(calls as usize);
    for i in 0..calls as usize {
        let mut t = starts.last().copied().unwrap_or(0.0);
        if i >= per_sec {
            t = t.max(starts[i - per_sec] + 1.0);
        }
        if i >= per_min {
            t = t.max(starts[i - per_min] + 60.0);
        }
        starts.push(t);
    }
    starts.last().copied().unwrap_or(0.0)
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
                b.acquire_keyed("op", limit).await.unwrap();
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
            per_day: None,
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
            per_day: None,
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
        budget.acquire("GET", "/api/accounts").await.unwrap();
        budget.acquire("GET", "/api/lists").await.unwrap();
        budget
            .acquire("GET", "/api/lists?page[cursor]=x")
            .await
            .unwrap();
        assert_eq!(Instant::now(), t0);
        budget.acquire("GET", "/api/accounts").await.unwrap();
        assert!(Instant::now() >= t0 + Duration::from_secs(1));
        assert_eq!(budget.calls(), 4);
        let other = AccountBudget::new();
        let t1 = Instant::now();
        other.acquire("GET", "/api/accounts").await.unwrap();
        assert_eq!(Instant::now(), t1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_block_holds_the_operation() {
        let budget = AccountBudget::new();
        let t0 = Instant::now();
        budget.block("GET", "/api/flows", t0 + Duration::from_secs(5));
        budget.acquire("GET", "/api/flows").await.unwrap();
        assert!(Instant::now() >= t0 + Duration::from_secs(5));
        // Other operations are not held.
        let t1 = Instant::now();
        budget.acquire("GET", "/api/lists").await.unwrap();
        assert_eq!(Instant::now(), t1);
        assert_eq!(budget.throttled(), 1);
        let usage = budget.usage();
        assert_eq!(
            usage
                .iter()
                .map(|u| (u.operation.as_str(), u.calls))
                .collect::<Vec<_>>(),
            [("GET /api/flows", 1), ("GET /api/lists", 1)]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_daily_cap_is_spread_over_the_day() {
        let budget = AccountBudget::new();
        // A report endpoint's daily cap, without its per-minute pacing, so
        // only the daily share decides.
        let limit = Limit {
            per_sec: 1_000,
            per_min: 10_000,
            per_day: Some(225),
        };
        let key = "POST /api/flow-values-reports";
        let mut made = 0;
        let refused = loop {
            match budget.acquire_keyed(key, limit).await {
                Ok(_) => made += 1,
                Err(e) => break e,
            }
            assert!(made <= 225, "the cap was not enforced");
        };
        // 225 a day: 22 at once, then one about every 7 minutes.
        assert_eq!(made, 22);
        assert_eq!(refused.cap, 225);
        assert_eq!(refused.operation, key);
        let gap = 86_400.0 / (225.0 - 22.0);
        assert!(
            (refused.next_in.as_secs_f64() - gap).abs() < 60.0,
            "{:?}",
            refused.next_in
        );
        assert!(
            refused.to_string().contains("spread over the day"),
            "{refused}"
        );
        // A refused call is not counted as made.
        assert_eq!(budget.usage()[0].calls, 22);
        // Over the rest of the day the share comes back, and no more.
        let mut day = 0;
        for _ in 0..(24 * 60) {
            tokio::time::advance(Duration::from_secs(60)).await;
            while budget.acquire_keyed(key, limit).await.is_ok() {
                day += 1;
            }
        }
        assert!(made + day <= 225, "{made} + {day} in one day");
        assert!(day >= 200, "the day's share came back: {day}");
        // Uncapped operations are never refused.
        for _ in 0..300 {
            budget.acquire("GET", "/api/lists").await.unwrap();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn the_window_counts_from_answers_not_starts() {
        let budget = AccountBudget::new();
        let limit = Limit {
            per_sec: 2,
            per_min: 100,
            per_day: None,
        };
        let t0 = Instant::now();
        let a = budget.acquire_keyed("op", limit).await.unwrap();
        let b = budget.acquire_keyed("op", limit).await.unwrap();
        assert_eq!(Instant::now(), t0);
        // The third request waits for the first one's answer, then a second.
        let third = {
            let budget = &budget;
            async move {
                let _t = budget.acquire_keyed("op", limit).await.unwrap();
                Instant::now()
            }
        };
        let answer_a = async {
            tokio::time::sleep(Duration::from_millis(700)).await;
            drop(a);
        };
        let (started, ()) = tokio::join!(third, answer_a);
        assert!(
            started >= t0 + Duration::from_millis(1_700),
            "started {:?} after t0",
            started - t0
        );
        drop(b);
        // A place given back unused frees its slot for the next request.
        let c = budget.acquire_keyed("op2", limit).await.unwrap();
        let d = budget.acquire_keyed("op2", limit).await.unwrap();
        let t1 = Instant::now();
        d.withdraw();
        let _e = budget.acquire_keyed("op2", limit).await.unwrap();
        assert_eq!(Instant::now(), t1, "the withdrawn place was reused at once");
        drop(c);
    }

    #[test]
    fn the_floor_follows_both_windows() {
        let l = |per_sec, per_min| Limit {
            per_sec,
            per_min,
            per_day: None,
        };
        assert_eq!(floor_secs(0, l(3, 60)), 0.0);
        assert_eq!(floor_secs(3, l(3, 60)), 0.0);
        assert_eq!(floor_secs(4, l(3, 60)), 1.0);
        assert_eq!(floor_secs(10, l(3, 60)), 3.0);
        // 1/s and 15/min: the 16th request waits for the first minute to pass.
        assert_eq!(floor_secs(15, l(1, 15)), 14.0);
        assert_eq!(floor_secs(16, l(1, 15)), 60.0);
        // Reports: 1/s, 2/min.
        assert_eq!(floor_secs(2, l(1, 2)), 1.0);
        assert_eq!(floor_secs(3, l(1, 2)), 60.0);
    }

    #[test]
    fn unknown_operations_get_the_smallest_tier() {
        let (key, limit) = Limit::for_request("GET", "/api/not-a-thing");
        assert_eq!(key, "GET ?");
        assert_eq!(
            limit,
            Limit {
                per_sec: 1,
                per_min: 15,
                per_day: None
            }
        );
        let (key, limit) = Limit::for_request("POST", "/api/metric-aggregates");
        assert_eq!(key, "POST /api/metric-aggregates");
        assert_eq!((limit.per_sec, limit.per_min), (3, 60));
    }
}
