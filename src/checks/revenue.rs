//! Checks: revenue and performance anomalies.
//!
//! Read from the flow series report (attributed revenue per flow and day, 56
//! full days), the campaign values report and the hourly Placed Order activity.
//! Days are the series' UTC days; only whole days count (a partial today is
//! left out), so "this week" is the last 7 full days.
//!
//! - `revenue-flow-drop` sums attributed revenue over every flow in the series
//!   (live or not: what was earned was earned) and compares this week with
//!   the median of the (up to) 7 weeks before it; at least 4 whole prior weeks
//!   are needed. Value at stake: the gap to that median. The flow list only
//!   names the flow that fell most; it is not needed.
//! - `revenue-attribution-zero` looks for a run of full days, ending with the
//!   last one, in which the flows attributed nothing while Placed Order kept
//!   coming. Campaigns are kept simple: the campaign report has no per-day
//!   figures, so a campaign *sent* in the run with attributed revenue shows
//!   attribution still works and keeps the check quiet; revenue that earlier
//!   campaigns earn during the run cannot be placed and is not looked at. When
//!   campaigns or their report were not fetched, flows alone decide (the
//!   observation says so). Only an account whose flows attributed revenue in
//!   the 28 days before the run is judged: zero is otherwise its normal. Value
//!   at stake: that baseline flow revenue a day × days at zero (flows only, so
//!   a floor).
//! - `revenue-aov-shift` compares average order value (Placed Order `$value` ÷
//!   count) over the last 7 days with the 21 days before, either way. Unpriced.
//!
//! Per-client overrides (`ClientProfile::thresholds`):
//! `revenue-flow-drop.drop` (default 0.4: this week this far below the median
//! week), `revenue-flow-drop.min_weekly` (500: median weekly flow revenue below
//! which a drop is noise), `revenue-attribution-zero.days` (3: full days at
//! zero), `revenue-attribution-zero.orders_per_day` (10: mean orders a day over
//! the last of those days), `revenue-aov-shift.shift` (0.3: relative move
//! either way), `revenue-aov-shift.min_orders` (20: orders needed in each
//! window for an average to mean anything).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::flows::{SERIES_BASELINE_DAYS, fmt_day, full_days};
use super::integrations::{fmt_count, fmt_share};
use super::{Cadence, Check, CheckInput, HYSTERESIS, Observation, links};
use crate::domain::{Money, Severity, Track};
use crate::scan::snapshot::{Activity, FlowSeries, KnownMetric, Part};

/// The revenue checks, in catalogue order.
pub const CHECKS: &[Check] = &[
    Check {
        id: FLOW_DROP,
        family: "revenue",
        summary: "Flow-attributed revenue this week far below the median week of the 7 before",
        threshold: "≥ 40% below the median, median ≥ 500/week",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::FlowSeries],
        run: flow_drop,
    },
    Check {
        id: ATTRIBUTION_ZERO,
        family: "revenue",
        summary: "Orders continue but Klaviyo attributes no revenue to flows (or campaigns sent then)",
        threshold: "0 for 3 full days with orders ≥ 10/day",
        default_severity: Severity::Critical,
        track: Track::Now,
        cadence: Cadence::Full,
        // Campaigns and their report are read when present (see the module doc).
        needs: &[Part::FlowSeries, Part::Activity],
        run: attribution_zero,
    },
    Check {
        id: AOV_SHIFT,
        family: "revenue",
        summary: "Average order value moved sharply (often a currency or integration change)",
        threshold: "last 7 days vs the 21 before, ≥ 30% either way, ≥ 20 orders each",
        default_severity: Severity::Opportunity,
        track: Track::Eventually,
        cadence: Cadence::Full,
        needs: &[Part::Activity],
        run: aov_shift,
    },
];

const FLOW_DROP: &str = "revenue-flow-drop";
const ATTRIBUTION_ZERO: &str = "revenue-attribution-zero";
const AOV_SHIFT: &str = "revenue-aov-shift";

/// Weeks before this one that `revenue-flow-drop` takes the median of.
const PRIOR_WEEKS: usize = 7;
/// Fewest whole prior weeks for a median.
const MIN_PRIOR_WEEKS: usize = 4;
/// Under a cent a day counts as nothing attributed.
const ZERO: f64 = 0.005;
/// Slack on ratio lines, so a value exactly on a line counts as reaching it.
const EPSILON: f64 = 1e-9;

