//! The Klaviyo client and snapshot builder against a small fake Klaviyo
//! (axum on 127.0.0.1:0) whose answers each test scripts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, TimeZone, Utc};
use lookout::config::Secret;
use lookout::domain::ClientSlug;
use lookout::klaviyo::budget::AccountBudget;
use lookout::klaviyo::{
    AccountClient, AggregateQuery, Credential, Interval, KlaviyoClient, KlaviyoConfig,
    KlaviyoError, RetryPolicy,
};
use lookout::scan::fetch::{ScanProgress, build_snapshot};
use lookout::scan::snapshot::{FlowStatus, KnownMetric, Part};
use serde_json::{Value, json};

const KEY: &str = "pk_live_0123456789abcdef";

/// One request as the fake saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    query: HashMap<String, String>,
    headers: HeaderMap,
    body: Value,
    /// How many earlier requests had the same method and path.
    nth: usize,
    at: std::time::Instant,
}

/// A scripted answer: status, headers, body text.
struct Reply(StatusCode, Vec<(&'static str, String)>, String);

impl Reply {
    fn json(v: Value) -> Self {
        Reply(StatusCode::OK, vec![], v.to_string())
    }
    fn error(status: StatusCode, code: &str, detail: &str) -> Self {
        let body = json!({"errors": [{"id": "e1", "status": status.as_u16(), "code": code,
            "title": "Error", "detail": detail}]});
        Reply(status, vec![], body.to_string())
    }
}

type Script = Arc<dyn Fn(&Seen, &str) -> Reply + Send + Sync>;

#[derive(Clone)]
struct Fake {
    seen: Arc<Mutex<Vec<Seen>>>,
    script: Script,
    base: String,
    delay: Option<Duration>,
}

async fn handle(
    State(fake): State<Fake>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query = uri
        .query()
        .map(|q| {
            url_pairs(q)
                .into_iter()
                .collect::<HashMap<String, String>>()
        })
        .unwrap_or_default();
    let seen = {
        let mut all = fake.seen.lock().unwrap();
        let nth = all
            .iter()
            .filter(|s| s.method == method.as_str() && s.path == uri.path())
            .count();
        let s = Seen {
            method: method.to_string(),
            path: uri.path().to_owned(),
            query,
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            nth,
            at: std::time::Instant::now(),
        };
        all.push(s.clone());
        s
    };
    if let Some(d) = fake.delay {
        tokio::time::sleep(d).await;
    }
    let Reply(status, hdrs, body) = (fake.script)(&seen, &fake.base);
    let mut resp = (status, body).into_response();
    resp.headers_mut()
        .insert("content-type", "application/vnd.api+json".parse().unwrap());
    for (k, v) in hdrs {
        resp.headers_mut().insert(k, v.parse().unwrap());
    }
    resp
}

/// Decodes `a=b&c=d` (percent-encoded, `+` as space) without another crate.
fn url_pairs(q: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{q}"))
        .unwrap()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

async fn spawn_fake_with(
    delay: Option<Duration>,
    script: impl Fn(&Seen, &str) -> Reply + Send + Sync + 'static,
) -> Fake {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let fake = Fake {
        seen: Arc::new(Mutex::new(Vec::new())),
        script: Arc::new(script),
        base,
        delay,
    };
    let app = Router::new().fallback(handle).with_state(fake.clone());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    fake
}

async fn spawn_fake(script: impl Fn(&Seen, &str) -> Reply + Send + Sync + 'static) -> Fake {
    spawn_fake_with(None, script).await
}

impl Fake {
    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn client_with(&self, max_retries: u32, timeout: Duration) -> AccountClient {
        let cfg = KlaviyoConfig {
            base_url: self.base.clone(),
            max_retries,
            timeout,
            ..KlaviyoConfig::default()
        };
        KlaviyoClient::new(cfg)
            .unwrap()
            .with_retry_policy(RetryPolicy {
                backoff_base: Duration::from_millis(10),
                backoff_cap: Duration::from_millis(50),
                retry_after_cap: Duration::from_secs(60),
            })
            .account("acme", Credential::ApiKey(Secret::new(KEY)))
    }

    fn client(&self) -> AccountClient {
        self.client_with(3, Duration::from_secs(10))
    }
}

fn flow(id: &str, status: &str, trigger: &str) -> Value {
    json!({"type": "flow", "id": id, "attributes": {
        "name": format!("Flow {id}"), "status": status, "archived": false, "trigger_type": trigger,
        "created": "2025-01-01T00:00:00+00:00", "updated": "2026-10-01T00:00:00+00:00"}})
}

#[tokio::test]
async fn every_request_carries_revision_accept_and_auth() {
    let fake = spawn_fake(|_, _| {
        Reply::json(json!({"data": [flow("F1", "live", "Metric")], "links": {"next": null}}))
    })
    .await;
    let flows = fake.client().get_flows().await.unwrap();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0].kind, "flow");
    assert_eq!(flows[0].attributes["status"], "live");

    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    let h = &seen[0].headers;
    assert_eq!(seen[0].method, "GET");
    assert_eq!(seen[0].path, "/api/flows");
    assert_eq!(h["revision"], "2026-07-15");
    assert_eq!(h["accept"], "application/vnd.api+json");
    assert_eq!(
        h["authorization"],
        format!("Klaviyo-API-Key {KEY}").as_str()
    );
    assert!(
        h.get("content-type").is_none(),
        "GET must not send a body type"
    );

    // OAuth tokens go as Bearer.
    let cfg = KlaviyoConfig {
        base_url: fake.base.clone(),
        ..KlaviyoConfig::default()
    };
    let bearer = KlaviyoClient::new(cfg)
        .unwrap()
        .account("acme", Credential::Bearer(Secret::new("oauth_token_xyz")));
    bearer.get_flows().await.unwrap();
    assert_eq!(
        fake.seen()[1].headers["authorization"],
        "Bearer oauth_token_xyz"
    );
}

#[tokio::test]
async fn the_key_never_appears_in_errors_even_when_echoed() {
    // A hostile or buggy server echoes the Authorization header back.
    let fake = spawn_fake(|s, _| {
        let auth = s.headers["authorization"].to_str().unwrap().to_owned();
        Reply::error(
            StatusCode::FORBIDDEN,
            "permission_denied",
            &format!("key {auth} lacks lists:read"),
        )
    })
    .await;
    let err = fake.client().get_lists().await.unwrap_err();
    assert!(matches!(err, KlaviyoError::Forbidden { .. }), "{err:?}");
    assert!(err.is_auth());
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(KEY), "{shown}");
    assert!(shown.contains("lacks lists:read"), "{shown}");
    assert_eq!(fake.seen().len(), 1, "403 is not retried");
}

