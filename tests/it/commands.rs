//! Command handlers, roles, channel scoping, snoozes and digests against the
//! real app and simulator, with findings set up directly in the store.

use std::sync::Arc;

use chrono::Duration;
use lookout::chat::console::{ConsoleChat, ConsoleEventKind};
use lookout::checks::Observation;
use lookout::clock::{Clock, SimClock};
use lookout::commands::dispatch::Dispatcher;
use lookout::commands::parse::parse_line;
use lookout::commands::{self, CommandError, Invocation};
use lookout::demo::{Stack, demo_start};
use lookout::domain::{ClientSlug, FindingId, Money, Severity};
use lookout::findings::{FindingState, Findings};
use lookout::message::{
    Actor, ChannelRef, Inbound, InboundHandler, MessageRef, Outcome, PersonRef,
};
use lookout::routing::Mode;

use crate::support;

async fn stack() -> (Stack, Arc<ConsoleChat>) {
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    (stack_with(chat.clone()).await, chat)
}

async fn stack_with(chat: Arc<ConsoleChat>) -> Stack {
    stack_at(chat, demo_start()).await
}

async fn stack_at(chat: Arc<ConsoleChat>, start: chrono::DateTime<chrono::Utc>) -> Stack {
    Stack::start(
        7,
        12,
        SimClock::frozen(start),
        chat.clone(),
        &["acme", "bluebird", "cedar-co"],
    )
    .await
    .expect("stack starts")
}

/// Records one observation for a client as a scan would, and delivers its chat traffic.
async fn seed(stack: &Stack, client: &str, check: &str, sev: Severity) -> FindingId {
    let obs = Observation {
        value_at_stake: Some(Money::from_major(120.0, "USD")),
        ..support::observation(check, "s", sev, &format!("{check} at {client}"))
    };
    let (changes, _) =
        support::record(&stack.app, client, obs, stack.clock.now(), Mode::Normal).await;
    stack.app.deliverer.run_once().await.unwrap();
    changes[0].finding.id
}

/// The chart and the document the console wrote under `dir` (exactly one of each).
fn saved_files(dir: &std::path::Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let saved: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(saved.len(), 2, "{saved:?}");
    let of = |ext: &str| {
        saved
            .iter()
            .find(|p| p.extension().is_some_and(|e| e == ext))
            .cloned()
            .unwrap()
    };
    (of("png"), of("md"))
}

fn inv(user: &str, channel: &str) -> Invocation {
    Invocation {
        person: PersonRef::console(user),
        channel: ChannelRef::console(channel),
    }
}

/// Runs a line typed at the console, whose adapter turns `#name` and `@name`
/// into `console:` references first.
async fn run(stack: &Stack, user: &str, channel: &str, line: &str) -> Result<String, CommandError> {
    let line = lookout::chat::console::decode_mentions(line);
    let cmd = parse_line(&line).unwrap_or_else(|e| panic!("{line}: {e}"));
    commands::run(&stack.app, &inv(user, channel), &cmd)
        .await
        .map(|r| r.message.to_plain())
}

