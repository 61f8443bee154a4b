//! A fake Slack Web API: a real HTTP server on 127.0.0.1 with in-memory state.
//!
//! It serves the methods the Slack adapter uses (`auth.test`,
//! `conversations.list/history/replies`, `chat.postMessage/update/postEphemeral`,
//! `views.open`, `reactions.add`, and files: `files.getUploadURLExternal`, the
//! upload URL it hands out, `files.completeUploadExternal`, `files.info`) with
//! Slack's shapes and error codes, checks the bearer token like Slack, and
//! accepts JSON and form bodies. Tests read back every call and the current
//! messages, and can make the next calls fail the ways Slack fails (HTTP 429
//! with `Retry-After`, a 5xx, an `ok: false` error code). No database: the
//! state lives in a mutex and is dropped with the last clone. `human_reply`
//! plays a person answering in a thread, so a reaction has a message to land on.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// One request the fake received, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeCall {
    /// Web API method, e.g. `chat.postMessage`.
    pub method: String,
    /// The `channel` parameter as sent.
    pub channel: Option<String>,
    /// The message's `ts`: assigned by a post, targeted by an update, the thread of a replies call.
    pub ts: Option<String>,
    /// The `thread_ts` parameter as sent.
    pub thread_ts: Option<String>,
    /// The `text` parameter as sent.
    pub text: Option<String>,
    /// The `key` in `metadata.event_payload`, if any.
    pub metadata_key: Option<String>,
    /// The `user` parameter (ephemeral messages).
    pub user: Option<String>,
    /// The `trigger_id` parameter (`views.open`).
    pub trigger_id: Option<String>,
    /// The `view` parameter (`views.open`), as received.
    pub view: Option<Value>,
    /// The reaction `name` parameter (`reactions.add`).
    pub reaction: Option<String>,
    /// The Slack error code returned, or `None` when the call succeeded.
    pub error: Option<String>,
}

/// A message as the fake currently holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeMessage {
    /// Its id.
    pub ts: String,
    /// The thread it is a reply in, if any.
    pub thread_ts: Option<String>,
    /// Fallback text.
    pub text: String,
    /// Block Kit blocks, as received.
    pub blocks: Vec<Value>,
    /// The `key` in its metadata, if any.
    pub metadata_key: Option<String>,
    /// How many times `chat.update` changed it.
    pub edits: u32,
    /// The person who wrote it (`human_reply`); `None` for the bot's messages.
    pub user: Option<String>,
    /// Reaction names added to it, in order.
    pub reactions: Vec<String>,
    /// Ids of the files shared with it (`files.completeUploadExternal`).
    pub files: Vec<String>,
}

/// A file as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeFile {
    /// `F…` id.
    pub id: String,
    /// File name given to `files.getUploadURLExternal`.
    pub filename: String,
    /// Length promised there.
    pub length: usize,
    /// Title given when completed.
    pub title: String,
    /// Bytes received at the upload URL (`None` until then).
    pub bytes: Option<Vec<u8>>,
    /// Content type of the upload.
    pub content_type: String,
    /// Channels and message `ts` it was shared in.
    pub shares: Vec<(String, String)>,
}

/// How the next calls fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeFailure {
    /// HTTP 429 with `Retry-After` in seconds.
    RateLimited {
        /// Seconds in the `Retry-After` header.
        retry_after: u64,
    },
    /// HTTP 500.
    ServerError,
    /// HTTP 200 with `{"ok": false, "error": code}`.
    SlackError(String),
}

/// An in-memory Slack Web API; cheap to clone (shared state).
#[derive(Clone)]
pub struct FakeSlack {
    state: Arc<Mutex<State>>,
    /// Delay before each answer, after the request took effect (milliseconds).
    latency_ms: Arc<std::sync::atomic::AtomicU64>,
}

struct Channel {
    id: String,
    name: String,
    messages: Vec<Stored>,
}

struct Stored {
    ts: String,
    thread_ts: Option<String>,
    text: String,
    blocks: Vec<Value>,
    metadata: Option<Value>,
    edits: u32,
    user: Option<String>,
    reactions: Vec<String>,
    files: Vec<String>,
}

