//! Checks: list health, growth and opt-in consent.
//!
//! Growth is judged on the account's Subscribed to List and Unsubscribed events
//! over the 28 days of activity the snapshot holds (CHECKS.md says 30 days; the
//! scan fetches 28). Override: `list-growth-flat.min_net` (default 0: net growth
//! at or below it is flat). Consent: a single-opt-in list is flagged when the
//! client's audience includes the EU or the UK, where a record of consent is
//! expected and double opt-in is the usual proof.
//!
//! Suppression spike: Unsubscribed plus Bounced Email over the last 24 h against
//! their daily mean over the rest of the 28-day window (the day under judgement
//! is left out of its own baseline, so a spike does not raise its own bar), with
//! at least 7 days of baseline. Overrides: `list-suppression-spike.multiple`
//! (default 5: more than this many times the daily mean) and
//! `list-suppression-spike.min_events` (20: fewer in 24 h is never a spike, so a
//! small list is not paged). An open finding stays open until the day falls to
//! `HYSTERESIS` × the multiple.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::integrations::{BASELINE_DAYS, fmt_count, metric_id};
use super::{Cadence, Check, CheckInput, HYSTERESIS, Observation, links};
use crate::domain::{Severity, Track};
use crate::scan::snapshot::{KnownMetric, Part};

/// The checks of this family.
pub const CHECKS: &[Check] = &[
    Check {
        id: GROWTH_FLAT,
        family: "lists",
        summary: "Net list growth (subscribed minus unsubscribed) at or below zero over 28 days",
        threshold: "net growth ≤ 0 over 28 days",
        default_severity: Severity::Opportunity,
        track: Track::Eventually,
        cadence: Cadence::Full,
        needs: &[Part::Activity],
        run: growth_flat,
    },
    Check {
        id: SINGLE_OPT_IN,
        family: "lists",
        summary: "A list uses single opt-in while the audience includes the EU or UK",
        threshold: "single opt-in with an EU or UK audience",
        default_severity: Severity::Warning,
        track: Track::Eventually,
        cadence: Cadence::Full,
        needs: &[Part::Lists],
        run: single_opt_in_eu_uk,
    },
    Check {
        id: SUPPRESSION_SPIKE,
        family: "lists",
        summary: "Unsubscribes plus bounces in 24 h jumped (often an import of bad addresses)",
        threshold: "> 5 × the 28-day daily mean and ≥ 20 in 24 h",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::Activity],
        run: suppression_spike,
    },
];

const GROWTH_FLAT: &str = "list-growth-flat";
const SINGLE_OPT_IN: &str = "compliance-single-opt-in-eu-uk";
const SUPPRESSION_SPIKE: &str = "list-suppression-spike";

/// Days of history a suppression baseline needs before a day is judged against it.
const MIN_BASELINE_DAYS: f64 = 7.0;

/// Jurisdiction codes that make single opt-in a consent risk (`GB` is the ISO code for the UK).
const EU_UK: &[&str] = &["EU", "UK", "GB"];

fn growth_flat(input: &CheckInput<'_>) -> Vec<Observation> {
    let min_net = input
        .profile
        .threshold(&format!("{GROWTH_FLAT}.min_net"), 0.0);
    let since = input.now - Duration::days(BASELINE_DAYS);
    let count = |m| {
        input
            .snapshot
            .activity_of(m)
            .map_or(0.0, |a| a.count_between(since, input.now))
    };
    let subscribed = count(KnownMetric::SubscribedToList);
    let unsubscribed = count(KnownMetric::Unsubscribed);
    let net = subscribed - unsubscribed;
    // NaN (malformed aggregates) is not evidence of flat growth.
    if !net.is_finite() || net > min_net {
        return Vec::new();
    }
    let deep_link = metric_id(input.snapshot, KnownMetric::SubscribedToList)
        .map(|id| links::metric(&id))
        .unwrap_or_else(links::account_settings);
    vec![Observation {
        check: GROWTH_FLAT.to_owned(),
        subject: "account".to_owned(),
        severity: Severity::Opportunity,
        track: Track::Eventually,
        title: format!("List growth flat: net {net:+.0} subscribers in {BASELINE_DAYS} days"),
        why: format!(
            "{subscribed:.0} people subscribed and {unsubscribed:.0} unsubscribed in the last \
             {BASELINE_DAYS} days. Check that signup forms are live and visible, and consider \
             an offer or a pop-up test to restart growth."
        ),
        deep_link,
        value_at_stake: None,
        began_at: None,
    }]
}

