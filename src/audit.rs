//! The audit trail: who did what, where, when, about which client, and how it
//! ended.
//!
//! Every action is one `Entry`: a person's (a `PersonRef`) or Lookout's own
//! (no person: the scheduler, the config file), on a `Surface` (a slash
//! command, a button, a select, the note dialog, a thread reply, an HTTP
//! callback, the scheduler, the command line, the config file), named by an
//! action (`command /ack`, `button resolve`, `modal note`, `thread note`,
//! `route`, `config`), with the client it was about, a short detail and its
//! outcome (done, refused with the reason, or failed). The dispatcher records
//! every inbound chat event; a change that runs in a transaction records its
//! entry in that same transaction, so the change and its record land
//! together. Details are capped and single-line, and never hold a secret: a
//! command declared with `record_args = false` is recorded without its
//! argument text. The SQL is in `store::audit`.

use chrono::{DateTime, Utc};
use tracing::error;

use crate::domain::ClientSlug;
use crate::message::{ChannelRef, PersonRef, Platform};
use crate::store::{Db, Store, StoreError, audit as sql};

/// Longest detail kept, in characters (a command's argument text, a note's start).
pub const MAX_DETAIL_CHARS: usize = 200;
/// Longest refusal or failure reason kept, in characters.
pub const MAX_REASON_CHARS: usize = 300;
/// Longest action name kept, in characters.
pub const MAX_ACTION_CHARS: usize = 64;

/// Where an action came from: the platform is the actor's, this is the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Surface {
    /// A slash command (or the console's typed line).
    Command,
    /// A button on a finding's message.
    Button,
    /// A select on a finding's message (snooze lengths).
    Select,
    /// A submitted dialog (the "Add note" modal).
    Modal,
    /// A reply in a finding's thread.
    Thread,
    /// An HTTP callback (an OAuth redirect, a webhook).
    Callback,
    /// Lookout's own scheduler.
    Scheduler,
    /// The `lookout` command line.
    Cli,
    /// The config file, read at start-up.
    ConfigFile,
}

impl Surface {
    /// Every surface, in a stable order.
    pub const ALL: [Surface; 9] = [
        Surface::Command,
        Surface::Button,
        Surface::Select,
        Surface::Modal,
        Surface::Thread,
        Surface::Callback,
        Surface::Scheduler,
        Surface::Cli,
        Surface::ConfigFile,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Surface::Command => "command",
            Surface::Button => "button",
            Surface::Select => "select",
            Surface::Modal => "modal",
            Surface::Thread => "thread",
            Surface::Callback => "callback",
            Surface::Scheduler => "scheduler",
            Surface::Cli => "cli",
            Surface::ConfigFile => "config_file",
        }
    }

    /// Parses a stored name.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// How people read it.
    pub fn label(self) -> &'static str {
        match self {
            Surface::Callback => "http callback",
            Surface::ConfigFile => "config file",
            Surface::Cli => "command line",
            other => other.as_str(),
        }
    }
}

/// How an action ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Carried out.
    Done,
    /// Not allowed or not possible as asked; the reason is what the person was told.
    Refused(String),
    /// Something broke inside Lookout.
    Failed(String),
}

impl Outcome {
    /// `done`, `refused` or `failed`, as stored.
    pub fn as_str(&self) -> &'static str {
        match self {
            Outcome::Done => "done",
            Outcome::Refused(_) => "refused",
            Outcome::Failed(_) => "failed",
        }
    }

    /// Why it was refused or failed.
    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Done => None,
            Outcome::Refused(r) | Outcome::Failed(r) => Some(r),
        }
    }

    /// Rebuilds an outcome from its stored name and reason; `None` for an unknown name.
    pub fn from_parts(name: &str, reason: Option<String>) -> Option<Self> {
        match name {
            "done" => Some(Outcome::Done),
            "refused" => Some(Outcome::Refused(reason.unwrap_or_default())),
            "failed" => Some(Outcome::Failed(reason.unwrap_or_default())),
            _ => None,
        }
    }
}

/// One action in the trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Who; `None` for Lookout itself or the config file.
    pub actor: Option<PersonRef>,
    /// Where it came from.
    pub surface: Surface,
    /// What: `command /ack`, `button resolve`, `route`, `config`...
    pub action: String,
    /// The client it was about, if any.
    pub client: Option<ClientSlug>,
    /// The chat channel it happened in, if any.
    pub channel: Option<ChannelRef>,
    /// A short single-line detail (capped); never a secret.
    pub detail: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
}