#[tokio::test]
async fn roles_decide_who_may_change_a_finding() {
    let (stack, _) = stack().await;
    let id = seed(&stack, "acme", "flow-live-stopped", Severity::Critical).await;
    let err = run(&stack, "stranger", "client-acme", &format!("/ack {id}"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "/ack needs the am role or higher; ask an admin"
    );
    // A viewer (anyone not in [people]) reads but does not annotate.
    let err = run(
        &stack,
        "stranger",
        "client-acme",
        &format!("/note {id} told the client"),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "/note needs the am role or higher; ask an admin"
    );
    run(
        &stack,
        "bo",
        "client-acme",
        &format!("/note {id} told the client"),
    )
    .await
    .unwrap();
    let notes = run(&stack, "stranger", "client-acme", &format!("/notes {id}"))
        .await
        .unwrap();
    assert!(
        notes.contains("bo") && notes.contains("told the client"),
        "{notes}"
    );
    // Portfolio-wide views need a lead.
    let err = run(&stack, "ana", "agency", "/portfolio")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("lead"), "{err}");
    let p = run(&stack, "lee", "agency", "/portfolio").await.unwrap();
    assert!(
        p.starts_with("Portfolio: 1 of 3 clients need attention"),
        "{p}"
    );
    assert!(
        p.contains("acme") && !p.contains("bluebird"),
        "only clients with something open: {p}"
    );
    assert!(
        p.contains("1 critical · $120 at stake · oldest open") && p.contains("#client-acme"),
        "counts, value, age and the client's channel: {p}"
    );
    let ok = run(&stack, "ana", "client-acme", &format!("/ack {id}"))
        .await
        .unwrap();
    assert!(ok.contains("Acknowledged by ana"), "{ok}");
    let again = run(&stack, "ana", "client-acme", &format!("/ack {id}"))
        .await
        .unwrap_err();
    assert!(
        again.to_string().contains("already acknowledged by ana"),
        "{again}"
    );
    let missing = run(&stack, "ana", "client-acme", "/ack F-999")
        .await
        .unwrap_err();
    assert_eq!(
        missing.to_string(),
        "there is no finding F-999; /findings lists the open ones"
    );
}

#[tokio::test]
async fn a_clients_findings_stay_in_its_channel() {
    let (stack, _) = stack().await;
    let id = seed(&stack, "acme", "flow-live-stopped", Severity::Critical).await;
    seed(&stack, "bluebird", "deliv-bounce-rate", Severity::Warning).await;
    // In bluebird's channel, /findings shows bluebird only.
    let list = run(&stack, "ana", "client-bluebird", "/findings")
        .await
        .unwrap();
    assert!(
        list.contains("bluebird") && !list.contains("acme"),
        "{list}"
    );
    let err = run(&stack, "ana", "client-bluebird", "/findings acme")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("#client-acme"), "{err}");
    let err = run(
        &stack,
        "ana",
        "client-bluebird",
        &format!("/snooze {id} 4h"),
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("belongs to acme"), "{err}");
    // The agency channel sees everything (for a lead).
    let all = run(&stack, "lee", "agency", "/findings").await.unwrap();
    assert!(all.contains("acme") && all.contains("bluebird"), "{all}");
    let crit = run(&stack, "lee", "agency", "/findings critical")
        .await
        .unwrap();
    assert!(
        crit.contains("acme") && !crit.contains("bluebird"),
        "{crit}"
    );
}

#[tokio::test]
async fn a_snooze_ends_in_the_thread_mentioning_who_snoozed_it() {
    let (stack, chat) = stack().await;
    let id = seed(&stack, "acme", "flow-live-stopped", Severity::Critical).await;
    let far = run(
        &stack,
        "ana",
        "client-acme",
        &format!("/snooze {id} 2027-06-01"),
    )
    .await
    .unwrap_err();
    assert!(far.to_string().contains("at most 30 days"), "{far}");
    let ok = run(&stack, "ana", "client-acme", &format!("/snooze {id} 4h"))
        .await
        .unwrap();
    assert!(ok.contains("Snoozed until"), "{ok}");
    stack.app.deliverer.run_once().await.unwrap();
    stack.clock.advance(Duration::hours(3));
    assert_eq!(stack.app.wake_snoozes().await.unwrap(), 0, "not yet");
    stack.clock.advance(Duration::hours(1));
    assert_eq!(stack.app.wake_snoozes().await.unwrap(), 1);
    stack.app.deliverer.run_once().await.unwrap();
    let t = chat.transcript();
    let post = t
        .iter()
        .find(|e| e.kind == ConsoleEventKind::Post && e.text.contains("flow-live-stopped at acme"))
        .unwrap();
    let reply = t
        .iter()
        .rev()
        .find(|e| e.kind == ConsoleEventKind::Reply)
        .unwrap();
    assert_eq!(
        reply.thread.as_ref(),
        Some(&post.message_ref),
        "re-raised in the finding's thread"
    );
    assert!(
        reply.text.contains("ana") && reply.text.contains("Snooze over"),
        "{}",
        reply.text
    );
    let mut conn = stack.app.store.conn().await.unwrap();
    assert_eq!(
        Findings::get(&mut conn, id).await.unwrap().state,
        FindingState::Open
    );
}

