//! End to end: the real simulator on a random port, the real app, the console
//! chat recording every call, on a simulated clock driven by the test.

use std::sync::Arc;

use chrono::Duration;
use lookout::chat::console::{ConsoleChat, ConsoleEventKind};
use lookout::clock::{Clock, SimClock};
use lookout::commands::parse::parse_line;
use lookout::commands::{self, Invocation};
use lookout::demo::{Stack, demo_start};
use lookout::domain::{ClientSlug, Severity};
use lookout::findings::{FindingState, Findings};
use lookout::message::{ChannelRef, PersonRef};
use lookout::scan::pipeline::{SCAN_INCOMPLETE, TOKEN_REVOKED};
use lookout::simulator::{Fault, FaultKind};

const THREE: [&str; 3] = ["acme", "bluebird", "cedar-co"];

async fn stack() -> (Stack, Arc<ConsoleChat>) {
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let clock = SimClock::frozen(demo_start());
    let stack = Stack::start(7, 12, clock, chat.clone(), &THREE)
        .await
        .expect("stack starts");
    (stack, chat)
}

fn slug(s: &str) -> ClientSlug {
    ClientSlug::parse(s).unwrap()
}

/// Scans the three brands concurrently and delivers the outbox.
async fn scan_all(stack: &Stack) -> Vec<lookout::scan::pipeline::ScanReport> {
    let app = &stack.app;
    let [s0, s1, s2] = THREE.map(slug);
    let (a, b, c) = tokio::join!(
        app.scan(&s0, "test", None),
        app.scan(&s1, "test", None),
        app.scan(&s2, "test", None),
    );
    let reports = vec![a.unwrap(), b.unwrap(), c.unwrap()];
    let pass = app.deliverer.run_once().await.unwrap();
    assert_eq!(pass.failed, 0, "{pass:?}");
    reports
}

#[tokio::test]
async fn a_fault_is_posted_once_acknowledged_by_command_and_resolved_when_it_clears() {
    let (stack, chat) = stack().await;
    let app = stack.app.clone();

    // First scans are the onboarding audits: the three healthy brands are clean.
    for r in scan_all(&stack).await {
        assert!(r.onboarding);
        assert!(r.gaps.is_empty(), "{}: {:?}", r.client, r.gaps);
        assert!(
            r.active.is_empty(),
            "{} should be clean: {:?}",
            r.client,
            r.active.iter().map(|f| &f.title).collect::<Vec<_>>()
        );
    }
    let audits = chat
        .transcript()
        .iter()
        .filter(|e| e.text.contains("Onboarding audit"))
        .count();
    assert_eq!(audits, 3);

    // bluebird's abandoned-checkout flow goes to draft.
    let at = stack.clock.now() + Duration::minutes(5);
    stack.sim.inject(Fault {
        brand: "bluebird".into(),
        kind: FaultKind::FlowDraft,
        at,
        until: None,
    });
    stack.clock.advance(Duration::hours(1));
    let reports = scan_all(&stack).await;
    let bluebird = &reports[1];
    assert_eq!(bluebird.active.len(), 1, "{:?}", bluebird.active);
    let f = &bluebird.active[0];
    assert_eq!(f.check_id, "flow-live-stopped");
    assert_eq!(f.severity, Severity::Critical);
    assert!(!f.onboarding);
    assert!(
        reports[0].active.is_empty() && reports[2].active.is_empty(),
        "the fault stays with its brand"
    );

    // Still broken an hour later: still one finding, still one message.
    stack.clock.advance(Duration::hours(1));
    let reports = scan_all(&stack).await;
    assert_eq!(reports[1].active.len(), 1);
    assert_eq!(reports[1].active[0].id, f.id);
    let posts: Vec<_> = chat
        .transcript()
        .into_iter()
        .filter(|e| e.kind == ConsoleEventKind::Post && e.text.contains(&f.title))
        .collect();
    assert_eq!(posts.len(), 1, "posted exactly once");
    assert_eq!(
        posts[0].channel,
        ChannelRef::console("client-bluebird"),
        "in its client's channel only"
    );
    assert!(
        posts[0].text.contains("[Acknowledge] [Snooze] [Resolve]"),
        "{}",
        posts[0].text
    );
    assert!(
        posts[0].text.contains("@ana") || posts[0].text.contains("@bo"),
        "owner is mentioned: {}",
        posts[0].text
    );
    let msg_ref = posts[0].message_ref.clone();

    // Someone acknowledges it from the client's channel.
    let inv = Invocation {
        person: PersonRef::console("ana"),
        channel: posts[0].channel.clone(),
    };
    let cmd = parse_line(&format!("/ack {}", f.id)).unwrap();
    let reply = commands::run(&app, &inv, &cmd).await.unwrap();
    assert!(
        reply.message.to_plain().contains("Acknowledged by ana"),
        "{}",
        reply.message.to_plain()
    );
    app.deliverer.run_once().await.unwrap();
    let edits: Vec<_> = chat
        .transcript()
        .into_iter()
        .filter(|e| e.kind == ConsoleEventKind::Update && e.message_ref == msg_ref)
        .collect();
    assert_eq!(edits.len(), 1);
    assert!(edits[0].text.contains("Acknowledged by ana"));
    assert!(
        !edits[0].text.contains("[Acknowledge]"),
        "buttons follow the state"
    );

    // The same command from another client's channel is refused.
    let elsewhere = Invocation {
        channel: ChannelRef::console("client-acme"),
        ..inv.clone()
    };
    let err = commands::run(
        &app,
        &elsewhere,
        &parse_line(&format!("/resolve {}", f.id)).unwrap(),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("client-bluebird"), "{err}");

    // The fault clears: the next scan resolves the finding and edits its message.
    stack.sim.clear("bluebird", FaultKind::FlowDraft);
    stack.clock.advance(Duration::hours(1));
    let reports = scan_all(&stack).await;
    assert!(reports[1].active.is_empty());
    let mut conn = app.store.conn().await.unwrap();
    let after = Findings::get(&mut conn, f.id).await.unwrap();
    assert_eq!(after.state, FindingState::Resolved);
    assert_eq!(after.resolved_by.as_deref(), Some("lookout"));
    let kinds: Vec<String> = Findings::events(&mut conn, f.id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["detected", "acknowledged", "cleared"]);
    let last_edit = chat
        .transcript()
        .into_iter()
        .rev()
        .find(|e| e.kind == ConsoleEventKind::Update && e.message_ref == msg_ref)
        .unwrap();
    assert!(last_edit.text.contains("Resolved"), "{}", last_edit.text);
    let posts = chat
        .transcript()
        .into_iter()
        .filter(|e| e.kind == ConsoleEventKind::Post && e.text.contains(&f.title))
        .count();
    assert_eq!(posts, 1, "never posted twice");
}

