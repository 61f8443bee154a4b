//! The HTTP client: one [`KlaviyoClient`] per process, one [`AccountClient`]
//! handle per account, every request paced by the account's budget.
//!
//! Read-only by construction: the single private `send` takes a
//! [`ReadRequest`], which can only be a GET or a POST to an allow-listed
//! read endpoint (metric aggregates and the reporting endpoints). There is no way to build a PUT, PATCH,
//! DELETE or any other POST through this module.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use rand::Rng;
use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::debug;

use crate::config::Secret;
use crate::klaviyo::KlaviyoError;
use crate::klaviyo::admission::Admission;
use crate::klaviyo::budget::{AccountBudget, Ticket, Usage};
use crate::klaviyo::error::{error_detail, redact};
use crate::klaviyo::types::{
    AggregateDoc, AggregateQuery, AggregateSeries, Page, Report, ReportKind, Resource,
};

/// JSON:API media type, sent as `accept` and (on POST) `content-type`.
const JSON_API: &str = "application/vnd.api+json";
/// A runaway `links.next` chain stops here rather than spending the budget.
const MAX_PAGES: usize = 2_000;
/// Largest `page[size]` per size-paged endpoint (from the API notes); other
/// endpoints reject `page[size]`, so the hint is only applied to these.
const PAGE_SIZE_MAX: &[(&str, u32)] = &[
    ("/api/flows", 50),
    ("/api/campaigns", 100),
    ("/api/lists", 10),
    ("/api/segments", 10),
    ("/api/templates", 10),
    ("/api/profiles", 100),
    ("/api/events", 1000),
    ("/api/tags", 50),
    ("/api/forms", 100),
];

/// Renewals one request may ask for: a request that waits on its rate limit
/// longer than an access token lives needs a second, a token refused as soon
/// as it is issued must not loop.
const MAX_RENEWALS: u32 = 2;

/// Sparse fieldsets: only the attributes the snapshot reads travel, which
/// keeps both Klaviyo's work and a scan's memory down. Flows are read whole:
/// their relationships (a list trigger) matter too.
const FIELDS_ACCOUNT: &str = "contact_information,industry,timezone,preferred_currency";
const FIELDS_CAMPAIGN: &str =
    "name,status,archived,audiences,send_time,scheduled_at,created_at,updated_at";
const FIELDS_LIST: &str = "name,opt_in_process,created,updated";
const FIELDS_METRIC: &str = "name,integration";
/// The one field asked of flows included with metrics: JSON:API sends a
/// relationship's linkage (which flows a metric triggers) only when it is
/// included, and this keeps the included flows small.
const FIELDS_TRIGGERED_FLOW: &str = "status";
const FIELDS_EVENT: &str = "datetime,timestamp";
const FIELDS_TEMPLATE: &str = "name,html,updated";
const FIELDS_SEGMENT: &str = "name,created,updated";
const FIELDS_FORM: &str = "name,status,updated_at";
const FIELDS_CATALOG_ITEM: &str = "updated";
const FIELDS_PROFILE: &str =
    "created,location.country,location.region,subscriptions.email.marketing";
/// An order's value is all that is read of it.
const FIELDS_ORDER_EVENT: &str = "event_properties,datetime";
/// Of a texted profile only its region is read.
const FIELDS_TEXTED_PROFILE: &str = "location.region";

/// Settings for the client.
#[derive(Debug, Clone, PartialEq)]
pub struct KlaviyoConfig {
    /// Where the API lives; `https://a.klaviyo.com` or the simulator.
    pub base_url: String,
    /// The `revision` header, e.g. `2026-07-15`.
    pub revision: String,
    /// Per-request timeout.
    pub timeout: Duration,
    /// Retries after the first attempt for 429, 5xx, timeouts and connection errors.
    pub max_retries: u32,
    /// Preferred `page[size]` on size-paged endpoints (clamped to each one's maximum).
    pub page_size_hint: Option<u32>,
    /// Requests in flight at once, across all accounts. Each one holds an
    /// HTTP/1 connection and its buffers; hundreds of accounts scanned at
    /// once would otherwise open thousands. 64 keeps the two cores busy:
    /// more only lengthens the queue each answer waits in (500 accounts
    /// took 2.8 s at 32 or 64, 3.0 s at 256).
    pub max_in_flight: usize,
}

impl Default for KlaviyoConfig {
    fn default() -> Self {
        Self {
            base_url: "https://a.klaviyo.com".into(),
            revision: "2026-07-15".into(),
            timeout: Duration::from_secs(30),
            max_retries: 3,
            page_size_hint: None,
            max_in_flight: 64,
        }
    }
}

