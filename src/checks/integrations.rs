//! Checks: integrations and data freshness.
//!
//! Owns the "this event stream went quiet" rule and the activity baselines other
//! families reuse (a metric's mean daily value, its id). A stream is *silent*
//! when the time since its last event exceeds `max(min_hours, gap_multiple ×
//! p99 gap)`, where the p99 gap is measured between non-empty hourly buckets of
//! the last 28 days. Only streams with a baseline (≥ 1 event/day on average) are
//! judged, so a store that sells twice a week is not paged for a quiet Monday.
//!
//! Per-client overrides (`ClientProfile::thresholds`), for each silence check
//! below (`integration-orders-silent`, `integration-checkout-silent`,
//! `integration-onsite-silent`): `<id>.min_hours` (default 6), `<id>.gap_multiple`
//! (3), `<id>.baseline_per_day` (1). `integration-duplicate-orders` has no threshold.
//!
//! Onsite silence (Viewed Product, Active on Site) is judged only while orders
//! are not silent themselves: a store whose orders stopped too is down or
//! disconnected, and `integration-orders-silent` reports that. Only Viewed
//! Product is priced (it feeds the browse-abandonment flow); Active on Site
//! feeds segments, not a priced flow.

use chrono::{DateTime, Duration, Utc};

use super::flows::{SHARE_ABANDONED_CHECKOUT, SHARE_BROWSE};
use super::{Cadence, Check, CheckInput, Observation, links};
use crate::config::ClientProfile;
use crate::domain::{Money, Severity, Track};
use crate::scan::snapshot::{Activity, KnownMetric, Part, Snapshot};

/// The checks of this family.
pub const CHECKS: &[Check] = &[
    Check {
        id: ORDERS_SILENT,
        family: "integrations",
        summary: "No Placed Order events for longer than the store's normal gap",
        threshold: "silent > max(6 h, 3 × 28-day p99 gap), baseline ≥ 1/day",
        default_severity: Severity::Critical,
        track: Track::Now,
        cadence: Cadence::Pulse,
        needs: &[Part::Activity],
        run: orders_silent,
    },
    Check {
        id: CHECKOUT_SILENT,
        family: "integrations",
        summary: "Started Checkout silent while orders continue (abandoned-checkout flow starves)",
        threshold: "as orders, while orders continue",
        default_severity: Severity::Critical,
        track: Track::Now,
        cadence: Cadence::Pulse,
        needs: &[Part::Activity],
        run: checkout_silent,
    },
    Check {
        id: ONSITE_SILENT,
        family: "integrations",
        summary: "Viewed Product or Active on Site silent (site tracking removed, e.g. after a theme change)",
        threshold: "as orders, while orders continue",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Pulse,
        needs: &[Part::Activity],
        run: onsite_silent,
    },
    Check {
        id: DUPLICATE_ORDERS,
        family: "integrations",
        summary: "Placed Order metrics from two or more integrations (double counting, double triggers)",
        threshold: "≥ 2 integrations named on Placed Order metrics",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::Metrics],
        run: duplicate_orders,
    },
    Check {
        id: EVENT_VALUE_MISSING,
        family: "integrations",
        summary: "Placed Order events arrive without `$value` (revenue attribution breaks)",
        threshold: "≥ 20% of the last 100 events, at least 10 read",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::OrderValues],
        run: event_value_missing,
    },
    Check {
        id: CATALOG_STALE,
        family: "integrations",
        summary: "Catalog items not updated while orders continue (product blocks show stale prices and stock)",
        threshold: "newest item update > 7 days ago, orders in the last 7 days",
        default_severity: Severity::Opportunity,
        track: Track::Eventually,
        cadence: Cadence::Full,
        needs: &[Part::Catalog, Part::Activity],
        run: catalog_stale,
    },
];

const ORDERS_SILENT: &str = "integration-orders-silent";
const CHECKOUT_SILENT: &str = "integration-checkout-silent";
const ONSITE_SILENT: &str = "integration-onsite-silent";
const DUPLICATE_ORDERS: &str = "integration-duplicate-orders";
const EVENT_VALUE_MISSING: &str = "integration-event-value-missing";
const CATALOG_STALE: &str = "integration-catalog-stale";

/// Metrics whose silence this family reports; other families leave them alone
/// so one stopped stream is one finding (`flow-trigger-metric-silent` skips them).
pub(crate) const SILENCE_WATCHED: [KnownMetric; 4] = [
    KnownMetric::PlacedOrder,
    KnownMetric::StartedCheckout,
    KnownMetric::ViewedProduct,
    KnownMetric::ActiveOnSite,
];

/// Baseline window: the activity Lookout fetches covers 28 days.
pub(crate) const BASELINE_DAYS: i64 = 28;

