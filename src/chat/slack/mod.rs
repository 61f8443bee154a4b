//! The Slack chat adapter: Lookout's messages over the Slack Web API.
//!
//! `SlackChat` renders each `Message` to Block Kit (`blocks`) and sends it with
//! slack-morphism's hyper client: `chat.postMessage` (in a thread when asked,
//! tagged with message metadata when the outbox gives an idempotency key),
//! `chat.update` and `chat.postEphemeral`, to channels given by Slack id
//! (`slack:C0123`). For inbound requests it opens the "Add note" modal
//! (`views.open`) and confirms a kept thread reply with a reaction
//! (`reactions.add`). Slack's answers become the three
//! `ChatError` kinds the outbox acts on: wait (`RateLimited`), retry
//! (`Unavailable`) or give up (`Rejected`, with the Slack error code and what to
//! do about it). The bot token is sent only in the `Authorization` header and
//! never appears in a log line or an error. `fake` is an in-memory Slack Web API
//! for tests and the demo. Inbound HTTP lives in `verify` (signatures),
//! `inbound` (payload parsing) and `http` (the axum endpoints).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::{
    SlackApiChatPostEphemeralRequest, SlackApiChatPostMessageRequest, SlackApiChatUpdateRequest,
    SlackApiToken, SlackApiTokenType, SlackApiTokenValue, SlackBlock, SlackChannelId, SlackClient,
    SlackClientHyperConnector, SlackClientHyperHttpsConnector, SlackMessageContent,
    SlackMessageMetadata, SlackTs, SlackUserId,
};

use crate::config::Secret;
use crate::domain::FindingId;
use crate::message::{
    ChannelRef, ChatAdapter, ChatError, Message, MessageRef, PersonRef, Platform,
};

pub mod blocks;
pub mod fake;
pub mod fake_socket;
mod files;
pub mod http;
pub mod inbound;
pub mod socket;
pub mod verify;

/// Slack's Web API base URL.
pub const DEFAULT_API_URL: &str = "https://slack.com/api/";
/// The metadata `event_type` that marks messages posted by the outbox.
pub const METADATA_EVENT_TYPE: &str = "lookout_outbox";
/// Wait this long when Slack says `ratelimited` without a `Retry-After`.
const DEFAULT_RETRY_AFTER_SECS: u64 = 30;
/// A call that has not answered by then is treated as Slack being unavailable,
/// so a hung connection cannot stall the outbox.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// `conversations.history` page size and page count searched by `find_posted`:
/// a crash is recovered within minutes, so the message is among the newest.
const HISTORY_PAGE: u16 = 100;
const MAX_HISTORY_PAGES: usize = 3;
/// `conversations.replies` pages searched (Tier 3 for apps like ours; only used after a crash).
const REPLIES_PAGE: u16 = 200;
const MAX_REPLIES_PAGES: usize = 5;

/// How to reach Slack.
#[derive(Debug, Clone)]
pub struct SlackConfig {
    /// Web API base URL; `https://slack.com/api/` except in tests.
    pub api_url: String,
    /// The bot user OAuth token (`xoxb-…`).
    pub bot_token: Secret,
}

impl SlackConfig {
    /// Config for the real Slack with this bot token.
    pub fn new(bot_token: Secret) -> Self {
        Self {
            api_url: DEFAULT_API_URL.to_owned(),
            bot_token,
        }
    }
}

/// A chat adapter that posts to Slack.
pub struct SlackChat {
    client: SlackClient<SlackClientHyperHttpsConnector>,
    token: SlackApiToken,
    /// Kept to scrub error text, in case a transport error ever echoes it.
    secret: Secret,
    /// Sends file bytes to the upload URLs Slack hands out (no token goes there).
    uploads: reqwest::Client,
}

