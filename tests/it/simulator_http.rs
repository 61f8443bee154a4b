//! The simulator driven over HTTP, as the Klaviyo client would drive it.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use chrono::{DateTime, Duration, DurationRound, TimeZone, Utc};
use lookout::clock::{Clock, SimClock};
use lookout::simulator::{BrandInfo, Fault, FaultKind, Simulator};
use serde_json::{Value, json};

const REVISION: &str = "2026-07-15";

struct App {
    sim: Simulator,
    clock: SimClock,
    base: String,
    http: reqwest::Client,
    brands: Vec<BrandInfo>,
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

async fn spawn() -> App {
    let start = Utc.with_ymd_and_hms(2026, 11, 2, 14, 20, 0).unwrap();
    let clock = SimClock::frozen(start);
    let sim = Simulator::new(2026, 12, Arc::new(clock.clone()));
    let (addr, handle) = sim
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .expect("bind 127.0.0.1:0");
    App {
        brands: sim.brands(),
        sim,
        clock,
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        handle,
    }
}

impl App {
    fn key(&self, slug: &str) -> String {
        let b = self.brands.iter().find(|b| b.slug == slug).expect("brand");
        b.api_key.expose().to_owned()
    }

    async fn get(
        &self,
        slug: &str,
        path_and_query: &str,
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let url = if path_and_query.starts_with("http") {
            path_and_query.to_owned()
        } else {
            format!("{}{}", self.base, path_and_query)
        };
        let r = self
            .http
            .get(url)
            .header("revision", REVISION)
            .header(
                "Authorization",
                format!("Klaviyo-API-Key {}", self.key(slug)),
            )
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let body = r.json::<Value>().await.unwrap_or(Value::Null);
        (status, headers, body)
    }

    async fn aggregate(&self, slug: &str, body: &Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}/api/metric-aggregates", self.base))
            .header("revision", REVISION)
            .header(
                "Authorization",
                format!("Klaviyo-API-Key {}", self.key(slug)),
            )
            .header("content-type", "application/vnd.api+json")
            .json(body)
            .send()
            .await
            .expect("request");
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn metric_id(&self, slug: &str, name: &str) -> String {
        let (s, _, body) = self.get(slug, "/api/metrics").await;
        assert_eq!(s, 200, "{body}");
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["attributes"]["name"] == name)
            .and_then(|m| m["id"].as_str())
            .expect("metric present")
            .to_owned()
    }

    /// Every event of `metric_id` in `[from, to)`, following `links.next`.
    async fn events(
        &self,
        slug: &str,
        metric_id: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Vec<Value> {
        let filter = format!(
            "and(equals(metric_id,\"{metric_id}\"),greater-or-equal(datetime,{}),less-than(datetime,{}))",
            from.to_rfc3339(),
            to.to_rfc3339()
        );
        let mut url = reqwest::Url::parse(&format!("{}/api/events", self.base)).unwrap();
        url.query_pairs_mut()
            .append_pair("filter", &filter)
            .append_pair("page[size]", "150");
        let mut next = Some(url.to_string());
        let mut out = Vec::new();
        while let Some(u) = next {
            let (s, _, body) = self.get(slug, &u).await;
            assert_eq!(s, 200, "{body}");
            out.extend(body["data"].as_array().unwrap().iter().cloned());
            next = body["links"]["next"].as_str().map(str::to_owned);
        }
        out
    }
}

fn agg_body(metric_id: &str, from: DateTime<Utc>, to: DateTime<Utc>) -> Value {
    json!({"data": {"type": "metric-aggregate", "attributes": {
        "metric_id": metric_id,
        "measurements": ["count", "sum_value"],
        "interval": "hour",
        "timezone": "UTC",
        "filter": [
            format!("greater-or-equal(datetime,{})", from.format("%Y-%m-%dT%H:%M:%S")),
            format!("less-than(datetime,{})", to.format("%Y-%m-%dT%H:%M:%S")),
        ],
    }}})
}

fn hour(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(Duration::hours(1)).unwrap()
}

#[tokio::test]
async fn bad_or_missing_key_gets_klaviyo_401_and_good_key_gets_account() {
    let app = spawn().await;
    let r = app
        .http
        .get(format!("{}/api/accounts", app.base))
        .header("revision", REVISION)
        .header("Authorization", "Klaviyo-API-Key pk_not_a_real_key")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    assert_eq!(r.headers()["content-type"], "application/vnd.api+json");
    let body: Value = r.json().await.unwrap();
    let e = &body["errors"][0];
    assert_eq!(e["status"], 401);
    assert_eq!(e["code"], "not_authenticated");
    assert_eq!(e["title"], "Authentication credentials were not provided.");
    assert!(e["id"].is_string() && e["detail"].is_string());

    let r = app
        .http
        .get(format!("{}/api/flows", app.base))
        .header("revision", REVISION)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);

