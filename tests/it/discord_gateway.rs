//! The gateway's logic against the fake Discord, without a websocket:
//! serenity's `Context` cannot be built in tests, so the functions the event
//! handler forwards to are called with the model types it would receive.
//! A human's message in a finding's thread becomes a thread reply for the
//! parent channel and gets a 📝 when kept as a note; the bot's own messages,
//! other bots' and messages outside threads are ignored; without the
//! message-content intent only mentions of the bot carry text. An
//! interaction from the gateway, read by serenity and written back, goes
//! through the same parser and is answered with an interaction callback.

use crate::discord_support;

use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::oneshot;

use discord_support::{
    ANA, FakeSetup, WAIT, button, fake_discord, interaction, recorder, select, wait_for_call,
};
use lookout::chat::discord::NOTED_REACTION;
use lookout::chat::discord::fake::BOT_USER_ID;
use lookout::chat::discord::gateway::{
    interaction_json, on_interaction, on_message, reply_text, thread_reply,
};
use lookout::domain::FindingId;
use lookout::message::{
    Accent, ActionKind, Actor, ChannelRef, ChatAdapter, Inbound, Message, MessageRef, Outcome,
    PersonRef, Platform,
};
use serenity::all::Interaction;
use serenity::model::channel::Message as DiscordMessage;

/// A channel with a finding message whose thread exists; (channel, finding message).
async fn finding_with_thread(s: &FakeSetup) -> (String, String) {
    let c = s.fake.add_channel("client-acme");
    let channel = ChannelRef::new(Platform::Discord, c.clone()).unwrap();
    let finding = s
        .chat
        .post(
            &channel,
            &Message::text(Accent::Info, "Welcome flow stopped"),
            None,
        )
        .await
        .unwrap();
    s.chat
        .post(
            &channel,
            &Message::text(Accent::Info, "Acknowledged by Ana"),
            Some(&finding),
        )
        .await
        .unwrap();
    (c, finding.0)
}

fn read(event: Value) -> DiscordMessage {
    serde_json::from_value(event).expect("serenity reads the fake's message")
}

#[tokio::test]
async fn a_human_reply_in_a_finding_thread_becomes_a_note_with_a_reaction() {
    let s = fake_discord().await;
    let (c, finding) = finding_with_thread(&s).await;
    let event = s
        .fake
        .write(
            &finding,
            ANA,
            false,
            "told client Monday, waiting on dev push",
            &[],
        )
        .unwrap();
    let msg = read(event);
    let (handler, mut events) = recorder(|_| Outcome::Noted(FindingId(12)), None);
    on_message(&s.chat, handler.as_ref(), &msg, BOT_USER_ID)
        .await
        .unwrap();

    let seen = events.try_recv().expect("the handler got the reply");
    assert_eq!(
        seen,
        Inbound::ThreadReply {
            actor: Actor {
                person: PersonRef::new(Platform::Discord, ANA.to_string()).unwrap(),
                channel: ChannelRef::new(Platform::Discord, c.clone()).unwrap(),
            },
            thread: MessageRef(finding.clone()),
            message: MessageRef(msg.id.to_string()),
            text: "told client Monday, waiting on dev push".into(),
        }
    );
    let reply = s.fake.message(&msg.id.to_string()).unwrap();
    assert_eq!(reply.reactions, [NOTED_REACTION]);

    // The parent channel is read once per thread, then remembered.
    let second = read(
        s.fake
            .write(&finding, ANA, false, "and again", &[])
            .unwrap(),
    );
    on_message(&s.chat, handler.as_ref(), &second, BOT_USER_ID)
        .await
        .unwrap();
    let reads = s
        .fake
        .calls()
        .into_iter()
        .filter(|call| call.method == "GET" && call.path == format!("/channels/{finding}"))
        .count();
    // The adapter already knew the thread from starting it.
    assert_eq!(reads, 0);
}

#[tokio::test]
async fn a_thread_started_by_someone_else_is_looked_up_once() {
    let s = fake_discord().await;
    let (c, finding) = finding_with_thread(&s).await;
    // A fresh adapter (a restart) does not know the thread yet.
    let chat = discord_support::chat_for(&s.api_url, discord_support::TOKEN);
    let (handler, mut events) = recorder(|_| Outcome::Nothing, None);
    for text in ["one", "two"] {
        let msg = read(s.fake.write(&finding, ANA, false, text, &[]).unwrap());
        on_message(&chat, handler.as_ref(), &msg, BOT_USER_ID)
            .await
            .unwrap();
        match events.try_recv().unwrap() {
            Inbound::ThreadReply { actor, .. } => assert_eq!(actor.channel.id, c),
            other => panic!("{other:?}"),
        }
    }
    let reads = s
        .fake
        .calls()
        .into_iter()
        .filter(|call| call.method == "GET" && call.path == format!("/channels/{finding}"))
        .count();
    assert_eq!(reads, 1);
    // Outcome::Nothing: no reaction.
    assert!(
        s.fake
            .messages(&finding)
            .iter()
            .all(|m| m.reactions.is_empty())
    );
}

