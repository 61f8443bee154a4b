//! Command handlers: act on a typed `Command` for a person in a channel.
//!
//! Handlers never know which chat platform they serve: they return a `Reply`
//! in the neutral message model, or a `CommandError` the adapter shows to the
//! person who typed the command.

use std::sync::Arc;

use chrono::Duration;
use tracing::warn;

use super::{Command, Role, SnoozeSpec, spec};
use crate::app::{App, AppError, info, portfolio_rows};
use crate::chat::{Accent, Block, ChannelName, Message, RichText, Span, Visibility};
use crate::domain::{ClientSlug, FindingId};
use crate::findings::{Actor, Change, Finding, FindingError, Findings};
use crate::routing::{self, cards};
use crate::scan::fetch::ScanProgress;
use crate::store::StoreError;

/// Who typed a command, where, and on which platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Chat user id.
    pub user: String,
    /// Channel it was typed in.
    pub channel: ChannelName,
    /// `console`, `slack` or `discord`.
    pub surface: String,
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
    fn channel(message: Message) -> Self {
        Self {
            visibility: Visibility::InChannel,
            message,
        }
    }
    fn private(message: Message) -> Self {
        Self {
            visibility: Visibility::Ephemeral,
            message,
        }
    }
}

/// A command that could not be carried out; shown only to the person who typed it.
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
    #[error("{what} belongs to {client}; use it in #{channel}")]
    WrongChannel {
        /// What was asked about.
        what: String,
        /// Whose it is.
        client: ClientSlug,
        /// Where it may be used.
        channel: String,
    },
    /// A lifecycle rule refused it (already resolved, unknown id...).
    #[error(transparent)]
    Finding(#[from] FindingError),
    /// The app refused it (unknown client, scan already running...).
    #[error(transparent)]
    App(#[from] AppError),
    /// Something broke inside Lookout.
    #[error("something went wrong inside Lookout ({0}); it has been logged, try again in a minute")]
    Internal(String),
}

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        CommandError::Internal(e.to_string())
    }
}

impl From<sqlx::Error> for CommandError {
    fn from(e: sqlx::Error) -> Self {
        CommandError::Internal(e.to_string())
    }
}

/// Renders an error as the message shown to the person.
pub fn error_message(e: &CommandError) -> Message {
    Message::text(Accent::Error, e.to_string())
}

