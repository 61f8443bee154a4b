//! Checks: flows (the automations that earn most of a store's email revenue).
//!
//! Owns the flow kinds (welcome, abandoned checkout, browse abandonment,
//! post-purchase), the revenue share each typically earns, and the checks that
//! a core flow stopped or is missing. A flow that stopped since the last scan is
//! reported once, by `flow-live-stopped`; the "missing" checks stay quiet about
//! that kind so the team sees one finding, not two.
//!
//! Value at stake: a stopped flow costs its kind's revenue share × the store's
//! daily Placed Order value (28-day mean) × days since it changed (at least
//! one); a missing flow costs the same share × 30 days of store revenue; a
//! flow whose trigger went silent costs that share × hours silent ÷ 24.
//!
//! The step-level checks price from the flow series report (daily recipients
//! and attributed revenue per flow): a drop in sends costs the sends lost ×
//! the flow's revenue per recipient over the 28 days before; a send step in
//! draft or manual costs its share of the flow's revenue, taken as the flow's
//! attributed revenue a day (28-day mean) ÷ the flow's send steps, × 30 days.
//! Without the series that step goes unpriced (the series is not needed to see it).
//!
//! Per-client overrides (`ClientProfile::thresholds`):
//! `flow-trigger-metric-silent.hours` (default 24: no trigger events for this
//! long), `flow-trigger-metric-silent.baseline_per_day` (5: the trigger's 28-day
//! mean events a day, below which silence is normal),
//! `flow-duplicate-trigger.min_flows` (2: live flows on one trigger; at least 2),
//! `flow-sends-dropped.drop` (0.7: the last full day's recipients this far below
//! the 28-day daily mean before it), `flow-sends-dropped.baseline_per_day` (20:
//! below that mean a quiet day is normal), `flow-stale-content.days` (365: days
//! since the newest edit of a live flow's messages). `flow-message-draft`,
//! `flow-smart-sending-off-transactional` and `flow-sunset-missing` have no
//! threshold (any occurrence counts).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::integrations::{
    SILENCE_WATCHED, daily_count, daily_value, fmt_count, fmt_hours, fmt_share, metric_id,
};
use super::{Cadence, Check, CheckInput, Observation, links};
use crate::domain::{Money, Severity, Track};
use crate::scan::snapshot::{
    Activity, Flow, FlowSeries, FlowStatus, FlowStep, KnownMetric, Part, Snapshot, StepKind,
};

/// The checks of this family.
pub const CHECKS: &[Check] = &[
    Check {
        id: LIVE_STOPPED,
        family: "flows",
        summary: "A flow that was live at the last scan is now draft, manual or archived",
        threshold: "any change from live",
        default_severity: Severity::Critical,
        track: Track::Now,
        cadence: Cadence::Pulse,
        // Activity only prices the loss; without it the stop is still reported.
        needs: &[Part::Flows],
        run: live_stopped,
    },
    Check {
        id: CHECKOUT_MISSING,
        family: "flows",
        summary: "No live flow triggered by Started Checkout",
        threshold: "missing (critical if the client sells online)",
        default_severity: Severity::Critical,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::Flows],
        run: abandoned_checkout_missing,
    },
    Check {
        id: CORE_MISSING,
        family: "flows",
        summary: "No live welcome, browse-abandonment or post-purchase flow",
        threshold: "each missing core flow",
        default_severity: Severity::Warning,
        track: Track::Eventually,
        cadence: Cadence::Full,
        needs: &[Part::Flows],
        run: core_missing,
    },
    Check {
        id: TRIGGER_SILENT,
        family: "flows",
        summary: "A live flow's trigger metric had no events in 24 h (the flow sends nothing)",
        threshold: "0 events in 24 h, 28-day baseline ≥ 5/day",
        default_severity: Severity::Critical,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::Flows, Part::Activity],
        run: trigger_metric_silent,
    },
    Check {
        id: DUPLICATE_TRIGGER,
        family: "flows",
        summary: "Two or more live flows share a trigger (double sends unless filters exclude each other)",
        threshold: "≥ 2 live flows on one trigger metric or list",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::Flows],
        run: duplicate_trigger,
    },
    Check {
        id: SENDS_DROPPED,
        family: "flows",
        summary: "A live flow's daily sends fell sharply while its trigger still fires",
        threshold: "last full day ≥ 70% below the 28-day daily mean, mean ≥ 20/day",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::Flows, Part::FlowSeries, Part::Activity],
        run: sends_dropped,
    },
    Check {
        id: MESSAGE_DRAFT,
        family: "flows",
        summary: "A send step inside a live flow is in draft or manual (customers pass it without a message)",
        threshold: "any",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Full,
        // The flow series only prices the step; without it the step is still reported.
        needs: &[Part::Flows, Part::FlowSteps],
        run: message_draft,
    },
    Check {
        id: SMART_SENDING,
        family: "flows",
        summary: "Order or shipping flow messages with smart sending on, or marketing flow messages with it off",
        threshold: "any mismatch",
        default_severity: Severity::Opportunity,
        track: Track::Eventually,
        cadence: Cadence::Full,
        needs: &[Part::Flows, Part::FlowSteps],
        run: smart_sending_mismatch,
    },
    Check {
        id: STALE_CONTENT,
        family: "flows",
        summary: "A live flow whose messages were all last edited over a year ago",
        threshold: "newest message edit > 365 days ago",
        default_severity: Severity::Opportunity,
        track: Track::Eventually,
        cadence: Cadence::Full,
        needs: &[Part::Flows, Part::FlowSteps],
        run: stale_content,
    },
    Check {
        id: SUNSET_MISSING,
        family: "flows",
        summary: "No live sunset or re-engagement flow and no segment for unengaged profiles",
        threshold: "missing",
        default_severity: Severity::Opportunity,
        track: Track::Eventually,
        cadence: Cadence::Full,
        needs: &[Part::Flows, Part::Segments],
        run: sunset_missing,
    },
];

const LIVE_STOPPED: &str = "flow-live-stopped";
const CHECKOUT_MISSING: &str = "flow-abandoned-checkout-missing";
const CORE_MISSING: &str = "flow-core-missing";
const TRIGGER_SILENT: &str = "flow-trigger-metric-silent";
const DUPLICATE_TRIGGER: &str = "flow-duplicate-trigger";
const SENDS_DROPPED: &str = "flow-sends-dropped";
const MESSAGE_DRAFT: &str = "flow-message-draft";
const SMART_SENDING: &str = "flow-smart-sending-off-transactional";
const STALE_CONTENT: &str = "flow-stale-content";
const SUNSET_MISSING: &str = "flow-sunset-missing";

// Share of total store revenue a healthy flow of each kind earns. These are
// agency rules of thumb (typical Klaviyo ecommerce benchmarks), not measurements
// of this client; they price a stopped or missing flow until per-flow revenue
// reports are read.
/// Abandoned-checkout flow: about 5% of store revenue (agency rule of thumb).
pub(crate) const SHARE_ABANDONED_CHECKOUT: f64 = 0.05;
/// Welcome flow: about 3% of store revenue (agency rule of thumb).
pub(crate) const SHARE_WELCOME: f64 = 0.03;
/// Browse-abandonment flow: about 2% of store revenue (agency rule of thumb).
pub(crate) const SHARE_BROWSE: f64 = 0.02;
/// Post-purchase flow: about 1.5% of store revenue (agency rule of thumb).
pub(crate) const SHARE_POST_PURCHASE: f64 = 0.015;
/// Any other flow: about 1% of store revenue (agency rule of thumb).
pub(crate) const SHARE_OTHER: f64 = 0.01;

/// Days of revenue a missing flow forgoes per finding (a month).
const MISSING_DAYS: f64 = 30.0;

