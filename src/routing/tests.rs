//! Each routing rule alone, on hand-built changes.

use chrono::{TimeZone, Utc};

use super::*;
use crate::domain::{FindingId, Fingerprint, Money, Track};
use crate::findings::Actor;
use crate::message::{Accent, Action, ActionKind, Block, ChannelRef, PersonRef, Span};

fn slack_channel() -> ChannelRef {
    ChannelRef::parse("slack:C0ACME").unwrap()
}

fn discord_channel() -> ChannelRef {
    ChannelRef::parse("discord:1001").unwrap()
}

fn ana() -> PersonRef {
    PersonRef::parse("slack:U0ANA").unwrap()
}

fn route() -> Route {
    let client = ClientSlug::parse("acme").unwrap();
    Route {
        channels: vec![RouteChannel {
            channel: slack_channel(),
            owner: Some(ana()),
        }],
        client,
        client_name: "Acme".into(),
        pod: None,
    }
}

/// The finding's message exists in the Slack channel.
fn posted() -> Vec<ChannelRef> {
    vec![slack_channel()]
}

fn finding(sev: Severity, state: FindingState) -> Finding {
    let t = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
    let client = ClientSlug::parse("acme").unwrap();
    Finding {
        id: FindingId(7),
        fingerprint: Fingerprint::new(&client, "x", "s"),
        client: client.clone(),
        check_id: "x".into(),
        subject: "s".into(),
        severity: sev,
        track: Track::Now,
        state,
        snoozed_until: None,
        snoozed_by: Some("slack:U0BO".into()),
        snooze_until_worse: false,
        snooze_severity: None,
        snooze_value_minor: None,
        title: "Title <@channel>".into(),
        why: "Why.".into(),
        deep_link: "https://www.klaviyo.com/flow/1/edit".into(),
        value: Some(Money::from_major(10.0, "USD")),
        began_at: None,
        detected_at: t,
        last_seen_at: t,
        acknowledged_at: None,
        acknowledged_by: Some("slack:U0ANA".into()),
        resolved_at: None,
        resolved_by: None,
        resolution: None,
        onboarding: false,
    }
}

fn change(f: Finding, kind: ChangeKind) -> Change {
    Change {
        finding: f,
        kind,
        actor: Actor::person(&ana()),
    }
}

fn kinds(ops: &[Op]) -> Vec<&'static str> {
    ops.iter()
        .map(|o| match o {
            Op::Post { .. } => "post",
            Op::Update { .. } => "update",
            Op::Reply { .. } => "reply",
        })
        .collect()
}

#[test]
fn critical_posts_now_and_mentions_the_owner() {
    let ops = plan(
        &route(),
        &change(
            finding(Severity::Critical, FindingState::Open),
            ChangeKind::Detected,
        ),
        &[],
    );
    assert_eq!(kinds(&ops), ["post"]);
    let Op::Post {
        message,
        channel,
        finding,
    } = &ops[0]
    else {
        unreachable!()
    };
    assert_eq!(channel, &slack_channel());
    assert_eq!(*finding, Some(FindingId(7)));
    let mentions = message
        .blocks
        .iter()
        .any(|b| matches!(b, Block::Text(t) if t.0.contains(&Span::Mention(ana()))));
    assert!(mentions);
    // Client text stays a plain span for the adapter to escape.
    assert_eq!(message.blocks[0], Block::Header("Title <@channel>".into()));
    let buttons: Vec<ActionKind> = message
        .blocks
        .iter()
        .flat_map(|b| match b {
            Block::Actions(a) => a.clone(),
            _ => vec![],
        })
        .filter_map(|a| match a {
            Action::Button { kind, .. } => Some(kind),
            Action::Link { .. } => None,
        })
        .collect();
    assert_eq!(
        buttons,
        [
            ActionKind::Acknowledge,
            ActionKind::Snooze,
            ActionKind::Resolve,
            ActionKind::AddNote
        ]
    );
}

