//! The HTTP surface: Klaviyo's read paths under `/api/` (one dispatcher, so
//! 404/405, revision, auth, scopes, request faults and rate limits apply
//! uniformly, in that order), the OAuth server's `/oauth/*` paths (see the
//! `oauth` module) and the simulator's own `/__sim/*` admin paths.
//!
//! Known simplifications: metric aggregates bucket days, weeks (from Monday)
//! and months in UTC whatever `timezone` says, do not support `by`, and report
//! `unique` equal to `count`; sparse fieldsets and `include` are ignored.
//!
//! Admin paths (plain JSON, no auth): `GET /__sim/brands`, `GET /__sim/faults`,
//! `POST /__sim/faults` with `{"brand","fault","at"?,"until"?}` (201, or 400 for
//! an unknown fault name, 404 for an unknown brand), `DELETE
//! /__sim/faults/{brand}/{fault}` (204, or 404 if nothing was open) and
//! `GET /__sim/clock`, and `GET /__sim/oauth/grants` (each brand's OAuth
//! grants: scopes, dates and counts, never token values).

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::data::{Ev, EventSource, Interval};
use super::faults::{Fault, FaultKind};
use super::hash::{base62, hash, str_hash};
use super::jsonapi::{
    ApiError, Cond, check_revision, decode_cursor, encode_cursor, json_api, matches, parse_filter,
    parse_time, ts,
};
use super::portfolio::{
    Brand, CampaignDef, FlowDef, FlowRole, ListDef, MetricDef, SimMetric, Trigger,
};
use super::{Inner, STORM_RETRY_AFTER_SECS};
use crate::klaviyo::limits;

/// Largest request body the simulator reads (metric-aggregate queries are small).
const MAX_BODY: usize = 64 * 1024;
/// Most buckets one metric-aggregate query may ask for.
const MAX_BUCKETS: usize = 24 * 400;

/// Builds the router over shared state.
pub(crate) fn router(inner: Arc<Inner>) -> Router {
    Router::new()
        .route("/__sim/brands", get(admin_brands))
        .route("/__sim/faults", get(admin_faults).post(admin_inject))
        .route("/__sim/faults/{brand}/{fault}", delete(admin_clear))
        .route("/__sim/clock", get(admin_clock))
        .merge(super::oauth::router())
        .fallback(api)
        .with_state(inner)
}

/// A Klaviyo route the simulator serves.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Route {
    Accounts,
    Account(String),
    Flows,
    Flow(String),
    Campaigns,
    Lists,
    List(String),
    ListFlowTriggers(String),
    Metrics,
    Metric(String),
    MetricFlowTriggers(String),
    Events,
    MetricAggregates,
}

impl Route {
    fn parse(path: &str) -> Option<Self> {
        let segs: Vec<&str> = path.trim_end_matches('/').split('/').skip(1).collect();
        let id = |s: &str| s.to_owned();
        Some(match segs.as_slice() {
            ["api", "accounts"] => Route::Accounts,
            ["api", "accounts", a] => Route::Account(id(a)),
            ["api", "flows"] => Route::Flows,
            ["api", "flows", a] => Route::Flow(id(a)),
            ["api", "campaigns"] => Route::Campaigns,
            ["api", "lists"] => Route::Lists,
            ["api", "lists", a] => Route::List(id(a)),
            ["api", "lists", a, "flow-triggers"] => Route::ListFlowTriggers(id(a)),
            ["api", "metrics"] => Route::Metrics,
            ["api", "metrics", a] => Route::Metric(id(a)),
            ["api", "metrics", a, "flow-triggers"] => Route::MetricFlowTriggers(id(a)),
            ["api", "events"] => Route::Events,
            ["api", "metric-aggregates"] => Route::MetricAggregates,
            _ => return None,
        })
    }

    fn method(&self) -> Method {
        if *self == Route::MetricAggregates {
            Method::POST
        } else {
            Method::GET
        }
    }
}

/// What a handler gets: the brand, the time, the query and where links point.
struct Ctx<'a> {
    brand: &'a Brand,
    now: DateTime<Utc>,
    faults: Vec<Fault>,
    base: String,
    path: String,
    query: Vec<(String, String)>,
}

impl Ctx<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The request's own URL.
    fn self_link(&self) -> String {
        self.link_with(None)
    }

    /// The request URL with `page[cursor]` replaced by `cursor` (or dropped).
    fn link_with(&self, cursor: Option<&str>) -> String {
        let mut url = match reqwest::Url::parse(&format!("{}{}", self.base, self.path)) {
            Ok(u) => u,
            Err(_) => return format!("{}{}", self.base, self.path),
        };
        let pairs: Vec<&(String, String)> = self
            .query
            .iter()
            .filter(|(k, _)| k != "page[cursor]")
            .collect();
        if !pairs.is_empty() || cursor.is_some() {
            let mut q = url.query_pairs_mut();
            for (k, v) in pairs {
                q.append_pair(k, v);
            }
            if let Some(c) = cursor {
                q.append_pair("page[cursor]", c);
            }
        }
        url.to_string()
    }

    fn link(&self, rest: &str) -> String {
        format!("{}/api/{}/", self.base, rest)
    }

    fn rel(&self, kind: &str, id: &str, rel: &str) -> Value {
        json!({
            "links": {
                "self": self.link(&format!("{kind}/{id}/relationships/{rel}")),
                "related": self.link(&format!("{kind}/{id}/{rel}")),
            }
        })
    }
}

