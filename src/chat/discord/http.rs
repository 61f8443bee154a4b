//! Discord's interactions endpoint: verify, parse, answer within three seconds.
//!
//! `router` serves `POST /discord/interactions`. Every request is read raw (at
//! most 1 MiB, else 413), its signature checked by `Verifier` before a byte is
//! parsed (401 for a missing, forged, stale or replayed one: Discord probes
//! the endpoint with bad signatures and expects exactly that), then parsed by
//! `inbound` (400 when malformed). `PING` gets `{"type": 1}`. Anything else
//! runs the handler through `respond`, which answers directly when the outcome
//! is ready within about two seconds and defers otherwise, editing the
//! deferred answer through the REST API when the outcome comes. Logs name the
//! reason, never the body, a token or a key.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use tracing::warn;

use super::DiscordChat;
use super::inbound::{self, Parsed};
use super::respond::{self, ANSWER_WITHIN};
use super::verify::{SIGNATURE_HEADER, Verifier};
use crate::chat::replay::{SHARED_SIGNATURE_TTL, SharedSeen, first_time_shared, signature_key};
use crate::clock::SharedClock;
use crate::message::InboundHandler;

/// The endpoint's path; set it as the Interactions Endpoint URL's path.
pub const PATH: &str = "/discord/interactions";
/// Largest request body accepted; Discord's interactions are a few kilobytes.
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// Everything the endpoint needs; cheap to clone.
#[derive(Clone)]
pub struct DiscordHttp {
    /// Checks Discord's signatures and refuses replays.
    pub verifier: Arc<Verifier>,
    /// Edits deferred answers.
    pub chat: Arc<DiscordChat>,
    /// The app's handler of neutral events.
    pub handler: Arc<dyn InboundHandler>,
    /// The time signatures are checked against.
    pub clock: SharedClock,
    /// How long the first answer waits for the handler before deferring.
    pub answer_within: Duration,
    /// Signatures taken by any process on the same database, so a replay
    /// reaching another process is refused there too.
    pub shared: Option<Arc<dyn SharedSeen>>,
    /// The runtime the handler and the database run on (the one `new` was
    /// called on): the endpoint may be served from a runtime of their own,
    /// which only verifies and answers, so an answer never waits behind scans.
    pub runtime: tokio::runtime::Handle,
}

impl DiscordHttp {
    /// Bundles the endpoint's dependencies, answering within `ANSWER_WITHIN`.
    pub fn new(
        verifier: Arc<Verifier>,
        chat: Arc<DiscordChat>,
        handler: Arc<dyn InboundHandler>,
        clock: SharedClock,
    ) -> Self {
        Self {
            verifier,
            chat,
            handler,
            clock,
            answer_within: ANSWER_WITHIN,
            shared: None,
            // Called from the app's start-up, on its runtime (Handle::current
            // panics outside one; there is none before start-up).
            runtime: tokio::runtime::Handle::current(),
        }
    }

    /// The same endpoint remembering taken requests in `shared` too.
    pub fn sharing(self, shared: Arc<dyn SharedSeen>) -> Self {
        Self {
            shared: Some(shared),
            ..self
        }
    }

    /// Whether the request's signature is new to the shared memory (true
    /// without one, or when the database cannot answer: this process's own
    /// memory refused replays it saw, and losing a real request is worse).
    async fn signature_first_time(&self, headers: &HeaderMap) -> bool {
        let Some(shared) = &self.shared else {
            return true;
        };
        let Some(signature) = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()) else {
            return true;
        };
        let key = signature_key("discord", signature);
        first_time_shared(
            Some(shared.as_ref()),
            &key,
            self.clock.now() + SHARED_SIGNATURE_TTL,
        )
        .await
    }

    /// The same state with another wait before deferring (tests shorten it).
    pub fn with_answer_within(mut self, within: Duration) -> Self {
        self.answer_within = within;
        self
    }
}

/// The interactions endpoint, with the body limit applied.
pub fn router(state: DiscordHttp) -> Router {
    Router::new()
        .route(PATH, post(interactions))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

async fn interactions(State(s): State<DiscordHttp>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(e) = s.verifier.verify(&headers, &body, s.clock.now()) {
        warn!(reason = %e, "refused an unverified Discord interaction");
        return (StatusCode::UNAUTHORIZED, "invalid request signature").into_response();
    }
    // The database is the app's: asked from its runtime.
    let first_time = {
        let (s, headers) = (s.clone(), headers.clone());
        s.runtime
            .clone()
            .spawn(async move { s.signature_first_time(&headers).await })
            .await
            // The check panicked or the app is stopping: fail open, as when
            // the database cannot answer.
            .unwrap_or(true)
    };
    if !first_time {
        warn!("refused a Discord interaction another process already took (a replay)");
        return (StatusCode::UNAUTHORIZED, "invalid request signature").into_response();
    }
    let received = match inbound::parse(&body) {
        Ok(Parsed::Ping) => return axum::Json(respond::pong()).into_response(),
        Ok(Parsed::Event(r)) => *r,
        Err(e) => {
            warn!(reason = %e, "refused a malformed Discord interaction");
            return (StatusCode::BAD_REQUEST, "malformed Discord interaction").into_response();
        }
    };
    let (first, later) =
        respond::answer(&s.runtime, s.handler.clone(), received, s.answer_within).await;
    if let Some(later) = later {
        s.runtime.spawn(later.finish(s.chat.clone()));
    }
    axum::Json(first).into_response()
}
