//! Faults the simulator can inject into one brand: what each one is called,
//! when it is in force, and which metric or request it changes.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A kind of trouble a brand's Klaviyo account can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// The abandoned-checkout flow reports status `draft`.
    FlowDraft,
    /// The abandoned-checkout flow reports status `manual`.
    FlowManual,
    /// No Placed Order events (the ecommerce integration stopped); checkouts go on.
    OrdersStop,
    /// Bounced Email becomes 8% of Received Email.
    BounceSpike,
    /// Marked Email as Spam becomes 0.4% of Received Email.
    SpamSpike,
    /// The brand's store page that every template links to (`/shop`)
    /// answers 404.
    BrokenLink,
    /// Every request with the brand's key is answered 401.
    TokenRevoked,
    /// Every request for the brand is answered 503.
    ServerErrors,
    /// Every request for the brand is answered 429 with `Retry-After`.
    ThrottleStorm,
    /// Every OAuth grant of the brand is dead: refreshes answer `invalid_grant`
    /// and access tokens 401 (the client revoked the app). API keys still work.
    GrantRevoked,
    /// Refreshes of the brand's OAuth grants answer `invalid_grant` "refresh
    /// token expired"; access tokens already issued live out their time.
    RefreshExpired,
    /// About one in three of the brand's API requests (a hash of a per-brand
    /// request counter) is answered 500, 502 or 503; the rest normally, so a
    /// client that retries gets through.
    ServerBurst,
    /// Every API response of the brand comes about 1.5 s late.
    Slow,
    /// The brand's API requests are accepted and left unanswered for 120 s
    /// (then a 504): a client with a shorter timeout sees a timeout.
    Timeout,
    /// OAuth access tokens of the brand issued before the fault started are
    /// answered 401 as expired; tokens from a refresh after it work. API keys
    /// are unaffected.
    TokenExpired,
    /// Collection endpoints of the brand answer 200 with a document whose
    /// `data` is a string, not an array.
    MalformedPage,
    /// The brand's 200 responses carry only the first half of their JSON
    /// (with a matching `content-length`).
    TruncatedBody,
}

impl FaultKind {
    /// Every fault kind, in a stable order.
    pub const ALL: [FaultKind; 17] = [
        FaultKind::FlowDraft,
        FaultKind::FlowManual,
        FaultKind::OrdersStop,
        FaultKind::BounceSpike,
        FaultKind::SpamSpike,
        FaultKind::BrokenLink,
        FaultKind::TokenRevoked,
        FaultKind::ServerErrors,
        FaultKind::ThrottleStorm,
        FaultKind::GrantRevoked,
        FaultKind::RefreshExpired,
        FaultKind::ServerBurst,
        FaultKind::Slow,
        FaultKind::Timeout,
        FaultKind::TokenExpired,
        FaultKind::MalformedPage,
        FaultKind::TruncatedBody,
    ];

