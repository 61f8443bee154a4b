//! The Slack adapter against the fake Slack Web API on 127.0.0.1, driven as
//! the outbox drives it: post, edit in place, reply in a thread, recover a
//! keyed post after a crash, and turn Slack's failures into `ChatError`s.

use lookout::chat::slack::fake::{FakeFailure, FakeSlack};
use lookout::chat::slack::{SlackChat, SlackConfig};
use lookout::config::Secret;
use lookout::domain::{FindingId, Severity};
use lookout::message::{
    Accent, Action, ActionKind, Block, ChannelRef, ChatAdapter, ChatError, Message, MessageRef,
    PersonRef, RichText, Span,
};

const TOKEN: &str = "xoxb-test-7f3a9c-secret";

struct Harness {
    fake: FakeSlack,
    chat: SlackChat,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn harness(channels: &[&str]) -> Harness {
    let fake = FakeSlack::new(channels);
    let (addr, server) = fake.start().await.expect("fake Slack starts");
    let chat = SlackChat::new(SlackConfig {
        api_url: FakeSlack::api_url(addr),
        bot_token: Secret::new(TOKEN),
    })
    .expect("adapter builds");
    Harness { fake, chat, server }
}

/// Every harness lists `client-acme` first, so the fake gives it `C0001`.
fn acme() -> ChannelRef {
    ChannelRef::parse("slack:C0001").unwrap()
}

fn card(flow: &str, accent: Accent) -> Message {
    Message {
        accent,
        blocks: vec![
            Block::Header(format!("Flow stopped: {flow}")),
            Block::Text(
                RichText::plain("The flow ")
                    .push(Span::Strong(flow.to_owned()))
                    .push(Span::Plain(" has sent nothing for 3 days.".to_owned())),
            ),
            Block::Fields(vec![("Client".to_owned(), RichText::plain("acme"))]),
            Block::Actions(vec![
                Action::Button {
                    kind: ActionKind::Acknowledge,
                    finding: FindingId(12),
                },
                Action::Button {
                    kind: ActionKind::Snooze,
                    finding: FindingId(12),
                },
            ]),
        ],
    }
}

fn critical(flow: &str) -> Message {
    card(flow, Accent::Severity(Severity::Critical))
}

/// Every string an error can show a person.
fn shown(e: &ChatError) -> String {
    format!("{e} {e:?}")
}

#[tokio::test]
async fn post_update_in_place_then_reply_in_thread() {
    let h = harness(&["client-acme", "general"]).await;
    let posted = h
        .chat
        .post(&acme(), &critical("Welcome"), None)
        .await
        .unwrap();
    h.chat
        .update(&acme(), &posted, &card("Welcome", Accent::Acknowledged))
        .await
        .unwrap();
    let reply = h
        .chat
        .post(
            &acme(),
            &Message::text(Accent::Info, "Ana acknowledged"),
            Some(&posted),
        )
        .await
        .unwrap();

    let msgs = h.fake.messages("client-acme");
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0].ts, posted.0);
    assert_eq!(msgs[0].edits, 1);
    assert_eq!(msgs[0].thread_ts, None);
    assert!(
        msgs[0].text.starts_with("👀 Flow stopped: Welcome"),
        "{}",
        msgs[0].text
    );
    assert_eq!(msgs[0].blocks[0]["type"], "header");
    assert_eq!(
        msgs[0].blocks[0]["text"]["text"],
        "👀 Flow stopped: Welcome"
    );
    assert_eq!(msgs[1].ts, reply.0);
    assert_eq!(msgs[1].thread_ts.as_deref(), Some(posted.0.as_str()));
    assert_eq!(msgs[1].edits, 0);
    assert!(h.fake.messages("general").is_empty());

    // Channels are given by id: no lookups, just the three calls.
    let methods: Vec<String> = h.fake.calls().into_iter().map(|c| c.method).collect();
    assert_eq!(
        methods,
        ["chat.postMessage", "chat.update", "chat.postMessage"]
    );
    assert!(
        h.fake
            .calls()
            .iter()
            .all(|c| c.channel.as_deref() == Some("C0001"))
    );
}