struct State {
    channels: Vec<Channel>,
    calls: Vec<FakeCall>,
    failures: VecDeque<FakeFailure>,
    /// Messages posted so far; each `ts` is derived from it.
    counter: u64,
    /// Largest `conversations.list` page, whatever the client asks.
    page_size: usize,
    /// Uploads, in order.
    files: Vec<FakeFile>,
    /// `http://addr`, for the upload URLs handed out.
    base: String,
    /// While true, every request is answered 503, as during a Slack outage.
    outage: bool,
}

/// Slack's 200-with-error answer.
type SlackResult = Result<Value, String>;

impl FakeSlack {
    /// A workspace with these channels (names), given ids `C0001`, `C0002`, ...
    pub fn new(channels: &[&str]) -> Self {
        let fake = Self {
            state: Arc::new(Mutex::new(State {
                channels: Vec::new(),
                calls: Vec::new(),
                failures: VecDeque::new(),
                counter: 0,
                page_size: 100,
                files: Vec::new(),
                base: String::new(),
                outage: false,
            })),
            latency_ms: Default::default(),
        };
        for name in channels {
            fake.add_channel(name);
        }
        fake
    }

    /// Adds a channel (as if someone created it) and returns its id.
    pub fn add_channel(&self, name: &str) -> String {
        let mut st = self.lock();
        let id = format!("C{:04}", st.channels.len() + 1);
        st.channels.push(Channel {
            id: id.clone(),
            name: name.trim_start_matches('#').to_owned(),
            messages: Vec::new(),
        });
        id
    }

