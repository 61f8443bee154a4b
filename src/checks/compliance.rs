//! Checks: compliance and consent for SMS and email.
//!
//! SMS quiet hours: SMS campaigns scheduled, or sent in the last 7 days, whose
//! send time in the client's timezone (`ClientProfile::timezone`, the proxy for
//! recipients' local time: the snapshot has no per-recipient send time) falls
//! outside 8:00–21:00, or 8:00–20:00 when the audience includes Florida or
//! Oklahoma (`US-FL`, `US-OK`); and live SMS steps of live flows that do not
//! honour quiet hours. A send exactly on a boundary (8:00, 21:00) is inside.
//! Overrides: `compliance-sms-quiet-hours.start_hour` (8),
//! `compliance-sms-quiet-hours.end_hour` (21, or 20 in FL/OK),
//! `compliance-sms-quiet-hours.days` (7: how far back sent campaigns count).
//!
//! SMS registration and Texas: judged from the client profile (`sms_enabled`,
//! `jurisdictions`, `sms_registration`, `texas_status`) and, for Texas, whether
//! the account actually texts (an SMS campaign sent, sending or scheduled, or a
//! live SMS step in a live flow). No numeric threshold, so no override.
//!
//! SMS frequency: recipients in Florida or Oklahoma who received more than 3
//! marketing texts in 24 hours. Override: `compliance-sms-frequency.max_texts` (3).
//!
//! CASL: Canadian profiles subscribed to email on implied consent recorded more
//! than two years ago. A method counts as express when it is an active opt-in
//! Lookout can recognise (`EXPRESS_METHODS`: double or single opt-in, a signup
//! form, the preference page, an inbound keyword); any other recorded method
//! (`IMPLIED`, a checkout or ecommerce integration, an API call, an import, a
//! manual add) is treated as implied, since Lookout cannot see an express record
//! behind it. Profiles with no method, or no consent time, are not judged here
//! (the consent-unknown check covers them). Override:
//! `compliance-casl-implied-expired.max_days` (730).
//!
//! Consent unknown: subscribed profiles in the sample with neither a consent
//! method nor a consent time, over 0.5% of the subscribed profiles sampled (with
//! the usual 100-profile sample, any one). Override:
//! `compliance-consent-unknown-sends.max_pct` (0.5, percent).
//!
//! None of these is priced: the exposure is legal, not revenue (CHECKS.md: —).

use std::collections::HashMap;

use chrono::{DateTime, Duration, Timelike, Utc};

use super::integrations::{fmt_count, fmt_share};
use super::{Cadence, Check, CheckInput, Observation, links};
use crate::domain::{Severity, Track};
use crate::scan::snapshot::{Campaign, Flow, FlowStep, Part, ProfileConsent, StepKind};

/// The compliance checks, in catalogue order.
pub const CHECKS: &[Check] = &[
    Check {
        id: QUIET_HOURS,
        family: "compliance",
        summary: "SMS campaigns or flow steps sending outside 8 am–9 pm local time (8 pm in FL/OK)",
        threshold: "any send outside 8:00–21:00 (20:00 in FL/OK) in the client's timezone",
        default_severity: Severity::Critical,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::Campaigns, Part::Flows, Part::FlowSteps],
        run: sms_quiet_hours,
    },
    Check {
        id: REGISTRATION,
        family: "compliance",
        summary: "SMS enabled for US recipients without a verified sender (10DLC/toll-free)",
        threshold: "registration not verified",
        default_severity: Severity::Critical,
        track: Track::Now,
        cadence: Cadence::Full,
        // Reads only the profile; the account read ties it to a scan that reached Klaviyo.
        needs: &[Part::Account],
        run: sms_registration,
    },
    Check {
        id: TEXAS,
        family: "compliance",
        summary: "Texas audience texted while the client's Texas status is unset",
        threshold: "Texas status unset",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::Campaigns, Part::Flows, Part::FlowSteps],
        run: texas_registration,
    },
    Check {
        id: FREQUENCY,
        family: "compliance",
        summary: "More than 3 marketing texts in 24 h to one profile in Florida or Oklahoma",
        threshold: "> 3 texts in 24 h",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::SmsRecipients],
        run: sms_frequency,
    },
    Check {
        id: CASL_IMPLIED,
        family: "compliance",
        summary: "Canadian profiles mailed on implied consent older than 2 years (CASL)",
        threshold: "any implied consent older than 730 days",
        default_severity: Severity::Warning,
        track: Track::Eventually,
        cadence: Cadence::Full,
        needs: &[Part::Profiles],
        run: casl_implied_expired,
    },
    Check {
        id: CONSENT_UNKNOWN,
        family: "compliance",
        summary: "Subscribed profiles with no recorded consent (method or time)",
        threshold: "> 0.5% of sampled subscribed profiles",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::Profiles],
        run: consent_unknown_sends,
    },
];