#[tokio::test]
async fn pagination_follows_next_over_three_pages() {
    let fake = spawn_fake(|s, base| {
        let page: usize = s
            .query
            .get("page[cursor]")
            .map_or(1, |c| c.trim_start_matches('p').parse().unwrap());
        let next = if page < 3 {
            json!(format!("{base}/api/flows?page%5Bcursor%5D=p{}", page + 1))
        } else {
            Value::Null
        };
        Reply::json(json!({
            "data": [flow(&format!("F{page}a"), "live", "Metric"), flow(&format!("F{page}b"), "draft", "Metric")],
            "links": {"self": "x", "next": next}
        }))
    })
    .await;
    let api = fake.client();
    let flows = api.get_flows().await.unwrap();
    let ids: Vec<&str> = flows.iter().map(|f| f.id.as_str()).collect();
    assert_eq!(ids, ["F1a", "F1b", "F2a", "F2b", "F3a", "F3b"]);
    let seen = fake.seen();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        seen[2].query.get("page[cursor]").map(String::as_str),
        Some("p3")
    );
    // Every page carries the key and revision, not just the first.
    assert!(seen.iter().all(|s| s.headers["revision"] == "2026-07-15"));
    assert_eq!(api.calls_made(), 3);
}

#[tokio::test]
async fn page_size_hint_is_clamped_per_endpoint() {
    let fake = spawn_fake(|_, _| Reply::json(json!({"data": [], "links": {"next": null}}))).await;
    let cfg = KlaviyoConfig {
        base_url: fake.base.clone(),
        page_size_hint: Some(500),
        ..KlaviyoConfig::default()
    };
    let api = KlaviyoClient::new(cfg)
        .unwrap()
        .account("acme", Credential::ApiKey(Secret::new(KEY)));
    api.get_flows().await.unwrap();
    api.get_metrics().await.unwrap();
    let seen = fake.seen();
    assert_eq!(
        seen[0].query.get("page[size]").map(String::as_str),
        Some("50")
    );
    // Metrics are not size-paged: Klaviyo would reject page[size].
    assert!(!seen[1].query.contains_key("page[size]"));
}

