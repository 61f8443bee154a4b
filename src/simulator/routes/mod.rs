//! The HTTP surface: Klaviyo's paths under `/api/` (one dispatcher, so
//! 404/405, revision, auth, scopes, request faults, rate limits and query
//! checks apply uniformly, in that order), the OAuth server's `/oauth/*` paths
//! (see the `oauth` module) and the simulator's own `/__sim/*` admin paths.
//!
//! [`super::SERVED_PATHS`] is the one list of routes: [`dispatch`] matches a
//! request against it and hands the path template to one handler per
//! operation. Resource families live in `flows`, `campaigns`, `content`,
//! `reports` and `aggregates` (metric aggregates, written as JSON text
//! directly); accounts, lists, metrics and events are here. Request faults
//! (bursts of 5xx, delays, expired tokens, broken bodies) are in
//! `request_faults`. The brands' web stores, which templates link to, are
//! served under `/__sites/` (the `sites` module).
//!
//! Query strings are checked against the spec's parameters (the `query`
//! module); sparse fieldsets and `include` are applied to every document.
//! Known simplifications: metric aggregates bucket days, weeks (from Monday)
//! and months in UTC whatever `timezone` says, do not support `by`, and report
//! `unique` equal to `count`; profiles sort by `created`/`id` only.
//!
//! Admin paths (plain JSON, no auth): `GET /__sim/brands`, `GET /__sim/faults`,
//! `POST /__sim/faults` with `{"brand","fault","at"?,"until"?}` (201, or 400 for
//! an unknown fault name, 404 for an unknown brand), `DELETE
//! /__sim/faults/{brand}/{fault}` (204, or 404 if nothing was open) and
//! `GET /__sim/clock`, and `GET /__sim/oauth/grants` (each brand's OAuth
//! grants: scopes, dates and counts, never token values).

mod aggregates;
mod campaigns;
mod content;
mod flows;
mod reports;
mod request_faults;
mod sites;

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Value, json};

use super::data::{Ev, EventSource, ListGrowth};
use super::faults::{Fault, FaultKind};
use super::hash::{base62, hash};
use super::jsonapi::{
    ApiError, Cond, Revision, check_revision, decode_cursor, encode_cursor, json_api_text, matches,
    parse_time, ts,
};
use super::oauth::BearerRefusal;
use super::portfolio::{Brand, FlowDef, FlowRole, ListDef, MetricDef, SimMetric, Trigger};
use super::query::{self as q, apply_fieldsets};
use super::{Inner, STORM_RETRY_AFTER_SECS};
use crate::klaviyo::limits;
use request_faults::RequestFaults;

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
        .route("/__sites/{host}", get(sites::home))
        .route("/__sites/{host}/", get(sites::home))
        .route("/__sites/{host}/{*path}", get(sites::page))
        .merge(super::oauth::router())
        .fallback(api)
        .with_state(inner)
}

/// The served operation a path names: its method, template and `{id}`.
fn route(path: &str) -> Option<(&'static str, &'static str, String)> {
    let segs: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    super::SERVED_PATHS.iter().find_map(|&(method, tpl)| {
        let t: Vec<&str> = tpl.split('/').collect();
        if t.len() != segs.len() {
            return None;
        }
        let mut id = String::new();
        for (a, b) in t.iter().zip(&segs) {
            if *a == "{id}" && !b.is_empty() {
                id = (*b).to_owned();
            } else if a != b {
                return None;
            }
        }
        Some((method, tpl, id))
    })
}

/// What a handler gets: the brand, the time, the checked query and where links point.
pub(super) struct Ctx<'a> {
    pub(super) brand: &'a Brand,
    pub(super) now: DateTime<Utc>,
    pub(super) faults: Vec<Fault>,
    pub(super) base: String,
    pub(super) path: String,
    pub(super) q: q::Query,
    pub(super) rev: Revision,
    /// Main-list growth counted so far (see [`ListGrowth`]).
    pub(super) growth: &'a ListGrowth,
}