#[tokio::test]
async fn keyed_posts_are_found_again_top_level_and_in_threads() {
    let h = harness(&["client-acme"]).await;
    // Unrelated traffic around the keyed posts.
    for i in 0..3 {
        h.chat
            .post(
                &acme(),
                &Message::text(Accent::Info, format!("noise {i}")),
                None,
            )
            .await
            .unwrap();
    }
    let parent = h
        .chat
        .post_keyed(&acme(), &critical("Welcome"), None, "outbox-41")
        .await
        .unwrap();
    let reply = h
        .chat
        .post_keyed(
            &acme(),
            &Message::text(Accent::Info, "note"),
            Some(&parent),
            "outbox-42",
        )
        .await
        .unwrap();
    h.chat
        .post(&acme(), &Message::text(Accent::Info, "later"), None)
        .await
        .unwrap();

    assert_eq!(
        h.chat
            .find_posted(&acme(), None, "outbox-41")
            .await
            .unwrap(),
        Some(parent.clone())
    );
    assert_eq!(
        h.chat
            .find_posted(&acme(), Some(&parent), "outbox-42")
            .await
            .unwrap(),
        Some(reply.clone())
    );
    // A different key, or a thread reply looked for at top level, finds nothing.
    assert_eq!(
        h.chat
            .find_posted(&acme(), None, "outbox-99")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        h.chat
            .find_posted(&acme(), None, "outbox-42")
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        h.chat
            .find_posted(&acme(), Some(&parent), "outbox-43")
            .await
            .unwrap(),
        None
    );

    let keyed: Vec<_> = h
        .fake
        .messages("client-acme")
        .into_iter()
        .filter_map(|m| m.metadata_key)
        .collect();
    assert_eq!(keyed, ["outbox-41", "outbox-42"]);
    let calls = h.fake.calls();
    let lookups: Vec<&str> = calls
        .iter()
        .filter(|c| c.method.starts_with("conversations.") && c.method != "conversations.list")
        .map(|c| c.method.as_str())
        .collect();
    assert_eq!(
        lookups,
        [
            "conversations.history",
            "conversations.replies",
            "conversations.history",
            "conversations.history",
            "conversations.replies"
        ]
    );
}

#[tokio::test]
async fn find_posted_pages_through_recent_history_only() {
    let h = harness(&["client-acme"]).await;
    let old = h
        .chat
        .post_keyed(
            &acme(),
            &Message::text(Accent::Info, "old"),
            None,
            "old-key",
        )
        .await
        .unwrap();
    // 150 newer messages: the keyed one is on the second page of 100.
    for i in 0..150 {
        h.chat
            .post(&acme(), &Message::text(Accent::Info, format!("n{i}")), None)
            .await
            .unwrap();
    }
    assert_eq!(
        h.chat.find_posted(&acme(), None, "old-key").await.unwrap(),
        Some(old)
    );
    let history_calls = h
        .fake
        .calls()
        .iter()
        .filter(|c| c.method == "conversations.history")
        .count();
    assert_eq!(history_calls, 2);

    // Far beyond the few pages searched: not found, and the search stops.
    for i in 0..300 {
        h.chat
            .post(&acme(), &Message::text(Accent::Info, format!("m{i}")), None)
            .await
            .unwrap();
    }
    assert_eq!(
        h.chat.find_posted(&acme(), None, "old-key").await.unwrap(),
        None
    );
    let history_calls = h
        .fake
        .calls()
        .iter()
        .filter(|c| c.method == "conversations.history")
        .count();
    assert_eq!(history_calls, 2 + 3);
}

#[tokio::test]
async fn http_429_becomes_rate_limited_with_retry_after() {
    let h = harness(&["client-acme"]).await;
    // Resolve the channel first so the failure hits the post itself.
    h.chat.post(&acme(), &critical("A"), None).await.unwrap();
    h.fake
        .fail_next(1, FakeFailure::RateLimited { retry_after: 17 });
    let err = h
        .chat
        .post(&acme(), &critical("B"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            ChatError::RateLimited {
                retry_after_secs: 17
            }
        ),
        "{err:?}"
    );
    // The next call goes through again; nothing was posted by the failed one.
    h.chat.post(&acme(), &critical("C"), None).await.unwrap();
    assert_eq!(h.fake.messages("client-acme").len(), 2);
}