async fn api(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let Some(route) = Route::parse(&path) else {
        return ApiError::not_found(format!(
            "No API route at `{path}`: the simulator serves {}.",
            super::SERVED_PATHS
                .iter()
                .map(|(m, p)| format!("{m} {p}"))
                .collect::<Vec<_>>()
                .join(", ")
        ))
        .into_response();
    };
    if parts.method != route.method() {
        let mut r = ApiError::method_not_allowed(parts.method.as_str()).into_response();
        if let Ok(v) = route.method().as_str().parse() {
            r.headers_mut().insert(header::ALLOW, v);
        }
        return r;
    }
    let headers = &parts.headers;
    if let Err(e) = check_revision(headers.get("revision").and_then(|v| v.to_str().ok())) {
        return e.into_response();
    }
    let now = inner.now();
    let auth = match authenticate(&inner, headers, now) {
        Ok(a) => a,
        Err(e) => return e.into_response(),
    };
    let idx = auth.brand;
    let brand = &inner.brands[idx];
    let faults: Vec<Fault> = inner
        .faults()
        .iter()
        .filter(|f| f.brand == brand.slug)
        .cloned()
        .collect();
    let in_force = |k: FaultKind| faults.iter().any(|f| f.kind == k && f.covers(now));
    match &auth.scopes {
        Scopes::PrivateKey if in_force(FaultKind::TokenRevoked) => {
            return ApiError::unauthenticated(
                "This API key was revoked: reconnect the account with a new key or OAuth grant.",
            )
            .into_response();
        }
        Scopes::OAuth(_) if in_force(FaultKind::GrantRevoked) => {
            return ApiError::unauthenticated(
                "The access token was revoked (the OAuth grant was revoked): reconnect the account over OAuth.",
            )
            .into_response();
        }
        _ => {}
    }
    if let Some(op) = limits::operation(parts.method.as_str(), &path)
        && let Some(missing) = op.scopes.iter().find(|s| !auth.scopes.has(s))
    {
        return ApiError::permission_denied(format!(
            "This access token lacks the `{missing}` scope that {} {} needs (it needs {}): reconnect the account asking for it.",
            op.method,
            op.path,
            op.scopes.join(", ")
        ))
        .into_response();
    }
    if in_force(FaultKind::ServerErrors) {
        return ApiError::unavailable().into_response();
    }
    if in_force(FaultKind::ThrottleStorm) {
        return ApiError::throttled(STORM_RETRY_AFTER_SECS).into_response();
    }
    if inner.rate_limited()
        && let Some(op) = limits::operation(parts.method.as_str(), &path)
        && let Err(secs) = inner.limiter.check(idx, op, tokio::time::Instant::now())
    {
        tracing::debug!(brand = %brand.slug, path = op.path, secs, "simulator throttled a request");
        return ApiError::throttled(secs).into_response();
    }
    let query = match Query::<Vec<(String, String)>>::try_from_uri(&parts.uri) {
        Ok(Query(q)) => q,
        Err(e) => {
            return ApiError::bad_param("query", format!("Malformed query string: {e}."))
                .into_response();
        }
    };
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("localhost");
    let ctx = Ctx {
        brand,
        now,
        faults,
        base: format!("http://{host}"),
        path: path.clone(),
        query,
    };
    let result = match route {
        Route::Accounts => Ok(accounts(&ctx)),
        Route::Account(id) => account(&ctx, &id),
        Route::Flows => flows(&ctx),
        Route::Flow(id) => flow(&ctx, &id),
        Route::Campaigns => campaigns(&ctx),
        Route::Lists => lists(&ctx),
        Route::List(id) => list(&ctx, &id),
        Route::ListFlowTriggers(id) => list_flow_triggers(&ctx, &id),
        Route::Metrics => metrics(&ctx),
        Route::Metric(id) => metric(&ctx, &id),
        Route::MetricFlowTriggers(id) => metric_flow_triggers(&ctx, &id),
        Route::Events => events(&ctx),
        Route::MetricAggregates => match axum::body::to_bytes(body, MAX_BODY).await {
            Ok(bytes) => metric_aggregates(&ctx, &bytes),
            Err(_) => Err(ApiError::bad_body(
                "/data",
                format!("Request body unreadable or over {MAX_BODY} bytes."),
            )),
        },
    };
    match result {
        Ok(v) => json_api(StatusCode::OK, &v),
        Err(e) => e.into_response(),
    }
}

/// What a request's credential grants.
enum Scopes {
    /// A private API key: here, every read scope.
    PrivateKey,
    /// An OAuth access token: the scopes granted.
    OAuth(Vec<String>),
}

impl Scopes {
    fn has(&self, scope: &str) -> bool {
        match self {
            Scopes::PrivateKey => scope.ends_with(":read"),
            Scopes::OAuth(granted) => granted.iter().any(|g| g == scope),
        }
    }
}

/// The brand a request acts for, and what its credential may do.
struct Auth {
    brand: usize,
    scopes: Scopes,
}

