//! `bench load` runs several `lookout run` processes on one database against
//! a simulated Klaviyo portfolio and a fake Slack (HTTP mode) for one scan
//! interval, "one simulated hour" compressed into `minutes` of real time:
//! every account falls due once, and the processes share the work through
//! their leases. Meanwhile signed slash commands go to each process's HTTP
//! endpoint, as Slack sends them, and their acknowledgements are timed.
//!
//! Measured: scans finished per minute, outbox lag (a row's delivery time
//! after it was written) at p99, slash-command acknowledgement at p99 while
//! scanning (the target is 200 ms), and each process's peak resident memory.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;

use super::quantile;
use crate::app::AppError;
use crate::chat::slack::fake::FakeSlack;
use crate::clock::{SharedClock, SimClock};
use crate::config::Secret;
use crate::simulator::Simulator;
use crate::store::{Store, outbox, scans};

/// Slack's three-second limit is the hard one; Lookout aims well under it.
pub const ACK_TARGET_MS: f64 = 200.0;

/// The signing secret the fake Slack and the processes share.
const SECRET: &str = "bench-load-signing-secret";

/// What to run.
#[derive(Debug, Clone)]
pub struct LoadBench {
    /// Accounts (simulated brands, one client each).
    pub accounts: usize,
    /// `lookout run` processes sharing the database.
    pub processes: usize,
    /// Real minutes the simulated hour (one scan interval) takes.
    pub minutes: f64,
    /// A `postgres://` URL to share; a SQLite file in the run's folder otherwise.
    pub database_url: Option<String>,
    /// Slash commands sent per second, spread over the processes.
    pub commands_per_sec: f64,
    /// Portfolio seed.
    pub seed: u64,
}

impl Default for LoadBench {
    fn default() -> Self {
        Self {
            accounts: 2000,
            processes: 3,
            minutes: 1.0,
            database_url: None,
            commands_per_sec: 5.0,
            seed: 42,
        }
    }
}

/// What a run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct LoadFigures {
    /// Accounts in the portfolio.
    pub accounts: usize,
    /// Processes that shared them.
    pub processes: usize,
    /// Scans (full scans and pulses) finished per real minute.
    pub scans_per_min: f64,
    /// Accounts scanned at least once during the run.
    pub accounts_scanned: usize,
    /// Outbox rows delivered during the run.
    pub delivered: usize,
    /// p99 of a row's delivery after it was written.
    pub outbox_lag_p99_ms: f64,
    /// Slash commands sent.
    pub commands: usize,
    /// Of those, answered with anything but 200.
    pub commands_refused: usize,
    /// p99 of the time to the HTTP acknowledgement.
    pub ack_p99_ms: f64,
    /// The largest of the processes' peak resident memory.
    pub rss_mb_max: f64,
    /// Peak resident memory of each process, in start order (0 where unreadable).
    pub rss_mb: Vec<f64>,
    /// Real seconds the run took.
    pub wall_s: f64,
}

impl LoadFigures {
    /// The line the issue asks for, last in the output.
    pub fn last_line(&self) -> String {
        format!(
            "load: accounts={} processes={} scans_per_min={:.0} outbox_lag_p99_ms={:.0} ack_p99_ms={:.1} rss_mb_max={:.1}",
            self.accounts,
            self.processes,
            self.scans_per_min,
            self.outbox_lag_p99_ms,
            self.ack_p99_ms,
            self.rss_mb_max
        )
    }
}

/// Peak resident memory of process `pid` in MB (`VmHWM`), where the OS tells it.
fn peak_rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// A free loopback port (bound, then released for a process to take).
fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind(("127.0.0.1", 0))?
        .local_addr()?
        .port())
}

/// A slash command's form body, as Slack posts it.
fn slash_body(channel: &str, command: &str, text: &str) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                    (b as char).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    format!(
        "team_id=T0001&channel_id={}&user_id=U0BENCH&user_name=bench&command={}&text={}&trigger_id=1.2.3",
        enc(channel),
        enc(command),
        enc(text)
    )
}

/// Kills the processes when dropped, whatever happened.
struct Processes(Vec<Child>);

