//! Durability: the real `lookout run` process is killed with SIGKILL twenty
//! times at random points while scans post and edit findings in a fake Slack,
//! and again in a fake Discord. After every restart the fake holds each outbox
//! message exactly once (none lost, none duplicated), and at the end every
//! message shows its latest edit.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ed25519_dalek::SigningKey;
use lookout::chat::discord::fake::FakeDiscord;
use lookout::chat::discord::{nonce_of, render, tag_of};
use lookout::chat::slack::blocks;
use lookout::chat::slack::fake::FakeSlack;
use lookout::message::Message;
use lookout::outbox::row_key;
use rand::{Rng, SeedableRng};

use crate::support::processes::{
    BRANDS, Running, channel_names, churn, clients_toml, troubled_simulator,
};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Row, SqlitePool};

const TOKEN: &str = "xoxb-crash-test-token";
const DISCORD_TOKEN: &str = "discord-crash-test-token";
const APP_ID: u64 = 1_150_000_000_000_000_000;

struct OutboxRow {
    id: i64,
    op: String,
    status: String,
    finding: Option<i64>,
    body: String,
}

async fn read_outbox(
    db: &std::path::Path,
) -> (String, Vec<OutboxRow>, HashMap<i64, Option<String>>) {
    let opts = SqliteConnectOptions::new().filename(db).read_only(true);
    let pool = SqlitePool::connect_with(opts).await.unwrap();
    let install: String = sqlx::query_scalar("SELECT value FROM settings WHERE key = 'install-id'")
        .fetch_optional(&pool)
        .await
        .unwrap()
        .unwrap_or_default();
    let rows = sqlx::query("SELECT id, op, status, finding_id, body FROM outbox ORDER BY id")
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .map(|r| OutboxRow {
            id: r.get(0),
            op: r.get(1),
            status: r.get(2),
            finding: r.get(3),
            body: r.get(4),
        })
        .collect();
    let refs = sqlx::query("SELECT finding_id, message_ref FROM finding_messages")
        .fetch_all(&pool)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.get::<i64, _>(0), r.get::<Option<String>, _>(1)))
        .collect();
    pool.close().await;
    (install, rows, refs)
}

/// One bot message in the fake: (channel, key, id, thread, rendering).
type Seen = (String, Option<String>, String, Option<String>, String);

/// The chat platform the process posts to.
enum Fake {
    Slack(FakeSlack),
    Discord(FakeDiscord),
}

impl Fake {
    /// Every bot message in the fake.
    fn messages(&self) -> Vec<Seen> {
        match self {
            Fake::Slack(fake) => {
                let mut out = Vec::new();
                for ch in BRANDS
                    .iter()
                    .map(|b| format!("client-{b}"))
                    .chain(["agency".to_string()])
                {
                    for m in fake.messages(&ch) {
                        out.push((ch.clone(), m.metadata_key, m.ts, m.thread_ts, m.text));
                    }
                }
                out
            }
            Fake::Discord(fake) => {
                let all = fake.all_messages();
                all.iter()
                    .filter(|m| m.bot)
                    .map(|m| {
                        // A thread started from a message has the message's id.
                        let thread = fake
                            .thread_parent(&m.channel_id)
                            .map(|_| m.channel_id.clone());
                        (
                            m.channel_id.clone(),
                            m.nonce.clone(),
                            m.id.clone(),
                            thread,
                            serde_json::to_string(&m.embeds).unwrap(),
                        )
                    })
                    .collect()
            }
        }
    }

    /// What an outbox row's idempotency key looks like on the platform.
    fn key(&self, install: &str, row: i64) -> String {
        match self {
            Fake::Slack(_) => row_key(install, row),
            Fake::Discord(_) => nonce_of(&row_key(install, row)),
        }
    }

    /// How a message shows on the platform: posted with its row's key (a
    /// Discord post carries the key's tag in its footer), or edited in place.
    fn rendering(&self, message: &Message, posted_key: Option<&str>) -> String {
        match self {
            Fake::Slack(_) => blocks::render(message).1,
            Fake::Discord(_) => {
                let tag = posted_key.map(tag_of);
                let payload = render::render(message, tag.as_deref()).payload();
                serde_json::to_string(&payload["embeds"]).unwrap()
            }
        }
    }