fn authenticate(inner: &Inner, headers: &HeaderMap, now: DateTime<Utc>) -> Result<Auth, ApiError> {
    let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return Err(ApiError::unauthenticated(
            "Missing Authorization header: send `Authorization: Klaviyo-API-Key pk_...` or `Authorization: Bearer <token>`.",
        ));
    };
    let (scheme, token) = auth.trim().split_once(' ').unwrap_or((auth, ""));
    let token = token.trim();
    if scheme.eq_ignore_ascii_case("Bearer") {
        if token.starts_with("pk_") {
            return Err(ApiError::unauthenticated(
                "Bearer takes an OAuth access token: send a private API key as `Authorization: Klaviyo-API-Key pk_...`.",
            ));
        }
        return match inner.oauth.resolve_access(token, now) {
            Ok((brand, scopes)) => Ok(Auth {
                brand,
                scopes: Scopes::OAuth(scopes),
            }),
            Err(why) => Err(ApiError::unauthenticated(why.detail())),
        };
    }
    match inner.by_key.get(token) {
        Some(&brand) if scheme.eq_ignore_ascii_case("Klaviyo-API-Key") => Ok(Auth {
            brand,
            scopes: Scopes::PrivateKey,
        }),
        _ => Err(ApiError::unauthenticated(
            "Incorrect authentication credentials: check the account's private API key (it starts with `pk_`) or reconnect it.",
        )),
    }
}

// ---------- collections ----------

/// How an endpoint pages, filters and sorts.
struct Spec {
    default_size: usize,
    max_size: usize,
    filters: &'static [&'static str],
    sorts: &'static [&'static str],
}

fn page_size(ctx: &Ctx, spec: &Spec) -> Result<usize, ApiError> {
    match ctx.param("page[size]") {
        None => Ok(spec.default_size),
        Some(s) => match s.trim().parse::<usize>() {
            Ok(n) if n >= 1 && n <= spec.max_size => Ok(n),
            Ok(n) if n > spec.max_size => Err(ApiError::bad_param(
                "page[size]",
                format!(
                    "page[size] {n} is over the maximum of {}: ask for {} or fewer.",
                    spec.max_size, spec.max_size
                ),
            )),
            _ => Err(ApiError::bad_param(
                "page[size]",
                format!(
                    "page[size] must be a whole number from 1 to {}.",
                    spec.max_size
                ),
            )),
        },
    }
}

fn filters(ctx: &Ctx) -> Result<Vec<Cond>, ApiError> {
    match ctx.param("filter") {
        None => Ok(Vec::new()),
        Some(f) => parse_filter(f)
            .map_err(|e| ApiError::bad_param("filter", format!("Invalid filter `{f}`: {e}."))),
    }
}

fn lookup<'v>(item: &'v Value, field: &str) -> &'v Value {
    if field == "id" {
        return &item["id"];
    }
    field
        .split('.')
        .fold(&item["attributes"], |v, part| &v[part])
}

/// Filters, sorts and pages `items` (already-built resources).
fn collection(
    ctx: &Ctx,
    spec: &Spec,
    mut items: Vec<Value>,
    conds: &[Cond],
) -> Result<Value, ApiError> {
    for c in conds {
        if !spec.filters.contains(&c.field.as_str()) {
            return Err(ApiError::bad_param(
                "filter",
                format!(
                    "Filtering on `{}` is not supported here; allowed fields: {}.",
                    c.field,
                    spec.filters.join(", ")
                ),
            ));
        }
        let mut err = None;
        items.retain(|it| match matches(lookup(it, &c.field), &c.op, &c.value) {
            Some(b) => b,
            None => {
                err = Some(ApiError::bad_param(
                    "filter",
                    format!(
                        "Operator `{}` cannot be used on `{}` with `{}`.",
                        c.op,
                        c.field,
                        c.value.text()
                    ),
                ));
                false
            }
        });
        if let Some(e) = err {
            return Err(e);
        }
    }
    if let Some(s) = ctx.param("sort") {
        let (desc, key) = s.strip_prefix('-').map_or((false, s), |k| (true, k));
        if !spec.sorts.contains(&key) {
            return Err(ApiError::bad_param(
                "sort",
                format!(
                    "Cannot sort by `{s}`; use one of {} (prefix `-` for descending).",
                    spec.sorts.join(", ")
                ),
            ));
        }
        items.sort_by(|a, b| {
            let o = lookup(a, key).to_string().cmp(&lookup(b, key).to_string());
            if desc { o.reverse() } else { o }
        });
    }
    let size = page_size(ctx, spec)?;
    let offset = match ctx.param("page[cursor]") {
        None => 0,
        Some(c) => decode_cursor(c)
            .and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse::<usize>().ok()))
            .ok_or_else(|| {
                ApiError::bad_param(
                    "page[cursor]",
                    "Invalid page[cursor]: follow `links.next` as given.",
                )
            })?,
    };
    let total = items.len();
    let data: Vec<Value> = items.into_iter().skip(offset).take(size).collect();
    let mut links = json!({ "self": ctx.self_link() });
    if offset + size < total {
        links["next"] = json!(ctx.link_with(Some(&encode_cursor(&format!("o:{}", offset + size)))));
    }
    if offset > 0 {
        let prev = offset.saturating_sub(size);
        links["prev"] = json!(ctx.link_with(Some(&encode_cursor(&format!("o:{prev}")))));
    }
    Ok(json!({ "data": data, "links": links }))
}

