//! Pulses: the cheap five-minute reading (flow status, newest events) on top of
//! the last full scan, against the real simulator and the console chat.

use std::sync::Arc;

use chrono::Duration;
use lookout::chat::console::{ConsoleChat, ConsoleEventKind};
use lookout::clock::{Clock, SimClock};
use lookout::demo::{Stack, demo_start};
use lookout::domain::ClientSlug;
use lookout::scan::pipeline::{SCAN_INCOMPLETE, ScanKind};
use lookout::simulator::{Fault, FaultKind};

async fn stack() -> (Stack, Arc<ConsoleChat>) {
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let clock = SimClock::frozen(demo_start());
    let stack = Stack::start(7, 12, clock, chat.clone(), &["acme", "bluebird"])
        .await
        .expect("stack starts");
    (stack, chat)
}

fn acme() -> ClientSlug {
    ClientSlug::parse("acme").unwrap()
}

fn checks(r: &lookout::scan::pipeline::ScanReport) -> Vec<&str> {
    r.active.iter().map(|f| f.check_id.as_str()).collect()
}

#[tokio::test]
async fn a_pulse_before_any_full_scan_is_the_onboarding_scan() {
    let (stack, _chat) = stack().await;
    let r = stack.app.pulse(&acme(), "pulse").await.unwrap();
    assert_eq!(r.kind, ScanKind::Full);
    assert!(r.onboarding);
    assert!(r.api_calls > 15, "a full reading: {}", r.api_calls);
}

#[tokio::test]
async fn a_pulse_reads_a_handful_of_calls_and_posts_a_stopped_flow_at_once() {
    let (stack, chat) = stack().await;
    let app = stack.app.clone();
    let full = app.scan(&acme(), "test", None).await.unwrap();
    assert!(full.active.is_empty(), "{:?}", checks(&full));

    stack.sim.inject(Fault {
        brand: "acme".into(),
        kind: FaultKind::FlowDraft,
        at: stack.clock.now() + Duration::minutes(1),
        until: None,
    });
    stack.clock.advance(Duration::minutes(5));
    let pulse = app.pulse(&acme(), "pulse").await.unwrap();
    assert_eq!(pulse.kind, ScanKind::Pulse);
    assert!(!pulse.onboarding);
    // Flows (one page), the newest event of up to four freshness metrics and
    // the latest hours of up to four deliverability metrics.
    assert!(
        (2..=10).contains(&pulse.api_calls),
        "a pulse is cheap: {} calls against {} for a full scan",
        pulse.api_calls,
        full.api_calls
    );
    assert_eq!(checks(&pulse), ["flow-live-stopped"]);
    app.deliverer.run_once().await.unwrap();
    let posted = chat
        .transcript()
        .into_iter()
        .filter(|e| e.kind == ConsoleEventKind::Post && e.text.contains("stopped"))
        .count();
    assert_eq!(posted, 1, "the pulse's finding is posted");

    // The flow goes live again: the next pulse resolves it.
    stack.sim.clear("acme", FaultKind::FlowDraft);
    stack.clock.advance(Duration::minutes(5));
    let pulse = app.pulse(&acme(), "pulse").await.unwrap();
    assert!(pulse.active.is_empty(), "{:?}", checks(&pulse));
}

#[tokio::test]
async fn a_pulse_sees_orders_stop_from_the_newest_event_alone() {
    let (stack, _chat) = stack().await;
    let app = stack.app.clone();
    app.scan(&acme(), "test", None).await.unwrap();
    stack.sim.inject(Fault {
        brand: "acme".into(),
        kind: FaultKind::OrdersStop,
        at: stack.clock.now(),
        until: None,
    });
    // Silent for longer than the store's normal gap (at least 6 hours), with
    // no full scan in between: the baseline is the first scan's.
    stack.clock.advance(Duration::hours(10));
    let pulse = app.pulse(&acme(), "pulse").await.unwrap();
    assert_eq!(pulse.kind, ScanKind::Pulse);
    assert!(
        checks(&pulse).contains(&"integration-orders-silent"),
        "{:?}",
        checks(&pulse)
    );

    // Orders come back. Still no full scan: only the pulse's own read of the
    // newest order (not the baseline's, twelve hours old by then) can clear it.
    stack.sim.clear("acme", FaultKind::OrdersStop);
    stack.clock.advance(Duration::hours(2));
    let pulse = app.pulse(&acme(), "pulse").await.unwrap();
    assert_eq!(pulse.kind, ScanKind::Pulse);
    assert!(
        !checks(&pulse).contains(&"integration-orders-silent"),
        "{:?}",
        checks(&pulse)
    );
}

