//! Routing: who hears about a finding, where, and when.
//!
//! Critical findings post at once in the client's channel and mention the
//! owner; warnings wait for the daily triage digest and opportunities for the
//! weekly one. A finding that has a message gets it edited in place, with its
//! history as replies in the message's thread.

use chrono::{DateTime, Utc};

use crate::domain::{ClientSlug, Severity};
use crate::findings::{Change, ChangeKind, Finding, FindingState};
use crate::message::{Accent, Block, ChannelRef, Message, PersonRef, Platform, RichText, Span};
use crate::outbox::{self, Op};
use crate::store::{Db, StoreError};

pub mod audit;
pub mod cards;
pub mod digests;
pub mod maintenance;
pub mod platform;
#[cfg(test)]
mod tests;

/// Where one client's findings go: a channel on each platform it is on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The client.
    pub client: ClientSlug,
    /// Display name.
    pub client_name: String,
    /// Its channels, at most one per platform.
    pub channels: Vec<RouteChannel>,
    /// The pod (team) the client belongs to.
    pub pod: Option<String>,
}

/// A client's channel on one platform and whom to mention there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteChannel {
    /// The channel.
    pub channel: ChannelRef,
    /// The account manager mentioned on critical findings there.
    pub owner: Option<PersonRef>,
}

impl Route {
    /// Whether this channel is one of the client's.
    pub fn has_channel(&self, channel: &ChannelRef) -> bool {
        self.channels.iter().any(|c| &c.channel == channel)
    }

    /// The client's channel on a platform.
    pub fn channel_on(&self, platform: Platform) -> Option<&ChannelRef> {
        self.channels
            .iter()
            .find(|c| c.channel.platform == platform)
            .map(|c| &c.channel)
    }

    /// The owner to mention in a channel (the one on that channel's platform).
    pub fn owner_in(&self, channel: &ChannelRef) -> Option<&PersonRef> {
        self.channels
            .iter()
            .find(|c| c.channel.platform == channel.platform)
            .and_then(|c| c.owner.as_ref())
    }

    /// The client's channels, one per platform.
    pub fn channel_refs(&self) -> impl Iterator<Item = &ChannelRef> {
        self.channels.iter().map(|c| &c.channel)
    }

    /// Every owner, one per platform.
    pub fn owners(&self) -> impl Iterator<Item = &PersonRef> {
        self.channels.iter().filter_map(|c| c.owner.as_ref())
    }
}

/// How chat traffic is treated right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Post and mention as the rules say.
    Normal,
    /// Quiet hours: post, but mention nobody.
    Quiet,
    /// Maintenance window: record, post nothing.
    Muted,
}

/// Plans and enqueues the chat traffic for one change, in the caller's transaction.
pub async fn route_change(
    db: &mut Db,
    route: &Route,
    change: &Change,
    now: DateTime<Utc>,
) -> Result<Vec<Op>, StoreError> {
    route_change_in(db, route, change, now, Mode::Normal).await
}

/// `route_change` under quiet hours or a maintenance window.
pub async fn route_change_in(
    db: &mut Db,
    route: &Route,
    change: &Change,
    now: DateTime<Utc>,
    mode: Mode,
) -> Result<Vec<Op>, StoreError> {
    if mode == Mode::Muted {
        return Ok(Vec::new());
    }
    // A finding detected in this very transaction has no message anywhere yet.
    let posted = if change.kind == ChangeKind::Detected {
        Vec::new()
    } else {
        crate::store::outbox::posted_channels(db, change.finding.id).await?
    };
    let mut ops = plan(route, change, &posted);
    if mode == Mode::Quiet {
        ops.iter_mut().for_each(strip_mentions);
    }
    for op in &ops {
        outbox::enqueue(db, op, now).await?;
    }
    Ok(ops)
}

/// A person named in a message sent to `channel`: a mention on their own
/// platform, their id as text elsewhere.
pub(crate) fn person_span(who: &str, channel: &ChannelRef) -> Span {
    match PersonRef::parse(who) {
        Ok(p) if p.platform == channel.platform => Span::Mention(p),
        Ok(p) => Span::Plain(p.id),
        Err(_) => Span::Plain(who.to_owned()),
    }
}

