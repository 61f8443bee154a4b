//! Checks: email deliverability (bounce, spam complaint and unsubscribe rates).
//!
//! Rates are events over Received Email in the last 24 hourly buckets, judged
//! only when at least 200 emails were received (below that one bounce swings the
//! rate by half a percent). Lines are Klaviyo's own ranges (CHECKS.md), in
//! percent. Per-client overrides, for each check id: `<id>.warning` and
//! `<id>.critical` (percent, e.g. `deliv-bounce-rate.warning = 1.0`) and
//! `<id>.min_received` (default 200).
//!
//! Value at stake (bounce and spam only), kept deliberately simple:
//! `revenue per recipient × recipients in the next 30 days × over-line fraction`,
//! where revenue per recipient = 28-day Placed Order value ÷ 28-day Received
//! Email, recipients = 30 × the 28-day daily Received Email, and the over-line
//! fraction = rate − warning line (as a fraction of recipients): the extra share
//! of mail that bounces or complains beyond the acceptable level if the rate
//! holds for a month. Conservative on purpose (it ignores wider inbox filtering),
//! so the dollar figure in renewal reports is one a client will believe.

use chrono::{DateTime, Duration, Utc};

use super::integrations::{daily_count, daily_value, fmt_count};
use super::{Cadence, Check, CheckInput, Observation, links};
use crate::domain::{Money, Severity, Track};
use crate::scan::snapshot::{KnownMetric, Part};

/// The checks of this family.
pub const CHECKS: &[Check] = &[
    Check {
        id: BOUNCE.id,
        family: "deliverability",
        summary: "Bounce rate over the last 24 h at or above 0.8% (critical at 1.5%)",
        threshold: "≥ 0.8% warning, ≥ 1.5% critical",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::Activity],
        run: bounce_rate,
    },
    Check {
        id: SPAM.id,
        family: "deliverability",
        summary: "Spam complaint rate over the last 24 h at or above 0.08% (critical at 0.15%)",
        threshold: "≥ 0.08% warning, ≥ 0.15% critical",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::Activity],
        run: spam_rate,
    },
    Check {
        id: UNSUBSCRIBE.id,
        family: "deliverability",
        summary: "Unsubscribe rate over the last 24 h at or above 0.3%",
        threshold: "≥ 0.3%",
        default_severity: Severity::Warning,
        track: Track::Eventually,
        cadence: Cadence::Full,
        needs: &[Part::Activity],
        run: unsubscribe_rate,
    },
];

/// One rate check's definition.
struct RateRule {
    id: &'static str,
    metric: KnownMetric,
    /// Words for titles, e.g. `Bounce rate`.
    name: &'static str,
    warning_pct: f64,
    critical_pct: f64,
    /// Severity at or above the critical line.
    critical_severity: Severity,
    track: Track,
    /// Whether a value at stake is computed.
    priced: bool,
    /// What to do, one sentence.
    advice: &'static str,
}

const BOUNCE: RateRule = RateRule {
    id: "deliv-bounce-rate",
    metric: KnownMetric::BouncedEmail,
    name: "Bounce rate",
    warning_pct: 0.8,
    critical_pct: 1.5,
    critical_severity: Severity::Critical,
    track: Track::Now,
    priced: true,
    advice: "Look for a recent import or an old segment in the last sends, suppress the \
             bounced addresses and pause sends to that audience.",
};

const SPAM: RateRule = RateRule {
    id: "deliv-spam-rate",
    metric: KnownMetric::MarkedEmailAsSpam,
    name: "Spam complaint rate",
    warning_pct: 0.08,
    critical_pct: 0.15,
    critical_severity: Severity::Critical,
    track: Track::Now,
    priced: true,
    advice: "Gmail and Yahoo filter senders above 0.3%: send only to engaged segments \
             and check the latest campaigns' audiences and frequency.",
};

