//! The demo's past: the real pipeline run over the simulated days before the
//! demo goes live, so `/renewal-report`, `/portfolio` and `/sla` have real
//! numbers from the first minute. Nothing is written by hand: every finding
//! comes from a scan of the simulator, every change from a scan, the scheduler's
//! housekeeping or a person's command through the dispatcher.
//!
//! - **Faults**: a seeded plan per brand (flows set to draft or manual, orders
//!   that stop, bounce and spam spikes, now and then a grant revoked at
//!   Klaviyo, which a lead connects again), lasting hours to days, spread over
//!   the window.
//! - **Scans** run at the hourly scheduler's times at which a scan can see
//!   something new: every client's first scan (its onboarding audit), then
//!   around each fault: after it begins (when its check would fire), daily while
//!   it lasts, and after it ends until its findings clear. Between faults the
//!   simulated accounts do not change, so the hourly scans skipped would only
//!   have said "still the same"; skipping them is what makes 90 days take
//!   seconds. Scans due at the same time run concurrently.
//! - **People**: the configured console AMs (owner of the client, usually) and
//!   leads answer through the dispatcher, like anyone typing a command. They
//!   acknowledge most critical findings within minutes (later outside working
//!   hours, unless on call), some warnings within a day, snooze a few, add
//!   notes, and fix some faults in the account (the simulator's fault ends),
//!   then resolve the finding. What nobody fixes clears on its own at a scan.
//! - **Housekeeping**: digests, snooze ends and the outbox run as the
//!   scheduler and deliverer run them, so every finding has its posted message.
//!
//! Klaviyo's rate limits are counted in real time, which a replay compresses a
//! thousandfold, so the replay turns them off on its simulator and client for
//! its duration. Randomness is drawn per finding from a hash of the seed and
//! the finding's identity, never from the order concurrent scans finish in, so
//! a seed always replays the same past.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Datelike, Duration, DurationRound, NaiveTime, TimeZone, Utc, Weekday};
use chrono_tz::Tz;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tokio::task::JoinSet;
use tracing::instrument::WithSubscriber;
use tracing::subscriber::NoSubscriber;
use tracing::{Instrument, info, info_span, warn};

use super::{Portfolio, Stack};
use crate::app::AppError;
use crate::chat::console::ConsoleChat;
use crate::clock::{Clock, SimClock};
use crate::commands::Role;
use crate::domain::{ClientSlug, FindingId, Severity};
use crate::findings::{Change, ChangeKind, Finding, FindingState, Findings};
use crate::message::{
    Accent, Actor, ChannelRef, Inbound, InboundHandler, Outcome, PersonRef, Platform,
};
use crate::reports::renewal;
use crate::scan::pipeline::TOKEN_REVOKED;
use crate::simulator::{BrandInfo, Fault, FaultKind, hash};
use crate::startup::StartOptions;

/// Kinds of trouble in the past and how often each comes up, relatively.
const KINDS: [(FaultKind, u32); 6] = [
    (FaultKind::FlowDraft, 4),
    (FaultKind::FlowManual, 2),
    (FaultKind::OrdersStop, 5),
    (FaultKind::BounceSpike, 4),
    (FaultKind::SpamSpike, 3),
    (FaultKind::GrantRevoked, 1),
];

/// Mean days between two faults of one brand.
const DAYS_PER_FAULT: f64 = 25.0;

/// Shortest and longest a fault of each kind lasts, in hours, if nobody fixes
/// it: a stopped flow or a revoked grant stays until someone notices; a store
/// integration sometimes recovers by itself; spikes pass.
fn duration_hours(kind: FaultKind) -> (f64, f64) {
    match kind {
        FaultKind::FlowDraft => (12.0, 96.0),
        FaultKind::FlowManual => (12.0, 72.0),
        FaultKind::OrdersStop => (3.0, 72.0),
        FaultKind::BounceSpike => (3.0, 36.0),
        FaultKind::SpamSpike => (4.0, 36.0),
        _ => (4.0, 48.0),
    }
}

/// Hours after a fault begins and after it ends at which the hourly scan would
/// first see a change: a flow or a key at once; silent orders once past the
/// account's allowed gap (at least 6 h); a 24-hour rate a few hours into a
/// spike, and again as the spike leaves the 24-hour window.
fn probe_hours(kind: FaultKind) -> (&'static [i64], &'static [i64]) {
    match kind {
        FaultKind::OrdersStop => (&[7, 13, 19], &[0]),
        FaultKind::BounceSpike => (&[3, 6], &[0, 23, 30]),
        FaultKind::SpamSpike => (&[5, 10], &[0, 23, 30]),
        _ => (&[0], &[0]),
    }
}

/// Whether a person fixes this kind in the account (rather than waiting it out),
/// and what they write when they resolve the finding.
fn fix_reason(kind: FaultKind) -> Option<&'static str> {
    match kind {
        FaultKind::FlowDraft | FaultKind::FlowManual => {
            Some("set the abandoned checkout flow back to live")
        }
        FaultKind::OrdersStop => {
            Some("reconnected the store integration; orders are flowing again")
        }
        FaultKind::GrantRevoked => Some("reconnected the account by OAuth"),
        _ => None,
    }
}

