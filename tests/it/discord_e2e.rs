//! One process serving Slack and Discord at once, through the real start-up,
//! app and dispatcher: a client with a channel on each platform gets its
//! critical finding in both; a signed Discord button click acknowledges it and
//! both messages are edited in place; slash commands, autocomplete, the note
//! modal and a reply in the finding's Discord thread all land on the finding;
//! cross-client views are refused in a client's channel.

use crate::discord_support;

use std::sync::Arc;

use discord_support::{
    ANA, APP_ID, TOKEN, button, chat_for, interaction, public_key_hex, sign, signing_key,
};
use lookout::chat::discord::fake::{BOT_USER_ID, FakeDiscord};
use lookout::chat::discord::gateway::on_message;
use lookout::chat::discord::render::custom_id;
use lookout::chat::slack::fake::FakeSlack;
use lookout::chat::slack::{SlackChat, SlackConfig};
use lookout::clock::{Clock, SimClock};
use lookout::commands::Role;
use lookout::config::Secret;
use lookout::demo::{Stack, demo_start};
use lookout::domain::Severity;
use lookout::findings::{FindingState, Findings};
use lookout::message::{ActionKind, ChannelRef, PersonRef, Platform};
use lookout::routing::Mode;
use lookout::startup::StartOptions;
use serde_json::{Value, json};

use crate::support;

struct Env {
    stack: Stack,
    slack: FakeSlack,
    discord: FakeDiscord,
    /// Discord channel ids: acme, bluebird, agency.
    ids: [String; 3],
    /// The fake Discord's REST base URL.
    discord_url: String,
    url: String,
    http: reqwest::Client,
    next: u64,
}

async fn env() -> Env {
    let slack = FakeSlack::new(&["client-acme", "client-bluebird", "agency"]);
    let (slack_addr, _) = slack.start().await.unwrap();
    let slack_chat = Arc::new(
        SlackChat::new(SlackConfig {
            api_url: FakeSlack::api_url(slack_addr),
            bot_token: Secret::new("xoxb-e2e"),
        })
        .unwrap(),
    );
    let discord = FakeDiscord::new(TOKEN, APP_ID);
    let ids = ["client-acme", "client-bluebird", "agency"].map(|n| discord.add_channel(n));
    let (discord_addr, _) = discord.start().await.unwrap();
    let discord_url = FakeDiscord::api_url(discord_addr);
    let discord_chat = Arc::new(chat_for(&discord_url, TOKEN));
    let clock = SimClock::frozen(demo_start());
    let d = |id: &str| ChannelRef::new(Platform::Discord, id).unwrap();
    let ids2 = ids.clone();
    let opts = StartOptions {
        slack: Some(slack_chat),
        discord: Some(discord_chat),
        background: false,
        inbound: true,
        ..StartOptions::new(Arc::new(clock.clone()))
    };
    let stack = Stack::launch_with(
        7,
        12,
        clock,
        &["acme", "bluebird"],
        |c| {
            c.chat.platforms = vec![Platform::Slack, Platform::Discord];
            c.chat.discord_mode = "http".into();
            c.chat.http_listen = "127.0.0.1:0".into();
            c.chat.discord_application_id = Some(APP_ID);
            c.chat.discord_public_key = Some(public_key_hex());
            // No app token: Slack is served for posting only in this test.
            c.chat.slack_app_token_env = "LOOKOUT_E2E_NO_SUCH_VARIABLE".into();
            c.agency.channels = vec![ChannelRef::parse("slack:C0003").unwrap(), d(&ids2[2])];
            let ana = PersonRef::new(Platform::Discord, ANA.to_string()).unwrap();
            c.people.insert(ana.clone(), Role::Lead);
            for (i, client) in c.clients.iter_mut().enumerate() {
                client.channels = vec![
                    ChannelRef::parse(&format!("slack:C000{}", i + 1)).unwrap(),
                    d(&ids2[i]),
                ];
                client.owners = vec![PersonRef::parse("slack:U0ANA").unwrap(), ana.clone()];
            }
        },
        opts,
    )
    .await
    .unwrap();
    let addr = stack.running.http_addr.expect("the HTTP server runs");
    Env {
        stack,
        slack,
        discord,
        ids,
        discord_url,
        url: format!("http://{addr}/discord/interactions"),
        http: reqwest::Client::new(),
        next: 1_400_000_000_000_000_000,
    }
}

impl Env {
    /// Sends a signed interaction of type `ty` in `channel`; returns Discord's answer.
    async fn interact(&mut self, ty: u64, channel: &str, data: Value) -> Value {
        self.next += 1;
        let body = serde_json::to_vec(&interaction(self.next, ty, channel, data)).unwrap();
        let ts = self.stack.clock.now().timestamp().to_string();
        let res = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header("x-signature-ed25519", sign(&signing_key(), &ts, &body))
            .header("x-signature-timestamp", ts)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        res.json().await.unwrap()
    }

