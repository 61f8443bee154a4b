//! The Discord chat adapter: Lookout's messages over Discord's REST API.
//!
//! `DiscordChat` renders each `Message` to embeds and components (`render`)
//! and sends it through serenity's `Http` client, built with the configured
//! API URL as its proxy and serenity's own rate limiter off: the outbox paces
//! and retries deliveries itself, and serenity's limiter would ignore the
//! proxy. Requests are built from serenity's `Route`s and sent on the same
//! reqwest client `Http` uses, because serenity's typed calls turn a failure
//! into an `ErrorResponse` without headers, and a 429 body (no `code`) into an
//! undecodable one, which would lose Discord's `retry_after`.
//!
//! A post tagged with an idempotency key carries a 25-character nonce with
//! `enforce_nonce` (Discord returns the first message for a repeated nonce
//! for a few minutes) and a short tag at the end of its footer, which
//! `find_posted` looks for in recent history after a crash (Discord does not
//! return nonces when listing messages). A reply in a finding's thread goes
//! to the thread started from the finding's message, which has the
//! message's id; the thread is created on first use. `ephemeral` outside an
//! interaction is a direct message. Discord's answers become the three
//! `ChatError` kinds the outbox acts on: wait (`RateLimited`, with Discord's
//! `retry_after`), retry (`Unavailable`) or give up (`Rejected`, with
//! Discord's error code, message and what to do). The bot token is sent only
//! in the `Authorization` header and never appears in a log line or an error.
//!
//! Inbound: `verify` (Ed25519 signatures), `inbound` (interaction parsing),
//! `respond` (answering within Discord's 3 s), `http` (the interactions
//! endpoint), `gateway` (the websocket, thread replies), `commands`
//! (application command registration) and `fake` (an in-memory Discord).

use std::collections::HashMap;
use std::num::NonZeroU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use serenity::http::{Http, HttpBuilder, LightMethod, Request, Route};
use serenity::model::id::{ApplicationId, ChannelId, GuildId, InteractionId, MessageId};
use sha2::{Digest, Sha256};

use crate::config::Secret;
use crate::message::{
    Attachment, ChannelRef, ChatAdapter, ChatError, Message, MessageRef, PersonRef, Platform,
};

pub mod commands;
pub mod fake;
pub mod gateway;
pub mod http;
pub mod inbound;
pub mod invite;
pub mod render;
pub mod respond;
pub mod verify;

/// Discord's API origin; serenity's routes all start with it.
pub const DEFAULT_API_URL: &str = "https://discord.com";
/// The reaction that confirms a thread reply was kept as a note.
pub const NOTED_REACTION: &str = "📝";
/// Wait this long when Discord says 429 without saying how long.
const DEFAULT_RETRY_AFTER_SECS: u64 = 5;
/// Longest wait taken from a 429; anything longer is treated as this.
const MAX_RETRY_AFTER_SECS: u64 = 24 * 60 * 60;
/// A call that has not answered by then is treated as Discord being
/// unavailable, so a hung connection cannot stall the outbox.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Messages per history page (Discord's maximum) and pages searched by
/// `find_posted`: a crash is recovered within minutes, so the message is recent.
const HISTORY_PAGE: usize = 100;
const MAX_HISTORY_PAGES: usize = 3;
/// Entries kept in each id cache before it is cleared.
const CACHE_CAPACITY: usize = 10_000;
/// Decodes a JSON answer from Discord.
fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, CallError> {
    serde_json::from_slice(bytes).map_err(|e| {
        CallError::plain(ChatError::Unavailable(format!(
            "Discord's answer to {what} was not the expected JSON ({e}); Lookout will retry"
        )))
    })
}

/// Discord's nonce limit.
const NONCE_CHARS: usize = 25;
/// Characters of the footer tag: 48 bits, plenty among a channel's recent messages.
const TAG_CHARS: usize = 12;
/// A thread name's limit.
const THREAD_NAME_CHARS: usize = 100;
/// Discord error codes Lookout acts on.
mod codes {
    /// Unknown Channel: the thread does not exist (yet).
    pub const UNKNOWN_CHANNEL: i64 = 10003;
    /// Unknown Message.
    pub const UNKNOWN_MESSAGE: i64 = 10008;
    /// Unknown Webhook: an interaction token not (yet) known.
    pub const UNKNOWN_WEBHOOK: i64 = 10015;
    /// A thread has already been created for this message.
    pub const THREAD_EXISTS: i64 = 160004;
}

/// How to reach Discord.
#[derive(Debug, Clone)]
pub struct DiscordConfig {
    /// `https://discord.com`, or a fake's `http://127.0.0.1:PORT` in tests.
    pub api_url: String,
    /// The bot token (Developer Portal › Bot › Reset Token).
    pub bot_token: Secret,
    /// The application id (Developer Portal › General Information).
    pub application_id: u64,
    /// Whether the privileged message-content intent is on, so plain replies
    /// in a finding's thread carry their text (otherwise only replies that
    /// @-mention the bot do).
    pub message_content: bool,
    /// Which gateway shards this process runs.
    pub sharding: crate::config::Sharding,
}

impl DiscordConfig {
    /// Config for the real Discord with this token and application id.
    pub fn new(bot_token: Secret, application_id: u64) -> Self {
        Self {
            api_url: DEFAULT_API_URL.to_owned(),
            bot_token,
            application_id,
            message_content: false,
            sharding: crate::config::Sharding::Auto,
        }
    }
}

