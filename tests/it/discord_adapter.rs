//! The Discord adapter against a fake Discord REST API on 127.0.0.1: posts,
//! edits in place, thread replies, exactly-once posting (nonces, and finding
//! a post again after a crash), Discord's failures mapped to what the outbox
//! does, and rendering that stays within Discord's limits and cannot be
//! turned into a ping or a forged link by client text.

use crate::discord_support;

use std::time::Duration;

use serde_json::Value;

use discord_support::{ANA, TOKEN, WAIT, chat_for, fake_discord};
use lookout::chat::discord::NOTED_REACTION;
use lookout::chat::discord::fake::{BOT_USER_ID, Failure};
use lookout::domain::{FindingId, Severity};
use lookout::message::{
    Accent, Action, ActionKind, Block, ChannelRef, ChatAdapter, ChatError, Message, MessageRef,
    PersonRef, Platform, RichText, Span,
};

fn channel(id: &str) -> ChannelRef {
    ChannelRef::new(Platform::Discord, id).unwrap()
}

fn finding_card(title: &str, accent: Accent) -> Message {
    let f = FindingId(12);
    Message {
        accent,
        blocks: vec![
            Block::Header(title.into()),
            Block::Text(RichText::plain("The flow has sent nothing for 3 days.")),
            Block::Fields(vec![("Client".into(), RichText::plain("Acme"))]),
            Block::Context(RichText(vec![Span::Code("F-12".into())])),
            Block::Actions(vec![
                Action::Button {
                    kind: ActionKind::Acknowledge,
                    finding: f,
                },
                Action::Button {
                    kind: ActionKind::Snooze,
                    finding: f,
                },
            ]),
        ],
    }
}

fn text(s: &str) -> Message {
    Message::text(Accent::Info, s)
}

#[tokio::test]
async fn post_then_update_in_place() {
    let s = fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    let open = finding_card("Welcome flow stopped", Accent::Severity(Severity::Critical));
    let posted = s.chat.post(&channel(&c), &open, None).await.unwrap();
    let acked = finding_card("Welcome flow stopped", Accent::Acknowledged);
    s.chat.update(&channel(&c), &posted, &acked).await.unwrap();

    let msgs = s.fake.messages(&c);
    assert_eq!(msgs.len(), 1, "an update must not post again");
    let m = &msgs[0];
    assert_eq!(m.id, posted.0);
    assert_eq!(m.edits, 1);
    assert_eq!(m.embeds[0]["title"], "Welcome flow stopped");
    assert_ne!(
        m.embeds[0]["color"],
        Value::from(0xE0_1E_5A),
        "the colour follows the new accent"
    );
    let ids: Vec<&str> = m
        .components
        .iter()
        .flat_map(|r| r["components"].as_array().unwrap())
        .filter_map(|b| b["custom_id"].as_str())
        .collect();
    assert_eq!(ids, ["lookout:ack:F-12", "lookout:snooze:F-12"]);
    assert_eq!(s.chat.platform(), Platform::Discord);
    assert_eq!(s.chat.min_interval(), Duration::from_secs(1));
}

#[tokio::test]
async fn a_thread_reply_starts_the_thread_from_the_message_once() {
    let s = fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    let parent = s
        .chat
        .post(
            &channel(&c),
            &finding_card("Bounce spike", Accent::Info),
            None,
        )
        .await
        .unwrap();
    let first = s
        .chat
        .post(&channel(&c), &text("Acknowledged by Ana"), Some(&parent))
        .await
        .unwrap();
    let second = s
        .chat
        .post(&channel(&c), &text("Snoozed for 4h"), Some(&parent))
        .await
        .unwrap();

    // The thread has the finding message's id and the channel as parent.
    assert_eq!(s.fake.thread_parent(&parent.0).as_deref(), Some(c.as_str()));
    let in_thread = s.fake.messages(&parent.0);
    assert_eq!(
        in_thread.iter().map(|m| m.id.clone()).collect::<Vec<_>>(),
        [first.0, second.0]
    );
    assert_eq!(
        s.fake.messages(&c).len(),
        1,
        "replies are not in the channel"
    );
    let starts: Vec<_> = s
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.path.ends_with("/threads"))
        .collect();
    assert_eq!(starts.len(), 1, "the thread is started once");
    let name = starts[0].body.as_ref().unwrap()["name"].as_str().unwrap();
    assert_eq!(name, "Bounce spike");

    // A new adapter (a restart) finds the thread already there and posts in it.
    let restarted = chat_for(&s.api_url, TOKEN);
    restarted
        .post(&channel(&c), &text("Resolved"), Some(&parent))
        .await
        .unwrap();
    assert_eq!(s.fake.messages(&parent.0).len(), 3);
}

