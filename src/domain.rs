//! Domain newtypes shared by every stage: parse once, then pass typed values.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a value from outside could not become a domain type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A client slug with characters outside `a-z0-9-` or of a bad length.
    #[error(
        "`{0}` is not a client name: use 1-40 lowercase letters, digits or dashes (e.g. `acme`)"
    )]
    BadSlug(String),
    /// A finding id that is not `F-<number>`.
    #[error("`{0}` is not a finding id: use the id shown on the finding, e.g. `F-12`")]
    BadFindingId(String),
    /// An unknown severity word.
    #[error("`{0}` is not a severity: use critical, warning or opportunity")]
    BadSeverity(String),
}

/// A client's short name, e.g. `acme`: lowercase letters, digits and dashes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClientSlug(String);

impl ClientSlug {
    /// Parses and validates a slug.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let ok = !s.is_empty()
            && s.len() <= 40
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-');
        if ok {
            Ok(Self(s.to_owned()))
        } else {
            Err(DomainError::BadSlug(s.to_owned()))
        }
    }

    /// The slug as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ClientSlug {
    type Error = DomainError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<ClientSlug> for String {
    fn from(s: ClientSlug) -> Self {
        s.0
    }
}

impl FromStr for ClientSlug {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for ClientSlug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The short id people use for a finding, shown as `F-1842`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct FindingId(pub i64);

impl FindingId {
    /// Parses `F-12`, `f-12` or `12`.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        let t = s.trim();
        let digits = t
            .strip_prefix("F-")
            .or_else(|| t.strip_prefix("f-"))
            .unwrap_or(t);
        match digits.parse::<i64>() {
            Ok(n) if n > 0 => Ok(Self(n)),
            _ => Err(DomainError::BadFindingId(s.to_owned())),
        }
    }
}

impl FromStr for FindingId {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl fmt::Display for FindingId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "F-{}", self.0)
    }
}

/// Identity of a finding across scans: client + check id + subject.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Fingerprint(String);

impl Fingerprint {
    /// Builds the fingerprint of an observation for one client.
    pub fn new(client: &ClientSlug, check: &str, subject: &str) -> Self {
        Self(format!("{}/{}/{}", client.as_str(), check, subject))
    }

    /// Rebuilds a fingerprint read back from storage.
    pub fn from_stored(s: String) -> Self {
        Self(s)
    }

    /// The fingerprint as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// How urgent a finding is; ordered so that `Critical` is the greatest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth doing, batched into the weekly digest.
    Opportunity,
    /// Needs attention today: daily triage digest.
    Warning,
    /// Client-impacting now: post at once and mention the owner.
    Critical,
}

impl Severity {
    /// Lowercase name, as stored and typed.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Opportunity => "opportunity",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}

impl FromStr for Severity {
    type Err = DomainError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "critical" | "crit" => Ok(Severity::Critical),
            "warning" | "warn" => Ok(Severity::Warning),
            "opportunity" | "opp" => Ok(Severity::Opportunity),
            _ => Err(DomainError::BadSeverity(s.to_owned())),
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether a finding is same-day work or batched into the client's routine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Track {
    /// Same-day.
    Now,
    /// Batched into the client's routine.
    Eventually,
}

/// An amount of money in minor units (cents) of a currency.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    /// Amount in minor units (e.g. cents).
    pub minor: i64,
    /// ISO 4217 code, e.g. `USD`.
    pub currency: String,
}

impl Money {
    /// Money from a floating amount in major units, rounded to the nearest minor unit.
    pub fn from_major(amount: f64, currency: &str) -> Self {
        let minor = if amount.is_finite() {
            (amount * 100.0).round() as i64
        } else {
            0
        };
        Self {
            minor,
            currency: currency.to_ascii_uppercase(),
        }
    }

    /// The amount in major units.
    pub fn major(&self) -> f64 {
        self.minor as f64 / 100.0
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let symbol = match self.currency.as_str() {
            "USD" | "CAD" | "AUD" => "$",
            "EUR" => "€",
            "GBP" => "£",
            _ => "",
        };
        let whole = self.minor / 100;
        // Group thousands so chat readers see "$12,400".
        let digits = whole.abs().to_string();
        let mut grouped = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i).is_multiple_of(3) {
                grouped.push(',');
            }
            grouped.push(c);
        }
        let sign = if self.minor < 0 { "-" } else { "" };
        if symbol.is_empty() {
            write!(f, "{sign}{grouped} {}", self.currency)
        } else {
            write!(f, "{sign}{symbol}{grouped}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_validated() {
        assert!(ClientSlug::parse("acme").is_ok());
        assert!(ClientSlug::parse("north-shore-2").is_ok());
        assert!(ClientSlug::parse("").is_err());
        assert!(ClientSlug::parse("Acme").is_err());
        assert!(ClientSlug::parse("a b").is_err());
        assert!(ClientSlug::parse("-x").is_err());
        assert!(ClientSlug::parse("<@U123>").is_err());
    }

    #[test]
    fn finding_ids_parse_in_every_spelling() {
        assert_eq!(FindingId::parse("F-12"), Ok(FindingId(12)));
        assert_eq!(FindingId::parse("f-12"), Ok(FindingId(12)));
        assert_eq!(FindingId::parse("12"), Ok(FindingId(12)));
        assert!(FindingId::parse("F-").is_err());
        assert!(FindingId::parse("F-0").is_err());
        assert!(FindingId::parse("G-1").is_err());
        assert_eq!(FindingId(7).to_string(), "F-7");
    }

    #[test]
    fn severity_orders_critical_highest() {
        assert!(Severity::Critical > Severity::Warning);
        assert!(Severity::Warning > Severity::Opportunity);
        assert_eq!("CRIT".parse::<Severity>(), Ok(Severity::Critical));
        assert!("urgent".parse::<Severity>().is_err());
    }

    #[test]
    fn money_formats_with_grouping() {
        assert_eq!(Money::from_major(12400.0, "usd").to_string(), "$12,400");
        assert_eq!(Money::from_major(999.4, "GBP").to_string(), "£999");
        assert_eq!(
            Money::from_major(1234567.0, "SEK").to_string(),
            "1,234,567 SEK"
        );
        assert_eq!(Money::from_major(f64::NAN, "USD").minor, 0);
    }
}
