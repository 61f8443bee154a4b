//! The ops listener through the real start-up: `/healthz`, `/readyz` and
//! `/metrics` on 127.0.0.1:0, the outbox and findings series after a scan and
//! a delivery, `/readyz` refusing a database that lacks the newest migration,
//! and the listener closing on shutdown.
//!
//! Only the first test scrapes `/metrics`: the recorder is process-wide, so
//! another stack's scrape would overwrite the store-read gauges in between.

use std::sync::Arc;

use chrono::Duration;
use lookout::chat::console::ConsoleChat;
use lookout::clock::SimClock;
use lookout::demo::{Stack, demo_start};
use lookout::domain::ClientSlug;
use lookout::startup::StartOptions;
use lookout::store::Store;
use serde_json::Value;

/// Starts a stack serving the ops endpoints on a free loopback port; nothing
/// runs in the background, so the test drives scans and deliveries.
async fn stack(clock: SimClock, store: Option<Store>) -> Stack {
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let opts = StartOptions {
        adapters: vec![chat],
        store,
        background: false,
        inbound: true,
        ..StartOptions::new(Arc::new(clock.clone()))
    };
    Stack::launch_with(
        7,
        12,
        clock,
        &["fjord"],
        |c| c.ops.listen = Some("127.0.0.1:0".into()),
        opts,
    )
    .await
    .expect("stack starts")
}

/// The value of the one series named `name` whose line holds every label.
fn sample(text: &str, name: &str, labels: &[&str]) -> Option<f64> {
    text.lines()
        .find(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
                && labels.iter().all(|x| l.contains(x))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn scrape(http: &reqwest::Client, base: &str) -> String {
    let r = http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let kind = r.headers()["content-type"].to_str().unwrap().to_owned();
    assert!(kind.starts_with("text/plain"), "{kind}");
    r.text().await.unwrap()
}

#[tokio::test]
async fn health_readiness_and_metrics_after_a_scan_and_a_delivery() {
    let clock = SimClock::frozen(demo_start());
    let mut stack = stack(clock.clone(), None).await;
    let addr = stack.running.ops_addr.expect("the ops listener runs");
    assert!(addr.ip().is_loopback());
    assert_ne!(
        Some(addr),
        stack.running.http_addr,
        "not on the chat server"
    );
    let base = format!("http://{addr}");
    let http = reqwest::Client::new();

    let r = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "ready", "{v}");

    // Before anything happened, the series are there.
    let text = scrape(&http, &base).await;
    assert_eq!(
        sample(&text, "lookout_leases_taken_over_total", &[]),
        Some(0.0),
        "{text}"
    );
    assert!(
        sample(&text, "lookout_scheduler_queue_depth", &[]).is_some(),
        "{text}"
    );
    assert_eq!(sample(&text, "lookout_outbox_pending", &[]), Some(0.0));
    assert_eq!(sample(&text, "lookout_outbox_lag_seconds", &[]), Some(0.0));
    assert_eq!(
        sample(
            &text,
            "lookout_findings",
            &["state=\"open\"", "severity=\"critical\""]
        ),
        Some(0.0),
        "{text}"
    );

    // fjord's account has no postal address: a critical finding at its first scan.
    let fjord = ClientSlug::parse("fjord").unwrap();
    let report = stack.app.scan(&fjord, "test", None).await.unwrap();
    let open_critical = report
        .active
        .iter()
        .filter(|f| f.severity == lookout::domain::Severity::Critical)
        .count();
    assert!(open_critical >= 1, "{:?}", report.active);
    clock.advance(Duration::seconds(90));
    let text = scrape(&http, &base).await;
    let pending = sample(&text, "lookout_outbox_pending", &[]).unwrap();
    assert!(pending >= 1.0, "{text}");
    assert_eq!(
        sample(&text, "lookout_outbox_lag_seconds", &[]),
        Some(90.0),
        "the oldest undelivered row was written 90 s ago: {text}"
    );
    assert_eq!(
        sample(
            &text,
            "lookout_findings",
            &["state=\"open\"", "severity=\"critical\""]
        ),
        Some(open_critical as f64),
        "{text}"
    );
    let total: f64 = ["open", "acknowledged", "snoozed", "resolved"]
        .iter()
        .flat_map(|s| {
            ["critical", "warning", "opportunity"].map(|v| {
                sample(
                    &text,
                    "lookout_findings",
                    &[&format!("state=\"{s}\""), &format!("severity=\"{v}\"")],
                )
                .unwrap_or_else(|| panic!("{s}/{v} missing: {text}"))
            })
        })
        .sum();
    assert_eq!(total, report.active.len() as f64, "{text}");

    let pass = stack.app.deliverer.run_once().await.unwrap();
    assert!(pass.sent >= 1, "{pass:?}");
    let text = scrape(&http, &base).await;
    assert_eq!(sample(&text, "lookout_outbox_pending", &[]), Some(0.0));
    assert_eq!(sample(&text, "lookout_outbox_lag_seconds", &[]), Some(0.0));
    let sent = sample(
        &text,
        "lookout_outbox_deliveries_total",
        &["platform=\"console\"", "outcome=\"sent\""],
    )
    .unwrap_or_else(|| panic!("{text}"));
    assert!(sent >= pass.sent as f64, "{sent} < {pass:?}");
    // Nothing personal or secret in a label.
    assert!(!text.contains("F-"), "no finding ids: {text}");

    // Shutdown closes the ops listener.
    stack.running.shutdown().await;
    assert!(
        reqwest::Client::new()
            .get(format!("{base}/healthz"))
            .send()
            .await
            .is_err(),
        "the ops listener stops with the rest"
    );
}

#[tokio::test]
async fn readyz_is_503_when_the_database_lacks_the_newest_migration() {
    use sqlx::Connection;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("lookout.db");
    let store = Store::open_file(&path).await.unwrap();
    let stack = stack(SimClock::frozen(demo_start()), Some(store)).await;
    let base = format!("http://{}", stack.running.ops_addr.unwrap());
    let http = reqwest::Client::new();
    let r = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    // As if the newest migration had never run: its row goes from the
    // migrations table, behind the running store's back.
    let mut raw = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    let newest: i64 = sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations")
        .fetch_one(&mut raw)
        .await
        .unwrap();
    sqlx::query("DELETE FROM _sqlx_migrations WHERE version = ?")
        .bind(newest)
        .execute(&mut raw)
        .await
        .unwrap();
    raw.close().await.unwrap();

    let r = http.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 503);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "not ready", "{v}");
    let reason = v["reason"].as_str().unwrap();
    assert!(
        reason.contains(&newest.to_string()) && reason.contains("lookout migrate"),
        "{reason}"
    );
    // Up all the same.
    let r = http.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
}
