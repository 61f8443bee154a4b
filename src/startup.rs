//! Start-up: one function builds the app from a `Config` and starts what the
//! config asks for: the outbox deliverer, the scheduler, Slack (Socket Mode or
//! HTTP), Discord (gateway or HTTP interactions), Lookout's HTTP server and
//! the ops listener (`/metrics`, `/healthz`, `/readyz`).
//! `main`, the demo and the integration tests all start Lookout this way.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{error, info, warn};

use crate::app::{App, AppError};
use crate::chat::console::ConsoleChat;
use crate::chat::discord::{DiscordChat, DiscordConfig};
use crate::chat::slack::{SlackChat, SlackConfig};
use crate::clock::SharedClock;
use crate::commands::dispatch::Dispatcher;
use crate::config::{Config, LogFormat};
use crate::message::{Adapters, ChatAdapter, InboundHandler, Platform};
use crate::store::Store;
use crate::vault::Vault;

/// How to start: what the config cannot say (the clock, a store for tests,
/// adapters standing in for real platforms, and which loops to run).
pub struct StartOptions {
    /// Time.
    pub clock: SharedClock,
    /// The database; `None` opens the config's (`database_url`, else `data_dir/lookout.db`).
    pub store: Option<Store>,
    /// Adapters to use instead of building them from the config (the demo's
    /// terminal, local fakes in tests); one per platform. Without a console
    /// adapter, the console prints to stdout. These post only: nothing is
    /// heard through them.
    pub adapters: Vec<Arc<dyn ChatAdapter>>,
    /// A Slack adapter built elsewhere (tests point it at a fake), served like
    /// the config's: posting and, per `slack_mode`, hearing.
    pub slack: Option<Arc<SlackChat>>,
    /// A Discord adapter built elsewhere, served like the config's (HTTP mode;
    /// the gateway needs the bot token from the config).
    pub discord: Option<Arc<DiscordChat>>,
    /// The vault sealing tokens and keys; `None` loads the master key from the
    /// environment or `data_dir/master.key` for a file store, and keeps a
    /// random key in memory for a given (test) store.
    pub vault: Option<Vault>,
    /// Run the outbox deliverer and the scheduler in the background. Tests
    /// that drive scans and deliveries by hand turn this off.
    pub background: bool,
    /// Hear Slack and Discord (Socket Mode, gateway, HTTP endpoints).
    pub inbound: bool,
    /// How often the scheduler looks for due work.
    pub scheduler_tick: Duration,
    /// How often the outbox looks for due rows when not woken.
    pub outbox_poll: Duration,
}

impl StartOptions {
    /// Real time, the terminal, everything on.
    pub fn new(clock: SharedClock) -> Self {
        Self {
            clock,
            store: None,
            adapters: Vec::new(),
            slack: None,
            discord: None,
            vault: None,
            background: true,
            inbound: true,
            scheduler_tick: Duration::from_secs(5),
            outbox_poll: Duration::from_secs(1),
        }
    }
}

