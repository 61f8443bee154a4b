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
//!
//! Signup form silent: a live form with no submissions in the last 48 hours
//! while the 30 days before averaged at least 5 a day. Override:
//! `list-signup-form-silent.baseline_per_day` (5). Value at stake: new-subscriber
//! value × signups lost, where signups lost = the form's daily baseline × 2
//! (the silent 48 h) and a new subscriber's value = what a welcome flow
//! typically earns (`flows::SHARE_WELCOME` of the store's 28-day daily Placed
//! Order value) ÷ the account's 28-day daily Subscribed to List count: the
//! first-weeks revenue a signup brings, not the store's whole revenue per
//! subscriber (most orders come from people who signed up long ago or never).
//! Activity only prices the finding: without it the silence is still reported.
//!
//! Unengaged share: the largest segment whose name says unengaged
//! (`UNENGAGED_WORDS`) against the main list (the list with the most profiles).
//! Override: `list-unengaged-share.max_pct` (50: over this share is reported).
//! Not priced: the plan's price per profile is not in the client profile.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use super::flows::SHARE_WELCOME;
use super::integrations::{
    BASELINE_DAYS, daily_count, daily_value, fmt_count, fmt_share, metric_id,
};
use super::{Cadence, Check, CheckInput, HYSTERESIS, Observation, links};
use crate::domain::{Money, Severity, Track};
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
    Check {
        id: FORM_SILENT,
        family: "lists",
        summary: "A live signup form had no submissions in 48 h after a daily baseline",
        threshold: "0 in 48 h vs 30-day baseline ≥ 5/day",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Full,
        // Activity only prices the signups lost; without it the silence is still reported.
        needs: &[Part::Forms, Part::FormReport],
        run: signup_form_silent,
    },
    Check {
        id: UNENGAGED_SHARE,
        family: "lists",
        summary: "Profiles not engaged in 180 days are more than half of the main list",
        threshold: "> 50% of the main list",
        default_severity: Severity::Opportunity,
        track: Track::Eventually,
        cadence: Cadence::Full,
        needs: &[Part::Lists, Part::Segments],
        run: unengaged_share,
    },
];

const GROWTH_FLAT: &str = "list-growth-flat";
const FORM_SILENT: &str = "list-signup-form-silent";
const UNENGAGED_SHARE: &str = "list-unengaged-share";

/// Days of the form report's baseline (the 30 days before the last 48 h).
const FORM_BASELINE_DAYS: f64 = 30.0;

/// Days of the form report's recent window.
const FORM_WINDOW_DAYS: f64 = 2.0;

/// Words in a segment's name that say it holds unengaged profiles (lowercase).
const UNENGAGED_WORDS: &[&str] = &[
    "unengaged",
    "un-engaged",
    "non-engaged",
    "not engaged",
    "disengaged",
];
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

/// What one new subscriber is worth (see the module doc), when the activity says.
fn new_subscriber_value(input: &CheckInput<'_>) -> Option<f64> {
    let revenue = daily_value(input.snapshot, KnownMetric::PlacedOrder, input.now)?;
    let signups = daily_count(input.snapshot, KnownMetric::SubscribedToList, input.now)?;
    let v = revenue * SHARE_WELCOME / signups;
    (v.is_finite() && v > 0.0).then_some(v)
}

fn signup_form_silent(input: &CheckInput<'_>) -> Vec<Observation> {
    let min_baseline = input
        .profile
        .threshold(&format!("{FORM_SILENT}.baseline_per_day"), 5.0);
    let (Some(forms), Some(report)) = (
        input.snapshot.forms.as_ref(),
        input.snapshot.form_report.as_ref(),
    ) else {
        return Vec::new();
    };
    let per_signup = new_subscriber_value(input);
    forms
        .iter()
        .filter(|f| f.status.trim().eq_ignore_ascii_case("live"))
        .filter_map(|f| {
            // A form without a report row was not measured: not judged.
            let stats = report.iter().find(|r| r.form_id == f.id)?;
            let baseline = stats.submits_30d / FORM_BASELINE_DAYS;
            // Written so NaN (malformed reports) fails and stays quiet.
            let silent = stats.submits_48h == 0.0 && baseline >= min_baseline;
            if !(silent && baseline.is_finite()) {
                return None;
            }
            let lost = baseline * FORM_WINDOW_DAYS;
            let value_at_stake = per_signup
                .map(|v| Money::from_major(v * lost, &input.profile.currency))
                .filter(|m| m.minor > 0);
            let price = per_signup
                .map(|v| {
                    format!(
                        " At about {} per new subscriber (what a welcome flow typically earns \
                         per signup here), that is {} so far.",
                        Money::from_major(v, &input.profile.currency),
                        Money::from_major(v * lost, &input.profile.currency),
                    )
                })
                .unwrap_or_default();
            Some(Observation {
                check: FORM_SILENT.to_owned(),
                subject: f.id.clone(),
                severity: Severity::Warning,
                track: Track::Now,
                title: format!("Signup form \"{}\" had no submissions in 48 h", f.name),
                why: format!(
                    "It averaged {} submissions a day over the 30 days before (line: at least \
                     {min_baseline} a day), so about {} signups were lost.{price} Check that the \
                     form still shows on the site (a theme change or a targeting rule often \
                     hides it) and that it submits; it was last edited on {}.",
                    fmt_count_1(baseline),
                    fmt_count(lost),
                    f.updated.format("%Y-%m-%d"),
                ),
                deep_link: links::form(&f.id),
                value_at_stake,
                // Nothing came in for the whole window: silent since at least its start.
                began_at: Some(input.now - Duration::hours(48)),
            })
        })
        .collect()
}