impl Entry {
    /// A person's action, done unless marked otherwise.
    pub fn person(who: &PersonRef, surface: Surface, action: impl Into<String>) -> Self {
        Self::new(Some(who.clone()), surface, action)
    }

    /// An action of Lookout itself or of the config file (no person).
    pub fn system(surface: Surface, action: impl Into<String>) -> Self {
        Self::new(None, surface, action)
    }

    fn new(actor: Option<PersonRef>, surface: Surface, action: impl Into<String>) -> Self {
        Self {
            actor,
            surface,
            action: one_line(&action.into(), MAX_ACTION_CHARS),
            client: None,
            channel: None,
            detail: None,
            outcome: Outcome::Done,
        }
    }

    /// About this client.
    pub fn client(mut self, c: &ClientSlug) -> Self {
        self.client = Some(c.clone());
        self
    }

    /// About this client when there is one (a client worked out, not named).
    pub fn about(mut self, c: Option<ClientSlug>) -> Self {
        if c.is_some() {
            self.client = c;
        }
        self
    }

    /// In this channel.
    pub fn channel(mut self, c: &ChannelRef) -> Self {
        self.channel = Some(c.clone());
        self
    }

    /// With a short detail: made one line and capped; an empty one is dropped.
    pub fn detail(mut self, d: impl Into<String>) -> Self {
        let d = one_line(&d.into(), MAX_DETAIL_CHARS);
        self.detail = (!d.is_empty()).then_some(d);
        self
    }

    /// Refused, with the reason the person was given.
    pub fn refused(mut self, reason: impl Into<String>) -> Self {
        self.outcome = Outcome::Refused(one_line(&reason.into(), MAX_REASON_CHARS));
        self
    }

    /// Failed inside Lookout, with what went wrong.
    pub fn failed(mut self, reason: impl Into<String>) -> Self {
        self.outcome = Outcome::Failed(one_line(&reason.into(), MAX_REASON_CHARS));
        self
    }

    /// Done (the default): for a template entry reused for the outcome.
    pub fn done(mut self) -> Self {
        self.outcome = Outcome::Done;
        self
    }

    /// The platform it came from: the actor's.
    pub fn platform(&self) -> Option<Platform> {
        self.actor.as_ref().map(|p| p.platform)
    }
}

/// An entry as stored, with when it happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Its row id (increases with every entry).
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub entry: Entry,
}

/// Records an entry at `at`, in `db` (the change's own transaction where there is one).
pub async fn record(db: &mut Db, entry: &Entry, at: DateTime<Utc>) -> Result<(), StoreError> {
    sql::insert(db, entry, at).await
}

/// Records an entry on its own connection; a failure is logged at error
/// with the whole entry (so the action is not lost silently), never returned:
/// the person's action stands and they are still answered.
pub async fn record_or_log(store: &Store, entry: &Entry, at: DateTime<Utc>) {
    let recorded = async {
        let mut db = store.conn().await?;
        record(&mut db, entry, at).await
    }
    .await;
    if let Err(e) = recorded {
        log_unrecorded(entry, at, &e);
    }
}

/// Logs an entry that could not be stored, with everything it says.
pub fn log_unrecorded(entry: &Entry, at: DateTime<Utc>, e: &StoreError) {
    error!(
        error = %e,
        %at,
        actor = entry.actor.as_ref().map(|p| p.to_string()).unwrap_or_default(),
        surface = entry.surface.as_str(),
        action = %entry.action,
        client = entry.client.as_ref().map(|c| c.to_string()).unwrap_or_default(),
        outcome = entry.outcome.as_str(),
        reason = entry.outcome.reason().unwrap_or_default(),
        detail = entry.detail.as_deref().unwrap_or_default(),
        "could not record an action in the audit trail"
    );
}

/// Entries since `since`, newest first, `limit` of them after skipping
/// `offset`; for one client (`Some`) or everything (`None`).
pub async fn recent(
    db: &mut Db,
    client: Option<&ClientSlug>,
    since: DateTime<Utc>,
    limit: u32,
    offset: u32,
) -> Result<Vec<Recorded>, StoreError> {
    sql::recent(db, client, since, limit, offset).await
}