/// Whether a finding of `check` is what a fault of `kind` causes.
fn caused_by(kind: FaultKind, check: &str) -> bool {
    match kind {
        FaultKind::FlowDraft | FaultKind::FlowManual => check.starts_with("flow-"),
        FaultKind::OrdersStop => check == "integration-orders-silent",
        // Bounced addresses are suppressed, so a bounce spike is a suppression spike too.
        FaultKind::BounceSpike => check == "deliv-bounce-rate" || check == "list-suppression-spike",
        FaultKind::SpamSpike => check == "deliv-spam-rate",
        FaultKind::GrantRevoked => check == TOKEN_REVOKED,
        _ => false,
    }
}

/// Internal notes people leave, by the finding's check family.
fn notes_for(check: &str) -> &'static [&'static str] {
    if check.starts_with("flow-") {
        &[
            "Client's developer was editing the checkout flow; asked them to switch it back on.",
            "Checking with the client whether this was on purpose.",
        ]
    } else if check.starts_with("integration-") {
        &[
            "The store app shows a sync error; asked the client to reconnect it.",
            "Client is changing store plugins this week.",
        ]
    } else if check.starts_with("deliv-") {
        &[
            "Client imported an old list on Monday; asked them to suppress it.",
            "Looks like a purchased list. Raised it with the client.",
        ]
    } else if check == TOKEN_REVOKED {
        &["Client removed Lookout's app in Klaviyo by mistake; a lead will reconnect it."]
    } else {
        &[
            "Raised with the client on our weekly call.",
            "On the client's roadmap for next month.",
        ]
    }
}

/// What the replay did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HistorySummary {
    /// Simulated days replayed.
    pub days: u32,
    /// Real time the replay took.
    pub elapsed: std::time::Duration,
    /// The faults the accounts went through, with the windows they really had
    /// (a fault a person fixed ends then); the live simulator gets them too.
    pub faults: Vec<Fault>,
    /// Scans run.
    pub scans: usize,
    /// Commands people typed.
    pub commands: usize,
    /// Findings people acknowledged.
    pub acknowledged: usize,
    /// Findings people snoozed.
    pub snoozed: usize,
    /// Notes people added.
    pub notes: usize,
    /// Findings people resolved.
    pub resolved: usize,
    /// Faults people fixed in the account before they ended by themselves.
    pub fixed: usize,
    /// Findings opened during the replay.
    pub opened: usize,
    /// Findings closed during the replay.
    pub closed: usize,
    /// …of which resolved by a person.
    pub closed_by_team: usize,
    /// The first client, to suggest a report for.
    pub example_client: Option<String>,
}

impl HistorySummary {
    /// The one line the demo shows once it is live.
    pub fn line(&self) -> String {
        format!(
            "History: {} simulated days replayed in {:.1} s: {} findings, {} closed ({} by the team, {} on their own); people acknowledged {}, snoozed {} and fixed {} problems in Klaviyo. See /sla{}.",
            self.days,
            self.elapsed.as_secs_f64(),
            self.opened,
            self.closed,
            self.closed_by_team,
            self.closed - self.closed_by_team,
            self.acknowledged,
            self.snoozed,
            self.fixed,
            self.example_client
                .as_deref()
                .map(|c| format!(" or /renewal-report {c}"))
                .unwrap_or_default()
        )
    }
}

/// A stack to replay the `days` before `end` on: its clock frozen at the
/// start, the portfolio laid out as of `end` (as the live demo's is), nothing
/// running in the background, chat into `chat`.
pub async fn stack(
    seed: u64,
    brands: usize,
    end: DateTime<Utc>,
    days: u32,
    chat: Arc<ConsoleChat>,
    only: &[&str],
) -> Result<Stack, AppError> {
    stack_with(seed, brands, end, days, chat, only, |_| {}, None, None).await
}

/// [`stack`], over a given store and vault, with a chance to adjust the
/// configuration (the demo removes the clients' keys: it connects them by OAuth).
#[allow(clippy::too_many_arguments)]
pub async fn stack_with(
    seed: u64,
    brands: usize,
    end: DateTime<Utc>,
    days: u32,
    chat: Arc<ConsoleChat>,
    only: &[&str],
    tweak: impl FnOnce(&mut crate::config::Config),
    store: Option<crate::store::Store>,
    vault: Option<crate::vault::Vault>,
) -> Result<Stack, AppError> {
    let clock = SimClock::frozen(end - Duration::days(i64::from(days)));
    Stack::build(
        Portfolio {
            seed,
            brands,
            origin: Some(end),
            only,
            sim: None,
        },
        clock.clone(),
        |_| Vec::new(),
        tweak,
        StartOptions {
            adapters: vec![chat],
            background: false,
            inbound: false,
            store,
            vault,
            ..StartOptions::new(Arc::new(clock))
        },
    )
    .await
}

/// The seed and the parts hashed with the simulator's stable hashes, the
/// same in every build and run.
fn stable_hash(seed: u64, parts: &[&str]) -> u64 {
    let words: Vec<u64> = std::iter::once(seed)
        .chain(parts.iter().map(|p| hash::str_hash(p)))
        .collect();
    hash::hash(&words)
}

fn rng_for(seed: u64, parts: &[&str]) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(stable_hash(seed, parts))
}

