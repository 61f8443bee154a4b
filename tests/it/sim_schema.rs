//! Every operation the simulator serves, called over HTTP and validated
//! against the response schema Klaviyo's OpenAPI document gives for it.
//!
//! The OpenAPI 3.0 schemas are converted to JSON Schema here: `nullable`
//! adds `"null"` to `type` (and `enum`); `allOf` parts are merged into one
//! object (so closing objects does not reject what another part allows);
//! objects that list `properties` are closed unless the spec sets
//! `additionalProperties`, so invented fields fail; and `oneOf` becomes
//! `anyOf`, because Klaviyo's alternatives overlap (`EmailSendOptions`,
//! `SMSSendOptions` and `PushSendOptions` are the same schema), which no
//! instance could satisfy "exactly once". Full responses are validated;
//! sparse-fieldset responses are checked to hold exactly the fields asked for.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};
use lookout::clock::{Clock, SimClock};
use lookout::simulator::{SERVED_PATHS, Simulator};
use serde_json::{Map, Value, json};

const SPEC: &str = "shared/klaviyo/openapi-stable-2026-07-15.json";

fn load_spec() -> Option<Value> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let path = [root.join("..").join(SPEC), root.join("../..").join(SPEC)]
        .into_iter()
        .find(|p| p.exists());
    let Some(path) = path else {
        println!("note: {SPEC} not found beside the crate; skipping schema checks");
        return None;
    };
    let text = std::fs::read_to_string(path).expect("read the spec");
    Some(serde_json::from_str(&text).expect("the spec is JSON"))
}

// ---------- OpenAPI 3.0 -> JSON Schema ----------

fn resolve<'a>(schemas: &'a Map<String, Value>, s: &'a Value) -> &'a Value {
    let mut cur = s;
    while let Some(r) = cur.get("$ref").and_then(Value::as_str) {
        let name = r.trim_start_matches("#/components/schemas/");
        match schemas.get(name) {
            Some(next) => cur = next,
            None => break,
        }
    }
    cur
}

/// Merges `allOf` parts (refs resolved) into one raw schema.
fn merge_all_of(schemas: &Map<String, Value>, parts: &[Value]) -> Value {
    let mut out = Map::new();
    let mut props = Map::new();
    let mut required: Vec<Value> = Vec::new();
    for part in parts {
        let part = resolve(schemas, part);
        let part = match part.get("allOf").and_then(Value::as_array) {
            Some(inner) => merge_all_of(schemas, inner),
            None => part.clone(),
        };
        for (k, v) in part.as_object().into_iter().flatten() {
            match k.as_str() {
                "properties" => {
                    for (pk, pv) in v.as_object().into_iter().flatten() {
                        let merged = match props.remove(pk) {
                            Some(prev) => json!({ "allOf": [prev, pv] }),
                            None => pv.clone(),
                        };
                        props.insert(pk.clone(), merged);
                    }
                }
                "required" => {
                    for r in v.as_array().into_iter().flatten() {
                        if !required.contains(r) {
                            required.push(r.clone());
                        }
                    }
                }
                _ => {
                    out.entry(k.clone()).or_insert_with(|| v.clone());
                }
            }
        }
    }
    if !props.is_empty() {
        out.insert("properties".into(), Value::Object(props));
        out.entry("type").or_insert(json!("object"));
    }
    if !required.is_empty() {
        out.insert("required".into(), Value::Array(required));
    }
    Value::Object(out)
}

