//! Durability: the real `lookout run` process is killed with SIGKILL twenty
//! times at random points while scans post and edit findings in a fake Slack.
//! After every restart the fake holds each outbox message exactly once (none
//! lost, none duplicated), and at the end every message shows its latest edit.

use std::collections::HashMap;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use lookout::chat::slack::blocks;
use lookout::chat::slack::fake::FakeSlack;
use lookout::clock::{SharedClock, SimClock};
use lookout::message::Message;
use lookout::outbox::row_key;
use lookout::simulator::{Fault, FaultKind, Simulator};
use rand::{Rng, SeedableRng};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{Row, SqlitePool};

const BRANDS: [&str; 8] = [
    "acme",
    "bluebird",
    "cedar-co",
    "dune-supply",
    "ember",
    "fjord",
    "granite",
    "harbor-home",
];
const TOKEN: &str = "xoxb-crash-test-token";

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

/// One bot message in the fake: (channel, key, ts, thread, text).
type Seen = (String, Option<String>, String, Option<String>, String);

/// Every bot message in the fake.
fn fake_messages(fake: &FakeSlack) -> Vec<Seen> {
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

/// None duplicated: each key at most once. None lost: each sent post or reply is there.
fn check_exactly_once(fake: &FakeSlack, install: &str, rows: &[OutboxRow], round: usize) {
    let messages = fake_messages(fake);
    let mut seen: HashMap<String, usize> = HashMap::new();
    for (ch, key, ts, _, _) in &messages {
        let key = key
            .clone()
            .unwrap_or_else(|| panic!("round {round}: unkeyed message {ts} in {ch}"));
        *seen.entry(key).or_default() += 1;
    }
    for (key, n) in &seen {
        assert_eq!(*n, 1, "round {round}: {key} posted {n} times");
    }
    for r in rows
        .iter()
        .filter(|r| r.op != "update" && r.status == "sent")
    {
        let key = row_key(install, r.id);
        assert!(
            seen.contains_key(&key),
            "round {round}: sent row {} ({}) is not in Slack",
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
    Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args(["run", "-c"])
        .arg(config)
        .env("LOOKOUT_TEST_SLACK_TOKEN", TOKEN)
        .env("LOOKOUT_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("lookout run starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_twenty_times_loses_and_duplicates_nothing() {
    // A simulated Klaviyo running in real time, with problems that post on the first scan.
    let now = Utc::now();
    let clock: SharedClock = Arc::new(SimClock::running(now, 1.0));
    let sim = Simulator::new(7, 12, clock);
    let (sim_addr, _sim_task) = sim.serve(([127, 0, 0, 1], 0).into()).await.unwrap();
    let ten_hours_ago = now - chrono::Duration::hours(10);
    for (brand, kind) in [
        ("acme", FaultKind::OrdersStop),
        ("bluebird", FaultKind::BounceSpike),
        ("cedar-co", FaultKind::TokenRevoked),
    ] {
        sim.inject(Fault {
            brand: brand.into(),
            kind,
            at: ten_hours_ago,
            until: None,
        });
    }
    let channels: Vec<String> = BRANDS
        .iter()
        .map(|b| format!("client-{b}"))
        .chain(["agency".into()])
        .collect();
    let fake = FakeSlack::new(&channels.iter().map(String::as_str).collect::<Vec<_>>());
    let (slack_addr, _slack_task) = fake.start().await.unwrap();
    // Slack's answers take a while, as they do in production: a kill often lands
    // after a message is posted and before the outbox has recorded it.
    fake.set_latency(Duration::from_millis(250));

    let dir = tempfile::tempdir().unwrap();
    let mut toml = format!(
        "data_dir = {:?}\n[agency]\nchannel = \"slack:C{:04}\"\n[klaviyo]\nbase_url = \"http://{sim_addr}\"\n[scan]\ninterval_seconds = 2\nconcurrency = 8\n[chat]\nplatform = \"slack\"\nslack_api_url = \"{}\"\nslack_bot_token_env = \"LOOKOUT_TEST_SLACK_TOKEN\"\n",
        dir.path().join("data"),
        BRANDS.len() + 1,
        FakeSlack::api_url(slack_addr)
    );
    for b in sim
        .brands()
        .iter()
        .filter(|b| BRANDS.contains(&b.slug.as_str()))
    {
        // The fake names the channels C0001, C0002, ... in BRANDS order.
        let n = BRANDS.iter().position(|x| *x == b.slug).unwrap() + 1;
        toml.push_str(&format!(
            "[[clients]]\nslug = \"{}\"\nname = \"{}\"\nchannel = \"slack:C{n:04}\"\nowner = \"slack:U0ANA\"\napi_key = \"{}\"\n",
            b.slug,
            b.name,
            b.api_key.expose()
        ));
    }
    let config = dir.path().join("lookout.toml");
    std::fs::write(&config, toml).unwrap();
    let db = dir.path().join("data").join("lookout.db");

    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261125);
    let mut kills_with_pending = 0;
    for round in 0..20 {
        // Keys are revoked and restored around the portfolio, so every round
        // has findings to post and messages to edit and reply under.
        let t = Utc::now();
        sim.inject(Fault {
            brand: BRANDS[3 + round % 5].into(),
            kind: FaultKind::TokenRevoked,
            at: t,
            until: None,
        });
        sim.clear(BRANDS[3 + (round + 2) % 5], FaultKind::TokenRevoked);
        if round == 8 {
            sim.clear("acme", FaultKind::OrdersStop);
            sim.clear("cedar-co", FaultKind::TokenRevoked);
        }
        let mut child = spawn_run(&config);
        tokio::time::sleep(Duration::from_millis(rng.random_range(700..5_000))).await;
        child.kill().unwrap(); // SIGKILL: no chance to finish anything
        child.wait().unwrap();
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
    let mut child = spawn_run(&config);
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
    child.kill().unwrap();
    child.wait().unwrap();

    let (install, rows, refs) = read_outbox(&db).await;
    assert!(rows.iter().all(|r| r.status == "sent"), "nothing failed");
    check_exactly_once(&fake, &install, &rows, 99);
    let posts = rows.iter().filter(|r| r.op != "update").count();
    assert_eq!(
        fake_messages(&fake).len(),
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
    let all = fake_messages(&fake);
    let mut checked = 0;
    for (finding, mref) in refs {
        let Some(mref) = mref else { continue };
        let latest = rows
            .iter()
            .rev()
            .find(|r| r.finding == Some(finding) && r.op != "reply")
            .expect("a posted finding has rows");
        let message: Message = serde_json::from_str(&latest.body).unwrap();
        let (_, expected) = blocks::render(&message);
        let (_, _, _, _, text) = all
            .iter()
            .find(|m| m.2 == mref)
            .expect("the finding's message exists");
        assert_eq!(text, &expected, "finding {finding} shows its latest state");
        checked += 1;
    }
    assert!(
        checked >= 2,
        "at least two findings had messages ({checked})"
    );
    let lookups = fake
        .calls()
        .iter()
        .filter(|c| {
            c.method.starts_with("conversations.history")
                || c.method.starts_with("conversations.replies")
        })
        .count();
    eprintln!(
        "20 SIGKILLs, {kills_with_pending} with deliveries pending, {lookups} in-flight rows looked up by key; {posts} messages, {} edits",
        rows.iter().filter(|r| r.op == "update").count()
    );
}
