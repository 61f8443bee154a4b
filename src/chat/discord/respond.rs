//! Answering an interaction within Discord's three seconds, the same way in
//! HTTP and gateway modes.
//!
//! The handler runs in its own task. If its `Outcome` is ready within
//! `ANSWER_WITHIN` (about two seconds, leaving room for the network), it is
//! the first answer: a message (type 4; private ones with the ephemeral flag),
//! the "Add note" modal (type 9), autocomplete choices (type 8) or a silent
//! acknowledgement of a click (type 6). Otherwise the first answer is
//! "thinking…" (type 5, ephemeral) and `Later` shows the outcome when it
//! comes, by editing that answer (`PATCH …/messages/@original`) within the
//! interaction's 15 minutes; a public outcome is posted as a follow-up.
//! Autocomplete cannot be deferred: a late handler gets no suggestions.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::oneshot;
use tracing::{Instrument, debug, info_span, warn};

use super::inbound::{Kind, Received};
use super::{CallError, DiscordChat, codes, render};
use crate::domain::FindingId;
use crate::message::{Accent, ChatError, InboundHandler, Message, Outcome};

/// How long the first answer waits for the handler before deferring.
pub const ANSWER_WITHIN: Duration = Duration::from_secs(2);
/// How long a deferred outcome is waited for: Discord keeps the token 15 minutes.
pub const FOLLOW_UP_WITHIN: Duration = Duration::from_secs(14 * 60);
/// Discord's message flag for "only you can see this".
pub const EPHEMERAL: u64 = 64;
/// Attempts at editing a deferred answer: over HTTP the edit can reach
/// Discord before the deferral it edits does.
const EDIT_ATTEMPTS: u32 = 3;
/// Pause between those attempts.
const EDIT_RETRY_PAUSE: Duration = Duration::from_millis(700);

/// Interaction callback types.
mod callback {
    pub const PONG: u64 = 1;
    pub const MESSAGE: u64 = 4;
    pub const DEFERRED_MESSAGE: u64 = 5;
    pub const DEFERRED_UPDATE: u64 = 6;
    pub const AUTOCOMPLETE: u64 = 8;
    pub const MODAL: u64 = 9;
}

/// The answer to Discord's `PING`.
pub fn pong() -> Value {
    json!({"type": callback::PONG})
}

/// An outcome still to be shown after a deferred first answer.
pub struct Later {
    rx: oneshot::Receiver<Outcome>,
    token: String,
}

impl std::fmt::Debug for Later {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Later").finish_non_exhaustive()
    }
}

impl Later {
    /// Waits for the outcome (up to `FOLLOW_UP_WITHIN`) and shows it by
    /// editing the deferred answer; failures are logged, as Discord already
    /// has its answer.
    pub async fn finish(self, chat: Arc<DiscordChat>) {
        let outcome = match tokio::time::timeout(FOLLOW_UP_WITHIN, self.rx).await {
            Ok(Ok(o)) => o,
            Ok(Err(_)) => failed(),
            Err(_) => {
                warn!(
                    "a Discord interaction's handler took over 14 minutes; its outcome is dropped"
                );
                return;
            }
        };
        if let Err(e) = show_later(&chat, &self.token, outcome).await {
            warn!(error = %e, "could not show a deferred outcome in Discord");
        }
    }
}

/// Runs the handler for one interaction on `runtime`; returns the first
/// answer and, when the handler was too slow for it, what is left to show.
pub async fn answer(
    runtime: &tokio::runtime::Handle,
    handler: Arc<dyn InboundHandler>,
    received: Received,
    within: Duration,
) -> (Value, Option<Later>) {
    let Received {
        kind, token, event, ..
    } = received;
    let (tx, mut rx) = oneshot::channel();
    let span = info_span!("discord_interaction", kind = ?kind, user = %event.actor().person);
    runtime.spawn(
        async move {
            let outcome = handler.handle(event).await;
            // The receiver is gone only if the process is shutting down.
            let _ = tx.send(outcome);
        }
        .instrument(span),
    );
    match tokio::time::timeout(within, &mut rx).await {
        Ok(Ok(outcome)) => (immediate(kind, outcome), None),
        // The handler panicked: say so rather than leave "thinking…" forever.
        Ok(Err(_)) => (immediate(kind, failed()), None),
        Err(_) if kind == Kind::Autocomplete => {
            debug!("autocomplete handler was too slow; no suggestions this time");
            (
                json!({"type": callback::AUTOCOMPLETE, "data": {"choices": []}}),
                None,
            )
        }
        Err(_) => (deferred(), Some(Later { rx, token })),
    }
}

/// What a handler that panicked shows.
fn failed() -> Outcome {
    Outcome::Private(Message::text(
        Accent::Error,
        "Something went wrong on Lookout's side; nothing was changed. Please try again.",
    ))
}

/// "Thinking…", visible only to the person (the outcome may be private).
pub fn deferred() -> Value {
    json!({"type": callback::DEFERRED_MESSAGE, "data": {"flags": EPHEMERAL}})
}

