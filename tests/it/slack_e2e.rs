//! Slack end to end: signed requests to Lookout's own HTTP endpoints, the real
//! dispatcher and app, and the fake Slack Web API receiving what people see.

use std::sync::Arc;

use chrono::Duration;
use lookout::chat::slack::fake::FakeSlack;
use lookout::chat::slack::http::{SlackHttp, router};
use lookout::chat::slack::verify::{Verifier, sign};
use lookout::chat::slack::{SlackChat, SlackConfig};
use lookout::clock::{Clock, SimClock};
use lookout::commands::Role;
use lookout::commands::dispatch::Dispatcher;
use lookout::config::Secret;
use lookout::demo::{Stack, demo_start};
use lookout::domain::Severity;
use lookout::findings::{FindingState, Findings};
use lookout::message::{ChannelRef, PersonRef};
use lookout::routing::Mode;

use crate::support;

const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

struct Env {
    stack: Stack,
    fake: FakeSlack,
    base: String,
    http: reqwest::Client,
}

async fn env() -> Env {
    let fake = FakeSlack::new(&["client-acme", "client-bluebird", "agency"]);
    let (slack_addr, _) = fake.start().await.unwrap();
    let slack = Arc::new(
        SlackChat::new(SlackConfig {
            api_url: FakeSlack::api_url(slack_addr),
            bot_token: Secret::new("xoxb-e2e"),
        })
        .unwrap(),
    );
    let clock = SimClock::frozen(demo_start());
    let stack = Stack::start_with(
        7,
        12,
        clock.clone(),
        slack.clone(),
        &["acme", "bluebird"],
        |c| {
            // The fake names the channels C0001, C0002, C0003 in order.
            c.people
                .insert(PersonRef::parse("slack:U0ANA").unwrap(), Role::Am);
            // Bo's thread replies become notes: only account managers and up add notes.
            c.people
                .insert(PersonRef::parse("slack:U0BO").unwrap(), Role::Am);
            c.agency.channels = vec![ChannelRef::parse("slack:C0003").unwrap()];
            for (client, id) in c.clients.iter_mut().zip(["C0001", "C0002"]) {
                client.channels = vec![ChannelRef::parse(&format!("slack:{id}")).unwrap()];
                client.owners = vec![PersonRef::parse("slack:U0ANA").unwrap()];
            }
        },
    )
    .await
    .unwrap();
    let state = SlackHttp::new(
        Arc::new(Verifier::new(Secret::new(SECRET))),
        slack,
        Arc::new(Dispatcher::new(stack.app.clone())),
        Arc::new(clock),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(state)).await });
    Env {
        stack,
        fake,
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
    }
}

impl Env {
    async fn signed(&self, path: &str, content_type: &str, body: String) -> reqwest::StatusCode {
        let ts = self.stack.clock.now().timestamp();
        let sig = sign(&Secret::new(SECRET), ts, body.as_bytes());
        self.http
            .post(format!("{}{path}", self.base))
            .header("content-type", content_type)
            .header("x-slack-request-timestamp", ts.to_string())
            .header("x-slack-signature", sig)
            .body(body)
            .send()
            .await
            .unwrap()
            .status()
    }

