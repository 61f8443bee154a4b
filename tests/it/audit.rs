//! The audit trail: actions from every surface land with who, what, where,
//! which client and how they ended; a change of the config file is recorded
//! at start-up; `/audit` lists newest first, keeps to a client's channel,
//! pages within Slack's and Discord's limits and shows typed text as plain
//! text; and arguments that may hold a secret are never recorded.

use std::sync::Arc;

use chrono::Duration;
use lookout::audit::{self, Entry, Outcome as Audited, Recorded, Surface};
use lookout::chat::console::{ConsoleChat, ConsoleEventKind};
use lookout::clock::{Clock, SimClock};
use lookout::commands::dispatch::{Dispatcher, command_entry, command_entry_for, parse_refusal};
use lookout::commands::parse::parse_parts;
use lookout::commands::spec::CommandSpec;
use lookout::commands::{CommandError, Role, context};
use lookout::config::Config;
use lookout::demo::{Stack, demo_start};
use lookout::domain::{ClientSlug, FindingId, Severity};
use lookout::message::{
    ActionKind, Actor, Block, ChannelRef, Inbound, InboundHandler, Message, MessageRef, Outcome,
    PersonRef, Platform, Span,
};
use lookout::routing::Mode;
use lookout::startup::StartOptions;
use lookout::store::Store;

use crate::support;

/// An entry as compared: who, surface, action, client, outcome, detail.
type Row = (
    Option<String>,
    Surface,
    String,
    Option<String>,
    String,
    Option<String>,
);

fn slug(s: &str) -> ClientSlug {
    ClientSlug::parse(s).unwrap()
}

fn console(person: &str, channel: &str) -> Actor {
    Actor {
        person: PersonRef::console(person),
        channel: ChannelRef::console(channel),
    }
}

async fn stack(chat: Arc<ConsoleChat>) -> Stack {
    Stack::start_with(
        7,
        12,
        SimClock::frozen(demo_start()),
        chat,
        &["acme", "bluebird"],
        |c| {
            c.people.insert(
                PersonRef::parse("discord:12345678901234567890").unwrap(),
                Role::Lead,
            );
        },
    )
    .await
    .unwrap()
}

async fn seed(stack: &Stack, check: &str) -> FindingId {
    let obs = support::observation(check, "s", Severity::Critical, check);
    let (changes, _) =
        support::record(&stack.app, "acme", obs, stack.clock.now(), Mode::Normal).await;
    stack.app.deliverer.run_once().await.unwrap();
    changes[0].finding.id
}

async fn all(stack: &Stack) -> Vec<Recorded> {
    let mut db = stack.app.store.conn().await.unwrap();
    audit::recent(
        &mut db,
        None,
        stack.clock.now() - Duration::days(365),
        10_000,
        0,
    )
    .await
    .unwrap()
}

fn text(o: &Outcome) -> String {
    match o {
        Outcome::Private(m) | Outcome::Public(m) => m.to_plain(),
        other => format!("{other:?}"),
    }
}

fn message(o: &Outcome) -> &Message {
    match o {
        Outcome::Private(m) => m,
        other => panic!("expected a private answer, got {other:?}"),
    }
}

/// The rows of an `/audit` page: its paragraphs, in order.
fn rows(o: &Outcome) -> Vec<String> {
    message(o)
        .blocks
        .iter()
        .filter_map(|b| match b {
            Block::Text(t) => Some(t.to_plain()),
            _ => None,
        })
        .collect()
}

async fn command(d: &Dispatcher, actor: &Actor, line: &str) -> Outcome {
    let (name, rest) = line.split_once(' ').unwrap_or((line, ""));
    d.handle(Inbound::Command {
        actor: actor.clone(),
        name: name.trim_start_matches('/').into(),
        text: rest.into(),
    })
    .await
}

