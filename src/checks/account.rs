//! Checks: account settings (sender address, timezone, currency), Lookout's
//! own access to the account, and the client's Klaviyo plan.
//!
//! Settings read only `GET /api/accounts`. The postal address is a legal
//! requirement for US marketing email (CAN-SPAM), so its absence is critical;
//! a timezone or currency that differs from the client profile skews send
//! times and revenue reports, so it goes to the batched routine.
//!
//! Access reads `Part::Grant`, Lookout's connection-store record of this
//! client's grant (never Klaviyo). Family `account` for all of them: families
//! are the files checks live in. Overrides: `access-grant-expiring.warning_days`
//! (7) and `access-grant-expiring.critical_days` (1): days left at or under
//! which the grant is reported; `access-key-rotation.max_days` (90: a private
//! key older than this should be replaced). `access-write-scope` has no
//! threshold (any `:write` scope). A revoked token is reported by the scan
//! pipeline itself (`access-token-revoked`), not here.
//!
//! Plan: active profiles are approximated from below by the largest profile
//! count among lists and segments (a profile count of the whole account is not
//! fetched), so a finding is never an overestimate. Override:
//! `plan-profile-overage.warn_pct` (95, percent of `profile_limit`); without a
//! `profile_limit` the plan is not judged. The next tier's price is not known,
//! so the overage is not priced. `plan-feature-gap` compares the agency's
//! playbook features with the `plan_features` of a known plan (`plan` set).

use chrono::Duration;

use super::integrations::{fmt_count, fmt_share};
use super::{Cadence, Check, CheckInput, Observation, links};
use crate::domain::{Severity, Track};
use crate::scan::snapshot::{GrantFacts, Part};

/// The checks of this family.
pub const CHECKS: &[Check] = &[
    Check {
        id: POSTAL_ADDRESS,
        family: "account",
        summary: "Account sender (postal) address is empty (CAN-SPAM)",
        threshold: "address empty",
        default_severity: Severity::Critical,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::Account],
        run: postal_address,
    },
    Check {
        id: TIMEZONE_CURRENCY,
        family: "account",
        summary: "Account timezone or currency differs from the client profile",
        threshold: "any difference from the profile",
        default_severity: Severity::Warning,
        track: Track::Eventually,
        cadence: Cadence::Full,
        needs: &[Part::Account],
        run: timezone_currency,
    },
    Check {
        id: GRANT_EXPIRING,
        family: "account",
        summary: "Lookout's access to this client's account ends soon",
        threshold: "≤ 7 days left (critical at ≤ 1 day)",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::Grant],
        run: grant_expiring,
    },
    Check {
        id: WRITE_SCOPE,
        family: "account",
        summary: "Lookout's grant holds a write scope it never needs",
        threshold: "any `:write` scope",
        default_severity: Severity::Warning,
        track: Track::Now,
        cadence: Cadence::Full,
        needs: &[Part::Grant],
        run: write_scope,
    },
    Check {
        id: KEY_ROTATION,
        family: "account",
        summary: "The private API key Lookout uses is older than the rotation age",
        threshold: "> 90 days old",
        default_severity: Severity::Opportunity,
        track: Track::Eventually,
        cadence: Cadence::Full,
        needs: &[Part::Grant],
        run: key_rotation,
    },
    Check {
        id: PROFILE_OVERAGE,
        family: "account",
        summary: "Active profiles near or over the plan's profile limit",
        threshold: "≥ 95% of the plan's limit",
        default_severity: Severity::Warning,
        track: Track::Eventually,
        cadence: Cadence::Full,
        needs: &[Part::Lists, Part::Segments],
        run: profile_overage,
    },
    Check {
        id: FEATURE_GAP,
        family: "account",
        summary: "The agency playbook relies on a feature the client's plan lacks",
        threshold: "any playbook feature missing from a known plan",
        default_severity: Severity::Opportunity,
        track: Track::Eventually,
        cadence: Cadence::Full,
        // Reads only the profile and the playbook; the account read ties it to a
        // scan that reached Klaviyo, so a failed scan skips it like the rest.
        needs: &[Part::Account],
        run: feature_gap,
    },
];

const POSTAL_ADDRESS: &str = "compliance-postal-address";
const TIMEZONE_CURRENCY: &str = "account-timezone-currency";
const GRANT_EXPIRING: &str = "access-grant-expiring";
const WRITE_SCOPE: &str = "access-write-scope";
const KEY_ROTATION: &str = "access-key-rotation";
const PROFILE_OVERAGE: &str = "plan-profile-overage";
const FEATURE_GAP: &str = "plan-feature-gap";

