//! What every command handler shares: who asked where (`Invocation`), the
//! context (`Ctx`), the reply, the errors, and the tenancy rules that keep a
//! client's channel to that client's findings.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};

use super::{ArgValue, Args, Role, SnoozeSpec, spec};
use crate::app::{App, AppError};
use crate::audit::{self, Entry, Surface};
use crate::clients::{ClientEntry, ClientsError};
use crate::domain::{ClientSlug, FindingId};
use crate::findings::{Actor, Change, Finding, FindingError, Findings};
use crate::message::{Accent, ChannelRef, Message, PersonRef, Visibility};
use crate::routing::{self, cards};
use crate::store::{Db, StoreError};

/// Who ran a command, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// The person, by platform id.
    pub person: PersonRef,
    /// The channel it was run in.
    pub channel: ChannelRef,
}

impl Invocation {
    /// The actor recorded for changes this person makes.
    pub fn actor(&self) -> Actor {
        Actor::person(&self.person)
    }
}

/// What the person sees back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Everyone or only them.
    pub visibility: Visibility,
    /// The message.
    pub message: Message,
    /// A private dialog to open instead, where the platform has dialogs
    /// (the message is shown where it has none).
    pub dialog: Option<crate::message::KeyDialog>,
}

impl Reply {
    /// A reply everyone in the channel sees.
    pub fn channel(message: Message) -> Self {
        Self {
            visibility: Visibility::InChannel,
            message,
            dialog: None,
        }
    }

    /// Opens the private key dialog; `message` is for platforms without dialogs.
    pub fn key_dialog(dialog: crate::message::KeyDialog, message: Message) -> Self {
        Self {
            visibility: Visibility::Ephemeral,
            message,
            dialog: Some(dialog),
        }
    }

    /// A reply only the person sees.
    pub fn private(message: Message) -> Self {
        Self {
            visibility: Visibility::Ephemeral,
            message,
            dialog: None,
        }
    }
}

/// A command that could not be carried out; shown only to the person who ran it.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// Their role does not allow it.
    #[error("/{command} needs the {needed} role or higher; ask an admin")]
    Forbidden {
        /// Which command.
        command: String,
        /// Role needed.
        needed: &'static str,
    },
    /// The finding or client belongs to another client's channel.
    #[error("{what} belongs to {client}; use it in {channel}")]
    WrongChannel {
        /// What was asked about.
        what: String,
        /// Whose it is.
        client: ClientSlug,
        /// Where it may be used.
        channel: String,
    },
    /// Output that spans clients was asked for in a client's channel.
    #[error("{what} covers every client, so it is not shown in a client's channel; {pointer}")]
    SpansClients {
        /// What was asked for.
        what: String,
        /// Where to ask instead.
        pointer: String,
    },
    /// A lifecycle rule refused it (already resolved, unknown id...).
    #[error(transparent)]
    Finding(#[from] FindingError),
    /// The app refused it (unknown client, scan already running...).
    #[error(transparent)]
    App(#[from] AppError),
    /// The request cannot be met as asked (a month that has not begun...).
    #[error("{0}")]
    Refused(String),
    /// Something broke inside Lookout.
    #[error("something went wrong inside Lookout ({0}); it has been logged, try again in a minute")]
    Internal(String),
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        match e {
            // A taken channel is the person's to fix, not an internal fault.
            e @ StoreError::ChannelTaken { .. } => CommandError::App(AppError::Store(e)),
            e => CommandError::Internal(e.to_string()),
        }
    }
}

impl From<ClientsError> for CommandError {
    fn from(e: ClientsError) -> Self {
        CommandError::App(AppError::Clients(e))
    }
}

/// Renders an error as the message shown to the person.
pub fn error_message(e: &CommandError) -> Message {
    Message::text(Accent::Error, e.to_string())
}

/// What a channel is to Lookout.
#[derive(Debug, Clone)]
pub enum Place {
    /// One client's channel.
    Client(Box<ClientEntry>),
    /// The agency-wide channel.
    Agency,
    /// Anything else: a DM, or a channel Lookout does not route to.
    Other,
}

/// Everything a handler needs: the app, who asked where, their role, now,
/// and what the action is recorded as in the audit trail.
pub struct Ctx {
    /// The app.
    pub app: Arc<App>,
    /// Who and where.
    pub inv: Invocation,
    /// Their role.
    pub role: Role,
    /// When the command arrived.
    pub now: DateTime<Utc>,
    /// The audit entry this action is recorded as (its outcome is set when it ends).
    pub audit: Entry,
    /// Set once a handler has recorded the entry with its change.
    recorded: AtomicBool,
}