/// How long to wait between retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First backoff after a 5xx or timeout; doubles per attempt, with jitter.
    pub backoff_base: Duration,
    /// Longest backoff.
    pub backoff_cap: Duration,
    /// Longest `Retry-After` honoured; a larger value is cut to this.
    pub retry_after_cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            backoff_base: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(20),
            retry_after_cap: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Jittered exponential backoff before retry number `attempt` (1-based):
    /// a random point in the upper half of `base × 2^(attempt-1)`, capped.
    fn backoff(&self, attempt: u32) -> Duration {
        let exp = self
            .backoff_base
            .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        let full = exp.min(self.backoff_cap).as_secs_f64();
        let jittered = rand::rng().random_range(full / 2.0..=full.max(f64::MIN_POSITIVE));
        Duration::from_secs_f64(jittered)
    }
}

/// How a handle authenticates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A private API key (`pk_...`), sent as `Klaviyo-API-Key <key>`.
    ApiKey(Secret),
    /// An OAuth access token, sent as `Bearer <token>`.
    Bearer(Secret),
}

impl Credential {
    fn secret(&self) -> &str {
        match self {
            Credential::ApiKey(s) | Credential::Bearer(s) => s.expose(),
        }
    }

    fn header(&self) -> Result<HeaderValue, KlaviyoError> {
        let value = match self {
            Credential::ApiKey(s) => format!("Klaviyo-API-Key {}", s.expose()),
            Credential::Bearer(s) => format!("Bearer {}", s.expose()),
        };
        let mut header = HeaderValue::from_str(&value).map_err(|_| {
            KlaviyoError::Config(
                "the API key or token contains characters that cannot be sent in a header: paste it again without spaces or line breaks".into(),
            )
        })?;
        // Keeps the value out of hyper's and reqwest's debug output.
        header.set_sensitive(true);
        Ok(header)
    }
}

/// Gives a fresh credential after Klaviyo answered 401 to `stale`: an OAuth
/// access token lasts an hour, and a scan that waits on its rate limits (or a
/// demo clock running fast) can outlive it. `None` when there is none to give.
#[async_trait::async_trait]
pub trait Renew: Send + Sync {
    /// A credential to retry with, if one can be had.
    async fn renew(&self, stale: &Credential) -> Option<Credential>;
}

/// The credential a handle sends now, with its header built once.
#[derive(Debug)]
struct Current {
    credential: Credential,
    auth: Result<HeaderValue, KlaviyoError>,
}

impl Current {
    fn new(credential: Credential) -> Self {
        Self {
            auth: credential.header(),
            credential,
        }
    }
}

#[derive(Debug)]
struct Shared {
    http: reqwest::Client,
    base: Url,
    config: KlaviyoConfig,
    budgets: Mutex<HashMap<String, Arc<AccountBudget>>>,
    /// Whether requests wait for their budget's slot (see `set_pacing`).
    paced: AtomicBool,
    /// Places for requests in flight (`KlaviyoConfig::max_in_flight`).
    in_flight: Admission,
}

/// The process-wide client: an HTTP connection pool plus one rate budget per account.
#[derive(Debug, Clone)]
pub struct KlaviyoClient {
    shared: Arc<Shared>,
    retry: RetryPolicy,
}