/// Buckets of `a` in the baseline window `[now - 28 d, now)`, as `(start, count, value)`.
fn window(
    a: &Activity,
    now: DateTime<Utc>,
) -> impl Iterator<Item = (DateTime<Utc>, f64, f64)> + '_ {
    let from = now - Duration::days(BASELINE_DAYS);
    a.iter().filter(move |(t, _, _)| *t >= from && *t < now)
}

/// Days the baseline window actually covers (the activity may be younger than 28 days).
fn covered_days(a: &Activity, now: DateTime<Utc>) -> f64 {
    window(a, now).count() as f64 / 24.0
}

/// Mean daily `$value` of a metric over the last 28 days, when it has any.
pub(crate) fn daily_value(snapshot: &Snapshot, m: KnownMetric, now: DateTime<Utc>) -> Option<f64> {
    let a = snapshot.activity_of(m)?;
    let days = covered_days(a, now);
    let total: f64 = window(a, now).map(|(_, _, v)| v).sum();
    // Malformed aggregates (NaN, infinite) price nothing rather than nonsense.
    (days > 0.0 && total > 0.0 && total.is_finite()).then(|| total / days)
}

/// Mean daily event count of a metric over the last 28 days, when it has any.
pub(crate) fn daily_count(snapshot: &Snapshot, m: KnownMetric, now: DateTime<Utc>) -> Option<f64> {
    let a = snapshot.activity_of(m)?;
    let days = covered_days(a, now);
    let total: f64 = window(a, now).map(|(_, c, _)| c).sum();
    (days > 0.0 && total > 0.0 && total.is_finite()).then(|| total / days)
}

/// The Klaviyo id of a known metric, from the activity or the metric list.
pub(crate) fn metric_id(snapshot: &Snapshot, m: KnownMetric) -> Option<String> {
    if let Some(a) = snapshot.activity_of(m) {
        return Some(a.metric_id.clone());
    }
    snapshot
        .metrics
        .as_ref()?
        .iter()
        .find(|x| x.name == m.klaviyo_name())
        .map(|x| x.id.clone())
}

/// `9 h` below two days, `3.5 days` from there on.
pub(crate) fn fmt_hours(hours: f64) -> String {
    if hours < 48.0 {
        format!("{hours:.0} h")
    } else {
        format!("{:.1} days", hours / 24.0)
    }
}