impl Ctx {
    /// A context for a person's command, with their role from the config,
    /// recorded as a slash command in the channel it came from.
    pub fn new(app: Arc<App>, inv: Invocation) -> Self {
        let role = app.config.role_of(&inv.person);
        let now = app.clock.now();
        let audit = Entry::person(&inv.person, Surface::Command, "command").channel(&inv.channel);
        Self {
            app,
            inv,
            role,
            now,
            audit,
            recorded: AtomicBool::new(false),
        }
    }

    /// The same context, recorded in the audit trail as `entry`.
    pub fn recorded_as(mut self, entry: Entry) -> Self {
        self.audit = entry;
        self
    }

    /// The same context, its audit entry about `client` when there is one.
    pub fn about(mut self, client: Option<ClientSlug>) -> Self {
        if client.is_some() {
            self.audit.client = client;
        }
        self
    }

    /// The client a command is about, for the audit trail: the client it
    /// names, else the client of the finding it names, else the client whose
    /// channel it was typed in. Only a client Lookout knows is named.
    pub async fn subject_client(&self, args: &Args) -> Option<ClientSlug> {
        for (_, v) in args.values() {
            if let ArgValue::Client(c) = v
                && self.app.clients.get(c).is_ok()
            {
                return Some(c.clone());
            }
        }
        for (_, v) in args.values() {
            if let ArgValue::Finding(id) = v {
                return self.finding_client(*id).await;
            }
        }
        match self.place() {
            Place::Client(c) => Some(c.profile.slug.clone()),
            _ => None,
        }
    }

    /// The client a finding belongs to, if the finding exists.
    pub async fn finding_client(&self, id: FindingId) -> Option<ClientSlug> {
        let mut db = self.app.store.conn().await.ok()?;
        Findings::get(&mut db, id).await.ok().map(|f| f.client)
    }

    /// Records this action as done in `db`, the change's own transaction, so
    /// the change and its record commit together or not at all; `finish`
    /// then records nothing more for a success. Call it just before the commit.
    pub async fn record_done(&self, db: &mut Db) -> Result<(), StoreError> {
        audit::record(db, &self.audit.clone().done(), self.now).await?;
        self.recorded.store(true, Ordering::Release);
        Ok(())
    }

    /// Notes that the change recorded itself (a route change writes its own
    /// entry in its transaction), so `finish` adds none for a success.
    pub fn mark_recorded(&self) {
        self.recorded.store(true, Ordering::Release);
    }

    /// Records how the action ended, unless its handler recorded the success
    /// with its change. A refusal or failure is always recorded: the
    /// handler's transaction, and any entry in it, was rolled back. With
    /// `keep_reason` false (a command whose arguments are not recorded) a
    /// reason that could repeat an argument is not kept either. A failure to
    /// record is logged at error; the person is answered all the same.
    pub async fn finish<T>(&self, result: &Result<T, CommandError>, keep_reason: bool) {
        let entry = match result {
            Ok(_) if self.recorded.load(Ordering::Acquire) => return,
            Ok(_) => self.audit.clone().done(),
            Err(e) => refusal_entry(self.audit.clone(), e, keep_reason),
        };
        audit::record_or_log(&self.app.store, &entry, self.now).await;
    }

    /// Refuses when the person's role is below the command's declared one.
    pub fn check_role(&self, command: &str) -> Result<(), CommandError> {
        match spec::spec(command) {
            Some(s) if self.role < s.who => Err(CommandError::Forbidden {
                command: command.to_owned(),
                needed: s.who.as_str(),
            }),
            _ => Ok(()),
        }
    }

    /// What the invoking channel is.
    pub fn place(&self) -> Place {
        if let Some(c) = self.app.clients.of_channel(&self.inv.channel) {
            Place::Client(Box::new(c))
        } else if self.app.config.agency.is_agency_channel(&self.inv.channel) {
            Place::Agency
        } else {
            Place::Other
        }
    }

    /// A client's findings may be acted on in its own channel, the agency
    /// channel or privately, never from another client's channel.
    pub fn allowed_here(&self, client: &ClientSlug, what: &str) -> Result<(), CommandError> {
        match self.place() {
            Place::Client(here) if &here.profile.slug != client => {
                let channel = self
                    .app
                    .clients
                    .get(client)
                    .ok()
                    .and_then(|c| c.route.channel_on(self.inv.channel.platform).cloned())
                    .map(|c| self.channel_label(&c))
                    .unwrap_or_else(|| "its own channel".into());
                Err(CommandError::WrongChannel {
                    what: what.to_owned(),
                    client: client.clone(),
                    channel,
                })
            }
            _ => Ok(()),
        }
    }