impl KlaviyoClient {
    /// Builds the client; fails only on an unusable base URL or TLS setup.
    pub fn new(config: KlaviyoConfig) -> Result<Self, KlaviyoError> {
        let base = Url::parse(&config.base_url).map_err(|e| {
            KlaviyoError::Config(format!(
                "base_url `{}` is not a URL ({e}): use e.g. https://a.klaviyo.com",
                config.base_url
            ))
        })?;
        if !matches!(base.scheme(), "http" | "https") || base.host_str().is_none() {
            return Err(KlaviyoError::Config(format!(
                "base_url `{}` must be an http(s) URL with a host, e.g. https://a.klaviyo.com",
                config.base_url
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            // A redirect could carry the key elsewhere; Klaviyo does not redirect API calls.
            .redirect(reqwest::redirect::Policy::none())
            // Idle connections beyond what can be in flight only hold memory.
            .pool_max_idle_per_host(config.max_in_flight.max(1))
            .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| KlaviyoError::Config(format!("could not build the HTTP client: {e}")))?;
        Ok(Self {
            shared: Arc::new(Shared {
                http,
                base,
                budgets: Mutex::new(HashMap::new()),
                paced: AtomicBool::new(true),
                in_flight: Admission::new(config.max_in_flight),
                config,
            }),
            retry: RetryPolicy::default(),
        })
    }

    /// The same client with another retry policy (tests use short backoffs).
    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Turns pacing on (the default) or off. Only for a server without rate
    /// limits: the demo's history replay, whose simulator has its limits off
    /// because rounds hours apart in simulated time run back to back in real time.
    pub fn set_pacing(&self, on: bool) {
        self.shared.paced.store(on, Ordering::Relaxed);
    }

    /// Requests per operation made so far for `account_key` (empty if none).
    pub fn usage(&self, account_key: &str) -> Vec<Usage> {
        let budget = self.lock_budgets().get(account_key).cloned();
        budget.map(|b| b.usage()).unwrap_or_default()
    }

    /// 429s received across every account.
    pub fn throttled_total(&self) -> u64 {
        self.lock_budgets().values().map(|b| b.throttled()).sum()
    }

    fn lock_budgets(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<AccountBudget>>> {
        // The map is only ever inserted into; a poisoned lock holds valid data.
        self.shared
            .budgets
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// A handle for one account; all handles for the same `account_key` share one rate budget.
    pub fn account(&self, account_key: &str, credential: Credential) -> AccountClient {
        let budget = self
            .lock_budgets()
            .entry(account_key.to_owned())
            .or_insert_with(|| Arc::new(AccountBudget::new()))
            .clone();
        AccountClient {
            shared: self.shared.clone(),
            retry: self.retry,
            account: Arc::from(account_key),
            current: Arc::new(RwLock::new(Current::new(credential))),
            renew: None,
            budget,
            urgent: false,
        }
    }
}

/// POST endpoints that only read. Nothing else may be POSTed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ReadPost {
    /// `POST /api/metric-aggregates`: a query, despite the verb.
    MetricAggregates,
    /// One of the reporting endpoints: queries too.
    Report(ReportKind),
}

impl ReadPost {
    #[cfg(test)]
    const ALL: [ReadPost; 5] = [
        ReadPost::MetricAggregates,
        ReadPost::Report(ReportKind::FlowSeries),
        ReadPost::Report(ReportKind::CampaignValues),
        ReadPost::Report(ReportKind::FormValues),
        ReadPost::Report(ReportKind::FormSeries),
    ];

    fn path(self) -> &'static str {
        match self {
            ReadPost::MetricAggregates => "/api/metric-aggregates",
            ReadPost::Report(ReportKind::FlowSeries) => "/api/flow-series-reports",
            ReadPost::Report(ReportKind::CampaignValues) => "/api/campaign-values-reports",
            ReadPost::Report(ReportKind::FormValues) => "/api/form-values-reports",
            ReadPost::Report(ReportKind::FormSeries) => "/api/form-series-reports",
        }
    }
}

/// The only requests `send` accepts.
#[derive(Debug)]
enum ReadRequest<'a> {
    /// A GET of an absolute URL (already checked to be on the base origin).
    Get(Url),
    /// A read-only POST with its JSON body, encoded (a scan holds it while it
    /// waits for its rate window; a JSON tree would be several times larger).
    Post(ReadPost, &'a [u8]),
}

impl ReadRequest<'_> {
    fn method(&self) -> Method {
        match self {
            ReadRequest::Get(_) => Method::GET,
            ReadRequest::Post(..) => Method::POST,
        }
    }

    fn url(&self, base: &Url) -> Result<Url, KlaviyoError> {
        match self {
            ReadRequest::Get(url) => Ok(url.clone()),
            ReadRequest::Post(op, _) => base
                .join(op.path())
                .map_err(|e| KlaviyoError::Config(format!("cannot build a URL: {e}"))),
        }
    }
}

/// One failed attempt: the error, and how long Klaviyo asked us to wait.
struct Failure {
    error: KlaviyoError,
    retry_after: Option<Duration>,
}

/// A handle for one account. Cheap to clone; clones share the account's budget.
#[derive(Clone)]
pub struct AccountClient {
    shared: Arc<Shared>,
    retry: RetryPolicy,
    account: Arc<str>,
    /// Shared by clones, so one renewal serves every request of the scan.
    current: Arc<RwLock<Current>>,
    /// Asked after a 401 (at most `MAX_RENEWALS` times a request), if set.
    renew: Option<Arc<dyn Renew>>,
    budget: Arc<AccountBudget>,
    /// Its requests take the fast lane for places in flight (see `urgent`).
    urgent: bool,
}

impl std::fmt::Debug for AccountClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountClient")
            .field("account", &self.account)
            .field("renews", &self.renew.is_some())
            .field("urgent", &self.urgent)
            .finish_non_exhaustive()
    }
}

impl AccountClient {
    /// The same handle, asking `renew` for a fresh credential when Klaviyo
    /// answers 401, then retrying that one request.
    pub fn renewing(self, renew: Arc<dyn Renew>) -> AccountClient {
        AccountClient {
            renew: Some(renew),
            ..self
        }
    }

    /// The credential this handle sends now (a renewed one, once renewed).
    pub fn credential(&self) -> Credential {
        self.current().0
    }

    fn current(&self) -> (Credential, Result<HeaderValue, KlaviyoError>) {
        // Only ever replaced whole; a poisoned lock still holds a valid value.
        let c = self.current.read().unwrap_or_else(|e| e.into_inner());
        (c.credential.clone(), c.auth.clone())
    }

