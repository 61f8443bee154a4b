//! Delivery tests with a recording chat adapter.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::checks::Observation;
use crate::clock::SimClock;
use crate::domain::{ClientSlug, Money, Severity, Track};
use crate::findings::{Actor, Findings, ReconcileScope};
use crate::message::{Accent, ChatAdapter, PersonRef, Platform};
use crate::routing::{Route, RouteChannel, route_change};
use crate::store::outbox::{install_id, status};

#[derive(Default)]
struct Fake {
    /// Discord when set, else the console.
    discord: bool,
    calls: Mutex<Vec<(String, String, Option<String>)>>,
    fail_next: Mutex<Vec<ChatError>>,
    /// Keys of keyed posts, with the ref each got.
    keys: Mutex<Vec<(String, MessageRef)>>,
    /// Record the next keyed post, then answer as if the connection dropped.
    lose_next_answer: Mutex<bool>,
}

#[async_trait]
impl ChatAdapter for Fake {
    fn platform(&self) -> Platform {
        if self.discord {
            Platform::Discord
        } else {
            Platform::Console
        }
    }
    async fn post(
        &self,
        ch: &ChannelRef,
        m: &Message,
        thread: Option<&MessageRef>,
    ) -> Result<MessageRef, ChatError> {
        if let Some(e) = self.fail_next.lock().unwrap().pop() {
            return Err(e);
        }
        let mut calls = self.calls.lock().unwrap();
        let kind = if thread.is_some() { "reply" } else { "post" };
        calls.push((
            kind.into(),
            format!("#{} {}", ch.id, m.to_plain().lines().next().unwrap_or("")),
            thread.map(|t| t.0.clone()),
        ));
        Ok(MessageRef(format!("m{}", calls.len())))
    }
    async fn post_keyed(
        &self,
        ch: &ChannelRef,
        m: &Message,
        thread: Option<&MessageRef>,
        key: &str,
    ) -> Result<MessageRef, ChatError> {
        let r = self.post(ch, m, thread).await?;
        self.keys.lock().unwrap().push((key.to_owned(), r.clone()));
        let mut lose = self.lose_next_answer.lock().unwrap();
        if *lose {
            *lose = false;
            return Err(ChatError::Unavailable("connection reset".into()));
        }
        Ok(r)
    }
    async fn find_posted(
        &self,
        _: &ChannelRef,
        _: Option<&MessageRef>,
        key: &str,
    ) -> Result<Option<MessageRef>, ChatError> {
        Ok(self
            .keys
            .lock()
            .unwrap()
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, r)| r.clone()))
    }
    async fn update(&self, ch: &ChannelRef, t: &MessageRef, m: &Message) -> Result<(), ChatError> {
        if let Some(e) = self.fail_next.lock().unwrap().pop() {
            return Err(e);
        }
        self.calls.lock().unwrap().push((
            "update".into(),
            format!("#{} {}", ch.id, m.to_plain().lines().next().unwrap_or("")),
            Some(t.0.clone()),
        ));
        Ok(())
    }
    async fn ephemeral(&self, _: &ChannelRef, _: &PersonRef, _: &Message) -> Result<(), ChatError> {
        Ok(())
    }
}

fn obs(sev: Severity) -> Observation {
    Observation {
        check: "flow-live-stopped".into(),
        subject: "F1".into(),
        severity: sev,
        track: Track::Now,
        title: "Flow stopped".into(),
        why: "It stopped.".into(),
        deep_link: "https://www.klaviyo.com/flow/F1/edit".into(),
        value_at_stake: Some(Money::from_major(50.0, "USD")),
        began_at: None,
    }
}