/// List-triggered flows that are not welcome series: sunset, re-engagement and
/// win-back flows are also started by joining a (segment-fed) list. Klaviyo's
/// flow resource does not name its trigger list, so the name is the evidence.
fn is_list_upkeep(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    [
        "sunset",
        "unengaged",
        "re-engage",
        "reengage",
        "re-permission",
        "win-back",
        "winback",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// What a flow is for, judged from its trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FlowKind {
    /// Triggered by joining a list.
    Welcome,
    /// Triggered by Started Checkout.
    AbandonedCheckout,
    /// Triggered by Viewed Product.
    BrowseAbandonment,
    /// Triggered by Placed Order.
    PostPurchase,
    /// Anything else.
    Other,
}

impl FlowKind {
    /// The kind of a flow, from its trigger.
    pub(crate) fn of(flow: &Flow) -> Self {
        match flow.trigger_metric {
            Some(KnownMetric::StartedCheckout) => Self::AbandonedCheckout,
            Some(KnownMetric::ViewedProduct) => Self::BrowseAbandonment,
            Some(KnownMetric::PlacedOrder) => Self::PostPurchase,
            _ if flow.trigger_type == "Added to List" && !is_list_upkeep(&flow.name) => {
                Self::Welcome
            }
            _ => Self::Other,
        }
    }

    /// Stable subject for findings, e.g. `welcome`.
    fn subject(self) -> &'static str {
        match self {
            Self::Welcome => "welcome",
            Self::AbandonedCheckout => "abandoned-checkout",
            Self::BrowseAbandonment => "browse-abandonment",
            Self::PostPurchase => "post-purchase",
            Self::Other => "other",
        }
    }

    /// Words for titles, e.g. `browse-abandonment`.
    fn label(self) -> &'static str {
        match self {
            Self::Other => "other",
            k => k.subject(),
        }
    }

    /// `A` or `An` before the label.
    fn article(self) -> &'static str {
        match self {
            Self::AbandonedCheckout | Self::Other => "An",
            _ => "A",
        }
    }

    /// Typical share of store revenue (agency rule of thumb).
    fn share(self) -> f64 {
        match self {
            Self::Welcome => SHARE_WELCOME,
            Self::AbandonedCheckout => SHARE_ABANDONED_CHECKOUT,
            Self::BrowseAbandonment => SHARE_BROWSE,
            Self::PostPurchase => SHARE_POST_PURCHASE,
            Self::Other => SHARE_OTHER,
        }
    }

    /// What starts a flow of this kind, in words.
    fn trigger_words(self) -> &'static str {
        match self {
            Self::Welcome => "someone joins a list",
            Self::AbandonedCheckout => "Started Checkout",
            Self::BrowseAbandonment => "Viewed Product",
            Self::PostPurchase => "Placed Order",
            Self::Other => "its trigger",
        }
    }

    /// The metric whose events feed a flow of this kind.
    fn feed_metric(self) -> KnownMetric {
        match self {
            Self::Welcome => KnownMetric::SubscribedToList,
            Self::AbandonedCheckout | Self::Other => KnownMetric::StartedCheckout,
            Self::BrowseAbandonment => KnownMetric::ViewedProduct,
            Self::PostPurchase => KnownMetric::PlacedOrder,
        }
    }
}

/// Flows live in `previous` that exist now but no longer send.
fn stopped<'a>(input: &CheckInput<'a>) -> Vec<&'a Flow> {
    let (Some(prev), Some(now)) = (
        input.previous.and_then(|p| p.flows.as_ref()),
        input.snapshot.flows.as_ref(),
    ) else {
        return Vec::new();
    };
    now.iter()
        .filter(|f| !f.is_sending())
        .filter(|f| prev.iter().any(|p| p.id == f.id && p.is_sending()))
        .collect()
}

/// Daily store revenue (Placed Order `$value`, 28-day mean), when known.
fn store_daily(input: &CheckInput<'_>) -> Option<f64> {
    daily_value(input.snapshot, KnownMetric::PlacedOrder, input.now)
}

fn live_stopped(input: &CheckInput<'_>) -> Vec<Observation> {
    let daily = store_daily(input);
    stopped(input)
        .into_iter()
        .map(|f| {
            let kind = FlowKind::of(f);
            let state = if f.archived {
                "archived"
            } else {
                match f.status {
                    FlowStatus::Draft => "now draft",
                    FlowStatus::Manual => "now manual",
                    // `stopped` only yields flows that do not send.
                    FlowStatus::Live => "not sending",
                }
            };
            // At least one day, also when `updated` is ahead of `now` (clock skew).
            let days = ((input.now - f.updated).num_seconds() as f64 / 86_400.0).max(1.0);
            let flow_daily = daily.map(|d| d * kind.share());
            let price = flow_daily
                .map(|d| {
                    format!(
                        " {} {} flow typically earns about {} of store revenue, about {} a day here.",
                        kind.article(),
                        kind.label(),
                        fmt_share(kind.share()),
                        Money::from_major(d, &input.profile.currency)
                    )
                })
                .unwrap_or_default();
            Observation {
                check: LIVE_STOPPED.to_owned(),
                subject: f.id.clone(),
                severity: Severity::Critical,
                track: Track::Now,
                title: format!("Flow \"{}\" stopped ({state})", f.name),
                why: format!(
                    "It was live at the previous scan and was changed at {} UTC, so its \
                     customers get no messages.{price} Turn it back on in Klaviyo if the change \
                     was not intended.",
                    f.updated.format("%Y-%m-%d %H:%M"),
                ),
                deep_link: links::flow(&f.id),
                value_at_stake: flow_daily
                    .map(|d| Money::from_major(d * days, &input.profile.currency)),
                began_at: Some(f.updated),
            }
        })
        .collect()
}

/// Kinds for which `flow-live-stopped` already reports a flow this scan.
fn reported_stopped(input: &CheckInput<'_>) -> Vec<FlowKind> {
    stopped(input).into_iter().map(FlowKind::of).collect()
}

/// The observation for a missing core flow of `kind`, unless one sends or
/// `flow-live-stopped` already covers it.
fn missing(
    input: &CheckInput<'_>,
    id: &str,
    kind: FlowKind,
    severity: Severity,
    track: Track,
) -> Option<Observation> {
    let flows = input.snapshot.flows.as_ref()?;
    let of_kind = |f: &&Flow| FlowKind::of(f) == kind;
    if flows.iter().filter(of_kind).any(|f| f.is_sending()) {
        return None;
    }
    if reported_stopped(input).contains(&kind) {
        return None;
    }
    let dormant = flows.iter().filter(of_kind).find(|f| !f.archived);
    let feed = kind.feed_metric();
    // Signups exist in every account; only metric-triggered kinds can lack their feed.
    let feed_known = if kind == FlowKind::Welcome {
        None
    } else {
        feed_exists(input.snapshot, feed)
    };
    let (advice, deep_link) = match (dormant, feed_known) {
        (Some(f), _) => (
            format!(
                "Flow \"{}\" exists but is {}: review it and set it live.",
                f.name,
                status_word(f.status)
            ),
            links::flow(&f.id),
        ),
        (None, Some(false)) => (
            format!(
                "Klaviyo has no {} events yet: connect the store's tracking, then build the flow.",
                feed.klaviyo_name()
            ),
            links::integrations(),
        ),
        (None, _) => (
            "Build one from Klaviyo's flow library and set it live.".to_owned(),
            metric_id(input.snapshot, feed)
                .map(|m| links::metric(&m))
                .unwrap_or_else(links::integrations),
        ),
    };
    let monthly = store_daily(input).map(|d| d * kind.share() * MISSING_DAYS);
    let price = monthly
        .map(|m| {
            format!(
                " Such flows typically earn about {} of store revenue, about {} a month here.",
                fmt_share(kind.share()),
                Money::from_major(m, &input.profile.currency)
            )
        })
        .unwrap_or_default();
    Some(Observation {
        check: id.to_owned(),
        subject: kind.subject().to_owned(),
        severity,
        track,
        title: format!("No live {} flow", kind.label()),
        why: format!(
            "No sending flow starts when {}.{price} {advice}",
            kind.trigger_words()
        ),
        deep_link,
        value_at_stake: monthly.map(|m| Money::from_major(m, &input.profile.currency)),
        began_at: None,
    })
}

fn status_word(s: FlowStatus) -> &'static str {
    match s {
        FlowStatus::Draft => "in draft",
        FlowStatus::Manual => "in manual mode",
        FlowStatus::Live => "live",
    }
}

/// Whether the account has the metric: `None` when we cannot tell.
fn feed_exists(s: &Snapshot, m: KnownMetric) -> Option<bool> {
    if let Some(a) = s.activity.as_ref() {
        return Some(a.contains_key(&m));
    }
    s.metrics
        .as_ref()
        .map(|list| list.iter().any(|x| x.name == m.klaviyo_name()))
}

fn abandoned_checkout_missing(input: &CheckInput<'_>) -> Vec<Observation> {
    let severity = if input.profile.sells_online {
        Severity::Critical
    } else {
        Severity::Warning
    };
    missing(
        input,
        CHECKOUT_MISSING,
        FlowKind::AbandonedCheckout,
        severity,
        Track::Now,
    )
    .into_iter()
    .collect()
}

fn core_missing(input: &CheckInput<'_>) -> Vec<Observation> {
    [
        FlowKind::Welcome,
        FlowKind::BrowseAbandonment,
        FlowKind::PostPurchase,
    ]
    .into_iter()
    .filter_map(|k| missing(input, CORE_MISSING, k, Severity::Warning, Track::Eventually))
    .collect()
}

/// When the newest event of `a` happened: the exact time when the scan read
/// it, else the end of the last hour with events.
fn last_event(a: &Activity) -> Option<chrono::DateTime<chrono::Utc>> {
    a.last_event_at.or_else(|| {
        a.iter()
            .filter(|(_, c, _)| *c > 0.0)
            .map(|(t, _, _)| t + Activity::BUCKET)
            .last()
    })
}