/// Subject of every access observation: the one grant Lookout holds per client.
const GRANT: &str = "grant";

fn postal_address(input: &CheckInput<'_>) -> Vec<Observation> {
    let Some(account) = input.snapshot.account.as_ref() else {
        return Vec::new();
    };
    if !account.sender_address.trim().is_empty() {
        return Vec::new();
    }
    vec![Observation {
        check: POSTAL_ADDRESS.to_owned(),
        subject: "account".to_owned(),
        severity: Severity::Critical,
        track: Track::Now,
        title: "No postal address on the account".to_owned(),
        why: "Marketing email to US recipients must carry a physical postal address \
              (CAN-SPAM), and Klaviyo fills the footer from this setting. Add the \
              business address in account settings."
            .to_owned(),
        deep_link: links::account_settings(),
        value_at_stake: None,
        began_at: None,
    }]
}

fn timezone_currency(input: &CheckInput<'_>) -> Vec<Observation> {
    let Some(account) = input.snapshot.account.as_ref() else {
        return Vec::new();
    };
    let profile = input.profile;
    let mut differences = Vec::new();
    if account.timezone.trim() != profile.timezone.trim() {
        differences.push(format!(
            "timezone {} (client works in {})",
            shown(&account.timezone),
            profile.timezone
        ));
    }
    if !account
        .preferred_currency
        .trim()
        .eq_ignore_ascii_case(profile.currency.trim())
    {
        differences.push(format!(
            "currency {} (client reports in {})",
            shown(&account.preferred_currency),
            profile.currency
        ));
    }
    if differences.is_empty() {
        return Vec::new();
    }
    vec![Observation {
        check: TIMEZONE_CURRENCY.to_owned(),
        subject: "account".to_owned(),
        severity: Severity::Warning,
        track: Track::Eventually,
        title: format!("Account settings differ: {}", differences.join(", ")),
        why: "Klaviyo schedules sends and buckets reports in the account's timezone and \
              currency, so send times and revenue figures are off for this client. Fix the \
              account settings, or the client profile if it is the profile that is wrong."
            .to_owned(),
        deep_link: links::account_settings(),
        value_at_stake: None,
        began_at: None,
    }]
}

fn is_key(g: &GrantFacts) -> bool {
    matches!(g.method.trim(), "private-key" | "key")
}

/// Where the grant is managed in Klaviyo: installed apps for OAuth, API keys
/// (under account settings) for a private key.
fn grant_link(g: &GrantFacts) -> String {
    if is_key(g) {
        links::account_settings()
    } else {
        links::integrations()
    }
}

/// `3.5 days`, `1 day`, `10 h` for time left.
fn fmt_left(hours: f64) -> String {
    if hours < 24.0 {
        format!("{:.0} h", hours.max(0.0))
    } else {
        let days = format!("{:.1}", hours / 24.0);
        let days = days.trim_end_matches(".0");
        if days == "1" {
            "1 day".to_owned()
        } else {
            format!("{days} days")
        }
    }
}

