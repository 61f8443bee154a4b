//! The application context: what every stage needs, built once from a `Config`.
//!
//! `App` owns the store, the clock, the Klaviyo client, the clients registry,
//! the chat adapters (one per platform) and the outbox deliverer. The work
//! itself lives with its stage: a scan in `scan::pipeline`, digests, quiet
//! hours and snooze ends in `routing::digests`, maintenance windows in
//! `routing::maintenance`, due scans in `scheduler`, and start-up in `startup`.

use std::collections::HashSet;
use std::sync::Mutex;

use crate::checks::{self, Check};
use crate::clients::{Clients, ClientsError};
use crate::clock::SharedClock;
use crate::config::{Config, ConfigError};
use crate::connections::Connections;
use crate::domain::ClientSlug;
use crate::findings::FindingError;
use crate::klaviyo::{KlaviyoClient, KlaviyoConfig, KlaviyoError};
use crate::message::{Accent, Adapters, Message};
use crate::outbox::Deliverer;
use crate::store::{Store, StoreError};
use crate::vault::Vault;

/// Why the application could not start or a scan could not run.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Configuration problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Storage problem.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Findings problem.
    #[error(transparent)]
    Findings(#[from] FindingError),
    /// Clients registry problem (unknown client, channel taken).
    #[error(transparent)]
    Clients(#[from] ClientsError),
    /// The Klaviyo client could not be built.
    #[error("Klaviyo client: {0}")]
    Klaviyo(#[from] KlaviyoError),
    /// The client cannot be reached (not connected, paused, grant ended).
    #[error(transparent)]
    Connection(#[from] crate::connections::ConnectionError),
    /// A scan of the client is already running.
    #[error("a scan of {0} is already running; its results will appear here")]
    AlreadyScanning(ClientSlug),
    /// A scan task stopped without a result (a bug; the log has the panic).
    #[error("the scan of {0} stopped unexpectedly; the log says why")]
    ScanLost(ClientSlug),
    /// Something the process needs could not be started (a listener, an adapter).
    #[error("{0}")]
    Startup(String),
}

/// The running application.
pub struct App {
    /// Configuration it started with.
    pub config: Config,
    /// Database.
    pub store: Store,
    /// Time.
    pub clock: SharedClock,
    /// Chat adapters, one per platform served.
    pub chat: Adapters,
    /// Outbox delivery.
    pub deliverer: Deliverer,
    /// The clients and their routes.
    pub clients: Clients,
    /// How each client's Klaviyo account is reached (grants, tokens, keys).
    pub connections: Connections,
    pub(crate) klaviyo: KlaviyoClient,
    pub(crate) catalogue: Vec<Check>,
    /// Asks for the links in live templates of clients with link checking on.
    pub(crate) links: crate::scan::links::LinkChecker,
    running: Mutex<HashSet<ClientSlug>>,
    /// Leases on work shared with other processes on the same database.
    pub(crate) leaser: crate::lease::Leaser,
    /// Each client's reports as its last full scan read them, for a scan that
    /// follows within a minute (see `scan::fetch::RecentReports`); entries
    /// older than that are dropped, so this holds a minute's scans at most.
    pub(crate) recent_reports: Mutex<std::collections::HashMap<ClientSlug, ReadReports>>,
}

/// Reports as read: when (real time, for Klaviyo's limits), at which scan
/// time, and what they said.
pub(crate) type ReadReports = (
    std::time::Instant,
    chrono::DateTime<chrono::Utc>,
    crate::scan::fetch::RecentReports,
);

impl App {
    /// Builds the app with a vault whose key lives only in memory (an
    /// in-memory store's secrets die with it anyway).
    pub async fn new(
        config: Config,
        store: Store,
        clock: SharedClock,
        chat: Adapters,
    ) -> Result<std::sync::Arc<Self>, AppError> {
        Self::build(config, store, clock, chat, Vault::ephemeral()).await
    }

    /// Builds the app from configuration, sealing secrets with `vault`, and
    /// registers every client in the store.
    pub async fn build(
        config: Config,
        store: Store,
        clock: SharedClock,
        chat: Adapters,
        vault: Vault,
    ) -> Result<std::sync::Arc<Self>, AppError> {
        config.validate()?;
        let klaviyo = KlaviyoClient::new(KlaviyoConfig {
            base_url: config.klaviyo.base_url.clone(),
            revision: config.klaviyo.revision.clone(),
            ..KlaviyoConfig::default()
        })?;
        let links =
            crate::scan::links::LinkChecker::new(config.scan.link_sites, &config.klaviyo.base_url)
                .map_err(|e| AppError::Startup(e.to_string()))?;
        let clients = Clients::load(&config, &store, clock.now()).await?;
        let leaser = crate::lease::Leaser::new(store.clone(), config.scan.lease());
        let deliverer =
            Deliverer::new(store.clone(), chat.clone(), clock.clone()).leasing(leaser.clone());
        let connections = Connections::new(&config, store.clone(), vault, clock.clone())?;
        Ok(std::sync::Arc::new(Self {
            config,
            store,
            clock,
            chat,
            deliverer,
            clients,
            connections,
            klaviyo,
            catalogue: checks::catalogue(),
            links,
            running: Mutex::new(HashSet::new()),
            leaser,
            recent_reports: Mutex::new(std::collections::HashMap::new()),
        }))
    }

    /// Whether a scan of this client is running.
    pub fn is_scanning(&self, slug: &ClientSlug) -> bool {
        self.lock_running().contains(slug)
    }

    /// Marks a scan as running; false when one already is.
    pub(crate) fn start_running(&self, slug: &ClientSlug) -> bool {
        self.lock_running().insert(slug.clone())
    }

    /// Marks a scan as finished.
    pub(crate) fn stop_running(&self, slug: &ClientSlug) {
        self.lock_running().remove(slug);
    }

    fn lock_running(&self) -> std::sync::MutexGuard<'_, HashSet<ClientSlug>> {
        // The set only holds slugs; a panic elsewhere cannot leave it half-written.
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An informational message (used by handlers and the scheduler).
pub fn info(text: impl Into<String>) -> Message {
    Message::text(Accent::Info, text)
}
