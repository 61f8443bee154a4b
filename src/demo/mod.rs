//! `lookout demo`: the whole product in one process, with no accounts or network.
//!
//! It starts the built-in Klaviyo simulator on loopback, a fast simulated
//! clock, the scheduler, the outbox and the console chat, injects a few faults
//! on the simulated clock, and reads commands from the terminal.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use tokio::io::AsyncBufReadExt;
use tokio::task::JoinHandle;

use crate::app::{App, AppError};
use crate::chat::console::{ConsoleChat, decode_mentions};
use crate::clock::{SharedClock, SimClock};
use crate::commands::Role;
use crate::commands::dispatch::Dispatcher;
use crate::config::{ClientConfig, ClientProfile, Config};
use crate::domain::ClientSlug;
use crate::message::{
    Accent, Actor, ChannelRef, ChatAdapter, Inbound, InboundHandler, Message, Outcome, PersonRef,
};
use crate::simulator::{BrandInfo, Fault, FaultKind, Simulator};
use crate::startup::{self, Running, StartOptions};
use crate::store::Store;

/// Where the demo's simulated time starts: a Monday morning in New York.
pub fn demo_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 12, 0, 0)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A configuration for a simulated portfolio: one client per brand.
pub fn config_for(brands: &[BrandInfo], base_url: &str, data_dir: PathBuf) -> Config {
    let mut cfg = Config {
        data_dir,
        ..Config::default()
    };
    cfg.klaviyo.base_url = base_url.to_owned();
    cfg.agency.name = "Demo Agency".into();
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
    sim_task: JoinHandle<()>,
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
    /// (tests serve Slack and Discord fakes through the real start-up).
    pub async fn launch_with(
        seed: u64,
        brands: usize,
        clock: SimClock,
        only: &[&str],
        tweak: impl FnOnce(&mut Config),
        opts: StartOptions,
    ) -> Result<Self, AppError> {
        let shared: SharedClock = Arc::new(clock.clone());
        let sim = Simulator::new(seed, brands, shared.clone());
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
        let (sim_addr, sim_task) = sim
            .serve(addr)
            .await
            .map_err(|e| AppError::Startup(format!("simulator failed to start: {e}")))?;
        let mut brand_list = sim.brands();
        if !only.is_empty() {
            brand_list.retain(|b| only.contains(&b.slug.as_str()));
        }
        let mut cfg = config_for(
            &brand_list,
            &format!("http://{sim_addr}"),
            PathBuf::from("data"),
        );
        tweak(&mut cfg);
        let running = startup::start(
            cfg,
            StartOptions {
                store: Some(Store::open_memory().await?),
                scheduler_tick: std::time::Duration::from_millis(200),
                outbox_poll: std::time::Duration::from_millis(250),
                clock: shared,
                ..opts
            },
        )
        .await?;
        Ok(Self {
            sim,
            sim_addr,
            app: running.app.clone(),
            clock,
            running,
            sim_task,
        })
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.sim_task.abort();
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
}

impl Default for DemoOptions {
    fn default() -> Self {
        Self {
            speed: 600.0,
            seed: 42,
            brands: 12,
            exit_after: None,
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

/// Runs the demo until Ctrl-C (or `exit_after`).
pub async fn run(opts: DemoOptions, chat: Arc<ConsoleChat>) -> Result<(), AppError> {
    let start = demo_start();
    let clock = SimClock::running(start, opts.speed);
    let stack = Stack::launch(
        opts.seed,
        opts.brands,
        clock.clone(),
        vec![chat.clone()],
        &[],
        true,
        |_| {},
    )
    .await?;
    let brands = stack.sim.brands();
    let mut planned = Vec::new();
    for (i, kind, after, lasts) in DEMO_FAULTS {
        if let Some(b) = brands.get(*i) {
            let at = start + Duration::minutes(*after);
            stack.sim.inject(Fault {
                brand: b.slug.clone(),
                kind: *kind,
                at,
                until: lasts.map(|l| at + Duration::minutes(l)),
            });
            planned.push(format!(
                "  {} at {}{}",
                kind.name(),
                b.slug,
                lasts
                    .map(|l| format!(" (for {} simulated hours)", l / 60))
                    .unwrap_or_default()
            ));
        }
    }
    let app = stack.app.clone();
    let agency = app
        .config
        .agency
        .channel_on(crate::message::Platform::Console)
        .cloned()
        .unwrap_or_else(|| ChannelRef::console("agency"));
    let banner = format!(
        "Lookout demo: {} clients on a simulated Klaviyo at http://{} (clock ×{}: one real minute is {} simulated hours).\nInjected faults:\n{}\nType /help for commands, e.g. /scan acme, /portfolio, /findings dune-supply, /ack F-1, /snooze F-1 4h.\nPrefix a command with a channel to type it there: #client-acme /findings. Ctrl-C quits.",
        app.clients.len(),
        stack.sim_addr,
        opts.speed,
        opts.speed / 60.0,
        planned.join("\n")
    );
    chat.post(&agency, &Message::text(Accent::Info, banner), None)
        .await
        .map_err(|e| AppError::Startup(e.to_string()))?;

    let input = tokio::spawn(read_commands(
        stack.running.dispatcher.clone(),
        chat.clone(),
        agency.clone(),
    ));
    let timer = async {
        match opts.exit_after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = timer => {}
    }
    input.abort();
    let mut stack = stack;
    let _ =
        tokio::time::timeout(std::time::Duration::from_secs(10), stack.running.shutdown()).await;
    let _ = chat
        .post(
            &agency,
            &Message::text(Accent::Info, "Lookout demo stopped. Bye."),
            None,
        )
        .await;
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
