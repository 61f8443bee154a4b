//! The `lookout` binary: parses arguments and calls into the library.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lookout::chat::console::ConsoleChat;
use lookout::clock::{SharedClock, SimClock, SystemClock};
use lookout::config::Config;
use lookout::demo::{self, DemoOptions};
use lookout::simulator::Simulator;
use lookout::startup::{self, StartOptions};
use lookout::store::Store;

#[derive(Parser)]
#[command(
    name = "lookout",
    version,
    about = "Watches a portfolio of Klaviyo accounts and reports findings in chat"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Everything in one process: simulated Klaviyo, fast clock, console chat. No setup needed.
    Demo {
        /// Simulated seconds per real second.
        #[arg(long, default_value_t = 600.0)]
        speed: f64,
        /// Portfolio seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Number of simulated brands (12-16).
        #[arg(long, default_value_t = 12)]
        brands: usize,
        /// Stop by itself after this many real seconds (counted from launch, history included).
        #[arg(long)]
        exit_after: Option<u64>,
        /// Simulated days of history replayed before going live (0 turns it off).
        #[arg(long, default_value_t = 90)]
        history_days: u32,
        /// Keep the demo's database and master key in this directory (by default the database stays in memory).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Runs Lookout from a config file: scheduler, outbox and the console chat.
    Run {
        /// Config file (TOML).
        #[arg(long, short, default_value = "lookout.toml")]
        config: PathBuf,
    },
    /// Scans one client once and prints the findings.
    Scan {
        /// Client slug, e.g. acme.
        client: String,
        /// Config file (TOML).
        #[arg(long, short, default_value = "lookout.toml")]
        config: PathBuf,
    },
    /// Serves the built-in Klaviyo simulator on 127.0.0.1.
    Simulate {
        /// Port (0 picks a free one).
        #[arg(long, default_value_t = 8787)]
        port: u16,
        /// Portfolio seed.
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Number of brands.
        #[arg(long, default_value_t = 12)]
        brands: usize,
        /// Simulated seconds per real second (1 = real time).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
    },
    /// Writes chat platform manifests generated from `commands/`.
    Manifest {
        /// Which platform: slack or discord.
        platform: String,
        /// Public base URL for HTTP mode (Slack request URLs); Socket Mode when absent.
        #[arg(long)]
        http_base_url: Option<String>,
        /// Folder to write `manifest/` into.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Measures a speed target and prints it in the last line.
    Bench {
        #[command(subcommand)]
        which: BenchCmd,
    },
    /// The master key that seals tokens at rest: show its ids, or rotate it.
    Keys {
        #[command(subcommand)]
        which: KeysCmd,
    },
    /// Prints the check catalogue (id, family, severity, track, cadence, threshold) as a Markdown table.
    Checks,
    /// Creates or upgrades the database in the data dir.
    Migrate {
        /// Config file (TOML); only `data_dir` is read.
        #[arg(long, short, default_value = "lookout.toml")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// Lists the key ring's key ids (never the keys), the sealing one first.
    Show {
        /// Config file (TOML); only `data_dir` is read.
        #[arg(long, short, default_value = "lookout.toml")]
        config: PathBuf,
    },
    /// Puts a new key first, re-seals every stored secret under it, then drops
    /// the old keys; a running Lookout follows without a restart.
    Rotate {
        /// Config file (TOML); only `data_dir` is read.
        #[arg(long, short, default_value = "lookout.toml")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Builds a history of findings in a fresh database and times /renewal-report, /report and /sla.
    Reports {
        /// Findings in the history.
        #[arg(long, default_value_t = 100_000)]
        findings: usize,
        /// Timed runs of each report; the median is printed.
        #[arg(long, default_value_t = 5)]
        runs: usize,
        /// Keep the database in this folder for inspection instead of a temporary one.
        #[arg(long)]
        keep: Option<PathBuf>,
    },
    /// Scans a simulated portfolio once at Klaviyo's real rate limits and
    /// compares the wall time with the floor those limits allow.
    Scan {
        /// Accounts in the portfolio.
        #[arg(long, default_value_t = 50)]
        accounts: usize,
        /// One account at a time: the naive baseline.
        #[arg(long)]
        sequential: bool,
    },
    /// Injects faults into a simulated portfolio at random simulated times and
    /// measures how long each takes to reach chat, through pulses and full scans.
    Latency {
        /// Accounts in the portfolio.
        #[arg(long, default_value_t = 200)]
        accounts: usize,
        /// Faults of each kind (each in its own brand).
        #[arg(long, default_value_t = 10)]
        per_kind: usize,
        /// Seed of the portfolio and the injection times.
        #[arg(long, default_value_t = 42)]
        seed: u64,
    },
    /// Runs several `lookout run` processes on one database against a
    /// simulated portfolio and a fake Slack for one scan interval, sending
    /// slash commands meanwhile.
    Load {
        /// Accounts in the portfolio.
        #[arg(long, default_value_t = 2000)]
        accounts: usize,
        /// Processes sharing the database.
        #[arg(long, default_value_t = 3)]
        processes: usize,
        /// Real minutes the simulated hour (one scan interval) takes.
        #[arg(long, default_value_t = 1.0)]
        minutes: f64,
        /// A postgres:// URL to share (else LOOKOUT_DATABASE_URL, else a SQLite file).
        #[arg(long)]
        database_url: Option<String>,
    },
}

fn load(path: &std::path::Path) -> anyhow::Result<Config> {
    Config::load(path).with_context(|| "see README.md, \"Configuration\"".to_string())
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = rt.block_on(run(cli));
    // A read of the terminal is a blocking task that never ends by itself;
    // do not let it hold the process open after the command is done.
    rt.shutdown_timeout(std::time::Duration::from_millis(500));
    result
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Cmd::Demo {
            speed,
            seed,
            brands,
            exit_after,
            history_days,
            data_dir,
        } => {
            // The demo's screen is the console chat; keep logs to warnings.
            startup::init_tracing("warn");
            if !(1.0..=100_000.0).contains(&speed) {
                anyhow::bail!("--speed must be between 1 and 100000");
            }
            // Report charts and documents land where the demo keeps its data.
            let files = data_dir
                .as_ref()
                .map(|d| d.join("files"))
                .unwrap_or_else(|| PathBuf::from("data/files"));
            let chat = Arc::new(ConsoleChat::stdout().with_files_dir(files));
            let opts = DemoOptions {
                speed,
                seed,
                brands,
                exit_after: exit_after.map(std::time::Duration::from_secs),
                history_days,
                data_dir,
            };
            demo::run(opts, chat).await?;
        }
        Cmd::Run { config } => {
            // The config says the log format (`ops.log_format`), so it is read first.
            let cfg = load(&config)?;
            startup::init_tracing_as("info", cfg.ops.log_format);
            let clock: SharedClock = Arc::new(SystemClock);
            let mut running = startup::start(cfg, StartOptions::new(clock)).await?;
            startup::shutdown_signal().await;
            running.shutdown().await;
        }
        Cmd::Scan { client, config } => {
            let cfg = load(&config)?;
            startup::init_tracing_as("warn", cfg.ops.log_format);
            let slug = lookout::domain::ClientSlug::parse(&client)?;
            let opts = StartOptions {
                background: false,
                inbound: false,
                ..StartOptions::new(Arc::new(SystemClock))
            };
            let running = startup::start(cfg, opts).await?;
            let report = running.app.scan(&slug, "cli", None).await?;
            running.app.deliverer.run_once().await?;
            println!(
                "{}",
                lookout::chat::console::render(&lookout::commands::scan_summary(&report))
            );
        }
        Cmd::Simulate {
            port,
            seed,
            brands,
            speed,
        } => {
            startup::init_tracing("info");
            let clock: SharedClock = if (speed - 1.0).abs() < f64::EPSILON {
                Arc::new(SystemClock)
            } else {
                Arc::new(SimClock::running(chrono::Utc::now(), speed))
            };
            let sim = Simulator::new(seed, brands, clock);
            let (addr, task) = sim.serve(([127, 0, 0, 1], port).into()).await?;
            println!(
                "Klaviyo simulator on http://{addr} ({} brands, seed {seed})",
                sim.brands().len()
            );
            let brands = sim.brands();
            // Thousands of brands would bury the address; the admin API lists them all.
            for b in brands.iter().take(20) {
                println!(
                    "  {:<14} account {}  key {}",
                    b.slug,
                    b.account_id,
                    b.api_key.expose()
                );
            }
            if brands.len() > 20 {
                println!(
                    "  … and {} more: GET http://{addr}/__sim/brands lists them all",
                    brands.len() - 20
                );
            }
            println!(
                "Inject a fault: curl -X POST http://{addr}/__sim/faults -d '{{\"brand\":\"acme\",\"fault\":\"orders-stop\"}}' -H 'content-type: application/json'"
            );
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = task => {}
            }
        }
        Cmd::Manifest {
            platform,
            http_base_url,
            dir,
        } => match platform.as_str() {
            "slack" => {
                let opts = lookout::commands::manifest::ManifestOptions { http_base_url };
                let path = lookout::commands::manifest::write_manifest(&dir, &opts)?;
                println!("wrote {}", path.display());
            }
            "discord" => {
                let path = lookout::chat::discord::commands::write_manifest(&dir)?;
                println!("wrote {}", path.display());
                println!(
                    "invite the bot with {}",
                    lookout::chat::discord::invite::invite_url(0)
                        .replace("client_id=0", "client_id=<APPLICATION_ID>")
                );
            }
            other => anyhow::bail!("unknown platform `{other}`: use slack or discord"),
        },
        Cmd::Checks => print!("{}", lookout::checks::catalogue_table()),
        Cmd::Migrate { config } => {
            startup::init_tracing("info");
            let cfg = if config.exists() {
                load(&config)?
            } else {
                Config::default()
            };
            let store = Store::open_url(cfg.database().expose()).await?;
            match store.backend() {
                lookout::store::Backend::Postgres => println!("PostgreSQL database ready"),
                lookout::store::Backend::Sqlite => println!(
                    "database ready at {}",
                    cfg.data_dir.join("lookout.db").display()
                ),
            }
        }
        Cmd::Keys { which } => {
            startup::init_tracing("warn");
            let config = match &which {
                KeysCmd::Show { config } | KeysCmd::Rotate { config } => config,
            };
            let cfg = if config.exists() {
                load(config)?
            } else {
                Config::default()
            };
            let vault = lookout::vault::Vault::load(&cfg.data_dir)?;
            match which {
                KeysCmd::Show { .. } => println!("keys: {}", vault.key_ids().join(", ")),
                KeysCmd::Rotate { .. } => {
                    let store = Store::open_url(cfg.database().expose()).await?;
                    let r = lookout::vault::rotate(&store, &vault).await?;
                    println!(
                        "rotated: new key {}, {} secrets re-sealed, dropped {}",
                        r.new_key,
                        r.resealed,
                        if r.dropped.is_empty() {
                            "none".to_owned()
                        } else {
                            r.dropped.join(", ")
                        }
                    );
                }
            }
        }
        Cmd::Bench {
            which:
                BenchCmd::Reports {
                    findings,
                    runs,
                    keep,
                },
        } => {
            startup::init_tracing("warn");
            let opts = lookout::bench::ReportsBench {
                findings,
                runs,
                ..Default::default()
            };
            let dir = match &keep {
                Some(d) => {
                    std::fs::create_dir_all(d)
                        .with_context(|| format!("cannot create {}", d.display()))?;
                    d.clone()
                }
                None => tempfile_dir()?,
            };
            println!(
                "building {} findings over {} clients and {} days in a fresh SQLite database…",
                opts.findings, opts.clients, opts.days
            );
            let result = lookout::bench::reports(&opts, &dir).await;
            if keep.is_none() {
                let _ = std::fs::remove_dir_all(&dir);
            }
            let f = result?;
            println!(
                "history: {} findings, {} events in {:.1} s",
                f.findings, f.events, f.build_secs
            );
            let target = lookout::bench::REPORT_TARGET_MS;
            for (name, ms) in [
                ("/renewal-report", f.renewal_ms),
                ("/report", f.report_ms),
                ("/sla", f.sla_ms),
            ] {
                println!(
                    "{name}: {ms:.1} ms median ({:.2}× the {target:.0} ms target)",
                    ms / target
                );
            }
            println!("{}", f.last_line());
        }
        Cmd::Bench {
            which:
                BenchCmd::Scan {
                    accounts,
                    sequential,
                },
        } => {
            startup::init_tracing("warn");
            let opts = lookout::bench::ScanBench {
                accounts,
                sequential,
                ..Default::default()
            };
            println!(
                "scanning {accounts} simulated accounts {} at Klaviyo's rate limits…",
                if sequential {
                    "one at a time"
                } else {
                    "through the scan gate"
                }
            );
            let dir = tempfile_dir()?;
            let result = lookout::bench::scan(&opts, &dir).await;
            let _ = std::fs::remove_dir_all(&dir);
            let f = result?;
            println!(
                "scanned {}/{} accounts, {} Klaviyo calls, at most {} at once",
                f.scanned, f.accounts, f.calls, f.peak_concurrency
            );
            println!(
                "wall {:.2} s; floor {:.2} s (the slowest account's busiest rate tier); ratio {:.3}",
                f.wall_s,
                f.floor_s,
                f.ratio()
            );
            println!(
                "429s: {}; peak RSS {:.1} MB; live heap {:.1} MB at rest, {:.1} MB at most",
                f.http_429, f.peak_rss_mb, f.idle_heap_mb, f.peak_heap_mb
            );
            println!("{}", f.last_line());
        }
        Cmd::Bench {
            which:
                BenchCmd::Load {
                    accounts,
                    processes,
                    minutes,
                    database_url,
                },
        } => bench_load(accounts, processes, minutes, database_url).await?,
        Cmd::Bench {
            which:
                BenchCmd::Latency {
                    accounts,
                    per_kind,
                    seed,
                },
        } => {
            // The faults are the point: their warnings (a revoked key at every
            // pulse) would bury the figures.
            startup::init_tracing("error");
            let opts = lookout::bench::LatencyBench {
                accounts,
                per_kind,
                seed,
                ..Default::default()
            };
            println!(
                "injecting {per_kind} faults of each kind into {accounts} simulated accounts, pulses every 5 and full scans every 60 simulated minutes…"
            );
            let f = lookout::bench::latency(&opts).await?;
            println!(
                "| fault | check | cadence | found | p50 | p95 | p95 past the rule's own wait |"
            );
            println!("|---|---|---|---|---|---|---|");
            for k in &f.kinds {
                println!(
                    "| {} | `{}` | {} | {}/{} | {:.1} min | {:.1} min | {:.1} min |",
                    k.kind.name(),
                    k.check,
                    match k.cadence {
                        lookout::bench::Cadence::Pulse => "pulse",
                        lookout::bench::Cadence::Full => "full",
                    },
                    k.found,
                    k.injected,
                    k.p50_min,
                    k.p95_min,
                    k.p95_past_rule_min
                );
            }
            println!(
                "{:.1} simulated hours in {:.1} s; {} faults never reported",
                f.simulated_hours,
                f.wall_s,
                f.missed()
            );
            println!("{}", f.last_line());
        }
    }
    Ok(())
}

/// `bench load`: figures, then the last line.
async fn bench_load(
    accounts: usize,
    processes: usize,
    minutes: f64,
    database_url: Option<String>,
) -> anyhow::Result<()> {
    startup::init_tracing("warn");
    let database_url = database_url.or_else(|| std::env::var("LOOKOUT_DATABASE_URL").ok());
    let opts = lookout::bench::LoadBench {
        accounts,
        processes: processes.max(1),
        minutes,
        database_url,
        ..Default::default()
    };
    println!(
        "{} processes on {} share {accounts} simulated accounts for {minutes} min (one scan interval), slash commands meanwhile…",
        opts.processes,
        if opts.database_url.is_some() {
            "PostgreSQL"
        } else {
            "one SQLite file"
        }
    );
    let exe = std::env::current_exe().context("cannot find the lookout binary")?;
    let dir = tempfile_dir()?;
    let result = lookout::bench::load(&opts, &exe, &dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    let f = result?;
    println!(
        "{:.0} s: {} of {} accounts scanned, {:.0} scans a minute; {} messages delivered, p99 {:.0} ms after they were written",
        f.wall_s, f.accounts_scanned, f.accounts, f.scans_per_min, f.delivered, f.outbox_lag_p99_ms
    );
    println!(
        "{} slash commands, {} refused; acknowledged in {:.1} ms at p99 (target {:.0} ms)",
        f.commands,
        f.commands_refused,
        f.ack_p99_ms,
        lookout::bench::ACK_TARGET_MS,
    );
    let per_process: Vec<String> = f.rss_mb.iter().map(|mb| format!("{mb:.1} MB")).collect();
    println!(
        "peak RSS per process: {} (largest {:.1} MB)",
        per_process.join(", "),
        f.rss_mb_max
    );
    println!("{}", f.last_line());
    Ok(())
}

/// A fresh directory for a benchmark's database, removed afterwards.
fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("lookout-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}
