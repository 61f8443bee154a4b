//! `bench latency`: how long after a problem starts its finding is in chat.
//!
//! A simulated portfolio runs on the simulated clock through the scheduler's
//! own choice of what is due (`scheduler::due_now`: hourly full scans and
//! five-minute pulses, each client at its own phase), the pipeline and the
//! outbox, in ticks of [`TICK`]. Faults of each kind are injected into
//! distinct healthy brands at random times (seeded); a fault counts as found
//! when a finding of its check, detected after the injection, has been
//! delivered to the client's channel. Latency is measured in simulated time,
//! from injection to that delivery.
//!
//! Rate limits are off (simulator and pacing, as in the demo's history
//! replay): hours of simulated time run in seconds, and pacing only changes
//! real time, not which scan sees what.
//!
//! `integration-orders-silent` cannot fire before its rule's own silence
//! (at least 6 hours, longer for stores with long gaps between orders): its
//! latency is reported from injection, and also past that minimum, which is
//! what the pulse adds.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use rand::{Rng, SeedableRng};
use tracing::info;

use super::quantile;
use crate::app::AppError;
use crate::chat::console::ConsoleChat;
use crate::clock::{Clock, SimClock};
use crate::demo::{Stack, demo_start};
use crate::domain::ClientSlug;
use crate::findings::Findings;
use crate::scan::pipeline::ScanKind;
use crate::scheduler;
use crate::simulator::{Fault, FaultKind};
use crate::store::outbox as rows;

/// One step of simulated time: the scheduler runs what is due, then the outbox delivers.
pub const TICK: Duration = Duration::seconds(20);
/// The shortest silence `integration-orders-silent` waits for (its `min_hours`).
const ORDERS_MIN_SILENCE: Duration = Duration::hours(6);
/// Brands before this index carry baseline problems (see the simulator's
/// portfolio table); faults go to the healthy ones after it.
const FIRST_PLAIN_BRAND: usize = 20;

/// What to run.
#[derive(Debug, Clone)]
pub struct LatencyBench {
    /// Accounts (simulated brands, one client each).
    pub accounts: usize,
    /// Faults injected of each kind (into distinct brands).
    pub per_kind: usize,
    /// Simulated hours in which faults start.
    pub inject_hours: i64,
    /// Seed of the portfolio and of the injection times.
    pub seed: u64,
}

impl Default for LatencyBench {
    fn default() -> Self {
        Self {
            accounts: 200,
            per_kind: 10,
            inject_hours: 3,
            seed: 42,
        }
    }
}

/// Whether a fault is read by the five-minute pulse or the hourly full scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// Flow status and event freshness.
    Pulse,
    /// Everything else.
    Full,
}

/// The fault kinds measured, the check that must report each, and its cadence.
pub const KINDS: [(FaultKind, &str, Cadence); 6] = [
    (FaultKind::FlowDraft, "flow-live-stopped", Cadence::Pulse),
    (FaultKind::FlowManual, "flow-live-stopped", Cadence::Pulse),
    (
        FaultKind::OrdersStop,
        "integration-orders-silent",
        Cadence::Pulse,
    ),
    (FaultKind::BounceSpike, "deliv-bounce-rate", Cadence::Full),
    (FaultKind::SpamSpike, "deliv-spam-rate", Cadence::Full),
    (
        FaultKind::TokenRevoked,
        "access-token-revoked",
        Cadence::Full,
    ),
];

