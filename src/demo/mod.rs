//! `lookout demo`: the whole product in one process, with no accounts or network.
//!
//! It first replays a past (`history`): the same portfolio run through the real
//! pipeline over the previous simulated days, so reports have numbers from the
//! start. Then it goes live: the built-in Klaviyo simulator on loopback, a fast
//! simulated clock, the scheduler, the outbox and the console chat over the
//! history's store, with a few faults injected on the simulated clock, and
//! commands read from the terminal.

pub mod history;

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use tokio::io::AsyncBufReadExt;
use tokio::task::JoinHandle;

use crate::app::{App, AppError};
use crate::chat::console::{ConsoleChat, decode_mentions};
use crate::clock::{Clock, SharedClock, SimClock};
use crate::commands::Role;
use crate::commands::dispatch::Dispatcher;
use crate::config::{AgencyConfig, ClientConfig, ClientProfile, Config};
use crate::domain::ClientSlug;
use crate::message::{
    Accent, Actor, ChannelRef, ChatAdapter, Inbound, InboundHandler, Message, Outcome, PersonRef,
    Platform,
};
use crate::simulator::{BrandInfo, Fault, FaultKind, Simulator};
use crate::startup::{self, Running, StartOptions};
use crate::store::Store;
use crate::vault::Vault;

pub use history::HistorySummary;

/// Where the demo's simulated time starts: a Monday morning in New York.
pub fn demo_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 12, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Klaviyo features the demo agency's playbook relies on.
const DEMO_PLAYBOOK: [&str; 2] = ["advanced-reporting", "sms"];

/// A configuration for a simulated portfolio: one client per brand.
pub fn config_for(brands: &[BrandInfo], base_url: &str, data_dir: PathBuf) -> Config {
    let mut cfg = Config {
        data_dir,
        ..Config::default()
    };
    cfg.klaviyo.base_url = base_url.to_owned();
    // The simulated brands' templates link to their stores, which the
    // simulator serves: every demo client has its links checked there.
    cfg.scan.link_sites = crate::config::LinkSites::Simulator;
    cfg.agency.name = "Demo Agency".into();
    cfg.agency.playbook = DEMO_PLAYBOOK.iter().map(|f| (*f).to_owned()).collect();
    cfg.people.insert(PersonRef::console("you"), Role::Admin);
    cfg.people.insert(PersonRef::console("ana"), Role::Am);
    cfg.people.insert(PersonRef::console("bo"), Role::Am);
    cfg.people.insert(PersonRef::console("lee"), Role::Lead);
    for (i, b) in brands.iter().enumerate() {
        let Ok(slug) = ClientSlug::parse(&b.slug) else {
            continue; // the simulator only makes valid slugs; skip rather than fail the demo
        };
        let mut profile = ClientProfile::new(slug, b.name.clone());
        profile.currency = b.currency.clone();
        profile.timezone = b.timezone.clone();
        profile.sells_online = b.sells_online;
        profile.jurisdictions = b.jurisdictions.clone();
        // What the agency records of each client's plan and sender set-up
        // (Klaviyo's API does not expose them): all in order in the demo, so
        // the findings come from the accounts themselves.
        profile.link_checking = true;
        profile.plan = Some("email-and-sms-250k".into());
        // Every simulated brand sends SMS campaigns, from a verified sender.
        profile.sms_enabled = true;
        profile.sms_registration = Some("verified".into());
        profile.profile_limit = Some(250_000);
        profile.plan_features = DEMO_PLAYBOOK.iter().map(|f| (*f).to_owned()).collect();
        profile.sending_domain = Some(crate::config::SendingDomain {
            domain: format!("send.{}.example.com", b.slug),
            spf: true,
            dkim: true,
            dmarc: Some("quarantine".into()),
            aligned: true,
        });
        cfg.clients.push(ClientConfig {
            profile,
            channels: Vec::new(),
            owners: vec![PersonRef::console(if i % 2 == 0 { "ana" } else { "bo" })],
            pod: Some(if i < 6 { "east" } else { "west" }.into()),
            api_key: Some(b.api_key.clone()),
            api_key_env: None,
        });
    }
    cfg
}