#[tokio::test]
async fn actions_from_every_surface_land_with_who_what_where_and_which_client() {
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let stack = stack(chat.clone()).await;
    let d = Dispatcher::new(stack.app.clone());
    let (f1, f2, f3) = (
        seed(&stack, "flow-live-stopped").await,
        seed(&stack, "deliv-bounce-rate").await,
        seed(&stack, "deliv-spam-rate").await,
    );
    let ana = console("ana", "client-acme");
    let thread = chat
        .transcript()
        .into_iter()
        .find(|e| e.kind == ConsoleEventKind::Post && e.text.contains("deliv-spam-rate"))
        .unwrap()
        .message_ref;

    assert!(text(&command(&d, &ana, &format!("/ack {f1}")).await).contains("Acknowledged"));
    let button = |action, finding, choice: Option<&str>| Inbound::Button {
        actor: ana.clone(),
        action,
        finding,
        choice: choice.map(str::to_owned),
        trigger: Some("t".into()),
    };
    assert!(text(&d.handle(button(ActionKind::Resolve, f2, None)).await).contains("Resolved"));
    assert!(text(&d.handle(button(ActionKind::Snooze, f3, Some("4h"))).await).contains("Snoozed"));
    assert_eq!(
        d.handle(button(ActionKind::AddNote, f3, None)).await,
        Outcome::OpenNoteDialog(f3)
    );
    d.handle(Inbound::NoteSubmitted {
        actor: ana.clone(),
        finding: f3,
        text: "called them".into(),
    })
    .await;
    let reply = Inbound::ThreadReply {
        actor: console("bo", "client-acme"),
        thread,
        message: MessageRef("r1".into()),
        text: "dev push Monday".into(),
    };
    assert_eq!(d.handle(reply).await, Outcome::Noted(f3));
    // Refused: a typo, another client's finding from here, and a viewer.
    command(&d, &ana, "/sacn acme").await;
    command(
        &d,
        &console("ana", "client-bluebird"),
        &format!("/resolve {f1}"),
    )
    .await;
    command(&d, &console("stranger", "agency"), "/scan bluebird").await;
    // A route change from chat, and one from elsewhere through the registry.
    let you = console("you", "agency");
    assert!(
        text(&command(&d, &you, "/route bluebird #console:bb-alerts").await).contains("now go to")
    );
    stack
        .app
        .clients
        .set_route(
            &stack.app.store,
            &slug("acme"),
            ChannelRef::console("acme-alerts"),
            None,
            &PersonRef::console("you"),
            Surface::Cli,
            stack.clock.now(),
        )
        .await
        .unwrap();
    // Lookout's own actions, recorded through the API other stages call.
    let mut db = stack.app.store.conn().await.unwrap();
    audit::record(
        &mut db,
        &Entry::system(Surface::Scheduler, "snooze end")
            .client(&slug("acme"))
            .detail(format!("{f3}")),
        stack.clock.now(),
    )
    .await
    .unwrap();
    audit::record(
        &mut db,
        &Entry::person(
            &PersonRef::console("you"),
            Surface::Callback,
            "oauth connect",
        )
        .client(&slug("bluebird"))
        .refused("the state did not match"),
        stack.clock.now(),
    )
    .await
    .unwrap();
    drop(db);

    let mut got: Vec<Row> = all(&stack)
        .await
        .into_iter()
        .map(|r| {
            let e = r.entry;
            (
                e.actor.map(|p| p.to_string()),
                e.surface,
                e.action,
                e.client.map(|c| c.to_string()),
                e.outcome.as_str().to_owned(),
                e.detail,
            )
        })
        .collect();
    got.reverse();
    let s = |x: &str| Some(x.to_owned());
    let expected = vec![
        (
            s("console:ana"),
            Surface::Command,
            "command /ack".into(),
            s("acme"),
            "done".into(),
            Some(f1.to_string()),
        ),
        (
            s("console:ana"),
            Surface::Button,
            "button resolve".into(),
            s("acme"),
            "done".into(),
            Some(f2.to_string()),
        ),
        (
            s("console:ana"),
            Surface::Select,
            "select snooze".into(),
            s("acme"),
            "done".into(),
            Some(format!("{f3} 4h")),
        ),
        (
            s("console:ana"),
            Surface::Button,
            "button add note".into(),
            s("acme"),
            "done".into(),
            Some(f3.to_string()),
        ),
        (
            s("console:ana"),
            Surface::Modal,
            "modal note".into(),
            s("acme"),
            "done".into(),
            Some(format!("{f3}: called them")),
        ),
        (
            s("console:bo"),
            Surface::Thread,
            "thread note".into(),
            s("acme"),
            "done".into(),
            Some(format!("{f3}: dev push Monday")),
        ),
        (
            s("console:ana"),
            Surface::Command,
            "command /sacn".into(),
            s("acme"),
            "refused".into(),
            None,
        ),
        (
            s("console:ana"),
            Surface::Command,
            "command /resolve".into(),
            s("acme"),
            "refused".into(),
            Some(f1.to_string()),
        ),
        (
            s("console:stranger"),
            Surface::Command,
            "command /scan".into(),
            s("bluebird"),
            "refused".into(),
            s("bluebird"),
        ),
        (
            s("console:you"),
            Surface::Command,
            "route".into(),
            s("bluebird"),
            "done".into(),
            s("console → console:bb-alerts, owner console:bo"),
        ),
        (
            s("console:you"),
            Surface::Cli,
            "route".into(),
            s("acme"),
            "done".into(),
            s("console → console:acme-alerts, owner console:ana"),
        ),
        (
            None,
            Surface::Scheduler,
            "snooze end".into(),
            s("acme"),
            "done".into(),
            Some(f3.to_string()),
        ),
        (
            s("console:you"),
            Surface::Callback,
            "oauth connect".into(),
            s("bluebird"),
            "refused".into(),
            None,
        ),
    ];
    assert_eq!(got, expected);

    let entries = all(&stack).await;
    let reason = |action: &str| {
        entries
            .iter()
            .find(|r| r.entry.action == action)
            .and_then(|r| r.entry.outcome.reason().map(str::to_owned))
            .unwrap()
    };
    assert!(reason("command /sacn").contains("Did you mean `/scan`"));
    assert!(reason("command /resolve").contains("belongs to acme"));
    assert_eq!(
        reason("command /scan"),
        "/scan needs the am role or higher; ask an admin"
    );
    let ack = entries
        .iter()
        .find(|r| r.entry.action == "command /ack")
        .unwrap();
    assert_eq!(ack.entry.platform(), Some(Platform::Console));
    assert_eq!(ack.entry.channel, Some(ChannelRef::console("client-acme")));
    assert_eq!(ack.at, stack.clock.now());

    // What an access review reads: each person's latest action, and Lookout's own.
    let mut db = stack.app.store.conn().await.unwrap();
    let last = audit::last_activity_by_person(&mut db).await.unwrap();
    let people: Vec<String> = last.iter().map(|(p, _)| p.to_string()).collect();
    for p in [
        "console:ana",
        "console:bo",
        "console:stranger",
        "console:you",
    ] {
        assert!(people.contains(&p.to_owned()), "{p} in {people:?}");
    }
    assert!(last.iter().all(|(_, at)| *at == stack.clock.now()));
    let own = audit::unattributed(&mut db, stack.clock.now() - Duration::days(1))
        .await
        .unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].entry.action, "snooze end");
    // Autocomplete is not an action: nothing recorded.
    drop(db);
    let n = all(&stack).await.len();
    d.handle(Inbound::Autocomplete {
        actor: ana.clone(),
        command: "scan".into(),
        arg: "client".into(),
        typed: "ac".into(),
    })
    .await;
    assert_eq!(all(&stack).await.len(), n);
}

