//! `/ack <finding>`: someone is on it.

use super::context::{Transition, transition};
use super::{Args, Ctx, HandlerFuture};

/// Acknowledges the finding and edits its message.
pub fn run<'a>(ctx: &'a Ctx, args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let finding = ctx.need(args.finding("finding"), "finding")?;
        transition(ctx, finding, Transition::Ack).await
    })
}