#[tokio::test]
async fn bots_and_messages_outside_threads_are_ignored() {
    let s = fake_discord().await;
    let (c, finding) = finding_with_thread(&s).await;
    let (handler, mut events) = recorder(|_| Outcome::Noted(FindingId(1)), None);
    let ignored = [
        // Lookout's own message in the thread.
        s.fake
            .write(&finding, BOT_USER_ID, true, "Acknowledged", &[]),
        // Another bot.
        s.fake.write(&finding, 4242, true, "beep", &[]),
        // A human in the channel itself, not a thread.
        s.fake.write(&c, ANA, false, "hello channel", &[]),
        // A human message with no text (no message-content intent, no mention).
        s.fake.write(&finding, ANA, false, "", &[]),
    ];
    for event in ignored {
        let msg = read(event.unwrap());
        on_message(&s.chat, handler.as_ref(), &msg, BOT_USER_ID)
            .await
            .unwrap();
    }
    assert!(events.try_recv().is_err(), "the handler saw nothing");
    assert!(
        s.fake
            .calls()
            .iter()
            .all(|call| !call.path.contains("/reactions/"))
    );
}

#[tokio::test]
async fn a_mention_of_the_bot_is_stripped_and_others_decoded() {
    let s = fake_discord().await;
    let (_, finding) = finding_with_thread(&s).await;
    // Without the message-content intent, Discord sends text only when the bot is mentioned.
    let event = s
        .fake
        .write(
            &finding,
            ANA,
            false,
            &format!("<@{BOT_USER_ID}> told <@!{ANA}> in <#{finding}>"),
            &[BOT_USER_ID],
        )
        .unwrap();
    let msg = read(event);
    assert_eq!(
        reply_text(&msg, BOT_USER_ID).as_deref(),
        Some(format!("told @discord:{ANA} in #discord:{finding}").as_str())
    );
    let only_mention = read(
        s.fake
            .write(
                &finding,
                ANA,
                false,
                &format!("<@{BOT_USER_ID}>"),
                &[BOT_USER_ID],
            )
            .unwrap(),
    );
    assert_eq!(reply_text(&only_mention, BOT_USER_ID), None);
    match thread_reply(&s.chat, &msg, BOT_USER_ID).await.unwrap() {
        Some(Inbound::ThreadReply { text, .. }) => assert!(text.starts_with("told")),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_private_outcome_for_a_reply_is_a_direct_message() {
    let s = fake_discord().await;
    let (c, finding) = finding_with_thread(&s).await;
    let msg = read(
        s.fake
            .write(&finding, ANA, false, "note this", &[])
            .unwrap(),
    );
    let (handler, _events) = recorder(
        |_| Outcome::Private(Message::text(Accent::Error, "You may not add notes here")),
        None,
    );
    on_message(&s.chat, handler.as_ref(), &msg, BOT_USER_ID)
        .await
        .unwrap();
    assert!(
        s.fake
            .calls()
            .iter()
            .any(|call| call.path == "/users/@me/channels")
    );
    assert_eq!(s.fake.messages(&c).len(), 1, "nothing new in the channel");
    assert_eq!(
        s.fake.messages(&finding).len(),
        2,
        "nothing new in the thread"
    );
}

/// What the gateway hands the event handler: serenity's `Interaction`,
/// written back as JSON for the shared parser.
fn through_serenity(v: Value) -> Value {
    let parsed: Interaction = serde_json::from_value(v).expect("serenity reads the interaction");
    interaction_json(&parsed).unwrap()
}

#[tokio::test]
async fn gateway_interactions_are_answered_by_callback() {
    let s = fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    let (handler, mut events) = recorder(
        |e| match e {
            Inbound::Command { .. } => Outcome::Private(Message::text(Accent::Info, "Scanning")),
            _ => Outcome::Nothing,
        },
        None,
    );
    let command = through_serenity(interaction(
        1_300_000_000_000_000_001,
        2,
        &c,
        json!({"id": "9", "name": "route", "type": 1, "options": [
            {"name": "owner", "type": 6, "value": ANA.to_string()},
            {"name": "client", "type": 3, "value": "acme"},
            {"name": "channel", "type": 7, "value": c.clone()},
        ], "resolved": {}}),
    ));
    on_interaction(s.chat.clone(), handler.clone(), &command, WAIT)
        .await
        .unwrap();
    match events.try_recv().unwrap() {
        Inbound::Command { name, text, .. } => {
            assert_eq!(name, "route");
            assert_eq!(text, format!("acme discord:{c} discord:{ANA}"));
        }
        other => panic!("{other:?}"),
    }
    let callback = wait_for_call(&s.fake, |call| call.path.ends_with("/callback")).await;
    assert!(
        callback
            .path
            .starts_with("/interactions/1300000000000000001/")
    );
    let body = callback.body.unwrap();
    assert_eq!(
        (body["type"].clone(), body["data"]["flags"].clone()),
        (json!(4), json!(64))
    );

    // A click and a select survive serenity's model too.
    for (data, action, choice) in [
        (button("lookout:resolve:F-3"), ActionKind::Resolve, None),
        (
            select("lookout:snooze:F-3", "7d"),
            ActionKind::Snooze,
            Some("7d".to_owned()),
        ),
    ] {
        let mut click = interaction(1_300_000_000_000_000_002, 3, &c, data);
        // Discord sends the message the control is on.
        click["message"] = s.fake.write(&c, BOT_USER_ID, true, "", &[]).unwrap();
        let click = through_serenity(click);
        on_interaction(s.chat.clone(), handler.clone(), &click, WAIT)
            .await
            .unwrap();
        match events.try_recv().unwrap() {
            Inbound::Button {
                action: a,
                finding,
                choice: ch,
                ..
            } => {
                assert_eq!((a, finding, ch), (action, FindingId(3), choice));
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test]
async fn gateway_modals_and_autocomplete_survive_serenity() {
    let s = fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    let (handler, mut events) = recorder(
        |e| match e {
            Inbound::Autocomplete { .. } => Outcome::Choices(vec![lookout::message::Choice {
                label: "Acme".into(),
                value: "acme".into(),
            }]),
            Inbound::NoteSubmitted { finding, .. } => Outcome::Noted(*finding),
            _ => Outcome::Nothing,
        },
        None,
    );
    let mut modal = interaction(
        1_300_000_000_000_000_004,
        5,
        &c,
        json!({"custom_id": "lookout:notemodal:F-8", "components": [
            {"type": 1, "components": [{"type": 4, "custom_id": "note", "value": "dev push Friday"}]}
        ]}),
    );
    modal["message"] = s.fake.write(&c, BOT_USER_ID, true, "", &[]).unwrap();
    on_interaction(
        s.chat.clone(),
        handler.clone(),
        &through_serenity(modal),
        WAIT,
    )
    .await
    .unwrap();
    match events.try_recv().unwrap() {
        Inbound::NoteSubmitted { finding, text, .. } => {
            assert_eq!((finding, text.as_str()), (FindingId(8), "dev push Friday"));
        }
        other => panic!("{other:?}"),
    }
    let typing = through_serenity(interaction(
        1_300_000_000_000_000_005,
        4,
        &c,
        json!({"id": "9", "name": "scan", "type": 1, "options": [
            {"name": "client", "type": 3, "value": "ac", "focused": true}
        ]}),
    ));
    on_interaction(s.chat.clone(), handler, &typing, WAIT)
        .await
        .unwrap();
    match events.try_recv().unwrap() {
        Inbound::Autocomplete { arg, typed, .. } => {
            assert_eq!((arg.as_str(), typed.as_str()), ("client", "ac"))
        }
        other => panic!("{other:?}"),
    }
    let answers: Vec<Value> = s
        .fake
        .calls()
        .into_iter()
        .filter(|call| call.path.ends_with("/callback"))
        .filter_map(|call| call.body)
        .collect();
    assert_eq!(answers[0]["type"], 4);
    assert!(answers[0].to_string().contains("Note added to F-8"));
    assert_eq!(
        answers[1],
        json!({"type": 8, "data": {"choices": [{"name": "Acme", "value": "acme"}]}})
    );
}

#[tokio::test]
async fn a_slow_gateway_interaction_is_deferred_then_edited() {
    let s = fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    let (open, gate) = oneshot::channel();
    let (handler, _events) = recorder(
        |_| Outcome::Private(Message::text(Accent::Info, "Done scanning")),
        Some(gate),
    );
    let command = through_serenity(interaction(
        1_300_000_000_000_000_003,
        2,
        &c,
        json!({"id": "9", "name": "portfolio", "type": 1}),
    ));
    let chat = s.chat.clone();
    let task = tokio::spawn(async move {
        on_interaction(chat, handler, &command, Duration::from_millis(100)).await
    });
    let deferred = wait_for_call(&s.fake, |call| call.path.ends_with("/callback")).await;
    assert_eq!(deferred.body.unwrap()["type"], 5);
    open.send(()).unwrap();
    tokio::time::timeout(WAIT, task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let edit = wait_for_call(&s.fake, |call| call.path.ends_with("/messages/@original")).await;
    assert!(edit.body.unwrap().to_string().contains("Done scanning"));
}
