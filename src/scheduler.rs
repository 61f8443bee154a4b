//! The scheduler: scans each client when due, ends snoozes, posts digests.
//!
//! Due times are rows in the `schedule` table, not timers in memory, so a
//! restart picks up where the last process stopped.

use std::sync::Arc;

use tokio::sync::{Semaphore, watch};
use tracing::{debug, warn};

use chrono::{DateTime, Duration, Utc};

use crate::app::{App, AppError};
use crate::domain::ClientSlug;
use crate::store::schedules;

/// Runs until `shutdown` turns true, checking for due work every `tick` of real time.
pub async fn run(app: Arc<App>, tick: std::time::Duration, mut shutdown: watch::Receiver<bool>) {
    let permits = Arc::new(Semaphore::new(app.config.scan.concurrency));
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
            let Ok(permit) = permits.clone().try_acquire_owned() else {
                break; // all scan slots busy; the rest wait for the next tick
            };
            if let Err(e) = app.mark_scheduled_scan(&slug, now).await {
                warn!(error = %e, "could not record the schedule");
                continue;
            }
            let app = app.clone();
            tasks.spawn(async move {
                let _permit = permit;
                match app.scan(&slug, "schedule", None).await {
                    Ok(r) => debug!(client = %slug, calls = r.api_calls, "scheduled scan done"),
                    Err(e) => warn!(client = %slug, error = %e, "scheduled scan failed"),
                }
            });
        }
        while tasks.try_join_next().is_some() {}
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
