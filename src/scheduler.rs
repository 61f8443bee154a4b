//! The scheduler: scans each client when due, ends snoozes, posts digests.
//!
//! Due times are rows in the `schedule` table, not timers in memory, so a
//! restart picks up where the last process stopped.

mod gate;

use std::sync::Arc;

use tokio::sync::watch;
use tracing::{debug, warn};

use chrono::{DateTime, Duration, Utc};

use crate::app::{App, AppError};
use crate::config::Concurrency;
use crate::domain::ClientSlug;
use crate::scan::pipeline::ScanReport;
use crate::store::schedules;

pub use gate::{AUTO_MAX, Gate, Pass};

/// What [`scan_all`] did.
#[derive(Debug)]
pub struct ScanAll {
    /// One result per client, in the order given.
    pub results: Vec<Result<ScanReport, AppError>>,
    /// Most scans that ran at once.
    pub peak_concurrency: usize,
}

/// Scans each client once, as many at a time as `concurrency` allows, and
/// waits for all of them (the benchmark, and a portfolio-wide rescan).
pub async fn scan_all(
    app: &Arc<App>,
    slugs: &[ClientSlug],
    concurrency: Concurrency,
    trigger: &'static str,
) -> ScanAll {
    let gate = Arc::new(Gate::new(concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    let mut results: Vec<Option<Result<ScanReport, AppError>>> =
        (0..slugs.len()).map(|_| None).collect();
    for (i, slug) in slugs.iter().enumerate() {
        let pass = loop {
            if let Some(p) = gate.try_enter() {
                break p;
            }
            // Full: wait for a scan to end (or a moment, for memory to settle).
            tokio::select! {
                done = tasks.join_next(), if !tasks.is_empty() => {
                    if let Some(Ok((j, r))) = done {
                        results[j] = Some(r);
                    }
                    gate.note_idle();
                }
                _ = tokio::time::sleep(std::time::Duration::from_millis(5)) => {}
            }
        };
        let app = app.clone();
        let slug = slug.clone();
        tasks.spawn(async move {
            let _pass = pass;
            (i, app.scan(&slug, trigger, None).await)
        });
    }
    while let Some(done) = tasks.join_next().await {
        if let Ok((j, r)) = done {
            results[j] = Some(r);
        }
    }
    ScanAll {
        results: results
            .into_iter()
            .zip(slugs)
            .map(|(r, s)| {
                // A scan task that panicked (a bug) left no result.
                r.unwrap_or_else(|| Err(AppError::ScanLost(s.clone())))
            })
            .collect(),
        peak_concurrency: gate.peak(),
    }
}

/// Runs until `shutdown` turns true, checking for due work every `tick` of real time.
pub async fn run(app: Arc<App>, tick: std::time::Duration, mut shutdown: watch::Receiver<bool>) {
    let gate = Gate::new(app.config.scan.concurrency());
    let interval = app.config.scan.interval();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        if let Err(e) = app.wake_snoozes().await {
            warn!(error = %e, "could not end due snoozes");
        }
        if let Err(e) = app.run_digests().await {
            warn!(error = %e, "could not post digests");
        }
        if let Err(e) = app.end_maintenance_windows().await {
            warn!(error = %e, "could not close maintenance windows");
        }
        if let Err(e) = app.end_quiet_hours().await {
            warn!(error = %e, "could not post the end-of-quiet-hours catch-up");
        }
        if let Err(e) = app.run_access_review().await {
            warn!(error = %e, "could not post the weekly access review");
        }
        if let Err(e) = app.sweep_connections().await {
            warn!(error = %e, "could not sweep the connections (reminders, ends, refreshes)");
        }
        let now = app.clock.now();
        let clients = app.clients.all();
        for entry in clients {
            let slug = entry.profile.slug.clone();
            if app.is_scanning(&slug) {
                continue;
            }
            // Not connected, paused for reconnecting, or ended: nothing to scan.
            match app
                .connections
                .scannable(&slug, entry.credential.is_some())
                .await
            {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    warn!(client = %slug, error = %e, "could not read the connection");
                    continue;
                }
            }
            let last = match app.last_scheduled_scan(&slug).await {
                Ok(l) => l,
                Err(e) => {
                    warn!(error = %e, "could not read the schedule");
                    continue;
                }
            };
            if !scan_due(last, now, interval) {
                continue;
            }
            let Some(pass) = gate.try_enter() else {
                break; // no room for another scan; the rest wait for the next tick
            };
            if let Err(e) = app.mark_scheduled_scan(&slug, now).await {
                warn!(error = %e, "could not record the schedule");
                continue;
            }
            let app = app.clone();
            tasks.spawn(async move {
                let _pass = pass;
                match app.scan(&slug, "schedule", None).await {
                    Ok(r) => debug!(client = %slug, calls = r.api_calls, "scheduled scan done"),
                    Err(e) => warn!(client = %slug, error = %e, "scheduled scan failed"),
                }
            });
        }
        while tasks.try_join_next().is_some() {}
        gate.note_idle();
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.changed() => {}
        }
    }
    // Let running scans finish their transaction rather than cutting them off.
    while tasks.join_next().await.is_some() {}
}

/// Whether the scheduler should scan a client now.
pub fn scan_due(last: Option<DateTime<Utc>>, now: DateTime<Utc>, interval: Duration) -> bool {
    last.is_none_or(|l| now - l >= interval)
}

impl App {
    /// When the client was last scanned by the scheduler.
    pub async fn last_scheduled_scan(
        &self,
        slug: &ClientSlug,
    ) -> Result<Option<DateTime<Utc>>, AppError> {
        Ok(schedules::last_run(&mut self.store.conn().await?, &format!("scan:{slug}")).await?)
    }

    /// Records that the scheduler started a scan of the client.
    pub async fn mark_scheduled_scan(
        &self,
        slug: &ClientSlug,
        at: DateTime<Utc>,
    ) -> Result<(), AppError> {
        Ok(
            schedules::set_last_run(&mut self.store.conn().await?, &format!("scan:{slug}"), at)
                .await?,
        )
    }
}
