//! `/access-review`: who can act on which clients, grants ending soon or
//! grown old, private keys, keys due for rotation, idle people and actions
//! no person is on record for. Admins only; posted weekly in the agency
//! channel too.

use super::{Args, CommandError, Ctx, HandlerFuture};

/// Builds the review and shows it where cross-client output may be seen.
pub fn run<'a>(ctx: &'a Ctx, _args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let (_, message) = ctx
            .app
            .access_review(ctx.inv.channel.platform)
            .await
            .map_err(|e| CommandError::Internal(e.to_string()))?;
        ctx.cross_client("/access-review", message)
    })
}
