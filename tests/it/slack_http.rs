//! Slack's inbound HTTP endpoints on 127.0.0.1, driven the way Slack drives
//! them: signed slash commands, button clicks, modal submissions and Events
//! API callbacks go in; a recording handler sees the neutral events, and the
//! fake Slack Web API records how each outcome was shown. Unsigned, forged,
//! stale, replayed, malformed and oversized requests are refused before they
//! reach the handler.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{TimeZone, Utc};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::sync::{mpsc, oneshot};

use lookout::chat::replay::SharedSeen;
use lookout::chat::slack::fake::{FakeCall, FakeSlack};
use lookout::chat::slack::http::{SlackHttp, router};
use lookout::chat::slack::verify::Verifier;
use lookout::chat::slack::{SlackChat, SlackConfig};
use lookout::clock::SimClock;
use lookout::config::Secret;
use lookout::domain::FindingId;
use lookout::message::{
    Accent, ActionKind, ChannelRef, ChatAdapter, Message, MessageRef, PersonRef,
};
use lookout::message::{Actor, Inbound, InboundHandler, Outcome};

const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const TOKEN: &str = "xoxb-test-slackhttp";
/// Generous deadline for background work; never an assertion about speed.
const WAIT: Duration = Duration::from_secs(20);

type Decide = Box<dyn Fn(&Inbound) -> Outcome + Send + Sync>;

/// Records every event and answers with `decide`; optionally holds each
/// event until the test opens the gate.
struct Recorder {
    seen: mpsc::UnboundedSender<Inbound>,
    decide: Decide,
    gate: Mutex<Option<oneshot::Receiver<()>>>,
    finished: Mutex<bool>,
}

#[async_trait]
impl InboundHandler for Recorder {
    async fn handle(&self, event: Inbound) -> Outcome {
        let _ = self.seen.send(event.clone());
        let gate = self.gate.lock().unwrap().take();
        if let Some(gate) = gate {
            let _ = gate.await;
        }
        *self.finished.lock().unwrap() = true;
        (self.decide)(&event)
    }
}