#[tokio::test]
async fn a_forged_cross_origin_next_link_is_not_followed() {
    let evil = spawn_fake(|_, _| Reply::json(json!({"data": []}))).await;
    let evil_base = evil.base.clone();
    let fake = spawn_fake(move |_, _| {
        Reply::json(json!({"data": [flow("F1", "live", "Metric")],
            "links": {"next": format!("{evil_base}/api/flows?page%5Bcursor%5D=steal")}}))
    })
    .await;
    let err = fake.client().get_flows().await.unwrap_err();
    assert!(matches!(err, KlaviyoError::Refused(_)), "{err:?}");
    assert!(!err.is_retryable());
    assert!(
        evil.seen().is_empty(),
        "the key must not reach another origin"
    );
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn a_429_waits_for_retry_after_then_succeeds() {
    let fake = spawn_fake(|s, _| {
        if s.nth == 0 {
            let mut r = Reply::error(
                StatusCode::TOO_MANY_REQUESTS,
                "throttled",
                "Request was throttled.",
            );
            r.1.push(("retry-after", "1".into()));
            r
        } else {
            Reply::json(json!({"data": []}))
        }
    })
    .await;
    let lists = fake.client().get_lists().await.unwrap();
    assert!(lists.is_empty());
    let seen = fake.seen();
    assert_eq!(seen.len(), 2);
    // Honoured Retry-After: the retry did not come before the second was up.
    assert!(seen[1].at.duration_since(seen[0].at) >= Duration::from_secs(1));
}

#[tokio::test]
async fn a_429_that_persists_becomes_rate_limited() {
    let fake = spawn_fake(|_, _| {
        let mut r = Reply::error(StatusCode::TOO_MANY_REQUESTS, "throttled", "slow down");
        r.1.push(("retry-after", "0".into()));
        r
    })
    .await;
    let err = fake
        .client_with(2, Duration::from_secs(10))
        .get_lists()
        .await
        .unwrap_err();
    assert!(matches!(err, KlaviyoError::RateLimited { .. }), "{err:?}");
    assert!(err.is_retryable());
    assert_eq!(fake.seen().len(), 3);
}

#[tokio::test]
async fn a_503_twice_then_success_is_retried() {
    let fake = spawn_fake(|s, _| {
        if s.nth < 2 {
            Reply::error(StatusCode::SERVICE_UNAVAILABLE, "error", "try later")
        } else {
            Reply::json(json!({"data": [{"type": "metric", "id": "M1", "attributes": {"name": "Placed Order"}}]}))
        }
    })
    .await;
    let api = fake.client();
    let metrics = api.get_metrics().await.unwrap();
    assert_eq!(metrics[0].id, "M1");
    assert_eq!(fake.seen().len(), 3);
    assert_eq!(api.calls_made(), 3);
}

#[tokio::test]
async fn a_503_forever_is_a_server_error_after_max_retries() {
    let fake = spawn_fake(|_, _| {
        Reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "error",
            "down for maintenance",
        )
    })
    .await;
    let err = fake
        .client_with(2, Duration::from_secs(10))
        .get_metrics()
        .await
        .unwrap_err();
    match &err {
        KlaviyoError::Server { status, detail } => {
            assert_eq!(*status, 503);
            assert!(detail.contains("down for maintenance"));
        }
        other => panic!("expected Server, got {other:?}"),
    }
    // The first attempt plus two retries.
    assert_eq!(fake.seen().len(), 3);
}

#[tokio::test]
async fn a_401_is_unauthorized_and_not_retried() {
    let fake = spawn_fake(|_, _| {
        Reply::error(
            StatusCode::UNAUTHORIZED,
            "not_authenticated",
            "Incorrect authentication credentials.",
        )
    })
    .await;
    let err = fake.client().get_accounts().await.unwrap_err();
    assert!(matches!(err, KlaviyoError::Unauthorized { .. }), "{err:?}");
    assert!(err.is_auth() && !err.is_retryable());
    assert!(err.to_string().contains("reconnect"));
    assert_eq!(fake.seen().len(), 1);
}

/// Hands out `token` after a 401, counting how often it was asked.
struct Renewer {
    token: Option<&'static str>,
    asked: Mutex<Vec<String>>,
}

#[async_trait::async_trait]
impl lookout::klaviyo::Renew for Renewer {
    async fn renew(&self, stale: &Credential) -> Option<Credential> {
        let stale = match stale {
            Credential::Bearer(s) | Credential::ApiKey(s) => s.expose().to_owned(),
        };
        self.asked.lock().unwrap().push(stale);
        self.token.map(|t| Credential::Bearer(Secret::new(t)))
    }
}

fn bearer_only(good: &'static str) -> impl Fn(&Seen, &str) -> Reply + Send + Sync {
    move |seen, _| {
        if seen.headers["authorization"] == format!("Bearer {good}").as_str() {
            Reply::json(json!({"data": [], "links": {"next": null}}))
        } else {
            Reply::error(
                StatusCode::UNAUTHORIZED,
                "not_authenticated",
                "The access token expired: get a new one with the refresh token.",
            )
        }
    }
}