/// Runs a command for a person.
pub async fn handle(app: &Arc<App>, inv: &Invocation, cmd: Command) -> Result<Reply, CommandError> {
    let role = app.config.role_of(&inv.user);
    if let Some(s) = spec::spec(cmd.name())
        && role < s.who
    {
        return Err(CommandError::Forbidden {
            command: cmd.name().to_owned(),
            needed: s.who.as_str(),
        });
    }
    let actor = Actor::person(inv.user.clone(), inv.surface.clone());
    let now = app.clock.now();
    match cmd {
        Command::Help { command } => match spec::help_text(command.as_deref()) {
            Ok(t) => Ok(Reply::private(info(t))),
            Err(e) => Ok(Reply::private(Message::text(Accent::Error, e.to_string()))),
        },
        Command::Scan { client } => {
            app.client(&client)?;
            allowed_here(app, inv, &client, &format!("/scan {client}"))?;
            if app.is_scanning(&client) {
                return Err(AppError::AlreadyScanning(client).into());
            }
            start_scan(app.clone(), inv.channel.clone(), client.clone());
            Ok(Reply::private(info(format!(
                "Scanning {client}: progress follows in this channel."
            ))))
        }
        Command::Findings { client, severity } => {
            let client = client.or_else(|| {
                app.client_of_channel(&inv.channel)
                    .map(|c| c.profile.slug.clone())
            });
            if let Some(c) = &client {
                app.client(c)?;
                allowed_here(app, inv, c, &format!("/findings {c}"))?;
            } else if role < Role::Lead {
                return Err(CommandError::Forbidden {
                    command: "findings (all clients)".into(),
                    needed: Role::Lead.as_str(),
                });
            }
            let mut conn = app.store.pool().acquire().await?;
            let found = Findings::active(&mut conn, client.as_ref(), severity).await?;
            let scope = client
                .as_ref()
                .map(|c| c.to_string())
                .unwrap_or_else(|| "all clients".into());
            if found.is_empty() {
                return Ok(Reply::private(info(format!(
                    "No open findings for {scope}."
                ))));
            }
            let heading = format!(
                "{} open finding{} for {scope}",
                found.len(),
                if found.len() == 1 { "" } else { "s" }
            );
            Ok(Reply::private(cards::finding_list(
                Accent::Info,
                &heading,
                &found,
                "Narrow it down with /findings <client> <severity>.",
            )))
        }
        Command::Ack { finding } => transition(app, inv, &actor, finding, Transition::Ack).await,
        Command::Snooze { finding, spec } => {
            // "Until worse" still ends: after `findings.until_worse_max_days`.
            let cap = Duration::days(i64::from(app.config.findings.until_worse_max_days));
            let until = spec.end(now, cap);
            if until > now + Duration::days(super::parse::MAX_SNOOZE_DAYS) {
                return Err(CommandError::Finding(FindingError::Invalid(format!(
                    "a snooze can last at most {} days; pick an earlier date",
                    super::parse::MAX_SNOOZE_DAYS
                ))));
            }
            let worse = spec == SnoozeSpec::UntilWorse;
            transition(
                app,
                inv,
                &actor,
                finding,
                Transition::Snooze { until, worse },
            )
            .await
        }
        Command::Resolve { finding, reason } => {
            transition(app, inv, &actor, finding, Transition::Resolve { reason }).await
        }
        Command::Note { finding, text } => {
            let mut conn = app.store.pool().acquire().await?;
            let f = Findings::get(&mut conn, finding).await?;
            finding_here(app, inv, &f)?;
            Findings::add_note(&mut conn, finding, &actor, &text, now).await?;
            Ok(Reply::private(info(format!(
                "Note added to {finding}. It stays inside the agency."
            ))))
        }
        Command::Notes { finding } => {
            let mut conn = app.store.pool().acquire().await?;
            let f = Findings::get(&mut conn, finding).await?;
            finding_here(app, inv, &f)?;
            let notes = Findings::notes(&mut conn, finding).await?;
            if notes.is_empty() {
                return Ok(Reply::private(info(format!(
                    "{finding} has no notes yet. Add one with /note {finding} <text>."
                ))));
            }
            let mut blocks = vec![Block::Header(format!("Notes on {finding}: {}", f.title))];
            for n in notes {
                blocks.push(Block::Text(RichText(vec![
                    Span::Strong(n.author),
                    Span::Plain(format!(
                        " ({}, {}): ",
                        n.surface,
                        n.at.format("%Y-%m-%d %H:%M UTC")
                    )),
                    Span::Plain(n.body),
                ])));
            }
            Ok(Reply::private(Message {
                accent: Accent::Info,
                blocks,
            }))
        }
        Command::Route {
            client,
            channel,
            owner,
        } => {
            let route = app
                .set_route(&client, ChannelName(channel), owner, &inv.user)
                .await?;
            let owner = route
                .owner
                .as_deref()
                .map(|o| format!(", owner @{o}"))
                .unwrap_or_default();
            Ok(Reply::channel(info(format!(
                "New findings for {client} now go to #{}{owner} (set by {}).",
                route.channel.as_str(),
                inv.user
            ))))
        }
        Command::Maintenance { client, spec } => {
            app.client(&client)?;
            allowed_here(app, inv, &client, &format!("/maintenance {client}"))?;
            if spec == SnoozeSpec::UntilWorse {
                return Err(CommandError::Finding(FindingError::Invalid(
                    "a maintenance window needs an end: 1h, 4h, 1d, 7d or a date".into(),
                )));
            }
            let until = spec.end(now, Duration::days(1));
            if until <= now || until > now + Duration::days(super::parse::MAX_SNOOZE_DAYS) {
                return Err(CommandError::Finding(FindingError::Invalid(format!(
                    "a maintenance window must end in the future and within {} days",
                    super::parse::MAX_SNOOZE_DAYS
                ))));
            }
            app.start_maintenance(&client, until, &inv.user).await?;
            Ok(Reply::channel(info(format!(
                "Maintenance for {client} until {}: scans go on and findings are recorded, but nothing is posted until then; a summary follows.",
                until.format("%Y-%m-%d %H:%M UTC")
            ))))
        }
        Command::Portfolio => {
            let mut conn = app.store.pool().acquire().await?;
            let active = Findings::active(&mut conn, None, None).await?;
            let rows = portfolio_rows(&active);
            if rows.is_empty() {
                return Ok(Reply::channel(info("All clients are clear: nothing open.")));
            }
            let total = app.clients().len();
            let mut blocks = vec![Block::Header(format!(
                "Portfolio: {} of {total} clients need attention",
                rows.len()
            ))];
            for (slug, [crit, warn, opp]) in rows {
                let name = app
                    .client(&slug)
                    .map(|c| c.route.client_name.clone())
                    .unwrap_or_else(|_| slug.to_string());
                let mut parts = Vec::new();
                for (n, label) in [(crit, "critical"), (warn, "warning"), (opp, "opportunity")] {
                    if n > 0 {
                        parts.push(format!("{n} {label}"));
                    }
                }
                blocks.push(Block::Text(RichText(vec![
                    Span::Strong(name),
                    Span::Plain(format!(" ({slug}): {}", parts.join(", "))),
                ])));
            }
            Ok(Reply::channel(Message {
                accent: Accent::Info,
                blocks,
            }))
        }
    }
}

