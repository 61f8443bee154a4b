//! Klaviyo's OpenAPI document is the source of truth: the rate-limit table
//! and the simulator's paths must agree with it.

use std::path::PathBuf;

use lookout::klaviyo::limits::OPERATIONS;
use lookout::simulator::{QUERY_PARAMS, SERVED_PATHS};
use serde_json::Value;

const SPEC: &str = "shared/klaviyo/openapi-stable-2026-07-15.json";

/// The spec beside the repository (`../shared`, as in CI), or two levels up
/// when the crate is a worktree under `wt/`.
fn spec_path() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    [root.join("..").join(SPEC), root.join("../..").join(SPEC)]
        .into_iter()
        .find(|p| p.exists())
}

fn load() -> Option<Value> {
    let Some(path) = spec_path() else {
        println!("note: {SPEC} not found beside the crate; skipping spec fidelity checks");
        return None;
    };
    let text = std::fs::read_to_string(&path).expect("read the OpenAPI spec");
    Some(serde_json::from_str(&text).expect("the OpenAPI spec is JSON"))
}

/// `"10/s"` -> 10; `"150/m"` -> 150; `"225/d"` -> 225.
fn rate(v: &Value) -> Option<u32> {
    v.as_str()?.split('/').next()?.trim().parse().ok()
}

#[test]
fn rate_limits_and_scopes_match_the_spec() {
    let Some(spec) = load() else { return };
    let paths = spec["paths"].as_object().expect("paths");
    let mut checked = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().expect("path item") {
            let Some(rl) = op.get("x-klaviyo-ratelimit") else {
                continue;
            };
            let m = method.to_ascii_uppercase();
            let row = OPERATIONS
                .iter()
                .find(|o| o.method == m && o.path == path)
                .unwrap_or_else(|| {
                    panic!("{m} {path} has a rate limit in the spec but no row in OPERATIONS")
                });
            assert_eq!(
                Some(row.burst_per_sec),
                rate(&rl["burst"]),
                "{m} {path} burst"
            );
            assert_eq!(
                Some(row.steady_per_min),
                rate(&rl["steady"]),
                "{m} {path} steady"
            );
            assert_eq!(
                row.daily,
                rl.get("daily").and_then(rate),
                "{m} {path} daily"
            );
            let scopes: Vec<&str> = op["x-klaviyo-scopes"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            assert_eq!(row.scopes, scopes.as_slice(), "{m} {path} scopes");
            checked += 1;
        }
    }
    assert_eq!(
        checked,
        OPERATIONS.len(),
        "every OPERATIONS row comes from the spec"
    );
}

#[test]
fn every_served_path_exists_in_the_spec() {
    let Some(spec) = load() else { return };
    for (method, path) in SERVED_PATHS {
        let item = &spec["paths"][*path];
        assert!(item.is_object(), "{path} is not in the spec");
        assert!(
            item[method.to_ascii_lowercase()].is_object(),
            "{method} {path} is not in the spec"
        );
    }
}

/// The spec's query parameters for one operation, derived as
/// `src/simulator/tools/gen_params.py` derives them.
struct Derived {
    fields: Vec<(String, Vec<String>)>,
    additional: Vec<(String, Vec<String>)>,
    include: Vec<String>,
    sort: Vec<String>,
    filter: Vec<(String, Vec<String>)>,
    filter_required: bool,
    page_size: Option<(u32, u32)>,
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

fn derive(op: &Value) -> Derived {
    let mut d = Derived {
        fields: Vec::new(),
        additional: Vec::new(),
        include: Vec::new(),
        sort: Vec::new(),
        filter: Vec::new(),
        filter_required: false,
        page_size: None,
    };
    for p in op["parameters"].as_array().into_iter().flatten() {
        let name = p["name"].as_str().unwrap_or_default();
        let schema = &p["schema"];
        let bracket = |prefix: &str| {
            name.strip_prefix(prefix)
                .and_then(|r| r.strip_prefix('['))
                .and_then(|r| r.strip_suffix(']'))
                .map(str::to_owned)
        };
        if let Some(t) = bracket("fields") {
            d.fields.push((t, strings(&schema["items"]["enum"])));
        } else if let Some(t) = bracket("additional-fields") {
            d.additional.push((t, strings(&schema["items"]["enum"])));
        } else if name == "include" {
            d.include = strings(&schema["items"]["enum"]);
        } else if name == "sort" {
            let mut keys: Vec<String> = strings(&schema["enum"])
                .into_iter()
                .map(|s| s.trim_start_matches('-').to_owned())
                .collect();
            keys.sort();
            keys.dedup();
            d.sort = keys;
        } else if name == "filter" {
            d.filter_required = p["required"] == true;
            let desc = p["description"].as_str().unwrap_or_default();
            for line in desc.split("<br>") {
                let line = line.trim();
                let Some(rest) = line.strip_prefix('`') else {
                    continue;
                };
                let Some((field, ops)) = rest.split_once("`: ") else {
                    continue;
                };
                let ops = ops
                    .split(", ")
                    .map(|o| o.trim_matches('`').to_owned())
                    .collect();
                d.filter.push((field.to_owned(), ops));
            }
        } else if name == "page[size]" {
            let n = |v: &Value| v.as_u64().map(|x| x as u32);
            d.page_size = n(&schema["default"]).zip(n(&schema["maximum"]));
        }
    }
    d
}

fn owned(t: &[(&str, &[&str])]) -> Vec<(String, Vec<String>)> {
    t.iter()
        .map(|(k, v)| ((*k).to_owned(), v.iter().map(|s| (*s).to_owned()).collect()))
        .collect()
}

#[test]
fn query_parameter_table_matches_the_spec() {
    let Some(spec) = load() else { return };
    assert_eq!(QUERY_PARAMS.len(), SERVED_PATHS.len());
    for row in QUERY_PARAMS {
        assert!(
            SERVED_PATHS.contains(&(row.method, row.path)),
            "{} {} is not served",
            row.method,
            row.path
        );
        let op = &spec["paths"][row.path][row.method.to_ascii_lowercase()];
        let d = derive(op);
        let what = format!("{} {}", row.method, row.path);
        assert_eq!(owned(row.fields), d.fields, "{what} fields");
        assert_eq!(
            owned(row.additional_fields),
            d.additional,
            "{what} additional-fields"
        );
        assert_eq!(row.include, d.include.as_slice(), "{what} include");
        assert_eq!(row.sort, d.sort.as_slice(), "{what} sort");
        assert_eq!(owned(row.filter), d.filter, "{what} filter");
        assert_eq!(
            row.filter_required, d.filter_required,
            "{what} filter required"
        );
        assert_eq!(row.page_size, d.page_size, "{what} page[size]");
    }
}

#[test]
fn rate_strings_parse() {
    assert_eq!(rate(&Value::from("10/s")), Some(10));
    assert_eq!(rate(&Value::from("225/d")), Some(225));
    assert_eq!(rate(&Value::from("x")), None);
    assert_eq!(rate(&Value::Null), None);
}