    /// Answers every request this much later, after it has taken effect: a
    /// slow network, and the window in which a crash leaves a message posted
    /// but not recorded by the caller.
    pub fn set_latency(&self, latency: std::time::Duration) {
        let ms = u64::try_from(latency.as_millis()).unwrap_or(u64::MAX);
        self.latency_ms
            .store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// Caps `conversations.list` pages at `n` channels, to exercise pagination.
    pub fn set_page_size(&self, n: usize) {
        self.lock().page_size = n.max(1);
    }

    /// Serves on 127.0.0.1 on a free port until the returned task is aborted.
    pub async fn start(&self) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        self.lock().base = format!("http://{addr}");
        let fake = self.clone();
        let app = Router::new().fallback(move |uri: Uri, headers: HeaderMap, body: Bytes| {
            let fake = fake.clone();
            async move {
                let response = fake.handle(&uri, &headers, &body);
                let ms = fake.latency_ms.load(std::sync::atomic::Ordering::Relaxed);
                if ms > 0 {
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                }
                response
            }
        });
        let handle = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "fake Slack server stopped");
            }
        });
        Ok((addr, handle))
    }

    /// The Web API base URL of a fake started at `addr`.
    pub fn api_url(addr: SocketAddr) -> String {
        format!("http://{addr}/api/")
    }

    /// Every request received, in order.
    pub fn calls(&self) -> Vec<FakeCall> {
        self.lock().calls.clone()
    }

    /// The messages of a channel (name or id), oldest first, replies included.
    pub fn messages(&self, channel: &str) -> Vec<FakeMessage> {
        let st = self.lock();
        st.channel(channel)
            .map(|c| {
                c.messages
                    .iter()
                    .map(|m| FakeMessage {
                        ts: m.ts.clone(),
                        thread_ts: m.thread_ts.clone(),
                        text: m.text.clone(),
                        blocks: m.blocks.clone(),
                        metadata_key: metadata_key(m.metadata.as_ref()),
                        edits: m.edits,
                        user: m.user.clone(),
                        reactions: m.reactions.clone(),
                        files: m.files.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Every upload, in order.
    pub fn files(&self) -> Vec<FakeFile> {
        self.lock().files.clone()
    }

    /// A person (`user`) replies in the thread of `thread_ts` in `channel` (name
    /// or id); returns the reply's `ts`, or `None` when there is no such thread.
    pub fn human_reply(
        &self,
        channel: &str,
        thread_ts: &str,
        user: &str,
        text: &str,
    ) -> Option<String> {
        let mut st = self.lock();
        st.counter += 1;
        let ts = ts_of(st.counter);
        let key = channel.trim_start_matches('#');
        let c = st
            .channels
            .iter_mut()
            .find(|c| c.id == key || c.name == key)?;
        c.messages.iter().find(|m| m.ts == thread_ts)?;
        c.messages.push(Stored {
            ts: ts.clone(),
            thread_ts: Some(thread_ts.to_owned()),
            text: text.to_owned(),
            blocks: Vec::new(),
            metadata: None,
            edits: 0,
            user: Some(user.to_owned()),
            reactions: Vec::new(),
            files: Vec::new(),
        });
        Some(ts)
    }

    /// Starts (`true`) or ends an outage: meanwhile every request is answered 503.
    pub fn set_outage(&self, down: bool) {
        self.lock().outage = down;
    }

    /// Makes the next `n` requests (after the token check) fail this way.
    pub fn fail_next(&self, n: usize, how: FakeFailure) {
        let mut st = self.lock();
        st.failures.extend(std::iter::repeat_n(how, n));
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked mid-request leaves state readable for the next assertion.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn handle(&self, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Response {
        // The upload URL handed out by files.getUploadURLExternal: no token, raw bytes.
        if let Some(id) = uri.path().strip_prefix("/upload/") {
            let content_type = headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let mut st = self.lock();
            let Some(f) = st.files.iter_mut().find(|f| f.id == id) else {
                return (StatusCode::NOT_FOUND, "no such upload").into_response();
            };
            if body.len() != f.length {
                return (StatusCode::BAD_REQUEST, "length mismatch").into_response();
            }
            f.bytes = Some(body.to_vec());
            f.content_type = content_type;
            return (StatusCode::OK, format!("OK - {}", body.len())).into_response();
        }
        let Some(rest) = uri.path().strip_prefix("/api/") else {
            return (StatusCode::NOT_FOUND, "not a Slack API path").into_response();
        };
        // A base URL with a trailing slash gives `/api//method`.
        let method = rest.trim_start_matches('/').to_owned();
        let params = parse_params(uri.query(), headers, body);
        let mut st = self.lock();
        let mut call = FakeCall {
            method: method.clone(),
            channel: str_param(&params, "channel").or_else(|| str_param(&params, "channel_id")),
            ts: str_param(&params, "ts"),
            thread_ts: str_param(&params, "thread_ts"),
            text: str_param(&params, "text"),
            metadata_key: metadata_key(params.get("metadata")),
            user: str_param(&params, "user"),
            trigger_id: str_param(&params, "trigger_id"),
            view: params.get("view").cloned(),
            reaction: str_param(&params, "name"),
            error: None,
        };
        if method == "reactions.add" {
            call.ts = str_param(&params, "timestamp");
        }
        if let Err(code) = check_auth(headers) {
            call.error = Some(code.clone());
            st.calls.push(call);
            return slack_error(&code);
        }
        if st.outage {
            call.error = Some("http_503".to_owned());
            st.calls.push(call);
            return (StatusCode::SERVICE_UNAVAILABLE, "Slack is having trouble").into_response();
        }
        if let Some(failure) = st.failures.pop_front() {
            let (response, code) = match failure {
                FakeFailure::RateLimited { retry_after } => (
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [(header::RETRY_AFTER, retry_after.to_string())],
                        axum::Json(json!({"ok": false, "error": "ratelimited"})),
                    )
                        .into_response(),
                    "ratelimited".to_owned(),
                ),
                FakeFailure::ServerError => (
                    (StatusCode::INTERNAL_SERVER_ERROR, "upstream failure").into_response(),
                    "http_500".to_owned(),
                ),
                FakeFailure::SlackError(code) => (slack_error(&code), code),
            };
            call.error = Some(code);
            st.calls.push(call);
            return response;
        }
        let result = match method.as_str() {
            "auth.test" => Ok(json!({
                "url": "https://fake.slack.com/", "team": "Fake", "user": "lookout",
                "team_id": "T0001", "user_id": "U0BOT", "bot_id": "B0001"
            })),
            "conversations.list" => st.list(&params),
            "conversations.history" => st.history(&params),
            "conversations.replies" => st.replies(&params),
            "chat.postMessage" => st.post(&params),
            "chat.update" => st.update(&params),
            "chat.postEphemeral" => st.ephemeral(&params),
            "views.open" => st.open_view(&params),
            "reactions.add" => st.react(&params),
            "files.getUploadURLExternal" => st.upload_url(&params),
            "files.completeUploadExternal" => st.complete_upload(&params),
            "files.info" => st.file_info(&params),
            // Retired by Slack: new apps get this answer.
            "files.upload" => Err("method_deprecated".to_owned()),
            _ => Err("unknown_method".to_owned()),
        };
        match result {
            Ok(mut v) => {
                if method == "chat.postMessage" || method == "chat.postEphemeral" {
                    call.ts = v
                        .get("ts")
                        .or_else(|| v.get("message_ts"))
                        .and_then(Value::as_str)
                        .map(str::to_owned);
                }
                st.calls.push(call);
                v["ok"] = json!(true);
                axum::Json(v).into_response()
            }
            Err(code) => {
                call.error = Some(code.clone());
                st.calls.push(call);
                slack_error(&code)
            }
        }
    }
}

impl State {
    fn channel(&self, key: &str) -> Option<&Channel> {
        let key = key.trim_start_matches('#');
        self.channels.iter().find(|c| c.id == key || c.name == key)
    }

    /// Looks a channel up by id only, as the Web API does for our methods.
    fn channel_by_id(&mut self, params: &Map<String, Value>) -> Result<&mut Channel, String> {
        let id = str_param(params, "channel").ok_or("channel_not_found")?;
        self.channels
            .iter_mut()
            .find(|c| c.id == id)
            .ok_or_else(|| "channel_not_found".to_owned())
    }

    fn list(&self, params: &Map<String, Value>) -> SlackResult {
        let asked = usize_param(params, "limit").unwrap_or(100);
        let limit = asked.clamp(1, self.page_size);
        let start = page_start(params, "ch")?;
        let page: Vec<Value> = self
            .channels
            .iter()
            .skip(start)
            .take(limit)
            .map(|c| {
                json!({
                    "id": c.id, "name": c.name, "is_channel": true, "is_private": false,
                    "is_archived": false, "is_member": true
                })
            })
            .collect();
        let next = if start + limit < self.channels.len() {
            format!("ch:{}", start + limit)
        } else {
            String::new()
        };
        Ok(json!({"channels": page, "response_metadata": {"next_cursor": next}}))
    }

    fn history(&mut self, params: &Map<String, Value>) -> SlackResult {
        let with_meta = bool_param(params, "include_all_metadata");
        let limit = usize_param(params, "limit").unwrap_or(100).clamp(1, 1000);
        let start = page_start(params, "h")?;
        let channel = self.channel_by_id(params)?;
        // Top level only (thread parents included), newest first.
        let top: Vec<&Stored> = channel
            .messages
            .iter()
            .rev()
            .filter(|m| m.thread_ts.is_none())
            .collect();
        let page: Vec<Value> = top
            .iter()
            .skip(start)
            .take(limit)
            .map(|m| message_json(m, &channel.messages, with_meta))
            .collect();
        let more = start + limit < top.len();
        let next = if more {
            format!("h:{}", start + limit)
        } else {
            String::new()
        };
        Ok(json!({"messages": page, "has_more": more, "response_metadata": {"next_cursor": next}}))
    }

    fn replies(&mut self, params: &Map<String, Value>) -> SlackResult {
        let with_meta = bool_param(params, "include_all_metadata");
        let limit = usize_param(params, "limit").unwrap_or(100).clamp(1, 1000);
        let start = page_start(params, "r")?;
        let ts = str_param(params, "ts").ok_or("thread_not_found")?;
        let channel = self.channel_by_id(params)?;
        let Some(parent) = channel.messages.iter().find(|m| m.ts == ts) else {
            return Err("thread_not_found".to_owned());
        };
        // Parent first, then its replies oldest first, as Slack answers.
        let thread: Vec<&Stored> = std::iter::once(parent)
            .chain(
                channel
                    .messages
                    .iter()
                    .filter(|m| m.thread_ts.as_deref() == Some(ts.as_str())),
            )
            .collect();
        let page: Vec<Value> = thread
            .iter()
            .skip(start)
            .take(limit)
            .map(|m| message_json(m, &channel.messages, with_meta))
            .collect();
        let more = start + limit < thread.len();
        let next = if more {
            format!("r:{}", start + limit)
        } else {
            String::new()
        };
        Ok(json!({"messages": page, "has_more": more, "response_metadata": {"next_cursor": next}}))
    }

    fn upload_url(&mut self, params: &Map<String, Value>) -> SlackResult {
        let filename = str_param(params, "filename").ok_or("invalid_arguments")?;
        let length = usize_param(params, "length").ok_or("invalid_arguments")?;
        if length == 0 {
            return Err("invalid_arguments".to_owned());
        }
        let id = format!("F{:04}", self.files.len() + 1);
        self.files.push(FakeFile {
            id: id.clone(),
            filename,
            length,
            title: String::new(),
            bytes: None,
            content_type: String::new(),
            shares: Vec::new(),
        });
        Ok(json!({"upload_url": format!("{}/upload/{id}", self.base), "file_id": id}))
    }

    fn complete_upload(&mut self, params: &Map<String, Value>) -> SlackResult {
        let wanted = match params.get("files") {
            Some(Value::Array(a)) if !a.is_empty() => a.clone(),
            _ => return Err("invalid_arguments".to_owned()),
        };
        let mut ids = Vec::new();
        for w in &wanted {
            let id = w["id"].as_str().ok_or("invalid_arguments")?;
            let f = self
                .files
                .iter()
                .find(|f| f.id == id)
                .ok_or("file_not_found")?;
            if f.bytes.is_none() {
                // Completed before its bytes arrived.
                return Err("file_upload_size_mismatch".to_owned());
            }
            ids.push((
                id.to_owned(),
                w["title"].as_str().unwrap_or_default().to_owned(),
            ));
        }
        let blocks = blocks_param(params)?;
        let Some(channel_id) = str_param(params, "channel_id") else {
            // Not shared: a private file, no message.
            return Ok(
                json!({"files": ids.iter().map(|(id, t)| json!({"id": id, "title": t})).collect::<Vec<_>>()}),
            );
        };
        self.counter += 1;
        let ts = ts_of(self.counter);
        let thread = str_param(params, "thread_ts");
        let channel = self
            .channels
            .iter_mut()
            .find(|c| c.id == channel_id)
            .ok_or("channel_not_found")?;
        if let Some(t) = &thread
            && !channel.messages.iter().any(|m| &m.ts == t)
        {
            return Err("thread_not_found".to_owned());
        }
        channel.messages.push(Stored {
            ts: ts.clone(),
            thread_ts: thread,
            text: String::new(),
            blocks,
            metadata: None,
            edits: 0,
            user: None,
            reactions: Vec::new(),
            files: ids.iter().map(|(id, _)| id.clone()).collect(),
        });
        for (id, title) in &ids {
            if let Some(f) = self.files.iter_mut().find(|f| &f.id == id) {
                f.title = title.clone();
                f.shares.push((channel_id.clone(), ts.clone()));
            }
        }
        // Like Slack, the answer names the files, not the message: its ts is in files.info.
        Ok(json!({
            "files": ids.iter().map(|(id, t)| json!({"id": id, "title": t})).collect::<Vec<_>>()
        }))
    }

    fn file_info(&self, params: &Map<String, Value>) -> SlackResult {
        let id = str_param(params, "file").ok_or("invalid_arguments")?;
        let f = self
            .files
            .iter()
            .find(|f| f.id == id)
            .ok_or("file_not_found")?;
        let mut public = Map::new();
        for (channel, ts) in &f.shares {
            let list = public
                .entry(channel.clone())
                .or_insert_with(|| Value::Array(Vec::new()));
            if let Value::Array(a) = list {
                a.push(json!({"ts": ts, "channel_name": channel}));
            }
        }
        Ok(json!({"file": {
            "id": f.id, "name": f.filename, "title": f.title, "size": f.length,
            "mimetype": f.content_type, "shares": {"public": public}
        }}))
    }

    fn post(&mut self, params: &Map<String, Value>) -> SlackResult {
        let (text, blocks) = content(params)?;
        let metadata = params.get("metadata").filter(|m| m.is_object()).cloned();
        self.counter += 1;
        let ts = ts_of(self.counter);
        let channel = self.channel_by_id(params)?;
        let thread_ts = match str_param(params, "thread_ts") {
            None => None,
            Some(t) => {
                let Some(parent) = channel.messages.iter().find(|m| m.ts == t) else {
                    return Err("thread_not_found".to_owned());
                };
                // Replying to a reply lands in the parent's thread.
                Some(parent.thread_ts.clone().unwrap_or(t))
            }
        };
        let stored = Stored {
            ts: ts.clone(),
            thread_ts,
            text,
            blocks,
            metadata,
            edits: 0,
            user: None,
            reactions: Vec::new(),
            files: Vec::new(),
        };
        let message = message_json(&stored, &channel.messages, true);
        let id = channel.id.clone();
        channel.messages.push(stored);
        Ok(json!({"channel": id, "ts": ts, "message": message}))
    }

    fn update(&mut self, params: &Map<String, Value>) -> SlackResult {
        let (text, blocks) = content(params)?;
        let metadata = params.get("metadata").filter(|m| m.is_object()).cloned();
        let ts = str_param(params, "ts").ok_or("message_not_found")?;
        let channel = self.channel_by_id(params)?;
        let id = channel.id.clone();
        let Some(m) = channel.messages.iter_mut().find(|m| m.ts == ts) else {
            return Err("message_not_found".to_owned());
        };
        m.text = text;
        m.blocks = blocks;
        // Slack keeps a message's metadata unless the update sends new metadata.
        if metadata.is_some() {
            m.metadata = metadata;
        }
        m.edits += 1;
        Ok(json!({"channel": id, "ts": ts, "text": m.text}))
    }

    fn ephemeral(&mut self, params: &Map<String, Value>) -> SlackResult {
        content(params)?;
        let user = str_param(params, "user").unwrap_or_default();
        if !super::blocks::is_user_id(&user) {
            return Err("user_not_in_channel".to_owned());
        }
        self.channel_by_id(params)?;
        self.counter += 1;
        Ok(json!({"message_ts": ts_of(self.counter)}))
    }
}

impl State {
    fn open_view(&mut self, params: &Map<String, Value>) -> SlackResult {
        if str_param(params, "trigger_id").is_none() {
            return Err("invalid_trigger_id".to_owned());
        }
        // Form bodies carry the view as a JSON string.
        let view = match params.get("view") {
            Some(Value::String(s)) => serde_json::from_str(s).unwrap_or(Value::Null),
            Some(v) => v.clone(),
            None => Value::Null,
        };
        let valid = view["type"] == "modal"
            && view["title"]["text"].is_string()
            && view["blocks"]
                .as_array()
                .is_some_and(|b| b.len() <= 100 && b.iter().all(|x| x["type"].is_string()))
            && view["private_metadata"]
                .as_str()
                .is_none_or(|m| m.chars().count() <= 3000);
        if !valid {
            return Err("invalid_arguments".to_owned());
        }
        self.counter += 1;
        let mut shown = view;
        shown["id"] = json!(format!("V{:04}", self.counter));
        Ok(json!({"view": shown}))
    }

    fn react(&mut self, params: &Map<String, Value>) -> SlackResult {
        let name = str_param(params, "name").ok_or("invalid_name")?;
        let ts = str_param(params, "timestamp").ok_or("no_item_specified")?;
        let channel = self.channel_by_id(params)?;
        let Some(m) = channel.messages.iter_mut().find(|m| m.ts == ts) else {
            return Err("message_not_found".to_owned());
        };
        if m.reactions.contains(&name) {
            return Err("already_reacted".to_owned());
        }
        m.reactions.push(name);
        Ok(json!({}))
    }
}

/// `1700000000.000100`, `1700000000.000200`, ...: increasing, Slack-shaped.
fn ts_of(n: u64) -> String {
    format!("{}.{:06}", 1_700_000_000 + n / 10_000, (n % 10_000) * 100)
}

/// Text and blocks of a post or update, validated like Slack does.
fn content(params: &Map<String, Value>) -> Result<(String, Vec<Value>), String> {
    let text = str_param(params, "text").unwrap_or_default();
    let blocks = blocks_param(params)?;
    if text.chars().count() > 40_000 {
        return Err("msg_too_long".to_owned());
    }
    if text.trim().is_empty() && blocks.is_empty() {
        return Err("no_text".to_owned());
    }
    Ok((text, blocks))
}

/// The `blocks` parameter, checked like Slack: an array of at most 50 typed blocks.
fn blocks_param(params: &Map<String, Value>) -> Result<Vec<Value>, String> {
    let blocks = match params.get("blocks") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(b)) => b.clone(),
        Some(_) => return Err("invalid_blocks_format".to_owned()),
    };
    if blocks.len() > 50 || blocks.iter().any(|b| !b["type"].is_string()) {
        return Err("invalid_blocks".to_owned());
    }
    Ok(blocks)
}

fn message_json(m: &Stored, all: &[Stored], with_meta: bool) -> Value {
    let mut v = match &m.user {
        Some(user) => json!({"type": "message", "ts": m.ts, "text": m.text, "user": user}),
        None => json!({
            "type": "message", "ts": m.ts, "text": m.text, "blocks": m.blocks,
            "bot_id": "B0001", "user": "U0BOT"
        }),
    };
    if let Some(t) = &m.thread_ts {
        v["thread_ts"] = json!(t);
    } else {
        let replies = all
            .iter()
            .filter(|r| r.thread_ts.as_deref() == Some(m.ts.as_str()))
            .count();
        if replies > 0 {
            v["thread_ts"] = json!(m.ts);
            v["reply_count"] = json!(replies);
        }
    }
    if !m.files.is_empty() {
        v["files"] = Value::Array(m.files.iter().map(|f| json!({"id": f})).collect());
    }
    if m.edits > 0 {
        v["edited"] = json!({"user": "U0BOT", "ts": m.ts});
    }
    if with_meta && let Some(meta) = &m.metadata {
        v["metadata"] = meta.clone();
    }
    v
}

fn check_auth(headers: &HeaderMap) -> Result<(), String> {
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return Err("not_authed".to_owned());
    };
    match value.to_str().ok().and_then(|v| v.strip_prefix("Bearer ")) {
        Some(token) if token.starts_with("xoxb-") && token.len() > 5 => Ok(()),
        _ => Err("invalid_auth".to_owned()),
    }
}

fn slack_error(code: &str) -> Response {
    axum::Json(json!({"ok": false, "error": code})).into_response()
}

/// Query parameters merged with a JSON or form body, like Slack accepts.
fn parse_params(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Map<String, Value> {
    let mut params = Map::new();
    let form = |s: &str, params: &mut Map<String, Value>| {
        // Url does the form decoding (`+`, percent escapes) for us.
        if let Ok(u) = reqwest::Url::parse(&format!("http://fake/?{s}")) {
            for (k, v) in u.query_pairs() {
                // Form bodies carry `blocks` and `metadata` as JSON strings.
                let value = match k.as_ref() {
                    "blocks" | "metadata" | "view" | "files" => {
                        serde_json::from_str(&v).unwrap_or(Value::String(v.into_owned()))
                    }
                    _ => Value::String(v.into_owned()),
                };
                params.insert(k.into_owned(), value);
            }
        }
    };
    if let Some(q) = query {
        form(q, &mut params);
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/json") {
        if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) {
            params.extend(m);
        }
    } else if let Ok(s) = std::str::from_utf8(body)
        && !s.is_empty()
    {
        form(s, &mut params);
    }
    params
}

fn str_param(params: &Map<String, Value>, key: &str) -> Option<String> {
    match params.get(key)? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn usize_param(params: &Map<String, Value>, key: &str) -> Option<usize> {
    str_param(params, key)?.parse().ok()
}

fn bool_param(params: &Map<String, Value>, key: &str) -> bool {
    matches!(params.get(key), Some(Value::Bool(true)))
        || matches!(str_param(params, key).as_deref(), Some("true" | "1"))
}

/// The offset a cursor of this kind stands for; no cursor is the start.
fn page_start(params: &Map<String, Value>, kind: &str) -> Result<usize, String> {
    match str_param(params, "cursor") {
        None => Ok(0),
        Some(c) => c
            .strip_prefix(kind)
            .and_then(|r| r.strip_prefix(':'))
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| "invalid_cursor".to_owned()),
    }
}

fn metadata_key(meta: Option<&Value>) -> Option<String> {
    meta?
        .get("event_payload")?
        .get("key")?
        .as_str()
        .map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ts_values_increase_and_look_like_slack() {
        assert_eq!(ts_of(1), "1700000000.000100");
        assert_eq!(ts_of(2), "1700000000.000200");
        assert_eq!(ts_of(10_001), "1700000001.000100");
        let all: Vec<String> = (1..20_005).step_by(997).map(ts_of).collect();
        let as_f: Vec<f64> = all.iter().map(|t| t.parse().unwrap()).collect();
        assert!(as_f.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn form_and_json_bodies_and_queries_parse_alike() {
        let mut form_headers = HeaderMap::new();
        form_headers.insert(
            header::CONTENT_TYPE,
            "application/x-www-form-urlencoded".parse().unwrap(),
        );
        let p = parse_params(
            Some("limit=2"),
            &form_headers,
            b"channel=C0001&text=a+b%26c&blocks=%5B%7B%22type%22%3A%22divider%22%7D%5D",
        );
        assert_eq!(str_param(&p, "text").as_deref(), Some("a b&c"));
        assert_eq!(p["blocks"], json!([{"type": "divider"}]));
        assert_eq!(usize_param(&p, "limit"), Some(2));

        let mut json_headers = HeaderMap::new();
        json_headers.insert(
            header::CONTENT_TYPE,
            "application/json; charset=utf-8".parse().unwrap(),
        );
        let p = parse_params(
            None,
            &json_headers,
            br#"{"channel":"C0001","include_all_metadata":true}"#,
        );
        assert_eq!(str_param(&p, "channel").as_deref(), Some("C0001"));
        assert!(bool_param(&p, "include_all_metadata"));
        // Malformed bodies give no parameters rather than a panic.
        assert!(parse_params(None, &json_headers, b"{nope").is_empty());
    }

    #[test]
    fn content_is_validated_like_slack() {
        let p = |v: Value| v.as_object().unwrap().clone();
        assert_eq!(content(&p(json!({}))).unwrap_err(), "no_text");
        let many: Vec<Value> = (0..51).map(|_| json!({"type": "divider"})).collect();
        assert_eq!(
            content(&p(json!({"blocks": many}))).unwrap_err(),
            "invalid_blocks"
        );
        assert_eq!(
            content(&p(json!({"blocks": [{"text": "no type"}]}))).unwrap_err(),
            "invalid_blocks"
        );
        assert_eq!(
            content(&p(json!({"text": "x".repeat(40_001)}))).unwrap_err(),
            "msg_too_long"
        );
        assert!(content(&p(json!({"text": "hi"}))).is_ok());
    }

    #[test]
    fn auth_needs_a_bot_bearer_token() {
        let mut h = HeaderMap::new();
        assert_eq!(check_auth(&h).unwrap_err(), "not_authed");
        h.insert(header::AUTHORIZATION, "Bearer xoxp-user".parse().unwrap());
        assert_eq!(check_auth(&h).unwrap_err(), "invalid_auth");
        h.insert(header::AUTHORIZATION, "Bearer xoxb-123".parse().unwrap());
        assert!(check_auth(&h).is_ok());
    }

    #[test]
    fn cursors_of_another_kind_are_invalid() {
        let p = |c: &str| json!({"cursor": c}).as_object().unwrap().clone();
        assert_eq!(page_start(&p("ch:4"), "ch"), Ok(4));
        assert_eq!(page_start(&p("h:4"), "ch").unwrap_err(), "invalid_cursor");
        assert_eq!(page_start(&p("ch:x"), "ch").unwrap_err(), "invalid_cursor");
    }
}
