//! `/audit [client] [days] [page]`: the audit trail, newest first. In a
//! client's channel it covers that client only; in the agency channel or a
//! direct message every client, or the one named. Answered privately, a page
//! at a time: a page fits Slack's and Discord's limits whatever people typed.

use chrono::Duration;

use super::context::Place;
use super::{Args, CommandError, Ctx, HandlerFuture, Reply};
use crate::app::info;
use crate::audit::{self, Outcome, Recorded, Surface};
use crate::domain::ClientSlug;
use crate::message::{Accent, Block, Message, RichText, Span};

/// Entries on one page. With the caps below, a page of the longest rows
/// (every typed character one Discord escapes) stays under Discord's 6,000
/// characters across a message's embeds, and one row per section keeps Slack
/// far under 50 blocks and 3,000 characters a section.
pub const PAGE_ROWS: u32 = 15;
/// How far back `/audit` looks unless told.
pub const DEFAULT_DAYS: u32 = 7;
/// Characters of a row's detail shown (the trail keeps up to `audit::MAX_DETAIL_CHARS`).
const SHOWN_DETAIL: usize = 40;
/// Characters of a refusal's reason shown.
const SHOWN_REASON: usize = 60;
/// Characters of an action name shown.
const SHOWN_ACTION: usize = 32;

/// Shows a page of the trail, privately.
pub fn run<'a>(ctx: &'a Ctx, args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let days = args.days("days").unwrap_or(DEFAULT_DAYS);
        let page = match args.text("page") {
            Some(p) => parse_page(&p)?,
            None => 1,
        };
        let named = args.client("client");
        let client: Option<ClientSlug> = match &named {
            Some(c) => {
                ctx.app.clients.get(c)?;
                ctx.allowed_here(c, &format!("/audit {c}"))?;
                Some(c.clone())
            }
            None => match ctx.place() {
                Place::Client(here) => Some(here.profile.slug.clone()),
                Place::Agency | Place::Other => None,
            },
        };
        let since = ctx.now - Duration::days(i64::from(days));
        let offset = (page - 1).saturating_mul(PAGE_ROWS);
        let mut db = ctx.app.store.conn().await?;
        let total = audit::count(&mut db, client.as_ref(), since).await?;
        let rows = audit::recent(&mut db, client.as_ref(), since, PAGE_ROWS, offset).await?;
        drop(db);
        let scope = client
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_else(|| "all clients".into());
        let pages = total.div_ceil(u64::from(PAGE_ROWS)).max(1);
        if rows.is_empty() {
            return Ok(Reply::private(info(if total == 0 {
                format!("Nothing recorded for {scope} in the last {days} days.")
            } else {
                format!(
                    "There is no page {page} for {scope} in the last {days} days: it has {pages} page{}.",
                    if pages == 1 { "" } else { "s" }
                )
            })));
        }
        let tz = ctx.app.config.agency.tz().map_err(|e| {
            CommandError::Internal(format!("the agency timezone is not valid: {e}"))
        })?;
        let mut blocks = vec![
            Block::Header(format!("Audit trail: {scope}, last {days} days")),
            Block::Context(RichText::plain(format!(
                "Newest first · page {page} of {pages} · {total} entr{} · times in {tz}",
                if total == 1 { "y" } else { "ies" }
            ))),
        ];
        for r in &rows {
            blocks.push(Block::Text(row(ctx, r, tz)));
        }
        if u64::from(page) < pages {
            let mut next = vec!["/audit".to_owned()];
            if named.is_some() {
                next.extend(client.as_ref().map(|c| c.to_string()));
            }
            next.push(days.to_string());
            next.push(format!("page:{}", page + 1));
            blocks.push(Block::Context(
                RichText::plain("Older entries: ").push(Span::Code(next.join(" "))),
            ));
        }
        Ok(Reply::private(Message {
            accent: Accent::Info,
            blocks,
        }))
    })
}

/// `2`, `p2`, `page2`, `page:2` or `page-2`: a page number from 1.
fn parse_page(word: &str) -> Result<u32, CommandError> {
    let w = word.trim().to_lowercase();
    let digits = match w.strip_prefix("page").or_else(|| w.strip_prefix('p')) {
        Some(rest) => rest.strip_prefix([':', '-', '=']).unwrap_or(rest),
        None => &w,
    };
    match digits.parse::<u32>() {
        Ok(n) if (1..=10_000).contains(&n) => Ok(n),
        _ => Err(CommandError::Refused(
            "the page is a number from 1, e.g. page:2 for the entries before the first page".into(),
        )),
    }
}

/// One entry: when, who, where, what, about whom, how it ended, and the
/// detail. Everything typed by people (the detail, a reason that repeats a
/// word, a mistyped command's name) goes in plain spans, which adapters escape.
fn row(ctx: &Ctx, r: &Recorded, tz: chrono_tz::Tz) -> RichText {
    let e = &r.entry;
    let mut t = RichText::plain(format!(
        "{} ",
        r.at.with_timezone(&tz).format("%Y-%m-%d %H:%M")
    ));
    t = match &e.actor {
        // A mention on the reader's own platform; elsewhere the id reads as text.
        Some(p) if p.platform == ctx.inv.channel.platform => t.push(Span::Mention(p.clone())),
        Some(p) => t.push(Span::Plain(p.to_string())),
        None if e.surface == Surface::ConfigFile => t.push(Span::Plain("config file".into())),
        None => t.push(Span::Plain("Lookout".into())),
    };
    let mut line = format!(
        " · {} · {}",
        e.surface.label(),
        audit::one_line(&e.action, SHOWN_ACTION)
    );
    if let Some(c) = &e.client {
        line.push_str(&format!(" · {c}"));
    }
    line.push_str(" · ");
    t = t.push(Span::Plain(line));
    t = match &e.outcome {
        Outcome::Done => t.push(Span::Plain("done".into())),
        Outcome::Refused(why) | Outcome::Failed(why) => t
            .push(Span::Strong(e.outcome.as_str().into()))
            .push(Span::Plain(format!(
                ": {}",
                audit::one_line(why, SHOWN_REASON)
            ))),
    };
    if let Some(d) = &e.detail {
        t = t.push(Span::Plain(format!(
            " — “{}”",
            audit::one_line(d, SHOWN_DETAIL)
        )));
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_read_as_typed() {
        for (w, n) in [
            ("2", 2),
            ("p3", 3),
            ("page4", 4),
            ("page:5", 5),
            ("PAGE-6", 6),
        ] {
            assert_eq!(parse_page(w).unwrap(), n, "{w}");
        }
        for bad in ["0", "page", "p:x", "-1", "99999999999"] {
            assert!(parse_page(bad).is_err(), "{bad}");
        }
    }
}