fn trigger_metric_silent(input: &CheckInput<'_>) -> Vec<Observation> {
    let p = input.profile;
    let hours = p.threshold(&format!("{TRIGGER_SILENT}.hours"), 24.0);
    let min_per_day = p.threshold(&format!("{TRIGGER_SILENT}.baseline_per_day"), 5.0);
    if !(hours.is_finite() && hours > 0.0) {
        return Vec::new();
    }
    let since = input.now - Duration::seconds((hours * 3600.0) as i64);
    let store = store_daily(input);
    input
        .snapshot
        .sending_flows()
        .filter_map(|f| {
            let m = f.trigger_metric?;
            // Orders, checkouts and onsite events have their own silence checks
            // (integration-*-silent), which fire sooner (hours, on pulses) and
            // price the flow they starve: reporting the flow too would be the
            // same stop twice, and its value counted twice.
            if SILENCE_WATCHED.contains(&m) {
                return None;
            }
            let a = input.snapshot.activity_of(m)?;
            let per_day = daily_count(input.snapshot, m, input.now)?;
            if per_day < min_per_day {
                return None;
            }
            let in_window: Vec<f64> = a
                .iter()
                .filter(|(t, _, _)| *t >= since && *t < input.now)
                .map(|(_, c, _)| c)
                .collect();
            // The aggregates must cover the window (a partial last hour aside),
            // or "no events" only means "not fetched".
            let whole_hours = hours.floor() as usize;
            if in_window.len() + 1 < whole_hours || in_window.iter().any(|c| *c > 0.0) {
                return None;
            }
            let last = last_event(a)?;
            if last > since {
                // The newest event is more current than the hourly aggregates.
                return None;
            }
            let silent_hours = (input.now - last).num_seconds() as f64 / 3600.0;
            let kind = FlowKind::of(f);
            // No per-flow revenue is read yet: the flow's kind's typical share of
            // store revenue (agency rule of thumb) stands in for it, as in
            // flow-live-stopped.
            let flow_daily = store.map(|d| d * kind.share());
            let price = flow_daily
                .map(|d| {
                    format!(
                        " Priced at {} of store revenue, a rule of thumb for such flows: about {} \
                         a day.",
                        fmt_share(kind.share()),
                        Money::from_major(d, &input.profile.currency)
                    )
                })
                .unwrap_or_default();
            let name = m.klaviyo_name();
            Some(Observation {
                check: TRIGGER_SILENT.to_owned(),
                subject: f.id.clone(),
                severity: Severity::Critical,
                track: Track::Now,
                title: format!(
                    "Flow \"{}\" gets no triggers: no {name} events for {}",
                    f.name,
                    fmt_hours(silent_hours)
                ),
                why: format!(
                    "Its trigger, {name}, averaged {} events a day over the last 28 days and had \
                     none in the last {} (the last at {} UTC), so the flow is live but sends \
                     nothing.{price} Check what sends {name} to Klaviyo (integration or API) and \
                     the flow's trigger.",
                    fmt_count(per_day),
                    fmt_hours(hours),
                    last.format("%Y-%m-%d %H:%M"),
                ),
                deep_link: links::flow(&f.id),
                value_at_stake: flow_daily
                    .map(|d| Money::from_major(d * silent_hours / 24.0, &input.profile.currency)),
                began_at: Some(last),
            })
        })
        .collect()
}

/// `started-checkout` for Started Checkout: the trigger part of a subject.
fn metric_slug(m: KnownMetric) -> String {
    m.klaviyo_name().to_ascii_lowercase().replace(' ', "-")
}

/// A flow's trigger as `(subject, words)`, when Lookout knows it precisely.
fn trigger_of(input: &CheckInput<'_>, f: &Flow) -> Option<(String, String)> {
    if let Some(m) = f.trigger_metric {
        return Some((
            format!("metric:{}", metric_slug(m)),
            m.klaviyo_name().to_owned(),
        ));
    }
    let id = f.trigger_list_id.as_deref()?;
    let named = input
        .snapshot
        .lists
        .iter()
        .flatten()
        .find(|l| l.id == id)
        .map(|l| format!("joining list \"{}\"", l.name));
    Some((
        format!("list:{id}"),
        named.unwrap_or_else(|| format!("joining list {id}")),
    ))
}

fn duplicate_trigger(input: &CheckInput<'_>) -> Vec<Observation> {
    let min_flows = input
        .profile
        .threshold(&format!("{DUPLICATE_TRIGGER}.min_flows"), 2.0)
        .max(2.0);
    let mut by_trigger: BTreeMap<String, (String, Vec<&Flow>)> = BTreeMap::new();
    for f in input.snapshot.flows.iter().flatten() {
        if !f.is_sending() {
            continue;
        }
        if let Some((subject, words)) = trigger_of(input, f) {
            by_trigger
                .entry(subject)
                .or_insert_with(|| (words, Vec::new()))
                .1
                .push(f);
        }
    }
    by_trigger
        .into_iter()
        .filter(|(_, (_, flows))| flows.len() as f64 >= min_flows)
        .filter_map(|(subject, (words, flows))| {
            let names: Vec<String> = flows.iter().map(|f| format!("\"{}\"", f.name)).collect();
            let title = match names.as_slice() {
                [a, b] => format!("Flows {a} and {b} both start on {words}"),
                _ => format!("{} live flows start on {words}", flows.len()),
            };
            // The most recently changed one is the likely copy: link to it.
            let newest = flows.iter().max_by_key(|f| f.updated)?;
            Some(Observation {
                check: DUPLICATE_TRIGGER.to_owned(),
                subject,
                severity: Severity::Warning,
                track: Track::Now,
                title,
                why: format!(
                    "{} live flows start on {words}: {}. Lookout cannot see flow filters: \
                     unless their filters exclude each other (for example first-time and \
                     returning buyers), each person gets every one of these flows' messages. \
                     Check their trigger filters, or turn off the copy that is not needed.",
                    flows.len(),
                    names.join(", "),
                ),
                deep_link: links::flow(&newest.id),
                value_at_stake: None,
                // When the last of them went live is not in the data (`updated`
                // moves with any edit), so no start time is claimed.
                began_at: None,
            })
        })
        .collect()
}

/// Days a flow's daily baseline averages over (the series holds 56).
pub(crate) const SERIES_BASELINE_DAYS: usize = 28;

/// Fewest baseline days for a daily mean to mean anything (a week).
const MIN_SERIES_DAYS: usize = 7;

/// How many leading buckets of a daily series (`len` long, from `start`) are
/// whole days at `now`: a partial today is left out.
pub(crate) fn full_days(len: usize, start: DateTime<Utc>, now: DateTime<Utc>) -> usize {
    let elapsed = (now - start).num_seconds();
    if elapsed <= 0 {
        return 0;
    }
    usize::try_from(elapsed / 86_400).map_or(len, |d| d.min(len))
}

/// A flow's attributed revenue a day: the mean over its last (up to) 28 full days.
pub(crate) fn flow_revenue_per_day(s: &FlowSeries, now: DateTime<Utc>) -> Option<f64> {
    let n = full_days(s.conversion_value.len(), s.start, now);
    let days = s
        .conversion_value
        .get(n.saturating_sub(SERIES_BASELINE_DAYS)..n)?;
    let total: f64 = days.iter().sum();
    (!days.is_empty() && total > 0.0 && total.is_finite()).then(|| total / days.len() as f64)
}

/// Whether a step sends a message (email or SMS).
fn is_send(step: &FlowStep) -> bool {
    matches!(step.kind, StepKind::Email | StepKind::Sms)
}

/// A send step's own status, lowercased, when it is draft or manual.
fn held_status(step: &FlowStep) -> Option<&'static str> {
    let status = step.status.as_deref()?.trim();
    if status.eq_ignore_ascii_case("draft") {
        Some("draft")
    } else if status.eq_ignore_ascii_case("manual") {
        Some("manual")
    } else {
        None
    }
}

/// `email` or `SMS`, for sentences.
fn channel_word(step: &FlowStep) -> &'static str {
    if step.kind == StepKind::Sms {
        "SMS"
    } else {
        "email"
    }
}

/// A step's message name, or its position when it has none.
fn step_name(step: &FlowStep) -> String {
    step.message
        .as_ref()
        .map(|m| m.name.trim())
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| format!("step {}", step.position + 1))
}

/// Live flows by id.
fn live_flows<'a>(input: &CheckInput<'a>) -> BTreeMap<&'a str, &'a Flow> {
    input
        .snapshot
        .sending_flows()
        .map(|f| (f.id.as_str(), f))
        .collect()
}

/// The metric whose events start `f`, when Lookout can watch it: its trigger
/// metric, or for a welcome series (list-triggered) Subscribed to List, the
/// event that adds most people to a list.
fn trigger_feed(f: &Flow) -> Option<KnownMetric> {
    f.trigger_metric
        .or_else(|| (FlowKind::of(f) == FlowKind::Welcome).then_some(KnownMetric::SubscribedToList))
}

/// A day for people: `2025-03-09`.
pub(crate) fn fmt_day(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d").to_string()
}

