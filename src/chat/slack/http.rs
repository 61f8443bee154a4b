//! Slack's inbound HTTP endpoints: verify, parse, acknowledge at once, act later.
//!
//! `router` serves `POST /slack/commands`, `/slack/interactions` and
//! `/slack/events`. Every request is read raw (at most 1 MiB), its signature
//! checked by `Verifier` before a byte is parsed (401 otherwise), then parsed by
//! `inbound` (400 when malformed). Slack gives an app three seconds to answer,
//! while a handler may scan an account or wait on a database, so the answer is
//! immediate and the handler runs in a spawned task; its `Outcome` is then
//! shown through the Web API (`chat.postEphemeral`, `chat.postMessage`,
//! `views.open`, `reactions.add`). Failures there are logged, never raised:
//! by then Slack has its answer. Logs name the endpoint and the reason, never
//! the body or a secret.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::json;
use tracing::{Instrument, debug, info_span, warn};

use super::SlackChat;
use super::inbound::{self, ParseError, Received, SlackRequest};
use crate::chat::replay::{SHARED_SIGNATURE_TTL, SharedSeen, first_time_shared, signature_key};
use crate::clock::SharedClock;
use crate::message::ChatAdapter;
use crate::message::{Inbound, InboundHandler, Outcome};

/// Largest request body accepted; Slack's payloads are a few kilobytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;
/// The reaction that confirms a thread reply was kept as a note.
pub const NOTED_REACTION: &str = "memo";
/// What a slash command shows at once, while its handler runs.
pub const WORKING_TEXT: &str = "Working on it…";

/// Everything the endpoints need; cheap to clone.
#[derive(Clone)]
pub struct SlackHttp {
    /// Checks Slack's signatures and refuses replays.
    pub verifier: Arc<super::verify::Verifier>,
    /// Shows outcomes and resolves channel names.
    pub chat: Arc<SlackChat>,
    /// The app's handler of neutral events.
    pub handler: Arc<dyn InboundHandler>,
    /// The time signatures are checked against.
    pub clock: SharedClock,
    /// Events already taken, by Slack's `event_id`: Slack retries an event it
    /// thinks was not acknowledged, with a new signature, and a retried thread
    /// reply must not become a second note.
    pub seen_events: Arc<SeenEvents>,
    /// Signatures and event ids taken by any process on the same database,
    /// so a replay or a retry reaching another process is refused there too.
    pub shared: Option<Arc<dyn SharedSeen>>,
    /// The runtime the handlers run on (the one `new` was called on): the
    /// endpoints may be served from a runtime of their own, which only
    /// verifies and acknowledges, so an acknowledgement never waits behind
    /// scans.
    pub runtime: tokio::runtime::Handle,
}

/// How long an event id is remembered in the shared memory: Slack retries
/// an event three times, over about an hour and a half at most.
const EVENT_ID_TTL: chrono::TimeDelta = chrono::TimeDelta::hours(2);

/// Keys a request takes in the shared memory, each with how long it is kept.
type Keys = Vec<(String, chrono::TimeDelta)>;

/// A bounded memory of recent Slack `event_id`s.
#[derive(Debug, Default)]
pub struct SeenEvents {
    ids: std::sync::Mutex<std::collections::VecDeque<String>>,
}

impl SeenEvents {
    /// How many recent ids are remembered; Slack retries within minutes.
    pub const CAPACITY: usize = 10_000;

    /// Records `id`; false when it was already there (a retry).
    pub fn first_time(&self, id: &str) -> bool {
        // The queue only holds strings; a panic elsewhere cannot leave it inconsistent.
        let mut ids = self.ids.lock().unwrap_or_else(|e| e.into_inner());
        if ids.iter().any(|s| s == id) {
            return false;
        }
        if ids.len() == Self::CAPACITY {
            ids.pop_front();
        }
        ids.push_back(id.to_owned());
        true
    }
}

/// Slack's `event_id` of an Events API body, if it has one.
pub fn event_id(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v.get("event_id")?.as_str().map(str::to_owned)
}