/// A started Lookout: the app, where its HTTP server listens, and the tasks
/// to stop.
pub struct Running {
    /// The app.
    pub app: Arc<App>,
    /// The handler every platform's inbound events go through.
    pub dispatcher: Arc<Dispatcher>,
    /// Where the HTTP server (Slack/Discord HTTP modes) listens, if it runs.
    pub http_addr: Option<SocketAddr>,
    /// Where the ops endpoints (`/metrics`, `/healthz`, `/readyz`) listen, if
    /// `ops.listen` is set and the process runs its loops or listens.
    pub ops_addr: Option<SocketAddr>,
    stop: watch::Sender<bool>,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl Running {
    /// A receiver that turns true when shutdown begins.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Stops every task: loops finish their current pass, the outbox finishes
    /// the delivery under way and makes one last pass, listeners (the ops
    /// listener too) close.
    pub async fn shutdown(&mut self) {
        let _ = self.stop.send(true);
        for (name, task) in std::mem::take(&mut self.tasks) {
            if tokio::time::timeout(Duration::from_secs(15), task)
                .await
                .is_err()
            {
                warn!(task = name, "did not stop within 15 s");
            }
        }
    }
}

/// Builds the app from `config` and starts what it asks for.
pub async fn start(config: Config, opts: StartOptions) -> Result<Running, AppError> {
    config.validate()?;
    let (store, vault) = match (opts.store, opts.vault) {
        (Some(s), v) => (s, v.unwrap_or_else(Vault::ephemeral)),
        (None, v) => {
            let vault = match v {
                Some(v) => v,
                None => Vault::load(&config.data_dir)
                    .map_err(|e| AppError::Startup(format!("master key: {e}")))?,
            };
            (Store::open_url(config.database().expose()).await?, vault)
        }
    };
    let mut adapters = Adapters::one(Arc::new(
        ConsoleChat::stdout().with_files_dir(config.data_dir.join("files")),
    ));
    let given: Vec<Platform> = opts.adapters.iter().map(|a| a.platform()).collect();
    for a in opts.adapters {
        adapters.insert(a);
    }
    let mut slack: Option<Arc<SlackChat>> = opts.slack;
    if let Some(s) = &slack {
        adapters.insert(s.clone());
    } else if config.chat.serves(Platform::Slack) && !given.contains(&Platform::Slack) {
        let s = Arc::new(
            SlackChat::new(SlackConfig {
                api_url: config.chat.slack_api_url.clone(),
                bot_token: config.chat.slack_token()?,
            })
            .map_err(|e| AppError::Startup(e.to_string()))?,
        );
        adapters.insert(s.clone());
        slack = Some(s);
    }
    let mut discord: Option<(Arc<DiscordChat>, Option<DiscordConfig>)> = None;
    if let Some(d) = opts.discord {
        adapters.insert(d.clone());
        discord = Some((d, None));
    } else if config.chat.serves(Platform::Discord) && !given.contains(&Platform::Discord) {
        let cfg = discord_config(&config)?;
        let d =
            Arc::new(DiscordChat::new(cfg.clone()).map_err(|e| AppError::Startup(e.to_string()))?);
        adapters.insert(d.clone());
        discord = Some((d, Some(cfg)));
    }
    let app = App::build(config, store, opts.clock, adapters, vault).await?;
    record_config_change(&app).await;
    let dispatcher = Arc::new(Dispatcher::new(app.clone()));
    let (stop, stop_rx) = watch::channel(false);
    let mut tasks = Vec::new();
    // Bound before anything runs, so a taken port stops start-up cleanly.
    // A one-shot command (`lookout scan`) runs neither loops nor listeners
    // and leaves the port to the running Lookout.
    let mut ops_addr = None;
    if let Some(listen) = app.config.ops.listen_addr()?
        && (opts.background || opts.inbound)
    {
        crate::ops::metrics::install().map_err(|e| AppError::Startup(e.to_string()))?;
        let router = crate::ops::router(app.store.clone(), app.clock.clone());
        let (addr, task) = serve(
            &listen.to_string(),
            "ops.listen",
            router,
            stop_rx.clone(),
            Served::WithTheApp,
        )
        .await?;
        info!(addr = %addr, "ops endpoints at /metrics, /healthz, /readyz");
        ops_addr = Some(addr);
        tasks.push(("ops", task));
        tasks.push((
            "metrics-upkeep",
            tokio::spawn(crate::ops::upkeep(stop_rx.clone())),
        ));
    }
    if opts.background {
        tasks.push((
            "outbox",
            tokio::spawn(app.deliverer.clone().run(opts.outbox_poll, stop_rx.clone())),
        ));
        tasks.push((
            "scheduler",
            tokio::spawn(crate::scheduler::run(
                app.clone(),
                opts.scheduler_tick,
                stop_rx.clone(),
            )),
        ));
    }
    let mut http = Router::new();
    let mut serve_http = false;
    if opts.inbound {
        let handler: Arc<dyn InboundHandler> = dispatcher.clone();
        if let Some(slack) = slack {
            match app.config.chat.slack_mode.as_str() {
                "socket" => {
                    if let Some(task) = slack_socket(&app, slack, handler.clone(), stop_rx.clone())?
                    {
                        tasks.push(("slack-socket", task));
                    }
                }
                _ => {
                    http = http.merge(slack_http(&app, slack, handler.clone())?);
                    serve_http = true;
                }
            }
        }
        if let Some((discord, cfg)) = discord {
            tasks.push((
                "discord-commands",
                tokio::spawn(sync_discord_commands(
                    discord.clone(),
                    app.config.chat.discord_guild_id,
                )),
            ));
            match app.config.chat.discord_mode.as_str() {
                "http" => {
                    http = http.merge(discord_http(&app, discord, handler.clone())?);
                    serve_http = true;
                }
                _ => match cfg {
                    Some(cfg) => tasks.push((
                        "discord-gateway",
                        discord_gateway(cfg, discord, handler.clone(), stop_rx.clone()),
                    )),
                    None => warn!(
                        "the Discord gateway needs the bot token from the config; not connecting"
                    ),
                },
            }
        }
    }
    if opts.inbound && app.connections.oauth_enabled() {
        // Klaviyo sends people back here after they approve a /connect.
        http = http.merge(on_app_runtime(crate::connections::callback::router(
            app.clone(),
        )));
        serve_http = true;
        info!(
            "OAuth callback at /oauth/callback ({})",
            app.config.connections.redirect_url()
        );
    }
    let mut http_addr = None;
    if serve_http {
        let (addr, task) = serve(
            &app.config.chat.http_listen,
            "chat.http_listen",
            http,
            stop_rx.clone(),
            Served::Apart,
        )
        .await?;
        http_addr = Some(addr);
        tasks.push(("http", task));
    }
    Ok(Running {
        app,
        dispatcher,
        http_addr,
        ops_addr,
        stop,
        tasks,
    })
}

/// Records in the audit trail that the config file changed since the last
/// start (by its hashes; a config built in code has none). A failure to
/// record is logged at error and Lookout starts all the same.
async fn record_config_change(app: &App) {
    let hashes = &app.config.source_hashes;
    if hashes.is_empty() {
        return;
    }
    let now = app.clock.now();
    match crate::audit::record_config_change(&app.store, hashes, now).await {
        Ok(Some(entry)) => info!(
            detail = entry.detail.as_deref().unwrap_or_default(),
            "the config file changed since the last start; recorded in the audit trail"
        ),
        Ok(None) => {}
        Err(e) => {
            let entry = crate::audit::Entry::system(crate::audit::Surface::ConfigFile, "config")
                .detail("the config file may have changed since the last start");
            crate::audit::log_unrecorded(&entry, now, &e);
        }
    }
}

/// Slack Socket Mode; without the app token Lookout still posts but cannot hear.
fn slack_socket(
    app: &Arc<App>,
    slack: Arc<SlackChat>,
    handler: Arc<dyn InboundHandler>,
    stop: watch::Receiver<bool>,
) -> Result<Option<JoinHandle<()>>, AppError> {
    let token = match app.config.chat.slack_app_token() {
        Ok(t) => t,
        Err(e) => {
            warn!(error = %e, "Socket Mode is off: Lookout will post to Slack but not hear commands");
            return Ok(None);
        }
    };
    let socket = crate::chat::slack::socket::SocketMode::new(
        token,
        app.config.chat.slack_api_url.clone(),
        handler,
        slack,
    )
    .map_err(|e| AppError::Startup(e.to_string()))?;
    Ok(Some(tokio::spawn(async move {
        if let Err(e) = socket.run(stop).await {
            error!(error = %e, "Slack Socket Mode stopped");
        }
    })))
}

/// Slack's HTTP endpoints (signature-checked).
fn slack_http(
    app: &Arc<App>,
    slack: Arc<SlackChat>,
    handler: Arc<dyn InboundHandler>,
) -> Result<Router, AppError> {
    use crate::chat::slack::http::{SlackHttp, router};
    use crate::chat::slack::verify::Verifier;
    let secret = app.config.chat.slack_signing_secret()?;
    let state = SlackHttp::new(
        Arc::new(Verifier::new(secret)),
        slack,
        handler,
        app.clock.clone(),
    )
    .sharing(shared_seen(app));
    info!("Slack HTTP endpoints at /slack/commands, /slack/interactions, /slack/events");
    Ok(router(state))
}

/// How to reach Discord, from the config and the environment.
fn discord_config(config: &Config) -> Result<DiscordConfig, AppError> {
    let chat = &config.chat;
    let application_id = chat.discord_application_id.ok_or_else(|| {
        AppError::Startup(
            "chat.discord_application_id is not set; see README \"Connecting Discord\"".into(),
        )
    })?;
    Ok(DiscordConfig {
        api_url: chat.discord_api_url.clone(),
        bot_token: chat.discord_token()?,
        application_id,
        message_content: chat.discord_message_content,
        sharding: chat.discord_sharding()?,
    })
}

/// Registers the declared commands with Discord when they differ from what
/// Discord holds (guild commands update at once; global ones within the hour).
async fn sync_discord_commands(chat: Arc<DiscordChat>, guild: Option<u64>) {
    match crate::chat::discord::commands::sync_commands(&chat, guild).await {
        Ok(true) => info!(?guild, "registered Lookout's commands with Discord"),
        Ok(false) => info!(?guild, "Discord already has Lookout's commands"),
        Err(e) => {
            warn!(error = %e, "could not register commands with Discord; they may be out of date")
        }
    }
}

/// The Discord gateway, reconnecting after outages; a refused token or
/// intent stops it with an error saying what to change.
fn discord_gateway(
    cfg: DiscordConfig,
    chat: Arc<DiscordChat>,
    handler: Arc<dyn InboundHandler>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_secs(1);
        loop {
            let run = crate::chat::discord::gateway::run_gateway(
                cfg.clone(),
                handler.clone(),
                chat.clone(),
                stop.clone(),
            )
            .await;
            match run {
                Ok(()) => return,
                Err(e @ crate::message::ChatError::Rejected(_)) => {
                    error!(error = %e, "Discord gateway stopped");
                    return;
                }
                Err(e) => warn!(error = %e, retry_in = ?backoff, "Discord gateway lost"),
            }
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
            backoff = (backoff * 2).min(Duration::from_secs(60));
        }
    })
}