    /// Waits (bounded) until the fake has a message in `channel` matching `pred`.
    async fn wait_for(
        &self,
        channel: &str,
        pred: impl Fn(&lookout::chat::slack::fake::FakeMessage) -> bool,
    ) -> lookout::chat::slack::fake::FakeMessage {
        for _ in 0..100 {
            self.stack.app.deliverer.run_once().await.unwrap();
            if let Some(m) = self.fake.messages(channel).into_iter().find(|m| pred(m)) {
                return m;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!(
            "nothing matching in #{channel}: {:#?}",
            self.fake.messages(channel)
        );
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut f = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        f.append_pair(k, v);
    }
    f.finish()
}

#[tokio::test]
async fn a_finding_is_acked_from_its_button_and_annotated_from_its_thread() {
    let e = env().await;
    let app = &e.stack.app;
    // A critical finding, posted by the outbox to Slack.
    let obs = support::observation(
        "flow-live-stopped",
        "F1",
        Severity::Critical,
        "Flow \"Abandoned Checkout\" stopped <!channel>",
    );
    let (changes, _) = support::record(app, "acme", obs, e.stack.clock.now(), Mode::Normal).await;
    let id = changes[0].finding.id;
    let posted = e
        .wait_for("client-acme", |m| m.text.contains("Abandoned Checkout"))
        .await;
    assert!(
        !posted.text.contains("<!channel>"),
        "client text is escaped: {}",
        posted.text
    );

    // The Acknowledge button, clicked by ana in Slack.
    let payload = serde_json::json!({
        "type": "block_actions", "user": {"id": "U0ANA"}, "trigger_id": "T1",
        "channel": {"id": "C0001", "name": "client-acme"}, "container": {"channel_id": "C0001", "message_ts": posted.ts},
        "message": {"ts": posted.ts}, "actions": [{"action_id": "lookout_ack", "value": id.to_string()}]
    });
    let status = e
        .signed(
            "/slack/interactions",
            "application/x-www-form-urlencoded",
            form(&[("payload", &payload.to_string())]),
        )
        .await;
    assert_eq!(status, 200);
    let edited = e
        .wait_for("client-acme", |m| m.ts == posted.ts && m.edits > 0)
        .await;
    assert!(
        edited.text.contains("Acknowledged by U0ANA"),
        "edited in place: {}",
        edited.text
    );
    let mut conn = app.store.conn().await.unwrap();
    assert_eq!(
        Findings::get(&mut conn, id).await.unwrap().state,
        FindingState::Acknowledged
    );
    drop(conn);

    // A reply in the finding's thread becomes a note and gets a reaction.
    let reply_ts = e
        .fake
        .human_reply("client-acme", &posted.ts, "U0BO", "told client Monday")
        .unwrap();
    let event = serde_json::json!({"type": "event_callback", "event_id": "Ev1", "event": {
        "type": "message", "user": "U0BO", "channel": "C0001", "ts": reply_ts, "thread_ts": posted.ts, "text": "told client Monday"}});
    assert_eq!(
        e.signed("/slack/events", "application/json", event.to_string())
            .await,
        200
    );
    let reacted = e
        .wait_for("client-acme", |m| {
            m.ts == reply_ts && !m.reactions.is_empty()
        })
        .await;
    assert_eq!(reacted.reactions, ["memo"]);
    let mut conn = app.store.conn().await.unwrap();
    let notes = Findings::notes(&mut conn, id).await.unwrap();
    assert_eq!(
        (notes[0].author.as_str(), notes[0].body.as_str()),
        ("slack:U0BO", "told client Monday")
    );
    drop(conn);
    // Slack retries the same event (new timestamp, new signature): taken once only.
    e.stack.clock.advance(Duration::seconds(2));
    assert_eq!(
        e.signed("/slack/events", "application/json", event.to_string())
            .await,
        200
    );
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut conn = app.store.conn().await.unwrap();
    assert_eq!(
        Findings::notes(&mut conn, id).await.unwrap().len(),
        1,
        "a retried event is not a second note"
    );
    drop(conn);

    // A forged click changes nothing.
    let forged = e
        .http
        .post(format!("{}/slack/interactions", e.base))
        .header(
            "x-slack-request-timestamp",
            e.stack.clock.now().timestamp().to_string(),
        )
        .header("x-slack-signature", "v0=00")
        .body(form(&[("payload", &payload.to_string())]))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
}

#[tokio::test]
async fn a_slash_command_scan_shows_progress_in_one_message_then_the_result() {
    let e = env().await;
    let body = form(&[
        ("command", "/lookout"),
        ("text", "scan acme"),
        ("user_id", "U0ANA"),
        ("channel_id", "C0001"),
        ("channel_name", "client-acme"),
        ("trigger_id", "T2"),
        ("response_url", "https://hooks.slack.com/commands/x"),
    ]);
    assert_eq!(
        e.signed("/slack/commands", "application/x-www-form-urlencoded", body)
            .await,
        200
    );
    let done = e
        .wait_for("client-acme", |m| m.text.contains("Scan of acme done"))
        .await;
    assert!(
        done.edits >= 2,
        "progress edited the same message ({} edits)",
        done.edits
    );
    // The person got a private acknowledgement too.
    assert!(
        e.fake
            .calls()
            .iter()
            .any(|c| c.method == "chat.postEphemeral" && c.user.as_deref() == Some("U0ANA"))
    );
}