/// A running simulator plus an app wired to it: what the demo and the tests share.
pub struct Stack {
    /// The simulator.
    pub sim: Simulator,
    /// Its address.
    pub sim_addr: std::net::SocketAddr,
    /// The app.
    pub app: Arc<App>,
    /// The simulated clock both share.
    pub clock: SimClock,
    /// The started Lookout (its tasks, HTTP address, dispatcher).
    pub running: Running,
    /// Where Lookout's OAuth callback page is served (`connections.public_url`
    /// points here unless a test's tweak says otherwise).
    pub callback_addr: std::net::SocketAddr,
    sim_task: Option<JoinHandle<()>>,
    callback_task: JoinHandle<()>,
}

/// A running simulator handed from one stack to the next (the demo's history to its live part).
pub struct RunningSim {
    sim: Simulator,
    addr: std::net::SocketAddr,
    task: JoinHandle<()>,
}

impl Stack {
    /// Starts the simulator on 127.0.0.1:0 and an app over an in-memory store.
    /// `only` limits the clients to those slugs (all brands when empty).
    pub async fn start(
        seed: u64,
        brands: usize,
        clock: SimClock,
        chat: Arc<dyn ChatAdapter>,
        only: &[&str],
    ) -> Result<Self, AppError> {
        Self::start_with(seed, brands, clock, chat, only, |_| {}).await
    }

    /// `start`, with a chance to adjust the generated configuration. Nothing
    /// runs in the background: tests drive scans and deliveries themselves.
    pub async fn start_with(
        seed: u64,
        brands: usize,
        clock: SimClock,
        chat: Arc<dyn ChatAdapter>,
        only: &[&str],
        tweak: impl FnOnce(&mut Config),
    ) -> Result<Self, AppError> {
        Self::launch(seed, brands, clock, vec![chat], only, false, tweak).await
    }

    /// Starts the simulator and Lookout through `startup::start`, with these
    /// adapters; `background` runs the outbox and the scheduler.
    pub async fn launch(
        seed: u64,
        brands: usize,
        clock: SimClock,
        adapters: Vec<Arc<dyn ChatAdapter>>,
        only: &[&str],
        background: bool,
        tweak: impl FnOnce(&mut Config),
    ) -> Result<Self, AppError> {
        let opts = StartOptions {
            adapters,
            background,
            inbound: background,
            ..StartOptions::new(Arc::new(clock.clone()))
        };
        Self::launch_with(seed, brands, clock, only, tweak, opts).await
    }

    /// Starts the simulator and Lookout with start options of the caller's
    /// (tests serve Slack and Discord fakes through the real start-up). A store
    /// in `opts` is used as is; otherwise a fresh in-memory one.
    pub async fn launch_with(
        seed: u64,
        brands: usize,
        clock: SimClock,
        only: &[&str],
        tweak: impl FnOnce(&mut Config),
        opts: StartOptions,
    ) -> Result<Self, AppError> {
        Self::build(
            Portfolio {
                seed,
                brands,
                origin: None,
                only,
                sim: None,
            },
            clock,
            |_| Vec::new(),
            tweak,
            opts,
        )
        .await
    }

