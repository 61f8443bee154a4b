//! Tenancy: a client's channel sees that client only. Every declared command
//! and every finding button is tried by every role from every kind of channel
//! (each client's, the agency's, a direct message) on Slack and on Discord,
//! through the one dispatcher; what is shown in a channel and what the
//! adapters post are checked for other clients' names and findings.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use lookout::clock::Clock;
use lookout::commands::Role;
use lookout::commands::dispatch::Dispatcher;
use lookout::commands::spec::{ArgKind, CommandSpec, specs};
use lookout::demo::{Stack, demo_start};
use lookout::domain::{FindingId, Severity};
use lookout::message::{
    ActionKind, Actor, ChannelRef, ChatAdapter, ChatError, Inbound, InboundHandler, Message,
    MessageRef, Outcome, PersonRef, Platform,
};
use lookout::routing::Mode;

use crate::support;

/// Records every post and edit by channel.
struct Recorder {
    platform: Platform,
    seen: Mutex<Vec<(ChannelRef, String)>>,
}

impl Recorder {
    fn new(platform: Platform) -> Arc<Self> {
        Arc::new(Self {
            platform,
            seen: Mutex::new(Vec::new()),
        })
    }
}

#[async_trait]
impl ChatAdapter for Recorder {
    fn platform(&self) -> Platform {
        self.platform
    }
    async fn post(
        &self,
        channel: &ChannelRef,
        message: &Message,
        _: Option<&MessageRef>,
    ) -> Result<MessageRef, ChatError> {
        let mut seen = self.seen.lock().unwrap();
        seen.push((channel.clone(), message.to_plain()));
        Ok(MessageRef(seen.len().to_string()))
    }
    async fn update(
        &self,
        channel: &ChannelRef,
        _: &MessageRef,
        message: &Message,
    ) -> Result<(), ChatError> {
        self.seen
            .lock()
            .unwrap()
            .push((channel.clone(), message.to_plain()));
        Ok(())
    }
    async fn ephemeral(&self, _: &ChannelRef, _: &PersonRef, _: &Message) -> Result<(), ChatError> {
        Ok(())
    }
}

/// Channel and person ids per platform.
fn ch(p: Platform, n: u32) -> ChannelRef {
    match p {
        Platform::Slack => ChannelRef::parse(&format!("slack:C{n:04}")).unwrap(),
        _ => ChannelRef::parse(&format!("discord:{}", 900_000 + n)).unwrap(),
    }
}

fn person(p: Platform, role: Role) -> PersonRef {
    let n = match role {
        Role::Viewer => 1,
        Role::Am => 2,
        Role::Lead => 3,
        Role::Admin => 4,
    };
    match p {
        Platform::Slack => PersonRef::parse(&format!("slack:U000{n}")).unwrap(),
        _ => PersonRef::parse(&format!("discord:{}", 800_000 + n)).unwrap(),
    }
}

const CLIENTS: [&str; 2] = ["acme", "bluebird"];

/// Where a command is typed.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    Client(usize),
    Agency,
    Direct,
}

fn channel_of(p: Platform, place: Place) -> ChannelRef {
    match place {
        Place::Client(i) => ch(p, 1 + i as u32),
        Place::Agency => ch(p, 10),
        Place::Direct => match p {
            Platform::Slack => ChannelRef::parse("slack:D0DIRECT").unwrap(),
            _ => ChannelRef::parse("discord:999999").unwrap(),
        },
    }
}

