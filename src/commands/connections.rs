//! `/connections [client]`: how Lookout reaches each client's Klaviyo
//! account: method, who granted it and when, scopes, end, last use. In a
//! client's channel, that client only; all of them in the agency channel or privately.

use chrono::{DateTime, Duration, Utc};

use super::context::Place;
use super::{Args, CommandError, Ctx, HandlerFuture, Reply};
use crate::clients::ClientEntry;
use crate::connections::{Grant, Method, Status};
use crate::message::{Accent, Block, Message, RichText, Span};
use crate::routing::person_span;

/// Most clients listed in one message (Slack allows 50 blocks).
const MAX_LISTED: usize = 40;

/// Lists the grants where they may be seen.
pub fn run<'a>(ctx: &'a Ctx, args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let grants = ctx
            .app
            .connections
            .grants()
            .await
            .map_err(|e| CommandError::Internal(e.to_string()))?;
        let only = match (args.client("client"), ctx.place()) {
            (Some(c), _) => {
                ctx.allowed_here(&c, &format!("/connections {c}"))?;
                Some(ctx.app.clients.get(&c)?)
            }
            (None, Place::Client(here)) => Some(*here),
            (None, _) => None,
        };
        let mut rows: Vec<(u8, Block)> = Vec::new();
        let clients = match &only {
            Some(c) => vec![c.clone()],
            None => ctx.app.clients.all(),
        };
        for c in &clients {
            let grant = grants.iter().find(|g| g.client == c.profile.slug);
            rows.push(line(ctx, c, grant));
        }
        // Problems first: paused, ended, ending within a week, unconnected.
        rows.sort_by_key(|(rank, _)| *rank);
        let total = rows.len();
        let mut blocks = vec![Block::Header(match &only {
            Some(c) => format!("Connection of {}", c.profile.name),
            None => format!("Connections ({total} clients)"),
        })];
        blocks.extend(rows.into_iter().take(MAX_LISTED).map(|(_, b)| b));
        if total > MAX_LISTED {
            blocks.push(Block::Context(RichText::plain(format!(
                "{} more, all in order; /connections <client> shows one.",
                total - MAX_LISTED
            ))));
        }
        let message = Message {
            accent: Accent::Info,
            blocks,
        };
        match only {
            Some(_) => Ok(Reply::private(message)),
            None => ctx.cross_client("/connections for every client", message),
        }
    })
}

/// One client's line, and its rank (lower is more urgent).
fn line(ctx: &Ctx, c: &ClientEntry, grant: Option<&Grant>) -> (u8, Block) {
    let slug = &c.profile.slug;
    let mut t = RichText(vec![
        Span::Strong(c.profile.name.clone()),
        Span::Plain(format!(" ({slug}): ")),
    ]);
    let rank;
    match grant {
        Some(g) => {
            let method = match g.method {
                Method::OAuth => "OAuth",
                Method::Key => "private key",
            };
            let read_only = g.scopes.iter().all(|s| s.ends_with(":read"));
            t = t.push(Span::Plain(format!(
                "{method}, {} ({} scopes), granted by ",
                if read_only {
                    "read-only"
                } else {
                    "NOT read-only"
                },
                g.scopes.len()
            )));
            t = match &g.granted_by {
                Some(p) => t.push(person_span(&p.to_string(), &ctx.inv.channel)),
                None => t.push(Span::Plain("nobody recorded".into())),
            };
            t = t.push(Span::Plain(format!(
                " on {}",
                ctx.app.local_date(g.granted_at)
            )));
            let (state, r) = match g.status {
                Status::Reauth => (
                    format!(
                        "; paused: Klaviyo refused the grant ({}); /connect {slug}",
                        g.status_detail.as_deref().unwrap_or("invalid_grant")
                    ),
                    0,
                ),
                Status::Ended => (
                    format!(
                        "; ended on {}; /connect {slug}",
                        ctx.app.local_date(g.ends_at)
                    ),
                    1,
                ),
                Status::Active => (
                    format!(
                        "; access ends on {} ({})",
                        ctx.app.local_date(g.ends_at),
                        until(g.ends_at, ctx.now)
                    ),
                    if g.ends_at - ctx.now <= Duration::days(7) {
                        2
                    } else {
                        4
                    },
                ),
            };
            rank = r;
            t = t.push(Span::Plain(format!(
                "{state}; last used {}.",
                g.last_used_at
                    .map(|at| ago(at, ctx.now))
                    .unwrap_or_else(|| "never".into())
            )));
        }
        None if c.credential.is_some() => {
            rank = 3;
            t = t.push(Span::Plain(
                "private key from the config file: no end and no grantor on record; connect it by OAuth with /connect."
                    .to_owned(),
            ));
        }
        None => {
            rank = 1;
            t = t.push(Span::Plain(format!("not connected; /connect {slug}.")));
        }
    }
    (rank, Block::Text(t))
}

/// "in 3 days", "in 5 hours", "overdue".
fn until(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let left = at - now;
    if left <= Duration::zero() {
        "now".into()
    } else if left < Duration::days(2) {
        format!("in {} hours", left.num_hours().max(1))
    } else {
        format!("in {} days", left.num_days())
    }
}

/// "3 hours ago", "2 days ago".
fn ago(at: DateTime<Utc>, now: DateTime<Utc>) -> String {
    let d = now - at;
    if d < Duration::hours(1) {
        format!("{} min ago", d.num_minutes().max(0))
    } else if d < Duration::days(2) {
        format!("{} hours ago", d.num_hours())
    } else {
        format!("{} days ago", d.num_days())
    }
}
