//! A grant without one read scope: Klaviyo (the simulator) answers 403 on
//! that endpoint only, and the scan goes on without that part, naming the
//! missing scope and the checks it could not run, and clearing nothing.

use crate::support;

use std::sync::Arc;

use chrono::Duration;
use lookout::chat::console::ConsoleChat;
use lookout::clock::{Clock, SimClock};
use lookout::demo::{Stack, demo_start};
use lookout::domain::ClientSlug;
use lookout::findings::ChangeKind;
use lookout::scan::pipeline::{ScanKind, TOKEN_REVOKED};
use lookout::scan::snapshot::Part;
use lookout::simulator::FaultKind;
use support::{active_checks, connect_oauth, incomplete_finding, inject};

/// ember's main list is single opt-in with an EU audience: a list check
/// finding on a full read.
const BRAND: &str = "ember";
const LIST_FINDING: &str = "compliance-single-opt-in-eu-uk";

/// The catalogue's checks that need the lists.
fn list_checks() -> Vec<&'static str> {
    lookout::checks::catalogue()
        .into_iter()
        .filter(|c| c.needs.contains(&Part::Lists))
        .map(|c| c.id)
        .collect()
}

#[tokio::test]
async fn a_grant_without_lists_read_skips_the_list_checks_and_runs_the_rest() {
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let clock = SimClock::frozen(demo_start());
    let stack = Stack::start(7, 12, clock, chat, &[BRAND])
        .await
        .expect("stack starts");
    let app = stack.app.clone();
    let slug = ClientSlug::parse(BRAND).unwrap();
    let lists = list_checks();
    assert!(lists.contains(&LIST_FINDING), "{lists:?}");

    // With the private key (every read scope): the list finding is raised.
    let full = app.scan(&slug, "test", None).await.unwrap();
    assert!(
        active_checks(&full).contains(&LIST_FINDING),
        "{:?}",
        active_checks(&full)
    );
    let list_finding = full
        .active
        .iter()
        .find(|f| f.check_id == LIST_FINDING)
        .unwrap()
        .id;

    // The client is reconnected over OAuth with every read scope but lists:read,
    // and its abandoned-checkout flow stops, so a check not needing lists has
    // something to find.
    let scopes: Vec<&str> = lookout::config::READ_SCOPES
        .iter()
        .copied()
        .filter(|s| *s != "lists:read")
        .collect();
    connect_oauth(&stack, BRAND, Some(&scopes.join(" "))).await;
    let grants = stack.sim.oauth_grants(BRAND);
    assert_eq!(grants.len(), 1);
    assert!(!grants[0].scopes.iter().any(|s| s == "lists:read"));
    inject(&stack, BRAND, FaultKind::FlowDraft, stack.clock.now());
    stack.clock.advance(Duration::minutes(5));

    let r = app.scan(&slug, "test", None).await.unwrap();
    assert_eq!(r.kind, ScanKind::Full);
    let checks = active_checks(&r);
    // The 403 did not end the scan: the other parts were read and checked.
    assert!(!checks.contains(&TOKEN_REVOKED), "{checks:?}");
    assert!(checks.contains(&"flow-live-stopped"), "{checks:?}");
    assert!(r.observations > 1, "checks ran: {}", r.observations);
    // The one gap is the lists, naming the scope; the list checks are skipped.
    assert_eq!(r.gaps.len(), 1, "{:?}", r.gaps);
    assert!(
        r.gaps[0].starts_with("Lists: ") && r.gaps[0].contains("`lists:read` scope (403)"),
        "{}",
        r.gaps[0]
    );
    for c in &lists {
        assert!(
            r.skipped.iter().any(|s| s.starts_with(c)),
            "{c} skipped: {:?}",
            r.skipped
        );
    }
    assert!(
        r.skipped
            .iter()
            .all(|s| lists.iter().any(|c| s.starts_with(c))),
        "only the list checks are skipped: {:?}",
        r.skipped
    );
    let incomplete = incomplete_finding(&r).expect("a scan-incomplete finding");
    assert!(
        incomplete.why.contains("`lists:read`") && incomplete.why.contains("could not fetch lists"),
        "{}",
        incomplete.why
    );
    for c in &lists {
        assert!(incomplete.why.contains(c), "{c}: {}", incomplete.why);
    }
    // Nothing about lists changed on missing data: the list finding is still
    // open, the same one, and no change touched a list check.
    assert!(
        r.active
            .iter()
            .any(|f| f.id == list_finding && f.check_id == LIST_FINDING),
        "{checks:?}"
    );
    let list_changes: Vec<_> = r
        .changes
        .iter()
        .filter(|c| lists.contains(&c.finding.check_id.as_str()))
        .map(|c| (&c.finding.check_id, &c.kind))
        .collect();
    assert!(list_changes.is_empty(), "{list_changes:?}");
    // The checks that ran still create findings.
    assert!(
        r.changes
            .iter()
            .any(|c| c.finding.check_id == "flow-live-stopped" && c.kind == ChangeKind::Detected),
        "{:?}",
        r.changes
    );
}