/// A failed call: what the outbox should do, and Discord's error code if any.
#[derive(Debug)]
pub(crate) struct CallError {
    /// The error as the outbox sees it.
    pub(crate) error: ChatError,
    /// Discord's JSON error code (10003, 50013, …), when the answer had one.
    pub(crate) code: Option<i64>,
}

impl From<CallError> for ChatError {
    fn from(e: CallError) -> Self {
        e.error
    }
}

impl CallError {
    fn plain(error: ChatError) -> Self {
        Self { error, code: None }
    }
}

/// A chat adapter that posts to Discord.
pub struct DiscordChat {
    http: Arc<Http>,
    /// The client `http` sends on; kept to send requests whose failures need headers.
    client: reqwest::Client,
    /// Kept to scrub error text, in case a transport error ever echoes it.
    secret: Secret,
    application_id: ApplicationId,
    message_content: bool,
    /// The bot's own user id, from `GET /users/@me`, once.
    bot_user: tokio::sync::OnceCell<u64>,
    /// Channel id → its parent channel when it is a thread, `None` when not.
    threads: Mutex<HashMap<u64, Option<u64>>>,
    /// Discord user id → the bot's direct-message channel with them.
    dms: Mutex<HashMap<u64, u64>>,
    /// How long one call may take before Discord counts as unavailable.
    timeout: Duration,
}

impl std::fmt::Debug for DiscordChat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscordChat")
            .field("api_url", &self.http.proxy)
            .field("application_id", &self.application_id)
            .finish_non_exhaustive()
    }
}

impl DiscordChat {
    /// An adapter for the Discord API at `cfg.api_url`; no request is made yet.
    pub fn new(cfg: DiscordConfig) -> Result<Self, ChatError> {
        let (http, client) = build_http(&cfg)?;
        let application_id = app_id(cfg.application_id)?;
        Ok(Self {
            http: Arc::new(http),
            client,
            secret: cfg.bot_token,
            application_id,
            message_content: cfg.message_content,
            bot_user: tokio::sync::OnceCell::new(),
            threads: Mutex::new(HashMap::new()),
            dms: Mutex::new(HashMap::new()),
            timeout: CALL_TIMEOUT,
        })
    }

    /// The same adapter giving up on a call after `timeout` instead of 30 s.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// serenity's REST client, configured with the API URL and token.
    pub fn http(&self) -> &Arc<Http> {
        &self.http
    }

    /// The application id interactions and commands belong to.
    pub fn application_id(&self) -> u64 {
        self.application_id.get()
    }

    /// Whether the message-content intent was configured on.
    pub fn message_content(&self) -> bool {
        self.message_content
    }

    /// The bot's own user id (`GET /users/@me`, asked once).
    pub async fn bot_user_id(&self) -> Result<u64, ChatError> {
        let id = self
            .bot_user
            .get_or_try_init(|| async {
                let me: Entity = self
                    .call_json(
                        "read the bot user",
                        LightMethod::Get,
                        Route::UserMe,
                        None,
                        None,
                    )
                    .await?;
                parse_id(&me.id).map(NonZeroU64::get).ok_or_else(|| {
                    ChatError::Unavailable(
                        "Discord's answer for the bot user had no valid id; Lookout will retry"
                            .to_owned(),
                    )
                })
            })
            .await?;
        Ok(*id)
    }

    /// Adds a reaction (a Unicode emoji such as `📝`) to a message in a
    /// channel or thread; a reaction already there is not an error.
    pub async fn react(&self, channel: u64, message: u64, emoji: &str) -> Result<(), ChatError> {
        let route = Route::ChannelMessageReactionMe {
            channel_id: channel_id_of(channel)?,
            message_id: message_id_of(message)?,
            reaction: emoji,
        };
        self.call("add a reaction", LightMethod::Put, route, None, None)
            .await
            .map(drop)
            .map_err(ChatError::from)
    }

    /// The parent channel of `channel` when it is a thread, `None` when it is
    /// not (or the bot cannot see it); cached, as every thread reply asks.
    pub async fn thread_parent(&self, channel: u64) -> Result<Option<u64>, ChatError> {
        if let Some(known) = lock(&self.threads).get(&channel) {
            return Ok(*known);
        }
        let route = Route::Channel {
            channel_id: channel_id_of(channel)?,
        };
        let parent = match self
            .call_json::<ChannelEntry>("read a channel", LightMethod::Get, route, None, None)
            .await
        {
            Ok(c) if matches!(c.kind, 10..=12) => c.parent_id.as_deref().and_then(parse_id),
            Ok(_) => None,
            // A channel the bot cannot see is not one of its finding threads.
            Err(CallError {
                error: ChatError::Rejected(_),
                ..
            }) => None,
            Err(e) => return Err(e.error),
        };
        let parent = parent.map(NonZeroU64::get);
        remember(&self.threads, channel, parent);
        Ok(parent)
    }

