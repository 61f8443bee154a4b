//! The demo's history: a short past replayed through the real pipeline (the
//! simulator, scans, findings, the outbox and people typing commands), then the
//! demo going live on top of it.

use std::sync::Arc;

use chrono::Duration;
use lookout::chat::console::{ConsoleChat, ConsoleEventKind};
use lookout::clock::Clock;
use lookout::demo::{self, DemoOptions, Stack, demo_start, history};
use lookout::domain::Severity;
use lookout::findings::{Finding, Findings, Timing};
use lookout::message::{Actor, ChannelRef, Inbound, InboundHandler, PersonRef};
use lookout::reports::renewal;
use lookout::reports::sla::{self, Owned, Target};

const FEW: [&str; 6] = [
    "acme",
    "bluebird",
    "cedar-co",
    "dune-supply",
    "ember",
    "fjord",
];
const DAYS: u32 = 30;
const SEED: u64 = 7;

fn quiet() -> Arc<ConsoleChat> {
    Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())))
}

/// Replays `DAYS` for the `FEW` brands; returns the stack, the summary and every finding.
async fn replayed(seed: u64) -> (Stack, history::HistorySummary, Vec<Finding>) {
    let stack = history::stack(seed, 12, demo_start(), DAYS, quiet(), &FEW)
        .await
        .expect("the history stack starts");
    let summary = history::replay(&stack, demo_start(), seed)
        .await
        .expect("the history replays");
    let from = demo_start() - Duration::days(i64::from(DAYS));
    let mut all = Vec::new();
    let mut db = stack.app.store.conn().await.unwrap();
    for c in stack.app.clients.all() {
        all.extend(
            Findings::touched_between(&mut db, &c.profile.slug, from, demo_start())
                .await
                .unwrap(),
        );
    }
    drop(db);
    (stack, summary, all)
}

