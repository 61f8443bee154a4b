//! `/notes <finding>`: a finding's internal notes, oldest first.

use super::{Args, Ctx, HandlerFuture, Reply};
use crate::app::info;
use crate::findings::Findings;
use crate::message::{Accent, Block, Message, RichText, Span};
use crate::routing::cards;

/// Shows the notes privately.
pub fn run<'a>(ctx: &'a Ctx, args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let finding = ctx.need(args.finding("finding"), "finding")?;
        let mut db = ctx.app.store.conn().await?;
        let f = Findings::get(&mut db, finding).await?;
        ctx.finding_here(&f)?;
        let notes = Findings::notes(&mut db, finding).await?;
        if notes.is_empty() {
            return Ok(Reply::private(info(format!(
                "{finding} has no notes yet. Add one with /note {finding} <text>."
            ))));
        }
        let mut blocks = vec![Block::Header(format!("Notes on {finding}: {}", f.title))];
        for n in notes {
            blocks.push(Block::Text(RichText(vec![
                Span::Strong(cards::who(&n.author)),
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
    })
}