#[tokio::test]
async fn a_deleted_thread_is_started_again() {
    let s = fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    let parent = s
        .chat
        .post(
            &channel(&c),
            &finding_card("Bounce spike", Accent::Info),
            None,
        )
        .await
        .unwrap();
    s.chat
        .post(&channel(&c), &text("first"), Some(&parent))
        .await
        .unwrap();
    assert!(s.fake.delete_channel(&parent.0));
    s.chat
        .post(&channel(&c), &text("after deletion"), Some(&parent))
        .await
        .unwrap();
    let in_thread = s.fake.messages(&parent.0);
    assert_eq!(in_thread.len(), 1);
    assert!(
        in_thread[0].embeds[0]
            .to_string()
            .contains("after deletion")
    );
    let starts = s
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.path.ends_with("/threads") && c.status < 300)
        .count();
    assert_eq!(starts, 2);
}

#[tokio::test]
async fn a_repeated_nonce_does_not_post_twice() {
    let s = fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    let m = text("Scan finished: 2 findings");
    let a = s
        .chat
        .post_keyed(&channel(&c), &m, None, "outbox:41")
        .await
        .unwrap();
    let b = s
        .chat
        .post_keyed(&channel(&c), &m, None, "outbox:41")
        .await
        .unwrap();
    assert_eq!(a, b);
    assert_eq!(s.fake.messages(&c).len(), 1);
    let sent: Vec<Value> = s
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.method == "POST")
        .filter_map(|c| c.body)
        .collect();
    assert_eq!(sent.len(), 2);
    for body in &sent {
        let nonce = body["nonce"].as_str().unwrap();
        assert!(nonce.len() <= 25, "{nonce}");
        assert_eq!(body["enforce_nonce"], true);
    }
    // Another key is another message.
    let c2 = s
        .chat
        .post_keyed(&channel(&c), &m, None, "outbox:42")
        .await
        .unwrap();
    assert_ne!(a, c2);
    assert_eq!(s.fake.messages(&c).len(), 2);
}

