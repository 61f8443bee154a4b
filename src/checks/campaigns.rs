//! Checks: campaigns and content.
//!
//! Read from the campaign list alone (status, channel, send time, audiences)
//! and the lists' profile counts. Campaign revenue is not in the snapshot (no
//! campaign values report is read), so none of these checks prices its finding.
//!
//! Per-client overrides (`ClientProfile::thresholds`):
//! `campaign-cadence-gap.gap_multiple` (default 2: days since the last send
//! above this many times the median gap), `campaign-cadence-gap.min_days` (14:
//! and above this many days), `campaign-cadence-gap.min_sends` (4: sends needed
//! for a median); `campaign-stuck-sending.max_hours` (6).

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use super::integrations::fmt_hours;
use super::{Cadence, Check, CheckInput, Observation, links};
use crate::domain::{Severity, Track};
use crate::scan::snapshot::{Campaign, List, Part};

/// The checks of this family.
pub const CHECKS: &[Check] = &[
    Check {
        id: CADENCE_GAP,
        family: "campaigns",
        summary: "No email campaign sent for much longer than the client's usual gap",
        threshold: "> 2 × median gap and > 14 days, ≥ 4 sends",
        default_severity: Severity::Opportunity,
        track: Track::Eventually,
        cadence: Cadence::Full,
        needs: &[Part::Campaigns],
        run: cadence_gap,
    },
    Check {
        id: STUCK_SENDING,
        family: "campaigns",
        summary: "A campaign still in \"Sending\" long after its send time",
        threshold: "> 6 h after send time",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::Campaigns],
        run: stuck_sending,
    },
    Check {
        id: SCHEDULED_BROKEN,
        family: "campaigns",
        summary: "A scheduled campaign with no audience or an empty list in its audience",
        threshold: "any (critical when no one would receive it)",
        default_severity: Severity::Critical,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::Campaigns, Part::Lists],
        run: scheduled_broken,
    },
];

const CADENCE_GAP: &str = "campaign-cadence-gap";
const STUCK_SENDING: &str = "campaign-stuck-sending";
const SCHEDULED_BROKEN: &str = "campaign-scheduled-broken";

/// Whether `c` has Klaviyo status `status` (compared case-insensitively).
fn has_status(c: &Campaign, status: &str) -> bool {
    c.status.trim().eq_ignore_ascii_case(status)
}

fn days_between(a: DateTime<Utc>, b: DateTime<Utc>) -> f64 {
    (b - a).num_seconds() as f64 / 86_400.0
}

/// Median of values sorted ascending (mean of the middle two for an even count).
fn median(sorted: &[f64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => sorted.get(n / 2).copied(),
        _ => Some((sorted.get(n / 2 - 1)? + sorted.get(n / 2)?) / 2.0),
    }
}

/// `1 day`, `6.5 days`: gap lengths for people.
fn fmt_days(days: f64) -> String {
    let s = format!("{days:.1}");
    let s = s.trim_end_matches(".0");
    if s == "1" {
        "1 day".to_owned()
    } else {
        format!("{s} days")
    }
}