/// Records `n` entries about `client`, one every `hours`, the newest `first` hours ago.
async fn history(stack: &Stack, client: &str, n: usize, first: i64, hours: i64) {
    let mut db = stack.app.store.conn().await.unwrap();
    for i in 0..n {
        let at = stack.clock.now() - Duration::hours(first + hours * i as i64);
        let e = Entry::person(&PersonRef::console("ana"), Surface::Command, "command /ack")
            .client(&slug(client))
            .channel(&ChannelRef::console(&format!("client-{client}")))
            .detail(format!("{client} {i:02}"));
        audit::record(&mut db, &e, at).await.unwrap();
    }
}

#[tokio::test]
async fn audit_lists_newest_first_keeps_to_the_clients_channel_and_pages() {
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let stack = stack(chat).await;
    let d = Dispatcher::new(stack.app.clone());
    // 40 entries about acme over five days, five older than a week; five about bluebird.
    history(&stack, "acme", 40, 1, 3).await;
    history(&stack, "acme", 5, 24 * 10, 1).await;
    history(&stack, "bluebird", 5, 2, 5).await;
    let lee_acme = console("lee", "client-acme");

    // In acme's channel: acme only, newest first, 15 to a page.
    let o = command(&d, &lee_acme, "/audit").await;
    let page = rows(&o);
    assert_eq!(page.len(), 15, "{}", text(&o));
    for (i, row) in page.iter().enumerate() {
        assert!(row.ends_with(&format!("“acme {i:02}”")), "{row}");
        assert!(
            row.contains("@ana · command · command /ack · acme · done"),
            "{row}"
        );
    }
    let t = text(&o);
    assert!(t.starts_with("Audit trail: acme, last 7 days"), "{t}");
    assert!(
        t.contains("page 1 of 3 · 40 entries · times in America/New_York"),
        "{t}"
    );
    assert!(t.contains("Older entries: /audit 7 page:2"), "{t}");
    // Times are the agency's: the newest, an hour before 07:00 New York time.
    assert!(page[0].starts_with("2026-11-02 06:00 "), "{}", page[0]);
    // The person is a mention, for the platform to render; nothing else is markup.
    let first = match &message(&o).blocks[2] {
        Block::Text(t) => t.clone(),
        other => panic!("{other:?}"),
    };
    assert!(first.0.contains(&Span::Mention(PersonRef::console("ana"))));
    assert!(
        first
            .0
            .iter()
            .all(|s| matches!(s, Span::Plain(_) | Span::Mention(_) | Span::Strong(_)))
    );

    // Page 2 goes on where page 1 ended (the first /audit is now the newest entry).
    let o = command(&d, &lee_acme, "/audit 7 page:2").await;
    let page = rows(&o);
    assert_eq!(page.len(), 15);
    assert!(page[0].ends_with("“acme 14”"), "{}", page[0]);
    assert!(page[14].ends_with("“acme 28”"), "{}", page[14]);
    let o = command(&d, &lee_acme, "/audit acme 7 page:3").await;
    let page = rows(&o);
    assert_eq!(page.len(), 12, "{}", text(&o));
    assert!(page.last().unwrap().ends_with("“acme 39”"));
    assert!(!text(&o).contains("Older entries"), "{}", text(&o));
    assert!(text(&command(&d, &lee_acme, "/audit 7 page:9").await).contains("no page 9"));
    // A longer look-back reaches last week's entries.
    let o = command(&d, &lee_acme, "/audit 30 page:4").await;
    assert!(
        rows(&o).iter().any(|r| r.ends_with("“acme 04”")),
        "{}",
        text(&o)
    );

    // Another client's trail is refused in acme's channel, and the refusal is recorded.
    let o = command(&d, &lee_acme, "/audit bluebird").await;
    assert!(text(&o).contains("belongs to bluebird"), "{}", text(&o));
    let newest = all(&stack).await.remove(0).entry;
    assert_eq!(newest.action, "command /audit");
    assert!(matches!(newest.outcome, Audited::Refused(_)));
    // Account managers do not see the trail.
    let o = command(&d, &console("ana", "client-acme"), "/audit").await;
    assert_eq!(
        text(&o),
        "/audit needs the lead role or higher; ask an admin"
    );

    // In the agency channel or a direct message: every client, or the one named.
    for place in ["agency", "dm-lee"] {
        let lee = console("lee", place);
        let o = command(&d, &lee, "/audit").await;
        let t = text(&o);
        assert!(t.starts_with("Audit trail: all clients"), "{t}");
        let page = rows(&o);
        assert!(page.iter().any(|r| r.contains("· bluebird ·")), "{t}");
        assert!(page.iter().any(|r| r.contains("· acme ·")), "{t}");
        let o = command(&d, &lee, "/audit bluebird").await;
        let page = rows(&o);
        // Its five, and the refused attempt to read them from acme's channel.
        assert!(page.len() >= 6, "{}", text(&o));
        assert!(page.iter().all(|r| r.contains("· bluebird ·")));
    }
}

