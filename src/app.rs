//! The application: one context that wires the pipeline together.
//!
//! `App` owns the store, the clock, the Klaviyo client, the routes and the
//! outbox deliverer. A scan runs the pipeline for one client: snapshot ->
//! checks -> findings -> routing -> outbox, with the last three in one
//! transaction so a crash never leaves a change without its chat message.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Datelike, Duration, TimeZone, Utc};
use sqlx::SqliteConnection;
use tokio::sync::mpsc::UnboundedSender;
use tracing::{Instrument, info, info_span, warn};

use crate::chat::{Accent, ChannelName, ChatAdapter, Message};
use crate::checks::{self, Check, CheckInput, Observation};
use crate::clock::SharedClock;
use crate::config::{ClientProfile, Config, ConfigError};
use crate::domain::{ClientSlug, Severity, Track};
use crate::findings::{Change, ChangeKind, Finding, FindingError, Findings, ReconcileScope, ts};
use crate::klaviyo::{Credential, KlaviyoClient, KlaviyoConfig, KlaviyoError};
use crate::outbox::{self, Deliverer};
use crate::routing::{self, Digest, Mode, Route};
use crate::scan::fetch::{ScanProgress, build_snapshot};
use crate::scan::snapshot::Snapshot;
use crate::store::{Store, StoreError};

