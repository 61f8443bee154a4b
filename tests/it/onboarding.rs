//! The onboarding audit: a new client's first scan posts one kickoff summary
//! and no separate alerts; `/audit-report` builds it again with a document.

use std::sync::Arc;

use chrono::Duration;
use lookout::chat::console::{ConsoleChat, ConsoleEventKind};
use lookout::clock::{Clock, SimClock};
use lookout::demo::{Stack, demo_start};
use lookout::domain::{ClientSlug, Severity};
use lookout::simulator::{Fault, FaultKind};

use crate::support;

use support::run_command as run;

#[tokio::test]
async fn the_first_scan_posts_one_kickoff_and_later_scans_alert_as_usual() {
    let files = tempfile::tempdir().unwrap();
    let chat =
        Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())).with_files_dir(files.path()));
    let clock = SimClock::frozen(demo_start());
    // fjord's account has no postal address: a critical finding at once.
    let stack = Stack::start(7, 12, clock, chat.clone(), &["fjord"])
        .await
        .expect("stack starts");
    let fjord = ClientSlug::parse("fjord").unwrap();
    let first = stack.app.scan(&fjord, "test", None).await.unwrap();
    assert!(first.onboarding);
    let critical: Vec<_> = first
        .active
        .iter()
        .filter(|f| f.severity == Severity::Critical)
        .collect();
    assert!(
        critical
            .iter()
            .any(|f| f.check_id == "compliance-postal-address"),
        "{:?}",
        first.active
    );
    stack.app.deliverer.run_once().await.unwrap();
    let posts: Vec<_> = chat
        .transcript()
        .into_iter()
        .filter(|e| e.kind == ConsoleEventKind::Post && e.channel.id == "client-fjord")
        .collect();
    assert_eq!(
        posts.len(),
        1,
        "one kickoff, no alert per finding: {:?}",
        posts.iter().map(|p| &p.text).collect::<Vec<_>>()
    );
    let kickoff = &posts[0].text;
    assert!(kickoff.contains("Onboarding audit for"), "{kickoff}");
    assert!(kickoff.contains("Suggested order of work"), "{kickoff}");
    assert!(kickoff.contains("1. `F-"), "{kickoff}");
    // Critical items come first in the order of work.
    let first_item = kickoff.split("1. ").nth(1).unwrap_or("").replace('`', "");
    let postal = critical
        .iter()
        .map(|f| f.id.to_string())
        .collect::<Vec<_>>();
    assert!(
        postal.iter().any(|id| first_item.starts_with(id.as_str())),
        "{kickoff}"
    );

    // Later scans behave normally: a new critical finding is posted on its own.
    stack.sim.inject(Fault {
        brand: "fjord".into(),
        kind: FaultKind::FlowDraft,
        at: stack.clock.now(),
        until: None,
    });
    stack.clock.advance(Duration::minutes(10));
    let second = stack.app.scan(&fjord, "test", None).await.unwrap();
    assert!(!second.onboarding);
    stack.app.deliverer.run_once().await.unwrap();
    let alerts = chat
        .transcript()
        .into_iter()
        .filter(|e| {
            e.kind == ConsoleEventKind::Post
                && e.channel.id == "client-fjord"
                && !e.text.contains("Onboarding audit")
        })
        .count();
    assert_eq!(alerts, 1, "the stopped flow is alerted by itself");

    // /audit-report builds the kickoff again, with a Markdown document.
    let answer = run(&stack, "ana", "client-fjord", "/audit-report fjord")
        .await
        .unwrap();
    assert!(answer.contains("posting it in this channel"), "{answer}");
    stack.app.deliverer.run_once().await.unwrap();
    let again = support::posts_containing(&chat, "Onboarding audit for");
    assert_eq!(again, 2);
    let docs = support::markdown_files(files.path());
    assert_eq!(docs.len(), 1, "{docs:?}");
    let doc = std::fs::read_to_string(&docs[0]).unwrap();
    assert!(doc.starts_with("# Onboarding audit:"), "{doc}");
    assert!(doc.contains("## Suggested order of work"), "{doc}");
    for f in &first.active {
        assert!(doc.contains(&f.id.to_string()), "{} missing:\n{doc}", f.id);
    }
    // The stopped flow came later: not part of the audit.
    assert!(!doc.contains("flow-live-stopped") && !doc.to_lowercase().contains("stopped (now"));
}

#[tokio::test]
async fn an_unscanned_client_has_no_audit_yet() {
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let stack = Stack::start(7, 12, SimClock::frozen(demo_start()), chat, &["acme"])
        .await
        .expect("stack starts");
    let err = run(&stack, "ana", "client-acme", "/audit-report acme")
        .await
        .unwrap_err();
    assert!(err.contains("/scan acme"), "{err}");
    let viewer = run(&stack, "stranger", "client-acme", "/audit-report acme")
        .await
        .unwrap_err();
    assert!(viewer.contains("am role"), "{viewer}");
}
