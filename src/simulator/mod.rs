//! The built-in Klaviyo simulator: a local server with Klaviyo's paths,
//! JSON:API shapes, errors and per-account rate limits, serving a seeded
//! portfolio of brands whose events are generated on demand from a hash of
//! (seed, brand, metric, hour) and the [`SharedClock`]. Faults injected by
//! tests or the demo rewrite that data from a given time on. It powers the
//! demo, every test and every benchmark.
//!
//! Modules: `portfolio` (brands and their configuration), `data` (events and
//! aggregates), `content` (flow actions and messages, templates, segments,
//! tags, forms, catalog, webhooks, profiles), `faults`, `ratelimit`
//! (real-time per-account limits), `jsonapi` (errors, filters, cursors,
//! revisions), `query` and `params` (each operation's query parameters, from
//! the spec), `oauth` (Klaviyo's OAuth: the
//! authorize page, token and revoke endpoints, and Bearer tokens) and `routes`
//! (the HTTP surface, including the `/__sim/*` admin paths).
//!
//! Credentials on `/api/...`: `Klaviyo-API-Key pk_...` (a private key, with
//! every read scope) or `Bearer <OAuth access token>` (the scopes granted).

mod content;
mod data;
mod faults;
pub(crate) mod hash;
mod jsonapi;
mod oauth;
mod params;
mod portfolio;
mod query;
mod ratelimit;
mod routes;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, Utc};

pub use faults::{Fault, FaultKind, UnknownFault};
pub use oauth::{OAUTH_CLIENT_ID, OAuthGrantInfo};
pub use query::{QUERY_PARAMS, QueryParams};

use crate::clock::SharedClock;
use crate::config::Secret;

/// Every `(method, path template)` the simulator answers under `/api/`.
pub const SERVED_PATHS: &[(&str, &str)] = &[
    ("GET", "/api/accounts"),
    ("GET", "/api/accounts/{id}"),
    ("GET", "/api/flows"),
    ("GET", "/api/flows/{id}"),
    ("GET", "/api/flows/{id}/flow-actions"),
    ("GET", "/api/flow-actions/{id}"),
    ("GET", "/api/flow-actions/{id}/flow-messages"),
    ("GET", "/api/flow-messages/{id}"),
    ("GET", "/api/campaigns"),
    ("GET", "/api/campaigns/{id}"),
    ("GET", "/api/campaigns/{id}/campaign-messages"),
    ("GET", "/api/campaign-messages/{id}"),
    ("GET", "/api/lists"),
    ("GET", "/api/lists/{id}"),
    ("GET", "/api/lists/{id}/flow-triggers"),
    ("GET", "/api/segments"),
    ("GET", "/api/segments/{id}"),
    ("GET", "/api/metrics"),
    ("GET", "/api/metrics/{id}"),
    ("GET", "/api/metrics/{id}/flow-triggers"),
    ("GET", "/api/events"),
    ("GET", "/api/profiles"),
    ("GET", "/api/templates"),
    ("GET", "/api/templates/{id}"),
    ("GET", "/api/tags"),
    ("GET", "/api/forms"),
    ("GET", "/api/catalog-items"),
    ("GET", "/api/webhooks"),
    ("POST", "/api/metric-aggregates"),
    ("POST", "/api/flow-values-reports"),
    ("POST", "/api/campaign-values-reports"),
    ("POST", "/api/form-values-reports"),
    ("POST", "/api/flow-series-reports"),
    ("POST", "/api/form-series-reports"),
];

/// Every `(method, path)` of the simulator's OAuth server (see the `oauth` module).
pub const OAUTH_PATHS: &[(&str, &str)] = &[
    ("GET", "/oauth/authorize"),
    ("POST", "/oauth/authorize"),
    ("POST", "/oauth/token"),
    ("POST", "/oauth/revoke"),
];

/// Seconds a `throttle-storm` fault asks clients to wait.
pub const STORM_RETRY_AFTER_SECS: u64 = 5;

/// What a test or the demo needs to know about a simulated brand.
#[derive(Debug, Clone, PartialEq)]
pub struct BrandInfo {
    /// Short name, e.g. `acme`.
    pub slug: String,
    /// Display name, e.g. `Acme Outfitters`.
    pub name: String,
    /// Klaviyo account id (6 alphanumerics).
    pub account_id: String,
    /// Private API key, `pk_sim_<slug>_<hex>`.
    pub api_key: Secret,
    /// Currency the agency reports in (the account may disagree; see the portfolio table).
    pub currency: String,
    /// Timezone the client works in.
    pub timezone: String,
    /// Whether the brand sells online.
    pub sells_online: bool,
    /// Where the brand's audience is, e.g. `US`, `EU`.
    pub jurisdictions: Vec<String>,
}

