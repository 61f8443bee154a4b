//! `/disconnect <client>`: revokes the client's grant at Klaviyo and deletes
//! its tokens or key at once; scanning the client stops.

use super::{Args, CommandError, Ctx, HandlerFuture, Reply};
use crate::app::info;

/// Revokes, deletes and says what happened.
pub fn run<'a>(ctx: &'a Ctx, args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let client = ctx.need(args.client("client"), "client")?;
        ctx.allowed_here(&client, &format!("/disconnect {client}"))?;
        let entry = ctx.app.clients.get(&client)?;
        let internal =
            |e: crate::connections::ConnectionError| CommandError::Internal(e.to_string());
        if ctx
            .app
            .connections
            .grant(&client)
            .await
            .map_err(internal)?
            .is_none()
        {
            return Err(CommandError::Refused(if entry.credential.is_some() {
                format!(
                    "{client} is reached with a key from the config file; remove its api_key or api_key_env there to disconnect it"
                )
            } else {
                format!("{client} is not connected; nothing to disconnect")
            }));
        }
        let done = ctx
            .app
            .connections
            .disconnect(&client)
            .await
            .map_err(internal)?;
        let revoked = match &done.revoked {
            Ok(true) => "its grant was revoked at Klaviyo".to_owned(),
            Ok(false) => "there was no OAuth grant to revoke at Klaviyo".to_owned(),
            Err(e) => format!(
                "Klaviyo did not confirm the revocation ({e}); revoke the app under Klaviyo's Integrations to be sure"
            ),
        };
        ctx.app
            .notify_disconnect(&client, &ctx.inv.person)
            .await
            .map_err(CommandError::from)?;
        Ok(Reply::private(info(format!(
            "{} is disconnected: {revoked}, and its {} stored secret{} deleted. Scanning it has stopped; /connect {client} connects it again.",
            entry.profile.name,
            done.deleted,
            if done.deleted == 1 { " was" } else { "s were" }
        ))))
    })
}
