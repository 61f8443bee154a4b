//! Slack Socket Mode: receiving commands, clicks and thread replies without a public URL.
//!
//! `SocketMode::run` asks Slack for a websocket URL (`apps.connections.open`
//! with the app-level `xapp-…` token), connects, and acknowledges every
//! envelope by its `envelope_id` the moment it arrives, because Slack retries
//! (and shows the person an error) when an ack is later than three seconds.
//! The payload is then mapped to a neutral `Inbound`, handled in its own task,
//! and the `Outcome` is shown through `SlackChat` the way the HTTP endpoints
//! do. A `disconnect` envelope (Slack rotating its servers) or a dropped
//! socket reconnects with exponential backoff; a refused token stops `run`
//! with an error saying what to fix; the shutdown signal stops it cleanly.
//!
//! A small tokio-tungstenite client is used rather than slack-morphism's
//! Socket Mode listener: that one acks only after its typed callback returns
//! and hands over typed payloads, while Lookout wants the ack first and the
//! raw payload JSON for its own parsers.

use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message as WsMessage;

use super::inbound::{ParseError, SlackRequest, parse_command, parse_event, parse_interaction};
use super::{DEFAULT_API_URL, SlackChat};
use crate::config::Secret;
use crate::message::ChatError;
use crate::message::InboundHandler;

/// A call to `apps.connections.open` that has not answered by then is retried.
const OPEN_TIMEOUT: Duration = Duration::from_secs(30);
/// Slack pings every few seconds; this long without any frame means the
/// connection is dead even if TCP has not noticed, so reconnect.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// On shutdown, in-flight handlers get this long to finish and reply.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// First reconnect delay; doubled after each failed attempt.
const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_secs(1);
/// Longest reconnect delay.
const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A Socket Mode connection to Slack that feeds an `InboundHandler`.
pub struct SocketMode {
    /// The app-level token (`xapp-…`, scope `connections:write`).
    app_token: Secret,
    /// Web API base URL, `https://slack.com/api/` except in tests.
    api_url: String,
    /// Handles each inbound event.
    handler: Arc<dyn InboundHandler>,
    /// Shows the handler's outcome in Slack.
    chat: Arc<SlackChat>,
    /// First reconnect delay.
    initial_backoff: Duration,
    /// Longest reconnect delay.
    max_backoff: Duration,
    /// Events already taken: Slack redelivers an event after a reconnect.
    seen_events: Arc<super::http::SeenEvents>,
}

/// Why one websocket session ended.
#[derive(Debug, PartialEq, Eq)]
enum SessionEnd {
    /// The shutdown signal fired.
    Shutdown,
    /// Slack sent `disconnect`: it wants us on a fresh connection.
    Disconnect,
    /// The socket closed, errored or went silent.
    Dropped,
}

impl SocketMode {
    /// A Socket Mode client for the Slack Web API at `api_url`; nothing is connected yet.
    pub fn new(
        app_token: Secret,
        api_url: impl Into<String>,
        handler: Arc<dyn InboundHandler>,
        chat: Arc<SlackChat>,
    ) -> Result<Self, ChatError> {
        let api_url = api_url.into();
        if !app_token.expose().trim().starts_with("xapp-") {
            return Err(ChatError::Rejected(
                "the Slack app token must be an app-level token (xapp-…): create one under Basic Information › App-Level Tokens with the connections:write scope"
                    .to_owned(),
            ));
        }
        check_url(&api_url, &["https"], "api_url")?;
        Ok(Self {
            app_token,
            api_url,
            handler,
            chat,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
            seen_events: Arc::default(),
        })
    }