    /// Calls that looked a message up by key after a crash.
    fn lookups(&self) -> usize {
        match self {
            Fake::Slack(fake) => fake
                .calls()
                .iter()
                .filter(|c| {
                    c.method.starts_with("conversations.history")
                        || c.method.starts_with("conversations.replies")
                })
                .count(),
            Fake::Discord(fake) => fake
                .calls()
                .iter()
                .filter(|c| c.method == "GET" && c.path.ends_with("/messages"))
                .count(),
        }
    }
}

/// None duplicated: each key at most once. None lost: each sent post or reply is there.
fn check_exactly_once(fake: &Fake, install: &str, rows: &[OutboxRow], round: usize) {
    let messages = fake.messages();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (ch, key, id, _, _) in &messages {
        let key = key
            .clone()
            .unwrap_or_else(|| panic!("round {round}: unkeyed message {id} in {ch}"));
        *seen.entry(key).or_default() += 1;
    }
    for (key, n) in &seen {
        assert_eq!(*n, 1, "round {round}: {key} posted {n} times");
    }
    for r in rows
        .iter()
        .filter(|r| r.op != "update" && r.status == "sent")
    {
        let key = fake.key(install, r.id);
        assert!(
            seen.contains_key(&key),
            "round {round}: sent row {} ({}) is not on the platform",
            r.id,
            r.op
        );
    }
    let sent_or_pending = rows.iter().filter(|r| r.op != "update").count();
    assert!(
        messages.len() <= sent_or_pending,
        "round {round}: more messages than rows"
    );
}