    /// Answers an interaction (`POST /interactions/{id}/{token}/callback`);
    /// the gateway's way of doing what the HTTP endpoint does in its response.
    pub async fn interaction_callback(
        &self,
        interaction_id: u64,
        token: &str,
        body: &Value,
    ) -> Result<(), ChatError> {
        let route = Route::InteractionResponse {
            interaction_id: InteractionId::from(nonzero(interaction_id, "interaction")?),
            token: checked_token(token)?,
        };
        self.call(
            "answer an interaction",
            LightMethod::Post,
            route,
            None,
            Some(body),
        )
        .await
        .map(drop)
        .map_err(ChatError::from)
    }

    /// Replaces the first answer to an interaction (within 15 minutes).
    pub async fn edit_original(&self, token: &str, body: &Value) -> Result<(), ChatError> {
        self.edit_original_call(token, body)
            .await
            .map_err(ChatError::from)
    }

    pub(crate) async fn edit_original_call(
        &self,
        token: &str,
        body: &Value,
    ) -> Result<(), CallError> {
        let route = Route::WebhookOriginalInteractionResponse {
            application_id: self.application_id,
            token: checked_token(token).map_err(CallError::plain)?,
        };
        self.call(
            "edit an interaction answer",
            LightMethod::Patch,
            route,
            None,
            Some(body),
        )
        .await
        .map(drop)
    }

    /// Posts a follow-up message to an interaction (within 15 minutes).
    pub async fn followup(&self, token: &str, body: &Value) -> Result<(), ChatError> {
        let route = Route::WebhookFollowupMessages {
            application_id: self.application_id,
            token: checked_token(token)?,
        };
        self.call(
            "post an interaction follow-up",
            LightMethod::Post,
            route,
            None,
            Some(body),
        )
        .await
        .map(drop)
        .map_err(ChatError::from)
    }

    /// The registered application commands (global, or of one guild).
    pub(crate) async fn get_commands(&self, guild: Option<u64>) -> Result<Value, ChatError> {
        let route = self.commands_route(guild)?;
        self.call_json(
            "read the application commands",
            LightMethod::Get,
            route,
            None,
            None,
        )
        .await
        .map_err(ChatError::from)
    }

    /// Replaces every registered application command at once (bulk overwrite).
    pub(crate) async fn put_commands(
        &self,
        guild: Option<u64>,
        commands: &Value,
    ) -> Result<(), ChatError> {
        let route = self.commands_route(guild)?;
        self.call(
            "register the application commands",
            LightMethod::Put,
            route,
            None,
            Some(commands),
        )
        .await
        .map(drop)
        .map_err(ChatError::from)
    }