/// Plans faults for `brands` between `from` and `to`: about one per brand
/// every `DAYS_PER_FAULT` days (at least one), each in its own stretch of the
/// window so one brand's faults never overlap, none in the first day (the
/// onboarding audits) and all over two days before `to`, so the past has
/// settled when the demo goes live. Each brand's plan depends only on the seed
/// and its slug.
pub fn plan_faults(
    brands: &[BrandInfo],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    seed: u64,
) -> Vec<Fault> {
    let first = from + Duration::days(1);
    let last = to - Duration::days(2);
    let span_hours = (last - first).num_hours();
    if span_hours < 24 {
        return Vec::new();
    }
    let total_weight: u32 = KINDS.iter().map(|(_, w)| w).sum();
    let mut out = Vec::new();
    for b in brands {
        let mut rng = rng_for(seed, &["faults", &b.slug]);
        let mean = span_hours as f64 / 24.0 / DAYS_PER_FAULT;
        let n = ((mean + rng.random::<f64>()).floor() as i64).max(1);
        let stretch = span_hours / n;
        for k in 0..n {
            let mut pick = rng.random_range(0..total_weight);
            let kind = KINDS
                .iter()
                .find(|(_, w)| {
                    if pick < *w {
                        true
                    } else {
                        pick -= w;
                        false
                    }
                })
                .map_or(FaultKind::FlowDraft, |(k, _)| *k);
            let (lo, hi) = duration_hours(kind);
            // Log-uniform: short blips are common, multi-day trouble is rarer.
            let hours = (lo.ln() + (hi.ln() - lo.ln()) * rng.random::<f64>()).exp();
            let minutes = ((hours * 60.0) as i64).clamp(60, (stretch - 1).max(1) * 60 * 4 / 5);
            let room = (stretch * 60 - minutes).max(1);
            let at = first + Duration::minutes(k * stretch * 60 + rng.random_range(0..room));
            out.push(Fault {
                brand: b.slug.clone(),
                kind,
                at,
                until: Some(at + Duration::minutes(minutes)),
            });
        }
    }
    out.sort_by(|a, b| a.at.cmp(&b.at).then(a.brand.cmp(&b.brand)));
    out
}

/// Why a client is scanned.
#[derive(Debug, Clone, Copy)]
enum Probe {
    /// Its first scan.
    Audit,
    /// While the fault at this index is in force.
    During(usize),
    /// After fault `fault` ended: the `nth` planned look, or the one after a person's fix.
    After {
        fault: usize,
        nth: usize,
        after_fix: bool,
    },
    /// A finding no fault explains (a noisy rate, say) is looked at again
    /// after `hours`, then twice as long, until it clears.
    Recheck { finding: FindingId, hours: i64 },
}

/// Longest wait between two rechecks of an unexplained finding.
const RECHECK_MAX_HOURS: i64 = 96;