impl Ctx<'_> {
    /// The request's own URL.
    pub(super) fn self_link(&self) -> String {
        self.link_with(None)
    }

    /// The request URL with `page[cursor]` replaced by `cursor` (or dropped).
    pub(super) fn link_with(&self, cursor: Option<&str>) -> String {
        let mut url = match reqwest::Url::parse(&format!("{}{}", self.base, self.path)) {
            Ok(u) => u,
            Err(_) => return format!("{}{}", self.base, self.path),
        };
        let pairs: Vec<&(String, String)> = self
            .q
            .raw
            .iter()
            .filter(|(k, _)| k != "page[cursor]")
            .collect();
        if !pairs.is_empty() || cursor.is_some() {
            let mut qp = url.query_pairs_mut();
            for (k, v) in pairs {
                qp.append_pair(k, v);
            }
            if let Some(c) = cursor {
                qp.append_pair("page[cursor]", c);
            }
        }
        url.to_string()
    }

    pub(super) fn link(&self, rest: &str) -> String {
        format!("{}/api/{}/", self.base, rest)
    }

    pub(super) fn rel(&self, kind: &str, id: &str, rel: &str) -> Value {
        json!({
            "links": {
                "self": self.link(&format!("{kind}/{id}/relationships/{rel}")),
                "related": self.link(&format!("{kind}/{id}/{rel}")),
            }
        })
    }

    /// A relationship with resource linkage: `data` is one `(type, id)`, or a
    /// list; `null` (nothing linked) leaves `data` out, as the spec has no null linkage.
    pub(super) fn rel_data(&self, kind: &str, id: &str, rel: &str, data: Value) -> Value {
        let mut r = self.rel(kind, id, rel);
        if !data.is_null() {
            r["data"] = data;
        }
        r
    }
}

/// A `{"type","id"}` resource identifier.
pub(super) fn ident(kind: &str, id: &str) -> Value {
    json!({ "type": kind, "id": id })
}

/// Every path the other routes do not take: answers it and counts the
/// answers under `/api/` in the request stats.
async fn api(State(inner): State<Arc<Inner>>, req: Request) -> Response {
    let counted = req.uri().path().starts_with("/api/");
    let r = answer(&inner, req).await;
    if counted {
        inner.stats.record(r.status().as_u16());
    }
    r
}

