//! Every fault the simulator can inject, found end to end: injected into one
//! brand of a small simulated portfolio, read by a real scan (or pulse), and
//! asserted on what Lookout reports.
//!
//! Data faults become their check's finding; a dead credential becomes the
//! access finding; a Klaviyo that cannot be read becomes `scan-incomplete`
//! naming what it could not fetch, clearing nothing; faults a retry or a
//! token refresh gets through leave no trace. `Timeout` hangs requests for
//! 120 s and the app's client waits 30 s per try (its config has no timeout
//! setting), so that one reads the account through a client with a short
//! timeout, the way a scan does, and asserts on the snapshot's gaps.

use crate::support;

use std::sync::Arc;
use std::time::Instant;

use chrono::Duration;
use lookout::chat::console::ConsoleChat;
use lookout::clock::{Clock, SimClock};
use lookout::connections::Status;
use lookout::demo::{Stack, demo_start};
use lookout::domain::{ClientSlug, Severity};
use lookout::klaviyo::{Credential, KlaviyoClient, KlaviyoConfig};
use lookout::routing::Mode;
use lookout::scan::fetch::build_snapshot;
use lookout::scan::pipeline::{SCAN_INCOMPLETE, ScanKind, ScanReport, TOKEN_REVOKED};
use lookout::simulator::FaultKind;
use support::{active_checks, connect_oauth, incomplete_finding, inject, observation, record};

/// The brand every fault goes to; the portfolio's other brands are clients too.
const BRAND: &str = "acme";

fn acme() -> ClientSlug {
    ClientSlug::parse(BRAND).unwrap()
}

/// Three simulated brands, all clients, on a frozen clock.
async fn stack() -> Stack {
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let clock = SimClock::frozen(demo_start());
    Stack::start(7, 3, clock, chat, &[])
        .await
        .expect("stack starts")
}

/// A stack whose brand has had its clean onboarding scan.
async fn scanned() -> Stack {
    let stack = stack().await;
    let first = stack.app.scan(&acme(), "test", None).await.unwrap();
    assert!(first.onboarding);
    assert!(first.active.is_empty(), "{:?}", active_checks(&first));
    stack
}

async fn scan(stack: &Stack) -> ScanReport {
    stack.app.scan(&acme(), "test", None).await.unwrap()
}

fn assert_complete(r: &ScanReport) {
    assert!(r.gaps.is_empty(), "{:?}", r.gaps);
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    assert!(
        !active_checks(r).contains(&SCAN_INCOMPLETE),
        "{:?}",
        active_checks(r)
    );
}

/// A data fault after a clean scan: `hours` later a full scan (or a pulse)
/// reports `check` and reads the whole account.
async fn data_fault(kind: FaultKind, hours: i64, pulse: bool, check: &str) {
    let stack = scanned().await;
    inject(&stack, BRAND, kind, stack.clock.now());
    stack.clock.advance(Duration::hours(hours));
    let r = if pulse {
        stack.app.pulse(&acme(), "pulse").await.unwrap()
    } else {
        scan(&stack).await
    };
    assert_eq!(
        r.kind,
        if pulse {
            ScanKind::Pulse
        } else {
            ScanKind::Full
        }
    );
    assert!(
        active_checks(&r).contains(&check),
        "{kind}: {:?}",
        active_checks(&r)
    );
    assert_complete(&r);
}

#[tokio::test]
async fn flow_draft_is_a_stopped_flow() {
    data_fault(FaultKind::FlowDraft, 1, false, "flow-live-stopped").await;
}

#[tokio::test]
async fn flow_manual_is_a_stopped_flow_at_the_next_pulse() {
    data_fault(FaultKind::FlowManual, 1, true, "flow-live-stopped").await;
}

#[tokio::test]
async fn orders_stop_is_a_silent_integration_after_hours_of_silence() {
    // The store orders every hour; ten silent hours are well past its usual gap.
    data_fault(
        FaultKind::OrdersStop,
        10,
        false,
        "integration-orders-silent",
    )
    .await;
}

#[tokio::test]
async fn bounce_spike_is_a_bounce_rate_finding() {
    // 8% of twelve of the last 24 hours is well over the 0.8% line.
    data_fault(FaultKind::BounceSpike, 12, false, "deliv-bounce-rate").await;
}

#[tokio::test]
async fn spam_spike_is_a_spam_rate_finding() {
    // 0.4% of twelve of the last 24 hours is over the 0.08% line.
    data_fault(FaultKind::SpamSpike, 12, false, "deliv-spam-rate").await;
}

