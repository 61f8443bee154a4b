//! Roles × commands × channels. Every declared command (read from the
//! declarations, so a new command is covered without touching this file), for
//! a viewer, an account manager, a lead and an admin, in a client's channel,
//! the agency channel and a direct message, is allowed or refused exactly as
//! declared; a refusal names the role, changes nothing (no finding, note,
//! route, maintenance window, report request, outbox row or chat post) and is
//! in the audit trail as refused. The finding buttons, the snooze select, the
//! note dialog and thread replies are held to the same rules.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use lookout::audit::{self, Outcome as Audited, Recorded, Surface};
use lookout::chat::console::{ConsoleChat, ConsoleEventKind};
use lookout::clock::{Clock, SimClock};
use lookout::commands::Role;
use lookout::commands::dispatch::Dispatcher;
use lookout::commands::spec::{ArgKind, CommandSpec, specs};
use lookout::demo::{Stack, demo_start};
use lookout::domain::{ClientSlug, FindingId, Severity};
use lookout::findings::{FindingState, Findings};
use lookout::message::{
    ActionKind, Actor, ChannelRef, Inbound, InboundHandler, MessageRef, Outcome, PersonRef,
};
use lookout::routing::Mode;
use lookout::simulator::{Fault, FaultKind};

use crate::support;

/// Who plays each role (the demo's people; a stranger is not in `[people]`).
fn person(role: Role) -> PersonRef {
    PersonRef::console(match role {
        Role::Viewer => "stranger",
        Role::Am => "ana",
        Role::Lead => "lee",
        Role::Admin => "you",
    })
}

/// Where things are typed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    Client,
    Agency,
    Direct,
}

const PLACES: [Place; 3] = [Place::Client, Place::Agency, Place::Direct];

fn channel(place: Place) -> ChannelRef {
    ChannelRef::console(match place {
        Place::Client => "client-acme",
        Place::Agency => "agency",
        Place::Direct => "dm-lookout",
    })
}

fn actor(role: Role, place: Place) -> Actor {
    Actor {
        person: person(role),
        channel: channel(place),
    }
}

fn acme() -> ClientSlug {
    ClientSlug::parse("acme").unwrap()
}

/// The role each command needs, as decided: viewers read, account managers
/// change findings and scan, leads see across clients, admins route.
const DECIDED: &[(&str, Role)] = &[
    ("ack", Role::Am),
    ("access-review", Role::Admin),
    ("audit", Role::Lead),
    ("audit-report", Role::Am),
    ("connect", Role::Lead),
    ("connections", Role::Am),
    ("disconnect", Role::Lead),
    ("findings", Role::Viewer),
    ("help", Role::Viewer),
    ("inventory", Role::Am),
    ("maintenance", Role::Am),
    ("note", Role::Am),
    ("notes", Role::Viewer),
    ("portfolio", Role::Lead),
    ("renewal-report", Role::Lead),
    ("report", Role::Am),
    ("resolve", Role::Am),
    ("route", Role::Admin),
    ("scan", Role::Am),
    ("sla", Role::Lead),
    ("snooze", Role::Am),
];

#[test]
fn every_command_declares_the_decided_role_and_viewers_only_read() {
    for spec in specs() {
        let decided = DECIDED
            .iter()
            .find(|(n, _)| *n == spec.name)
            .map(|(_, r)| *r)
            .unwrap_or_else(|| {
                panic!(
                    "/{} is new: decide its role and add it to DECIDED (a viewer changes nothing)",
                    spec.name
                )
            });
        assert_eq!(spec.who, decided, "/{}", spec.name);
    }
    assert_eq!(DECIDED.len(), specs().len());
}