fn single_opt_in_eu_uk(input: &CheckInput<'_>) -> Vec<Observation> {
    let regions: Vec<&str> = input
        .profile
        .jurisdictions
        .iter()
        .map(|j| j.trim())
        .filter(|j| EU_UK.iter().any(|x| x.eq_ignore_ascii_case(j)))
        .collect();
    if regions.is_empty() {
        return Vec::new();
    }
    let Some(lists) = input.snapshot.lists.as_ref() else {
        return Vec::new();
    };
    lists
        .iter()
        .filter(|l| l.opt_in_process.as_deref() == Some("single_opt_in"))
        .map(|l| Observation {
            check: SINGLE_OPT_IN.to_owned(),
            subject: l.id.clone(),
            severity: Severity::Warning,
            track: Track::Eventually,
            title: format!("List \"{}\" uses single opt-in", l.name),
            why: format!(
                "This client's audience includes {}, where marketing consent must be \
                 provable (GDPR/PECR); double opt-in records it. Switch the list to double \
                 opt-in in its settings, or record consent at signup another way.",
                regions.join(" and ")
            ),
            deep_link: links::list(&l.id),
            value_at_stake: None,
            began_at: None,
        })
        .collect()
}

/// Suppression events (Unsubscribed, Bounced Email) in one window.
#[derive(Debug, Default, Clone, Copy)]
struct Suppressions {
    unsubscribed: f64,
    bounced: f64,
}

impl Suppressions {
    fn total(self) -> f64 {
        self.unsubscribed + self.bounced
    }
}