/// The first answer for an outcome that is ready.
pub fn immediate(kind: Kind, outcome: Outcome) -> Value {
    match (kind, outcome) {
        (Kind::Autocomplete, Outcome::Choices(list)) => {
            json!({"type": callback::AUTOCOMPLETE, "data": render::choices(&list)})
        }
        (Kind::Autocomplete, _) => {
            json!({"type": callback::AUTOCOMPLETE, "data": {"choices": []}})
        }
        (_, Outcome::Private(m)) => message(&m, true),
        (_, Outcome::Public(m)) => message(&m, false),
        // A modal cannot answer a modal.
        (Kind::Command | Kind::Component, Outcome::OpenNoteDialog(f)) => {
            json!({"type": callback::MODAL, "data": render::note_modal(f)})
        }
        (Kind::ModalSubmit, Outcome::OpenNoteDialog(f)) => message(&note_by_command(f), true),
        (Kind::Command | Kind::Component, Outcome::OpenKeyDialog(d)) => {
            json!({"type": callback::MODAL, "data": render::key_modal(&d)})
        }
        (Kind::ModalSubmit, Outcome::OpenKeyDialog(d)) => message(&key_by_command(&d), true),
        (_, Outcome::Noted(f)) => message(&noted(f), true),
        // A click needs no visible answer; a command does.
        (Kind::Component | Kind::ModalSubmit, Outcome::Nothing | Outcome::Choices(_)) => {
            json!({"type": callback::DEFERRED_UPDATE})
        }
        (Kind::Command, Outcome::Nothing | Outcome::Choices(_)) => message(&done(), true),
    }
}

fn message(m: &Message, private: bool) -> Value {
    let mut data = render::render(m, None).payload();
    if private {
        data["flags"] = json!(EPHEMERAL);
    }
    json!({"type": callback::MESSAGE, "data": data})
}

fn noted(f: FindingId) -> Message {
    Message::text(Accent::Info, format!("Note added to {f}."))
}

fn done() -> Message {
    Message::text(Accent::Info, "Done.")
}

fn key_by_command(d: &crate::message::KeyDialog) -> Message {
    Message::text(
        Accent::Info,
        format!(
            "The key form could not open in time: run /connect {} key again.",
            d.client
        ),
    )
}

fn note_by_command(f: FindingId) -> Message {
    Message::text(
        Accent::Info,
        format!(
            "The note dialog could not open in time: click Add note again, or type /note {f} followed by the note."
        ),
    )
}

/// Shows an outcome after a deferred first answer.
async fn show_later(chat: &DiscordChat, token: &str, outcome: Outcome) -> Result<(), ChatError> {
    let edit = |m: Message| async move {
        let body = render::render(&m, None).payload();
        edit_original_retrying(chat, token, &body).await
    };
    match outcome {
        Outcome::Private(m) => edit(m).await,
        Outcome::Public(m) => {
            // The deferral was private; a follow-up without flags is public.
            let body = render::render(&m, None).payload();
            chat.followup(token, &body).await?;
            edit(Message::text(Accent::Info, "Posted in the channel.")).await
        }
        Outcome::OpenNoteDialog(f) => edit(note_by_command(f)).await,
        Outcome::OpenKeyDialog(d) => edit(key_by_command(&d)).await,
        Outcome::Noted(f) => edit(noted(f)).await,
        Outcome::Nothing | Outcome::Choices(_) => edit(done()).await,
    }
}

async fn edit_original_retrying(
    chat: &DiscordChat,
    token: &str,
    body: &Value,
) -> Result<(), ChatError> {
    let mut attempt = 1;
    loop {
        match chat.edit_original_call(token, body).await {
            Err(CallError {
                code: Some(codes::UNKNOWN_WEBHOOK),
                ..
            }) if attempt < EDIT_ATTEMPTS => {
                attempt += 1;
                tokio::time::sleep(EDIT_RETRY_PAUSE).await;
            }
            other => return other.map_err(ChatError::from),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::Choice;

    #[test]
    fn each_outcome_gets_the_answer_type_discord_allows() {
        let m = Message::text(Accent::Info, "hi");
        let ty = |k, o| immediate(k, o)["type"].as_u64().unwrap();
        assert_eq!(ty(Kind::Command, Outcome::Private(m.clone())), 4);
        assert_eq!(
            immediate(Kind::Command, Outcome::Private(m.clone()))["data"]["flags"],
            64
        );
        assert!(
            immediate(Kind::Command, Outcome::Public(m.clone()))["data"]
                .get("flags")
                .is_none()
        );
        assert_eq!(
            ty(Kind::Component, Outcome::OpenNoteDialog(FindingId(1))),
            9
        );
        assert_eq!(
            ty(Kind::ModalSubmit, Outcome::OpenNoteDialog(FindingId(1))),
            4
        );
        assert_eq!(ty(Kind::Component, Outcome::Nothing), 6);
        assert_eq!(ty(Kind::Command, Outcome::Nothing), 4);
        let noted = immediate(Kind::ModalSubmit, Outcome::Noted(FindingId(4)));
        assert_eq!(noted["data"]["flags"], 64);
        assert!(noted.to_string().contains("Note added to F-4"));
        let choices = immediate(
            Kind::Autocomplete,
            Outcome::Choices(vec![Choice {
                label: "Acme".into(),
                value: "acme".into(),
            }]),
        );
        assert_eq!(
            choices,
            json!({"type": 8, "data": {"choices": [{"name": "Acme", "value": "acme"}]}})
        );
        assert_eq!(ty(Kind::Autocomplete, Outcome::Private(m)), 8);
        assert_eq!(deferred(), json!({"type": 5, "data": {"flags": 64}}));
    }
}