/// Attributed revenue per full day summed over `series`, keyed by day start.
/// A non-finite figure makes its day's total non-finite, so callers can drop it.
fn daily_totals(series: &[FlowSeries], now: DateTime<Utc>) -> BTreeMap<DateTime<Utc>, f64> {
    let mut by_day: BTreeMap<DateTime<Utc>, f64> = BTreeMap::new();
    for s in series {
        let n = full_days(s.conversion_value.len(), s.start, now);
        for (i, v) in s.conversion_value.iter().take(n).enumerate() {
            let Ok(i) = i32::try_from(i) else { break };
            *by_day.entry(s.start + FlowSeries::DAY * i).or_default() += v;
        }
    }
    by_day
}

/// Sum of the 7 days ending `weeks_back` weeks before `last` (inclusive);
/// `None` when a day is missing or malformed.
fn week_total(
    by_day: &BTreeMap<DateTime<Utc>, f64>,
    last: DateTime<Utc>,
    weeks_back: i64,
) -> Option<f64> {
    (0..7)
        .map(|d| {
            by_day
                .get(&(last - Duration::days(7 * weeks_back + d)))
                .copied()
                .filter(|v| v.is_finite())
        })
        .sum()
}

/// Median of unsorted values (mean of the middle two for an even count).
fn median(values: &[f64]) -> Option<f64> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => v.get(n / 2).copied(),
        _ => Some((v.get(n / 2 - 1)? + v.get(n / 2)?) / 2.0),
    }
}

/// The line a check judges against: lowered while its finding is open (hysteresis).
fn line(input: &CheckInput<'_>, id: &str, subject: &str, threshold: f64) -> f64 {
    if input.is_open(id, subject) {
        threshold * HYSTERESIS
    } else {
        threshold
    }
}