    // A private key sent as Bearer is refused: Bearer takes OAuth access tokens.
    let r = app
        .http
        .get(format!("{}/api/accounts", app.base))
        .header("revision", REVISION)
        .header("Authorization", format!("Bearer {}", app.key("acme")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 401);
    let r = app
        .http
        .get(format!("{}/api/accounts", app.base))
        .header("revision", REVISION)
        .header(
            "Authorization",
            format!("Klaviyo-API-Key {}", app.key("acme")),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    assert_eq!(r.headers()["content-type"], "application/vnd.api+json");
    let body: Value = r.json().await.unwrap();
    let acct = &body["data"][0];
    assert_eq!(acct["type"], "account");
    assert_eq!(acct["id"], app.brands[0].account_id.as_str());
    let ci = &acct["attributes"]["contact_information"];
    assert_eq!(ci["organization_name"], app.brands[0].name.as_str());
    assert_ne!(ci["street_address"]["address1"], "");
    assert_eq!(acct["attributes"]["preferred_currency"], "USD");
    assert_eq!(acct["attributes"]["timezone"], "America/New_York");
}

#[tokio::test]
async fn missing_or_unsupported_revision_is_400() {
    let app = spawn().await;
    let key = format!("Klaviyo-API-Key {}", app.key("acme"));
    for rev in [None, Some("2024-02-15"), Some("2027-01-01"), Some("banana")] {
        let mut req = app
            .http
            .get(format!("{}/api/lists", app.base))
            .header("Authorization", &key);
        if let Some(r) = rev {
            req = req.header("revision", r);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "revision {rev:?}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["source"]["parameter"], "revision");
        assert!(
            body["errors"][0]["detail"]
                .as_str()
                .unwrap()
                .contains("2026-07-15")
        );
    }
    let r = app
        .http
        .get(format!("{}/api/lists", app.base))
        .header("Authorization", &key)
        .header("revision", "2026-10-15")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
}

#[tokio::test]
async fn list_pagination_returns_every_list_once() {
    let app = spawn().await;
    let mut seen = Vec::new();
    let mut next = Some("/api/lists".to_owned());
    let mut pages = 0;
    while let Some(u) = next {
        let (s, _, body) = app.get("acme", &u).await;
        assert_eq!(s, 200, "{body}");
        let data = body["data"].as_array().unwrap();
        assert!(data.len() <= 10);
        for l in data {
            assert_eq!(l["type"], "list");
            assert!(l["attributes"]["opt_in_process"] == "double_opt_in");
            seen.push(l["id"].as_str().unwrap().to_owned());
        }
        next = body["links"]["next"].as_str().map(str::to_owned);
        if let Some(n) = &next {
            assert!(
                n.starts_with(&app.base),
                "next link {n} must use the request host"
            );
            assert!(n.contains("page%5Bcursor%5D=") || n.contains("page[cursor]="));
        }
        pages += 1;
    }
    assert!(pages >= 2, "acme's lists span pages");
    let unique: HashSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no list twice");
    assert_eq!(seen.len(), 15, "main list plus 14 others");

    let (s, _, body) = app.get("acme", "/api/lists?page[size]=11").await;
    assert_eq!(s, 400);
    assert_eq!(body["errors"][0]["source"]["parameter"], "page[size]");
    let (s, _, _) = app
        .get("acme", "/api/lists?page[cursor]=not-a-cursor")
        .await;
    assert_eq!(s, 400);
    let (s, _, body) = app.get("acme", "/api/lists?page[size]=4").await;
    assert_eq!(s, 200);
    assert_eq!(body["data"].as_array().unwrap().len(), 4);
}

#[tokio::test]
async fn campaigns_need_a_channel_filter() {
    let app = spawn().await;
    let (s, _, body) = app.get("acme", "/api/campaigns").await;
    assert_eq!(s, 400);
    assert_eq!(body["errors"][0]["source"]["parameter"], "filter");
    let (s, _, _) = app
        .get(
            "acme",
            "/api/campaigns?filter=equals(messages.channel,'fax')",
        )
        .await;
    assert_eq!(s, 400);
    let (s, _, body) = app
        .get(
            "acme",
            "/api/campaigns?filter=equals(messages.channel,'email')",
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let data = body["data"].as_array().unwrap();
    assert!(data.len() >= 12);
    let now = app.clock.now();
    let last_sent = data
        .iter()
        .filter(|c| c["attributes"]["status"] == "Sent")
        .filter_map(|c| c["attributes"]["send_time"].as_str())
        .filter_map(|t| DateTime::parse_from_rfc3339(t).ok())
        .max()
        .expect("sent campaigns");
    assert!(now - last_sent.with_timezone(&Utc) <= Duration::days(6));
    let (s, _, body) = app
        .get(
            "acme",
            "/api/campaigns?filter=and(equals(messages.channel,'sms'),equals(status,'Sent'))",
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert!(
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["attributes"]["status"] == "Sent")
    );
}

#[tokio::test]
async fn hourly_aggregates_equal_listed_events() {
    let app = spawn().await;
    let now = app.clock.now();
    let (from, to) = (hour(now) - Duration::hours(24), hour(now));
    for name in ["Placed Order", "Bounced Email"] {
        let id = app.metric_id("acme", name).await;
        let (s, body) = app.aggregate("acme", &agg_body(&id, from, to)).await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["data"]["type"], "metric-aggregate");
        let attrs = &body["data"]["attributes"];
        let dates = attrs["dates"].as_array().unwrap();
        assert_eq!(dates.len(), 24);
        let row = &attrs["data"][0];
        assert_eq!(row["dimensions"], json!([]));
        let counts: Vec<f64> = row["measurements"]["count"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();

        let events = app.events("acme", &id, from, to).await;
        let mut per_hour: BTreeMap<i64, f64> = BTreeMap::new();
        let mut value_sum = 0.0;
        for e in &events {
            assert_eq!(e["type"], "event");
            assert_eq!(e["relationships"]["metric"]["data"]["id"], id.as_str());
            let t = e["attributes"]["timestamp"].as_i64().unwrap();
            *per_hour.entry(t.div_euclid(3600)).or_default() += 1.0;
            value_sum += e["attributes"]["event_properties"]["$value"]
                .as_f64()
                .unwrap_or(0.0);
        }
        for (i, d) in dates.iter().enumerate() {
            let start = DateTime::parse_from_rfc3339(d.as_str().unwrap()).unwrap();
            let h = start.timestamp().div_euclid(3600);
            assert_eq!(
                counts[i],
                per_hour.get(&h).copied().unwrap_or(0.0),
                "{name} hour {d}"
            );
        }
        assert_eq!(counts.iter().sum::<f64>(), events.len() as f64);
        let sums: f64 = row["measurements"]["sum_value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .sum();
        assert!(
            (sums - value_sum).abs() < 0.01,
            "{name}: {sums} vs {value_sum}"
        );
        if name == "Placed Order" {
            assert!(
                counts.iter().all(|c| *c >= 1.0),
                "healthy acme orders every hour"
            );
        }
    }

    // A query without the datetime pair is rejected.
    let id = app.metric_id("acme", "Placed Order").await;
    let mut bad = agg_body(&id, from, to);
    bad["data"]["attributes"]["filter"] =
        json!([format!("greater-or-equal(datetime,{})", from.to_rfc3339())]);
    let (s, body) = app.aggregate("acme", &bad).await;
    assert_eq!(s, 400, "{body}");
    assert_eq!(
        body["errors"][0]["source"]["pointer"],
        "/data/attributes/filter"
    );
}

#[tokio::test]
async fn orders_stop_fault_zeroes_placed_orders_after_at() {
    let app = spawn().await;
    let now = app.clock.now();
    let at = hour(now) - Duration::hours(3);
    let r = app
        .http
        .post(format!("{}/__sim/faults", app.base))
        .json(&json!({"brand": "acme", "fault": "orders-stop", "at": at}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 201);
    assert_eq!(app.sim.active_faults().len(), 1);

    let orders = app.metric_id("acme", "Placed Order").await;
    let checkouts = app.metric_id("acme", "Started Checkout").await;
    let from = hour(now) - Duration::hours(8);
    let to = hour(now) + Duration::hours(1);
    let (s, body) = app.aggregate("acme", &agg_body(&orders, from, to)).await;
    assert_eq!(s, 200, "{body}");
    let counts = body["data"]["attributes"]["data"][0]["measurements"]["count"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(counts.len(), 9);
    for (i, c) in counts.iter().enumerate() {
        let c = c.as_f64().unwrap();
        if i < 5 {
            assert!(c >= 1.0, "orders before the fault, bucket {i}");
        } else {
            assert_eq!(c, 0.0, "no orders after the fault, bucket {i}");
        }
    }
    assert!(
        app.events("acme", &orders, at, now + Duration::seconds(1))
            .await
            .is_empty()
    );
    assert!(
        !app.events("acme", &checkouts, at, now).await.is_empty(),
        "checkouts go on"
    );
    // Another brand still takes orders.
    let other = app.metric_id("bluebird", "Placed Order").await;
    assert!(!app.events("bluebird", &other, at, now).await.is_empty());

    // Clearing ends the fault now; orders come back afterwards.
    let r = app
        .http
        .delete(format!("{}/__sim/faults/acme/orders-stop", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let cleared = app.clock.now();
    app.clock.advance(Duration::hours(3));
    assert!(
        !app.events("acme", &orders, cleared, app.clock.now())
            .await
            .is_empty()
    );
    assert!(
        app.events("acme", &orders, at, cleared).await.is_empty(),
        "the gap stays in history"
    );
    let r = app
        .http
        .delete(format!("{}/__sim/faults/acme/orders-stop", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
}

#[tokio::test]
async fn rate_limit_is_per_account() {
    let app = spawn().await;
    // /api/accounts allows 1 request a second per account; send several at once.
    let mut throttled = None;
    for _ in 0..5 {
        let (s, headers, body) = app.get("acme", "/api/accounts").await;
        if s == 429 {
            throttled = Some((headers, body));
            break;
        }
        assert_eq!(s, 200);
    }
    let (headers, body) = throttled.expect("a burst over 1/s is throttled");
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(retry >= 1);
    assert_eq!(body["errors"][0]["code"], "throttled");
    assert_eq!(body["errors"][0]["status"], 429);
    // Another brand has its own budget.
    let (s, _, _) = app.get("bluebird", "/api/accounts").await;
    assert_eq!(s, 200);
    // And another operation of the same brand too.
    let (s, _, _) = app.get("acme", "/api/flows").await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn request_faults_answer_401_503_429() {
    let app = spawn().await;
    let now = app.clock.now();
    let inject = |brand: &str, kind| Fault {
        brand: brand.into(),
        kind,
        at: now,
        until: None,
    };
    app.sim.inject(inject("acme", FaultKind::TokenRevoked));
    app.sim.inject(inject("bluebird", FaultKind::ServerErrors));
    app.sim.inject(inject("cedar-co", FaultKind::ThrottleStorm));
    let (s, _, body) = app.get("acme", "/api/flows").await;
    assert_eq!(
        (s, body["errors"][0]["code"].as_str()),
        (401, Some("not_authenticated"))
    );
    let (s, _, body) = app.get("bluebird", "/api/flows").await;
    assert_eq!(s, 503);
    assert!(body["errors"][0]["detail"].is_string());
    let (s, h, body) = app.get("cedar-co", "/api/flows").await;
    assert_eq!(
        (s, body["errors"][0]["code"].as_str()),
        (429, Some("throttled"))
    );
    assert!(h["retry-after"].to_str().unwrap().parse::<u64>().unwrap() >= 1);
    let (s, _, _) = app.get("dune-supply", "/api/flows").await;
    assert_eq!(s, 200);
    assert!(app.sim.clear("acme", FaultKind::TokenRevoked));
    let (s, _, _) = app.get("acme", "/api/flows").await;
    assert_eq!(s, 200);
}

#[tokio::test]
async fn flow_draft_fault_changes_the_abandoned_checkout_flow() {
    let app = spawn().await;
    let checkout = app.metric_id("acme", "Started Checkout").await;
    let (s, _, body) = app
        .get("acme", &format!("/api/metrics/{checkout}/flow-triggers"))
        .await;
    assert_eq!(s, 200, "{body}");
    let flows = body["data"].as_array().unwrap();
    assert_eq!(flows.len(), 1);
    assert_eq!(flows[0]["type"], "flow");
    assert_eq!(flows[0]["attributes"]["status"], "live");
    let flow_id = flows[0]["id"].as_str().unwrap().to_owned();

    let at = app.clock.now() - Duration::minutes(10);
    app.sim.inject(Fault {
        brand: "acme".into(),
        kind: FaultKind::FlowDraft,
        at,
        until: None,
    });
    let (s, _, body) = app.get("acme", &format!("/api/flows/{flow_id}")).await;
    assert_eq!(s, 200);
    let attrs = &body["data"]["attributes"];
    assert_eq!(attrs["status"], "draft");
    let updated = DateTime::parse_from_rfc3339(attrs["updated"].as_str().unwrap()).unwrap();
    assert_eq!(updated.with_timezone(&Utc), at);
    // Other brands and other flows are untouched.
    let (_, _, body) = app
        .get("acme", "/api/flows?filter=equals(status,'draft')")
        .await;
    assert!(
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["id"] == flow_id.as_str())
    );
    let (_, _, body) = app.get("bluebird", "/api/flows").await;
    assert!(
        body["data"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["attributes"]["name"] == "Abandoned Checkout")
            .all(|f| f["attributes"]["status"] == "live")
    );
    app.clock.advance(Duration::minutes(5));
    assert!(app.sim.clear("acme", FaultKind::FlowDraft));
    let (_, _, body) = app.get("acme", &format!("/api/flows/{flow_id}")).await;
    assert_eq!(body["data"]["attributes"]["status"], "live");
}

#[tokio::test]
async fn unknown_paths_404_and_writes_405() {
    let app = spawn().await;
    let (s, h, body) = app.get("acme", "/api/nothing-here").await;
    assert_eq!(s, 404);
    assert_eq!(h["content-type"], "application/vnd.api+json");
    assert_eq!(body["errors"][0]["code"], "not_found");
    let (s, _, _) = app.get("acme", "/api/flows/NOPE00").await;
    assert_eq!(s, 404);
    let r = app
        .http
        .post(format!("{}/api/flows", app.base))
        .header("revision", REVISION)
        .header(
            "Authorization",
            format!("Klaviyo-API-Key {}", app.key("acme")),
        )
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 405);
    let (s, _, _) = app.get("acme", "/api/metric-aggregates").await;
    assert_eq!(s, 405);
    let (s, _, body) = app.get("acme", "/api/events?page[size]=1001").await;
    assert_eq!(s, 400, "{body}");
    let (s, _, body) = app
        .get("acme", "/api/events?filter=equals(profile_id,'x')")
        .await;
    assert_eq!(s, 400, "{body}");
}

#[tokio::test]
async fn newest_event_and_admin_surface() {
    let app = spawn().await;
    let orders = app.metric_id("acme", "Placed Order").await;
    let (s, _, body) = app
        .get(
            "acme",
            &format!(
                "/api/events?filter=equals(metric_id,\"{orders}\")&sort=-datetime&page[size]=1"
            ),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    let e = &body["data"][0];
    let t = e["attributes"]["timestamp"].as_i64().unwrap();
    let now = app.clock.now().timestamp();
    assert!(
        t <= now && now - t < 3 * 3600,
        "newest order {t} vs now {now}"
    );
    assert!(
        e["attributes"]["event_properties"]["$value"]
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(body["links"]["next"].is_string());

    let brands: Value = app
        .http
        .get(format!("{}/__sim/brands", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(brands.as_array().unwrap().len(), 12);
    assert_eq!(brands[0]["slug"], "acme");
    assert_eq!(brands[0]["api_key"], app.key("acme").as_str());
    let r = app
        .http
        .post(format!("{}/__sim/faults", app.base))
        .json(&json!({"brand": "acme", "fault": "orders-halt"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let msg: Value = r.json().await.unwrap();
    assert!(msg["error"].as_str().unwrap().contains("orders-stop"));
    let r = app
        .http
        .post(format!("{}/__sim/faults", app.base))
        .json(&json!({"brand": "nobody", "fault": "orders-stop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    let clock: Value = app
        .http
        .get(format!("{}/__sim/clock", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let t = DateTime::parse_from_rfc3339(clock["now"].as_str().unwrap()).unwrap();
    assert_eq!(t.with_timezone(&Utc), app.clock.now());
}

#[tokio::test]
async fn revision_2026_10_15_campaigns_carry_a_definition() {
    let app = spawn().await;
    let key = format!("Klaviyo-API-Key {}", app.key("acme"));
    let url = format!(
        "{}/api/campaigns?filter=equals(messages.channel,'email')",
        app.base
    );
    let get = |rev: &'static str| {
        app.http
            .get(&url)
            .header("Authorization", &key)
            .header("revision", rev)
            .send()
    };
    let new: Value = get("2026-10-15").await.unwrap().json().await.unwrap();
    let c = &new["data"][0];
    let attrs = c["attributes"].as_object().unwrap();
    assert!(
        attrs
            .keys()
            .all(|k| ["created_at", "updated_at", "definition"].contains(&k.as_str())),
        "{attrs:?}"
    );
    assert!(
        c["attributes"]["definition"]["name"]
            .as_str()
            .is_some_and(|n| !n.is_empty())
    );
    let id = c["id"].as_str().unwrap();
    // 2026-07-15 keeps the flat shape for the same campaign.
    let old: Value = get("2026-07-15").await.unwrap().json().await.unwrap();
    let same = old["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["id"] == id)
        .expect("same campaign at 2026-07-15");
    assert_eq!(
        same["attributes"]["name"],
        c["attributes"]["definition"]["name"]
    );
    assert!(same["attributes"].get("definition").is_none());
    // A revision the simulator does not implement is Klaviyo's 400.
    for rev in ["2026-11-01", "2025-01-15", "2026-7-15"] {
        let r = get(rev).await.unwrap();
        assert_eq!(r.status().as_u16(), 400, "{rev}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["errors"][0]["source"]["parameter"], "revision");
        let detail = body["errors"][0]["detail"].as_str().unwrap();
        assert!(detail.contains("2026-07-15, 2026-10-15"), "{detail}");
    }
}

#[tokio::test]
async fn flow_report_rates_follow_the_event_model_and_faults() {
    let app = spawn().await;
    app.sim.set_rate_limits(false);
    let report = |slug: &'static str, orders: String| {
        let body = json!({"data": {"type": "flow-values-report", "attributes": {
            "statistics": ["recipients", "bounce_rate", "spam_complaint_rate"],
            "timeframe": {"key": "last_7_days"},
            "conversion_metric_id": orders,
        }}});
        let key = format!("Klaviyo-API-Key {}", app.key(slug));
        let url = format!("{}/api/flow-values-reports", app.base);
        let http = app.http.clone();
        async move {
            let r = http
                .post(url)
                .header("revision", REVISION)
                .header("Authorization", key)
                .json(&body)
                .send()
                .await
                .unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };
    let bounce = |doc: &Value| -> f64 {
        let rows = doc["data"]["attributes"]["results"].as_array().unwrap();
        let email: Vec<&Value> = rows
            .iter()
            .filter(|r| r["groupings"]["send_channel"] == "email")
            .collect();
        assert!(!email.is_empty());
        email
            .iter()
            .map(|r| r["statistics"]["bounce_rate"].as_f64().unwrap())
            .sum::<f64>()
            / email.len() as f64
    };
    let acme_orders = app.metric_id("acme", "Placed Order").await;
    let ivy_orders = app.metric_id("ivy-lane", "Placed Order").await;
    let (s, healthy) = report("acme", acme_orders.clone()).await;
    assert_eq!(s, 200, "{healthy}");
    let (_, ivy) = report("ivy-lane", ivy_orders).await;
    assert!(bounce(&healthy) < 0.004, "acme {}", bounce(&healthy));
    assert!(
        (0.008..0.012).contains(&bounce(&ivy)),
        "ivy-lane {}",
        bounce(&ivy)
    );
    // A bounce spike over the whole week shows in the report.
    app.sim.inject(Fault {
        brand: "acme".into(),
        kind: FaultKind::BounceSpike,
        at: app.clock.now() - Duration::days(8),
        until: None,
    });
    let (_, spiked) = report("acme", acme_orders.clone()).await;
    assert!(
        (0.06..0.1).contains(&bounce(&spiked)),
        "spiked {}",
        bounce(&spiked)
    );
    // Required attributes are checked as Klaviyo does.
    let key = format!("Klaviyo-API-Key {}", app.key("acme"));
    let r = app
        .http
        .post(format!("{}/api/flow-values-reports", app.base))
        .header("revision", REVISION)
        .header("Authorization", &key)
        .json(
            &json!({"data": {"type": "flow-values-report", "attributes": {
            "statistics": ["recipients"], "conversion_metric_id": acme_orders,
            "timeframe": {"start": "2025-01-01T00:00:00Z", "end": "2026-06-01T00:00:00Z"}}}}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(
        body["errors"][0]["source"]["pointer"],
        "/data/attributes/timeframe"
    );
}

impl App {
    /// Injects a fault through the admin API, as the demo and `lookout` do.
    async fn admin_inject(&self, slug: &str, fault: &str) {
        let r = self
            .http
            .post(format!("{}/__sim/faults", self.base))
            .json(&json!({"brand": slug, "fault": fault}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 201, "{fault}");
    }

    /// Clears a fault through the admin API.
    async fn admin_clear(&self, slug: &str, fault: &str) {
        let r = self
            .http
            .delete(format!("{}/__sim/faults/{slug}/{fault}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 204, "{fault}");
    }

    /// A GET's status, `content-length` header and raw body.
    async fn get_raw(&self, slug: &str, path: &str) -> (u16, Option<usize>, Vec<u8>) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("revision", REVISION)
            .header(
                "Authorization",
                format!("Klaviyo-API-Key {}", self.key(slug)),
            )
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        let len = r
            .headers()
            .get("content-length")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        (status, len, r.bytes().await.expect("whole body").to_vec())
    }
}

#[tokio::test]
async fn server_burst_fails_a_request_a_few_times_with_klaviyo_5xx_and_retries_get_through() {
    let app = spawn().await;
    app.sim.set_rate_limits(false);
    app.admin_inject("acme", "server-burst").await;
    let mut statuses = BTreeMap::new();
    for _ in 0..150 {
        let (s, _, body) = app.get("acme", "/api/accounts").await;
        *statuses.entry(s).or_insert(0) += 1;
        if s != 200 {
            let e = &body["errors"][0];
            assert_eq!(e["status"], s, "{body}");
            assert!(e["code"].is_string() && e["title"].is_string() && e["id"].is_string());
        }
    }
    let failed: u32 = statuses
        .iter()
        .filter(|(s, _)| **s != 200)
        .map(|(_, n)| n)
        .sum();
    // The same request (method and URL) fails at most three times, so a
    // client's retries get through; a scan's many distinct requests fail
    // about one in three (see `burst_status`).
    assert!((1..=3).contains(&failed), "{statuses:?}");
    assert!(
        statuses.keys().all(|s| [200, 500, 502, 503].contains(s)),
        "{statuses:?}"
    );
    // A client that retries gets every request through.
    for _ in 0..20 {
        let mut tries = 0;
        loop {
            tries += 1;
            let (s, _, _) = app.get("acme", "/api/flows").await;
            if s == 200 {
                break;
            }
            assert!(tries < 10, "ten failures in a row");
        }
    }
    // Other brands are untouched; clearing restores every answer.
    for _ in 0..10 {
        assert_eq!(app.get("bluebird", "/api/accounts").await.0, 200);
    }
    app.admin_clear("acme", "server-burst").await;
    for _ in 0..30 {
        assert_eq!(app.get("acme", "/api/accounts").await.0, 200);
    }
}

#[tokio::test]
async fn malformed_page_gives_collections_a_non_array_data() {
    let app = spawn().await;
    app.sim.set_rate_limits(false);
    let (_, _, body) = app.get("acme", "/api/flows").await;
    let id = body["data"][0]["id"].as_str().unwrap().to_owned();
    app.admin_inject("acme", "malformed-page").await;
    for path in ["/api/flows", "/api/lists", "/api/metrics", "/api/accounts"] {
        let (s, _, body) = app.get("acme", path).await;
        assert_eq!(s, 200, "{path}: {body}");
        assert!(body["data"].is_string(), "{path}: {body}");
    }
    // Single resources keep their shape, and other brands are untouched.
    let (s, _, body) = app.get("acme", &format!("/api/flows/{id}")).await;
    assert_eq!((s, body["data"]["id"].as_str()), (200, Some(id.as_str())));
    let (s, _, body) = app.get("bluebird", "/api/flows").await;
    assert_eq!(s, 200);
    assert!(body["data"].is_array());
    app.admin_clear("acme", "malformed-page").await;
    let (s, _, body) = app.get("acme", "/api/flows").await;
    assert_eq!(s, 200);
    assert!(!body["data"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn truncated_body_cuts_the_json_half_way_with_a_matching_length() {
    let app = spawn().await;
    app.sim.set_rate_limits(false);
    let (s, _, whole) = app.get_raw("acme", "/api/flows").await;
    assert_eq!(s, 200);
    assert!(serde_json::from_slice::<Value>(&whole).is_ok());
    app.sim.inject(Fault {
        brand: "acme".into(),
        kind: FaultKind::TruncatedBody,
        at: app.clock.now(),
        until: None,
    });
    let (s, len, cut) = app.get_raw("acme", "/api/flows").await;
    assert_eq!(s, 200);
    assert_eq!(
        len,
        Some(cut.len()),
        "content-length matches the bytes sent"
    );
    assert_eq!(cut.len(), whole.len() / 2);
    assert_eq!(cut[..], whole[..cut.len()]);
    assert!(serde_json::from_slice::<Value>(&cut).is_err());
    // Errors are whole: only 200s are cut.
    let (s, _, err) = app.get_raw("acme", "/api/flows/nope").await;
    assert_eq!(s, 404);
    assert!(serde_json::from_slice::<Value>(&err).is_ok());
    assert!(app.sim.clear("acme", FaultKind::TruncatedBody));
    let (s, _, again) = app.get_raw("acme", "/api/flows").await;
    assert_eq!((s, again), (200, whole));
}

/// GET `path` with `key`: `(status, body)`.
async fn get_with(http: &reqwest::Client, base: &str, key: &str, path: &str) -> (u16, Value) {
    let r = http
        .get(format!("{base}{path}"))
        .header("revision", REVISION)
        .header("Authorization", format!("Klaviyo-API-Key {key}"))
        .send()
        .await
        .expect("request");
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn a_portfolio_of_5000_brands_serves_its_last_brands() {
    let clock = SimClock::frozen(Utc.with_ymd_and_hms(2026, 11, 2, 14, 20, 0).unwrap());
    let sim = Simulator::new(2026, 5000, Arc::new(clock));
    let (addr, handle) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();
    let brands = sim.brands();
    for b in [&brands[4998], &brands[4999]] {
        let key = b.api_key.expose();
        let (s, body) = get_with(&http, &base, key, "/api/flows").await;
        assert_eq!(s, 200, "{}: {body}", b.slug);
        assert!(!body["data"].as_array().unwrap().is_empty());
        let (s, body) = get_with(&http, &base, key, "/api/accounts").await;
        assert_eq!(s, 200);
        assert_eq!(body["data"][0]["id"], b.account_id.as_str(), "{}", b.slug);
    }
    assert_eq!(brands[4998].slug, "brand-4999");
    assert_eq!(sim.request_stats().requests, 4);
    handle.abort();
}

#[tokio::test]
async fn request_stats_count_answers_429s_and_5xx() {
    let app = spawn().await;
    assert_eq!(app.sim.request_stats().requests, 0);
    // /api/accounts allows one request a second per account.
    let mut sent = 0;
    let mut throttled = 0;
    while throttled == 0 && sent < 10 {
        sent += 1;
        if app.get("acme", "/api/accounts").await.0 == 429 {
            throttled += 1;
        }
    }
    let stats = app.sim.request_stats();
    assert_eq!(
        (stats.requests, stats.throttled, stats.server_errors),
        (sent, 1, 0)
    );
    // 401s, 404s and 5xx are answers too; admin paths are not counted.
    let r = app
        .http
        .get(format!("{}/api/nowhere", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 404);
    app.sim.inject(Fault {
        brand: "bluebird".into(),
        kind: FaultKind::ServerErrors,
        at: app.clock.now(),
        until: None,
    });
    assert_eq!(app.get("bluebird", "/api/flows").await.0, 503);
    let r = app
        .http
        .get(format!("{}/__sim/brands", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let stats = app.sim.request_stats();
    assert_eq!(
        (stats.requests, stats.throttled, stats.server_errors),
        (sent + 2, 1, 1)
    );
}
