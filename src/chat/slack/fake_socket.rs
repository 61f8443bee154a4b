//! A fake Slack Socket Mode server on 127.0.0.1, for tests and the demo.
//!
//! It serves `POST /api/apps.connections.open` over HTTP (checking the
//! `Bearer xapp-…` token like Slack) and answers with the URL of its own
//! websocket listener. Each websocket connection is greeted with `hello`;
//! the test then pushes envelopes (or raw frames) to the current connection,
//! reads back the acks the client sent by `envelope_id`, and can send
//! `disconnect` or cut the connection to exercise reconnects. State lives in
//! a mutex shared by clones; waits are woken by a `Notify` on every change.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::http::{HeaderMap, header};
use axum::routing::post;
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// What the test asks the current connection to do.
#[derive(Debug)]
enum Command {
    /// Send this text frame.
    Send(String),
    /// Close the websocket politely.
    Close,
    /// Cut the TCP connection without a close frame.
    Cut,
}

#[derive(Default)]
struct State {
    /// `apps.connections.open` requests, accepted or not.
    opens: usize,
    /// Websocket connections accepted.
    connections: usize,
    /// Websocket connections that have ended.
    closed: usize,
    /// `envelope_id`s acked by the client, in order.
    acks: Vec<String>,
    /// Frames from the client that were not acks.
    other_frames: Vec<String>,
    /// Error codes the next `apps.connections.open` calls answer with.
    open_failures: VecDeque<String>,
    /// The live connection's command queue.
    current: Option<mpsc::UnboundedSender<Command>>,
    /// Envelope ids handed out so far.
    counter: u64,
}

struct Inner {
    state: Mutex<State>,
    changed: Notify,
}

/// A fake Socket Mode server; cheap to clone (shared state).
#[derive(Clone)]
pub struct FakeSocket {
    inner: Arc<Inner>,
}

impl Default for FakeSocket {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeSocket {
    /// A server with no connections yet.
    pub fn new() -> Self {
        Self {
            inner: Arc::new(Inner {
                state: Mutex::new(State::default()),
                changed: Notify::new(),
            }),
        }
    }

    /// Serves HTTP and the websocket on two free loopback ports until the
    /// returned task is aborted; returns the HTTP address.
    pub async fn start(&self) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let ws_listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let ws_addr = ws_listener.local_addr()?;
        let http_listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let http_addr = http_listener.local_addr()?;
        let fake = self.clone();
        let app = Router::new().route(
            "/api/apps.connections.open",
            post(move |headers: HeaderMap| {
                let fake = fake.clone();
                async move { axum::Json(fake.open(&headers, ws_addr)) }
            }),
        );
        let fake = self.clone();
        let handle = tokio::spawn(async move {
            let http = async {
                if let Err(e) = axum::serve(http_listener, app).await {
                    tracing::warn!(error = %e, "fake Socket Mode HTTP server stopped");
                }
            };
            // Connection tasks live in this set, so aborting the server ends them too.
            let ws = async {
                let mut conns = JoinSet::new();
                loop {
                    match ws_listener.accept().await {
                        Ok((stream, _)) => {
                            conns.spawn(fake.clone().serve(stream));
                        }
                        Err(e) => tracing::warn!(error = %e, "fake Socket Mode accept failed"),
                    }
                    while conns.try_join_next().is_some() {}
                }
            };
            tokio::join!(http, ws);
        });
        Ok((http_addr, handle))
    }

    /// The Web API base URL of a fake started at `addr`.
    pub fn api_url(addr: SocketAddr) -> String {
        format!("http://{addr}/api/")
    }

    /// How many `apps.connections.open` requests arrived.
    pub fn opens(&self) -> usize {
        self.lock().opens
    }

    /// How many websocket connections were accepted.
    pub fn connections(&self) -> usize {
        self.lock().connections
    }

    /// How many websocket connections have ended.
    pub fn closed(&self) -> usize {
        self.lock().closed
    }

    /// The `envelope_id`s the client acked, in order.
    pub fn acks(&self) -> Vec<String> {
        self.lock().acks.clone()
    }

    /// Frames the client sent that were not acks.
    pub fn other_frames(&self) -> Vec<String> {
        self.lock().other_frames.clone()
    }

    /// Makes the next `apps.connections.open` answer `{"ok": false, "error": code}`.
    pub fn fail_next_open(&self, code: &str) {
        self.lock().open_failures.push_back(code.to_owned());
    }

    /// Sends an envelope of this `type` to the live connection; returns its
    /// `envelope_id`, or `None` when no client is connected.
    pub fn send_envelope(&self, kind: &str, payload: Value) -> Option<String> {
        let id = {
            let mut st = self.lock();
            st.counter += 1;
            format!("env-{}", st.counter)
        };
        let frame = json!({
            "envelope_id": id,
            "type": kind,
            "accepts_response_payload": kind != "events_api",
            "payload": payload,
        });
        self.send_raw(&frame.to_string()).then_some(id)
    }

