//! Commands: declared once in the top-level `commands/` folder, parsed into a
//! typed `Command`, then executed by platform-neutral handlers.
//!
//! Parsing is separate from acting (as in mini-redis): `parse` turns text into a
//! `Command` or a clear one-line error; `handlers` act on typed values only.

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{ClientSlug, FindingId, Severity};

pub mod dispatch;
pub mod handlers;
pub mod manifest;
pub mod parse;
pub mod spec;

/// Who may run a command; ordered so a higher role may do what a lower one may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Anyone in the workspace.
    Anyone,
    /// Account manager.
    Am,
    /// Team lead.
    Lead,
    /// Agency admin.
    Admin,
}

impl Role {
    /// Lowercase name as written in `commands/*.toml` and config.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Anyone => "anyone",
            Role::Am => "am",
            Role::Lead => "lead",
            Role::Admin => "admin",
        }
    }
}

/// How long a snooze lasts. Every snooze ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnoozeSpec {
    /// For a duration from now (`1h`, `4h`, `1d`, `7d`, `90m`, ...).
    For(#[serde(with = "duration_secs")] Duration),
    /// Until the start of a date in the agency's timezone (`2026-12-01`).
    UntilDate(NaiveDate),
    /// Until the finding gets worse (severity or dollar value rises), with a default end.
    UntilWorse,
}

impl SnoozeSpec {
    /// The end time of a snooze started at `now`. `UntilDate` uses UTC midnight;
    /// `UntilWorse` ends after `worse_cap` at the latest.
    pub fn end(self, now: DateTime<Utc>, worse_cap: Duration) -> DateTime<Utc> {
        match self {
            SnoozeSpec::For(d) => now + d,
            SnoozeSpec::UntilDate(d) => d
                .and_hms_opt(0, 0, 0)
                .map(|t| t.and_utc())
                .unwrap_or(now + worse_cap),
            SnoozeSpec::UntilWorse => now + worse_cap,
        }
    }
}

mod duration_secs {
    use chrono::Duration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(d.num_seconds())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        i64::deserialize(d).map(Duration::seconds)
    }
}

/// A parsed command with typed arguments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Command {
    /// `/scan <client>`: scan now, show progress, then findings.
    Scan {
        /// Which client.
        client: ClientSlug,
    },
    /// `/findings [client] [severity]`: open findings, newest first.
    Findings {
        /// Only this client.
        client: Option<ClientSlug>,
        /// Only this severity or worse.
        severity: Option<Severity>,
    },
    /// `/ack <finding>`.
    Ack {
        /// Which finding.
        finding: FindingId,
    },
    /// `/snooze <finding> <1h|4h|1d|7d|date|until-worse>`.
    Snooze {
        /// Which finding.
        finding: FindingId,
        /// For how long.
        spec: SnoozeSpec,
    },
    /// `/resolve <finding> [reason]`.
    Resolve {
        /// Which finding.
        finding: FindingId,
        /// Why, if given.
        reason: Option<String>,
    },
    /// `/note <finding> <text>`.
    Note {
        /// Which finding.
        finding: FindingId,
        /// The note.
        text: String,
    },
    /// `/notes <finding>`.
    Notes {
        /// Which finding.
        finding: FindingId,
    },
    /// `/portfolio`: clients with something open.
    Portfolio,
    /// `/route <client> <channel> [owner]`: where a client's findings go and who owns them.
    Route {
        /// Which client.
        client: ClientSlug,
        /// Channel name or platform id, without `#`.
        channel: String,
        /// Chat user id of the new owner.
        owner: Option<String>,
    },
    /// `/maintenance <client> <for>`: record findings but post nothing for a while.
    Maintenance {
        /// Which client.
        client: ClientSlug,
        /// How long (`until-worse` is refused).
        spec: SnoozeSpec,
    },
    /// `/help [command]`.
    Help {
        /// A command name to explain.
        command: Option<String>,
    },
}

impl Command {
    /// The command's name as declared in `commands/`.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Scan { .. } => "scan",
            Command::Findings { .. } => "findings",
            Command::Ack { .. } => "ack",
            Command::Snooze { .. } => "snooze",
            Command::Resolve { .. } => "resolve",
            Command::Note { .. } => "note",
            Command::Notes { .. } => "notes",
            Command::Portfolio => "portfolio",
            Command::Route { .. } => "route",
            Command::Maintenance { .. } => "maintenance",
            Command::Help { .. } => "help",
        }
    }
}