/// The chat traffic one change causes (pure, so each rule is tested alone).
///
/// `posted` holds the channels the finding already has (or will have) a
/// message in: edits and thread replies go there, new posts go to every
/// channel of the route.
pub fn plan(route: &Route, change: &Change, posted: &[ChannelRef]) -> Vec<Op> {
    let f = &change.finding;
    let has_message = !posted.is_empty();
    let post = |mention: bool| -> Vec<Op> {
        route
            .channels
            .iter()
            .map(|rc| Op::Post {
                channel: rc.channel.clone(),
                finding: Some(f.id),
                message: cards::finding_card(
                    f,
                    &route.client_name,
                    rc.owner.as_ref().filter(|_| mention),
                ),
            })
            .collect()
    };
    let update = || -> Vec<Op> {
        posted
            .iter()
            .map(|c| Op::Update {
                finding: f.id,
                channel: c.clone(),
                message: cards::finding_card(f, &route.client_name, None),
            })
            .collect()
    };
    let reply_with = |spans: &dyn Fn(&ChannelRef) -> RichText| -> Vec<Op> {
        posted
            .iter()
            .map(|c| Op::Reply {
                finding: f.id,
                channel: c.clone(),
                message: Message {
                    accent: Accent::Info,
                    blocks: vec![Block::Text(spans(c))],
                },
            })
            .collect()
    };
    let reply = |text: String| reply_with(&|_| RichText::plain(text.clone()));
    let both = |a: Vec<Op>, b: Vec<Op>| -> Vec<Op> { a.into_iter().chain(b).collect() };
    let critical_open = f.severity == Severity::Critical && f.state == FindingState::Open;
    match &change.kind {
        // The onboarding audit's kickoff summary lists what a first scan finds.
        ChangeKind::Detected if critical_open && !f.onboarding => post(true),
        ChangeKind::Detected => vec![],
        ChangeKind::StillSeen => vec![],
        ChangeKind::Worsened { from } if has_message => both(
            update(),
            reply(format!("Worse: {from} → {}. {}", f.severity, f.why)),
        ),
        ChangeKind::Worsened { .. } if critical_open => post(true),
        ChangeKind::Worsened { .. } => vec![],
        ChangeKind::Reopened if has_message => {
            both(update(), reply("Seen again by a scan: reopened.".into()))
        }
        ChangeKind::Reopened if critical_open => post(true),
        ChangeKind::Reopened => vec![],
        ChangeKind::SnoozeEnded if has_message => {
            let snoozer = f.snoozed_by.clone();
            both(
                update(),
                reply_with(&|c| {
                    let mut t = RichText::default();
                    if let Some(who) = &snoozer {
                        t = t.push(person_span(who, c)).push(Span::Plain(" ".into()));
                    }
                    t.push(Span::Plain("Snooze over: this is still open.".into()))
                }),
            )
        }
        // Never posted (a digest finding): re-raise it as its own message now,
        // so the snoozer hears and it gets a thread from here on.
        ChangeKind::SnoozeEnded if f.state == FindingState::Open => {
            let mut ops = post(f.severity == Severity::Critical);
            if let Some(who) = f.snoozed_by.as_deref() {
                for op in &mut ops {
                    if let Op::Post {
                        message, channel, ..
                    } = op
                    {
                        message.blocks.insert(
                            1,
                            Block::Text(RichText(vec![
                                person_span(who, channel),
                                Span::Plain(" Snooze over: this is still open.".into()),
                            ])),
                        );
                    }
                }
            }
            ops
        }
        ChangeKind::SnoozeEnded => vec![],
        ChangeKind::Cleared if has_message => both(
            update(),
            reply("The check no longer sees this: resolved by Lookout.".into()),
        ),
        ChangeKind::Cleared => vec![],
        ChangeKind::Acknowledged | ChangeKind::Snoozed | ChangeKind::Resolved if has_message => {
            let what = cards::state_line(f);
            both(
                update(),
                reply(format!("{what} (via {}).", change.actor.surface)),
            )
        }
        ChangeKind::Acknowledged | ChangeKind::Snoozed | ChangeKind::Resolved => vec![],
    }
}