fn bearer_client(fake: &Fake, renewer: &Arc<Renewer>) -> AccountClient {
    KlaviyoClient::new(KlaviyoConfig {
        base_url: fake.base.clone(),
        ..KlaviyoConfig::default()
    })
    .unwrap()
    .account("acme", Credential::Bearer(Secret::new("old-token")))
    .renewing(renewer.clone())
}

#[tokio::test]
async fn a_401_mid_scan_renews_the_token_and_retries_that_request() {
    let fake = spawn_fake(bearer_only("new-token")).await;
    let renewer = Arc::new(Renewer {
        token: Some("new-token"),
        asked: Mutex::new(vec![]),
    });
    let api = bearer_client(&fake, &renewer);
    assert!(api.get_accounts().await.unwrap().is_empty());
    // The renewed token serves the handle's (and its clones') later requests.
    assert!(api.clone().get_flows().await.unwrap().is_empty());
    assert_eq!(
        *renewer.asked.lock().unwrap(),
        vec!["old-token".to_string()]
    );
    let auths: Vec<String> = fake
        .seen()
        .iter()
        .map(|s| s.headers["authorization"].to_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        auths,
        ["Bearer old-token", "Bearer new-token", "Bearer new-token"]
    );
    assert_eq!(
        api.credential(),
        Credential::Bearer(Secret::new("new-token"))
    );
}

#[tokio::test]
async fn the_retry_after_a_401_does_not_wait_for_another_place_in_the_rate_limit() {
    // `/api/accounts` allows one request a second. Klaviyo authenticates
    // before it counts, so the retry takes the 401's place: waiting a second
    // for a new one could outlast a short-lived renewed token.
    let fake = spawn_fake(bearer_only("new-token")).await;
    let renewer = Arc::new(Renewer {
        token: Some("new-token"),
        asked: Mutex::new(vec![]),
    });
    let api = bearer_client(&fake, &renewer);
    let started = std::time::Instant::now();
    assert!(api.get_accounts().await.unwrap().is_empty());
    let took = started.elapsed();
    assert_eq!(fake.seen().len(), 2);
    assert!(took < Duration::from_millis(800), "{took:?}");
    // Both requests were sent and both are counted.
    assert_eq!(api.calls_made(), 2);
    // The next request does wait for its place again.
    assert!(api.get_accounts().await.unwrap().is_empty());
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_401_with_nothing_to_renew_or_a_renewal_refused_too_is_unauthorized() {
    // Nothing to renew with: one request, one question, the 401 stands.
    let fake = spawn_fake(bearer_only("new-token")).await;
    let none = Arc::new(Renewer {
        token: None,
        asked: Mutex::new(vec![]),
    });
    let err = bearer_client(&fake, &none)
        .get_accounts()
        .await
        .unwrap_err();
    assert!(matches!(err, KlaviyoError::Unauthorized { .. }), "{err:?}");
    assert_eq!(fake.seen().len(), 1);
    assert_eq!(none.asked.lock().unwrap().len(), 1);
    // A renewed token refused too is renewed twice (a request may wait on its
    // rate limit longer than a token lives), not in a loop.
    let fake = spawn_fake(bearer_only("never")).await;
    let wrong = Arc::new(Renewer {
        token: Some("also-refused"),
        asked: Mutex::new(vec![]),
    });
    let err = bearer_client(&fake, &wrong)
        .get_accounts()
        .await
        .unwrap_err();
    assert!(matches!(err, KlaviyoError::Unauthorized { .. }), "{err:?}");
    assert_eq!(fake.seen().len(), 3);
    assert_eq!(
        *wrong.asked.lock().unwrap(),
        ["old-token".to_string(), "also-refused".to_string()]
    );
    assert!(!err.to_string().contains("also-refused"), "{err}");
}

#[tokio::test]
async fn other_4xx_are_bad_requests_with_klaviyos_detail() {
    let fake =
        spawn_fake(|_, _| Reply::error(StatusCode::BAD_REQUEST, "invalid", "filter is required"))
            .await;
    let err = fake.client().get_campaigns("email").await.unwrap_err();
    match &err {
        KlaviyoError::BadRequest { status, detail } => {
            assert_eq!(*status, 400);
            assert!(detail.contains("filter is required [invalid]"), "{detail}");
        }
        other => panic!("expected BadRequest, got {other:?}"),
    }
    let seen = fake.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0].query.get("filter").map(String::as_str),
        Some("equals(messages.channel,'email')")
    );
    // A channel that would break out of the filter never leaves the process.
    let err = fake.client().get_campaigns("email'),x(").await.unwrap_err();
    assert!(matches!(err, KlaviyoError::Refused(_)));
    assert_eq!(fake.seen().len(), 1);
}

