//! The `lookout` binary: parses arguments and calls into the library.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand};
use lookout::chat::ChatAdapter;
use lookout::chat::console::ConsoleChat;
use lookout::chat::slack::{SlackChat, SlackConfig};
use lookout::clock::{SharedClock, SimClock, SystemClock};
use lookout::config::Config;
use lookout::demo::{self, DemoOptions};
use lookout::simulator::Simulator;
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
        /// Stop by itself after this many real seconds.
        #[arg(long)]
        exit_after: Option<u64>,
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
        /// Which platform: slack.
        platform: String,
        /// Public base URL for HTTP mode (Slack request URLs); Socket Mode when absent.
        #[arg(long)]
        http_base_url: Option<String>,
        /// Folder to write `manifest/` into.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
    },
    /// Creates or upgrades the database in the data dir.
    Migrate {
        /// Config file (TOML); only `data_dir` is read.
        #[arg(long, short, default_value = "lookout.toml")]
        config: PathBuf,
    },
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOOKOUT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

/// Starts hearing Slack (Socket Mode or HTTP, per config) and feeding the dispatcher.
fn start_slack_inbound(
    app: &Arc<lookout::app::App>,
    slack: Arc<SlackChat>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<Option<tokio::task::JoinHandle<()>>> {
    let handler = Arc::new(lookout::commands::dispatch::Dispatcher::new(app.clone()));
    let chat_cfg = &app.config.chat;
    match chat_cfg.slack_mode.as_str() {
        "socket" => {
            let token = match chat_cfg.slack_app_token() {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "Socket Mode is off: Lookout will post but not hear commands");
                    return Ok(None);
                }
            };
            let socket = lookout::chat::slack::socket::SocketMode::new(
                token,
                chat_cfg.slack_api_url.clone(),
                handler,
                slack,
            )?;
            Ok(Some(tokio::spawn(async move {
                if let Err(e) = socket.run(stop).await {
                    tracing::error!(error = %e, "Slack Socket Mode stopped");
                }
            })))
        }
        _ => {
            use lookout::chat::slack::http::{SlackHttp, router};
            use lookout::chat::slack::verify::Verifier;
            let secret = chat_cfg.slack_signing_secret()?;
            let state = SlackHttp::new(
                Arc::new(Verifier::new(secret)),
                slack,
                handler,
                app.clock.clone(),
            );
            let addr: std::net::SocketAddr = chat_cfg.http_listen.parse().with_context(|| {
                format!(
                    "chat.http_listen `{}` is not an address like 127.0.0.1:3000",
                    chat_cfg.http_listen
                )
            })?;
            let std_listener = std::net::TcpListener::bind(addr)
                .with_context(|| format!("cannot listen on {addr} (chat.http_listen)"))?;
            std_listener.set_nonblocking(true)?;
            let listener = tokio::net::TcpListener::from_std(std_listener)?;
            tracing::info!(%addr, "Slack HTTP endpoints at /slack/commands, /slack/interactions, /slack/events");
            let mut stop = stop;
            Ok(Some(tokio::spawn(async move {
                let served = axum::serve(listener, router(state))
                    .with_graceful_shutdown(async move {
                        let _ = stop.wait_for(|s| *s).await;
                    })
                    .await;
                if let Err(e) = served {
                    tracing::error!(error = %e, "Slack HTTP server stopped");
                }
            })))
        }
    }
}

/// Ctrl-C, or SIGTERM from a service manager.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
                return;
            }
            Err(e) => tracing::warn!(error = %e, "cannot listen for SIGTERM; Ctrl-C still works"),
        }
    }
    let _ = tokio::signal::ctrl_c().await;
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
        } => {
            // The demo's screen is the console chat; keep logs to warnings.
            init_tracing("warn");
            if !(1.0..=100_000.0).contains(&speed) {
                anyhow::bail!("--speed must be between 1 and 100000");
            }
            let chat = Arc::new(ConsoleChat::stdout());
            let opts = DemoOptions {
                speed,
                seed,
                brands,
                exit_after: exit_after.map(std::time::Duration::from_secs),
            };
            demo::run(opts, chat).await?;
        }
        Cmd::Run { config } => {
            init_tracing("info");
            let cfg = load(&config)?;
            let store = Store::open_file(&cfg.data_dir.join("lookout.db")).await?;
            let clock: SharedClock = Arc::new(SystemClock);
            let slack = match cfg.chat.platform.as_str() {
                "slack" => Some(Arc::new(SlackChat::new(SlackConfig {
                    api_url: cfg.chat.slack_api_url.clone(),
                    bot_token: cfg.chat.slack_token()?,
                })?)),
                _ => None,
            };
            let chat: Arc<dyn ChatAdapter> = match &slack {
                Some(s) => s.clone(),
                None => Arc::new(ConsoleChat::stdout()),
            };
            let app = lookout::app::App::new(cfg, store, clock, chat).await?;
            let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
            let deliverer = tokio::spawn(
                app.deliverer
                    .clone()
                    .run(std::time::Duration::from_secs(1), stop_rx.clone()),
            );
            let scheduler = tokio::spawn(lookout::scheduler::run(
                app.clone(),
                std::time::Duration::from_secs(5),
                stop_rx.clone(),
            ));
            let inbound = match slack {
                // Without the app token Lookout still posts; it just cannot hear commands.
                Some(slack) => start_slack_inbound(&app, slack, stop_rx)?,
                None => None,
            };
            shutdown_signal().await;
            let _ = stop_tx.send(true);
            let _ = scheduler.await;
            let _ = deliverer.await;
            if let Some(task) = inbound {
                let _ = tokio::time::timeout(std::time::Duration::from_secs(15), task).await;
            }
        }
        Cmd::Scan { client, config } => {
            init_tracing("warn");
            let cfg = load(&config)?;
            let slug = lookout::domain::ClientSlug::parse(&client)?;
            let store = Store::open_file(&cfg.data_dir.join("lookout.db")).await?;
            let chat = Arc::new(ConsoleChat::stdout());
            let app = lookout::app::App::new(cfg, store, Arc::new(SystemClock), chat).await?;
            let report = app.scan(&slug, "cli", None).await?;
            app.deliverer.run_once().await?;
            println!(
                "{}",
                lookout::chat::console::render(&lookout::commands::handlers::scan_summary(&report))
            );
        }
        Cmd::Simulate {
            port,
            seed,
            brands,
            speed,
        } => {
            init_tracing("info");
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
            for b in sim.brands() {
                println!(
                    "  {:<14} account {}  key {}",
                    b.slug,
                    b.account_id,
                    b.api_key.expose()
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
        } => {
            if platform != "slack" {
                anyhow::bail!("unknown platform `{platform}`: use slack");
            }
            let opts = lookout::commands::manifest::ManifestOptions { http_base_url };
            let path = lookout::commands::manifest::write_manifest(&dir, &opts)?;
            println!("wrote {}", path.display());
        }
        Cmd::Migrate { config } => {
            init_tracing("info");
            let cfg = if config.exists() {
                load(&config)?
            } else {
                Config::default()
            };
            let path = cfg.data_dir.join("lookout.db");
            Store::open_file(&path).await?;
            println!("database ready at {}", path.display());
        }
    }
    Ok(())
}