/// Discord's interactions endpoint (Ed25519-checked).
fn discord_http(
    app: &Arc<App>,
    discord: Arc<DiscordChat>,
    handler: Arc<dyn InboundHandler>,
) -> Result<Router, AppError> {
    use crate::chat::discord::http::{DiscordHttp, router};
    use crate::chat::discord::verify::Verifier;
    let key = app.config.chat.discord_public_key()?;
    let verifier = Verifier::new(&key)
        .map_err(|e| AppError::Startup(format!("chat.discord_public_key_env: {e}")))?;
    let state = DiscordHttp::new(Arc::new(verifier), discord, handler, app.clock.clone())
        .sharing(shared_seen(app));
    info!("Discord interactions endpoint at /discord/interactions");
    Ok(router(state))
}

/// The chat requests taken by any process on the app's database: the HTTP
/// endpoints keep nothing in memory another process would need.
fn shared_seen(app: &App) -> Arc<dyn crate::chat::replay::SharedSeen> {
    Arc::new(crate::shared::StoreSeen::new(
        app.store.clone(),
        app.clock.clone(),
    ))
}

/// Where a server's connections are read and answered.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Served {
    /// On the app's runtime, beside everything else.
    WithTheApp,
    /// On a runtime of its own, on a thread of its own: Slack wants an
    /// acknowledgement within 3 s and Discord an answer within 3 s, and
    /// neither may wait for a turn behind scans busy on the app's runtime.
    /// The chat endpoints run their handlers on the app's runtime; every
    /// other route is moved there by [`on_app_runtime`].
    Apart,
}