#[tokio::test]
async fn a_page_of_the_longest_rows_fits_slack_and_discord_and_typed_text_stays_plain() {
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let stack = stack(chat).await;
    let d = Dispatcher::new(stack.app.clone());
    // Rows as long as the trail keeps them, of characters every renderer escapes,
    // by Discord people with the longest ids, about a client with the longest slug.
    let discord_lead = PersonRef::parse("discord:12345678901234567890").unwrap();
    let mut db = stack.app.store.conn().await.unwrap();
    for i in 0..40 {
        let who = PersonRef::parse(&format!("discord:{}", 98765432109876543210u128 - i)).unwrap();
        let e = Entry::person(&who, Surface::Callback, "x".repeat(200))
            .client(&slug(&"c".repeat(40)))
            .detail(format!(
                "<!channel> @everyone *{}",
                "_*~`|<>#@\\".repeat(40)
            ))
            .refused(format!("<@U123> [x](http://evil) {}", "*_".repeat(200)));
        audit::record(&mut db, &e, stack.clock.now()).await.unwrap();
    }
    drop(db);
    let on_discord = Actor {
        person: discord_lead,
        channel: ChannelRef::parse("discord:555555555555555555").unwrap(),
    };
    let o = command(&d, &on_discord, "/audit").await;
    let m = message(&o);
    assert_eq!(rows(&o).len(), 15, "{}", m.to_plain());
    // Typed text reaches the adapters as plain spans only (they escape them).
    for b in &m.blocks {
        if let Block::Text(t) = b {
            for span in &t.0 {
                match span {
                    Span::Plain(_) | Span::Strong(_) | Span::Mention(_) => {}
                    other => panic!("typed text in {other:?}"),
                }
            }
        }
    }
    let discord = lookout::chat::discord::render::render(m, None).payload();
    lookout::chat::discord::render::check_limits(&discord).unwrap();
    let json = discord.to_string();
    assert!(!json.contains("not shown"), "every row fits: {json}");
    assert!(!json.contains("@everyone"), "{json}");
    // Every row is there whole: the newest and the oldest of the page, to the end of its detail.
    for i in [39, 25] {
        let who = format!("<@{}>", 98765432109876543210u128 - i);
        assert!(json.contains(&who), "the person is a mention: {json}");
    }
    let descriptions: Vec<&str> = discord["embeds"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["description"].as_str())
        .collect();
    let oldest = format!("<@{}>", 98765432109876543210u128 - 25);
    let line = descriptions
        .iter()
        .flat_map(|d| d.lines())
        .find(|l| l.contains(&oldest))
        .unwrap();
    assert!(
        line.trim_end().ends_with("…”"),
        "the oldest row is whole: {line}"
    );
    assert!(json.contains("page:2"), "{json}");
    let (slack, _) = lookout::chat::slack::blocks::render(m);
    assert!(slack.len() <= lookout::chat::slack::blocks::MAX_BLOCKS);
    for b in &slack {
        if let Some(t) = b.pointer("/text/text").and_then(|t| t.as_str()) {
            assert!(t.chars().count() <= lookout::chat::slack::blocks::MAX_SECTION_CHARS);
            assert!(!t.contains("<!channel>") && !t.contains("<@U123>"), "{t}");
        }
    }
    assert!(!serde_json::to_string(&slack).unwrap().contains("not shown"));
}

