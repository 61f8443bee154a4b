//! `/connect <client> [access]`: a private Klaviyo OAuth link whose grant is
//! read-only and ends when chosen; `key` asks for a private API key instead.

use super::{Args, CommandError, Ctx, HandlerFuture, Reply};
use crate::connections::{ConnectionError, Method, parse_options};
use crate::message::{Accent, Action, Block, Message, RichText, Span};

/// Answers privately with the link (or the way to give a key).
pub fn run<'a>(ctx: &'a Ctx, args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let client = ctx.need(args.client("client"), "client")?;
        ctx.allowed_here(&client, &format!("/connect {client}"))?;
        let entry = ctx.app.clients.get(&client)?;
        let tz = ctx
            .app
            .config
            .agency
            .tz()
            .map_err(|e| CommandError::Internal(e.to_string()))?;
        let opts = parse_options(
            &args.text("access").unwrap_or_default(),
            ctx.now,
            tz,
            ctx.app.config.connections.default_days,
        )
        .map_err(CommandError::Refused)?;
        let ends = ctx.app.local_date(opts.ends_at);
        if opts.method == Method::Key {
            // The key is typed into a private dialog, never into a message.
            return Ok(Reply::key_dialog(
                crate::message::KeyDialog {
                    client: client.clone(),
                    client_name: entry.profile.name.clone(),
                    ends_at: opts.ends_at,
                },
                Message::text(
                    Accent::Error,
                    format!(
                        "A private key is typed into a private form, which this chat cannot open; use /connect {client} key in Slack or Discord, or connect by OAuth: /connect {client}"
                    ),
                ),
            ));
        }
        let url = ctx
            .app
            .connections
            .begin(&client, &ctx.inv.person, &ctx.inv.channel, opts.ends_at)
            .await
            .map_err(|e| match e {
                e @ ConnectionError::OAuthOff(_) => CommandError::Refused(e.to_string()),
                e => CommandError::Internal(e.to_string()),
            })?;
        let text = RichText(vec![
            Span::Plain("Approve read-only access to ".into()),
            Span::Strong(entry.profile.name.clone()),
            Span::Plain(format!(
                "'s Klaviyo account; it ends on {ends}. The link works once, for the next 10 minutes, and the grant is recorded as yours. Lookout asks only for read scopes and refuses a grant with any write scope."
            )),
        ]);
        Ok(Reply::private(Message {
            accent: Accent::Info,
            blocks: vec![
                Block::Text(text),
                Block::Actions(vec![Action::Link {
                    label: "Approve in Klaviyo".into(),
                    url,
                }]),
            ],
        }))
    })
}
