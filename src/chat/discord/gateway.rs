//! Discord over the gateway: interactions and thread replies without a public URL.
//!
//! `run_gateway` connects serenity's `Client` (intents: guilds, guild
//! messages, and message content only when the config turns it on) with a
//! thin `EventHandler`. serenity's `Context` cannot be built in tests, so the
//! handler only forwards to functions over `DiscordChat` (which holds
//! serenity's `Http`) and model or JSON types, and those carry the logic:
//!
//! - `on_interaction` runs the same parser and answering code as the HTTP
//!   endpoint (the interaction, serialized back to JSON, is the body Discord
//!   would have posted) and sends the first answer as an interaction callback.
//! - `on_message` turns a human's message in a thread into
//!   `Inbound::ThreadReply`: the thread's id is the id of the message it was
//!   started from (a finding's message, when it is a finding's thread), and
//!   its parent channel, read once per thread and cached, is the actor's
//!   channel. Without the privileged message-content intent Discord sends
//!   the text only of messages that @-mention the bot; the mention is
//!   stripped. A kept note is confirmed with a 📝 reaction.

use crate::config::Sharding;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde_json::Value;
use serenity::all::{
    ClientBuilder, Context, EventHandler, GatewayIntents, Interaction, MessageType, Ready,
};
use serenity::model::channel::Message as DiscordMessage;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::inbound::{self, Parsed};
use super::respond::{self, ANSWER_WITHIN};
use super::{DiscordChat, DiscordConfig, NOTED_REACTION};
use crate::message::{
    Actor, ChannelRef, ChatAdapter, ChatError, Inbound, InboundHandler, MessageRef, Outcome,
    PersonRef, Platform,
};

/// The gateway intents Lookout asks for.
pub fn intents(message_content: bool) -> GatewayIntents {
    let base = GatewayIntents::GUILDS | GatewayIntents::GUILD_MESSAGES;
    if message_content {
        base | GatewayIntents::MESSAGE_CONTENT
    } else {
        base
    }
}

/// Answers one interaction that arrived over the gateway, as JSON.
pub async fn on_interaction(
    chat: Arc<DiscordChat>,
    handler: Arc<dyn InboundHandler>,
    interaction: &Value,
    within: Duration,
) -> Result<(), ChatError> {
    let received = match inbound::parse_value(interaction) {
        Ok(Parsed::Event(r)) => *r,
        // Discord pings only the HTTP endpoint.
        Ok(Parsed::Ping) => return Ok(()),
        Err(e) => {
            return Err(ChatError::Rejected(format!(
                "a Discord interaction could not be read: {e}"
            )));
        }
    };
    let (id, token) = (received.id, received.token.clone());
    let (first, later) = respond::answer(
        &tokio::runtime::Handle::current(),
        handler,
        received,
        within,
    )
    .await;
    chat.interaction_callback(id, &token, &first).await?;
    if let Some(later) = later {
        later.finish(chat).await;
    }
    Ok(())
}

/// An interaction from the gateway as the JSON Discord would have posted to
/// the endpoint. serenity writes every field back except the top-level
/// interaction `type`, which it keeps as the enum variant: it is put back.
pub fn interaction_json(interaction: &Interaction) -> Result<Value, serde_json::Error> {
    let ty = match interaction {
        Interaction::Ping(_) => 1,
        Interaction::Command(_) => 2,
        Interaction::Component(_) => 3,
        Interaction::Autocomplete(_) => 4,
        Interaction::Modal(_) => 5,
        // serenity's enum is non-exhaustive; a new kind is not one Lookout handles.
        _ => 0,
    };
    let mut v = serde_json::to_value(interaction)?;
    if let Some(obj) = v.as_object_mut() {
        obj.insert("type".into(), Value::from(ty));
    }
    Ok(v)
}

