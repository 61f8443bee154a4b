//! What Lookout processes on one database share besides the data itself:
//! the chat requests already taken, so the HTTP endpoints keep no state that
//! another process behind the same load balancer would need.

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};

use crate::chat::replay::SharedSeen;
use crate::clock::SharedClock;
use crate::store::{Store, seen};

/// [`SharedSeen`] in the store's `seen_requests` table.
pub struct StoreSeen {
    store: Store,
    clock: SharedClock,
    taken: AtomicU64,
}

impl StoreSeen {
    /// Requests remembered in `store`, expiring by `clock`.
    pub fn new(store: Store, clock: SharedClock) -> Self {
        Self {
            store,
            clock,
            taken: AtomicU64::new(0),
        }
    }
}

/// Expired records are swept after this many requests taken.
const SWEEP_EVERY: u64 = 256;

#[async_trait::async_trait]
impl SharedSeen for StoreSeen {
    async fn first_time(&self, key: &str, until: DateTime<Utc>) -> Result<bool, String> {
        let now = self.clock.now();
        let mut db = self.store.conn().await.map_err(|e| e.to_string())?;
        let first = seen::first_time(&mut db, key, until, now)
            .await
            .map_err(|e| e.to_string())?;
        if self.taken.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            seen::forget_expired(&mut db, now)
                .await
                .map_err(|e| e.to_string())?;
        }
        Ok(first)
    }
}