impl Drop for Processes {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Sends signed slash commands to the processes' endpoints in turn and times
/// each acknowledgement.
struct CommandSender {
    ports: Vec<u16>,
    brands: usize,
    every: Duration,
    run_for: Duration,
    started: Instant,
}

impl CommandSender {
    /// Sends until `run_for` after `started`; the times in ms and how many
    /// were refused.
    fn run(self) -> Result<(Vec<f64>, usize), AppError> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| AppError::Startup(format!("cannot start the sender's runtime: {e}")))?;
        rt.block_on(async move {
            let http = reqwest::Client::new();
            let secret = Secret::new(SECRET);
            let (mut acks, mut refused, mut n) = (Vec::new(), 0usize, 0usize);
            let mut ticker = tokio::time::interval(self.every);
            while self.started.elapsed() < self.run_for {
                ticker.tick().await;
                let port = self.ports[n % self.ports.len()];
                let i = n % self.brands.max(1);
                let body = slash_body(&format!("C{:04}", i + 1), "/findings", "");
                let ts = Utc::now().timestamp();
                let sig = crate::chat::slack::verify::sign(&secret, ts, body.as_bytes());
                let sent = Instant::now();
                let res = http
                    .post(format!("http://127.0.0.1:{port}/slack/commands"))
                    .header("content-type", "application/x-www-form-urlencoded")
                    .header("x-slack-request-timestamp", ts.to_string())
                    .header("x-slack-signature", sig)
                    .body(body)
                    .send()
                    .await;
                acks.push(sent.elapsed().as_secs_f64() * 1000.0);
                if !res.is_ok_and(|r| r.status().is_success()) {
                    refused += 1;
                }
                n += 1;
            }
            Ok((acks, refused))
        })
    }
}