fn suppression_spike(input: &CheckInput<'_>) -> Vec<Observation> {
    let p = input.profile;
    let multiple = p.threshold(&format!("{SUPPRESSION_SPIKE}.multiple"), 5.0);
    let min_events = p.threshold(&format!("{SUPPRESSION_SPIKE}.min_events"), 20.0);
    let day_start = input.now - Duration::hours(24);
    let from = input.now - Duration::days(BASELINE_DAYS);
    let mut recent = Suppressions::default();
    let mut base = 0.0;
    let mut base_hours = 0usize;
    // Combined count per hour of the last day, to date the spike's start.
    let mut hourly: BTreeMap<DateTime<Utc>, f64> = BTreeMap::new();
    for m in [KnownMetric::Unsubscribed, KnownMetric::BouncedEmail] {
        let Some(a) = input.snapshot.activity_of(m) else {
            continue;
        };
        let day = a.count_between(day_start, input.now);
        match m {
            KnownMetric::Unsubscribed => recent.unsubscribed = day,
            _ => recent.bounced = day,
        }
        base += a.count_between(from, day_start);
        base_hours = base_hours.max(
            a.iter()
                .filter(|(t, _, _)| *t >= from && *t < day_start)
                .count(),
        );
        for (t, c, _) in a
            .iter()
            .filter(|(t, _, _)| *t >= day_start && *t < input.now)
        {
            *hourly.entry(t).or_default() += c;
        }
    }
    let base_days = base_hours as f64 / 24.0;
    if base_days < MIN_BASELINE_DAYS {
        return Vec::new();
    }
    let mean = base / base_days;
    let total = recent.total();
    // Malformed aggregates (NaN, negative counts) are not evidence of a spike.
    if !(mean.is_finite() && total.is_finite() && mean >= 0.0) {
        return Vec::new();
    }
    let line = if input.is_open(SUPPRESSION_SPIKE, "account") {
        multiple * HYSTERESIS
    } else {
        multiple
    };
    if total < min_events || total <= line * mean {
        return Vec::new();
    }
    let hourly_line = (multiple * mean / 24.0).max(0.0);
    let began_at = hourly
        .iter()
        .find(|(_, c)| **c > 0.0 && **c > hourly_line)
        .map(|(t, _)| *t);
    let versus = if mean > 0.0 {
        format!("{:.1}× the daily mean of {}", total / mean, fmt_count(mean))
    } else {
        "against none a day".to_owned()
    };
    let heavier = if recent.bounced >= recent.unsubscribed {
        KnownMetric::BouncedEmail
    } else {
        KnownMetric::Unsubscribed
    };
    let deep_link = metric_id(input.snapshot, heavier)
        .map(|id| links::metric(&id))
        .unwrap_or_else(links::deliverability);
    vec![Observation {
        check: SUPPRESSION_SPIKE.to_owned(),
        subject: "account".to_owned(),
        severity: Severity::Warning,
        track: Track::Now,
        title: format!(
            "Suppressions spiked: {} unsubscribes and bounces in 24 h",
            fmt_count(total)
        ),
        why: format!(
            "{} unsubscribes and {} bounces in the last 24 h, {versus} over the previous \
             {base_days:.0} days (line: more than {multiple}× and at least {}). A jump like \
             this usually follows an import of old or bought addresses or a send to a stale \
             segment: check recent imports and the latest sends' audiences.",
            fmt_count(recent.unsubscribed),
            fmt_count(recent.bounced),
            fmt_count(min_events),
        ),
        deep_link,
        value_at_stake: None,
        began_at,
    }]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::NOW;
    use crate::checks::fixtures::{self, NEWSLETTER};
    use crate::scan::snapshot::KnownMetric::{BouncedEmail, SubscribedToList, Unsubscribed};
    use crate::scan::snapshot::List;

    #[test]
    fn growing_list_is_not_flat() {
        assert!(fixtures::run(GROWTH_FLAT, &fixtures::healthy(), None).is_empty());
    }

    #[test]
    fn more_unsubscribes_than_signups_is_flat() {
        let mut s = fixtures::healthy();
        fixtures::map_hourly(&mut s, Unsubscribed, |_, _| 6.0);
        let obs = fixtures::run(GROWTH_FLAT, &s, None);
        assert_eq!(obs.len(), 1);
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Opportunity);
        assert_eq!(o.track, Track::Eventually);
        assert_eq!(o.title, "List growth flat: net -672 subscribers in 28 days");
        assert_eq!(
            o.deep_link,
            links::metric(&fixtures::metric_id(SubscribedToList))
        );
    }

    #[test]
    fn zero_net_growth_is_flat_and_one_is_not() {
        let mut s = fixtures::healthy();
        fixtures::map_hourly(&mut s, Unsubscribed, |_, _| 5.0);
        assert_eq!(fixtures::run(GROWTH_FLAT, &s, None).len(), 1);
        fixtures::map_hourly(
            &mut s,
            SubscribedToList,
            |i, _| if i == 0 { 6.0 } else { 5.0 },
        );
        assert!(fixtures::run(GROWTH_FLAT, &s, None).is_empty());
    }

    #[test]
    fn growth_override_raises_the_bar() {
        // Net +2,688 in 28 days; a client expecting 3,000 sees it as flat.
        let s = fixtures::healthy();
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert("list-growth-flat.min_net".into(), 3000.0);
        assert_eq!(fixtures::run_with(GROWTH_FLAT, &s, None, &profile).len(), 1);
    }

    #[test]
    fn no_list_metrics_means_no_growth() {
        let mut s = fixtures::healthy();
        fixtures::remove_metric(&mut s, SubscribedToList);
        fixtures::remove_metric(&mut s, Unsubscribed);
        let obs = fixtures::run(GROWTH_FLAT, &s, None);
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].deep_link, links::account_settings());
    }

    fn single_opt_in_list(s: &mut crate::scan::snapshot::Snapshot) {
        if let Some(lists) = s.lists.as_mut() {
            lists[0].opt_in_process = Some("single_opt_in".into());
            let mut other: List = lists[0].clone();
            other.id = "LSTVIP".into();
            other.name = "VIP <early access>".into();
            other.opt_in_process = None;
            lists.push(other);
        }
    }

    #[test]
    fn single_opt_in_with_uk_audience_is_flagged() {
        let mut s = fixtures::healthy();
        single_opt_in_list(&mut s);
        let mut profile = fixtures::profile();
        profile.jurisdictions = vec!["US".into(), "uk".into()];
        let obs = fixtures::run_with(SINGLE_OPT_IN, &s, None, &profile);
        // The list with an unknown opt-in process is not guessed at.
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.subject, NEWSLETTER);
        assert_eq!(o.title, "List \"Newsletter\" uses single opt-in");
        assert_eq!(o.deep_link, links::list(NEWSLETTER));
        assert_eq!(o.severity, Severity::Warning);
        assert!(o.why.contains("uk"), "{}", o.why);
    }

    #[test]
    fn single_opt_in_without_eu_uk_audience_is_fine() {
        let mut s = fixtures::healthy();
        single_opt_in_list(&mut s);
        // Default profile: US only.
        assert!(fixtures::run(SINGLE_OPT_IN, &s, None).is_empty());
        // EU audience but double opt-in lists.
        let mut profile = fixtures::profile();
        profile.jurisdictions = vec!["EU".into()];
        assert!(fixtures::run_with(SINGLE_OPT_IN, &fixtures::healthy(), None, &profile).is_empty());
        // A look-alike code is not the EU.
        profile.jurisdictions = vec!["EUR".into(), "US-TX".into()];
        assert!(fixtures::run_with(SINGLE_OPT_IN, &s, None, &profile).is_empty());
    }

    #[test]
    fn a_day_of_bounces_at_eight_times_normal_is_a_spike() {
        let mut s = fixtures::healthy();
        // 30 bounces an hour for the last day against 3: 720 + 24 unsubscribes.
        fixtures::set_last_hours(&mut s, BouncedEmail, 24, 30.0);
        let obs = fixtures::run(SUPPRESSION_SPIKE, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.track, Track::Now);
        assert_eq!(o.subject, "account");
        assert_eq!(
            o.title,
            "Suppressions spiked: 744 unsubscribes and bounces in 24 h"
        );
        // The previous 27 days: 96 a day.
        assert!(
            o.why.starts_with(
                "24 unsubscribes and 720 bounces in the last 24 h, 7.8× the daily mean of 96"
            ),
            "{}",
            o.why
        );
        assert_eq!(o.began_at, Some(NOW - Duration::hours(24)));
        assert_eq!(
            o.deep_link,
            links::metric(&fixtures::metric_id(BouncedEmail))
        );
    }

    #[test]
    fn a_day_under_five_times_normal_is_no_spike() {
        assert!(fixtures::run(SUPPRESSION_SPIKE, &fixtures::healthy(), None).is_empty());
        // 16 bounces an hour: 384 + 24 = 408, under 5 × 96 = 480.
        let mut s = fixtures::healthy();
        fixtures::set_last_hours(&mut s, BouncedEmail, 24, 16.0);
        assert!(fixtures::run(SUPPRESSION_SPIKE, &s, None).is_empty());
        // A client with a lower line sees it.
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert(format!("{SUPPRESSION_SPIKE}.multiple"), 4.0);
        assert_eq!(
            fixtures::run_with(SUPPRESSION_SPIKE, &s, None, &profile).len(),
            1
        );
    }

    #[test]
    fn a_small_list_needs_twenty_suppressions_to_spike() {
        let mut s = fixtures::healthy();
        fixtures::map_hourly(&mut s, Unsubscribed, |_, _| 0.0);
        fixtures::map_hourly(&mut s, BouncedEmail, |_, _| 0.0);
        fixtures::set_last_hours(&mut s, BouncedEmail, 19, 1.0);
        assert!(fixtures::run(SUPPRESSION_SPIKE, &s, None).is_empty());
        fixtures::set_last_hours(&mut s, BouncedEmail, 20, 1.0);
        let obs = fixtures::run(SUPPRESSION_SPIKE, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert!(obs[0].why.contains("against none a day"), "{}", obs[0].why);
        assert_eq!(obs[0].began_at, Some(NOW - Duration::hours(20)));
    }

    #[test]
    fn an_open_spike_stays_open_just_under_the_line() {
        // 17 bounces an hour: 408 + 24 = 432, 4.5× the mean: under 5×, over 0.8 × 5×.
        let mut s = fixtures::healthy();
        fixtures::set_last_hours(&mut s, BouncedEmail, 24, 17.0);
        assert!(fixtures::run(SUPPRESSION_SPIKE, &s, None).is_empty());
        let open: std::collections::HashSet<String> =
            [format!("{SUPPRESSION_SPIKE}/account")].into();
        let profile = fixtures::profile();
        let mut input = fixtures::input(&s, None, &profile);
        input.open = &open;
        assert_eq!(suppression_spike(&input).len(), 1);
    }
}