    /// The key this handle's budget is shared under (a client slug, never a secret).
    pub fn account_key(&self) -> &str {
        &self.account
    }

    /// The same handle, its requests ahead of ordinary ones for a place in
    /// flight: for the rate-limited chain that decides when a scan can end.
    pub fn urgent(&self) -> AccountClient {
        AccountClient {
            urgent: true,
            ..self.clone()
        }
    }

    /// `GET /api/accounts`.
    pub async fn get_accounts(&self) -> Result<Vec<Resource>, KlaviyoError> {
        self.get_all("/api/accounts", &[("fields[account]", FIELDS_ACCOUNT)])
            .await
    }

    /// `GET /api/flows`, every page.
    pub async fn get_flows(&self) -> Result<Vec<Resource>, KlaviyoError> {
        self.get_all("/api/flows", &[]).await
    }

    /// `GET /api/campaigns` for one channel (`email`, `sms`, `mobile_push`).
    pub async fn get_campaigns(&self, channel: &str) -> Result<Vec<Resource>, KlaviyoError> {
        if channel.is_empty() || !channel.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
            return Err(KlaviyoError::Refused(format!(
                "`{channel}` is not a campaign channel: use email, sms or mobile_push"
            )));
        }
        let filter = format!("equals(messages.channel,'{channel}')");
        self.get_all(
            "/api/campaigns",
            &[("filter", &filter), ("fields[campaign]", FIELDS_CAMPAIGN)],
        )
        .await
    }

    /// `GET /api/lists`, every page.
    pub async fn get_lists(&self) -> Result<Vec<Resource>, KlaviyoError> {
        self.get_all("/api/lists", &[("fields[list]", FIELDS_LIST)])
            .await
    }

    /// `GET /api/metrics`, every page, each metric with the ids of the flows
    /// it triggers (`relationships.flow-triggers`), which saves a
    /// `flow-triggers` call per metric.
    pub async fn get_metrics(&self) -> Result<Vec<Resource>, KlaviyoError> {
        self.get_all(
            "/api/metrics",
            &[
                ("fields[metric]", FIELDS_METRIC),
                ("include", "flow-triggers"),
                ("fields[flow]", FIELDS_TRIGGERED_FLOW),
            ],
        )
        .await
    }

    /// `GET /api/metrics/{id}/flow-triggers`: the flows this metric triggers.
    pub async fn metric_flow_triggers(
        &self,
        metric_id: &str,
    ) -> Result<Vec<Resource>, KlaviyoError> {
        check_id(metric_id)?;
        self.get_all(&format!("/api/metrics/{metric_id}/flow-triggers"), &[])
            .await
    }

    /// The newest event of a metric (`GET /api/events`, `sort=-datetime`, one item).
    pub async fn latest_event(&self, metric_id: &str) -> Result<Option<Resource>, KlaviyoError> {
        check_id(metric_id)?;
        let filter = format!("equals(metric_id,'{metric_id}')");
        let url = self.url_for(
            "/api/events",
            &[
                ("filter", &filter),
                ("sort", "-datetime"),
                ("page[size]", "1"),
                ("fields[event]", FIELDS_EVENT),
            ],
        )?;
        let doc: Value = self.send(&ReadRequest::Get(url)).await?;
        Ok(Page::from_value(doc)?.data.into_iter().next())
    }

    /// `POST /api/metric-aggregates` (a read).
    pub async fn metric_aggregate(
        &self,
        q: &AggregateQuery,
    ) -> Result<AggregateSeries, KlaviyoError> {
        check_id(&q.metric_id)?;
        let body = serde_json::to_vec(&q.body())
            .map_err(|e| KlaviyoError::Decode(format!("cannot encode the body: {e}")))?;
        let doc: AggregateDoc = self
            .send(&ReadRequest::Post(ReadPost::MetricAggregates, &body))
            .await?;
        AggregateSeries::from_doc(doc, &q.measurements)
    }

    /// `GET /api/flows` with each flow's steps (`include=flow-actions`),
    /// every page: the flows, and the flow-actions included beside them.
    pub async fn get_flows_with_actions(
        &self,
    ) -> Result<(Vec<Resource>, Vec<Resource>), KlaviyoError> {
        self.get_all_included("/api/flows", &[("include", "flow-actions")])
            .await
    }

    /// `GET /api/templates`, every page, with each template's HTML.
    pub async fn get_templates(&self) -> Result<Vec<Resource>, KlaviyoError> {
        self.get_all("/api/templates", &[("fields[template]", FIELDS_TEMPLATE)])
            .await
    }

    /// `GET /api/segments`, every page (the list does not give counts).
    pub async fn get_segments(&self) -> Result<Vec<Resource>, KlaviyoError> {
        self.get_all("/api/segments", &[("fields[segment]", FIELDS_SEGMENT)])
            .await
    }

    /// `GET /api/segments/{id}` with `additional-fields[segment]=profile_count`.
    pub async fn get_segment_count(&self, id: &str) -> Result<Option<Resource>, KlaviyoError> {
        check_id(id)?;
        self.get_one(
            &format!("/api/segments/{id}"),
            &[
                ("additional-fields[segment]", "profile_count"),
                ("fields[segment]", "profile_count"),
            ],
        )
        .await
    }

    /// `GET /api/forms`, every page.
    pub async fn get_forms(&self) -> Result<Vec<Resource>, KlaviyoError> {
        self.get_all("/api/forms", &[("fields[form]", FIELDS_FORM)])
            .await
    }

    /// `GET /api/catalog-items`, every page, `updated` only (the spec sorts
    /// them by `created` alone, so the newest edit needs them all).
    pub async fn get_catalog_items(&self) -> Result<Vec<Resource>, KlaviyoError> {
        self.get_all(
            "/api/catalog-items",
            &[("fields[catalog-item]", FIELDS_CATALOG_ITEM)],
        )
        .await
    }

    /// The 100 newest profiles with their email consent (one page).
    pub async fn newest_profiles(&self) -> Result<Vec<Resource>, KlaviyoError> {
        self.get_page(
            "/api/profiles",
            &[
                ("page[size]", "100"),
                ("sort", "-created"),
                ("additional-fields[profile]", "subscriptions"),
                ("fields[profile]", FIELDS_PROFILE),
            ],
        )
        .await
        .map(|p| p.data)
    }

    /// The newest `n` (at most 1,000) events of a metric, with their properties (one page).
    pub async fn newest_events(
        &self,
        metric_id: &str,
        n: u32,
    ) -> Result<Vec<Resource>, KlaviyoError> {
        check_id(metric_id)?;
        let filter = format!("equals(metric_id,'{metric_id}')");
        let size = n.clamp(1, 1000).to_string();
        self.get_page(
            "/api/events",
            &[
                ("filter", &filter),
                ("sort", "-datetime"),
                ("page[size]", &size),
                ("fields[event]", FIELDS_ORDER_EVENT),
            ],
        )
        .await
        .map(|p| p.data)
    }

    /// Every event of a metric since `since`, with its profile included
    /// (`include=profile`, the profile's region only): the events and the profiles.
    pub async fn events_with_profiles_since(
        &self,
        metric_id: &str,
        since: chrono::DateTime<chrono::Utc>,
    ) -> Result<(Vec<Resource>, Vec<Resource>), KlaviyoError> {
        check_id(metric_id)?;
        let filter = format!(
            "and(equals(metric_id,'{metric_id}'),greater-or-equal(datetime,{}))",
            since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
        self.get_all_included(
            "/api/events",
            &[
                ("filter", &filter),
                ("include", "profile"),
                ("page[size]", "1000"),
                ("fields[profile]", FIELDS_TEXTED_PROFILE),
            ],
        )
        .await
    }

    /// A reporting endpoint (a read): `attributes` is the request's
    /// `data.attributes` (statistics, timeframe, grouping...).
    pub async fn report(
        &self,
        kind: ReportKind,
        attributes: Value,
    ) -> Result<Report, KlaviyoError> {
        let body =
            serde_json::json!({ "data": { "type": kind.type_name(), "attributes": attributes } });
        let body = serde_json::to_vec(&body)
            .map_err(|e| KlaviyoError::Decode(format!("cannot encode the body: {e}")))?;
        let doc: Value = self
            .send(&ReadRequest::Post(ReadPost::Report(kind), &body))
            .await?;
        Report::from_value(doc)
    }

    /// One GET of one page, links not followed.
    async fn get_page(&self, path: &str, query: &[(&str, &str)]) -> Result<Page, KlaviyoError> {
        let url = self.url_for(path, query)?;
        let doc: Value = self.send(&ReadRequest::Get(url)).await?;
        Page::from_value(doc)
    }

    /// One resource (`data` is an object).
    async fn get_one(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Option<Resource>, KlaviyoError> {
        Ok(self.get_page(path, query).await?.data.into_iter().next())
    }

    /// Generic paginated GET (follows links.next); `query` pairs are url-encoded.
    pub async fn get_all(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<Resource>, KlaviyoError> {
        self.get_all_included(path, query)
            .await
            .map(|(data, _)| data)
    }

    /// [`Self::get_all`], keeping each page's `included` resources too.
    pub async fn get_all_included(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<(Vec<Resource>, Vec<Resource>), KlaviyoError> {
        let mut url = self.url_for(path, query)?;
        if let Some(hint) = self.shared.config.page_size_hint {
            let max = PAGE_SIZE_MAX
                .iter()
                .find(|(p, _)| *p == path)
                .map(|(_, m)| *m);
            if let Some(max) = max
                && !query.iter().any(|(k, _)| *k == "page[size]")
            {
                url.query_pairs_mut()
                    .append_pair("page[size]", &hint.clamp(1, max).to_string());
            }
        }
        let mut out = Vec::new();
        let mut included = Vec::new();
        for _ in 0..MAX_PAGES {
            let doc: Value = self.send(&ReadRequest::Get(url)).await?;
            let page = Page::from_value(doc)?;
            out.extend(page.data);
            included.extend(page.included);
            match page.next {
                None => return Ok((out, included)),
                Some(next) => url = self.resolve_next(&next)?,
            }
        }
        Err(KlaviyoError::Decode(format!(
            "{path} still had a next page after {MAX_PAGES} pages; stopping to protect the rate budget"
        )))
    }

    /// Requests sent through this handle's budget (shared by all handles of the account).
    pub fn calls_made(&self) -> u64 {
        self.budget.calls()
    }

    /// 429s this account's budget has received.
    pub fn throttled(&self) -> u64 {
        self.budget.throttled()
    }

    /// Requests per operation made through this account's budget.
    pub fn usage(&self) -> Vec<Usage> {
        self.budget.usage()
    }

    /// An absolute URL for an API path plus url-encoded query pairs.
    fn url_for(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, KlaviyoError> {
        let clean = path.starts_with("/api/")
            && !path.contains(['?', '#', '\\'])
            && !path.contains("..")
            && !path.contains("//");
        if !clean {
            return Err(KlaviyoError::Refused(format!(
                "`{path}` is not a Klaviyo API path: pass a path like /api/flows and the query separately"
            )));
        }
        let mut url = self
            .shared
            .base
            .join(path)
            .map_err(|e| KlaviyoError::Config(format!("cannot build a URL for {path}: {e}")))?;
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (k, v) in query {
                pairs.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// Resolves `links.next`; a link to another origin is refused, since
    /// following it would hand the key to whoever forged it.
    fn resolve_next(&self, next: &str) -> Result<Url, KlaviyoError> {
        let base = &self.shared.base;
        let url = base
            .join(next)
            .map_err(|e| KlaviyoError::Decode(format!("`links.next` is not a URL: {e}")))?;
        if url.origin() != base.origin() {
            return Err(KlaviyoError::Refused(format!(
                "a pagination link points to {} instead of {}; it was not followed so the key stays with Klaviyo",
                url.origin().ascii_serialization(),
                base.origin().ascii_serialization()
            )));
        }
        if !url.path().starts_with("/api/") {
            return Err(KlaviyoError::Refused(format!(
                "a pagination link points outside the API ({}); it was not followed",
                url.path()
            )));
        }
        Ok(url)
    }

    /// Sends one read request with pacing and retries; the only place a
    /// request leaves this module.
    async fn send<T: DeserializeOwned>(&self, req: &ReadRequest<'_>) -> Result<T, KlaviyoError> {
        let method = req.method();
        let url = req.url(&self.shared.base)?;
        let path = url.path().to_owned();
        let mut attempt: u32 = 0;
        let mut renewals: u32 = 0;
        // Klaviyo authenticates before it counts a request against the
        // account's limits, so the retry after a 401 takes the place the 401
        // took instead of waiting for another: a wait could outlast the
        // renewed token itself.
        let mut renewed = false;
        loop {
            attempt += 1;
            // Held until the answer is back: the window counts from then.
            let ticket = if std::mem::take(&mut renewed) {
                self.budget.count_unpaced(method.as_str(), &path);
                None
            } else if self.shared.paced.load(Ordering::Relaxed) {
                Some(
                    self.budget
                        .acquire(method.as_str(), &path)
                        .await
                        .map_err(KlaviyoError::DailyCapSpent)?,
                )
            } else {
                self.budget.count_unpaced(method.as_str(), &path);
                None
            };
            let place = self.shared.in_flight.enter(self.urgent).await;
            let (credential, auth) = self.current();
            let outcome = self
                .attempt(req, &url, &path, attempt, ticket, (&credential, auth))
                .await;
            drop(place);
            let failure = match outcome {
                Ok(doc) => return Ok(doc),
                Err(f) => f,
            };
            if let (KlaviyoError::Unauthorized { .. }, Some(renew)) = (&failure.error, &self.renew)
                && renewals < MAX_RENEWALS
            {
                renewals += 1;
                if let Some(fresh) = renew.renew(&credential).await {
                    debug!(account = %self.account, path = %path, "retrying with a renewed credential");
                    *self.current.write().unwrap_or_else(|e| e.into_inner()) = Current::new(fresh);
                    renewed = true;
                    continue;
                }
            }
            if !failure.error.is_retryable() || attempt > self.shared.config.max_retries {
                return Err(failure.error);
            }
            let wait = match failure.retry_after {
                Some(after) => {
                    // Hold every request to this operation, not just ours:
                    // the other queued ones would be throttled too.
                    self.budget
                        .block(method.as_str(), &path, tokio::time::Instant::now() + after);
                    after
                }
                None => self.retry.backoff(attempt),
            };
            debug!(
                account = %self.account,
                %method,
                path = %path,
                attempt,
                wait_ms = wait.as_millis() as u64,
                error = %failure.error,
                "retrying Klaviyo request"
            );
            tokio::time::sleep(wait).await;
        }
    }

    async fn attempt<T: DeserializeOwned>(
        &self,
        req: &ReadRequest<'_>,
        url: &Url,
        path: &str,
        attempt: u32,
        ticket: Option<Ticket<'_>>,
        (credential, auth): (&Credential, Result<HeaderValue, KlaviyoError>),
    ) -> Result<T, Failure> {
        let method = &req.method();
        let plain = |error| Failure {
            error,
            retry_after: None,
        };
        let auth = auth.map_err(plain)?;
        let mut rb = self
            .shared
            .http
            .request(method.clone(), url.clone())
            .header("revision", &self.shared.config.revision)
            .header(ACCEPT, JSON_API)
            .header(AUTHORIZATION, auth);
        if let ReadRequest::Post(_, body) = req {
            rb = rb.header(CONTENT_TYPE, JSON_API).body(body.to_vec());
        }
        let sent = rb.send().await;
        // The request reached Klaviyo before its answer's head came back:
        // the window counts from now, not from when the body is read.
        drop(ticket);
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                let error = transport_error(e, credential);
                crate::ops::metrics::klaviyo_call(path, 0);
                debug!(account = %self.account, %method, path, attempt, %error, "Klaviyo request failed");
                return Err(plain(error));
            }
        };
        let status = resp.status();
        crate::ops::metrics::klaviyo_call(path, status.as_u16());
        debug!(account = %self.account, %method, path, status = status.as_u16(), attempt, "Klaviyo request");
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s).min(self.retry.retry_after_cap));
        let body = resp
            .bytes()
            .await
            .map_err(|e| plain(transport_error(e, credential)))?;
        if status.is_success() {
            // Decoded here, inside the retry loop: a body cut short is worth
            // asking for again, a wrong shape is not.
            return serde_json::from_slice(&body).map_err(|e| {
                plain(if e.is_eof() {
                    KlaviyoError::Truncated(format!(
                        "{method} {path} answered with a body cut short after {} bytes",
                        body.len()
                    ))
                } else {
                    KlaviyoError::Decode(format!("{method} {path} answered with {e}"))
                })
            });
        }
        let detail = redact(&error_detail(&body), credential.secret());
        let account = self.account.to_string();
        let error = match status {
            StatusCode::UNAUTHORIZED => KlaviyoError::Unauthorized { account, detail },
            StatusCode::FORBIDDEN => KlaviyoError::Forbidden { account, detail },
            StatusCode::TOO_MANY_REQUESTS => {
                let wait = retry_after.unwrap_or_else(|| self.retry.backoff(attempt));
                return Err(Failure {
                    error: KlaviyoError::RateLimited { retry_after: wait },
                    retry_after: Some(wait),
                });
            }
            s if s.is_server_error() => KlaviyoError::Server {
                status: s.as_u16(),
                detail,
            },
            s => KlaviyoError::BadRequest {
                status: s.as_u16(),
                detail,
            },
        };
        Err(plain(error))
    }
}

/// A transport failure as an error, with the credential scrubbed from it.
fn transport_error(e: reqwest::Error, credential: &Credential) -> KlaviyoError {
    if e.is_timeout() {
        KlaviyoError::Timeout
    } else {
        // Without the URL: it adds nothing the log line lacks.
        KlaviyoError::Transport(redact(&e.without_url().to_string(), credential.secret()))
    }
}

/// Klaviyo ids are short alphanumeric strings; anything else could change
/// the path or a filter, so it is refused rather than escaped.
fn check_id(id: &str) -> Result<(), KlaviyoError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(KlaviyoError::Refused(format!(
            "`{id}` is not a Klaviyo id (letters, digits, `-` and `_` only)"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::klaviyo::limits;

    fn client(base: &str) -> AccountClient {
        let cfg = KlaviyoConfig {
            base_url: base.into(),
            ..KlaviyoConfig::default()
        };
        KlaviyoClient::new(cfg)
            .unwrap()
            .account("acme", Credential::ApiKey(Secret::new("pk_test_123456")))
    }

    #[test]
    fn only_get_and_allow_listed_read_posts_exist() {
        let api = client("https://a.klaviyo.com");
        let get = ReadRequest::Get(api.url_for("/api/flows", &[]).unwrap());
        assert_eq!(get.method(), Method::GET);
        let body = b"{}";
        for op in ReadPost::ALL {
            let req = ReadRequest::Post(op, body);
            assert_eq!(req.method(), Method::POST);
            // Every allow-listed POST is a read: its spec scopes are all `:read`.
            let spec = limits::operation("POST", op.path()).unwrap();
            assert!(!spec.scopes.is_empty());
            assert!(spec.scopes.iter().all(|s| s.ends_with(":read")), "{spec:?}");
            let url = req.url(&api.shared.base).unwrap();
            assert_eq!(url.as_str(), format!("https://a.klaviyo.com{}", op.path()));
        }
    }

    #[test]
    fn api_paths_are_checked() {
        let api = client("https://a.klaviyo.com");
        let url = api
            .url_for(
                "/api/campaigns",
                &[("filter", "equals(messages.channel,'email')")],
            )
            .unwrap();
        assert_eq!(url.host_str(), Some("a.klaviyo.com"));
        assert_eq!(
            url.query_pairs().next().unwrap().1,
            "equals(messages.channel,'email')"
        );
        for bad in [
            "api/flows",
            "/oauth/token",
            "/api/../oauth",
            "/api/flows?x=1",
            "//evil.test/api",
        ] {
            assert!(
                matches!(api.url_for(bad, &[]), Err(KlaviyoError::Refused(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn next_links_must_stay_on_the_base_origin() {
        let api = client("https://a.klaviyo.com");
        assert!(
            api.resolve_next("https://a.klaviyo.com/api/flows?page%5Bcursor%5D=abc")
                .is_ok()
        );
        assert!(api.resolve_next("/api/flows?page%5Bcursor%5D=abc").is_ok());
        for forged in [
            "https://evil.test/api/flows",
            "http://a.klaviyo.com/api/flows",
            "https://a.klaviyo.com:8443/api/flows",
            "//evil.test/api/flows",
        ] {
            let err = api.resolve_next(forged).unwrap_err();
            assert!(matches!(err, KlaviyoError::Refused(_)), "{forged}");
        }
        assert!(matches!(
            api.resolve_next("https://a.klaviyo.com/oauth/token"),
            Err(KlaviyoError::Refused(_))
        ));
    }

    #[test]
    fn ids_are_validated() {
        assert!(check_id("UqT5zB").is_ok());
        assert!(check_id("").is_err());
        assert!(check_id("a/b").is_err());
        assert!(check_id("x')").is_err());
    }

    #[test]
    fn bad_config_and_keys_are_reported_without_the_key() {
        let cfg = KlaviyoConfig {
            base_url: "not a url".into(),
            ..KlaviyoConfig::default()
        };
        assert!(matches!(
            KlaviyoClient::new(cfg),
            Err(KlaviyoError::Config(_))
        ));
        let cfg = KlaviyoConfig {
            base_url: "ftp://a.klaviyo.com".into(),
            ..KlaviyoConfig::default()
        };
        assert!(matches!(
            KlaviyoClient::new(cfg),
            Err(KlaviyoError::Config(_))
        ));
        let err = Credential::ApiKey(Secret::new("pk_bad\nkey"))
            .header()
            .unwrap_err();
        assert!(!err.to_string().contains("pk_bad"));
        let ok = Credential::Bearer(Secret::new("tok_abc")).header().unwrap();
        assert!(ok.is_sensitive());
        assert_eq!(ok.to_str().unwrap(), "Bearer tok_abc");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy {
            backoff_base: Duration::from_millis(100),
            backoff_cap: Duration::from_millis(350),
            retry_after_cap: Duration::from_secs(60),
        };
        for _ in 0..20 {
            let first = p.backoff(1);
            assert!(first >= Duration::from_millis(50) && first <= Duration::from_millis(100));
            let third = p.backoff(3);
            assert!(third >= Duration::from_millis(175) && third <= Duration::from_millis(350));
            assert!(p.backoff(40) <= Duration::from_millis(350));
        }
    }

    #[test]
    fn handles_for_one_account_share_a_budget() {
        let c = KlaviyoClient::new(KlaviyoConfig::default()).unwrap();
        let a = c.account("acme", Credential::ApiKey(Secret::new("pk_1234567")));
        let b = c.account("acme", Credential::ApiKey(Secret::new("pk_1234567")));
        let other = c.account("globex", Credential::ApiKey(Secret::new("pk_7654321")));
        assert!(Arc::ptr_eq(&a.budget, &b.budget));
        assert!(!Arc::ptr_eq(&a.budget, &other.budget));
        assert!(!format!("{a:?}").contains("pk_1234567"));
    }
}
