//! The scan pipeline for one client: snapshot -> checks -> findings ->
//! routing -> outbox, the last three in one transaction so a crash never
//! leaves a change without its chat message.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::Duration;
use tokio::sync::mpsc::UnboundedSender;
use tracing::{Instrument, info, info_span, warn};

use crate::app::{App, AppError};
use crate::checks::{Cadence, CheckInput, Observation};
use crate::clients::ClientEntry;
use crate::config::ClientProfile;
use crate::connections::ConnectionError;
use crate::domain::{ClientSlug, Severity, Track};
use crate::findings::{Change, ChangeKind, Finding, Findings, ReconcileScope};
use crate::klaviyo::Credential;
use crate::outbox;
use crate::routing::{self, Mode};
use crate::scan::fetch::{RecentReports, ScanProgress, build_pulse, build_snapshot_with};
use crate::scan::first_and_more;
use crate::scan::snapshot::{GrantFacts, KnownMetric, Part, Snapshot};
use crate::store::{StoreError, scans};

/// Which reading of an account a scan makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScanKind {
    /// Everything the catalogue reads; every check runs.
    Full,
    /// Flow status and the newest events on top of the last full scan; only
    /// [`Cadence::Pulse`] checks run, and nothing else is cleared.
    Pulse,
}

/// What one scan did.
#[derive(Debug, Clone)]
pub struct ScanReport {
    /// Which client.
    pub client: ClientSlug,
    /// Full scan or pulse (a pulse of a client never fully scanned runs as a full scan).
    pub kind: ScanKind,
    /// The client's first scan (its onboarding audit).
    pub onboarding: bool,
    /// Klaviyo API calls made.
    pub api_calls: u64,
    /// Observations from the checks.
    pub observations: usize,
    /// Changes to findings.
    pub changes: Vec<Change>,
    /// Platform events this scan opened, joined or resolved. They name other
    /// clients: agency channel only, never a client's.
    pub platform: Vec<routing::platform::PlatformChange>,
    /// Parts that could not be fetched, as sentences.
    pub gaps: Vec<String>,
    /// Checks skipped for missing data.
    pub skipped: Vec<String>,
    /// The client's unresolved findings after the scan.
    pub active: Vec<Finding>,
}

/// Email delivery in the 24 hours before a snapshot, when its activity was read.
fn delivery_24h(s: &Snapshot) -> Option<scans::Delivery> {
    let activity = s.activity.as_ref()?;
    let since = s.taken_at - Duration::hours(24);
    let count = |m: KnownMetric| activity.get(&m).map_or(0.0, |a| a.count_since(since));
    Some(scans::Delivery {
        received: count(KnownMetric::ReceivedEmail),
        bounced: count(KnownMetric::BouncedEmail),
        spam: count(KnownMetric::MarkedEmailAsSpam),
    })
}

/// The lease a client's scans and pulses run under, one process at a time.
pub(crate) fn scan_lease(slug: &ClientSlug) -> String {
    format!("scan:{slug}")
}

/// Check ids for what the pipeline itself reports (not in the catalogue).
pub const SCAN_INCOMPLETE: &str = "scan-incomplete";
/// The token was revoked or the key is wrong.
pub const TOKEN_REVOKED: &str = "access-token-revoked";

impl App {
    /// Scans one client now: snapshot, checks, findings, routing, outbox.
    pub async fn scan(
        &self,
        slug: &ClientSlug,
        trigger: &str,
        progress: Option<&UnboundedSender<ScanProgress>>,
    ) -> Result<ScanReport, AppError> {
        self.scan_as(slug, ScanKind::Full, trigger, progress).await
    }

    /// Pulses one client now: flow status and event freshness, pulse checks only.
    pub async fn pulse(&self, slug: &ClientSlug, trigger: &str) -> Result<ScanReport, AppError> {
        self.scan_as(slug, ScanKind::Pulse, trigger, None).await
    }

