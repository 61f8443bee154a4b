//! Socket Mode against a fake Socket Mode server and the fake Slack Web API,
//! both on 127.0.0.1: envelopes are acked by id and reach the handler as
//! neutral events, replies go out through the Web API, `disconnect` and a cut
//! connection reconnect, malformed frames are dropped, and shutdown stops it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use lookout::chat::slack::fake::FakeSlack;
use lookout::chat::slack::fake_socket::FakeSocket;
use lookout::chat::slack::socket::SocketMode;
use lookout::chat::slack::{SlackChat, SlackConfig};
use lookout::config::Secret;
use lookout::domain::FindingId;
use lookout::message::{Accent, ActionKind, ChatError, Message};
use lookout::message::{Inbound, InboundHandler, Outcome};
use serde_json::json;
use tokio::sync::{Notify, watch};

const APP_TOKEN: &str = "xapp-1-test-socket-secret";
const BOT_TOKEN: &str = "xoxb-test-socket-secret";
/// Guards against a hang only; no test asserts on how long anything took.
const PATIENCE: Duration = Duration::from_secs(20);

/// Records every event; answers commands privately and buttons publicly.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<Inbound>>,
    changed: Notify,
}

#[async_trait]
impl InboundHandler for Recorder {
    async fn handle(&self, event: Inbound) -> Outcome {
        let outcome = match &event {
            Inbound::Command { name, text, .. } => {
                Outcome::Private(Message::text(Accent::Info, format!("ran {name} {text}")))
            }
            Inbound::Button { finding, .. } => {
                Outcome::Public(Message::text(Accent::Info, format!("acked {finding}")))
            }
            _ => Outcome::Nothing,
        };
        self.events.lock().unwrap().push(event);
        self.changed.notify_waiters();
        outcome
    }
}

impl Recorder {
    fn events(&self) -> Vec<Inbound> {
        self.events.lock().unwrap().clone()
    }

    async fn wait_events(&self, n: usize) -> Vec<Inbound> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let events = self.events();
            if events.len() >= n {
                return events;
            }
            notified.await;
        }
    }
}

struct Harness {
    socket: FakeSocket,
    slack: FakeSlack,
    recorder: Arc<Recorder>,
    stop: watch::Sender<bool>,
    run: tokio::task::JoinHandle<Result<(), ChatError>>,
    servers: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.run.abort();
        for s in &self.servers {
            s.abort();
        }
    }
}

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut)
        .await
        .unwrap_or_else(|_| panic!("gave up waiting for {what}"))
}

/// Starts both fakes and `SocketMode::run` with a short backoff.
async fn start_with(socket: FakeSocket, app_token: &str) -> Harness {
    let slack = FakeSlack::new(&["client-acme"]);
    let (slack_addr, slack_server) = slack.start().await.expect("fake Slack starts");
    let (socket_addr, socket_server) = socket.start().await.expect("fake socket starts");
    let chat = SlackChat::new(SlackConfig {
        api_url: FakeSlack::api_url(slack_addr),
        bot_token: Secret::new(BOT_TOKEN),
    })
    .expect("adapter builds");
    let recorder = Arc::new(Recorder::default());
    let mode = SocketMode::new(
        Secret::new(app_token),
        FakeSocket::api_url(socket_addr),
        recorder.clone(),
        Arc::new(chat),
    )
    .expect("socket mode builds")
    .with_backoff(Duration::from_millis(10), Duration::from_millis(50));
    let (stop, rx) = watch::channel(false);
    let run = tokio::spawn(mode.run(rx));
    Harness {
        socket,
        slack,
        recorder,
        stop,
        run,
        servers: vec![slack_server, socket_server],
    }
}

async fn start() -> Harness {
    let h = start_with(FakeSocket::new(), APP_TOKEN).await;
    within("the first connection", h.socket.wait_connections(1)).await;
    h
}

fn slash(command: &str, text: &str) -> serde_json::Value {
    json!({
        "token": "legacy-verification-token", "team_id": "T1", "team_domain": "agency",
        "channel_id": "C0001", "channel_name": "client-acme", "user_id": "U42",
        "user_name": "ana", "command": command, "text": text,
        "response_url": "https://hooks.slack.com/commands/x", "trigger_id": "13.42.abc",
    })
}