impl SlackChat {
    /// An adapter for the Slack Web API at `cfg.api_url`; no request is made yet.
    pub fn new(cfg: SlackConfig) -> Result<Self, ChatError> {
        if cfg.bot_token.expose().trim().is_empty() {
            return Err(ChatError::Rejected(
                "the Slack bot token is empty: set it to the app's Bot User OAuth Token (xoxb-…)"
                    .to_owned(),
            ));
        }
        let url = reqwest::Url::parse(&cfg.api_url).map_err(|e| {
            ChatError::Rejected(format!(
                "Slack api_url `{}` is not a URL ({e}): use {DEFAULT_API_URL}",
                cfg.api_url
            ))
        })?;
        let builder = hyper_rustls::HttpsConnectorBuilder::new().with_webpki_roots();
        let https = match url.scheme() {
            "https" => builder.https_only().enable_http1().enable_http2().build(),
            // Plain HTTP would send the token in the clear: only for a local fake.
            "http" if is_loopback(&url) => builder.https_or_http().enable_http1().build(),
            _ => {
                return Err(ChatError::Rejected(format!(
                    "Slack api_url `{}` must be an https URL (http only for a fake on 127.0.0.1): use {DEFAULT_API_URL}",
                    cfg.api_url
                )));
            }
        };
        // slack-morphism joins the base and the method with a `/`.
        let base = cfg.api_url.trim_end_matches('/');
        let connector = SlackClientHyperConnector::with_connector(https).with_slack_api_url(base);
        let token = SlackApiToken::new(SlackApiTokenValue(cfg.bot_token.expose().to_owned()))
            .with_token_type(SlackApiTokenType::Bot);
        let uploads = reqwest::Client::builder()
            .build()
            .map_err(|e| ChatError::Rejected(format!("could not start an HTTP client: {e}")))?;
        Ok(Self {
            client: SlackClient::new(connector),
            token,
            secret: cfg.bot_token,
            uploads,
        })
    }

    /// The Slack id of a channel; channels of another platform are refused.
    fn channel_id(&self, channel: &ChannelRef) -> Result<String, ChatError> {
        if channel.platform == Platform::Slack {
            Ok(channel.id.clone())
        } else {
            Err(ChatError::Rejected(format!(
                "{channel} is not a Slack channel; Slack channels are written slack:C0123"
            )))
        }
    }

    /// Opens the "Add note" modal for `finding` in answer to the click that
    /// gave `trigger_id` (valid for 3 s), remembering the channel it came from.
    pub async fn open_note_dialog(
        &self,
        trigger_id: &str,
        finding: FindingId,
        channel: &ChannelRef,
    ) -> Result<(), ChatError> {
        let req = serde_json::json!({
            "trigger_id": trigger_id,
            "view": inbound::note_view(finding, &self.channel_id(channel)?),
        });
        let _: serde_json::Value = self.post_json("views.open", channel, &req).await?;
        Ok(())
    }

    /// Opens the private "Connect by private key" modal in answer to `/connect … key`.
    pub async fn open_key_dialog(
        &self,
        trigger_id: &str,
        dialog: &crate::message::KeyDialog,
        channel: &ChannelRef,
    ) -> Result<(), ChatError> {
        let req = serde_json::json!({
            "trigger_id": trigger_id,
            "view": inbound::key_view(dialog, &self.channel_id(channel)?),
        });
        let _: serde_json::Value = self.post_json("views.open", channel, &req).await?;
        Ok(())
    }

    /// Adds the reaction `emoji` (a name like `memo`, no colons) to a message.
    pub async fn react(
        &self,
        channel: &ChannelRef,
        message: &MessageRef,
        emoji: &str,
    ) -> Result<(), ChatError> {
        let id = self.channel_id(channel)?;
        let req = serde_json::json!({
            "channel": id,
            "timestamp": message.0,
            "name": emoji.trim_matches(':'),
        });
        match self
            .post_json::<_, serde_json::Value>("reactions.add", channel, &req)
            .await
        {
            Err(ChatError::Rejected(e)) if e.contains("already_reacted") => Ok(()),
            other => other.map(drop),
        }
    }