/// A lifecycle change a person asks for.
enum Transition {
    Ack,
    Snooze {
        until: chrono::DateTime<chrono::Utc>,
        worse: bool,
    },
    Resolve {
        reason: Option<String>,
    },
}

/// Applies a lifecycle change and its chat traffic in one transaction.
async fn transition(
    app: &Arc<App>,
    inv: &Invocation,
    actor: &Actor,
    id: FindingId,
    what: Transition,
) -> Result<Reply, CommandError> {
    let now = app.clock.now();
    let mut tx = app.store.pool().begin().await?;
    let f = Findings::get(&mut tx, id).await?;
    finding_here(app, inv, &f)?;
    let change: Change = match what {
        Transition::Ack => Findings::acknowledge(&mut tx, id, actor, now).await?,
        Transition::Snooze { until, worse } => {
            Findings::snooze(&mut tx, id, actor, until, worse, now).await?
        }
        Transition::Resolve { reason } => {
            Findings::resolve(&mut tx, id, actor, reason.as_deref(), now).await?
        }
    };
    let entry = app.client(&change.finding.client)?;
    let ops = routing::route_change(&mut tx, &entry.route, &change, now).await?;
    tx.commit().await?;
    app.deliverer.notify();
    let state = cards::state_line(&change.finding);
    let text = if ops.is_empty() {
        format!("{id} {}: {state}.", change.finding.title)
    } else {
        format!(
            "{id}: {state}. Its message in #{} is updated.",
            change.finding.channel.as_str()
        )
    };
    Ok(Reply::private(info(text)))
}