/// Removes every mention from a message, leaving the rest as it is.
pub fn strip_mentions(op: &mut Op) {
    for block in &mut op.message_mut().blocks {
        if let Block::Text(t) | Block::Context(t) = block {
            t.0.retain(|s| !matches!(s, Span::Mention(_)));
        }
    }
}

/// Whether `now` falls in the local quiet hours `(start, end)`, which may wrap midnight.
pub fn in_quiet_hours(
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
    quiet: Option<(chrono::NaiveTime, chrono::NaiveTime)>,
) -> bool {
    let Some((start, end)) = quiet else {
        return false;
    };
    let t = now.with_timezone(&tz).time();
    if start < end {
        t >= start && t < end
    } else {
        t >= start || t < end
    }
}

/// Which digest a finding belongs to.
pub fn digest_of(f: &Finding) -> Option<Digest> {
    match f.severity {
        Severity::Warning => Some(Digest::DailyTriage),
        Severity::Opportunity => Some(Digest::Weekly),
        Severity::Critical => None,
    }
}

/// The two digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digest {
    /// Warnings, every morning.
    DailyTriage,
    /// Opportunities, once a week.
    Weekly,
}

impl Digest {
    /// Heading and the severity it collects.
    pub fn heading(self, client_name: &str) -> (String, Severity) {
        match self {
            Digest::DailyTriage => (format!("Daily triage for {client_name}"), Severity::Warning),
            Digest::Weekly => (
                format!("Weekly opportunities for {client_name}"),
                Severity::Opportunity,
            ),
        }
    }
}

/// The digest message for one client, or None when there is nothing to say.
/// Snoozed findings are left out until their snooze ends.
pub fn digest_message(digest: Digest, route: &Route, active: &[Finding]) -> Option<Message> {
    let (heading, sev) = digest.heading(&route.client_name);
    let items: Vec<Finding> = active
        .iter()
        .filter(|f| {
            f.severity == sev && f.state != FindingState::Snoozed && f.client == route.client
        })
        .cloned()
        .collect();
    if items.is_empty() {
        return None;
    }
    Some(cards::finding_list(
        Accent::Severity(sev),
        &heading,
        &items,
        &format!("Type /findings {} {} for all of them.", route.client, sev),
    ))
}

/// The onboarding audit: everything the client's first scan found, in one
/// kickoff message (see [`audit::kickoff_message`]).
pub fn onboarding_message(route: &Route, currency: &str, found: &[Finding]) -> Message {
    audit::kickoff_message(&route.client_name, route.client.as_str(), currency, found)
}

/// The one message a maintenance window leaves when it ends.
pub fn maintenance_summary(
    route: &Route,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    found: &[Finding],
) -> Message {
    let span = format!(
        "{} to {}",
        start.format("%Y-%m-%d %H:%M"),
        end.format("%Y-%m-%d %H:%M UTC")
    );
    if found.is_empty() {
        return Message::text(
            Accent::Info,
            format!(
                "Maintenance for {} is over ({span}): nothing new to report.",
                route.client_name
            ),
        );
    }
    let mut m = cards::finding_list(
        Accent::Info,
        &format!(
            "Maintenance for {} is over ({span}): {} open",
            route.client_name,
            found.len()
        ),
        found,
        &format!("Type /findings {} for all of them.", route.client),
    );
    if found.iter().any(|f| f.severity == Severity::Critical) {
        let owners: Vec<Span> = route.owners().cloned().map(Span::Mention).collect();
        if !owners.is_empty() {
            let mut spans = owners;
            spans.push(Span::Plain(
                " critical findings came up during the window.".into(),
            ));
            m.blocks.insert(1, Block::Text(RichText(spans)));
        }
    }
    m
}

/// After quiet hours: one message mentioning the owner about critical findings
/// that were posted without a mention overnight and are still open.
pub fn quiet_catch_up(route: &Route, overnight: &[Finding]) -> Message {
    let mut m = cards::finding_list(
        Accent::Severity(Severity::Critical),
        &format!(
            "Overnight for {}: {} critical still open",
            route.client_name,
            overnight.len()
        ),
        overnight,
        &format!("Type /findings {} critical for all of them.", route.client),
    );
    let owners: Vec<Span> = route.owners().cloned().map(Span::Mention).collect();
    if !owners.is_empty() {
        m.blocks.insert(1, Block::Text(RichText(owners)));
    }
    m
}