    async fn send(
        &self,
        channel: &ChannelRef,
        message: &Message,
        thread: Option<&MessageRef>,
        key: Option<&str>,
    ) -> Result<MessageRef, ChatError> {
        // A message with files is a share of them, which carries no metadata:
        // the outbox staged them first and finds the share by file id, not key.
        if message.files().next().is_some() {
            let staged = self.stage(channel, message).await?;
            return self.share(channel, &staged, thread).await;
        }
        let id = self.channel_id(channel)?;
        let mut content = content(message)?;
        if let Some(key) = key {
            content = content.with_metadata(outbox_metadata(key));
        }
        let req = SlackApiChatPostMessageRequest::new(SlackChannelId(id), content)
            .opt_thread_ts(thread.map(|t| SlackTs(t.0.clone())))
            // Deep links would otherwise unfurl into large Klaviyo previews.
            .with_unfurl_links(false)
            .with_unfurl_media(false)
            // A second fence behind the escaping: Slack links no bare URL,
            // channel or name in the fallback text.
            .with_parse(NO_PARSE.into())
            .with_link_names(false);
        let posted: Posted = self.post_json("chat.postMessage", channel, &req).await?;
        Ok(MessageRef(posted.ts))
    }

    /// Calls a Web API method with a JSON body.
    async fn post_json<RQ, RS>(
        &self,
        method: &'static str,
        channel: &ChannelRef,
        req: &RQ,
    ) -> Result<RS, ChatError>
    where
        RQ: serde::Serialize + Send + Sync,
        RS: DeserializeOwned + Send,
    {
        let session = self.client.open_session(&self.token);
        let call = session.http_session_api.http_post(method, req, None);
        let res = tokio::time::timeout(CALL_TIMEOUT, call).await;
        self.finish(method, Some(channel), res)
    }

    /// Calls a Web API method with query parameters.
    async fn get<RS>(
        &self,
        method: &'static str,
        channel: Option<&ChannelRef>,
        params: &[(&str, Option<String>)],
    ) -> Result<RS, ChatError>
    where
        RS: DeserializeOwned + Send,
    {
        // slack-morphism wants owned pairs of borrowed values.
        let params: Vec<(&str, Option<&String>)> =
            params.iter().map(|(k, v)| (*k, v.as_ref())).collect();
        let session = self.client.open_session(&self.token);
        let call = session.http_session_api.http_get(method, &params, None);
        let res = tokio::time::timeout(CALL_TIMEOUT, call).await;
        self.finish(method, channel, res)
    }

    /// Logs a call's outcome and maps its error.
    fn finish<RS>(
        &self,
        method: &'static str,
        channel: Option<&ChannelRef>,
        res: Result<Result<RS, SlackClientError>, tokio::time::error::Elapsed>,
    ) -> Result<RS, ChatError> {
        let channel = channel.map(ToString::to_string).unwrap_or_default();
        let err = match res {
            Ok(Ok(v)) => {
                tracing::debug!(method, channel, "slack call ok");
                return Ok(v);
            }
            Ok(Err(e)) => map_error(method, e),
            Err(_) => ChatError::Unavailable(format!(
                "Slack did not answer {method} within {} s; Lookout will retry",
                CALL_TIMEOUT.as_secs()
            )),
        };
        let err = self.scrub(err);
        tracing::debug!(method, channel, error = %err, "slack call failed");
        Err(err)
    }

    /// Removes the token from an error's text, should a transport error ever echo it.
    fn scrub(&self, err: ChatError) -> ChatError {
        let token = self.secret.expose();
        let clean = |s: String| s.replace(token, "[redacted]");
        match err {
            ChatError::Unavailable(s) => ChatError::Unavailable(clean(s)),
            ChatError::Rejected(s) => ChatError::Rejected(clean(s)),
            e @ (ChatError::RateLimited { .. } | ChatError::NotConnected(_)) => e,
        }
    }