#[tokio::test]
async fn slack_ratelimited_error_code_is_rate_limited_too() {
    let h = harness(&["client-acme"]).await;
    h.fake
        .fail_next(1, FakeFailure::SlackError("ratelimited".to_owned()));
    let err = h
        .chat
        .post(&acme(), &critical("A"), None)
        .await
        .unwrap_err();
    assert!(matches!(err, ChatError::RateLimited { retry_after_secs } if retry_after_secs > 0));
}

#[tokio::test]
async fn http_500_and_a_dead_server_are_unavailable() {
    let h = harness(&["client-acme"]).await;
    h.fake.fail_next(1, FakeFailure::ServerError);
    let err = h
        .chat
        .post(&acme(), &critical("A"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChatError::Unavailable(s) if s.contains("500")),
        "{err:?}"
    );
    assert!(!shown(&err).contains(TOKEN));

    // Nothing listening at all: a transport error, also worth retrying.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let chat = SlackChat::new(SlackConfig {
        api_url: FakeSlack::api_url(addr),
        bot_token: Secret::new(TOKEN),
    })
    .unwrap();
    let err = chat
        .post(
            &ChannelRef::parse("slack:C0001").unwrap(),
            &critical("A"),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(err, ChatError::Unavailable(_)), "{err:?}");
    assert!(!shown(&err).contains(TOKEN));
}

#[tokio::test]
async fn slack_error_codes_are_rejected_with_the_code() {
    let h = harness(&["client-acme"]).await;
    h.fake
        .fail_next(1, FakeFailure::SlackError("channel_not_found".to_owned()));
    let err = h
        .chat
        .post(
            &ChannelRef::parse("slack:C0001").unwrap(),
            &critical("A"),
            None,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChatError::Rejected(s) if s.contains("channel_not_found") && s.contains("invite")),
        "{err:?}"
    );

    // Real validation errors from the fake: a ts that does not exist.
    let err = h
        .chat
        .update(
            &acme(),
            &MessageRef("1699999999.000100".to_owned()),
            &critical("A"),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChatError::Rejected(s) if s.contains("message_not_found")),
        "{err:?}"
    );
    let err = h
        .chat
        .post(
            &acme(),
            &critical("A"),
            Some(&MessageRef("1699999999.000100".to_owned())),
        )
        .await
        .unwrap_err();
    assert!(matches!(&err, ChatError::Rejected(s) if s.contains("thread_not_found")));
    // An id that is not a channel of this workspace.
    let err = h
        .chat
        .post(
            &ChannelRef::parse("slack:C9999").unwrap(),
            &critical("A"),
            None,
        )
        .await
        .unwrap_err();
    assert!(matches!(&err, ChatError::Rejected(s) if s.contains("channel_not_found")));
    assert!(h.fake.messages("client-acme").is_empty());
}

#[tokio::test]
async fn channels_of_another_platform_are_refused_without_a_call() {
    let h = harness(&["client-acme"]).await;
    let err = h
        .chat
        .post(&ChannelRef::console("client-acme"), &critical("A"), None)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ChatError::Rejected(s) if s.contains("not a Slack channel")),
        "{err:?}"
    );
    assert!(h.fake.calls().is_empty());
}

#[tokio::test]
async fn a_hostile_flow_name_arrives_escaped() {
    let h = harness(&["client-acme"]).await;
    let flow = "<!channel> <https://evil|click> @here";
    h.chat.post(&acme(), &critical(flow), None).await.unwrap();
    let m = &h.fake.messages("client-acme")[0];
    let section = m.blocks[1]["text"]["text"].as_str().unwrap();
    assert!(
        section.contains("*&lt;!channel&gt; &lt;https://evil|click&gt; ＠here*"),
        "{section}"
    );
    for text in [section, m.text.as_str()] {
        assert!(!text.contains("<!channel>"), "{text}");
        assert!(!text.contains("<https://evil"), "{text}");
        assert!(!text.contains("@here"), "{text}");
    }
    assert!(m.text.contains("&lt;!channel&gt;"), "{}", m.text);
    // The header is plain_text, which Slack shows as typed and never parses.
    assert_eq!(m.blocks[0]["text"]["type"], "plain_text");
}