#[tokio::test]
async fn malformed_json_is_a_decode_error() {
    let fake = spawn_fake(|_, _| Reply(StatusCode::OK, vec![], "{\"data\": [}".into())).await;
    let err = fake.client().get_flows().await.unwrap_err();
    assert!(matches!(err, KlaviyoError::Decode(_)), "{err:?}");
    assert_eq!(fake.seen().len(), 1, "decode errors are not retried");

    // A body cut off mid-way may be a dropped connection: asked again, then reported.
    let fake = spawn_fake(|_, _| Reply(StatusCode::OK, vec![], "{\"data\": [".into())).await;
    let err = fake.client().get_flows().await.unwrap_err();
    assert!(matches!(err, KlaviyoError::Truncated(_)), "{err:?}");
    assert!(err.to_string().contains("cut off"), "{err}");
    assert_eq!(fake.seen().len(), 4, "one try and three retries");

    let fake = spawn_fake(|_, _| Reply::json(json!({"data": [{"id": "no-type"}]}))).await;
    let err = fake.client().get_flows().await.unwrap_err();
    assert!(matches!(err, KlaviyoError::Decode(_)), "{err:?}");
}

#[tokio::test]
async fn timeouts_are_retried_then_reported() {
    let fake = spawn_fake_with(Some(Duration::from_secs(5)), |_, _| {
        Reply::json(json!({"data": []}))
    })
    .await;
    let err = fake
        .client_with(1, Duration::from_millis(200))
        .get_lists()
        .await
        .unwrap_err();
    assert_eq!(err, KlaviyoError::Timeout);
    assert_eq!(fake.seen().len(), 2);
}

#[tokio::test]
async fn metric_aggregates_is_a_read_post_with_the_json_api_body() {
    let fake = spawn_fake(|s, _| {
        assert_eq!(s.method, "POST");
        Reply::json(json!({"data": {"type": "metric-aggregate", "id": "q", "attributes": {
            "dates": ["2026-11-01T00:00:00+00:00", "2026-11-01T01:00:00+00:00"],
            "data": [{"dimensions": [], "measurements": {"count": [4, 1], "sum_value": [80.0, 20.0]}}]}}}))
    })
    .await;
    let q = AggregateQuery {
        metric_id: "M1".into(),
        interval: Interval::Hour,
        start: Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap(),
        end: Utc.with_ymd_and_hms(2026, 11, 1, 2, 0, 0).unwrap(),
        measurements: vec!["count", "sum_value"],
        timezone: "UTC".into(),
    };
    let series = fake.client().metric_aggregate(&q).await.unwrap();
    assert_eq!(series.count, vec![4.0, 1.0]);
    assert_eq!(series.sum_value, vec![80.0, 20.0]);
    let seen = fake.seen();
    assert_eq!(seen[0].path, "/api/metric-aggregates");
    assert_eq!(seen[0].headers["content-type"], "application/vnd.api+json");
    assert_eq!(seen[0].body["data"]["attributes"]["metric_id"], "M1");
    assert_eq!(seen[0].body["data"]["attributes"]["interval"], "hour");
}

#[tokio::test]
async fn latest_event_asks_for_one_newest_event() {
    let fake = spawn_fake(|_, _| {
        Reply::json(json!({"data": [{"type": "event", "id": "E1", "attributes": {"datetime": "2026-11-01T10:00:00+00:00"}}],
            "links": {"next": "http://ignored.example/api/events?page%5Bcursor%5D=2"}}))
    })
    .await;
    let ev = fake.client().latest_event("M1").await.unwrap().unwrap();
    assert_eq!(ev.id, "E1");
    let seen = fake.seen();
    assert_eq!(seen.len(), 1, "only the first page is read");
    let q = &seen[0].query;
    assert_eq!(q["filter"], "equals(metric_id,'M1')");
    assert_eq!(q["sort"], "-datetime");
    assert_eq!(q["page[size]"], "1");
}

#[tokio::test(start_paused = true)]
async fn a_3_per_second_operation_never_starts_4_in_a_second() {
    // GET /api/flows is 3/s and 60/min in the spec; ten requests at once.
    let budget = Arc::new(AccountBudget::new());
    let mut set = tokio::task::JoinSet::new();
    for _ in 0..10 {
        let b = budget.clone();
        set.spawn(async move {
            let _answered = b.acquire("GET", "/api/flows").await.unwrap();
            tokio::time::Instant::now()
        });
    }
    let mut times = set.join_all().await;
    times.sort();
    for w in times.windows(4) {
        assert!(w[3].duration_since(w[0]) >= Duration::from_secs(1), "{w:?}");
    }
    // The first three go at once: the budget does not slow what fits.
    assert_eq!(times[0], times[2]);
    assert_eq!(budget.calls(), 10);
}

