//! `bench scan` scans a simulated portfolio once, every account at Klaviyo's
//! real per-account rate limits, through the same path the scheduler takes
//! (`scheduler::scan_all`: gate, scan pipeline, findings, outbox rows).
//!
//! The floor is what Klaviyo's limits allow: for each account, each
//! operation's calls need at least [`floor_secs`] of that operation's burst
//! and steady windows; an account needs its slowest operation's time, and
//! accounts are independent, so the portfolio needs its slowest account's.
//! The ratio of wall time to that floor is how much the scanner wastes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use tracing::info;

use crate::app::{App, AppError};
use crate::chat::console::ConsoleChat;
use crate::clock::{SharedClock, SimClock};
use crate::config::Concurrency;
use crate::demo::{config_for, demo_start};
use crate::domain::ClientSlug;
use crate::klaviyo::floor_secs;
use crate::memory;
use crate::message::Adapters;
use crate::scheduler;
use crate::simulator::Simulator;
use crate::store::Store;

/// What to run.
#[derive(Debug, Clone)]
pub struct ScanBench {
    /// Accounts (simulated brands, one client each).
    pub accounts: usize,
    /// One account at a time (the naive baseline) instead of the scheduler's gate.
    pub sequential: bool,
    /// Portfolio seed.
    pub seed: u64,
}

impl Default for ScanBench {
    fn default() -> Self {
        Self {
            accounts: 50,
            sequential: false,
            seed: 42,
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanFigures {
    /// Accounts scanned.
    pub accounts: usize,
    /// Scans that finished without an error.
    pub scanned: usize,
    /// Klaviyo API calls made.
    pub calls: u64,
    /// Wall time of the whole portfolio scan.
    pub wall_s: f64,
    /// The least time Klaviyo's rate limits allow for those calls.
    pub floor_s: f64,
    /// 429s received.
    pub http_429: u64,
    /// Peak resident memory of the process.
    pub peak_rss_mb: f64,
    /// Most scans that ran at once.
    pub peak_concurrency: usize,
    /// Live heap before the scans started (the simulator and the app at rest).
    pub idle_heap_mb: f64,
    /// Most live heap seen while they ran (sampled every 10 ms).
    pub peak_heap_mb: f64,
}

impl ScanFigures {
    /// Wall time over the floor.
    pub fn ratio(&self) -> f64 {
        if self.floor_s > 0.0 {
            self.wall_s / self.floor_s
        } else {
            f64::INFINITY
        }
    }

    /// The bench's last line, in the format.
    pub fn last_line(&self) -> String {
        format!(
            "scan: accounts={} calls={} wall_s={:.2} floor_s={:.2} ratio={:.3} http_429={} peak_rss_mb={:.1}",
            self.accounts,
            self.calls,
            self.wall_s,
            self.floor_s,
            self.ratio(),
            self.http_429,
            self.peak_rss_mb
        )
    }
}

fn mb(bytes: usize) -> f64 {
    bytes as f64 / (1 << 20) as f64
}

/// Scans a fresh portfolio of `opts.accounts` once, with its database in `dir`.
pub async fn scan(opts: &ScanBench, dir: &std::path::Path) -> Result<ScanFigures, AppError> {
    let clock = SimClock::frozen(demo_start());
    let shared: SharedClock = Arc::new(clock);
    let sim = Simulator::new(opts.seed, opts.accounts, shared.clone());
    let (addr, server) = sim
        .serve(([127, 0, 0, 1], 0).into())
        .await
        .map_err(|e| AppError::Startup(format!("could not start the simulator: {e}")))?;
    let brands = sim.brands();
    let mut cfg = config_for(&brands, &format!("http://{addr}"), dir.to_path_buf());
    // Klaviyo's reads only, as the floor counts them: link checking (on in
    // the demo's config) asks the clients' own sites and is off by default.
    for c in &mut cfg.clients {
        c.profile.link_checking = false;
    }
    let store = Store::open_file(&dir.join("lookout.db")).await?;
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let app = App::new(cfg, store, shared, Adapters::one(chat)).await?;
    let slugs: Vec<ClientSlug> = app
        .clients
        .all()
        .iter()
        .map(|c| c.profile.slug.clone())
        .collect();
    let concurrency = if opts.sequential {
        Concurrency::Fixed(1)
    } else {
        app.config.scan.concurrency()
    };
    info!(
        accounts = slugs.len(),
        ?concurrency,
        "scanning the portfolio"
    );

    let idle_heap = memory::heap_bytes().unwrap_or(0);
    let peak_heap = Arc::new(AtomicUsize::new(idle_heap));
    let sampler = tokio::spawn({
        let peak = peak_heap.clone();
        async move {
            loop {
                peak.fetch_max(memory::heap_bytes().unwrap_or(0), Ordering::Relaxed);
                tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            }
        }
    });
    let started = Instant::now();
    let outcome = scheduler::scan_all(&app, &slugs, concurrency, "bench").await;
    let wall_s = started.elapsed().as_secs_f64();
    sampler.abort();
    server.abort();

    let mut calls = 0;
    let mut scanned = 0;
    for r in &outcome.results {
        match r {
            Ok(report) => {
                calls += report.api_calls;
                scanned += 1;
            }
            Err(e) => tracing::warn!(error = %e, "a bench scan failed"),
        }
    }
    let floor_s = slugs
        .iter()
        .map(|s| {
            app.klaviyo
                .usage(s.as_str())
                .iter()
                .map(|u| floor_secs(u.calls, u.limit))
                .fold(0.0, f64::max)
        })
        .fold(0.0, f64::max);
    Ok(ScanFigures {
        accounts: slugs.len(),
        scanned,
        calls,
        wall_s,
        floor_s,
        http_429: app.klaviyo.throttled_total(),
        peak_rss_mb: memory::peak_rss_bytes().map_or(0.0, mb),
        peak_concurrency: outcome.peak_concurrency,
        idle_heap_mb: mb(idle_heap),
        peak_heap_mb: mb(peak_heap.load(Ordering::Relaxed)),
    })
}