#[tokio::test]
async fn digests_post_at_the_agency_morning_once_a_day() {
    let (stack, chat) = stack().await;
    seed(&stack, "bluebird", "deliv-bounce-rate", Severity::Warning).await;
    let app = &stack.app;
    // 12:00 UTC is 07:00 in New York: a fresh install posts nothing yet.
    assert_eq!(app.run_digests().await.unwrap(), 0);
    stack.clock.advance(Duration::hours(2)); // 09:00 New York
    assert_eq!(
        app.run_digests().await.unwrap(),
        1,
        "one client has a warning"
    );
    assert_eq!(app.run_digests().await.unwrap(), 0, "once per day");
    app.deliverer.run_once().await.unwrap();
    let digest = chat
        .transcript()
        .into_iter()
        .find(|e| e.text.contains("Daily triage for"))
        .unwrap();
    assert_eq!(digest.channel, ChannelRef::console("client-bluebird"));
    assert!(digest.text.contains("deliv-bounce-rate at bluebird"));
    stack.clock.advance(Duration::days(1));
    assert_eq!(app.run_digests().await.unwrap(), 1);
}

#[tokio::test]
async fn scan_command_shows_progress_then_findings() {
    let (stack, chat) = stack().await;
    let reply = run(&stack, "ana", "client-acme", "/scan acme")
        .await
        .unwrap();
    assert!(reply.contains("Scanning acme"), "{reply}");
    // The scan runs in the background; wait for its summary (bounded).
    let mut done = None;
    for _ in 0..300 {
        if let Some(e) = chat
            .transcript()
            .into_iter()
            .find(|e| e.text.contains("Scan of acme done"))
        {
            done = Some(e);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let done = done.expect("scan finished within 30 s");
    assert_eq!(
        done.kind,
        ConsoleEventKind::Update,
        "the progress message is edited into the summary"
    );
    let edits = chat
        .transcript()
        .into_iter()
        .filter(|e| e.kind == ConsoleEventKind::Update && e.message_ref == done.message_ref)
        .count();
    assert!(
        edits >= 2,
        "progress was shown before the summary ({edits} edits)"
    );
    assert!(done.text.contains("onboarding audit"), "{}", done.text);
    let busy = run(&stack, "ana", "client-acme", "/scan nobody")
        .await
        .unwrap_err();
    assert!(busy.to_string().contains("no client `nobody`"), "{busy}");
}

#[tokio::test]
async fn maintenance_records_findings_posts_nothing_then_one_summary() {
    let (stack, chat) = stack().await;
    let app = &stack.app;
    let reply = run(&stack, "ana", "client-acme", "/maintenance acme 4h")
        .await
        .unwrap();
    assert!(reply.contains("Maintenance for acme until"), "{reply}");
    let before = chat.transcript().len();
    // A scan during the window finds acme's stopped flow... (a seeded critical here).
    let slug = ClientSlug::parse("acme").unwrap();
    let now = stack.clock.now();
    let mut conn = app.store.conn().await.unwrap();
    let mode = app.mode_for(&mut conn, &slug, now).await.unwrap();
    drop(conn);
    assert_eq!(mode, Mode::Muted);
    let obs = support::observation(
        "flow-live-stopped",
        "F1",
        Severity::Critical,
        "Flow stopped during the migration",
    );
    let (changes, ops) = support::record(app, "acme", obs, now, mode).await;
    assert_eq!(changes.len(), 1);
    assert!(ops.is_empty(), "nothing posted in maintenance");
    app.deliverer.run_once().await.unwrap();
    assert_eq!(chat.transcript().len(), before, "recorded, not posted");
    assert_eq!(
        app.end_maintenance_windows().await.unwrap(),
        0,
        "not over yet"
    );
    stack.clock.advance(Duration::hours(4));
    assert_eq!(app.end_maintenance_windows().await.unwrap(), 1);
    assert_eq!(
        app.end_maintenance_windows().await.unwrap(),
        0,
        "one summary only"
    );
    app.deliverer.run_once().await.unwrap();
    let summary = chat
        .transcript()
        .into_iter()
        .find(|e| e.text.contains("Maintenance for Acme"))
        .unwrap();
    assert_eq!(summary.channel, ChannelRef::console("client-acme"));
    assert!(
        summary.text.contains("Flow stopped during the migration"),
        "{}",
        summary.text
    );
    assert!(
        summary.text.contains("@ana"),
        "owner mentioned for a critical: {}",
        summary.text
    );
    let bad = run(
        &stack,
        "ana",
        "client-acme",
        "/maintenance acme until-worse",
    )
    .await
    .unwrap_err();
    assert!(bad.to_string().contains("needs an end"), "{bad}");
}

#[tokio::test]
async fn route_changes_from_chat_are_admin_only_and_survive_a_restart() {
    let (stack, _) = stack().await;
    let err = run(&stack, "lee", "agency", "/route acme #acme-alerts @bo")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("admin"), "{err}");
    let ok = run(&stack, "you", "agency", "/route acme #acme-alerts @bo")
        .await
        .unwrap();
    assert!(ok.contains("#acme-alerts") && ok.contains("@bo"), "{ok}");
    let slug = ClientSlug::parse("acme").unwrap();
    let alerts = ChannelRef::console("acme-alerts");
    assert_eq!(
        stack.app.clients.get(&slug).unwrap().route.channels[0].channel,
        alerts
    );
    // New findings go to the new channel.
    let id = seed(&stack, "acme", "flow-live-stopped", Severity::Critical).await;
    let mut conn = stack.app.store.conn().await.unwrap();
    let messages = Findings::messages(&mut conn, id).await.unwrap();
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].0, alerts);
    drop(conn);
    // A channel can belong to one client only, and never the agency's.
    let taken = run(&stack, "you", "agency", "/route bluebird #acme-alerts")
        .await
        .unwrap_err();
    assert!(
        taken
            .to_string()
            .contains("already belongs to client `acme`"),
        "{taken}"
    );
    let agency = run(&stack, "you", "agency", "/route bluebird #agency")
        .await
        .unwrap_err();
    assert!(agency.to_string().contains("agency channel"), "{agency}");
    // A new app on the same database (a restart) keeps the chat-set route over the file's.
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let again = lookout::app::App::new(
        stack.app.config.clone(),
        stack.app.store.clone(),
        stack.app.clock.clone(),
        lookout::message::Adapters::one(chat),
    )
    .await
    .unwrap();
    let route = again.clients.get(&slug).unwrap().route;
    assert_eq!(route.channels.len(), 1);
    assert_eq!(
        (&route.channels[0].channel, route.channels[0].owner.as_ref()),
        (&alerts, Some(&PersonRef::console("bo")))
    );
}