#[tokio::test]
async fn find_posted_finds_a_message_after_a_crash() {
    let s = fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    // Noise: other posts, before and after.
    for i in 0..3 {
        s.chat
            .post_keyed(
                &channel(&c),
                &text(&format!("old {i}")),
                None,
                &format!("k{i}"),
            )
            .await
            .unwrap();
    }
    // The post reaches Discord, then the process dies before the answer arrives.
    s.fake.set_latency(Duration::from_secs(30));
    let chat = s.chat.clone();
    let target = channel(&c);
    let crashed = tokio::spawn(async move {
        chat.post_keyed(&target, &text("the one"), None, "outbox:77")
            .await
    });
    let deadline = tokio::time::Instant::now() + WAIT;
    while s.fake.messages(&c).len() < 4 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    crashed.abort();
    s.fake.set_latency(Duration::ZERO);
    let expected = s.fake.messages(&c)[3].id.clone();

    let restarted = chat_for(&s.api_url, TOKEN);
    let found = restarted
        .find_posted(&channel(&c), None, "outbox:77")
        .await
        .unwrap();
    assert_eq!(found, Some(MessageRef(expected)));
    assert_eq!(
        restarted
            .find_posted(&channel(&c), None, "outbox:never")
            .await
            .unwrap(),
        None
    );
    // The same in a thread, and in a thread that does not exist yet.
    let parent = MessageRef(s.fake.messages(&c)[0].id.clone());
    let reply = restarted
        .post_keyed(&channel(&c), &text("in thread"), Some(&parent), "outbox:78")
        .await
        .unwrap();
    assert_eq!(
        restarted
            .find_posted(&channel(&c), Some(&parent), "outbox:78")
            .await
            .unwrap(),
        Some(reply)
    );
    let no_thread = MessageRef(s.fake.messages(&c)[1].id.clone());
    assert_eq!(
        restarted
            .find_posted(&channel(&c), Some(&no_thread), "outbox:78")
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
async fn find_posted_ignores_a_tag_written_by_someone_else() {
    let s = fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    let key = "outbox:9";
    // Another app posts an embed whose footer carries the tag of our key.
    let tag = lookout::chat::discord::tag_of(key);
    let footer =
        vec![serde_json::json!({"description": "x", "footer": {"text": format!("ref {tag}")}})];
    assert!(s.fake.write_embeds(&c, 77, footer).is_some());
    assert_eq!(
        s.chat.find_posted(&channel(&c), None, key).await.unwrap(),
        None
    );
    // Our own post with that key is found, past the impostor.
    let ours = s
        .chat
        .post_keyed(&channel(&c), &text("ours"), None, key)
        .await
        .unwrap();
    assert!(
        s.fake
            .write_embeds(
                &c,
                77,
                vec![serde_json::json!({"footer": {"text": format!("ref {tag}")}})]
            )
            .is_some()
    );
    assert_eq!(
        s.chat.find_posted(&channel(&c), None, key).await.unwrap(),
        Some(ours)
    );
}

#[tokio::test]
async fn rate_limits_carry_discords_retry_after() {
    let s = fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    s.fake.fail_next(
        1,
        Failure::RateLimited {
            retry_after_secs: 7,
        },
    );
    match s.chat.post(&channel(&c), &text("x"), None).await {
        Err(ChatError::RateLimited { retry_after_secs }) => assert_eq!(retry_after_secs, 7),
        other => panic!("{other:?}"),
    }
    // The next attempt goes through.
    assert!(s.chat.post(&channel(&c), &text("x"), None).await.is_ok());
}

#[tokio::test]
async fn server_errors_are_unavailable_and_refusals_rejected() {
    let s = fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    s.fake.fail_next(1, Failure::ServerError);
    assert!(matches!(
        s.chat.post(&channel(&c), &text("x"), None).await,
        Err(ChatError::Unavailable(_))
    ));
    s.fake.fail_next(
        1,
        Failure::Refused {
            status: 403,
            code: 50013,
            message: "Missing Permissions".into(),
        },
    );
    match s.chat.post(&channel(&c), &text("x"), None).await {
        Err(ChatError::Rejected(e)) => {
            assert!(
                e.contains("50013") && e.contains("Missing Permissions"),
                "{e}"
            )
        }
        other => panic!("{other:?}"),
    }
    // A channel that does not exist: Discord's own 404.
    match s.chat.post(&channel("42"), &text("x"), None).await {
        Err(ChatError::Rejected(e)) => assert!(e.contains("10003"), "{e}"),
        other => panic!("{other:?}"),
    }
    // Not a Discord channel at all.
    assert!(matches!(
        s.chat
            .post(&ChannelRef::console("general"), &text("x"), None)
            .await,
        Err(ChatError::Rejected(_))
    ));
    // Nothing listening: unavailable, and quickly.
    let nowhere = chat_for("http://127.0.0.1:9", TOKEN);
    assert!(matches!(
        nowhere.post(&channel(&c), &text("x"), None).await,
        Err(ChatError::Unavailable(_))
    ));
}

#[tokio::test]
async fn a_call_that_hangs_is_unavailable() {
    let s = fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    s.fake.set_latency(Duration::from_secs(30));
    let chat = chat_for(&s.api_url, TOKEN).with_timeout(Duration::from_millis(200));
    match chat.post(&channel(&c), &text("x"), None).await {
        Err(ChatError::Unavailable(e)) => assert!(e.contains("no answer within"), "{e}"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_token_never_appears_in_errors() {
    let s = fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    let wrong = "WRONG.token-that-must-stay-secret";
    let chat = chat_for(&s.api_url, wrong);
    let err = chat.post(&channel(&c), &text("x"), None).await.unwrap_err();
    let shown = format!("{err} {err:?} {chat:?}");
    assert!(matches!(err, ChatError::Rejected(_)), "{shown}");
    assert!(shown.contains("token"), "{shown}");
    assert!(!shown.contains(wrong), "{shown}");
}

#[tokio::test]
async fn ephemeral_outside_an_interaction_is_a_direct_message() {
    let s = fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    let ana = PersonRef::new(Platform::Discord, ANA.to_string()).unwrap();
    s.chat
        .ephemeral(&channel(&c), &ana, &text("Only for you"))
        .await
        .unwrap();
    s.chat
        .ephemeral(&channel(&c), &ana, &text("Again"))
        .await
        .unwrap();
    let dms: Vec<_> = s
        .fake
        .calls()
        .into_iter()
        .filter(|c| c.path == "/users/@me/channels")
        .collect();
    assert_eq!(dms.len(), 1, "the DM channel is opened once");
    assert!(s.fake.messages(&c).is_empty());
    let slack = PersonRef::new(Platform::Slack, "U0ANA").unwrap();
    assert!(matches!(
        s.chat.ephemeral(&channel(&c), &slack, &text("x")).await,
        Err(ChatError::Rejected(_))
    ));
}

#[tokio::test]
async fn reactions_land_on_the_message() {
    let s = fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    let m = s.chat.post(&channel(&c), &text("x"), None).await.unwrap();
    let (cid, mid) = (c.parse().unwrap(), m.0.parse().unwrap());
    s.chat.react(cid, mid, NOTED_REACTION).await.unwrap();
    s.chat.react(cid, mid, NOTED_REACTION).await.unwrap();
    assert_eq!(s.fake.messages(&c)[0].reactions, [NOTED_REACTION]);
    assert_eq!(s.chat.bot_user_id().await.unwrap(), BOT_USER_ID);
}

/// Discord's limits, counted here independently of the renderer.
fn assert_within_discord_limits(content: &str, embeds: &[Value], components: &[Value]) {
    let n = |v: &Value| v.as_str().map_or(0, |s| s.encode_utf16().count());
    assert!(n(&Value::from(content)) <= 2000);
    assert!(embeds.len() <= 10);
    let mut total = 0;
    for e in embeds {
        assert!(n(&e["title"]) <= 256);
        assert!(n(&e["description"]) <= 4096);
        assert!(n(&e["footer"]["text"]) <= 2048);
        let fields = e["fields"].as_array().cloned().unwrap_or_default();
        assert!(fields.len() <= 25);
        total += n(&e["title"]) + n(&e["description"]) + n(&e["footer"]["text"]);
        for f in &fields {
            assert!((1..=256).contains(&n(&f["name"])));
            assert!((1..=1024).contains(&n(&f["value"])));
            total += n(&f["name"]) + n(&f["value"]);
        }
    }
    assert!(total <= 6000, "{total}");
    assert!(components.len() <= 5);
    for row in components {
        let items = row["components"].as_array().unwrap();
        assert!((1..=5).contains(&items.len()));
        for c in items {
            assert!(n(&c["custom_id"]) <= 100);
            assert!(n(&c["label"]) <= 80);
            if let Some(o) = c["options"].as_array() {
                assert!(o.len() <= 25);
            }
        }
    }
}

#[tokio::test]
async fn a_huge_message_is_posted_within_every_limit() {
    let s = fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    let long = "é".repeat(3000);
    let blocks: Vec<Block> = (0..500)
        .map(|i| match i % 5 {
            0 => Block::Header(long.clone()),
            1 => Block::Text(RichText::plain(&long)),
            2 => Block::Fields(vec![(long.clone(), RichText::plain(&long)); 4]),
            3 => Block::Context(RichText::plain(&long)),
            _ => Block::Actions(vec![
                Action::Button {
                    kind: ActionKind::Resolve,
                    finding: FindingId(i),
                },
                Action::Button {
                    kind: ActionKind::Snooze,
                    finding: FindingId(i),
                },
            ]),
        })
        .collect();
    let m = Message {
        accent: Accent::Severity(Severity::Warning),
        blocks,
    };
    // The fake refuses (50035) anything over a limit, as Discord does.
    let posted = s
        .chat
        .post_keyed(&channel(&c), &m, None, "outbox:huge")
        .await
        .unwrap();
    let got = s.fake.message(&posted.0).unwrap();
    assert_within_discord_limits(&got.content, &got.embeds, &got.components);
    s.chat.update(&channel(&c), &posted, &m).await.unwrap();
}

#[tokio::test]
async fn client_text_renders_inert() {
    let s = fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    let flow = "@everyone <@&1> [x](https://evil)";
    let m = Message {
        accent: Accent::Severity(Severity::Critical),
        blocks: vec![
            Block::Header(format!("Flow {flow} stopped")),
            Block::Text(RichText::plain(format!("The flow {flow} sent nothing."))),
            Block::Fields(vec![("Flow".into(), RichText::plain(flow))]),
            Block::Context(RichText::plain(flow)),
        ],
    };
    let posted = s.chat.post(&channel(&c), &m, None).await.unwrap();
    let got = s.fake.message(&posted.0).unwrap();
    assert_eq!(got.content, "", "nothing to ping");
    let allowed = got.allowed_mentions.unwrap();
    assert_eq!(allowed["parse"], Value::Array(vec![]));
    assert_eq!(allowed["users"], Value::Array(vec![]));
    let all = serde_json::to_string(&got.embeds).unwrap();
    assert!(!all.contains("@everyone"), "{all}");
    assert!(!all.contains("<@&1>"), "{all}");
    assert!(!all.contains("[x](https://evil)"), "{all}");
    assert!(!all.contains("https://evil"), "{all}");
    // The words are still there for people to read.
    let description = got.embeds[0]["description"].as_str().unwrap();
    assert!(description.contains("everyone") && description.contains("evil"));
}

#[tokio::test]
async fn a_mention_pings_exactly_that_person() {
    let s = fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    let ana = PersonRef::new(Platform::Discord, ANA.to_string()).unwrap();
    let m = Message {
        accent: Accent::Severity(Severity::Critical),
        blocks: vec![Block::Text(
            RichText::default()
                .push(Span::Mention(ana))
                .push(Span::Plain(" please look".into())),
        )],
    };
    let posted = s.chat.post(&channel(&c), &m, None).await.unwrap();
    let got = s.fake.message(&posted.0).unwrap();
    assert_eq!(got.content, format!("<@{ANA}>"));
    assert_eq!(
        got.allowed_mentions.unwrap()["users"],
        serde_json::json!([ANA.to_string()])
    );
}