/// A daily rate for people: one decimal under ten (`4.9`), whole above (`20`).
fn fmt_count_1(n: f64) -> String {
    if n < 10.0 {
        let s = format!("{n:.1}");
        s.trim_end_matches(".0").to_owned()
    } else {
        fmt_count(n)
    }
}

fn says_unengaged(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    UNENGAGED_WORDS.iter().any(|w| n.contains(w))
}

fn unengaged_share(input: &CheckInput<'_>) -> Vec<Observation> {
    let max_pct = input
        .profile
        .threshold(&format!("{UNENGAGED_SHARE}.max_pct"), 50.0);
    let Some((main, main_count)) = input
        .snapshot
        .lists
        .iter()
        .flatten()
        .filter_map(|l| Some((l, l.profile_count?)))
        .max_by_key(|(_, c)| *c)
        .filter(|(_, c)| *c > 0)
    else {
        return Vec::new();
    };
    let Some((segment, count)) = input
        .snapshot
        .segments
        .iter()
        .flatten()
        .filter(|s| says_unengaged(&s.name))
        .filter_map(|s| Some((s, s.profile_count?)))
        .max_by_key(|(_, c)| *c)
    else {
        return Vec::new();
    };
    let share = count as f64 / main_count as f64;
    if 100.0 * share <= max_pct {
        return Vec::new();
    }
    vec![Observation {
        check: UNENGAGED_SHARE.to_owned(),
        subject: segment.id.clone(),
        severity: Severity::Opportunity,
        track: Track::Eventually,
        title: format!(
            "Unengaged profiles are {} of list \"{}\"",
            fmt_share(share),
            main.name
        ),
        why: format!(
            "Segment \"{}\" holds {} profiles against {} on \"{}\", the largest list (line: \
             more than {max_pct}%). Mailing them drags opens down and costs plan tiers: run a \
             sunset or re-permission flow, then suppress those who stay silent.",
            segment.name,
            fmt_count(count as f64),
            fmt_count(main_count as f64),
            main.name,
        ),
        deep_link: links::list(&segment.id),
        // The plan's price per profile is not known, so the cost is not priced.
        value_at_stake: None,
        began_at: None,
    }]
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
    use crate::checks::fixtures::{self, FORM_POPUP, NEWSLETTER, UNENGAGED, add_list};
    use crate::scan::snapshot::KnownMetric::{
        BouncedEmail, PlacedOrder, SubscribedToList, Unsubscribed,
    };
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

    fn set_form(s: &mut crate::scan::snapshot::Snapshot, id: &str, last_48h: f64, last_30d: f64) {
        for r in s.form_report.iter_mut().flatten() {
            if r.form_id == id {
                r.submits_48h = last_48h;
                r.submits_30d = last_30d;
            }
        }
    }

    #[test]
    fn a_silent_popup_is_a_warning_priced_by_signups_lost() {
        let mut s = fixtures::healthy();
        // The popup averaged 20 a day; nothing in the last 48 h.
        set_form(&mut s, FORM_POPUP, 0.0, 600.0);
        let obs = fixtures::run(FORM_SILENT, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.subject, FORM_POPUP);
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.track, Track::Now);
        assert_eq!(
            o.title,
            "Signup form \"Newsletter Popup\" had no submissions in 48 h"
        );
        assert!(o.why.contains("about 40 signups were lost"), "{}", o.why);
        assert_eq!(o.deep_link, links::form(FORM_POPUP));
        assert_eq!(o.began_at, Some(NOW - Duration::hours(48)));
        // Welcome share of daily store revenue per daily signup, × 40 signups.
        let revenue = 24.0 * fixtures::hourly_count(PlacedOrder, 0) * fixtures::ORDER_VALUE;
        let signups = 24.0 * fixtures::hourly_count(SubscribedToList, 0);
        let expected = revenue * crate::checks::flows::SHARE_WELCOME / signups * 40.0;
        assert_eq!(
            o.value_at_stake,
            Some(crate::domain::Money::from_major(expected, "USD"))
        );
    }

    #[test]
    fn without_activity_the_silence_is_reported_unpriced() {
        let mut s = fixtures::healthy();
        set_form(&mut s, FORM_POPUP, 0.0, 600.0);
        s.activity = None;
        let obs = fixtures::run(FORM_SILENT, &s, None);
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].value_at_stake, None);
    }

    #[test]
    fn a_quiet_form_under_five_a_day_or_a_draft_is_not_silent() {
        let mut s = fixtures::healthy();
        // 147 in 30 days is 4.9 a day: too few to call 48 quiet hours a failure.
        set_form(&mut s, "FRMFOOTER", 0.0, 147.0);
        // The draft form stays at zero, and a live form still submitting is fine.
        set_form(&mut s, FORM_POPUP, 1.0, 600.0);
        assert!(fixtures::run(FORM_SILENT, &s, None).is_empty());
        set_form(&mut s, "FRMFOOTER", 0.0, 150.0);
        assert_eq!(fixtures::run(FORM_SILENT, &s, None).len(), 1);
        // A client with a lower baseline line sees the 4.9-a-day form.
        set_form(&mut s, "FRMFOOTER", 0.0, 147.0);
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert(format!("{FORM_SILENT}.baseline_per_day"), 3.0);
        let obs = fixtures::run_with(FORM_SILENT, &s, None, &profile);
        assert_eq!(obs.len(), 1);
        assert!(
            obs[0].why.starts_with("It averaged 4.9 submissions"),
            "{}",
            obs[0].why
        );
    }

    fn set_unengaged(s: &mut crate::scan::snapshot::Snapshot, count: u64) {
        for seg in s.segments.iter_mut().flatten() {
            if seg.id == UNENGAGED {
                seg.profile_count = Some(count);
            }
        }
    }

    #[test]
    fn unengaged_over_half_the_main_list_is_an_opportunity() {
        let mut s = fixtures::healthy();
        set_unengaged(&mut s, 30_000);
        // A smaller list does not become the main list.
        add_list(&mut s, "LSTVIP", "VIP", Some(2_000));
        let obs = fixtures::run(UNENGAGED_SHARE, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.subject, UNENGAGED);
        assert_eq!(o.severity, Severity::Opportunity);
        assert_eq!(o.track, Track::Eventually);
        assert_eq!(
            o.title,
            "Unengaged profiles are 62.5% of list \"Newsletter\""
        );
        assert!(
            o.why.contains("30,000 profiles against 48,000"),
            "{}",
            o.why
        );
        assert_eq!(o.deep_link, links::list(UNENGAGED));
        assert_eq!(o.value_at_stake, None);
    }

    #[test]
    fn half_the_list_unengaged_is_on_the_line_not_over_it() {
        let mut s = fixtures::healthy();
        set_unengaged(&mut s, 24_000);
        assert!(fixtures::run(UNENGAGED_SHARE, &s, None).is_empty());
        set_unengaged(&mut s, 24_001);
        assert_eq!(fixtures::run(UNENGAGED_SHARE, &s, None).len(), 1);
        // "Engaged" segments never count, however large.
        let mut engaged = fixtures::healthy();
        for seg in engaged.segments.iter_mut().flatten() {
            if seg.name.starts_with("Engaged") {
                seg.profile_count = Some(47_000);
            }
        }
        assert!(fixtures::run(UNENGAGED_SHARE, &engaged, None).is_empty());
    }

    #[test]
    fn a_client_can_lower_the_unengaged_line() {
        // The healthy account is 30% unengaged.
        let s = fixtures::healthy();
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert(format!("{UNENGAGED_SHARE}.max_pct"), 25.0);
        let obs = fixtures::run_with(UNENGAGED_SHARE, &s, None, &profile);
        assert_eq!(obs.len(), 1);
        assert_eq!(
            obs[0].title,
            "Unengaged profiles are 30% of list \"Newsletter\""
        );
    }
}