/// Arguments for a command about `target` (a client index) on platform `p`.
fn args(spec: &CommandSpec, p: Platform, target: usize, findings: &[FindingId]) -> String {
    spec.args
        .iter()
        .filter(|a| a.required || a.kind == ArgKind::Client)
        .map(|a| match a.kind {
            ArgKind::Client => CLIENTS[target].to_owned(),
            ArgKind::Finding => findings[target].to_string(),
            ArgKind::Severity => "warning".into(),
            ArgKind::Snooze => "4h".into(),
            ArgKind::Text => "a note".into(),
            ArgKind::Command => "scan".into(),
            ArgKind::Days => "30".into(),
            // The target's own channel: routing it there again changes nothing.
            ArgKind::Channel => ch(p, 1 + target as u32).to_string(),
            ArgKind::User => person(p, Role::Am).to_string(),
            ArgKind::Word => "east".into(),
            ArgKind::Month => "october".into(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn shown(o: &Outcome) -> Option<(bool, String)> {
    match o {
        Outcome::Public(m) => Some((true, m.to_plain())),
        Outcome::Private(m) => Some((false, m.to_plain())),
        _ => None,
    }
}

/// Text that would tell a reader in `place` about a client other than its own.
fn leaks(place: Place, text: &str, findings: &[FindingId]) -> bool {
    let Place::Client(own) = place else {
        return false;
    };
    let other = 1 - own;
    let f = format!("{} ", findings[other]);
    text.to_lowercase().contains(CLIENTS[other])
        || text.contains(&f)
        || text.ends_with(&f[..f.len() - 1])
}

#[tokio::test]
async fn every_command_and_button_for_every_role_in_every_channel_on_both_platforms() {
    let slack = Recorder::new(Platform::Slack);
    let discord = Recorder::new(Platform::Discord);
    let console = Arc::new(lookout::chat::console::ConsoleChat::with_writer(Box::new(
        std::io::sink(),
    )));
    let stack = Stack::launch(
        7,
        12,
        lookout::clock::SimClock::frozen(demo_start()),
        vec![slack.clone(), discord.clone(), console],
        &CLIENTS,
        false,
        |c| {
            c.chat.platforms = vec![Platform::Slack, Platform::Discord];
            c.chat.discord_application_id = Some(1);
            c.agency.channels = vec![ch(Platform::Slack, 10), ch(Platform::Discord, 10)];
            for (i, client) in c.clients.iter_mut().enumerate() {
                client.channels = vec![
                    ch(Platform::Slack, 1 + i as u32),
                    ch(Platform::Discord, 1 + i as u32),
                ];
                client.owners = vec![
                    person(Platform::Slack, Role::Am),
                    person(Platform::Discord, Role::Am),
                ];
            }
            c.people.clear();
            for p in [Platform::Slack, Platform::Discord] {
                for r in [Role::Am, Role::Lead, Role::Admin] {
                    c.people.insert(person(p, r), r);
                }
            }
        },
    )
    .await
    .unwrap();
    let app = stack.app.clone();
    let now = stack.clock.now();
    let mut findings = Vec::new();
    for client in CLIENTS {
        let obs = support::observation(
            "flow-live-stopped",
            "F1",
            Severity::Critical,
            &format!("Flow stopped at {client}"),
        );
        let (changes, _) = support::record(&app, client, obs, now, Mode::Normal).await;
        findings.push(changes[0].finding.id);
    }
    app.deliverer.run_once().await.unwrap();
    let d = Dispatcher::new(app.clone());

    let places = [
        Place::Client(0),
        Place::Client(1),
        Place::Agency,
        Place::Direct,
    ];
    let roles = [Role::Viewer, Role::Am, Role::Lead, Role::Admin];
    let mut tried = 0;
    for p in [Platform::Slack, Platform::Discord] {
        for role in roles {
            for place in places {
                let actor = Actor {
                    person: person(p, role),
                    channel: channel_of(p, place),
                };
                let mut events = Vec::new();
                for spec in specs() {
                    for target in 0..CLIENTS.len() {
                        events.push((
                            spec.name.clone(),
                            Some(spec.who),
                            target,
                            Inbound::Command {
                                actor: actor.clone(),
                                name: spec.name.clone(),
                                text: args(spec, p, target, &findings),
                            },
                        ));
                    }
                }
                for action in [
                    ActionKind::Acknowledge,
                    ActionKind::Snooze,
                    ActionKind::Resolve,
                    ActionKind::AddNote,
                    ActionKind::Reopen,
                ] {
                    for (target, f) in findings.iter().enumerate() {
                        events.push((
                            format!("button {action:?}"),
                            None,
                            target,
                            Inbound::Button {
                                actor: actor.clone(),
                                action,
                                finding: *f,
                                choice: Some("1h".into()),
                                trigger: Some("t".into()),
                            },
                        ));
                    }
                }
                for (what, who, target, event) in events {
                    let o = d.handle(event).await;
                    tried += 1;
                    let ctx = format!(
                        "{p} {role:?} in {place:?}: {what} about {}",
                        CLIENTS[target]
                    );
                    if let Some((public, text)) = shown(&o) {
                        // Nothing shown in a client's channel names another client.
                        if public {
                            assert!(!leaks(place, &text, &findings), "{ctx}: {text}");
                        }
                        // Roles gate every command.
                        if let Some(who) = who
                            && role < who
                            && !text.contains("not available yet")
                        {
                            assert!(!public && text.contains("role or higher"), "{ctx}: {text}");
                        }
                    }
                    // Acting on another client from a client's channel is refused.
                    if let Place::Client(own) = place
                        && own != target
                    {
                        assert!(
                            !matches!(o, Outcome::Public(_) | Outcome::OpenNoteDialog(_)),
                            "{ctx}: {o:?}"
                        );
                        if let Some((_, text)) = shown(&o) {
                            assert!(
                                !text.contains("Acknowledged")
                                    && !text.contains("Snoozed until")
                                    && !text.contains("Resolved by")
                                    && !text.contains("Note added"),
                                "{ctx}: {text}"
                            );
                        }
                    }
                    // Cross-client views are never shown in a client's channel.
                    if what == "portfolio"
                        && matches!(place, Place::Client(_))
                        && role >= Role::Lead
                    {
                        let (public, text) = shown(&o).expect("an answer");
                        assert!(!public, "{ctx}: {text}");
                        assert!(text.contains("agency"), "{ctx}: {text}");
                    }
                    if what == "portfolio" && place == Place::Agency && role >= Role::Lead {
                        assert!(matches!(o, Outcome::Public(_)), "{ctx}: {o:?}");
                    }
                }
            }
        }
    }
    assert!(tried > 500, "{tried} events");

    // All-client findings, typed without a client in a client's channel, are that client's.
    let o = d
        .handle(Inbound::Command {
            actor: Actor {
                person: person(Platform::Discord, Role::Admin),
                channel: channel_of(Platform::Discord, Place::Client(0)),
            },
            name: "findings".into(),
            text: String::new(),
        })
        .await;
    let (_, text) = shown(&o).unwrap();
    assert!(!leaks(Place::Client(0), &text, &findings), "{text}");

    // Everything the adapters posted into a client's channel is about that client.
    app.deliverer.run_once().await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    for rec in [&slack, &discord] {
        for (channel, text) in rec.seen.lock().unwrap().iter() {
            for (i, _) in CLIENTS.iter().enumerate() {
                if *channel == ch(rec.platform, 1 + i as u32) {
                    assert!(
                        !leaks(Place::Client(i), text, &findings),
                        "posted in {channel}: {text}"
                    );
                }
            }
        }
    }
}
