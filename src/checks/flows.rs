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
//! one); a missing flow costs the same share × 30 days of store revenue.

use super::integrations::{daily_value, fmt_share, metric_id};
use super::{Cadence, Check, CheckInput, Observation, links};
use crate::domain::{Money, Severity, Track};
use crate::scan::snapshot::{Flow, FlowStatus, KnownMetric, Part, Snapshot};

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
];

const LIVE_STOPPED: &str = "flow-live-stopped";
const CHECKOUT_MISSING: &str = "flow-abandoned-checkout-missing";
const CORE_MISSING: &str = "flow-core-missing";

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

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::checks::fixtures::{self, ABANDONED_CHECKOUT, BROWSE, NOW, POST_PURCHASE, WELCOME};

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
}
