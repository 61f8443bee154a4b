//! The one `InboundHandler`: turns what people do on any platform into
//! commands and runs them through the same handlers.

use std::sync::Arc;

use async_trait::async_trait;
use tracing::{Instrument, info_span, warn};

use super::Command;
use super::handlers::{self, Invocation, error_message};
use super::parse::parse_parts;
use crate::app::App;
use crate::chat::inbound::{Actor, Inbound, InboundHandler, Outcome};
use crate::chat::{Accent, ActionKind, Message, Visibility};

/// Runs inbound chat events against the app.
#[derive(Clone)]
pub struct Dispatcher {
    app: Arc<App>,
}

impl Dispatcher {
    /// A dispatcher over the app.
    pub fn new(app: Arc<App>) -> Self {
        Self { app }
    }

    async fn run(&self, actor: &Actor, cmd: Command) -> Outcome {
        let inv = Invocation {
            user: actor.user.clone(),
            channel: actor.channel.clone(),
            surface: actor.surface.clone(),
        };
        match handlers::handle(&self.app, &inv, cmd).await {
            Ok(reply) => match reply.visibility {
                Visibility::Ephemeral => Outcome::Private(reply.message),
                Visibility::InChannel => Outcome::Public(reply.message),
            },
            Err(e) => {
                warn!(error = %e, user = %actor.user, "command refused");
                Outcome::Private(error_message(&e))
            }
        }
    }
}

fn refuse(text: impl Into<String>) -> Outcome {
    Outcome::Private(Message::text(Accent::Error, text))
}

#[async_trait]
impl InboundHandler for Dispatcher {
    async fn handle(&self, event: Inbound) -> Outcome {
        let span = info_span!("inbound", kind = ?std::mem::discriminant(&event));
        async move {
            match event {
                Inbound::Command { actor, name, text } => match parse_parts(&name, &text) {
                    Ok(cmd) => self.run(&actor, cmd).await,
                    Err(e) => refuse(e.to_string()),
                },
                Inbound::Button {
                    actor,
                    action,
                    finding,
                    choice,
                    ..
                } => {
                    let cmd = match action {
                        ActionKind::Acknowledge => Command::Ack { finding },
                        ActionKind::Resolve => Command::Resolve {
                            finding,
                            reason: Some("resolved from its message".into()),
                        },
                        ActionKind::Snooze => {
                            let Some(choice) = choice else {
                                return refuse("pick how long to snooze it for");
                            };
                            match parse_parts("snooze", &format!("{finding} {choice}")) {
                                Ok(cmd) => cmd,
                                Err(e) => return refuse(e.to_string()),
                            }
                        }
                        ActionKind::AddNote => {
                            // The dialog opens only for a finding this channel may see.
                            let inv = Invocation {
                                user: actor.user.clone(),
                                channel: actor.channel.clone(),
                                surface: actor.surface.clone(),
                            };
                            return match handlers::can_act_on(&self.app, &inv, finding).await {
                                Ok(()) => Outcome::OpenNoteDialog(finding),
                                Err(e) => Outcome::Private(error_message(&e)),
                            };
                        }
                        ActionKind::Reopen => {
                            return refuse(
                                "a resolved finding reopens by itself when a scan sees it again",
                            );
                        }
                    };
                    self.run(&actor, cmd).await
                }
                Inbound::NoteSubmitted {
                    actor,
                    finding,
                    text,
                } => {
                    if text.trim().is_empty() {
                        return refuse("the note was empty; nothing was saved");
                    }
                    self.run(&actor, Command::Note { finding, text }).await
                }
                Inbound::ThreadReply {
                    actor,
                    thread,
                    text,
                    ..
                } => {
                    match handlers::thread_reply(
                        &self.app,
                        &actor.channel,
                        &thread,
                        &actor.user,
                        &actor.surface,
                        &text,
                    )
                    .await
                    {
                        Ok(Some(id)) => Outcome::Noted(id),
                        Ok(None) => Outcome::Nothing,
                        Err(e) => {
                            warn!(error = %e, "could not keep a thread reply as a note");
                            Outcome::Private(error_message(&e))
                        }
                    }
                }
            }
        }
        .instrument(span)
        .await
    }
}