    async fn scan_as(
        &self,
        slug: &ClientSlug,
        kind: ScanKind,
        trigger: &str,
        progress: Option<&UnboundedSender<ScanProgress>>,
    ) -> Result<ScanReport, AppError> {
        self.scan_leased(slug, kind, trigger, progress, None).await
    }

    /// Scans under the client's scan lease: the one given (the scheduler
    /// took it with the schedule), else one taken now. A client another
    /// process is scanning is `AlreadyScanning` here too.
    pub(crate) async fn scan_leased(
        &self,
        slug: &ClientSlug,
        kind: ScanKind,
        trigger: &str,
        progress: Option<&UnboundedSender<ScanProgress>>,
        lease: Option<crate::lease::Held>,
    ) -> Result<ScanReport, AppError> {
        let entry = self.clients.get(slug)?;
        if !self.start_running(slug) {
            return Err(AppError::AlreadyScanning(slug.clone()));
        }
        let lease = match lease {
            Some(l) => Ok(Some(l)),
            None => self.leaser.take(&scan_lease(slug)).await,
        };
        let lease = match lease {
            Ok(Some(l)) => l,
            Ok(None) => {
                self.stop_running(slug);
                return Err(AppError::AlreadyScanning(slug.clone()));
            }
            Err(e) => {
                self.stop_running(slug);
                return Err(e.into());
            }
        };
        let span = match kind {
            ScanKind::Full => info_span!("scan", client = %slug, trigger),
            ScanKind::Pulse => info_span!("pulse", client = %slug, trigger),
        };
        // Boxed: a scan's future is large, and callers (a test's 2 MiB
        // thread among them) should not carry it on their stack.
        let result = Box::pin(
            self.scan_inner(&entry, kind, trigger, progress, &lease)
                .instrument(span),
        )
        .await;
        lease.release().await;
        self.stop_running(slug);
        result
    }

