//! What people do in chat, in platform-neutral form.
//!
//! Platform adapters (Slack's Socket Mode and HTTP endpoints, Discord's gateway
//! and interactions endpoint, the console) verify and parse their payloads into
//! `Inbound`, with mention and channel syntax already decoded into
//! `platform:id` references, hand it to an `InboundHandler`, and show the
//! returned `Outcome` to the person who acted.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use chrono::{DateTime, Utc};

use super::{ActionKind, ChannelRef, Message, MessageRef, PersonRef, Platform};
use crate::config::Secret;
use crate::domain::{ClientSlug, FindingId};

/// Who acted, where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// The person, by platform id.
    pub person: PersonRef,
    /// The channel they acted in (for a thread, the thread's parent channel).
    pub channel: ChannelRef,
}

impl Actor {
    /// The platform they acted on.
    pub fn platform(&self) -> Platform {
        self.channel.platform
    }
}

/// One thing a person did in chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Inbound {
    /// A slash command: `/snooze` with text `F-12 4h`, or the umbrella `/lookout snooze F-12 4h`.
    /// Channel and user arguments in `text` are already `platform:id`.
    Command {
        /// Who and where.
        actor: Actor,
        /// Command name without `/`.
        name: String,
        /// Everything after the command.
        text: String,
    },
    /// A button or select on a finding's message.
    Button {
        /// Who and where.
        actor: Actor,
        /// Which control: ack, snooze, resolve, note, reopen.
        action: ActionKind,
        /// Which finding.
        finding: FindingId,
        /// A select's chosen value, e.g. `4h` for snooze.
        choice: Option<String>,
        /// Platform handle for opening a dialog (Slack `trigger_id`), if any.
        trigger: Option<String>,
    },
    /// A submitted "Add note" dialog.
    NoteSubmitted {
        /// Who and where.
        actor: Actor,
        /// Which finding.
        finding: FindingId,
        /// The note.
        text: String,
    },
    /// A submitted "Connect with a private key" dialog.
    KeySubmitted {
        /// Who and where.
        actor: Actor,
        /// The client being connected.
        client: ClientSlug,
        /// When the access ends, as chosen in `/connect`.
        ends_at: DateTime<Utc>,
        /// The key as typed: it never passes through a message.
        key: Secret,
    },
    /// A human message in a message's thread.
    ThreadReply {
        /// Who and where (the thread's parent channel).
        actor: Actor,
        /// The thread's parent message.
        thread: MessageRef,
        /// The reply's own message, for a confirmation reaction.
        message: MessageRef,
        /// What they wrote.
        text: String,
    },
    /// A person is typing an argument that offers suggestions (Discord autocomplete).
    Autocomplete {
        /// Who and where.
        actor: Actor,
        /// The command.
        command: String,
        /// The argument being typed.
        arg: String,
        /// What is typed so far.
        typed: String,
    },
}

impl Inbound {
    /// Who acted, where.
    pub fn actor(&self) -> &Actor {
        match self {
            Inbound::Command { actor, .. }
            | Inbound::Button { actor, .. }
            | Inbound::NoteSubmitted { actor, .. }
            | Inbound::KeySubmitted { actor, .. }
            | Inbound::ThreadReply { actor, .. }
            | Inbound::Autocomplete { actor, .. } => actor,
        }
    }
}

/// One suggestion for an argument being typed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Choice {
    /// What the person sees.
    pub label: String,
    /// What is filled in.
    pub value: String,
}

/// What the platform should do after handling an inbound event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Nothing visible (e.g. a reply in a thread that is not a finding's).
    Nothing,
    /// Show this to the person who acted, only to them.
    Private(Message),
    /// Show this in the channel.
    Public(Message),
    /// Open the "Add note" dialog for this finding.
    OpenNoteDialog(FindingId),
    /// Open the private "Connect with a private key" dialog.
    OpenKeyDialog(KeyDialog),
    /// Acknowledge a thread reply that became a note (a reaction).
    Noted(FindingId),
    /// Suggestions for an argument being typed (at most 25).
    Choices(Vec<Choice>),
}

/// Handles inbound events; implemented once, by the dispatcher, for every platform.
#[async_trait]
pub trait InboundHandler: Send + Sync + 'static {
    /// Handles one event. Errors a person should see come back as `Outcome::Private`.
    async fn handle(&self, event: Inbound) -> Outcome;
}

/// The private dialog in which a lead gives a client's private API key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyDialog {
    /// The client.
    pub client: ClientSlug,
    /// Its display name, for the dialog's text.
    pub client_name: String,
    /// When the access will end.
    pub ends_at: DateTime<Utc>,
}