/// What the simulator has answered on `/api/...` since it was built, for
/// benchmarks and tests (see [`Simulator::request_stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestStats {
    /// Responses sent on `/api/...`, whatever their status.
    pub requests: u64,
    /// Of those, 429s (rate limits and `throttle-storm`).
    pub throttled: u64,
    /// Of those, 5xx (`server-errors`, `server-burst`, `timeout`).
    pub server_errors: u64,
}

/// The counters behind [`RequestStats`]: atomics, so counting takes no lock.
#[derive(Debug, Default)]
struct StatCounters {
    requests: AtomicU64,
    throttled: AtomicU64,
    server_errors: AtomicU64,
}

impl StatCounters {
    /// Counts one `/api/...` response of `status`.
    fn record(&self, status: u16) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if status == 429 {
            self.throttled.fetch_add(1, Ordering::Relaxed);
        } else if status >= 500 {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
        }
    }

    fn snapshot(&self) -> RequestStats {
        RequestStats {
            requests: self.requests.load(Ordering::Relaxed),
            throttled: self.throttled.load(Ordering::Relaxed),
            server_errors: self.server_errors.load(Ordering::Relaxed),
        }
    }
}

/// Why a fault could not be injected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    /// No brand with that slug in the portfolio.
    #[error("`{0}` is not a simulated brand: list them with GET /__sim/brands")]
    UnknownBrand(String),
    /// The window ends before it starts.
    #[error("the fault ends ({until}) before it starts ({at}): give an `until` after `at`")]
    EmptyWindow {
        /// Start.
        at: DateTime<Utc>,
        /// End.
        until: DateTime<Utc>,
    },
}

/// Shared state behind every handle and request.
pub(crate) struct Inner {
    clock: SharedClock,
    brands: Vec<portfolio::Brand>,
    by_key: HashMap<String, usize>,
    faults: Mutex<Vec<Fault>>,
    limiter: ratelimit::Limiter,
    /// Whether `limiter` is enforced (see `Simulator::set_rate_limits`).
    rate_limited: AtomicBool,
    oauth: oauth::OAuth,
    /// Authenticated `/api/...` requests per brand: a `server-burst` fault
    /// hashes this count to pick the requests it fails.
    brand_requests: Vec<AtomicU64>,
    /// Times a `server-burst` has failed each request (brand, method and
    /// URL): a request it failed three times gets through the next time, as
    /// an outage's requests do once retried (the client retries three times).
    burst_failures: Mutex<HashMap<(usize, String), u32>>,
    stats: StatCounters,
    /// Each brand's main-list growth over its history's whole hours.
    growth: data::ListGrowth,
}

impl Inner {
    fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    fn rate_limited(&self) -> bool {
        self.rate_limited.load(Ordering::Relaxed)
    }

    fn faults(&self) -> MutexGuard<'_, Vec<Fault>> {
        // A poisoned lock means a panic elsewhere between whole-vector edits;
        // the vector itself is still a valid list of faults.
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn brand_index(&self, slug: &str) -> Option<usize> {
        self.brands.iter().position(|b| b.slug == slug)
    }

    /// Whether a fault of `kind` covers brand number `brand` at `now`.
    fn fault_in_force(&self, brand: usize, kind: FaultKind, now: DateTime<Utc>) -> bool {
        let Some(b) = self.brands.get(brand) else {
            return false;
        };
        self.faults()
            .iter()
            .any(|f| f.brand == b.slug && f.kind == kind && f.covers(now))
    }

    fn try_inject(&self, fault: Fault) -> Result<(), SimError> {
        if self.brand_index(&fault.brand).is_none() {
            return Err(SimError::UnknownBrand(fault.brand));
        }
        if let Some(until) = fault.until.filter(|u| *u <= fault.at) {
            return Err(SimError::EmptyWindow {
                at: fault.at,
                until,
            });
        }
        tracing::info!(brand = %fault.brand, fault = %fault.kind, at = %fault.at, "simulator fault injected");
        self.faults().push(fault);
        Ok(())
    }

    fn clear(&self, brand: &str, kind: FaultKind) -> bool {
        let now = self.now();
        let mut faults = self.faults();
        let before = faults.len();
        // Faults not started yet vanish; running ones end now, so the history
        // they wrote (a gap in orders, say) stays.
        faults.retain(|f| !(f.brand == brand && f.kind == kind && f.at > now));
        let mut changed = faults.len() != before;
        for f in faults
            .iter_mut()
            .filter(|f| f.brand == brand && f.kind == kind && !f.ended_by(now))
        {
            f.until = Some(now);
            changed = true;
        }
        if changed {
            tracing::info!(brand, fault = %kind, "simulator fault cleared");
        }
        changed
    }