const QUIET_HOURS: &str = "compliance-sms-quiet-hours";
const REGISTRATION: &str = "compliance-sms-registration";
const TEXAS: &str = "compliance-texas-registration";
const FREQUENCY: &str = "compliance-sms-frequency";
const CASL_IMPLIED: &str = "compliance-casl-implied-expired";
const CONSENT_UNKNOWN: &str = "compliance-consent-unknown-sends";

/// Consent methods Lookout recognises as express (active) opt-in.
const EXPRESS_METHODS: &[&str] = &[
    "DOUBLE_OPT_IN",
    "SINGLE_OPT_IN",
    "EXPRESS",
    "FORM",
    "PREFERENCE_PAGE",
    "INBOUND_MESSAGE",
];

/// Whether the profile's jurisdictions include `code` (case-insensitive).
fn has_jurisdiction(input: &CheckInput<'_>, code: &str) -> bool {
    input
        .profile
        .jurisdictions
        .iter()
        .any(|j| j.trim().eq_ignore_ascii_case(code))
}

/// Florida or Oklahoma is in the audience: their stricter SMS rules apply.
fn fl_or_ok(input: &CheckInput<'_>) -> bool {
    has_jurisdiction(input, "US-FL") || has_jurisdiction(input, "US-OK")
}

fn is_sms(c: &Campaign) -> bool {
    c.channel.trim().eq_ignore_ascii_case("sms")
}

fn status_is(c: &Campaign, any: &[&str]) -> bool {
    any.iter().any(|s| c.status.trim().eq_ignore_ascii_case(s))
}

/// SMS steps that send: live (or unset) status inside a live, unarchived flow.
fn live_sms_steps<'a>(input: &CheckInput<'a>) -> Vec<(&'a FlowStep, &'a Flow)> {
    let flows: HashMap<&str, &Flow> = input
        .snapshot
        .flows
        .iter()
        .flatten()
        .map(|f| (f.id.as_str(), f))
        .collect();
    input
        .snapshot
        .flow_steps
        .iter()
        .flatten()
        .filter(|s| s.kind == StepKind::Sms)
        .filter(|s| {
            s.status
                .as_deref()
                .is_none_or(|st| st.trim().eq_ignore_ascii_case("live"))
        })
        .filter_map(|s| {
            let f = flows.get(s.flow_id.as_str())?;
            f.is_sending().then_some((s, *f))
        })
        .collect()
}

/// Hours since local midnight, with minutes and seconds as a fraction.
fn local_hours(t: DateTime<Utc>, tz: chrono_tz::Tz) -> (f64, String) {
    let local = t.with_timezone(&tz);
    let h = f64::from(local.hour())
        + f64::from(local.minute()) / 60.0
        + f64::from(local.second()) / 3600.0;
    (h, local.format("%H:%M").to_string())
}

/// `21:00` for 21.0, `20:30` for 20.5.
fn fmt_clock(hours: f64) -> String {
    let minutes = (hours * 60.0).round() as i64;
    format!("{:02}:{:02}", minutes / 60, minutes % 60)
}