    async fn scan_inner(
        &self,
        entry: &ClientEntry,
        kind: ScanKind,
        trigger: &str,
        progress: Option<&UnboundedSender<ScanProgress>>,
        lease: &crate::lease::Held,
    ) -> Result<ScanReport, AppError> {
        let slug = &entry.profile.slug;
        let started = self.clock.now();
        let timer = std::time::Instant::now();
        // Two reads a scan waits for before its first call; side by side, they
        // hold it up once, not twice, when hundreds of scans start together.
        let (previous, credential) = tokio::join!(
            self.previous_snapshot(slug),
            self.connections
                .credential_and_grant(slug, entry.credential.as_ref())
        );
        let previous = previous?;
        let (credential, grant) = match credential {
            Ok((c, g)) => (Ok(c), g),
            Err(e) => (Err(e), None),
        };
        // A key from the config file has no stored grant: the access checks
        // do not apply to it, which is not the same as "could not check".
        let grant_applies = grant.is_some();
        // A pulse reads on top of the last full scan; without one it is a full scan.
        let reading = match (&previous, kind) {
            (Some(p), ScanKind::Pulse) if p.activity.is_some() => Reading::Pulse(p),
            _ => Reading::Full(self.recent_reports_of(slug, started)),
        };
        let kind = match reading {
            Reading::Pulse(_) => ScanKind::Pulse,
            Reading::Full(_) => ScanKind::Full,
        };
        let (fetched, api_calls) = self
            .fetch(entry, credential, &reading, started, progress)
            .await?;
        let fetch_ms = timer.elapsed().as_millis() as u64;
        let now = self.clock.now();
        let pulse = kind == ScanKind::Pulse;

        let mut observations = Vec::new();
        let mut ran: HashSet<String> = HashSet::new();
        let mut skipped = Vec::new();
        let mut gaps = Vec::new();
        let open: HashSet<String> = {
            let mut db = self.store.conn().await?;
            Findings::active(&mut db, Some(slug), None)
                .await?
                .into_iter()
                .map(|f| format!("{}/{}", f.check_id, f.subject))
                .collect()
        };
        let snapshot = match fetched {
            Fetched::Snapshot(snapshot) => {
                let mut snapshot = *snapshot;
                if !pulse {
                    self.remember_reports(&snapshot);
                }
                snapshot.grant = grant.as_ref().map(grant_facts);
                if !pulse && entry.profile.link_checking {
                    self.links.check(&mut snapshot, now).await;
                }
                let input = CheckInput {
                    snapshot: &snapshot,
                    previous: previous.as_ref(),
                    profile: &entry.profile,
                    now: snapshot.taken_at,
                    open: &open,
                    playbook: &self.config.agency.playbook,
                };
                let due = self
                    .catalogue
                    .iter()
                    .filter(|c| !pulse || c.cadence == Cadence::Pulse);
                for check in due {
                    match check.evaluate(&input) {
                        Ok(obs) => {
                            ran.insert(check.id.to_owned());
                            observations.extend(obs);
                        }
                        Err(s) if !grant_applies && s.missing == [Part::Grant] => {}
                        // Link checking is the agency's choice per client, not a gap.
                        Err(s)
                            if !entry.profile.link_checking && s.missing.contains(&Part::Links) => {
                        }
                        Err(s) => skipped.push(format!("{} (missing {:?})", check.id, s.missing)),
                    }
                }
                gaps = snapshot
                    .gaps
                    .iter()
                    .map(|g| format!("{:?}: {}", g.part, g.reason))
                    .collect();
                // A pulse reads too little to clear these; the next full scan judges them.
                if !pulse {
                    ran.insert(TOKEN_REVOKED.to_owned());
                    ran.insert(SCAN_INCOMPLETE.to_owned());
                    if !gaps.is_empty() || !skipped.is_empty() {
                        observations.push(incomplete(&entry.profile, &gaps, &skipped));
                    }
                }
                Some(snapshot)
            }
            Fetched::Refused(why) => {
                warn!(reason = %why, "Klaviyo refused the credential");
                ran.insert(TOKEN_REVOKED.to_owned());
                observations.push(revoked(&entry.profile, &why));
                gaps.push(why);
                None
            }
            Fetched::Failed(e) => {
                warn!(error = %e, "scan failed");
                gaps.push(e.to_string());
                skipped = self.catalogue.iter().map(|c| c.id.to_owned()).collect();
                // A failed pulse changes nothing; the hourly full scan reports what it cannot read.
                if !pulse {
                    ran.insert(SCAN_INCOMPLETE.to_owned());
                    observations.push(incomplete(&entry.profile, &gaps, &skipped));
                }
                None
            }
        };

        // Built before the write lock is taken: the baseline is the largest
        // thing a scan writes, and other scans queue behind the lock.
        let baseline = match (&snapshot, pulse) {
            (Some(s), false) => Some(baseline_body(s, previous.as_ref())?),
            _ => None,
        };
        let mut tx = self.store.begin().await?;
        // Fencing: a process that lost the lease mid-scan (it stalled past
        // the lease time) leaves the results to the one that took it over.
        lease.check(&mut tx).await?;
        let onboarding =
            !pulse && snapshot.is_some() && Findings::mark_first_scan(&mut tx, slug, now).await?;
        let changes = Findings::reconcile(
            &mut tx,
            &ReconcileScope {
                client: slug,
                ran: &ran,
                onboarding,
                reopen_window: Duration::hours(i64::from(self.config.findings.reopen_window_hours)),
                now,
            },
            &observations,
        )
        .await?;
        let mode = self.mode_for(&mut tx, slug, now).await?;
        for change in &changes {
            routing::route_change_in(&mut tx, &entry.route, change, now, mode).await?;
        }
        // Other clients' findings of the same checks are in this database too:
        // the same check at three of them within 48 hours is one platform event.
        let platform =
            routing::platform::after_scan(&mut tx, &self.config.agency, &changes, now).await?;
        if onboarding && mode != Mode::Muted {
            let found: Vec<Finding> = changes
                .iter()
                .filter(|c| c.kind == ChangeKind::Detected)
                .map(|c| c.finding.clone())
                .collect();
            let msg = routing::onboarding_message(&entry.route, &entry.profile.currency, &found);
            outbox::post_to_each(&mut tx, entry.route.channel_refs(), &msg, now).await?;
        }
        // A pulse's reading is the baseline plus fresher times: nothing new to
        // keep, and no row, so reports count full scans only.
        if let (Some(s), Some(body)) = (&snapshot, &baseline) {
            scans::save_snapshot(&mut tx, slug, s.taken_at, body).await?;
        }
        if !pulse {
            scans::record_scan(
                &mut tx,
                &scans::ScanRow {
                    client: slug,
                    trigger,
                    started_at: started,
                    finished_at: now,
                    status: if snapshot.is_some() { "done" } else { "failed" },
                    api_calls,
                    observations: observations.len(),
                    gaps: gaps.join("; "),
                    checks_run: ran
                        .iter()
                        .filter(|c| self.catalogue.iter().any(|k| k.id == c.as_str()))
                        .count(),
                    delivery: snapshot.as_ref().and_then(delivery_24h),
                },
            )
            .await?;
        }
        let active = Findings::active(&mut tx, Some(slug), None).await?;
        tx.commit().await?;
        self.deliverer.notify();
        info!(
            kind = if pulse { "pulse" } else { "full" },
            api_calls,
            fetch_ms,
            total_ms = timer.elapsed().as_millis() as u64,
            observations = observations.len(),
            changes = changes
                .iter()
                .filter(|c| c.kind != ChangeKind::StillSeen)
                .count(),
            "scan finished"
        );
        crate::ops::metrics::scan_finished(
            slug.as_str(),
            if pulse { "pulse" } else { "full" },
            timer.elapsed().as_secs_f64(),
        );
        Ok(ScanReport {
            client: slug.clone(),
            kind,
            onboarding,
            api_calls,
            observations: observations.len(),
            changes,
            platform,
            gaps,
            skipped,
            active,
        })
    }