    fn active_faults(&self) -> Vec<Fault> {
        let now = self.now();
        self.faults()
            .iter()
            .filter(|f| !f.ended_by(now))
            .cloned()
            .collect()
    }

    fn info(&self, b: &portfolio::Brand) -> BrandInfo {
        BrandInfo {
            slug: b.slug.clone(),
            name: b.name.clone(),
            account_id: b.account_id.clone(),
            api_key: b.api_key.clone(),
            currency: b.currency.clone(),
            timezone: b.timezone.clone(),
            sells_online: b.sells_online,
            jurisdictions: b.jurisdictions.clone(),
        }
    }
}

/// A local Klaviyo. Cloning shares the same portfolio, faults and limits.
#[derive(Clone)]
pub struct Simulator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("brands", &self.inner.brands.len())
            .finish_non_exhaustive()
    }
}

impl Simulator {
    /// Portfolio of `brands` (>= 12 supported; default demo uses 12) from `seed`.
    pub fn new(seed: u64, brands: usize, clock: SharedClock) -> Self {
        let origin = clock.now();
        Self::with_origin(seed, brands, clock, origin)
    }

    /// `new`, with the portfolio's configuration dates laid out as if the
    /// simulator started at `origin` (the demo builds it before replaying its past).
    pub fn with_origin(
        seed: u64,
        brands: usize,
        clock: SharedClock,
        origin: DateTime<Utc>,
    ) -> Self {
        let brands = portfolio::build(seed, brands, origin);
        let brand_requests = brands.iter().map(|_| AtomicU64::new(0)).collect();
        let by_key = brands
            .iter()
            .enumerate()
            .map(|(i, b)| (b.api_key.expose().to_owned(), i))
            .collect();
        Self {
            inner: Arc::new(Inner {
                clock,
                brands,
                by_key,
                faults: Mutex::new(Vec::new()),
                limiter: ratelimit::Limiter::default(),
                rate_limited: AtomicBool::new(true),
                oauth: oauth::OAuth::new(seed),
                brand_requests,
                burst_failures: Mutex::new(HashMap::new()),
                stats: StatCounters::default(),
                growth: data::ListGrowth::default(),
            }),
        }
    }

    /// Counts of what `/api/...` has answered so far: every response, the
    /// 429s and the 5xx among them. Relaxed atomics: a snapshot taken while
    /// requests run may be a request or two behind, never torn.
    pub fn request_stats(&self) -> RequestStats {
        self.inner.stats.snapshot()
    }

    /// The brands in portfolio order.
    pub fn brands(&self) -> Vec<BrandInfo> {
        self.inner
            .brands
            .iter()
            .map(|b| self.inner.info(b))
            .collect()
    }

    /// Turns Klaviyo's rate limits on (the default) or off. The demo's history
    /// replay turns them off: its scan rounds are hours apart in simulated time
    /// but run back to back in real time, where the limits are counted.
    pub fn set_rate_limits(&self, on: bool) {
        self.inner.rate_limited.store(on, Ordering::Relaxed);
    }

    /// The one registered OAuth app: `(client_id, client_secret)`. Its
    /// redirect URIs are any `http://127.0.0.1:<port>/...` or
    /// `http://localhost:<port>/...`.
    pub fn oauth_client(&self) -> (String, Secret) {
        (
            OAUTH_CLIENT_ID.to_owned(),
            self.inner.oauth.client_secret().clone(),
        )
    }

    /// Turns refresh-token rotation on (the default: each refresh returns a
    /// new refresh token and the old one dies) or off (the same one comes back).
    pub fn set_refresh_rotation(&self, on: bool) {
        self.inner.oauth.set_rotation(on);
    }

    /// Lifetime of access tokens issued from now on (`expires_in`, default 3600 s).
    pub fn set_access_token_ttl(&self, secs: u64) {
        self.inner.oauth.set_access_ttl(secs);
    }

    /// The OAuth grants of brand `slug`, oldest first (empty for an unknown brand).
    pub fn oauth_grants(&self, slug: &str) -> Vec<OAuthGrantInfo> {
        self.inner
            .brand_index(slug)
            .map(|i| self.inner.oauth.grants(i))
            .unwrap_or_default()
    }