/// A count for people: rounded, thousands grouped (`24,000`).
pub(crate) fn fmt_count(n: f64) -> String {
    let rounded = n.round();
    if !rounded.is_finite() {
        return "?".to_owned();
    }
    let digits = format!("{:.0}", rounded.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if rounded < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

/// A percentage with at most one decimal, trailing `.0` dropped (`5%`, `1.5%`).
pub(crate) fn fmt_share(fraction: f64) -> String {
    let s = format!("{:.1}", fraction * 100.0);
    format!("{}%", s.trim_end_matches(".0"))
}

/// The silence rule's thresholds for one check, with the client's overrides.
#[derive(Debug, Clone, Copy)]
struct Rule {
    min_hours: f64,
    gap_multiple: f64,
    baseline_per_day: f64,
}

impl Rule {
    fn for_check(profile: &ClientProfile, id: &str) -> Self {
        Self {
            min_hours: profile.threshold(&format!("{id}.min_hours"), 6.0),
            gap_multiple: profile.threshold(&format!("{id}.gap_multiple"), 3.0),
            baseline_per_day: profile.threshold(&format!("{id}.baseline_per_day"), 1.0),
        }
    }
}

/// How quiet a stream is, against its own history.
#[derive(Debug, Clone, Copy)]
struct Quiet {
    /// Hours since the last event.
    hours: f64,
    /// The last event (or the end of the last non-empty bucket).
    last_event: DateTime<Utc>,
    /// Longest silence still considered normal, in hours.
    allowed_hours: f64,
    /// Median gap between non-empty buckets, in hours ("usually every ...").
    typical_gap_hours: f64,
    /// Events per day over the window.
    per_day: f64,
}

impl Quiet {
    fn measure(a: &Activity, now: DateTime<Utc>, rule: Rule) -> Option<Self> {
        let days = covered_days(a, now);
        if days <= 0.0 {
            return None;
        }
        let buckets: Vec<(DateTime<Utc>, f64)> = window(a, now).map(|(t, c, _)| (t, c)).collect();
        let per_day = buckets.iter().map(|(_, c)| c).sum::<f64>() / days;
        let busy: Vec<DateTime<Utc>> = buckets
            .iter()
            .filter(|(_, c)| *c > 0.0)
            .map(|(t, _)| *t)
            .collect();
        let mut gaps: Vec<f64> = busy
            .windows(2)
            .map(|w| (w[1] - w[0]).num_minutes() as f64 / 60.0)
            .collect();
        gaps.sort_by(f64::total_cmp);
        let p99 = percentile(&gaps, 0.99).unwrap_or(0.0);
        let typical = percentile(&gaps, 0.5).unwrap_or(1.0);
        let last_bucket_end = a
            .iter()
            .filter(|(_, c, _)| *c > 0.0)
            .map(|(t, _, _)| t + Activity::BUCKET)
            .last();
        let last_event = a.last_event_at.or(last_bucket_end)?;
        let hours = (now - last_event).num_seconds() as f64 / 3600.0;
        Some(Self {
            hours,
            last_event,
            allowed_hours: rule.min_hours.max(rule.gap_multiple * p99),
            typical_gap_hours: typical,
            per_day,
        })
    }

    /// Silent past the allowed gap, and there was a baseline to be silent against.
    fn is_silent(&self, rule: Rule) -> bool {
        self.per_day >= rule.baseline_per_day && self.hours > self.allowed_hours
    }
}

/// Nearest-rank percentile of sorted values.
fn percentile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// What a silence finding says beyond the numbers.
struct Silence<'a> {
    id: &'a str,
    severity: Severity,
    /// What the silence breaks, after "so".
    consequence: &'a str,
    /// What to do, one sentence.
    advice: &'a str,
}

/// Advice for streams the store's ecommerce integration sends.
const RECONNECT: &str =
    "Check the store's Klaviyo integration and reconnect it if it shows an error.";

fn silent_observation(
    input: &CheckInput<'_>,
    s: Silence<'_>,
    m: KnownMetric,
    q: Quiet,
    daily_at_stake: Option<f64>,
) -> Observation {
    let name = m.klaviyo_name();
    let days = q.hours.max(0.0) / 24.0;
    let Silence {
        id,
        severity,
        consequence,
        advice,
    } = s;
    Observation {
        check: id.to_owned(),
        subject: m.klaviyo_name().to_owned(),
        severity,
        track: Track::Now,
        title: format!(
            "No {name} events for {} (usually every {})",
            fmt_hours(q.hours),
            fmt_hours(q.typical_gap_hours)
        ),
        why: format!(
            "The last {name} event was at {} UTC; the account averages {} a day and \
             anything past {} is outside its normal rhythm, so {consequence}. {advice}",
            q.last_event.format("%Y-%m-%d %H:%M"),
            fmt_count(q.per_day),
            fmt_hours(q.allowed_hours),
        ),
        deep_link: links::integrations(),
        value_at_stake: daily_at_stake
            .map(|d| Money::from_major(d * days, &input.profile.currency)),
        began_at: Some(q.last_event),
    }
}

fn orders_silent(input: &CheckInput<'_>) -> Vec<Observation> {
    let rule = Rule::for_check(input.profile, ORDERS_SILENT);
    let Some(a) = input.snapshot.activity_of(KnownMetric::PlacedOrder) else {
        // The metric does not exist: not an ecommerce account, nothing to watch.
        return Vec::new();
    };
    let Some(q) = Quiet::measure(a, input.now, rule) else {
        return Vec::new();
    };
    if !q.is_silent(rule) {
        return Vec::new();
    }
    let daily = daily_value(input.snapshot, KnownMetric::PlacedOrder, input.now);
    let s = Silence {
        id: ORDERS_SILENT,
        severity: Severity::Critical,
        consequence: "orders are probably no longer reaching Klaviyo and order-triggered flows \
                      have stopped",
        advice: RECONNECT,
    };
    vec![silent_observation(
        input,
        s,
        KnownMetric::PlacedOrder,
        q,
        daily,
    )]
}

fn checkout_silent(input: &CheckInput<'_>) -> Vec<Observation> {
    let orders_rule = Rule::for_check(input.profile, ORDERS_SILENT);
    let orders_continue = input
        .snapshot
        .activity_of(KnownMetric::PlacedOrder)
        .and_then(|a| Quiet::measure(a, input.now, orders_rule))
        .is_some_and(|q| q.hours <= q.allowed_hours);
    if !orders_continue {
        // Either no orders to compare with, or orders are silent too (the
        // orders check reports that, and it is the bigger problem).
        return Vec::new();
    }
    let rule = Rule::for_check(input.profile, CHECKOUT_SILENT);
    let Some(a) = input.snapshot.activity_of(KnownMetric::StartedCheckout) else {
        return Vec::new();
    };
    let Some(q) = Quiet::measure(a, input.now, rule) else {
        return Vec::new();
    };
    if !q.is_silent(rule) {
        return Vec::new();
    }
    let daily = daily_value(input.snapshot, KnownMetric::PlacedOrder, input.now)
        .map(|d| d * SHARE_ABANDONED_CHECKOUT);
    let s = Silence {
        id: CHECKOUT_SILENT,
        severity: Severity::Critical,
        consequence: "orders still arrive but the abandoned-checkout flow gets no one to send \
                      to (often the checkout tracking was removed)",
        advice: RECONNECT,
    };
    vec![silent_observation(
        input,
        s,
        KnownMetric::StartedCheckout,
        q,
        daily,
    )]
}

/// Whether `integration-orders-silent` reports this snapshot (its rule, its overrides).
fn orders_are_silent(input: &CheckInput<'_>) -> bool {
    let rule = Rule::for_check(input.profile, ORDERS_SILENT);
    input
        .snapshot
        .activity_of(KnownMetric::PlacedOrder)
        .and_then(|a| Quiet::measure(a, input.now, rule))
        .is_some_and(|q| q.is_silent(rule))
}

fn onsite_silent(input: &CheckInput<'_>) -> Vec<Observation> {
    if orders_are_silent(input) {
        // The whole store went quiet: one finding (orders), not three.
        return Vec::new();
    }
    let rule = Rule::for_check(input.profile, ONSITE_SILENT);
    [KnownMetric::ViewedProduct, KnownMetric::ActiveOnSite]
        .into_iter()
        .filter_map(|m| {
            let q = Quiet::measure(input.snapshot.activity_of(m)?, input.now, rule)?;
            if !q.is_silent(rule) {
                return None;
            }
            // Browse abandonment is the flow Viewed Product feeds: its typical
            // share of store revenue prices the silence (no per-flow revenue is
            // read yet). Active on Site feeds segments only, so it goes unpriced
            // rather than counting the same flow twice.
            let daily = (m == KnownMetric::ViewedProduct)
                .then(|| daily_value(input.snapshot, KnownMetric::PlacedOrder, input.now))
                .flatten()
                .map(|d| d * SHARE_BROWSE);
            let consequence = if m == KnownMetric::ViewedProduct {
                "the browse-abandonment flow gets no one to send to and product-interest \
                 segments stop updating"
            } else {
                "engagement segments (\"active on site in the last N days\") stop updating"
            };
            let s = Silence {
                id: ONSITE_SILENT,
                severity: Severity::Warning,
                consequence,
                advice: "Orders still arrive, so the site's Klaviyo tracking snippet is the \
                         likely cause (often removed by a theme change): check that it loads \
                         on product pages.",
            };
            Some(silent_observation(input, s, m, q, daily))
        })
        .collect()
}

/// Integration names (trimmed, compared case-insensitively) of `Placed Order` metrics.
fn order_sources(input: &CheckInput<'_>) -> Vec<(String, Vec<String>)> {
    let mut sources: Vec<(String, Vec<String>)> = Vec::new();
    let orders = KnownMetric::PlacedOrder.klaviyo_name();
    for m in input.snapshot.metrics.iter().flatten() {
        let Some(integration) = m.integration.as_deref().map(str::trim) else {
            continue;
        };
        if m.name.trim() != orders || integration.is_empty() {
            continue;
        }
        match sources
            .iter_mut()
            .find(|(name, _)| name.eq_ignore_ascii_case(integration))
        {
            Some((_, ids)) => ids.push(m.id.clone()),
            None => sources.push((integration.to_owned(), vec![m.id.clone()])),
        }
    }
    sources
}

fn duplicate_orders(input: &CheckInput<'_>) -> Vec<Observation> {
    let sources = order_sources(input);
    if sources.len() < 2 {
        return Vec::new();
    }
    let names: Vec<String> = sources.iter().map(|(n, _)| n.clone()).collect();
    let listed = match names.as_slice() {
        [a, b] => format!("{a} and {b}"),
        _ => names.join(", "),
    };
    vec![Observation {
        check: DUPLICATE_ORDERS.to_owned(),
        subject: KnownMetric::PlacedOrder.klaviyo_name().to_owned(),
        severity: Severity::Warning,
        track: Track::Now,
        title: format!(
            "Placed Order comes from {} integrations: {listed}",
            names.len()
        ),
        why: format!(
            "The account has {} Placed Order metrics from {} integrations ({listed}). If more \
             than one still sends, each order is counted twice in revenue reports and \
             order-triggered flows can start twice. Lookout cannot see which sources are still \
             active: disconnect the integration that is no longer in use, and check that \
             post-purchase flows trigger on the right one.",
            sources.iter().map(|(_, ids)| ids.len()).sum::<usize>(),
            names.len(),
        ),
        deep_link: links::integrations(),
        value_at_stake: None,
        // Metrics carry no creation time in the snapshot: when the second source appeared is unknown.
        began_at: None,
    }]
}

fn event_value_missing(input: &CheckInput<'_>) -> Vec<Observation> {
    let Some(ov) = input.snapshot.order_values.as_ref() else {
        return Vec::new();
    };
    let p = input.profile;
    let share_line = p.threshold(&format!("{EVENT_VALUE_MISSING}.share"), 0.2);
    let min_events = p.threshold(&format!("{EVENT_VALUE_MISSING}.min_events"), 10.0);
    let events = f64::from(ov.events);
    // More "without" than read is a malformed count: trust neither.
    if events < min_events.max(1.0) || ov.without_value > ov.events {
        return Vec::new();
    }
    let share = f64::from(ov.without_value) / events;
    let subject = KnownMetric::PlacedOrder.klaviyo_name();
    // An open finding holds until the share is clearly back under the line.
    let line = if input.is_open(EVENT_VALUE_MISSING, subject) {
        share_line * super::HYSTERESIS
    } else {
        share_line
    };
    if share < line || ov.without_value == 0 {
        return Vec::new();
    }
    vec![Observation {
        check: EVENT_VALUE_MISSING.to_owned(),
        subject: subject.to_owned(),
        severity: Severity::Warning,
        track: Track::Now,
        title: format!(
            "{} of the newest Placed Order events have no $value",
            fmt_share(share)
        ),
        why: format!(
            "{} of the {} newest Placed Order events carry no `$value` (line: {}), so Klaviyo \
             attributes no revenue to the flows and campaigns behind those orders and \
             revenue reports fall short. Check the store integration, or the custom code that \
             sends orders, and that it sets `$value` on every order.",
            ov.without_value,
            ov.events,
            fmt_share(share_line),
        ),
        deep_link: links::integrations(),
        value_at_stake: None,
        // The events read carry no times in the snapshot.
        began_at: None,
    }]
}

fn catalog_stale(input: &CheckInput<'_>) -> Vec<Observation> {
    let Some(catalog) = input.snapshot.catalog.as_ref() else {
        return Vec::new();
    };
    let days = input
        .profile
        .threshold(&format!("{CATALOG_STALE}.days"), 7.0);
    // An empty catalog or one without update times has nothing to be stale.
    let (true, Some(newest)) = (catalog.items > 0, catalog.newest_update) else {
        return Vec::new();
    };
    if !(days.is_finite() && days > 0.0) {
        return Vec::new();
    }
    let window = Duration::seconds((days * 86_400.0) as i64);
    let age_days = (input.now - newest).num_seconds() as f64 / 86_400.0;
    if age_days <= days {
        return Vec::new();
    }
    let Some(orders) = input.snapshot.activity_of(KnownMetric::PlacedOrder) else {
        return Vec::new();
    };
    let recent = orders.count_between(input.now - window, input.now);
    // NaN counts stay quiet too: without orders, no one sees stale products.
    if recent.is_nan() || recent <= 0.0 {
        return Vec::new();
    }
    vec![Observation {
        check: CATALOG_STALE.to_owned(),
        subject: "catalog".to_owned(),
        severity: Severity::Opportunity,
        track: Track::Eventually,
        title: format!(
            "Catalog not updated for {} while orders continue",
            fmt_hours(age_days * 24.0)
        ),
        why: format!(
            "The newest of {} catalog items was updated at {} UTC, yet the store took {} orders \
             in the last {} (line: no update for {}). Product blocks and price-drop or \
             back-in-stock flows use the catalog, so they may show old prices and stock: check \
             the catalog sync in the store integration.",
            fmt_count(catalog.items as f64),
            newest.format("%Y-%m-%d %H:%M"),
            fmt_count(recent),
            fmt_hours(days * 24.0),
            fmt_hours(days * 24.0),
        ),
        deep_link: links::catalog(),
        value_at_stake: None,
        began_at: Some(newest),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self, NOW};
    use crate::scan::snapshot::KnownMetric::{
        ActiveOnSite, PlacedOrder, StartedCheckout, ViewedProduct,
    };

    #[test]
    fn steady_store_is_not_silent() {
        let snap = fixtures::healthy();
        assert!(fixtures::run(ORDERS_SILENT, &snap, None).is_empty());
        assert!(fixtures::run(CHECKOUT_SILENT, &snap, None).is_empty());
    }

    #[test]
    fn orders_silent_for_nine_hours_is_critical() {
        let mut snap = fixtures::healthy();
        fixtures::silence(&mut snap, PlacedOrder, NOW - Duration::hours(9));
        let obs = fixtures::run(ORDERS_SILENT, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Critical);
        assert_eq!(
            o.title,
            "No Placed Order events for 9 h (usually every 1 h)"
        );
        assert_eq!(
            o.began_at,
            snap.activity_of(PlacedOrder).and_then(|a| a.last_event_at)
        );
        assert_eq!(o.deep_link, links::integrations());
        // 9 h of a 7,680/day store, diluted a little by the silent hours in the mean.
        let money = o
            .value_at_stake
            .clone()
            .unwrap_or_else(|| Money::from_major(0.0, "USD"));
        assert_eq!(money.currency, "USD");
        assert!(
            money.major() > 2_800.0 && money.major() < 2_900.0,
            "{money:?}"
        );
        // Orders silent: checkout-silent stays quiet (orders do not continue).
        fixtures::silence(&mut snap, StartedCheckout, NOW - Duration::hours(9));
        assert!(fixtures::run(CHECKOUT_SILENT, &snap, None).is_empty());
    }

    #[test]
    fn silence_boundary_is_exclusive() {
        let mut snap = fixtures::healthy();
        fixtures::silence(&mut snap, PlacedOrder, NOW - Duration::hours(6));
        fixtures::set_last_event(&mut snap, PlacedOrder, Some(NOW - Duration::hours(6)));
        assert!(fixtures::run(ORDERS_SILENT, &snap, None).is_empty());
        fixtures::set_last_event(
            &mut snap,
            PlacedOrder,
            Some(NOW - Duration::hours(6) - Duration::minutes(1)),
        );
        assert_eq!(fixtures::run(ORDERS_SILENT, &snap, None).len(), 1);
    }

    #[test]
    fn irregular_store_gets_a_longer_allowance() {
        // Orders only every 4 hours: p99 gap 4 h, allowed 12 h.
        let mut snap = fixtures::healthy();
        fixtures::map_hourly(
            &mut snap,
            PlacedOrder,
            |i, _| if i % 4 == 0 { 8.0 } else { 0.0 },
        );
        fixtures::set_last_event(&mut snap, PlacedOrder, Some(NOW - Duration::hours(10)));
        assert!(fixtures::run(ORDERS_SILENT, &snap, None).is_empty());
        fixtures::set_last_event(&mut snap, PlacedOrder, Some(NOW - Duration::hours(13)));
        let obs = fixtures::run(ORDERS_SILENT, &snap, None);
        assert_eq!(obs.len(), 1);
        assert!(
            obs[0].title.contains("usually every 4 h"),
            "{}",
            obs[0].title
        );
    }

    #[test]
    fn no_baseline_means_no_alarm() {
        // Under one order a day: a long quiet is normal.
        let mut snap = fixtures::healthy();
        fixtures::map_hourly(
            &mut snap,
            PlacedOrder,
            |i, _| if i % 48 == 0 { 1.0 } else { 0.0 },
        );
        fixtures::set_last_event(&mut snap, PlacedOrder, Some(NOW - Duration::hours(100)));
        assert!(fixtures::run(ORDERS_SILENT, &snap, None).is_empty());
        // And an account without the metric is not an ecommerce account.
        let mut snap = fixtures::healthy();
        fixtures::remove_metric(&mut snap, PlacedOrder);
        assert!(fixtures::run(ORDERS_SILENT, &snap, None).is_empty());
    }

    #[test]
    fn silence_without_last_event_uses_last_busy_bucket() {
        let mut snap = fixtures::healthy();
        fixtures::silence(&mut snap, PlacedOrder, NOW - Duration::hours(8));
        fixtures::set_last_event(&mut snap, PlacedOrder, None);
        let obs = fixtures::run(ORDERS_SILENT, &snap, None);
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].began_at, Some(NOW - Duration::hours(8)));
    }

    #[test]
    fn client_override_moves_the_line() {
        let mut snap = fixtures::healthy();
        fixtures::silence(&mut snap, PlacedOrder, NOW - Duration::hours(9));
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert(format!("{ORDERS_SILENT}.min_hours"), 12.0);
        let input = fixtures::input(&snap, None, &profile);
        assert!(
            crate::checks::find(ORDERS_SILENT)
                .map(|c| (c.run)(&input))
                .is_some_and(|o| o.is_empty())
        );
    }

    #[test]
    fn checkout_silent_while_orders_continue() {
        let mut snap = fixtures::healthy();
        fixtures::silence(&mut snap, StartedCheckout, NOW - Duration::hours(30));
        let obs = fixtures::run(CHECKOUT_SILENT, &snap, None);
        assert_eq!(obs.len(), 1);
        let o = &obs[0];
        assert_eq!(o.subject, "Started Checkout");
        assert!(
            o.title.starts_with("No Started Checkout events for 30 h"),
            "{}",
            o.title
        );
        // 5% of ~7,680/day (slightly less: no dilution here, orders steady) × 1.25 days.
        let v = o.value_at_stake.as_ref().map(Money::major).unwrap_or(0.0);
        assert!((v - 0.05 * 7_680.0 * 30.0 / 24.0).abs() < 1.0, "{v}");
        // Orders silence is not reported as a checkout problem.
        assert!(fixtures::run(ORDERS_SILENT, &snap, None).is_empty());
    }

    #[test]
    fn numbers_read_naturally() {
        assert_eq!(fmt_count(24_000.0), "24,000");
        assert_eq!(fmt_count(999.6), "1,000");
        assert_eq!(fmt_count(-672.0), "-672");
        assert_eq!(fmt_count(f64::NAN), "?");
        assert_eq!(fmt_share(0.05), "5%");
        assert_eq!(fmt_share(0.015), "1.5%");
        assert_eq!(fmt_hours(9.02), "9 h");
        assert_eq!(fmt_hours(84.0), "3.5 days");
    }

    #[test]
    fn percentile_uses_nearest_rank() {
        assert_eq!(percentile(&[], 0.99), None);
        assert_eq!(percentile(&[1.0], 0.99), Some(1.0));
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(percentile(&v, 0.99), Some(99.0));
        assert_eq!(percentile(&v, 0.5), Some(50.0));
    }

    #[test]
    fn product_views_silent_for_nine_hours_is_a_priced_warning() {
        let mut snap = fixtures::healthy();
        fixtures::silence(&mut snap, ViewedProduct, NOW - Duration::hours(9));
        let obs = fixtures::run(ONSITE_SILENT, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.track, Track::Now);
        assert_eq!(o.subject, "Viewed Product");
        assert_eq!(
            o.title,
            "No Viewed Product events for 9 h (usually every 1 h)"
        );
        // 150 an hour over 28 days less the 9 silent hours: 3,552 a day.
        assert!(o.why.contains("averages 3,552 a day"), "{}", o.why);
        assert!(o.why.contains("tracking snippet"), "{}", o.why);
        assert_eq!(
            o.began_at,
            Some(NOW - Duration::hours(9) - Duration::minutes(1))
        );
        // Browse abandonment: 2% of 7,680/day × 9 h (and a minute) ÷ 24.
        let v = o.value_at_stake.as_ref().map(Money::major).unwrap_or(0.0);
        assert!((v - 0.02 * 7_680.0 * 9.0 / 24.0).abs() < 0.2, "{v}");
    }

    #[test]
    fn active_on_site_silence_is_reported_without_a_price() {
        let mut snap = fixtures::healthy();
        fixtures::silence(&mut snap, ActiveOnSite, NOW - Duration::hours(12));
        let obs = fixtures::run(ONSITE_SILENT, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(obs[0].subject, "Active on Site");
        assert_eq!(obs[0].value_at_stake, None);
    }

    #[test]
    fn onsite_quiet_within_the_allowance_or_with_orders_silent_is_not_reported() {
        let mut snap = fixtures::healthy();
        fixtures::silence(&mut snap, ViewedProduct, NOW - Duration::hours(5));
        assert!(fixtures::run(ONSITE_SILENT, &snap, None).is_empty());
        // The whole store went quiet: the orders check speaks for it.
        let mut snap = fixtures::healthy();
        fixtures::silence(&mut snap, ViewedProduct, NOW - Duration::hours(9));
        fixtures::silence(&mut snap, ActiveOnSite, NOW - Duration::hours(9));
        fixtures::silence(&mut snap, PlacedOrder, NOW - Duration::hours(9));
        assert!(fixtures::run(ONSITE_SILENT, &snap, None).is_empty());
        assert_eq!(fixtures::run(ORDERS_SILENT, &snap, None).len(), 1);
    }

    fn add_orders_metric(snap: &mut Snapshot, integration: Option<&str>) {
        if let Some(m) = snap.metrics.as_mut() {
            m.push(crate::scan::snapshot::Metric {
                id: "METPO2".into(),
                name: "Placed Order".into(),
                integration: integration.map(str::to_owned),
            });
        }
    }

    #[test]
    fn placed_order_from_two_integrations_is_a_warning() {
        let mut snap = fixtures::healthy();
        add_orders_metric(&mut snap, Some("WooCommerce"));
        let obs = fixtures::run(DUPLICATE_ORDERS, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.subject, "Placed Order");
        assert_eq!(
            o.title,
            "Placed Order comes from 2 integrations: Shopify and WooCommerce"
        );
        assert!(
            o.why.starts_with("The account has 2 Placed Order metrics"),
            "{}",
            o.why
        );
        assert_eq!(o.deep_link, links::integrations());
    }

    #[test]
    fn one_integration_or_an_unnamed_source_is_no_duplicate() {
        for other in [Some(" shopify "), None, Some("")] {
            let mut snap = fixtures::healthy();
            add_orders_metric(&mut snap, other);
            assert!(
                fixtures::run(DUPLICATE_ORDERS, &snap, None).is_empty(),
                "{other:?}"
            );
        }
    }

    fn order_values(snap: &mut Snapshot, events: u32, without_value: u32) {
        snap.order_values = Some(crate::scan::snapshot::OrderValues {
            events,
            without_value,
        });
    }

    #[test]
    fn a_fifth_of_orders_without_value_is_a_warning() {
        let mut snap = fixtures::healthy();
        order_values(&mut snap, 100, 20);
        let obs = fixtures::run(EVENT_VALUE_MISSING, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.track, Track::Now);
        assert_eq!(o.subject, "Placed Order");
        assert_eq!(
            o.title,
            "20% of the newest Placed Order events have no $value"
        );
        assert!(
            o.why
                .starts_with("20 of the 100 newest Placed Order events"),
            "{}",
            o.why
        );
        assert_eq!(o.deep_link, links::integrations());
        assert_eq!(o.value_at_stake, None);
    }

    #[test]
    fn orders_without_value_under_the_line_or_too_few_read_are_quiet() {
        let mut snap = fixtures::healthy();
        order_values(&mut snap, 100, 19);
        assert!(fixtures::run(EVENT_VALUE_MISSING, &snap, None).is_empty());
        // Nine events, all without a value: too few to judge.
        order_values(&mut snap, 9, 9);
        assert!(fixtures::run(EVENT_VALUE_MISSING, &snap, None).is_empty());
        // Ten is enough.
        order_values(&mut snap, 10, 9);
        assert_eq!(fixtures::run(EVENT_VALUE_MISSING, &snap, None).len(), 1);
        // A count that cannot be (more without a value than read) is not evidence.
        order_values(&mut snap, 10, 11);
        assert!(fixtures::run(EVENT_VALUE_MISSING, &snap, None).is_empty());
    }

    #[test]
    fn event_value_override_and_open_finding_move_the_line() {
        let mut snap = fixtures::healthy();
        order_values(&mut snap, 100, 10);
        assert!(fixtures::run(EVENT_VALUE_MISSING, &snap, None).is_empty());
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert(format!("{EVENT_VALUE_MISSING}.share"), 0.1);
        assert_eq!(
            fixtures::run_with(EVENT_VALUE_MISSING, &snap, None, &profile).len(),
            1
        );
        // Open at 20%, now 17%: still over 80% of the line, so it stays open.
        order_values(&mut snap, 100, 17);
        let open: std::collections::HashSet<String> =
            [format!("{EVENT_VALUE_MISSING}/Placed Order")].into();
        let default = fixtures::profile();
        let mut input = fixtures::input(&snap, None, &default);
        input.open = &open;
        let check = crate::checks::find(EVENT_VALUE_MISSING);
        assert_eq!(check.map(|c| (c.run)(&input).len()), Some(1));
        order_values(&mut snap, 100, 15);
        let mut input = fixtures::input(&snap, None, &default);
        input.open = &open;
        assert_eq!(check.map(|c| (c.run)(&input).len()), Some(0));
    }

    fn catalog_updated(snap: &mut Snapshot, at: Option<chrono::DateTime<chrono::Utc>>) {
        if let Some(c) = snap.catalog.as_mut() {
            c.newest_update = at;
        }
    }

    #[test]
    fn a_catalog_unchanged_for_ten_days_while_orders_continue_is_an_opportunity() {
        let mut snap = fixtures::healthy();
        let last = NOW - Duration::days(10);
        catalog_updated(&mut snap, Some(last));
        let obs = fixtures::run(CATALOG_STALE, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Opportunity);
        assert_eq!(o.track, Track::Eventually);
        assert_eq!(o.subject, "catalog");
        assert_eq!(
            o.title,
            "Catalog not updated for 10.0 days while orders continue"
        );
        // 4 orders an hour for 7 days.
        assert!(o.why.contains("took 672 orders"), "{}", o.why);
        assert_eq!(o.began_at, Some(last));
        assert_eq!(o.deep_link, links::catalog());
        assert_eq!(o.value_at_stake, None);
    }

    #[test]
    fn a_catalog_inside_the_window_or_without_orders_is_quiet() {
        let mut snap = fixtures::healthy();
        catalog_updated(&mut snap, Some(NOW - Duration::days(7)));
        assert!(fixtures::run(CATALOG_STALE, &snap, None).is_empty());
        catalog_updated(
            &mut snap,
            Some(NOW - Duration::days(7) - Duration::minutes(1)),
        );
        assert_eq!(fixtures::run(CATALOG_STALE, &snap, None).len(), 1);
        // No orders in the last week: nothing sells on stale products.
        fixtures::silence(&mut snap, PlacedOrder, NOW - Duration::days(8));
        assert!(fixtures::run(CATALOG_STALE, &snap, None).is_empty());
        // An empty catalog, or one without update times, cannot be stale.
        let mut snap = fixtures::healthy();
        catalog_updated(&mut snap, None);
        assert!(fixtures::run(CATALOG_STALE, &snap, None).is_empty());
        let mut snap = fixtures::healthy();
        snap.catalog = Some(crate::scan::snapshot::Catalog {
            items: 0,
            newest_update: Some(NOW - Duration::days(90)),
        });
        assert!(fixtures::run(CATALOG_STALE, &snap, None).is_empty());
    }

    #[test]
    fn catalog_override_lengthens_the_window() {
        let mut snap = fixtures::healthy();
        catalog_updated(&mut snap, Some(NOW - Duration::days(10)));
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert(format!("{CATALOG_STALE}.days"), 14.0);
        assert!(fixtures::run_with(CATALOG_STALE, &snap, None, &profile).is_empty());
        catalog_updated(&mut snap, Some(NOW - Duration::days(15)));
        assert_eq!(
            fixtures::run_with(CATALOG_STALE, &snap, None, &profile).len(),
            1
        );
    }
}