fn sms_quiet_hours(input: &CheckInput<'_>) -> Vec<Observation> {
    let p = input.profile;
    let strict = fl_or_ok(input);
    let start = p.threshold(&format!("{QUIET_HOURS}.start_hour"), 8.0);
    let end = p.threshold(
        &format!("{QUIET_HOURS}.end_hour"),
        if strict { 20.0 } else { 21.0 },
    );
    let days = p.threshold(&format!("{QUIET_HOURS}.days"), 7.0);
    let window = if strict {
        format!(
            "{}–{} (Florida and Oklahoma allow no texts later)",
            fmt_clock(start),
            fmt_clock(end)
        )
    } else {
        format!("{}–{} (TCPA quiet hours)", fmt_clock(start), fmt_clock(end))
    };
    let mut out = Vec::new();
    // An unknown timezone cannot place a send in the day; the flow steps are still judged.
    if let Ok(tz) = p.timezone.trim().parse::<chrono_tz::Tz>() {
        let since = input.now - Duration::seconds((days * 86_400.0) as i64);
        for c in input
            .snapshot
            .campaigns
            .iter()
            .flatten()
            .filter(|c| is_sms(c))
        {
            let Some(at) = c.send_time else { continue };
            let counts = status_is(c, &["Scheduled"])
                || (status_is(c, &["Sent", "Sending"]) && at >= since && at <= input.now);
            if !counts {
                continue;
            }
            let (h, shown) = local_hours(at, tz);
            if h >= start && h <= end {
                continue;
            }
            let (verb, began_at) = if at > input.now {
                ("is scheduled", c.scheduled_at.or(Some(c.updated_at)))
            } else {
                ("went out", Some(at))
            };
            out.push(Observation {
                check: QUIET_HOURS.to_owned(),
                subject: c.id.clone(),
                severity: Severity::Critical,
                track: Track::Now,
                title: format!("SMS campaign \"{}\" sends at {shown} local time", c.name),
                why: format!(
                    "It {verb} at {shown} on {} in {} ({} UTC), outside the allowed \
                     {window}. Texts outside these hours expose the client to TCPA and state \
                     claims: move the send into the window.",
                    at.with_timezone(&tz).format("%Y-%m-%d"),
                    tz.name(),
                    at.format("%Y-%m-%d %H:%M"),
                ),
                deep_link: links::campaign(&c.id),
                value_at_stake: None,
                began_at,
            });
        }
    }
    for (step, flow) in live_sms_steps(input) {
        let Some(m) = step.message.as_ref() else {
            continue;
        };
        if m.sms_quiet_hours != Some(false) {
            continue;
        }
        out.push(Observation {
            check: QUIET_HOURS.to_owned(),
            subject: step.id.clone(),
            severity: Severity::Critical,
            track: Track::Now,
            title: format!(
                "SMS \"{}\" in flow \"{}\" ignores quiet hours",
                m.name, flow.name
            ),
            why: format!(
                "This live flow step texts whenever a profile reaches it, day or night, so \
                 some texts land outside the allowed {window}. Turn on quiet hours for the \
                 step in the flow editor."
            ),
            deep_link: links::flow(&flow.id),
            value_at_stake: None,
            // The setting's last edit is the earliest evidence Lookout has.
            began_at: Some(m.updated),
        });
    }
    out
}

/// The audience includes the US (`US`, or a state such as `US-TX`).
fn us_audience(input: &CheckInput<'_>) -> bool {
    input
        .profile
        .jurisdictions
        .iter()
        .any(|j| j.trim().to_ascii_uppercase().starts_with("US"))
}

fn sms_registration(input: &CheckInput<'_>) -> Vec<Observation> {
    let p = input.profile;
    if !p.sms_enabled || !us_audience(input) {
        return Vec::new();
    }
    let status = p.sms_registration.as_deref().map(str::trim).unwrap_or("");
    if status.eq_ignore_ascii_case("verified") {
        return Vec::new();
    }
    let shown = if status.is_empty() { "none" } else { status };
    vec![Observation {
        check: REGISTRATION.to_owned(),
        subject: "account".to_owned(),
        severity: Severity::Critical,
        track: Track::Now,
        title: format!("SMS on for US recipients without a verified sender ({shown})"),
        why: format!(
            "SMS is enabled for this client and its audience includes the US, but its sender \
             registration is `{shown}`. US carriers block or filter marketing texts from \
             unregistered numbers (A2P 10DLC brand and campaign registration, or toll-free \
             verification). Complete the registration in Klaviyo's SMS settings, then set \
             `sms_registration = \"verified\"` in the client profile."
        ),
        deep_link: links::sms_settings(),
        value_at_stake: None,
        began_at: None,
    }]
}

