//! Discord's interactions endpoint on 127.0.0.1, driven the way Discord
//! drives it: signed PINGs, slash commands, button clicks, the snooze select,
//! the note modal and autocomplete go in; a recording handler sees the
//! neutral events, and the answers are read as Discord would. A slow handler
//! gets a deferred answer and its outcome arrives as an edit of the original
//! answer on the fake Discord. Missing, forged, stale and replayed
//! signatures get 401, malformed payloads 400, oversized ones 413.

use crate::discord_support;

use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use discord_support::{
    ANA, FakeSetup, WAIT, button, fake_discord, interaction, public_key_hex, recorder, select,
    sign, signing_key, wait_for_call,
};
use lookout::chat::discord::http::{DiscordHttp, MAX_BODY_BYTES, PATH, router};
use lookout::chat::discord::verify::Verifier;
use lookout::clock::{Clock, SimClock};
use lookout::domain::FindingId;
use lookout::message::{
    Accent, ActionKind, Actor, ChannelRef, Choice, Inbound, Message, Outcome, PersonRef, Platform,
};

struct Harness {
    setup: FakeSetup,
    events: mpsc::UnboundedReceiver<Inbound>,
    url: String,
    http: reqwest::Client,
    clock: SimClock,
    channel: String,
    next_id: u64,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn harness_with(
    decide: impl Fn(&Inbound) -> Outcome + Send + Sync + 'static,
    gate: Option<oneshot::Receiver<()>>,
    answer_within: Duration,
) -> Harness {
    let setup = fake_discord().await;
    let channel = setup.fake.add_channel("client-acme");
    let (handler, events) = recorder(decide, gate);
    let clock = SimClock::frozen(Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap());
    let state = DiscordHttp::new(
        Arc::new(Verifier::new(&public_key_hex()).unwrap()),
        setup.chat.clone(),
        handler,
        Arc::new(clock.clone()),
    )
    .with_answer_within(answer_within);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
        .await
        .unwrap();
    let url = format!("http://{}{PATH}", listener.local_addr().unwrap());
    let app = router(state);
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    Harness {
        setup,
        events,
        url,
        http: reqwest::Client::new(),
        clock,
        channel,
        next_id: 1_300_000_000_000_000_000,
        server,
    }
}

async fn harness(decide: impl Fn(&Inbound) -> Outcome + Send + Sync + 'static) -> Harness {
    // Generous: a handler that answers at once is never deferred, however slow the machine.
    harness_with(decide, None, Duration::from_secs(10)).await
}

fn say(text: &str) -> Message {
    Message::text(Accent::Info, text)
}

fn actor(channel: &str) -> Actor {
    Actor {
        person: PersonRef::new(Platform::Discord, ANA.to_string()).unwrap(),
        channel: ChannelRef::new(Platform::Discord, channel).unwrap(),
    }
}

impl Harness {
    fn body(&mut self, ty: u64, data: Value) -> Vec<u8> {
        self.next_id += 1;
        serde_json::to_vec(&interaction(self.next_id, ty, &self.channel, data)).unwrap()
    }

    async fn send_raw(&self, headers: &[(&str, String)], body: Vec<u8>) -> (u16, Value) {
        let mut req = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body);
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let text = res.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Posts `body` signed as Discord would, `age_secs` ago.
    async fn send_signed(&self, body: Vec<u8>, age_secs: i64) -> (u16, Value) {
        let ts = (self.clock.now().timestamp() - age_secs).to_string();
        let sig = sign(&signing_key(), &ts, &body);
        self.send_raw(
            &[("x-signature-ed25519", sig), ("x-signature-timestamp", ts)],
            body,
        )
        .await
    }

    async fn send(&self, body: Vec<u8>) -> (u16, Value) {
        self.send_signed(body, 0).await
    }

    async fn next_event(&mut self) -> Inbound {
        tokio::time::timeout(WAIT, self.events.recv())
            .await
            .expect("the handler was called")
            .expect("the recorder is alive")
    }