/// A client's findings may be acted on in its own channel or the agency channel.
fn allowed_here(
    app: &App,
    inv: &Invocation,
    client: &ClientSlug,
    what: &str,
) -> Result<(), CommandError> {
    match app.client_of_channel(&inv.channel) {
        Some(here) if &here.profile.slug != client => {
            let channel = app
                .client(client)
                .map(|c| c.route.channel.as_str().to_owned())
                .unwrap_or_default();
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
pub async fn can_act_on(
    app: &Arc<App>,
    inv: &Invocation,
    id: FindingId,
) -> Result<(), CommandError> {
    let mut conn = app.store.pool().acquire().await?;
    let f = Findings::get(&mut conn, id).await?;
    finding_here(app, inv, &f)
}

fn finding_here(app: &App, inv: &Invocation, f: &Finding) -> Result<(), CommandError> {
    allowed_here(app, inv, &f.client, &f.id.to_string())
}

/// Runs a scan in the background, showing progress by editing one message.
fn start_scan(app: Arc<App>, channel: ChannelName, client: ClientSlug) {
    tokio::spawn(async move {
        let progress_ref = match app
            .chat
            .post(&channel, &info(format!("Scanning {client}…")), None)
            .await
        {
            Ok(r) => Some(r),
            Err(e) => {
                warn!(error = %e, "could not post scan progress");
                None
            }
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ScanProgress>();
        let editor = {
            let app = app.clone();
            let channel = channel.clone();
            let progress_ref = progress_ref.clone();
            let client = client.clone();
            tokio::spawn(async move {
                let mut last_shown = 0usize;
                while let Some(p) = rx.recv().await {
                    // Edit at most every quarter of the way so chat is not flooded.
                    let quarter = (p.total / 4).max(1);
                    if p.done < p.total && p.done < last_shown + quarter {
                        continue;
                    }
                    last_shown = p.done;
                    if let Some(r) = &progress_ref {
                        let text =
                            format!("Scanning {client}: {}/{} ({})", p.done, p.total, p.step);
                        if let Err(e) = app.chat.update(&channel, r, &info(text)).await {
                            warn!(error = %e, "could not update scan progress");
                        }
                    }
                }
            })
        };
        let result = app.scan(&client, "command", Some(&tx)).await;
        drop(tx);
        let _ = editor.await;
        let summary = match result {
            Ok(report) => scan_summary(&report),
            Err(e) => Message::text(Accent::Error, format!("Scan of {client} failed: {e}")),
        };
        let delivered = match &progress_ref {
            Some(r) => app.chat.update(&channel, r, &summary).await,
            None => app.chat.post(&channel, &summary, None).await.map(|_| ()),
        };
        if let Err(e) = delivered {
            warn!(error = %e, "could not post scan summary");
        }
    });
}

/// The message a finished `/scan` leaves behind.
pub fn scan_summary(r: &crate::app::ScanReport) -> Message {
    use crate::findings::ChangeKind as K;
    let count = |k: fn(&K) -> bool| r.changes.iter().filter(|c| k(&c.kind)).count();
    let new = count(|k| matches!(k, K::Detected | K::Reopened));
    let cleared = count(|k| matches!(k, K::Cleared));
    let mut heading = format!(
        "Scan of {} done: {} open, {new} new, {cleared} cleared ({} API calls)",
        r.client,
        r.active.len(),
        r.api_calls
    );
    if r.onboarding {
        heading.push_str(" · onboarding audit");
    }
    let mut msg = if r.active.is_empty() {
        info(heading)
    } else {
        cards::finding_list(
            Accent::Info,
            &heading,
            &r.active,
            &format!("Type /findings {} for the rest.", r.client),
        )
    };
    if !r.gaps.is_empty() {
        msg.blocks.push(Block::Context(RichText::plain(format!(
            "Could not read: {}",
            r.gaps.join("; ")
        ))));
    }
    msg
}

/// A person replied in a finding's thread: the reply becomes an internal note.
/// Returns `Ok(None)` when the thread is not a finding's (the reply is ignored).
pub async fn thread_reply(
    app: &Arc<App>,
    channel: &ChannelName,
    thread: &crate::chat::MessageRef,
    user: &str,
    surface: &str,
    text: &str,
) -> Result<Option<FindingId>, CommandError> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let id: Option<i64> =
        sqlx::query_scalar("SELECT id FROM findings WHERE channel = ? AND message_ref = ?")
            .bind(channel.as_str())
            .bind(&thread.0)
            .fetch_optional(app.store.pool())
            .await?;
    let Some(id) = id.map(FindingId) else {
        return Ok(None);
    };
    let mut conn = app.store.pool().acquire().await?;
    let actor = Actor::person(user, surface);
    // Notes are capped like /note so one pasted log cannot bloat the history.
    let body: String = text.chars().take(super::parse::MAX_TEXT_CHARS).collect();
    Findings::add_note(&mut conn, id, &actor, &body, app.clock.now()).await?;
    Ok(Some(id))
}