    async fn deliver(&self) {
        // Each platform paces a channel at about one message a second.
        for _ in 0..40 {
            let pass = self.stack.app.deliverer.run_once().await.unwrap();
            if pass.deferred == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        panic!("the outbox did not drain");
    }
}

fn command(name: &str, options: Value) -> Value {
    json!({"id": "77", "name": name, "type": 1, "options": options})
}

#[tokio::test]
async fn slack_and_discord_at_once_with_buttons_commands_notes_and_tenancy() {
    let mut e = env().await;
    let app = e.stack.app.clone();
    let obs = support::observation(
        "flow-live-stopped",
        "F1",
        Severity::Critical,
        "Flow \"Abandoned Checkout\" stopped @everyone",
    );
    let (changes, _) = support::record(&app, "acme", obs, e.stack.clock.now(), Mode::Normal).await;
    let id = changes[0].finding.id;
    e.deliver().await;

    // Posted once on each platform, each mentioning the owner there.
    let in_slack = e.slack.messages("client-acme");
    assert_eq!(in_slack.len(), 1);
    assert!(
        in_slack[0].text.contains("<@U0ANA>"),
        "{}",
        in_slack[0].text
    );
    let in_discord = e.discord.messages(&e.ids[0]);
    assert_eq!(in_discord.len(), 1);
    let posted = &in_discord[0];
    assert!(posted.content.contains(&format!("<@{ANA}>")), "{posted:?}");
    assert_eq!(
        posted.allowed_mentions.as_ref().unwrap()["users"],
        json!([ANA.to_string()]),
        "only the owner can be pinged; @everyone in client text is inert"
    );
    assert!(e.discord.messages(&e.ids[1]).is_empty(), "not bluebird's");

    // Acknowledge from the Discord button: both messages are edited in place.
    let answer = e
        .interact(
            3,
            &e.ids[0].clone(),
            button(&custom_id(ActionKind::Acknowledge, id)),
        )
        .await;
    assert!(answer.to_string().contains("Acknowledged"), "{answer}");
    e.deliver().await;
    let edited = e.discord.message(&posted.id).unwrap();
    assert!(edited.edits >= 1);
    assert!(
        serde_json::to_string(&edited.embeds)
            .unwrap()
            .contains(&format!("Acknowledged by {ANA}")),
        "{:?}",
        edited.embeds
    );
    let slack_edit = &e.slack.messages("client-acme")[0];
    assert!(slack_edit.edits >= 1 && slack_edit.text.contains(&format!("Acknowledged by {ANA}")));
    // The history went into the finding's thread, started from its message.
    assert_eq!(e.discord.thread_parent(&posted.id), Some(e.ids[0].clone()));
    assert!(!e.discord.messages(&posted.id).is_empty());

    // A reply in the Discord thread becomes a note, confirmed with 📝.
    let event = e
        .discord
        .write(&posted.id, ANA, false, "told the client on Monday", &[])
        .unwrap();
    let msg: serenity::model::channel::Message = serde_json::from_value(event).unwrap();
    let dispatcher = e.stack.running.dispatcher.clone();
    on_message(
        &chat_for(&e.discord_url, TOKEN),
        dispatcher.as_ref(),
        &msg,
        BOT_USER_ID,
    )
    .await
    .unwrap();
    assert_eq!(
        e.discord.message(&msg.id.to_string()).unwrap().reactions,
        ["📝"]
    );

    // The note modal, then /notes as a slash command.
    let submit = json!({"custom_id": format!("lookout:notemodal:{id}"), "components": [
        {"type": 1, "components": [{"type": 4, "custom_id": "note", "value": "dev push Tuesday"}]}
    ]});
    let answer = e.interact(5, &e.ids[0].clone(), submit).await;
    assert!(answer.to_string().contains("Note added"), "{answer}");
    let answer = e
        .interact(
            2,
            &e.ids[0].clone(),
            command(
                "notes",
                json!([{"name": "finding", "type": 3, "value": id.to_string()}]),
            ),
        )
        .await;
    let text = answer.to_string();
    assert!(
        text.contains("told the client on Monday") && text.contains("dev push Tuesday"),
        "{text}"
    );
    assert_eq!(answer["data"]["flags"], 64, "notes are private");
    let mut conn = app.store.conn().await.unwrap();
    assert_eq!(
        Findings::get(&mut conn, id).await.unwrap().state,
        FindingState::Acknowledged
    );
    drop(conn);

    // Autocomplete names only this channel's client here, every client in the agency channel.
    let typed = json!([{"name": "client", "type": 3, "value": "", "focused": true}]);
    let here = e
        .interact(4, &e.ids[0].clone(), command("scan", typed.clone()))
        .await;
    assert_eq!(
        here["data"]["choices"].as_array().unwrap().len(),
        1,
        "{here}"
    );
    assert!(!here.to_string().contains("bluebird"), "{here}");
    let agency = e
        .interact(4, &e.ids[2].clone(), command("scan", typed))
        .await;
    assert_eq!(
        agency["data"]["choices"].as_array().unwrap().len(),
        2,
        "{agency}"
    );

    // The portfolio spans clients: refused in a client's channel, shown in the agency's.
    let refused = e
        .interact(2, &e.ids[0].clone(), command("portfolio", json!([])))
        .await;
    assert_eq!(refused["data"]["flags"], 64);
    assert!(refused.to_string().contains("agency channel"), "{refused}");
    let shown = e
        .interact(2, &e.ids[2].clone(), command("portfolio", json!([])))
        .await;
    assert!(shown["data"]["flags"].is_null(), "{shown}");
    assert!(shown.to_string().contains("Acme"), "{shown}");

    // Another client's finding cannot be acted on from acme's channel.
    let obs = support::observation("flow-live-stopped", "F9", Severity::Critical, "Other");
    let (changes, _) =
        support::record(&app, "bluebird", obs, e.stack.clock.now(), Mode::Normal).await;
    let theirs = changes[0].finding.id;
    let answer = e
        .interact(
            3,
            &e.ids[0].clone(),
            button(&custom_id(ActionKind::Resolve, theirs)),
        )
        .await;
    assert!(
        answer.to_string().contains("belongs to bluebird"),
        "{answer}"
    );
}