    fn commands_route(&self, guild: Option<u64>) -> Result<Route<'static>, ChatError> {
        Ok(match guild {
            None => Route::Commands {
                application_id: self.application_id,
            },
            Some(g) => Route::GuildCommands {
                application_id: self.application_id,
                guild_id: GuildId::from(nonzero(g, "guild")?),
            },
        })
    }

    async fn send(
        &self,
        channel: &ChannelRef,
        message: &Message,
        thread: Option<&MessageRef>,
        key: Option<&str>,
    ) -> Result<MessageRef, ChatError> {
        let cid = discord_channel(channel)?;
        let parent = thread.map(message_ref_id).transpose()?;
        let tag = key.map(tag_of);
        let files: Vec<&Attachment> = message.files().collect();
        let mut body = if files.is_empty() {
            render::render(message, tag.as_deref()).payload()
        } else {
            render::render_with_files(message, tag.as_deref()).payload()
        };
        if let Some(key) = key {
            body["nonce"] = json!(nonce_of(key));
            body["enforce_nonce"] = json!(true);
        }
        let mut retried = false;
        loop {
            let target = match parent {
                Some(m) => self.ensure_thread(cid, m).await?,
                None => cid,
            };
            let route = Route::ChannelMessages {
                channel_id: ChannelId::from(target),
            };
            let sent = if files.is_empty() {
                self.call_json::<Entity>(
                    "post a message",
                    LightMethod::Post,
                    route,
                    None,
                    Some(&body),
                )
                .await
            } else {
                self.call_files("post a message with files", route, &body, &files)
                    .await
                    .and_then(|bytes| decode("post a message with files", &bytes))
            };
            match sent {
                Ok(posted) => return Ok(MessageRef(posted.id)),
                // A remembered thread was deleted since: start it again, once.
                Err(CallError {
                    code: Some(codes::UNKNOWN_CHANNEL),
                    ..
                }) if parent.is_some() && !retried => {
                    retried = true;
                    lock(&self.threads).remove(&target.get());
                }
                Err(e) => return Err(e.error),
            }
        }
    }

    /// The thread of `message` in `channel`, created from the message when it
    /// does not exist yet; a thread started from a message has its id.
    async fn ensure_thread(
        &self,
        channel: NonZeroU64,
        message: NonZeroU64,
    ) -> Result<NonZeroU64, ChatError> {
        if lock(&self.threads)
            .get(&message.get())
            .is_some_and(Option::is_some)
        {
            return Ok(message);
        }
        let name = self.thread_name(channel, message).await?;
        let route = Route::ChannelMessageThreads {
            channel_id: ChannelId::from(channel),
            message_id: MessageId::from(message),
        };
        let body = json!({"name": name, "auto_archive_duration": 10080});
        match self
            .call(
                "start a thread",
                LightMethod::Post,
                route,
                None,
                Some(&body),
            )
            .await
        {
            Ok(_) => {}
            Err(CallError {
                code: Some(codes::THREAD_EXISTS),
                ..
            }) => {}
            Err(e) => return Err(e.error),
        }
        remember(&self.threads, message.get(), Some(channel.get()));
        Ok(message)
    }

    /// A thread's name: the finding message's title, without markdown escapes.
    async fn thread_name(
        &self,
        channel: NonZeroU64,
        message: NonZeroU64,
    ) -> Result<String, ChatError> {
        let route = Route::ChannelMessage {
            channel_id: ChannelId::from(channel),
            message_id: MessageId::from(message),
        };
        let title = match self
            .call_json::<HistoryEntry>("read a message", LightMethod::Get, route, None, None)
            .await
        {
            Ok(m) => m.embeds.into_iter().find_map(|e| e.title),
            // The thread call that follows says what is wrong, with its code.
            Err(CallError {
                error: ChatError::Rejected(_),
                ..
            }) => None,
            Err(e) => return Err(e.error),
        };
        let name = title.map(|t| unescape(&t)).unwrap_or_default();
        let name = render::plain_label(&name, THREAD_NAME_CHARS);
        Ok(if name.is_empty() {
            "Lookout finding".to_owned()
        } else {
            name
        })
    }

    /// The direct-message channel with a person, opened once and cached.
    async fn dm_channel(&self, person: NonZeroU64) -> Result<NonZeroU64, ChatError> {
        if let Some(c) = lock(&self.dms).get(&person.get()).copied() {
            return nonzero(c, "channel");
        }
        let body = json!({"recipient_id": person.get().to_string()});
        let dm: Entity = self
            .call_json(
                "open a direct message",
                LightMethod::Post,
                Route::UserMeDmChannels,
                None,
                Some(&body),
            )
            .await?;
        let id = parse_id(&dm.id).ok_or_else(|| {
            ChatError::Unavailable(
                "Discord's direct-message channel had no valid id; Lookout will retry".to_owned(),
            )
        })?;
        remember(&self.dms, person.get(), id.get());
        Ok(id)
    }

    /// POSTs a message with files to a route as `multipart/form-data`: the
    /// JSON body as `payload_json` and each file as `files[n]`, matching the
    /// body's `attachments` ids. Built here rather than by serenity, whose
    /// multipart numbers every file 0.
    async fn call_files(
        &self,
        what: &'static str,
        route: Route<'_>,
        body: &Value,
        files: &[&Attachment],
    ) -> Result<axum::body::Bytes, CallError> {
        let mut form = reqwest::multipart::Form::new().text("payload_json", body.to_string());
        for (i, a) in files.iter().enumerate() {
            let part = reqwest::multipart::Part::bytes(a.bytes.clone())
                .file_name(a.filename.clone())
                .mime_str(a.media.mime())
                .map_err(|e| {
                    CallError::plain(ChatError::Rejected(format!(
                        "Lookout could not encode {} for Discord ({e}); this is a Lookout bug, please report it",
                        a.filename
                    )))
                })?;
            form = form.part(format!("files[{i}]"), part);
        }
        let mut url = route.path().into_owned();
        if let Some(proxy) = self.http.proxy.as_deref() {
            url = url.replace(DEFAULT_API_URL, proxy.trim_end_matches('/'));
        }
        let builder = self
            .client
            .post(url)
            .header(reqwest::header::AUTHORIZATION, self.http.token())
            .multipart(form);
        let result = self.send_built(what, builder).await;
        self.logged(what, result)
    }

    /// Calls a route and decodes its JSON answer.
    async fn call_json<T: DeserializeOwned>(
        &self,
        what: &'static str,
        method: LightMethod,
        route: Route<'_>,
        query: Option<Vec<(&'static str, String)>>,
        body: Option<&Value>,
    ) -> Result<T, CallError> {
        let bytes = self.call(what, method, route, query, body).await?;
        decode(what, &bytes)
    }

    /// Sends one request; maps any failure to what the outbox should do.
    async fn call(
        &self,
        what: &'static str,
        method: LightMethod,
        route: Route<'_>,
        query: Option<Vec<(&'static str, String)>>,
        body: Option<&Value>,
    ) -> Result<axum::body::Bytes, CallError> {
        let result = self.call_inner(what, method, route, query, body).await;
        self.logged(what, result)
    }

    /// Logs a call's outcome and scrubs its error.
    fn logged(
        &self,
        what: &'static str,
        result: Result<axum::body::Bytes, CallError>,
    ) -> Result<axum::body::Bytes, CallError> {
        match &result {
            Ok(_) => tracing::debug!(what, "discord call ok"),
            Err(e) => {
                tracing::debug!(what, code = ?e.code, error = %e.error, "discord call failed")
            }
        }
        result.map_err(|e| CallError {
            error: self.scrub(e.error),
            code: e.code,
        })
    }

    async fn call_inner(
        &self,
        what: &'static str,
        method: LightMethod,
        route: Route<'_>,
        query: Option<Vec<(&'static str, String)>>,
        body: Option<&Value>,
    ) -> Result<axum::body::Bytes, CallError> {
        let bytes = body.map(serde_json::to_vec).transpose().map_err(|e| {
            CallError::plain(ChatError::Rejected(format!(
                "Lookout could not encode the request to {what} ({e}); this is a Lookout bug, please report it"
            )))
        })?;
        let request = Request::new(route, method).body(bytes).params(query);
        let builder = request
            .build(&self.client, self.http.token(), self.http.proxy.as_deref())
            .map_err(|e| {
                CallError::plain(ChatError::Rejected(format!(
                    "could not build the Discord request to {what} ({e}): check the Discord api_url and bot token in the config"
                )))
            })?;
        self.send_built(what, builder).await
    }

    /// Sends a built request; maps a failure or an error status.
    async fn send_built(
        &self,
        what: &'static str,
        builder: reqwest::RequestBuilder,
    ) -> Result<axum::body::Bytes, CallError> {
        let response = builder.timeout(self.timeout).send().await.map_err(|e| {
            let reason = if e.is_timeout() {
                format!("no answer within {} ms", self.timeout.as_millis())
            } else {
                // Without the URL: an interaction URL carries the interaction's token.
                error_chain(&e.without_url())
            };
            CallError::plain(ChatError::Unavailable(format!(
                "could not reach Discord to {what}: {reason}; Lookout will retry"
            )))
        })?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = response.bytes().await.map_err(|e| {
            CallError::plain(ChatError::Unavailable(format!(
                "Discord's answer to {what} broke off ({}); Lookout will retry",
                error_chain(&e.without_url())
            )))
        })?;
        if status.is_success() {
            return Ok(body);
        }
        Err(map_status(what, status.as_u16(), &headers, &body))
    }

    /// Removes the token from an error's text, should anything ever echo it.
    fn scrub(&self, err: ChatError) -> ChatError {
        let token = self.secret.expose().trim();
        if token.is_empty() {
            return err;
        }
        let clean = |s: String| s.replace(token, "[redacted]");
        match err {
            ChatError::Unavailable(s) => ChatError::Unavailable(clean(s)),
            ChatError::Rejected(s) => ChatError::Rejected(clean(s)),
            e => e,
        }
    }
}

#[async_trait]
impl ChatAdapter for DiscordChat {
    fn platform(&self) -> Platform {
        Platform::Discord
    }

    /// Discord allows about five messages per five seconds per channel;
    /// one a second leaves room for edits and reactions.
    fn min_interval(&self) -> Duration {
        Duration::from_secs(1)
    }

    async fn post(
        &self,
        channel: &ChannelRef,
        message: &Message,
        thread: Option<&MessageRef>,
    ) -> Result<MessageRef, ChatError> {
        self.send(channel, message, thread, None).await
    }

    async fn post_keyed(
        &self,
        channel: &ChannelRef,
        message: &Message,
        thread: Option<&MessageRef>,
        key: &str,
    ) -> Result<MessageRef, ChatError> {
        self.send(channel, message, thread, Some(key)).await
    }

    async fn find_posted(
        &self,
        channel: &ChannelRef,
        thread: Option<&MessageRef>,
        key: &str,
    ) -> Result<Option<MessageRef>, ChatError> {
        let cid = discord_channel(channel)?;
        let target = match thread {
            Some(m) => message_ref_id(m)?,
            None => cid,
        };
        let bot = self.bot_user_id().await?.to_string();
        let needle = format!("ref {}", tag_of(key));
        let mut before: Option<String> = None;
        for _ in 0..MAX_HISTORY_PAGES {
            let mut query = vec![("limit", HISTORY_PAGE.to_string())];
            if let Some(b) = before.take() {
                query.push(("before", b));
            }
            let route = Route::ChannelMessages {
                channel_id: ChannelId::from(target),
            };
            let page: Vec<HistoryEntry> = match self
                .call_json(
                    "read recent messages",
                    LightMethod::Get,
                    route,
                    Some(query),
                    None,
                )
                .await
            {
                Ok(p) => p,
                // No thread yet: nothing was posted in it.
                Err(CallError {
                    code: Some(codes::UNKNOWN_CHANNEL),
                    ..
                }) if thread.is_some() => return Ok(None),
                Err(e) => return Err(e.error),
            };
            if let Some(m) = page
                .iter()
                .find(|m| m.author.id == bot && m.has_tag(&needle))
            {
                return Ok(Some(MessageRef(m.id.clone())));
            }
            match page.last() {
                Some(last) if page.len() >= HISTORY_PAGE => before = Some(last.id.clone()),
                _ => return Ok(None),
            }
        }
        Ok(None)
    }

    async fn update(
        &self,
        channel: &ChannelRef,
        target: &MessageRef,
        message: &Message,
    ) -> Result<(), ChatError> {
        let route = Route::ChannelMessage {
            channel_id: ChannelId::from(discord_channel(channel)?),
            message_id: MessageId::from(message_ref_id(target)?),
        };
        let body = render::render(message, None).payload();
        self.call(
            "edit a message",
            LightMethod::Patch,
            route,
            None,
            Some(&body),
        )
        .await
        .map(drop)
        .map_err(ChatError::from)
    }

    async fn ephemeral(
        &self,
        channel: &ChannelRef,
        person: &PersonRef,
        message: &Message,
    ) -> Result<(), ChatError> {
        // Discord shows a message to one person only in answer to an
        // interaction; outside one, a direct message is the private way.
        let _ = discord_channel(channel)?;
        if person.platform != Platform::Discord {
            return Err(ChatError::Rejected(format!(
                "{person} is not a Discord user; Lookout cannot message them on Discord"
            )));
        }
        let user = parse_id(&person.id)
            .ok_or_else(|| ChatError::Rejected(format!("{person} is not a Discord user id")))?;
        let dm = self.dm_channel(user).await?;
        let route = Route::ChannelMessages {
            channel_id: ChannelId::from(dm),
        };
        let body = render::render(message, None).payload();
        self.call(
            "send a direct message",
            LightMethod::Post,
            route,
            None,
            Some(&body),
        )
        .await
        .map(drop)
        .map_err(ChatError::from)
    }
}

/// serenity's `Http` for `cfg`, and the reqwest client it sends on.
fn build_http(cfg: &DiscordConfig) -> Result<(Http, reqwest::Client), ChatError> {
    let token = cfg.bot_token.expose().trim();
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ChatError::Rejected(
            "the Discord bot token is empty or has spaces: set it to the token from the Developer Portal (Bot › Reset Token)"
                .to_owned(),
        ));
    }
    let base = cfg.api_url.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(base).map_err(|e| {
        ChatError::Rejected(format!(
            "Discord api_url `{}` is not a URL ({e}): use {DEFAULT_API_URL}",
            cfg.api_url
        ))
    })?;
    let ok = match url.scheme() {
        "https" => true,
        // Plain HTTP would send the token in the clear: only for a local fake.
        "http" => is_loopback(&url),
        _ => false,
    };
    if !ok || url.path() != "/" || url.query().is_some() {
        return Err(ChatError::Rejected(format!(
            "Discord api_url `{}` must be an https origin such as {DEFAULT_API_URL} (http only for a fake on 127.0.0.1)",
            cfg.api_url
        )));
    }
    let client = reqwest::Client::builder()
        .use_rustls_tls()
        .connect_timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| {
            ChatError::Rejected(format!(
                "could not set up an HTTPS client for Discord: {}",
                error_chain(&e)
            ))
        })?;
    let http = HttpBuilder::new(token)
        .client(client.clone())
        .proxy(base)
        .ratelimiter_disabled(true)
        .application_id(app_id(cfg.application_id)?)
        .build();
    Ok((http, client))
}