/// Something a person does about a finding: the command they type.
#[derive(Debug, Clone)]
enum Verb {
    /// `/ack`.
    Ack,
    /// `/snooze` for this long.
    Snooze(&'static str),
    /// `/note` with this text.
    Note(&'static str),
    /// `/resolve` with this reason.
    Resolve(&'static str),
}

/// One step of the replay, at a simulated time.
#[derive(Debug, Clone)]
enum Action {
    /// The scheduler's periodic work: snooze ends, digests, maintenance, quiet hours.
    Housekeeping,
    /// A person fixes fault `fault` in the account.
    Fix { fault: usize, by: PersonRef },
    /// A person types a command about a finding.
    Command {
        person: PersonRef,
        channel: ChannelRef,
        finding: FindingId,
        verb: Verb,
    },
    /// A snooze ends; the owner may pick the finding up again.
    SnoozeOver { finding: FindingId },
    /// A scan of a client.
    Scan { client: ClientSlug, probe: Probe },
}

impl Action {
    /// Order among actions at the same minute: housekeeping first, scans last.
    fn rank(&self) -> u8 {
        match self {
            Action::Housekeeping => 0,
            Action::Fix { .. } => 1,
            Action::Command { .. } => 2,
            Action::SnoozeOver { .. } => 3,
            Action::Scan { .. } => 4,
        }
    }
}

/// A planned fault and what became of it.
struct Planned {
    fault: Fault,
    /// A person fixed it (it ended then).
    fixed: bool,
    /// A person means to fix it.
    fix_planned: bool,
    /// Findings it caused.
    findings: Vec<FindingId>,
}

/// Why a person looks at a finding.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Cue {
    /// It was posted (detected or reopened).
    Posted,
    /// It became critical.
    Worse,
    /// Its snooze ended.
    Woken,
}

/// The replay's state: the queue of what happens next, the faults and their
/// findings, who the people are, and the running tally.
struct Replay<'a> {
    stack: &'a Stack,
    seed: u64,
    tz: Tz,
    end: DateTime<Utc>,
    queue: BTreeMap<(DateTime<Utc>, u8, u64), Action>,
    seq: u64,
    faults: Vec<Planned>,
    ams: Vec<PersonRef>,
    leads: Vec<PersonRef>,
    summary: HistorySummary,
}

/// Replays the simulated time from the stack's clock to `end` (see the module
/// documentation), leaving the clock at `end`. The stack should be one from
/// [`stack`]: frozen clock, nothing in the background.
pub async fn replay(
    stack: &Stack,
    end: DateTime<Utc>,
    seed: u64,
) -> Result<HistorySummary, AppError> {
    let start = stack.clock.now();
    let days = u32::try_from((end - start).num_hours().max(0) / 24).unwrap_or(u32::MAX);
    let span = info_span!("history", days, seed);
    async move {
        let began = std::time::Instant::now();
        stack.set_rate_limits(false);
        let run = run_replay(stack, start, end, seed).await;
        stack.set_rate_limits(true);
        let mut summary = run?;
        summary.days = days;
        summary.elapsed = began.elapsed();
        info!(
            scans = summary.scans,
            opened = summary.opened,
            closed = summary.closed,
            commands = summary.commands,
            elapsed_ms = summary.elapsed.as_millis() as u64,
            "history replayed"
        );
        Ok(summary)
    }
    .instrument(span)
    .await
}

/// Plans the faults and scans, runs the queue, and counts what happened.
async fn run_replay(
    stack: &Stack,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    seed: u64,
) -> Result<HistorySummary, AppError> {
    let app = &stack.app;
    let clients: Vec<ClientSlug> = app
        .clients
        .all()
        .into_iter()
        .map(|c| c.profile.slug.clone())
        .collect();
    let brands: Vec<BrandInfo> = stack
        .sim
        .brands()
        .into_iter()
        .filter(|b| clients.iter().any(|c| c.as_str() == b.slug))
        .collect();
    let people = |role: Role| -> Vec<PersonRef> {
        app.config
            .people
            .iter()
            .filter(|(p, r)| **r == role && p.platform == Platform::Console)
            .map(|(p, _)| p.clone())
            .collect()
    };
    let mut replay = Replay {
        stack,
        seed,
        tz: app.config.agency.tz()?,
        end,
        queue: BTreeMap::new(),
        seq: 0,
        faults: Vec::new(),
        ams: people(Role::Am),
        leads: people(Role::Lead),
        summary: HistorySummary {
            example_client: clients.first().map(|c| c.to_string()),
            ..HistorySummary::default()
        },
    };
    for fault in plan_faults(&brands, start, end, seed) {
        stack.sim.inject(fault.clone());
        replay.faults.push(Planned {
            fault,
            fixed: false,
            fix_planned: false,
            findings: Vec::new(),
        });
    }
    replay.plan(start, &clients);
    replay.run_queue().await?;
    stack.clock.set(end);
    replay.housekeeping().await?;
    replay.deliver().await?;
    replay.tally(start, &clients).await?;
    replay.summary.faults = replay.faults.iter().map(|p| p.fault.clone()).collect();
    Ok(replay.summary)
}

/// The hourly scan at or after `t`.
fn slot(t: DateTime<Utc>) -> DateTime<Utc> {
    let hour = t.duration_trunc(Duration::hours(1)).unwrap_or(t);
    if hour == t {
        t
    } else {
        hour + Duration::hours(1)
    }
}

impl Replay<'_> {
    /// Queues an action at `at` (never before now; nothing after the end).
    fn push(&mut self, at: DateTime<Utc>, action: Action) {
        // Nothing is planned in the past: the clock only moves forward.
        let at = at.max(self.stack.clock.now());
        if at > self.end {
            return;
        }
        self.seq += 1;
        self.queue.insert((at, action.rank(), self.seq), action);
    }