#[test]
fn warnings_and_opportunities_wait_for_digests() {
    for sev in [Severity::Warning, Severity::Opportunity] {
        let ops = plan(
            &route(),
            &change(finding(sev, FindingState::Open), ChangeKind::Detected),
            &[],
        );
        assert!(ops.is_empty(), "{sev}");
    }
    assert_eq!(
        digest_of(&finding(Severity::Warning, FindingState::Open)),
        Some(Digest::DailyTriage)
    );
    assert_eq!(
        digest_of(&finding(Severity::Opportunity, FindingState::Open)),
        Some(Digest::Weekly)
    );
}

#[test]
fn a_warning_that_turns_critical_is_posted() {
    let c = change(
        finding(Severity::Critical, FindingState::Open),
        ChangeKind::Worsened {
            from: Severity::Warning,
        },
    );
    assert_eq!(kinds(&plan(&route(), &c, &[])), ["post"]);
    assert_eq!(kinds(&plan(&route(), &c, &posted())), ["update", "reply"]);
}

#[test]
fn state_changes_edit_the_message_and_reply_in_its_thread() {
    let c = change(
        finding(Severity::Critical, FindingState::Acknowledged),
        ChangeKind::Acknowledged,
    );
    let ops = plan(&route(), &c, &posted());
    assert_eq!(kinds(&ops), ["update", "reply"]);
    let Op::Update { message, .. } = &ops[0] else {
        unreachable!()
    };
    assert!(message.to_plain().contains("Acknowledged by U0ANA"));
    assert!(!message.to_plain().contains("[Acknowledge]"));
    // Without a message (a digest-only finding) there is nothing to edit.
    assert!(plan(&route(), &c, &[]).is_empty());
    // Cleared: edited to resolved.
    let c = change(
        finding(Severity::Critical, FindingState::Resolved),
        ChangeKind::Cleared,
    );
    let ops = plan(&route(), &c, &posted());
    assert_eq!(kinds(&ops), ["update", "reply"]);
    let Op::Update { message, .. } = &ops[0] else {
        unreachable!()
    };
    assert_eq!(message.accent, Accent::Resolved);
}

#[test]
fn a_snooze_ending_mentions_whoever_snoozed_it() {
    let c = change(
        finding(Severity::Critical, FindingState::Open),
        ChangeKind::SnoozeEnded,
    );
    let ops = plan(&route(), &c, &posted());
    let Op::Reply { message, .. } = &ops[1] else {
        unreachable!()
    };
    assert!(
        message.to_plain().contains("@U0BO"),
        "{}",
        message.to_plain()
    );
    assert!(
        plan(
            &route(),
            &change(
                finding(Severity::Critical, FindingState::Open),
                ChangeKind::StillSeen
            ),
            &posted()
        )
        .is_empty()
    );
}

#[test]
fn digests_skip_snoozed_and_other_clients_and_cap_their_length() {
    let mut items: Vec<Finding> = (1..=30)
        .map(|i| {
            let mut f = finding(Severity::Warning, FindingState::Open);
            f.id = FindingId(i);
            f
        })
        .collect();
    items[0].state = FindingState::Snoozed;
    items[1].client = ClientSlug::parse("other").unwrap();
    let m = digest_message(Digest::DailyTriage, &route(), &items).unwrap();
    let text = m.to_plain();
    assert!(text.starts_with("Daily triage for Acme"));
    assert!(!text.contains("F-1 "), "snoozed left out");
    assert!(!text.contains("F-2 "), "another client's finding left out");
    assert!(
        text.contains("…and 8 more. Type /findings acme warning"),
        "{text}"
    );
    assert!(digest_message(Digest::Weekly, &route(), &items).is_none());
}

#[test]
fn deep_links_outside_klaviyo_are_dropped() {
    let mut f = finding(Severity::Critical, FindingState::Open);
    f.deep_link = "https://evil.example/phish".into();
    let card = cards::finding_card(&f, "Acme", None);
    assert!(!card.to_plain().contains("evil"));
}

#[test]
fn a_digest_finding_whose_snooze_ends_is_raised_as_its_own_message() {
    let c = change(
        finding(Severity::Warning, FindingState::Open),
        ChangeKind::SnoozeEnded,
    );
    let ops = plan(&route(), &c, &[]);
    assert_eq!(kinds(&ops), ["post"]);
    let Op::Post { message, .. } = &ops[0] else {
        unreachable!()
    };
    let text = message.to_plain();
    assert!(text.contains("@U0BO Snooze over"), "{text}");
    assert!(
        !text.contains("@U0ANA"),
        "warnings do not page the owner: {text}"
    );
}

