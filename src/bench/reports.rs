//! `bench reports` builds a year of history for a simulated portfolio in a
//! fresh SQLite file through the findings API the pipeline uses (detections
//! by reconcile, people acknowledging and resolving, problems clearing on
//! their own, scan records), then times `/renewal-report`, `/report` and
//! `/sla` end to end through the command handlers: queries, figures, chart
//! and the outbox row. Each figure is the median of several runs.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use tracing::info;

use crate::app::{App, AppError};
use crate::chat::console::ConsoleChat;
use crate::checks::{Observation, catalogue};
use crate::clock::{SharedClock, SimClock};
use crate::commands::{self, Invocation, parse::parse_line};
use crate::demo::{config_for, demo_start};
use crate::domain::{ClientSlug, FindingId, Money, Severity, Track};
use crate::findings::{Actor, ChangeKind, Findings, ReconcileScope};
use crate::message::{Adapters, ChannelRef, PersonRef};
use crate::simulator::Simulator;
use crate::store::{Store, scans};

/// The target for each report, in milliseconds.
pub const REPORT_TARGET_MS: f64 = 100.0;

/// What `bench reports` builds.
#[derive(Debug, Clone)]
pub struct ReportsBench {
    /// Findings in the history.
    pub findings: usize,
    /// Clients they are spread over.
    pub clients: usize,
    /// Days of history.
    pub days: i64,
    /// Timed runs of each report (the median is reported).
    pub runs: usize,
    /// Seed of the history.
    pub seed: u64,
}

impl Default for ReportsBench {
    fn default() -> Self {
        Self {
            findings: 100_000,
            clients: 12,
            days: 365,
            runs: 5,
            seed: 42,
        }
    }
}

/// The measured figures.
#[derive(Debug, Clone)]
pub struct ReportsFigures {
    /// Findings created.
    pub findings: usize,
    /// Finding events recorded.
    pub events: usize,
    /// Seconds spent building the history.
    pub build_secs: f64,
    /// Median milliseconds of `/renewal-report`.
    pub renewal_ms: f64,
    /// Median milliseconds of `/report`.
    pub report_ms: f64,
    /// Median milliseconds of `/sla`.
    pub sla_ms: f64,
}

impl ReportsFigures {
    /// The bench's last line, in the format.
    pub fn last_line(&self) -> String {
        format!(
            "reports: findings={} renewal_ms={:.1} report_ms={:.1} sla_ms={:.1}",
            self.findings, self.renewal_ms, self.report_ms, self.sla_ms
        )
    }
}

/// Something a person or a scan does at a time, in the simulated history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    /// A client's daily scan.
    Scan(usize),
    /// Someone acknowledges a finding (by its subject number).
    Ack(usize),
    /// Someone fixes it.
    Fix(usize),
}

/// A problem in the simulated history: one finding.
struct Problem {
    client: usize,
    check: &'static str,
    severity: Severity,
    /// When the problem goes away by itself, if nobody fixes it.
    ends: DateTime<Utc>,
    value_minor: i64,
    finding: Option<FindingId>,
    fixed: bool,
}

/// Builds the history in `dir` and times the reports; logs progress.
pub async fn reports(
    opts: &ReportsBench,
    dir: &std::path::Path,
) -> Result<ReportsFigures, AppError> {
    let end = demo_start();
    let start = end - Duration::days(opts.days);
    let clock = SimClock::frozen(start);
    let shared: SharedClock = Arc::new(clock.clone());
    let sim = Simulator::new(opts.seed, opts.clients, shared.clone());
    let brands = sim.brands();
    let cfg = config_for(&brands, "http://127.0.0.1:9", dir.to_path_buf());
    let store = Store::open_file(&dir.join("lookout.db")).await?;
    let chat = Arc::new(
        ConsoleChat::with_writer(Box::new(std::io::sink())).with_files_dir(dir.join("files")),
    );
    let app = App::new(cfg, store, shared, Adapters::one(chat)).await?;
    let slugs: Vec<ClientSlug> = app
        .clients
        .all()
        .iter()
        .map(|c| c.profile.slug.clone())
        .collect();

    let built = Instant::now();
    let (findings, events) = build_history(&app, &clock, &slugs, opts, start, end).await?;
    let build_secs = built.elapsed().as_secs_f64();
    info!(findings, events, build_secs, "history built");

    clock.set(end);
    let first = &slugs[0];
    let agency = ChannelRef::console("agency");
    let lead = PersonRef::console("lee");
    let renewal_ms = time(
        &app,
        &lead,
        &agency,
        &format!("/renewal-report {first} 90"),
        opts.runs,
    )
    .await?;
    let report_ms = time(&app, &lead, &agency, &format!("/report {first}"), opts.runs).await?;
    let sla_ms = time(&app, &lead, &agency, "/sla", opts.runs).await?;
    Ok(ReportsFigures {
        findings,
        events,
        build_secs,
        renewal_ms,
        report_ms,
        sla_ms,
    })
}