fn single(ctx: &Ctx, item: Option<Value>, what: &str, id: &str) -> Result<Value, ApiError> {
    item.map(|d| json!({ "data": d, "links": { "self": ctx.self_link() } }))
        .ok_or_else(|| ApiError::not_found(format!("No {what} with id `{id}` in this account.")))
}

// ---------- accounts ----------

fn account_res(ctx: &Ctx) -> Value {
    let b = ctx.brand;
    let a = &b.address;
    json!({
        "type": "account",
        "id": b.account_id,
        "attributes": {
            "test_account": false,
            "contact_information": {
                "default_sender_name": b.name,
                "default_sender_email": format!("hello@{}.example.com", b.slug),
                "website_url": format!("https://{}.example.com", b.slug),
                "organization_name": b.name,
                "street_address": {
                    "address1": a.address1,
                    "address2": "",
                    "city": a.city,
                    "region": a.region,
                    "country": a.country,
                    "zip": a.zip,
                },
            },
            "industry": b.industry,
            "timezone": b.account_timezone,
            "preferred_currency": b.account_currency,
            "public_api_key": b.account_id,
            "locale": "en-US",
        },
        "links": { "self": ctx.link(&format!("accounts/{}", b.account_id)) },
    })
}

fn accounts(ctx: &Ctx) -> Value {
    json!({ "data": [account_res(ctx)], "links": { "self": ctx.self_link() } })
}

fn account(ctx: &Ctx, id: &str) -> Result<Value, ApiError> {
    single(
        ctx,
        (id == ctx.brand.account_id).then(|| account_res(ctx)),
        "account",
        id,
    )
}

// ---------- flows ----------