#[tokio::test]
async fn a_pulse_neither_clears_full_scan_findings_nor_reports_its_own_failures() {
    let (stack, _chat) = stack().await;
    let app = stack.app.clone();
    app.scan(&acme(), "test", None).await.unwrap();

    // A full scan during an outage: the scan is incomplete.
    stack.sim.inject(Fault {
        brand: "acme".into(),
        kind: FaultKind::ServerErrors,
        at: stack.clock.now(),
        until: None,
    });
    stack.clock.advance(Duration::minutes(5));
    let full = app.scan(&acme(), "test", None).await.unwrap();
    assert!(
        checks(&full).contains(&SCAN_INCOMPLETE),
        "{:?}",
        checks(&full)
    );
    let incomplete = full
        .active
        .iter()
        .find(|f| f.check_id == SCAN_INCOMPLETE)
        .unwrap();
    assert!(
        incomplete.why.contains("Checks not run") && incomplete.why.contains("flow-live-stopped"),
        "the finding names the checks it could not run: {}",
        incomplete.why
    );

    // A pulse during the same outage adds nothing and changes nothing.
    stack.clock.advance(Duration::minutes(5));
    let failed = app.pulse(&acme(), "pulse").await.unwrap();
    assert_eq!(failed.kind, ScanKind::Pulse);
    assert!(failed.changes.is_empty(), "{:?}", failed.changes);
    assert_eq!(checks(&failed), checks(&full));

    // Klaviyo recovers. A pulse reads fine but cannot judge the full scan's
    // gaps, so the incomplete-scan finding stays until a full scan.
    stack.sim.clear("acme", FaultKind::ServerErrors);
    stack.clock.advance(Duration::minutes(5));
    let pulse = app.pulse(&acme(), "pulse").await.unwrap();
    assert!(
        checks(&pulse).contains(&SCAN_INCOMPLETE),
        "{:?}",
        checks(&pulse)
    );
    stack.clock.advance(Duration::minutes(5));
    let full = app.scan(&acme(), "test", None).await.unwrap();
    assert!(full.active.is_empty(), "{:?}", checks(&full));
}

#[tokio::test]
async fn a_pulse_sees_a_bounce_spike_within_the_hour_and_keeps_the_report_findings() {
    let (stack, _chat) = stack().await;
    let app = stack.app.clone();
    let full = app.scan(&acme(), "test", None).await.unwrap();
    assert!(full.active.is_empty(), "{:?}", checks(&full));
    stack.sim.inject(Fault {
        brand: "acme".into(),
        kind: FaultKind::BounceSpike,
        at: stack.clock.now(),
        until: None,
    });
    // Pulses every five minutes, no full scan: the spike is seen from the
    // pulses' own reads of the latest hours, long before the day's rate moves.
    let mut seen_after = None;
    for i in 1..=12 {
        stack.clock.advance(Duration::minutes(5));
        let pulse = app.pulse(&acme(), "pulse").await.unwrap();
        assert_eq!(pulse.kind, ScanKind::Pulse);
        if let Some(f) = pulse
            .active
            .iter()
            .find(|f| f.check_id == "deliv-bounce-rate")
        {
            assert_eq!(f.subject, "email");
            assert!(f.title.ends_with("over the last 2 h"), "{}", f.title);
            seen_after = Some(i * 5);
            break;
        }
    }
    let minutes = seen_after.expect("a pulse within the hour saw the spike");
    assert!(minutes <= 45, "seen after {minutes} minutes");
    // The spike ends; the pulses clear what they raised, once the latest
    // hours are back under the line (the day's rate never crossed it).
    stack.sim.clear("acme", FaultKind::BounceSpike);
    stack.clock.advance(Duration::hours(3));
    let pulse = app.pulse(&acme(), "pulse").await.unwrap();
    assert!(
        !checks(&pulse).contains(&"deliv-bounce-rate"),
        "{:?}",
        checks(&pulse)
    );
}