    /// Reads the account with the client's credential. A 401 on an OAuth
    /// token gets one refresh and one retry of that request; a grant Klaviyo
    /// refuses becomes `Refused` (one re-authorisation finding) and pauses
    /// later scans.
    async fn fetch(
        &self,
        entry: &ClientEntry,
        credential: Result<Credential, ConnectionError>,
        reading: &Reading<'_>,
        started: chrono::DateTime<chrono::Utc>,
        progress: Option<&UnboundedSender<ScanProgress>>,
    ) -> Result<(Fetched, u64), AppError> {
        let slug = &entry.profile.slug;
        let credential = match credential {
            Ok(c) => c,
            Err(e @ (ConnectionError::GrantDead { .. } | ConnectionError::Paused { .. })) => {
                return Ok((Fetched::Refused(e.to_string()), 0));
            }
            Err(ConnectionError::OAuth(e)) => return Ok((Fetched::Failed(e.to_string()), 0)),
            Err(e) => return Err(e.into()),
        };
        // A 401 mid-scan (an access token that expired while the scan waited
        // on its rate limits) refreshes the grant and retries that request.
        let renewal = Arc::new(GrantRenewal {
            connections: self.connections.clone(),
            client: slug.clone(),
            dead: Mutex::new(None),
        });
        let api = self
            .klaviyo
            .account(slug.as_str(), credential)
            .renewing(renewal.clone());
        // The budget counts every call for the account; this scan's share is the difference.
        let calls_before = api.calls_made();
        let fetched = reading.read(&api, slug, started, progress).await;
        let dead = renewal
            .dead
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(why) = dead {
            let calls = api.calls_made().saturating_sub(calls_before);
            return Ok((Fetched::Refused(why), calls));
        }
        let calls = api.calls_made().saturating_sub(calls_before);
        if fetched.is_ok()
            && let Err(e) = self.connections.mark_used(slug).await
        {
            warn!(error = %e, "could not record the connection's use");
        }
        Ok((
            match fetched {
                Ok(s) => Fetched::Snapshot(Box::new(s)),
                Err(e) if e.is_auth() => Fetched::Refused(e.to_string()),
                Err(e) => Fetched::Failed(e.to_string()),
            },
            calls,
        ))
    }

