//! Scale-out: three `lookout run` processes share one database (PostgreSQL
//! when `LOOKOUT_TEST_DATABASE_URL` names one, else one SQLite file), the
//! simulated Klaviyo and a fake Slack. One of them at a time is killed with
//! SIGKILL, twenty times, and started again. Throughout: every outbox message
//! is on Slack exactly once, each channel's messages arrive in outbox order,
//! and no client's scans ever overlap, whichever processes ran them.
//!
//! With `LOOKOUT_TEST_PG_RESTART` set to a command that restarts that
//! PostgreSQL server (`.ci/run` sets it), the server is also restarted
//! halfway: every process reconnects by itself and nothing is lost or
//! duplicated.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use chrono::Utc;
use lookout::chat::slack::fake::FakeSlack;
use lookout::store::outbox::OutboxEntry;
use lookout::store::{Store, TEST_DATABASE_URL, outbox, scans};
use rand::{Rng, SeedableRng};

use crate::support::processes::{
    BRANDS, Running, channel_names, churn, clients_toml, troubled_simulator,
};

const TOKEN: &str = "xoxb-scale-out-test-token";
const PROCESSES: usize = 3;

/// Where the processes keep their data: a fresh PostgreSQL schema, or a SQLite file.
async fn database(dir: &std::path::Path) -> String {
    match std::env::var(TEST_DATABASE_URL) {
        Ok(url) if url.starts_with("postgres") => {
            Store::fresh_schema_url(&url, "t_scale_out").await.unwrap()
        }
        _ => dir.join("lookout.db").display().to_string(),
    }
}