#[test]
fn the_largest_digest_fits_slack_and_discord_limits() {
    // 500 findings with very long client-provided titles.
    let items: Vec<Finding> = (1..=500)
        .map(|i| {
            let mut f = finding(
                if i % 3 == 0 {
                    Severity::Critical
                } else {
                    Severity::Warning
                },
                FindingState::Open,
            );
            f.id = FindingId(i);
            f.title = format!("Flow \"{}\" stopped", "x".repeat(3_000));
            f.value = Some(Money::from_major(1e12, "USD"));
            f
        })
        .collect();
    for m in [
        digest_message(Digest::DailyTriage, &route(), &items).unwrap(),
        onboarding_message(&route(), "USD", &items),
        maintenance_summary(&route(), items[0].detected_at, items[0].detected_at, &items),
    ] {
        // Slack: at most 50 blocks, 3,000 characters a section.
        assert!(m.blocks.len() <= 50, "{} blocks", m.blocks.len());
        for b in &m.blocks {
            let len = match b {
                Block::Text(t) | Block::Context(t) => t.to_plain().chars().count(),
                Block::Header(h) => h.chars().count(),
                _ => 0,
            };
            assert!(len <= 3_000, "a block of {len} characters");
        }
        // Discord: 6,000 characters in a message.
        let total = m.to_plain().chars().count();
        assert!(total <= 6_000, "{total} characters");
        assert!(
            m.to_plain().contains("more. Type /findings acme"),
            "the rest is one command away"
        );
    }
}

#[test]
fn a_client_on_two_platforms_gets_a_message_on_each_with_its_own_owner() {
    let mut r = route();
    r.channels.push(RouteChannel {
        channel: discord_channel(),
        owner: Some(PersonRef::parse("discord:42").unwrap()),
    });
    let c = change(
        finding(Severity::Critical, FindingState::Open),
        ChangeKind::Detected,
    );
    let ops = plan(&r, &c, &[]);
    assert_eq!(kinds(&ops), ["post", "post"]);
    let mention_on = |op: &Op| match op {
        Op::Post {
            channel, message, ..
        } => {
            let m: Vec<PersonRef> = message
                .blocks
                .iter()
                .flat_map(|b| match b {
                    Block::Text(t) => t.0.clone(),
                    _ => vec![],
                })
                .filter_map(|s| match s {
                    Span::Mention(p) => Some(p),
                    _ => None,
                })
                .collect();
            (channel.clone(), m)
        }
        _ => unreachable!(),
    };
    assert_eq!(mention_on(&ops[0]), (slack_channel(), vec![ana()]));
    assert_eq!(
        mention_on(&ops[1]),
        (
            discord_channel(),
            vec![PersonRef::parse("discord:42").unwrap()]
        )
    );
    // Edits go only where the finding already has a message.
    let c = change(
        finding(Severity::Critical, FindingState::Acknowledged),
        ChangeKind::Acknowledged,
    );
    let ops = plan(&r, &c, &[discord_channel()]);
    assert_eq!(kinds(&ops), ["update", "reply"]);
    assert!(ops.iter().all(|o| match o {
        Op::Update { channel, .. } | Op::Reply { channel, .. } => channel == &discord_channel(),
        Op::Post { .. } => false,
    }));
}

#[test]
fn a_snoozer_on_another_platform_is_named_not_mentioned() {
    let mut f = finding(Severity::Critical, FindingState::Open);
    f.snoozed_by = Some("discord:42".into());
    let ops = plan(&route(), &change(f, ChangeKind::SnoozeEnded), &posted());
    let Op::Reply { message, .. } = &ops[1] else {
        unreachable!()
    };
    let Block::Text(t) = &message.blocks[0] else {
        unreachable!()
    };
    assert!(!t.0.iter().any(|s| matches!(s, Span::Mention(_))));
    assert!(message.to_plain().starts_with("42 Snooze over"));
}