    /// Reports this client's last full scan read under a minute ago (real
    /// time, which Klaviyo's limits count in) and under a day before `at` (the
    /// app's clock, which a demo or a test may run fast; the reports are by
    /// day), if any.
    fn recent_reports_of(
        &self,
        slug: &ClientSlug,
        at: chrono::DateTime<chrono::Utc>,
    ) -> Option<RecentReports> {
        let cache = self
            .recent_reports
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (read, taken, reports) = cache.get(slug)?;
        let fresh =
            read.elapsed() < REPORTS_REUSED_FOR && (at - *taken).abs() < chrono::Duration::hours(1);
        fresh.then(|| reports.clone())
    }

    /// Keeps a full scan's reports for a scan that follows within a minute.
    fn remember_reports(&self, snapshot: &Snapshot) {
        let Some(reports) = RecentReports::of(snapshot) else {
            return;
        };
        let mut cache = self
            .recent_reports
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        make_room(&mut cache, REPORTS_REMEMBERED, |(read, _, _)| *read);
        cache.insert(
            snapshot.client.clone(),
            (std::time::Instant::now(), snapshot.taken_at, reports),
        );
    }

    /// The client's latest baseline: what its last full scan read, with
    /// parts it could not read carried over (what `/inventory` shows).
    pub async fn latest_snapshot(&self, slug: &ClientSlug) -> Result<Option<Snapshot>, AppError> {
        self.previous_snapshot(slug).await
    }

    async fn previous_snapshot(&self, slug: &ClientSlug) -> Result<Option<Snapshot>, AppError> {
        let body = scans::snapshot(&mut self.store.conn().await?, slug).await?;
        match body {
            None => Ok(None),
            Some(b) => match serde_json::from_str(&b) {
                Ok(s) => Ok(Some(s)),
                Err(e) => {
                    // An unreadable old snapshot only costs the comparison checks one scan.
                    warn!(client = %slug, error = %e, "stored snapshot unreadable; ignoring it");
                    Ok(None)
                }
            },
        }
    }
}

/// The baseline the next scan compares against: this snapshot, with parts it
/// could not fetch carried over from the previous baseline, and each flow that
/// was live there and has stopped since kept as live. The baseline remembers the
/// last known-good status, so `flow-live-stopped` keeps firing until the flow is
/// live again instead of clearing itself one scan later.
pub fn next_baseline(s: &Snapshot, previous: Option<&Snapshot>) -> Snapshot {
    let mut merged = s.clone();
    // The baseline is written every scan for every client: keep it to what a
    // later scan compares with. Template HTML, report series and personal data
    // (profile ids and regions) are read fresh each time and never stored.
    merged.templates = None;
    merged.form_report = None;
    // Report statistics stay (the last eight days of the flow series only):
    // when a report cannot be read, an open deliverability finding is held on
    // the last one read rather than cleared on missing data.
    if let Some(series) = merged.flow_series.as_mut() {
        for f in series.iter_mut() {
            trim_series(f, 8);
        }
    }
    merged.profiles = None;
    merged.links = None;
    merged.sms_recipients = None;
    merged.order_values = None;
    merged.grant = None;
    if let (Some(flows), Some(old)) = (
        merged.flows.as_mut(),
        previous.and_then(|p| p.flows.as_ref()),
    ) {
        for f in flows.iter_mut() {
            if let Some(was) = old.iter().find(|o| o.id == f.id)
                && was.is_sending()
                && !f.is_sending()
            {
                *f = was.clone();
            }
        }
    }
    if let Some(p) = previous {
        merged.campaign_report = merged.campaign_report.or_else(|| p.campaign_report.clone());
        merged.flow_series = merged.flow_series.or_else(|| p.flow_series.clone());
        merged.account = merged.account.or_else(|| p.account.clone());
        merged.flows = merged.flows.or_else(|| p.flows.clone());
        merged.campaigns = merged.campaigns.or_else(|| p.campaigns.clone());
        merged.lists = merged.lists.or_else(|| p.lists.clone());
        merged.metrics = merged.metrics.or_else(|| p.metrics.clone());
        // Pulses judge freshness against this activity's baseline.
        merged.activity = merged.activity.or_else(|| p.activity.clone());
    }
    merged
}