fn lookout(args: &[&str], config: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_lookout"));
    c.args(args)
        .arg("-c")
        .arg(config)
        .env("LOOKOUT_TEST_SLACK_TOKEN", TOKEN)
        .env("LOOKOUT_LOG", "warn")
        .env_remove(TEST_DATABASE_URL)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// The outbox and this database's install id (read again while the
/// database is restarting).
async fn outbox_of(store: &Store) -> (String, Vec<OutboxEntry>) {
    for _ in 0..100 {
        let read = async {
            let mut db = store.conn().await?;
            let rows = outbox::all(&mut db).await?;
            let install = if rows.is_empty() {
                String::new()
            } else {
                outbox::install_id(&mut db).await?
            };
            Ok::<_, lookout::store::StoreError>((install, rows))
        };
        match read.await {
            Ok(r) => return r,
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
    panic!("the database did not come back within 20 s");
}

/// Restarts the PostgreSQL server with the command in `LOOKOUT_TEST_PG_RESTART`.
fn restart_postgres() -> bool {
    let Ok(command) = std::env::var("LOOKOUT_TEST_PG_RESTART") else {
        return false;
    };
    let status = Command::new("sh").args(["-c", &command]).status().unwrap();
    assert!(status.success(), "{command}: {status:?}");
    true
}

/// Each message once, each sent post or reply there, each channel in outbox order.
fn check_messages(
    fake: &FakeSlack,
    channels: &[String],
    install: &str,
    rows: &[OutboxEntry],
    when: &str,
) {
    let prefix = format!("lookout-{install}-");
    let mut seen: HashMap<i64, usize> = HashMap::new();
    for ch in channels {
        let ids: Vec<i64> = fake
            .messages(ch)
            .iter()
            .map(|m| {
                let key = m
                    .metadata_key
                    .clone()
                    .unwrap_or_else(|| panic!("{when}: unkeyed message {} in {ch}", m.ts));
                key.strip_prefix(&prefix)
                    .and_then(|id| id.parse().ok())
                    .unwrap_or_else(|| panic!("{when}: key {key} is not this install's"))
            })
            .collect();
        for id in &ids {
            *seen.entry(*id).or_default() += 1;
        }
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "{when}: {ch} got its messages out of outbox order: {ids:?}"
        );
    }
    for (id, n) in &seen {
        assert_eq!(*n, 1, "{when}: row {id} posted {n} times");
    }
    for r in rows
        .iter()
        .filter(|r| r.op != "update" && r.status == "sent")
    {
        assert!(
            seen.contains_key(&r.id),
            "{when}: sent row {} ({}) is not on Slack",
            r.id,
            r.op
        );
    }
}

/// No client's recorded scans overlap in time.
async fn check_no_overlap(store: &Store) -> usize {
    let mut db = store.conn().await.unwrap();
    let all = scans::intervals(&mut db).await.unwrap();
    let mut last_end: HashMap<&str, chrono::DateTime<Utc>> = HashMap::new();
    for (client, start, end) in &all {
        if let Some(prev) = last_end.get(client.as_str()) {
            assert!(
                start >= prev,
                "{client} was scanned by two processes at once: a scan started at {start} before the previous one ended at {prev}"
            );
        }
        last_end.insert(client, end.unwrap_or(*start));
    }
    all.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_processes_killed_twenty_times_post_everything_once_in_order() {
    let (sim, sim_addr, _sim_task) = troubled_simulator().await;
    let names = channel_names();
    let fake = FakeSlack::new(&names.iter().map(String::as_str).collect::<Vec<_>>());
    let (addr, _task) = fake.start().await.unwrap();
    // Answers take a while, so kills land between a post and its record.
    fake.set_latency(Duration::from_millis(150));
    let dir = tempfile::tempdir().unwrap();
    let url = database(dir.path()).await;
    // PostgreSQL by URL; SQLite as the data directory's lookout.db.
    let database_url = if url.starts_with("postgres") {
        format!("database_url = {url:?}\n")
    } else {
        String::new()
    };
    let mut toml = format!(
        "data_dir = {:?}\n{database_url}[agency]\nchannel = \"slack:C{:04}\"\n[klaviyo]\nbase_url = \"http://{sim_addr}\"\n[scan]\ninterval_seconds = 2\nconcurrency = 8\nlease_seconds = 3\n[chat]\nplatform = \"slack\"\nslack_api_url = \"{}\"\nslack_bot_token_env = \"LOOKOUT_TEST_SLACK_TOKEN\"\n",
        dir.path(),
        names.len(),
        FakeSlack::api_url(addr)
    );
    let channels: Vec<String> = (1..=names.len())
        .map(|n| format!("slack:C{n:04}"))
        .collect();
    toml.push_str(&clients_toml(&sim, &channels, "slack:U0ANA"));
    let config = dir.path().join("lookout.toml");
    std::fs::write(&config, toml).unwrap();
    // Migrated once up front, so three processes starting together find it ready.
    let migrated = lookout(&["migrate"], &config).status().unwrap();
    assert!(migrated.success(), "lookout migrate: {migrated:?}");
    let store = Store::open_url(&url).await.unwrap();

    let mut procs = Running(
        (0..PROCESSES)
            .map(|_| lookout(&["run"], &config).spawn().unwrap())
            .collect(),
    );
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(20261207);
    for round in 0..20 {
        churn(&sim, round);
        tokio::time::sleep(Duration::from_millis(rng.random_range(500..2_500))).await;
        if round == 10 && url.starts_with("postgres") && restart_postgres() {
            eprintln!("restarted PostgreSQL under the running processes");
        }
        let victim = rng.random_range(0..PROCESSES);
        procs.0[victim].kill().unwrap(); // SIGKILL: no chance to finish anything
        procs.0[victim].wait().unwrap();
        let (install, rows) = outbox_of(&store).await;
        check_messages(&fake, &names, &install, &rows, &format!("round {round}"));
        procs.0[victim] = lookout(&["run"], &config).spawn().unwrap();
    }

    // The survivors drain the outbox and see the cleared problems.
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let (_, rows) = outbox_of(&store).await;
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
    for p in &mut procs.0 {
        p.kill().unwrap();
        p.wait().unwrap();
    }
    let (install, rows) = outbox_of(&store).await;
    assert!(rows.iter().all(|r| r.status == "sent"), "nothing failed");
    check_messages(&fake, &names, &install, &rows, "at the end");
    let posts = rows.iter().filter(|r| r.op != "update").count();
    let on_slack: usize = names.iter().map(|c| fake.messages(c).len()).sum();
    assert_eq!(on_slack, posts, "exactly the expected messages");
    assert!(
        rows.iter()
            .any(|r| r.op == "post" && r.finding_id.is_some())
    );
    assert!(rows.iter().any(|r| r.op == "reply"));
    let scans = check_no_overlap(&store).await;
    assert!(
        scans >= 3 * BRANDS.len(),
        "the processes kept scanning: {scans} scans"
    );
    eprintln!(
        "{PROCESSES} processes, 20 SIGKILLs: {posts} messages once each and in order; {scans} scans, none overlapping"
    );
}