fn is_person(actor: &str) -> bool {
    PersonRef::parse(actor).is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replayed_month_has_findings_people_answered_and_reports_with_numbers() {
    let (stack, summary, all) = replayed(SEED).await;
    assert_eq!(
        stack.clock.now(),
        demo_start(),
        "the clock ends at the live start"
    );
    assert_eq!(summary.days, DAYS);
    assert!(summary.scans >= FEW.len(), "{summary:?}");
    assert!(!summary.faults.is_empty());
    assert_eq!(
        summary.opened,
        all.len(),
        "every finding was opened in the window"
    );

    // Findings come from scans: each one's first event is a detection by Lookout.
    let mut db = stack.app.store.conn().await.unwrap();
    let mut person_events = Vec::new();
    for f in &all {
        let events = Findings::events(&mut db, f.id).await.unwrap();
        let first = events.first().expect("a finding has events");
        assert_eq!(
            (
                first.kind.as_str(),
                first.actor.as_str(),
                first.surface.as_str()
            ),
            ("detected", "lookout", "scan"),
            "{}",
            f.id
        );
        person_events.extend(
            events
                .into_iter()
                .filter(|e| is_person(&e.actor))
                .map(|e| (e.kind, e.actor, e.surface)),
        );
    }
    drop(db);
    // People acted through the console's dispatcher, as the configured AMs and lead.
    for kind in ["acknowledged", "resolved"] {
        assert!(
            person_events.iter().any(|(k, ..)| k == kind),
            "nobody {kind} anything: {person_events:?}"
        );
    }
    for (_, actor, surface) in &person_events {
        assert!(
            ["console:ana", "console:bo", "console:lee"].contains(&actor.as_str()),
            "{actor}"
        );
        assert_eq!(surface, "console");
    }
    assert!(summary.acknowledged > 0 && summary.resolved > 0 && summary.fixed > 0);

    // Some closed by the team, some cleared on their own when the fault ended.
    let by_team = all
        .iter()
        .filter(|f| f.resolved_by.as_deref().is_some_and(is_person))
        .count();
    let cleared = all
        .iter()
        .filter(|f| f.resolved_by.as_deref() == Some("lookout"))
        .count();
    assert!(
        by_team > 0 && cleared > 0,
        "team {by_team}, cleared {cleared}"
    );
    assert_eq!(summary.closed_by_team, by_team);
    assert_eq!(summary.closed, by_team + cleared);

    // Every critical finding after a client's first scan was posted: it has
    // its message in its client's channel. What the first scan found is in
    // the onboarding audit's one kickoff message instead.
    let mut db = stack.app.store.conn().await.unwrap();
    for f in all
        .iter()
        .filter(|f| f.severity == Severity::Critical && !f.onboarding)
    {
        let channel = ChannelRef::console(&format!("client-{}", f.client));
        assert!(
            Findings::message_in(&mut db, f.id, &channel)
                .await
                .unwrap()
                .is_some(),
            "{} has no message",
            f.id
        );
    }
    drop(db);

    // The renewal report of some client has real numbers.
    let from = demo_start() - Duration::days(i64::from(DAYS));
    let reports: Vec<renewal::Renewal> = FEW
        .iter()
        .map(|c| {
            let mine: Vec<Finding> = all
                .iter()
                .filter(|f| f.client.as_str() == *c)
                .cloned()
                .collect();
            renewal::renewal(&mine, from, demo_start(), "USD")
        })
        .collect();
    assert!(
        reports
            .iter()
            .any(|r| r.opened > 0 && r.closed_by_team > 0 && r.to_ack.is_some()),
        "{reports:#?}"
    );
    assert!(reports.iter().any(|r| r.lead.is_some()));

    // The SLA report has response and resolution times for critical findings.
    let timings: Vec<Timing> = all.iter().map(Timing::from).collect();
    let owned: Vec<Owned<'_>> = timings
        .iter()
        .map(|f| Owned {
            finding: f,
            owner: None,
            pod: None,
        })
        .collect();
    let r = sla::sla(
        &owned,
        |s| match s {
            Severity::Critical => Target {
                ack: Duration::hours(1),
                resolve: Duration::hours(24),
            },
            _ => Target {
                ack: Duration::hours(24),
                resolve: Duration::days(7),
            },
        },
        demo_start(),
    );
    let critical = &r.by_severity[0];
    assert!(critical.findings > 0, "{r:?}");
    assert!(critical.to_ack.is_some() && critical.to_resolve.is_some());

    // The summary line says what happened.
    let line = summary.line();
    assert!(
        line.starts_with(&format!("History: {DAYS} simulated days replayed in ")),
        "{line}"
    );
    assert!(
        line.contains(&format!(
            "{} findings, {} closed ({} by the team",
            summary.opened, summary.closed, summary.closed_by_team
        )),
        "{line}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_seed_replays_the_same_past() {
    // What happened to each finding, without the ids (concurrent scans number them in any order).
    fn story(all: &[Finding]) -> Vec<String> {
        let mut s: Vec<String> = all
            .iter()
            .map(|f| {
                format!(
                    "{} {} {} {:?} {} {:?} {:?} {:?} {:?}",
                    f.client,
                    f.check_id,
                    f.subject,
                    f.state,
                    f.detected_at,
                    f.acknowledged_at,
                    f.acknowledged_by,
                    f.resolved_at,
                    f.resolved_by
                )
            })
            .collect();
        s.sort();
        s
    }
    let (_a, first, all_a) = replayed(SEED).await;
    let (_b, second, all_b) = replayed(SEED).await;
    let counts = |s: &history::HistorySummary| {
        (
            s.scans,
            s.commands,
            s.acknowledged,
            s.snoozed,
            s.notes,
            s.resolved,
            s.fixed,
            s.opened,
            s.closed,
            s.closed_by_team,
        )
    };
    assert_eq!(counts(&first), counts(&second));
    assert_eq!(first.faults, second.faults);
    assert_eq!(story(&all_a), story(&all_b));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_goes_live_at_its_start_on_the_history_without_replaying_its_chat() {
    let live_chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let opts = DemoOptions {
        speed: 0.0, // frozen, so the test reads the exact start
        history_days: 21,
        ..DemoOptions::default()
    };
    let live = demo::go_live(&opts, live_chat.clone(), false)
        .await
        .expect("the demo goes live");
    assert_eq!(live.stack.clock.now(), demo_start());
    let history = live.history.as_ref().expect("a history was replayed");
    assert!(history.opened > 0 && history.closed > 0, "{history:?}");
    assert_eq!(live.faults.len(), demo::DEMO_FAULTS.len());

    // The terminal saw one line about the replay and none of its posts.
    let seen = live_chat.transcript();
    assert_eq!(seen.len(), 1, "{seen:#?}");
    assert!(
        seen[0]
            .text
            .contains("replaying the last 21 simulated days")
    );

    // The live stack holds the history, and the terminal can edit and reply to
    // the messages the history posted: resolving a finding posted then edits it.
    let app = &live.stack.app;
    let mut db = app.store.conn().await.unwrap();
    let mut posted = None;
    for f in Findings::active(&mut db, None, None).await.unwrap() {
        if let Some((channel, message)) = Findings::messages(&mut db, f.id).await.unwrap().pop() {
            posted = Some((f, channel, message));
            break;
        }
    }
    drop(db);
    let (finding, channel, message) = posted.expect("an open finding the history posted");
    let person = app
        .clients
        .get(&finding.client)
        .unwrap()
        .route
        .owners()
        .next()
        .unwrap()
        .clone();
    live.stack
        .running
        .dispatcher
        .handle(Inbound::Command {
            actor: Actor {
                person,
                channel: channel.clone(),
            },
            name: "/resolve".into(),
            text: format!("{} fixed it live", finding.id),
        })
        .await;
    let pass = app.deliverer.run_once().await.unwrap();
    assert_eq!(pass.failed, 0, "{pass:?}");
    let seen = live_chat.transcript();
    assert!(
        seen.iter().any(|e| e.kind == ConsoleEventKind::Update
            && e.channel == channel
            && e.message_ref == message),
        "{seen:#?}"
    );
    let reply = seen
        .iter()
        .find(|e| e.kind == ConsoleEventKind::Reply)
        .expect("a reply in the finding's thread");
    assert_eq!(reply.thread.as_ref(), Some(&message));
    // Live numbering carries on after the history's messages.
    let history_last: u64 = message.0.parse().unwrap();
    let reply_no: u64 = reply.message_ref.0.parse().unwrap();
    assert!(reply_no > history_last && history_last > 1);
}

#[test]
fn ctrl_c_during_the_replay_stops_the_demo() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::Instant;

    let mut child = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .arg("demo")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.find(|l| l.as_ref().is_ok_and(|l| !l.is_empty()));
    let first = first.unwrap().unwrap();
    assert!(first.contains("agency"), "{first}");
    let replaying = lines.next().unwrap().unwrap();
    assert!(
        replaying.contains("replaying the last 90 simulated days"),
        "{replaying}"
    );
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "the demo did not stop within 20 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert!(exit.success(), "{exit:?}");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(rest.iter().any(|l| l.contains("Bye")), "{rest:?}");
    assert!(!rest.iter().any(|l| l.contains("History:")), "{rest:?}");
}