/// A whole small account; `lists` answers 503 when `lists_down`.
fn account_script(
    lists_down: bool,
    auth_down: bool,
) -> impl Fn(&Seen, &str) -> Reply + Send + Sync {
    move |s, _| {
        if auth_down {
            return Reply::error(StatusCode::UNAUTHORIZED, "not_authenticated", "revoked");
        }
        match (s.method.as_str(), s.path.as_str()) {
            ("GET", "/api/accounts") => Reply::json(
                json!({"data": [{"type": "account", "id": "ACC1", "attributes": {
                "test_account": false,
                "contact_information": {"default_sender_name": "Acme", "default_sender_email": "hi@acme.test",
                    "organization_name": "Acme Outdoors",
                    "street_address": {"address1": "1 Main St", "address2": null, "city": "Boulder",
                                       "region": "CO", "country": "US", "zip": "80301"}},
                "industry": "Outdoor", "timezone": "America/Denver", "preferred_currency": "USD",
                "public_api_key": "AbC123", "locale": "en-US"}}], "links": {"next": null}}),
            ),
            ("GET", "/api/flows") => Reply::json(json!({"data": [
                flow("FCHK", "live", "Metric"), flow("FWEL", "live", "Added to List"), flow("FOLD", "draft", "Metric")]})),
            ("GET", "/api/campaigns") => {
                let channel = if s.query["filter"].contains("'sms'") {
                    "sms"
                } else {
                    "email"
                };
                Reply::json(
                    json!({"data": [{"type": "campaign", "id": format!("C-{channel}"), "attributes": {
                    "name": "Weekly", "status": "Sent", "archived": false,
                    "audiences": {"included": ["L1"], "excluded": []},
                    "send_time": "2026-11-10T15:00:00+00:00", "scheduled_at": null,
                    "created_at": "2026-11-01T00:00:00+00:00", "updated_at": "2026-11-10T15:00:00+00:00"}}]}),
                )
            }
            ("GET", "/api/lists") if lists_down => {
                Reply::error(StatusCode::SERVICE_UNAVAILABLE, "error", "lists are down")
            }
            ("GET", "/api/lists") => {
                Reply::json(json!({"data": [{"type": "list", "id": "L1", "attributes": {
                "name": "Newsletter", "opt_in_process": "single_opt_in",
                "created": "2024-01-01T00:00:00+00:00", "updated": "2026-01-01T00:00:00+00:00"}}]}))
            }
            ("GET", "/api/metrics") => Reply::json(json!({"data": [
                {"type": "metric", "id": "MPO", "attributes": {"name": "Placed Order", "integration": {"name": "Shopify", "category": "ecommerce"}}},
                {"type": "metric", "id": "MSC", "attributes": {"name": "Started Checkout", "integration": {"name": "Shopify"}}},
                {"type": "metric", "id": "MX", "attributes": {"name": "Clicked SMS", "integration": null}}]})),
            ("GET", "/api/metrics/MSC/flow-triggers") => {
                Reply::json(json!({"data": [flow("FCHK", "live", "Metric")]}))
            }
            ("GET", "/api/metrics/MPO/flow-triggers") => Reply::json(json!({"data": []})),
            ("GET", "/api/events") => {
                let t = if s.query["filter"].contains("MPO") {
                    "2026-11-20T09:15:00+00:00"
                } else {
                    "2026-11-19T23:00:00+00:00"
                };
                Reply::json(
                    json!({"data": [{"type": "event", "id": "E", "attributes": {"datetime": t}}]}),
                )
            }
            ("POST", "/api/metric-aggregates") => {
                let f = s.body["data"]["attributes"]["filter"].as_array().unwrap();
                let start = f[0]
                    .as_str()
                    .unwrap()
                    .trim_start_matches("greater-or-equal(datetime,")
                    .trim_end_matches(')');
                let start: DateTime<Utc> = start.parse().unwrap();
                let dates: Vec<String> = (0..672)
                    .map(|h| (start + chrono::Duration::hours(h)).to_rfc3339())
                    .collect();
                let counts: Vec<f64> = (0..672).map(|h| if h == 671 { 3.0 } else { 1.0 }).collect();
                let values: Vec<f64> = counts.iter().map(|c| c * 10.0).collect();
                Reply::json(
                    json!({"data": {"type": "metric-aggregate", "id": "q", "attributes": {
                    "dates": dates, "data": [{"dimensions": [], "measurements": {"count": counts, "sum_value": values}}]}}}),
                )
            }
            // The rest of a full scan: an account with none of these things.
            (
                "GET",
                "/api/templates" | "/api/segments" | "/api/forms" | "/api/catalog-items"
                | "/api/profiles",
            ) => Reply::json(json!({"data": [], "links": {"next": null}})),
            ("POST", path) if path.ends_with("-reports") => {
                let kind = path.trim_start_matches("/api/").trim_end_matches('s');
                Reply::json(json!({"data": {"type": kind, "id": "r", "attributes": {
                    "results": [], "date_times": []}}}))
            }
            _ => Reply::error(StatusCode::NOT_FOUND, "not_found", "no such path"),
        }
    }
}

fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 20, 10, 30, 0).unwrap()
}

/// Progress steps of a full scan (one per part or group of reads).
const STEPS: usize = 14;

#[tokio::test]
async fn snapshot_with_lists_down_has_a_gap_and_everything_else() {
    let fake = spawn_fake(account_script(true, false)).await;
    let api = fake.client_with(1, Duration::from_secs(10));
    let slug = ClientSlug::parse("acme").unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ScanProgress>();
    let snap = build_snapshot(&api, &slug, now(), Some(&tx)).await.unwrap();

    assert!(snap.lists.is_none());
    assert!(!snap.has(Part::Lists));
    assert_eq!(snap.gaps.len(), 1, "{:?}", snap.gaps);
    assert_eq!(snap.gaps[0].part, Part::Lists);
    assert!(
        snap.gaps[0].reason.contains("503"),
        "{}",
        snap.gaps[0].reason
    );
    assert!(!snap.gaps[0].reason.contains(KEY));

    let account = snap.account.as_ref().unwrap();
    assert_eq!(account.organization_name, "Acme Outdoors");
    assert_eq!(account.sender_address, "1 Main St, Boulder, CO, 80301, US");
    assert_eq!(account.timezone, "America/Denver");

    let flows = snap.flows.as_ref().unwrap();
    assert_eq!(flows.len(), 3);
    let chk = flows.iter().find(|f| f.id == "FCHK").unwrap();
    assert_eq!(chk.trigger_metric, Some(KnownMetric::StartedCheckout));
    assert_eq!(chk.status, FlowStatus::Live);
    assert!(
        flows
            .iter()
            .find(|f| f.id == "FOLD")
            .unwrap()
            .trigger_metric
            .is_none()
    );

    let campaigns = snap.campaigns.as_ref().unwrap();
    let mut channels: Vec<&str> = campaigns.iter().map(|c| c.channel.as_str()).collect();
    channels.sort();
    assert_eq!(channels, ["email", "sms"]);

    assert_eq!(snap.metrics.as_ref().unwrap().len(), 3);
    let po = snap.activity_of(KnownMetric::PlacedOrder).unwrap();
    assert_eq!(po.metric_id, "MPO");
    assert_eq!(po.counts.len(), 672);
    assert_eq!(
        po.end(),
        Utc.with_ymd_and_hms(2026, 11, 20, 11, 0, 0).unwrap()
    );
    assert_eq!(po.counts[671], 3.0);
    assert_eq!(po.values[671], 30.0);
    assert_eq!(
        po.last_event_at,
        Some(Utc.with_ymd_and_hms(2026, 11, 20, 9, 15, 0).unwrap())
    );
    assert!(snap.activity_of(KnownMetric::StartedCheckout).is_some());
    assert!(snap.activity_of(KnownMetric::ReceivedEmail).is_none());

    drop(tx);
    let mut steps = Vec::new();
    while let Some(p) = rx.recv().await {
        steps.push(p);
    }
    assert_eq!(steps.len(), STEPS);
    assert!(steps.iter().all(|p| p.total == STEPS));
    assert_eq!(
        steps.iter().map(|p| p.done).collect::<Vec<_>>(),
        (1..=STEPS).collect::<Vec<_>>()
    );
    assert!(steps.iter().any(|p| p.step.starts_with("lists")));

    // The paths hit: no write, no unknown endpoint.
    for s in fake.seen() {
        assert!(
            s.method == "GET" || s.path == "/api/metric-aggregates" || s.path.ends_with("-reports"),
            "{} {}",
            s.method,
            s.path
        );
        assert!(s.path.starts_with("/api/"));
    }
}