/// Latency figures of one fault kind, in simulated minutes.
#[derive(Debug, Clone, PartialEq)]
pub struct KindFigures {
    /// The fault.
    pub kind: FaultKind,
    /// The check expected to report it.
    pub check: &'static str,
    /// Pulse or full.
    pub cadence: Cadence,
    /// Faults injected.
    pub injected: usize,
    /// Faults whose finding reached chat.
    pub found: usize,
    /// Median latency (from injection).
    pub p50_min: f64,
    /// 95th percentile latency (from injection).
    pub p95_min: f64,
    /// 95th percentile latency past the check's own minimum wait, where it has one.
    pub p95_past_rule_min: f64,
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LatencyFigures {
    /// Accounts in the portfolio.
    pub accounts: usize,
    /// Faults injected.
    pub faults: usize,
    /// Per fault kind.
    pub kinds: Vec<KindFigures>,
    /// Simulated hours the run covered.
    pub simulated_hours: f64,
    /// Wall-clock seconds it took.
    pub wall_s: f64,
}

impl LatencyFigures {
    fn p95_of(&self, cadence: Cadence, past_rule: bool) -> f64 {
        // The worst kind's: each kind must meet the target on its own.
        let mut all: Vec<f64> = self
            .kinds
            .iter()
            .filter(|k| k.cadence == cadence)
            .map(|k| {
                if past_rule {
                    k.p95_past_rule_min
                } else {
                    k.p95_min
                }
            })
            .collect();
        quantile(&mut all, 1.0)
    }

    /// Worst per-kind p95 among pulse faults, past each check's own minimum wait.
    pub fn pulse_p95_min(&self) -> f64 {
        self.p95_of(Cadence::Pulse, true)
    }

    /// Worst per-kind p95 among full-scan faults.
    pub fn full_p95_min(&self) -> f64 {
        self.p95_of(Cadence::Full, false)
    }

    /// Faults never reported.
    pub fn missed(&self) -> usize {
        self.kinds.iter().map(|k| k.injected - k.found).sum()
    }