#[tokio::test]
async fn thread_replies_become_notes() {
    let (stack, chat) = stack().await;
    let id = seed(&stack, "acme", "flow-live-stopped", Severity::Critical).await;
    let post = chat
        .transcript()
        .into_iter()
        .find(|e| e.kind == ConsoleEventKind::Post && e.text.contains("flow-live-stopped at acme"))
        .unwrap();
    let d = Dispatcher::new(stack.app.clone());
    let reply = |thread: MessageRef, text: &str| Inbound::ThreadReply {
        actor: Actor {
            person: PersonRef::console("ana"),
            channel: ChannelRef::console("client-acme"),
        },
        thread,
        message: MessageRef("r".into()),
        text: text.into(),
    };
    let got = d
        .handle(reply(
            post.message_ref.clone(),
            "told client Monday, waiting on dev push",
        ))
        .await;
    assert_eq!(got, Outcome::Noted(id));
    // A reply in some other thread is not a note.
    assert_eq!(
        d.handle(reply(MessageRef("999".into()), "hi")).await,
        Outcome::Nothing
    );
    let notes = run(&stack, "bo", "client-acme", &format!("/notes {id}"))
        .await
        .unwrap();
    assert!(
        notes.contains("ana (console") && notes.contains("waiting on dev push"),
        "{notes}"
    );
    // Notes never reach the channel itself.
    assert!(
        chat.transcript()
            .iter()
            .all(|e| e.kind == ConsoleEventKind::Ephemeral
                || !e.text.contains("waiting on dev push"))
    );
}