    /// Starts the simulator (its portfolio laid out from `portfolio.origin`,
    /// the clock's time when `None`), injects `faults(brands)` before Lookout
    /// starts, so no scan sees the accounts without them, then starts Lookout.
    pub(crate) async fn build(
        portfolio: Portfolio<'_>,
        clock: SimClock,
        faults: impl FnOnce(&[BrandInfo]) -> Vec<Fault>,
        tweak: impl FnOnce(&mut Config),
        opts: StartOptions,
    ) -> Result<Self, AppError> {
        let shared: SharedClock = Arc::new(clock.clone());
        let (sim, sim_addr, sim_task) = match portfolio.sim {
            Some(r) => {
                for fault in faults(&r.sim.brands()) {
                    r.sim.inject(fault);
                }
                (r.sim, r.addr, r.task)
            }
            None => {
                let sim = match portfolio.origin {
                    Some(origin) => Simulator::with_origin(
                        portfolio.seed,
                        portfolio.brands,
                        shared.clone(),
                        origin,
                    ),
                    None => Simulator::new(portfolio.seed, portfolio.brands, shared.clone()),
                };
                for fault in faults(&sim.brands()) {
                    sim.inject(fault);
                }
                let addr: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
                let (sim_addr, sim_task) = sim
                    .serve(addr)
                    .await
                    .map_err(|e| AppError::Startup(format!("simulator failed to start: {e}")))?;
                (sim, sim_addr, sim_task)
            }
        };
        let callback = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(|e| AppError::Startup(format!("cannot serve the OAuth callback: {e}")))?;
        let callback_addr = callback
            .local_addr()
            .map_err(|e| AppError::Startup(format!("cannot serve the OAuth callback: {e}")))?;
        let mut brand_list = sim.brands();
        if !portfolio.only.is_empty() {
            brand_list.retain(|b| portfolio.only.contains(&b.slug.as_str()));
        }
        let mut cfg = config_for(
            &brand_list,
            &format!("http://{sim_addr}"),
            PathBuf::from("data"),
        );
        // Connects go through the simulator's OAuth app; tests that serve
        // Lookout's HTTP endpoints pick their port (and public URL) in `tweak`.
        let (client_id, client_secret) = sim.oauth_client();
        cfg.connections.oauth_client_id = Some(client_id);
        cfg.connections.oauth_client_secret = Some(client_secret);
        cfg.connections.authorize_url = format!("http://{sim_addr}/oauth/authorize");
        cfg.chat.http_listen = "127.0.0.1:0".into();
        cfg.connections.public_url = format!("http://{callback_addr}");
        tweak(&mut cfg);
        let store = match opts.store {
            Some(s) => s,
            None => Store::open_memory().await?,
        };
        let running = startup::start(
            cfg,
            StartOptions {
                store: Some(store),
                scheduler_tick: std::time::Duration::from_millis(200),
                outbox_poll: std::time::Duration::from_millis(250),
                clock: shared,
                ..opts
            },
        )
        .await?;
        let router = crate::connections::callback::router(running.app.clone());
        let callback_task = tokio::spawn(async move {
            if let Err(e) = axum::serve(callback, router).await {
                tracing::error!(error = %e, "the OAuth callback stopped");
            }
        });
        Ok(Self {
            sim,
            sim_addr,
            app: running.app.clone(),
            clock,
            running,
            callback_addr,
            sim_task: Some(sim_task),
            callback_task,
        })
    }

    /// Turns Klaviyo's rate limits on or off, at the simulator and in the
    /// client's pacing together (off: a replayed past, or a test about
    /// something else, runs hours of scans in seconds).
    pub fn set_rate_limits(&self, on: bool) {
        self.sim.set_rate_limits(on);
        self.app.klaviyo.set_pacing(on);
    }

    /// Hands the running simulator on to the next stack (this one no longer stops it).
    pub fn take_simulator(&mut self) -> Option<RunningSim> {
        let task = self.sim_task.take()?;
        Some(RunningSim {
            sim: self.sim.clone(),
            addr: self.sim_addr,
            task,
        })
    }

    /// Connects a client by OAuth the way a person does: `/connect` typed by
    /// `who` in the client's channel, approval at the simulated Klaviyo (its
    /// one-step approval for scripts), and the browser's return to Lookout's
    /// callback page. Waits for the scan the connect starts.
    pub async fn connect_by_oauth(
        &self,
        who: &PersonRef,
        client: &str,
        access: &str,
    ) -> Result<(), AppError> {
        let failed = |what: String| AppError::Startup(format!("connecting {client}: {what}"));
        let slug = ClientSlug::parse(client).map_err(|e| failed(e.to_string()))?;
        let channel = self
            .app
            .clients
            .get(&slug)?
            .route
            .channel_on(Platform::Console)
            .cloned()
            .unwrap_or_else(|| ChannelRef::console("agency"));
        let before = self.scans_of(&slug).await?;
        let answer = self
            .running
            .dispatcher
            .handle(Inbound::Command {
                actor: Actor {
                    person: who.clone(),
                    channel,
                },
                name: "connect".into(),
                text: format!("{client} {access}"),
            })
            .await;
        let link = match &answer {
            Outcome::Private(m) | Outcome::Public(m) => m.blocks.iter().find_map(|b| match b {
                crate::message::Block::Actions(a) => a.iter().find_map(|a| match a {
                    crate::message::Action::Link { url, .. } => Some(url.clone()),
                    _ => None,
                }),
                _ => None,
            }),
            _ => None,
        };
        let Some(link) = link else {
            return Err(failed(format!("/connect gave no link: {answer:?}")));
        };
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| failed(e.to_string()))?;
        let approved = http
            .get(format!("{link}&sim_account={client}"))
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        let back = approved
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| failed(format!("Klaviyo answered {}", approved.status())))?
            .to_owned();
        let page = http
            .get(back)
            .send()
            .await
            .map_err(|e| failed(e.to_string()))?;
        if !page.status().is_success() {
            return Err(failed(format!(
                "the callback page answered {}",
                page.status()
            )));
        }
        for _ in 0..1000 {
            if self.scans_of(&slug).await? > before && !self.app.is_scanning(&slug) {
                return Ok(());
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        Err(failed("its first scan did not finish".into()))
    }

    async fn scans_of(&self, slug: &ClientSlug) -> Result<usize, AppError> {
        let mut db = self.app.store.conn().await?;
        let far = Duration::days(3650);
        let now = self.clock.now();
        Ok(
            crate::store::scans::between(&mut db, slug, now - far, now + far)
                .await?
                .len(),
        )
    }
}

