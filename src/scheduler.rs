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
use crate::scan::pipeline::{ScanKind, ScanReport};
use crate::store::schedules;

pub use gate::{AUTO_MAX, Gate, Pass};

/// What [`scan_all`] did.
#[derive(Debug)]
pub struct ScanAll {
    /// One result per client, in the order given.
    pub results: Vec<Result<ScanTally, AppError>>,
    /// Most scans that ran at once.
    pub peak_concurrency: usize,
}

/// What one scan of a portfolio-wide pass came to: counts only, so a pass
/// over thousands of clients holds no findings while the rest run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScanTally {
    /// Klaviyo API calls made.
    pub api_calls: u64,
    /// Changes to findings.
    pub changes: usize,
    /// The client's unresolved findings after the scan.
    pub active: usize,
}

impl From<&ScanReport> for ScanTally {
    fn from(r: &ScanReport) -> Self {
        Self {
            api_calls: r.api_calls,
            changes: r.changes.len(),
            active: r.active.len(),
        }
    }
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
    let mut results: Vec<Option<Result<ScanTally, AppError>>> =
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
            let r = app.scan(&slug, trigger, None).await;
            (i, r.map(|r| ScanTally::from(&r)))
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
    let pulse_interval = app.config.scan.pulse_interval();
    let mut tasks = tokio::task::JoinSet::new();
    loop {
        if *shutdown.borrow() {
            break;
        }
        // Portfolio-wide jobs run in one process at a time: whichever holds
        // the `jobs` lease, claimed again every tick (so taken over within a
        // lease time when that process stops).
        match app.leaser.claim(JOBS_LEASE).await {
            Ok(true) => run_jobs(&app).await,
            Ok(false) => {}
            Err(e) => warn!(error = %e, "could not claim the scheduler's jobs"),
        }
        let now = app.clock.now();
        let due = due_work(&app, now, interval, pulse_interval).await;
        let mut waiting = due.len();
        for (slug, kind, seen) in due {
            let Some(pass) = gate.try_enter() else {
                break; // no room for another scan; the rest wait for the next tick
            };
            let lease = match app.claim_scheduled(&slug, kind, seen, now).await {
                Ok(Some(l)) => l,
                // Another process is scanning it, or has just scanned it.
                Ok(None) => {
                    waiting -= 1;
                    continue;
                }
                Err(e) => {
                    warn!(error = %e, "could not record the schedule");
                    continue;
                }
            };
            waiting -= 1;
            let app = app.clone();
            tasks.spawn(async move {
                let _pass = pass;
                let trigger = match kind {
                    ScanKind::Full => "schedule",
                    ScanKind::Pulse => "pulse",
                };
                match app.scan_leased(&slug, kind, trigger, None, Some(lease)).await {
                    Ok(r) => debug!(client = %slug, kind = ?r.kind, calls = r.api_calls, "scheduled scan done"),
                    Err(e) => warn!(client = %slug, kind = ?kind, error = %e, "scheduled scan failed"),
                }
            });
        }
        // Due but left for a later tick: the scheduler's queue.
        crate::ops::metrics::queue_depth(waiting);
        while tasks.try_join_next().is_some() {}
        gate.note_idle();
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.changed() => {}
        }
    }
    // Let running scans finish their transaction rather than cutting them off.
    while tasks.join_next().await.is_some() {}
    // Another process need not wait out the jobs lease.
    if let Err(e) = app.leaser.unclaim(JOBS_LEASE).await {
        warn!(error = %e, "could not give back the scheduler's jobs");
    }
}

/// The lease on the scheduler's portfolio-wide jobs.
const JOBS_LEASE: &str = "jobs";

/// Snoozes, digests, maintenance and quiet-hours ends, the access review and
/// the connections sweep: each at most once per due time, in one process.
async fn run_jobs(app: &Arc<App>) {
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
}

/// The clients due for a full scan or a pulse at `now`, in client order:
/// connected, not paused or ended, not being scanned already, and due by
/// their own interval (`interval` and `pulse_interval` unless the client's
/// profile sets its own).
pub async fn due_now(
    app: &App,
    now: DateTime<Utc>,
    interval: Duration,
    pulse_interval: Option<Duration>,
) -> Vec<(ClientSlug, ScanKind)> {
    due_work(app, now, interval, pulse_interval)
        .await
        .into_iter()
        .map(|(slug, kind, _)| (slug, kind))
        .collect()
}

