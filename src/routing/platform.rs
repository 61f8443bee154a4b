//! Platform events. The same check firing at three or more clients within 48
//! hours is usually a platform change (Klaviyo, an integration such as
//! Shopify, an inbox provider, a DNS host), not three separate accidents. It
//! is raised once, in the agency channel, linking the client findings and
//! with a heads-up the team can send the affected clients. Each member finding
//! is told in its own thread without naming the other clients (a client's
//! channel sees that client only). The event resolves when all its members have.

use std::collections::BTreeSet;

use chrono::{DateTime, Duration, Utc};

use super::cards::finding_line;
use crate::config::AgencyConfig;
use crate::domain::Severity;
use crate::findings::{Change, ChangeKind, Finding, Findings};
use crate::message::{Accent, Block, Message, RichText, Span};
use crate::outbox::{self, Op};
use crate::store::findings::FindingError;
use crate::store::platform::{self, Member, PlatformEvent};
use crate::store::{Db, outbox as rows};

/// Detections of one check this close together count as one event.
pub const WINDOW: Duration = Duration::hours(48);
/// Distinct clients it takes.
pub const MIN_CLIENTS: usize = 3;

/// What a scan did to platform events.
#[derive(Debug, Clone, PartialEq)]
pub enum PlatformChange {
    /// A new event, with the findings it links.
    Opened(PlatformEvent, Vec<Finding>),
    /// A finding joined an open event.
    Joined(PlatformEvent, Box<Finding>),
    /// Every member resolved, so the event did.
    Resolved(PlatformEvent),
}

/// The event's short id, `P-<n>`.
pub fn event_id(e: &PlatformEvent) -> String {
    format!("P-{}", e.id)
}

/// After a scan's findings changed (in its transaction): opens an event for a
/// check now seen at enough clients, adds new detections to an open one, and
/// resolves the events whose members have all resolved.
pub async fn after_scan(
    db: &mut Db,
    agency: &AgencyConfig,
    changes: &[Change],
    now: DateTime<Utc>,
) -> Result<Vec<PlatformChange>, FindingError> {
    let mut out = Vec::new();
    let detected: BTreeSet<&str> = changes
        .iter()
        .filter(|c| c.kind == ChangeKind::Detected && !c.finding.onboarding)
        .map(|c| c.finding.check_id.as_str())
        .collect();
    for check in detected {
        match platform::open_for(db, check).await? {
            Some(event) => {
                for c in changes.iter().filter(|c| {
                    c.kind == ChangeKind::Detected
                        && !c.finding.onboarding
                        && c.finding.check_id == check
                }) {
                    if join(db, &event, &c.finding, now).await? {
                        out.push(PlatformChange::Joined(
                            event.clone(),
                            Box::new(c.finding.clone()),
                        ));
                    }
                }
            }
            None => {
                let recent = Findings::detected_since(db, check, now - WINDOW).await?;
                let clients: BTreeSet<&str> = recent.iter().map(|f| f.client.as_str()).collect();
                if clients.len() < MIN_CLIENTS {
                    continue;
                }
                let severity = recent
                    .iter()
                    .map(|f| f.severity)
                    .max()
                    .unwrap_or(Severity::Warning);
                let event = platform::open(db, check, severity, now).await?;
                for f in &recent {
                    join(db, &event, f, now).await?;
                }
                outbox::post_to_each(db, &agency.channels, &opened_message(&event, &recent), now)
                    .await?;
                out.push(PlatformChange::Opened(event, recent));
            }
        }
    }
    for event in platform::finished(db).await? {
        platform::resolve(db, event.id, now).await?;
        let ids: Vec<_> = platform::members(db, event.id)
            .await?
            .into_iter()
            .map(|m| m.finding)
            .collect();
        let members = Findings::by_ids(db, &ids).await?;
        outbox::post_to_each(
            db,
            &agency.channels,
            &resolved_message(&event, &members),
            now,
        )
        .await?;
        out.push(PlatformChange::Resolved(event));
    }
    Ok(out)
}