/// Which simulated portfolio a stack serves.
pub(crate) struct Portfolio<'a> {
    /// Portfolio seed.
    pub(crate) seed: u64,
    /// Number of brands.
    pub(crate) brands: usize,
    /// When the simulator is taken to have started (configuration dates lie before it).
    pub(crate) origin: Option<DateTime<Utc>>,
    /// Only these slugs become clients (all brands when empty).
    pub(crate) only: &'a [&'a str],
    /// A simulator already running (the history's), instead of a new one.
    pub(crate) sim: Option<RunningSim>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(t) = &self.sim_task {
            t.abort();
        }
        self.callback_task.abort();
    }
}

/// Options for `lookout demo`.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    /// Simulated seconds per real second.
    pub speed: f64,
    /// Portfolio seed.
    pub seed: u64,
    /// Number of brands.
    pub brands: usize,
    /// Stop by itself after this long (for scripted runs).
    pub exit_after: Option<std::time::Duration>,
    /// Simulated days of history replayed before going live; 0 starts with no past.
    pub history_days: u32,
    /// Keep the database (and its master key) in this directory instead of in memory.
    pub data_dir: Option<PathBuf>,
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            speed: 600.0,
            seed: 42,
            brands: 12,
            exit_after: None,
            history_days: 90,
            data_dir: None,
        }
    }
}

/// The faults the demo injects, relative to its start: (brand index, fault, starts after, lasts).
/// The orders stopped three hours and the bounces rose two hours before the
/// demo starts, so both pass their lines within the first minute; the flow
/// stops after the first scan, so the scan before it saw it live.
pub const DEMO_FAULTS: &[(usize, FaultKind, i64, Option<i64>)] = &[
    (3, FaultKind::FlowDraft, 20, Some(6 * 60)),
    (4, FaultKind::OrdersStop, -180, None),
    (5, FaultKind::BounceSpike, -120, Some(12 * 60)),
];

/// The demo's own faults on these brands, relative to `start` (see [`DEMO_FAULTS`]).
pub fn demo_faults(brands: &[BrandInfo], start: DateTime<Utc>) -> Vec<Fault> {
    DEMO_FAULTS
        .iter()
        .filter_map(|(i, kind, after, lasts)| {
            let b = brands.get(*i)?;
            let at = start + Duration::minutes(*after);
            Some(Fault {
                brand: b.slug.clone(),
                kind: *kind,
                at,
                until: lasts.map(|l| at + Duration::minutes(l)),
            })
        })
        .collect()
}

/// The demo at the moment it goes live.
pub struct Live {
    /// The live stack, its clock at [`demo_start`] running at the demo's speed.
    pub stack: Stack,
    /// What the history replay did, when there was one.
    pub history: Option<HistorySummary>,
    /// The demo's own faults, as injected.
    pub faults: Vec<Fault>,
}