fn block_action(action_id: &str, value: &str) -> serde_json::Value {
    json!({
        "type": "block_actions", "user": {"id": "U42", "username": "ana"},
        "trigger_id": "13.42.def", "team": {"id": "T1"},
        "channel": {"id": "C0001", "name": "client-acme"},
        "message": {"ts": "1700000000.000100"},
        "actions": [{"type": "button", "action_id": action_id, "block_id": "b1",
                     "value": value, "action_ts": "1700000001.0"}],
    })
}

#[tokio::test]
async fn slash_command_is_acked_and_handled_and_answered_privately() {
    let h = start().await;
    let id = h
        .socket
        .send_envelope("slash_commands", slash("/scan", "acme"))
        .expect("connected");
    within("the ack", h.socket.wait_acked(&id)).await;
    let events = within("the handler", h.recorder.wait_events(1)).await;
    match &events[0] {
        Inbound::Command { actor, name, text } => {
            assert_eq!((name.as_str(), text.as_str()), ("scan", "acme"));
            assert_eq!(actor.person.to_string(), "slack:U42");
            assert_eq!(actor.channel.to_string(), "slack:C0001");
        }
        other => panic!("expected a command, got {other:?}"),
    }
    // The private reply goes out as an ephemeral message to the person.
    within("the ephemeral reply", async {
        loop {
            let calls = h.slack.calls();
            if let Some(c) = calls.iter().find(|c| c.method == "chat.postEphemeral") {
                assert_eq!(c.user.as_deref(), Some("U42"));
                assert_eq!(c.channel.as_deref(), Some("C0001"));
                assert!(c.text.as_deref().unwrap_or("").contains("ran scan acme"));
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert_eq!(h.socket.acks(), vec![id]);
}

#[tokio::test]
async fn block_action_becomes_a_button_and_a_public_reply() {
    let h = start().await;
    let id = h
        .socket
        .send_envelope("interactive", block_action("lookout_ack", "F-12"))
        .expect("connected");
    within("the ack", h.socket.wait_acked(&id)).await;
    let events = within("the handler", h.recorder.wait_events(1)).await;
    match &events[0] {
        Inbound::Button {
            actor,
            action,
            finding,
            choice,
            trigger,
        } => {
            assert_eq!(*action, ActionKind::Acknowledge);
            assert_eq!(*finding, FindingId(12));
            assert_eq!(*choice, None);
            assert_eq!(trigger.as_deref(), Some("13.42.def"));
            assert_eq!(actor.person.to_string(), "slack:U42");
        }
        other => panic!("expected a button, got {other:?}"),
    }
    within("the public reply", async {
        while h.slack.messages("client-acme").is_empty() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    assert!(
        h.slack.messages("client-acme")[0]
            .text
            .contains("acked F-12")
    );
}

#[tokio::test]
async fn disconnect_reconnects_and_goes_on() {
    let h = start().await;
    assert_eq!(h.socket.opens(), 1);
    assert!(h.socket.disconnect());
    within("a second connection", h.socket.wait_connections(2)).await;
    assert_eq!(
        h.socket.opens(),
        2,
        "a fresh apps.connections.open per connection"
    );
    let id = h
        .socket
        .send_envelope("slash_commands", slash("/findings", ""))
        .expect("connected again");
    within("the ack on the new connection", h.socket.wait_acked(&id)).await;
    let events = within("the handler", h.recorder.wait_events(1)).await;
    assert!(matches!(&events[0], Inbound::Command { name, .. } if name == "findings"));
}

#[tokio::test]
async fn a_cut_connection_and_a_failed_open_are_retried() {
    let h = start().await;
    // The first retry is refused as if Slack were having a bad moment.
    h.socket.fail_next_open("internal_error");
    assert!(h.socket.cut());
    within("a new connection", h.socket.wait_connections(2)).await;
    assert_eq!(h.socket.opens(), 3, "one failed open, then a good one");
    let id = h
        .socket
        .send_envelope("interactive", block_action("lookout_resolve", "F-3"))
        .expect("connected again");
    within("the ack", h.socket.wait_acked(&id)).await;
    let events = within("the handler", h.recorder.wait_events(1)).await;
    assert!(matches!(
        &events[0],
        Inbound::Button {
            action: ActionKind::Resolve,
            finding: FindingId(3),
            ..
        }
    ));
}

#[tokio::test]
async fn malformed_envelopes_are_acked_and_dropped() {
    let h = start().await;
    let bad = [
        ("slash_commands", json!("not an object")),
        ("slash_commands", json!({"command": "/scan"})),
        (
            "interactive",
            json!({"type": "block_actions", "actions": []}),
        ),
        ("interactive", block_action("lookout_ack", "not-a-finding")),
        (
            "events_api",
            json!({"event": {"type": "message", "text": "no thread"}}),
        ),
        ("brand_new_type", json!({})),
    ];
    let mut ids = Vec::new();
    for (kind, payload) in bad {
        ids.push(h.socket.send_envelope(kind, payload).expect("connected"));
    }
    // Frames that are not envelopes at all: nothing to ack, nothing to do.
    assert!(h.socket.send_raw("{not json"));
    assert!(
        h.socket
            .send_raw(r#"{"envelope_id": 7, "type": "slash_commands"}"#)
    );
    // A good envelope afterwards proves the session survived.
    let good = h
        .socket
        .send_envelope("slash_commands", slash("/help", ""))
        .expect("connected");
    within("the good ack", h.socket.wait_acked(&good)).await;
    let acks = h.socket.acks();
    for id in &ids {
        assert!(acks.contains(id), "{id} was not acked: {acks:?}");
    }
    assert_eq!(
        acks.len(),
        ids.len() + 1,
        "only envelopes with a string id are acked"
    );
    let events = within("the good event", h.recorder.wait_events(1)).await;
    assert_eq!(
        events.len(),
        1,
        "malformed envelopes reach no handler: {events:?}"
    );
    assert!(matches!(&events[0], Inbound::Command { name, .. } if name == "help"));
    assert_eq!(h.socket.connections(), 1, "no reconnect was needed");
}

#[tokio::test]
async fn shutdown_stops_run_and_closes_the_socket() {
    let mut h = start().await;
    h.stop.send(true).expect("run is listening");
    let result = within("run to stop", &mut h.run)
        .await
        .expect("run did not panic");
    assert!(result.is_ok(), "{result:?}");
    within("the socket to close", h.socket.wait_closed(1)).await;
    assert_eq!(h.socket.connections(), 1, "no reconnect after shutdown");
    assert!(
        h.socket
            .send_envelope("slash_commands", slash("/scan", "acme"))
            .is_none()
    );
}

#[tokio::test]
async fn shutdown_while_waiting_to_reconnect_stops_run() {
    let socket = FakeSocket::new();
    // Every open fails, so run sits in its backoff loop.
    for _ in 0..1000 {
        socket.fail_next_open("service_unavailable");
    }
    let mut h = start_with(socket, APP_TOKEN).await;
    within("a few retries", async {
        while h.socket.opens() < 3 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    h.stop.send(true).expect("run is listening");
    let result = within("run to stop", &mut h.run)
        .await
        .expect("run did not panic");
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(h.socket.connections(), 0);
}

#[tokio::test]
async fn a_refused_app_token_stops_run_with_what_to_fix() {
    let socket = FakeSocket::new();
    socket.fail_next_open("invalid_auth");
    let mut h = start_with(socket, APP_TOKEN).await;
    let result = within("run to give up", &mut h.run)
        .await
        .expect("run did not panic");
    match result {
        Err(ChatError::Rejected(s)) => {
            assert!(s.contains("invalid_auth") && s.contains("xapp-"), "{s}");
            assert!(!s.contains(APP_TOKEN), "the token leaked: {s}");
        }
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(h.socket.opens(), 1, "no retry with a token Slack refused");
}

#[test]
fn a_bot_token_is_refused_before_connecting() {
    let chat = SlackChat::new(SlackConfig::new(Secret::new(BOT_TOKEN))).expect("adapter builds");
    let err = SocketMode::new(
        Secret::new(BOT_TOKEN),
        "https://slack.com/api/",
        Arc::new(Recorder::default()),
        Arc::new(chat),
    )
    .err()
    .expect("a bot token is not an app token");
    match err {
        ChatError::Rejected(s) => {
            assert!(s.contains("xapp-"), "{s}");
            assert!(!s.contains(BOT_TOKEN), "{s}");
        }
        other => panic!("{other:?}"),
    }
    let chat = SlackChat::new(SlackConfig::new(Secret::new(BOT_TOKEN))).expect("adapter builds");
    let plain = SocketMode::new(
        Secret::new(APP_TOKEN),
        "http://slack.example/api/",
        Arc::new(Recorder::default()),
        Arc::new(chat),
    );
    assert!(matches!(plain, Err(ChatError::Rejected(s)) if s.contains("api_url")));
}
