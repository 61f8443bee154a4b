//! `lookout demo`: the whole product in one process, with no accounts or network.
//!
//! It starts the built-in Klaviyo simulator on loopback, a fast simulated
//! clock, the scheduler, the outbox and the console chat, injects a few faults
//! on the simulated clock, and reads commands from the terminal.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use tokio::io::AsyncBufReadExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::app::{App, AppError};
use crate::chat::{Accent, ChannelName, ChatAdapter, Message, Visibility};
use crate::clock::{SharedClock, SimClock};
use crate::commands::Role;
use crate::commands::handlers::{self, Invocation, error_message};
use crate::commands::parse::parse_line;
use crate::config::{ClientConfig, ClientProfile, Config};
use crate::domain::ClientSlug;
use crate::simulator::{BrandInfo, Fault, FaultKind, Simulator};
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
    cfg.people.insert("you".into(), Role::Admin);
    cfg.people.insert("ana".into(), Role::Am);
    cfg.people.insert("bo".into(), Role::Am);
    cfg.people.insert("lee".into(), Role::Lead);
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
            channel: None,
            owner: Some(if i % 2 == 0 { "ana" } else { "bo" }.into()),
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

    /// `start`, with a chance to adjust the generated configuration.
    pub async fn start_with(
        seed: u64,
        brands: usize,
        clock: SimClock,
        chat: Arc<dyn ChatAdapter>,
        only: &[&str],
        tweak: impl FnOnce(&mut Config),
    ) -> Result<Self, AppError> {
        let shared: SharedClock = Arc::new(clock.clone());
        let sim = Simulator::new(seed, brands, shared.clone());
        let addr: std::net::SocketAddr = ([127, 0, 0, 1], 0).into();
        let (sim_addr, sim_task) = sim.serve(addr).await.map_err(|e| {
            AppError::Store(crate::store::StoreError::NotFound(format!(
                "simulator failed to start: {e}"
            )))
        })?;
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
        let store = Store::open_memory().await?;
        let app = App::new(cfg, store, shared, chat).await?;
        Ok(Self {
            sim,
            sim_addr,
            app,
            clock,
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
pub async fn run(
    opts: DemoOptions,
    chat: Arc<crate::chat::console::ConsoleChat>,
) -> Result<(), AppError> {
    let start = demo_start();
    let clock = SimClock::running(start, opts.speed);
    let stack = Stack::start(opts.seed, opts.brands, clock.clone(), chat.clone(), &[]).await?;
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
    let agency = app.agency_channel();
    let banner = format!(
        "Lookout demo: {} clients on a simulated Klaviyo at http://{} (clock ×{}: one real minute is {} simulated hours).\nInjected faults:\n{}\nType /help for commands, e.g. /scan acme, /portfolio, /findings dune-supply, /ack F-1, /snooze F-1 4h.\nPrefix a command with a channel to type it there: #client-acme /findings. Ctrl-C quits.",
        app.clients().len(),
        stack.sim_addr,
        opts.speed,
        opts.speed / 60.0,
        planned.join("\n")
    );
    chat.post(&agency, &Message::text(Accent::Info, banner), None)
        .await
        .map_err(|e| AppError::UnknownClient(e.to_string()))?;

    let (stop_tx, stop_rx) = watch::channel(false);
    let deliverer = tokio::spawn(
        app.deliverer
            .clone()
            .run(std::time::Duration::from_millis(250), stop_rx.clone()),
    );
    let scheduler = tokio::spawn(crate::scheduler::run(
        app.clone(),
        std::time::Duration::from_millis(200),
        stop_rx.clone(),
    ));
    let input = tokio::spawn(read_commands(app.clone(), agency.clone()));

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
    let _ = stop_tx.send(true);
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        let _ = scheduler.await;
        let _ = deliverer.await;
    })
    .await;
    let _ = chat
        .post(
            &agency,
            &Message::text(Accent::Info, "Lookout demo stopped. Bye."),
            None,
        )
        .await;
    Ok(())
}

/// Reads commands from the terminal until end of input; each runs as `you`.
async fn read_commands(app: Arc<App>, agency: ChannelName) {
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (channel, text) = split_channel(line, &agency);
        let inv = Invocation {
            user: "you".into(),
            channel: channel.clone(),
            surface: "console".into(),
        };
        let reply = match parse_line(text) {
            Ok(cmd) => match handlers::handle(&app, &inv, cmd).await {
                Ok(r) => r,
                Err(e) => handlers::Reply {
                    visibility: Visibility::Ephemeral,
                    message: error_message(&e),
                },
            },
            Err(e) => handlers::Reply {
                visibility: Visibility::Ephemeral,
                message: Message::text(Accent::Error, e.to_string()),
            },
        };
        let shown = match reply.visibility {
            Visibility::Ephemeral => {
                app.chat
                    .ephemeral(&channel, &inv.user, &reply.message)
                    .await
            }
            Visibility::InChannel => app
                .chat
                .post(&channel, &reply.message, None)
                .await
                .map(|_| ()),
        };
        if let Err(e) = shown {
            tracing::warn!(error = %e, "could not show a reply");
        }
    }
}

/// `#client-acme /findings` types the command in that channel; otherwise the agency channel.
fn split_channel<'a>(line: &'a str, default: &ChannelName) -> (ChannelName, &'a str) {
    if let Some(rest) = line.strip_prefix('#') {
        let (name, cmd) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        if !name.is_empty() {
            return (ChannelName(name.to_owned()), cmd.trim());
        }
    }
    (default.clone(), line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_prefix_is_split_off() {
        let agency = ChannelName("agency".into());
        assert_eq!(
            split_channel("/scan acme", &agency),
            (agency.clone(), "/scan acme")
        );
        assert_eq!(
            split_channel("#client-acme  /findings", &agency),
            (ChannelName("client-acme".into()), "/findings")
        );
        assert_eq!(split_channel("#", &agency), (agency.clone(), "#"));
    }
}
