//! `/audit-report <client>`: the onboarding audit again, as a message and a
//! Markdown document. It covers one client, so it may be shown in that
//! client's channel or the agency's; never from another client's.

use super::{Args, Ctx, HandlerFuture};
use crate::findings::Findings;
use crate::reports::files;
use crate::routing::audit;
use crate::store::reports;

/// Builds the audit and shows it where it was asked.
pub fn run<'a>(ctx: &'a Ctx, args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let client = ctx.need(args.client("client"), "client")?;
        let entry = ctx.app.clients.get(&client)?;
        ctx.allowed_here(&client, &format!("/audit-report {client}"))?;
        let mut db = ctx.app.store.begin().await?;
        reports::record_request(
            &mut db,
            "audit-report",
            Some(&client),
            &ctx.inv.person,
            &ctx.inv.channel,
            ctx.now,
        )
        .await?;
        let scanned_at = Findings::first_scan_at(&mut db, &client).await?;
        let found = Findings::onboarding_of(&mut db, &client).await?;
        db.commit().await?;
        let name = &entry.profile.name;
        let Some(scanned_at) = scanned_at else {
            return Err(super::CommandError::Refused(format!(
                "{name} has not been scanned yet, so it has no onboarding audit: /scan {client} runs it"
            )));
        };
        let currency = &entry.profile.currency;
        let mut message = audit::kickoff_message(name, client.as_str(), currency, &found);
        let markdown = audit::kickoff_markdown(name, currency, &found, Some(scanned_at), ctx.now);
        let stem = format!("audit-{client}-{}", scanned_at.format("%Y-%m-%d"));
        files::attach(
            &mut message,
            &stem,
            &format!("Onboarding audit, {name}"),
            None,
            markdown,
        );
        ctx.show_with_files(&format!("The onboarding audit of {name}"), message)
            .await
    })
}