fn cadence_gap(input: &CheckInput<'_>) -> Vec<Observation> {
    let p = input.profile;
    let multiple = p.threshold(&format!("{CADENCE_GAP}.gap_multiple"), 2.0);
    let min_days = p.threshold(&format!("{CADENCE_GAP}.min_days"), 14.0);
    let min_sends = p
        .threshold(&format!("{CADENCE_GAP}.min_sends"), 4.0)
        .max(2.0);
    let mut sent: Vec<(DateTime<Utc>, &Campaign)> = input
        .snapshot
        .campaigns
        .iter()
        .flatten()
        .filter(|c| c.channel.trim().eq_ignore_ascii_case("email") && has_status(c, "Sent"))
        .filter_map(|c| c.send_time.filter(|t| *t <= input.now).map(|t| (t, c)))
        .collect();
    sent.sort_by_key(|(t, _)| *t);
    // Sends less than a day apart (segments of one mailing, A/B splits) are one
    // send for the rhythm, so they do not drag the median gap towards zero.
    let mut gaps: Vec<f64> = sent
        .windows(2)
        .map(|w| days_between(w[0].0, w[1].0))
        .filter(|g| *g >= 1.0)
        .collect();
    if ((gaps.len() + 1) as f64) < min_sends {
        return Vec::new();
    }
    gaps.sort_by(f64::total_cmp);
    let (Some(typical), Some((last_at, last))) = (median(&gaps), sent.last()) else {
        return Vec::new();
    };
    let since = days_between(*last_at, input.now);
    if since <= multiple * typical || since <= min_days {
        return Vec::new();
    }
    let due = *last_at + Duration::seconds((typical * 86_400.0) as i64);
    vec![Observation {
        check: CADENCE_GAP.to_owned(),
        subject: "email".to_owned(),
        severity: Severity::Opportunity,
        track: Track::Eventually,
        title: format!(
            "No email campaign sent in {:.0} days (usually every {})",
            since.floor(),
            fmt_days(typical)
        ),
        why: format!(
            "The last email campaign, \"{}\", went out on {} UTC, {:.0} days ago; across the \
             {} sends before it the median gap was {} (line: more than {multiple}× that and more \
             than {min_days} days). Subscribers who hear nothing for weeks engage less when \
             mail resumes: plan the next send, or note the pause if it is intended.",
            last.name,
            last_at.format("%Y-%m-%d %H:%M"),
            since.floor(),
            gaps.len() + 1,
            fmt_days(typical),
        ),
        deep_link: links::campaign(&last.id),
        // Median campaign revenue is not in the snapshot (no campaign values
        // report is read), so the campaigns missed cannot be priced.
        value_at_stake: None,
        // The next send was due one usual gap after the last.
        began_at: Some(due),
    }]
}

fn stuck_sending(input: &CheckInput<'_>) -> Vec<Observation> {
    let max_hours = input
        .profile
        .threshold(&format!("{STUCK_SENDING}.max_hours"), 6.0);
    input
        .snapshot
        .campaigns
        .iter()
        .flatten()
        .filter(|c| has_status(c, "Sending"))
        .filter_map(|c| {
            // Without a send time Lookout cannot tell how long it has been sending.
            let started = c.send_time?;
            let hours = (input.now - started).num_seconds() as f64 / 3600.0;
            (hours > max_hours).then(|| Observation {
                check: STUCK_SENDING.to_owned(),
                subject: c.id.clone(),
                severity: Severity::Warning,
                track: Track::Now,
                title: format!(
                    "Campaign \"{}\" still sending after {}",
                    c.name,
                    fmt_hours(hours)
                ),
                why: format!(
                    "Its {} send started at {} UTC, {} ago, and Klaviyo still shows it as \
                     Sending (line: {max_hours} h). A send timed to recipients' local time can \
                     take up to a day; otherwise open it in Klaviyo, and contact Klaviyo support \
                     if it does not move.",
                    c.channel,
                    started.format("%Y-%m-%d %H:%M"),
                    fmt_hours(hours),
                ),
                deep_link: links::campaign(&c.id),
                value_at_stake: None,
                began_at: Some(started),
            })
        })
        .collect()
}