/// Arguments about acme for a command: required ones and any client.
fn args(spec: &CommandSpec, finding: FindingId) -> String {
    spec.args
        .iter()
        .filter(|a| a.required || a.kind == ArgKind::Client)
        .map(|a| match a.kind {
            ArgKind::Client => "acme".to_owned(),
            ArgKind::Finding => finding.to_string(),
            ArgKind::Severity => "warning".into(),
            ArgKind::Snooze => "4h".into(),
            ArgKind::Text => "a note".into(),
            ArgKind::Command => "scan".into(),
            ArgKind::Days => "30".into(),
            // Acme's own channel: routing it there again moves nothing.
            ArgKind::Channel => "console:client-acme".into(),
            ArgKind::User => "console:ana".into(),
            ArgKind::Word => "east".into(),
            ArgKind::Month => "october".into(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Everything a refusal must leave as it was.
#[derive(Debug, PartialEq)]
struct State {
    findings: Vec<(FindingState, usize, usize)>,
    outbox: (i64, i64, i64),
    routes: Vec<lookout::store::clients::RouteRow>,
    maintenance: bool,
    report_requests: usize,
    posts: usize,
    audit: u64,
}

struct World {
    stack: Stack,
    chat: Arc<ConsoleChat>,
    d: Dispatcher,
    findings: Vec<FindingId>,
    since: DateTime<Utc>,
}

impl World {
    async fn new() -> Self {
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
        let now = stack.clock.now();
        // A dozen scans typed here in a few minutes would wait on Klaviyo's
        // report limits (two a minute); this test is about who may do what.
        stack.set_rate_limits(false);
        stack.sim.inject(Fault {
            brand: "acme".into(),
            kind: FaultKind::TokenRevoked,
            at: now - chrono::Duration::hours(1),
            until: None,
        });
        let mut findings = Vec::new();
        // One finding for commands, one for buttons, one for the dialog and thread replies.
        for (i, check) in ["flow-live-stopped", "deliv-bounce-rate", "deliv-spam-rate"]
            .iter()
            .enumerate()
        {
            let obs = support::observation(check, "s", Severity::Critical, &format!("Trouble {i}"));
            let (changes, _) = support::record(&stack.app, "acme", obs, now, Mode::Normal).await;
            findings.push(changes[0].finding.id);
        }
        stack.app.deliverer.run_once().await.unwrap();
        let d = Dispatcher::new(stack.app.clone());
        Self {
            since: now - chrono::Duration::days(1),
            stack,
            chat,
            d,
            findings,
        }
    }

    async fn state(&self) -> State {
        let app = &self.stack.app;
        let mut db = app.store.conn().await.unwrap();
        let mut findings = Vec::new();
        for id in &self.findings {
            let f = Findings::get(&mut db, *id).await.unwrap();
            let notes = Findings::notes(&mut db, *id).await.unwrap().len();
            let events = Findings::events(&mut db, *id).await.unwrap().len();
            findings.push((f.state, notes, events));
        }
        let now = self.stack.clock.now();
        State {
            findings,
            outbox: lookout::store::outbox::counts(&mut db).await.unwrap(),
            routes: lookout::store::clients::routes(&mut db).await.unwrap(),
            maintenance: lookout::store::schedules::in_maintenance(&mut db, &acme(), now)
                .await
                .unwrap(),
            report_requests: lookout::store::reports::requests(&mut db)
                .await
                .unwrap()
                .len(),
            posts: self
                .chat
                .transcript()
                .iter()
                .filter(|e| e.kind != ConsoleEventKind::Ephemeral)
                .count(),
            audit: audit::count(&mut db, None, self.since).await.unwrap(),
        }
    }

    async fn newest(&self) -> Recorded {
        let mut db = self.stack.app.store.conn().await.unwrap();
        audit::recent(&mut db, None, self.since, 1, 0)
            .await
            .unwrap()
            .pop()
            .expect("an audit entry")
    }

    /// Waits for a scan started from chat to leave its summary (a scan's
    /// first calls still wait their turn in Klaviyo's per-minute limits).
    async fn scan_finished(&self, before: usize) {
        for _ in 0..1800 {
            let done = self
                .chat
                .transcript()
                .iter()
                .filter(|e| e.message.to_plain().starts_with("Scan of acme"))
                .count();
            if done > before {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let seen: Vec<String> = self
            .chat
            .transcript()
            .iter()
            .map(|e| e.text.clone())
            .collect();
        panic!("the scan did not finish within 90 s: {seen:#?}");
    }

    fn summaries(&self) -> usize {
        self.chat
            .transcript()
            .iter()
            .filter(|e| e.message.to_plain().starts_with("Scan of acme"))
            .count()
    }
}

fn shown(o: &Outcome) -> (bool, String) {
    match o {
        Outcome::Public(m) => (true, m.to_plain()),
        Outcome::Private(m) => (false, m.to_plain()),
        other => (false, format!("{other:?}")),
    }
}

/// The refusal a person below `needed` gets for `/command`.
fn role_refusal(command: &str, needed: Role) -> String {
    format!(
        "/{command} needs the {} role or higher; ask an admin",
        needed.as_str()
    )
}

#[tokio::test]
async fn every_command_for_every_role_in_every_channel_is_allowed_or_refused_as_declared() {
    let w = World::new().await;
    let finding = w.findings[0];
    let mut tried = 0;
    // Lowest role first: a viewer is refused while the finding is still open,
    // so each refusal is of something that would otherwise have changed it.
    for role in Role::ALL {
        for place in PLACES {
            for spec in specs() {
                let who = actor(role, place);
                let ctx = format!("{role:?} in {place:?}: /{}", spec.name);
                let before = w.state().await;
                let summaries = w.summaries();
                let o =
                    w.d.handle(Inbound::Command {
                        actor: who.clone(),
                        name: spec.name.clone(),
                        text: args(spec, finding),
                    })
                    .await;
                tried += 1;
                let (public, text) = shown(&o);
                if text.contains("Scanning acme: progress follows") {
                    w.scan_finished(summaries).await;
                }
                let after = w.state().await;
                let newest = w.newest().await;
                let e = &newest.entry;
                assert_eq!(e.actor.as_ref(), Some(&who.person), "{ctx}");
                if e.action != "route" {
                    assert_eq!(e.channel.as_ref(), Some(&who.channel), "{ctx}");
                }
                let about_acme = place == Place::Client
                    || spec
                        .args
                        .iter()
                        .any(|a| matches!(a.kind, ArgKind::Client | ArgKind::Finding));
                assert_eq!(
                    e.client,
                    about_acme.then(acme),
                    "{ctx}: the entry names the client it was about"
                );
                if role < spec.who {
                    let refusal = role_refusal(&spec.name, spec.who);
                    assert!(!public, "{ctx}: a refusal is private");
                    assert_eq!(text, refusal, "{ctx}");
                    assert_eq!(after.audit, before.audit + 1, "{ctx}: one entry");
                    let unchanged = State {
                        audit: before.audit,
                        ..after
                    };
                    assert_eq!(unchanged, before, "{ctx}: a refusal changes nothing");
                    assert_eq!(e.surface, Surface::Command, "{ctx}");
                    assert_eq!(e.action, format!("command /{}", spec.name), "{ctx}");
                    assert_eq!(e.outcome, Audited::Refused(refusal), "{ctx}");
                } else {
                    let refused_for_role = format!("/{} needs the", spec.name);
                    assert!(!text.starts_with(&refused_for_role), "{ctx}: {text}");
                    assert!(after.audit > before.audit, "{ctx}: recorded");
                    // A route change records itself as `route`; everything else as typed.
                    let action = if spec.name == "route" && e.outcome == Audited::Done {
                        "route".to_owned()
                    } else {
                        format!("command /{}", spec.name)
                    };
                    assert_eq!(e.action, action, "{ctx}");
                    if let Some(reason) = e.outcome.reason() {
                        assert!(!reason.starts_with(&refused_for_role), "{ctx}: {reason}");
                        assert_eq!(reason, text, "{ctx}: the reason is what they were told");
                    }
                }
            }
        }
    }
    assert_eq!(tried, 4 * 3 * specs().len());
}

#[tokio::test]
async fn buttons_the_select_and_the_note_dialog_need_the_am_role() {
    let w = World::new().await;
    let f = w.findings[1];
    let buttons = [
        (
            ActionKind::Acknowledge,
            Surface::Button,
            "button ack",
            "ack",
        ),
        (
            ActionKind::AddNote,
            Surface::Button,
            "button add note",
            "note",
        ),
        (
            ActionKind::Snooze,
            Surface::Select,
            "select snooze",
            "snooze",
        ),
        (
            ActionKind::Resolve,
            Surface::Button,
            "button resolve",
            "resolve",
        ),
    ];
    for role in Role::ALL {
        for place in PLACES {
            for (kind, surface, action, command) in buttons {
                let who = actor(role, place);
                let ctx = format!("{role:?} in {place:?}: {action}");
                let before = w.state().await;
                let o =
                    w.d.handle(Inbound::Button {
                        actor: who.clone(),
                        action: kind,
                        finding: f,
                        choice: Some("1h".into()),
                        trigger: Some("t".into()),
                    })
                    .await;
                let after = w.state().await;
                let e = w.newest().await.entry;
                assert_eq!(after.audit, before.audit + 1, "{ctx}: one entry");
                assert_eq!(
                    (e.actor.as_ref(), e.surface, e.action.as_str()),
                    (Some(&who.person), surface, action),
                    "{ctx}"
                );
                assert_eq!(e.client, Some(acme()), "{ctx}");
                assert!(e.detail.as_deref().unwrap().starts_with(&f.to_string()));
                if role < Role::Am {
                    let refusal = role_refusal(command, Role::Am);
                    assert_eq!(shown(&o), (false, refusal.clone()), "{ctx}");
                    assert_eq!(e.outcome, Audited::Refused(refusal), "{ctx}");
                    let unchanged = State {
                        audit: before.audit,
                        ..after
                    };
                    assert_eq!(unchanged, before, "{ctx}: a refusal changes nothing");
                } else {
                    let (_, text) = shown(&o);
                    assert!(!text.contains("role or higher"), "{ctx}: {text}");
                    if kind == ActionKind::AddNote {
                        assert_eq!(o, Outcome::OpenNoteDialog(f), "{ctx}");
                        assert_eq!(e.outcome, Audited::Done, "{ctx}");
                    }
                }
            }
            // Reopening from a message is refused for everyone, and recorded.
            let before = w.state().await;
            let o =
                w.d.handle(Inbound::Button {
                    actor: actor(role, place),
                    action: ActionKind::Reopen,
                    finding: f,
                    choice: None,
                    trigger: None,
                })
                .await;
            assert!(matches!(o, Outcome::Private(_)));
            let after = w.state().await;
            assert_eq!(after.findings, before.findings);
            let e = w.newest().await.entry;
            assert_eq!(e.action, "button reopen");
            assert!(matches!(e.outcome, Audited::Refused(_)));
        }
    }

    // The dialog's submission: a viewer's note is refused and not kept.
    let g = w.findings[2];
    for role in Role::ALL {
        let before = w.state().await;
        let o =
            w.d.handle(Inbound::NoteSubmitted {
                actor: actor(role, Place::Client),
                finding: g,
                text: format!("from the dialog, by a {}", role.as_str()),
            })
            .await;
        let after = w.state().await;
        let e = w.newest().await.entry;
        assert_eq!(
            (e.surface, e.action.as_str()),
            (Surface::Modal, "modal note")
        );
        assert_eq!(e.client, Some(acme()));
        if role < Role::Am {
            let refusal = role_refusal("note", Role::Am);
            assert_eq!(shown(&o), (false, refusal.clone()));
            assert_eq!(e.outcome, Audited::Refused(refusal));
            assert_eq!(
                State {
                    audit: before.audit,
                    ..after
                },
                before
            );
        } else {
            assert!(shown(&o).1.contains("Note added"), "{:?}", o);
            assert_eq!(e.outcome, Audited::Done);
        }
    }
    let mut db = w.stack.app.store.conn().await.unwrap();
    let notes: Vec<String> = Findings::notes(&mut db, g)
        .await
        .unwrap()
        .into_iter()
        .map(|n| n.body)
        .collect();
    assert_eq!(
        notes,
        [
            "from the dialog, by a am",
            "from the dialog, by a lead",
            "from the dialog, by a admin"
        ]
    );
}

#[tokio::test]
async fn a_viewers_thread_reply_is_not_a_note_and_they_are_told_why() {
    let w = World::new().await;
    let f = w.findings[2];
    // The message of the third finding, as posted in acme's channel.
    let mut db = w.stack.app.store.conn().await.unwrap();
    let thread = Findings::message_in(&mut db, f, &channel(Place::Client))
        .await
        .unwrap()
        .expect("the finding was posted");
    drop(db);
    for role in Role::ALL {
        let before = w.state().await;
        let o =
            w.d.handle(Inbound::ThreadReply {
                actor: actor(role, Place::Client),
                thread: thread.clone(),
                message: MessageRef(format!("reply-{}", role.as_str())),
                text: format!("thread reply by a {}", role.as_str()),
            })
            .await;
        let after = w.state().await;
        let e = w.newest().await.entry;
        assert_eq!(after.audit, before.audit + 1);
        assert_eq!(
            (e.surface, e.action.as_str(), e.client.clone()),
            (Surface::Thread, "thread note", Some(acme()))
        );
        assert_eq!(
            e.detail.as_deref(),
            Some(format!("{f}: thread reply by a {}", role.as_str()).as_str())
        );
        if role < Role::Am {
            let (public, text) = shown(&o);
            assert!(!public);
            assert_eq!(
                text,
                format!(
                    "Your reply was not kept as a note on {f}: notes need the am role or higher; ask an admin."
                )
            );
            assert_eq!(e.outcome, Audited::Refused(text));
            assert_eq!(
                State {
                    audit: before.audit,
                    ..after
                },
                before
            );
        } else {
            assert_eq!(o, Outcome::Noted(f));
            assert_eq!(e.outcome, Audited::Done);
        }
    }
    // A reply in any other thread is conversation: nothing kept, nothing recorded.
    let before = w.state().await;
    let o =
        w.d.handle(Inbound::ThreadReply {
            actor: actor(Role::Viewer, Place::Client),
            thread: MessageRef("not-a-finding".into()),
            message: MessageRef("r".into()),
            text: "lunch?".into(),
        })
        .await;
    assert_eq!(o, Outcome::Nothing);
    assert_eq!(w.state().await, before);
}