/// The access finding of a scan, which must be the only thing it says.
#[tokio::test]
async fn a_broken_link_is_a_broken_links_finding_and_clears_when_the_page_is_back() {
    data_fault(FaultKind::BrokenLink, 1, false, "content-broken-links").await;
    let stack = scanned().await;
    inject(&stack, BRAND, FaultKind::BrokenLink, stack.clock.now());
    stack.clock.advance(Duration::hours(1));
    let r = scan(&stack).await;
    let broken = r
        .active
        .iter()
        .filter(|f| f.check_id == "content-broken-links")
        .collect::<Vec<_>>();
    assert!(!broken.is_empty());
    assert!(
        broken
            .iter()
            .all(|f| f.why.contains("https://acme.example.com/shop (404)")),
        "{broken:?}"
    );
    assert!(stack.sim.clear(BRAND, FaultKind::BrokenLink));
    stack.clock.advance(Duration::hours(1));
    let r = scan(&stack).await;
    assert!(
        !active_checks(&r).contains(&"content-broken-links"),
        "{:?}",
        active_checks(&r)
    );
}

fn only_revoked(r: &ScanReport) -> &lookout::findings::Finding {
    assert_eq!(active_checks(r), [TOKEN_REVOKED], "{:?}", r.active);
    let f = &r.active[0];
    assert_eq!(f.severity, Severity::Critical);
    assert!(f.why.contains("/connect acme"), "{}", f.why);
    f
}

#[tokio::test]
async fn a_revoked_key_is_the_access_finding() {
    let stack = scanned().await;
    inject(&stack, BRAND, FaultKind::TokenRevoked, stack.clock.now());
    stack.clock.advance(Duration::minutes(5));
    let r = scan(&stack).await;
    let f = only_revoked(&r);
    assert!(f.why.contains("401"), "{}", f.why);
}

#[tokio::test]
async fn a_revoked_grant_is_the_access_finding() {
    let stack = stack().await;
    connect_oauth(&stack, BRAND, None).await;
    inject(&stack, BRAND, FaultKind::GrantRevoked, stack.clock.now());
    stack.clock.advance(Duration::minutes(5));
    let r = scan(&stack).await;
    only_revoked(&r);
    let g = stack.app.connections.grant(&acme()).await.unwrap().unwrap();
    assert_eq!(g.status, Status::Reauth);
}

#[tokio::test]
async fn an_expired_refresh_token_asks_for_reauthorisation_once_the_access_token_lapses() {
    let stack = stack().await;
    connect_oauth(&stack, BRAND, None).await;
    inject(&stack, BRAND, FaultKind::RefreshExpired, stack.clock.now());
    // The access token issued at connect still works for its hour.
    stack.clock.advance(Duration::minutes(5));
    assert_complete(&scan(&stack).await);
    // Past it, the refresh is refused: the grant needs re-authorising.
    stack.clock.advance(Duration::hours(2));
    let r = scan(&stack).await;
    let f = only_revoked(&r);
    assert!(f.why.contains("no longer honours"), "{}", f.why);
    let g = stack.app.connections.grant(&acme()).await.unwrap().unwrap();
    assert_eq!(g.status, Status::Reauth);
}

/// A request fault in force for the whole scan: the scan completes with a
/// `scan-incomplete` finding whose text has each of `says`, and a finding
/// open before it stays open.
async fn unreadable(kind: FaultKind, says: &[&str]) -> ScanReport {
    let stack = scanned().await;
    let now = stack.clock.now();
    let open = observation(
        "flow-live-stopped",
        "F-open",
        Severity::Critical,
        "Flow stopped",
    );
    record(&stack.app, BRAND, open, now, Mode::Normal).await;
    inject(&stack, BRAND, kind, now);
    stack.clock.advance(Duration::minutes(5));
    let r = scan(&stack).await;
    assert_eq!(r.kind, ScanKind::Full);
    let incomplete = incomplete_finding(&r)
        .unwrap_or_else(|| panic!("{kind}: no {SCAN_INCOMPLETE} in {:?}", active_checks(&r)));
    for s in says {
        assert!(
            incomplete.why.contains(s),
            "{kind}: {s}: {}",
            incomplete.why
        );
    }
    assert!(
        r.active
            .iter()
            .any(|f| f.check_id == "flow-live-stopped" && f.subject == "F-open"),
        "{kind}: nothing clears on missing data: {:?}",
        active_checks(&r)
    );
    assert!(!active_checks(&r).contains(&TOKEN_REVOKED));
    r
}

