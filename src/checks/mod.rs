//! The check catalogue: pure functions from a snapshot to observations.
//!
//! One family per file. A check reads only its `CheckInput` (the snapshot, the
//! previous snapshot, the client's profile and the time); it never does I/O and
//! never reads the clock. A check whose data is missing is *skipped*, which the
//! findings stage treats as "could not look", never as "healthy".

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::config::ClientProfile;
use crate::domain::{Money, Severity, Track};
use crate::scan::snapshot::{Part, Snapshot};

pub mod account;
pub mod campaigns;
pub mod compliance;
pub mod content;
pub mod deliverability;
#[cfg(test)]
pub mod fixtures;
pub mod flows;
pub mod integrations;
pub mod links;
pub mod lists;
pub mod revenue;

/// Everything a check may read.
#[derive(Debug, Clone, Copy)]
pub struct CheckInput<'a> {
    /// This scan's snapshot.
    pub snapshot: &'a Snapshot,
    /// The previous successful snapshot of the same client, if any.
    pub previous: Option<&'a Snapshot>,
    /// The client's profile (currency, jurisdictions, threshold overrides).
    pub profile: &'a ClientProfile,
    /// The time of the scan (equal to `snapshot.taken_at`).
    pub now: DateTime<Utc>,
    /// Findings of this client that are open now, as `check-id/subject`: rate
    /// checks keep an open finding until the rate falls clearly below the line
    /// (hysteresis), so a value hovering at the line does not flap.
    pub open: &'a std::collections::HashSet<String>,
    /// Klaviyo features the agency's playbook relies on (`agency.playbook`).
    pub playbook: &'a [String],
}

impl CheckInput<'_> {
    /// Whether this check already has an open finding for `subject`.
    pub fn is_open(&self, check: &str, subject: &str) -> bool {
        self.open.contains(&format!("{check}/{subject}"))
    }
}

/// An open rate finding stays open until the rate drops below this share of its warning line.
pub const HYSTERESIS: f64 = 0.8;

/// Something a check saw that a person should know about.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observation {
    /// Check id, e.g. `flow-live-stopped`.
    pub check: String,
    /// What the observation is about within the account (a flow id, `account`, ...).
    pub subject: String,
    /// Severity for this occurrence (may differ from the check's default, e.g. warning vs critical).
    pub severity: Severity,
    /// Same-day or batched.
    pub track: Track,
    /// One line, e.g. `Flow "Abandoned Checkout" stopped (now draft)`. May contain
    /// client-provided text: adapters escape it.
    pub title: String,
    /// Why it matters, one or two sentences, with the numbers that triggered it.
    pub why: String,
    /// Deep link into the Klaviyo web app (always `https://www.klaviyo.com/...`).
    pub deep_link: String,
    /// Dollar value at stake, when the check has a method for it.
    pub value_at_stake: Option<Money>,
    /// Earliest evidence of when the problem began, when known.
    pub began_at: Option<DateTime<Utc>>,
}

/// Why a check did not run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Skipped {
    /// The parts of the snapshot that were missing.
    pub missing: Vec<Part>,
}

/// What one check produced for one snapshot.
pub type CheckResult = Result<Vec<Observation>, Skipped>;

/// How often a check runs: on the cheap 5-minute pulse, or on the hourly full scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cadence {
    /// Every pulse (flow status and event freshness), and every full scan.
    Pulse,
    /// Full scans only.
    Full,
}

impl Cadence {
    /// The lowercase name, as the catalogue prints it.
    pub fn name(self) -> &'static str {
        match self {
            Cadence::Pulse => "pulse",
            Cadence::Full => "full",
        }
    }
}

/// A check in the catalogue.
#[derive(Debug, Clone, Copy)]
pub struct Check {
    /// Stable id, e.g. `deliv-bounce-rate`.
    pub id: &'static str,
    /// Family (file) it belongs to.
    pub family: &'static str,
    /// One line describing what it detects.
    pub summary: &'static str,
    /// The default threshold in words (each is overridable per client).
    pub threshold: &'static str,
    /// Default severity (an observation may raise or lower it, e.g. warning/critical).
    pub default_severity: Severity,
    /// Default track.
    pub track: Track,
    /// Whether pulses run it too (its data is what a pulse reads).
    pub cadence: Cadence,
    /// Snapshot parts it needs; when any is missing the check is skipped.
    pub needs: &'static [Part],
    /// The check itself.
    pub run: fn(&CheckInput<'_>) -> Vec<Observation>,
}

impl Check {
    /// Runs the check, or reports it skipped when a part it needs is missing.
    pub fn evaluate(&self, input: &CheckInput<'_>) -> CheckResult {
        let missing: Vec<Part> = self
            .needs
            .iter()
            .copied()
            .filter(|p| !input.snapshot.has(*p))
            .collect();
        if missing.is_empty() {
            Ok((self.run)(input))
        } else {
            Err(Skipped { missing })
        }
    }
}

/// Every check Lookout runs, in a stable order.
pub fn catalogue() -> Vec<Check> {
    let mut all = Vec::new();
    all.extend_from_slice(flows::CHECKS);
    all.extend_from_slice(integrations::CHECKS);
    all.extend_from_slice(deliverability::CHECKS);
    all.extend_from_slice(lists::CHECKS);
    all.extend_from_slice(compliance::CHECKS);
    all.extend_from_slice(campaigns::CHECKS);
    all.extend_from_slice(content::CHECKS);
    all.extend_from_slice(revenue::CHECKS);
    all.extend_from_slice(account::CHECKS);
    all
}

/// The catalogue as a Markdown table, from the code: what `lookout checks`
/// prints and the README's catalogue section holds (a test keeps them equal).
pub fn catalogue_table() -> String {
    let mut out = String::from(
        "| id | family | severity | track | cadence | threshold | detects |\n|---|---|---|---|---|---|---|\n",
    );
    for c in catalogue() {
        let track = match c.track {
            Track::Now => "now",
            Track::Eventually => "eventually",
        };
        out.push_str(&format!(
            "| `{}` | {} | {} | {} | {} | {} | {} |\n",
            c.id,
            c.family,
            c.default_severity,
            track,
            c.cadence.name(),
            c.threshold,
            c.summary
        ));
    }
    // Raised by the scan itself rather than by a check over the snapshot.
    out.push_str(
        "| `access-token-revoked` | access | critical | now | pulse | any `401`/`invalid_grant` | The grant was revoked or its refresh failed (raised by the scan itself) |\n",
    );
    out.push_str(
        "| `scan-incomplete` | scan | warning | now | full | any part not read | Part of the account could not be read: names the checks skipped; nothing clears on missing data (raised by the scan itself) |\n",
    );
    out
}

/// Looks a check up by id.
pub fn find(id: &str) -> Option<Check> {
    catalogue().into_iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_holds_the_catalogue_as_the_code_prints_it() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
            .expect("README.md next to Cargo.toml");
        let table = catalogue_table();
        assert_eq!(table.lines().count(), 4 + catalogue().len());
        assert!(
            readme.contains(&table),
            "the README's catalogue is stale: replace it with `lookout checks`"
        );
    }
}