    fn nothing_handled(&mut self) -> bool {
        self.events.try_recv().is_err()
    }
}

#[tokio::test]
async fn ping_gets_pong() {
    let h = harness(|_| Outcome::Nothing).await;
    let body = br#"{"id":"1","application_id":"2","type":1,"token":"t","version":1}"#.to_vec();
    assert_eq!(h.send(body).await, (200, json!({"type": 1})));
}

#[tokio::test]
async fn a_slash_command_is_answered_privately() {
    let mut h = harness(|_| Outcome::Private(say("Scanning acme…"))).await;
    let body = h.body(
        2,
        json!({"id": "9", "name": "scan", "type": 1, "options": [{"name": "client", "type": 3, "value": "acme"}]}),
    );
    let (status, answer) = h.send(body).await;
    assert_eq!(status, 200);
    assert_eq!(answer["type"], 4);
    assert_eq!(answer["data"]["flags"], 64);
    assert!(
        answer["data"]["embeds"]
            .to_string()
            .contains("Scanning acme")
    );
    assert_eq!(answer["data"]["allowed_mentions"]["parse"], json!([]));
    let channel = h.channel.clone();
    assert_eq!(
        h.next_event().await,
        Inbound::Command {
            actor: actor(&channel),
            name: "scan".into(),
            text: "acme".into(),
        }
    );
}

#[tokio::test]
async fn a_public_outcome_is_shown_in_the_channel() {
    let mut h = harness(|_| Outcome::Public(say("Portfolio"))).await;
    let body = h.body(2, json!({"id": "9", "name": "portfolio", "type": 1}));
    let (status, answer) = h.send(body).await;
    assert_eq!((status, answer["type"].clone()), (200, json!(4)));
    assert!(answer["data"].get("flags").is_none());
}

#[tokio::test]
async fn a_button_click_reaches_the_handler() {
    let mut h = harness(|_| Outcome::Private(say("Acknowledged F-12"))).await;
    let body = h.body(3, button("lookout:ack:F-12"));
    let (status, answer) = h.send(body).await;
    assert_eq!((status, answer["type"].clone()), (200, json!(4)));
    assert_eq!(answer["data"]["flags"], 64);
    let channel = h.channel.clone();
    assert_eq!(
        h.next_event().await,
        Inbound::Button {
            actor: actor(&channel),
            action: ActionKind::Acknowledge,
            finding: FindingId(12),
            choice: None,
            trigger: None,
        }
    );
}

#[tokio::test]
async fn the_snooze_select_carries_its_choice() {
    let mut h = harness(|_| Outcome::Nothing).await;
    let body = h.body(3, select("lookout:snooze:F-12", "until-worse"));
    let (status, answer) = h.send(body).await;
    // Nothing to say: the click is acknowledged without a message.
    assert_eq!((status, answer), (200, json!({"type": 6})));
    match h.next_event().await {
        Inbound::Button {
            action,
            finding,
            choice,
            ..
        } => {
            assert_eq!(action, ActionKind::Snooze);
            assert_eq!(finding, FindingId(12));
            assert_eq!(choice.as_deref(), Some("until-worse"));
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn add_note_opens_the_modal_and_its_submission_is_a_note() {
    let mut h = harness(|e| match e {
        Inbound::Button { finding, .. } => Outcome::OpenNoteDialog(*finding),
        Inbound::NoteSubmitted { finding, .. } => Outcome::Noted(*finding),
        _ => Outcome::Nothing,
    })
    .await;
    let body = h.body(3, button("lookout:note:F-12"));
    let (status, modal) = h.send(body).await;
    assert_eq!((status, modal["type"].clone()), (200, json!(9)));
    assert_eq!(modal["data"]["custom_id"], "lookout:notemodal:F-12");
    let input = &modal["data"]["components"][0]["components"][0];
    assert_eq!(
        (input["type"].clone(), input["custom_id"].clone()),
        (json!(4), json!("note"))
    );
    h.next_event().await;

    // Discord sends back the modal's custom_id and the typed value.
    let submit = h.body(
        5,
        json!({"custom_id": "lookout:notemodal:F-12", "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": "note", "value": "Told the client on Monday"}]}
        ]}),
    );
    let (status, answer) = h.send(submit).await;
    assert_eq!((status, answer["type"].clone()), (200, json!(4)));
    assert_eq!(answer["data"]["flags"], 64);
    assert!(answer.to_string().contains("Note added to F-12"));
    let channel = h.channel.clone();
    assert_eq!(
        h.next_event().await,
        Inbound::NoteSubmitted {
            actor: actor(&channel),
            finding: FindingId(12),
            text: "Told the client on Monday".into(),
        }
    );
}

#[tokio::test]
async fn autocomplete_answers_with_choices() {
    let mut h = harness(|_| {
        Outcome::Choices(vec![
            Choice {
                label: "Acme Outdoor".into(),
                value: "acme".into(),
            },
            Choice {
                label: "Acme Labs".into(),
                value: "acme-labs".into(),
            },
        ])
    })
    .await;
    let body = h.body(
        4,
        json!({"id": "9", "name": "scan", "type": 1, "options": [{"name": "client", "type": 3, "value": "ac", "focused": true}]}),
    );
    let (status, answer) = h.send(body).await;
    assert_eq!(status, 200);
    assert_eq!(
        answer,
        json!({"type": 8, "data": {"choices": [
            {"name": "Acme Outdoor", "value": "acme"},
            {"name": "Acme Labs", "value": "acme-labs"}
        ]}})
    );
    let channel = h.channel.clone();
    assert_eq!(
        h.next_event().await,
        Inbound::Autocomplete {
            actor: actor(&channel),
            command: "scan".into(),
            arg: "client".into(),
            typed: "ac".into(),
        }
    );
}