impl SlackHttp {
    /// Bundles the endpoints' dependencies.
    pub fn new(
        verifier: Arc<super::verify::Verifier>,
        chat: Arc<SlackChat>,
        handler: Arc<dyn InboundHandler>,
        clock: SharedClock,
    ) -> Self {
        Self {
            verifier,
            chat,
            handler,
            clock,
            seen_events: Arc::default(),
            shared: None,
            // Called from the app's start-up, on its runtime (Handle::current
            // panics outside one; there is none before start-up).
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// The same endpoints remembering taken requests in `shared` too.
    pub fn sharing(self, shared: Arc<dyn SharedSeen>) -> Self {
        Self {
            shared: Some(shared),
            ..self
        }
    }

    /// Verifies a request against this process's memory; `None` when it
    /// fails (answer [`unverified`]). On success, the keys to take in the shared memory before
    /// handling it (its signature; an event adds its id): checked after the
    /// acknowledgement, so a database round trip never delays it.
    fn verify(&self, endpoint: &'static str, headers: &HeaderMap, body: &[u8]) -> Option<Keys> {
        if let Err(e) = self.verifier.verify(headers, body, self.clock.now()) {
            warn!(endpoint, reason = %e, "refused an unverified Slack request");
            return None;
        }
        let signature = headers
            .get(super::verify::SIGNATURE_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        Some(vec![(
            signature_key("slack", signature),
            SHARED_SIGNATURE_TTL,
        )])
    }

    /// Runs the handler for `received` in the background and shows its
    /// outcome, unless another process took it already (`keys`: a replay, or
    /// a retry Slack sent there): then it is acknowledged and dropped.
    fn spawn(&self, endpoint: &'static str, received: Received, keys: Keys) {
        let this = self.clone();
        let span = info_span!("slack_inbound", endpoint, user = %received.user());
        self.runtime.spawn(
            async move {
                for (key, ttl) in &keys {
                    if !first_time_shared(this.shared.as_deref(), key, this.clock.now() + *ttl).await {
                        warn!("dropped a Slack request another process already took (a replay or a retry)");
                        return;
                    }
                }
                this.dispatch(received).await;
            }
            .instrument(span),
        );
    }

    async fn dispatch(&self, received: Received) {
        answer(&self.chat, self.handler.as_ref(), received).await;
    }
}

/// Runs the handler for one parsed Slack request and shows its outcome in
/// Slack; shared by the HTTP endpoints and Socket Mode.
pub async fn answer(chat: &SlackChat, handler: &dyn InboundHandler, received: Received) {
    let target = received.channel().clone();
    let user = received.user().clone();
    let trigger = received.trigger().map(str::to_owned);
    let event = received.into_event();
    let reply_to = match &event {
        Inbound::ThreadReply { message, .. } => Some(message.clone()),
        _ => None,
    };
    let outcome = handler.handle(event).await;
    let shown = match outcome {
        Outcome::Nothing => Ok(()),
        Outcome::Private(m) => chat.ephemeral(&target, &user, &m).await,
        Outcome::Public(m) => chat.post(&target, &m, None).await.map(drop),
        Outcome::OpenNoteDialog(finding) => match trigger {
            Some(t) => chat.open_note_dialog(&t, finding, &target).await,
            None => {
                warn!(%finding, "cannot open the note dialog: the event had no trigger_id");
                Ok(())
            }
        },
        Outcome::OpenKeyDialog(dialog) => match trigger {
            Some(t) => chat.open_key_dialog(&t, &dialog, &target).await,
            None => {
                warn!(client = %dialog.client, "cannot open the key dialog: the command had no trigger_id");
                Ok(())
            }
        },
        Outcome::Noted(finding) => match reply_to {
            Some(m) => chat.react(&target, &m, NOTED_REACTION).await,
            None => {
                debug!(%finding, "noted, with no reply message to react to");
                Ok(())
            }
        },
        // Slack has no autocomplete for slash commands.
        Outcome::Choices(_) => Ok(()),
    };
    if let Err(e) = shown {
        warn!(error = %e, "could not show the outcome in Slack");
    }
}

/// The Slack endpoints, with the body limit applied.
pub fn router(state: SlackHttp) -> Router {
    Router::new()
        .route("/slack/commands", post(commands))
        .route("/slack/interactions", post(interactions))
        .route("/slack/events", post(events))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn commands(State(s): State<SlackHttp>, headers: HeaderMap, body: Bytes) -> Response {
    const ENDPOINT: &str = "commands";
    let Some(keys) = s.verify(ENDPOINT, &headers, &body) else {
        return unverified();
    };
    match inbound::parse_command(&body) {
        Ok(SlackRequest::Event(r)) => {
            s.spawn(ENDPOINT, r, keys);
            axum::Json(json!({"response_type": "ephemeral", "text": WORKING_TEXT})).into_response()
        }
        Ok(other) => ignored(ENDPOINT, &other),
        Err(e) => malformed(ENDPOINT, &e),
    }
}

async fn interactions(State(s): State<SlackHttp>, headers: HeaderMap, body: Bytes) -> Response {
    const ENDPOINT: &str = "interactions";
    let Some(keys) = s.verify(ENDPOINT, &headers, &body) else {
        return unverified();
    };
    match inbound::parse_interaction(&body) {
        Ok(SlackRequest::Event(r)) => {
            s.spawn(ENDPOINT, r, keys);
            // An empty 200 also closes a submitted modal.
            StatusCode::OK.into_response()
        }
        Ok(other) => ignored(ENDPOINT, &other),
        Err(e) => malformed(ENDPOINT, &e),
    }
}

async fn events(State(s): State<SlackHttp>, headers: HeaderMap, body: Bytes) -> Response {
    const ENDPOINT: &str = "events";
    let Some(keys) = s.verify(ENDPOINT, &headers, &body) else {
        return unverified();
    };
    match inbound::parse_event(&body) {
        Ok(SlackRequest::Challenge(c)) => axum::Json(json!({"challenge": c})).into_response(),
        Ok(SlackRequest::Event(r)) => {
            match event_id(&body) {
                Some(id) if !s.seen_events.first_time(&id) => {
                    debug!(endpoint = ENDPOINT, event_id = %id, "a retried event was already taken");
                }
                Some(id) => {
                    let mut keys = keys;
                    keys.push((format!("slack-event:{id}"), EVENT_ID_TTL));
                    s.spawn(ENDPOINT, r, keys);
                }
                None => s.spawn(ENDPOINT, r, keys),
            }
            StatusCode::OK.into_response()
        }
        Ok(other) => ignored(ENDPOINT, &other),
        Err(e) => malformed(ENDPOINT, &e),
    }
}

/// The answer to a request whose signature did not check out.
fn unverified() -> Response {
    (StatusCode::UNAUTHORIZED, "request signature not valid").into_response()
}

fn ignored(endpoint: &'static str, request: &SlackRequest) -> Response {
    if let SlackRequest::Ignored(reason) = request {
        debug!(endpoint, reason, "ignored a Slack request");
    }
    StatusCode::OK.into_response()
}

fn malformed(endpoint: &'static str, e: &ParseError) -> Response {
    warn!(endpoint, reason = %e, "refused a malformed Slack request");
    (StatusCode::BAD_REQUEST, "malformed Slack payload").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_taken_once_and_memory_is_bounded() {
        let seen = SeenEvents::default();
        assert!(seen.first_time("Ev1"));
        assert!(!seen.first_time("Ev1"));
        for i in 0..SeenEvents::CAPACITY {
            assert!(seen.first_time(&format!("x{i}")));
        }
        // Ev1 was the oldest and has been forgotten; the newest is still known.
        assert!(seen.first_time("Ev1"));
        assert!(!seen.first_time(&format!("x{}", SeenEvents::CAPACITY - 1)));
        assert_eq!(
            event_id(br#"{"event_id":"Ev9","event":{}}"#).as_deref(),
            Some("Ev9")
        );
        assert_eq!(event_id(b"not json"), None);
    }
}
