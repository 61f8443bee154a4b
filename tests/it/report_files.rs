//! Reports' files (a chart and a Markdown document) delivered through the
//! outbox to the fake Slack and the fake Discord: uploaded once, shown with
//! their message, and not shared twice when a delivery is retried after a
//! crash.

use crate::discord_support;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use lookout::chat::slack::fake::FakeSlack;
use lookout::chat::slack::{SlackChat, SlackConfig};
use lookout::clock::SimClock;
use lookout::config::Secret;
use lookout::message::{
    Accent, Adapters, Attachment, Block, ChannelRef, ChatAdapter, Media, Message, Platform,
    RichText,
};
use lookout::outbox::{self, Deliverer};
use lookout::store::Store;
use lookout::store::outbox as rows;

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n pretend chart bytes \x00\x01\x02";
const MD: &str = "# Acme: what Lookout caught\n\n| Findings opened | 2 |\n";

fn report() -> Message {
    Message {
        accent: Accent::Info,
        blocks: vec![
            Block::Header("Renewal report for Acme: last 90 days".into()),
            Block::Fields(vec![("Opened".into(), RichText::plain("2"))]),
            Block::File(Attachment::new(
                "renewal-acme-90d",
                "Renewal report (chart)",
                Media::Png,
                PNG.to_vec(),
            )),
            Block::File(Attachment::new(
                "renewal-acme-90d",
                "Renewal report (Markdown)",
                Media::Markdown,
                MD.as_bytes().to_vec(),
            )),
        ],
    }
}

async fn slack() -> (FakeSlack, Arc<SlackChat>, tokio::task::JoinHandle<()>) {
    let fake = FakeSlack::new(&["client-acme"]);
    let (addr, server) = fake.start().await.unwrap();
    let chat = SlackChat::new(SlackConfig {
        api_url: FakeSlack::api_url(addr),
        bot_token: Secret::new("xoxb-test-files"),
    })
    .unwrap();
    (fake, Arc::new(chat), server)
}

async fn outbox_over(chat: Arc<dyn ChatAdapter>) -> (Store, Deliverer) {
    let store = Store::open_memory().await.unwrap();
    let clock = SimClock::frozen(t0());
    let d = Deliverer::new(store.clone(), Adapters::one(chat), Arc::new(clock));
    (store, d)
}

async fn enqueue(store: &Store, channel: &ChannelRef, message: Message) -> i64 {
    let mut tx = store.begin().await.unwrap();
    let id = outbox::post_to(&mut tx, channel, message, t0())
        .await
        .unwrap();
    tx.commit().await.unwrap();
    id
}

fn t0() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
}

fn acme_slack() -> ChannelRef {
    ChannelRef::parse("slack:C0001").unwrap()
}

#[tokio::test]
async fn slack_uploads_each_file_then_shares_them_with_the_report_once() {
    let (fake, chat, server) = slack().await;
    let (store, d) = outbox_over(chat).await;
    let row = enqueue(&store, &acme_slack(), report()).await;
    assert_eq!(d.run_once().await.unwrap().sent, 1);
    assert_eq!(d.run_once().await.unwrap().sent, 0, "nothing left to send");

    let files = fake.files();
    assert_eq!(files.len(), 2, "{files:?}");
    assert_eq!(files[0].filename, "renewal-acme-90d.png");
    assert_eq!(files[0].bytes.as_deref(), Some(PNG));
    assert_eq!(files[0].content_type, "image/png");
    assert_eq!(files[1].filename, "renewal-acme-90d.md");
    assert_eq!(files[1].bytes.as_deref(), Some(MD.as_bytes()));
    assert_eq!(files[1].content_type, "text/markdown");
    let messages = fake.messages("client-acme");
    assert_eq!(messages.len(), 1, "one message carries both files");
    let m = &messages[0];
    assert_eq!(m.files, ["F0001", "F0002"]);
    assert_eq!(files[0].shares, [("C0001".to_owned(), m.ts.clone())]);
    assert_eq!(files[0].title, "Renewal report (chart)");
    let blocks = serde_json::to_string(&m.blocks).unwrap();
    assert!(blocks.contains("Renewal report for Acme"), "{blocks}");
    assert!(
        !blocks.contains("📎"),
        "files are shared, not named: {blocks}"
    );
    let methods: Vec<String> = fake.calls().into_iter().map(|c| c.method).collect();
    assert_eq!(
        methods,
        [
            "files.getUploadURLExternal",
            "files.getUploadURLExternal",
            "files.completeUploadExternal",
            "files.info"
        ],
        "files.upload is retired and never called"
    );
    let mut db = store.conn().await.unwrap();
    assert_eq!(rows::status(&mut db, row).await.unwrap().0, "sent");
    server.abort();
}

/// A report row as a process left it when it died mid-delivery: its files
/// uploaded and recorded in the row, the row marked in flight.
async fn staged_in_flight(store: &Store, chat: &SlackChat) -> Message {
    let row = enqueue(store, &acme_slack(), report()).await;
    let staged = chat
        .stage_files(&acme_slack(), &report())
        .await
        .unwrap()
        .expect("Slack stages files");
    assert!(staged.files().all(|a| a.uploaded.is_some()));
    let mut db = store.conn().await.unwrap();
    rows::set_body(&mut db, row, &serde_json::to_string(&staged).unwrap())
        .await
        .unwrap();
    rows::mark_inflight(&mut db, row, t0()).await.unwrap();
    staged
}