    /// Injects a fault; an unknown brand or empty window is logged and ignored
    /// (use [`Simulator::try_inject`] to see the error).
    pub fn inject(&self, fault: Fault) {
        if let Err(e) = self.inner.try_inject(fault) {
            tracing::warn!(error = %e, "simulator fault not injected");
        }
    }

    /// Injects a fault, or says why it cannot be.
    pub fn try_inject(&self, fault: Fault) -> Result<(), SimError> {
        self.inner.try_inject(fault)
    }

    /// Ends a fault: events/state return to normal from clock.now() on.
    pub fn clear(&self, brand: &str, kind: FaultKind) -> bool {
        self.inner.clear(brand, kind)
    }

    /// Faults that have not ended yet (running, or scheduled to start later).
    pub fn active_faults(&self) -> Vec<Fault> {
        self.inner.active_faults()
    }

    /// The simulator's HTTP surface: Klaviyo's `/api/...` and `/oauth/...` paths and `/__sim/...` admin.
    pub fn router(&self) -> axum::Router {
        routes::router(self.inner.clone())
    }

    /// Binds `addr` (use 127.0.0.1:0 in tests) and serves until the returned handle is aborted.
    pub async fn serve(
        &self,
        addr: SocketAddr,
    ) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let app = self.router();
        tracing::info!(%local, brands = self.inner.brands.len(), "Klaviyo simulator listening");
        let handle = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "Klaviyo simulator stopped");
            }
        });
        Ok((local, handle))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, SimClock};
    use chrono::{Duration, TimeZone};

    fn sim() -> (Simulator, SimClock) {
        let clock = SimClock::frozen(Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap());
        (Simulator::new(42, 12, Arc::new(clock.clone())), clock)
    }

    #[test]
    fn brands_are_listed_in_order_with_keys() {
        let (s, _) = sim();
        let b = s.brands();
        assert_eq!(b.len(), 12);
        assert_eq!(
            b.iter()
                .take(3)
                .map(|b| b.slug.as_str())
                .collect::<Vec<_>>(),
            ["acme", "bluebird", "cedar-co"]
        );
        assert!(b[0].api_key.expose().starts_with("pk_sim_acme_"));
        assert!(format!("{:?}", b[0]).contains("[redacted]"));
    }

    #[test]
    fn inject_clear_and_active_faults() {
        let (s, clock) = sim();
        let now = clock.now();
        let fault = |kind, at| Fault {
            brand: "acme".into(),
            kind,
            at,
            until: None,
        };
        s.inject(fault(FaultKind::OrdersStop, now));
        s.inject(fault(FaultKind::SpamSpike, now + Duration::hours(2)));
        s.inject(Fault {
            brand: "nobody".into(),
            ..fault(FaultKind::OrdersStop, now)
        });
        assert_eq!(
            s.try_inject(Fault {
                until: Some(now),
                ..fault(FaultKind::BounceSpike, now)
            }),
            Err(SimError::EmptyWindow {
                at: now,
                until: now
            })
        );
        assert_eq!(s.active_faults().len(), 2);
        clock.advance(Duration::minutes(30));
        assert!(s.clear("acme", FaultKind::OrdersStop));
        assert!(!s.clear("acme", FaultKind::OrdersStop));
        assert!(!s.clear("bluebird", FaultKind::SpamSpike));
        // The cleared fault keeps its past window; the scheduled one is gone.
        assert!(s.clear("acme", FaultKind::SpamSpike));
        assert!(s.active_faults().is_empty());
        let all = s.inner.faults().clone();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].until, Some(now + Duration::minutes(30)));
    }

    #[test]
    fn five_thousand_brands_have_unique_slugs_and_keys_that_map_back() {
        let clock = SimClock::frozen(Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap());
        let s = Simulator::new(42, 5000, Arc::new(clock));
        let brands = s.brands();
        assert_eq!(brands.len(), 5000);
        let slugs: std::collections::HashSet<&str> =
            brands.iter().map(|b| b.slug.as_str()).collect();
        assert_eq!(slugs.len(), 5000);
        let accounts: std::collections::HashSet<&str> =
            brands.iter().map(|b| b.account_id.as_str()).collect();
        assert_eq!(accounts.len(), 5000);
        assert_eq!(brands[4998].slug, "brand-4999");
        assert_eq!(s.inner.by_key.len(), 5000);
        for (i, b) in brands.iter().enumerate() {
            assert_eq!(
                s.inner.by_key.get(b.api_key.expose()),
                Some(&i),
                "{}",
                b.slug
            );
        }
        assert_eq!(s.request_stats(), RequestStats::default());
    }
}