async fn answer(inner: &Arc<Inner>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_owned();
    let Some((method, tpl, id)) = route(&path) else {
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
    if parts.method.as_str() != method {
        let mut r = ApiError::method_not_allowed(parts.method.as_str(), method).into_response();
        if let Ok(v) = method.parse() {
            r.headers_mut().insert(header::ALLOW, v);
        }
        return r;
    }
    let headers = &parts.headers;
    let rev = match check_revision(headers.get("revision").and_then(|v| v.to_str().ok())) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let now = inner.now();
    let auth = match authenticate(inner, headers, now) {
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
    let rf = RequestFaults::at(&faults, now);
    // Counted whatever the faults, so a burst's choice depends only on how
    // many requests the brand has sent.
    let n = inner.brand_requests[idx].fetch_add(1, Ordering::Relaxed);
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
        Scopes::OAuth(_) if auth.issued_at.is_some_and(|t| rf.token_expired(t)) => {
            return ApiError::unauthenticated(BearerRefusal::Expired.detail()).into_response();
        }
        _ => {}
    }
    if rf.slow {
        tokio::time::sleep(request_faults::SLOW_DELAY).await;
    }
    let op = limits::operation(method, &path);
    if let Some(op) = op
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
    if rf.timeout {
        tokio::time::sleep(request_faults::TIMEOUT_HANG).await;
        return ApiError::gateway_timeout().into_response();
    }
    if in_force(FaultKind::ServerErrors) {
        return ApiError::unavailable().into_response();
    }
    if rf.server_burst
        && let Some(status) = request_faults::burst_status(brand.seed, idx, n)
    {
        let key = (idx, format!("{method} {}", parts.uri));
        let mut failed = inner
            .burst_failures
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let times = failed.entry(key).or_default();
        if *times < request_faults::BURST_FAILS_PER_REQUEST {
            *times += 1;
            return ApiError::server_error(status).into_response();
        }
    }
    if in_force(FaultKind::ThrottleStorm) {
        return ApiError::throttled(STORM_RETRY_AFTER_SECS).into_response();
    }
    if inner.rate_limited()
        && let Some(op) = op
        && let Err(secs) = inner.limiter.check(idx, op, tokio::time::Instant::now())
    {
        tracing::debug!(brand = %brand.slug, path = op.path, secs, "simulator throttled a request");
        return ApiError::throttled(secs).into_response();
    }
    let raw = match Query::<Vec<(String, String)>>::try_from_uri(&parts.uri) {
        Ok(Query(raw)) => raw,
        Err(e) => {
            return ApiError::bad_param("query", format!("Malformed query string: {e}."))
                .into_response();
        }
    };
    let Some(params) = q::params_for(method, tpl) else {
        return ApiError::not_found(format!("No API route at `{path}`.")).into_response();
    };
    let query = match q::check(params, raw) {
        Ok(query) => query,
        Err(e) => return e.into_response(),
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
        q: query,
        rev,
        growth: &inner.growth,
    };
    let body = if method == "POST" {
        match axum::body::to_bytes(body, MAX_BODY).await {
            Ok(bytes) => bytes,
            Err(_) => {
                return ApiError::bad_body(
                    "/data",
                    format!("Request body unreadable or over {MAX_BODY} bytes."),
                )
                .into_response();
            }
        }
    } else {
        Bytes::new()
    };
    let text = match dispatch(&ctx, tpl, &id, &body) {
        Ok(Doc::Tree(mut doc)) => {
            add_included(&ctx, &mut doc);
            apply_fieldsets(&mut doc, &ctx.q);
            if rf.malformed_page {
                request_faults::malform(&mut doc);
            }
            doc.to_string()
        }
        Ok(Doc::Text(text)) => text,
        Err(e) => return e.into_response(),
    };
    if rf.truncated_body {
        return request_faults::truncated(text);
    }
    json_api_text(StatusCode::OK, text)
}

/// A handler's answer.
enum Doc {
    /// A document whose `include=` and sparse fieldsets are still to apply.
    Tree(Value),
    /// The finished JSON text, written directly where a tree would cost too much.
    Text(String),
}

/// One handler per served operation, by path template.
fn dispatch(ctx: &Ctx, tpl: &str, id: &str, body: &Bytes) -> Result<Doc, ApiError> {
    if tpl == "/api/metric-aggregates" {
        return aggregates::metric_aggregates(ctx, body).map(Doc::Text);
    }
    dispatch_tree(ctx, tpl, id, body).map(Doc::Tree)
}

/// The handlers that build a document tree.
fn dispatch_tree(ctx: &Ctx, tpl: &str, id: &str, body: &Bytes) -> Result<Value, ApiError> {
    match tpl {
        "/api/accounts" => Ok(accounts(ctx)),
        "/api/accounts/{id}" => account(ctx, id),
        "/api/flows" => flows(ctx),
        "/api/flows/{id}" => flow(ctx, id),
        "/api/flows/{id}/flow-actions" => flows::flow_actions(ctx, id),
        "/api/flow-actions/{id}" => flows::flow_action(ctx, id),
        "/api/flow-actions/{id}/flow-messages" => flows::action_messages(ctx, id),
        "/api/flow-messages/{id}" => flows::flow_message(ctx, id),
        "/api/campaigns" => campaigns::campaigns(ctx),
        "/api/campaigns/{id}" => campaigns::campaign(ctx, id),
        "/api/campaigns/{id}/campaign-messages" => campaigns::campaign_messages(ctx, id),
        "/api/campaign-messages/{id}" => campaigns::campaign_message(ctx, id),
        "/api/lists" => lists(ctx),
        "/api/lists/{id}" => list(ctx, id),
        "/api/lists/{id}/flow-triggers" => list_flow_triggers(ctx, id),
        "/api/segments" => content::segments(ctx),
        "/api/segments/{id}" => content::segment(ctx, id),
        "/api/metrics" => metrics(ctx),
        "/api/metrics/{id}" => metric(ctx, id),
        "/api/metrics/{id}/flow-triggers" => metric_flow_triggers(ctx, id),
        "/api/events" => events(ctx),
        "/api/profiles" => content::profiles(ctx),
        "/api/templates" => content::templates(ctx),
        "/api/templates/{id}" => content::template(ctx, id),
        "/api/tags" => content::tags(ctx),
        "/api/forms" => content::forms(ctx),
        "/api/catalog-items" => content::catalog_items(ctx),
        "/api/webhooks" => content::webhooks(ctx),
        "/api/flow-values-reports" => reports::flow_values(ctx, body),
        "/api/campaign-values-reports" => reports::campaign_values(ctx, body),
        "/api/form-values-reports" => reports::form_values(ctx, body),
        "/api/flow-series-reports" => reports::flow_series(ctx, body),
        "/api/form-series-reports" => reports::form_series(ctx, body),
        other => Err(ApiError::not_found(format!(
            "`{other}` is listed as served but has no handler."
        ))),
    }
}

/// Resolves `(type, id)` to a full resource of this brand, for `included`.
fn resolve(ctx: &Ctx, kind: &str, id: &str) -> Option<Value> {
    let b = ctx.brand;
    match kind {
        "flow" => b
            .flows
            .iter()
            .find(|f| f.id == id)
            .map(|f| flow_res(ctx, f)),
        "flow-action" | "flow-message" => flows::resolve(ctx, kind, id),
        "template" | "tag" | "tag-group" | "segment" | "catalog-variant" | "webhook-topic"
        | "profile" => content::resolve(ctx, kind, id),
        "campaign" | "campaign-message" => campaigns::resolve(ctx, kind, id),
        "metric" => b.metric_by_id(id).map(|m| metric_res(ctx, m)),
        _ => None,
    }
}

/// Fills `included` with the resources `include=` names, from the linkage
/// in each primary resource's relationships.
fn add_included(ctx: &Ctx, doc: &mut Value) {
    if ctx.q.include.is_empty() {
        return;
    }
    let primary: &[Value] = match &doc["data"] {
        Value::Array(items) => items,
        item @ Value::Object(_) => std::slice::from_ref(item),
        _ => return,
    };
    let mut seen: HashSet<(&str, &str)> = HashSet::new();
    let mut included = Vec::new();
    for rel in &ctx.q.include {
        for r in primary {
            let linkage = match &r["relationships"][rel.as_str()]["data"] {
                Value::Array(v) => v.as_slice(),
                one @ Value::Object(_) => std::slice::from_ref(one),
                _ => &[],
            };
            for l in linkage {
                let (Some(t), Some(i)) = (l["type"].as_str(), l["id"].as_str()) else {
                    continue;
                };
                if seen.insert((t, i))
                    && let Some(res) = resolve(ctx, t, i)
                {
                    included.push(res);
                }
            }
        }
    }
    doc["included"] = Value::Array(included);
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
    /// When an OAuth access token was issued (`None` for a private key).
    issued_at: Option<DateTime<Utc>>,
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
            Ok(g) => Ok(Auth {
                brand: g.brand,
                scopes: Scopes::OAuth(g.scopes),
                issued_at: Some(g.issued_at),
            }),
            Err(why) => Err(ApiError::unauthenticated(why.detail())),
        };
    }
    match inner.by_key.get(token) {
        Some(&brand) if scheme.eq_ignore_ascii_case("Klaviyo-API-Key") => Ok(Auth {
            brand,
            scopes: Scopes::PrivateKey,
            issued_at: None,
        }),
        _ => Err(ApiError::unauthenticated(
            "Incorrect authentication credentials: check the account's private API key (it starts with `pk_`) or reconnect it.",
        )),
    }
}