/// A crash after the files were uploaded and recorded, but before the share
/// was recorded: the retry asks Slack whether the share happened.
#[tokio::test]
async fn a_slack_share_made_before_a_crash_is_found_not_made_twice() {
    let (fake, chat, server) = slack().await;
    let (store, d) = outbox_over(chat.clone()).await;
    // What the crashed process had done: staged (recorded in the row),
    // marked in flight, shared.
    let staged = staged_in_flight(&store, &chat).await;
    chat.post(&acme_slack(), &staged, None).await.unwrap();
    assert_eq!(fake.messages("client-acme").len(), 1);

    assert_eq!(d.run_once().await.unwrap().sent, 1);
    assert_eq!(fake.messages("client-acme").len(), 1, "not shared again");
    assert_eq!(fake.files().len(), 2, "not uploaded again");
    server.abort();
}

/// A crash after staging but before the share: the retry shares the same
/// uploads once, without uploading again.
#[tokio::test]
async fn staged_slack_files_are_shared_once_after_a_crash() {
    let (fake, chat, server) = slack().await;
    let (store, d) = outbox_over(chat.clone()).await;
    staged_in_flight(&store, &chat).await;
    assert_eq!(d.run_once().await.unwrap().sent, 1);
    assert_eq!(fake.messages("client-acme").len(), 1);
    assert_eq!(fake.messages("client-acme")[0].files, ["F0001", "F0002"]);
    assert_eq!(fake.files().len(), 2, "the recorded uploads are shared");
    server.abort();
}

#[tokio::test]
async fn a_failed_upload_is_retried_and_the_row_keeps_its_files() {
    let (fake, chat, server) = slack().await;
    let (store, d) = outbox_over(chat).await;
    enqueue(&store, &acme_slack(), report()).await;
    fake.fail_next(1, lookout::chat::slack::fake::FakeFailure::ServerError);
    let pass = d.run_once().await.unwrap();
    assert_eq!((pass.sent, pass.deferred), (0, 1));
    assert!(fake.messages("client-acme").is_empty());
    server.abort();
}

#[tokio::test]
async fn discord_sends_the_files_with_the_post_and_shows_the_chart_in_the_embed() {
    let s = discord_support::fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    let channel = ChannelRef::new(Platform::Discord, &c).unwrap();
    let (store, d) = outbox_over(s.chat.clone()).await;
    enqueue(&store, &channel, report()).await;
    assert_eq!(d.run_once().await.unwrap().sent, 1);

    let msgs = s.fake.messages(&c);
    assert_eq!(msgs.len(), 1);
    let m = &msgs[0];
    let names: Vec<&str> = m.attachments.iter().map(|a| a.filename.as_str()).collect();
    assert_eq!(names, ["renewal-acme-90d.png", "renewal-acme-90d.md"]);
    assert_eq!(m.attachments[0].bytes, PNG);
    assert_eq!(m.attachments[0].content_type, "image/png");
    assert_eq!(m.attachments[1].bytes, MD.as_bytes());
    assert_eq!(
        m.embeds[0]["image"]["url"], "attachment://renewal-acme-90d.png",
        "the chart is shown in the embed"
    );
    assert_eq!(
        m.embeds[0]["title"],
        "Renewal report for Acme: last 90 days"
    );
    assert!(m.nonce.is_some(), "keyed like every outbox post");
}

#[tokio::test]
async fn a_discord_post_with_files_is_not_repeated_for_the_same_key() {
    let s = discord_support::fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    let channel = ChannelRef::new(Platform::Discord, &c).unwrap();
    let first = s
        .chat
        .post_keyed(&channel, &report(), None, "lookout-x-7")
        .await
        .unwrap();
    // The answer was lost; the outbox finds the post by key.
    let found = s
        .chat
        .find_posted(&channel, None, "lookout-x-7")
        .await
        .unwrap();
    assert_eq!(found, Some(first.clone()));
    let again = s
        .chat
        .post_keyed(&channel, &report(), None, "lookout-x-7")
        .await
        .unwrap();
    assert_eq!(again, first, "Discord's nonce returns the first message");
    assert_eq!(s.fake.messages(&c).len(), 1);
}

#[tokio::test]
async fn private_answers_name_files_instead_of_carrying_them() {
    let s = discord_support::fake_discord().await;
    let c = s.fake.add_channel("client-acme");
    let channel = ChannelRef::new(Platform::Discord, &c).unwrap();
    let note = report().without_files("ask in the client's channel");
    assert_eq!(note.files().count(), 0);
    s.chat.post(&channel, &note, None).await.unwrap();
    let m = &s.fake.messages(&c)[0];
    assert!(m.attachments.is_empty());
    let shown = serde_json::to_string(&m.embeds).unwrap();
    assert!(
        shown.contains("renewal-acme-90d.png") && shown.contains("ask in the client's channel"),
        "{shown}"
    );
}