    /// Sends any text frame to the live connection; `false` when none.
    pub fn send_raw(&self, text: &str) -> bool {
        self.command(Command::Send(text.to_owned()))
    }

    /// Sends `disconnect` the way Slack does before moving a connection.
    pub fn disconnect(&self) -> bool {
        let frame = json!({
            "type": "disconnect",
            "reason": "refresh_requested",
            "debug_info": {"host": "fake-socket"},
        });
        self.send_raw(&frame.to_string())
    }

    /// Closes the live websocket with a close frame.
    pub fn close(&self) -> bool {
        self.command(Command::Close)
    }

    /// Cuts the live connection without a close frame, like a network failure.
    pub fn cut(&self) -> bool {
        self.command(Command::Cut)
    }

    /// Waits until at least `n` websocket connections were accepted.
    pub async fn wait_connections(&self, n: usize) {
        self.wait_until(|st| st.connections >= n && st.current.is_some())
            .await;
    }

    /// Waits until the client acked `envelope_id`.
    pub async fn wait_acked(&self, envelope_id: &str) {
        self.wait_until(|st| st.acks.iter().any(|a| a == envelope_id))
            .await;
    }

    /// Waits until at least `n` websocket connections have ended.
    pub async fn wait_closed(&self, n: usize) {
        self.wait_until(|st| st.closed >= n).await;
    }

    async fn wait_until(&self, done: impl Fn(&State) -> bool) {
        loop {
            let notified = self.inner.changed.notified();
            tokio::pin!(notified);
            // Register before checking, so a change in between is not missed.
            notified.as_mut().enable();
            if done(&self.lock()) {
                return;
            }
            notified.await;
        }
    }

    fn command(&self, cmd: Command) -> bool {
        self.lock()
            .current
            .as_ref()
            .is_some_and(|tx| tx.send(cmd).is_ok())
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock already failed; the
        // state is still readable for the others.
        self.inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn changed(&self) {
        self.inner.changed.notify_waiters();
    }

    /// `apps.connections.open`: checks the app token like Slack does.
    fn open(&self, headers: &HeaderMap, ws_addr: SocketAddr) -> Value {
        let mut st = self.lock();
        st.opens += 1;
        let token = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let answer = match token {
            None => json!({"ok": false, "error": "not_authed"}),
            Some(t) if !t.starts_with("xapp-") => {
                json!({"ok": false, "error": "not_allowed_token_type"})
            }
            Some(_) => match st.open_failures.pop_front() {
                Some(code) => json!({"ok": false, "error": code}),
                None => json!({"ok": true, "url": format!("ws://{ws_addr}/socket")}),
            },
        };
        drop(st);
        self.changed();
        answer
    }

    /// One websocket connection: `hello`, then test commands out and acks in.
    async fn serve(self, stream: tokio::net::TcpStream) {
        let ws = match tokio_tungstenite::accept_async(stream).await {
            Ok(ws) => ws,
            Err(e) => {
                tracing::warn!(error = %e, "fake Socket Mode handshake failed");
                return;
            }
        };
        let (mut write, mut read) = ws.split();
        let (tx, mut rx) = mpsc::unbounded_channel();
        {
            let n = {
                let mut st = self.lock();
                st.connections += 1;
                st.current = Some(tx.clone());
                st.connections
            };
            let hello = json!({
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "fake-socket", "connection": n},
                "connection_info": {"app_id": "A0LOOKOUT"},
            });
            if write
                .send(WsMessage::text(hello.to_string()))
                .await
                .is_err()
            {
                self.ended(&tx);
                return;
            }
        }
        self.changed();
        loop {
            tokio::select! {
                cmd = rx.recv() => match cmd {
                    Some(Command::Send(text)) => {
                        if write.send(WsMessage::text(text)).await.is_err() {
                            break;
                        }
                    }
                    Some(Command::Close) => {
                        let _ = write.send(WsMessage::Close(None)).await;
                        break;
                    }
                    Some(Command::Cut) | None => break,
                },
                frame = read.next() => match frame {
                    Some(Ok(WsMessage::Text(text))) => self.received(text.as_str()),
                    Some(Ok(WsMessage::Close(_))) | Some(Err(_)) | None => break,
                    Some(Ok(_)) => {}
                },
            }
        }
        self.ended(&tx);
    }

    /// Records a frame from the client: an ack if it carries an `envelope_id`.
    fn received(&self, text: &str) {
        let id = serde_json::from_str::<Value>(text)
            .ok()
            .and_then(|v| v.get("envelope_id")?.as_str().map(str::to_owned));
        {
            let mut st = self.lock();
            match id {
                Some(id) => st.acks.push(id),
                None => st.other_frames.push(text.to_owned()),
            }
        }
        self.changed();
    }

    fn ended(&self, tx: &mpsc::UnboundedSender<Command>) {
        {
            let mut st = self.lock();
            st.closed += 1;
            if st.current.as_ref().is_some_and(|c| c.same_channel(tx)) {
                st.current = None;
            }
        }
        self.changed();
    }
}