fn convert(schemas: &Map<String, Value>, s: &Value) -> Value {
    let Some(obj) = s.as_object() else {
        return s.clone();
    };
    if let Some(parts) = obj.get("allOf").and_then(Value::as_array) {
        let mut merged = merge_all_of(schemas, parts);
        for (k, v) in obj {
            if k != "allOf" {
                merged[k] = v.clone();
            }
        }
        return convert(schemas, &merged);
    }
    let mut out = Map::new();
    for (k, v) in obj {
        let nv = match k.as_str() {
            "properties" => Value::Object(
                v.as_object()
                    .into_iter()
                    .flatten()
                    .map(|(pk, pv)| (pk.clone(), convert(schemas, pv)))
                    .collect(),
            ),
            "items" | "not" => convert(schemas, v),
            "additionalProperties" if v.is_object() => convert(schemas, v),
            "oneOf" | "anyOf" => Value::Array(
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(|x| convert(schemas, x))
                    .collect(),
            ),
            "nullable" | "example" | "discriminator" => continue,
            _ => v.clone(),
        };
        let key = if k == "oneOf" { "anyOf" } else { k.as_str() };
        out.insert(key.to_owned(), nv);
    }
    if out.contains_key("properties") && !out.contains_key("additionalProperties") {
        out.insert("additionalProperties".into(), json!(false));
    }
    if obj.get("nullable") == Some(&json!(true)) {
        if let Some(t) = out.get("type").cloned() {
            let mut types = match t {
                Value::Array(a) => a,
                other => vec![other],
            };
            types.push(json!("null"));
            out.insert("type".into(), Value::Array(types));
            if let Some(Value::Array(e)) = out.get_mut("enum") {
                e.push(Value::Null);
            }
        } else {
            return json!({ "anyOf": [Value::Object(out), { "type": "null" }] });
        }
    }
    Value::Object(out)
}

/// Validators per component schema name, over one root holding every component.
struct Schemas {
    root: Map<String, Value>,
    cache: HashMap<String, jsonschema::Validator>,
}

impl Schemas {
    fn new(spec: &Value) -> Self {
        let raw = spec["components"]["schemas"].as_object().expect("schemas");
        let converted: Map<String, Value> = raw
            .iter()
            .map(|(k, v)| (k.clone(), convert(raw, v)))
            .collect();
        let mut root = Map::new();
        root.insert("components".into(), json!({ "schemas": converted }));
        Schemas {
            root,
            cache: HashMap::new(),
        }
    }

    fn validate(&mut self, name: &str, what: &str, instance: &Value) {
        let v = self.cache.entry(name.to_owned()).or_insert_with(|| {
            let mut root = self.root.clone();
            root.insert("$ref".into(), json!(format!("#/components/schemas/{name}")));
            jsonschema::validator_for(&Value::Object(root)).expect("schema compiles")
        });
        let errors: Vec<String> = v
            .iter_errors(instance)
            .take(8)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(
            errors.is_empty(),
            "{what} does not match {name}:\n{}",
            errors.join("\n")
        );
    }
}

/// The component name of an operation's 200 response.
fn response_schema(spec: &Value, method: &str, tpl: &str) -> String {
    let r = &spec["paths"][tpl][method.to_ascii_lowercase()]["responses"]["200"]["content"]["application/vnd.api+json"]
        ["schema"]["$ref"];
    r.as_str()
        .unwrap_or_else(|| panic!("{method} {tpl} has no 200 schema"))
        .trim_start_matches("#/components/schemas/")
        .to_owned()
}

// ---------- the walk ----------

struct Walk {
    spec: Value,
    schemas: Schemas,
    base: String,
    http: reqwest::Client,
    keys: HashMap<String, String>,
    visited: BTreeSet<(String, String)>,
}

impl Walk {
    async fn call(
        &mut self,
        brand: &str,
        method: &str,
        tpl: &str,
        path_and_query: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let url = format!("{}{}", self.base, path_and_query);
        let key = format!("Klaviyo-API-Key {}", self.keys[brand]);
        let req = if method == "POST" {
            self.http.post(url).json(&body.unwrap_or(Value::Null))
        } else {
            self.http.get(url)
        };
        let r = req
            .header("revision", "2026-07-15")
            .header("Authorization", key)
            .send()
            .await
            .expect("request");
        let status = r.status().as_u16();
        let v: Value = r.json().await.expect("JSON body");
        if status == 200 {
            self.visited.insert((method.to_owned(), tpl.to_owned()));
        }
        (status, v)
    }

    /// Calls and validates a full (non-sparse) response.
    async fn full(
        &mut self,
        brand: &str,
        method: &str,
        tpl: &str,
        pq: &str,
        body: Option<Value>,
    ) -> Value {
        let (s, v) = self.call(brand, method, tpl, pq, body).await;
        assert_eq!(s, 200, "{method} {pq}: {v}");
        let name = response_schema(&self.spec, method, tpl);
        self.schemas.validate(&name, &format!("{method} {pq}"), &v);
        v
    }

