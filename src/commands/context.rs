//! What every command handler shares: who asked where (`Invocation`), the
//! context (`Ctx`), the reply, the errors, and the tenancy rules that keep a
//! client's channel to that client's findings.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::{Args, Role, spec};
use crate::app::{App, AppError};
use crate::clients::{ClientEntry, ClientsError};
use crate::domain::{ClientSlug, FindingId};
use crate::findings::{Actor, Change, Finding, FindingError, Findings};
use crate::message::{Accent, ChannelRef, Message, PersonRef, Visibility};
use crate::routing::{self, cards};
use crate::store::StoreError;

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
}

impl Reply {
    /// A reply everyone in the channel sees.
    pub fn channel(message: Message) -> Self {
        Self {
            visibility: Visibility::InChannel,
            message,
        }
    }

    /// A reply only the person sees.
    pub fn private(message: Message) -> Self {
        Self {
            visibility: Visibility::Ephemeral,
            message,
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

/// Everything a handler needs: the app, who asked where, their role, and now.
pub struct Ctx {
    /// The app.
    pub app: Arc<App>,
    /// Who and where.
    pub inv: Invocation,
    /// Their role.
    pub role: Role,
    /// When the command arrived.
    pub now: DateTime<Utc>,
}

impl Ctx {
    /// A context for a person's command, with their role from the config.
    pub fn new(app: Arc<App>, inv: Invocation) -> Self {
        let role = app.config.role_of(&inv.person);
        let now = app.clock.now();
        Self {
            app,
            inv,
            role,
            now,
        }
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

/// Runs a parsed command for a person: role check, then its handler.
pub async fn run(ctx: &Ctx, command: &str, args: &Args) -> Result<Reply, CommandError> {
    ctx.check_role(command)?;
    match super::handler(command) {
        Some(h) => h(ctx, args).await,
        None => Err(CommandError::Internal(format!(
            "/{command} has no handler; it should have been refused when parsed"
        ))),
    }
}
