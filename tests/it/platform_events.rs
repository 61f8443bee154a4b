//! Platform events: the same check at three or more clients within 48 hours
//! is raised once, in the agency channel, against the real simulator.

use std::sync::Arc;

use chrono::Duration;
use lookout::chat::console::{ConsoleChat, ConsoleEvent, ConsoleEventKind};
use lookout::clock::{Clock, SimClock};
use lookout::demo::{Stack, demo_start};
use lookout::domain::ClientSlug;
use lookout::routing::platform::PlatformChange;
use lookout::scan::pipeline::ScanReport;
use lookout::simulator::{Fault, FaultKind};

const CLIENTS: [&str; 4] = ["acme", "bluebird", "cedar-co", "dune-supply"];

async fn stack() -> (Stack, Arc<ConsoleChat>) {
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let clock = SimClock::frozen(demo_start());
    let stack = Stack::start(7, 12, clock, chat.clone(), &CLIENTS)
        .await
        .expect("stack starts");
    // The onboarding audits first: what a first scan finds never counts.
    for c in CLIENTS {
        scan(&stack, c).await;
    }
    stack.app.deliverer.run_once().await.unwrap();
    (stack, chat)
}

fn slug(s: &str) -> ClientSlug {
    ClientSlug::parse(s).unwrap()
}

async fn scan(stack: &Stack, client: &str) -> ScanReport {
    stack.app.scan(&slug(client), "test", None).await.unwrap()
}

fn stop_checkout_flow(stack: &Stack, brand: &str) {
    stack.sim.inject(Fault {
        brand: brand.into(),
        kind: FaultKind::FlowDraft,
        at: stack.clock.now(),
        until: None,
    });
}

fn agency_posts(chat: &ConsoleChat) -> Vec<ConsoleEvent> {
    chat.transcript()
        .into_iter()
        .filter(|e| e.channel.id.contains("agency") && e.text.contains("Platform event"))
        .collect()
}

#[tokio::test]
async fn the_same_check_at_three_clients_is_one_event_in_the_agency_channel() {
    let (stack, chat) = stack().await;
    let app = stack.app.clone();
    stack.clock.advance(Duration::minutes(10));
    for c in &CLIENTS[..2] {
        stop_checkout_flow(&stack, c);
    }
    for c in &CLIENTS[..2] {
        let r = scan(&stack, c).await;
        assert!(r.platform.is_empty(), "two clients are not an event yet");
    }
    stop_checkout_flow(&stack, CLIENTS[2]);
    let third = scan(&stack, CLIENTS[2]).await;
    let opened: Vec<_> = third
        .platform
        .iter()
        .filter_map(|p| match p {
            PlatformChange::Opened(e, members) => Some((e, members)),
            _ => None,
        })
        .collect();
    assert_eq!(opened.len(), 1, "{:?}", third.platform);
    let (event, members) = opened[0];
    assert_eq!(event.check_id, "flow-live-stopped");
    let mut clients: Vec<&str> = members.iter().map(|f| f.client.as_str()).collect();
    clients.dedup();
    assert_eq!(clients, ["acme", "bluebird", "cedar-co"]);

    app.deliverer.run_once().await.unwrap();
    let posts = agency_posts(&chat);
    assert_eq!(posts.len(), 1, "one post for the event");
    assert_eq!(posts[0].kind, ConsoleEventKind::Post);
    for c in &CLIENTS[..3] {
        assert!(
            posts[0].text.contains(c),
            "the event names {c}: {}",
            posts[0].text
        );
    }
    assert!(posts[0].text.contains("heads-up"), "{}", posts[0].text);

    // Each member's own thread hears of it, without the other clients' names.
    let replies: Vec<ConsoleEvent> = chat
        .transcript()
        .into_iter()
        .filter(|e| e.kind == ConsoleEventKind::Reply && e.text.contains("platform event"))
        .collect();
    assert_eq!(replies.len(), 3, "one reply per member finding");
    for r in &replies {
        assert!(!r.channel.id.contains("agency"));
        let own = CLIENTS.iter().filter(|c| r.text.contains(*c)).count();
        assert_eq!(own, 0, "a client channel names no client: {}", r.text);
    }

    // A fourth client joins the open event: no second agency post.
    stack.clock.advance(Duration::minutes(10));
    stop_checkout_flow(&stack, CLIENTS[3]);
    let fourth = scan(&stack, CLIENTS[3]).await;
    assert!(
        matches!(fourth.platform.as_slice(), [PlatformChange::Joined(e, f)] if e.id == event.id && f.client.as_str() == "dune-supply"),
        "{:?}",
        fourth.platform
    );
    app.deliverer.run_once().await.unwrap();
    assert_eq!(agency_posts(&chat).len(), 1);

    // The flows go live again: the event resolves with its last member.
    for c in CLIENTS {
        stack.sim.clear(c, FaultKind::FlowDraft);
    }
    stack.clock.advance(Duration::minutes(10));
    let mut resolved = 0;
    for c in CLIENTS {
        let r = scan(&stack, c).await;
        resolved += r
            .platform
            .iter()
            .filter(|p| matches!(p, PlatformChange::Resolved(e) if e.id == event.id))
            .count();
        if c != CLIENTS[3] {
            assert_eq!(resolved, 0, "still open while a member is");
        }
    }
    assert_eq!(resolved, 1);
    app.deliverer.run_once().await.unwrap();
    let posts = agency_posts(&chat);
    assert_eq!(posts.len(), 2);
    assert!(posts[1].text.contains("is over"), "{}", posts[1].text);
}

#[tokio::test]
async fn detections_more_than_48_hours_apart_are_not_an_event() {
    let (stack, _chat) = stack().await;
    stack.clock.advance(Duration::minutes(10));
    for c in &CLIENTS[..2] {
        stop_checkout_flow(&stack, c);
        assert!(scan(&stack, c).await.platform.is_empty());
    }
    stack.clock.advance(Duration::hours(49));
    stop_checkout_flow(&stack, CLIENTS[2]);
    let r = scan(&stack, CLIENTS[2]).await;
    assert!(r.platform.is_empty(), "{:?}", r.platform);
}
