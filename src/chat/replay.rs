//! The freshness window and replay memory both platforms' request verifiers
//! share: a signed request must be within five minutes of now either way, and
//! each accepted request is remembered until its timestamp leaves the window,
//! so a captured request cannot be sent again. Only requests whose signature
//! already checked out are remembered, so forgeries cannot fill the memory;
//! it is bounded all the same, oldest first.

use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;

use chrono::{DateTime, TimeDelta, Utc};

/// How far a request's timestamp may be from now (both platforms ask five minutes).
pub const DEFAULT_WINDOW: TimeDelta = TimeDelta::minutes(5);
/// Most requests remembered at once; far above one app's traffic in five minutes.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// Requests already taken, remembered where every process serving the app
/// sees them (the database), so a replay or a platform's retry that reaches
/// another process behind a load balancer is refused there too.
#[async_trait::async_trait]
pub trait SharedSeen: Send + Sync {
    /// Records `key` until `until`; `Ok(false)` when some process took it first.
    async fn first_time(&self, key: &str, until: DateTime<Utc>) -> Result<bool, String>;
}

/// Whether `key` is new to `shared` (always, without one). When the database
/// cannot answer, the request is taken: this process's own memory refused
/// the replays it saw, and losing a real request is worse.
pub async fn first_time_shared(
    shared: Option<&dyn SharedSeen>,
    key: &str,
    until: DateTime<Utc>,
) -> bool {
    let Some(shared) = shared else {
        return true;
    };
    match shared.first_time(key, until).await {
        Ok(first) => first,
        Err(e) => {
            tracing::warn!(error = %e, "could not check the shared memory of chat requests");
            true
        }
    }
}

/// How long a signature is remembered in the shared memory: past the
/// freshness window either way, after which the window refuses it anyway.
pub const SHARED_SIGNATURE_TTL: TimeDelta = TimeDelta::minutes(11);

/// The shared-memory key of a request signature (hex or base64 text, any case).
pub fn signature_key(platform: &str, signature: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(signature.trim().to_ascii_lowercase().as_bytes());
    format!("{platform}-sig:{}", hex::encode(&digest[..16]))
}

/// A request outside the window: its distance from now and the window, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stale {
    /// Seconds between the request's timestamp and now (negative: in the future).
    pub age_secs: i64,
    /// The allowed distance.
    pub window_secs: i64,
}

/// Accepted requests, by timestamp so the oldest are forgotten first.
#[derive(Default)]
struct Seen {
    order: BTreeSet<(i64, [u8; 32])>,
    keys: HashSet<[u8; 32]>,
}

/// The window and the memory of accepted requests.
pub struct ReplayGuard {
    window: TimeDelta,
    capacity: usize,
    seen: Mutex<Seen>,
}

impl std::fmt::Debug for ReplayGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayGuard")
            .field("window", &self.window)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Default for ReplayGuard {
    fn default() -> Self {
        Self {
            window: DEFAULT_WINDOW,
            capacity: DEFAULT_REPLAY_CAPACITY,
            seen: Mutex::new(Seen::default()),
        }
    }
}

impl ReplayGuard {
    /// The same guard remembering at most `capacity` requests (at least one).
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity.max(1);
        self
    }

    /// Refuses a timestamp (Unix seconds) more than the window away from `now`.
    pub fn check_fresh(&self, timestamp: i64, now: DateTime<Utc>) -> Result<(), Stale> {
        let age = now.timestamp().saturating_sub(timestamp);
        let window = self.window.num_seconds();
        if age.unsigned_abs() > window.unsigned_abs() {
            return Err(Stale {
                age_secs: age,
                window_secs: window,
            });
        }
        Ok(())
    }

    /// Remembers a verified request by `key`; false when it was seen before (a replay).
    pub fn first_time(&self, timestamp: i64, key: [u8; 32], now: DateTime<Utc>) -> bool {
        // The set only holds digests; a panic elsewhere cannot leave it half-written.
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let oldest = now.timestamp().saturating_sub(self.window.num_seconds());
        while let Some(first) = seen.order.first() {
            if first.0 >= oldest && seen.order.len() < self.capacity {
                break;
            }
            if let Some((_, k)) = seen.order.pop_first() {
                seen.keys.remove(&k);
            }
        }
        if !seen.keys.insert(key) {
            return false;
        }
        seen.order.insert((timestamp, key));
        true
    }

    /// How many accepted requests are remembered now (for tests and metrics).
    pub fn remembered(&self) -> usize {
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .keys
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn fresh_within_five_minutes_either_way_and_each_request_once() {
        let now = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
        let t = now.timestamp();
        let g = ReplayGuard::default().with_capacity(2);
        assert_eq!(g.check_fresh(t - 300, now), Ok(()));
        assert_eq!(g.check_fresh(t + 300, now), Ok(()));
        assert_eq!(
            g.check_fresh(t - 301, now),
            Err(Stale {
                age_secs: 301,
                window_secs: 300
            })
        );
        assert!(g.first_time(t, [1; 32], now));
        assert!(!g.first_time(t, [1; 32], now), "a replay");
        assert!(g.first_time(t, [2; 32], now));
        // Over capacity the oldest is forgotten; out of the window everything is.
        assert!(g.first_time(t + 1, [3; 32], now));
        assert_eq!(g.remembered(), 2);
        assert!(g.first_time(t + 700, [4; 32], now + TimeDelta::minutes(11)));
        assert_eq!(g.remembered(), 1);
    }
}
