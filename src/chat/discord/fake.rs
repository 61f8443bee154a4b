//! A fake Discord REST API: a real HTTP server on 127.0.0.1 with in-memory state.
//!
//! It serves, under `/api/v10`, what the Discord adapter calls: channel
//! messages (create, with `nonce` + `enforce_nonce` returning the first
//! message again; list newest first, without nonces, as Discord does; get;
//! edit), threads started from a message (with the message's id, and
//! Discord's 160004 when one exists), `GET /channels/{id}` (threads report
//! their `parent_id`), direct-message channels, reactions, the bot user,
//! application commands (global and per guild, bulk overwrite), interaction
//! callbacks, and edits of an interaction's first answer and follow-ups. It
//! checks the bot token like Discord, checks message payloads against
//! Discord's limits (50035 when one is exceeded), records every call with
//! its JSON body, can make the next calls fail the ways Discord fails (429
//! with `retry_after`, a 5xx, a refusal with a code) and answer slowly, and
//! plays people writing in channels and threads. No database: the state
//! lives in a mutex and is dropped with the last clone.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::commands::check_commands;
use super::render::check_limits;

/// The guild every fake channel belongs to.
pub const GUILD_ID: u64 = 1_100_000_000_000_000_001;
/// The bot's user id.
pub const BOT_USER_ID: u64 = 1_100_000_000_000_000_002;
/// First id handed out to channels and messages.
const FIRST_ID: u64 = 1_200_000_000_000_000_000;
/// A fixed time for every message; nothing reads it.
const TIMESTAMP: &str = "2026-11-02T09:00:00.000000+00:00";

/// One request the fake received, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeCall {
    /// HTTP method, e.g. `POST`.
    pub method: String,
    /// Path after `/api/v10`, percent-decoded, e.g. `/channels/12/messages`.
    pub path: String,
    /// The query string, if any.
    pub query: Option<String>,
    /// The JSON body, if any.
    pub body: Option<Value>,
    /// The status answered.
    pub status: u16,
}

/// A message as the fake currently holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeMessage {
    /// Its id.
    pub id: String,
    /// The channel (or thread) it is in.
    pub channel_id: String,
    /// Its author's user id.
    pub author_id: String,
    /// Whether the author is a bot.
    pub bot: bool,
    /// Its `content`.
    pub content: String,
    /// Its embeds, as received.
    pub embeds: Vec<Value>,
    /// Its components, as received.
    pub components: Vec<Value>,
    /// The `allowed_mentions` it was sent with.
    pub allowed_mentions: Option<Value>,
    /// The nonce it was sent with.
    pub nonce: Option<String>,
    /// How many times it was edited.
    pub edits: u32,
    /// Unicode emoji the bot reacted with, in order.
    pub reactions: Vec<String>,
    /// Files uploaded with it (multipart `files[n]`).
    pub attachments: Vec<FakeAttachment>,
}

/// A file sent with a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeAttachment {
    /// The id given in `payload_json.attachments` (the `n` of `files[n]`).
    pub id: u64,
    /// File name.
    pub filename: String,
    /// Description from `payload_json.attachments`.
    pub description: Option<String>,
    /// Content type of the part.
    pub content_type: String,
    /// The bytes.
    pub bytes: Vec<u8>,
}

/// One part of a `multipart/form-data` body.
struct FormPart {
    name: String,
    filename: Option<String>,
    content_type: String,
    data: Vec<u8>,
}

/// How the next calls fail.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// HTTP 429 with `retry_after` in the body and `Retry-After` header.
    RateLimited {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// HTTP 500.
    ServerError,
    /// Any other refusal: status, Discord error code and message.
    Refused {
        /// HTTP status.
        status: u16,
        /// Discord's JSON error code.
        code: i64,
        /// Discord's message.
        message: String,
    },
}

/// An in-memory Discord REST API; cheap to clone (shared state).
#[derive(Clone)]
pub struct FakeDiscord {
    state: Arc<Mutex<State>>,
    /// Delay before each answer, after the request took effect (milliseconds).
    latency_ms: Arc<AtomicU64>,
}