/// Runs the benchmark with the `lookout` binary at `exe`, keeping its files in `dir`.
pub async fn load(opts: &LoadBench, exe: &Path, dir: &Path) -> Result<LoadFigures, AppError> {
    let fail = |what: &str, e: &dyn std::fmt::Display| AppError::Startup(format!("{what}: {e}"));
    let clock: SharedClock = Arc::new(SimClock::running(Utc::now(), 1.0));
    let sim = Simulator::new(opts.seed, opts.accounts, clock);
    let (sim_addr, _sim_task) = sim
        .serve(([127, 0, 0, 1], 0).into())
        .await
        .map_err(|e| fail("cannot start the simulator", &e))?;
    let brands = sim.brands();
    let mut names: Vec<String> = brands
        .iter()
        .map(|b| format!("client-{}", b.slug))
        .collect();
    names.push("agency".into());
    let fake = FakeSlack::new(&names.iter().map(String::as_str).collect::<Vec<_>>());
    let (slack_addr, _slack_task) = fake
        .start()
        .await
        .map_err(|e| fail("cannot start the fake Slack", &e))?;
    // The fake names channels C0001, C0002 … in the order given.
    let channel = |i: usize| format!("slack:C{:04}", i + 1);

    let interval = (opts.minutes * 60.0).round().max(10.0) as u32;
    // A run of its own on PostgreSQL: a fresh schema, so an earlier run's
    // scans and rows neither count nor slow this one.
    let database_url = match &opts.database_url {
        Some(url) if url.starts_with("postgres") => {
            Some(Store::fresh_schema_url(url, "bench_load").await?)
        }
        other => other.clone(),
    };
    let database = match &database_url {
        Some(url) => format!("database_url = {url:?}\n"),
        None => String::new(),
    };
    let mut clients = String::new();
    for (i, b) in brands.iter().enumerate() {
        clients.push_str(&format!(
            "[[clients]]\nslug = \"{}\"\nname = \"{}\"\nchannel = \"{}\"\nowner = \"slack:U0BENCH\"\napi_key = \"{}\"\n",
            b.slug,
            b.name.replace('"', ""),
            channel(i),
            b.api_key.expose()
        ));
    }
    let mut configs: Vec<(PathBuf, u16)> = Vec::new();
    for p in 0..opts.processes {
        let port = free_port().map_err(|e| fail("no free port", &e))?;
        let toml = format!(
            "data_dir = {dir:?}\n{database}[agency]\nchannel = \"{}\"\n[klaviyo]\nbase_url = \"http://{sim_addr}\"\n[scan]\ninterval_seconds = {interval}\npulse_minutes = 0\nconcurrency = \"auto\"\n[chat]\nplatforms = [\"slack\"]\nslack_mode = \"http\"\nhttp_listen = \"127.0.0.1:{port}\"\nslack_api_url = \"{}\"\nslack_bot_token_env = \"LOOKOUT_BENCH_SLACK_TOKEN\"\nslack_signing_secret_env = \"LOOKOUT_BENCH_SLACK_SECRET\"\n{clients}",
            channel(brands.len()),
            FakeSlack::api_url(slack_addr),
        );
        let path = dir.join(format!("lookout-{p}.toml"));
        std::fs::write(&path, toml).map_err(|e| fail("cannot write a config", &e))?;
        configs.push((path, port));
    }
    let command = |args: &[&str], config: &Path| {
        let mut c = Command::new(exe);
        c.args(args)
            .arg("-c")
            .arg(config)
            .env("LOOKOUT_BENCH_SLACK_TOKEN", "xoxb-bench-load")
            .env("LOOKOUT_BENCH_SLACK_SECRET", SECRET)
            .env("LOOKOUT_LOG", "error")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    };
    // Migrated once, so the processes start on a ready database together.
    let migrated = command(&["migrate"], &configs[0].0)
        .status()
        .map_err(|e| fail("cannot run lookout migrate", &e))?;
    if !migrated.success() {
        return Err(AppError::Startup(format!(
            "lookout migrate failed: {migrated}"
        )));
    }
    let store_url = database_url
        .clone()
        .unwrap_or_else(|| dir.join("lookout.db").display().to_string());
    let store = Store::open_url(&store_url).await?;

    let started = Instant::now();
    let since = Utc::now();
    let mut procs = Processes(Vec::new());
    for (config, _) in &configs {
        let child = command(&["run"], config)
            .spawn()
            .map_err(|e| fail("cannot start lookout run", &e))?;
        procs.0.push(child);
    }
    // Wait for each endpoint to listen (loading 2,000 clients takes a moment).
    for (_, port) in &configs {
        let deadline = Instant::now() + Duration::from_secs(120);
        while tokio::net::TcpStream::connect(("127.0.0.1", *port))
            .await
            .is_err()
        {
            if Instant::now() > deadline {
                return Err(AppError::Startup(format!(
                    "lookout run did not listen on port {port} within 2 minutes"
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // Slash commands while the portfolio is scanned, from a thread and a
    // runtime of their own: Slack is outside the machine, and timing its
    // requests on this runtime would count the simulator's queue (it serves
    // every Klaviyo call of the run) in Lookout's acknowledgements.
    let ports: Vec<u16> = configs.iter().map(|(_, port)| *port).collect();
    let sender = CommandSender {
        ports,
        brands: brands.len(),
        every: Duration::from_secs_f64(1.0 / opts.commands_per_sec.max(0.1)),
        run_for: Duration::from_secs(u64::from(interval)),
        started,
    };
    let (mut acks, refused) = tokio::task::spawn_blocking(move || sender.run())
        .await
        .map_err(|e| fail("the slash-command sender stopped", &e))??;
    let wall = started.elapsed();
    let rss_mb: Vec<f64> = procs
        .0
        .iter()
        .map(|c| peak_rss_mb(c.id()).unwrap_or(0.0))
        .collect();
    let rss_mb_max = rss_mb.iter().copied().fold(0.0, f64::max);
    drop(procs);

    let mut db = store.conn().await?;
    let scanned = scans::intervals(&mut db).await?;
    let in_run: Vec<_> = scanned
        .iter()
        .filter(|(_, start, end)| *start >= since && end.is_some())
        .collect();
    let accounts_scanned = in_run
        .iter()
        .map(|(c, _, _)| c.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len();
    let mut lags: Vec<f64> = outbox::delivery_times(&mut db)
        .await?
        .into_iter()
        .filter(|(created, _)| *created >= since)
        .filter_map(|(created, sent)| sent.map(|s| (s - created).num_milliseconds() as f64))
        .collect();
    let delivered = lags.len();
    Ok(LoadFigures {
        accounts: opts.accounts,
        processes: opts.processes,
        scans_per_min: in_run.len() as f64 / (wall.as_secs_f64() / 60.0),
        accounts_scanned,
        delivered,
        outbox_lag_p99_ms: quantile(&mut lags, 0.99),
        commands: acks.len(),
        commands_refused: refused,
        ack_p99_ms: quantile(&mut acks, 0.99),
        rss_mb,
        rss_mb_max,
        wall_s: wall.as_secs_f64(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_line_has_every_figure_and_quantiles_take_the_nearest_rank() {
        let f = LoadFigures {
            accounts: 2000,
            processes: 3,
            scans_per_min: 1234.4,
            accounts_scanned: 2000,
            delivered: 10,
            outbox_lag_p99_ms: 850.2,
            commands: 300,
            commands_refused: 0,
            ack_p99_ms: 12.34,
            rss_mb: vec![150.06, 120.0, 130.5],
            rss_mb_max: 150.06,
            wall_s: 60.0,
        };
        assert_eq!(
            f.last_line(),
            "load: accounts=2000 processes=3 scans_per_min=1234 outbox_lag_p99_ms=850 ack_p99_ms=12.3 rss_mb_max=150.1"
        );
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&mut v, 0.99), 99.0);
        assert_eq!(quantile(&mut [], 0.99), 0.0);
        let body = slash_body("C0001", "/findings", "a b&c");
        assert!(
            body.contains("command=%2Ffindings&text=a%20b%26c"),
            "{body}"
        );
    }
}