/// Why the application could not start or a scan could not run.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Configuration problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Storage problem.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Findings problem.
    #[error(transparent)]
    Findings(#[from] FindingError),
    /// The Klaviyo client could not be built.
    #[error("Klaviyo client: {0}")]
    Klaviyo(#[from] KlaviyoError),
    /// No client by that name.
    #[error("there is no client `{0}`; /portfolio lists them")]
    UnknownClient(String),
    /// A scan of the client is already running.
    #[error("a scan of {0} is already running; its results will appear here")]
    AlreadyScanning(ClientSlug),
}

/// A client as the running app knows it.
#[derive(Debug, Clone)]
pub struct ClientEntry {
    /// Profile.
    pub profile: ClientProfile,
    /// Where its findings go.
    pub route: Route,
    /// How to reach its Klaviyo account.
    pub credential: Credential,
}

/// What one scan did.
#[derive(Debug, Clone)]
pub struct ScanReport {
    /// Which client.
    pub client: ClientSlug,
    /// The client's first scan (its onboarding audit).
    pub onboarding: bool,
    /// Klaviyo API calls made.
    pub api_calls: u64,
    /// Observations from the checks.
    pub observations: usize,
    /// Changes to findings.
    pub changes: Vec<Change>,
    /// Parts that could not be fetched, as sentences.
    pub gaps: Vec<String>,
    /// Checks skipped for missing data.
    pub skipped: Vec<String>,
    /// The client's unresolved findings after the scan.
    pub active: Vec<Finding>,
}

/// Check ids for what the pipeline itself reports (not in the catalogue).
pub const SCAN_INCOMPLETE: &str = "scan-incomplete";
/// The token was revoked or the key is wrong.
pub const TOKEN_REVOKED: &str = "access-token-revoked";

/// The running application.
pub struct App {
    /// Configuration it started with.
    pub config: Config,
    /// Database.
    pub store: Store,
    /// Time.
    pub clock: SharedClock,
    /// Chat platform.
    pub chat: Arc<dyn ChatAdapter>,
    /// Outbox delivery.
    pub deliverer: Deliverer,
    klaviyo: KlaviyoClient,
    clients: std::sync::RwLock<BTreeMap<ClientSlug, ClientEntry>>,
    catalogue: Vec<Check>,
    running: Mutex<HashSet<ClientSlug>>,
}

impl App {
    /// Builds the app from configuration and registers every client in the store.
    pub async fn new(
        config: Config,
        store: Store,
        clock: SharedClock,
        chat: Arc<dyn ChatAdapter>,
    ) -> Result<Arc<Self>, AppError> {
        config.validate()?;
        let klaviyo = KlaviyoClient::new(KlaviyoConfig {
            base_url: config.klaviyo.base_url.clone(),
            revision: config.klaviyo.revision.clone(),
            ..KlaviyoConfig::default()
        })?;
        let mut clients = BTreeMap::new();
        let now = clock.now();
        let mut conn = store.pool().acquire().await.map_err(StoreError::from)?;
        for c in &config.clients {
            let slug = c.profile.slug.clone();
            let channel = c
                .channel
                .clone()
                .map(|s| ChannelName(s.trim_start_matches('#').to_owned()))
                .unwrap_or_else(|| ChannelName::for_client(&slug));
            Findings::upsert_client(
                &mut conn,
                &slug,
                &c.profile.name,
                &channel,
                c.owner.as_deref(),
                now,
            )
            .await?;
            // The stored route: the file's, unless an admin changed it from chat.
            let (channel, owner, pod): (String, Option<String>, Option<String>) =
                sqlx::query_as("SELECT channel, owner, pod FROM clients WHERE slug = ?")
                    .bind(slug.as_str())
                    .fetch_one(&mut *conn)
                    .await
                    .map_err(StoreError::from)?;
            let route = Route {
                client: slug.clone(),
                client_name: c.profile.name.clone(),
                channel: ChannelName(channel),
                owner,
                pod: pod.or_else(|| c.pod.clone()),
            };
            let credential = Credential::ApiKey(c.key()?);
            clients.insert(
                slug,
                ClientEntry {
                    profile: c.profile.clone(),
                    route,
                    credential,
                },
            );
        }
        drop(conn);
        let deliverer = Deliverer::new(store.clone(), chat.clone(), clock.clone());
        Ok(Arc::new(Self {
            config,
            store,
            clock,
            chat,
            deliverer,
            klaviyo,
            clients: std::sync::RwLock::new(clients),
            catalogue: checks::catalogue(),
            running: Mutex::new(HashSet::new()),
        }))
    }

    fn read_clients(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<ClientSlug, ClientEntry>> {
        // Entries are replaced whole under the write lock, so a poisoned lock still holds consistent data.
        self.clients.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The clients, in slug order.
    pub fn clients(&self) -> Vec<ClientEntry> {
        self.read_clients().values().cloned().collect()
    }

    /// One client.
    pub fn client(&self, slug: &ClientSlug) -> Result<ClientEntry, AppError> {
        self.read_clients()
            .get(slug)
            .cloned()
            .ok_or_else(|| AppError::UnknownClient(slug.to_string()))
    }

    /// The client whose channel this is, if it is a client channel.
    pub fn client_of_channel(&self, channel: &ChannelName) -> Option<ClientEntry> {
        self.read_clients()
            .values()
            .find(|c| &c.route.channel == channel)
            .cloned()
    }

    /// Changes a client's channel and (optionally) owner from chat; the change is
    /// stored, recorded as who made it, and outlives the config file's route.
    pub async fn set_route(
        &self,
        slug: &ClientSlug,
        channel: ChannelName,
        owner: Option<String>,
        by: &str,
    ) -> Result<Route, AppError> {
        let mut entry = self.client(slug)?;
        let owner = owner.or(entry.route.owner.clone());
        sqlx::query("UPDATE clients SET channel = ?, owner = ?, routed_by = ? WHERE slug = ?")
            .bind(channel.as_str())
            .bind(owner.as_deref())
            .bind(by)
            .bind(slug.as_str())
            .execute(self.store.pool())
            .await
            .map_err(StoreError::from)?;
        entry.route.channel = channel;
        entry.route.owner = owner;
        let route = entry.route.clone();
        self.clients
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(slug.clone(), entry);
        info!(client = %slug, channel = %route.channel, by, "route changed from chat");
        Ok(route)
    }

    /// The agency-wide channel.
    pub fn agency_channel(&self) -> ChannelName {
        ChannelName(
            self.config
                .agency
                .channel
                .trim_start_matches('#')
                .to_owned(),
        )
    }

    /// Whether a scan of this client is running.
    pub fn is_scanning(&self, slug: &ClientSlug) -> bool {
        self.lock_running().contains(slug)
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashSet<ClientSlug>> {
        // The set only holds slugs; a panic elsewhere cannot leave it half-written.
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Scans one client now: snapshot, checks, findings, routing, outbox.
    pub async fn scan(
        &self,
        slug: &ClientSlug,
        trigger: &str,
        progress: Option<&UnboundedSender<ScanProgress>>,
    ) -> Result<ScanReport, AppError> {
        let entry = self.client(slug)?.clone();
        if !self.lock_running().insert(slug.clone()) {
            return Err(AppError::AlreadyScanning(slug.clone()));
        }
        let span = info_span!("scan", client = %slug, trigger);
        let result = self
            .scan_inner(&entry, trigger, progress)
            .instrument(span)
            .await;
        self.lock_running().remove(slug);
        result
    }

    async fn scan_inner(
        &self,
        entry: &ClientEntry,
        trigger: &str,
        progress: Option<&UnboundedSender<ScanProgress>>,
    ) -> Result<ScanReport, AppError> {
        let slug = &entry.profile.slug;
        let started = self.clock.now();
        let api = self
            .klaviyo
            .account(slug.as_str(), entry.credential.clone());
        // The budget counts every call for the account; this scan's share is the difference.
        let calls_before = api.calls_made();
        let fetched = build_snapshot(&api, slug, started, progress).await;
        let now = self.clock.now();
        let previous = self.previous_snapshot(slug).await?;

        let mut observations = Vec::new();
        let mut ran: HashSet<String> = HashSet::new();
        let mut skipped = Vec::new();
        let mut gaps = Vec::new();
        let open: HashSet<String> = {
            let mut conn = self
                .store
                .pool()
                .acquire()
                .await
                .map_err(StoreError::from)?;
            Findings::active(&mut conn, Some(slug), None)
                .await?
                .into_iter()
                .map(|f| format!("{}/{}", f.check_id, f.subject))
                .collect()
        };
        let snapshot = match fetched {
            Ok(snapshot) => {
                let input = CheckInput {
                    snapshot: &snapshot,
                    previous: previous.as_ref(),
                    profile: &entry.profile,
                    now: snapshot.taken_at,
                    open: &open,
                };
                for check in &self.catalogue {
                    match check.evaluate(&input) {
                        Ok(obs) => {
                            ran.insert(check.id.to_owned());
                            observations.extend(obs);
                        }
                        Err(s) => skipped.push(format!("{} (missing {:?})", check.id, s.missing)),
                    }
                }
                gaps = snapshot
                    .gaps
                    .iter()
                    .map(|g| format!("{:?}: {}", g.part, g.reason))
                    .collect();
                ran.insert(TOKEN_REVOKED.to_owned());
                ran.insert(SCAN_INCOMPLETE.to_owned());
                if !gaps.is_empty() || !skipped.is_empty() {
                    observations.push(incomplete(&entry.profile, &gaps, &skipped));
                }
                Some(snapshot)
            }
            Err(e) if e.is_auth() => {
                warn!(error = %e, "Klaviyo refused the credential");
                ran.insert(TOKEN_REVOKED.to_owned());
                observations.push(revoked(&entry.profile, &e));
                gaps.push(e.to_string());
                None
            }
            Err(e) => {
                warn!(error = %e, "scan failed");
                gaps.push(e.to_string());
                ran.insert(SCAN_INCOMPLETE.to_owned());
                skipped = self.catalogue.iter().map(|c| c.id.to_owned()).collect();
                observations.push(incomplete(&entry.profile, &gaps, &skipped));
                None
            }
        };

        let mut tx = self.store.pool().begin().await.map_err(StoreError::from)?;
        let onboarding =
            snapshot.is_some() && Findings::mark_first_scan(&mut tx, slug, now).await?;
        let changes = Findings::reconcile(
            &mut tx,
            &ReconcileScope {
                client: slug,
                channel: &entry.route.channel,
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
        if onboarding && mode != Mode::Muted {
            let found: Vec<Finding> = changes
                .iter()
                .filter(|c| c.kind == ChangeKind::Detected)
                .map(|c| c.finding.clone())
                .collect();
            let msg = routing::onboarding_message(&entry.route, &found);
            outbox::post_to(&mut tx, &entry.route.channel, msg, now).await?;
        }
        if let Some(s) = &snapshot {
            save_snapshot(&mut tx, s, previous.as_ref()).await?;
        }
        sqlx::query(
            "INSERT INTO scans (client, trigger, started_at, finished_at, status, api_calls, observations, gaps)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(slug.as_str())
        .bind(trigger)
        .bind(ts(started))
        .bind(ts(now))
        .bind(if snapshot.is_some() { "done" } else { "failed" })
        .bind(api.calls_made().saturating_sub(calls_before) as i64)
        .bind(observations.len() as i64)
        .bind(gaps.join("; "))
        .execute(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let api_calls = api.calls_made().saturating_sub(calls_before);
        let active = Findings::active(&mut tx, Some(slug), None).await?;
        tx.commit().await.map_err(StoreError::from)?;
        self.deliverer.notify();
        info!(
            api_calls,
            observations = observations.len(),
            changes = changes
                .iter()
                .filter(|c| c.kind != ChangeKind::StillSeen)
                .count(),
            "scan finished"
        );
        Ok(ScanReport {
            client: slug.clone(),
            onboarding,
            api_calls,
            observations: observations.len(),
            changes,
            gaps,
            skipped,
            active,
        })
    }

    async fn previous_snapshot(&self, slug: &ClientSlug) -> Result<Option<Snapshot>, AppError> {
        let body: Option<String> =
            sqlx::query_scalar("SELECT body FROM snapshots WHERE client = ?")
                .bind(slug.as_str())
                .fetch_optional(self.store.pool())
                .await
                .map_err(StoreError::from)?;
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

    /// Ends snoozes whose time has come and routes the re-raise.
    pub async fn wake_snoozes(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let mut tx = self.store.pool().begin().await.map_err(StoreError::from)?;
        let woke = Findings::wake_due_snoozes(&mut tx, now).await?;
        for change in &woke {
            if let Ok(entry) = self.client(&change.finding.client) {
                let mode = self.mode_for(&mut tx, &entry.profile.slug, now).await?;
                routing::route_change_in(&mut tx, &entry.route, change, now, mode).await?;
            }
        }
        tx.commit().await.map_err(StoreError::from)?;
        if !woke.is_empty() {
            self.deliverer.notify();
        }
        Ok(woke.len())
    }

    /// Posts the daily and weekly digests when their local time has come.
    pub async fn run_digests(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let mut posted = 0;
        for digest in [Digest::DailyTriage, Digest::Weekly] {
            let Some(slot) = self.digest_slot(digest, now)? else {
                continue;
            };
            let key = match digest {
                Digest::DailyTriage => "digest:daily",
                Digest::Weekly => "digest:weekly",
            };
            let mut tx = self.store.pool().begin().await.map_err(StoreError::from)?;
            let last = schedule_get(&mut tx, key).await?;
            if last.is_some_and(|l| l >= slot) {
                continue;
            }
            // A fresh install starts counting from now instead of posting a
            // digest for a morning that passed before it was running.
            let first_run = last.is_none();
            for entry in self.clients().iter().filter(|_| !first_run) {
                if self.mode_for(&mut tx, &entry.profile.slug, now).await? == Mode::Muted {
                    continue; // its summary at the end of maintenance covers it
                }
                let active = Findings::active(&mut tx, Some(&entry.profile.slug), None).await?;
                if let Some(message) = routing::digest_message(digest, &entry.route, &active) {
                    outbox::post_to(&mut tx, &entry.route.channel, message, now).await?;
                    posted += 1;
                }
            }
            schedule_set(&mut tx, key, slot).await?;
            tx.commit().await.map_err(StoreError::from)?;
        }
        if posted > 0 {
            self.deliverer.notify();
        }
        Ok(posted)
    }

    /// The most recent time this digest was due (in UTC), if it has ever been due.
    fn digest_slot(
        &self,
        digest: Digest,
        now: DateTime<Utc>,
    ) -> Result<Option<DateTime<Utc>>, AppError> {
        let tz = self.config.agency.tz()?;
        let at = chrono::NaiveTime::from_hms_opt(self.config.agency.daily_digest_hour, 0, 0)
            .ok_or_else(|| ConfigError::Invalid("agency.daily_digest_hour must be 0-23".into()))?;
        let weekday = self.config.agency.weekly_day()?;
        Ok(latest_local(tz, now, at, |day| match digest {
            Digest::DailyTriage => true,
            Digest::Weekly => day.weekday() == weekday,
        }))
    }

    /// When the client was last scanned by the scheduler.
    pub async fn last_scheduled_scan(
        &self,
        slug: &ClientSlug,
    ) -> Result<Option<DateTime<Utc>>, AppError> {
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(StoreError::from)?;
        schedule_get(&mut conn, &format!("scan:{slug}")).await
    }

    /// Records that the scheduler started a scan of the client.
    pub async fn mark_scheduled_scan(
        &self,
        slug: &ClientSlug,
        at: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let mut conn = self
            .store
            .pool()
            .acquire()
            .await
            .map_err(StoreError::from)?;
        schedule_set(&mut conn, &format!("scan:{slug}"), at).await
    }

    /// How chat traffic for a client is treated now: muted in a maintenance
    /// window, without mentions in quiet hours, else normal.
    pub async fn mode_for(
        &self,
        conn: &mut SqliteConnection,
        slug: &ClientSlug,
        now: DateTime<Utc>,
    ) -> Result<Mode, AppError> {
        let muted: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM maintenance WHERE client = ? AND starts_at <= ? AND ends_at > ?",
        )
        .bind(slug.as_str())
        .bind(ts(now))
        .bind(ts(now))
        .fetch_one(&mut *conn)
        .await
        .map_err(StoreError::from)?;
        if muted > 0 {
            return Ok(Mode::Muted);
        }
        let quiet =
            routing::in_quiet_hours(now, self.config.agency.tz()?, self.config.agency.quiet()?);
        Ok(if quiet { Mode::Quiet } else { Mode::Normal })
    }

    /// Starts a maintenance window for a client, ending at `until`.
    pub async fn start_maintenance(
        &self,
        slug: &ClientSlug,
        until: DateTime<Utc>,
        by: &str,
    ) -> Result<(), AppError> {
        self.client(slug)?;
        let now = self.clock.now();
        sqlx::query(
            "INSERT INTO maintenance (client, starts_at, ends_at, created_by) VALUES (?, ?, ?, ?)",
        )
        .bind(slug.as_str())
        .bind(ts(now))
        .bind(ts(until))
        .bind(by)
        .execute(self.store.pool())
        .await
        .map_err(StoreError::from)?;
        info!(client = %slug, until = %until, by, "maintenance window started");
        Ok(())
    }

    /// Posts one summary for each maintenance window that has ended.
    pub async fn end_maintenance_windows(&self) -> Result<usize, AppError> {
        let now = self.clock.now();
        let mut tx = self.store.pool().begin().await.map_err(StoreError::from)?;
        let ended: Vec<(i64, String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
            "SELECT id, client, starts_at, ends_at FROM maintenance WHERE summarized = 0 AND ends_at <= ? ORDER BY id",
        )
        .bind(ts(now))
        .fetch_all(&mut *tx)
        .await
        .map_err(StoreError::from)?;
        let mut posted = 0;
        for (id, client, start, end) in ended {
            sqlx::query("UPDATE maintenance SET summarized = 1 WHERE id = ?")
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(StoreError::from)?;
            let Ok(entry) = ClientSlug::parse(&client).and_then(|s| {
                self.client(&s)
                    .map_err(|_| crate::domain::DomainError::BadSlug(client.clone()))
            }) else {
                continue; // a client removed from the config since
            };
            let active = Findings::active(&mut tx, Some(&entry.profile.slug), None).await?;
            let found: Vec<Finding> = active
                .into_iter()
                .filter(|f| f.detected_at >= start || f.last_seen_at >= start)
                .collect();
            let message = routing::maintenance_summary(&entry.route, start, end, &found);
            outbox::post_to(&mut tx, &entry.route.channel, message, now).await?;
            posted += 1;
        }
        tx.commit().await.map_err(StoreError::from)?;
        if posted > 0 {
            self.deliverer.notify();
        }
        Ok(posted)
    }

    /// When quiet hours end, mentions each owner once for critical findings
    /// posted during them that are still open.
    pub async fn end_quiet_hours(&self) -> Result<usize, AppError> {
        let Some((start, end)) = self.config.agency.quiet()? else {
            return Ok(0);
        };
        let tz = self.config.agency.tz()?;
        let now = self.clock.now();
        // The most recent end of quiet hours at or before now.
        let slot = latest_local(tz, now, end, |_| true);
        let Some(slot) = slot else { return Ok(0) };
        let mut tx = self.store.pool().begin().await.map_err(StoreError::from)?;
        let last = schedule_get(&mut tx, "quiet-end").await?;
        if last.is_some_and(|l| l >= slot) {
            return Ok(0);
        }
        schedule_set(&mut tx, "quiet-end", slot).await?;
        // Quiet hours began at `start` on the local day before the end (or the same day).
        let began = {
            let end_local = slot.with_timezone(&tz);
            let mut d = end_local.date_naive();
            if start > end {
                d = d.pred_opt().unwrap_or(d);
            }
            tz.from_local_datetime(&d.and_time(start))
                .earliest()
                .map(|t| t.with_timezone(&Utc))
                .unwrap_or(slot)
        };
        let mut posted = 0;
        for entry in self.clients() {
            if last.is_none() {
                break; // first run: nothing was held back by this process
            }
            let active =
                Findings::active(&mut tx, Some(&entry.profile.slug), Some(Severity::Critical))
                    .await?;
            let overnight: Vec<Finding> = active
                .into_iter()
                .filter(|f| {
                    f.detected_at >= began && f.detected_at < slot && f.message_ref.is_some()
                })
                .collect();
            if overnight.is_empty() {
                continue;
            }
            let message = routing::quiet_catch_up(&entry.route, &overnight);
            outbox::post_to(&mut tx, &entry.route.channel, message, now).await?;
            posted += 1;
        }
        tx.commit().await.map_err(StoreError::from)?;
        if posted > 0 {
            self.deliverer.notify();
        }
        Ok(posted)
    }
}

/// The baseline the next scan compares against: this snapshot, with parts it
/// could not fetch carried over from the previous baseline, and each flow that
/// was live there and has stopped since kept as live. The baseline remembers the
/// last known-good status, so `flow-live-stopped` keeps firing until the flow is
/// live again instead of clearing itself one scan later.
pub fn next_baseline(s: &Snapshot, previous: Option<&Snapshot>) -> Snapshot {
    let mut merged = s.clone();
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
        merged.account = merged.account.or_else(|| p.account.clone());
        merged.flows = merged.flows.or_else(|| p.flows.clone());
        merged.campaigns = merged.campaigns.or_else(|| p.campaigns.clone());
        merged.lists = merged.lists.or_else(|| p.lists.clone());
        merged.metrics = merged.metrics.or_else(|| p.metrics.clone());
    }
    // Activity is large and only read from the current scan.
    merged.activity = None;
    merged
}

async fn save_snapshot(
    conn: &mut SqliteConnection,
    s: &Snapshot,
    previous: Option<&Snapshot>,
) -> Result<(), AppError> {
    let merged = next_baseline(s, previous);
    let body = serde_json::to_string(&merged).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    sqlx::query(
        "INSERT INTO snapshots (client, taken_at, body) VALUES (?, ?, ?)
         ON CONFLICT (client) DO UPDATE SET taken_at = excluded.taken_at, body = excluded.body",
    )
    .bind(s.client.as_str())
    .bind(ts(s.taken_at))
    .bind(body)
    .execute(&mut *conn)
    .await
    .map_err(StoreError::from)?;
    Ok(())
}

fn incomplete(profile: &ClientProfile, gaps: &[String], skipped: &[String]) -> Observation {
    let mut why = String::from(
        "Part of the account could not be read, so some checks did not run and nothing was cleared on missing data.",
    );
    if !gaps.is_empty() {
        why.push_str(&format!(" Could not fetch: {}.", gaps.join("; ")));
    }
    if !skipped.is_empty() {
        why.push_str(&format!(" Checks skipped: {}.", skipped.len()));
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

fn revoked(profile: &ClientProfile, e: &KlaviyoError) -> Observation {
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
            "Klaviyo refused the connection ({e}). Monitoring of this client has stopped until someone reconnects it."
        ),
        deep_link: "https://www.klaviyo.com/settings/account/api-keys".into(),
        value_at_stake: None,
        began_at: None,
    }
}

/// When the scheduled work `key` last ran (rows, not timers: restarts keep them).
async fn schedule_get(
    conn: &mut SqliteConnection,
    key: &str,
) -> Result<Option<DateTime<Utc>>, AppError> {
    Ok(
        sqlx::query_scalar("SELECT last_at FROM schedule WHERE key = ?")
            .bind(key)
            .fetch_optional(&mut *conn)
            .await
            .map_err(StoreError::from)?,
    )
}

/// Records that the scheduled work `key` ran at `at`.
async fn schedule_set(
    conn: &mut SqliteConnection,
    key: &str,
    at: DateTime<Utc>,
) -> Result<(), AppError> {
    sqlx::query(
        "INSERT INTO schedule (key, last_at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET last_at = excluded.last_at",
    )
    .bind(key)
    .bind(ts(at))
    .execute(&mut *conn)
    .await
    .map_err(StoreError::from)?;
    Ok(())
}

/// The most recent local time `at` (on a day `on` accepts, within a week) at or
/// before `now`, in UTC. On a DST fold it takes the first of the two times; a
/// time skipped by DST does not happen that day.
pub fn latest_local(
    tz: chrono_tz::Tz,
    now: DateTime<Utc>,
    at: chrono::NaiveTime,
    on: impl Fn(chrono::NaiveDate) -> bool,
) -> Option<DateTime<Utc>> {
    let mut day = now.with_timezone(&tz).date_naive();
    for _ in 0..8 {
        if on(day)
            && let Some(t) = tz.from_local_datetime(&day.and_time(at)).earliest()
            && t.with_timezone(&Utc) <= now
        {
            return Some(t.with_timezone(&Utc));
        }
        day = day.pred_opt()?;
    }
    None
}

/// Whether the scheduler should scan a client now.
pub fn scan_due(last: Option<DateTime<Utc>>, now: DateTime<Utc>, interval: Duration) -> bool {
    last.is_none_or(|l| now - l >= interval)
}

/// Severity counts of unresolved findings per client, worst first (`/portfolio`).
pub fn portfolio_rows(active: &[Finding]) -> Vec<(ClientSlug, [usize; 3])> {
    let mut rows: BTreeMap<ClientSlug, [usize; 3]> = BTreeMap::new();
    for f in active {
        let r = rows.entry(f.client.clone()).or_default();
        let i = match f.severity {
            Severity::Critical => 0,
            Severity::Warning => 1,
            Severity::Opportunity => 2,
        };
        r[i] += 1;
    }
    let mut v: Vec<_> = rows.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// An informational message (used by handlers and the scheduler).
pub fn info(text: impl Into<String>) -> Message {
    Message::text(Accent::Info, text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveTime;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn latest_local_finds_the_last_due_time_across_dst_and_weekdays() {
        let ny = chrono_tz::America::New_York;
        let nine = NaiveTime::from_hms_opt(9, 0, 0).unwrap();
        // 13:59 UTC on Monday 2 November 2026 is 08:59 EST: the last 09:00 was Sunday's (EDT ended that morning).
        let t = latest_local(ny, utc("2026-11-02T13:59:00Z"), nine, |_| true);
        assert_eq!(t, Some(utc("2026-11-01T14:00:00Z")));
        assert_eq!(
            latest_local(ny, utc("2026-11-02T14:00:00Z"), nine, |_| true),
            Some(utc("2026-11-02T14:00:00Z"))
        );
        // Weekly on Mondays, asked on a Sunday: the Monday before.
        let mon = |d: chrono::NaiveDate| d.weekday() == chrono::Weekday::Mon;
        assert_eq!(
            latest_local(ny, utc("2026-11-08T20:00:00Z"), nine, mon),
            Some(utc("2026-11-02T14:00:00Z"))
        );
        // 02:30 does not exist on 8 March 2026 in New York; the day before's does.
        let half_two = NaiveTime::from_hms_opt(2, 30, 0).unwrap();
        assert_eq!(
            latest_local(ny, utc("2026-03-08T12:00:00Z"), half_two, |_| true),
            Some(utc("2026-03-07T07:30:00Z"))
        );
        // 01:30 happens twice on 1 November 2026: the first (EDT) is taken.
        let half_one = NaiveTime::from_hms_opt(1, 30, 0).unwrap();
        assert_eq!(
            latest_local(ny, utc("2026-11-01T07:00:00Z"), half_one, |_| true),
            Some(utc("2026-11-01T05:30:00Z"))
        );
    }
}