    /// The bench's last line, in the format.
    pub fn last_line(&self) -> String {
        format!(
            "latency: accounts={} faults={} pulse_p95_min={:.1} full_p95_min={:.1}",
            self.accounts,
            self.faults,
            self.pulse_p95_min(),
            self.full_p95_min()
        )
    }
}

struct Pending {
    kind: FaultKind,
    check: &'static str,
    client: ClientSlug,
    at: DateTime<Utc>,
    found_after: Option<Duration>,
}

/// Runs the portfolio until every fault is reported or `inject_hours` + 12
/// simulated hours have passed.
pub async fn latency(opts: &LatencyBench) -> Result<LatencyFigures, AppError> {
    let kinds = KINDS.len();
    let plain = opts.accounts.saturating_sub(FIRST_PLAIN_BRAND);
    if plain < opts.per_kind * kinds {
        return Err(AppError::Startup(format!(
            "{} faults of each of {kinds} kinds need {} plain brands after the first {FIRST_PLAIN_BRAND}: use --accounts {} or more",
            opts.per_kind,
            opts.per_kind * kinds,
            FIRST_PLAIN_BRAND + opts.per_kind * kinds
        )));
    }
    let wall = std::time::Instant::now();
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let clock = SimClock::frozen(demo_start());
    let stack = Stack::start(opts.seed, opts.accounts, clock.clone(), chat, &[]).await?;
    stack.sim.set_rate_limits(false);
    stack.app.klaviyo.set_pacing(false);
    let app = stack.app.clone();
    let start = clock.now();

    // Distinct plain brands, shuffled, and a random start for each fault.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(opts.seed);
    let brands = stack.sim.brands();
    let mut targets: Vec<String> = brands
        .iter()
        .skip(FIRST_PLAIN_BRAND)
        .map(|b| b.slug.clone())
        .collect();
    for i in (1..targets.len()).rev() {
        targets.swap(i, rng.random_range(0..=i));
    }
    let window = opts.inject_hours.max(1) * 3600;
    let mut pending = Vec::new();
    let mut next = targets.into_iter();
    for (kind, check, _) in KINDS {
        for _ in 0..opts.per_kind {
            let Some(brand) = next.next() else { break };
            // After the onboarding wave (the first hour), so a fault is a change
            // the scans see happen, not part of a client's first audit.
            let at = start + Duration::hours(1) + Duration::seconds(rng.random_range(0..window));
            let client = ClientSlug::parse(&brand)
                .map_err(|e| AppError::Startup(format!("simulated brand slug: {e}")))?;
            stack.sim.inject(Fault {
                brand,
                kind,
                at,
                until: None,
            });
            pending.push(Pending {
                kind,
                check,
                client,
                at,
                found_after: None,
            });
        }
    }
    info!(faults = pending.len(), "faults scheduled");

    let interval = app.config.scan.interval();
    let pulse_interval = app.config.scan.pulse_interval();
    let end = start + Duration::hours(opts.inject_hours.max(1) + 13);
    while clock.now() < end && pending.iter().any(|p| p.found_after.is_none()) {
        let now = clock.now();
        let due = scheduler::due_now(&app, now, interval, pulse_interval).await;
        let mut set = tokio::task::JoinSet::new();
        for (slug, kind) in due {
            app.mark_scheduled(&slug, kind, now).await?;
            let app = app.clone();
            set.spawn(async move {
                match kind {
                    ScanKind::Full => app.scan(&slug, "schedule", None).await,
                    ScanKind::Pulse => app.pulse(&slug, "pulse").await,
                }
            });
        }
        while let Some(done) = set.join_next().await {
            if let Ok(Err(e)) = done {
                tracing::debug!(error = %e, "a bench scan failed");
            }
        }
        app.deliverer.run_once().await?;
        let mut db = app.store.conn().await?;
        for p in pending
            .iter_mut()
            .filter(|p| p.found_after.is_none() && p.at <= now)
        {
            let active = Findings::active(&mut db, Some(&p.client), None).await?;
            for f in active
                .iter()
                .filter(|f| f.check_id == p.check && f.detected_at >= p.at)
            {
                if !rows::posted_channels(&mut db, f.id).await?.is_empty() {
                    p.found_after = Some(now - p.at);
                    break;
                }
            }
        }
        drop(db);
        clock.advance(TICK);
    }

    let mut figures = Vec::new();
    for (kind, check, cadence) in KINDS {
        let mine: Vec<&Pending> = pending.iter().filter(|p| p.kind == kind).collect();
        let mut mins: Vec<f64> = mine
            .iter()
            .filter_map(|p| p.found_after)
            .map(|d| d.num_seconds() as f64 / 60.0)
            .collect();
        let rule = if kind == FaultKind::OrdersStop {
            ORDERS_MIN_SILENCE.num_seconds() as f64 / 60.0
        } else {
            0.0
        };
        let mut past: Vec<f64> = mins.iter().map(|m| (m - rule).max(0.0)).collect();
        figures.push(KindFigures {
            kind,
            check,
            cadence,
            injected: mine.len(),
            found: mins.len(),
            p50_min: quantile(&mut mins.clone(), 0.5),
            p95_min: quantile(&mut mins, 0.95),
            p95_past_rule_min: quantile(&mut past, 0.95),
        });
    }
    Ok(LatencyFigures {
        accounts: opts.accounts,
        faults: pending.len(),
        kinds: figures,
        simulated_hours: (clock.now() - start).num_seconds() as f64 / 3600.0,
        wall_s: wall.elapsed().as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_take_the_nearest_rank() {
        let mut v = vec![5.0, 1.0, 4.0, 2.0, 3.0];
        assert_eq!(quantile(&mut v, 0.5), 3.0);
        assert_eq!(quantile(&mut v, 0.95), 5.0);
        assert_eq!(quantile(&mut [], 0.95), 0.0);
        let mut many: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&mut many, 0.95), 95.0);
    }

    #[tokio::test]
    async fn too_few_brands_for_the_faults_is_a_clear_error() {
        let e = latency(&LatencyBench {
            accounts: 30,
            ..Default::default()
        })
        .await
        .unwrap_err();
        assert!(e.to_string().contains("--accounts 80"), "{e}");
    }
}