#[tokio::test]
async fn quiet_hours_post_without_pinging_then_catch_up_in_the_morning() {
    use chrono::TimeZone;
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    // 04:00 UTC is 23:00 in New York: inside 22:00-07:00.
    let clock = SimClock::frozen(chrono::Utc.with_ymd_and_hms(2026, 11, 2, 4, 0, 0).unwrap());
    let stack = Stack::start_with(7, 12, clock, chat.clone(), &["acme"], |c| {
        c.agency.quiet_hours = Some("22:00-07:00".into());
    })
    .await
    .unwrap();
    let app = &stack.app;
    assert_eq!(
        app.end_quiet_hours().await.unwrap(),
        0,
        "a fresh install only starts counting"
    );
    let slug = ClientSlug::parse("acme").unwrap();
    let now = stack.clock.now();
    let mut conn = app.store.conn().await.unwrap();
    let mode = app.mode_for(&mut conn, &slug, now).await.unwrap();
    drop(conn);
    assert_eq!(mode, Mode::Quiet);
    let obs = support::observation(
        "integration-orders-silent",
        "orders",
        Severity::Critical,
        "No Placed Order events for 9 h",
    );
    support::record(app, "acme", obs, now, mode).await;
    app.deliverer.run_once().await.unwrap();
    let night = chat
        .transcript()
        .into_iter()
        .find(|e| e.text.contains("No Placed Order events"))
        .unwrap();
    assert_eq!(night.kind, ConsoleEventKind::Post, "posted at once");
    assert!(
        !night.text.contains("@ana"),
        "but nobody is pinged at night: {}",
        night.text
    );
    stack.clock.advance(Duration::hours(8)); // 07:00 New York
    assert_eq!(app.end_quiet_hours().await.unwrap(), 1);
    assert_eq!(app.end_quiet_hours().await.unwrap(), 0, "once per morning");
    app.deliverer.run_once().await.unwrap();
    let morning = chat
        .transcript()
        .into_iter()
        .find(|e| e.text.contains("Overnight for Acme"))
        .unwrap();
    assert!(
        morning.text.contains("@ana") && morning.text.contains("No Placed Order events"),
        "{}",
        morning.text
    );
}

#[tokio::test]
async fn until_worse_snoozes_end_after_the_configured_days() {
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let stack = Stack::start_with(
        7,
        12,
        SimClock::frozen(demo_start()),
        chat,
        &["acme"],
        |c| {
            c.findings.until_worse_max_days = 2;
        },
    )
    .await
    .unwrap();
    let id = seed(&stack, "acme", "deliv-bounce-rate", Severity::Warning).await;
    run(
        &stack,
        "ana",
        "client-acme",
        &format!("/snooze {id} until-worse"),
    )
    .await
    .unwrap();
    let mut conn = stack.app.store.conn().await.unwrap();
    let f = Findings::get(&mut conn, id).await.unwrap();
    assert!(f.snooze_until_worse);
    assert_eq!(
        f.snoozed_until,
        Some(stack.clock.now() + Duration::days(2)),
        "never forever"
    );
}