/// The status and `updated` a flow reports now, faults included.
fn flow_state(ctx: &Ctx, f: &FlowDef) -> (&'static str, DateTime<Utc>) {
    if f.role != FlowRole::AbandonedCheckout {
        return (f.status, f.updated);
    }
    let mut state = (f.status, f.updated);
    let relevant = ctx.faults.iter().filter(|x| {
        matches!(x.kind, FaultKind::FlowDraft | FaultKind::FlowManual) && x.at <= ctx.now
    });
    // Apply in time order: the latest change wins, like edits in the app.
    let mut events: Vec<(DateTime<Utc>, &'static str)> = Vec::new();
    for x in relevant {
        let status = if x.kind == FaultKind::FlowDraft {
            "draft"
        } else {
            "manual"
        };
        events.push((x.at, status));
        if let Some(u) = x.until.filter(|u| *u <= ctx.now) {
            events.push((u, f.status));
        }
    }
    events.sort_by_key(|e| e.0);
    for (t, s) in events {
        state = (s, t.max(state.1));
    }
    state
}

fn flow_res(ctx: &Ctx, f: &FlowDef) -> Value {
    let (status, updated) = flow_state(ctx, f);
    json!({
        "type": "flow",
        "id": f.id,
        "attributes": {
            "name": f.name,
            "status": status,
            "archived": f.archived,
            "created": ts(f.created),
            "updated": ts(updated),
            "trigger_type": f.trigger_type,
        },
        "relationships": {
            "flow-actions": ctx.rel("flows", &f.id, "flow-actions"),
            "tags": ctx.rel("flows", &f.id, "tags"),
        },
        "links": { "self": ctx.link(&format!("flows/{}", f.id)) },
    })
}

const FLOW_SPEC: Spec = Spec {
    default_size: 50,
    max_size: 50,
    filters: &[
        "id",
        "name",
        "status",
        "archived",
        "created",
        "updated",
        "trigger_type",
    ],
    sorts: &["created", "id", "name", "status", "trigger_type", "updated"],
};

fn flows(ctx: &Ctx) -> Result<Value, ApiError> {
    let items = ctx.brand.flows.iter().map(|f| flow_res(ctx, f)).collect();
    collection(ctx, &FLOW_SPEC, items, &filters(ctx)?)
}

fn flow(ctx: &Ctx, id: &str) -> Result<Value, ApiError> {
    let f = ctx.brand.flows.iter().find(|f| f.id == id);
    single(ctx, f.map(|f| flow_res(ctx, f)), "flow", id)
}

fn triggered_flows(ctx: &Ctx, pred: impl Fn(&Trigger) -> bool) -> Result<Value, ApiError> {
    let items = ctx
        .brand
        .flows
        .iter()
        .filter(|f| pred(&f.trigger))
        .map(|f| flow_res(ctx, f))
        .collect();
    collection(ctx, &FLOW_SPEC, items, &[])
}

// ---------- campaigns ----------

fn campaign_res(ctx: &Ctx, c: &CampaignDef) -> Value {
    let opt = |t: Option<DateTime<Utc>>| t.map_or(Value::Null, |t| json!(ts(t)));
    let message_id = base62(hash(&[str_hash(&c.id), 3]), 26);
    let tracking = if c.channel == "email" {
        json!({"add_tracking_params": false, "is_tracking_clicks": true, "is_tracking_opens": true})
    } else {
        json!({"add_tracking_params": false, "is_tracking_clicks": true})
    };
    json!({
        "type": "campaign",
        "id": c.id,
        "attributes": {
            "name": c.name,
            "status": c.status,
            "archived": false,
            "audiences": { "included": [c.audience], "excluded": [] },
            "send_options": { "use_smart_sending": true },
            "tracking_options": tracking,
            "send_strategy": {
                "method": "static",
                "datetime": opt(c.send_time),
                "options": { "is_local": false, "send_past_recipients_immediately": null },
            },
            "created_at": ts(c.created_at),
            "scheduled_at": opt(c.scheduled_at),
            "updated_at": ts(c.updated_at),
            "send_time": opt(c.send_time),
        },
        "relationships": {
            "campaign-messages": {
                "data": [{ "type": "campaign-message", "id": message_id }],
                "links": ctx.rel("campaigns", &c.id, "campaign-messages")["links"],
            },
            "tags": ctx.rel("campaigns", &c.id, "tags"),
        },
        "links": { "self": ctx.link(&format!("campaigns/{}", c.id)) },
    })
}

fn campaigns(ctx: &Ctx) -> Result<Value, ApiError> {
    const SPEC: Spec = Spec {
        default_size: 100,
        max_size: 100,
        filters: &[
            "id",
            "name",
            "status",
            "archived",
            "created_at",
            "scheduled_at",
            "updated_at",
        ],
        sorts: &["created_at", "id", "name", "scheduled_at", "updated_at"],
    };
    let need = || {
        ApiError::bad_param(
            "filter",
            "A channel filter is required: add `filter=equals(messages.channel,'email')` (or 'sms', 'mobile_push').",
        )
    };
    let conds = filters(ctx)?;
    let (channel, rest): (Vec<Cond>, Vec<Cond>) = conds
        .into_iter()
        .partition(|c| c.field == "messages.channel");
    let channel = match channel.as_slice() {
        [c] if c.op == "equals" => c.value.text(),
        _ => return Err(need()),
    };
    if !["email", "sms", "mobile_push"].contains(&channel.as_str()) {
        return Err(ApiError::bad_param(
            "filter",
            format!("`{channel}` is not a channel: use 'email', 'sms' or 'mobile_push'."),
        ));
    }
    let items = ctx
        .brand
        .campaigns(&channel, ctx.now)
        .iter()
        .map(|c| campaign_res(ctx, c))
        .collect();
    collection(ctx, &SPEC, items, &rest)
}

// ---------- lists ----------

fn list_res(ctx: &Ctx, l: &ListDef, with_count: bool) -> Value {
    let mut v = json!({
        "type": "list",
        "id": l.id,
        "attributes": {
            "name": l.name,
            "created": ts(l.created),
            "updated": ts(l.updated),
            "opt_in_process": l.opt_in,
        },
        "relationships": {
            "profiles": ctx.rel("lists", &l.id, "profiles"),
            "tags": ctx.rel("lists", &l.id, "tags"),
            "flow-triggers": ctx.rel("lists", &l.id, "flow-triggers"),
        },
        "links": { "self": ctx.link(&format!("lists/{}", l.id)) },
    });
    if with_count {
        v["attributes"]["profile_count"] = json!(profile_count(ctx, l));
    }
    v
}

/// Profiles on a list now: the main list grows by subscriptions net of
/// unsubscribes over the simulated history; other lists stay put.
fn profile_count(ctx: &Ctx, l: &ListDef) -> u64 {
    if ctx.brand.lists.first().is_none_or(|m| m.id != l.id) {
        return l.base_profiles;
    }
    let src = EventSource::new(ctx.brand, &ctx.faults, ctx.now);
    let (a, z) = (src.start_secs(), src.now_secs() + 1);
    let subs = src.count(SimMetric::SubscribedToList, a, z);
    let unsubs = src.count(SimMetric::Unsubscribed, a, z);
    (l.base_profiles + subs).saturating_sub(unsubs)
}

fn wants_count(ctx: &Ctx) -> bool {
    ctx.param("additional-fields[list]")
        .is_some_and(|v| v.split(',').any(|f| f.trim() == "profile_count"))
}

fn lists(ctx: &Ctx) -> Result<Value, ApiError> {
    const SPEC: Spec = Spec {
        default_size: 10,
        max_size: 10,
        filters: &["id", "name", "created", "updated"],
        sorts: &["created", "id", "name", "updated"],
    };
    let with_count = wants_count(ctx);
    let items = ctx
        .brand
        .lists
        .iter()
        .map(|l| list_res(ctx, l, with_count))
        .collect();
    collection(ctx, &SPEC, items, &filters(ctx)?)
}

fn list(ctx: &Ctx, id: &str) -> Result<Value, ApiError> {
    let l = ctx.brand.lists.iter().find(|l| l.id == id);
    single(
        ctx,
        l.map(|l| list_res(ctx, l, wants_count(ctx))),
        "list",
        id,
    )
}

fn list_flow_triggers(ctx: &Ctx, id: &str) -> Result<Value, ApiError> {
    let Some(ix) = ctx.brand.lists.iter().position(|l| l.id == id) else {
        return Err(ApiError::not_found(format!(
            "No list with id `{id}` in this account."
        )));
    };
    triggered_flows(ctx, |t| *t == Trigger::List(ix))
}

// ---------- metrics ----------

fn metric_res(ctx: &Ctx, m: &MetricDef) -> Value {
    json!({
        "type": "metric",
        "id": m.id,
        "attributes": {
            "name": m.kind.name(),
            "created": ts(m.created),
            "updated": ts(m.created),
            "integration": {
                "object": "integration",
                "id": m.integration.id,
                "key": m.integration.key,
                "name": m.integration.name,
                "category": m.integration.category,
            },
        },
        "relationships": { "flow-triggers": ctx.rel("metrics", &m.id, "flow-triggers") },
        "links": { "self": ctx.link(&format!("metrics/{}", m.id)) },
    })
}

fn metrics(ctx: &Ctx) -> Result<Value, ApiError> {
    // Metrics are not size-paged: one page holds them all.
    const SPEC: Spec = Spec {
        default_size: 200,
        max_size: 200,
        filters: &["integration.name", "integration.category"],
        sorts: &[],
    };
    if ctx.param("page[size]").is_some() {
        return Err(ApiError::bad_param(
            "page[size]",
            "/api/metrics does not take page[size]; follow links.next.",
        ));
    }
    let items = ctx
        .brand
        .metrics
        .iter()
        .map(|m| metric_res(ctx, m))
        .collect();
    collection(ctx, &SPEC, items, &filters(ctx)?)
}

fn metric(ctx: &Ctx, id: &str) -> Result<Value, ApiError> {
    single(
        ctx,
        ctx.brand.metric_by_id(id).map(|m| metric_res(ctx, m)),
        "metric",
        id,
    )
}

fn metric_flow_triggers(ctx: &Ctx, id: &str) -> Result<Value, ApiError> {
    let Some(m) = ctx.brand.metric_by_id(id) else {
        return Err(ApiError::not_found(format!(
            "No metric with id `{id}` in this account."
        )));
    };
    let kind = m.kind;
    triggered_flows(ctx, |t| *t == Trigger::Metric(kind))
}

// ---------- events ----------

fn event_res(ctx: &Ctx, e: &Ev) -> Value {
    let b = ctx.brand;
    let id = base62(e.key, 11);
    let metric_id = &b.metric(e.metric).id;
    let profile_id = format!(
        "01K{}",
        base62(hash(&[b.seed, b.index as u64, e.profile]), 23)
    );
    let mut props = json!({ "$event_id": id });
    if let Some(v) = e.value {
        props["$value"] = json!(v);
        props["$currency_code"] = json!(b.account_currency);
        props["OrderId"] = json!(format!("#{}", 1000 + e.key % 900_000));
    }
    let dt = DateTime::<Utc>::from_timestamp(e.ts, 0).unwrap_or(ctx.now);
    let h = hash(&[e.key, 9]);
    json!({
        "type": "event",
        "id": id,
        "attributes": {
            "timestamp": e.ts,
            "event_properties": props,
            "datetime": ts(dt),
            "uuid": format!("{:08x}-{:04x}-11f0-{:04x}-{:012x}", h >> 32, (h >> 16) & 0xffff, 0x8000 | (e.key & 0x3fff), e.key >> 16),
        },
        "relationships": {
            "metric": {
                "data": { "type": "metric", "id": metric_id },
                "links": ctx.rel("events", &id, "metric")["links"],
            },
            "profile": {
                "data": { "type": "profile", "id": profile_id },
                "links": ctx.rel("events", &id, "profile")["links"],
            },
        },
        "links": { "self": ctx.link(&format!("events/{id}")) },
    })
}

/// Turns a datetime or timestamp bound into whole-second `[lo, hi)` limits.
fn bound(c: &Cond, lo: &mut i64, hi: &mut i64) -> Result<(), ApiError> {
    let text = c.value.text();
    let t = if c.field == "timestamp" {
        text.parse::<i64>()
            .ok()
            .and_then(|s| DateTime::<Utc>::from_timestamp(s, 0))
    } else {
        parse_time(&text)
    }
    .ok_or_else(|| {
        ApiError::bad_param(
            "filter",
            format!(
                "`{text}` is not a valid {}: use e.g. 2026-11-01T00:00:00Z.",
                c.field
            ),
        )
    })?;
    let floor = t.timestamp();
    let ceil = floor + i64::from(t.timestamp_subsec_nanos() > 0);
    match c.op.as_str() {
        "greater-than" => *lo = (*lo).max(floor + 1),
        "greater-or-equal" => *lo = (*lo).max(ceil),
        "less-than" => *hi = (*hi).min(ceil),
        "less-or-equal" => *hi = (*hi).min(floor + 1),
        op => {
            return Err(ApiError::bad_param(
                "filter",
                format!(
                    "Operator `{op}` cannot be used on `{}`; use greater-than, greater-or-equal, less-than or less-or-equal.",
                    c.field
                ),
            ));
        }
    }
    Ok(())
}

fn events(ctx: &Ctx) -> Result<Value, ApiError> {
    const SPEC: Spec = Spec {
        default_size: 200,
        max_size: 1000,
        filters: &["metric_id", "datetime", "timestamp"],
        sorts: &["datetime", "timestamp"],
    };
    let size = page_size(ctx, &SPEC)?;
    let (mut lo, mut hi) = (i64::MIN, i64::MAX);
    let mut metric: Option<Option<SimMetric>> = None;
    for c in filters(ctx)? {
        match c.field.as_str() {
            "metric_id" if c.op == "equals" => {
                metric = Some(ctx.brand.metric_by_id(&c.value.text()).map(|m| m.kind));
            }
            "datetime" | "timestamp" => bound(&c, &mut lo, &mut hi)?,
            f => {
                return Err(ApiError::bad_param(
                    "filter",
                    format!(
                        "Filter `{}({f},...)` is not supported by the simulator; use equals(metric_id,...) and datetime bounds.",
                        c.op
                    ),
                ));
            }
        }
    }
    let desc = match ctx.param("sort") {
        None | Some("datetime") | Some("timestamp") => false,
        Some("-datetime") | Some("-timestamp") => true,
        Some(s) => {
            return Err(ApiError::bad_param(
                "sort",
                format!(
                    "Cannot sort events by `{s}`; use datetime, -datetime, timestamp or -timestamp."
                ),
            ));
        }
    };
    let after = match ctx.param("page[cursor]") {
        None => None,
        Some(c) => Some(
            decode_cursor(c)
                .and_then(|s| {
                    let mut it = s.strip_prefix("ev:")?.split(':');
                    Some((
                        it.next()?.parse::<i64>().ok()?,
                        it.next()?.parse::<u64>().ok()?,
                    ))
                })
                .ok_or_else(|| {
                    ApiError::bad_param(
                        "page[cursor]",
                        "Invalid page[cursor]: follow `links.next` as given.",
                    )
                })?,
        ),
    };
    let metrics: Vec<SimMetric> = match metric {
        None => SimMetric::ALL.to_vec(),
        Some(Some(m)) => vec![m],
        // An id not in the account matches nothing, as in Klaviyo.
        Some(None) => Vec::new(),
    };
    let src = EventSource::new(ctx.brand, &ctx.faults, ctx.now);
    let (evs, more) = src.list(&metrics, lo, hi, desc, after, size);
    let mut links = json!({ "self": ctx.self_link() });
    if let (true, Some(last)) = (more, evs.last()) {
        links["next"] = json!(ctx.link_with(Some(&encode_cursor(&format!(
            "ev:{}:{}",
            last.ts, last.key
        )))));
    }
    let data: Vec<Value> = evs.iter().map(|e| event_res(ctx, e)).collect();
    Ok(json!({ "data": data, "links": links }))
}

// ---------- metric aggregates ----------

fn metric_aggregates(ctx: &Ctx, body: &Bytes) -> Result<Value, ApiError> {
    let doc: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_body("/data", format!("Request body is not valid JSON: {e}."))
    })?;
    if doc["data"]["type"] != "metric-aggregate" {
        return Err(ApiError::bad_body(
            "/data/type",
            "`data.type` must be \"metric-aggregate\".",
        ));
    }
    let attrs = &doc["data"]["attributes"];
    let metric_id = attrs["metric_id"].as_str().ok_or_else(|| {
        ApiError::bad_body("/data/attributes/metric_id", "`metric_id` is required.")
    })?;
    let metric = ctx.brand.metric_by_id(metric_id).ok_or_else(|| {
        ApiError::bad_body(
            "/data/attributes/metric_id",
            format!("Metric `{metric_id}` does not exist in this account: list metrics with GET /api/metrics."),
        )
    })?;
    let measurements: Vec<&str> = attrs["measurements"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if measurements.is_empty()
        || measurements
            .iter()
            .any(|m| !["count", "sum_value", "unique"].contains(m))
    {
        return Err(ApiError::bad_body(
            "/data/attributes/measurements",
            "`measurements` must list one or more of count, sum_value, unique.",
        ));
    }
    let interval = match &attrs["interval"] {
        Value::Null => Interval::Day,
        v => v.as_str().and_then(Interval::parse).ok_or_else(|| {
            ApiError::bad_body(
                "/data/attributes/interval",
                "`interval` must be hour, day, week or month.",
            )
        })?,
    };
    if attrs["by"].as_array().is_some_and(|a| !a.is_empty()) {
        return Err(ApiError::bad_body(
            "/data/attributes/by",
            "The simulator does not group metric aggregates: omit `by`.",
        ));
    }
    if !matches!(&attrs["timezone"], Value::Null | Value::String(_)) {
        return Err(ApiError::bad_body(
            "/data/attributes/timezone",
            "`timezone` must be a string such as \"UTC\".",
        ));
    }
    let need = || {
        ApiError::bad_body(
            "/data/attributes/filter",
            "`filter` must hold greater-or-equal(datetime,...) and less-than(datetime,...).",
        )
    };
    let (mut from, mut to) = (None, None);
    for f in attrs["filter"].as_array().ok_or_else(need)? {
        let text = f.as_str().ok_or_else(need)?;
        let conds = parse_filter(text).map_err(|e| {
            ApiError::bad_body(
                "/data/attributes/filter",
                format!("Invalid filter `{text}`: {e}."),
            )
        })?;
        for c in conds {
            let t = (c.field == "datetime")
                .then(|| parse_time(&c.value.text()))
                .flatten();
            match (c.op.as_str(), t) {
                ("greater-or-equal", Some(t)) => from = Some(t),
                ("less-than", Some(t)) => to = Some(t),
                _ => {
                    return Err(ApiError::bad_body(
                        "/data/attributes/filter",
                        format!(
                            "Unsupported filter `{text}`: use greater-or-equal(datetime,...) and less-than(datetime,...)."
                        ),
                    ));
                }
            }
        }
    }
    let (Some(from), Some(to)) = (from, to) else {
        return Err(need());
    };
    if to <= from || to - from > Duration::days(366) {
        return Err(ApiError::bad_body(
            "/data/attributes/filter",
            "The datetime range must be non-empty and at most one year.",
        ));
    }
    if interval == Interval::Hour && (to - from).num_hours() as usize > MAX_BUCKETS {
        return Err(ApiError::bad_body(
            "/data/attributes/interval",
            format!(
                "Too many hourly buckets (max {MAX_BUCKETS}): use a shorter range or a wider interval."
            ),
        ));
    }
    let src = EventSource::new(ctx.brand, &ctx.faults, ctx.now);
    let agg = src.aggregate(
        metric.kind,
        from,
        to,
        interval,
        measurements.contains(&"sum_value"),
    );
    let mut values = serde_json::Map::new();
    for m in &measurements {
        let series: Vec<Value> = match *m {
            "sum_value" => agg.sums.iter().map(|v| json!(v)).collect(),
            _ => agg.counts.iter().map(|c| json!(*c as f64)).collect(),
        };
        values.insert((*m).to_owned(), Value::Array(series));
    }
    let id = base62(
        hash(&[
            str_hash(metric_id),
            from.timestamp() as u64,
            to.timestamp() as u64,
        ]),
        12,
    );
    let self_link = ctx.self_link();
    Ok(json!({
        "data": {
            "type": "metric-aggregate",
            "id": id,
            "attributes": {
                "dates": agg.dates.iter().map(|d| ts(*d)).collect::<Vec<_>>(),
                "data": [{ "dimensions": [], "measurements": values }],
            },
            "links": { "self": self_link },
        },
        "links": { "self": self_link },
    }))
}

