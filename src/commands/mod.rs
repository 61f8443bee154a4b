//! Commands: declared once in the top-level `commands/` folder, parsed into a
//! `Command` of typed arguments, then run by one handler file per command.
//!
//! Parsing is separate from acting (as in mini-redis): `parse` turns text into a
//! `Command` or a clear one-line error; handlers act on typed values only and
//! never know which chat platform they serve. Adding a command is its
//! declaration in `commands/<name>.toml`, its file here, and its line in
//! `HANDLERS`.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::{ClientSlug, FindingId, Severity};
use crate::message::{ChannelRef, PersonRef};

pub mod context;
pub mod dispatch;
pub mod manifest;
pub mod parse;
pub mod spec;

mod access_review;
mod ack;
mod audit;
mod audit_report;
mod connect;
mod connections;
mod disconnect;
mod findings;
mod help;
mod inventory;
mod maintenance;
mod note;
mod notes;
mod portfolio;
mod renewal_report;
mod report;
mod resolve;
mod route;
mod scan;
mod sla;
mod snooze;

pub use context::{CommandError, Ctx, Invocation, Reply, error_message};
pub use scan::scan_summary;

/// Who may run a command; ordered so a higher role may do what a lower one may.
///
/// Viewers read (help, findings, notes) and change nothing; account managers
/// act on their clients' findings; leads see across clients; admins change
/// where findings go. A person not in `[people]` is a viewer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Anyone in the workspace: reads, changes nothing. `anyone` is accepted
    /// for it, as older config files and declarations wrote it.
    #[serde(alias = "anyone")]
    Viewer,
    /// Account manager.
    Am,
    /// Team lead.
    Lead,
    /// Agency admin.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 4] = [Role::Viewer, Role::Am, Role::Lead, Role::Admin];

    /// Lowercase name as written in `commands/*.toml` and config.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
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

/// A parsed argument value, typed by the argument's declared kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArgValue {
    /// A client slug.
    Client(ClientSlug),
    /// A finding id.
    Finding(FindingId),
    /// A severity.
    Severity(Severity),
    /// A snooze length, date or until-worse.
    Snooze(SnoozeSpec),
    /// Free text.
    Text(String),
    /// Another command's name.
    Command(String),
    /// A number of days.
    Days(u32),
    /// A channel (adapters decode mentions into `platform:id`).
    Channel(ChannelRef),
    /// A person (adapters decode mentions into `platform:id`).
    User(PersonRef),
    /// A month, with or without its year.
    Month(MonthSpec),
}

/// A month as typed: `2026-10` names its year, `october` the latest one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MonthSpec {
    /// The year, when typed.
    pub year: Option<i32>,
    /// 1 to 12.
    pub month: u32,
}

/// A command's parsed arguments, by declared name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Args(BTreeMap<String, ArgValue>);

impl Args {
    /// Sets an argument.
    pub fn insert(&mut self, name: impl Into<String>, value: ArgValue) {
        self.0.insert(name.into(), value);
    }

    /// An argument's value.
    pub fn get(&self, name: &str) -> Option<&ArgValue> {
        self.0.get(name)
    }

    /// Every argument given, by name.
    pub fn values(&self) -> impl Iterator<Item = (&str, &ArgValue)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// A client argument.
    pub fn client(&self, name: &str) -> Option<ClientSlug> {
        match self.get(name) {
            Some(ArgValue::Client(c)) => Some(c.clone()),
            _ => None,
        }
    }

    /// A finding argument.
    pub fn finding(&self, name: &str) -> Option<FindingId> {
        match self.get(name) {
            Some(ArgValue::Finding(f)) => Some(*f),
            _ => None,
        }
    }

    /// A severity argument.
    pub fn severity(&self, name: &str) -> Option<Severity> {
        match self.get(name) {
            Some(ArgValue::Severity(s)) => Some(*s),
            _ => None,
        }
    }