fn grant_expiring(input: &CheckInput<'_>) -> Vec<Observation> {
    let Some(g) = input.snapshot.grant.as_ref() else {
        return Vec::new();
    };
    let p = input.profile;
    let warning_days = p.threshold(&format!("{GRANT_EXPIRING}.warning_days"), 7.0);
    let critical_days = p.threshold(&format!("{GRANT_EXPIRING}.critical_days"), 1.0);
    let hours = (g.ends_at - input.now).num_seconds() as f64 / 3600.0;
    let days = hours / 24.0;
    if days > warning_days {
        return Vec::new();
    }
    let severity = if days <= critical_days {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let how = if is_key(g) {
        "private key"
    } else {
        "OAuth grant"
    };
    let title = if hours <= 0.0 {
        "Lookout's access to this account has ended".to_owned()
    } else {
        format!(
            "Lookout's access to this account ends in {}",
            fmt_left(hours)
        )
    };
    vec![Observation {
        check: GRANT_EXPIRING.to_owned(),
        subject: GRANT.to_owned(),
        severity,
        track: Track::Now,
        title,
        why: format!(
            "The {how} Lookout uses for {} ends at {} UTC (line: {warning_days} days, critical              at {critical_days}). After that no scan runs and problems go unseen. Renew it              with `/connect {}` before it ends.",
            p.name,
            g.ends_at.format("%Y-%m-%d %H:%M"),
            p.slug,
        ),
        deep_link: grant_link(g),
        value_at_stake: None,
        // Monitoring lapses when the grant ends; that moment is known now.
        began_at: None,
    }]
}

fn write_scope(input: &CheckInput<'_>) -> Vec<Observation> {
    let Some(g) = input.snapshot.grant.as_ref() else {
        return Vec::new();
    };
    let mut writes: Vec<&str> = g
        .scopes
        .iter()
        .map(|s| s.trim())
        .filter(|s| s.to_ascii_lowercase().ends_with(":write"))
        .collect();
    if writes.is_empty() {
        return Vec::new();
    }
    writes.sort_unstable();
    writes.dedup();
    let fix = if is_key(g) {
        "Replace the key with a read-only one (account settings, API keys) and reconnect"
    } else {
        "Reconnect with `/connect`, which asks for read scopes only"
    };
    vec![Observation {
        check: WRITE_SCOPE.to_owned(),
        subject: GRANT.to_owned(),
        severity: Severity::Warning,
        track: Track::Now,
        title: format!("Lookout's access holds write scopes: {}", writes.join(", ")),
        why: format!(
            "Lookout only reads, yet the access it holds for {} can change the account              ({}). A leaked credential with write access could edit or send. {fix}.",
            input.profile.name,
            writes.join(", "),
        ),
        deep_link: grant_link(g),
        value_at_stake: None,
        began_at: Some(g.granted_at),
    }]
}

fn key_rotation(input: &CheckInput<'_>) -> Vec<Observation> {
    let Some(g) = input.snapshot.grant.as_ref() else {
        return Vec::new();
    };
    if !is_key(g) {
        return Vec::new();
    }
    let max_days = input
        .profile
        .threshold(&format!("{KEY_ROTATION}.max_days"), 90.0);
    let age = (input.now - g.granted_at).num_seconds() as f64 / 86_400.0;
    if age <= max_days {
        return Vec::new();
    }
    vec![Observation {
        check: KEY_ROTATION.to_owned(),
        subject: GRANT.to_owned(),
        severity: Severity::Opportunity,
        track: Track::Eventually,
        title: format!("Private API key is {:.0} days old", age.floor()),
        why: format!(
            "The key Lookout uses was given on {} (line: {max_days} days). Long-lived keys              are what leaks: create a new read-only key, reconnect with `/connect {} key`,              then revoke the old one.",
            g.granted_at.format("%Y-%m-%d"),
            input.profile.slug,
        ),
        deep_link: links::account_settings(),
        value_at_stake: None,
        began_at: Some(g.granted_at + Duration::seconds((max_days * 86_400.0) as i64)),
    }]
}

fn profile_overage(input: &CheckInput<'_>) -> Vec<Observation> {
    let p = input.profile;
    let Some(limit) = p.profile_limit.filter(|l| *l > 0) else {
        return Vec::new();
    };
    let warn_pct = p.threshold(&format!("{PROFILE_OVERAGE}.warn_pct"), 95.0);
    let lists = input
        .snapshot
        .lists
        .iter()
        .flatten()
        .map(|l| (l.profile_count, &l.name));
    let segments = input
        .snapshot
        .segments
        .iter()
        .flatten()
        .map(|s| (s.profile_count, &s.name));
    let Some((count, name)) = lists
        .chain(segments)
        .filter_map(|(c, n)| Some((c?, n)))
        .max_by_key(|(c, _)| *c)
    else {
        return Vec::new();
    };
    let share = count as f64 / limit as f64;
    if 100.0 * share < warn_pct {
        return Vec::new();
    }
    let plan = p
        .plan
        .as_deref()
        .map(|x| format!("plan \"{x}\""))
        .unwrap_or_else(|| "plan".to_owned());
    let title = if count > limit {
        format!(
            "Over the {plan} profile limit: at least {} of {}",
            fmt_count(count as f64),
            fmt_count(limit as f64)
        )
    } else {
        format!(
            "Near the {plan} profile limit: at least {} of {} ({})",
            fmt_count(count as f64),
            fmt_count(limit as f64),
            fmt_share(share)
        )
    };
    vec![Observation {
        check: PROFILE_OVERAGE.to_owned(),
        subject: "plan".to_owned(),
        severity: Severity::Warning,
        track: Track::Eventually,
        title,
        why: format!(
            "\"{name}\" alone holds {} profiles, {} of the {} the plan includes (line: \
             {warn_pct}%). Klaviyo moves the account to the next tier when active profiles \
             pass the limit: suppress unengaged profiles or plan the upgrade with the client.",
            fmt_count(count as f64),
            fmt_share(share),
            fmt_count(limit as f64),
        ),
        deep_link: links::billing(),
        // The next tier's price is not in the profile.
        value_at_stake: None,
        began_at: None,
    }]
}

fn feature_gap(input: &CheckInput<'_>) -> Vec<Observation> {
    let p = input.profile;
    let Some(plan) = p.plan.as_deref().map(str::trim).filter(|x| !x.is_empty()) else {
        return Vec::new();
    };
    let has = |f: &str| {
        p.plan_features
            .iter()
            .any(|x| x.trim().eq_ignore_ascii_case(f))
    };
    let mut seen: Vec<String> = Vec::new();
    let mut out = Vec::new();
    for feature in input
        .playbook
        .iter()
        .map(|f| f.trim())
        .filter(|f| !f.is_empty())
    {
        let key = feature.to_ascii_lowercase();
        if has(feature) || seen.contains(&key) {
            continue;
        }
        seen.push(key.clone());
        out.push(Observation {
            check: FEATURE_GAP.to_owned(),
            subject: key,
            severity: Severity::Opportunity,
            track: Track::Eventually,
            title: format!("Plan \"{plan}\" lacks {feature}, which the playbook uses"),
            why: format!(
                "The agency's standard playbook relies on {feature}, and {}'s plan \"{plan}\" \
                 does not include it, so that part of the playbook cannot run here. Propose \
                 the upgrade to the client, or adapt the playbook for this account.",
                p.name
            ),
            deep_link: links::billing(),
            value_at_stake: None,
            began_at: None,
        });
    }
    out
}

/// A setting as shown to people: `unset` when blank.
fn shown(v: &str) -> &str {
    if v.trim().is_empty() {
        "unset"
    } else {
        v.trim()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::fixtures::{self, NOW};
    use crate::scan::snapshot::Snapshot;

    fn with_account(f: impl FnOnce(&mut crate::scan::snapshot::Account)) -> Snapshot {
        let mut s = fixtures::healthy();
        if let Some(a) = s.account.as_mut() {
            f(a);
        }
        s
    }

    #[test]
    fn address_present_is_fine() {
        assert!(fixtures::run(POSTAL_ADDRESS, &fixtures::healthy(), None).is_empty());
    }

    #[test]
    fn empty_or_blank_address_is_critical() {
        for blank in ["", "   ", "\n\t"] {
            let s = with_account(|a| a.sender_address = blank.into());
            let obs = fixtures::run(POSTAL_ADDRESS, &s, None);
            assert_eq!(obs.len(), 1, "{blank:?}");
            assert_eq!(obs[0].severity, Severity::Critical);
            assert_eq!(obs[0].track, Track::Now);
            assert_eq!(obs[0].deep_link, "https://www.klaviyo.com/settings/account");
        }
    }

    #[test]
    fn matching_settings_are_fine() {
        // Currency case does not matter.
        let s = with_account(|a| a.preferred_currency = "usd".into());
        assert!(fixtures::run(TIMEZONE_CURRENCY, &s, None).is_empty());
    }

    #[test]
    fn timezone_mismatch_is_reported() {
        let s = with_account(|a| a.timezone = "Europe/London".into());
        let obs = fixtures::run(TIMEZONE_CURRENCY, &s, None);
        assert_eq!(obs.len(), 1);
        assert_eq!(
            obs[0].title,
            "Account settings differ: timezone Europe/London (client works in America/New_York)"
        );
        assert_eq!(obs[0].severity, Severity::Warning);
        assert_eq!(obs[0].track, Track::Eventually);
    }

    #[test]
    fn both_mismatches_in_one_observation() {
        let s = with_account(|a| {
            a.timezone = String::new();
            a.preferred_currency = "EUR".into();
        });
        let obs = fixtures::run(TIMEZONE_CURRENCY, &s, None);
        assert_eq!(obs.len(), 1);
        assert_eq!(
            obs[0].title,
            "Account settings differ: timezone unset (client works in America/New_York), \
             currency EUR (client reports in USD)"
        );
    }

    fn with_grant(f: impl FnOnce(&mut GrantFacts)) -> Snapshot {
        let mut s = fixtures::healthy();
        if let Some(g) = s.grant.as_mut() {
            f(g);
        }
        s
    }

    fn profile_with(
        f: impl FnOnce(&mut crate::config::ClientProfile),
    ) -> crate::config::ClientProfile {
        let mut p = fixtures::profile();
        f(&mut p);
        p
    }

    #[test]
    fn a_grant_ending_in_five_days_is_a_warning() {
        let s = with_grant(|g| g.ends_at = NOW + Duration::days(5));
        let obs = fixtures::run(GRANT_EXPIRING, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.subject, "grant");
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.track, Track::Now);
        assert_eq!(o.title, "Lookout's access to this account ends in 5 days");
        assert!(o.why.contains("`/connect acme`"), "{}", o.why);
        assert_eq!(o.deep_link, links::integrations());
    }

    #[test]
    fn a_grant_ending_within_a_day_or_ended_is_critical() {
        let s = with_grant(|g| g.ends_at = NOW + Duration::hours(20));
        let obs = fixtures::run(GRANT_EXPIRING, &s, None);
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].severity, Severity::Critical);
        assert_eq!(
            obs[0].title,
            "Lookout's access to this account ends in 20 h"
        );
        let s = with_grant(|g| g.ends_at = NOW - Duration::hours(2));
        let obs = fixtures::run(GRANT_EXPIRING, &s, None);
        assert_eq!(obs[0].severity, Severity::Critical);
        assert_eq!(obs[0].title, "Lookout's access to this account has ended");
        // 25 hours left is still only a warning.
        let s = with_grant(|g| g.ends_at = NOW + Duration::hours(25));
        assert_eq!(
            fixtures::run(GRANT_EXPIRING, &s, None)[0].severity,
            Severity::Warning
        );
    }

    #[test]
    fn a_grant_with_more_than_a_week_left_is_fine_unless_overridden() {
        let s = with_grant(|g| g.ends_at = NOW + Duration::days(7) + Duration::hours(1));
        assert!(fixtures::run(GRANT_EXPIRING, &s, None).is_empty());
        let s7 = with_grant(|g| g.ends_at = NOW + Duration::days(7));
        assert_eq!(fixtures::run(GRANT_EXPIRING, &s7, None).len(), 1);
        let early = profile_with(|p| {
            p.thresholds
                .insert(format!("{GRANT_EXPIRING}.warning_days"), 14.0);
            p.thresholds
                .insert(format!("{GRANT_EXPIRING}.critical_days"), 10.0);
        });
        let obs = fixtures::run_with(GRANT_EXPIRING, &s, None, &early);
        assert_eq!(obs.len(), 1);
        assert_eq!(obs[0].severity, Severity::Critical);
    }

    #[test]
    fn a_write_scope_is_flagged() {
        let s = with_grant(|g| {
            g.scopes.push("lists:write".into());
            g.scopes.push("campaigns:write".into());
        });
        let obs = fixtures::run(WRITE_SCOPE, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.track, Track::Now);
        assert_eq!(
            o.title,
            "Lookout's access holds write scopes: campaigns:write, lists:write"
        );
        assert_eq!(o.began_at, Some(NOW - Duration::days(30)));
    }

    #[test]
    fn read_scopes_are_fine() {
        // The healthy grant holds exactly Lookout's read scopes.
        assert!(fixtures::run(WRITE_SCOPE, &fixtures::healthy(), None).is_empty());
        // A scope merely mentioning write is not one.
        let s = with_grant(|g| g.scopes.push("write-audit:read".into()));
        assert!(fixtures::run(WRITE_SCOPE, &s, None).is_empty());
    }

    #[test]
    fn an_old_private_key_should_be_rotated() {
        let s = with_grant(|g| {
            g.method = "private-key".into();
            g.granted_at = NOW - Duration::days(120);
        });
        let obs = fixtures::run(KEY_ROTATION, &s, None);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Opportunity);
        assert_eq!(o.track, Track::Eventually);
        assert_eq!(o.title, "Private API key is 120 days old");
        assert_eq!(o.began_at, Some(NOW - Duration::days(30)));
        assert_eq!(o.deep_link, links::account_settings());
    }

    #[test]
    fn young_keys_and_oauth_grants_need_no_rotation() {
        let key90 = with_grant(|g| {
            g.method = "private-key".into();
            g.granted_at = NOW - Duration::days(90);
        });
        assert!(fixtures::run(KEY_ROTATION, &key90, None).is_empty());
        let oauth = with_grant(|g| g.granted_at = NOW - Duration::days(400));
        assert!(fixtures::run(KEY_ROTATION, &oauth, None).is_empty());
        let strict = profile_with(|p| {
            p.thresholds
                .insert(format!("{KEY_ROTATION}.max_days"), 60.0);
        });
        assert_eq!(
            fixtures::run_with(KEY_ROTATION, &key90, None, &strict).len(),
            1
        );
    }

    #[test]
    fn profiles_at_96_percent_of_the_limit_are_a_warning() {
        // The newsletter holds 48,000 profiles.
        let p = profile_with(|p| {
            p.plan = Some("email-50k".into());
            p.profile_limit = Some(50_000);
        });
        let obs = fixtures::run_with(PROFILE_OVERAGE, &fixtures::healthy(), None, &p);
        assert_eq!(obs.len(), 1, "{obs:?}");
        let o = &obs[0];
        assert_eq!(o.severity, Severity::Warning);
        assert_eq!(o.track, Track::Eventually);
        assert_eq!(
            o.title,
            "Near the plan \"email-50k\" profile limit: at least 48,000 of 50,000 (96%)"
        );
        assert_eq!(o.deep_link, links::billing());
        assert_eq!(o.value_at_stake, None);
    }

    #[test]
    fn the_largest_segment_counts_when_it_is_larger_than_any_list() {
        let mut s = fixtures::healthy();
        if let Some(seg) = s.segments.as_mut() {
            seg[0].profile_count = Some(61_000);
        }
        let p = profile_with(|p| p.profile_limit = Some(60_000));
        let obs = fixtures::run_with(PROFILE_OVERAGE, &s, None, &p);
        assert_eq!(obs.len(), 1);
        assert_eq!(
            obs[0].title,
            "Over the plan profile limit: at least 61,000 of 60,000"
        );
    }

    #[test]
    fn under_95_percent_or_no_limit_is_not_judged() {
        let s = fixtures::healthy();
        // No limit in the default profile.
        assert!(fixtures::run(PROFILE_OVERAGE, &s, None).is_empty());
        // 48,000 of 50,600 is 94.9%.
        let p = profile_with(|p| p.profile_limit = Some(50_600));
        assert!(fixtures::run_with(PROFILE_OVERAGE, &s, None, &p).is_empty());
        let cautious = profile_with(|p| {
            p.profile_limit = Some(50_600);
            p.thresholds
                .insert(format!("{PROFILE_OVERAGE}.warn_pct"), 90.0);
        });
        assert_eq!(
            fixtures::run_with(PROFILE_OVERAGE, &s, None, &cautious).len(),
            1
        );
    }

    fn feature_gaps(
        profile: &crate::config::ClientProfile,
        playbook: &[String],
    ) -> Vec<Observation> {
        let s = fixtures::healthy();
        let mut input = fixtures::input(&s, None, profile);
        input.playbook = playbook;
        crate::checks::find(FEATURE_GAP)
            .unwrap_or_else(|| panic!("registered"))
            .evaluate(&input)
            .unwrap_or_else(|e| panic!("{e:?}"))
    }

    #[test]
    fn each_playbook_feature_the_plan_lacks_is_an_opportunity() {
        let p = profile_with(|p| {
            p.plan = Some("email-25k".into());
            p.plan_features = vec!["email".into(), "Advanced-Reporting".into()];
        });
        let playbook: Vec<String> = ["sms", "advanced-reporting", "predictive-analytics", "SMS"]
            .map(String::from)
            .to_vec();
        let obs = feature_gaps(&p, &playbook);
        let subjects: Vec<&str> = obs.iter().map(|o| o.subject.as_str()).collect();
        assert_eq!(subjects, ["sms", "predictive-analytics"]);
        assert_eq!(
            obs[0].title,
            "Plan \"email-25k\" lacks sms, which the playbook uses"
        );
        assert_eq!(obs[0].severity, Severity::Opportunity);
        assert_eq!(obs[0].track, Track::Eventually);
        assert_eq!(obs[0].deep_link, links::billing());
    }

    #[test]
    fn no_gap_without_a_known_plan_or_a_playbook() {
        let playbook = vec!["sms".to_owned()];
        // Plan unknown: nothing to compare with.
        assert!(feature_gaps(&fixtures::profile(), &playbook).is_empty());
        let p = profile_with(|p| {
            p.plan = Some("email-sms-25k".into());
            p.plan_features = vec!["email".into(), "sms".into()];
        });
        assert!(feature_gaps(&p, &playbook).is_empty());
        assert!(feature_gaps(&p, &[]).is_empty());
    }
}
