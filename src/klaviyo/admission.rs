//! Places for requests in flight, shared by every account, with a fast lane.
//!
//! A scan's length is set by its slowest rate-limited chain (the metric list,
//! then the aggregates, a second apart): the other reads can go any time
//! before it ends. When hundreds of scans start together, a plain FIFO puts
//! each chain's next step behind thousands of reads that could have waited,
//! and every account's scan ends that much later. Requests marked urgent go
//! first; the others queue one at a time, so an urgent request that comes
//! later waits behind at most one of them.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::{Mutex, Notify, Semaphore, SemaphorePermit};

/// Places for requests in flight, urgent ones first.
#[derive(Debug)]
pub struct Admission {
    places: Semaphore,
    /// Ordinary requests wait here, so at most one of them sits in `places`' queue.
    line: Mutex<()>,
    /// Urgent requests waiting for a place.
    urgent_waiting: AtomicUsize,
    /// Woken when no urgent request is waiting any more.
    urgent_clear: Notify,
}

/// Counts an urgent request as waiting until dropped (also when its future is cancelled).
struct Waiting<'a>(&'a Admission);

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.0.urgent_waiting.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.0.urgent_clear.notify_waiters();
        }
    }
}

impl Admission {
    /// `places` requests may be in flight at once (at least one).
    pub fn new(places: usize) -> Self {
        Self {
            places: Semaphore::new(places.max(1)),
            line: Mutex::new(()),
            urgent_waiting: AtomicUsize::new(0),
            urgent_clear: Notify::new(),
        }
    }

    /// Waits for a place; hold the permit while the request is in flight.
    pub async fn enter(&self, urgent: bool) -> SemaphorePermit<'_> {
        if urgent {
            self.urgent_waiting.fetch_add(1, Ordering::AcqRel);
            let _waiting = Waiting(self);
            return self.place().await;
        }
        let _turn = self.line.lock().await;
        loop {
            let clear = self.urgent_clear.notified();
            tokio::pin!(clear);
            // Registered before the count is read, so a wake-up between the
            // read and the wait is not lost.
            clear.as_mut().enable();
            if self.urgent_waiting.load(Ordering::Acquire) == 0 {
                break;
            }
            clear.await;
        }
        self.place().await
    }

    async fn place(&self) -> SemaphorePermit<'_> {
        loop {
            // The semaphore is never closed, so the error branch cannot be taken.
            if let Ok(p) = self.places.acquire().await {
                return p;
            }
        }
    }

    /// Places free right now.
    #[cfg(test)]
    fn available(&self) -> usize {
        self.places.available_permits()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn an_urgent_request_overtakes_ordinary_ones_already_waiting() {
        let gate = Arc::new(Admission::new(1));
        let held = gate.enter(false).await;
        let order = Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut tasks = Vec::new();
        for i in 0..5 {
            let (g, o) = (gate.clone(), order.clone());
            tasks.push(tokio::spawn(async move {
                let _p = g.enter(false).await;
                o.lock().unwrap().push(format!("ordinary {i}"));
            }));
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let (g, o) = (gate.clone(), order.clone());
        tasks.push(tokio::spawn(async move {
            let _p = g.enter(true).await;
            o.lock().unwrap().push("urgent".to_string());
        }));
        tokio::time::sleep(Duration::from_millis(5)).await;
        drop(held);
        for t in tasks {
            t.await.unwrap();
        }
        let order = order.lock().unwrap().clone();
        // The first ordinary one was already queued for the place; the urgent
        // one comes right after it, ahead of the four still in line.
        let urgent_at = order.iter().position(|s| s == "urgent").unwrap();
        assert!(
            urgent_at <= 1,
            "urgent request came at {urgent_at}: {order:?}"
        );
        assert_eq!(order.len(), 6);
    }

    #[tokio::test]
    async fn a_cancelled_urgent_wait_does_not_block_ordinary_requests() {
        let gate = Arc::new(Admission::new(1));
        let held = gate.enter(false).await;
        let g = gate.clone();
        let urgent = tokio::spawn(async move {
            let _p = g.enter(true).await;
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        urgent.abort();
        let _ = urgent.await;
        drop(held);
        let ordinary = tokio::time::timeout(Duration::from_secs(1), gate.enter(false)).await;
        assert!(
            ordinary.is_ok(),
            "an ordinary request waited for a cancelled urgent one"
        );
    }

    #[tokio::test]
    async fn places_are_bounded_and_come_back() {
        let gate = Admission::new(2);
        let a = gate.enter(false).await;
        let b = gate.enter(true).await;
        assert_eq!(gate.available(), 0);
        let third = tokio::time::timeout(Duration::from_millis(20), gate.enter(false)).await;
        assert!(
            third.is_err(),
            "a third request got a place with two in flight"
        );
        drop((a, b));
        assert_eq!(gate.available(), 2);
    }
}