fn scheduled_broken(input: &CheckInput<'_>) -> Vec<Observation> {
    let lists: HashMap<&str, &List> = input
        .snapshot
        .lists
        .iter()
        .flatten()
        .map(|l| (l.id.as_str(), l))
        .collect();
    input
        .snapshot
        .campaigns
        .iter()
        .flatten()
        .filter(|c| has_status(c, "Scheduled") && !c.archived)
        .filter_map(|c| {
            let when = c
                .send_time
                .map(|t| format!("for {} UTC", t.format("%Y-%m-%d %H:%M")))
                .unwrap_or_else(|| "to send".to_owned());
            // Audiences that are lists with a known count of zero. Segments are
            // not in the snapshot, nor are deleted audiences distinguishable
            // from segments, so only empty lists and a missing audience count.
            let empty: Vec<&List> = c
                .included_audiences
                .iter()
                .filter_map(|id| lists.get(id.as_str()).copied())
                .filter(|l| l.profile_count == Some(0))
                .collect();
            let names: Vec<String> = empty.iter().map(|l| format!("\"{}\"", l.name)).collect();
            let (severity, title, why, began_at) = if c.included_audiences.is_empty() {
                (
                    Severity::Critical,
                    format!("Scheduled campaign \"{}\" has no audience", c.name),
                    format!(
                        "It is scheduled {when} with 0 included lists or segments, so it will \
                         reach no one. Add its audience before the send time, or unschedule it."
                    ),
                    // It has lacked an audience at least since it was scheduled.
                    c.scheduled_at,
                )
            } else if empty.is_empty() {
                return None;
            } else if empty.len() == c.included_audiences.len() {
                (
                    Severity::Critical,
                    format!("Scheduled campaign \"{}\" goes to an empty list", c.name),
                    format!(
                        "It is scheduled {when} to {} with 0 profiles, so it will reach no one. \
                         Pick the right audience, or fix the list's import, before it sends.",
                        names.join(", ")
                    ),
                    None,
                )
            } else {
                // Others in the audience may still receive it: likely a wrong pick.
                (
                    Severity::Warning,
                    format!("Scheduled campaign \"{}\" includes an empty list", c.name),
                    format!(
                        "It is scheduled {when}; its audience includes {} with 0 profiles, beside \
                         {} other list(s) or segment(s). Those may receive it, but an empty list \
                         is usually the wrong pick or a broken import: check the audience before \
                         it sends.",
                        names.join(", "),
                        c.included_audiences.len() - empty.len(),
                    ),
                    None,
                )
            };
            Some(Observation {
                check: SCHEDULED_BROKEN.to_owned(),
                subject: c.id.clone(),
                severity,
                track: Track::Now,
                title,
                why,
                deep_link: links::campaign(&c.id),
                // Expected campaign revenue is not in the snapshot (no campaign
                // values report is read), so the send at risk is not priced.
                value_at_stake: None,
                began_at,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self, LAST_SENT, NEWSLETTER, NEXT_SCHEDULED, NOW, WEEKLY_SENT};

    fn remove_campaigns(s: &mut crate::scan::snapshot::Snapshot, ids: &[&str]) {
        if let Some(c) = s.campaigns.as_mut() {
            c.retain(|c| !ids.contains(&c.id.as_str()));
        }
    }

    /// Turns the weekly calendar fortnightly, the newest send `days_ago` days before `NOW`.
    fn fortnightly(s: &mut crate::scan::snapshot::Snapshot, days_ago: i64) {
        for k in 0..WEEKLY_SENT {
            let c = fixtures::campaign_mut(s, &format!("CMPW{k:02}"));
            c.send_time = Some(NOW - Duration::days(days_ago + 14 * k as i64));
        }
    }

    #[test]
    fn weekly_sender_quiet_for_three_weeks_has_a_cadence_gap() {
        let mut s = fixtures::healthy();
        // The newest sends are gone: the last one left went out 23.9 days ago.
        remove_campaigns(&mut s, &["CMPW00", "CMPW01", "CMPW02"]);
        let obs = fixtures::run(CADENCE_GAP, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Opportunity);
        assert_eq!(o.track, Track::Eventually);
        assert_eq!(o.subject, "email");
        assert_eq!(
            o.title,
            "No email campaign sent in 23 days (usually every 7 days)"
        );
        assert!(o.why.contains("across the 9 sends"), "{}", o.why);
        assert!(o.why.contains("\"Weekly Newsletter #9\""), "{}", o.why);
        assert_eq!(o.deep_link, links::campaign("CMPW03"));
        assert_eq!(o.value_at_stake, None);
        let last = fixtures::campaign_mut(&mut s, "CMPW03").send_time;
        assert_eq!(o.began_at, last.map(|t| t + Duration::days(7)));
    }

    #[test]
    fn a_gap_within_twice_the_usual_is_no_cadence_gap() {
        // Fortnightly: 27 days is under 2 × 14, 29 is over.
        let mut s = fixtures::healthy();
        fortnightly(&mut s, 27);
        assert!(fixtures::run(CADENCE_GAP, &s, None).is_empty());
        fortnightly(&mut s, 29);
        assert_eq!(fixtures::run(CADENCE_GAP, &s, None).len(), 1);
        // Same-day segment sends are one send: they do not halve the usual gap.
        let mut s = fixtures::healthy();
        fortnightly(&mut s, 20);
        if let Some(c) = s.campaigns.as_mut() {
            for k in 0..WEEKLY_SENT {
                let t = NOW - Duration::days(20 + 14 * k as i64) + Duration::hours(2);
                c.push(fixtures::campaign(
                    &format!("CMPVIP{k:02}"),
                    "VIP cut",
                    "email",
                    "Sent",
                    Some(t),
                ));
            }
        }
        assert!(fixtures::run(CADENCE_GAP, &s, None).is_empty());
    }

    #[test]
    fn three_sends_are_too_few_for_a_rhythm_and_sms_does_not_count() {
        let mut s = fixtures::healthy();
        let old: Vec<String> = (0..WEEKLY_SENT - 3)
            .map(|k| format!("CMPW{k:02}"))
            .collect();
        let old: Vec<&str> = old.iter().map(String::as_str).collect();
        remove_campaigns(&mut s, &old);
        assert!(fixtures::run(CADENCE_GAP, &s, None).is_empty());
        // Weekly email that stopped 60 days ago, an SMS 10 days ago: still a gap.
        let mut s = fixtures::healthy();
        for k in 0..WEEKLY_SENT {
            let c = fixtures::campaign_mut(&mut s, &format!("CMPW{k:02}"));
            c.send_time = Some(NOW - Duration::days(60 + 7 * k as i64));
        }
        assert_eq!(fixtures::run(CADENCE_GAP, &s, None).len(), 1);
    }

    #[test]
    fn a_campaign_sending_for_nine_hours_is_stuck() {
        let mut s = fixtures::healthy();
        let c = fixtures::campaign_mut(&mut s, LAST_SENT);
        c.status = "Sending".into();
        c.send_time = Some(NOW - Duration::hours(9));
        let obs = fixtures::run(STUCK_SENDING, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.track, Track::Now);
        assert_eq!(o.subject, LAST_SENT);
        assert_eq!(
            o.title,
            "Campaign \"Weekly Newsletter #12\" still sending after 9 h"
        );
        assert!(o.why.contains("9 h ago"), "{}", o.why);
        assert!(o.why.contains("(line: 6 h)"), "{}", o.why);
        assert_eq!(o.began_at, Some(NOW - Duration::hours(9)));
        assert_eq!(o.deep_link, links::campaign(LAST_SENT));
    }

    #[test]
    fn a_campaign_sending_for_five_hours_is_not_stuck() {
        let mut s = fixtures::healthy();
        let c = fixtures::campaign_mut(&mut s, LAST_SENT);
        c.status = "Sending".into();
        c.send_time = Some(NOW - Duration::hours(5));
        assert!(fixtures::run(STUCK_SENDING, &s, None).is_empty());
        // Nine hours, for a client whose sends run in local time over half a day.
        fixtures::campaign_mut(&mut s, LAST_SENT).send_time = Some(NOW - Duration::hours(9));
        let mut profile = fixtures::profile();
        profile
            .thresholds
            .insert(format!("{STUCK_SENDING}.max_hours"), 12.0);
        assert!(fixtures::run_with(STUCK_SENDING, &s, None, &profile).is_empty());
    }

    fn with_vip_list(count: Option<u64>) -> crate::scan::snapshot::Snapshot {
        let mut s = fixtures::healthy();
        fixtures::add_list(&mut s, "LSTVIP", "VIP", count);
        s
    }

    #[test]
    fn a_scheduled_campaign_to_an_empty_list_is_critical() {
        let mut s = with_vip_list(Some(0));
        fixtures::campaign_mut(&mut s, NEXT_SCHEDULED).included_audiences = vec!["LSTVIP".into()];
        let obs = fixtures::run(SCHEDULED_BROKEN, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Critical);
        assert_eq!(o.track, Track::Now);
        assert_eq!(o.subject, NEXT_SCHEDULED);
        assert_eq!(
            o.title,
            "Scheduled campaign \"Weekly Newsletter #13\" goes to an empty list"
        );
        assert!(o.why.contains("to \"VIP\" with 0 profiles"), "{}", o.why);
        assert!(o.why.contains("for 2025-03-14 15:00 UTC"), "{}", o.why);
        assert_eq!(o.deep_link, links::campaign(NEXT_SCHEDULED));
    }

    #[test]
    fn a_scheduled_campaign_without_audience_is_critical_and_a_partly_empty_one_a_warning() {
        let mut s = fixtures::healthy();
        let c = fixtures::campaign_mut(&mut s, NEXT_SCHEDULED);
        c.included_audiences.clear();
        let scheduled = c.scheduled_at;
        let obs = fixtures::run(SCHEDULED_BROKEN, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(obs[0].severity, Severity::Critical);
        assert!(
            obs[0].title.ends_with("has no audience"),
            "{}",
            obs[0].title
        );
        assert!(obs[0].why.contains("0 included lists"), "{}", obs[0].why);
        assert_eq!(obs[0].began_at, scheduled);

        let mut s = with_vip_list(Some(0));
        fixtures::campaign_mut(&mut s, NEXT_SCHEDULED).included_audiences =
            vec![NEWSLETTER.into(), "LSTVIP".into()];
        let obs = fixtures::run(SCHEDULED_BROKEN, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert_eq!(obs[0].severity, Severity::Warning);
        assert!(obs[0].why.contains("beside 1 other"), "{}", obs[0].why);
    }

    #[test]
    fn unknown_counts_segments_and_unscheduled_campaigns_are_not_broken() {
        // Count not fetched: not known to be empty.
        let mut s = with_vip_list(None);
        fixtures::campaign_mut(&mut s, NEXT_SCHEDULED).included_audiences = vec!["LSTVIP".into()];
        assert!(fixtures::run(SCHEDULED_BROKEN, &s, None).is_empty());
        // A segment (not among the lists): its size is not in the snapshot.
        let mut s = fixtures::healthy();
        fixtures::campaign_mut(&mut s, NEXT_SCHEDULED).included_audiences = vec!["SEGVIP".into()];
        assert!(fixtures::run(SCHEDULED_BROKEN, &s, None).is_empty());
        // An empty list behind a draft or a sent campaign is nothing to stop.
        let mut s = with_vip_list(Some(0));
        for id in ["CMPDRAFT", LAST_SENT] {
            fixtures::campaign_mut(&mut s, id).included_audiences = vec!["LSTVIP".into()];
        }
        assert!(fixtures::run(SCHEDULED_BROKEN, &s, None).is_empty());
    }

    #[test]
    fn medians_and_day_counts_read_naturally() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0, 7.0, 9.0]), Some(7.0));
        assert_eq!(median(&[3.0, 7.0]), Some(5.0));
        assert_eq!(fmt_days(1.0), "1 day");
        assert_eq!(fmt_days(7.0), "7 days");
        assert_eq!(fmt_days(6.54), "6.5 days");
    }
}