/// A command whose arguments hold a secret, declared as `/connect` will be.
fn connect_spec() -> CommandSpec {
    toml::from_str(
        r#"
name = "connect"
description = "Connect a client's Klaviyo account with an API key"
who = "admin"
examples = ["/connect acme pk_live_abc"]
help = "Stores the key sealed."
record_args = false

[[args]]
name = "client"
kind = "client"
required = true
description = "The client"

[[args]]
name = "key"
kind = "word"
required = true
description = "The private API key"
"#,
    )
    .unwrap()
}

#[tokio::test]
async fn arguments_that_may_hold_a_secret_are_never_recorded() {
    const SECRET: &str = "pk_live_0123456789abcdef";
    let chat = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let stack = stack(chat).await;
    let d = Dispatcher::new(stack.app.clone());
    let you = console("you", "agency");

    // Not declared (yet), typed directly or after the umbrella, or mistyped:
    // recorded by name, never with what follows.
    for line in [
        format!("/connect acme {SECRET}"),
        format!("/lookout connect acme {SECRET}"),
        format!("/conect acme {SECRET}"),
    ] {
        command(&d, &you, &line).await;
    }
    // A declaration with `record_args = false`: the entry has no detail, and
    // neither a parse error nor a refusal that repeats the key is kept.
    let spec = connect_spec();
    let entry = command_entry_for(&you, Some(&spec), "connect", &format!("acme {SECRET}"));
    assert_eq!(entry.action, "command /connect");
    assert_eq!(entry.detail, None);
    let parse_error = parse_parts("help", &format!("{SECRET} extra")).unwrap_err();
    assert!(
        parse_error.to_string().contains("pk_live"),
        "the parser quotes what was typed"
    );
    let reason = parse_refusal(Some(&spec), &parse_error);
    assert!(!reason.contains(SECRET), "{reason}");
    let refused = context::refusal_entry(
        entry.clone(),
        &CommandError::Refused(format!("Klaviyo refused the key {SECRET}")),
        false,
    );
    let role = context::refusal_entry(
        entry.clone(),
        &CommandError::Forbidden {
            command: "connect".into(),
            needed: "admin",
        },
        false,
    );
    assert_eq!(
        role.outcome,
        Audited::Refused("/connect needs the admin role or higher; ask an admin".into())
    );
    let mut db = stack.app.store.conn().await.unwrap();
    for e in [&entry, &refused, &role] {
        audit::record(&mut db, e, stack.clock.now()).await.unwrap();
    }
    drop(db);
    // A command that records its arguments does: the detail is what was typed.
    let acme = console("ana", "client-acme");
    command(&d, &acme, "/findings acme critical").await;
    assert_eq!(
        command_entry(&acme, "lookout", "findings acme critical")
            .detail
            .as_deref(),
        Some("acme critical")
    );

    let entries = all(&stack).await;
    assert_eq!(entries.len(), 7);
    for r in &entries {
        let e = &r.entry;
        let stored = format!("{} {:?} {:?}", e.action, e.detail, e.outcome);
        assert!(!stored.contains("pk_live"), "{stored}");
    }
    let actions: Vec<&str> = entries
        .iter()
        .rev()
        .map(|r| r.entry.action.as_str())
        .collect();
    assert_eq!(
        actions,
        [
            "command /connect",
            "command /connect",
            "command /conect",
            "command /connect",
            "command /connect",
            "command /connect",
            "command /findings"
        ]
    );
    assert_eq!(entries[0].entry.detail.as_deref(), Some("acme critical"));
}

