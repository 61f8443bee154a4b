//! `/route <client> <channel> [owner]`: where a client's findings go on the
//! channel's platform, and whom to mention there. A channel belongs to one
//! client; the agency channel belongs to none.

use super::{Args, Ctx, HandlerFuture, Reply};
use crate::app::info;

/// Sets the route, stored and attributed to the person.
pub fn run<'a>(ctx: &'a Ctx, args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let client = ctx.need(args.client("client"), "client")?;
        let channel = ctx.need(args.channel("channel"), "channel")?;
        let owner = args.person("owner");
        ctx.allowed_here(&client, &format!("/route {client}"))?;
        let route = ctx
            .app
            .clients
            .set_route(
                &ctx.app.store,
                &client,
                channel.clone(),
                owner,
                &ctx.inv.person,
                ctx.audit.surface,
                ctx.now,
            )
            .await?;
        // The route change recorded itself, in its own transaction.
        ctx.mark_recorded();
        let owner = route
            .owner_in(&channel)
            .map(|o| format!(", owner @{}", o.id))
            .unwrap_or_default();
        Ok(Reply::channel(info(format!(
            "New findings for {client} on {} now go to {}{owner} (set by {}).",
            channel.platform,
            ctx.channel_label(&channel),
            ctx.inv.person.id
        ))))
    })
}