/// Binds `listen` (the value of the `setting` named in errors) and serves
/// `router` until `stop` turns true; requests under way are answered first.
async fn serve(
    listen: &str,
    setting: &str,
    router: Router,
    mut stop: watch::Receiver<bool>,
    served: Served,
) -> Result<(SocketAddr, JoinHandle<()>), AppError> {
    let addr: SocketAddr = listen.parse().map_err(|_| {
        AppError::Startup(format!(
            "{setting} `{listen}` is not an address like 127.0.0.1:3000"
        ))
    })?;
    let listener = std::net::TcpListener::bind(addr)
        .and_then(|l| l.set_nonblocking(true).map(|()| l))
        .map_err(|e| AppError::Startup(format!("cannot listen on {addr} ({setting}): {e}")))?;
    let bound = listener
        .local_addr()
        .map_err(|e| AppError::Startup(format!("cannot read the bound address: {e}")))?;
    info!(addr = %bound, setting, "HTTP server listening");
    let run = async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(l) => l,
            Err(e) => {
                error!(error = %e, "cannot serve HTTP");
                return;
            }
        };
        let served = axum::serve(listener, router)
            .with_graceful_shutdown(async move {
                let _ = stop.wait_for(|s| *s).await;
            })
            .await;
        if let Err(e) = served {
            error!(error = %e, "HTTP server stopped");
        }
    };
    let task = match served {
        Served::WithTheApp => tokio::spawn(run),
        Served::Apart => {
            tokio::task::spawn_blocking(move || match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt.block_on(run),
                Err(e) => error!(error = %e, "cannot start the HTTP server's runtime"),
            })
        }
    };
    Ok((bound, task))
}