#[tokio::test]
async fn critical_posts_once_then_edits_in_place_with_thread_history() {
    let store = Store::open_memory().await.unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
    let clock = SimClock::frozen(t0);
    let fake = Arc::new(Fake::default());
    let d = Deliverer::new(
        store.clone(),
        Adapters::one(fake.clone()),
        Arc::new(clock.clone()),
    );
    let slug = ClientSlug::parse("acme").unwrap();
    let route = Route {
        client: slug.clone(),
        client_name: "Acme".into(),
        channels: vec![RouteChannel {
            channel: ChannelRef::console("client-acme"),
            owner: Some(PersonRef::console("ana")),
        }],
        pod: None,
    };
    let ran: HashSet<String> = ["flow-live-stopped".to_string()].into();
    let mut tx = store.begin().await.unwrap();
    crate::store::clients::upsert_client(&mut tx, &slug, "Acme", t0)
        .await
        .unwrap();
    let changes = Findings::reconcile(
        &mut tx,
        &ReconcileScope {
            client: &slug,
            ran: &ran,
            onboarding: false,
            reopen_window: chrono::Duration::hours(24),
            now: t0,
        },
        &[obs(Severity::Critical)],
    )
    .await
    .unwrap();
    for c in &changes {
        route_change(&mut tx, &route, c, t0).await.unwrap();
    }
    // Acknowledged before the post was even delivered: the edit must wait for it.
    let ack = Findings::acknowledge(
        &mut tx,
        changes[0].finding.id,
        &Actor::person(&PersonRef::console("bo")),
        t0,
    )
    .await
    .unwrap();
    route_change(&mut tx, &route, &ack, t0).await.unwrap();
    tx.commit().await.unwrap();

    // The platform is down for the first attempt: nothing is lost, order is kept.
    fake.fail_next
        .lock()
        .unwrap()
        .push(ChatError::Unavailable("503".into()));
    let p = d.run_once().await.unwrap();
    assert_eq!(p.sent, 0);
    assert!(fake.calls.lock().unwrap().is_empty());
    clock.advance(Duration::seconds(5));
    let p = d.run_once().await.unwrap();
    assert_eq!(p.sent, 3, "{p:?}");
    let calls = fake.calls.lock().unwrap().clone();
    assert_eq!(calls[0].0, "post");
    assert!(
        calls[0].1.starts_with("#client-acme Flow stopped"),
        "{calls:?}"
    );
    assert_eq!(
        calls[1],
        (
            "update".into(),
            "#client-acme Flow stopped".into(),
            Some("m1".into())
        )
    );
    assert_eq!(calls[2].0, "reply");
    assert_eq!(
        calls[2].2.as_deref(),
        Some("m1"),
        "history goes in the message's thread"
    );
    // Nothing is sent twice.
    assert_eq!(d.run_once().await.unwrap(), Pass::default());
    assert_eq!(fake.calls.lock().unwrap().len(), 3);
    let mut c = store.conn().await.unwrap();
    let f = changes[0].finding.id;
    let ch = ChannelRef::console("client-acme");
    assert_eq!(
        Findings::message_in(&mut c, f, &ch).await.unwrap(),
        Some(MessageRef("m1".into()))
    );
    assert_eq!(
        Findings::by_message(&mut c, &ch, &MessageRef("m1".into()))
            .await
            .unwrap(),
        Some(f)
    );
}

#[tokio::test]
async fn rate_limits_wait_and_rejections_fail_without_blocking_others() {
    let store = Store::open_memory().await.unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
    let clock = SimClock::frozen(t0);
    let fake = Arc::new(Fake::default());
    let d = Deliverer::new(
        store.clone(),
        Adapters::one(fake.clone()),
        Arc::new(clock.clone()),
    );
    let mut c = store.conn().await.unwrap();
    let ch = ChannelRef::console("agency");
    for i in 0..2 {
        let op = Op::Post {
            channel: ch.clone(),
            finding: None,
            message: Message::text(Accent::Info, format!("hello {i}")),
        };
        enqueue(&mut c, &op, t0).await.unwrap();
    }
    drop(c); // the in-memory store has one connection
    fake.fail_next.lock().unwrap().push(ChatError::RateLimited {
        retry_after_secs: 30,
    });
    let p = d.run_once().await.unwrap();
    assert_eq!(
        (p.sent, p.deferred),
        (0, 2),
        "a 429 holds the whole channel"
    );
    clock.advance(Duration::seconds(10));
    assert_eq!(
        d.run_once().await.unwrap().sent,
        0,
        "Retry-After is honoured"
    );
    clock.advance(Duration::seconds(21));
    assert_eq!(d.run_once().await.unwrap().sent, 2);
    let texts: Vec<String> = fake
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.1.clone())
        .collect();
    assert_eq!(texts, ["#agency hello 0", "#agency hello 1"]);

    fake.fail_next
        .lock()
        .unwrap()
        .push(ChatError::Rejected("channel_not_found".into()));
    let mut c = store.conn().await.unwrap();
    let op = Op::Post {
        channel: ChannelRef::console("gone"),
        finding: None,
        message: Message::text(Accent::Info, "x"),
    };
    enqueue(&mut c, &op, t0).await.unwrap();
    drop(c);
    assert_eq!(d.run_once().await.unwrap().failed, 1);
    let mut c = store.conn().await.unwrap();
    let (_, _, failed) = crate::store::outbox::counts(&mut c).await.unwrap();
    assert_eq!(failed, 1);
}