    /// Searches pages of history (or a thread) for the message tagged with `key`.
    async fn search(
        &self,
        method: &'static str,
        channel: &ChannelRef,
        base: Vec<(&'static str, Option<String>)>,
        pages: usize,
        key: &str,
    ) -> Result<Option<MessageRef>, ChatError> {
        let mut cursor: Option<String> = None;
        for _ in 0..pages {
            let mut params = base.clone();
            if let Some(c) = cursor.take() {
                params.push(("cursor", Some(c)));
            }
            let page: HistoryPage = self.get(method, Some(channel), &params).await?;
            if let Some(m) = page.messages.iter().find(|m| m.has_key(key)) {
                return Ok(Some(MessageRef(m.ts.clone())));
            }
            match next_cursor(page.response_metadata) {
                Some(next) => cursor = Some(next),
                None => return Ok(None),
            }
        }
        Ok(None)
    }
}

#[async_trait]
impl ChatAdapter for SlackChat {
    fn platform(&self) -> Platform {
        Platform::Slack
    }

    /// Slack allows about one message a second per channel.
    fn min_interval(&self) -> std::time::Duration {
        std::time::Duration::from_secs(1)
    }

    async fn post(
        &self,
        channel: &ChannelRef,
        message: &Message,
        thread: Option<&MessageRef>,
    ) -> Result<MessageRef, ChatError> {
        self.send(channel, message, thread, None).await
    }

    async fn stage_files(
        &self,
        channel: &ChannelRef,
        message: &Message,
    ) -> Result<Option<Message>, ChatError> {
        self.stage(channel, message).await.map(Some)
    }

    async fn find_shared(
        &self,
        channel: &ChannelRef,
        message: &Message,
    ) -> Result<Option<MessageRef>, ChatError> {
        self.find_share(channel, message).await
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
        let id = self.channel_id(channel)?;
        let mut params = vec![
            ("channel", Some(id)),
            ("include_all_metadata", Some("true".to_owned())),
        ];
        // slack-morphism's typed `conversations.replies` cannot ask for
        // metadata, so both lookups go through its generic GET.
        match thread {
            None => {
                params.push(("limit", Some(HISTORY_PAGE.to_string())));
                self.search(
                    "conversations.history",
                    channel,
                    params,
                    MAX_HISTORY_PAGES,
                    key,
                )
                .await
            }
            Some(parent) => {
                params.push(("ts", Some(parent.0.clone())));
                params.push(("limit", Some(REPLIES_PAGE.to_string())));
                self.search(
                    "conversations.replies",
                    channel,
                    params,
                    MAX_REPLIES_PAGES,
                    key,
                )
                .await
            }
        }
    }

    async fn update(
        &self,
        channel: &ChannelRef,
        target: &MessageRef,
        message: &Message,
    ) -> Result<(), ChatError> {
        let id = self.channel_id(channel)?;
        let req = SlackApiChatUpdateRequest::new(
            SlackChannelId(id),
            content(message)?,
            SlackTs(target.0.clone()),
        )
        .with_parse(NO_PARSE.into())
        .with_link_names(false);
        let _: Posted = self.post_json("chat.update", channel, &req).await?;
        Ok(())
    }