/// As [`due_now`], with when each one's kind of work last started as read
/// (for [`App::claim_scheduled`] to see whether another process ran it since).
async fn due_work(
    app: &App,
    now: DateTime<Utc>,
    interval: Duration,
    pulse_interval: Option<Duration>,
) -> Vec<(ClientSlug, ScanKind, Option<DateTime<Utc>>)> {
    // Three reads for the whole portfolio, not three per client: the loop
    // runs every second, and 2,000 clients would otherwise mean 6,000 queries.
    let grants = match app.connections.scannable_all().await {
        Ok(g) => g,
        Err(e) => {
            warn!(error = %e, "could not read the connections");
            return Vec::new();
        }
    };
    let (full, pulses) = match app.all_last_scheduled().await {
        Ok(l) => l,
        Err(e) => {
            warn!(error = %e, "could not read the schedule");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for entry in app.clients.all() {
        let slug = entry.profile.slug.clone();
        if app.is_scanning(&slug) {
            continue;
        }
        // Not connected, paused for reconnecting, or ended: nothing to scan.
        let scannable = grants
            .get(slug.as_str())
            .copied()
            .unwrap_or(entry.credential.is_some());
        if !scannable {
            continue;
        }
        let last = full.get(slug.as_str()).copied();
        let last_pulse = pulses.get(slug.as_str()).copied();
        let interval = entry
            .profile
            .scan_minutes
            .filter(|m| *m > 0)
            .map_or(interval, |m| Duration::minutes(i64::from(m)));
        let pulse_every = match entry.profile.pulse_minutes {
            Some(0) => None,
            Some(m) => Some(Duration::minutes(i64::from(m))),
            None => pulse_interval,
        };
        if let Some(kind) = due(&slug, now, last, last_pulse, interval, pulse_every) {
            let seen = match kind {
                ScanKind::Full => last,
                ScanKind::Pulse => last_pulse,
            };
            out.push((slug, kind, seen));
        }
    }
    out
}

/// What the scheduler should run for a client now, if anything: a full scan
/// when one is due ([`scan_due`]), else a pulse when `pulse_every` has passed
/// since the last full scan or pulse (at the client's own phase, as
/// [`next_due`] spreads them). A client never fully scanned gets a full scan
/// first: a pulse reads on top of one.
pub fn due(
    slug: &ClientSlug,
    now: DateTime<Utc>,
    last_full: Option<DateTime<Utc>>,
    last_pulse: Option<DateTime<Utc>>,
    interval: Duration,
    pulse_every: Option<Duration>,
) -> Option<ScanKind> {
    if scan_due(slug, last_full, now, interval) {
        return Some(ScanKind::Full);
    }
    let every = pulse_every.filter(|p| *p < interval)?;
    let last_any = last_full.max(last_pulse);
    scan_due(slug, last_any, now, every).then_some(ScanKind::Pulse)
}

/// Whether the scheduler should scan a client now: never scanned (its first
/// scan is its onboarding audit, so it goes at once), or [`next_due`] has come.
pub fn scan_due(
    slug: &ClientSlug,
    last: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
    interval: Duration,
) -> bool {
    last.is_none_or(|l| now >= next_due(slug, l, interval))
}

/// When a client scanned at `last` is next due: at the client's own phase
/// within the interval (from a hash of its slug), at least half an interval
/// after `last`. Clients added together (or 2,000 scanned in one first wave)
/// so drift apart and settle into an even spread over the interval, each
/// scanned once per interval.
pub fn next_due(slug: &ClientSlug, last: DateTime<Utc>, interval: Duration) -> DateTime<Utc> {
    let period = interval.num_seconds().max(1);
    let phase = (fnv1a(slug.as_str().as_bytes()) % period as u64) as i64;
    let earliest = last + Duration::seconds(period / 2);
    let t = earliest.timestamp();
    let k = (t - phase).div_euclid(period) + i64::from((t - phase).rem_euclid(period) != 0);
    let due = k * period + phase;
    DateTime::from_timestamp(due, 0)
        .unwrap_or(earliest)
        .max(earliest)
}

/// FNV-1a: a stable hash (unlike std's, which is seeded per process), so a
/// client keeps its phase across restarts.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Client slug -> when its scheduled work of one kind last started.
pub type LastRuns = std::collections::HashMap<String, DateTime<Utc>>;

/// The schedule key of a client's full scans or pulses.
fn schedule_key(slug: &ClientSlug, kind: ScanKind) -> String {
    match kind {
        ScanKind::Full => format!("scan:{slug}"),
        ScanKind::Pulse => format!("pulse:{slug}"),
    }
}

impl App {
    /// When the scheduler last started each client's full scan and pulse, by slug.
    pub async fn all_last_scheduled(&self) -> Result<(LastRuns, LastRuns), AppError> {
        let mut db = self.store.conn().await?;
        let strip = |rows: Vec<(String, DateTime<Utc>)>, prefix: &str| {
            rows.into_iter()
                .filter_map(|(k, at)| k.strip_prefix(prefix).map(|s| (s.to_owned(), at)))
                .collect()
        };
        let full = strip(schedules::last_runs(&mut db, "scan:").await?, "scan:");
        let pulse = strip(schedules::last_runs(&mut db, "pulse:").await?, "pulse:");
        Ok((full, pulse))
    }

    /// When the scheduler last started a full scan and a pulse of the client.
    pub async fn last_scheduled(
        &self,
        slug: &ClientSlug,
    ) -> Result<(Option<DateTime<Utc>>, Option<DateTime<Utc>>), AppError> {
        let mut db = self.store.conn().await?;
        let full = schedules::last_run(&mut db, &schedule_key(slug, ScanKind::Full)).await?;
        let pulse = schedules::last_run(&mut db, &schedule_key(slug, ScanKind::Pulse)).await?;
        Ok((full, pulse))
    }

    /// Takes the client's scan lease and records the scheduled start, in one
    /// transaction, unless another process holds the lease or started this
    /// work since `seen` (when the scheduler read the schedule).
    pub async fn claim_scheduled(
        &self,
        slug: &ClientSlug,
        kind: ScanKind,
        seen: Option<DateTime<Utc>>,
        at: DateTime<Utc>,
    ) -> Result<Option<crate::lease::Held>, AppError> {
        let name = crate::scan::pipeline::scan_lease(slug);
        let key = schedule_key(slug, kind);
        let mut tx = self.store.begin().await?;
        let Some(taken) = self.leaser.take_in(&mut tx, &name).await? else {
            return Ok(None);
        };
        if schedules::last_run(&mut tx, &key).await? != seen {
            // Dropped uncommitted: the lease stays as it was.
            return Ok(None);
        }
        schedules::set_last_run(&mut tx, &key, at).await?;
        tx.commit().await?;
        Ok(Some(self.leaser.held(&name, taken.token)))
    }

    /// Records that the scheduler started a full scan or a pulse of the client.
    pub async fn mark_scheduled(
        &self,
        slug: &ClientSlug,
        kind: ScanKind,
        at: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let key = schedule_key(slug, kind);
        Ok(schedules::set_last_run(&mut self.store.conn().await?, &key, at).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn slug(s: &str) -> ClientSlug {
        ClientSlug::parse(s).unwrap()
    }

    #[test]
    fn a_first_scan_is_due_at_once_and_later_ones_settle_one_interval_apart() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
        let hour = Duration::hours(1);
        let s = slug("acme");
        assert!(scan_due(&s, None, t0, hour));
        let first = next_due(&s, t0, hour);
        assert!(first >= t0 + Duration::minutes(30) && first < t0 + Duration::minutes(90));
        assert!(!scan_due(&s, Some(t0), first - Duration::seconds(1), hour));
        assert!(scan_due(&s, Some(t0), first, hour));
        // From then on, exactly one interval apart, at the same phase.
        let second = next_due(&s, first, hour);
        assert_eq!(second - first, hour);
        assert_eq!(next_due(&s, second, hour) - second, hour);
        // A scan that ran late does not make the next one come early.
        let late = second + Duration::minutes(50);
        assert!(next_due(&s, late, hour) - late >= Duration::minutes(30));
    }

    #[test]
    fn pulses_fill_the_hour_between_full_scans_five_minutes_apart() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
        let (hour, five) = (Duration::hours(1), Some(Duration::minutes(5)));
        let s = slug("acme");
        // Never scanned: a full scan, whatever the pulse says.
        assert_eq!(due(&s, t0, None, None, hour, five), Some(ScanKind::Full));
        // Walk three simulated hours minute by minute, running whatever is due.
        let (mut full, mut pulse) = (Some(t0), None);
        let mut ran = Vec::new();
        for m in 1..=180 {
            let now = t0 + Duration::minutes(m);
            let Some(kind) = due(&s, now, full, pulse, hour, five) else {
                continue;
            };
            match kind {
                ScanKind::Full => full = Some(now),
                ScanKind::Pulse => pulse = Some(now),
            }
            assert_eq!(due(&s, now, full, pulse, hour, five), None, "due twice");
            ran.push((m, kind));
        }
        let fulls = ran.iter().filter(|(_, k)| *k == ScanKind::Full).count();
        assert!((2..=3).contains(&fulls), "one full scan an hour: {ran:?}");
        // After the first half-hour, something runs every five minutes, at the client's phase.
        let gaps: Vec<i64> = ran.windows(2).map(|w| w[1].0 - w[0].0).collect();
        assert!(gaps.iter().all(|g| *g == 5), "{ran:?}");
        assert!(ran.len() >= 34, "{ran:?}");
        // Pulses off (per client or globally), or as slow as full scans: full scans only.
        let later = t0 + Duration::minutes(10);
        assert_eq!(due(&s, later, Some(t0), None, hour, None), None);
        assert_eq!(
            due(&s, later, Some(t0), None, hour, Some(Duration::hours(2))),
            None
        );
    }

    #[test]
    fn two_thousand_clients_scanned_together_spread_over_the_interval() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 30, 9, 0, 0).unwrap();
        let hour = Duration::hours(1);
        let mut per_minute = [0usize; 60];
        for i in 0..2_000 {
            let due = next_due(&slug(&format!("brand-{i}")), t0, hour);
            let offset = (due - (t0 + Duration::minutes(30))).num_minutes();
            assert!((0..60).contains(&offset), "{offset}");
            per_minute[offset as usize] += 1;
        }
        // About 33 a minute; none of the minutes holds a crowd or is empty.
        let (min, max) = (
            per_minute.iter().min().copied().unwrap(),
            per_minute.iter().max().copied().unwrap(),
        );
        assert!(min >= 10 && max <= 70, "{min}..{max} per minute");
    }
}