    /// The same client with other reconnect delays (tests use milliseconds).
    pub fn with_backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max.max(initial);
        self
    }

    /// Connects and handles envelopes until `shutdown` becomes `true` (or its
    /// sender is dropped). Returns an error only when Slack refuses the app
    /// token, since retrying cannot help then; everything else reconnects.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), ChatError> {
        let http = reqwest::Client::builder()
            .timeout(OPEN_TIMEOUT)
            .build()
            .map_err(|e| ChatError::Unavailable(format!("could not build an HTTP client: {e}")))?;
        let mut tasks = JoinSet::new();
        let mut failures: u32 = 0;
        let result = loop {
            if *shutdown.borrow() {
                break Ok(());
            }
            let connected = tokio::select! {
                c = self.connect(&http) => c,
                _ = stopped(&mut shutdown) => break Ok(()),
            };
            let end = match connected {
                Ok(ws) => {
                    tracing::info!("connected to Slack Socket Mode");
                    self.session(ws, &mut shutdown, &mut tasks, &mut failures)
                        .await
                }
                Err(e @ ChatError::Rejected(_)) => break Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, "could not connect to Slack Socket Mode");
                    SessionEnd::Dropped
                }
            };
            let delay = match end {
                SessionEnd::Shutdown => break Ok(()),
                // Slack asked for the move; the next server is ready at once.
                SessionEnd::Disconnect => Duration::ZERO,
                SessionEnd::Dropped => {
                    let d = backoff(self.initial_backoff, self.max_backoff, failures);
                    failures = failures.saturating_add(1);
                    d
                }
            };
            tracing::debug!(delay_ms = delay.as_millis() as u64, "reconnecting to Slack");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = stopped(&mut shutdown) => break Ok(()),
            }
        };
        // Let replies already being worked on reach the person.
        let drain = async { while tasks.join_next().await.is_some() {} };
        if tokio::time::timeout(DRAIN_TIMEOUT, drain).await.is_err() {
            tracing::warn!("stopped Socket Mode with handlers still running");
            tasks.abort_all();
        }
        result
    }

    /// A fresh websocket from `apps.connections.open`.
    async fn connect(
        &self,
        http: &reqwest::Client,
    ) -> Result<
        tokio_tungstenite::WebSocketStream<
            tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
        >,
        ChatError,
    > {
        let url = self.open(http).await?;
        match tokio::time::timeout(OPEN_TIMEOUT, tokio_tungstenite::connect_async(url.as_str()))
            .await
        {
            Ok(Ok((ws, _))) => Ok(ws),
            Ok(Err(e)) => Err(ChatError::Unavailable(format!(
                "could not open the Socket Mode websocket: {e}; Lookout will retry"
            ))),
            Err(_) => Err(ChatError::Unavailable(
                "the Socket Mode websocket did not open in time; Lookout will retry".to_owned(),
            )),
        }
    }

    /// `apps.connections.open`: a fresh websocket URL.
    async fn open(&self, http: &reqwest::Client) -> Result<String, ChatError> {
        let url = format!(
            "{}/apps.connections.open",
            self.api_url.trim_end_matches('/')
        );
        let resp = http
            .post(&url)
            .bearer_auth(self.app_token.expose())
            .send()
            .await
            .map_err(|e| {
                // reqwest errors carry the URL, never the headers.
                ChatError::Unavailable(format!(
                    "could not reach Slack for apps.connections.open: {e}"
                ))
            })?;
        let status = resp.status();
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(ChatError::Unavailable(format!(
                "Slack answered HTTP {status} to apps.connections.open; Lookout will retry"
            )));
        }
        let body: Value = resp.json().await.map_err(|e| {
            ChatError::Unavailable(format!(
                "Slack's answer to apps.connections.open was not JSON ({e}); Lookout will retry"
            ))
        })?;
        if body.get("ok").and_then(Value::as_bool) != Some(true) {
            let code = body
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("unknown_error");
            return Err(open_error(code));
        }
        let ws = body.get("url").and_then(Value::as_str).ok_or_else(|| {
            ChatError::Unavailable(
                "Slack's answer to apps.connections.open had no url; Lookout will retry".to_owned(),
            )
        })?;
        check_url(ws, &["wss"], "Socket Mode url").map_err(|e| match e {
            // A bad URL from Slack is Slack's hiccup, not the config's.
            ChatError::Rejected(s) => ChatError::Unavailable(s),
            other => other,
        })?;
        Ok(ws.to_owned())
    }

    /// Reads envelopes until the socket ends, acking each one first.
    async fn session<S>(
        &self,
        ws: tokio_tungstenite::WebSocketStream<S>,
        shutdown: &mut watch::Receiver<bool>,
        tasks: &mut JoinSet<()>,
        failures: &mut u32,
    ) -> SessionEnd
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
    {
        let (mut write, mut read) = ws.split();
        loop {
            // Reap finished handlers so the set does not grow for ever.
            while tasks.try_join_next().is_some() {}
            let frame = tokio::select! {
                _ = stopped(shutdown) => {
                    let _ = write.send(WsMessage::Close(None)).await;
                    return SessionEnd::Shutdown;
                }
                frame = tokio::time::timeout(IDLE_TIMEOUT, read.next()) => frame,
            };
            let text = match frame {
                Ok(Some(Ok(WsMessage::Text(t)))) => t,
                Ok(Some(Ok(WsMessage::Close(_)))) | Ok(None) => {
                    tracing::info!("Slack closed the Socket Mode connection");
                    return SessionEnd::Dropped;
                }
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(e))) => {
                    tracing::warn!(error = %e, "Socket Mode connection failed");
                    return SessionEnd::Dropped;
                }
                Err(_) => {
                    tracing::warn!("no frame from Slack for {IDLE_TIMEOUT:?}; reconnecting");
                    return SessionEnd::Dropped;
                }
            };
            let envelope = Envelope::parse(text.as_str());
            if let Some(id) = &envelope.id {
                let ack = json!({ "envelope_id": id }).to_string();
                if let Err(e) = write.send(WsMessage::text(ack)).await {
                    tracing::warn!(error = %e, "could not ack a Slack envelope");
                    return SessionEnd::Dropped;
                }
            }
            match envelope.kind.as_deref() {
                Some("hello") => {
                    // A working connection: the next drop starts backing off afresh.
                    *failures = 0;
                    tracing::debug!("Slack said hello");
                }
                Some("disconnect") => {
                    tracing::info!(reason = ?envelope.reason, "Slack asked to reconnect");
                    let _ = write.send(WsMessage::Close(None)).await;
                    return SessionEnd::Disconnect;
                }
                Some(kind @ ("slash_commands" | "interactive" | "events_api")) => {
                    let retried = kind == "events_api"
                        && envelope
                            .payload
                            .as_ref()
                            .and_then(|p| p.get("event_id")?.as_str().map(str::to_owned))
                            .is_some_and(|id| !self.seen_events.first_time(&id));
                    if retried {
                        tracing::debug!("a redelivered event was already taken");
                        continue;
                    }
                    match envelope.payload.as_ref().map(|p| parse_payload(kind, p)) {
                        Some(Ok(SlackRequest::Event(received))) => {
                            let handler = Arc::clone(&self.handler);
                            let chat = Arc::clone(&self.chat);
                            tasks.spawn(async move {
                                super::http::answer(&chat, handler.as_ref(), received).await;
                            });
                        }
                        Some(Ok(_)) | None => {
                            tracing::debug!(kind, "ignored a Slack payload Lookout does not act on")
                        }
                        Some(Err(e)) => {
                            tracing::warn!(kind, error = %e, "dropped a malformed Socket Mode payload")
                        }
                    }
                }
                other => {
                    tracing::warn!(kind = ?other, "dropped a Socket Mode frame that is not an envelope Lookout knows");
                }
            }
        }
    }
}

