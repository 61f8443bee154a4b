//! What people do in chat, in platform-neutral form.
//!
//! Platform layers (Slack's Socket Mode and HTTP endpoints, later Discord)
//! verify and parse their payloads into `Inbound`, hand it to an
//! `InboundHandler`, and show the returned `Message` to the person who acted
//! (ephemerally) where there is one.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::{ChannelName, Message, MessageRef};
use crate::domain::FindingId;

/// Who acted, where.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    /// Platform user id, e.g. Slack `U0123ABC`.
    pub user: String,
    /// Channel name without `#` (resolved from the platform id).
    pub channel: ChannelName,
    /// `slack`, `discord`, `console`.
    pub surface: String,
}

/// One thing a person did in chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Inbound {
    /// A slash command: `/snooze` with text `F-12 4h`, or the umbrella `/lookout snooze F-12 4h`.
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
        action: super::ActionKind,
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
    /// A human reply in a message's thread.
    ThreadReply {
        /// Who and where.
        actor: Actor,
        /// The thread's parent message.
        thread: MessageRef,
        /// The reply's own message, for a confirmation reaction.
        message: MessageRef,
        /// What they wrote.
        text: String,
    },
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
    /// Open the "Add note" dialog for this finding (needs the trigger).
    OpenNoteDialog(FindingId),
    /// Acknowledge a thread reply that became a note (a reaction on Slack).
    Noted(FindingId),
}

/// Handles inbound events; implemented once, by the app, for every platform.
#[async_trait]
pub trait InboundHandler: Send + Sync + 'static {
    /// Handles one event. Errors a person should see come back as `Outcome::Private`.
    async fn handle(&self, event: Inbound) -> Outcome;
}
