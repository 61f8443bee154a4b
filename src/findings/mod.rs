//! Findings: what Lookout tells people about, and everything that happened to each.
//!
//! A finding is identified across scans by its fingerprint (client + check +
//! subject). Scans reconcile observations against stored findings; people move
//! findings through acknowledged, snoozed (always with an end) and resolved.
//! Every change is an event with its actor, surface and time.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{ClientSlug, FindingId, Fingerprint, Money, Severity, Track};
use crate::message::PersonRef;

#[cfg(test)]
mod tests;

pub use crate::store::findings::{Change, ChangeKind, FindingError, Findings, ReconcileScope};

/// Where a finding is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FindingState {
    /// Seen and not yet picked up.
    Open,
    /// Someone is on it.
    Acknowledged,
    /// Hidden until `snoozed_until` (or earlier, if it gets worse and was snoozed until worse).
    Snoozed,
    /// Cleared by a scan or resolved by a person.
    Resolved,
}

impl FindingState {
    /// Lowercase name, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            FindingState::Open => "open",
            FindingState::Acknowledged => "acknowledged",
            FindingState::Snoozed => "snoozed",
            FindingState::Resolved => "resolved",
        }
    }

    /// Parses a stored state.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "open" => Some(FindingState::Open),
            "acknowledged" => Some(FindingState::Acknowledged),
            "snoozed" => Some(FindingState::Snoozed),
            "resolved" => Some(FindingState::Resolved),
            _ => None,
        }
    }

    /// Not resolved.
    pub fn is_active(self) -> bool {
        self != FindingState::Resolved
    }
}

/// Who did something (`platform:id` for a person, `lookout` for the bot), and
/// from which surface (`scan`, `console`, `slack`, `discord`, `scheduler`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// A person's chat id or name, or `lookout` for the bot itself.
    pub name: String,
    /// Where the action came from.
    pub surface: String,
}

impl Actor {
    /// Lookout itself, acting from a scan.
    pub fn scan() -> Self {
        Self {
            name: "lookout".into(),
            surface: "scan".into(),
        }
    }

    /// Lookout itself, acting from the scheduler (snooze ends, digests).
    pub fn scheduler() -> Self {
        Self {
            name: "lookout".into(),
            surface: "scheduler".into(),
        }
    }

    /// A person acting from chat: recorded as `platform:id`, from that platform.
    pub fn person(who: &PersonRef) -> Self {
        Self {
            name: who.to_string(),
            surface: who.platform.as_str().into(),
        }
    }

    /// The person, when a person (not Lookout) acted.
    pub fn as_person(&self) -> Option<PersonRef> {
        PersonRef::parse(&self.name).ok()
    }
}

/// A finding as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Short id, `F-12`.
    pub id: FindingId,
    /// Identity across scans.
    pub fingerprint: Fingerprint,
    /// Which client.
    pub client: ClientSlug,
    /// Check id.
    pub check_id: String,
    /// Subject within the account.
    pub subject: String,
    /// Current severity.
    pub severity: Severity,
    /// Same-day or batched.
    pub track: Track,
    /// Lifecycle state.
    pub state: FindingState,
    /// End of the snooze, when snoozed.
    pub snoozed_until: Option<DateTime<Utc>>,
    /// Who snoozed it.
    pub snoozed_by: Option<String>,
    /// Wake early if it gets worse.
    pub snooze_until_worse: bool,
    /// Severity when it was snoozed.
    pub snooze_severity: Option<Severity>,
    /// Value at stake (minor units) when it was snoozed.
    pub snooze_value_minor: Option<i64>,
    /// One-line title (may hold client text; adapters escape it).
    pub title: String,
    /// Why it matters.
    pub why: String,
    /// Link into Klaviyo.
    pub deep_link: String,
    /// Dollar value at stake.
    pub value: Option<Money>,
    /// When the problem began, when known.
    pub began_at: Option<DateTime<Utc>>,
    /// First detection.
    pub detected_at: DateTime<Utc>,
    /// Last scan that still saw it.
    pub last_seen_at: DateTime<Utc>,
    /// When acknowledged.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// By whom.
    pub acknowledged_by: Option<String>,
    /// When resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// By whom (`lookout` when a scan cleared it).
    pub resolved_by: Option<String>,
    /// `cleared` or the person's reason.
    pub resolution: Option<String>,
    /// Found by the client's first scan (the onboarding audit).
    pub onboarding: bool,
}

/// What the SLA report reads of a finding: when it was found, answered and
/// resolved, and by whom. Reports over every client read thousands of these,
/// so they are fetched alone rather than as whole findings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timing {
    /// Id.
    pub id: FindingId,
    /// Whose.
    pub client: ClientSlug,
    /// Current severity.
    pub severity: Severity,
    /// First detected.
    pub detected_at: DateTime<Utc>,
    /// When a person acknowledged it.
    pub acknowledged_at: Option<DateTime<Utc>>,
    /// When it was resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// Who resolved it (`lookout` for a scan).
    pub resolved_by: Option<String>,
}

impl From<&Finding> for Timing {
    fn from(f: &Finding) -> Self {
        Self {
            id: f.id,
            client: f.client.clone(),
            severity: f.severity,
            detected_at: f.detected_at,
            acknowledged_at: f.acknowledged_at,
            resolved_at: f.resolved_at,
            resolved_by: f.resolved_by.clone(),
        }
    }
}

/// One entry in a finding's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FindingEvent {
    /// When.
    pub at: DateTime<Utc>,
    /// Who.
    pub actor: String,
    /// From where.
    pub surface: String,
    /// What: `detected`, `acknowledged`, `snoozed`, `snooze-ended`, `resolved`, `cleared`, `reopened`, `worsened`, `note`.
    pub kind: String,
    /// Free text detail.
    pub detail: String,
}

/// An internal note on a finding.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    /// Who wrote it.
    pub author: String,
    /// Where it was written (`console`, `slack` thread, ...).
    pub surface: String,
    /// When.
    pub at: DateTime<Utc>,
    /// The note.
    pub body: String,
}

/// An open finding with every optional field empty, for tests to adjust.
#[cfg(test)]
pub(crate) fn fixture(
    id: i64,
    client: &str,
    severity: Severity,
    detected_at: DateTime<Utc>,
) -> Finding {
    let client = ClientSlug::parse(client).expect("a valid test slug");
    Finding {
        id: FindingId(id),
        fingerprint: Fingerprint::new(&client, "x", &id.to_string()),
        client,
        check_id: "x".into(),
        subject: id.to_string(),
        severity,
        track: Track::Now,
        state: FindingState::Open,
        snoozed_until: None,
        snoozed_by: None,
        snooze_until_worse: false,
        snooze_severity: None,
        snooze_value_minor: None,
        title: format!("Finding {id}"),
        why: String::new(),
        deep_link: String::new(),
        value: None,
        began_at: None,
        detected_at,
        last_seen_at: detected_at,
        acknowledged_at: None,
        acknowledged_by: None,
        resolved_at: None,
        resolved_by: None,
        resolution: None,
        onboarding: false,
    }
}

/// Formats a time the way it is stored: fixed-width RFC 3339 in UTC, so text
/// comparison in SQL orders times correctly.
pub fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}
