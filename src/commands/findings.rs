//! `/findings [client] [severity]`: open findings, newest first. In a client's
//! channel it covers that client; across clients it is a lead's view, never
//! shown in a client's channel.

use super::context::Place;
use super::{Args, CommandError, Ctx, HandlerFuture, Reply, Role};
use crate::app::info;
use crate::findings::Findings;
use crate::message::Accent;
use crate::routing::cards;

/// Lists open findings for a client, or for all clients.
pub fn run<'a>(ctx: &'a Ctx, args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let severity = args.severity("severity");
        let client = args.client("client").or_else(|| match ctx.place() {
            Place::Client(c) => Some(c.profile.slug.clone()),
            _ => None,
        });
        if let Some(c) = &client {
            ctx.app.clients.get(c)?;
            ctx.allowed_here(c, &format!("/findings {c}"))?;
        } else if ctx.role < Role::Lead {
            return Err(CommandError::Forbidden {
                command: "findings (all clients)".into(),
                needed: Role::Lead.as_str(),
            });
        }
        let found =
            Findings::active(&mut ctx.app.store.conn().await?, client.as_ref(), severity).await?;
        let scope = client
            .as_ref()
            .map(|c| c.to_string())
            .unwrap_or_else(|| "all clients".into());
        let message = if found.is_empty() {
            info(format!("No open findings for {scope}."))
        } else {
            let heading = format!(
                "{} open finding{} for {scope}",
                found.len(),
                if found.len() == 1 { "" } else { "s" }
            );
            cards::finding_list(
                Accent::Info,
                &heading,
                &found,
                "Narrow it down with /findings <client> <severity>.",
            )
        };
        match client {
            Some(_) => Ok(Reply::private(message)),
            None => ctx
                .cross_client("/findings for all clients", message)
                .map(|r| Reply::private(r.message)),
        }
    })
}