// ---------- collections ----------

/// The attribute a filter or sort names: `id`, or a dotted attribute path.
pub(super) fn lookup(item: &Value, field: &str) -> Value {
    if field == "id" {
        return item["id"].clone();
    }
    field
        .split('.')
        .fold(&item["attributes"], |v, part| &v[part])
        .clone()
}

/// Keeps the items every condition holds for; `get` reads the field a condition names.
pub(super) fn filter_items(
    mut items: Vec<Value>,
    conds: &[Cond],
    get: impl Fn(&Value, &str) -> Value,
) -> Result<Vec<Value>, ApiError> {
    for c in conds {
        let mut err = None;
        items.retain(|it| match matches(&get(it, &c.field), &c.op, &c.value) {
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
    Ok(items)
}

/// Filters (on attributes), sorts and pages `items` (already-built resources).
pub(super) fn collection(ctx: &Ctx, items: Vec<Value>, conds: &[Cond]) -> Result<Value, ApiError> {
    collection_by(ctx, items, conds, lookup)
}

/// [`collection`], reading filter and sort fields with `get`.
pub(super) fn collection_by(
    ctx: &Ctx,
    items: Vec<Value>,
    conds: &[Cond],
    get: impl Fn(&Value, &str) -> Value,
) -> Result<Value, ApiError> {
    let mut items = filter_items(items, conds, &get)?;
    if let Some((key, desc)) = &ctx.q.sort {
        items.sort_by(|a, b| {
            let o = get(a, key).to_string().cmp(&get(b, key).to_string());
            if *desc { o.reverse() } else { o }
        });
    }
    let size = ctx.q.page_size;
    let offset = match &ctx.q.cursor {
        None => 0,
        Some(c) => decode_cursor(c)
            .and_then(|s| s.strip_prefix("o:").and_then(|n| n.parse::<usize>().ok()))
            .ok_or_else(bad_cursor)?,
    };
    let total = items.len();
    let data: Vec<Value> = items.into_iter().skip(offset).take(size).collect();
    let mut links = json!({ "self": ctx.self_link() });
    if offset.saturating_add(size) < total {
        links["next"] = json!(ctx.link_with(Some(&encode_cursor(&format!("o:{}", offset + size)))));
    }
    if offset > 0 {
        let prev = offset.saturating_sub(size);
        links["prev"] = json!(ctx.link_with(Some(&encode_cursor(&format!("o:{prev}")))));
    }
    Ok(json!({ "data": data, "links": links }))
}

/// The 400 for a `page[cursor]` the simulator did not hand out.
pub(super) fn bad_cursor() -> ApiError {
    ApiError::bad_param(
        "page[cursor]",
        "Invalid page[cursor]: follow `links.next` as given.",
    )
}

pub(super) fn single(
    ctx: &Ctx,
    item: Option<Value>,
    what: &str,
    id: &str,
) -> Result<Value, ApiError> {
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
pub(super) fn flow_state(ctx: &Ctx, f: &FlowDef) -> (&'static str, DateTime<Utc>) {
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

pub(super) fn flow_res(ctx: &Ctx, f: &FlowDef) -> Value {
    let (status, updated) = flow_state(ctx, f);
    let ix = ctx
        .brand
        .flows
        .iter()
        .position(|x| x.id == f.id)
        .unwrap_or(usize::MAX);
    let actions: Vec<Value> = ctx
        .brand
        .flow_action_ids(ix)
        .iter()
        .map(|id| ident("flow-action", id))
        .collect();
    let tags: Vec<Value> = ctx
        .brand
        .flow_tags(ix)
        .iter()
        .map(|t| ident("tag", &t.id))
        .collect();
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
            "flow-actions": ctx.rel_data("flows", &f.id, "flow-actions", json!(actions)),
            "tags": ctx.rel_data("flows", &f.id, "tags", json!(tags)),
        },
        "links": { "self": ctx.link(&format!("flows/{}", f.id)) },
    })
}

fn flows(ctx: &Ctx) -> Result<Value, ApiError> {
    let items = ctx.brand.flows.iter().map(|f| flow_res(ctx, f)).collect();
    collection(ctx, items, &ctx.q.filter)
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
    collection(ctx, items, &[])
}

// ---------- lists ----------

fn list_res(ctx: &Ctx, l: &ListDef, with_count: bool) -> Value {
    let ix = ctx.brand.lists.iter().position(|x| x.id == l.id);
    let triggers: Vec<Value> = ctx
        .brand
        .flows
        .iter()
        .filter(|f| ix.is_some_and(|i| f.trigger == Trigger::List(i)))
        .map(|f| ident("flow", &f.id))
        .collect();
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
            "tags": ctx.rel_data("lists", &l.id, "tags", json!([])),
            "flow-triggers": ctx.rel_data("lists", &l.id, "flow-triggers", json!(triggers)),
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
pub(super) fn profile_count(ctx: &Ctx, l: &ListDef) -> u64 {
    if ctx.brand.lists.first().is_none_or(|m| m.id != l.id) {
        return l.base_profiles;
    }
    let src = EventSource::new(ctx.brand, &ctx.faults, ctx.now);
    let (subs, unsubs) = ctx.growth.net(&src);
    (l.base_profiles + subs).saturating_sub(unsubs)
}

fn wants_count(ctx: &Ctx) -> bool {
    ctx.q.wants("list", "profile_count")
}

fn lists(ctx: &Ctx) -> Result<Value, ApiError> {
    let with_count = wants_count(ctx);
    let items = ctx
        .brand
        .lists
        .iter()
        .map(|l| list_res(ctx, l, with_count))
        .collect();
    collection(ctx, items, &ctx.q.filter)
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

pub(super) fn metric_res(ctx: &Ctx, m: &MetricDef) -> Value {
    let triggers: Vec<Value> = ctx
        .brand
        .flows
        .iter()
        .filter(|f| f.trigger == Trigger::Metric(m.kind))
        .map(|f| ident("flow", &f.id))
        .collect();
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
        "relationships": {
            "flow-triggers": ctx.rel_data("metrics", &m.id, "flow-triggers", json!(triggers)),
        },
        "links": { "self": ctx.link(&format!("metrics/{}", m.id)) },
    })
}

fn metrics(ctx: &Ctx) -> Result<Value, ApiError> {
    // Metrics are not size-paged (query checks refuse page[size]): one page holds them all.
    let items = ctx
        .brand
        .metrics
        .iter()
        .map(|m| metric_res(ctx, m))
        .collect();
    collection(ctx, items, &ctx.q.filter)
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
    let profile_id = super::content::profile_id(b, e.profile);
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
    let size = ctx.q.page_size;
    let (mut lo, mut hi) = (i64::MIN, i64::MAX);
    let mut metric: Option<Option<SimMetric>> = None;
    for c in &ctx.q.filter {
        match c.field.as_str() {
            "metric_id" if c.op == "equals" => {
                metric = Some(ctx.brand.metric_by_id(&c.value.text()).map(|m| m.kind));
            }
            "datetime" | "timestamp" => bound(c, &mut lo, &mut hi)?,
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
    // The query checks allow only datetime and timestamp, which order alike.
    let desc = ctx.q.sort.as_ref().is_some_and(|(_, d)| *d);
    let after = match ctx.q.cursor.as_deref() {
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
    fn routes_match_templates_and_unknown_paths_do_not() {
        assert_eq!(
            route("/api/flows/"),
            Some(("GET", "/api/flows", String::new()))
        );
        assert_eq!(
            route("/api/flows/AbC123"),
            Some(("GET", "/api/flows/{id}", "AbC123".into()))
        );
        assert_eq!(
            route("/api/metrics/X/flow-triggers").map(|r| r.1),
            Some("/api/metrics/{id}/flow-triggers")
        );
        assert_eq!(
            route("/api/flows/X/flow-actions").map(|r| r.1),
            Some("/api/flows/{id}/flow-actions")
        );
        assert_eq!(route("/api/segments/X/profiles"), None);
        assert_eq!(route("/api/flows//flow-actions"), None);
        assert_eq!(route("/"), None);
        assert_eq!(route("/api/metric-aggregates").map(|r| r.0), Some("POST"));
    }

    #[test]
    fn every_served_path_is_routed_rate_limited_and_has_query_rules() {
        for (method, tpl) in super::super::SERVED_PATHS {
            let concrete = tpl.replace("{id}", "Abc123");
            let (m, t, _) = route(&concrete).expect(tpl);
            assert_eq!((m, t), (*method, *tpl));
            assert!(limits::operation(method, &concrete).is_some(), "{tpl}");
            assert!(q::params_for(method, tpl).is_some(), "{tpl}");
        }
        assert_eq!(super::super::SERVED_PATHS.len(), q::QUERY_PARAMS.len());
    }
}
