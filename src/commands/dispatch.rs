//! The one `InboundHandler`: turns what people do on any platform into
//! commands and runs them through the same handlers.

use std::sync::Arc;

use async_trait::async_trait;
use tracing::{Instrument, info, info_span, warn};

use super::context::{self, Ctx, Invocation, Place, can_act_on};
use super::parse::{MAX_TEXT_CHARS, parse_parts};
use super::spec::{self, ArgKind};
use super::{ArgValue, Command, error_message};
use crate::app::App;
use crate::domain::FindingId;
use crate::findings::Findings;
use crate::message::{
    Accent, ActionKind, Actor, Choice, Inbound, InboundHandler, Message, MessageRef, Outcome,
    Visibility,
};

/// Most suggestions an autocomplete answer carries (Discord's limit).
const MAX_CHOICES: usize = 25;

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

    fn ctx(&self, actor: &Actor) -> Ctx {
        Ctx::new(
            self.app.clone(),
            Invocation {
                person: actor.person.clone(),
                channel: actor.channel.clone(),
            },
        )
    }

    /// Runs a parsed command for the actor and turns the result into an outcome.
    pub async fn run(&self, actor: &Actor, cmd: Command) -> Outcome {
        let ctx = self.ctx(actor);
        match context::run(&ctx, cmd.name(), cmd.args()).await {
            Ok(reply) => match reply.visibility {
                Visibility::Ephemeral => Outcome::Private(reply.message),
                Visibility::InChannel => Outcome::Public(reply.message),
            },
            Err(e) => {
                // A refusal is the person's to fix, shown to them; not a fault of Lookout's.
                info!(error = %e, person = %actor.person, "command refused");
                Outcome::Private(error_message(&e))
            }
        }
    }

    async fn button(
        &self,
        actor: &Actor,
        action: ActionKind,
        finding: FindingId,
        choice: Option<String>,
    ) -> Outcome {
        let cmd = match action {
            ActionKind::Acknowledge => {
                Command::new("ack").arg("finding", ArgValue::Finding(finding))
            }
            ActionKind::Resolve => Command::new("resolve")
                .arg("finding", ArgValue::Finding(finding))
                .arg("reason", ArgValue::Text("resolved from its message".into())),
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
                return match can_act_on(&self.ctx(actor), finding).await {
                    Ok(()) => Outcome::OpenNoteDialog(finding),
                    Err(e) => Outcome::Private(error_message(&e)),
                };
            }
            ActionKind::Reopen => {
                return refuse("a resolved finding reopens by itself when a scan sees it again");
            }
        };
        self.run(actor, cmd).await
    }

    /// A person replied in a finding's thread: the reply becomes an internal note.
    async fn thread_reply(&self, actor: &Actor, thread: &MessageRef, text: &str) -> Outcome {
        let text = text.trim();
        if text.is_empty() {
            return Outcome::Nothing;
        }
        let noted = async {
            let mut db = self.app.store.conn().await?;
            let Some(id) = Findings::by_message(&mut db, &actor.channel, thread).await? else {
                return Ok::<_, crate::findings::FindingError>(None);
            };
            // Notes are capped like /note so one pasted log cannot bloat the history.
            let body: String = text.chars().take(MAX_TEXT_CHARS).collect();
            let who = crate::findings::Actor::person(&actor.person);
            Findings::add_note(&mut db, id, &who, &body, self.app.clock.now()).await?;
            Ok(Some(id))
        };
        match noted.await {
            Ok(Some(id)) => Outcome::Noted(id),
            Ok(None) => Outcome::Nothing,
            Err(e) => {
                warn!(error = %e, "could not keep a thread reply as a note");
                Outcome::Private(Message::text(
                    Accent::Error,
                    format!("That reply could not be kept as a note ({e}); try /note."),
                ))
            }
        }
    }

    /// Suggestions for an argument being typed: client names (in a client's
    /// channel only that client, so no other client's name shows there) and
    /// snooze lengths (a date can still be typed).
    fn autocomplete(&self, actor: &Actor, command: &str, arg: &str, typed: &str) -> Outcome {
        let declared = spec::spec(command).and_then(|s| s.args.iter().find(|a| a.name == arg));
        let kind = declared.map(|a| a.kind);
        if kind == Some(ArgKind::Snooze) {
            let worse = declared.is_some_and(|a| a.description.contains("until-worse"));
            return Outcome::Choices(snooze_choices(typed, worse, self.app.clock.now()));
        }
        if kind != Some(ArgKind::Client) {
            return Outcome::Choices(Vec::new());
        }
        let candidates = match self.ctx(actor).place() {
            Place::Client(c) if c.matches(typed) => vec![*c],
            Place::Client(_) => Vec::new(),
            Place::Agency | Place::Other => self.app.clients.matching(typed, MAX_CHOICES),
        };
        Outcome::Choices(
            candidates
                .into_iter()
                .map(|c| Choice {
                    label: format!("{} ({})", c.profile.name, c.profile.slug),
                    value: c.profile.slug.to_string(),
                })
                .collect(),
        )
    }
}

/// Snooze lengths matching what is typed; a typed value that is none of them
/// (a date) is offered as it is, for the parser to judge.
fn snooze_choices(
    typed: &str,
    until_worse: bool,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<Choice> {
    let in_two_weeks = (now + chrono::Duration::days(14))
        .format("%Y-%m-%d")
        .to_string();
    let mut all = vec![
        ("1 hour".to_owned(), "1h".to_owned()),
        ("4 hours".to_owned(), "4h".to_owned()),
        ("1 day".to_owned(), "1d".to_owned()),
        ("7 days".to_owned(), "7d".to_owned()),
        (format!("Until {in_two_weeks}"), in_two_weeks),
    ];
    if until_worse {
        all.push(("Until it gets worse".to_owned(), "until-worse".to_owned()));
    }
    let t = typed.trim().to_lowercase();
    let mut out: Vec<Choice> = all
        .into_iter()
        .filter(|(label, value)| value.starts_with(&t) || label.to_lowercase().contains(&t))
        .map(|(label, value)| Choice { label, value })
        .collect();
    if out.is_empty() && !t.is_empty() {
        let value: String = typed.trim().chars().take(24).collect();
        out.push(Choice {
            label: value.clone(),
            value,
        });
    }
    out
}

fn refuse(text: impl Into<String>) -> Outcome {
    Outcome::Private(Message::text(Accent::Error, text))
}

#[async_trait]
impl InboundHandler for Dispatcher {
    async fn handle(&self, event: Inbound) -> Outcome {
        let span = info_span!(
            "inbound",
            platform = %event.actor().platform(),
            person = %event.actor().person
        );
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
                } => self.button(&actor, action, finding, choice).await,
                Inbound::NoteSubmitted {
                    actor,
                    finding,
                    text,
                } => {
                    if text.trim().is_empty() {
                        return refuse("the note was empty; nothing was saved");
                    }
                    let text: String = text.trim().chars().take(MAX_TEXT_CHARS).collect();
                    let cmd = Command::new("note")
                        .arg("finding", ArgValue::Finding(finding))
                        .arg("text", ArgValue::Text(text));
                    self.run(&actor, cmd).await
                }
                Inbound::ThreadReply {
                    actor,
                    thread,
                    text,
                    ..
                } => self.thread_reply(&actor, &thread, &text).await,
                Inbound::Autocomplete {
                    actor,
                    command,
                    arg,
                    typed,
                } => self.autocomplete(&actor, &command, &arg, &typed),
            }
        }
        .instrument(span)
        .await
    }
}