#[tokio::test]
async fn a_slow_handler_is_deferred_then_edits_the_original_answer() {
    let (open, gate) = oneshot::channel();
    let mut h = harness_with(
        |_| Outcome::Private(say("Scan finished: 2 findings")),
        Some(gate),
        Duration::from_millis(200),
    )
    .await;
    let body = h.body(
        2,
        json!({"id": "9", "name": "scan", "type": 1, "options": [{"name": "client", "type": 3, "value": "acme"}]}),
    );
    let (status, answer) = h.send(body).await;
    assert_eq!(
        (status, answer),
        (200, json!({"type": 5, "data": {"flags": 64}}))
    );
    h.next_event().await;
    // Nothing is edited while the handler still works.
    assert!(
        !h.setup
            .fake
            .calls()
            .iter()
            .any(|c| c.path.contains("@original"))
    );
    open.send(()).unwrap();
    let edit = wait_for_call(&h.setup.fake, |c| {
        c.method == "PATCH" && c.path.ends_with("/messages/@original")
    })
    .await;
    assert_eq!(edit.status, 200);
    assert!(edit.path.starts_with(&format!(
        "/webhooks/{}/aW50ZXJhY3Rpb246",
        discord_support::APP_ID
    )));
    let sent = edit.body.unwrap();
    assert!(sent["embeds"].to_string().contains("Scan finished"));
}

#[tokio::test]
async fn a_slow_public_outcome_becomes_a_follow_up() {
    let (open, gate) = oneshot::channel();
    let mut h = harness_with(
        |_| Outcome::Public(say("Portfolio: 2 clients")),
        Some(gate),
        Duration::from_millis(200),
    )
    .await;
    let body = h.body(2, json!({"id": "9", "name": "portfolio", "type": 1}));
    let (_, answer) = h.send(body).await;
    assert_eq!(answer["type"], 5);
    h.next_event().await;
    open.send(()).unwrap();
    let follow = wait_for_call(&h.setup.fake, |c| {
        c.method == "POST" && c.path.starts_with("/webhooks/")
    })
    .await;
    let body = follow.body.unwrap();
    assert!(
        body.get("flags").is_none(),
        "a follow-up without flags is public"
    );
    assert!(body["embeds"].to_string().contains("Portfolio"));
    wait_for_call(&h.setup.fake, |c| c.path.ends_with("@original")).await;
}

#[tokio::test]
async fn bad_signatures_get_401_and_reach_nobody() {
    let mut h = harness(|_| Outcome::Nothing).await;
    let body = h.body(2, json!({"id": "9", "name": "portfolio", "type": 1}));
    let ts = h.clock.now().timestamp().to_string();

    // Missing headers.
    assert_eq!(h.send_raw(&[], body.clone()).await.0, 401);
    assert_eq!(
        h.send_raw(&[("x-signature-timestamp", ts.clone())], body.clone())
            .await
            .0,
        401
    );
    // Forged: another key, or a body changed after signing.
    let other = ed25519_dalek::SigningKey::from_bytes(&[1u8; 32]);
    let forged = sign(&other, &ts, &body);
    assert_eq!(
        h.send_raw(
            &[
                ("x-signature-ed25519", forged),
                ("x-signature-timestamp", ts.clone())
            ],
            body.clone()
        )
        .await
        .0,
        401
    );
    let genuine = sign(&signing_key(), &ts, &body);
    let mut changed = body.clone();
    changed.push(b' ');
    assert_eq!(
        h.send_raw(
            &[
                ("x-signature-ed25519", genuine.clone()),
                ("x-signature-timestamp", ts.clone())
            ],
            changed
        )
        .await
        .0,
        401
    );
    // Stale: six minutes old, correctly signed.
    assert_eq!(h.send_signed(body.clone(), 360).await.0, 401);
    assert!(h.nothing_handled());

    // Genuine once, then the same request replayed.
    let headers = [
        ("x-signature-ed25519", genuine),
        ("x-signature-timestamp", ts),
    ];
    assert_eq!(h.send_raw(&headers, body.clone()).await.0, 200);
    h.next_event().await;
    assert_eq!(h.send_raw(&headers, body).await.0, 401);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(h.nothing_handled());
}

#[tokio::test]
async fn malformed_payloads_get_400() {
    let mut h = harness(|_| Outcome::Nothing).await;
    let bodies: Vec<Vec<u8>> = vec![
        b"not json".to_vec(),
        b"[]".to_vec(),
        br#"{"type": 2}"#.to_vec(),
        h.body(
            3,
            json!({"custom_id": "someone-else:thing", "component_type": 2}),
        ),
        h.body(
            2,
            json!({"name": "scan", "options": [{"name": "client", "type": 3, "value": 7}]}),
        ),
    ];
    for body in bodies {
        let shown = String::from_utf8_lossy(&body).into_owned();
        assert_eq!(h.send(body).await.0, 400, "{shown}");
    }
    assert!(h.nothing_handled());
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let mut h = harness(|_| Outcome::Nothing).await;
    let mut body = h.body(2, json!({"name": "portfolio"}));
    body.extend(std::iter::repeat_n(b' ', MAX_BODY_BYTES));
    assert_eq!(h.send(body).await.0, 413);
    assert!(h.nothing_handled());
}