// ---------- admin ----------

fn admin_error(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, axum::Json(json!({ "error": msg.into() }))).into_response()
}

async fn admin_brands(State(inner): State<Arc<Inner>>) -> Response {
    let list: Vec<Value> = inner
        .brands
        .iter()
        .map(|b| {
            json!({
                "slug": b.slug,
                "name": b.name,
                "account_id": b.account_id,
                "api_key": b.api_key.expose(),
                "currency": b.currency,
                "timezone": b.timezone,
            })
        })
        .collect();
    axum::Json(list).into_response()
}

async fn admin_faults(State(inner): State<Arc<Inner>>) -> Response {
    axum::Json(inner.active_faults()).into_response()
}

#[derive(Deserialize)]
struct InjectBody {
    brand: String,
    fault: String,
    at: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

async fn admin_inject(State(inner): State<Arc<Inner>>, body: Bytes) -> Response {
    let req: InjectBody = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return admin_error(
                StatusCode::BAD_REQUEST,
                format!("Body must be JSON {{\"brand\",\"fault\",\"at\"?,\"until\"?}}: {e}"),
            );
        }
    };
    let kind: FaultKind = match req.fault.parse() {
        Ok(k) => k,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, e.to_string()),
    };
    let fault = Fault {
        brand: req.brand,
        kind,
        at: req.at.unwrap_or_else(|| inner.now()),
        until: req.until,
    };
    match inner.try_inject(fault.clone()) {
        Ok(()) => (StatusCode::CREATED, axum::Json(fault)).into_response(),
        Err(e @ super::SimError::UnknownBrand(_)) => {
            admin_error(StatusCode::NOT_FOUND, e.to_string())
        }
        Err(e) => admin_error(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

async fn admin_clear(
    State(inner): State<Arc<Inner>>,
    Path((brand, fault)): Path<(String, String)>,
) -> Response {
    let kind: FaultKind = match fault.parse() {
        Ok(k) => k,
        Err(e) => return admin_error(StatusCode::BAD_REQUEST, format!("{e}")),
    };
    if inner.clear(&brand, kind) {
        StatusCode::NO_CONTENT.into_response()
    } else {
        admin_error(
            StatusCode::NOT_FOUND,
            format!("No open `{kind}` fault on `{brand}`: see GET /__sim/faults."),
        )
    }
}

async fn admin_clock(State(inner): State<Arc<Inner>>) -> Response {
    axum::Json(json!({ "now": ts(inner.now()) })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_and_unknown_paths_do_not() {
        assert_eq!(Route::parse("/api/flows/"), Some(Route::Flows));
        assert_eq!(
            Route::parse("/api/flows/AbC123"),
            Some(Route::Flow("AbC123".into()))
        );
        assert_eq!(
            Route::parse("/api/metrics/X/flow-triggers"),
            Some(Route::MetricFlowTriggers("X".into()))
        );
        assert_eq!(Route::parse("/api/segments"), None);
        assert_eq!(Route::parse("/api/flows/X/flow-actions"), None);
        assert_eq!(Route::parse("/"), None);
        assert_eq!(Route::MetricAggregates.method(), Method::POST);
    }

    #[test]
    fn every_served_path_is_routed_and_rate_limited() {
        for (method, tpl) in super::super::SERVED_PATHS {
            let concrete = tpl.replace("{id}", "Abc123");
            let route = Route::parse(&concrete).expect(tpl);
            assert_eq!(route.method().as_str(), *method);
            assert!(limits::operation(method, &concrete).is_some(), "{tpl}");
        }
    }
}
