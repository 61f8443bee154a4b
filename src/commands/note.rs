//! `/note <finding> <text>`: an internal note (thread replies and the
//! "Add note" dialog land here too).

use super::{Args, Ctx, HandlerFuture, Reply};
use crate::app::info;
use crate::findings::Findings;

/// Adds the note to the finding's history.
pub fn run<'a>(ctx: &'a Ctx, args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let finding = ctx.need(args.finding("finding"), "finding")?;
        let text = ctx.need(args.text("text"), "text")?;
        // One transaction: the note and its audit entry land together.
        let mut tx = ctx.app.store.begin().await?;
        let f = Findings::get(&mut tx, finding).await?;
        ctx.finding_here(&f)?;
        Findings::add_note(&mut tx, finding, &ctx.inv.actor(), &text, ctx.now).await?;
        ctx.record_done(&mut tx).await?;
        tx.commit().await?;
        Ok(Reply::private(info(format!(
            "Note added to {finding}. It stays inside the agency."
        ))))
    })
}