/// Replays the history (unless `history_days` is 0) into a silent console,
/// then starts the live stack over the history's store at [`demo_start`], with
/// `chat` carrying on the history's message numbers. `background` runs the
/// scheduler and the outbox (tests drive them by hand).
pub async fn go_live(
    opts: &DemoOptions,
    chat: Arc<ConsoleChat>,
    background: bool,
) -> Result<Live, AppError> {
    let start = demo_start();
    let (store, vault) = demo_store(opts.data_dir.as_deref()).await?;
    // The demo's clients have no keys: a lead connects each one by OAuth.
    let keyless = |c: &mut Config| {
        for client in &mut c.clients {
            client.api_key = None;
        }
    };
    let mut history = None;
    let mut running_sim = None;
    let mut clock = SimClock::frozen(start);
    let lee = PersonRef::console("lee");
    if opts.history_days > 0 {
        post(
            &chat,
            &agency_channel(&AgencyConfig::default()),
            format!(
                "Lookout demo: replaying the last {} simulated days first (connecting the clients by OAuth, scans, findings, people answering them)…",
                opts.history_days
            ),
        )
        .await?;
        // The history's chat goes through the real outbox, but into a console
        // nobody reads; the live console then carries on its message numbers.
        let quiet = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
        quiet.carry_on_from(&chat);
        let mut past = history::stack_with(
            opts.seed,
            opts.brands,
            start,
            opts.history_days,
            quiet.clone(),
            &[],
            keyless,
            Some(store.clone()),
            Some(vault.clone()),
        )
        .await?;
        // The connect scans belong to the past too: unpaced, so the live
        // client's rate budget and the simulator's agree on what was spent.
        past.set_rate_limits(false);
        connect_all(&past, &lee).await?;
        let summary = history::replay(&past, start, opts.seed).await?;
        // One simulator and one clock for the whole demo: the grants made in
        // the past stay valid at the simulated Klaviyo.
        running_sim = past.take_simulator();
        clock = past.clock.clone();
        drop(past);
        chat.carry_on_from(&quiet);
        history = Some(summary);
    }
    clock.set(start);
    clock.set_speed(opts.speed);
    let mut faults = Vec::new();
    let connect_now = running_sim.is_none();
    let stack = Stack::build(
        Portfolio {
            seed: opts.seed,
            brands: opts.brands,
            origin: None,
            only: &[],
            sim: running_sim,
        },
        clock.clone(),
        |brands| {
            faults = demo_faults(brands, start);
            faults.clone()
        },
        keyless,
        StartOptions {
            adapters: vec![chat.clone()],
            background,
            inbound: background,
            store: Some(store),
            vault: Some(vault),
            ..StartOptions::new(Arc::new(clock.clone()))
        },
    )
    .await?;
    if connect_now {
        connect_all(&stack, &lee).await?;
    }
    Ok(Live {
        stack,
        history,
        faults,
    })
}

/// The demo's store and vault: in memory, or a fresh database in `dir`
/// sealed under that directory's master key.
async fn demo_store(dir: Option<&std::path::Path>) -> Result<(Store, Vault), AppError> {
    let Some(dir) = dir else {
        return Ok((Store::open_memory().await?, Vault::ephemeral()));
    };
    let db = dir.join("lookout.db");
    // Each demo run replays its own past: last run's database goes, the key stays.
    for suffix in ["", "-wal", "-shm"] {
        let p = dir.join(format!("lookout.db{suffix}"));
        if p.exists() {
            std::fs::remove_file(&p)
                .map_err(|e| AppError::Startup(format!("cannot replace {}: {e}", p.display())))?;
        }
    }
    let vault = Vault::load(dir).map_err(|e| AppError::Startup(format!("master key: {e}")))?;
    Ok((Store::open_file(&db).await?, vault))
}

/// Clients the demo connects for only a few days past its start, so the
/// reminders show; the rest are connected until a date most of a year out.
const SHORT_GRANTS: &[usize] = &[2];

/// Connects every client by OAuth as `who`, through the real flow.
async fn connect_all(stack: &Stack, who: &PersonRef) -> Result<(), AppError> {
    let tz = stack.app.config.agency.tz()?;
    let now = stack.clock.now();
    for (i, c) in stack.app.clients.all().iter().enumerate() {
        let until = if SHORT_GRANTS.contains(&i) {
            demo_start() + Duration::days(5)
        } else {
            now + Duration::days(300)
        };
        let date = until.with_timezone(&tz).format("%Y-%m-%d").to_string();
        stack
            .connect_by_oauth(who, c.profile.slug.as_str(), &date)
            .await?;
    }
    Ok(())
}

/// The agency channel on the console.
fn agency_channel(agency: &AgencyConfig) -> ChannelRef {
    agency
        .channel_on(Platform::Console)
        .cloned()
        .unwrap_or_else(|| ChannelRef::console("agency"))
}

async fn post(chat: &ConsoleChat, channel: &ChannelRef, text: String) -> Result<(), AppError> {
    chat.post(channel, &Message::text(Accent::Info, text), None)
        .await
        .map(|_| ())
        .map_err(|e| AppError::Startup(e.to_string()))
}