#[tokio::test]
async fn the_renewal_report_counts_what_happened_and_records_who_asked() {
    let files = tempfile::tempdir().unwrap();
    let chat =
        Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())).with_files_dir(files.path()));
    let stack = stack_with(chat.clone()).await;
    let fixed = seed(&stack, "acme", "flow-live-stopped", Severity::Critical).await;
    seed(&stack, "acme", "deliv-bounce-rate", Severity::Warning).await;
    seed(&stack, "bluebird", "flow-live-stopped", Severity::Critical).await;
    stack.clock.advance(Duration::hours(2));
    run(&stack, "ana", "client-acme", &format!("/ack {fixed}"))
        .await
        .unwrap();
    stack.clock.advance(Duration::hours(4));
    run(
        &stack,
        "ana",
        "client-acme",
        &format!("/resolve {fixed} fixed"),
    )
    .await
    .unwrap();

    let answer = run(&stack, "lee", "client-acme", "/renewal-report acme 30")
        .await
        .unwrap();
    assert!(answer.contains("posting it in this channel"), "{answer}");
    stack.app.deliverer.run_once().await.unwrap();
    let posted = chat
        .transcript()
        .into_iter()
        .find(|e| e.kind == ConsoleEventKind::Post && e.text.contains("Renewal report for"))
        .expect("the report is posted through the outbox");
    assert_eq!(posted.channel, ChannelRef::console("client-acme"));
    let report = posted.text;
    for want in [
        "Renewal report for Acme Outfitters: last 30 days",
        "Opened: 2",
        "Closed: 1 (1 by the team, 0 on their own)",
        "Flagged: $240",
        "Time to acknowledge: 2.0 h mean, 2.0 h median",
        "Time to resolve: 6.0 h mean, 6.0 h median",
    ] {
        assert!(report.contains(want), "{want}\n{report}");
    }
    assert!(!report.to_lowercase().contains("bluebird"), "{report}");
    // The chart and the Markdown document were written under the files dir,
    // and the post names where.
    let (png, md) = saved_files(files.path());
    assert!(
        std::fs::read(&png)
            .unwrap()
            .starts_with(b"\x89PNG\r\n\x1a\n")
    );
    let doc = std::fs::read_to_string(&md).unwrap();
    assert!(doc.contains("| Findings opened | 2 |"), "{doc}");
    assert!(doc.contains("| Value flagged | $240 |"), "{doc}");
    assert!(report.contains(&png.display().to_string()), "{report}");
    assert!(report.contains(&md.display().to_string()), "{report}");
    // Asked outside the client's and the agency's channels, it is private and
    // names the files instead of posting them.
    let private = run(&stack, "lee", "somewhere-else", "/renewal-report acme 30")
        .await
        .unwrap();
    assert!(
        private.contains("Opened: 2") && private.contains("ask in the client's channel"),
        "{private}"
    );
    // Leads and up only, and never about another client from a client's channel.
    let am = run(&stack, "ana", "client-acme", "/renewal-report acme")
        .await
        .unwrap_err();
    assert!(am.to_string().contains("lead role"), "{am}");
    let elsewhere = run(&stack, "lee", "client-bluebird", "/renewal-report acme")
        .await
        .unwrap_err();
    assert!(
        elsewhere.to_string().contains("belongs to acme"),
        "{elsewhere}"
    );
    // Every request that ran is on record with who asked.
    let mut db = stack.app.store.conn().await.unwrap();
    let asked = lookout::store::reports::requests(&mut db).await.unwrap();
    assert_eq!(asked.len(), 2);
    assert_eq!(
        (
            asked[0].0.as_str(),
            asked[0].1.as_deref(),
            asked[0].2.as_str()
        ),
        ("renewal-report", Some("acme"), "console:lee")
    );
}