    async fn ephemeral(
        &self,
        channel: &ChannelRef,
        user: &PersonRef,
        message: &Message,
    ) -> Result<(), ChatError> {
        let id = self.channel_id(channel)?;
        if user.platform != Platform::Slack {
            return Err(ChatError::Rejected(format!("{user} is not a Slack user")));
        }
        let req = SlackApiChatPostEphemeralRequest::new(
            SlackChannelId(id),
            SlackUserId(user.id.clone()),
            content(message)?,
        )
        .with_parse(NO_PARSE.into())
        .with_link_names(false);
        let _: serde_json::Value = self.post_json("chat.postEphemeral", channel, &req).await?;
        Ok(())
    }
}

/// Slack's `parse` mode for every message Lookout sends: nothing in the text
/// is turned into a link or mention beyond the `<…>` markup Lookout wrote.
const NO_PARSE: &str = "none";

/// Text and blocks of a message, in slack-morphism's types.
fn content(message: &Message) -> Result<SlackMessageContent, ChatError> {
    let (blocks, text) = blocks::render(message);
    let blocks: Vec<SlackBlock> =
        serde_json::from_value(serde_json::Value::Array(blocks)).map_err(|e| {
            ChatError::Rejected(format!(
                "Lookout rendered a Slack block slack-morphism cannot carry ({e}); this is a Lookout bug, please report it"
            ))
        })?;
    Ok(SlackMessageContent::new()
        .with_text(text)
        .with_blocks(blocks))
}

fn outbox_metadata(key: &str) -> SlackMessageMetadata {
    SlackMessageMetadata::new(METADATA_EVENT_TYPE.to_owned())
        .with_event_payload(HashMap::from([("key".to_owned(), key.to_owned())]))
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

/// Maps a slack-morphism error to what the outbox should do; the text names
/// the Slack error code and the fix, and never the token.
fn map_error(method: &str, err: SlackClientError) -> ChatError {
    match err {
        SlackClientError::RateLimitError(e) => ChatError::RateLimited {
            retry_after_secs: e
                .retry_after
                .map_or(DEFAULT_RETRY_AFTER_SECS, |d| d.as_secs().max(1)),
        },
        SlackClientError::ApiError(e) => api_error(method, &e.code),
        SlackClientError::HttpError(e) => {
            let status = e.status_code;
            if status.is_server_error() || status.as_u16() == 408 {
                ChatError::Unavailable(format!(
                    "Slack answered HTTP {status} to {method}; Lookout will retry"
                ))
            } else {
                ChatError::Rejected(format!(
                    "Slack answered HTTP {status} to {method}: check the Slack api_url in the config"
                ))
            }
        }
        SlackClientError::ProtocolError(e) => ChatError::Unavailable(format!(
            "Slack's answer to {method} was not the expected JSON ({}); Lookout will retry",
            e.json_error
        )),
        SlackClientError::HttpProtocolError(e) => ChatError::Unavailable(format!(
            "could not reach Slack for {method}: {}; Lookout will retry",
            e.cause
                .as_ref()
                .map_or_else(|| "no detail".to_owned(), |c| error_chain(c.as_ref()))
        )),
        SlackClientError::SystemError(e) => ChatError::Unavailable(format!(
            "could not reach Slack for {method}: {}; Lookout will retry",
            e.cause.as_ref().map_or_else(
                || e.message.clone().unwrap_or_else(|| "no detail".to_owned()),
                |c| error_chain(c.as_ref())
            )
        )),
        SlackClientError::EndOfStream(_) | SlackClientError::SocketModeProtocolError(_) => {
            ChatError::Unavailable(format!(
                "the connection to Slack closed during {method}; Lookout will retry"
            ))
        }
    }
}

/// An error and its sources on one line (hyper hides the useful part in a source).
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

/// Maps a Slack `ok: false` error code.
fn api_error(method: &str, code: &str) -> ChatError {
    let hint = match code {
        "ratelimited" | "rate_limited" => {
            return ChatError::RateLimited {
                retry_after_secs: DEFAULT_RETRY_AFTER_SECS,
            };
        }
        "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
            return ChatError::Unavailable(format!(
                "Slack failed {method} ({code}); Lookout will retry"
            ));
        }
        "channel_not_found" => "create the channel, or invite the bot if it is private",
        "not_in_channel" => "invite the bot to the channel (/invite @Lookout)",
        "is_archived" => "unarchive the channel or route the client elsewhere (/route)",
        "not_authed" | "invalid_auth" | "token_revoked" | "token_expired" | "account_inactive" => {
            "check the Slack bot token in the config (reinstall the app if it was revoked)"
        }
        "missing_scope" => "add the missing scope to the Slack app and reinstall it",
        "message_not_found" | "cant_update_message" | "thread_not_found" => {
            "the message was deleted or is not the bot's; nothing to edit"
        }
        "user_not_in_channel" | "user_not_found" => "the person is not in that channel",
        "expired_trigger_id" | "invalid_trigger_id" => {
            "Slack allows 3 s to open a dialog after a click: click the button again"
        }
        "already_reacted" => "the reaction is already there",
        "invalid_blocks" | "invalid_blocks_format" | "msg_too_long" | "no_text" => {
            "the message did not fit Slack's limits; this is a Lookout bug, please report it"
        }
        _ => "see https://api.slack.com/methods for the code",
    };
    ChatError::Rejected(format!("Slack refused {method}: {code} ({hint})"))
}

fn next_cursor(meta: Option<ResponseMetadata>) -> Option<String> {
    meta.and_then(|m| m.next_cursor).filter(|c| !c.is_empty())
}

// Lean answer shapes: only the fields Lookout reads. The typed slack-morphism
// responses echo whole messages, and one block type this version does not
// know would fail the decoding after Slack had already posted (a retry would
// then post twice), or hide the message `find_posted` is looking for.

#[derive(Deserialize)]
struct Posted {
    ts: String,
}

#[derive(Deserialize)]
struct ResponseMetadata {
    #[serde(default)]
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct HistoryPage {
    #[serde(default)]
    messages: Vec<HistoryEntry>,
    #[serde(default)]
    response_metadata: Option<ResponseMetadata>,
}

#[derive(Deserialize)]
struct HistoryEntry {
    ts: String,
    #[serde(default)]
    metadata: Option<EntryMetadata>,
}

#[derive(Deserialize)]
struct EntryMetadata {
    event_type: String,
    #[serde(default)]
    event_payload: Option<serde_json::Value>,
}

impl HistoryEntry {
    fn has_key(&self, key: &str) -> bool {
        self.metadata.as_ref().is_some_and(|m| {
            m.event_type == METADATA_EVENT_TYPE
                && m.event_payload
                    .as_ref()
                    .and_then(|p| p.get("key"))
                    .and_then(serde_json::Value::as_str)
                    == Some(key)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_map_to_what_the_outbox_does() {
        assert!(matches!(
            api_error("chat.postMessage", "ratelimited"),
            ChatError::RateLimited {
                retry_after_secs: DEFAULT_RETRY_AFTER_SECS
            }
        ));
        assert!(matches!(
            api_error("chat.postMessage", "internal_error"),
            ChatError::Unavailable(_)
        ));
        for code in [
            "channel_not_found",
            "not_in_channel",
            "invalid_blocks",
            "weird_new_code",
        ] {
            match api_error("chat.postMessage", code) {
                ChatError::Rejected(s) => {
                    assert!(s.contains(code) && s.contains("chat.postMessage"), "{s}")
                }
                other => panic!("{code}: {other:?}"),
            }
        }
    }

    #[test]
    fn config_checks_url_and_token() {
        let ok = |url: &str| {
            SlackChat::new(SlackConfig {
                api_url: url.to_owned(),
                bot_token: Secret::new("xoxb-1"),
            })
        };
        assert!(ok(DEFAULT_API_URL).is_ok());
        assert!(ok("http://127.0.0.1:9/api/").is_ok());
        assert!(ok("http://localhost:9/api").is_ok());
        for bad in ["http://slack.example/api/", "ftp://x/", "not a url", ""] {
            match ok(bad) {
                Err(ChatError::Rejected(s)) => assert!(s.contains("api_url"), "{s}"),
                other => panic!("{bad}: {:?}", other.err()),
            }
        }
        let empty = SlackChat::new(SlackConfig::new(Secret::new("  ")));
        assert!(matches!(empty, Err(ChatError::Rejected(s)) if s.contains("token")));
    }

    #[test]
    fn metadata_key_must_match_type_and_key() {
        let entry = |v: serde_json::Value| serde_json::from_value::<HistoryEntry>(v).unwrap();
        let hit = entry(
            serde_json::json!({"ts": "1.1", "metadata": {"event_type": "lookout_outbox", "event_payload": {"key": "k1"}}}),
        );
        assert!(hit.has_key("k1"));
        assert!(!hit.has_key("k2"));
        let other_app = entry(
            serde_json::json!({"ts": "1.1", "metadata": {"event_type": "other", "event_payload": {"key": "k1"}}}),
        );
        assert!(!other_app.has_key("k1"));
        let bare = entry(serde_json::json!({"ts": "1.1", "blocks": [{"type": "brand_new_kind"}]}));
        assert!(!bare.has_key("k1"));
    }
}