/// serenity's `Http` for the gateway client: the same settings as the adapter's.
pub(crate) fn gateway_http(cfg: &DiscordConfig) -> Result<Http, ChatError> {
    build_http(cfg).map(|(http, _)| http)
}

fn app_id(id: u64) -> Result<ApplicationId, ChatError> {
    NonZeroU64::new(id).map(ApplicationId::from).ok_or_else(|| {
        ChatError::Rejected(
            "the Discord application id is not set: copy it from the Developer Portal (General Information)"
                .to_owned(),
        )
    })
}

fn is_loopback(url: &reqwest::Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    host == "localhost"
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Maps a non-2xx answer; the text names Discord's code, message and the fix.
fn map_status(
    what: &str,
    status: u16,
    headers: &reqwest::header::HeaderMap,
    body: &[u8],
) -> CallError {
    let json: Option<Value> = serde_json::from_slice(body).ok();
    let code = json
        .as_ref()
        .and_then(|v| v.get("code"))
        .and_then(Value::as_i64);
    if status == 429 {
        return CallError {
            error: ChatError::RateLimited {
                retry_after_secs: retry_after(headers, json.as_ref()),
            },
            code,
        };
    }
    if status >= 500 || status == 408 {
        return CallError {
            error: ChatError::Unavailable(format!(
                "Discord answered HTTP {status} to {what}; Lookout will retry"
            )),
            code,
        };
    }
    let message = json
        .as_ref()
        .and_then(|v| v.get("message"))
        .and_then(Value::as_str)
        .map(|m| render::plain_label(m, 200))
        .unwrap_or_else(|| "no message".to_owned());
    let shown_code = code.map_or_else(|| "no code".to_owned(), |c| format!("code {c}"));
    CallError {
        error: ChatError::Rejected(format!(
            "Discord refused to {what}: HTTP {status}, {shown_code}: {message} ({})",
            hint(status, code)
        )),
        code,
    }
}

/// What to do about a refusal.
fn hint(status: u16, code: Option<i64>) -> &'static str {
    match (status, code) {
        (401, _) | (_, Some(0)) => {
            "check the Discord bot token in the config (reset it in the Developer Portal if it leaked)"
        }
        (_, Some(codes::UNKNOWN_CHANNEL)) => {
            "the channel does not exist or the bot cannot see it: check the route, and invite the bot"
        }
        (_, Some(codes::UNKNOWN_MESSAGE)) => "the message was deleted, or is not in that channel",
        (_, Some(codes::UNKNOWN_WEBHOOK) | Some(10062)) => {
            "the interaction expired (Discord allows 3 s to answer and 15 minutes to follow up)"
        }
        (_, Some(50001)) => "the bot cannot see the channel: give it View Channel there",
        (_, Some(50013)) => {
            "give the bot Send Messages, Embed Links, Create Public Threads, Send Messages in Threads and Add Reactions in the channel"
        }
        (_, Some(50007)) => "the person does not accept direct messages from server members",
        (_, Some(50035)) => {
            "the message did not fit Discord's limits; this is a Lookout bug, please report it"
        }
        (_, Some(codes::THREAD_EXISTS)) => "a thread already exists for the message",
        (403, _) => "the bot lacks a permission in that channel",
        (404, _) => "Discord does not know that channel or message",
        _ => "see https://discord.com/developers/docs/topics/opcodes-and-status-codes",
    }
}

