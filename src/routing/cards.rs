//! Builds the neutral chat messages for findings, digests and audits.

use chrono::{DateTime, Utc};

use crate::domain::Severity;
use crate::findings::{Finding, FindingState};
use crate::message::{Accent, Action, ActionKind, Block, Message, PersonRef, RichText, Span};

/// Deep links must point at Klaviyo's own web app; anything else is dropped.
const KLAVIYO_APP: &str = "https://www.klaviyo.com/";

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// How a recorded actor is shown: the platform id of a person (`U0ANA`), else as stored.
pub fn who(actor: &str) -> String {
    crate::message::person_label(actor)
}

/// The emoji-free state line of a finding.
pub fn state_line(f: &Finding) -> String {
    match f.state {
        FindingState::Open => "Open".into(),
        FindingState::Acknowledged => format!(
            "Acknowledged by {}",
            f.acknowledged_by
                .as_deref()
                .map(who)
                .unwrap_or_else(|| "someone".into())
        ),
        FindingState::Snoozed => match f.snoozed_until {
            Some(t) => format!(
                "Snoozed until {}{}",
                when(t),
                if f.snooze_until_worse {
                    " (or until worse)"
                } else {
                    ""
                }
            ),
            None => "Snoozed".into(),
        },
        FindingState::Resolved => match (f.resolved_by.as_deref(), f.resolution.as_deref()) {
            (Some("lookout"), _) => "Resolved: the check cleared".into(),
            (Some(by), Some(why)) => format!("Resolved by {}: {why}", who(by)),
            _ => "Resolved".into(),
        },
    }
}

/// The accent a finding's message carries in its current state.
pub fn accent(f: &Finding) -> Accent {
    match f.state {
        FindingState::Open => Accent::Severity(f.severity),
        FindingState::Acknowledged => Accent::Acknowledged,
        FindingState::Snoozed => Accent::Snoozed,
        FindingState::Resolved => Accent::Resolved,
    }
}

/// The single message a finding is shown as; edited in place as its state changes.
pub fn finding_card(f: &Finding, client_name: &str, mention: Option<&PersonRef>) -> Message {
    let mut blocks = vec![Block::Header(f.title.clone())];
    let mut summary = RichText::default();
    if let Some(user) = mention.filter(|_| f.state == FindingState::Open) {
        summary = summary
            .push(Span::Mention(user.clone()))
            .push(Span::Plain(" ".into()));
    }
    blocks.push(Block::Text(summary.push(Span::Plain(f.why.clone()))));
    let mut fields = vec![
        ("Client".to_owned(), RichText::plain(client_name)),
        ("Severity".to_owned(), RichText::plain(f.severity.as_str())),
    ];
    if let Some(v) = &f.value {
        fields.push(("At stake".to_owned(), RichText::plain(v.to_string())));
    }
    fields.push(("State".to_owned(), RichText::plain(state_line(f))));
    blocks.push(Block::Fields(fields));
    let mut ctx = RichText(vec![
        Span::Code(f.id.to_string()),
        Span::Plain(format!(
            " · {} · detected {}",
            f.check_id,
            when(f.detected_at)
        )),
    ]);
    if let Some(b) = f.began_at {
        ctx = ctx.push(Span::Plain(format!(" · began {}", when(b))));
    }
    if f.onboarding {
        ctx = ctx.push(Span::Plain(" · onboarding audit".into()));
    }
    blocks.push(Block::Context(ctx));
    let buttons: &[ActionKind] = match f.state {
        FindingState::Open => &[
            ActionKind::Acknowledge,
            ActionKind::Snooze,
            ActionKind::Resolve,
            ActionKind::AddNote,
        ],
        FindingState::Acknowledged => {
            &[ActionKind::Snooze, ActionKind::Resolve, ActionKind::AddNote]
        }
        FindingState::Snoozed => &[
            ActionKind::Acknowledge,
            ActionKind::Resolve,
            ActionKind::AddNote,
        ],
        FindingState::Resolved => &[ActionKind::AddNote],
    };
    let mut actions: Vec<Action> = buttons
        .iter()
        .map(|k| Action::Button {
            kind: *k,
            finding: f.id,
        })
        .collect();
    if f.deep_link.starts_with(KLAVIYO_APP) {
        actions.push(Action::Link {
            label: "Open in Klaviyo".into(),
            url: f.deep_link.clone(),
        });
    }
    blocks.push(Block::Actions(actions));
    Message {
        accent: accent(f),
        blocks,
    }
}

/// Longest title shown in a list line; lists must fit chat platforms' limits
/// (Discord: 6,000 characters a message), and a title is partly client text.
pub const MAX_TITLE_IN_LIST: usize = 120;

/// `s` cut to `max` characters, with an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// One line per finding, for digests, audits and lists.
pub fn finding_line(f: &Finding) -> RichText {
    let mut t = RichText(vec![
        Span::Code(f.id.to_string()),
        Span::Plain(" ".into()),
        Span::Strong(truncate(&f.title, MAX_TITLE_IN_LIST)),
    ]);
    if let Some(v) = &f.value {
        t = t.push(Span::Plain(format!(" · {v} at stake")));
    }
    if f.state != FindingState::Open {
        t = t.push(Span::Plain(format!(" · {}", state_line(f))));
    }
    if f.deep_link.starts_with(KLAVIYO_APP) {
        t = t.push(Span::Plain(" · ".into())).push(Span::Link {
            url: f.deep_link.clone(),
            label: "open".into(),
        });
    }
    t
}

/// At most this many findings are listed in one message; the rest are summarised.
pub const MAX_LINES: usize = 20;

/// A list of findings under a heading, capped at `MAX_LINES` with a pointer to the rest.
pub fn finding_list(
    accent: Accent,
    heading: &str,
    findings: &[Finding],
    more_hint: &str,
) -> Message {
    let mut blocks = vec![Block::Header(heading.to_owned())];
    let mut shown = 0;
    for sev in [Severity::Critical, Severity::Warning, Severity::Opportunity] {
        let group: Vec<&Finding> = findings.iter().filter(|f| f.severity == sev).collect();
        if group.is_empty() || shown == MAX_LINES {
            continue;
        }
        blocks.push(Block::Context(RichText::plain(format!(
            "{} {}",
            group.len(),
            sev
        ))));
        for f in group.into_iter().take(MAX_LINES - shown) {
            blocks.push(Block::Text(finding_line(f)));
            shown += 1;
        }
    }
    if findings.len() > shown {
        blocks.push(Block::Context(RichText::plain(format!(
            "…and {} more. {more_hint}",
            findings.len() - shown
        ))));
    }
    Message { accent, blocks }
}