/// Keeps the last `days` buckets of a flow's daily series.
fn trim_series(f: &mut crate::scan::snapshot::FlowSeries, days: usize) {
    let len = f.recipients.len();
    let drop = len.saturating_sub(days);
    if drop == 0 {
        return;
    }
    for v in [
        &mut f.recipients,
        &mut f.bounced,
        &mut f.spam_complaints,
        &mut f.unsubscribes,
        &mut f.conversion_value,
        &mut f.conversions,
    ] {
        v.drain(..drop.min(v.len()));
    }
    f.start += crate::scan::snapshot::FlowSeries::DAY * drop as i32;
}

/// How long a full scan's reports are reused (Klaviyo allows two report calls
/// a minute per account and endpoint).
const REPORTS_REUSED_FOR: std::time::Duration = std::time::Duration::from_secs(60);
/// Most clients whose reports are kept (about 16 KB each): a `/scan` soon
/// after a scheduled one is for a few clients, not the whole portfolio.
const REPORTS_REMEMBERED: usize = 128;

/// Drops the entries of `cache` older than [`REPORTS_REUSED_FOR`], then the
/// oldest until one more fits under `cap`: a portfolio sweep reads thousands
/// of clients in a minute, and a client scanned again past the cap reads its
/// reports anew.
fn make_room<K: Clone + Eq + std::hash::Hash, V>(
    cache: &mut HashMap<K, V>,
    cap: usize,
    read_at: impl Fn(&V) -> std::time::Instant,
) {
    cache.retain(|_, v| read_at(v).elapsed() < REPORTS_REUSED_FOR);
    while cache.len() >= cap.max(1) {
        let Some(oldest) = cache
            .iter()
            .min_by_key(|(_, v)| read_at(v))
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        cache.remove(&oldest);
    }
}

/// Renews a client's OAuth access token mid-scan through its connection,
/// keeping the reason when Klaviyo refused the grant itself.
struct GrantRenewal {
    connections: crate::connections::Connections,
    client: ClientSlug,
    /// Why the grant is dead, once a refresh found it so.
    dead: Mutex<Option<String>>,
}

#[async_trait::async_trait]
impl crate::klaviyo::Renew for GrantRenewal {
    async fn renew(&self, stale: &Credential) -> Option<Credential> {
        match self
            .connections
            .after_unauthorized(&self.client, stale)
            .await
        {
            Ok(fresh) => fresh,
            Err(e @ ConnectionError::GrantDead { .. }) => {
                *self.dead.lock().unwrap_or_else(|e| e.into_inner()) = Some(e.to_string());
                None
            }
            Err(e) => {
                warn!(error = %e, "could not refresh after a 401");
                None
            }
        }
    }
}

/// What the access checks read of a stored grant.
fn grant_facts(g: &crate::connections::Grant) -> GrantFacts {
    GrantFacts {
        method: match g.method {
            crate::connections::Method::OAuth => "oauth",
            crate::connections::Method::Key => "private-key",
        }
        .to_owned(),
        scopes: g.scopes.clone(),
        granted_at: g.granted_at,
        ends_at: g.ends_at,
    }
}