/// Seconds to wait after a 429: the body's `retry_after` (fractional
/// seconds), else the `Retry-After` or `X-RateLimit-Reset-After` header,
/// rounded up, at least one.
fn retry_after(headers: &reqwest::header::HeaderMap, body: Option<&Value>) -> u64 {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
    };
    let secs = body
        .and_then(|b| b.get("retry_after"))
        .and_then(Value::as_f64)
        .or_else(|| header("retry-after"))
        .or_else(|| header("x-ratelimit-reset-after"))
        .filter(|s| s.is_finite() && *s >= 0.0);
    match secs {
        // Bounded above, so the cast cannot overflow.
        Some(s) => (s.min(MAX_RETRY_AFTER_SECS as f64).ceil() as u64).max(1),
        None => DEFAULT_RETRY_AFTER_SECS,
    }
}

/// An error and its sources on one line (the useful part is often a source).
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        out.push_str(": ");
        out.push_str(&s.to_string());
        next = s.source();
    }
    out
}

/// The channel id of a Discord channel reference.
fn discord_channel(channel: &ChannelRef) -> Result<NonZeroU64, ChatError> {
    if channel.platform != Platform::Discord {
        return Err(ChatError::Rejected(format!(
            "{channel} is not a Discord channel; the Discord adapter posts to discord:<id> channels only"
        )));
    }
    parse_id(&channel.id)
        .ok_or_else(|| ChatError::Rejected(format!("{channel} is not a Discord channel id")))
}