#[tokio::test]
async fn a_post_whose_answer_was_lost_is_found_by_key_not_posted_twice() {
    let store = Store::open_memory().await.unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
    let clock = SimClock::frozen(t0);
    let fake = Arc::new(Fake::default());
    let d = Deliverer::new(
        store.clone(),
        Adapters::one(fake.clone()),
        Arc::new(clock.clone()),
    );
    let mut c = store.conn().await.unwrap();
    let op = Op::Post {
        channel: ChannelRef::console("agency"),
        finding: None,
        message: Message::text(Accent::Info, "once"),
    };
    let id = enqueue(&mut c, &op, t0).await.unwrap();
    drop(c);
    *fake.lose_next_answer.lock().unwrap() = true;
    let p = d.run_once().await.unwrap();
    assert_eq!((p.sent, p.deferred), (0, 1));
    assert_eq!(
        fake.calls.lock().unwrap().len(),
        1,
        "it did reach the platform"
    );
    clock.advance(Duration::seconds(10));
    assert_eq!(d.run_once().await.unwrap().sent, 1);
    assert_eq!(
        fake.calls.lock().unwrap().len(),
        1,
        "found by its key, not posted again"
    );
    let mut c = store.conn().await.unwrap();
    let (st, mref) = status(&mut c, id).await.unwrap();
    assert_eq!((st.as_str(), mref.as_deref()), ("sent", Some("m1")));
    let keys = fake.keys.lock().unwrap().clone();
    let install = install_id(&mut c).await.unwrap();
    assert_eq!(keys[0].0, row_key(&install, id));
    assert_eq!(
        install_id(&mut c).await.unwrap(),
        install,
        "the install id is stable"
    );
}

/// Posts only when released, telling the test each time a post starts.
#[derive(Default)]
struct Slow {
    started: tokio::sync::Notify,
    release: tokio::sync::Notify,
    posted: Mutex<Vec<String>>,
}

#[async_trait]
impl ChatAdapter for Slow {
    fn platform(&self) -> Platform {
        Platform::Console
    }
    async fn post(
        &self,
        _: &ChannelRef,
        m: &Message,
        _: Option<&MessageRef>,
    ) -> Result<MessageRef, ChatError> {
        self.started.notify_one();
        self.release.notified().await;
        let mut posted = self.posted.lock().unwrap();
        posted.push(m.to_plain());
        Ok(MessageRef(format!("m{}", posted.len())))
    }
    async fn update(&self, _: &ChannelRef, _: &MessageRef, _: &Message) -> Result<(), ChatError> {
        Ok(())
    }
    async fn ephemeral(&self, _: &ChannelRef, _: &PersonRef, _: &Message) -> Result<(), ChatError> {
        Ok(())
    }
}

#[tokio::test]
async fn shutdown_finishes_the_delivery_under_way_then_makes_a_last_pass() {
    let store = Store::open_memory().await.unwrap();
    let t0 = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
    let clock = SimClock::frozen(t0);
    let slow = Arc::new(Slow::default());
    let d = Deliverer::new(
        store.clone(),
        Adapters::one(slow.clone()),
        Arc::new(clock.clone()),
    );
    let post = |text: &str| Op::Post {
        channel: ChannelRef::console("agency"),
        finding: None,
        message: Message::text(Accent::Info, text),
    };
    let mut c = store.conn().await.unwrap();
    let first = enqueue(&mut c, &post("in flight"), t0).await.unwrap();
    drop(c);
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    // A poll of an hour: only the wake-up, and the stop, start passes.
    let task = tokio::spawn(d.clone().run(std::time::Duration::from_secs(3600), stop_rx));
    slow.started.notified().await;
    // Committed while the first is on its way to the platform.
    let mut c = store.conn().await.unwrap();
    let second = enqueue(&mut c, &post("committed before the stop"), t0)
        .await
        .unwrap();
    drop(c);
    stop.send(true).unwrap();
    slow.release.notify_one();
    // The last pass posts the second row too.
    slow.started.notified().await;
    slow.release.notify_one();
    tokio::time::timeout(std::time::Duration::from_secs(5), task)
        .await
        .expect("the deliverer stops")
        .unwrap();
    let mut c = store.conn().await.unwrap();
    assert_eq!(status(&mut c, first).await.unwrap().0, "sent");
    assert_eq!(status(&mut c, second).await.unwrap().0, "sent");
    assert_eq!(slow.posted.lock().unwrap().len(), 2);
}
