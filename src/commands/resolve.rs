//! `/resolve <finding> [reason]`: closed by a person.

use super::context::{Transition, transition};
use super::{Args, Ctx, HandlerFuture};

/// Resolves the finding with the reason given, and edits its message.
pub fn run<'a>(ctx: &'a Ctx, args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let finding = ctx.need(args.finding("finding"), "finding")?;
        let reason = args.text("reason");
        transition(ctx, finding, Transition::Resolve { reason }).await
    })
}