/// The next baseline, as the JSON the store keeps.
fn baseline_body(s: &Snapshot, previous: Option<&Snapshot>) -> Result<String, AppError> {
    let merged = next_baseline(s, previous);
    Ok(serde_json::to_string(&merged).map_err(|e| StoreError::Corrupt(e.to_string()))?)
}

fn incomplete(profile: &ClientProfile, gaps: &[String], skipped: &[String]) -> Observation {
    let mut why = String::from(
        "Part of the account could not be read, so some checks did not run and nothing was cleared on missing data.",
    );
    if !gaps.is_empty() {
        why.push_str(&format!(" Could not fetch: {}.", gaps.join("; ")));
    }
    if !skipped.is_empty() {
        // Named, so the team knows which signals are unwatched until the next scan.
        why.push_str(&format!(
            " Checks not run ({}): {}.",
            skipped.len(),
            first_and_more(skipped, 6, ", ")
        ));
    }
    Observation {
        check: SCAN_INCOMPLETE.into(),
        subject: "scan".into(),
        severity: Severity::Warning,
        track: Track::Now,
        title: format!("Scan of {} incomplete", profile.name),
        why,
        deep_link: "https://www.klaviyo.com/settings/account".into(),
        value_at_stake: None,
        began_at: None,
    }
}

/// What to read of the account.
enum Reading<'a> {
    /// Everything, with reports read moments ago when there are some.
    Full(Option<RecentReports>),
    /// A pulse on top of this baseline.
    Pulse(&'a Snapshot),
}

impl Reading<'_> {
    async fn read(
        &self,
        api: &crate::klaviyo::AccountClient,
        slug: &ClientSlug,
        at: chrono::DateTime<chrono::Utc>,
        progress: Option<&UnboundedSender<ScanProgress>>,
    ) -> Result<Snapshot, crate::klaviyo::KlaviyoError> {
        match self {
            Reading::Pulse(baseline) => build_pulse(api, slug, at, baseline).await,
            Reading::Full(reuse) => {
                build_snapshot_with(api, slug, at, progress, reuse.as_ref()).await
            }
        }
    }
}

/// What reading the account gave.
enum Fetched {
    /// The account as read (boxed: it is large and the others are a sentence).
    Snapshot(Box<Snapshot>),
    /// Klaviyo refused the credential or grant: reconnecting is the fix.
    Refused(String),
    /// Anything else (5xx, throttling, the network): the next scan retries.
    Failed(String),
}

fn revoked(profile: &ClientProfile, why: &str) -> Observation {
    Observation {
        check: TOKEN_REVOKED.into(),
        subject: "credential".into(),
        severity: Severity::Critical,
        track: Track::Now,
        title: format!(
            "Lookout can no longer read {}'s Klaviyo account",
            profile.name
        ),
        why: format!(
            "Klaviyo refused the connection ({why}). Monitoring of this client has stopped until an admin or lead reconnects it with /connect {}.",
            profile.slug
        ),
        deep_link: "https://www.klaviyo.com/settings/account/api-keys".into(),
        value_at_stake: None,
        began_at: None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn the_reports_cache_keeps_the_newest_under_its_cap_and_drops_the_stale() {
        let now = Instant::now();
        let mut cache: HashMap<&str, Instant> = HashMap::new();
        // Stale: older than the reuse window, gone whatever the cap.
        if let Some(stale) = now.checked_sub(REPORTS_REUSED_FOR + Duration::from_secs(1)) {
            cache.insert("stale", stale);
        }
        for (i, k) in ["a", "b", "c"].into_iter().enumerate() {
            cache.insert(k, now + Duration::from_millis(i as u64));
        }
        make_room(&mut cache, 3, |t| *t);
        // Room for one more under three: the stale one and the oldest went.
        let mut kept: Vec<_> = cache.keys().copied().collect();
        kept.sort_unstable();
        assert_eq!(kept, ["b", "c"]);
        make_room(&mut cache, 10, |t| *t);
        assert_eq!(cache.len(), 2, "under the cap nothing fresh goes");
    }
}