    /// A snooze argument.
    pub fn snooze(&self, name: &str) -> Option<SnoozeSpec> {
        match self.get(name) {
            Some(ArgValue::Snooze(s)) => Some(*s),
            _ => None,
        }
    }

    /// A text argument.
    pub fn text(&self, name: &str) -> Option<String> {
        match self.get(name) {
            Some(ArgValue::Text(t)) => Some(t.clone()),
            _ => None,
        }
    }

    /// A command-name argument.
    pub fn command(&self, name: &str) -> Option<String> {
        match self.get(name) {
            Some(ArgValue::Command(c)) => Some(c.clone()),
            _ => None,
        }
    }

    /// A days argument.
    pub fn days(&self, name: &str) -> Option<u32> {
        match self.get(name) {
            Some(ArgValue::Days(d)) => Some(*d),
            _ => None,
        }
    }

    /// A month argument.
    pub fn month(&self, name: &str) -> Option<MonthSpec> {
        match self.get(name) {
            Some(ArgValue::Month(m)) => Some(*m),
            _ => None,
        }
    }

    /// A channel argument.
    pub fn channel(&self, name: &str) -> Option<ChannelRef> {
        match self.get(name) {
            Some(ArgValue::Channel(c)) => Some(c.clone()),
            _ => None,
        }
    }

    /// A person argument.
    pub fn person(&self, name: &str) -> Option<PersonRef> {
        match self.get(name) {
            Some(ArgValue::User(p)) => Some(p.clone()),
            _ => None,
        }
    }
}

/// A parsed command: its declared name and typed arguments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    name: String,
    args: Args,
}

impl Command {
    /// A command with no arguments yet.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            args: Args::default(),
        }
    }

    /// Adds an argument, builder style.
    pub fn arg(mut self, name: &str, value: ArgValue) -> Self {
        self.args.insert(name, value);
        self
    }

    /// The command's name as declared in `commands/`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its arguments.
    pub fn args(&self) -> &Args {
        &self.args
    }
}

/// What a handler returns: a boxed future borrowing its context.
pub type HandlerFuture<'a> = Pin<Box<dyn Future<Output = Result<Reply, CommandError>> + Send + 'a>>;

/// A command handler: one per file in this folder.
pub type Handler = for<'a> fn(&'a Ctx, &'a Args) -> HandlerFuture<'a>;

/// Every command with a handler. A declared command without one answers
/// "not available yet".
pub const HANDLERS: &[(&str, Handler)] = &[
    ("ack", ack::run),
    ("access-review", access_review::run),
    ("audit", audit::run),
    ("audit-report", audit_report::run),
    ("connect", connect::run),
    ("connections", connections::run),
    ("disconnect", disconnect::run),
    ("findings", findings::run),
    ("help", help::run),
    ("inventory", inventory::run),
    ("maintenance", maintenance::run),
    ("note", note::run),
    ("notes", notes::run),
    ("portfolio", portfolio::run),
    ("renewal-report", renewal_report::run),
    ("report", report::run),
    ("resolve", resolve::run),
    ("route", route::run),
    ("scan", scan::run),
    ("sla", sla::run),
    ("snooze", snooze::run),
];

/// Runs a parsed command for a person, in the channel of the invocation,
/// recorded in the audit trail as a slash command with its arguments.
pub async fn run(
    app: &std::sync::Arc<crate::app::App>,
    inv: &Invocation,
    command: &Command,
) -> Result<Reply, CommandError> {
    let entry = crate::audit::Entry::person(
        &inv.person,
        crate::audit::Surface::Command,
        format!("command /{}", command.name()),
    )
    .channel(&inv.channel)
    .detail(context::args_text(command.name(), command.args()));
    let ctx = Ctx::new(app.clone(), inv.clone()).recorded_as(entry);
    context::run(ctx, command.name(), command.args()).await
}

/// The handler of a command, if it has one.
pub fn handler(name: &str) -> Option<Handler> {
    HANDLERS.iter().find(|(n, _)| *n == name).map(|(_, h)| *h)
}