/// How many entries `recent` would page through.
pub async fn count(
    db: &mut Db,
    client: Option<&ClientSlug>,
    since: DateTime<Utc>,
) -> Result<u64, StoreError> {
    sql::count(db, client, since).await
}

/// Each person's latest action of any outcome (an access review asks who
/// still uses Lookout), most recent first.
pub async fn last_activity_by_person(
    db: &mut Db,
) -> Result<Vec<(PersonRef, DateTime<Utc>)>, StoreError> {
    sql::last_activity_by_person(db).await
}

/// Entries with no person since `since` (Lookout itself, the config file), newest first.
pub async fn unattributed(db: &mut Db, since: DateTime<Utc>) -> Result<Vec<Recorded>, StoreError> {
    sql::unattributed(db, since).await
}

/// Records a `config` entry (no person, from the config file) when the
/// file's hashes differ from those stored at the last start, naming the
/// top-level sections that changed, and stores the new hashes, all in one
/// transaction. Returns the entry when there was a change. Only hashes are
/// kept, never the file's content (it may hold keys).
pub async fn record_config_change(
    store: &Store,
    hashes: &std::collections::BTreeMap<String, String>,
    at: DateTime<Utc>,
) -> Result<Option<Entry>, StoreError> {
    let mut tx = store.begin().await?;
    let before = sql::config_hashes(&mut tx).await?;
    if &before == hashes {
        return Ok(None);
    }
    let detail = if before.is_empty() {
        "first start with a config file recorded".to_owned()
    } else {
        let mut changed: Vec<&str> = before
            .keys()
            .chain(hashes.keys())
            .map(String::as_str)
            .filter(|k| !k.is_empty() && before.get(*k) != hashes.get(*k))
            .collect();
        changed.sort_unstable();
        changed.dedup();
        if changed.is_empty() {
            "the file changed: comments or layout only".to_owned()
        } else {
            format!("changed: {}", changed.join(", "))
        }
    };
    let entry = Entry::system(Surface::ConfigFile, "config").detail(detail);
    record(&mut tx, &entry, at).await?;
    sql::set_config_hashes(&mut tx, hashes, at).await?;
    tx.commit().await?;
    Ok(Some(entry))
}

/// One line of at most `max` characters: line breaks and tabs become spaces,
/// other control and text-direction characters are dropped (they could make a
/// row read differently than it is), and a cut ends with `…`.
pub fn one_line(s: &str, max: usize) -> String {
    let mut clean = String::with_capacity(s.len().min(max * 4));
    for c in s.trim().chars() {
        match c {
            '\n' | '\r' | '\t' => clean.push(' '),
            c if c.is_control() || is_bidi_control(c) => {}
            c => clean.push(c),
        }
    }
    if clean.chars().count() <= max {
        return clean;
    }
    let mut cut: String = clean.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surfaces_round_trip() {
        for s in Surface::ALL {
            assert_eq!(Surface::parse(s.as_str()), Some(s));
        }
        assert_eq!(Surface::ConfigFile.label(), "config file");
        assert_eq!(Surface::Callback.label(), "http callback");
        assert_eq!(Surface::parse("nope"), None);
    }

    #[test]
    fn details_are_one_capped_line() {
        let who = PersonRef::console("ana");
        let e = Entry::person(&who, Surface::Command, "command /note")
            .detail(format!("F-1 line one\nline two\u{202E}{}", "x".repeat(500)));
        let d = e.detail.unwrap();
        assert!(d.starts_with("F-1 line one line two"), "{d}");
        assert_eq!(d.chars().count(), MAX_DETAIL_CHARS);
        assert!(d.ends_with('…'));
        assert!(!d.contains('\u{202E}'));
        assert_eq!(
            Entry::system(Surface::ConfigFile, "config")
                .detail("  ")
                .detail,
            None
        );
        let r = Entry::system(Surface::Scheduler, "scan").refused("no\nway");
        assert_eq!(r.outcome, Outcome::Refused("no way".into()));
        assert_eq!(r.platform(), None);
        assert_eq!(
            Outcome::from_parts("failed", Some("x".into())),
            Some(Outcome::Failed("x".into()))
        );
    }
}