    /// Whether the person may act on this finding from where they are.
    pub fn finding_here(&self, f: &Finding) -> Result<(), CommandError> {
        self.allowed_here(&f.client, &f.id.to_string())
    }

    /// How a cross-client answer may be shown here: in the agency channel for
    /// all to see, privately elsewhere, and never in a client's channel.
    pub fn cross_client(&self, what: &str, message: Message) -> Result<Reply, CommandError> {
        match self.place() {
            Place::Agency => Ok(Reply::channel(message)),
            Place::Other => Ok(Reply::private(message)),
            Place::Client(_) => Err(CommandError::SpansClients {
                what: what.to_owned(),
                pointer: match self.app.config.agency.channel_on(self.inv.channel.platform) {
                    Some(c) => format!(
                        "ask in the agency channel ({}) or in a direct message to Lookout",
                        self.channel_label(c)
                    ),
                    None => "ask in the agency channel or in a direct message to Lookout".into(),
                },
            }),
        }
    }

    /// Shows a report that carries files (a chart, a document). Where all may
    /// see it (this client's channel, the agency's) it is posted here through
    /// the outbox, since files need a post of their own and the outbox makes
    /// that exactly once; the person is told it is on its way. Elsewhere it is
    /// answered privately, naming the files and where to get them.
    pub async fn show_with_files(
        &self,
        what: &str,
        message: Message,
    ) -> Result<Reply, CommandError> {
        match self.place() {
            Place::Client(_) | Place::Agency => {
                let mut tx = self.app.store.begin().await?;
                crate::outbox::post_to(&mut tx, &self.inv.channel, message, self.now).await?;
                self.record_done(&mut tx).await?;
                tx.commit().await?;
                self.app.deliverer.notify();
                Ok(Reply::private(crate::app::info(format!(
                    "{what}: posting it in this channel with its files."
                ))))
            }
            Place::Other => Ok(Reply::private(message.without_files(
                "ask in the client's channel or the agency channel to get the file",
            ))),
        }
    }

    /// A channel as people on this platform read it (`<#C0123>` is left to
    /// adapters; text shows the id).
    pub fn channel_label(&self, c: &ChannelRef) -> String {
        format!("#{}", c.id)
    }

    /// A required argument; its absence means a declaration and its handler disagree.
    pub fn need<T>(&self, value: Option<T>, name: &str) -> Result<T, CommandError> {
        value.ok_or_else(|| {
            CommandError::Internal(format!(
                "argument <{name}> is declared required but was not parsed"
            ))
        })
    }
}

/// A lifecycle change a person asks for.
pub enum Transition {
    /// Acknowledge.
    Ack,
    /// Snooze until a time, or until worse.
    Snooze {
        /// The end.
        until: DateTime<Utc>,
        /// Also end when it gets worse.
        worse: bool,
    },
    /// Resolve with an optional reason.
    Resolve {
        /// Why.
        reason: Option<String>,
    },
}

/// Applies a lifecycle change and its chat traffic in one transaction.
pub async fn transition(ctx: &Ctx, id: FindingId, what: Transition) -> Result<Reply, CommandError> {
    let app = &ctx.app;
    let actor = ctx.inv.actor();
    let now = ctx.now;
    let mut tx = app.store.begin().await?;
    let f = Findings::get(&mut tx, id).await?;
    ctx.finding_here(&f)?;
    let change: Change = match what {
        Transition::Ack => Findings::acknowledge(&mut tx, id, &actor, now).await?,
        Transition::Snooze { until, worse } => {
            Findings::snooze(&mut tx, id, &actor, until, worse, now).await?
        }
        Transition::Resolve { reason } => {
            Findings::resolve(&mut tx, id, &actor, reason.as_deref(), now).await?
        }
    };
    let entry = app.clients.get(&change.finding.client)?;
    let ops = routing::route_change(&mut tx, &entry.route, &change, now).await?;
    ctx.record_done(&mut tx).await?;
    tx.commit().await?;
    app.deliverer.notify();
    let state = cards::state_line(&change.finding);
    let text = if ops.is_empty() {
        format!("{id} {}: {state}.", change.finding.title)
    } else {
        format!("{id}: {state}. Its message is updated.")
    };
    Ok(Reply::private(crate::app::info(text)))
}