/// The text of a human's message, if Lookout should read it: not from a bot,
/// a webhook or the system, in a guild, an ordinary message or reply, and
/// with text (without the message-content intent, only messages that
/// mention the bot have any). The bot's mention is stripped and other user
/// and channel mentions become `@discord:<id>` / `#discord:<id>`.
pub fn reply_text(msg: &DiscordMessage, bot: u64) -> Option<String> {
    let human = !msg.author.bot
        && !msg.author.system
        && msg.webhook_id.is_none()
        && msg.author.id.get() != bot
        && msg.guild_id.is_some()
        && matches!(msg.kind, MessageType::Regular | MessageType::InlineReply);
    if !human {
        return None;
    }
    let stripped = msg
        .content
        .replace(&format!("<@{bot}>"), " ")
        .replace(&format!("<@!{bot}>"), " ");
    let text = decode_mentions(&stripped);
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

/// `<@1>`, `<@!1>` → `@discord:1`; `<#1>` → `#discord:1`; anything else as is.
fn decode_mentions(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        let decoded = tail.find('>').and_then(|end| {
            let inner = &tail[1..end];
            let (sigil, id) = if let Some(id) = inner.strip_prefix("@!") {
                ('@', id)
            } else if let Some(id) = inner.strip_prefix('@') {
                ('@', id)
            } else if let Some(id) = inner.strip_prefix('#') {
                ('#', id)
            } else {
                return None;
            };
            super::parse_id(id).map(|_| (format!("{sigil}discord:{id}"), end + 1))
        });
        match decoded {
            Some((text, used)) => {
                out.push_str(&text);
                rest = &tail[used..];
            }
            None => {
                out.push('<');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The neutral event of a message: a reply in a thread, or `None`.
pub async fn thread_reply(
    chat: &DiscordChat,
    msg: &DiscordMessage,
    bot: u64,
) -> Result<Option<Inbound>, ChatError> {
    let Some(text) = reply_text(msg, bot) else {
        return Ok(None);
    };
    let thread = msg.channel_id.get();
    let Some(parent) = chat.thread_parent(thread).await? else {
        return Ok(None);
    };
    let (Ok(person), Ok(channel)) = (
        PersonRef::new(Platform::Discord, msg.author.id.to_string()),
        ChannelRef::new(Platform::Discord, parent.to_string()),
    ) else {
        return Ok(None);
    };
    Ok(Some(Inbound::ThreadReply {
        actor: Actor { person, channel },
        thread: MessageRef(thread.to_string()),
        message: MessageRef(msg.id.to_string()),
        text,
    }))
}

/// Handles one gateway message: a thread reply goes to the handler, and its
/// outcome is shown (📝 on the reply for a kept note).
pub async fn on_message(
    chat: &DiscordChat,
    handler: &dyn InboundHandler,
    msg: &DiscordMessage,
    bot: u64,
) -> Result<(), ChatError> {
    let Some(event) = thread_reply(chat, msg, bot).await? else {
        return Ok(());
    };
    let actor = event.actor().clone();
    let thread = msg.channel_id.get();
    match handler.handle(event).await {
        Outcome::Noted(finding) => {
            debug!(%finding, "thread reply kept as a note");
            chat.react(thread, msg.id.get(), NOTED_REACTION).await
        }
        Outcome::Private(m) => chat.ephemeral(&actor.channel, &actor.person, &m).await,
        Outcome::Public(m) => {
            let in_thread = ChannelRef::new(Platform::Discord, thread.to_string())
                .map_err(|e| ChatError::Rejected(e.to_string()))?;
            chat.post(&in_thread, &m, None).await.map(drop)
        }
        Outcome::Nothing
        | Outcome::OpenNoteDialog(_)
        | Outcome::OpenKeyDialog(_)
        | Outcome::Choices(_) => Ok(()),
    }
}

/// The event handler serenity calls: a thin shell over the functions above.
struct Shell {
    chat: Arc<DiscordChat>,
    handler: Arc<dyn InboundHandler>,
    /// The bot's user id, from the READY event (0 until then).
    bot: AtomicU64,
}

impl Shell {
    async fn bot_id(&self) -> u64 {
        match self.bot.load(Ordering::Relaxed) {
            0 => self.chat.bot_user_id().await.unwrap_or(0),
            id => id,
        }
    }
}

#[serenity::async_trait]
impl EventHandler for Shell {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        self.bot.store(ready.user.id.get(), Ordering::Relaxed);
        info!(
            guilds = ready.guilds.len(),
            "connected to the Discord gateway"
        );
    }

    async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
        let value = match interaction_json(&interaction) {
            Ok(v) => v,
            Err(e) => {
                warn!(error = %e, "could not read a Discord interaction");
                return;
            }
        };
        let result = on_interaction(
            self.chat.clone(),
            self.handler.clone(),
            &value,
            ANSWER_WITHIN,
        )
        .await;
        if let Err(e) = result {
            warn!(error = %e, "could not answer a Discord interaction");
        }
    }

    async fn message(&self, _ctx: Context, msg: DiscordMessage) {
        let bot = self.bot_id().await;
        if let Err(e) = on_message(&self.chat, self.handler.as_ref(), &msg, bot).await {
            warn!(error = %e, "could not handle a Discord message");
        }
    }
}

/// Connects to the Discord gateway and serves interactions and thread
/// replies until `shutdown` turns true (or its sender is dropped).
pub async fn run_gateway(
    cfg: DiscordConfig,
    handler: Arc<dyn InboundHandler>,
    chat: Arc<DiscordChat>,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), ChatError> {
    if *shutdown.borrow_and_update() {
        return Ok(());
    }
    let http = super::gateway_http(&cfg)?;
    let shell = Shell {
        chat,
        handler,
        bot: AtomicU64::new(0),
    };
    let token = cfg.bot_token.expose().to_owned();
    let built = ClientBuilder::new_with_http(http, intents(cfg.message_content))
        .event_handler(shell)
        .await;
    let mut client = built.map_err(|e| gateway_error(&e, &token))?;
    let shards = client.shard_manager.clone();
    let started = async {
        match cfg.sharding {
            Sharding::Auto => client.start_autosharded().await,
            // serenity's range includes its end: `first..last` runs `last` too.
            Sharding::Range { first, last, total } => {
                info!(
                    first,
                    last, total, "running a range of the gateway's shards"
                );
                client.start_shard_range(first..last, total).await
            }
        }
    };
    tokio::select! {
        result = started => result.map_err(|e| gateway_error(&e, &token)),
        () = stopped(&mut shutdown) => {
            info!("disconnecting from the Discord gateway");
            shards.shutdown_all().await;
            Ok(())
        }
    }
}

/// Resolves when shutdown is asked for, or nobody can ask any more.
async fn stopped(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            return;
        }
    }
}

