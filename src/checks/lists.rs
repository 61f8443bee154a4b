//! Checks: list health, growth and opt-in consent.
//!
//! Growth is judged on the account's Subscribed to List and Unsubscribed events
//! over the 28 days of activity the snapshot holds (CHECKS.md says 30 days; the
//! scan fetches 28). Override: `list-growth-flat.min_net` (default 0: net growth
//! at or below it is flat). Consent: a single-opt-in list is flagged when the
//! client's audience includes the EU or the UK, where a record of consent is
//! expected and double opt-in is the usual proof.

use chrono::Duration;

use super::integrations::{BASELINE_DAYS, metric_id};
use super::{Cadence, Check, CheckInput, Observation, links};
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
];

const GROWTH_FLAT: &str = "list-growth-flat";
const SINGLE_OPT_IN: &str = "compliance-single-opt-in-eu-uk";

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self, NEWSLETTER};
    use crate::scan::snapshot::KnownMetric::{SubscribedToList, Unsubscribed};
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
}
