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
//! Per-client overrides (`ClientProfile::thresholds`):
//! `flow-trigger-metric-silent.hours` (default 24: no trigger events for this
//! long), `flow-trigger-metric-silent.baseline_per_day` (5: the trigger's 28-day
//! mean events a day, below which silence is normal),
//! `flow-duplicate-trigger.min_flows` (2: live flows on one trigger; at least 2).

use std::collections::BTreeMap;

use chrono::Duration;

use super::integrations::{
    SILENCE_WATCHED, daily_count, daily_value, fmt_count, fmt_hours, fmt_share, metric_id,
};
use super::{Cadence, Check, CheckInput, Observation, links};
use crate::domain::{Money, Severity, Track};
use crate::scan::snapshot::{Activity, Flow, FlowStatus, KnownMetric, Part, Snapshot};

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
];

const LIVE_STOPPED: &str = "flow-live-stopped";
const CHECKOUT_MISSING: &str = "flow-abandoned-checkout-missing";
const CORE_MISSING: &str = "flow-core-missing";
const TRIGGER_SILENT: &str = "flow-trigger-metric-silent";
const DUPLICATE_TRIGGER: &str = "flow-duplicate-trigger";

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
        .flows
        .iter()
        .flatten()
        .filter(|f| f.is_sending())
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
}