/// Median milliseconds of a command run `runs` times by `who` in `channel`.
async fn time(
    app: &Arc<App>,
    who: &PersonRef,
    channel: &ChannelRef,
    line: &str,
    runs: usize,
) -> Result<f64, AppError> {
    let cmd = parse_line(line).map_err(|e| AppError::Startup(format!("{line}: {e}")))?;
    let inv = Invocation {
        person: who.clone(),
        channel: channel.clone(),
    };
    let mut ms = Vec::with_capacity(runs);
    for _ in 0..runs.max(1) {
        let t = Instant::now();
        commands::run(app, &inv, &cmd)
            .await
            .map_err(|e| AppError::Startup(format!("{line}: {e}")))?;
        ms.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    ms.sort_by(f64::total_cmp);
    Ok(ms[ms.len() / 2])
}

/// Runs the simulated year: each client scanned daily, new problems found,
/// people acknowledging and fixing some, the rest clearing on their own.
/// Returns (findings, events).
async fn build_history(
    app: &Arc<App>,
    clock: &SimClock,
    slugs: &[ClientSlug],
    opts: &ReportsBench,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
) -> Result<(usize, usize), AppError> {
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let checks: Vec<(&'static str, Severity, Track)> = catalogue()
        .iter()
        .map(|c| (c.id, c.default_severity, c.track))
        .collect();
    let ran: HashSet<String> = checks.iter().map(|c| c.0.to_owned()).collect();
    let people = [
        PersonRef::console("ana"),
        PersonRef::console("bo"),
        PersonRef::console("lee"),
    ];
    // Findings are spread evenly over the scans: the k-th scan finds
    // floor((k+1)·F/S) − floor(k·F/S) new problems, F in all.
    let scans_total = (slugs.len() as u64 * opts.days.max(1) as u64).max(1);
    let mut scans_done = 0u64;
    let mut problems: Vec<Problem> = Vec::with_capacity(opts.findings);
    let mut queue: BinaryHeap<Reverse<(DateTime<Utc>, Step)>> = BinaryHeap::new();
    for (i, _) in slugs.iter().enumerate() {
        let hour = Duration::minutes(rng.random_range(0..24 * 60));
        queue.push(Reverse((start + hour, Step::Scan(i))));
    }
    let mut events = 0usize;
    let mut tx = app.store.begin().await?;
    let mut since_commit = 0usize;
    while let Some(Reverse((at, step))) = queue.pop() {
        if at > end {
            break;
        }
        clock.set(at);
        match step {
            Step::Scan(c) => {
                let due =
                    |k: u64| (k.min(scans_total) * opts.findings as u64 / scans_total) as usize;
                let new = due(scans_done + 1) - due(scans_done);
                scans_done += 1;
                for _ in 0..new {
                    let (check, severity, _) = checks[rng.random_range(0..checks.len())];
                    let ends = at + Duration::hours(rng.random_range(6..24 * 10));
                    problems.push(Problem {
                        client: c,
                        check,
                        severity,
                        ends,
                        value_minor: rng.random_range(0..50_000),
                        finding: None,
                        fixed: false,
                    });
                }
                let mut observations = Vec::new();
                let mut subjects = Vec::new();
                for (n, p) in problems.iter().enumerate().rev() {
                    if p.client != c || p.fixed || p.ends <= at {
                        // Old, gone problems: stop looking once past every live one.
                        if p.finding.is_some() && p.ends + Duration::days(11) < at {
                            break;
                        }
                        continue;
                    }
                    subjects.push(n);
                    observations.push(Observation {
                        check: p.check.to_owned(),
                        subject: format!("s{n}"),
                        severity: p.severity,
                        track: Track::Now,
                        title: format!("{} on subject {n}", p.check),
                        why: "Synthetic history for the reports benchmark.".into(),
                        deep_link: "https://www.klaviyo.com/dashboard".into(),
                        value_at_stake: Some(Money {
                            minor: p.value_minor,
                            currency: "USD".into(),
                        }),
                        began_at: Some(at - Duration::hours(rng.random_range(1..72))),
                    });
                }
                let changes = Findings::reconcile(
                    &mut tx,
                    &ReconcileScope {
                        client: &slugs[c],
                        ran: &ran,
                        onboarding: false,
                        reopen_window: Duration::hours(0),
                        now: at,
                    },
                    &observations,
                )
                .await?;
                events += changes
                    .iter()
                    .filter(|ch| ch.kind != ChangeKind::StillSeen)
                    .count();
                for ch in changes.iter().filter(|ch| ch.kind == ChangeKind::Detected) {
                    let Some(n) = ch
                        .finding
                        .subject
                        .strip_prefix('s')
                        .and_then(|s| s.parse::<usize>().ok())
                    else {
                        continue;
                    };
                    if let Some(p) = problems.get_mut(n) {
                        p.finding = Some(ch.finding.id);
                        // Most critical findings are acknowledged, some warnings too.
                        let ack_share = if p.severity == Severity::Critical {
                            0.9
                        } else {
                            0.5
                        };
                        if rng.random_bool(ack_share) {
                            let after = Duration::minutes(rng.random_range(5..60 * 20));
                            queue.push(Reverse((at + after, Step::Ack(n))));
                        }
                    }
                }
                scans::record_scan(
                    &mut tx,
                    &scans::ScanRow {
                        client: &slugs[c],
                        trigger: "bench",
                        started_at: at,
                        finished_at: at + Duration::seconds(20),
                        status: "done",
                        api_calls: 40,
                        observations: observations.len(),
                        gaps: String::new(),
                        checks_run: ran.len(),
                        delivery: Some(scans::Delivery {
                            received: rng.random_range(1_000.0..20_000.0),
                            bounced: rng.random_range(5.0..400.0),
                            spam: rng.random_range(0.0..20.0),
                        }),
                    },
                )
                .await?;
                queue.push(Reverse((at + Duration::days(1), Step::Scan(c))));
            }
            Step::Ack(n) => {
                let Some(id) = problems[n].finding else {
                    continue;
                };
                let who = &people[rng.random_range(0..people.len())];
                if Findings::acknowledge(&mut tx, id, &Actor::person(who), at)
                    .await
                    .is_ok()
                {
                    events += 1;
                    if rng.random_bool(0.6) {
                        let after = Duration::minutes(rng.random_range(30..60 * 30));
                        queue.push(Reverse((at + after, Step::Fix(n))));
                    }
                }
            }
            Step::Fix(n) => {
                let Some(id) = problems[n].finding else {
                    continue;
                };
                let who = &people[rng.random_range(0..people.len())];
                if Findings::resolve(&mut tx, id, &Actor::person(who), Some("fixed"), at)
                    .await
                    .is_ok()
                {
                    events += 1;
                    problems[n].fixed = true;
                }
            }
        }
        since_commit += 1;
        if since_commit >= 500 {
            tx.commit().await?;
            tx = app.store.begin().await?;
            since_commit = 0;
        }
    }
    tx.commit().await?;
    Ok((
        problems.iter().filter(|p| p.finding.is_some()).count(),
        events,
    ))
}
