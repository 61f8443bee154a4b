//! Helpers shared by the Discord integration tests: a fake Discord with an
//! adapter pointed at it, a handler that records what it is given, Discord
//! interaction bodies shaped like the real ones, and Ed25519 signing as
//! Discord does it.

// Each test crate uses only some of these.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};
use tokio::sync::{mpsc, oneshot};

use lookout::chat::discord::fake::{FakeCall, FakeDiscord, GUILD_ID};
use lookout::chat::discord::{DiscordChat, DiscordConfig};
use lookout::config::Secret;
use lookout::message::{Inbound, InboundHandler, Outcome};

/// The bot token the fake expects.
pub const TOKEN: &str = "MTEwMDAw.fake-bot-token.discord";
/// The application id.
pub const APP_ID: u64 = 1_100_000_000_000_000_900;
/// A person in the guild.
pub const ANA: u64 = 1_100_000_000_000_000_600;
/// Generous deadline for background work; never an assertion about speed.
pub const WAIT: Duration = Duration::from_secs(20);

/// A started fake Discord and an adapter pointed at it.
pub struct FakeSetup {
    /// The fake.
    pub fake: FakeDiscord,
    /// The adapter.
    pub chat: Arc<DiscordChat>,
    /// The fake's `api_url`.
    pub api_url: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeSetup {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts a fake Discord and builds an adapter with the right token.
pub async fn fake_discord() -> FakeSetup {
    let fake = FakeDiscord::new(TOKEN, APP_ID);
    let (addr, task) = fake.start().await.expect("fake Discord starts");
    let api_url = FakeDiscord::api_url(addr);
    let chat = Arc::new(chat_for(&api_url, TOKEN));
    FakeSetup {
        fake,
        chat,
        api_url,
        task,
    }
}

/// An adapter for `api_url` with `token`.
pub fn chat_for(api_url: &str, token: &str) -> DiscordChat {
    DiscordChat::new(DiscordConfig {
        api_url: api_url.to_owned(),
        bot_token: Secret::new(token),
        application_id: APP_ID,
        message_content: false,
        sharding: lookout::config::Sharding::Auto,
    })
    .expect("config is valid")
}

type Decide = Box<dyn Fn(&Inbound) -> Outcome + Send + Sync>;

/// Records every event and answers with `decide`; optionally holds each
/// event until the test opens the gate.
pub struct Recorder {
    seen: mpsc::UnboundedSender<Inbound>,
    decide: Decide,
    gate: Mutex<Option<oneshot::Receiver<()>>>,
}

#[async_trait]
impl InboundHandler for Recorder {
    async fn handle(&self, event: Inbound) -> Outcome {
        let _ = self.seen.send(event.clone());
        let gate = self.gate.lock().unwrap().take();
        if let Some(gate) = gate {
            let _ = gate.await;
        }
        (self.decide)(&event)
    }
}

/// A recorder and the receiving end of what it records.
pub fn recorder(
    decide: impl Fn(&Inbound) -> Outcome + Send + Sync + 'static,
    gate: Option<oneshot::Receiver<()>>,
) -> (Arc<Recorder>, mpsc::UnboundedReceiver<Inbound>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (
        Arc::new(Recorder {
            seen: tx,
            decide: Box::new(decide),
            gate: Mutex::new(gate),
        }),
        rx,
    )
}

/// The signing key of the test application.
pub fn signing_key() -> SigningKey {
    SigningKey::from_bytes(&[42u8; 32])
}

/// The application's public key, as the config holds it (hex).
pub fn public_key_hex() -> String {
    hex::encode(signing_key().verifying_key().to_bytes())
}

/// The `X-Signature-Ed25519` Discord sends for `body` at `timestamp`.
pub fn sign(key: &SigningKey, timestamp: &str, body: &[u8]) -> String {
    let message = [timestamp.as_bytes(), body].concat();
    hex::encode(key.sign(&message).to_bytes())
}

/// An interaction as Discord sends it, with every field serenity requires.
pub fn interaction(id: u64, ty: u64, channel: &str, data: Value) -> Value {
    json!({
        "id": id.to_string(),
        "application_id": APP_ID.to_string(),
        "type": ty,
        "token": format!("aW50ZXJhY3Rpb246{id}.tok_en-{ty}"),
        "version": 1,
        "guild_id": GUILD_ID.to_string(),
        "channel_id": channel,
        "channel": {"id": channel, "type": 0, "name": "client-acme"},
        "member": {
            "user": {"id": ANA.to_string(), "username": "ana", "discriminator": "0", "global_name": "Ana", "avatar": null},
            "roles": [],
            "joined_at": "2026-01-01T00:00:00.000000+00:00",
            "deaf": false,
            "mute": false,
            "flags": 0,
            "nick": null,
            "avatar": null,
            "premium_since": null,
        },
        "app_permissions": "2248473465835073",
        "locale": "en-US",
        "guild_locale": "en-US",
        "entitlements": [],
        "authorizing_integration_owners": {"0": GUILD_ID.to_string()},
        "context": 0,
        "attachment_size_limit": 10_485_760,
        "data": data,
    })
}

/// A finding message's component data: a button click.
pub fn button(custom_id: &str) -> Value {
    json!({"custom_id": custom_id, "component_type": 2})
}

/// The snooze select with one value chosen.
pub fn select(custom_id: &str, value: &str) -> Value {
    json!({"custom_id": custom_id, "component_type": 3, "values": [value]})
}

/// Polls until `pred` holds for the fake's calls, or `WAIT` passes.
pub async fn wait_for_call(fake: &FakeDiscord, pred: impl Fn(&FakeCall) -> bool) -> FakeCall {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        if let Some(c) = fake.calls().into_iter().find(|c| pred(c)) {
            return c;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the expected call never came: {:#?}",
            fake.calls()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