fn sends_dropped(input: &CheckInput<'_>) -> Vec<Observation> {
    let p = input.profile;
    let drop = p.threshold(&format!("{SENDS_DROPPED}.drop"), 0.7);
    let min_mean = p.threshold(&format!("{SENDS_DROPPED}.baseline_per_day"), 20.0);
    let flows = live_flows(input);
    input
        .snapshot
        .flow_series
        .iter()
        .flatten()
        .filter_map(|s| {
            let f = flows.get(s.flow_id.as_str())?;
            let n = full_days(s.recipients.len(), s.start, input.now);
            let last = n.checked_sub(1)?;
            let from = last.saturating_sub(SERIES_BASELINE_DAYS);
            let base = s.recipients.get(from..last)?;
            if base.len() < MIN_SERIES_DAYS {
                return None;
            }
            let mean = base.iter().sum::<f64>() / base.len() as f64;
            let sent = *s.recipients.get(last)?;
            // Written so NaN (malformed reports) fails and stays quiet.
            if !(mean.is_finite() && sent.is_finite() && mean >= min_mean && mean > 0.0) {
                return None;
            }
            // An open finding holds until sends are clearly back.
            let line = if input.is_open(SENDS_DROPPED, &f.id) {
                drop * super::HYSTERESIS
            } else {
                drop
            };
            // A hair of slack so a value exactly on the line counts as reaching it.
            let low = |r: f64| r <= mean * (1.0 - line) + 1e-9;
            if !low(sent) {
                return None;
            }
            // The trigger must still fire on that day, or the silence checks
            // (flow-trigger-metric-silent, integration-*-silent) own the cause.
            let feed = trigger_feed(f)?;
            let a = input.snapshot.activity_of(feed)?;
            let day_start = s.start + FlowSeries::DAY * i32::try_from(last).ok()?;
            let day_end = day_start + FlowSeries::DAY;
            if a.start > day_start || a.end() < day_end {
                return None;
            }
            let triggers = a.count_between(day_start, day_end);
            if triggers.is_nan() || triggers <= 0.0 {
                return None;
            }
            // The drop began on the first day of the current run of low days.
            let mut first = last;
            while first > 0 && s.recipients.get(first - 1).is_some_and(|r| low(*r)) {
                first -= 1;
            }
            let run = s.recipients.get(first..=last)?;
            let lost: f64 = run.iter().map(|r| (mean - r).max(0.0)).sum();
            let revenue: f64 = s
                .conversion_value
                .get(from..last)
                .map_or(0.0, |v| v.iter().sum());
            let sends: f64 = base.iter().sum();
            let per_recipient = revenue / sends;
            let value = lost * per_recipient;
            let began = s.start + FlowSeries::DAY * i32::try_from(first).ok()?;
            let priced = (value.is_finite() && value > 0.0)
                .then(|| Money::from_major(value, &input.profile.currency));
            let price = priced
                .as_ref()
                .map(|m| {
                    format!(
                        " At the flow's revenue per recipient over those days, the {} sends \
                         missed since {} are worth about {m}.",
                        fmt_count(lost),
                        fmt_day(began)
                    )
                })
                .unwrap_or_default();
            let fall = 1.0 - sent / mean;
            Some(Observation {
                check: SENDS_DROPPED.to_owned(),
                subject: f.id.clone(),
                severity: Severity::Warning,
                track: Track::Now,
                title: format!(
                    "Flow \"{}\" sends fell {} on {} ({} vs {}/day)",
                    f.name,
                    fmt_share(fall),
                    fmt_day(day_start),
                    fmt_count(sent),
                    fmt_count(mean)
                ),
                why: format!(
                    "It sent to {} people on {} UTC against a mean of {} a day over the {} days \
                     before (line: {} lower, from at least {} a day), while its trigger, {}, \
                     still fired {} times that day. People enter but are not sent to: check the \
                     flow's trigger and profile filters, steps in draft or manual, and smart \
                     sending.{price}",
                    fmt_count(sent),
                    fmt_day(day_start),
                    fmt_count(mean),
                    base.len(),
                    fmt_share(drop),
                    fmt_count(min_mean),
                    feed.klaviyo_name(),
                    fmt_count(triggers),
                ),
                deep_link: links::flow(&f.id),
                value_at_stake: priced,
                began_at: Some(began),
            })
        })
        .collect()
}

/// Days of revenue a held step's share is priced over (a month).
const HELD_STEP_DAYS: f64 = 30.0;

fn message_draft(input: &CheckInput<'_>) -> Vec<Observation> {
    let Some(steps) = input.snapshot.flow_steps.as_ref() else {
        return Vec::new();
    };
    let series: BTreeMap<&str, &FlowSeries> = input
        .snapshot
        .flow_series
        .iter()
        .flatten()
        .map(|s| (s.flow_id.as_str(), s))
        .collect();
    let mut out = Vec::new();
    for f in input.snapshot.sending_flows() {
        let sends: Vec<&FlowStep> = steps
            .iter()
            .filter(|st| st.flow_id == f.id && is_send(st))
            .collect();
        let flow_daily = series
            .get(f.id.as_str())
            .and_then(|s| flow_revenue_per_day(s, input.now));
        for st in &sends {
            let Some(status) = held_status(st) else {
                continue;
            };
            let monthly = flow_daily.map(|d| d / sends.len() as f64 * HELD_STEP_DAYS);
            let price = flow_daily
                .zip(monthly)
                .map(|(d, m)| {
                    format!(
                        " The flow earned about {} a day over the last 28 days; split evenly \
                         over its {} send steps, this one's share is about {} a month.",
                        Money::from_major(d, &input.profile.currency),
                        sends.len(),
                        Money::from_major(m, &input.profile.currency)
                    )
                })
                .unwrap_or_default();
            let effect = if status == "manual" {
                "its messages wait in a queue for manual review and go nowhere unless someone \
                 sends them"
            } else {
                "people pass it without receiving anything"
            };
            out.push(Observation {
                check: MESSAGE_DRAFT.to_owned(),
                subject: st.id.clone(),
                severity: Severity::Warning,
                track: Track::Now,
                title: format!(
                    "Flow \"{}\": {} \"{}\" is in {status}",
                    f.name,
                    channel_word(st),
                    step_name(st)
                ),
                why: format!(
                    "The flow is live but this {} step (step {} of the flow) is set to \
                     {status}, so {effect}.{price} Set the message live, or remove the step if \
                     it is retired.",
                    channel_word(st),
                    st.position + 1,
                ),
                deep_link: links::flow(&f.id),
                value_at_stake: monthly.map(|m| Money::from_major(m, &input.profile.currency)),
                // The step's last edit: setting it to draft or manual is one.
                began_at: Some(st.updated),
            });
        }
    }
    out
}

/// What a flow's messages are for, which decides whether smart sending belongs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Purpose {
    /// Order confirmations, thank-yous, shipping and delivery updates: every buyer must get them.
    Order,
    /// Everything else: smart sending keeps people from being mailed too often.
    Marketing,
}

/// Name words of marketing flows that orders trigger (reviews, cross-sells, replenishment).
const MARKETING_WORDS: [&str; 9] = [
    "review",
    "cross-sell",
    "cross sell",
    "upsell",
    "up-sell",
    "replenish",
    "reorder",
    "win-back",
    "abandon",
];

/// Name words of order and shipping flows.
const ORDER_WORDS: [&str; 9] = [
    "order",
    "thank",
    "purchase",
    "ship",
    "deliver",
    "fulfil",
    "receipt",
    "tracking",
    "confirmation",
];

/// A flow's purpose: Placed Order triggers and order or shipping names are
/// order flows (Fulfilled Order and shipment metrics are not known metrics, so
/// the name speaks for them), unless the name says marketing (a review request
/// after an order still wants smart sending). Other known triggers (checkout,
/// browse, list joins) are marketing. `None` when neither trigger nor name tells.
fn purpose(f: &Flow) -> Option<Purpose> {
    let name = f.name.to_ascii_lowercase();
    if MARKETING_WORDS.iter().any(|w| name.contains(w)) {
        return Some(Purpose::Marketing);
    }
    match f.trigger_metric {
        Some(KnownMetric::PlacedOrder) => return Some(Purpose::Order),
        Some(_) => return Some(Purpose::Marketing),
        None => {}
    }
    if f.trigger_type == "Added to List" {
        return Some(Purpose::Marketing);
    }
    if ORDER_WORDS.iter().any(|w| name.contains(w)) {
        Some(Purpose::Order)
    } else if name.trim().is_empty() {
        None
    } else {
        Some(Purpose::Marketing)
    }
}