#[tokio::test]
async fn server_errors_are_an_incomplete_scan() {
    unreadable(
        FaultKind::ServerErrors,
        &[
            "could not fetch flows: Klaviyo answered 503",
            "could not fetch lists",
            "could not fetch the account",
            "Checks not run",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_throttle_storm_is_an_incomplete_scan() {
    unreadable(
        FaultKind::ThrottleStorm,
        &[
            "could not fetch flows: Klaviyo kept throttling",
            "could not fetch metrics",
            "Checks not run",
        ],
    )
    .await;
}

#[tokio::test]
async fn malformed_pages_are_an_incomplete_scan() {
    unreadable(
        FaultKind::MalformedPage,
        &[
            "could not fetch flows: could not read Klaviyo's response",
            "could not fetch lists",
            "Checks not run",
        ],
    )
    .await;
}

#[tokio::test]
async fn truncated_bodies_on_every_try_are_an_incomplete_scan() {
    unreadable(
        FaultKind::TruncatedBody,
        &[
            "could not fetch flows: Klaviyo's answer was cut off",
            "Checks not run",
        ],
    )
    .await;
}

#[tokio::test]
async fn a_hanging_klaviyo_is_a_gap_for_every_part_not_a_failed_scan() {
    let stack = stack().await;
    inject(&stack, BRAND, FaultKind::Timeout, stack.clock.now());
    let key = stack
        .sim
        .brands()
        .into_iter()
        .find(|b| b.slug == BRAND)
        .unwrap()
        .api_key;
    let klaviyo = KlaviyoClient::new(KlaviyoConfig {
        base_url: format!("http://{}", stack.sim_addr),
        timeout: std::time::Duration::from_millis(300),
        max_retries: 1,
        ..KlaviyoConfig::default()
    })
    .unwrap();
    let api = klaviyo.account(BRAND, Credential::ApiKey(key));
    let started = Instant::now();
    let snap = build_snapshot(&api, &acme(), stack.clock.now(), None)
        .await
        .expect("a timeout is a gap, not an error");
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(snap.account.is_none() && snap.flows.is_none() && snap.lists.is_none());
    assert!(snap.campaigns.is_none() && snap.metrics.is_none() && snap.activity.is_none());
    let reasons: Vec<&str> = snap.gaps.iter().map(|g| g.reason.as_str()).collect();
    for what in [
        "the account",
        "flows",
        "lists",
        "metrics",
        "email campaigns",
    ] {
        let want = format!("could not fetch {what}: Klaviyo did not answer in time");
        assert!(
            reasons.iter().any(|r| r.starts_with(&want)),
            "{want}: {reasons:?}"
        );
    }
}

#[tokio::test]
async fn a_server_burst_is_retried_through() {
    let stack = scanned().await;
    let before = stack.sim.request_stats();
    inject(&stack, BRAND, FaultKind::ServerBurst, stack.clock.now());
    stack.clock.advance(Duration::minutes(5));
    let r = scan(&stack).await;
    assert_complete(&r);
    assert!(r.active.is_empty(), "{:?}", active_checks(&r));
    // Every 5xx was asked again and got through: the scan's requests are a
    // clean scan's (the first one's) plus one per 5xx, less the three report
    // calls (campaign values, flow series, form series) it reuses from the
    // scan a moment ago.
    let after = stack.sim.request_stats();
    let failed = after.server_errors - before.server_errors;
    assert!(failed > 0, "the fault was in force: {after:?}");
    const REPORTS_REUSED: u64 = 3;
    assert_eq!(
        after.requests - before.requests,
        before.requests - REPORTS_REUSED + failed
    );
}

#[tokio::test]
async fn a_slow_klaviyo_is_waited_for() {
    let stack = scanned().await;
    inject(&stack, BRAND, FaultKind::Slow, stack.clock.now());
    stack.clock.advance(Duration::minutes(5));
    let started = Instant::now();
    let r = scan(&stack).await;
    // The metrics and then their aggregates: two late answers in a row at least.
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(3),
        "the fault was in force: {:?}",
        started.elapsed()
    );
    assert_complete(&r);
    assert!(r.active.is_empty(), "{:?}", active_checks(&r));
}

#[tokio::test]
async fn an_expired_access_token_is_refreshed_and_the_scan_goes_on() {
    let stack = stack().await;
    connect_oauth(&stack, BRAND, None).await;
    let refreshes = stack.sim.oauth_grants(BRAND)[0].refreshes;
    // Tokens issued before the fault count as expired, though not yet an hour old.
    inject(
        &stack,
        BRAND,
        FaultKind::TokenExpired,
        stack.clock.now() + Duration::minutes(1),
    );
    stack.clock.advance(Duration::minutes(5));
    let r = scan(&stack).await;
    assert_complete(&r);
    assert!(r.active.is_empty(), "{:?}", active_checks(&r));
    assert_eq!(
        stack.sim.oauth_grants(BRAND)[0].refreshes,
        refreshes + 1,
        "one refresh after the 401"
    );
}