#[tokio::test]
async fn ephemeral_goes_to_one_user() {
    let h = harness(&["client-acme"]).await;
    h.chat
        .ephemeral(
            &acme(),
            &PersonRef::parse("slack:U0ANA").unwrap(),
            &Message::text(Accent::Error, "try /help"),
        )
        .await
        .unwrap();
    let call = h.fake.calls().pop().unwrap();
    assert_eq!(call.method, "chat.postEphemeral");
    assert_eq!(call.user.as_deref(), Some("U0ANA"));
    assert_eq!(call.channel.as_deref(), Some("C0001"));
    assert_eq!(call.text.as_deref(), Some("⚠️ try /help"));
    assert!(
        h.fake.messages("client-acme").is_empty(),
        "not a channel message"
    );

    let err = h
        .chat
        .ephemeral(
            &acme(),
            &PersonRef::console("ana"),
            &Message::text(Accent::Error, "x"),
        )
        .await
        .unwrap_err();
    assert!(matches!(&err, ChatError::Rejected(s) if s.contains("not a Slack user")));
}

#[tokio::test]
async fn the_token_never_appears_in_an_error() {
    let h = harness(&["client-acme"]).await;
    let mut errors = Vec::new();
    for failure in [
        FakeFailure::RateLimited { retry_after: 1 },
        FakeFailure::ServerError,
        FakeFailure::SlackError("invalid_auth".to_owned()),
        FakeFailure::SlackError(TOKEN.to_owned()),
    ] {
        h.fake.fail_next(1, failure);
        errors.push(
            h.chat
                .post(&acme(), &critical("A"), None)
                .await
                .unwrap_err(),
        );
    }
    errors.push(
        h.chat
            .post(
                &ChannelRef::parse("slack:C0NOPE").unwrap(),
                &critical("A"),
                None,
            )
            .await
            .unwrap_err(),
    );
    // A wrong base path answers 404.
    let (addr, server) = h.fake.start().await.unwrap();
    let wrong = SlackChat::new(SlackConfig {
        api_url: format!("http://{addr}/wrong/"),
        bot_token: Secret::new(TOKEN),
    })
    .unwrap();
    errors.push(
        wrong
            .post(
                &ChannelRef::parse("slack:C0001").unwrap(),
                &critical("A"),
                None,
            )
            .await
            .unwrap_err(),
    );
    server.abort();
    assert!(
        matches!(&errors[5], ChatError::Rejected(s) if s.contains("404") && s.contains("api_url"))
    );
    assert!(matches!(&errors[2], ChatError::Rejected(s) if s.contains("bot token")));
    for e in &errors {
        assert!(!shown(e).contains(TOKEN), "{e:?}");
    }
}

#[tokio::test]
async fn the_fake_requires_a_bot_token_and_accepts_form_bodies() {
    let fake = FakeSlack::new(&["client-acme"]);
    let (addr, server) = fake.start().await.unwrap();
    let url = format!("{}chat.postMessage", FakeSlack::api_url(addr));
    let http = reqwest::Client::new();

    let no_auth: serde_json::Value = http
        .post(&url)
        .form(&[("channel", "C0001"), ("text", "hi")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        no_auth,
        serde_json::json!({"ok": false, "error": "not_authed"})
    );

    let ok: serde_json::Value = http
        .post(&url)
        .bearer_auth("xoxb-1")
        .form(&[
            ("channel", "C0001"),
            ("text", "hi & bye"),
            ("blocks", r#"[{"type":"divider"}]"#),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ok["ok"], true, "{ok}");
    assert_eq!(ok["ts"], "1700000000.000100");
    let m = &fake.messages("client-acme")[0];
    assert_eq!(m.text, "hi & bye");
    assert_eq!(m.blocks, [serde_json::json!({"type": "divider"})]);

    let empty: serde_json::Value = http
        .post(&url)
        .bearer_auth("xoxb-1")
        .json(&serde_json::json!({"channel": "C0001"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(empty["error"], "no_text");
    let calls = fake.calls();
    assert_eq!(calls.len(), 3);
    assert_eq!(calls[0].error.as_deref(), Some("not_authed"));
    assert_eq!(calls[1].ts.as_deref(), Some("1700000000.000100"));
    assert_eq!(calls[2].error.as_deref(), Some("no_text"));
    server.abort();
}
