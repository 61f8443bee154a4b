//! Inbound chat events, as any platform delivers them, through the one dispatcher.

use std::sync::Arc;

use lookout::chat::console::{ConsoleChat, ConsoleEventKind};
use lookout::clock::{Clock, SimClock};
use lookout::commands::dispatch::Dispatcher;
use lookout::demo::{Stack, demo_start};
use lookout::domain::{FindingId, Severity};
use lookout::findings::{FindingState, Findings};
use lookout::message::{ActionKind, ChannelRef, MessageRef, PersonRef};
use lookout::message::{Actor, Inbound, InboundHandler, Outcome};
use lookout::routing::Mode;

use crate::support;

async fn setup() -> (Stack, Arc<ConsoleChat>, FindingId, MessageRef) {
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let stack = Stack::start(
        7,
        12,
        SimClock::frozen(demo_start()),
        chat.clone(),
        &["acme", "bluebird"],
    )
    .await
    .unwrap();
    let app = &stack.app;
    let obs = support::observation(
        "flow-live-stopped",
        "F1",
        Severity::Critical,
        "Flow stopped",
    );
    let (changes, _) = support::record(app, "acme", obs, stack.clock.now(), Mode::Normal).await;
    app.deliverer.run_once().await.unwrap();
    let post = chat
        .transcript()
        .into_iter()
        .find(|e| e.kind == ConsoleEventKind::Post)
        .unwrap();
    (stack, chat, changes[0].finding.id, post.message_ref)
}

fn actor(user: &str, channel: &str) -> Actor {
    Actor {
        person: PersonRef::console(user),
        channel: ChannelRef::console(channel),
    }
}

fn text(o: &Outcome) -> String {
    match o {
        Outcome::Private(m) | Outcome::Public(m) => m.to_plain(),
        other => format!("{other:?}"),
    }
}

#[tokio::test]
async fn buttons_dialogs_commands_and_thread_replies_all_land_on_the_finding() {
    let (stack, _chat, id, message) = setup().await;
    let d = Dispatcher::new(stack.app.clone());
    let ana = actor("ana", "client-acme");

    let o = d
        .handle(Inbound::Command {
            actor: ana.clone(),
            name: "findings".into(),
            text: "".into(),
        })
        .await;
    assert!(text(&o).contains("Flow stopped"), "{}", text(&o));
    let o = d
        .handle(Inbound::Command {
            actor: ana.clone(),
            name: "sacn".into(),
            text: "acme".into(),
        })
        .await;
    assert!(text(&o).contains("Did you mean `/scan`"), "{}", text(&o));

    // Snooze from the select, then acknowledge from the button.
    let o = d
        .handle(Inbound::Button {
            actor: ana.clone(),
            action: ActionKind::Snooze,
            finding: id,
            choice: Some("4h".into()),
            trigger: None,
        })
        .await;
    assert!(text(&o).contains("Snoozed until"), "{}", text(&o));
    let o = d
        .handle(Inbound::Button {
            actor: ana.clone(),
            action: ActionKind::Snooze,
            finding: id,
            choice: Some("forever".into()),
            trigger: None,
        })
        .await;
    assert!(
        matches!(o, Outcome::Private(_)) && text(&o).contains("forever"),
        "{}",
        text(&o)
    );
    let o = d
        .handle(Inbound::Button {
            actor: ana.clone(),
            action: ActionKind::Acknowledge,
            finding: id,
            choice: None,
            trigger: None,
        })
        .await;
    assert!(text(&o).contains("Acknowledged by ana"), "{}", text(&o));

    // Add note: a dialog opens, its submission becomes a note.
    let o = d
        .handle(Inbound::Button {
            actor: ana.clone(),
            action: ActionKind::AddNote,
            finding: id,
            choice: None,
            trigger: Some("t1".into()),
        })
        .await;
    assert_eq!(o, Outcome::OpenNoteDialog(id));
    let o = d
        .handle(Inbound::NoteSubmitted {
            actor: ana.clone(),
            finding: id,
            text: "called the client".into(),
        })
        .await;
    assert!(text(&o).contains("Note added"), "{}", text(&o));
    // A thread reply is a note too, acknowledged with a reaction.
    let o = d
        .handle(Inbound::ThreadReply {
            actor: actor("bo", "client-acme"),
            thread: message.clone(),
            message: MessageRef("r1".into()),
            text: "dev push Monday".into(),
        })
        .await;
    assert_eq!(o, Outcome::Noted(id));
    let o = d
        .handle(Inbound::ThreadReply {
            actor: ana.clone(),
            thread: MessageRef("nope".into()),
            message: MessageRef("r2".into()),
            text: "hi".into(),
        })
        .await;
    assert_eq!(o, Outcome::Nothing);
    let mut conn = stack.app.store.conn().await.unwrap();
    let notes: Vec<String> = Findings::notes(&mut conn, id)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.body)
        .collect();
    assert_eq!(notes, ["called the client", "dev push Monday"]);
    drop(conn); // the in-memory store has one connection

    // From another client's channel, nothing opens and nothing changes.
    let o = d
        .handle(Inbound::Button {
            actor: actor("ana", "client-bluebird"),
            action: ActionKind::AddNote,
            finding: id,
            choice: None,
            trigger: Some("t2".into()),
        })
        .await;
    assert!(text(&o).contains("client-acme"), "{}", text(&o));
    let o = d
        .handle(Inbound::Button {
            actor: actor("ana", "client-bluebird"),
            action: ActionKind::Resolve,
            finding: id,
            choice: None,
            trigger: None,
        })
        .await;
    assert!(matches!(o, Outcome::Private(_)));
    let mut conn = stack.app.store.conn().await.unwrap();
    assert_eq!(
        Findings::get(&mut conn, id).await.unwrap().state,
        FindingState::Acknowledged
    );
    drop(conn);
    // A stranger cannot resolve.
    let o = d
        .handle(Inbound::Button {
            actor: actor("stranger", "client-acme"),
            action: ActionKind::Resolve,
            finding: id,
            choice: None,
            trigger: None,
        })
        .await;
    assert!(text(&o).contains("needs the am role"), "{}", text(&o));
    let o = d
        .handle(Inbound::Button {
            actor: ana,
            action: ActionKind::Resolve,
            finding: id,
            choice: None,
            trigger: None,
        })
        .await;
    assert!(text(&o).contains("Resolved by ana"), "{}", text(&o));
}