/// Makes `f` a member of `event`; on joining, notes it on the finding and
/// says so in each thread the finding was posted to.
async fn join(
    db: &mut Db,
    event: &PlatformEvent,
    f: &Finding,
    now: DateTime<Utc>,
) -> Result<bool, FindingError> {
    let member = Member {
        finding: f.id,
        client: f.client.clone(),
    };
    if !platform::add_member(db, event.id, &member, now).await? {
        return Ok(false);
    }
    let note = member_note(event);
    Findings::note_by_lookout(db, f.id, "platform-event", &note, now).await?;
    for channel in rows::posted_channels(db, f.id).await? {
        let op = Op::Reply {
            finding: f.id,
            channel,
            message: Message::text(Accent::Info, note.clone()),
        };
        outbox::enqueue(db, &op, now).await?;
    }
    Ok(true)
}

/// What a member finding is told: no other client is named.
fn member_note(event: &PlatformEvent) -> String {
    format!(
        "Part of platform event {}: the same check fired at {MIN_CLIENTS} or more clients within {} hours, which points to a platform change (Klaviyo, an integration, an inbox provider) rather than this account alone. The agency channel is tracking it.",
        event_id(event),
        WINDOW.num_hours()
    )
}

fn clients_of(members: &[Finding]) -> Vec<String> {
    let set: BTreeSet<&str> = members.iter().map(|f| f.client.as_str()).collect();
    set.into_iter().map(str::to_owned).collect()
}

fn summary_of(check: &str) -> String {
    crate::checks::find(check)
        .map(|c| c.summary.to_owned())
        .unwrap_or_else(|| format!("`{check}`"))
}

/// The agency-channel post that raises an event.
pub fn opened_message(event: &PlatformEvent, members: &[Finding]) -> Message {
    let clients = clients_of(members);
    let mut blocks = vec![
        Block::Header(format!(
            "Platform event {}: {} at {} clients within {} h",
            event_id(event),
            event.check_id,
            clients.len(),
            WINDOW.num_hours()
        )),
        Block::Text(RichText(vec![
            Span::Plain("The same check fired at ".into()),
            Span::Strong(clients.join(", ")),
            Span::Plain(format!(
                ": {}. When several accounts break the same way at once, the cause is usually upstream (a Klaviyo change, an integration such as Shopify, an inbox provider or a DNS host): check their status pages before working each account.",
                summary_of(&event.check_id)
            )),
        ])),
    ];
    for f in members.iter().take(super::cards::MAX_LINES) {
        let mut line = vec![
            Span::Strong(f.client.as_str().to_owned()),
            Span::Plain(" · ".into()),
        ];
        line.extend(finding_line(f).0);
        blocks.push(Block::Text(RichText(line)));
    }
    if members.len() > super::cards::MAX_LINES {
        blocks.push(Block::Context(RichText::plain(format!(
            "…and {} more.",
            members.len() - super::cards::MAX_LINES
        ))));
    }
    blocks.push(Block::Context(RichText::plain(format!(
        "Suggested heads-up for the affected clients: \"We are seeing the same issue across several Klaviyo accounts ({}), which points to a platform problem rather than your setup. We are on it and will confirm when it clears.\"",
        summary_of(&event.check_id).to_lowercase()
    ))));
    Message {
        accent: Accent::Severity(event.severity),
        blocks,
    }
}

/// The agency-channel post when every member has resolved.
pub fn resolved_message(event: &PlatformEvent, members: &[Finding]) -> Message {
    let clients = clients_of(members);
    Message::text(
        Accent::Resolved,
        format!(
            "Platform event {} is over: {} has cleared at all {} clients ({}).",
            event_id(event),
            event.check_id,
            clients.len(),
            clients.join(", ")
        ),
    )
}