#[tokio::test]
async fn klaviyo_outages_and_revoked_keys_become_findings_and_clear_nothing() {
    let (stack, _chat) = stack().await;
    let app = stack.app.clone();
    let now = stack.clock.now();
    // acme has a real problem first.
    stack.sim.inject(Fault {
        brand: "acme".into(),
        kind: FaultKind::FlowDraft,
        at: now - Duration::minutes(1),
        until: None,
    });
    scan_all(&stack).await; // baseline: flow already stopped, so it reads as never live
    stack.sim.clear("acme", FaultKind::FlowDraft);
    stack.clock.advance(Duration::minutes(30));
    scan_all(&stack).await; // live again: baseline has it live
    stack.sim.inject(Fault {
        brand: "acme".into(),
        kind: FaultKind::FlowDraft,
        at: stack.clock.now(),
        until: None,
    });
    stack.clock.advance(Duration::minutes(30));
    let r = scan_all(&stack).await;
    assert_eq!(
        r[0].active
            .iter()
            .filter(|f| f.check_id == "flow-live-stopped")
            .count(),
        1
    );

    // Klaviyo answers 503 for acme: the scan is incomplete, the open finding stays open.
    let t = stack.clock.now();
    stack.sim.inject(Fault {
        brand: "acme".into(),
        kind: FaultKind::ServerErrors,
        at: t,
        until: None,
    });
    stack.clock.advance(Duration::minutes(30));
    let report = app.scan(&slug("acme"), "test", None).await.unwrap();
    let checks: Vec<&str> = report.active.iter().map(|f| f.check_id.as_str()).collect();
    assert!(checks.contains(&SCAN_INCOMPLETE), "{checks:?}");
    assert!(
        checks.contains(&"flow-live-stopped"),
        "nothing clears on missing data: {checks:?}"
    );
    stack.sim.clear("acme", FaultKind::ServerErrors);

    // bluebird's key is revoked: a critical access finding, then it clears when the key works again.
    stack.sim.inject(Fault {
        brand: "bluebird".into(),
        kind: FaultKind::TokenRevoked,
        at: stack.clock.now(),
        until: None,
    });
    stack.clock.advance(Duration::minutes(30));
    let report = app.scan(&slug("bluebird"), "test", None).await.unwrap();
    let revoked: Vec<_> = report
        .active
        .iter()
        .filter(|f| f.check_id == TOKEN_REVOKED)
        .collect();
    assert_eq!(revoked.len(), 1);
    assert_eq!(revoked[0].severity, Severity::Critical);
    assert!(
        !revoked[0].why.contains("pk_"),
        "no key in chat text: {}",
        revoked[0].why
    );
    stack.sim.clear("bluebird", FaultKind::TokenRevoked);
    stack.clock.advance(Duration::minutes(30));
    let report = app.scan(&slug("bluebird"), "test", None).await.unwrap();
    assert!(report.active.iter().all(|f| f.check_id != TOKEN_REVOKED));
    let report = app.scan(&slug("acme"), "test", None).await.unwrap();
    assert!(
        report.active.iter().all(|f| f.check_id != SCAN_INCOMPLETE),
        "a complete scan clears scan-incomplete"
    );
}