/// A Lookout over `store` started with a config read from `text`.
async fn start_with_file(store: &Store, text: &str) -> Stack {
    let file = Config::from_toml(text, std::path::Path::new("lookout.toml")).unwrap();
    let chat: Arc<ConsoleChat> = Arc::new(ConsoleChat::with_writer(Box::new(std::io::sink())));
    let clock = SimClock::frozen(demo_start());
    let opts = StartOptions {
        store: Some(store.clone()),
        adapters: vec![chat],
        background: false,
        inbound: false,
        ..StartOptions::new(Arc::new(clock.clone()))
    };
    Stack::launch_with(
        7,
        12,
        clock,
        &["acme"],
        move |c| {
            c.people = file.people.clone();
            c.source_hashes = file.source_hashes.clone();
        },
        opts,
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn a_changed_config_file_is_recorded_at_start_up_by_its_hash() {
    let store = Store::open_memory().await.unwrap();
    let first = "[agency]\nname = \"Northwind\"\n[people]\n\"slack:U0ANA\" = \"am\"\n";
    let config_entries =
        |entries: Vec<Recorded>| -> Vec<(Option<PersonRef>, Surface, String, Option<String>)> {
            entries
                .into_iter()
                .filter(|r| r.entry.action == "config")
                .map(|r| {
                    (
                        r.entry.actor,
                        r.entry.surface,
                        r.entry.outcome.as_str().to_owned(),
                        r.entry.detail,
                    )
                })
                .collect()
        };
    let s = start_with_file(&store, first).await;
    let found = config_entries(all(&s).await);
    assert_eq!(
        found,
        [(
            None,
            Surface::ConfigFile,
            "done".into(),
            Some("first start with a config file recorded".into())
        )]
    );
    drop(s);
    // The same file again: nothing new.
    let s = start_with_file(&store, first).await;
    assert_eq!(config_entries(all(&s).await).len(), 1);
    drop(s);
    // A comment only, then a new admin.
    let s = start_with_file(&store, &format!("# who is who\n{first}")).await;
    drop(s);
    let s = start_with_file(&store, &format!("{first}\"slack:U0BOSS\" = \"admin\"\n")).await;
    let found = config_entries(all(&s).await);
    let details: Vec<&str> = found.iter().rev().filter_map(|f| f.3.as_deref()).collect();
    assert_eq!(
        details,
        [
            "first start with a config file recorded",
            "the file changed: comments or layout only",
            "changed: people"
        ]
    );
    // Only hashes are kept, never the file: no entry repeats its content.
    for r in all(&s).await {
        assert!(!format!("{:?}", r.entry).contains("U0BOSS"));
    }
}