    /// The audits, every fault's scans and the daily digest times.
    fn plan(&mut self, start: DateTime<Utc>, clients: &[ClientSlug]) {
        self.push(start, Action::Housekeeping);
        for c in clients {
            self.push(
                start,
                Action::Scan {
                    client: c.clone(),
                    probe: Probe::Audit,
                },
            );
        }
        for i in 0..self.faults.len() {
            let f = self.faults[i].fault.clone();
            let Ok(client) = ClientSlug::parse(&f.brand) else {
                continue;
            };
            let until = f.until.unwrap_or(self.end);
            let (during, after) = probe_hours(f.kind);
            let daily = (1..)
                .map(|d| d * 24)
                .take_while(|h| f.at + Duration::hours(*h) < until);
            let mut hours: Vec<i64> = during.iter().copied().chain(daily).collect();
            hours.dedup();
            for h in hours {
                let at = f.at + Duration::hours(h);
                if at < until {
                    self.push(
                        slot(at),
                        Action::Scan {
                            client: client.clone(),
                            probe: Probe::During(i),
                        },
                    );
                }
            }
            for (nth, h) in after.iter().enumerate() {
                self.push(
                    slot(until + Duration::hours(*h)),
                    Action::Scan {
                        client: client.clone(),
                        probe: Probe::After {
                            fault: i,
                            nth,
                            after_fix: false,
                        },
                    },
                );
            }
        }
        // The scheduler posts digests at the agency's hour; the replay calls
        // it a minute later each day rather than every minute.
        let at = NaiveTime::from_hms_opt(self.stack.app.config.agency.daily_digest_hour, 1, 0)
            .unwrap_or(NaiveTime::MIN);
        let mut day = start.with_timezone(&self.tz).date_naive();
        while let Some(t) = self.tz.from_local_datetime(&day.and_time(at)).earliest() {
            let t = t.with_timezone(&Utc);
            if t > self.end {
                break;
            }
            if t > start {
                self.push(t, Action::Housekeeping);
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
    }

    async fn run_queue(&mut self) -> Result<(), AppError> {
        while let Some(entry) = self.queue.first_entry() {
            let t = entry.key().0;
            self.stack.clock.set(t);
            let mut scans = Vec::new();
            while let Some(entry) = self.queue.first_entry() {
                if entry.key().0 != t {
                    break;
                }
                match entry.remove() {
                    Action::Scan { client, probe } => scans.push((client, probe)),
                    other => self.act(other, t).await?,
                }
            }
            if !scans.is_empty() {
                self.scan(scans, t).await?;
            }
            self.deliver().await?;
        }
        Ok(())
    }

    async fn act(&mut self, action: Action, t: DateTime<Utc>) -> Result<(), AppError> {
        match action {
            Action::Housekeeping => self.housekeeping().await,
            Action::Fix { fault, by } => {
                let was_fixed = self.faults[fault].fixed;
                self.fix(fault, by.clone(), t);
                let p = &self.faults[fault];
                if p.fault.kind == FaultKind::GrantRevoked && !was_fixed && p.fixed {
                    // A dead grant is fixed by connecting again, which is a lead's to do.
                    let brand = p.fault.brand.clone();
                    let lead = self.leads.first().cloned().unwrap_or(by);
                    let until = (t + Duration::days(300))
                        .with_timezone(&self.tz)
                        .format("%Y-%m-%d")
                        .to_string();
                    self.stack.connect_by_oauth(&lead, &brand, &until).await?;
                }
                Ok(())
            }
            Action::Command {
                person,
                channel,
                finding,
                verb,
            } => self.command(person, channel, finding, verb, t).await,
            Action::SnoozeOver { finding } => {
                self.housekeeping().await?;
                if let Some(f) = self.finding(finding).await?
                    && f.state == FindingState::Open
                {
                    self.respond(&f, t, Cue::Woken);
                }
                Ok(())
            }
            // Scans are gathered by the caller and run together.
            Action::Scan { .. } => Ok(()),
        }
    }

    async fn housekeeping(&self) -> Result<(), AppError> {
        let app = &self.stack.app;
        app.wake_snoozes().await?;
        app.run_digests().await?;
        app.end_maintenance_windows().await?;
        app.end_quiet_hours().await?;
        Ok(())
    }

    async fn deliver(&self) -> Result<(), AppError> {
        // One pass takes up to 500 rows; a few passes drain any burst.
        for _ in 0..10 {
            let pass = self.stack.app.deliverer.run_once().await?;
            if pass.failed > 0 {
                warn!(failed = pass.failed, "history: some chat messages failed");
            }
            if pass.sent == 0 {
                break;
            }
        }
        Ok(())
    }

    async fn finding(&self, id: FindingId) -> Result<Option<Finding>, AppError> {
        let mut db = self.stack.app.store.conn().await?;
        match Findings::get(&mut db, id).await {
            Ok(f) => Ok(Some(f)),
            Err(crate::findings::FindingError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Whether a probe still has something to look at.
    async fn wanted(&self, probe: Probe) -> Result<bool, AppError> {
        match probe {
            Probe::Audit => Ok(true),
            Probe::During(i) => Ok(!self.faults[i].fixed),
            Probe::Recheck { finding, .. } => Ok(self
                .finding(finding)
                .await?
                .is_some_and(|f| f.state.is_active())),
            Probe::After {
                fault,
                nth,
                after_fix,
            } => {
                let p = &self.faults[fault];
                if p.fixed && !after_fix {
                    return Ok(false);
                }
                if p.findings.is_empty() {
                    // Never seen: one look once it is over (a rate peaks then).
                    return Ok(nth == 0 || after_fix);
                }
                for id in &p.findings {
                    if self
                        .finding(*id)
                        .await?
                        .is_some_and(|f| f.state.is_active())
                    {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
        }
    }

    /// Scans the clients due at `t` concurrently, then lets people react to
    /// the changes in a fixed order.
    async fn scan(
        &mut self,
        due: Vec<(ClientSlug, Probe)>,
        t: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let mut clients: Vec<ClientSlug> = Vec::new();
        let mut rechecks = Vec::new();
        for (client, probe) in due {
            if !self.wanted(probe).await? {
                continue;
            }
            if let Probe::Recheck { finding, hours } = probe {
                rechecks.push((client.clone(), finding, hours));
            }
            if !clients.contains(&client) {
                clients.push(client);
            }
        }
        let mut set = JoinSet::new();
        for client in clients {
            let app = self.stack.app.clone();
            // These scans meet the faults the replay planned (a revoked grant is
            // a warning in a live scan); their logs would only clutter the
            // terminal the demo runs in, so they go nowhere. A failed scan is
            // still logged below.
            set.spawn(
                async move {
                    let r = app.scan(&client, "history", None).await;
                    (client, r)
                }
                .with_subscriber(NoSubscriber::default()),
            );
        }
        let mut done = Vec::new();
        while let Some(joined) = set.join_next().await {
            match joined {
                Ok(r) => done.push(r),
                Err(e) => warn!(error = %e, "history: a scan task failed"),
            }
        }
        done.sort_by(|a, b| a.0.cmp(&b.0));
        for (client, r) in done {
            match r {
                Ok(report) => {
                    self.summary.scans += 1;
                    let mut changes = report.changes;
                    changes.sort_by(|a, b| {
                        (&a.finding.check_id, &a.finding.subject)
                            .cmp(&(&b.finding.check_id, &b.finding.subject))
                    });
                    for c in &changes {
                        self.react(c, t);
                    }
                }
                Err(e) => warn!(client = %client, error = %e, "history: scan failed"),
            }
        }
        for (client, finding, hours) in rechecks {
            let hours = (hours * 2).min(RECHECK_MAX_HOURS);
            self.push(
                slot(t + Duration::hours(hours)),
                Action::Scan {
                    client,
                    probe: Probe::Recheck { finding, hours },
                },
            );
        }
        Ok(())
    }

    fn react(&mut self, change: &Change, t: DateTime<Utc>) {
        let f = &change.finding;
        match change.kind {
            ChangeKind::Detected | ChangeKind::Reopened => {
                if !self.link(f) && !f.onboarding {
                    self.push(
                        slot(t + Duration::hours(6)),
                        Action::Scan {
                            client: f.client.clone(),
                            probe: Probe::Recheck {
                                finding: f.id,
                                hours: 6,
                            },
                        },
                    );
                }
                self.respond(f, t, Cue::Posted);
            }
            ChangeKind::Worsened { .. }
                if f.severity == Severity::Critical && f.state == FindingState::Open =>
            {
                self.respond(f, t, Cue::Worse);
            }
            // A snooze until it got worse ended at this scan.
            ChangeKind::SnoozeEnded if f.state == FindingState::Open => {
                self.respond(f, t, Cue::Woken);
            }
            _ => {}
        }
    }

    /// Ties a new finding to the fault that caused it; false when none did.
    fn link(&mut self, f: &Finding) -> bool {
        let found = self.faults.iter_mut().find(|p| {
            p.fault.brand == f.client.as_str()
                && caused_by(p.fault.kind, &f.check_id)
                && p.fault.at <= f.detected_at
                && p.fault
                    .until
                    .is_none_or(|u| f.detected_at <= u + Duration::hours(36))
        });
        match found {
            Some(p) => {
                if !p.findings.contains(&f.id) {
                    p.findings.push(f.id);
                }
                true
            }
            None => false,
        }
    }

    /// Who answers for a client's finding: its owner mostly, sometimes the
    /// lead or the other AM covering; and where they type (its channel).
    fn who(&self, client: &ClientSlug, rng: &mut ChaCha8Rng) -> Option<(PersonRef, ChannelRef)> {
        let entry = self.stack.app.clients.get(client).ok()?;
        let channel = entry
            .route
            .channel_on(Platform::Console)
            .cloned()
            .unwrap_or_else(|| ChannelRef::console("agency"));
        let owner = entry
            .route
            .owners()
            .find(|p| p.platform == Platform::Console)
            .cloned()
            .or_else(|| self.ams.first().cloned())?;
        let r = rng.random::<f64>();
        let other = self.ams.iter().find(|p| **p != owner);
        let person = match (self.leads.first(), other) {
            (Some(lead), _) if r < 0.12 => lead.clone(),
            (_, Some(am)) if r > 0.92 => am.clone(),
            _ => owner,
        };
        Some((person, channel))
    }

    fn on_duty(&self, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&self.tz);
        let weekday = !matches!(local.weekday(), Weekday::Sat | Weekday::Sun);
        let minute = local
            .time()
            .signed_duration_since(NaiveTime::MIN)
            .num_minutes();
        weekday && (8 * 60 + 30..18 * 60 + 30).contains(&minute)
    }

    /// The start of the next working stretch at or after `t` (08:30 local, weekdays).
    fn next_on_duty(&self, t: DateTime<Utc>) -> DateTime<Utc> {
        if self.on_duty(t) {
            return t;
        }
        let opening = NaiveTime::from_hms_opt(8, 30, 0).unwrap_or(NaiveTime::MIN);
        let mut day = t.with_timezone(&self.tz).date_naive();
        for _ in 0..8 {
            if let Some(open) = self
                .tz
                .from_local_datetime(&day.and_time(opening))
                .earliest()
            {
                let open = open.with_timezone(&Utc);
                if open >= t && self.on_duty(open) {
                    return open;
                }
            }
            match day.succ_opt() {
                Some(d) => day = d,
                None => break,
            }
        }
        t
    }

    /// When a person gets to a finding seen at `t`: minutes for a critical one
    /// (within the hour, mostly), hours for a warning, days for an
    /// opportunity; outside working hours the next morning, except a critical
    /// finding the one on call picks up.
    fn response_at(
        &self,
        f: &Finding,
        cue: Cue,
        t: DateTime<Utc>,
        rng: &mut ChaCha8Rng,
    ) -> DateTime<Utc> {
        let u = rng.random::<f64>();
        let minutes = match (f.onboarding && cue == Cue::Posted, f.severity) {
            // The onboarding audit is gone through over the first days.
            (true, _) => 60.0 + 2400.0 * u,
            (false, Severity::Critical) => 3.0 + 115.0 * u * u,
            (false, Severity::Warning) => 20.0 + 1300.0 * u.powf(1.6),
            (false, Severity::Opportunity) => 1440.0 + 5760.0 * u,
        };
        let at = t + Duration::minutes(minutes as i64);
        if self.on_duty(at) {
            return at;
        }
        if f.severity == Severity::Critical && !f.onboarding && rng.random_bool(0.55) {
            return t + Duration::minutes(rng.random_range(10..90));
        }
        self.next_on_duty(at) + Duration::minutes(rng.random_range(5..75))
    }

    /// Plans what a person does about a finding: maybe nothing; otherwise an
    /// acknowledgement (or a snooze), sometimes a note, and for a fault they
    /// can fix, the fix and the resolution.
    fn respond(&mut self, f: &Finding, t: DateTime<Utc>, cue: Cue) {
        let identity = format!("{}/{}/{}", f.client, f.check_id, f.subject);
        let seen = f.detected_at.timestamp().to_string();
        let tag = format!("{cue:?}");
        let mut rng = rng_for(
            self.seed,
            &[
                "respond",
                &identity,
                &seen,
                &tag,
                &t.timestamp().to_string(),
            ],
        );
        let Some((person, channel)) = self.who(&f.client, &mut rng) else {
            return;
        };
        let p_respond = match (f.onboarding && cue == Cue::Posted, f.severity) {
            (_, _) if cue == Cue::Woken => 0.9,
            (true, Severity::Critical) => 0.95,
            (true, Severity::Warning) => 0.85,
            (true, Severity::Opportunity) => 0.4,
            (false, Severity::Critical) => 0.93,
            (false, Severity::Warning) => 0.6,
            (false, Severity::Opportunity) => 0.3,
        };
        if !rng.random_bool(p_respond) {
            return;
        }
        let at = self.response_at(f, cue, t, &mut rng);
        // Snoozes: an audit item parked for a week, a spike watched for a
        // while, a warning put off; never a broken flow or integration.
        let onboarding = f.onboarding && cue == Cue::Posted;
        let snooze = match f.severity {
            _ if cue == Cue::Woken => None,
            Severity::Warning | Severity::Opportunity if onboarding && rng.random_bool(0.3) => {
                Some("7d")
            }
            _ if f.check_id.starts_with("deliv-") && rng.random_bool(0.2) => {
                Some(["4h", "1d", "until-worse"][rng.random_range(0..3)])
            }
            Severity::Warning if rng.random_bool(0.2) => {
                Some(["4h", "1d", "until-worse", "7d"][rng.random_range(0..4)])
            }
            Severity::Opportunity if rng.random_bool(0.25) => Some("7d"),
            _ => None,
        };
        let command = |verb| Action::Command {
            person: person.clone(),
            channel: channel.clone(),
            finding: f.id,
            verb,
        };
        if let Some(d) = snooze {
            self.push(at, command(Verb::Snooze(d)));
            return;
        }
        self.push(at, command(Verb::Ack));
        if rng.random_bool(0.2) {
            let notes = notes_for(&f.check_id);
            let note = notes[rng.random_range(0..notes.len())];
            self.push(
                at + Duration::minutes(rng.random_range(5..120)),
                command(Verb::Note(note)),
            );
        }
        let fault = self.faults.iter().position(|p| {
            p.findings.contains(&f.id)
                && !p.fixed
                && !p.fix_planned
                && fix_reason(p.fault.kind).is_some()
        });
        if let Some(i) = fault
            && rng.random_bool(0.88)
        {
            let u = rng.random::<f64>();
            let fix_at = at + Duration::minutes(10 + (300.0 * u * u) as i64);
            if self.faults[i]
                .fault
                .until
                .is_none_or(|until| fix_at < until)
            {
                self.faults[i].fix_planned = true;
                self.push(
                    fix_at,
                    Action::Fix {
                        fault: i,
                        by: person.clone(),
                    },
                );
            }
        }
    }

    /// A person fixes a fault in the account: the simulator's fault ends now,
    /// they resolve its findings a few minutes later, and the next hourly scan
    /// looks.
    fn fix(&mut self, i: usize, by: PersonRef, t: DateTime<Utc>) {
        let p = &mut self.faults[i];
        if p.fixed || p.fault.until.is_some_and(|u| u <= t) {
            return;
        }
        self.stack.sim.clear(&p.fault.brand, p.fault.kind);
        p.fault.until = Some(t);
        p.fixed = true;
        self.summary.fixed += 1;
        let reason = fix_reason(p.fault.kind).unwrap_or("fixed in Klaviyo");
        let findings = p.findings.clone();
        let brand = p.fault.brand.clone();
        let mut rng = rng_for(self.seed, &["fix", &brand, &t.timestamp().to_string()]);
        let channel = ClientSlug::parse(&brand)
            .ok()
            .and_then(|c| self.stack.app.clients.get(&c).ok())
            .and_then(|e| e.route.channel_on(Platform::Console).cloned())
            .unwrap_or_else(|| ChannelRef::console("agency"));
        for id in findings {
            self.push(
                t + Duration::minutes(rng.random_range(2..15)),
                Action::Command {
                    person: by.clone(),
                    channel: channel.clone(),
                    finding: id,
                    verb: Verb::Resolve(reason),
                },
            );
        }
        if let Ok(client) = ClientSlug::parse(&brand) {
            self.push(
                slot(t + Duration::minutes(20)),
                Action::Scan {
                    client,
                    probe: Probe::After {
                        fault: i,
                        nth: 0,
                        after_fix: true,
                    },
                },
            );
        }
    }

    /// Types a command as `person` in `channel`, the way the console does,
    /// after looking at the finding: nobody acknowledges what is resolved.
    async fn command(
        &mut self,
        person: PersonRef,
        channel: ChannelRef,
        finding: FindingId,
        verb: Verb,
        t: DateTime<Utc>,
    ) -> Result<(), AppError> {
        let Some(f) = self.finding(finding).await? else {
            return Ok(());
        };
        let still = match verb {
            Verb::Ack | Verb::Snooze(_) => f.state == FindingState::Open,
            Verb::Note(_) | Verb::Resolve(_) => f.state.is_active(),
        };
        if !still {
            return Ok(());
        }
        let (name, text) = match verb {
            Verb::Ack => ("/ack", finding.to_string()),
            Verb::Snooze(d) => ("/snooze", format!("{finding} {d}")),
            Verb::Note(n) => ("/note", format!("{finding} {n}")),
            Verb::Resolve(r) => ("/resolve", format!("{finding} {r}")),
        };
        let outcome = self
            .stack
            .running
            .dispatcher
            .handle(Inbound::Command {
                actor: Actor { person, channel },
                name: name.to_owned(),
                text,
            })
            .await;
        self.summary.commands += 1;
        if let Outcome::Private(m) = &outcome
            && m.accent == Accent::Error
        {
            warn!(command = name, finding = %finding, "history: a command was refused");
            return Ok(());
        }
        match verb {
            Verb::Ack => self.summary.acknowledged += 1,
            Verb::Note(_) => self.summary.notes += 1,
            Verb::Resolve(_) => self.summary.resolved += 1,
            Verb::Snooze(_) => {
                self.summary.snoozed += 1;
                if let Some(until) = self.finding(finding).await?.and_then(|f| f.snoozed_until) {
                    self.push(
                        until.max(t) + Duration::minutes(1),
                        Action::SnoozeOver { finding },
                    );
                }
            }
        }
        Ok(())
    }

    /// The figures the reports will show, from the store (the currency only
    /// labels money, which the summary does not show).
    async fn tally(
        &mut self,
        start: DateTime<Utc>,
        clients: &[ClientSlug],
    ) -> Result<(), AppError> {
        let mut db = self.stack.app.store.conn().await?;
        for c in clients {
            let found = Findings::touched_between(&mut db, c, start, self.end).await?;
            let r = renewal::renewal(&found, start, self.end, "USD");
            self.summary.opened += r.opened;
            self.summary.closed += r.closed;
            self.summary.closed_by_team += r.closed_by_team;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn brand(slug: &str) -> BrandInfo {
        BrandInfo {
            slug: slug.into(),
            name: slug.into(),
            account_id: "ABC123".into(),
            api_key: crate::config::Secret::new("pk_test".to_string()),
            currency: "USD".into(),
            timezone: "America/New_York".into(),
            sells_online: true,
            jurisdictions: vec!["US".into()],
        }
    }

    #[test]
    fn the_fault_plan_is_seeded_spread_and_settled_before_the_end() {
        let end = super::super::demo_start();
        let from = end - Duration::days(90);
        let brands: Vec<BrandInfo> = ["acme", "bluebird", "cedar-co", "dune-supply"]
            .iter()
            .map(|s| brand(s))
            .collect();
        let plan = plan_faults(&brands, from, end, 42);
        assert_eq!(plan, plan_faults(&brands, from, end, 42));
        assert_ne!(plan, plan_faults(&brands, from, end, 43));
        // A brand's plan does not depend on which other brands are planned.
        let acme: Vec<&Fault> = plan.iter().filter(|f| f.brand == "acme").collect();
        let alone = plan_faults(&brands[..1], from, end, 42);
        assert_eq!(acme, alone.iter().collect::<Vec<_>>());
        for b in &brands {
            let mine: Vec<&Fault> = plan.iter().filter(|f| f.brand == b.slug).collect();
            assert!((2..=5).contains(&mine.len()), "{}: {}", b.slug, mine.len());
            for w in mine.windows(2) {
                assert!(w[0].until.unwrap() <= w[1].at, "overlap: {w:?}");
            }
        }
        for f in &plan {
            let until = f.until.unwrap();
            assert!(
                f.at >= from + Duration::days(1) && until <= end - Duration::days(2),
                "{f:?}"
            );
            assert!(until - f.at >= Duration::hours(1), "{f:?}");
        }
        let kinds: HashSet<FaultKind> = plan.iter().map(|f| f.kind).collect();
        assert!(kinds.len() >= 3, "{kinds:?}");
    }

    #[test]
    fn scans_fall_on_the_hour_and_stable_hashes_do_not_drift() {
        let t = Utc.with_ymd_and_hms(2026, 9, 1, 10, 20, 0).unwrap();
        assert_eq!(slot(t), Utc.with_ymd_and_hms(2026, 9, 1, 11, 0, 0).unwrap());
        let on = Utc.with_ymd_and_hms(2026, 9, 1, 10, 0, 0).unwrap();
        assert_eq!(slot(on), on);
        assert_eq!(stable_hash(1, &["a", "b"]), stable_hash(1, &["a", "b"]));
        assert_ne!(stable_hash(1, &["ab"]), stable_hash(1, &["a", "b"]));
    }
}