/// Runs the demo until Ctrl-C (or `exit_after`).
pub async fn run(opts: DemoOptions, chat: Arc<ConsoleChat>) -> Result<(), AppError> {
    let timer = async {
        match opts.exit_after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(timer);
    let agency = agency_channel(&AgencyConfig::default());
    // Ctrl-C during the replay quits too; the half-replayed stack is dropped.
    // Biased, so the Ctrl-C handler is installed before the first line prints.
    let live = tokio::select! {
        biased;
        _ = tokio::signal::ctrl_c() => None,
        _ = &mut timer => None,
        live = go_live(&opts, chat.clone(), true) => Some(live?),
    };
    let Some(live) = live else {
        let _ = post(&chat, &agency, "Lookout demo stopped. Bye.".into()).await;
        return Ok(());
    };
    let stack = live.stack;
    let app = stack.app.clone();
    let agency = agency_channel(&app.config.agency);
    if let Some(h) = &live.history {
        post(&chat, &agency, h.line()).await?;
    }
    let planned: Vec<String> = live
        .faults
        .iter()
        .map(|f| {
            format!(
                "  {} at {}{}",
                f.kind.name(),
                f.brand,
                f.until
                    .map(|u| format!(" (for {} simulated hours)", (u - f.at).num_hours()))
                    .unwrap_or_default()
            )
        })
        .collect();
    let banner = format!(
        "Lookout demo: {} clients on a simulated Klaviyo at http://{} (clock ×{}: one real minute is {} simulated hours).\nInjected faults:\n{}\nType /help for commands, e.g. /scan acme, /portfolio, /findings dune-supply, /ack F-1, /snooze F-1 4h, /renewal-report acme, /sla.\nPrefix a command with a channel to type it there: #client-acme /findings. Ctrl-C quits.",
        app.clients.len(),
        stack.sim_addr,
        opts.speed,
        opts.speed / 60.0,
        planned.join("\n")
    );
    post(&chat, &agency, banner).await?;

    let input = tokio::spawn(read_commands(
        stack.running.dispatcher.clone(),
        chat.clone(),
        agency.clone(),
    ));
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = &mut timer => {}
    }
    input.abort();
    let mut stack = stack;
    let _ =
        tokio::time::timeout(std::time::Duration::from_secs(10), stack.running.shutdown()).await;
    let _ = post(&chat, &agency, "Lookout demo stopped. Bye.".into()).await;
    Ok(())
}

/// Reads commands from the terminal until end of input; each runs as `you`
/// through the same dispatcher as Slack and Discord. The console is this
/// adapter's platform, so its syntax (`#channel`, `@person`) is decoded here.
async fn read_commands(handler: Arc<Dispatcher>, chat: Arc<ConsoleChat>, agency: ChannelRef) {
    let you = PersonRef::console("you");
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (channel, text) = split_channel(line, &agency);
        let (name, rest) = text
            .trim_start()
            .split_once(char::is_whitespace)
            .unwrap_or((text.trim_start(), ""));
        let event = Inbound::Command {
            actor: Actor {
                person: you.clone(),
                channel: channel.clone(),
            },
            name: name.to_owned(),
            text: decode_mentions(rest),
        };
        let shown = match handler.handle(event).await {
            Outcome::Private(m) => chat.ephemeral(&channel, &you, &m).await,
            Outcome::Public(m) => chat.post(&channel, &m, None).await.map(|_| ()),
            _ => Ok(()),
        };
        if let Err(e) = shown {
            tracing::warn!(error = %e, "could not show a reply");
        }
    }
}

/// `#client-acme /findings` types the command in that channel; otherwise the agency channel.
fn split_channel<'a>(line: &'a str, default: &ChannelRef) -> (ChannelRef, &'a str) {
    if let Some(rest) = line.strip_prefix('#') {
        let (name, cmd) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        if !name.is_empty() {
            return (ChannelRef::console(name), cmd.trim());
        }
    }
    (default.clone(), line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_prefix_is_split_off() {
        let agency = ChannelRef::console("agency");
        assert_eq!(
            split_channel("/scan acme", &agency),
            (agency.clone(), "/scan acme")
        );
        assert_eq!(
            split_channel("#client-acme  /findings", &agency),
            (ChannelRef::console("client-acme"), "/findings")
        );
        assert_eq!(split_channel("#", &agency), (agency.clone(), "#"));
    }
}