/// The parts of a Socket Mode frame Lookout reads; anything missing is `None`.
struct Envelope {
    id: Option<String>,
    kind: Option<String>,
    reason: Option<String>,
    payload: Option<Value>,
}

impl Envelope {
    fn parse(text: &str) -> Self {
        let v: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        let s = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_owned);
        Self {
            id: s("envelope_id"),
            kind: s("type"),
            reason: s("reason"),
            payload: v.get("payload").cloned(),
        }
    }
}

/// Resolves once the shutdown flag is `true` or its sender is gone (then no
/// one could ever stop us, so stopping now is the safe reading).
async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    // `wait_for` errs only when the sender is dropped; both mean stop.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Reconnect delay after `failures` failed attempts in a row.
fn backoff(initial: Duration, max: Duration, failures: u32) -> Duration {
    initial
        .saturating_mul(2u32.saturating_pow(failures.min(16)))
        .min(max)
}

/// An `apps.connections.open` error code as a `ChatError` saying what to do.
fn open_error(code: &str) -> ChatError {
    match code {
        "ratelimited"
        | "internal_error"
        | "fatal_error"
        | "service_unavailable"
        | "request_timeout" => ChatError::Unavailable(format!(
            "Slack failed apps.connections.open ({code}); Lookout will retry"
        )),
        "not_authed"
        | "invalid_auth"
        | "token_revoked"
        | "token_expired"
        | "account_inactive"
        | "not_allowed_token_type"
        | "missing_scope" => ChatError::Rejected(format!(
            "Slack refused the app token for apps.connections.open ({code}): use an app-level token (xapp-…) with the connections:write scope, and check Socket Mode is on in the app settings"
        )),
        _ => ChatError::Rejected(format!(
            "Slack refused apps.connections.open: {code} (see https://api.slack.com/methods/apps.connections.open)"
        )),
    }
}