/// Whether the person may act on this finding from where they are.
pub async fn can_act_on(ctx: &Ctx, id: FindingId) -> Result<(), CommandError> {
    let mut db = ctx.app.store.conn().await?;
    let f = Findings::get(&mut db, id).await?;
    ctx.finding_here(&f)
}

/// Runs a parsed command for a person: works out which client it is about,
/// checks the role, runs its handler, and records how it ended in the audit
/// trail (a refusal changes nothing and is recorded as refused).
pub async fn run(ctx: Ctx, command: &str, args: &Args) -> Result<Reply, CommandError> {
    let client = ctx.subject_client(args).await;
    let ctx = ctx.about(client);
    let result = async {
        ctx.check_role(command)?;
        match super::handler(command) {
            Some(h) => h(&ctx, args).await,
            None => Err(CommandError::Internal(format!(
                "/{command} has no handler; it should have been refused when parsed"
            ))),
        }
    }
    .await;
    let keep_reason = spec::spec(command).is_none_or(|s| s.record_args);
    ctx.finish(&result, keep_reason).await;
    result
}

/// Whether an error is a fault of Lookout's (a failure) rather than a
/// refusal the person can act on.
pub fn is_fault(e: &CommandError) -> bool {
    fn store(e: &StoreError) -> bool {
        !matches!(e, StoreError::ChannelTaken { .. } | StoreError::NotFound(_))
    }
    fn finding(e: &FindingError) -> bool {
        matches!(e, FindingError::Store(s) if store(s))
    }
    match e {
        CommandError::Internal(_) => true,
        CommandError::Finding(f) => finding(f),
        CommandError::App(a) => match a {
            AppError::Store(s) | AppError::Clients(ClientsError::Store(s)) => store(s),
            AppError::Findings(f) => finding(f),
            AppError::Config(_)
            | AppError::Klaviyo(_)
            | AppError::Startup(_)
            | AppError::ScanLost(_) => true,
            AppError::Connection(c) => matches!(
                c,
                crate::connections::ConnectionError::Store(_)
                    | crate::connections::ConnectionError::Vault(_)
            ),
            AppError::Clients(_) | AppError::AlreadyScanning(_) => false,
        },
        CommandError::Forbidden { .. }
        | CommandError::WrongChannel { .. }
        | CommandError::SpansClients { .. }
        | CommandError::Refused(_) => false,
    }
}

/// `entry` ended by `e`: refused with what the person was told, or failed.
/// Without `keep_reason` only a role refusal keeps its wording (it names the
/// command and the role, nothing typed); any other reason might repeat an
/// argument that must not be recorded.
pub fn refusal_entry(entry: Entry, e: &CommandError, keep_reason: bool) -> Entry {
    let reason = match e {
        CommandError::Forbidden { .. } => e.to_string(),
        _ if keep_reason => e.to_string(),
        _ => "not recorded: the reason could repeat the command's arguments".to_owned(),
    };
    if is_fault(e) {
        entry.failed(reason)
    } else {
        entry.refused(reason)
    }
}

/// A command's parsed arguments as text, in declared order (`F-12 4h`), for
/// the audit trail when there is no typed text; empty when the command's
/// arguments are not recorded.
pub fn args_text(command: &str, args: &Args) -> String {
    let Some(spec) = spec::spec(command).filter(|s| s.record_args) else {
        return String::new();
    };
    spec.args
        .iter()
        .filter_map(|a| args.get(&a.name).map(arg_text))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One argument as a person would type it.
fn arg_text(v: &ArgValue) -> String {
    match v {
        ArgValue::Client(c) => c.to_string(),
        ArgValue::Finding(f) => f.to_string(),
        ArgValue::Severity(s) => s.as_str().to_owned(),
        ArgValue::Snooze(SnoozeSpec::For(d)) => {
            let m = d.num_minutes();
            match m {
                m if m % (24 * 60) == 0 => format!("{}d", m / (24 * 60)),
                m if m % 60 == 0 => format!("{}h", m / 60),
                m => format!("{m}m"),
            }
        }
        ArgValue::Snooze(SnoozeSpec::UntilDate(d)) => d.to_string(),
        ArgValue::Snooze(SnoozeSpec::UntilWorse) => "until-worse".to_owned(),
        ArgValue::Text(t) | ArgValue::Command(t) => t.clone(),
        ArgValue::Days(n) => n.to_string(),
        ArgValue::Channel(c) => c.to_string(),
        ArgValue::User(p) => p.to_string(),
        ArgValue::Month(m) => match m.year {
            Some(y) => format!("{y}-{:02}", m.month),
            None => format!("month {}", m.month),
        },
    }
}