/// Runs each request of `router` on the runtime this is called on (the
/// app's), whichever runtime serves the connection: what the app's handlers
/// touch (the database's connections, HTTP clients) belongs to it.
fn on_app_runtime(router: Router) -> Router {
    use axum::response::IntoResponse;
    let app_runtime = tokio::runtime::Handle::current();
    router.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            let app_runtime = app_runtime.clone();
            async move {
                match app_runtime.spawn(next.run(req)).await {
                    Ok(response) => response,
                    Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                    // The app is stopping.
                    Err(_) => axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response(),
                }
            }
        },
    ))
}

/// Logs to stderr, filtered by `LOOKOUT_LOG` (default `default`), as text
/// or as JSON lines when `LOOKOUT_LOG_FORMAT=json`.
pub fn init_tracing(default: &str) {
    match LogFormat::from_env() {
        Ok(format) => init_tracing_as(default, format.unwrap_or_default()),
        Err(e) => {
            init_tracing_as(default, LogFormat::Text);
            warn!("{e}; logging as text");
        }
    }
}

/// Logs to stderr in `format`, filtered by `LOOKOUT_LOG` (default `default`).
/// Secrets are `Secret`s, whose `Debug` and `Display` hide them, in either format.
pub fn init_tracing_as(default: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOOKOUT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    match format {
        LogFormat::Text => tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .init(),
        LogFormat::Json => json_logs(filter, std::io::stderr).init(),
    }
}

/// One JSON object per line: the event's fields at the top level (`message`,
/// `level`, `target`, `timestamp`, ...), the innermost span under `span` and
/// every open span, with its fields (a scan's `client`), under `spans`.
fn json_logs<W>(
    filter: tracing_subscriber::EnvFilter,
    writer: W,
) -> tracing_subscriber::fmt::SubscriberBuilder<
    tracing_subscriber::fmt::format::JsonFields,
    tracing_subscriber::fmt::format::Format<tracing_subscriber::fmt::format::Json>,
    tracing_subscriber::EnvFilter,
    W,
>
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(true)
        .with_span_list(true)
        .with_env_filter(filter)
        .with_writer(writer)
}

/// Waits for Ctrl-C, or SIGTERM from a service manager.
pub async fn shutdown_signal() {
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

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn json_logs_are_one_object_a_line_with_the_scan_span_fields() {
        let buf = Buf::default();
        let out = buf.clone();
        let subscriber = json_logs(tracing_subscriber::EnvFilter::new("info"), move || {
            out.clone()
        })
        .finish();
        let secret = crate::config::Secret::new("pk_live_very_secret");
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!("scan", client = "acme", trigger = "cli");
            let _in = span.enter();
            tracing::info!(api_calls = 3, key = ?secret, "scan finished");
        });
        let text = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1, "{text}");
        let v: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(v["message"], "scan finished", "{v}");
        assert_eq!(v["level"], "INFO");
        assert_eq!(v["api_calls"], 3);
        assert_eq!(v["span"]["name"], "scan");
        assert_eq!(v["span"]["client"], "acme");
        assert_eq!(v["spans"][0]["client"], "acme");
        assert!(!text.contains("very_secret"), "{text}");
    }
}