fn message_ref_id(m: &MessageRef) -> Result<NonZeroU64, ChatError> {
    parse_id(&m.0).ok_or_else(|| {
        ChatError::Rejected(format!(
            "`{}` is not a Discord message id; was the message posted on another platform?",
            render::plain_label(&m.0, 40)
        ))
    })
}

/// A snowflake: decimal digits, not zero.
pub(crate) fn parse_id(s: &str) -> Option<NonZeroU64> {
    if s.is_empty() || s.len() > 20 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().and_then(NonZeroU64::new)
}

fn nonzero(id: u64, what: &str) -> Result<NonZeroU64, ChatError> {
    NonZeroU64::new(id).ok_or_else(|| ChatError::Rejected(format!("0 is not a Discord {what} id")))
}

fn channel_id_of(id: u64) -> Result<ChannelId, ChatError> {
    nonzero(id, "channel").map(ChannelId::from)
}

fn message_id_of(id: u64) -> Result<MessageId, ChatError> {
    nonzero(id, "message").map(MessageId::from)
}

/// An interaction token goes into a URL path: only URL-safe characters pass.
pub(crate) fn checked_token(token: &str) -> Result<&str, ChatError> {
    if inbound::valid_token(token) {
        Ok(token)
    } else {
        Err(ChatError::Rejected(
            "the interaction token is malformed; the interaction cannot be answered".to_owned(),
        ))
    }
}

/// The nonce sent with a keyed post: Discord allows 25 characters.
pub fn nonce_of(key: &str) -> String {
    let mut hex = digest_hex(key);
    hex.truncate(NONCE_CHARS);
    hex
}

/// The tag written at the end of a keyed post's footer (`ref <tag>`).
pub fn tag_of(key: &str) -> String {
    let hex = digest_hex(key);
    hex[hex.len() - TAG_CHARS..].to_owned()
}

fn digest_hex(key: &str) -> String {
    hex::encode(Sha256::digest(key.as_bytes()))
}

/// Removes the markdown escapes Lookout added (a thread name shows no
/// markdown); the zero-width spaces that break `@` and `://` stay.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' if chars.peek().is_some_and(|n| n.is_ascii_punctuation()) => {
                if let Some(n) = chars.next() {
                    out.push(n);
                }
            }
            c => out.push(c),
        }
    }
    out
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The maps hold plain ids; a panic elsewhere cannot leave them inconsistent.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Inserts into a bounded cache, clearing it when full (ids are cheap to ask again).
fn remember<V>(cache: &Mutex<HashMap<u64, V>>, key: u64, value: V) {
    let mut map = lock(cache);
    if map.len() >= CACHE_CAPACITY && !map.contains_key(&key) {
        map.clear();
    }
    map.insert(key, value);
}

// Lean answer shapes: only the fields Lookout reads, so a field Discord adds
// or a component type serenity does not know yet cannot fail the decoding
// after Discord has already acted (a retry would then post twice).

#[derive(Deserialize)]
struct Entity {
    id: String,
}

#[derive(Deserialize)]
struct ChannelEntry {
    #[serde(rename = "type", default)]
    kind: u64,
    #[serde(default)]
    parent_id: Option<String>,
}

#[derive(Deserialize)]
struct HistoryEntry {
    id: String,
    author: Entity,
    #[serde(default)]
    embeds: Vec<EmbedEntry>,
}

#[derive(Deserialize)]
struct EmbedEntry {
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    footer: Option<FooterEntry>,
}

#[derive(Deserialize)]
struct FooterEntry {
    #[serde(default)]
    text: String,
}

