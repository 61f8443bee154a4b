//! Each routing rule alone, on hand-built changes.

use chrono::{TimeZone, Utc};

use super::*;
use crate::chat::{Action, ActionKind, Block, Span};
use crate::domain::{FindingId, Fingerprint, Money, Track};
use crate::findings::Actor;

fn route() -> Route {
    let client = ClientSlug::parse("acme").unwrap();
    Route {
        channel: ChannelName::for_client(&client),
        client,
        client_name: "Acme".into(),
        owner: Some("U_ANA".into()),
        pod: None,
    }
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
        snoozed_by: Some("U_BO".into()),
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
        acknowledged_by: Some("U_ANA".into()),
        resolved_at: None,
        resolved_by: None,
        resolution: None,
        channel: ChannelName::for_client(&client),
        message_ref: None,
        onboarding: false,
    }
}

fn change(f: Finding, kind: ChangeKind) -> Change {
    Change {
        finding: f,
        kind,
        actor: Actor::person("U_ANA", "slack"),
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
        false,
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
    assert_eq!(channel.as_str(), "client-acme");
    assert_eq!(*finding, Some(FindingId(7)));
    let mentions = message
        .blocks
        .iter()
        .any(|b| matches!(b, Block::Text(t) if t.0.contains(&Span::Mention("U_ANA".into()))));
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
            false,
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
    assert_eq!(kinds(&plan(&route(), &c, false)), ["post"]);
    assert_eq!(kinds(&plan(&route(), &c, true)), ["update", "reply"]);
}

#[test]
fn state_changes_edit_the_message_and_reply_in_its_thread() {
    let c = change(
        finding(Severity::Critical, FindingState::Acknowledged),
        ChangeKind::Acknowledged,
    );
    let ops = plan(&route(), &c, true);
    assert_eq!(kinds(&ops), ["update", "reply"]);
    let Op::Update { message, .. } = &ops[0] else {
        unreachable!()
    };
    assert!(message.to_plain().contains("Acknowledged by U_ANA"));
    assert!(!message.to_plain().contains("[Acknowledge]"));
    // Without a message (a digest-only finding) there is nothing to edit.
    assert!(plan(&route(), &c, false).is_empty());
    // Cleared: edited to resolved.
    let c = change(
        finding(Severity::Critical, FindingState::Resolved),
        ChangeKind::Cleared,
    );
    let ops = plan(&route(), &c, true);
    assert_eq!(kinds(&ops), ["update", "reply"]);
    let Op::Update { message, .. } = &ops[0] else {
        unreachable!()
    };
    assert_eq!(message.accent, crate::chat::Accent::Resolved);
}

#[test]
fn a_snooze_ending_mentions_whoever_snoozed_it() {
    let c = change(
        finding(Severity::Critical, FindingState::Open),
        ChangeKind::SnoozeEnded,
    );
    let ops = plan(&route(), &c, true);
    let Op::Reply { message, .. } = &ops[1] else {
        unreachable!()
    };
    assert!(
        message.to_plain().contains("@U_BO"),
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
            true
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
    let ops = plan(&route(), &c, false);
    assert_eq!(kinds(&ops), ["post"]);
    let Op::Post { message, .. } = &ops[0] else {
        unreachable!()
    };
    let text = message.to_plain();
    assert!(text.contains("@U_BO Snooze over"), "{text}");
    assert!(
        !text.contains("@U_ANA"),
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
        onboarding_message(&route(), &items),
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
