//! What `/connect` is given: how (OAuth or a private key) and until when, the
//! way Klaviyo's representative access is granted: 1, 7, 30 or 90 days, or a date.

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};

/// How Lookout reaches a client's account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// An OAuth grant (access and refresh tokens).
    OAuth,
    /// A private API key given through the private form.
    Key,
}

impl Method {
    /// As stored and shown: `oauth` or `key`.
    pub fn as_str(self) -> &'static str {
        match self {
            Method::OAuth => "oauth",
            Method::Key => "key",
        }
    }

    /// From its stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "oauth" => Some(Method::OAuth),
            "key" => Some(Method::Key),
            _ => None,
        }
    }
}

/// Longest a grant may run, as a custom date.
pub const MAX_GRANT_DAYS: i64 = 365;

/// The lengths offered, in days.
pub const OFFERED_DAYS: [i64; 4] = [1, 7, 30, 90];

/// A parsed `/connect` option string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectOptions {
    /// OAuth unless `key` was typed.
    pub method: Method,
    /// When access ends.
    pub ends_at: DateTime<Utc>,
}

/// Parses what follows the client in `/connect <client> [access]`: any of
/// `key`, a length (`1d`, `7d`, `30d`, `90d`) and a date (`2027-02-28`, access
/// ends at the end of that day in the agency's timezone), in any order.
pub fn parse_options(
    text: &str,
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
    default_days: u32,
) -> Result<ConnectOptions, String> {
    let mut method = Method::OAuth;
    let mut ends_at = None;
    for word in text.split_whitespace() {
        let w = word.to_lowercase();
        if w == "key" || w == "api-key" {
            method = Method::Key;
            continue;
        }
        if w == "oauth" {
            method = Method::OAuth;
            continue;
        }
        if ends_at.is_some() {
            return Err(format!(
                "`{word}`: give one end for the access, a length (1d, 7d, 30d, 90d) or a date"
            ));
        }
        ends_at = Some(parse_end(&w, now, tz)?);
    }
    Ok(ConnectOptions {
        method,
        ends_at: ends_at.unwrap_or(now + Duration::days(i64::from(default_days))),
    })
}

fn parse_end(w: &str, now: DateTime<Utc>, tz: chrono_tz::Tz) -> Result<DateTime<Utc>, String> {
    let offered = || {
        format!(
            "`{w}` is not an end for the access: use 1d, 7d, 30d or 90d, or a date such as {}",
            (now + Duration::days(30)).format("%Y-%m-%d")
        )
    };
    if let Some(n) = w.strip_suffix('d').or_else(|| w.strip_suffix("days")) {
        let days: i64 = n.trim().parse().map_err(|_| offered())?;
        if !OFFERED_DAYS.contains(&days) {
            return Err(offered());
        }
        return Ok(now + Duration::days(days));
    }
    let date = NaiveDate::parse_from_str(w, "%Y-%m-%d").map_err(|_| offered())?;
    let next = date.succ_opt().ok_or_else(offered)?;
    let midnight = next.and_hms_opt(0, 0, 0).ok_or_else(offered)?;
    // The end of that day where the agency works; a skipped midnight (DST) takes the later time.
    let end = tz
        .from_local_datetime(&midnight)
        .latest()
        .ok_or_else(offered)?
        .with_timezone(&Utc);
    if end <= now {
        return Err(format!(
            "{w} has passed: give a date after today for the access to end"
        ));
    }
    if end - now > Duration::days(MAX_GRANT_DAYS) {
        return Err(format!(
            "{w} is more than {MAX_GRANT_DAYS} days away: grants end within a year (renew with /connect)"
        ));
    }
    Ok(end)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 15, 0, 0).unwrap()
    }

    #[test]
    fn lengths_dates_and_key() {
        let tz = chrono_tz::America::New_York;
        let o = parse_options("", now(), tz, 90).unwrap();
        assert_eq!(o.method, Method::OAuth);
        assert_eq!(o.ends_at, now() + Duration::days(90));
        let o = parse_options("7d", now(), tz, 90).unwrap();
        assert_eq!(o.ends_at, now() + Duration::days(7));
        let o = parse_options("key 30d", now(), tz, 90).unwrap();
        assert_eq!(o.method, Method::Key);
        assert_eq!(o.ends_at, now() + Duration::days(30));
        // The end of 2027-01-15 in New York is 05:00 UTC on the 16th.
        let o = parse_options("2027-01-15 KEY", now(), tz, 90).unwrap();
        assert_eq!(o.method, Method::Key);
        assert_eq!(
            o.ends_at,
            Utc.with_ymd_and_hms(2027, 1, 16, 5, 0, 0).unwrap()
        );
    }

    #[test]
    fn bad_ends_say_what_is_offered() {
        let tz = chrono_tz::UTC;
        for bad in ["5d", "forever", "2026-11-01", "2028-06-01", "7d 30d", "-1d"] {
            let e = parse_options(bad, now(), tz, 90).unwrap_err();
            assert!(
                e.contains("1d") || e.contains("passed") || e.contains("within a year"),
                "{bad}: {e}"
            );
        }
    }
}