/// Checks a URL's scheme; plain `http`/`ws` is allowed only for a fake on loopback.
fn check_url(raw: &str, secure: &[&str], what: &str) -> Result<(), ChatError> {
    let url = reqwest::Url::parse(raw).map_err(|e| {
        ChatError::Rejected(format!(
            "Slack {what} `{raw}` is not a URL ({e}): use {DEFAULT_API_URL}"
        ))
    })?;
    let scheme = url.scheme();
    let plain = matches!(scheme, "http" | "ws");
    if secure.contains(&scheme) || (plain && super::is_loopback(&url)) {
        Ok(())
    } else {
        Err(ChatError::Rejected(format!(
            "Slack {what} `{raw}` must use {} (plain http/ws only for a fake on 127.0.0.1): use {DEFAULT_API_URL}",
            secure.join(" or ")
        )))
    }
}

/// Reads a Socket Mode payload with the same parsers the HTTP endpoints use:
/// Socket Mode sends as JSON what HTTP sends as a form, so commands and
/// interactions are re-encoded into the form Slack would have posted.
/// `kind` is the envelope's `type`; public for the parsers' property tests.
pub fn parse_payload(kind: &str, p: &Value) -> Result<SlackRequest, ParseError> {
    match kind {
        "slash_commands" => {
            let mut form = form_urlencoded::Serializer::new(String::new());
            if let Some(fields) = p.as_object() {
                for (k, v) in fields {
                    if let Some(v) = v.as_str() {
                        form.append_pair(k, v);
                    }
                }
            }
            parse_command(form.finish().as_bytes())
        }
        "interactive" => {
            let body = form_urlencoded::Serializer::new(String::new())
                .append_pair("payload", &p.to_string())
                .finish();
            parse_interaction(body.as_bytes())
        }
        _ => parse_event(p.to_string().as_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_caps() {
        let (i, m) = (Duration::from_millis(100), Duration::from_millis(1000));
        assert_eq!(backoff(i, m, 0), Duration::from_millis(100));
        assert_eq!(backoff(i, m, 1), Duration::from_millis(200));
        assert_eq!(backoff(i, m, 3), Duration::from_millis(800));
        assert_eq!(backoff(i, m, 4), m);
        assert_eq!(backoff(i, m, u32::MAX), m);
    }

    #[test]
    fn envelopes_parse_leniently() {
        let e = Envelope::parse(r#"{"envelope_id":"e1","type":"slash_commands","payload":{}}"#);
        assert_eq!(e.id.as_deref(), Some("e1"));
        assert_eq!(e.kind.as_deref(), Some("slash_commands"));
        assert!(e.payload.is_some());
        let bad = Envelope::parse("{not json");
        assert!(bad.id.is_none() && bad.kind.is_none() && bad.payload.is_none());
        let d = Envelope::parse(r#"{"type":"disconnect","reason":"refresh_requested"}"#);
        assert_eq!(d.reason.as_deref(), Some("refresh_requested"));
    }

    fn event(kind: &str, p: Value) -> crate::message::Inbound {
        match parse_payload(kind, &p) {
            Ok(SlackRequest::Event(r)) => r.event,
            other => panic!("{kind} {p}: {other:?}"),
        }
    }

    #[test]
    fn socket_payloads_go_through_the_shared_parsers() {
        use crate::domain::FindingId;
        use crate::message::ActionKind;
        use crate::message::Inbound;
        // Slash commands arrive as JSON objects of the form fields.
        let p = json!({"command": "/lookout", "text": "scan acme", "user_id": "U1", "channel_id": "C0001",
            "channel_name": "client-acme", "trigger_id": "T1", "response_url": "https://hooks.slack.com/x"});
        match event("slash_commands", p) {
            Inbound::Command { name, text, actor } => {
                assert_eq!(
                    (name.as_str(), text.as_str(), actor.person.id.as_str()),
                    ("scan", "acme", "U1")
                );
            }
            other => panic!("{other:?}"),
        }
        // Interactions arrive as the JSON the form's `payload` field would hold.
        let click = |action: Value| {
            json!({"type": "block_actions", "user": {"id": "U1"}, "trigger_id": "T9",
                   "channel": {"id": "C0001", "name": "client-acme"}, "container": {"channel_id": "C0001"},
                   "message": {"ts": "1.0"}, "actions": [action]})
        };
        match event(
            "interactive",
            click(json!({"action_id": "lookout_snooze", "selected_option": {"value": "F-3|4h"}})),
        ) {
            Inbound::Button {
                action,
                finding,
                choice,
                ..
            } => {
                assert_eq!(
                    (action, finding, choice.as_deref()),
                    (ActionKind::Snooze, FindingId(3), Some("4h"))
                );
            }
            other => panic!("{other:?}"),
        }
        let link = click(json!({"action_id": "lookout_link_1", "value": "x"}));
        assert!(matches!(
            parse_payload("interactive", &link),
            Ok(SlackRequest::Ignored(_))
        ));
        // Events arrive as the Events API body.
        let reply = json!({"type": "event_callback", "event": {"type": "message", "user": "U1", "channel": "C0001",
            "ts": "2.0", "thread_ts": "1.0", "text": "on it"}});
        assert!(matches!(
            event("events_api", reply),
            Inbound::ThreadReply { .. }
        ));
        // Malformed payloads are errors, not panics.
        assert!(parse_payload("slash_commands", &json!("a string")).is_err());
        assert!(parse_payload("interactive", &json!({"type": "block_actions"})).is_err());
    }

    #[test]
    fn urls_must_be_secure_unless_loopback() {
        assert!(check_url("https://slack.com/api/", &["https"], "api_url").is_ok());
        assert!(check_url("http://127.0.0.1:1/api/", &["https"], "api_url").is_ok());
        assert!(check_url("wss://wss-primary.slack.com/link", &["wss"], "u").is_ok());
        assert!(check_url("ws://127.0.0.1:9/socket", &["wss"], "u").is_ok());
        for bad in ["http://slack.example/api", "ws://evil.example/", "nope", ""] {
            assert!(
                matches!(
                    check_url(bad, &["https", "wss"], "u"),
                    Err(ChatError::Rejected(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn open_errors_split_retry_from_fix() {
        assert!(matches!(
            open_error("internal_error"),
            ChatError::Unavailable(_)
        ));
        for code in ["invalid_auth", "not_allowed_token_type", "something_new"] {
            match open_error(code) {
                ChatError::Rejected(s) => assert!(s.contains(code), "{s}"),
                other => panic!("{code}: {other:?}"),
            }
        }
    }
}
