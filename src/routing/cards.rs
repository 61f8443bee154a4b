//! Builds the neutral chat messages for findings, digests and audits.

use chrono::{DateTime, Utc};

use crate::domain::Severity;
use crate::findings::{Finding, FindingState};
use crate::message::text::one_line;
use crate::message::{Accent, Action, ActionKind, Block, Message, PersonRef, RichText, Span};

/// Deep links must point at Klaviyo's own web app.
const KLAVIYO_APP: &str = "https://www.klaviyo.com/";

/// Where a deep link that does not point into Klaviyo's web app is sent instead.
pub const KLAVIYO_DASHBOARD: &str = "https://www.klaviyo.com/dashboard";

/// Longest deep link kept; Discord refuses link buttons past 512 characters,
/// the shortest limit of the platforms, and a link would vanish there.
const MAX_DEEP_LINK: usize = 512;

/// The link a finding's card carries: its deep link when that is an
/// `https://www.klaviyo.com/` URL (as the URL parser writes it), else the
/// Klaviyo dashboard; `None` for a finding without a deep link.
///
/// The checks build every link from `checks::links`, so a replacement means a
/// bug or a stored row from elsewhere; the warning names where the link
/// pointed, never its query, which may carry tokens.
pub fn deep_link(raw: &str) -> Option<String> {
    let raw = raw.trim();
    if raw.is_empty() {
        return None;
    }
    match reqwest::Url::parse(raw) {
        Ok(url)
            if url.scheme() == "https"
                && url.host_str() == Some("www.klaviyo.com")
                && url.port().is_none()
                && url.username().is_empty()
                && url.password().is_none()
                && raw.starts_with(KLAVIYO_APP)
                && url.as_str().starts_with(KLAVIYO_APP)
                && url.as_str().len() <= MAX_DEEP_LINK =>
        {
            Some(url.as_str().to_owned())
        }
        Ok(url) => {
            tracing::warn!(
                scheme = url.scheme(),
                host = url.host_str().unwrap_or(""),
                path = %truncate(url.path(), 80),
                "a finding's deep link does not point into Klaviyo's web app; linking the dashboard instead"
            );
            Some(KLAVIYO_DASHBOARD.to_owned())
        }
        Err(e) => {
            tracing::warn!(error = %e, "a finding's deep link is not a URL; linking the Klaviyo dashboard instead");
            Some(KLAVIYO_DASHBOARD.to_owned())
        }
    }
}

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
///
/// Title and why carry client text (flow and list names): they are shown as
/// one line each, so a name cannot start a quote, heading or list line.
pub fn finding_card(f: &Finding, client_name: &str, mention: Option<&PersonRef>) -> Message {
    let mut blocks = vec![Block::Header(one_line(&f.title))];
    let mut summary = RichText::default();
    if let Some(user) = mention.filter(|_| f.state == FindingState::Open) {
        summary = summary
            .push(Span::Mention(user.clone()))
            .push(Span::Plain(" ".into()));
    }
    blocks.push(Block::Text(summary.push(Span::Plain(one_line(&f.why)))));
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
    if let Some(url) = deep_link(&f.deep_link) {
        actions.push(Action::Link {
            label: "Open in Klaviyo".into(),
            url,
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
        Span::Strong(truncate(&one_line(&f.title), MAX_TITLE_IN_LIST)),
    ]);
    if let Some(v) = &f.value {
        t = t.push(Span::Plain(format!(" · {v} at stake")));
    }
    if f.state != FindingState::Open {
        t = t.push(Span::Plain(format!(" · {}", state_line(f))));
    }
    if let Some(url) = deep_link(&f.deep_link) {
        t = t.push(Span::Plain(" · ".into())).push(Span::Link {
            url,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn klaviyo_deep_links_are_kept_as_written() {
        for ok in [
            "https://www.klaviyo.com/flow/AbC/edit",
            "https://www.klaviyo.com/list/X1?tab=settings&x=1",
            "https://www.klaviyo.com/dashboard",
        ] {
            assert_eq!(deep_link(ok).as_deref(), Some(ok));
        }
        assert_eq!(deep_link(""), None);
        assert_eq!(deep_link("   "), None);
    }

    #[test]
    fn other_deep_links_become_the_dashboard() {
        for bad in [
            "https://evil.example/phish",
            "http://www.klaviyo.com/flow/1/edit",
            "https://www.klaviyo.com.evil.example/x",
            "https://www.klaviyo.com@evil.example/x",
            "https://user:pw@www.klaviyo.com/x",
            "https://www.klaviyo.com:8443/x",
            "https://klaviyo.com/x",
            "javascript:alert(1)//https://www.klaviyo.com/",
            "//www.klaviyo.com/x",
            "www.klaviyo.com/x",
            "data:text/html,<b>x</b>",
            "not a url",
            "HTTPS://WWW.KLAVIYO.COM/x",
        ] {
            assert_eq!(deep_link(bad).as_deref(), Some(KLAVIYO_DASHBOARD), "{bad}");
        }
        let long = format!("https://www.klaviyo.com/{}", "a".repeat(600));
        assert_eq!(deep_link(&long).as_deref(), Some(KLAVIYO_DASHBOARD));
    }
}