const UNSUBSCRIBE: RateRule = RateRule {
    id: "deliv-unsubscribe-rate",
    metric: KnownMetric::Unsubscribed,
    name: "Unsubscribe rate",
    warning_pct: 0.3,
    critical_pct: 0.7,
    // Unsubscribes cost list size, not deliverability today: never paged.
    critical_severity: Severity::Warning,
    track: Track::Eventually,
    priced: false,
    advice: "Review send frequency and targeting of the latest campaigns.",
};

/// Minimum Received Email in the window before a rate means anything.
const MIN_RECEIVED: f64 = 200.0;

/// Float noise allowance so a rate exactly on a line counts as on it.
const EPSILON_PCT: f64 = 1e-9;

/// Days of future sends the value at stake covers.
const HORIZON_DAYS: f64 = 30.0;

fn bounce_rate(input: &CheckInput<'_>) -> Vec<Observation> {
    evaluate(input, &BOUNCE)
}

fn spam_rate(input: &CheckInput<'_>) -> Vec<Observation> {
    evaluate(input, &SPAM)
}

fn unsubscribe_rate(input: &CheckInput<'_>) -> Vec<Observation> {
    evaluate(input, &UNSUBSCRIBE)
}

/// `0.8%`, `0.08%`, `0.15%`, `2.4%`: two decimals below 1%, trailing zeros dropped.
fn fmt_pct(p: f64) -> String {
    if p >= 1.0 {
        format!("{p:.1}%")
    } else {
        let s = format!("{p:.2}");
        format!("{}%", s.trim_end_matches('0').trim_end_matches('.'))
    }
}

/// Rates are judged for the account's email as a whole.
const SUBJECT: &str = "email";

fn evaluate(input: &CheckInput<'_>, rule: &RateRule) -> Vec<Observation> {
    let p = input.profile;
    let warning = p.threshold(&format!("{}.warning", rule.id), rule.warning_pct);
    let critical = p.threshold(&format!("{}.critical", rule.id), rule.critical_pct);
    let min_received = p.threshold(&format!("{}.min_received", rule.id), MIN_RECEIVED);

    let Some(received) = input.snapshot.activity_of(KnownMetric::ReceivedEmail) else {
        return Vec::new();
    };
    // A metric absent from the activity does not exist in the account: zero events.
    let events = input.snapshot.activity_of(rule.metric);
    let since = input.now - Duration::hours(24);
    let total_received = received.count_between(since, input.now);
    // Written so NaN counts (malformed aggregates) fail the test and stay quiet.
    if !(total_received >= min_received && total_received > 0.0) {
        return Vec::new();
    }
    let total_events = events.map_or(0.0, |a| a.count_between(since, input.now));
    let pct = 100.0 * total_events / total_received;
    // An open finding holds until the rate is clearly back under the line.
    let line = if input.is_open(rule.id, SUBJECT) {
        warning * super::HYSTERESIS
    } else {
        warning
    };
    if !pct.is_finite() || pct + EPSILON_PCT < line {
        return Vec::new();
    }
    let severity = if pct + EPSILON_PCT >= critical {
        rule.critical_severity
    } else {
        Severity::Warning
    };

    /// Fewest sends in an hour for that hour's rate to count.
    const MIN_HOURLY_SENDS: f64 = 50.0;
    /// Fewest events in an hour for that hour to count as over the line.
    const MIN_HOURLY_EVENTS: f64 = 3.0;
    // The problem began where the current run of over-the-line hours began:
    // walk back from now over hours that had sends and stop at the first one
    // under the line, so an isolated noisy night hour does not backdate it.
    let began_at: Option<DateTime<Utc>> = events.and_then(|ev| {
        let hours: Vec<(DateTime<Utc>, f64)> = received
            .iter()
            // Hours with few sends say nothing about a rate: one bounce out of
            // ten is 10%. Skip them rather than let them start or stop a run.
            .filter(|(t, r, _)| *t >= since && *t < input.now && *r >= MIN_HOURLY_SENDS)
            .map(|(t, r, _)| (t, r))
            .collect();
        let mut start = None;
        for (t, r) in hours.into_iter().rev() {
            let n = ev.count_between(t, t + Duration::hours(1));
            // At a few hundred sends an hour a single bounce crosses the line by
            // chance; three in one hour at baseline rates almost never happens.
            let over = n >= MIN_HOURLY_EVENTS && 100.0 * n / r + EPSILON_PCT >= warning;
            if !over {
                break;
            }
            start = Some(t);
        }
        start
    });

    let value_at_stake = if rule.priced {
        at_stake(input, pct, warning)
    } else {
        None
    };
    let level = if pct + EPSILON_PCT >= critical {
        format!(
            "at or above Klaviyo's critical line of {}",
            fmt_pct(critical)
        )
    } else {
        format!("over the {} warning line", fmt_pct(warning))
    };
    vec![Observation {
        check: rule.id.to_owned(),
        subject: SUBJECT.to_owned(),
        severity,
        track: rule.track,
        title: format!("{} {} over the last 24 h", rule.name, fmt_pct(pct)),
        why: format!(
            "{} of {} emails received in the last 24 h ({}), {level}. {}",
            fmt_count(total_events),
            fmt_count(total_received),
            fmt_pct(pct),
            rule.advice
        ),
        deep_link: links::deliverability(),
        value_at_stake,
        began_at,
    }]
}

