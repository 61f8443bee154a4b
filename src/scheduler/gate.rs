//! The scan gate: how many scans run at once.
//!
//! Each Klaviyo account has its own rate limits, so scanning more accounts at
//! once costs no account anything; what bounds it is this process's memory
//! and CPU. With [`Concurrency::Auto`] a scan may start while the heap, plus
//! what the scans already running suggest one more will take, stays under the
//! budget, and while the runtime keeps up (a probe task measures how late its
//! timers fire). At least one scan may always run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use crate::config::Concurrency;
use crate::memory;

/// Never more scans at once than this, whatever memory allows.
pub const AUTO_MAX: usize = 4_096;
/// What one scan is assumed to take before any has been measured.
const PRIOR_BYTES_PER_SCAN: usize = 320 * 1024;
/// Runtime lag beyond which no new scan starts (the runtime is saturated).
const LAG_LIMIT: Duration = Duration::from_millis(200);
/// How often the probe measures lag.
const PROBE_EVERY: Duration = Duration::from_millis(20);

/// Admits scans; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct Gate {
    limit: Concurrency,
    running: Arc<AtomicUsize>,
    peak: AtomicUsize,
    /// Heap in use when the last scan ended with none left running.
    idle_heap: AtomicUsize,
    /// Estimated bytes per running scan (an average of what was seen).
    per_scan: AtomicUsize,
    /// The probe's latest lag, in microseconds.
    lag_us: Arc<AtomicU64>,
    probe: Option<tokio::task::JoinHandle<()>>,
}

/// A running scan's place; dropping it frees the place.
#[derive(Debug)]
pub struct Pass {
    running: Arc<AtomicUsize>,
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.running.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        if let Some(p) = &self.probe {
            p.abort();
        }
    }
}

impl Gate {
    /// A gate for `limit`; an automatic one starts its lag probe on the current runtime.
    pub fn new(limit: Concurrency) -> Self {
        let lag_us = Arc::new(AtomicU64::new(0));
        let probe = match limit {
            Concurrency::Auto { .. } => tokio::runtime::Handle::try_current()
                .ok()
                .map(|h| h.spawn(probe(lag_us.clone()))),
            Concurrency::Fixed(_) => None,
        };
        Self {
            limit,
            running: Arc::new(AtomicUsize::new(0)),
            peak: AtomicUsize::new(0),
            idle_heap: AtomicUsize::new(memory::in_use_bytes().unwrap_or(0)),
            per_scan: AtomicUsize::new(PRIOR_BYTES_PER_SCAN),
            lag_us,
            probe,
        }
    }

    /// A place for one more scan, if the limit allows it now.
    pub fn try_enter(&self) -> Option<Pass> {
        let running = self.running.load(Ordering::Acquire);
        if running > 0 && !self.room_for_one_more(running) {
            return None;
        }
        let now = self.running.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak.fetch_max(now, Ordering::Relaxed);
        Some(Pass {
            running: self.running.clone(),
        })
    }

    fn room_for_one_more(&self, running: usize) -> bool {
        match self.limit {
            Concurrency::Fixed(n) => running < n.max(1),
            Concurrency::Auto { memory_bytes } => {
                if running >= AUTO_MAX {
                    return false;
                }
                if self.lag() > LAG_LIMIT {
                    return false;
                }
                let Some(heap) = memory::in_use_bytes() else {
                    return true;
                };
                let idle = self.idle_heap.load(Ordering::Relaxed);
                // What the running scans take each, as far as the heap shows.
                // The estimate follows a rise at once and falls back slowly,
                // never under the prior: scans just admitted have not
                // allocated yet, and must not read as free.
                let seen = heap.saturating_sub(idle) / running;
                let old = self.per_scan.load(Ordering::Relaxed);
                let est = seen.max(old - old / 64).max(PRIOR_BYTES_PER_SCAN);
                self.per_scan.store(est, Ordering::Relaxed);
                let projected = idle + est * (running + 1);
                projected.max(heap + est) <= memory_bytes
            }
        }
    }