/// What a gateway failure means, without the token.
fn gateway_error(e: &serenity::Error, token: &str) -> ChatError {
    use serenity::gateway::GatewayError;
    let err = match e {
        serenity::Error::Gateway(GatewayError::InvalidAuthentication) => ChatError::Rejected(
            "Discord refused the bot token: check it in the config (reset it in the Developer Portal if it leaked)"
                .to_owned(),
        ),
        serenity::Error::Gateway(
            GatewayError::DisallowedGatewayIntents | GatewayError::InvalidGatewayIntents,
        ) => ChatError::Rejected(
            "Discord refused the gateway intents: turn on Message Content Intent in the Developer Portal (Bot page), or set chat.discord_message_content = false"
                .to_owned(),
        ),
        other => ChatError::Unavailable(format!(
            "the Discord gateway connection failed: {other}; Lookout will reconnect"
        )),
    };
    match err {
        ChatError::Unavailable(s) if !token.is_empty() => {
            ChatError::Unavailable(s.replace(token, "[redacted]"))
        }
        e => e,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_content_is_asked_for_only_when_configured() {
        assert!(!intents(false).contains(GatewayIntents::MESSAGE_CONTENT));
        assert!(intents(true).contains(GatewayIntents::MESSAGE_CONTENT));
        assert!(intents(false).contains(GatewayIntents::GUILD_MESSAGES | GatewayIntents::GUILDS));
    }

    #[test]
    fn mentions_decode_to_references() {
        assert_eq!(
            decode_mentions("ask <@12> and <@!13> in <#14>, not <@&15> or <t:1> <@0> <"),
            "ask @discord:12 and @discord:13 in #discord:14, not <@&15> or <t:1> <@0> <"
        );
        assert_eq!(decode_mentions("<<@1>>"), "<@discord:1>");
        assert_eq!(decode_mentions("é<@9>ü"), "é@discord:9ü");
    }

    #[tokio::test]
    async fn a_shutdown_before_start_returns_at_once() {
        let (_tx, rx) = watch::channel(true);
        let chat = Arc::new(
            DiscordChat::new(DiscordConfig {
                api_url: "http://127.0.0.1:9".into(),
                bot_token: crate::config::Secret::new("t"),
                application_id: 1,
                message_content: false,
                sharding: crate::config::Sharding::Auto,
            })
            .unwrap(),
        );
        struct Never;
        #[async_trait::async_trait]
        impl InboundHandler for Never {
            async fn handle(&self, _: Inbound) -> Outcome {
                Outcome::Nothing
            }
        }
        let cfg = DiscordConfig::new(crate::config::Secret::new("t"), 1);
        assert!(run_gateway(cfg, Arc::new(Never), chat, rx).await.is_ok());
    }
}
