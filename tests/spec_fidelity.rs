//! Klaviyo's OpenAPI document is the source of truth: the rate-limit table
//! and the simulator's paths must agree with it.

use std::path::PathBuf;

use lookout::klaviyo::limits::OPERATIONS;
use lookout::simulator::SERVED_PATHS;
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

#[test]
fn rate_strings_parse() {
    assert_eq!(rate(&Value::from("10/s")), Some(10));
    assert_eq!(rate(&Value::from("225/d")), Some(225));
    assert_eq!(rate(&Value::from("x")), None);
    assert_eq!(rate(&Value::Null), None);
}
