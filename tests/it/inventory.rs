//! `/inventory`: one client's setup in its channel, the portfolio's in the
//! agency channel with the whole table as a file, never across clients in a
//! client's channel.

use std::sync::Arc;

use lookout::chat::console::ConsoleChat;
use lookout::clock::SimClock;
use lookout::demo::{Stack, demo_start};
use lookout::domain::ClientSlug;

use crate::support;

use support::run_command as run;

#[tokio::test]
async fn inventory_of_one_client_and_of_the_portfolio() {
    let files = tempfile::tempdir().unwrap();
    let chat =
        Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())).with_files_dir(files.path()));
    let stack = Stack::start(7, 12, SimClock::frozen(demo_start()), chat.clone(), &[])
        .await
        .expect("stack starts");

    // Before a scan: the recorded facts, and a pointer to /scan.
    let before = run(&stack, "ana", "client-acme", "/inventory acme")
        .await
        .unwrap();
    assert!(before.contains("Inventory: "), "{before}");
    assert!(before.contains("email-and-sms-250k"), "{before}");
    assert!(before.contains("/scan acme"), "{before}");

    // After a scan: profiles counted from the account, consent from its lists.
    let acme = ClientSlug::parse("acme").unwrap();
    stack.app.scan(&acme, "test", None).await.unwrap();
    let after = run(&stack, "ana", "client-acme", "/inventory acme")
        .await
        .unwrap();
    assert!(after.contains(" of 250,000 ("), "{after}");
    assert!(after.contains("double opt-in list(s)"), "{after}");
    assert!(
        after.contains("send.acme.example.com: SPF pass, DKIM pass"),
        "{after}"
    );
    assert!(!after.contains("Not scanned yet"), "{after}");

    // Another client's inventory is refused in acme's channel, and so is the portfolio's.
    let other = run(&stack, "ana", "client-acme", "/inventory fjord")
        .await
        .unwrap_err();
    assert!(other.contains("fjord"), "{other}");
    let portfolio = run(&stack, "ana", "client-acme", "/inventory")
        .await
        .unwrap_err();
    assert!(portfolio.contains("agency channel"), "{portfolio}");

    // In the agency channel: posted with the whole table as a Markdown file.
    let agency = run(&stack, "ana", "agency", "/inventory").await.unwrap();
    assert!(agency.contains("posting it in this channel"), "{agency}");
    stack.app.deliverer.run_once().await.unwrap();
    let posted = support::posts_containing(&chat, "Inventory: 12 clients");
    assert_eq!(posted, 1);
    let docs = support::markdown_files(files.path());
    assert_eq!(docs.len(), 1, "{docs:?}");
    let doc = std::fs::read_to_string(&docs[0]).unwrap();
    assert!(doc.starts_with("# Client inventory"), "{doc}");
    assert_eq!(
        doc.lines()
            .filter(|l| l.starts_with("| ") && !l.starts_with("| client"))
            .count(),
        12,
        "{doc}"
    );

    // A viewer may not ask.
    let viewer = run(&stack, "stranger", "agency", "/inventory")
        .await
        .unwrap_err();
    assert!(viewer.contains("am role"), "{viewer}");
}