/// Revenue per recipient × next-30-day recipients × over-line fraction (see module doc).
fn at_stake(input: &CheckInput<'_>, pct: f64, warning: f64) -> Option<Money> {
    let revenue = daily_value(input.snapshot, KnownMetric::PlacedOrder, input.now)?;
    let sends = daily_count(input.snapshot, KnownMetric::ReceivedEmail, input.now)?;
    let per_recipient = revenue / sends;
    let recipients = sends * HORIZON_DAYS;
    let over = (pct - warning).max(0.0) / 100.0;
    let amount = per_recipient * recipients * over;
    // Under a cent (e.g. exactly on the line) is no value at stake.
    let money = Money::from_major(amount, &input.profile.currency);
    (money.minor > 0).then_some(money)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self, NOW};
    use crate::scan::snapshot::KnownMetric::{
        BouncedEmail, MarkedEmailAsSpam, ReceivedEmail, Unsubscribed,
    };

    /// Sets the last 24 h to `received`/h and `events`/h of `m`.
    fn day_of(m: KnownMetric, received: f64, events: f64) -> crate::scan::snapshot::Snapshot {
        let mut s = fixtures::healthy();
        fixtures::set_last_hours(&mut s, ReceivedEmail, 24, received);
        fixtures::set_last_hours(&mut s, m, 24, events);
        s
    }

    #[test]
    fn healthy_rates_are_quiet() {
        let s = fixtures::healthy();
        for id in [BOUNCE.id, SPAM.id, UNSUBSCRIBE.id] {
            assert!(fixtures::run(id, &s, None).is_empty(), "{id}");
        }
    }

    #[test]
    fn bounce_spike_for_a_few_hours_crosses_the_line() {
        // The simulator's spike: 8% of sends for three hours, on a 0.3% baseline.
        let mut s = fixtures::healthy();
        fixtures::map_hourly(&mut s, BouncedEmail, |i, c| {
            if i >= fixtures::HOURS - 3 { 80.0 } else { c }
        });
        let obs = fixtures::run(BOUNCE.id, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.title, "Bounce rate 1.3% over the last 24 h");
        assert_eq!(o.subject, "email");
        assert_eq!(o.deep_link, "https://www.klaviyo.com/deliverability");
        assert_eq!(o.began_at, Some(NOW - Duration::hours(3)));
        // 303 bounces of 24,000 = 1.2625%. Revenue per recipient 7,680/24,000 =
        // 0.32; × 720,000 next-month recipients × 0.4625% over the line.
        let v = o.value_at_stake.as_ref().map(Money::major).unwrap_or(0.0);
        let expected = 0.32 * 720_000.0 * ((303.0 / 240.0) - 0.8) / 100.0;
        assert!((v - expected).abs() < 1.0, "{v} vs {expected}");
    }

    #[test]
    fn a_noisy_hour_earlier_in_the_day_does_not_backdate_a_spike() {
        let mut s = fixtures::healthy();
        fixtures::map_hourly(&mut s, BouncedEmail, |i, c| {
            if i == fixtures::HOURS - 20 || i >= fixtures::HOURS - 3 {
                80.0
            } else {
                c
            }
        });
        let obs = fixtures::run(BOUNCE.id, &s, None);
        assert_eq!(obs[0].began_at, Some(NOW - Duration::hours(3)));
    }

    #[test]
    fn an_open_finding_holds_until_the_rate_is_clearly_under_the_line() {
        // 0.7%: under the 0.8% line, above 80% of it.
        let s = day_of(BouncedEmail, 1000.0, 7.0);
        assert!(
            fixtures::run(BOUNCE.id, &s, None).is_empty(),
            "a new finding needs the line"
        );
        let open: std::collections::HashSet<String> =
            ["deliv-bounce-rate/email".to_string()].into();
        let profile = fixtures::profile();
        let input = CheckInput {
            open: &open,
            ..fixtures::input(&s, None, &profile)
        };
        let held = evaluate(&input, &BOUNCE);
        assert_eq!(held.len(), 1, "an open one stays open at 0.7%");
        assert_eq!(held[0].severity, Severity::Warning);
        // 0.6% is clearly under (below 0.64%): it clears.
        let low = day_of(BouncedEmail, 1000.0, 6.0);
        let input = CheckInput {
            open: &open,
            ..fixtures::input(&low, None, &profile)
        };
        assert!(evaluate(&input, &BOUNCE).is_empty());
    }

    #[test]
    fn bounce_rate_lines_are_inclusive() {
        // Exactly 0.8%: warning. Just under: nothing. Exactly 1.5%: critical.
        let at = day_of(BouncedEmail, 1000.0, 8.0);
        assert_eq!(
            fixtures::run(BOUNCE.id, &at, None)[0].severity,
            Severity::Warning
        );
        let under = day_of(BouncedEmail, 1000.0, 7.99);
        assert!(fixtures::run(BOUNCE.id, &under, None).is_empty());
        let crit = day_of(BouncedEmail, 1000.0, 15.0);
        let obs = fixtures::run(BOUNCE.id, &crit, None);
        assert_eq!(obs[0].severity, Severity::Critical);
        assert_eq!(obs[0].title, "Bounce rate 1.5% over the last 24 h");
        // A steady over-line day began with the window.
        assert_eq!(obs[0].began_at, Some(NOW - Duration::hours(24)));
        // 0.7 points over the line: 0.7% of next month's 230,400 of revenue.
        let v = obs[0]
            .value_at_stake
            .as_ref()
            .map(Money::major)
            .unwrap_or(0.0);
        assert!((v - 0.32 * 720_000.0 * 0.007).abs() < 0.01, "{v}");
        // Exactly on the line: reported, but nothing over it to price.
        let obs = fixtures::run(BOUNCE.id, &at, None);
        assert_eq!(obs[0].value_at_stake, None);
    }

    #[test]
    fn too_few_received_is_not_judged() {
        // 199 received with 10% bounces: not enough mail to judge; 200 is.
        let mut s = fixtures::healthy();
        fixtures::set_last_hours(&mut s, ReceivedEmail, 24, 0.0);
        fixtures::set_last_hours(&mut s, BouncedEmail, 24, 0.0);
        fixtures::map_hourly(&mut s, ReceivedEmail, |i, c| {
            if i == fixtures::HOURS - 1 { 199.0 } else { c }
        });
        fixtures::map_hourly(&mut s, BouncedEmail, |i, c| {
            if i == fixtures::HOURS - 1 { 20.0 } else { c }
        });
        assert!(fixtures::run(BOUNCE.id, &s, None).is_empty());
        fixtures::map_hourly(&mut s, ReceivedEmail, |i, c| {
            if i == fixtures::HOURS - 1 { 200.0 } else { c }
        });
        assert_eq!(fixtures::run(BOUNCE.id, &s, None).len(), 1);
        // No Received Email metric at all: nothing to judge.
        let mut s = day_of(BouncedEmail, 1000.0, 50.0);
        fixtures::remove_metric(&mut s, ReceivedEmail);
        assert!(fixtures::run(BOUNCE.id, &s, None).is_empty());
    }

    #[test]
    fn spam_rate_warning_and_critical() {
        let at = day_of(MarkedEmailAsSpam, 10_000.0, 8.0);
        let obs = fixtures::run(SPAM.id, &at, None);
        assert_eq!(obs[0].severity, Severity::Warning);
        assert_eq!(obs[0].title, "Spam complaint rate 0.08% over the last 24 h");
        let crit = day_of(MarkedEmailAsSpam, 10_000.0, 15.0);
        let obs = fixtures::run(SPAM.id, &crit, None);
        assert_eq!(obs[0].severity, Severity::Critical);
        assert!(obs[0].value_at_stake.is_some());
        let under = day_of(MarkedEmailAsSpam, 10_000.0, 7.0);
        assert!(fixtures::run(SPAM.id, &under, None).is_empty());
    }

    #[test]
    fn unsubscribe_rate_is_never_critical_and_unpriced() {
        let high = day_of(Unsubscribed, 1000.0, 9.0);
        let obs = fixtures::run(UNSUBSCRIBE.id, &high, None);
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].severity, Severity::Warning);
        assert_eq!(obs[0].track, Track::Eventually);
        assert_eq!(obs[0].value_at_stake, None);
        assert!(
            obs[0].why.contains("critical line of 0.7%"),
            "{}",
            obs[0].why
        );
        let at = day_of(Unsubscribed, 1000.0, 3.0);
        assert_eq!(fixtures::run(UNSUBSCRIBE.id, &at, None).len(), 1);
        let under = day_of(Unsubscribed, 1000.0, 2.9);
        assert!(fixtures::run(UNSUBSCRIBE.id, &under, None).is_empty());
    }

    #[test]
    fn client_override_raises_the_line() {
        let s = day_of(BouncedEmail, 1000.0, 10.0);
        assert_eq!(fixtures::run(BOUNCE.id, &s, None).len(), 1);
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert("deliv-bounce-rate.warning".into(), 1.2);
        assert!(fixtures::run_with(BOUNCE.id, &s, None, &profile).is_empty());
        profile.currency = "EUR".into();
        profile
            .thresholds
            .insert("deliv-bounce-rate.warning".into(), 0.5);
        let obs = fixtures::run_with(BOUNCE.id, &s, None, &profile);
        assert_eq!(
            obs[0].value_at_stake.as_ref().map(|m| m.currency.as_str()),
            Some("EUR")
        );
    }

    #[test]
    fn metric_absent_means_zero_events() {
        let mut s = fixtures::healthy();
        fixtures::remove_metric(&mut s, BouncedEmail);
        assert!(fixtures::run(BOUNCE.id, &s, None).is_empty());
    }

    #[test]
    fn percentages_read_naturally() {
        assert_eq!(fmt_pct(0.8), "0.8%");
        assert_eq!(fmt_pct(0.08), "0.08%");
        assert_eq!(fmt_pct(0.15), "0.15%");
        assert_eq!(fmt_pct(2.4), "2.4%");
        assert_eq!(fmt_pct(0.0), "0%");
        assert_eq!(fmt_pct(0.3), "0.3%");
    }
}
