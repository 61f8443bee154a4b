//! The one `InboundHandler`: turns what people do on any platform into
//! commands and runs them through the same handlers.
//!
//! Every event but autocomplete is checked against the person's role and
//! recorded in the audit trail with its outcome: a slash command as
//! `command /<name>`, a button as `button <what>`, the snooze select as
//! `select snooze`, the note dialog as `modal note` and a reply in a
//! finding's thread as `thread note`. A reply in any other thread is
//! conversation, not an action on Lookout, and is neither kept nor recorded.

use std::sync::Arc;

use async_trait::async_trait;
use tracing::{Instrument, info, info_span, warn};

use super::context::{self, CommandError, Ctx, Invocation, Place, can_act_on};
use super::parse::{self, MAX_TEXT_CHARS, ParseError, parse_parts};
use super::spec::{self, ArgKind, CommandSpec};
use super::{ArgValue, Command, error_message};
use crate::app::App;
use crate::audit::{self, Entry, Surface};
use crate::domain::{ClientSlug, FindingId};
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

    /// Runs a parsed command for the actor, recorded as a slash command with
    /// its arguments, and turns the result into an outcome.
    pub async fn run(&self, actor: &Actor, cmd: Command) -> Outcome {
        let entry = command_entry_for(
            actor,
            spec::spec(cmd.name()),
            cmd.name(),
            &context::args_text(cmd.name(), cmd.args()),
        );
        self.run_as(actor, cmd, entry).await
    }

    /// Runs a parsed command for the actor, recorded in the audit trail as `entry`.
    async fn run_as(&self, actor: &Actor, cmd: Command, entry: Entry) -> Outcome {
        let ctx = self.ctx(actor).recorded_as(entry);
        match context::run(ctx, cmd.name(), cmd.args()).await {
            Ok(reply) => match (reply.dialog, reply.visibility) {
                (Some(d), _) if actor.platform() != crate::message::Platform::Console => {
                    Outcome::OpenKeyDialog(d)
                }
                (_, Visibility::Ephemeral) => Outcome::Private(reply.message),
                (_, Visibility::InChannel) => Outcome::Public(reply.message),
            },
            Err(e) => {
                // A refusal is the person's to fix, shown to them; not a fault of Lookout's.
                info!(error = %e, person = %actor.person, "command refused");
                Outcome::Private(error_message(&e))
            }
        }
    }

    /// A slash command as typed: parsed, then run; a line that does not
    /// parse is refused and recorded as refused.
    async fn command(&self, actor: &Actor, name: &str, text: &str) -> Outcome {
        let (resolved, rest) = parse::resolve(name, text);
        let declared = spec::spec(&resolved);
        let entry = command_entry_for(actor, declared, &resolved, rest);
        match parse_parts(name, text) {
            Ok(cmd) => self.run_as(actor, cmd, entry).await,
            Err(e) => {
                let reason = parse_refusal(declared, &e);
                let entry = entry.about(self.channel_client(actor));
                self.refused(entry, &reason, e.to_string()).await
            }
        }
    }

    /// Records `entry` as refused for `reason` and tells the person `shown`.
    async fn refused(&self, entry: Entry, reason: &str, shown: impl Into<String>) -> Outcome {
        audit::record_or_log(
            &self.app.store,
            &entry.refused(reason),
            self.app.clock.now(),
        )
        .await;
        refuse(shown)
    }

    /// The client whose channel the actor is in, if any.
    fn channel_client(&self, actor: &Actor) -> Option<ClientSlug> {
        self.app
            .clients
            .of_channel(&actor.channel)
            .map(|c| c.profile.slug)
    }

    /// The client a finding belongs to, else the channel's.
    async fn finding_client(&self, actor: &Actor, finding: FindingId) -> Option<ClientSlug> {
        match self.ctx(actor).finding_client(finding).await {
            Some(c) => Some(c),
            None => self.channel_client(actor),
        }
    }

    async fn button(
        &self,
        actor: &Actor,
        action: ActionKind,
        finding: FindingId,
        choice: Option<String>,
    ) -> Outcome {
        let (surface, what) = match action {
            ActionKind::Acknowledge => (Surface::Button, "button ack"),
            ActionKind::Resolve => (Surface::Button, "button resolve"),
            ActionKind::Snooze => (Surface::Select, "select snooze"),
            ActionKind::AddNote => (Surface::Button, "button add note"),
            ActionKind::Reopen => (Surface::Button, "button reopen"),
        };
        let detail = match (&choice, action) {
            (Some(c), ActionKind::Snooze) => format!("{finding} {c}"),
            _ => finding.to_string(),
        };
        let entry = Entry::person(&actor.person, surface, what)
            .channel(&actor.channel)
            .detail(detail);
        let cmd = match action {
            ActionKind::Acknowledge => {
                Command::new("ack").arg("finding", ArgValue::Finding(finding))
            }
            ActionKind::Resolve => Command::new("resolve")
                .arg("finding", ArgValue::Finding(finding))
                .arg("reason", ArgValue::Text("resolved from its message".into())),
            ActionKind::Snooze => {
                let parsed = match &choice {
                    None => Err("pick how long to snooze it for".to_owned()),
                    Some(choice) => parse_parts("snooze", &format!("{finding} {choice}"))
                        .map_err(|e| e.to_string()),
                };
                match parsed {
                    Ok(cmd) => cmd,
                    Err(why) => {
                        let entry = entry.about(self.finding_client(actor, finding).await);
                        return self.refused(entry, &why, why.clone()).await;
                    }
                }
            }
            ActionKind::AddNote => return self.add_note_dialog(actor, finding, entry).await,
            ActionKind::Reopen => {
                let why = "a resolved finding reopens by itself when a scan sees it again";
                let entry = entry.about(self.finding_client(actor, finding).await);
                return self.refused(entry, why, why).await;
            }
        };
        self.run_as(actor, cmd, entry).await
    }

    /// The "Add note" button: the dialog opens only for someone who may add
    /// notes, and only for a finding this channel may see.
    async fn add_note_dialog(&self, actor: &Actor, finding: FindingId, entry: Entry) -> Outcome {
        let client = self.finding_client(actor, finding).await;
        let ctx = self.ctx(actor).recorded_as(entry).about(client);
        let result = async {
            ctx.check_role("note")?;
            can_act_on(&ctx, finding).await
        }
        .await;
        ctx.finish(&result, true).await;
        match result {
            Ok(()) => Outcome::OpenNoteDialog(finding),
            Err(e) => Outcome::Private(error_message(&e)),
        }
    }

    /// A submitted key dialog: the person may connect this client from here,
    /// the key looks like a Klaviyo private key and Klaviyo accepts it for
    /// reading; then it is sealed and the connect announced. The key itself
    /// is never recorded, shown or logged.
    async fn key_submitted(
        &self,
        actor: &Actor,
        client: &ClientSlug,
        ends_at: chrono::DateTime<chrono::Utc>,
        key: &crate::config::Secret,
    ) -> Outcome {
        let entry = Entry::person(&actor.person, Surface::Modal, "modal connect key")
            .channel(&actor.channel)
            .detail(format!("ends {}", ends_at.format("%Y-%m-%d")));
        let ctx = self
            .ctx(actor)
            .recorded_as(entry)
            .about(Some(client.clone()));
        let result = async {
            ctx.check_role("connect")?;
            ctx.allowed_here(client, &format!("/connect {client} key"))?;
            self.app.clients.get(client)?;
            let key = crate::config::Secret::new(key.expose().trim());
            let shaped = key.expose().len() <= 200
                && key
                    .expose()
                    .strip_prefix("pk_")
                    .is_some_and(|k| k.len() >= 10 && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'));
            if !shaped {
                return Err(CommandError::Refused(
                    "that is not a Klaviyo private API key (they start with pk_); nothing was stored".into(),
                ));
            }
            if ends_at <= ctx.now {
                return Err(CommandError::Refused(
                    "the access would already have ended; run /connect again".into(),
                ));
            }
            // Klaviyo must accept the key for reading before it is kept.
            let probe = self
                .app
                .klaviyo
                .account(client.as_str(), crate::klaviyo::Credential::ApiKey(key.clone()));
            if let Err(e) = probe.get_accounts().await {
                return Err(CommandError::Refused(if e.is_auth() {
                    "Klaviyo refused that key (it is wrong, revoked or lacks accounts:read); nothing was stored".to_owned()
                } else {
                    format!("Klaviyo could not check the key ({e}); nothing was stored, try again")
                }));
            }
            self.app
                .connections
                .connect_key(client, &actor.person, &key, ends_at)
                .await
                .map_err(|e| CommandError::Internal(e.to_string()))
        }
        .await;
        ctx.finish(&result, true).await;
        match result {
            Ok(c) => {
                self.app.announce_connect(&c, Surface::Modal).await;
                Outcome::Private(crate::app::info(format!(
                    "{client} is connected with a private key until {}. Lookout only reads; make it a Read-only key in Klaviyo. OAuth is safer: /connect {client}",
                    self.app.local_date(c.ends_at)
                )))
            }
            Err(e) => Outcome::Private(error_message(&e)),
        }
    }

    /// A submitted note dialog: the same as `/note`, recorded as the dialog.
    async fn note_submitted(&self, actor: &Actor, finding: FindingId, text: &str) -> Outcome {
        let text: String = text.trim().chars().take(MAX_TEXT_CHARS).collect();
        let entry = Entry::person(&actor.person, Surface::Modal, "modal note")
            .channel(&actor.channel)
            .detail(format!("{finding}: {text}"));
        if text.is_empty() {
            let entry = entry.about(self.finding_client(actor, finding).await);
            let why = "the note was empty; nothing was saved";
            return self.refused(entry, why, why).await;
        }
        let cmd = Command::new("note")
            .arg("finding", ArgValue::Finding(finding))
            .arg("text", ArgValue::Text(text));
        self.run_as(actor, cmd, entry).await
    }

    /// A person replied in a finding's thread: the reply becomes an internal
    /// note if their role may add notes; a viewer is told privately why not.
    async fn thread_reply(&self, actor: &Actor, thread: &MessageRef, text: &str) -> Outcome {
        let text = text.trim();
        if text.is_empty() {
            return Outcome::Nothing;
        }
        let found = async {
            let mut db = self.app.store.conn().await?;
            let Some(id) = Findings::by_message(&mut db, &actor.channel, thread).await? else {
                return Ok::<_, crate::findings::FindingError>(None);
            };
            let f = Findings::get(&mut db, id).await?;
            Ok(Some((id, f.client)))
        };
        let (id, client) = match found.await {
            Ok(Some(found)) => found,
            // Not a finding's thread: conversation, not an action on Lookout.
            Ok(None) => return Outcome::Nothing,
            Err(e) => {
                warn!(error = %e, "could not look up a thread reply's finding");
                let entry = Entry::person(&actor.person, Surface::Thread, "thread note")
                    .channel(&actor.channel)
                    .about(self.channel_client(actor))
                    .failed(e.to_string());
                audit::record_or_log(&self.app.store, &entry, self.app.clock.now()).await;
                return thread_error(&e.to_string());
            }
        };
        // Notes are capped like /note so one pasted log cannot bloat the history.
        let body: String = text.chars().take(MAX_TEXT_CHARS).collect();
        let entry = Entry::person(&actor.person, Surface::Thread, "thread note")
            .channel(&actor.channel)
            .detail(format!("{id}: {body}"));
        let ctx = self.ctx(actor).recorded_as(entry).about(Some(client));
        let result = async {
            if let Err(CommandError::Forbidden { needed, .. }) = ctx.check_role("note") {
                return Err(CommandError::Refused(format!(
                    "Your reply was not kept as a note on {id}: notes need the {needed} role or higher; ask an admin."
                )));
            }
            // One transaction: the note and its audit entry land together.
            let mut tx = self.app.store.begin().await?;
            Findings::add_note(&mut tx, id, &ctx.inv.actor(), &body, ctx.now).await?;
            ctx.record_done(&mut tx).await?;
            tx.commit().await?;
            Ok(())
        }
        .await;
        ctx.finish(&result, true).await;
        match result {
            Ok(()) => Outcome::Noted(id),
            Err(e @ CommandError::Refused(_)) => Outcome::Private(error_message(&e)),
            Err(e) => {
                warn!(error = %e, "could not keep a thread reply as a note");
                thread_error(&e.to_string())
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

fn thread_error(e: &str) -> Outcome {
    refuse(format!(
        "That reply could not be kept as a note ({e}); try /note."
    ))
}

/// The audit entry for a slash command as typed: `command /<name>` with its
/// argument text as the detail. A command declared with `record_args = false`
/// is recorded by name only, and so is a name that is not a declared command
/// (a mistyped command may be followed by anything, a secret included).
pub fn command_entry(actor: &Actor, name: &str, text: &str) -> Entry {
    let (resolved, rest) = parse::resolve(name, text);
    command_entry_for(actor, spec::spec(&resolved), &resolved, rest)
}

/// `command_entry` for a given declaration (`None`: not a declared command),
/// the command's name as typed and its argument text.
pub fn command_entry_for(
    actor: &Actor,
    declared: Option<&CommandSpec>,
    name: &str,
    args_text: &str,
) -> Entry {
    let shown = match declared {
        Some(s) => s.name.clone(),
        None => unknown_name(name),
    };
    let entry = Entry::person(&actor.person, Surface::Command, format!("command /{shown}"))
        .channel(&actor.channel);
    match declared {
        Some(s) if s.record_args => entry.detail(args_text),
        _ => entry,
    }
}

/// Why a typed line was refused, as recorded: the parser's message, except
/// for a command whose arguments are not recorded, whose parse errors can
/// quote what was typed.
pub fn parse_refusal(declared: Option<&CommandSpec>, e: &ParseError) -> String {
    match declared {
        Some(s) if !s.record_args => format!(
            "the arguments of /{} did not parse (not recorded: they may hold a secret)",
            s.name
        ),
        _ => e.to_string(),
    }
}

/// A name that is not a command, kept to the characters command names use.
fn unknown_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .take(32)
        .collect::<String>()
        .to_lowercase();
    if clean.is_empty() {
        "?".to_owned()
    } else {
        clean
    }
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
                Inbound::Command { actor, name, text } => self.command(&actor, &name, &text).await,
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
                } => self.note_submitted(&actor, finding, &text).await,
                Inbound::KeySubmitted {
                    actor,
                    client,
                    ends_at,
                    key,
                } => self.key_submitted(&actor, &client, ends_at, &key).await,
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