    /// Calls with `fields[ty]=names` and checks every `ty` resource holds
    /// exactly those top-level attributes.
    async fn sparse(&mut self, brand: &str, tpl: &str, pq: &str, ty: &str, names: &[&str]) {
        let (s, v) = self.call(brand, "GET", tpl, pq, None).await;
        assert_eq!(s, 200, "{pq}: {v}");
        let mut resources: Vec<&Value> = match &v["data"] {
            Value::Array(a) => a.iter().collect(),
            one => vec![one],
        };
        resources.extend(v["included"].as_array().into_iter().flatten());
        let mut seen = 0;
        for r in resources.into_iter().filter(|r| r["type"] == ty) {
            let keys: BTreeSet<&str> = r["attributes"]
                .as_object()
                .expect("attributes")
                .keys()
                .map(String::as_str)
                .collect();
            let want: BTreeSet<&str> = names
                .iter()
                .map(|n| n.split('.').next().unwrap_or(n))
                .collect();
            assert_eq!(keys, want, "{pq}");
            seen += 1;
        }
        assert!(seen > 0, "{pq} returned no {ty}");
    }
}

fn ids(doc: &Value) -> Vec<String> {
    doc["data"]
        .as_array()
        .expect("data array")
        .iter()
        .map(|r| r["id"].as_str().expect("id").to_owned())
        .collect()
}

fn enc(s: &str) -> String {
    url_escape(s)
}

fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn every_served_operation_matches_the_spec_schema() {
    let Some(spec) = load_spec() else { return };
    let clock = SimClock::frozen(Utc.with_ymd_and_hms(2026, 11, 2, 14, 20, 0).unwrap());
    let sim = Simulator::new(2026, 20, Arc::new(clock.clone()));
    sim.set_rate_limits(false);
    let (addr, handle) = sim.serve("127.0.0.1:0".parse().unwrap()).await.unwrap();
    let keys = sim
        .brands()
        .into_iter()
        .map(|b| (b.slug.clone(), b.api_key.expose().to_owned()))
        .collect();
    let mut w = Walk {
        schemas: Schemas::new(&spec),
        spec,
        base: format!("http://{addr}"),
        http: reqwest::Client::new(),
        keys,
        visited: BTreeSet::new(),
    };

    // Accounts.
    let accts = w
        .full("acme", "GET", "/api/accounts", "/api/accounts", None)
        .await;
    let acct = ids(&accts)[0].clone();
    w.full(
        "acme",
        "GET",
        "/api/accounts/{id}",
        &format!("/api/accounts/{acct}"),
        None,
    )
    .await;

    // Flows, their actions and messages, for a healthy brand and the one with a draft step.
    for brand in ["acme", "nimbus"] {
        let flows = w
            .full(
                brand,
                "GET",
                "/api/flows",
                "/api/flows?include=flow-actions,tags",
                None,
            )
            .await;
        assert!(!flows["included"].as_array().unwrap().is_empty());
        for f in ids(&flows) {
            w.full(
                brand,
                "GET",
                "/api/flows/{id}",
                &format!("/api/flows/{f}"),
                None,
            )
            .await;
            let actions = w
                .full(
                    brand,
                    "GET",
                    "/api/flows/{id}/flow-actions",
                    &format!("/api/flows/{f}/flow-actions"),
                    None,
                )
                .await;
            for a in ids(&actions) {
                w.full(
                    brand,
                    "GET",
                    "/api/flow-actions/{id}",
                    &format!("/api/flow-actions/{a}?include=flow,flow-messages"),
                    None,
                )
                .await;
                let msgs = w
                    .full(
                        brand,
                        "GET",
                        "/api/flow-actions/{id}/flow-messages",
                        &format!("/api/flow-actions/{a}/flow-messages"),
                        None,
                    )
                    .await;
                for m in ids(&msgs) {
                    w.full(
                        brand,
                        "GET",
                        "/api/flow-messages/{id}",
                        &format!("/api/flow-messages/{m}?include=flow-action,template"),
                        None,
                    )
                    .await;
                }
            }
        }
    }
    w.sparse(
        "acme",
        "/api/flows",
        "/api/flows?fields[flow]=name,status",
        "flow",
        &["name", "status"],
    )
    .await;
    let flows = w
        .call("acme", "GET", "/api/flows", "/api/flows", None)
        .await
        .1;
    let f0 = ids(&flows)[0].clone();
    let actions = w
        .call(
            "acme",
            "GET",
            "/api/flows/{id}/flow-actions",
            &format!("/api/flows/{f0}/flow-actions"),
            None,
        )
        .await
        .1;
    let a0 = ids(&actions)[0].clone();
    w.sparse(
        "acme",
        "/api/flow-actions/{id}",
        &format!("/api/flow-actions/{a0}?fields[flow-action]=created,definition.data.status&include=flow&fields[flow]=name"),
        "flow-action",
        &["created", "definition"],
    )
    .await;

    // Campaigns and their messages, both channels.
    for channel in ["email", "sms"] {
        let filter = enc(&format!("equals(messages.channel,'{channel}')"));
        let camps = w
            .full(
                "acme",
                "GET",
                "/api/campaigns",
                &format!("/api/campaigns?filter={filter}&include=campaign-messages,tags"),
                None,
            )
            .await;
        for c in ids(&camps).into_iter().rev().take(3) {
            w.full(
                "acme",
                "GET",
                "/api/campaigns/{id}",
                &format!("/api/campaigns/{c}?include=campaign-messages"),
                None,
            )
            .await;
            let msgs = w
                .full(
                    "acme",
                    "GET",
                    "/api/campaigns/{id}/campaign-messages",
                    &format!("/api/campaigns/{c}/campaign-messages?include=campaign,template"),
                    None,
                )
                .await;
            for m in ids(&msgs) {
                w.full(
                    "acme",
                    "GET",
                    "/api/campaign-messages/{id}",
                    &format!("/api/campaign-messages/{m}?include=template"),
                    None,
                )
                .await;
            }
        }
    }

    // Lists and segments.
    let lists = w
        .full(
            "acme",
            "GET",
            "/api/lists",
            "/api/lists?include=flow-triggers,tags",
            None,
        )
        .await;
    let l0 = ids(&lists)[0].clone();
    w.full(
        "acme",
        "GET",
        "/api/lists/{id}",
        &format!("/api/lists/{l0}?additional-fields[list]=profile_count"),
        None,
    )
    .await;
    w.full(
        "acme",
        "GET",
        "/api/lists/{id}/flow-triggers",
        &format!("/api/lists/{l0}/flow-triggers"),
        None,
    )
    .await;
    let segs = w
        .full(
            "acme",
            "GET",
            "/api/segments",
            "/api/segments?include=tags",
            None,
        )
        .await;
    for s in ids(&segs) {
        let one = w
            .full(
                "acme",
                "GET",
                "/api/segments/{id}",
                &format!("/api/segments/{s}?additional-fields[segment]=profile_count"),
                None,
            )
            .await;
        assert!(
            one["data"]["attributes"]["profile_count"]
                .as_u64()
                .is_some()
        );
    }

    // Metrics and events.
    let metrics = w
        .full(
            "acme",
            "GET",
            "/api/metrics",
            "/api/metrics?include=flow-triggers",
            None,
        )
        .await;
    for m in ids(&metrics) {
        w.full(
            "acme",
            "GET",
            "/api/metrics/{id}",
            &format!("/api/metrics/{m}"),
            None,
        )
        .await;
        w.full(
            "acme",
            "GET",
            "/api/metrics/{id}/flow-triggers",
            &format!("/api/metrics/{m}/flow-triggers"),
            None,
        )
        .await;
    }
    let orders = metrics["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["attributes"]["name"] == "Placed Order")
        .and_then(|m| m["id"].as_str())
        .unwrap()
        .to_owned();
    let ev_filter = enc(&format!("equals(metric_id,'{orders}')"));
    let events = w
        .full(
            "acme",
            "GET",
            "/api/events",
            &format!("/api/events?filter={ev_filter}&page[size]=20&include=metric,profile"),
            None,
        )
        .await;
    assert!(!events["included"].as_array().unwrap().is_empty());

    // Profiles, templates, tags, forms, catalog, webhooks.
    let profiles = w
        .full(
            "acme",
            "GET",
            "/api/profiles",
            "/api/profiles?additional-fields[profile]=subscriptions&page[size]=100",
            None,
        )
        .await;
    assert_eq!(profiles["data"].as_array().unwrap().len(), 100);
    let email = profiles["data"][3]["attributes"]["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_email = w
        .full(
            "acme",
            "GET",
            "/api/profiles",
            &format!(
                "/api/profiles?filter={}",
                enc(&format!("equals(email,'{email}')"))
            ),
            None,
        )
        .await;
    assert_eq!(
        ids(&by_email),
        vec![profiles["data"][3]["id"].as_str().unwrap().to_owned()]
    );
    let templates = w
        .full("quarry", "GET", "/api/templates", "/api/templates", None)
        .await;
    for t in ids(&templates) {
        w.full(
            "quarry",
            "GET",
            "/api/templates/{id}",
            &format!("/api/templates/{t}"),
            None,
        )
        .await;
    }
    w.full(
        "acme",
        "GET",
        "/api/tags",
        "/api/tags?include=tag-group",
        None,
    )
    .await;
    w.full("acme", "GET", "/api/forms", "/api/forms", None)
        .await;
    w.full(
        "sable",
        "GET",
        "/api/catalog-items",
        "/api/catalog-items?include=variants",
        None,
    )
    .await;
    let hooks = w
        .full(
            "bluebird",
            "GET",
            "/api/webhooks",
            "/api/webhooks?include=webhook-topics",
            None,
        )
        .await;
    assert!(
        !hooks["data"].as_array().unwrap().is_empty(),
        "bluebird has a webhook"
    );

    // The POST queries.
    let now = clock.now();
    let agg = json!({"data": {"type": "metric-aggregate", "attributes": {
    "metric_id": orders, "measurements": ["count", "sum_value"], "interval": "day",
    "filter": [
        format!("greater-or-equal(datetime,{})", (now - Duration::days(3)).format("%Y-%m-%dT%H:%M:%S")),
        format!("less-than(datetime,{})", now.format("%Y-%m-%dT%H:%M:%S")),
    ]}}});
    w.full(
        "acme",
        "POST",
        "/api/metric-aggregates",
        "/api/metric-aggregates",
        Some(agg),
    )
    .await;
    let stats = json!([
        "recipients",
        "delivered",
        "bounce_rate",
        "spam_complaint_rate",
        "open_rate",
        "click_rate",
        "conversion_value",
        "revenue_per_recipient"
    ]);
    let flow_rep = w
        .full(
            "acme",
            "POST",
            "/api/flow-values-reports",
            "/api/flow-values-reports",
            Some(json!({"data": {"type": "flow-values-report", "attributes": {
                "statistics": stats, "timeframe": {"key": "last_30_days"}, "conversion_metric_id": orders}}})),
        )
        .await;
    assert!(
        !flow_rep["data"]["attributes"]["results"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let camp_rep = w
        .full(
            "acme",
            "POST",
            "/api/campaign-values-reports",
            "/api/campaign-values-reports",
            Some(json!({"data": {"type": "campaign-values-report", "attributes": {
                "statistics": stats, "timeframe": {"key": "last_90_days"}, "conversion_metric_id": orders}}})),
        )
        .await;
    assert!(
        !camp_rep["data"]["attributes"]["results"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    w.full(
        "acme",
        "POST",
        "/api/form-values-reports",
        "/api/form-values-reports",
        Some(json!({"data": {"type": "form-values-report", "attributes": {
            "statistics": ["viewed_form", "submits", "submit_rate"], "timeframe": {"key": "last_7_days"}}}})),
    )
    .await;

    let flow_series = w
        .full(
            "acme",
            "POST",
            "/api/flow-series-reports",
            "/api/flow-series-reports",
            Some(
                json!({"data": {"type": "flow-series-report", "attributes": {
                "statistics": ["recipients", "bounced", "conversion_value"],
                "timeframe": {"key": "last_30_days"}, "interval": "daily",
                "conversion_metric_id": orders}}}),
            ),
        )
        .await;
    assert!(
        !flow_series["data"]["attributes"]["results"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    w.full(
        "acme",
        "POST",
        "/api/form-series-reports",
        "/api/form-series-reports",
        Some(json!({"data": {"type": "form-series-report", "attributes": {
            "statistics": ["submits"], "timeframe": {"key": "last_30_days"}, "interval": "daily"}}})),
    )
    .await;

    // Every served operation was called and validated.
    let served: BTreeSet<(String, String)> = SERVED_PATHS
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    let missing: Vec<_> = served.difference(&w.visited).collect();
    assert!(missing.is_empty(), "operations not walked: {missing:?}");

    // Error bodies match the spec's error schema; Klaviyo adds `status`, which the spec omits.
    let error_schema = convert(
        spec_schemas(&w.spec),
        &w.spec["components"]["responses"]["ClientError"]["content"]["application/vnd.api+json"]["schema"],
    );
    let open = open_objects(&error_schema, &["status"]);
    let validator = jsonschema::validator_for(&open).expect("error schema compiles");
    for (brand, pq, want) in [
        ("acme", "/api/flows?fields[flow]=colour".to_owned(), 400),
        ("acme", "/api/flows/NOPE00".to_owned(), 404),
        ("acme", "/api/campaigns".to_owned(), 400),
    ] {
        let (s, body) = w.call(brand, "GET", "", &pq, None).await;
        assert_eq!(s, want, "{pq}: {body}");
        let errs: Vec<String> = validator
            .iter_errors(&body)
            .map(|e| e.to_string())
            .collect();
        assert!(errs.is_empty(), "{pq}: {errs:?} in {body}");
    }
    let (s, body) = w
        .call(
            "acme",
            "GET",
            "",
            "/api/flows?fields[flow]=name,colour",
            None,
        )
        .await;
    assert_eq!(s, 400);
    assert_eq!(body["errors"][0]["source"]["parameter"], "fields[flow]");
    assert!(
        body["errors"][0]["detail"]
            .as_str()
            .unwrap()
            .contains("colour")
    );
    handle.abort();
}

fn spec_schemas(spec: &Value) -> &Map<String, Value> {
    spec["components"]["schemas"].as_object().expect("schemas")
}

/// The error schema with `extra` allowed beside the listed properties of each error.
fn open_objects(schema: &Value, extra: &[&str]) -> Value {
    let mut s = schema.clone();
    if let Some(props) = s["properties"]["errors"]["items"]["properties"].as_object_mut() {
        for e in extra {
            props.insert((*e).to_owned(), json!({}));
        }
    }
    s
}

#[test]
fn conversion_handles_nullable_all_of_and_closing() {
    let schemas: Map<String, Value> = serde_json::from_value(json!({
        "Base": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]},
    }))
    .unwrap();
    let s = convert(
        &schemas,
        &json!({"allOf": [
            {"properties": {"attributes": {"properties": {"count": {"type": "integer", "nullable": true}}}}},
            {"$ref": "#/components/schemas/Base"},
            {"properties": {"attributes": {"type": "object", "properties": {"name": {"type": "string", "enum": ["a"], "nullable": true}}}}},
        ]}),
    );
    let v = jsonschema::validator_for(&s).unwrap();
    assert!(v.is_valid(&json!({"id": "x", "attributes": {"count": null, "name": "a"}})));
    assert!(v.is_valid(&json!({"id": "x", "attributes": {"count": 3, "name": null}})));
    assert!(!v.is_valid(&json!({"attributes": {}})), "required id kept");
    assert!(
        !v.is_valid(&json!({"id": "x", "extra": 1})),
        "closed object"
    );
    assert!(
        !v.is_valid(&json!({"id": "x", "attributes": {"invented": 1}})),
        "closed nested object"
    );
    assert!(
        !v.is_valid(&json!({"id": "x", "attributes": {"name": "b"}})),
        "enum kept"
    );
}