#[derive(Debug, Clone)]
struct Channel {
    id: u64,
    /// 0 text, 1 DM, 11 public thread.
    kind: u64,
    parent_id: Option<u64>,
    recipient: Option<u64>,
    name: String,
}

struct State {
    token: String,
    application_id: u64,
    next_id: u64,
    channels: Vec<Channel>,
    messages: Vec<FakeMessage>,
    calls: Vec<FakeCall>,
    failures: VecDeque<Failure>,
    /// Registered commands by guild (`None`: global).
    commands: HashMap<Option<u64>, Vec<Value>>,
    /// Files of the multipart request being handled.
    uploads: Vec<FormPart>,
}

/// An answer: status and JSON body (`None`: 204).
type Answer = (StatusCode, Option<Value>);

impl FakeDiscord {
    /// A Discord where `token` is the bot's token and `application_id` its application.
    pub fn new(token: &str, application_id: u64) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                token: token.to_owned(),
                application_id,
                next_id: FIRST_ID,
                channels: Vec::new(),
                messages: Vec::new(),
                calls: Vec::new(),
                failures: VecDeque::new(),
                commands: HashMap::new(),
                uploads: Vec::new(),
            })),
            latency_ms: Arc::default(),
        }
    }

    /// Adds a text channel to the guild and returns its id.
    pub fn add_channel(&self, name: &str) -> String {
        let mut st = self.lock();
        let id = st.next();
        st.channels.push(Channel {
            id,
            kind: 0,
            parent_id: None,
            recipient: None,
            name: name.to_owned(),
        });
        id.to_string()
    }

    /// Answers every request this much later, after it has taken effect: a
    /// slow network, and the window in which a crash leaves a message posted
    /// but not recorded by the caller.
    pub fn set_latency(&self, latency: std::time::Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.latency_ms.store(ms, Ordering::Relaxed);
    }

    /// Makes the next `n` requests (after the token check) fail this way.
    pub fn fail_next(&self, n: usize, how: Failure) {
        self.lock().failures.extend(std::iter::repeat_n(how, n));
    }

    /// Serves on 127.0.0.1 on a free port until the returned task is aborted.
    pub async fn start(&self) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let fake = self.clone();
        let app = Router::new().fallback(
            move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
                let fake = fake.clone();
                async move {
                    let response = fake.handle(&method, &uri, &headers, &body);
                    let ms = fake.latency_ms.load(Ordering::Relaxed);
                    if ms > 0 {
                        tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    }
                    response
                }
            },
        );
        let handle = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "fake Discord server stopped");
            }
        });
        Ok((addr, handle))
    }

    /// The `api_url` of a fake started at `addr`.
    pub fn api_url(addr: SocketAddr) -> String {
        format!("http://{addr}")
    }

    /// Every request received, in order.
    pub fn calls(&self) -> Vec<FakeCall> {
        self.lock().calls.clone()
    }

    /// The messages of a channel or thread, oldest first.
    pub fn messages(&self, channel: &str) -> Vec<FakeMessage> {
        self.lock()
            .messages
            .iter()
            .filter(|m| m.channel_id == channel)
            .cloned()
            .collect()
    }

    /// Every message in every channel and thread, oldest first.
    pub fn all_messages(&self) -> Vec<FakeMessage> {
        self.lock().messages.clone()
    }

    /// One message by id.
    pub fn message(&self, id: &str) -> Option<FakeMessage> {
        self.lock().messages.iter().find(|m| m.id == id).cloned()
    }

    /// The parent of a thread, if `id` is a thread.
    pub fn thread_parent(&self, id: &str) -> Option<String> {
        let st = self.lock();
        st.channels
            .iter()
            .find(|c| c.id.to_string() == id)
            .and_then(|c| c.parent_id)
            .map(|p| p.to_string())
    }

    /// Someone deletes a channel or thread with its messages; false when there is none.
    pub fn delete_channel(&self, id: &str) -> bool {
        let mut st = self.lock();
        let before = st.channels.len();
        st.channels.retain(|c| c.id.to_string() != id);
        st.messages.retain(|m| m.channel_id != id);
        st.channels.len() < before
    }

    /// The registered commands (global when `guild` is `None`).
    pub fn commands(&self, guild: Option<u64>) -> Vec<Value> {
        self.lock()
            .commands
            .get(&guild)
            .cloned()
            .unwrap_or_default()
    }

    /// Someone writes in a channel or thread; returns the gateway's
    /// `MESSAGE_CREATE` payload for it (with `guild_id`), as serenity's
    /// `Message` reads it, or `None` when there is no such channel. A bot
    /// author (`bot`) plays another app or Lookout itself.
    pub fn write(
        &self,
        channel: &str,
        author: u64,
        bot: bool,
        content: &str,
        mentions: &[u64],
    ) -> Option<Value> {
        let mut st = self.lock();
        let channel_id = channel.parse::<u64>().ok()?;
        st.channels.iter().find(|c| c.id == channel_id)?;
        let id = st.next();
        let m = FakeMessage {
            id: id.to_string(),
            channel_id: channel.to_owned(),
            author_id: author.to_string(),
            bot,
            content: content.to_owned(),
            embeds: Vec::new(),
            components: Vec::new(),
            allowed_mentions: None,
            nonce: None,
            edits: 0,
            reactions: Vec::new(),
            attachments: Vec::new(),
        };
        let mut event = message_json(&m, false);
        event["guild_id"] = json!(GUILD_ID.to_string());
        event["mentions"] = Value::Array(mentions.iter().map(|u| user_json(*u, false)).collect());
        st.messages.push(m);
        Some(event)
    }

    /// Another app (a bot or webhook with user id `author`) posts embeds in
    /// a channel; returns the message id, or `None` when there is no such channel.
    pub fn write_embeds(&self, channel: &str, author: u64, embeds: Vec<Value>) -> Option<String> {
        let event = self.write(channel, author, true, "", &[])?;
        let id = event.get("id").and_then(Value::as_str)?.to_owned();
        let mut st = self.lock();
        let m = st.messages.iter_mut().find(|m| m.id == id)?;
        m.embeds = embeds;
        Some(id)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked mid-request leaves state readable for the next assertion.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn handle(&self, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Response {
        let Some(rest) = uri.path().strip_prefix("/api/v10") else {
            return (StatusCode::NOT_FOUND, "not a Discord API path").into_response();
        };
        let path = percent_decode(rest);
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        let mut uploads = Vec::new();
        let json_body: Option<Value> = if body.is_empty() {
            None
        } else if content_type.starts_with("multipart/form-data") {
            // Discord's shape: the JSON as `payload_json`, files as `files[n]`.
            let Some(parts) = parse_multipart(content_type, body) else {
                return error(StatusCode::BAD_REQUEST, 50035, "Invalid Form Body");
            };
            let mut payload = None;
            for part in parts {
                if part.name == "payload_json" {
                    payload = serde_json::from_slice(&part.data).ok();
                } else {
                    uploads.push(part);
                }
            }
            payload
        } else {
            serde_json::from_slice(body).ok()
        };
        let mut st = self.lock();
        st.uploads = uploads;
        let mut call = FakeCall {
            method: method.to_string(),
            path: path.clone(),
            query: uri.query().map(str::to_owned),
            body: json_body.clone(),
            status: 200,
        };
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        // Interaction callbacks and webhooks are authorized by their token, not the bot's.
        let needs_auth = !matches!(segments.first(), Some(&"interactions" | &"webhooks"));
        let authorized = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            == Some(format!("Bot {}", st.token).as_str());
        if needs_auth && !authorized {
            call.status = 401;
            st.calls.push(call);
            return error(StatusCode::UNAUTHORIZED, 0, "401: Unauthorized");
        }
        if let Some(failure) = st.failures.pop_front() {
            let response = match failure {
                Failure::RateLimited { retry_after_secs } => (
                    StatusCode::TOO_MANY_REQUESTS,
                    [
                        (header::RETRY_AFTER, retry_after_secs.to_string()),
                        (
                            header::HeaderName::from_static("x-ratelimit-scope"),
                            "user".to_owned(),
                        ),
                    ],
                    axum::Json(json!({
                        "message": "You are being rate limited.",
                        "retry_after": retry_after_secs as f64,
                        "global": false
                    })),
                )
                    .into_response(),
                Failure::ServerError => {
                    (StatusCode::INTERNAL_SERVER_ERROR, "upstream failure").into_response()
                }
                Failure::Refused {
                    status,
                    code,
                    message,
                } => error(
                    StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                    code,
                    &message,
                ),
            };
            call.status = response.status().as_u16();
            st.calls.push(call);
            return response;
        }
        let query = uri.query().unwrap_or_default();
        let (status, answer) = st.route(method, &segments, query, json_body.as_ref());
        call.status = status.as_u16();
        st.calls.push(call);
        match answer {
            Some(v) => (status, axum::Json(v)).into_response(),
            None => status.into_response(),
        }
    }
}

impl State {
    fn next(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn route(
        &mut self,
        method: &Method,
        seg: &[&str],
        query: &str,
        body: Option<&Value>,
    ) -> Answer {
        let id = |s: &str| s.parse::<u64>().ok();
        match (method.as_str(), seg) {
            ("GET", ["users", "@me"]) => (StatusCode::OK, Some(user_json(BOT_USER_ID, true))),
            ("POST", ["users", "@me", "channels"]) => self.open_dm(body),
            ("GET", ["channels", c]) => match self.channel(id(c)) {
                Some(ch) => (StatusCode::OK, Some(channel_json(ch))),
                None => unknown_channel(),
            },
            ("GET", ["channels", c, "messages"]) => self.list(id(c), query),
            ("POST", ["channels", c, "messages"]) => self.create(id(c), body),
            ("GET", ["channels", c, "messages", m]) => match self.find(id(c), m) {
                Some(i) => (StatusCode::OK, Some(message_json(&self.messages[i], false))),
                None => unknown_message(),
            },
            ("PATCH", ["channels", c, "messages", m]) => self.edit(id(c), m, body),
            ("POST", ["channels", c, "messages", m, "threads"]) => {
                self.start_thread(id(c), m, body)
            }
            ("PUT", ["channels", c, "messages", m, "reactions", emoji, "@me"]) => {
                match self.find(id(c), m) {
                    Some(i) => {
                        let r = &mut self.messages[i].reactions;
                        if !r.iter().any(|e| e == emoji) {
                            r.push((*emoji).to_owned());
                        }
                        (StatusCode::NO_CONTENT, None)
                    }
                    None => unknown_message(),
                }
            }
            ("GET", ["applications", app, "commands"]) => self.list_commands(app, None),
            ("PUT", ["applications", app, "commands"]) => self.put_commands(app, None, body),
            ("GET", ["applications", app, "guilds", g, "commands"]) => {
                self.list_commands(app, Some(id(g)))
            }
            ("PUT", ["applications", app, "guilds", g, "commands"]) => {
                self.put_commands(app, Some(id(g)), body)
            }
            ("POST", ["interactions", _, _, "callback"]) => match body {
                Some(b) if b.get("type").and_then(Value::as_u64).is_some() => {
                    (StatusCode::NO_CONTENT, None)
                }
                _ => form_error(),
            },
            ("PATCH", ["webhooks", app, _, "messages", "@original"])
            | ("POST", ["webhooks", app, _]) => {
                if app.parse::<u64>().ok() != Some(self.application_id) {
                    return (
                        StatusCode::NOT_FOUND,
                        Some(json!({"code": 10015, "message": "Unknown Webhook"})),
                    );
                }
                let Some(b) = body else {
                    return form_error();
                };
                if let Err(reason) = check_limits(b) {
                    return invalid_form(&reason);
                }
                let m = self.new_bot_message(0, b);
                (StatusCode::OK, Some(message_json(&m, true)))
            }
            _ => (
                StatusCode::NOT_FOUND,
                Some(json!({"code": 0, "message": "404: Not Found"})),
            ),
        }
    }

    fn channel(&self, id: Option<u64>) -> Option<&Channel> {
        let id = id?;
        self.channels.iter().find(|c| c.id == id)
    }

    fn find(&self, channel: Option<u64>, message: &str) -> Option<usize> {
        let c = channel?.to_string();
        self.messages
            .iter()
            .position(|m| m.channel_id == c && m.id == message)
    }

    fn new_bot_message(&mut self, channel: u64, body: &Value) -> FakeMessage {
        let id = self.next();
        FakeMessage {
            id: id.to_string(),
            channel_id: channel.to_string(),
            author_id: BOT_USER_ID.to_string(),
            bot: true,
            content: str_field(body, "content"),
            embeds: array_field(body, "embeds"),
            components: array_field(body, "components"),
            allowed_mentions: body.get("allowed_mentions").cloned(),
            nonce: body.get("nonce").and_then(nonce_text),
            edits: 0,
            reactions: Vec::new(),
            attachments: Vec::new(),
        }
    }

    /// The files of this request, matched to `attachments` in its JSON like
    /// Discord does: every declared id needs its `files[id]` part.
    fn take_attachments(&mut self, body: &Value) -> Result<Vec<FakeAttachment>, String> {
        let mut parts = std::mem::take(&mut self.uploads);
        let mut out = Vec::new();
        for a in array_field(body, "attachments") {
            let id = a["id"].as_u64().ok_or("attachment without an id")?;
            let name = format!("files[{id}]");
            let i = parts
                .iter()
                .position(|p| p.name == name)
                .ok_or(format!("attachments.{id}: no file part {name}"))?;
            let part = parts.remove(i);
            out.push(FakeAttachment {
                id,
                filename: a["filename"]
                    .as_str()
                    .map(str::to_owned)
                    .or(part.filename)
                    .unwrap_or_default(),
                description: a["description"].as_str().map(str::to_owned),
                content_type: part.content_type,
                bytes: part.data,
            });
        }
        if let Some(extra) = parts.first() {
            return Err(format!(
                "file part {} not declared in attachments",
                extra.name
            ));
        }
        Ok(out)
    }

    fn create(&mut self, channel: Option<u64>, body: Option<&Value>) -> Answer {
        let Some(ch) = self.channel(channel).map(|c| c.id) else {
            return unknown_channel();
        };
        let Some(body) = body else {
            return form_error();
        };
        if let Err(reason) = check_limits(body) {
            return invalid_form(&reason);
        }
        let attachments = match self.take_attachments(body) {
            Ok(a) => a,
            Err(reason) => return invalid_form(&reason),
        };
        let empty = str_field(body, "content").is_empty()
            && array_field(body, "embeds").is_empty()
            && array_field(body, "components").is_empty()
            && attachments.is_empty();
        if empty {
            return (
                StatusCode::BAD_REQUEST,
                Some(json!({"code": 50006, "message": "Cannot send an empty message"})),
            );
        }
        let nonce = body.get("nonce").and_then(nonce_text);
        let enforce = body.get("enforce_nonce").and_then(Value::as_bool) == Some(true);
        if let (Some(n), true) = (&nonce, enforce) {
            let bot = BOT_USER_ID.to_string();
            if let Some(first) = self
                .messages
                .iter()
                .find(|m| m.author_id == bot && m.nonce.as_ref() == Some(n))
            {
                return (StatusCode::OK, Some(message_json(first, true)));
            }
        }
        let mut m = self.new_bot_message(ch, body);
        m.attachments = attachments;
        let answer = message_json(&m, true);
        self.messages.push(m);
        (StatusCode::OK, Some(answer))
    }

    fn list(&self, channel: Option<u64>, query: &str) -> Answer {
        let Some(ch) = self.channel(channel) else {
            return unknown_channel();
        };
        let params: HashMap<String, String> = form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let limit = params
            .get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .unwrap_or(50)
            .clamp(1, 100);
        let before = params.get("before").and_then(|b| b.parse::<u64>().ok());
        let c = ch.id.to_string();
        let page: Vec<Value> = self
            .messages
            .iter()
            .rev()
            .filter(|m| m.channel_id == c)
            .filter(|m| before.is_none_or(|b| m.id.parse::<u64>().is_ok_and(|id| id < b)))
            .take(limit)
            .map(|m| message_json(m, false))
            .collect();
        (StatusCode::OK, Some(Value::Array(page)))
    }

    fn edit(&mut self, channel: Option<u64>, message: &str, body: Option<&Value>) -> Answer {
        let Some(i) = self.find(channel, message) else {
            return unknown_message();
        };
        let Some(body) = body else {
            return form_error();
        };
        if let Err(reason) = check_limits(body) {
            return invalid_form(&reason);
        }
        let m = &mut self.messages[i];
        if !m.bot || m.author_id != BOT_USER_ID.to_string() {
            return (
                StatusCode::FORBIDDEN,
                Some(
                    json!({"code": 50005, "message": "Cannot edit a message authored by another user"}),
                ),
            );
        }
        if body.get("content").is_some() {
            m.content = str_field(body, "content");
        }
        if body.get("embeds").is_some() {
            m.embeds = array_field(body, "embeds");
        }
        if body.get("components").is_some() {
            m.components = array_field(body, "components");
        }
        if let Some(a) = body.get("allowed_mentions") {
            m.allowed_mentions = Some(a.clone());
        }
        m.edits += 1;
        (StatusCode::OK, Some(message_json(m, false)))
    }

    fn start_thread(
        &mut self,
        channel: Option<u64>,
        message: &str,
        body: Option<&Value>,
    ) -> Answer {
        let Some(i) = self.find(channel, message) else {
            return unknown_message();
        };
        let name = body
            .and_then(|b| b.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        if name.is_empty() || name.chars().count() > 100 {
            return invalid_form("thread name");
        }
        let Ok(thread_id) = self.messages[i].id.parse::<u64>() else {
            return unknown_message();
        };
        if self.channels.iter().any(|c| c.id == thread_id) {
            return (
                StatusCode::BAD_REQUEST,
                Some(
                    json!({"code": 160004, "message": "A thread has already been created for this message"}),
                ),
            );
        }
        let thread = Channel {
            id: thread_id,
            kind: 11,
            parent_id: channel,
            recipient: None,
            name: name.to_owned(),
        };
        let answer = channel_json(&thread);
        self.channels.push(thread);
        (StatusCode::CREATED, Some(answer))
    }

    fn open_dm(&mut self, body: Option<&Value>) -> Answer {
        let Some(user) = body
            .and_then(|b| b.get("recipient_id"))
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<u64>().ok())
        else {
            return form_error();
        };
        if let Some(c) = self.channels.iter().find(|c| c.recipient == Some(user)) {
            return (StatusCode::OK, Some(channel_json(c)));
        }
        let id = self.next();
        let dm = Channel {
            id,
            kind: 1,
            parent_id: None,
            recipient: Some(user),
            name: String::new(),
        };
        let answer = channel_json(&dm);
        self.channels.push(dm);
        (StatusCode::OK, Some(answer))
    }

    fn list_commands(&self, app: &str, guild: Option<Option<u64>>) -> Answer {
        if app.parse::<u64>().ok() != Some(self.application_id) {
            return (
                StatusCode::FORBIDDEN,
                Some(json!({"code": 50001, "message": "Missing Access"})),
            );
        }
        let key = guild.flatten();
        let list = self.commands.get(&key).cloned().unwrap_or_default();
        (StatusCode::OK, Some(Value::Array(list)))
    }

    fn put_commands(
        &mut self,
        app: &str,
        guild: Option<Option<u64>>,
        body: Option<&Value>,
    ) -> Answer {
        if app.parse::<u64>().ok() != Some(self.application_id) {
            return (
                StatusCode::FORBIDDEN,
                Some(json!({"code": 50001, "message": "Missing Access"})),
            );
        }
        let Some(body) = body else {
            return form_error();
        };
        if let Err(reason) = check_commands(body) {
            return invalid_form(&reason);
        }
        let key = guild.flatten();
        let app_id = self.application_id.to_string();
        let mut stored = Vec::new();
        for c in body.as_array().into_iter().flatten() {
            let id = self.next();
            stored.push(as_registered(c, id, &app_id, key));
        }
        self.commands.insert(key, stored.clone());
        (StatusCode::OK, Some(Value::Array(stored)))
    }
}

/// A command as Discord answers it: with ids and version, its defaults
/// filled in, `required: false` and empty lists left out.
fn as_registered(c: &Value, id: u64, app: &str, guild: Option<u64>) -> Value {
    let mut out = c.clone();
    if let Some(o) = out.as_object_mut() {
        o.insert("id".into(), json!(id.to_string()));
        o.insert("application_id".into(), json!(app));
        o.insert("version".into(), json!((id + 7).to_string()));
        o.entry("type").or_insert(json!(1));
        o.insert("dm_permission".into(), json!(true));
        o.insert("nsfw".into(), json!(false));
        o.insert("name_localizations".into(), Value::Null);
        o.insert("description_localizations".into(), Value::Null);
        if let Some(g) = guild {
            o.insert("guild_id".into(), json!(g.to_string()));
        }
        if o.get("options")
            .and_then(Value::as_array)
            .is_some_and(Vec::is_empty)
        {
            o.remove("options");
        }
        if let Some(Value::Array(opts)) = o.get_mut("options") {
            for opt in opts.iter_mut().filter_map(Value::as_object_mut) {
                if opt.get("required") == Some(&json!(false)) {
                    opt.remove("required");
                }
                opt.insert("description_localizations".into(), Value::Null);
            }
        }
    }
    out
}

fn error(status: StatusCode, code: i64, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"code": code, "message": message})),
    )
        .into_response()
}