fn spawn_run(config: &std::path::Path) -> Child {
    // Any valid Ed25519 public key: Discord's HTTP mode needs one to start.
    let key = hex::encode(SigningKey::from_bytes(&[7; 32]).verifying_key().to_bytes());
    Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["run", "-c"])
        .arg(config)
        .env("LOOKOUT_TEST_SLACK_TOKEN", TOKEN)
        .env("LOOKOUT_TEST_DISCORD_TOKEN", DISCORD_TOKEN)
        .env("LOOKOUT_TEST_DISCORD_KEY", key)
        .env("LOOKOUT_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("lookout run starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_twenty_times_loses_and_duplicates_nothing_in_slack() {
    sigkill_twenty_times(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_twenty_times_loses_and_duplicates_nothing_in_discord() {
    sigkill_twenty_times(true).await;
}

async fn sigkill_twenty_times(discord: bool) {
    // A simulated Klaviyo running in real time, with problems that post on the first scan.
    let (sim, sim_addr, _sim_task) = troubled_simulator().await;
    let names = channel_names();
    let dir = tempfile::tempdir().unwrap();
    // The platform's answers take a while, as they do in production: a kill often
    // lands after a message is posted and before the outbox has recorded it.
    let (fake, channels, chat) = if discord {
        let fake = FakeDiscord::new(DISCORD_TOKEN, APP_ID);
        let ids: Vec<String> = names
            .iter()
            .map(|n| format!("discord:{}", fake.add_channel(n)))
            .collect();
        let (addr, _task) = fake.start().await.unwrap();
        fake.set_latency(Duration::from_millis(250));
        let chat = format!(
            "platform = \"discord\"\ndiscord_mode = \"http\"\nhttp_listen = \"127.0.0.1:0\"\ndiscord_api_url = \"{}\"\ndiscord_application_id = {APP_ID}\ndiscord_bot_token_env = \"LOOKOUT_TEST_DISCORD_TOKEN\"\ndiscord_public_key_env = \"LOOKOUT_TEST_DISCORD_KEY\"\n",
            FakeDiscord::api_url(addr)
        );
        (Fake::Discord(fake), ids, chat)
    } else {
        let fake = FakeSlack::new(&names.iter().map(String::as_str).collect::<Vec<_>>());
        let (addr, _task) = fake.start().await.unwrap();
        fake.set_latency(Duration::from_millis(250));
        // The fake names the channels C0001, C0002, ... in order.
        let ids = (1..=names.len())
            .map(|n| format!("slack:C{n:04}"))
            .collect();
        let chat = format!(
            "platform = \"slack\"\nslack_api_url = \"{}\"\nslack_bot_token_env = \"LOOKOUT_TEST_SLACK_TOKEN\"\n",
            FakeSlack::api_url(addr)
        );
        (Fake::Slack(fake), ids, chat)
    };
    let owner = if discord {
        "discord:1150000000000000042"
    } else {
        "slack:U0ANA"
    };
    let mut toml = format!(
        "data_dir = {:?}\n[agency]\nchannel = \"{}\"\n[klaviyo]\nbase_url = \"http://{sim_addr}\"\n[scan]\ninterval_seconds = 2\nconcurrency = 8\nlease_seconds = 3\n[chat]\n{chat}",
        dir.path().join("data"),
        channels[BRANDS.len()],
    );
    toml.push_str(&clients_toml(&sim, &channels, owner));
    let config = dir.path().join("lookout.toml");
    std::fs::write(&config, toml).unwrap();
    let db = dir.path().join("data").join("lookout.db");

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261125);
    let mut kills_with_pending = 0;
    for round in 0..20 {
        churn(&sim, round);
        let mut run = Running(vec![spawn_run(&config)]);
        tokio::time::sleep(Duration::from_millis(rng.random_range(700..5_000))).await;
        run.0[0].kill().unwrap(); // SIGKILL: no chance to finish anything
        run.0[0].wait().unwrap();
        if !db.exists() {
            continue;
        }
        let (install, rows, _) = read_outbox(&db).await;
        if rows.iter().any(|r| r.status == "pending") {
            kills_with_pending += 1;
        }
        check_exactly_once(&fake, &install, &rows, round);
    }

    // A last run drains the outbox and sees the cleared problems.
    let run = Running(vec![spawn_run(&config)]);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (_, rows, _) = read_outbox(&db).await;
        let cleared = rows
            .iter()
            .any(|r| r.op == "update" && r.body.contains("Resolved"));
        if cleared && rows.iter().all(|r| r.status != "pending") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the outbox did not drain within 2 minutes"
        );
    }
    drop(run);

    let (install, rows, refs) = read_outbox(&db).await;
    assert!(rows.iter().all(|r| r.status == "sent"), "nothing failed");
    check_exactly_once(&fake, &install, &rows, 99);
    let posts = rows.iter().filter(|r| r.op != "update").count();
    assert_eq!(
        fake.messages().len(),
        posts,
        "exactly the expected messages"
    );
    assert!(
        rows.iter().any(|r| r.op == "post" && r.finding.is_some()),
        "findings were posted"
    );
    assert!(
        rows.iter().any(|r| r.op == "reply"),
        "history went into threads"
    );
    // Every finding's message shows its latest rendering.
    let all = fake.messages();
    let mut checked = 0;
    for (finding, mref) in refs {
        let Some(mref) = mref else { continue };
        let latest = rows
            .iter()
            .rev()
            .find(|r| r.finding == Some(finding) && r.op != "reply")
            .expect("a posted finding has rows");
        let message: Message = serde_json::from_str(&latest.body).unwrap();
        let key = (latest.op == "post").then(|| row_key(&install, latest.id));
        let expected = fake.rendering(&message, key.as_deref());
        let (_, _, _, _, shown) = all
            .iter()
            .find(|m| m.2 == mref)
            .expect("the finding's message exists");
        assert_eq!(shown, &expected, "finding {finding} shows its latest state");
        checked += 1;
    }
    assert!(
        checked >= 2,
        "at least two findings had messages ({checked})"
    );
    let lookups = fake.lookups();
    eprintln!(
        "{}: 20 SIGKILLs, {kills_with_pending} with deliveries pending, {lookups} in-flight rows looked up by key; {posts} messages, {} edits",
        if discord { "Discord" } else { "Slack" },
        rows.iter().filter(|r| r.op == "update").count()
    );
}