impl HistoryEntry {
    fn has_tag(&self, needle: &str) -> bool {
        self.embeds
            .iter()
            .filter_map(|e| e.footer.as_ref())
            .any(|f| f.text.ends_with(needle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str, token: &str, app: u64) -> DiscordConfig {
        DiscordConfig {
            api_url: url.to_owned(),
            bot_token: Secret::new(token),
            application_id: app,
            message_content: false,
            sharding: crate::config::Sharding::Auto,
        }
    }

    #[test]
    fn config_checks_url_token_and_application() {
        assert!(DiscordChat::new(cfg(DEFAULT_API_URL, "abc.def", 1)).is_ok());
        assert!(DiscordChat::new(cfg("http://127.0.0.1:9", "abc", 1)).is_ok());
        assert!(DiscordChat::new(cfg("http://localhost:9/", "abc", 1)).is_ok());
        assert!(DiscordChat::new(cfg("http://[::1]:9", "abc", 1)).is_ok());
        for bad in [
            "http://discord.example",
            "ftp://x",
            "not a url",
            "",
            "https://discord.com/api/v10",
        ] {
            match DiscordChat::new(cfg(bad, "abc", 1)) {
                Err(ChatError::Rejected(s)) => assert!(s.contains("api_url"), "{s}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        for bad in ["", "  ", "a b", "a\nb"] {
            let e = DiscordChat::new(cfg(DEFAULT_API_URL, bad, 1)).unwrap_err();
            assert!(e.to_string().contains("token"), "{e}");
        }
        let e = DiscordChat::new(cfg(DEFAULT_API_URL, "abc", 0)).unwrap_err();
        assert!(e.to_string().contains("application id"), "{e}");
        let chat = DiscordChat::new(cfg(DEFAULT_API_URL, "sekrit-token", 1)).unwrap();
        assert!(!format!("{chat:?}").contains("sekrit"));
    }

    #[test]
    fn statuses_map_to_what_the_outbox_does() {
        let h = reqwest::header::HeaderMap::new();
        let e = map_status(
            "post",
            429,
            &h,
            br#"{"message":"You are being rate limited.","retry_after":6.2,"global":false}"#,
        );
        assert!(matches!(
            e.error,
            ChatError::RateLimited {
                retry_after_secs: 7
            }
        ));
        let mut with_header = reqwest::header::HeaderMap::new();
        with_header.insert("retry-after", "3".parse().unwrap());
        let e = map_status("post", 429, &with_header, b"");
        assert!(matches!(
            e.error,
            ChatError::RateLimited {
                retry_after_secs: 3
            }
        ));
        let e = map_status("post", 429, &h, b"{\"retry_after\": 1e300}");
        assert!(matches!(
            e.error,
            ChatError::RateLimited {
                retry_after_secs: MAX_RETRY_AFTER_SECS
            }
        ));
        let e = map_status("post", 429, &h, b"{\"retry_after\": -4}");
        assert!(matches!(
            e.error,
            ChatError::RateLimited {
                retry_after_secs: DEFAULT_RETRY_AFTER_SECS
            }
        ));
        assert!(matches!(
            map_status("post", 502, &h, b"").error,
            ChatError::Unavailable(_)
        ));
        let e = map_status(
            "post a message",
            403,
            &h,
            br#"{"code":50013,"message":"Missing Permissions"}"#,
        );
        assert_eq!(e.code, Some(50013));
        match e.error {
            ChatError::Rejected(s) => {
                assert!(
                    s.contains("50013") && s.contains("Missing Permissions"),
                    "{s}"
                );
                assert!(s.contains("Send Messages"), "{s}");
            }
            other => panic!("{other:?}"),
        }
        let e = map_status("post", 400, &h, b"<html>");
        assert!(matches!(e.error, ChatError::Rejected(s) if s.contains("no code")));
    }

    #[test]
    fn nonces_and_tags_are_short_stable_and_distinct() {
        let a = nonce_of("outbox:1");
        assert_eq!(a.len(), NONCE_CHARS);
        assert_eq!(a, nonce_of("outbox:1"));
        assert_ne!(a, nonce_of("outbox:2"));
        assert_eq!(tag_of("outbox:1").len(), TAG_CHARS);
        assert_ne!(tag_of("outbox:1"), tag_of("outbox:2"));
    }

    #[test]
    fn tags_match_only_at_the_end_of_a_footer() {
        let entry = |footer: &str| {
            serde_json::from_value::<HistoryEntry>(json!({
                "id": "5", "author": {"id": "1"},
                "embeds": [{"footer": {"text": footer}}, {"type": "brand_new"}],
                "components": [{"type": 99}]
            }))
            .unwrap()
        };
        assert!(entry("F-1 · ref abc").has_tag("ref abc"));
        assert!(!entry("ref abc · F-1").has_tag("ref abc"));
        assert!(!entry("ref abcd").has_tag("ref abc"));
    }

    #[test]
    fn ids_and_tokens_are_checked() {
        assert_eq!(parse_id("0"), None);
        assert_eq!(parse_id("18446744073709551616"), None);
        assert_eq!(parse_id("-1"), None);
        assert_eq!(parse_id("12").map(NonZeroU64::get), Some(12));
        assert!(checked_token("abc.DEF_12-x").is_ok());
        for bad in ["", "a/b", "a?b", "a b", "a#b", "../x"] {
            assert!(checked_token(bad).is_err(), "{bad}");
        }
        assert_eq!(unescape("a\\*b\\\\c@\u{200B}d"), "a*b\\c@\u{200B}d");
    }
}
