//! A ten-minute chat outage: Slack answers 503 to everything while findings
//! keep coming. Nothing is given up on; once Slack is back the outbox drains
//! by itself, each channel in the order its messages were written, each
//! message once.

use std::sync::Arc;

use chrono::{Duration, TimeZone, Utc};

use lookout::chat::slack::fake::FakeSlack;
use lookout::chat::slack::{SlackChat, SlackConfig};
use lookout::clock::{Clock, SimClock};
use lookout::config::Secret;
use lookout::message::{Accent, Adapters, ChannelRef, Message};
use lookout::outbox::{self, Deliverer};
use lookout::store::Store;

const CHANNELS: [&str; 3] = ["client-acme", "client-beta", "agency"];

async fn write(store: &Store, channel: usize, n: usize, clock: &SimClock) {
    let mut tx = store.begin().await.unwrap();
    let to = ChannelRef::parse(&format!("slack:C{:04}", channel + 1)).unwrap();
    let text = format!("{} message {n}", CHANNELS[channel]);
    outbox::post_to(&mut tx, &to, Message::text(Accent::Info, text), clock.now())
        .await
        .unwrap();
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn a_ten_minute_slack_outage_loses_nothing_and_drains_in_order() {
    let fake = FakeSlack::new(&CHANNELS);
    let (addr, _server) = fake.start().await.unwrap();
    let chat = SlackChat::new(SlackConfig {
        api_url: FakeSlack::api_url(addr),
        bot_token: Secret::new("xoxb-test-outage"),
    })
    .unwrap();
    let store = Store::open_memory().await.unwrap();
    let clock = SimClock::frozen(Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap());
    let d = Deliverer::new(
        store.clone(),
        Adapters::one(Arc::new(chat)),
        Arc::new(clock.clone()),
    );

    // Before: delivered at once.
    let mut written = [0usize; 3];
    for (c, n) in written.iter_mut().enumerate() {
        write(&store, c, *n, &clock).await;
        *n += 1;
    }
    assert_eq!(d.run_once().await.unwrap().sent, 3);
    // Past Slack's pace of a message a second per channel.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;

    // Ten minutes down, the deliverer trying every 15 s while two messages
    // a minute keep coming.
    fake.set_outage(true);
    let down_from = fake.calls().len();
    for step in 0..40 {
        clock.advance(Duration::seconds(15));
        if step % 2 == 0 {
            let c = step % 3;
            write(&store, c, written[c], &clock).await;
            written[c] += 1;
        }
        let pass = d.run_once().await.unwrap();
        assert_eq!(pass.sent, 0, "nothing gets through while Slack is down");
        assert_eq!(pass.failed, 0, "nothing is given up on during an outage");
    }
    let tried = fake.calls().len() - down_from;
    assert!(tried >= 3, "the deliverer kept trying: {tried} calls");
    assert!(
        tried <= 60,
        "and backed off rather than hammering: {tried} calls"
    );

    // Back: delivery resumes within the longest backoff (five minutes), and
    // the backlog drains at Slack's pace of one message a second per channel.
    fake.set_outage(false);
    let back_from = fake.calls().len();
    let mut waited = Duration::zero();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        d.run_once().await.unwrap();
        let mut db = store.conn().await.unwrap();
        let (pending, _, failed) = lookout::store::outbox::counts(&mut db).await.unwrap();
        drop(db);
        assert_eq!(failed, 0);
        if pending == 0 {
            break;
        }
        let resumed = fake.calls()[back_from..].iter().any(|c| c.error.is_none());
        if resumed {
            assert!(
                std::time::Instant::now() < deadline,
                "still {pending} pending"
            );
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        } else {
            assert!(
                waited <= Duration::minutes(5) + Duration::seconds(15),
                "nothing delivered {waited} after the outage"
            );
        }
        clock.advance(Duration::seconds(15));
        waited += Duration::seconds(15);
    }
    for (c, name) in CHANNELS.iter().enumerate() {
        let texts: Vec<String> = fake.messages(name).into_iter().map(|m| m.text).collect();
        let expected: Vec<String> = (0..written[c])
            .map(|n| format!("{name} message {n}"))
            .collect();
        assert_eq!(
            texts.len(),
            expected.len(),
            "{name}: each message once: {texts:?}"
        );
        for (shown, wrote) in texts.iter().zip(&expected) {
            assert!(
                shown.contains(wrote.as_str()),
                "{name}: in order: {texts:?}"
            );
        }
    }
    assert_eq!(written.iter().sum::<usize>(), 3 + 20);
}