#[tokio::test]
async fn the_monthly_report_covers_last_month_in_one_template() {
    let files = tempfile::tempdir().unwrap();
    let chat =
        Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())).with_files_dir(files.path()));
    // October: one real scan of acme, and a finding the team fixed in a day.
    let oct6 = chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 10, 6, 12, 0, 0).unwrap();
    let stack = stack_at(chat.clone(), oct6).await;
    let acme = ClientSlug::parse("acme").unwrap();
    stack.app.scan(&acme, "test", None).await.unwrap();
    let fixed = seed(&stack, "acme", "flow-live-stopped", Severity::Critical).await;
    stack.clock.advance(Duration::hours(24));
    run(
        &stack,
        "ana",
        "client-acme",
        &format!("/resolve {fixed} fixed"),
    )
    .await
    .unwrap();
    stack.clock.set(demo_start());
    let still_open = seed(&stack, "acme", "deliv-bounce-rate", Severity::Warning).await;
    stack.app.deliverer.run_once().await.unwrap();

    let answer = run(&stack, "ana", "client-acme", "/report acme")
        .await
        .unwrap();
    assert!(answer.contains("October 2026 report"), "{answer}");
    stack.app.deliverer.run_once().await.unwrap();
    let posted = chat
        .transcript()
        .into_iter()
        .find(|e| e.kind == ConsoleEventKind::Post && e.text.contains("Monthly report for"))
        .expect("posted through the outbox");
    assert_eq!(posted.channel, ChannelRef::console("client-acme"));
    assert!(
        posted
            .text
            .contains("Monthly report for Acme Outfitters: October 2026"),
        "{}",
        posted.text
    );
    assert!(posted.text.contains("Checked: 1 scans"), "{}", posted.text);
    assert!(
        !posted.text.contains(&still_open.to_string()),
        "November's finding is not October's: {}",
        posted.text
    );
    let (_, md) = saved_files(files.path());
    assert!(
        md.file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .ends_with("report-acme-2026-10.md"),
        "{md:?}"
    );
    let doc = std::fs::read_to_string(&md).unwrap();
    for want in [
        "## What we checked",
        "## What we found and fixed",
        "## Open items",
        "## Deliverability and revenue at risk",
        "- 1 scans of the Klaviyo account (0 could not read it fully)",
        &format!("| {fixed} | flow-live-stopped at acme | critical | $120 | 2026-10-07 |"),
        "| 2026-10-05 |",
    ] {
        assert!(doc.contains(want), "{want}\n{doc}");
    }

    // The month under way, by name; a month not begun; a bad month.
    let now = run(&stack, "ana", "client-acme", "/report acme nov")
        .await
        .unwrap();
    assert!(now.contains("November 2026 report"), "{now}");
    let future = run(&stack, "ana", "client-acme", "/report acme 2027-01")
        .await
        .unwrap_err();
    assert!(
        future.to_string().contains("has not started yet"),
        "{future}"
    );
    let line = parse_line("/report acme smarch").unwrap_err();
    assert!(line.to_string().contains("not a month"), "{line}");
    // Never about another client from a client's channel.
    let elsewhere = run(&stack, "ana", "client-bluebird", "/report acme")
        .await
        .unwrap_err();
    assert!(
        elsewhere.to_string().contains("belongs to acme"),
        "{elsewhere}"
    );
    let mut db = stack.app.store.conn().await.unwrap();
    let asked = lookout::store::reports::requests(&mut db).await.unwrap();
    assert_eq!(
        asked.iter().filter(|a| a.0 == "report").count(),
        2,
        "each report that ran is recorded"
    );
}

#[tokio::test]
async fn the_sla_report_measures_responses_against_targets_and_stays_out_of_client_channels() {
    let (stack, _) = stack().await;
    let quick = seed(&stack, "acme", "flow-live-stopped", Severity::Critical).await;
    let slow = seed(&stack, "bluebird", "flow-live-stopped", Severity::Critical).await;
    stack.clock.advance(Duration::minutes(30));
    run(&stack, "ana", "client-acme", &format!("/ack {quick}"))
        .await
        .unwrap();
    stack.clock.advance(Duration::hours(2));
    run(&stack, "bo", "client-bluebird", &format!("/ack {slow}"))
        .await
        .unwrap();

    let all = run(&stack, "lee", "agency", "/sla").await.unwrap();
    for want in [
        "SLA, last 30 days",
        "critical: 2 findings · acknowledged 1.5 h median · resolved — · 1 breach",
        &format!("{slow} bluebird (critical): acknowledge took 2.5 h (target 1.0 h)"),
    ] {
        assert!(all.contains(want), "{want}\n{all}");
    }
    // Narrowed to a pod or to a person.
    let east = run(&stack, "lee", "agency", "/sla east 7").await.unwrap();
    assert!(east.contains("SLA, last 7 days for east"), "{east}");
    let ana = run(&stack, "lee", "agency", "/sla @ana").await.unwrap();
    assert!(
        ana.contains("critical: 1 findings") && ana.contains("0 breaches"),
        "{ana}"
    );
    // Leads only, and never in a client's channel.
    let am = run(&stack, "ana", "agency", "/sla").await.unwrap_err();
    assert!(am.to_string().contains("lead role"), "{am}");
    let here = run(&stack, "lee", "client-acme", "/sla").await.unwrap_err();
    assert!(here.to_string().contains("agency channel"), "{here}");
}
