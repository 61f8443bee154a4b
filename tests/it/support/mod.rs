//! Helpers shared by the integration tests: a finding recorded the way a scan
//! records it, without waiting for the simulator's data to show a problem.

// Each test crate uses only some of these.
#![allow(dead_code)]

pub mod processes;

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use lookout::app::App;
use lookout::checks::Observation;
use lookout::domain::{ClientSlug, Severity, Track};
use lookout::findings::{Change, Findings, ReconcileScope};
use lookout::outbox::Op;
use lookout::routing::{Mode, route_change_in};

/// An observation of `check` about `subject`, with a Klaviyo deep link.
pub fn observation(check: &str, subject: &str, severity: Severity, title: &str) -> Observation {
    Observation {
        check: check.into(),
        subject: subject.into(),
        severity,
        track: Track::Now,
        title: title.into(),
        why: "Because.".into(),
        deep_link: "https://www.klaviyo.com/flow/1/edit".into(),
        value_at_stake: None,
        began_at: None,
    }
}

/// Reconciles one observation for `client` as a scan of its check would, and
/// routes each change under `mode`, in one transaction; the outbox is not run.
pub async fn record(
    app: &App,
    client: &str,
    obs: Observation,
    now: DateTime<Utc>,
    mode: Mode,
) -> (Vec<Change>, Vec<Op>) {
    let slug = ClientSlug::parse(client).unwrap();
    let route = app.clients.get(&slug).unwrap().route;
    let ran: HashSet<String> = [obs.check.clone()].into();
    let scope = ReconcileScope {
        client: &slug,
        ran: &ran,
        onboarding: false,
        reopen_window: Duration::hours(24),
        now,
    };
    let mut tx = app.store.begin().await.unwrap();
    let changes = Findings::reconcile(&mut tx, &scope, &[obs]).await.unwrap();
    let mut ops = Vec::new();
    for c in &changes {
        ops.extend(
            route_change_in(&mut tx, &route, c, now, mode)
                .await
                .unwrap(),
        );
    }
    tx.commit().await.unwrap();
    (changes, ops)
}

/// Injects an open-ended `kind` fault into `brand`, starting at `at`.
pub fn inject(
    stack: &lookout::demo::Stack,
    brand: &str,
    kind: lookout::simulator::FaultKind,
    at: DateTime<Utc>,
) {
    stack.sim.inject(lookout::simulator::Fault {
        brand: brand.into(),
        kind,
        at,
        until: None,
    });
}

/// The check ids of a scan's unresolved findings.
pub fn active_checks(r: &lookout::scan::pipeline::ScanReport) -> Vec<&str> {
    r.active.iter().map(|f| f.check_id.as_str()).collect()
}

/// The `scan-incomplete` finding of a scan's unresolved findings, if any.
pub fn incomplete_finding(
    r: &lookout::scan::pipeline::ScanReport,
) -> Option<&lookout::findings::Finding> {
    r.active
        .iter()
        .find(|f| f.check_id == lookout::scan::pipeline::SCAN_INCOMPLETE)
}

/// Connects `client` over OAuth the way a lead does (`/connect` in the
/// client's channel, approval at the simulated Klaviyo, the callback page),
/// granting `scopes` (space-separated; every scope asked when `None`), and
/// waits for the scan the connect starts. From then on its scans use the grant.
pub async fn connect_oauth(stack: &lookout::demo::Stack, client: &str, scopes: Option<&str>) {
    use lookout::message::{
        Action, Actor, Block, ChannelRef, Inbound, InboundHandler, Outcome, PersonRef,
    };
    let slug = ClientSlug::parse(client).unwrap();
    let before = scans_of(stack, &slug).await;
    let answer = lookout::commands::dispatch::Dispatcher::new(stack.app.clone())
        .handle(Inbound::Command {
            actor: Actor {
                person: PersonRef::console("lee"),
                channel: ChannelRef::console(&format!("client-{client}")),
            },
            name: "connect".into(),
            text: format!("{client} 90d"),
        })
        .await;
    let Outcome::Private(m) = &answer else {
        panic!("/connect answers privately, got {answer:?}");
    };
    let link = m
        .blocks
        .iter()
        .find_map(|b| match b {
            Block::Actions(a) => a.iter().find_map(|a| match a {
                Action::Link { url, .. } => Some(url.clone()),
                _ => None,
            }),
            _ => None,
        })
        .unwrap_or_else(|| panic!("no link in {}", m.to_plain()));
    let mut url = reqwest::Url::parse(&link).unwrap();
    url.query_pairs_mut().append_pair("sim_account", client);
    if let Some(s) = scopes {
        url.query_pairs_mut().append_pair("sim_scopes", s);
    }
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let approved = http.get(url).send().await.unwrap();
    assert_eq!(approved.status(), 302, "the authorize shortcut redirects");
    let back = approved.headers()["location"].to_str().unwrap().to_owned();
    let page = http.get(back).send().await.unwrap();
    assert_eq!(page.status(), 200, "{}", page.text().await.unwrap());
    for _ in 0..1000 {
        if scans_of(stack, &slug).await > before && !stack.app.is_scanning(&slug) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("the scan after connecting {client} did not finish");
}

/// How many full scans of `slug` the store holds.
async fn scans_of(stack: &lookout::demo::Stack, slug: &ClientSlug) -> usize {
    let mut db = stack.app.store.conn().await.unwrap();
    let far = Duration::days(3650);
    let now = lookout::clock::Clock::now(&stack.clock);
    lookout::store::scans::between(&mut db, slug, now - far, now + far)
        .await
        .unwrap()
        .len()
}

/// Runs a command line typed by console `user` in console `channel`: the
/// reply's plain text, or the error as a person would read it.
pub async fn run_command(
    stack: &lookout::demo::Stack,
    user: &str,
    channel: &str,
    line: &str,
) -> Result<String, String> {
    use lookout::commands::{self, Invocation, parse::parse_line};
    use lookout::message::{ChannelRef, PersonRef};
    let cmd = parse_line(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    let inv = Invocation {
        person: PersonRef::console(user),
        channel: ChannelRef::console(channel),
    };
    commands::run(&stack.app, &inv, &cmd)
        .await
        .map(|r| r.message.to_plain())
        .map_err(|e| e.to_string())
}

/// Posts (not edits or replies) in the console transcript whose text contains `text`.
pub fn posts_containing(chat: &lookout::chat::console::ConsoleChat, text: &str) -> usize {
    use lookout::chat::console::ConsoleEventKind;
    chat.transcript()
        .into_iter()
        .filter(|e| e.kind == ConsoleEventKind::Post && e.text.contains(text))
        .count()
}

/// The Markdown files in `dir` (the documents the console chat attached).
pub fn markdown_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect()
}