fn unknown_channel() -> Answer {
    (
        StatusCode::NOT_FOUND,
        Some(json!({"code": 10003, "message": "Unknown Channel"})),
    )
}

fn unknown_message() -> Answer {
    (
        StatusCode::NOT_FOUND,
        Some(json!({"code": 10008, "message": "Unknown Message"})),
    )
}

fn form_error() -> Answer {
    invalid_form("the body is not the expected JSON")
}

fn invalid_form(reason: &str) -> Answer {
    (
        StatusCode::BAD_REQUEST,
        Some(
            json!({"code": 50035, "message": "Invalid Form Body", "errors": {"_errors": [{"code": "BASE_TYPE_INVALID", "message": reason}]}}),
        ),
    )
}

fn str_field(v: &Value, key: &str) -> String {
    v.get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned()
}

fn array_field(v: &Value, key: &str) -> Vec<Value> {
    v.get(key)
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn nonce_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn user_json(id: u64, bot: bool) -> Value {
    json!({
        "id": id.to_string(),
        "username": if bot { "Lookout".to_owned() } else { format!("person{}", id % 1000) },
        "discriminator": "0",
        "global_name": null,
        "avatar": null,
        "bot": bot,
    })
}

fn channel_json(c: &Channel) -> Value {
    let mut v = json!({"id": c.id.to_string(), "type": c.kind, "name": c.name});
    if c.kind != 1 {
        v["guild_id"] = json!(GUILD_ID.to_string());
    }
    if let Some(p) = c.parent_id {
        v["parent_id"] = json!(p.to_string());
    }
    if let Some(r) = c.recipient {
        v["recipients"] = json!([user_json(r, false)]);
    }
    v
}

/// A full message object, as Discord answers it (and serenity's `Message`
/// reads it); the nonce only in the answer to the create call.
fn message_json(m: &FakeMessage, with_nonce: bool) -> Value {
    let author_id = m.author_id.parse::<u64>().unwrap_or(0);
    let mut v = json!({
        "id": m.id,
        "channel_id": m.channel_id,
        "author": user_json(author_id, m.bot),
        "content": m.content,
        "timestamp": TIMESTAMP,
        "edited_timestamp": null,
        "tts": false,
        "mention_everyone": false,
        "mentions": [],
        "mention_roles": [],
        "attachments": m.attachments.iter().map(|a| json!({
            "id": a.id.to_string(), "filename": a.filename, "size": a.bytes.len(),
            "content_type": a.content_type, "description": a.description,
            "url": format!("https://cdn.discordapp.com/attachments/{}/{}/{}", m.channel_id, m.id, a.filename),
            "proxy_url": format!("https://media.discordapp.net/attachments/{}/{}/{}", m.channel_id, m.id, a.filename),
        })).collect::<Vec<_>>(),
        "embeds": m.embeds,
        "components": m.components,
        "pinned": false,
        "type": 0,
        "flags": 0,
    });
    if with_nonce && let Some(n) = &m.nonce {
        v["nonce"] = json!(n);
    }
    v
}

/// Splits a `multipart/form-data` body into its parts; `None` when malformed.
fn parse_multipart(content_type: &str, body: &[u8]) -> Option<Vec<FormPart>> {
    let boundary = content_type
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))?
        .trim_matches('"');
    let delimiter = format!("--{boundary}").into_bytes();
    let mut parts = Vec::new();
    let mut rest = body;
    // Skip the preamble up to the first delimiter.
    let start = find(rest, &delimiter)?;
    rest = &rest[start + delimiter.len()..];
    loop {
        if rest.starts_with(b"--") {
            return Some(parts);
        }
        rest = rest.strip_prefix(b"\r\n")?;
        let head_end = find(rest, b"\r\n\r\n")?;
        let head = std::str::from_utf8(&rest[..head_end]).ok()?;
        rest = &rest[head_end + 4..];
        let end = find(rest, &delimiter)?;
        let data = rest[..end].strip_suffix(b"\r\n")?.to_vec();
        rest = &rest[end + delimiter.len()..];
        let mut part = FormPart {
            name: String::new(),
            filename: None,
            content_type: String::new(),
            data,
        };
        for line in head.split("\r\n") {
            let (key, value) = line.split_once(':')?;
            if key.eq_ignore_ascii_case("content-disposition") {
                for field in value.split(';').map(str::trim) {
                    if let Some(v) = field.strip_prefix("name=") {
                        part.name = v.trim_matches('"').to_owned();
                    } else if let Some(v) = field.strip_prefix("filename=") {
                        part.filename = Some(v.trim_matches('"').to_owned());
                    }
                }
            } else if key.eq_ignore_ascii_case("content-type") {
                part.content_type = value.trim().to_owned();
            }
        }
        parts.push(part);
    }
}

/// Where `needle` first occurs in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Decodes `%XX` escapes (a reaction's emoji arrives encoded).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let (h, l) = (hex(h).unwrap_or(0), hex(l).unwrap_or(0));
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding_handles_emoji_and_stray_percents() {
        assert_eq!(percent_decode("/r/%F0%9F%93%9D/@me"), "/r/📝/@me");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz%4"), "%zz%4");
    }

    #[test]
    fn written_messages_read_as_serenity_messages() {
        let fake = FakeDiscord::new("t", 1);
        let c = fake.add_channel("client-acme");
        let event = fake.write(&c, 42, false, "hello", &[BOT_USER_ID]).unwrap();
        let m: serenity::model::channel::Message = serde_json::from_value(event).unwrap();
        assert_eq!(m.content, "hello");
        assert_eq!(m.author.id.get(), 42);
        assert_eq!(m.mentions[0].id.get(), BOT_USER_ID);
        assert!(m.guild_id.is_some());
        assert!(fake.write("999", 42, false, "x", &[]).is_none());
    }
}