/// How the account texts, in words, when it does: the evidence for the Texas check.
fn texting_evidence(input: &CheckInput<'_>) -> Option<String> {
    let campaigns = input
        .snapshot
        .campaigns
        .iter()
        .flatten()
        .filter(|c| is_sms(c) && status_is(c, &["Sent", "Sending", "Scheduled"]))
        .count();
    let steps = live_sms_steps(input).len();
    let mut parts = Vec::new();
    if input.profile.sms_enabled {
        parts.push("SMS is enabled in the client profile".to_owned());
    }
    if campaigns > 0 {
        parts.push(format!(
            "{campaigns} SMS campaign{} sent or scheduled",
            if campaigns == 1 { "" } else { "s" }
        ));
    }
    if steps > 0 {
        parts.push(format!(
            "{steps} live flow SMS step{}",
            if steps == 1 { "" } else { "s" }
        ));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

fn texas_registration(input: &CheckInput<'_>) -> Vec<Observation> {
    if !has_jurisdiction(input, "US-TX") {
        return Vec::new();
    }
    let unset = input
        .profile
        .texas_status
        .as_deref()
        .is_none_or(|s| s.trim().is_empty());
    if !unset {
        return Vec::new();
    }
    let Some(evidence) = texting_evidence(input) else {
        return Vec::new();
    };
    vec![Observation {
        check: TEXAS.to_owned(),
        subject: "account".to_owned(),
        severity: Severity::Warning,
        track: Track::Now,
        title: "Texas audience texted with no Texas status on file".to_owned(),
        why: format!(
            "The audience includes Texas and the account texts ({evidence}). Texas's 2025 \
             telemarketing amendment (SB 140) brings text marketing under its registration \
             duties unless an exemption applies. Confirm whether the client registered or is \
             exempt and record it as `texas_status` in the client profile."
        ),
        deep_link: links::sms_settings(),
        value_at_stake: None,
        began_at: None,
    }]
}

/// Florida or Oklahoma, as a region code or name.
fn strict_state(region: &str) -> Option<&'static str> {
    match region.trim().to_ascii_uppercase().as_str() {
        "FL" | "US-FL" | "FLORIDA" => Some("Florida"),
        "OK" | "US-OK" | "OKLAHOMA" => Some("Oklahoma"),
        _ => None,
    }
}

fn sms_frequency(input: &CheckInput<'_>) -> Vec<Observation> {
    let max_texts = input
        .profile
        .threshold(&format!("{FREQUENCY}.max_texts"), 3.0);
    let over: Vec<(u32, &'static str)> = input
        .snapshot
        .sms_recipients
        .iter()
        .flatten()
        .filter(|r| f64::from(r.texts) > max_texts)
        .filter_map(|r| Some((r.texts, strict_state(r.region.as_deref()?)?)))
        .collect();
    let Some(most) = over.iter().map(|(n, _)| *n).max() else {
        return Vec::new();
    };
    let mut states: Vec<&str> = over.iter().map(|(_, s)| *s).collect();
    states.sort_unstable();
    states.dedup();
    let n = over.len();
    vec![Observation {
        check: FREQUENCY.to_owned(),
        subject: "account".to_owned(),
        severity: Severity::Warning,
        track: Track::Now,
        title: format!(
            "{n} {} in {} got more than {max_texts} texts in 24 h",
            if n == 1 { "profile" } else { "profiles" },
            states.join(" and "),
        ),
        why: format!(
            "In the last 24 hours {n} recipient{} in {} received more than {max_texts} \
             marketing texts (the most: {most}). Florida's and Oklahoma's telemarketing laws \
             allow at most 3 in 24 hours to one person. Turn on SMS smart sending or add a \
             frequency filter to overlapping campaigns and flows.",
            if n == 1 { "" } else { "s" },
            states.join(" and "),
        ),
        deep_link: links::sms_settings(),
        value_at_stake: None,
        began_at: None,
    }]
}

fn is_subscribed(p: &ProfileConsent) -> bool {
    p.email_consent
        .as_deref()
        .is_some_and(|c| c.trim().eq_ignore_ascii_case("SUBSCRIBED"))
}

fn is_canadian(p: &ProfileConsent) -> bool {
    p.country
        .as_deref()
        .map(|c| c.trim().to_ascii_uppercase())
        .is_some_and(|c| c == "CA" || c == "CAN" || c == "CANADA")
}

/// The recorded method, when there is one (blank counts as none).
fn method(p: &ProfileConsent) -> Option<&str> {
    p.method.as_deref().map(str::trim).filter(|m| !m.is_empty())
}

fn is_express(method: &str) -> bool {
    EXPRESS_METHODS
        .iter()
        .any(|e| e.eq_ignore_ascii_case(method))
}

fn casl_implied_expired(input: &CheckInput<'_>) -> Vec<Observation> {
    let Some(sample) = input.snapshot.profiles.as_ref() else {
        return Vec::new();
    };
    let max_days = input
        .profile
        .threshold(&format!("{CASL_IMPLIED}.max_days"), 730.0);
    let lapse = Duration::seconds((max_days * 86_400.0) as i64);
    let canadians: Vec<&ProfileConsent> = sample
        .profiles
        .iter()
        .filter(|p| is_canadian(p) && is_subscribed(p))
        .collect();
    let expired: Vec<(&ProfileConsent, DateTime<Utc>, &str)> = canadians
        .iter()
        .filter_map(|p| {
            let m = method(p)?;
            let at = p.consented_at?;
            (!is_express(m) && input.now - at > lapse).then_some((*p, at, m))
        })
        .collect();
    let Some(oldest) = expired.iter().map(|(_, at, _)| *at).min() else {
        return Vec::new();
    };
    let mut methods: Vec<&str> = expired.iter().map(|(_, _, m)| *m).collect();
    methods.sort_unstable();
    methods.dedup();
    let n = expired.len();
    vec![Observation {
        check: CASL_IMPLIED.to_owned(),
        subject: "account".to_owned(),
        severity: Severity::Warning,
        track: Track::Eventually,
        title: format!(
            "{n} Canadian {} subscribed on implied consent over {} days old",
            if n == 1 { "profile" } else { "profiles" },
            fmt_count(max_days)
        ),
        why: format!(
            "Of {} profiles sampled, {} are subscribed Canadians and {n} of them were \
             subscribed by {} (not an express opt-in) more than {} days ago, the oldest on \
             {}. Under CASL implied consent from a purchase lapses after two years: ask them \
             to re-confirm, or exclude them from campaigns until they do.",
            sample.profiles.len(),
            canadians.len(),
            methods.join(", "),
            fmt_count(max_days),
            oldest.format("%Y-%m-%d"),
        ),
        deep_link: links::profiles(),
        value_at_stake: None,
        // The first implied consent in the sample lapsed this long after it was given.
        began_at: Some(oldest + lapse),
    }]
}

fn consent_unknown_sends(input: &CheckInput<'_>) -> Vec<Observation> {
    let Some(sample) = input.snapshot.profiles.as_ref() else {
        return Vec::new();
    };
    let max_pct = input
        .profile
        .threshold(&format!("{CONSENT_UNKNOWN}.max_pct"), 0.5);
    let subscribed: Vec<&ProfileConsent> = sample
        .profiles
        .iter()
        .filter(|p| is_subscribed(p))
        .collect();
    let unknown: Vec<&ProfileConsent> = subscribed
        .iter()
        .copied()
        .filter(|p| method(p).is_none() && p.consented_at.is_none())
        .collect();
    if subscribed.is_empty() || unknown.is_empty() {
        return Vec::new();
    }
    let share = unknown.len() as f64 / subscribed.len() as f64;
    if 100.0 * share <= max_pct {
        return Vec::new();
    }
    let n = unknown.len();
    vec![Observation {
        check: CONSENT_UNKNOWN.to_owned(),
        subject: "account".to_owned(),
        severity: Severity::Warning,
        track: Track::Now,
        title: format!(
            "{n} of {} sampled subscribed profiles have no recorded consent",
            subscribed.len()
        ),
        why: format!(
            "In a sample of the {} newest profiles, {n} of the {} subscribed to email \
             ({}) have neither a consent method nor a consent time (line: more than {max_pct}%), \
             so campaigns reach people whose opt-in cannot be shown (GDPR, PECR and CASL \
             expect a record). Check how they were added (an import or an integration that \
             skips consent) and record consent at the source.",
            sample.profiles.len(),
            subscribed.len(),
            fmt_share(share),
        ),
        deep_link: links::profiles(),
        value_at_stake: None,
        began_at: unknown.iter().map(|p| p.created).min(),
    }]
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::checks::fixtures::{self, ABANDONED_CHECKOUT, NOW};
    use crate::scan::snapshot::{FlowStatus, SmsRecipient, Snapshot};

    fn utc(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0)
            .single()
            .unwrap_or_else(|| panic!("valid date"))
    }

    /// The healthy account with one more SMS campaign.
    fn with_sms(status: &str, at: DateTime<Utc>) -> Snapshot {
        let mut s = fixtures::healthy();
        if let Some(c) = s.campaigns.as_mut() {
            c.push(fixtures::campaign(
                "CMPSMSX",
                "Flash Sale <text>",
                "sms",
                status,
                Some(at),
            ));
        }
        s
    }

    fn quiet_step_off(s: &mut Snapshot) {
        for step in s.flow_steps.iter_mut().flatten() {
            if step.id == "CHK4"
                && let Some(m) = step.message.as_mut()
            {
                m.sms_quiet_hours = Some(false);
            }
        }
    }

    fn profile_with(
        f: impl FnOnce(&mut crate::config::ClientProfile),
    ) -> crate::config::ClientProfile {
        let mut p = fixtures::profile();
        f(&mut p);
        p
    }

    // 2025-03-10 is in EDT (UTC-4): 01:30 UTC on the 12th is 21:30 on the 11th in New York.

    #[test]
    fn a_scheduled_text_at_half_past_nine_in_new_york_is_critical() {
        let s = with_sms("Scheduled", utc(2025, 3, 12, 1, 30));
        let obs = fixtures::run(QUIET_HOURS, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.subject, "CMPSMSX");
        assert_eq!(o.severity, Severity::Critical);
        assert_eq!(o.track, Track::Now);
        assert_eq!(
            o.title,
            "SMS campaign \"Flash Sale <text>\" sends at 21:30 local time"
        );
        assert!(o.why.contains("08:00–21:00"), "{}", o.why);
        assert!(o.why.contains("America/New_York"), "{}", o.why);
        assert_eq!(o.deep_link, links::campaign("CMPSMSX"));
        assert_eq!(o.began_at, Some(utc(2025, 3, 11, 1, 30)));
        assert_eq!(o.value_at_stake, None);
    }

    #[test]
    fn texts_inside_the_window_or_on_its_edges_are_fine() {
        // 17:00, 21:00 and 08:00 New York time.
        for at in [
            utc(2025, 3, 11, 21, 0),
            utc(2025, 3, 12, 1, 0),
            utc(2025, 3, 12, 12, 0),
        ] {
            let s = with_sms("Scheduled", at);
            assert!(fixtures::run(QUIET_HOURS, &s, None).is_empty(), "{at}");
        }
        // 07:59 is too early.
        let s = with_sms("Scheduled", utc(2025, 3, 12, 11, 59));
        assert_eq!(fixtures::run(QUIET_HOURS, &s, None).len(), 1);
    }

    #[test]
    fn florida_ends_the_day_at_eight() {
        // 21:00 New York time: fine under TCPA, too late in Florida.
        let s = with_sms("Scheduled", utc(2025, 3, 12, 1, 0));
        let florida = profile_with(|p| p.jurisdictions = vec!["US".into(), "us-fl".into()]);
        let obs = fixtures::run_with(QUIET_HOURS, &s, None, &florida);
        assert_eq!(obs.len(), 1, "{obs:?}");
        assert!(obs[0].why.contains("08:00–20:00"), "{}", obs[0].why);
        // 20:00 exactly is still inside.
        let s = with_sms("Scheduled", utc(2025, 3, 12, 0, 0));
        assert!(fixtures::run_with(QUIET_HOURS, &s, None, &florida).is_empty());
    }

    #[test]
    fn the_window_follows_the_client_timezone_and_overrides() {
        // 21:30 in New York is 18:30 in Los Angeles.
        let s = with_sms("Scheduled", utc(2025, 3, 12, 1, 30));
        let west = profile_with(|p| p.timezone = "America/Los_Angeles".into());
        assert!(fixtures::run_with(QUIET_HOURS, &s, None, &west).is_empty());
        let late = profile_with(|p| {
            p.thresholds.insert(format!("{QUIET_HOURS}.end_hour"), 22.0);
        });
        assert!(fixtures::run_with(QUIET_HOURS, &s, None, &late).is_empty());
    }

    #[test]
    fn sent_texts_count_for_seven_days() {
        // 03:00 New York time, six days ago: reported, dated at the send.
        let at = utc(2025, 3, 4, 8, 0);
        let obs = fixtures::run(QUIET_HOURS, &with_sms("Sent", at), None);
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].began_at, Some(at));
        assert!(
            obs[0].why.starts_with("It went out at 03:00"),
            "{}",
            obs[0].why
        );
        // Eight days ago: history, not news.
        let old = with_sms("Sent", utc(2025, 3, 2, 8, 0));
        assert!(fixtures::run(QUIET_HOURS, &old, None).is_empty());
        // A draft at that hour sends nothing.
        let draft = with_sms("Draft", utc(2025, 3, 12, 1, 30));
        assert!(fixtures::run(QUIET_HOURS, &draft, None).is_empty());
        // An email at that hour is not a text.
        let mut email = fixtures::healthy();
        if let Some(c) = email.campaigns.as_mut() {
            c.push(fixtures::campaign(
                "CMPLATE",
                "Late email",
                "email",
                "Scheduled",
                Some(utc(2025, 3, 12, 5, 0)),
            ));
        }
        assert!(fixtures::run(QUIET_HOURS, &email, None).is_empty());
    }

    #[test]
    fn a_live_sms_step_without_quiet_hours_is_critical() {
        let mut s = fixtures::healthy();
        quiet_step_off(&mut s);
        let obs = fixtures::run(QUIET_HOURS, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.subject, "CHK4");
        assert_eq!(
            o.title,
            "SMS \"Checkout text\" in flow \"Abandoned Checkout\" ignores quiet hours"
        );
        assert_eq!(o.deep_link, links::flow(ABANDONED_CHECKOUT));
        assert_eq!(o.severity, Severity::Critical);
        // The same step in a flow that does not send is not reported.
        fixtures::set_flow_status(&mut s, ABANDONED_CHECKOUT, FlowStatus::Draft, NOW);
        assert!(fixtures::run(QUIET_HOURS, &s, None).is_empty());
    }

    #[test]
    fn registration_is_judged_only_for_us_sms() {
        let s = fixtures::healthy();
        // SMS off: nothing to register.
        assert!(fixtures::run(REGISTRATION, &s, None).is_empty());
        let on = profile_with(|p| p.sms_enabled = true);
        let obs = fixtures::run_with(REGISTRATION, &s, None, &on);
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].severity, Severity::Critical);
        assert_eq!(obs[0].track, Track::Now);
        assert_eq!(
            obs[0].title,
            "SMS on for US recipients without a verified sender (none)"
        );
        assert_eq!(obs[0].deep_link, links::sms_settings());
        let pending = profile_with(|p| {
            p.sms_enabled = true;
            p.jurisdictions = vec!["US-TX".into()];
            p.sms_registration = Some("pending".into());
        });
        assert_eq!(
            fixtures::run_with(REGISTRATION, &s, None, &pending).len(),
            1
        );
        let verified = profile_with(|p| {
            p.sms_enabled = true;
            p.sms_registration = Some("Verified".into());
        });
        assert!(fixtures::run_with(REGISTRATION, &s, None, &verified).is_empty());
        let canada = profile_with(|p| {
            p.sms_enabled = true;
            p.jurisdictions = vec!["CA".into(), "UK".into()];
        });
        assert!(fixtures::run_with(REGISTRATION, &s, None, &canada).is_empty());
    }

    #[test]
    fn texas_texted_without_a_status_is_a_warning() {
        // The healthy account texts (a monthly SMS campaign, a live SMS step).
        let s = fixtures::healthy();
        let texas = profile_with(|p| p.jurisdictions = vec!["US".into(), "US-TX".into()]);
        let obs = fixtures::run_with(TEXAS, &s, None, &texas);
        assert_eq!(obs.len(), 1);
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.track, Track::Now);
        assert!(
            o.why
                .contains("1 SMS campaign sent or scheduled, 1 live flow SMS step"),
            "{}",
            o.why
        );
        // A recorded status settles it.
        let exempt = profile_with(|p| {
            p.jurisdictions = vec!["US-TX".into()];
            p.texas_status = Some("exempt".into());
        });
        assert!(fixtures::run_with(TEXAS, &s, None, &exempt).is_empty());
        // No Texas audience.
        assert!(fixtures::run(TEXAS, &s, None).is_empty());
    }

    #[test]
    fn texas_without_texting_is_fine() {
        let mut s = fixtures::healthy();
        if let Some(c) = s.campaigns.as_mut() {
            c.retain(|c| !is_sms(c));
        }
        let texas = profile_with(|p| p.jurisdictions = vec!["US-TX".into()]);
        // The live SMS step still texts.
        assert_eq!(fixtures::run_with(TEXAS, &s, None, &texas).len(), 1);
        if let Some(steps) = s.flow_steps.as_mut() {
            steps.retain(|st| st.kind != StepKind::Sms);
        }
        assert!(fixtures::run_with(TEXAS, &s, None, &texas).is_empty());
        // Turning SMS on in the profile is texting too.
        let on = profile_with(|p| {
            p.jurisdictions = vec!["US-TX".into()];
            p.sms_enabled = true;
        });
        assert_eq!(fixtures::run_with(TEXAS, &s, None, &on).len(), 1);
    }

    fn set_texts(s: &mut Snapshot, region: &str, texts: u32, how_many: usize) {
        if let Some(r) = s.sms_recipients.as_mut() {
            r.extend((0..how_many).map(|k| SmsRecipient {
                profile_id: format!("PRFX{region}{k}"),
                region: Some(region.into()),
                texts,
            }));
        }
    }

    #[test]
    fn four_texts_in_florida_is_too_many() {
        let mut s = fixtures::healthy();
        set_texts(&mut s, "FL", 4, 2);
        set_texts(&mut s, "OK", 5, 1);
        // New York has no such cap.
        set_texts(&mut s, "NY", 9, 3);
        let obs = fixtures::run(FREQUENCY, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.subject, "account");
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.track, Track::Now);
        assert_eq!(
            o.title,
            "3 profiles in Florida and Oklahoma got more than 3 texts in 24 h"
        );
        assert!(o.why.contains("(the most: 5)"), "{}", o.why);
    }

    #[test]
    fn three_texts_is_the_limit_unless_overridden() {
        let mut s = fixtures::healthy();
        set_texts(&mut s, "FL", 3, 4);
        assert!(fixtures::run(FREQUENCY, &s, None).is_empty());
        let strict = profile_with(|p| {
            p.thresholds.insert(format!("{FREQUENCY}.max_texts"), 2.0);
        });
        let obs = fixtures::run_with(FREQUENCY, &s, None, &strict);
        assert_eq!(obs.len(), 1);
        assert_eq!(
            obs[0].title,
            "4 profiles in Florida got more than 2 texts in 24 h"
        );
    }

    /// Makes the `k`-th sampled profile a subscribed Canadian with this consent.
    fn canadian(s: &mut Snapshot, k: usize, method: Option<&str>, at: Option<DateTime<Utc>>) {
        if let Some(p) = s.profiles.as_mut().and_then(|x| x.profiles.get_mut(k)) {
            p.country = Some("CA".into());
            p.region = Some("QC".into());
            p.method = method.map(str::to_owned);
            p.consented_at = at;
        }
    }

    #[test]
    fn implied_consent_over_two_years_old_is_flagged() {
        let mut s = fixtures::healthy();
        let old = NOW - Duration::days(800);
        canadian(&mut s, 0, Some("IMPLIED"), Some(old));
        canadian(
            &mut s,
            1,
            Some("SHOPIFY_INTEGRATION"),
            Some(NOW - Duration::days(1000)),
        );
        // Express consent does not lapse.
        canadian(
            &mut s,
            2,
            Some("DOUBLE_OPT_IN"),
            Some(NOW - Duration::days(2000)),
        );
        let obs = fixtures::run(CASL_IMPLIED, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.track, Track::Eventually);
        assert_eq!(
            o.title,
            "2 Canadian profiles subscribed on implied consent over 730 days old"
        );
        assert!(o.why.contains("IMPLIED, SHOPIFY_INTEGRATION"), "{}", o.why);
        assert_eq!(
            o.began_at,
            Some(NOW - Duration::days(1000) + Duration::days(730))
        );
        assert_eq!(o.deep_link, links::profiles());
    }

    #[test]
    fn implied_consent_under_two_years_is_fine_unless_overridden() {
        let mut s = fixtures::healthy();
        canadian(&mut s, 0, Some("IMPLIED"), Some(NOW - Duration::days(729)));
        // No consent time: cannot be aged here.
        canadian(&mut s, 1, Some("IMPLIED"), None);
        assert!(fixtures::run(CASL_IMPLIED, &s, None).is_empty());
        let one_year = profile_with(|p| {
            p.thresholds
                .insert(format!("{CASL_IMPLIED}.max_days"), 365.0);
        });
        let obs = fixtures::run_with(CASL_IMPLIED, &s, None, &one_year);
        assert_eq!(obs.len(), 1);
        assert!(
            obs[0].title.starts_with("1 Canadian profile "),
            "{}",
            obs[0].title
        );
        // An old implied consent outside Canada is not a CASL matter.
        let mut us = fixtures::healthy();
        if let Some(p) = us.profiles.as_mut().and_then(|x| x.profiles.get_mut(0)) {
            p.method = Some("IMPLIED".into());
            p.consented_at = Some(NOW - Duration::days(900));
        }
        assert!(fixtures::run(CASL_IMPLIED, &us, None).is_empty());
    }

    fn no_consent(s: &mut Snapshot, k: usize) {
        if let Some(p) = s.profiles.as_mut().and_then(|x| x.profiles.get_mut(k)) {
            p.method = None;
            p.consented_at = None;
        }
    }

    #[test]
    fn one_subscribed_profile_without_consent_in_a_hundred_is_over_the_line() {
        let mut s = fixtures::healthy();
        no_consent(&mut s, 4);
        let obs = fixtures::run(CONSENT_UNKNOWN, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.track, Track::Now);
        assert_eq!(
            o.title,
            "1 of 100 sampled subscribed profiles have no recorded consent"
        );
        assert!(o.why.contains("the 100 newest profiles"), "{}", o.why);
        assert!(o.why.contains("(1%)"), "{}", o.why);
        // The fixture's profile 4 was created 13 days before NOW.
        assert_eq!(o.began_at, Some(NOW - Duration::days(13)));
    }

    #[test]
    fn partial_records_or_unsubscribed_profiles_are_not_unknown_consent() {
        let mut s = fixtures::healthy();
        if let Some(ps) = s.profiles.as_mut() {
            // A method without a time, and a time without a method: consent is recorded.
            ps.profiles[0].consented_at = None;
            ps.profiles[1].method = None;
            // No record, but not subscribed: not mailed.
            ps.profiles[2].method = None;
            ps.profiles[2].consented_at = None;
            ps.profiles[2].email_consent = Some("UNSUBSCRIBED".into());
        }
        assert!(fixtures::run(CONSENT_UNKNOWN, &s, None).is_empty());
    }

    #[test]
    fn a_client_may_tolerate_a_few_unknown_consents() {
        let mut s = fixtures::healthy();
        no_consent(&mut s, 4);
        no_consent(&mut s, 5);
        let lenient = profile_with(|p| {
            p.thresholds
                .insert(format!("{CONSENT_UNKNOWN}.max_pct"), 2.0);
        });
        // 2 of 100 is 2%: at the line, not over it.
        assert!(fixtures::run_with(CONSENT_UNKNOWN, &s, None, &lenient).is_empty());
        no_consent(&mut s, 6);
        assert_eq!(
            fixtures::run_with(CONSENT_UNKNOWN, &s, None, &lenient).len(),
            1
        );
    }
}