struct Harness {
    fake: FakeSlack,
    chat: Arc<SlackChat>,
    recorder: Arc<Recorder>,
    events: mpsc::UnboundedReceiver<Inbound>,
    base: String,
    http: reqwest::Client,
    clock: SimClock,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

async fn harness_with(decide: Decide, gate: Option<oneshot::Receiver<()>>) -> Harness {
    harness_sharing(decide, gate, None).await
}

/// A harness whose endpoints also remember taken requests in `shared`, as
/// each process behind a load balancer does in the database.
async fn harness_sharing(
    decide: Decide,
    gate: Option<oneshot::Receiver<()>>,
    shared: Option<Arc<dyn SharedSeen>>,
) -> Harness {
    let fake = FakeSlack::new(&["client-acme", "client-beta"]);
    let (addr, fake_task) = fake.start().await.unwrap();
    let chat = Arc::new(
        SlackChat::new(SlackConfig {
            api_url: FakeSlack::api_url(addr),
            bot_token: Secret::new(TOKEN),
        })
        .unwrap(),
    );
    let (tx, events) = mpsc::unbounded_channel();
    let recorder = Arc::new(Recorder {
        seen: tx,
        decide,
        gate: Mutex::new(gate),
        finished: Mutex::new(false),
    });
    let clock = SimClock::frozen(Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap());
    let mut state = SlackHttp::new(
        Arc::new(Verifier::new(Secret::new(SIGNING_SECRET))),
        chat.clone(),
        recorder.clone(),
        Arc::new(clock.clone()),
    );
    if let Some(shared) = shared {
        state = state.sharing(shared);
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = router(state);
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Harness {
        fake,
        chat,
        recorder,
        events,
        base,
        http: reqwest::Client::new(),
        clock,
        tasks: vec![fake_task, server],
    }
}

async fn harness(decide: impl Fn(&Inbound) -> Outcome + Send + Sync + 'static) -> Harness {
    harness_with(Box::new(decide), None).await
}

fn say(text: &str) -> Message {
    Message::text(Accent::Info, text)
}

/// `v0=` HMAC-SHA256 over `v0:{ts}:{body}`, computed here as Slack would.
fn signature(secret: &str, ts: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(format!("v0:{ts}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    let mut s = String::new();
    for (k, v) in pairs {
        if !s.is_empty() {
            s.push('&');
        }
        s.push_str(k);
        s.push('=');
        for b in v.bytes() {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                s.push(b as char);
            } else {
                s.push_str(&format!("%{b:02X}"));
            }
        }
    }
    s.into_bytes()
}

fn slash(command: &str, text: &str) -> Vec<u8> {
    form(&[
        ("token", "gIkuvaNzQIHg97ATvDxqgjtO"),
        ("team_id", "T0001"),
        ("channel_id", "C0001"),
        ("channel_name", "client-acme"),
        ("user_id", "U0CA5"),
        ("user_name", "amy"),
        ("command", command),
        ("text", text),
        ("response_url", "https://hooks.slack.com/commands/1234/5678"),
        ("trigger_id", "13345224609.738474920.8088930838d88f008e0"),
    ])
}

fn click(action: Value) -> Vec<u8> {
    let payload = json!({
        "type": "block_actions",
        "user": {"id": "U0CA5", "username": "amy", "team_id": "T3MDE"},
        "api_app_id": "A0CA5",
        "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0001"},
        "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
        "team": {"id": "T3MDE", "domain": "example"},
        "channel": {"id": "C0001", "name": "client-acme"},
        "message": {"type": "message", "ts": "1700000000.000100", "bot_id": "B0001", "text": "x"},
        "response_url": "https://hooks.slack.com/actions/T3MDE/1/abc",
        "actions": [action]
    });
    form(&[("payload", &payload.to_string())])
}

fn message_event(event: Value) -> Vec<u8> {
    json!({
        "token": "XXYYZZ", "team_id": "T3MDE", "api_app_id": "A0CA5",
        "event": event, "type": "event_callback", "event_id": "Ev08MFMKH6",
        "event_time": 1_700_000_100
    })
    .to_string()
    .into_bytes()
}

impl Harness {
    fn now(&self) -> i64 {
        use lookout::clock::Clock;
        self.clock.now().timestamp()
    }

    /// Sends `body` to `path` with the given signing headers (`None` leaves one out).
    async fn send_raw(
        &self,
        path: &str,
        body: Vec<u8>,
        ts: Option<String>,
        sig: Option<String>,
    ) -> reqwest::Response {
        let content_type = if path.ends_with("events") {
            "application/json"
        } else {
            "application/x-www-form-urlencoded"
        };
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .body(body);
        if let Some(ts) = ts {
            req = req.header("X-Slack-Request-Timestamp", ts);
        }
        if let Some(sig) = sig {
            req = req.header("X-Slack-Signature", sig);
        }
        req.send().await.unwrap()
    }

    /// Sends `body` signed as Slack would, at `now + offset` seconds.
    async fn send_at(&self, path: &str, body: Vec<u8>, offset: i64) -> reqwest::Response {
        let ts = self.now() + offset;
        let sig = signature(SIGNING_SECRET, ts, &body);
        self.send_raw(path, body, Some(ts.to_string()), Some(sig))
            .await
    }

    async fn send(&self, path: &str, body: Vec<u8>) -> reqwest::Response {
        self.send_at(path, body, 0).await
    }

    async fn next_event(&mut self) -> Inbound {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("the handler got an event")
            .expect("the recorder is alive")
    }

    /// Waits for the fake to have received a successful call to `method`.
    async fn call(&self, method: &str) -> FakeCall {
        let find = || {
            self.fake
                .calls()
                .into_iter()
                .find(|c| c.method == method && c.error.is_none())
        };
        tokio::time::timeout(WAIT, async {
            loop {
                if let Some(c) = find() {
                    return c;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {method} call; calls: {:?}", self.fake.calls()))
    }

    fn handled_nothing(&mut self) -> bool {
        self.events.try_recv().is_err()
    }
}

fn acme_actor() -> Actor {
    Actor {
        person: PersonRef::parse("slack:U0CA5").unwrap(),
        channel: acme(),
    }
}

/// `client-acme` is the first channel of the fake, so `C0001`.
fn acme() -> ChannelRef {
    ChannelRef::parse("slack:C0001").unwrap()
}

#[tokio::test]
async fn a_slash_command_is_dispatched_and_answered_privately() {
    let mut h = harness(|_| Outcome::Private(say("Scanning acme…"))).await;
    let res = h
        .send("/slack/commands", slash("/lookout", "scan acme"))
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["response_type"], "ephemeral");
    assert_eq!(
        h.next_event().await,
        Inbound::Command {
            actor: acme_actor(),
            name: "scan".into(),
            text: "acme".into()
        }
    );
    let shown = h.call("chat.postEphemeral").await;
    assert_eq!(shown.channel.as_deref(), Some("C0001"));
    assert_eq!(shown.user.as_deref(), Some("U0CA5"));
    assert!(shown.text.unwrap().contains("Scanning acme"));
}

#[tokio::test]
async fn an_ack_click_is_a_button_and_a_public_outcome_is_posted() {
    let mut h = harness(|_| Outcome::Public(say("Amy acknowledged F-12"))).await;
    let res = h
        .send(
            "/slack/interactions",
            click(
                json!({"action_id": "lookout_ack", "type": "button", "value": "F-12",
                         "block_id": "b", "action_ts": "1700000050.1"}),
            ),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(res.text().await.unwrap(), "");
    let ev = h.next_event().await;
    assert!(
        matches!(
            &ev,
            Inbound::Button { actor, action: ActionKind::Acknowledge, finding: FindingId(12), choice: None, trigger: Some(_) }
                if *actor == acme_actor()
        ),
        "{ev:?}"
    );
    let posted = h.call("chat.postMessage").await;
    assert_eq!(posted.channel.as_deref(), Some("C0001"));
    assert_eq!(h.fake.messages("client-acme").len(), 1);
}

#[tokio::test]
async fn a_snooze_select_carries_its_choice() {
    let mut h = harness(|_| Outcome::Nothing).await;
    let res = h
        .send(
            "/slack/interactions",
            click(json!({
                "action_id": "lookout_snooze", "type": "static_select", "block_id": "b",
                "selected_option": {"text": {"type": "plain_text", "text": "4 hours"}, "value": "F-12|4h"},
                "action_ts": "1700000050.1"
            })),
        )
        .await;
    assert_eq!(res.status(), 200);
    let ev = h.next_event().await;
    assert!(
        matches!(&ev, Inbound::Button { action: ActionKind::Snooze, finding: FindingId(12), choice: Some(c), .. } if c == "4h"),
        "{ev:?}"
    );
}

#[tokio::test]
async fn add_note_opens_a_modal_whose_submission_becomes_a_note() {
    let mut h = harness(|ev| match ev {
        Inbound::Button { finding, .. } => Outcome::OpenNoteDialog(*finding),
        _ => Outcome::Private(say("Note saved on F-12")),
    })
    .await;
    let res = h
        .send(
            "/slack/interactions",
            click(json!({"action_id": "lookout_note", "type": "button", "value": "F-12"})),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert!(matches!(
        h.next_event().await,
        Inbound::Button {
            action: ActionKind::AddNote,
            ..
        }
    ));
    let opened = h.call("views.open").await;
    assert_eq!(
        opened.trigger_id.as_deref(),
        Some("12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3")
    );
    let view = opened.view.expect("the view was sent");
    assert_eq!(view["type"], "modal");
    assert_eq!(view["callback_id"], "lookout_note");
    let meta: Value = serde_json::from_str(view["private_metadata"].as_str().unwrap()).unwrap();
    assert_eq!(meta["finding"], "F-12");

    // The person types a note and submits the modal Slack showed.
    let block = view["blocks"][0]["block_id"].as_str().unwrap().to_owned();
    let input = view["blocks"][0]["element"]["action_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let submission = json!({
        "type": "view_submission",
        "team": {"id": "T3MDE"},
        "user": {"id": "U0CA5", "username": "amy"},
        "trigger_id": "12466734323.1395872398.0bef1ae4b9a7",
        "view": {
            "id": "V0001", "type": "modal", "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "state": {"values": {block: {input: {"type": "plain_text_input",
                "value": "Paused on purpose until the sale ends"}}}}
        }
    });
    let res = h
        .send(
            "/slack/interactions",
            form(&[("payload", &submission.to_string())]),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        h.next_event().await,
        Inbound::NoteSubmitted {
            actor: acme_actor(),
            finding: FindingId(12),
            text: "Paused on purpose until the sale ends".into()
        }
    );
    let shown = h.call("chat.postEphemeral").await;
    assert_eq!(shown.channel.as_deref(), Some("C0001"));
}

#[tokio::test]
async fn a_thread_reply_is_handled_and_confirmed_with_a_reaction() {
    let mut h = harness(|_| Outcome::Noted(FindingId(12))).await;
    let parent = h
        .chat
        .post(&acme(), &say("Flow stopped"), None)
        .await
        .unwrap();
    let reply = h
        .fake
        .human_reply("client-acme", &parent.0, "U0CA5", "Client paused it")
        .unwrap();
    let res = h
        .send(
            "/slack/events",
            message_event(json!({
                "type": "message", "channel": "C0001", "user": "U0CA5",
                "text": "Client paused it", "ts": reply, "thread_ts": parent.0,
                "channel_type": "channel", "event_ts": reply
            })),
        )
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        h.next_event().await,
        Inbound::ThreadReply {
            actor: acme_actor(),
            thread: parent.clone(),
            message: MessageRef(reply.clone()),
            text: "Client paused it".into()
        }
    );
    let reacted = h.call("reactions.add").await;
    assert_eq!(reacted.ts.as_deref(), Some(reply.as_str()));
    assert_eq!(reacted.reaction.as_deref(), Some("memo"));
    let msgs = h.fake.messages("client-acme");
    let kept = msgs.iter().find(|m| m.ts == reply).unwrap();
    assert_eq!(kept.reactions, vec!["memo".to_owned()]);
}

#[tokio::test]
async fn bot_messages_and_link_clicks_are_ignored() {
    let mut h = harness(|_| Outcome::Nothing).await;
    let res = h
        .send(
            "/slack/events",
            message_event(json!({
                "type": "message", "channel": "C0001", "bot_id": "B0001", "user": "U0BOT",
                "text": "Flow stopped", "ts": "1700000100.000200", "thread_ts": "1700000000.000100",
        "channel_type": "channel", "event_ts": "1700000100.000200"
            })),
        )
        .await;
    assert_eq!(res.status(), 200);
    let res = h
        .send(
            "/slack/interactions",
            click(json!({"action_id": "lookout_link_1", "type": "button",
                         "url": "https://www.klaviyo.com/flow/X/edit"})),
        )
        .await;
    assert_eq!(res.status(), 200);
    // Ignored requests are answered without spawning anything.
    assert!(h.handled_nothing());
    assert!(h.fake.calls().is_empty());
}

#[tokio::test]
async fn the_url_check_is_answered_at_once() {
    let mut h = harness(|_| Outcome::Nothing).await;
    let res = h
        .send(
            "/slack/events",
            br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#.to_vec(),
        )
        .await;
    assert_eq!(res.status(), 200);
    let body: Value = res.json().await.unwrap();
    assert_eq!(
        body["challenge"],
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );
    assert!(h.handled_nothing());
}

#[tokio::test]
async fn unverified_requests_are_refused_with_401() {
    let mut h = harness(|_| Outcome::Private(say("should not happen"))).await;
    let body = slash("/ack", "F-12");
    let now = h.now();

    // Signed with another secret.
    let forged = signature("not-the-secret", now, &body);
    let res = h
        .send_raw(
            "/slack/commands",
            body.clone(),
            Some(now.to_string()),
            Some(forged),
        )
        .await;
    assert_eq!(res.status(), 401);

    // Genuinely signed, but six minutes old.
    let res = h.send_at("/slack/commands", body.clone(), -360).await;
    assert_eq!(res.status(), 401);

    // Missing either header.
    let sig = signature(SIGNING_SECRET, now, &body);
    for (ts, sig) in [
        (None, None),
        (Some(now.to_string()), None),
        (None, Some(sig.clone())),
    ] {
        let res = h.send_raw("/slack/events", body.clone(), ts, sig).await;
        assert_eq!(res.status(), 401);
    }

    // A valid signature over a different body.
    let res = h
        .send_raw(
            "/slack/commands",
            slash("/resolve", "F-12"),
            Some(now.to_string()),
            Some(sig),
        )
        .await;
    assert_eq!(res.status(), 401);

    assert!(h.handled_nothing());
    assert!(h.fake.calls().is_empty());
}

#[tokio::test]
async fn a_replayed_request_is_refused_the_second_time() {
    let mut h = harness(|_| Outcome::Nothing).await;
    let body = click(json!({"action_id": "lookout_ack", "type": "button", "value": "F-12"}));
    let ts = h.now().to_string();
    let sig = signature(SIGNING_SECRET, h.now(), &body);
    let first = h
        .send_raw(
            "/slack/interactions",
            body.clone(),
            Some(ts.clone()),
            Some(sig.clone()),
        )
        .await;
    assert_eq!(first.status(), 200);
    assert!(matches!(h.next_event().await, Inbound::Button { .. }));
    h.clock.advance(chrono::Duration::seconds(30));
    let again = h
        .send_raw("/slack/interactions", body, Some(ts), Some(sig))
        .await;
    assert_eq!(again.status(), 401);
    assert!(h.handled_nothing());
}

#[tokio::test]
async fn a_replay_or_a_retried_event_reaching_another_process_is_not_handled_there() {
    // Two processes behind one load balancer, sharing one database.
    let store = lookout::store::Store::open_memory().await.unwrap();
    let at = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
    let shared: Arc<dyn SharedSeen> = Arc::new(lookout::shared::StoreSeen::new(
        store,
        Arc::new(SimClock::frozen(at)),
    ));
    let nothing = || -> Decide { Box::new(|_| Outcome::Nothing) };
    let mut a = harness_sharing(nothing(), None, Some(shared.clone())).await;
    let mut b = harness_sharing(nothing(), None, Some(shared)).await;
    let body = click(json!({"action_id": "lookout_ack", "type": "button", "value": "F-12"}));
    let (ts, sig) = (a.now(), signature(SIGNING_SECRET, a.now(), &body));
    let first = a
        .send_raw(
            "/slack/interactions",
            body.clone(),
            Some(ts.to_string()),
            Some(sig.clone()),
        )
        .await;
    assert_eq!(first.status(), 200);
    assert!(matches!(a.next_event().await, Inbound::Button { .. }));
    // The captured request replayed at the other process: its own memory
    // never saw it, the database did.
    let replayed = b
        .send_raw("/slack/interactions", body, Some(ts.to_string()), Some(sig))
        .await;
    // The acknowledgement never waits on the database: acknowledged, and
    // dropped unhandled.
    assert_eq!(replayed.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(b.handled_nothing());
    // Slack retries an event with a new signature; the retry reaching the
    // other process is acknowledged there and not handled twice.
    let event = message_event(json!({
        "type": "message", "channel": "C0001", "user": "U0ANA", "text": "on it",
        "ts": "1700000100.000200", "thread_ts": "1700000000.000100",
        "channel_type": "channel", "event_ts": "1700000100.000200"
    }));
    assert_eq!(a.send("/slack/events", event.clone()).await.status(), 200);
    let _ = a.next_event().await;
    assert_eq!(b.send_at("/slack/events", event, 3).await.status(), 200);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(b.handled_nothing());
    // A new request is taken by either.
    let other = click(json!({"action_id": "lookout_ack", "type": "button", "value": "F-13"}));
    assert_eq!(b.send("/slack/interactions", other).await.status(), 200);
    assert!(matches!(b.next_event().await, Inbound::Button { .. }));
}

#[tokio::test]
async fn malformed_payloads_are_refused_with_400() {
    let mut h = harness(|_| Outcome::Private(say("should not happen"))).await;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("/slack/commands", b"\xff\xfe\x00garbage".to_vec()),
        ("/slack/commands", b"text=no+command+here".to_vec()),
        ("/slack/interactions", b"payload=%7Bnot%20json".to_vec()),
        ("/slack/interactions", b"no_payload=1".to_vec()),
        (
            "/slack/interactions",
            click(json!({"action_id": "drop_tables", "type": "button", "value": "F-1"})),
        ),
        (
            "/slack/interactions",
            click(json!({"action_id": "lookout_ack", "type": "button", "value": "not-a-finding"})),
        ),
        ("/slack/events", b"{\"type\": ".to_vec()),
        ("/slack/events", b"[1,2,3]".to_vec()),
    ];
    for (path, body) in cases {
        let shown = String::from_utf8_lossy(&body).into_owned();
        let res = h.send(path, body).await;
        assert_eq!(res.status(), 400, "{path} {shown}");
    }
    assert!(h.handled_nothing());
    assert!(h.fake.calls().is_empty());
}

#[tokio::test]
async fn an_oversized_body_is_refused() {
    let mut h = harness(|_| Outcome::Nothing).await;
    let mut body = slash("/note", "F-12 ");
    body.extend(std::iter::repeat_n(b'a', 2 * 1024 * 1024));
    let res = h.send("/slack/commands", body).await;
    assert!(
        res.status() == 413 || res.status() == 400,
        "{}",
        res.status()
    );
    assert!(h.handled_nothing());
}

#[tokio::test]
async fn the_answer_comes_before_a_slow_handler_finishes() {
    let (release, gate) = oneshot::channel();
    let mut h = harness_with(
        Box::new(|_| Outcome::Private(say("Done after a long scan"))),
        Some(gate),
    )
    .await;
    let res = h.send("/slack/commands", slash("/scan", "acme")).await;
    // Slack has its answer while the handler is still waiting on the gate.
    assert_eq!(res.status(), 200);
    assert!(matches!(h.next_event().await, Inbound::Command { .. }));
    assert!(!*h.recorder.finished.lock().unwrap());
    assert!(
        !h.fake
            .calls()
            .iter()
            .any(|c| c.method == "chat.postEphemeral")
    );
    release.send(()).unwrap();
    let shown = h.call("chat.postEphemeral").await;
    assert!(shown.text.unwrap().contains("Done after a long scan"));
    assert!(*h.recorder.finished.lock().unwrap());
}

#[tokio::test]
async fn a_direct_message_is_its_own_channel_with_no_lookup() {
    let mut h = harness(|_| Outcome::Nothing).await;
    let body = form(&[
        ("channel_id", "D0DM1"),
        ("channel_name", "directmessage"),
        ("user_id", "U0CA5"),
        ("command", "/findings"),
        ("text", ""),
    ]);
    assert_eq!(h.send("/slack/commands", body).await.status(), 200);
    let Inbound::Command { actor, name, .. } = h.next_event().await else {
        panic!("not a command");
    };
    assert_eq!(actor.channel.to_string(), "slack:D0DM1");
    assert_eq!(name, "findings");
    // A DM is never looked for in the channel list.
    assert!(
        h.fake
            .calls()
            .iter()
            .all(|c| c.method != "conversations.list")
    );
}

#[tokio::test]
async fn dialogs_and_reactions_fail_the_way_slack_does() {
    let h = harness(|_| Outcome::Nothing).await;
    let acme = acme();
    let err = h
        .chat
        .open_note_dialog("", FindingId(3), &acme)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid_trigger_id"), "{err}");

    let parent = h
        .chat
        .post(&acme, &say("Flow stopped"), None)
        .await
        .unwrap();
    h.chat.react(&acme, &parent, "memo").await.unwrap();
    // Reacting twice is not an error: the note is confirmed either way.
    h.chat.react(&acme, &parent, ":memo:").await.unwrap();
    assert_eq!(h.fake.messages("client-acme")[0].reactions, vec!["memo"]);
    let err = h
        .chat
        .react(&acme, &MessageRef("1.000001".into()), "memo")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("message_not_found"), "{err}");
}