fn smart_sending_mismatch(input: &CheckInput<'_>) -> Vec<Observation> {
    let Some(steps) = input.snapshot.flow_steps.as_ref() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for f in input.snapshot.sending_flows() {
        let Some(flow_purpose) = purpose(f) else {
            continue;
        };
        let sends: Vec<&FlowStep> = steps
            .iter()
            .filter(|st| st.flow_id == f.id && is_send(st) && held_status(st) != Some("draft"))
            .collect();
        // A message marked transactional is an order message wherever it sits.
        let is_order = |st: &FlowStep| {
            flow_purpose == Purpose::Order || st.message.as_ref().is_some_and(|m| m.transactional)
        };
        let smart = |st: &FlowStep| st.message.as_ref().map(|m| m.smart_sending);
        let order_on: Vec<&FlowStep> = sends
            .iter()
            .copied()
            .filter(|st| is_order(st) && smart(st) == Some(true))
            .collect();
        let marketing_off: Vec<&FlowStep> = sends
            .iter()
            .copied()
            .filter(|st| !is_order(st) && smart(st) == Some(false))
            .collect();
        let Some(newest) = order_on
            .iter()
            .chain(&marketing_off)
            .map(|st| st.updated)
            .max()
        else {
            continue;
        };
        let listed = |group: &[&FlowStep]| {
            group
                .iter()
                .map(|st| format!("\"{}\"", step_name(st)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut why = Vec::new();
        if !order_on.is_empty() {
            why.push(format!(
                "{} of its {} sending messages ({}) are order or shipping messages with smart \
                 sending on, so buyers who got any other message in the smart-sending window \
                 (16 hours by default) silently miss them: turn smart sending off there (and \
                 mark them transactional if they qualify).",
                order_on.len(),
                sends.len(),
                listed(&order_on),
            ));
        }
        if !marketing_off.is_empty() {
            why.push(format!(
                "{} of its {} sending messages ({}) are marketing with smart sending off, so \
                 people can get them on top of campaigns and other flows the same day, which \
                 wears the list out and raises unsubscribes and spam complaints: turn smart \
                 sending on there.",
                marketing_off.len(),
                sends.len(),
                listed(&marketing_off),
            ));
        }
        let title = if order_on.is_empty() {
            format!("Marketing flow \"{}\" has smart sending off", f.name)
        } else if flow_purpose == Purpose::Order {
            format!("Order flow \"{}\" has smart sending on", f.name)
        } else {
            format!("Flow \"{}\": order messages with smart sending on", f.name)
        };
        out.push(Observation {
            check: SMART_SENDING.to_owned(),
            subject: f.id.clone(),
            severity: Severity::Opportunity,
            track: Track::Eventually,
            title,
            why: why.join(" "),
            deep_link: links::flow(&f.id),
            value_at_stake: None,
            // The newest edit of those messages: the setting is at least that old.
            began_at: Some(newest),
        });
    }
    out
}

fn stale_content(input: &CheckInput<'_>) -> Vec<Observation> {
    let days = input
        .profile
        .threshold(&format!("{STALE_CONTENT}.days"), 365.0);
    if !(days.is_finite() && days > 0.0) {
        return Vec::new();
    }
    let line = Duration::seconds((days * 86_400.0) as i64);
    let Some(steps) = input.snapshot.flow_steps.as_ref() else {
        return Vec::new();
    };
    input
        .snapshot
        .sending_flows()
        .filter_map(|f| {
            let messages: Vec<_> = steps
                .iter()
                .filter(|st| st.flow_id == f.id && is_send(st))
                .filter_map(|st| st.message.as_ref())
                .collect();
            let newest = messages.iter().map(|m| m.updated).max()?;
            let age = input.now - newest;
            if age <= line {
                return None;
            }
            Some(Observation {
                check: STALE_CONTENT.to_owned(),
                subject: f.id.clone(),
                severity: Severity::Opportunity,
                track: Track::Eventually,
                title: format!(
                    "Flow \"{}\": messages unchanged since {}",
                    f.name,
                    fmt_day(newest)
                ),
                why: format!(
                    "None of its {} messages has been edited in {} days (the newest edit was on \
                     {} UTC; line: {days:.0} days). Offers, products, prices, branding and links \
                     date quickly in a flow that keeps sending: review the copy and images, and \
                     test a refreshed version.",
                    messages.len(),
                    age.num_days(),
                    fmt_day(newest),
                ),
                deep_link: links::flow(&f.id),
                value_at_stake: None,
                // It crossed the line a year after its last edit.
                began_at: Some(newest + line),
            })
        })
        .collect()
}

fn sunset_missing(input: &CheckInput<'_>) -> Vec<Observation> {
    let (Some(flows), Some(segments)) = (
        input.snapshot.flows.as_ref(),
        input.snapshot.segments.as_ref(),
    ) else {
        return Vec::new();
    };
    if flows
        .iter()
        .any(|f| f.is_sending() && is_list_upkeep(&f.name))
        || segments.iter().any(|s| is_list_upkeep(&s.name))
    {
        return Vec::new();
    }
    vec![Observation {
        check: SUNSET_MISSING.to_owned(),
        subject: "sunset".to_owned(),
        severity: Severity::Opportunity,
        track: Track::Eventually,
        title: "No sunset flow or segment for unengaged profiles".to_owned(),
        why: format!(
            "None of the {} live flows or {} segments is a sunset, re-permission, \
             re-engagement or win-back one (judged by name). Without one, profiles that stopped \
             opening keep receiving mail: they weigh on deliverability and count towards the \
             plan's profile tier. Build a segment of profiles not engaged in 180 days and a \
             sunset flow that asks them to stay, then suppress those who do not.",
            flows.iter().filter(|f| f.is_sending()).count(),
            segments.len(),
        ),
        deep_link: links::profiles(),
        // Plan prices are not known to Lookout, so the tier saved is not priced.
        value_at_stake: None,
        began_at: None,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{
        self, ABANDONED_CHECKOUT, BROWSE, NEWSLETTER, NOW, POST_PURCHASE, WELCOME,
    };

    fn major(o: &Observation) -> f64 {
        o.value_at_stake.as_ref().map(Money::major).unwrap_or(-1.0)
    }

    #[test]
    fn live_flow_turned_draft_is_reported() {
        let prev = fixtures::previous();
        let mut snap = fixtures::healthy();
        let changed = NOW - Duration::hours(3);
        fixtures::set_flow_status(&mut snap, ABANDONED_CHECKOUT, FlowStatus::Draft, changed);
        let obs = fixtures::run(LIVE_STOPPED, &snap, Some(&prev));
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.title, "Flow \"Abandoned Checkout\" stopped (now draft)");
        assert_eq!(o.subject, ABANDONED_CHECKOUT);
        assert_eq!(o.severity, Severity::Critical);
        assert_eq!(o.track, Track::Now);
        assert_eq!(o.began_at, Some(changed));
        assert_eq!(o.deep_link, links::flow(ABANDONED_CHECKOUT));
        // 5% of 7,680/day, at least one day.
        assert_eq!(major(o), 384.0);
    }

    #[test]
    fn stop_value_grows_with_days_and_flow_kind() {
        let prev = fixtures::previous();
        let mut snap = fixtures::healthy();
        fixtures::set_flow_status(
            &mut snap,
            WELCOME,
            FlowStatus::Manual,
            NOW - Duration::days(3),
        );
        fixtures::flow_mut(&mut snap, BROWSE).archived = true;
        let obs = fixtures::run(LIVE_STOPPED, &snap, Some(&prev));
        assert_eq!(obs.len(), 2, "{obs:?}");
        let welcome = obs.iter().find(|o| o.subject == WELCOME);
        let browse = obs.iter().find(|o| o.subject == BROWSE);
        let (Some(w), Some(b)) = (welcome, browse) else {
            panic!("{obs:?}")
        };
        assert_eq!(w.title, "Flow \"Welcome Series\" stopped (now manual)");
        assert!(
            (major(w) - 0.03 * 7_680.0 * 3.0).abs() < 0.01,
            "{}",
            major(w)
        );
        assert_eq!(b.title, "Flow \"Browse Abandonment\" stopped (archived)");
        // The fixture's `updated` is months old: days stopped counts from it.
        assert!(major(b) > 0.02 * 7_680.0 * 200.0);
    }

    #[test]
    fn no_previous_or_not_live_before_means_no_stop() {
        let mut snap = fixtures::healthy();
        fixtures::set_flow_status(&mut snap, ABANDONED_CHECKOUT, FlowStatus::Draft, NOW);
        assert!(fixtures::run(LIVE_STOPPED, &snap, None).is_empty());
        // Previous snapshot without flows: cannot compare.
        let mut prev = fixtures::previous();
        prev.flows = None;
        assert!(fixtures::run(LIVE_STOPPED, &snap, Some(&prev)).is_empty());
        // Already draft last time: not a new stop.
        let prev = snap.clone();
        assert!(fixtures::run(LIVE_STOPPED, &snap, Some(&prev)).is_empty());
        // Still live: nothing.
        let healthy = fixtures::healthy();
        assert!(fixtures::run(LIVE_STOPPED, &healthy, Some(&fixtures::previous())).is_empty());
    }

    #[test]
    fn stop_without_activity_is_reported_without_a_price() {
        let prev = fixtures::previous();
        let mut snap = fixtures::healthy();
        snap.activity = None;
        fixtures::set_flow_status(&mut snap, POST_PURCHASE, FlowStatus::Draft, NOW);
        let obs = fixtures::run(LIVE_STOPPED, &snap, Some(&prev));
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].value_at_stake, None);
    }

    #[test]
    fn missing_abandoned_checkout_is_critical_for_online_sellers() {
        let mut snap = fixtures::healthy();
        fixtures::remove_flow(&mut snap, ABANDONED_CHECKOUT);
        let obs = fixtures::run(CHECKOUT_MISSING, &snap, None);
        assert_eq!(obs.len(), 1);
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Critical);
        assert_eq!(o.subject, "abandoned-checkout");
        assert_eq!(o.title, "No live abandoned-checkout flow");
        assert_eq!(
            o.deep_link,
            links::metric(&fixtures::metric_id(KnownMetric::StartedCheckout))
        );
        assert_eq!(major(o), 0.05 * 7_680.0 * 30.0);
        // Not an online seller: a warning.
        let mut profile = fixtures::profile();
        profile.sells_online = false;
        let obs = fixtures::run_with(CHECKOUT_MISSING, &snap, None, &profile);
        assert_eq!(obs[0].severity, Severity::Warning);
        assert_eq!(obs[0].track, Track::Now);
        // Core-missing does not report the checkout kind.
        assert!(fixtures::run(CORE_MISSING, &snap, None).is_empty());
    }

    #[test]
    fn draft_checkout_flow_never_live_counts_as_missing() {
        let mut snap = fixtures::healthy();
        fixtures::set_flow_status(&mut snap, ABANDONED_CHECKOUT, FlowStatus::Draft, NOW);
        let prev = snap.clone();
        let obs = fixtures::run(CHECKOUT_MISSING, &snap, Some(&prev));
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].deep_link, links::flow(ABANDONED_CHECKOUT));
        assert!(obs[0].why.contains("in draft"), "{}", obs[0].why);
    }

    #[test]
    fn checkout_metric_absent_points_at_integrations() {
        let mut snap = fixtures::healthy();
        fixtures::remove_flow(&mut snap, ABANDONED_CHECKOUT);
        fixtures::remove_metric(&mut snap, KnownMetric::StartedCheckout);
        let obs = fixtures::run(CHECKOUT_MISSING, &snap, None);
        assert_eq!(obs[0].deep_link, links::integrations());
        assert!(
            obs[0].why.contains("no Started Checkout events"),
            "{}",
            obs[0].why
        );
    }

    #[test]
    fn healthy_flows_are_not_missing() {
        let snap = fixtures::healthy();
        assert!(fixtures::run(CHECKOUT_MISSING, &snap, None).is_empty());
        assert!(fixtures::run(CORE_MISSING, &snap, None).is_empty());
    }

    #[test]
    fn each_missing_core_kind_is_its_own_observation() {
        let mut snap = fixtures::healthy();
        fixtures::remove_flow(&mut snap, WELCOME);
        fixtures::flow_mut(&mut snap, POST_PURCHASE).archived = true;
        let obs = fixtures::run(CORE_MISSING, &snap, None);
        let subjects: Vec<&str> = obs.iter().map(|o| o.subject.as_str()).collect();
        assert_eq!(subjects, ["welcome", "post-purchase"]);
        assert!(obs.iter().all(|o| o.severity == Severity::Warning));
        assert_eq!(obs[0].title, "No live welcome flow");
        assert!((major(&obs[0]) - 0.03 * 7_680.0 * 30.0).abs() < 0.01);
        assert!(fixtures::run(CHECKOUT_MISSING, &snap, None).is_empty());
    }

    #[test]
    fn a_stopped_flow_is_reported_once() {
        let prev = fixtures::previous();
        let mut snap = fixtures::healthy();
        fixtures::set_flow_status(&mut snap, ABANDONED_CHECKOUT, FlowStatus::Draft, NOW);
        fixtures::set_flow_status(&mut snap, WELCOME, FlowStatus::Draft, NOW);
        assert_eq!(fixtures::run(LIVE_STOPPED, &snap, Some(&prev)).len(), 2);
        assert!(fixtures::run(CHECKOUT_MISSING, &snap, Some(&prev)).is_empty());
        assert!(fixtures::run(CORE_MISSING, &snap, Some(&prev)).is_empty());
        // Next scan: the stop is old news, so the kind is reported as missing.
        let next = snap.clone();
        assert_eq!(fixtures::run(CHECKOUT_MISSING, &next, Some(&snap)).len(), 1);
        assert_eq!(fixtures::run(CORE_MISSING, &next, Some(&snap)).len(), 1);
    }

    #[test]
    fn kinds_come_from_triggers() {
        let snap = fixtures::healthy();
        let kinds: Vec<FlowKind> = snap.flows.iter().flatten().map(FlowKind::of).collect();
        assert_eq!(
            kinds,
            [
                FlowKind::Welcome,
                FlowKind::AbandonedCheckout,
                FlowKind::BrowseAbandonment,
                FlowKind::PostPurchase
            ]
        );
        let mut odd = fixtures::healthy();
        let f = fixtures::flow_mut(&mut odd, WELCOME);
        f.trigger_type = "Date Based".into();
        assert_eq!(FlowKind::of(f), FlowKind::Other);
    }

    #[test]
    fn a_live_sunset_flow_is_not_a_welcome_series() {
        let mut snap = fixtures::healthy();
        let f = fixtures::flow_mut(&mut snap, WELCOME);
        f.name = "Sunset Unengaged".into();
        assert_eq!(FlowKind::of(f), FlowKind::Other);
        let obs = fixtures::run(CORE_MISSING, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(obs[0].subject, "welcome");
    }

    fn survey_flow(snap: &mut Snapshot) {
        fixtures::add_flow(
            snap,
            "FLWBYE",
            "Unsubscribe Survey",
            Some(KnownMetric::Unsubscribed),
            "",
        );
    }

    #[test]
    fn a_live_flow_whose_trigger_went_quiet_for_a_day_is_critical() {
        let mut snap = fixtures::healthy();
        survey_flow(&mut snap);
        let since = NOW - Duration::hours(30);
        fixtures::silence(&mut snap, KnownMetric::Unsubscribed, since);
        let obs = fixtures::run(TRIGGER_SILENT, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Critical);
        assert_eq!(o.track, Track::Now);
        assert_eq!(o.subject, "FLWBYE");
        assert_eq!(
            o.title,
            "Flow \"Unsubscribe Survey\" gets no triggers: no Unsubscribed events for 30 h"
        );
        // 1 an hour for 28 days less the 30 silent hours: 642 / 28 ≈ 23 a day.
        assert!(o.why.contains("averaged 23 events a day"), "{}", o.why);
        assert!(o.why.contains("none in the last 24 h"), "{}", o.why);
        assert_eq!(o.began_at, Some(since - Duration::minutes(1)));
        assert_eq!(o.deep_link, links::flow("FLWBYE"));
        // An "other" flow: 1% of 7,680/day × 30 h (and a minute) ÷ 24.
        assert!(
            (major(o) - 0.01 * 7_680.0 * 30.0 / 24.0).abs() < 0.2,
            "{}",
            major(o)
        );
    }

    #[test]
    fn a_trigger_quiet_for_less_than_a_day_or_without_a_baseline_is_not_reported() {
        let mut snap = fixtures::healthy();
        survey_flow(&mut snap);
        // Events 20 h ago: inside the 24 h window.
        fixtures::silence(
            &mut snap,
            KnownMetric::Unsubscribed,
            NOW - Duration::hours(20),
        );
        assert!(fixtures::run(TRIGGER_SILENT, &snap, None).is_empty());
        // A client override shortens the window: now it fires.
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert(format!("{TRIGGER_SILENT}.hours"), 12.0);
        assert_eq!(
            fixtures::run_with(TRIGGER_SILENT, &snap, None, &profile).len(),
            1
        );
        // Four a day: below the 5/day baseline, a quiet day is normal.
        let mut snap = fixtures::healthy();
        survey_flow(&mut snap);
        fixtures::map_hourly(&mut snap, KnownMetric::Unsubscribed, |i, _| {
            if i % 6 == 0 { 1.0 } else { 0.0 }
        });
        fixtures::silence(
            &mut snap,
            KnownMetric::Unsubscribed,
            NOW - Duration::hours(30),
        );
        assert!(fixtures::run(TRIGGER_SILENT, &snap, None).is_empty());
        // A silent trigger of a flow in draft starves nothing.
        let mut snap = fixtures::healthy();
        survey_flow(&mut snap);
        fixtures::silence(
            &mut snap,
            KnownMetric::Unsubscribed,
            NOW - Duration::hours(30),
        );
        fixtures::set_flow_status(&mut snap, "FLWBYE", FlowStatus::Draft, NOW);
        assert!(fixtures::run(TRIGGER_SILENT, &snap, None).is_empty());
    }

    #[test]
    fn silent_orders_and_onsite_triggers_are_left_to_the_integration_checks() {
        let mut snap = fixtures::healthy();
        fixtures::silence(
            &mut snap,
            KnownMetric::PlacedOrder,
            NOW - Duration::hours(30),
        );
        fixtures::silence(
            &mut snap,
            KnownMetric::ViewedProduct,
            NOW - Duration::hours(30),
        );
        assert!(fixtures::run(TRIGGER_SILENT, &snap, None).is_empty());
        assert_eq!(
            fixtures::run("integration-orders-silent", &snap, None).len(),
            1
        );
    }

    #[test]
    fn two_live_flows_on_one_trigger_metric_are_reported_once() {
        let mut snap = fixtures::healthy();
        fixtures::add_flow(
            &mut snap,
            "FLWCOPY",
            "Abandoned Checkout (copy)",
            Some(KnownMetric::StartedCheckout),
            "",
        );
        fixtures::flow_mut(&mut snap, "FLWCOPY").updated = NOW - Duration::days(2);
        let obs = fixtures::run(DUPLICATE_TRIGGER, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.track, Track::Now);
        assert_eq!(o.subject, "metric:started-checkout");
        assert_eq!(
            o.title,
            "Flows \"Abandoned Checkout\" and \"Abandoned Checkout (copy)\" both start on \
             Started Checkout"
        );
        assert!(o.why.starts_with("2 live flows start on"), "{}", o.why);
        assert!(o.why.contains("cannot see flow filters"), "{}", o.why);
        // The newest edit is the likely copy.
        assert_eq!(o.deep_link, links::flow("FLWCOPY"));
        assert_eq!(o.value_at_stake, None);
    }

    #[test]
    fn flows_on_one_list_are_grouped_by_list() {
        let mut snap = fixtures::healthy();
        fixtures::add_flow(&mut snap, "FLWW2", "Welcome B", None, NEWSLETTER);
        fixtures::add_flow(&mut snap, "FLWW3", "Welcome C", None, NEWSLETTER);
        let obs = fixtures::run(DUPLICATE_TRIGGER, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(obs[0].subject, format!("list:{NEWSLETTER}"));
        assert_eq!(
            obs[0].title,
            "3 live flows start on joining list \"Newsletter\""
        );
        assert!(
            obs[0]
                .why
                .contains("\"Welcome Series\", \"Welcome B\", \"Welcome C\""),
            "{}",
            obs[0].why
        );
        // A client with three deliberate flows on that list raises the bar.
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert(format!("{DUPLICATE_TRIGGER}.min_flows"), 4.0);
        assert!(fixtures::run_with(DUPLICATE_TRIGGER, &snap, None, &profile).is_empty());
    }

    #[test]
    fn a_second_flow_that_does_not_send_or_uses_another_trigger_is_no_duplicate() {
        let mut snap = fixtures::healthy();
        fixtures::add_flow(
            &mut snap,
            "FLWCOPY",
            "Abandoned Checkout (old)",
            Some(KnownMetric::StartedCheckout),
            "",
        );
        fixtures::set_flow_status(&mut snap, "FLWCOPY", FlowStatus::Draft, NOW);
        fixtures::add_flow(&mut snap, "FLWVIP", "VIP Welcome", None, "LSTVIP");
        fixtures::add_flow(&mut snap, "FLWOLD", "Old Welcome", None, NEWSLETTER);
        fixtures::flow_mut(&mut snap, "FLWOLD").archived = true;
        assert!(fixtures::run(DUPLICATE_TRIGGER, &snap, None).is_empty());
    }

    fn series_mut<'a>(s: &'a mut Snapshot, id: &str) -> &'a mut FlowSeries {
        s.flow_series
            .as_mut()
            .and_then(|all| all.iter_mut().find(|x| x.flow_id == id))
            .unwrap_or_else(|| panic!("fixture has no series for {id}"))
    }

    /// Sets the recipients of the last `days` full days of a flow's series.
    fn last_days_sent(s: &mut Snapshot, id: &str, days: usize, sent: f64) {
        let r = &mut series_mut(s, id).recipients;
        let from = r.len() - days;
        r[from..].iter_mut().for_each(|x| *x = sent);
    }

    fn step_mut<'a>(s: &'a mut Snapshot, id: &str) -> &'a mut FlowStep {
        s.flow_steps
            .as_mut()
            .and_then(|all| all.iter_mut().find(|x| x.id == id))
            .unwrap_or_else(|| panic!("fixture has no step {id}"))
    }

    fn message_mut<'a>(
        s: &'a mut Snapshot,
        id: &str,
    ) -> &'a mut crate::scan::snapshot::StepMessage {
        step_mut(s, id)
            .message
            .as_mut()
            .unwrap_or_else(|| panic!("step {id} sends nothing"))
    }

    fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
            .single()
            .unwrap_or_else(|| panic!("valid date"))
    }

    #[test]
    fn a_flow_sending_a_fifth_of_its_usual_is_a_priced_warning() {
        let mut snap = fixtures::healthy();
        last_days_sent(&mut snap, ABANDONED_CHECKOUT, 1, 16.0);
        let obs = fixtures::run(SENDS_DROPPED, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.track, Track::Now);
        assert_eq!(o.subject, ABANDONED_CHECKOUT);
        assert_eq!(
            o.title,
            "Flow \"Abandoned Checkout\" sends fell 80% on 2025-03-09 (16 vs 80/day)"
        );
        // 10 checkouts an hour: 240 that day.
        assert!(
            o.why.contains("Started Checkout, still fired 240 times"),
            "{}",
            o.why
        );
        assert_eq!(o.began_at, Some(day(2025, 3, 9)));
        assert_eq!(o.deep_link, links::flow(ABANDONED_CHECKOUT));
        // 64 sends lost at 900 / 80 = 11.25 a recipient.
        assert!((major(o) - 64.0 * 11.25).abs() < 0.01, "{}", major(o));
    }

    #[test]
    fn sends_just_above_the_line_are_quiet_and_on_it_fire() {
        let mut snap = fixtures::healthy();
        // 80 a day: 25 is a 68.75% drop, 24 exactly 70%.
        last_days_sent(&mut snap, ABANDONED_CHECKOUT, 1, 25.0);
        assert!(fixtures::run(SENDS_DROPPED, &snap, None).is_empty());
        last_days_sent(&mut snap, ABANDONED_CHECKOUT, 1, 24.0);
        assert_eq!(fixtures::run(SENDS_DROPPED, &snap, None).len(), 1);
        // A client that only wants to hear of a 90% drop.
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert(format!("{SENDS_DROPPED}.drop"), 0.9);
        assert!(fixtures::run_with(SENDS_DROPPED, &snap, None, &profile).is_empty());
    }

    #[test]
    fn a_drop_over_several_days_dates_from_its_first_day() {
        let mut snap = fixtures::healthy();
        last_days_sent(&mut snap, BROWSE, 3, 10.0);
        let obs = fixtures::run(SENDS_DROPPED, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(obs[0].began_at, Some(day(2025, 3, 7)));
        // Baseline: 26 days of 120 and 2 of 10, a mean of 112.14; revenue per
        // recipient 28 × 400 / 3,140. Three days lost 102.14 each.
        let mean = (26.0 * 120.0 + 20.0) / 28.0;
        let per_recipient = 28.0 * 400.0 / (26.0 * 120.0 + 20.0);
        let want = 3.0 * (mean - 10.0) * per_recipient;
        assert!(
            (major(&obs[0]) - want).abs() < 0.01,
            "{} vs {want}",
            major(&obs[0])
        );
    }

    #[test]
    fn a_drop_whose_trigger_stopped_or_without_a_baseline_is_not_reported() {
        // Started Checkout stopped before the last day: the silence checks own it.
        let mut snap = fixtures::healthy();
        last_days_sent(&mut snap, ABANDONED_CHECKOUT, 1, 0.0);
        fixtures::silence(
            &mut snap,
            KnownMetric::StartedCheckout,
            NOW - Duration::hours(40),
        );
        assert!(fixtures::run(SENDS_DROPPED, &snap, None).is_empty());
        // 15 a day: under the 20/day baseline, quiet; a client override lowers it.
        let mut snap = fixtures::healthy();
        series_mut(&mut snap, POST_PURCHASE)
            .recipients
            .iter_mut()
            .for_each(|r| *r = 15.0);
        last_days_sent(&mut snap, POST_PURCHASE, 1, 2.0);
        assert!(fixtures::run(SENDS_DROPPED, &snap, None).is_empty());
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert(format!("{SENDS_DROPPED}.baseline_per_day"), 10.0);
        let obs = fixtures::run_with(SENDS_DROPPED, &snap, None, &profile);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(obs[0].subject, POST_PURCHASE);
        // A flow that is not live is flow-live-stopped's business.
        let mut snap = fixtures::healthy();
        last_days_sent(&mut snap, ABANDONED_CHECKOUT, 1, 0.0);
        fixtures::set_flow_status(&mut snap, ABANDONED_CHECKOUT, FlowStatus::Draft, NOW);
        assert!(fixtures::run(SENDS_DROPPED, &snap, None).is_empty());
    }

    #[test]
    fn a_welcome_series_is_judged_against_signups() {
        let mut snap = fixtures::healthy();
        last_days_sent(&mut snap, WELCOME, 1, 6.0);
        let obs = fixtures::run(SENDS_DROPPED, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert!(
            obs[0].why.contains("Subscribed to List, still fired 120"),
            "{}",
            obs[0].why
        );
        fixtures::silence(
            &mut snap,
            KnownMetric::SubscribedToList,
            NOW - Duration::hours(40),
        );
        assert!(fixtures::run(SENDS_DROPPED, &snap, None).is_empty());
    }

    #[test]
    fn a_draft_step_in_a_live_flow_is_priced_at_its_share() {
        let mut snap = fixtures::healthy();
        step_mut(&mut snap, "CHK2").status = Some("draft".into());
        let obs = fixtures::run(MESSAGE_DRAFT, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.track, Track::Now);
        assert_eq!(o.subject, "CHK2");
        assert_eq!(
            o.title,
            "Flow \"Abandoned Checkout\": email \"Checkout reminder\" is in draft"
        );
        assert!(o.why.contains("step 2 of the flow"), "{}", o.why);
        assert_eq!(o.deep_link, links::flow(ABANDONED_CHECKOUT));
        assert_eq!(o.began_at, Some(day(2025, 1, 15)));
        // 900 a day over two send steps, for 30 days.
        assert_eq!(major(o), 900.0 / 2.0 * 30.0);
    }

    #[test]
    fn a_manual_step_is_reported_and_unpriced_without_the_series() {
        let mut snap = fixtures::healthy();
        step_mut(&mut snap, "CHK4").status = Some("Manual".into());
        snap.flow_series = None;
        let obs = fixtures::run(MESSAGE_DRAFT, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(
            obs[0].title,
            "Flow \"Abandoned Checkout\": SMS \"Checkout text\" is in manual"
        );
        assert!(obs[0].why.contains("manual review"), "{}", obs[0].why);
        assert_eq!(obs[0].value_at_stake, None);
    }

    #[test]
    fn live_steps_or_draft_steps_of_stopped_flows_are_quiet() {
        let snap = fixtures::healthy();
        assert!(fixtures::run(MESSAGE_DRAFT, &snap, None).is_empty());
        let mut snap = fixtures::healthy();
        step_mut(&mut snap, "WEL3").status = Some("draft".into());
        fixtures::set_flow_status(&mut snap, WELCOME, FlowStatus::Draft, NOW);
        assert!(fixtures::run(MESSAGE_DRAFT, &snap, None).is_empty());
    }

    #[test]
    fn an_order_flow_with_smart_sending_on_is_an_opportunity() {
        let mut snap = fixtures::healthy();
        message_mut(&mut snap, "THX2").smart_sending = true;
        let obs = fixtures::run(SMART_SENDING, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Opportunity);
        assert_eq!(o.track, Track::Eventually);
        assert_eq!(o.subject, POST_PURCHASE);
        assert_eq!(
            o.title,
            "Order flow \"Post-Purchase Thank You\" has smart sending on"
        );
        assert!(
            o.why
                .starts_with("1 of its 1 sending messages (\"Thank you\")"),
            "{}",
            o.why
        );
        assert_eq!(o.value_at_stake, None);
        assert_eq!(o.deep_link, links::flow(POST_PURCHASE));
    }

    #[test]
    fn a_marketing_flow_with_smart_sending_off_is_reported() {
        let mut snap = fixtures::healthy();
        message_mut(&mut snap, "WEL1").smart_sending = false;
        let obs = fixtures::run(SMART_SENDING, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(obs[0].subject, WELCOME);
        assert_eq!(
            obs[0].title,
            "Marketing flow \"Welcome Series\" has smart sending off"
        );
        assert!(
            obs[0]
                .why
                .starts_with("1 of its 2 sending messages (\"Welcome 1\")"),
            "{}",
            obs[0].why
        );
        // A step still in draft sends nothing: its setting does not matter yet.
        step_mut(&mut snap, "WEL1").status = Some("draft".into());
        assert!(fixtures::run(SMART_SENDING, &snap, None).is_empty());
    }

    #[test]
    fn purpose_comes_from_trigger_then_name() {
        let mut snap = fixtures::healthy();
        // Fulfilled Order is not a known metric: the name says shipping.
        fixtures::add_flow(&mut snap, "FLWSHIP", "Shipping Confirmation", None, "");
        let f = fixtures::flow_mut(&mut snap, "FLWSHIP");
        f.trigger_type = "Metric".into();
        f.trigger_list_id = None;
        assert_eq!(purpose(f), Some(Purpose::Order));
        // A review request after an order is marketing.
        fixtures::add_flow(
            &mut snap,
            "FLWREV",
            "Review Request",
            Some(KnownMetric::PlacedOrder),
            "",
        );
        assert_eq!(
            purpose(fixtures::flow_mut(&mut snap, "FLWREV")),
            Some(Purpose::Marketing)
        );
        // A list-triggered flow thanking subscribers is still marketing.
        fixtures::add_flow(
            &mut snap,
            "FLWTY",
            "Thank you for subscribing",
            None,
            NEWSLETTER,
        );
        assert_eq!(
            purpose(fixtures::flow_mut(&mut snap, "FLWTY")),
            Some(Purpose::Marketing)
        );
        // No name and no trigger: cannot tell.
        let f = fixtures::flow_mut(&mut snap, "FLWSHIP");
        f.name.clear();
        assert_eq!(purpose(f), None);
    }

    #[test]
    fn a_transactional_message_in_a_marketing_flow_wants_smart_sending_off() {
        let mut snap = fixtures::healthy();
        let m = message_mut(&mut snap, "BRW2");
        m.transactional = true;
        let obs = fixtures::run(SMART_SENDING, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(
            obs[0].title,
            "Flow \"Browse Abandonment\": order messages with smart sending on"
        );
        message_mut(&mut snap, "BRW2").smart_sending = false;
        assert!(fixtures::run(SMART_SENDING, &snap, None).is_empty());
    }

    #[test]
    fn a_live_flow_unchanged_for_over_a_year_is_stale() {
        let mut snap = fixtures::healthy();
        let edited = day(2023, 12, 1);
        message_mut(&mut snap, "BRW2").updated = edited;
        let obs = fixtures::run(STALE_CONTENT, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Opportunity);
        assert_eq!(o.track, Track::Eventually);
        assert_eq!(o.subject, BROWSE);
        assert_eq!(
            o.title,
            "Flow \"Browse Abandonment\": messages unchanged since 2023-12-01"
        );
        assert!(o.why.contains("in 465 days"), "{}", o.why);
        assert_eq!(o.began_at, Some(edited + Duration::days(365)));
        assert_eq!(o.value_at_stake, None);
    }

    #[test]
    fn staleness_needs_every_message_old_and_past_the_line() {
        let mut snap = fixtures::healthy();
        message_mut(&mut snap, "BRW2").updated = NOW - Duration::days(365);
        assert!(fixtures::run(STALE_CONTENT, &snap, None).is_empty());
        message_mut(&mut snap, "BRW2").updated = NOW - Duration::days(366);
        assert_eq!(fixtures::run(STALE_CONTENT, &snap, None).len(), 1);
        // The client reviews flows every two years.
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert(format!("{STALE_CONTENT}.days"), 730.0);
        assert!(fixtures::run_with(STALE_CONTENT, &snap, None, &profile).is_empty());
        // One message of the welcome series is recent: the flow is not stale.
        let mut snap = fixtures::healthy();
        message_mut(&mut snap, "WEL1").updated = day(2022, 1, 1);
        assert!(fixtures::run(STALE_CONTENT, &snap, None).is_empty());
        message_mut(&mut snap, "WEL3").updated = day(2022, 1, 1);
        assert_eq!(fixtures::run(STALE_CONTENT, &snap, None).len(), 1);
        // A stale flow that does not send is not reported.
        fixtures::set_flow_status(&mut snap, WELCOME, FlowStatus::Manual, NOW);
        assert!(fixtures::run(STALE_CONTENT, &snap, None).is_empty());
    }

    fn rename_segment(snap: &mut Snapshot, id: &str, name: &str) {
        if let Some(s) = snap
            .segments
            .as_mut()
            .and_then(|all| all.iter_mut().find(|s| s.id == id))
        {
            s.name = name.into();
        }
    }

    #[test]
    fn no_sunset_flow_or_segment_is_an_opportunity() {
        let mut snap = fixtures::healthy();
        assert!(fixtures::run(SUNSET_MISSING, &snap, None).is_empty());
        rename_segment(&mut snap, fixtures::UNENGAGED, "Lapsed 180 days");
        let obs = fixtures::run(SUNSET_MISSING, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Opportunity);
        assert_eq!(o.track, Track::Eventually);
        assert_eq!(o.subject, "sunset");
        assert!(
            o.why.starts_with("None of the 4 live flows or 4 segments"),
            "{}",
            o.why
        );
        assert_eq!(o.value_at_stake, None);
        assert_eq!(o.deep_link, links::profiles());
    }

    #[test]
    fn a_live_sunset_flow_or_a_re_engagement_segment_is_enough() {
        let mut snap = fixtures::healthy();
        rename_segment(&mut snap, fixtures::UNENGAGED, "Lapsed 180 days");
        fixtures::add_flow(
            &mut snap,
            "FLWSUN",
            "Sunset - Re-permission",
            None,
            "LSTSUN",
        );
        assert!(fixtures::run(SUNSET_MISSING, &snap, None).is_empty());
        // A sunset flow in draft does not count.
        fixtures::set_flow_status(&mut snap, "FLWSUN", FlowStatus::Draft, NOW);
        assert_eq!(fixtures::run(SUNSET_MISSING, &snap, None).len(), 1);
        rename_segment(&mut snap, "SEGVIP", "Win-back candidates");
        assert!(fixtures::run(SUNSET_MISSING, &snap, None).is_empty());
    }
}