    /// The kebab-case name used in commands and the admin API, e.g. `orders-stop`.
    pub fn name(self) -> &'static str {
        match self {
            FaultKind::FlowDraft => "flow-draft",
            FaultKind::FlowManual => "flow-manual",
            FaultKind::OrdersStop => "orders-stop",
            FaultKind::BounceSpike => "bounce-spike",
            FaultKind::SpamSpike => "spam-spike",
            FaultKind::BrokenLink => "broken-link",
            FaultKind::TokenRevoked => "token-revoked",
            FaultKind::ServerErrors => "server-errors",
            FaultKind::ThrottleStorm => "throttle-storm",
            FaultKind::GrantRevoked => "grant-revoked",
            FaultKind::RefreshExpired => "refresh-expired",
            FaultKind::ServerBurst => "server-burst",
            FaultKind::Slow => "slow",
            FaultKind::Timeout => "timeout",
            FaultKind::TokenExpired => "token-expired",
            FaultKind::MalformedPage => "malformed-page",
            FaultKind::TruncatedBody => "truncated-body",
        }
    }

    /// Whether the fault changes how requests are answered (errors, delays,
    /// broken bodies, or an OAuth `invalid_grant`) rather than the account's data.
    pub fn is_request_fault(self) -> bool {
        matches!(
            self,
            FaultKind::TokenRevoked
                | FaultKind::ServerErrors
                | FaultKind::ThrottleStorm
                | FaultKind::GrantRevoked
                | FaultKind::RefreshExpired
                | FaultKind::ServerBurst
                | FaultKind::Slow
                | FaultKind::Timeout
                | FaultKind::TokenExpired
                | FaultKind::MalformedPage
                | FaultKind::TruncatedBody
        )
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A fault name that is not one of [`FaultKind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{given}` is not a fault: use one of {}", valid_names())]
pub struct UnknownFault {
    /// What was given.
    pub given: String,
}

fn valid_names() -> String {
    FaultKind::ALL
        .iter()
        .map(|k| k.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for FaultKind {
    type Err = UnknownFault;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim().to_ascii_lowercase().replace('_', "-");
        FaultKind::ALL
            .into_iter()
            .find(|k| k.name() == t)
            .ok_or_else(|| UnknownFault {
                given: s.to_owned(),
            })
    }
}

impl Serialize for FaultKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for FaultKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// One injected fault: a brand, a kind, and the time window it is in force.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fault {
    /// Brand slug, e.g. `acme`.
    pub brand: String,
    /// What goes wrong.
    #[serde(rename = "fault")]
    pub kind: FaultKind,
    /// Simulated time the fault starts.
    pub at: DateTime<Utc>,
    /// Simulated time it ends; `None` while it is open.
    pub until: Option<DateTime<Utc>>,
}

impl Fault {
    /// Whether the fault is in force at `t` (`at <= t < until`).
    pub fn covers(&self, t: DateTime<Utc>) -> bool {
        t >= self.at && self.until.is_none_or(|u| t < u)
    }

    /// Whether the fault's window overlaps `[from, to)`.
    pub fn overlaps(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        self.at < to && self.until.is_none_or(|u| u > from)
    }

    /// Whether the fault has ended by `now`.
    pub fn ended_by(&self, now: DateTime<Utc>) -> bool {
        self.until.is_some_and(|u| u <= now)
    }

    /// The window as unix seconds `[start, end)`; an open fault ends at `i64::MAX`.
    pub(crate) fn window_secs(&self) -> (i64, i64) {
        (
            self.at.timestamp(),
            self.until.map_or(i64::MAX, |u| u.timestamp()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    #[test]
    fn names_round_trip_and_unknown_names_list_valid_ones() {
        for k in FaultKind::ALL {
            assert_eq!(k.name().parse::<FaultKind>(), Ok(k));
        }
        assert_eq!(
            "ORDERS_STOP".parse::<FaultKind>(),
            Ok(FaultKind::OrdersStop)
        );
        let err = "orders-halt".parse::<FaultKind>().unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("orders-halt"), "{msg}");
        assert!(
            msg.contains("throttle-storm") && msg.contains("flow-draft"),
            "{msg}"
        );
        assert!("".parse::<FaultKind>().is_err());
        assert_eq!(
            "grant_revoked".parse::<FaultKind>(),
            Ok(FaultKind::GrantRevoked)
        );
        assert_eq!(
            "refresh-expired".parse::<FaultKind>(),
            Ok(FaultKind::RefreshExpired)
        );
        // Names are unique, or parsing would shadow one kind with another.
        let names: std::collections::HashSet<_> = FaultKind::ALL.iter().map(|k| k.name()).collect();
        assert_eq!(names.len(), FaultKind::ALL.len());
        assert!(FaultKind::GrantRevoked.is_request_fault());
        assert!(FaultKind::RefreshExpired.is_request_fault());
        assert_eq!(FaultKind::ALL.len(), 17);
        for (name, kind) in [
            ("server-burst", FaultKind::ServerBurst),
            ("SLOW", FaultKind::Slow),
            (" timeout ", FaultKind::Timeout),
            ("token_expired", FaultKind::TokenExpired),
            ("malformed-page", FaultKind::MalformedPage),
            ("Truncated_Body", FaultKind::TruncatedBody),
        ] {
            assert_eq!(name.parse::<FaultKind>(), Ok(kind), "{name}");
            assert!(kind.is_request_fault(), "{name}");
        }
        assert!(!FaultKind::OrdersStop.is_request_fault());
        assert!("server-bursts".parse::<FaultKind>().is_err());
        let msg = "nope".parse::<FaultKind>().unwrap_err().to_string();
        assert!(
            msg.contains("truncated-body") && msg.contains("server-burst"),
            "{msg}"
        );
    }

    #[test]
    fn windows_are_half_open() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let f = Fault {
            brand: "acme".into(),
            kind: FaultKind::OrdersStop,
            at: t0,
            until: Some(t0 + Duration::hours(1)),
        };
        assert!(!f.covers(t0 - Duration::seconds(1)));
        assert!(f.covers(t0));
        assert!(!f.covers(t0 + Duration::hours(1)));
        assert!(f.overlaps(t0 - Duration::hours(1), t0 + Duration::seconds(1)));
        assert!(!f.overlaps(t0 - Duration::hours(1), t0));
        assert!(f.ended_by(t0 + Duration::hours(1)));
        let open = Fault { until: None, ..f };
        assert!(open.covers(t0 + Duration::days(400)));
        assert!(!open.ended_by(t0 + Duration::days(400)));
    }

    #[test]
    fn faults_serialize_with_kebab_names() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let f = Fault {
            brand: "acme".into(),
            kind: FaultKind::BounceSpike,
            at: t0,
            until: None,
        };
        let j = serde_json::to_value(&f).unwrap();
        assert_eq!(j["fault"], "bounce-spike");
        let back: Fault = serde_json::from_value(j).unwrap();
        assert_eq!(back, f);
        let bad = serde_json::json!({"brand":"acme","fault":"nope","at":"2026-11-01T00:00:00Z","until":null});
        assert!(serde_json::from_value::<Fault>(bad).is_err());
    }
}