    /// Tells the gate a scan ended; with none running, the heap is the new idle level.
    pub fn note_idle(&self) {
        if self.running.load(Ordering::Acquire) == 0
            && let Some(heap) = memory::in_use_bytes()
        {
            self.idle_heap.store(heap, Ordering::Relaxed);
        }
    }

    /// Scans running now.
    pub fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }

    /// Most scans that ran at once.
    pub fn peak(&self) -> usize {
        self.peak.load(Ordering::Relaxed)
    }

    /// How late the probe's last timer fired.
    pub fn lag(&self) -> Duration {
        Duration::from_micros(self.lag_us.load(Ordering::Relaxed))
    }
}

/// Sleeps `PROBE_EVERY` over and over, recording how late each wake-up is: a
/// runtime busy with work (JSON, SQL) wakes its timers late.
async fn probe(lag_us: Arc<AtomicU64>) {
    loop {
        let asked = tokio::time::Instant::now();
        tokio::time::sleep(PROBE_EVERY).await;
        let late = asked.elapsed().saturating_sub(PROBE_EVERY);
        lag_us.store(late.as_micros() as u64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fixed_gate_holds_its_number_and_frees_places() {
        let gate = Gate::new(Concurrency::Fixed(2));
        let a = gate.try_enter().unwrap();
        let b = gate.try_enter().unwrap();
        assert!(gate.try_enter().is_none());
        assert_eq!(gate.running(), 2);
        drop(a);
        let c = gate.try_enter().unwrap();
        assert!(gate.try_enter().is_none());
        drop((b, c));
        assert_eq!(gate.running(), 0);
        assert_eq!(gate.peak(), 2);
    }

    #[test]
    fn an_automatic_gate_stops_at_its_memory_budget_but_always_lets_one_run() {
        let heap = memory::in_use_bytes().unwrap();
        // A budget already spent: one scan may still run, a second may not.
        let tight = Gate::new(Concurrency::Auto {
            memory_bytes: heap / 2,
        });
        let one = tight.try_enter().unwrap();
        assert!(tight.try_enter().is_none());
        drop(one);
        // Room for about ten scans at the prior estimate.
        let roomy = Gate::new(Concurrency::Auto {
            memory_bytes: heap + 10 * PRIOR_BYTES_PER_SCAN + PRIOR_BYTES_PER_SCAN / 2,
        });
        let mut passes = Vec::new();
        while let Some(p) = roomy.try_enter() {
            passes.push(p);
            assert!(passes.len() < 1_000, "the memory budget was ignored");
        }
        // Other test threads allocate too, so the count is near ten, not exact.
        assert!((2..=20).contains(&passes.len()), "{}", passes.len());
    }

    #[tokio::test]
    async fn the_probe_sees_a_blocked_runtime_and_the_gate_holds() {
        let gate = Gate::new(Concurrency::Auto {
            memory_bytes: usize::MAX / 2,
        });
        tokio::time::sleep(PROBE_EVERY * 3).await;
        assert!(gate.lag() < LAG_LIMIT, "{:?}", gate.lag());
        // Hog the only worker of this current-thread runtime, then let the
        // probe run: its timer fires about as late as the hog lasted.
        std::thread::sleep(LAG_LIMIT * 2);
        let mut seen = false;
        for _ in 0..100_000 {
            if gate.lag() > LAG_LIMIT {
                seen = true;
                break;
            }
            tokio::task::yield_now().await;
        }
        assert!(seen, "the probe never reported the lag");
        let _first = gate.try_enter().unwrap();
        gate.lag_us
            .store(LAG_LIMIT.as_micros() as u64 * 2, Ordering::Relaxed);
        assert!(
            gate.try_enter().is_none(),
            "a saturated runtime starts no more scans"
        );
        gate.lag_us.store(0, Ordering::Relaxed);
        assert!(gate.try_enter().is_some());
    }
}
