//! Checks: account settings (sender address, timezone, currency).
//!
//! These read only `GET /api/accounts`. The postal address is a legal
//! requirement for US marketing email (CAN-SPAM), so its absence is critical;
//! a timezone or currency that differs from the client profile skews send
//! times and revenue reports, so it goes to the batched routine.

use super::{Cadence, Check, CheckInput, Observation, links};
use crate::domain::{Severity, Track};
use crate::scan::snapshot::Part;

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
];

const POSTAL_ADDRESS: &str = "compliance-postal-address";
const TIMEZONE_CURRENCY: &str = "account-timezone-currency";

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
    use crate::checks::fixtures;
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
}