/// The flow whose revenue fell most this week against its own median week, with the fall.
fn steepest_fall(
    series: &[FlowSeries],
    now: DateTime<Utc>,
    last: DateTime<Utc>,
) -> Option<(&str, f64)> {
    series
        .iter()
        .filter_map(|s| {
            let own = daily_totals(std::slice::from_ref(s), now);
            let this = week_total(&own, last, 0)?;
            let prior: Vec<f64> = (1..=PRIOR_WEEKS as i64)
                .filter_map(|k| week_total(&own, last, k))
                .collect();
            let fall = median(&prior)? - this;
            (fall.is_finite() && fall > 0.0).then_some((s.flow_id.as_str(), fall))
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
}

fn flow_drop(input: &CheckInput<'_>) -> Vec<Observation> {
    let Some(series) = input.snapshot.flow_series.as_deref() else {
        return Vec::new();
    };
    let p = input.profile;
    let drop = p.threshold(&format!("{FLOW_DROP}.drop"), 0.4);
    let min_weekly = p.threshold(&format!("{FLOW_DROP}.min_weekly"), 500.0);
    let by_day = daily_totals(series, input.now);
    let Some(last) = by_day.keys().next_back().copied() else {
        return Vec::new();
    };
    let Some(this) = week_total(&by_day, last, 0) else {
        return Vec::new();
    };
    let prior: Vec<f64> = (1..=PRIOR_WEEKS as i64)
        .filter_map(|k| week_total(&by_day, last, k))
        .collect();
    if prior.len() < MIN_PRIOR_WEEKS {
        return Vec::new();
    }
    let Some(typical) = median(&prior) else {
        return Vec::new();
    };
    if !(typical.is_finite() && typical >= min_weekly && typical > 0.0) {
        return Vec::new();
    }
    let subject = "flows";
    let line = line(input, FLOW_DROP, subject, drop);
    let fall = 1.0 - this / typical;
    if fall + EPSILON < line {
        return Vec::new();
    }
    let week_start = last - Duration::days(6);
    // The first day of the week below the line's daily share of the median week.
    let began = (0..7)
        .map(|d| week_start + Duration::days(d))
        .find(|d| {
            by_day
                .get(d)
                .is_some_and(|v| *v < typical / 7.0 * (1.0 - line))
        })
        .unwrap_or(week_start);
    let currency = &input.profile.currency;
    let gap = typical - this;
    let steepest = steepest_fall(series, input.now, last);
    let named = steepest
        .map(|(id, fall)| {
            let name = input
                .snapshot
                .flows
                .iter()
                .flatten()
                .find(|f| f.id == id)
                .map(|f| format!("\"{}\"", f.name))
                .unwrap_or_else(|| format!("flow {id}"));
            format!(
                " The biggest fall is in {name}, {} below its own median week.",
                Money::from_major(fall, currency)
            )
        })
        .unwrap_or_default();
    vec![Observation {
        check: FLOW_DROP.to_owned(),
        subject: subject.to_owned(),
        severity: Severity::Warning,
        track: Track::Now,
        title: format!(
            "Flow revenue down {} this week: {} vs a median {}",
            fmt_share(fall),
            Money::from_major(this, currency),
            Money::from_major(typical, currency)
        ),
        why: format!(
            "Flows attributed {} from {} to {} UTC against a median of {} a week over the {} \
             weeks before (line: {} lower, from a median of at least {}).{named} Check that the \
             flows are live and sending, their triggers still fire, and orders still carry \
             attribution.",
            Money::from_major(this, currency),
            fmt_day(week_start),
            fmt_day(last),
            Money::from_major(typical, currency),
            prior.len(),
            fmt_share(drop),
            Money::from_major(min_weekly, currency),
        ),
        deep_link: steepest
            .map(|(id, _)| links::flow(id))
            .unwrap_or_else(links::integrations),
        value_at_stake: (gap > 0.0).then(|| Money::from_major(gap, currency)),
        began_at: Some(began),
    }]
}

/// Whether a campaign sent in `[from, to)` earned attributed revenue, when
/// campaigns and their report were fetched.
fn campaign_earned(input: &CheckInput<'_>, from: DateTime<Utc>, to: DateTime<Utc>) -> Option<bool> {
    let campaigns = input.snapshot.campaigns.as_ref()?;
    let report = input.snapshot.campaign_report.as_ref()?;
    Some(
        campaigns
            .iter()
            .filter(|c| c.send_time.is_some_and(|t| t >= from && t < to))
            .any(|c| {
                report
                    .iter()
                    .any(|r| r.campaign_id == c.id && r.conversion_value > ZERO)
            }),
    )
}

fn attribution_zero(input: &CheckInput<'_>) -> Vec<Observation> {
    let Some(series) = input.snapshot.flow_series.as_deref() else {
        return Vec::new();
    };
    let p = input.profile;
    let min_days = p
        .threshold(&format!("{ATTRIBUTION_ZERO}.days"), 3.0)
        .max(1.0);
    let orders_line = p.threshold(&format!("{ATTRIBUTION_ZERO}.orders_per_day"), 10.0);
    if !min_days.is_finite() {
        return Vec::new();
    }
    let by_day = daily_totals(series, input.now);
    let Some(last) = by_day.keys().next_back().copied() else {
        return Vec::new();
    };
    // The run of days at zero ending with the last full day.
    let mut first = last;
    let mut days = 0i64;
    while by_day
        .get(&first)
        .is_some_and(|v| v.is_finite() && v.abs() < ZERO)
    {
        days += 1;
        first -= Duration::days(1);
    }
    let run_start = first + Duration::days(1);
    let end = last + Duration::days(1);
    if (days as f64) < min_days {
        return Vec::new();
    }
    // Orders over the last `min_days` days of the run, where the activity covers them.
    let Some(orders) = input.snapshot.activity_of(KnownMetric::PlacedOrder) else {
        return Vec::new();
    };
    let judged_days = min_days.ceil();
    let judged_from = end - Duration::days(judged_days as i64);
    if orders.start > judged_from || orders.end() < end {
        return Vec::new();
    }
    let count = orders.count_between(judged_from, end);
    let per_day = count / judged_days;
    if per_day.is_nan() || per_day < orders_line {
        return Vec::new();
    }
    // Attribution worked before: flows earned in the 28 days before the run.
    let before: Vec<f64> = (1..=SERIES_BASELINE_DAYS as i64)
        .filter_map(|d| by_day.get(&(run_start - Duration::days(d))).copied())
        .filter(|v| v.is_finite())
        .collect();
    let baseline = before.iter().sum::<f64>() / before.len().max(1) as f64;
    if !(baseline.is_finite() && baseline >= ZERO) {
        return Vec::new();
    }
    let campaigns = campaign_earned(input, run_start, end);
    if campaigns == Some(true) {
        return Vec::new();
    }
    let campaign_words = match campaigns {
        Some(_) => "No campaign sent in those days earned any either.",
        None => "Campaign revenue was not read this scan, so flows alone decide.",
    };
    let currency = &input.profile.currency;
    let value = baseline * days as f64;
    vec![Observation {
        check: ATTRIBUTION_ZERO.to_owned(),
        subject: "account".to_owned(),
        severity: Severity::Critical,
        track: Track::Now,
        title: format!("No revenue attributed to flows for {days} days while orders continue"),
        why: format!(
            "Flows attributed nothing from {} to {} UTC ({days} full days; about {} a day in the \
             {} days before), while the store took {} orders ({} a day over the last {} days; \
             line: at least {}). {campaign_words} Orders that stop carrying attribution usually \
             mean a new or reconnected integration (a second Placed Order metric), `$value` \
             missing on orders, or broken onsite tracking: check the store integration and \
             recent Placed Order events.",
            fmt_day(run_start),
            fmt_day(last),
            Money::from_major(baseline, currency),
            before.len(),
            fmt_count(count),
            fmt_count(per_day),
            judged_days,
            fmt_count(orders_line),
        ),
        deep_link: links::metric(&orders.metric_id),
        value_at_stake: (value > 0.0).then(|| Money::from_major(value, currency)),
        began_at: Some(run_start),
    }]
}

/// Placed Order `(count, $value)` over buckets starting in `[from, to)`.
fn orders_between(a: &Activity, from: DateTime<Utc>, to: DateTime<Utc>) -> (f64, f64) {
    a.iter()
        .filter(|(t, _, _)| *t >= from && *t < to)
        .fold((0.0, 0.0), |(c, v), (_, bc, bv)| (c + bc, v + bv))
}

fn aov_shift(input: &CheckInput<'_>) -> Vec<Observation> {
    let p = input.profile;
    let shift_line = p.threshold(&format!("{AOV_SHIFT}.shift"), 0.3);
    let min_orders = p
        .threshold(&format!("{AOV_SHIFT}.min_orders"), 20.0)
        .max(1.0);
    let Some(a) = input.snapshot.activity_of(KnownMetric::PlacedOrder) else {
        return Vec::new();
    };
    let split = input.now - Duration::days(7);
    let from = input.now - Duration::days(28);
    let (recent_n, recent_v) = orders_between(a, split, input.now);
    let (base_n, base_v) = orders_between(a, from, split);
    // Written so NaN counts fail: too few orders (or malformed ones) say nothing.
    if !(recent_n >= min_orders && base_n >= min_orders) {
        return Vec::new();
    }
    let (recent, base) = (recent_v / recent_n, base_v / base_n);
    // An average of zero means `$value` is missing, which integration-event-value-missing owns.
    if !(recent.is_finite() && base.is_finite() && recent > 0.0 && base > 0.0) {
        return Vec::new();
    }
    let shift = recent / base - 1.0;
    let subject = KnownMetric::PlacedOrder.klaviyo_name();
    let line = line(input, AOV_SHIFT, subject, shift_line);
    if shift.abs() + EPSILON < line {
        return Vec::new();
    }
    // The first day of the last seven whose own average is past the line.
    let began = (0..7)
        .map(|d| split + Duration::days(d))
        .find(|d| {
            let (n, v) = orders_between(a, *d, *d + Duration::days(1));
            n > 0.0 && ((v / n) / base - 1.0).abs() + EPSILON >= line
        })
        .unwrap_or(split);
    let currency = &input.profile.currency;
    let direction = if shift > 0.0 { "up" } else { "down" };
    vec![Observation {
        check: AOV_SHIFT.to_owned(),
        subject: subject.to_owned(),
        severity: Severity::Opportunity,
        track: Track::Eventually,
        title: format!(
            "Average order value {direction} {} in 7 days: {} vs {}",
            fmt_share(shift.abs()),
            Money::from_major(recent, currency),
            Money::from_major(base, currency)
        ),
        why: format!(
            "Orders in the last 7 days averaged {} ({} orders) against {} over the 21 days \
             before ({} orders; line: a {} move either way). A jump like this is often a \
             currency or integration change (values sent in another currency, tax or shipping \
             now included, a second store connected) rather than shoppers: check recent Placed \
             Order events' `$value`. If it is real (new prices, a big promotion), revenue \
             benchmarks move with it.",
            Money::from_major(recent, currency),
            fmt_count(recent_n),
            Money::from_major(base, currency),
            fmt_count(base_n),
            fmt_share(shift_line),
        ),
        deep_link: links::metric(&a.metric_id),
        value_at_stake: None,
        began_at: Some(began),
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self, ABANDONED_CHECKOUT, LAST_SENT, NOW};
    use crate::scan::snapshot::Snapshot;

    fn major(o: &Observation) -> f64 {
        o.value_at_stake.as_ref().map(Money::major).unwrap_or(-1.0)
    }

    fn day(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        use chrono::TimeZone;
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0)
            .single()
            .unwrap_or_else(|| panic!("valid date"))
    }

    /// Rewrites the attributed revenue of the last `days` full days of every
    /// flow (or only `only`) with `f(healthy value)`.
    fn last_days_revenue(
        s: &mut Snapshot,
        only: Option<&str>,
        days: usize,
        f: impl Fn(f64) -> f64,
    ) {
        for series in s.flow_series.iter_mut().flatten() {
            if only.is_some_and(|id| id != series.flow_id) {
                continue;
            }
            let from = series.conversion_value.len() - days;
            series.conversion_value[from..]
                .iter_mut()
                .for_each(|v| *v = f(*v));
        }
    }

    #[test]
    fn a_week_of_flow_revenue_half_the_median_is_a_warning() {
        let mut snap = fixtures::healthy();
        assert!(fixtures::run(FLOW_DROP, &snap, None).is_empty());
        last_days_revenue(&mut snap, Some(ABANDONED_CHECKOUT), 7, |_| 0.0);
        let obs = fixtures::run(FLOW_DROP, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.track, Track::Now);
        assert_eq!(o.subject, "flows");
        // 1,800 a day across four flows: 12,600 a week, 6,300 without checkout.
        assert_eq!(
            o.title,
            "Flow revenue down 50% this week: $6,300 vs a median $12,600"
        );
        assert!(
            o.why.contains("from 2025-03-03 to 2025-03-09 UTC"),
            "{}",
            o.why
        );
        assert!(o.why.contains("over the 7 weeks before"), "{}", o.why);
        assert!(
            o.why
                .contains("biggest fall is in \"Abandoned Checkout\", $6,300"),
            "{}",
            o.why
        );
        assert_eq!(o.deep_link, links::flow(ABANDONED_CHECKOUT));
        assert_eq!(major(o), 6_300.0);
        assert_eq!(o.began_at, Some(day(2025, 3, 3)));
    }

    #[test]
    fn flow_revenue_just_above_the_line_is_quiet() {
        let mut snap = fixtures::healthy();
        last_days_revenue(&mut snap, None, 7, |v| v * 0.61);
        assert!(fixtures::run(FLOW_DROP, &snap, None).is_empty());
        let mut snap = fixtures::healthy();
        last_days_revenue(&mut snap, None, 7, |v| v * 0.6);
        assert_eq!(fixtures::run(FLOW_DROP, &snap, None).len(), 1);
        // The client tolerates a 50% dip.
        let mut profile = fixtures::profile();
        profile.thresholds.insert(format!("{FLOW_DROP}.drop"), 0.5);
        assert!(fixtures::run_with(FLOW_DROP, &snap, None, &profile).is_empty());
    }

    #[test]
    fn a_drop_that_began_mid_week_dates_from_its_first_low_day() {
        let mut snap = fixtures::healthy();
        last_days_revenue(&mut snap, None, 4, |_| 0.0);
        let obs = fixtures::run(FLOW_DROP, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(obs[0].began_at, Some(day(2025, 3, 6)));
        assert_eq!(major(&obs[0]), 12_600.0 - 3.0 * 1_800.0);
    }

    #[test]
    fn small_or_short_flow_revenue_is_not_judged() {
        // 70 a week in all: under the $500 median.
        let mut snap = fixtures::healthy();
        last_days_revenue(&mut snap, None, fixtures::SERIES_DAYS, |_| 2.5);
        last_days_revenue(&mut snap, None, 7, |_| 0.0);
        assert!(fixtures::run(FLOW_DROP, &snap, None).is_empty());
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert(format!("{FLOW_DROP}.min_weekly"), 50.0);
        assert_eq!(
            fixtures::run_with(FLOW_DROP, &snap, None, &profile).len(),
            1
        );
        // Four weeks of history: three prior weeks are too few for a median.
        let mut snap = fixtures::healthy();
        for s in snap.flow_series.iter_mut().flatten() {
            let cut = s.conversion_value.len() - 28;
            s.start += FlowSeries::DAY * cut as i32;
            s.conversion_value.drain(..cut);
        }
        last_days_revenue(&mut snap, None, 7, |_| 0.0);
        assert!(fixtures::run(FLOW_DROP, &snap, None).is_empty());
    }

    #[test]
    fn an_open_drop_holds_until_revenue_is_clearly_back() {
        let mut snap = fixtures::healthy();
        last_days_revenue(&mut snap, None, 7, |v| v * 0.65);
        assert!(fixtures::run(FLOW_DROP, &snap, None).is_empty());
        let open: std::collections::HashSet<String> = [format!("{FLOW_DROP}/flows")].into();
        let profile = fixtures::profile();
        let mut input = fixtures::input(&snap, None, &profile);
        input.open = &open;
        assert_eq!(flow_drop(&input).len(), 1);
    }

    /// Zero flow revenue for the last `days` days, and the newest campaign earning nothing.
    fn attribution_broken(days: usize) -> Snapshot {
        let mut snap = fixtures::healthy();
        last_days_revenue(&mut snap, None, days, |_| 0.0);
        for c in snap.campaign_report.iter_mut().flatten() {
            if c.campaign_id == LAST_SENT {
                c.conversion_value = 0.0;
            }
        }
        snap
    }

    #[test]
    fn three_days_without_attribution_while_orders_continue_is_critical() {
        let snap = attribution_broken(3);
        let obs = fixtures::run(ATTRIBUTION_ZERO, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Critical);
        assert_eq!(o.track, Track::Now);
        assert_eq!(o.subject, "account");
        assert_eq!(
            o.title,
            "No revenue attributed to flows for 3 days while orders continue"
        );
        // 4 orders an hour: 288 over the three days.
        assert!(
            o.why
                .contains("from 2025-03-07 to 2025-03-09 UTC (3 full days; about $1,800 a day"),
            "{}",
            o.why
        );
        assert!(o.why.contains("took 288 orders (96 a day"), "{}", o.why);
        assert!(
            o.why.contains("No campaign sent in those days"),
            "{}",
            o.why
        );
        assert_eq!(o.began_at, Some(day(2025, 3, 7)));
        assert_eq!(
            o.deep_link,
            links::metric(&fixtures::metric_id(KnownMetric::PlacedOrder))
        );
        assert_eq!(major(o), 3.0 * 1_800.0);
    }

    #[test]
    fn two_days_at_zero_or_a_campaign_that_earned_is_quiet() {
        let snap = attribution_broken(2);
        assert!(fixtures::run(ATTRIBUTION_ZERO, &snap, None).is_empty());
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert(format!("{ATTRIBUTION_ZERO}.days"), 2.0);
        assert_eq!(
            fixtures::run_with(ATTRIBUTION_ZERO, &snap, None, &profile).len(),
            1
        );
        // The newsletter sent on 2025-03-07 earned 3,200: attribution works.
        let mut snap = fixtures::healthy();
        last_days_revenue(&mut snap, None, 3, |_| 0.0);
        assert!(fixtures::run(ATTRIBUTION_ZERO, &snap, None).is_empty());
        // Without the campaign report, flows alone decide, and it says so.
        snap.campaign_report = None;
        let obs = fixtures::run(ATTRIBUTION_ZERO, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert!(obs[0].why.contains("not read this scan"), "{}", obs[0].why);
    }

    #[test]
    fn few_orders_or_no_attribution_ever_is_not_a_breakage() {
        // 9.6 orders a day: under the line.
        let mut snap = attribution_broken(3);
        fixtures::map_hourly(&mut snap, KnownMetric::PlacedOrder, |i, _| {
            if i % 5 == 0 { 2.0 } else { 0.0 }
        });
        assert!(fixtures::run(ATTRIBUTION_ZERO, &snap, None).is_empty());
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert(format!("{ATTRIBUTION_ZERO}.orders_per_day"), 9.0);
        assert_eq!(
            fixtures::run_with(ATTRIBUTION_ZERO, &snap, None, &profile).len(),
            1
        );
        // Flows never earned anything: zero is this account's normal.
        let snap = attribution_broken(fixtures::SERIES_DAYS);
        assert!(fixtures::run(ATTRIBUTION_ZERO, &snap, None).is_empty());
    }

    /// Multiplies the `$value` of Placed Order in the last `hours` hours by `factor`.
    fn scale_order_values(s: &mut Snapshot, hours: usize, factor: f64) {
        let a = s
            .activity
            .as_mut()
            .and_then(|a| a.get_mut(&KnownMetric::PlacedOrder))
            .unwrap_or_else(|| panic!("orders"));
        let from = a.values.len() - hours;
        a.values[from..].iter_mut().for_each(|v| *v *= factor);
    }

    #[test]
    fn order_value_up_half_in_a_week_is_an_opportunity() {
        let mut snap = fixtures::healthy();
        assert!(fixtures::run(AOV_SHIFT, &snap, None).is_empty());
        scale_order_values(&mut snap, 7 * 24, 1.5);
        let obs = fixtures::run(AOV_SHIFT, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Opportunity);
        assert_eq!(o.track, Track::Eventually);
        assert_eq!(o.subject, "Placed Order");
        assert_eq!(o.title, "Average order value up 50% in 7 days: $120 vs $80");
        assert!(o.why.contains("$120 (672 orders) against $80"), "{}", o.why);
        assert!(o.why.contains("(2,016 orders;"), "{}", o.why);
        assert_eq!(o.began_at, Some(NOW - Duration::days(7)));
        assert_eq!(o.value_at_stake, None);
        assert_eq!(
            o.deep_link,
            links::metric(&fixtures::metric_id(KnownMetric::PlacedOrder))
        );
    }

    #[test]
    fn order_value_moves_are_judged_either_way_at_the_line() {
        let mut snap = fixtures::healthy();
        scale_order_values(&mut snap, 7 * 24, 1.29);
        assert!(fixtures::run(AOV_SHIFT, &snap, None).is_empty());
        let mut snap = fixtures::healthy();
        scale_order_values(&mut snap, 7 * 24, 1.3);
        assert_eq!(fixtures::run(AOV_SHIFT, &snap, None).len(), 1);
        let mut snap = fixtures::healthy();
        scale_order_values(&mut snap, 7 * 24, 0.6);
        let obs = fixtures::run(AOV_SHIFT, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert!(
            obs[0].title.starts_with("Average order value down 40%"),
            "{}",
            obs[0].title
        );
        let mut profile = fixtures::profile();
        profile.thresholds.insert(format!("{AOV_SHIFT}.shift"), 0.5);
        assert!(fixtures::run_with(AOV_SHIFT, &snap, None, &profile).is_empty());
    }

    #[test]
    fn a_shift_in_the_last_days_dates_from_its_first_day_and_needs_orders() {
        let mut snap = fixtures::healthy();
        scale_order_values(&mut snap, 3 * 24, 2.0);
        let obs = fixtures::run(AOV_SHIFT, &snap, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(obs[0].began_at, Some(NOW - Duration::days(3)));
        // Fewer orders than the client's minimum: an average says nothing.
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert(format!("{AOV_SHIFT}.min_orders"), 1_000.0);
        assert!(fixtures::run_with(AOV_SHIFT, &snap, None, &profile).is_empty());
        // Orders without `$value` are the event-value check's business.
        let mut snap = fixtures::healthy();
        scale_order_values(&mut snap, 7 * 24, 0.0);
        assert!(fixtures::run(AOV_SHIFT, &snap, None).is_empty());
    }
}
