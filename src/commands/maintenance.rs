//! `/maintenance <client> <for>`: record findings but post nothing for a
//! while; one summary follows when the window ends.

use chrono::Duration;

use super::{Args, CommandError, Ctx, HandlerFuture, Reply, SnoozeSpec, parse};
use crate::app::info;
use crate::findings::FindingError;

/// Starts a maintenance window for the client.
pub fn run<'a>(ctx: &'a Ctx, args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let client = ctx.need(args.client("client"), "client")?;
        let spec = ctx.need(args.snooze("for"), "for")?;
        ctx.app.clients.get(&client)?;
        ctx.allowed_here(&client, &format!("/maintenance {client}"))?;
        if spec == SnoozeSpec::UntilWorse {
            return Err(CommandError::Finding(FindingError::Invalid(
                "a maintenance window needs an end: 1h, 4h, 1d, 7d or a date".into(),
            )));
        }
        let until = spec.end(ctx.now, Duration::days(1));
        if until <= ctx.now || until > ctx.now + Duration::days(parse::MAX_SNOOZE_DAYS) {
            return Err(CommandError::Finding(FindingError::Invalid(format!(
                "a maintenance window must end in the future and within {} days",
                parse::MAX_SNOOZE_DAYS
            ))));
        }
        ctx.app
            .start_maintenance(&client, until, &ctx.inv.person.to_string())
            .await?;
        Ok(Reply::channel(info(format!(
            "Maintenance for {client} until {}: scans go on and findings are recorded, but nothing is posted until then; a summary follows.",
            until.format("%Y-%m-%d %H:%M UTC")
        ))))
    })
}