#[tokio::test]
async fn snapshot_of_a_healthy_account_has_no_gaps() {
    let fake = spawn_fake(account_script(false, false)).await;
    let api = fake.client();
    let slug = ClientSlug::parse("acme").unwrap();
    let snap = build_snapshot(&api, &slug, now(), None).await.unwrap();
    assert!(snap.gaps.is_empty(), "{:?}", snap.gaps);
    for part in [
        Part::Account,
        Part::Flows,
        Part::Campaigns,
        Part::Lists,
        Part::Metrics,
        Part::Activity,
        Part::FlowSteps,
        Part::Templates,
        Part::Segments,
        Part::Forms,
        Part::FormReport,
        Part::Catalog,
        Part::CampaignReport,
        Part::FlowSeries,
        Part::Profiles,
        Part::SmsRecipients,
        Part::OrderValues,
    ] {
        assert!(snap.has(part), "{part:?}");
    }
    // No "Received SMS" metric: nobody was texted, without a call for it.
    assert_eq!(snap.sms_recipients.as_deref(), Some(&[][..]));
    assert_eq!(
        snap.lists.as_ref().unwrap()[0].opt_in_process.as_deref(),
        Some("single_opt_in")
    );
    assert_eq!(api.calls_made() as usize, fake.seen().len());
}

#[tokio::test]
async fn snapshot_with_a_revoked_key_is_an_auth_error() {
    let fake = spawn_fake(account_script(false, true)).await;
    let slug = ClientSlug::parse("acme").unwrap();
    let err = build_snapshot(&fake.client(), &slug, now(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, KlaviyoError::Unauthorized { .. }), "{err:?}");
    // No retries on 401: one call per first-wave endpoint, nothing after.
    let seen = fake.seen();
    assert!(seen.len() <= 12, "{}", seen.len());
    assert!(!seen.iter().any(|s| s.path == "/api/metric-aggregates"));
}

#[test]
fn the_snapshot_future_can_be_spawned() {
    // The scheduler runs scans on tokio tasks, which need Send futures.
    fn assert_send<T: Send>(_: &T) {}
    let client = KlaviyoClient::new(KlaviyoConfig::default()).unwrap();
    let api = client.account("acme", Credential::ApiKey(Secret::new(KEY)));
    let slug = ClientSlug::parse("acme").unwrap();
    let fut = build_snapshot(&api, &slug, now(), None);
    assert_send(&fut);
}

#[tokio::test]
async fn reads_ask_only_for_the_fields_the_snapshot_uses() {
    let fake = spawn_fake(|_, _| Reply::json(json!({"data": []}))).await;
    let api = fake.client();
    api.get_accounts().await.unwrap();
    api.get_campaigns("email").await.unwrap();
    api.get_lists().await.unwrap();
    api.get_metrics().await.unwrap();
    api.latest_event("M1").await.unwrap();
    let seen = fake.seen();
    let fields = |path: &str, kind: &str| {
        let s = seen.iter().find(|s| s.path == path).expect(path);
        s.query[&format!("fields[{kind}]")].clone()
    };
    assert_eq!(
        fields("/api/accounts", "account"),
        "contact_information,industry,timezone,preferred_currency"
    );
    let campaign = fields("/api/campaigns", "campaign");
    for f in ["name", "status", "audiences", "send_time", "created_at"] {
        assert!(campaign.split(',').any(|x| x == f), "{campaign}");
    }
    assert!(!campaign.contains("tracking_options"), "{campaign}");
    assert_eq!(
        fields("/api/lists", "list"),
        "name,opt_in_process,created,updated"
    );
    assert_eq!(fields("/api/metrics", "metric"), "name,integration");
    assert_eq!(fields("/api/events", "event"), "datetime,timestamp");
}

#[tokio::test]
async fn requests_in_flight_are_capped_across_accounts() {
    let fake = spawn_fake_with(Some(Duration::from_millis(200)), |_, _| {
        Reply::json(json!({"data": []}))
    })
    .await;
    let client = KlaviyoClient::new(KlaviyoConfig {
        base_url: fake.base.clone(),
        max_in_flight: 2,
        ..KlaviyoConfig::default()
    })
    .unwrap();
    let mut set = tokio::task::JoinSet::new();
    for i in 0..6 {
        let api = client.account(
            &format!("client-{i}"),
            Credential::ApiKey(Secret::new("pk_test_123456")),
        );
        set.spawn(async move { api.get_lists().await.map(|l| l.len()) });
    }
    for r in set.join_all().await {
        assert_eq!(r.unwrap(), 0);
    }
    let mut at: Vec<_> = fake.seen().iter().map(|s| s.at).collect();
    at.sort();
    assert_eq!(at.len(), 6);
    // Two at a time, 200 ms each: three waves, never three at once.
    for w in at.windows(3) {
        assert!(w[2] - w[0] >= Duration::from_millis(150), "{w:?}");
    }
    assert!(at[5] - at[0] >= Duration::from_millis(350));
}
