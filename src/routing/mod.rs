//! Routing: who hears about a finding, where, and when.
//!
//! Critical findings post at once in the client's channel and mention the
//! owner; warnings wait for the daily triage digest and opportunities for the
//! weekly one. A finding that has a message gets it edited in place, with its
//! history as replies in the message's thread.

use chrono::{DateTime, Utc};
use sqlx::SqliteConnection;

use crate::chat::{Accent, ChannelName, Message};
use crate::domain::{ClientSlug, Severity};
use crate::findings::{Change, ChangeKind, Finding, FindingState};
use crate::outbox::{self, Op};
use crate::store::StoreError;

pub mod cards;
#[cfg(test)]
mod tests;

/// Where one client's findings go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The client.
    pub client: ClientSlug,
    /// Display name.
    pub client_name: String,
    /// Its channel.
    pub channel: ChannelName,
    /// The account manager to mention on critical findings (chat user id).
    pub owner: Option<String>,
    /// The pod (team) the client belongs to.
    pub pod: Option<String>,
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
    conn: &mut SqliteConnection,
    route: &Route,
    change: &Change,
    now: DateTime<Utc>,
) -> Result<Vec<Op>, StoreError> {
    route_change_in(conn, route, change, now, Mode::Normal).await
}

/// `route_change` under quiet hours or a maintenance window.
pub async fn route_change_in(
    conn: &mut SqliteConnection,
    route: &Route,
    change: &Change,
    now: DateTime<Utc>,
    mode: Mode,
) -> Result<Vec<Op>, StoreError> {
    if mode == Mode::Muted {
        return Ok(Vec::new());
    }
    let has_message = outbox::has_post(conn, change.finding.id).await?;
    let mut ops = plan(route, change, has_message);
    if mode == Mode::Quiet {
        ops.iter_mut().for_each(strip_mentions);
    }
    for op in &ops {
        outbox::enqueue(conn, op, now).await?;
    }
    Ok(ops)
}

/// The chat traffic one change causes (pure, so each rule is tested alone).
pub fn plan(route: &Route, change: &Change, has_message: bool) -> Vec<Op> {
    let f = &change.finding;
    let card = |mention: bool| {
        cards::finding_card(
            f,
            &route.client_name,
            if mention {
                route.owner.as_deref()
            } else {
                None
            },
        )
    };
    let post = |mention: bool| Op::Post {
        channel: f.channel.clone(),
        finding: Some(f.id),
        message: card(mention),
    };
    let update = || Op::Update {
        finding: f.id,
        channel: f.channel.clone(),
        message: card(false),
    };
    let reply = |text: String| Op::Reply {
        finding: f.id,
        channel: f.channel.clone(),
        message: Message::text(Accent::Info, text),
    };
    let critical_open = f.severity == Severity::Critical && f.state == FindingState::Open;
    match &change.kind {
        ChangeKind::Detected if critical_open => vec![post(true)],
        ChangeKind::Detected => vec![],
        ChangeKind::StillSeen => vec![],
        ChangeKind::Worsened { from } if has_message => vec![
            update(),
            reply(format!("Worse: {from} → {}. {}", f.severity, f.why)),
        ],
        ChangeKind::Worsened { .. } if critical_open => vec![post(true)],
        ChangeKind::Worsened { .. } => vec![],
        ChangeKind::Reopened if has_message => {
            vec![update(), reply("Seen again by a scan: reopened.".into())]
        }
        ChangeKind::Reopened if critical_open => vec![post(true)],
        ChangeKind::Reopened => vec![],
        ChangeKind::SnoozeEnded if has_message => {
            let who = f
                .snoozed_by
                .as_deref()
                .map(|u| format!("@{u} "))
                .unwrap_or_default();
            vec![
                update(),
                reply(format!("{who}Snooze over: this is still open.")),
            ]
        }
        // Never posted (a digest finding): re-raise it as its own message now,
        // so the snoozer hears and it gets a thread from here on.
        ChangeKind::SnoozeEnded if f.state == FindingState::Open => {
            let mut op = post(f.severity == Severity::Critical);
            if let (Op::Post { message, .. }, Some(who)) = (&mut op, f.snoozed_by.as_deref()) {
                message.blocks.insert(
                    1,
                    crate::chat::Block::Text(crate::chat::RichText(vec![
                        crate::chat::Span::Mention(who.to_owned()),
                        crate::chat::Span::Plain(" Snooze over: this is still open.".into()),
                    ])),
                );
            }
            vec![op]
        }
        ChangeKind::SnoozeEnded => vec![],
        ChangeKind::Cleared if has_message => vec![
            update(),
            reply("The check no longer sees this: resolved by Lookout.".into()),
        ],
        ChangeKind::Cleared => vec![],
        ChangeKind::Acknowledged | ChangeKind::Snoozed | ChangeKind::Resolved if has_message => {
            let what = cards::state_line(f);
            vec![
                update(),
                reply(format!("{what} (via {}).", change.actor.surface)),
            ]
        }
        ChangeKind::Acknowledged | ChangeKind::Snoozed | ChangeKind::Resolved => vec![],
    }
}

/// Removes every mention from a message, leaving the rest as it is.
pub fn strip_mentions(op: &mut Op) {
    let message = match op {
        Op::Post { message, .. } | Op::Update { message, .. } | Op::Reply { message, .. } => {
            message
        }
    };
    for block in &mut message.blocks {
        if let crate::chat::Block::Text(t) | crate::chat::Block::Context(t) = block {
            t.0.retain(|s| !matches!(s, crate::chat::Span::Mention(_)));
        }
    }
    // Replies name the snoozer as "@user" in plain text; keep the name, drop the ping.
    if let Op::Reply { message, .. } = op {
        for block in &mut message.blocks {
            if let crate::chat::Block::Text(t) = block {
                for span in &mut t.0 {
                    if let crate::chat::Span::Plain(p) = span {
                        *p = p.replace('@', "");
                    }
                }
            }
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

/// The onboarding audit: everything the client's first scan found, in one message.
pub fn onboarding_message(route: &Route, found: &[Finding]) -> Message {
    let heading = if found.is_empty() {
        format!(
            "Onboarding audit for {}: nothing to report",
            route.client_name
        )
    } else {
        let count = |s: Severity| found.iter().filter(|f| f.severity == s).count();
        format!(
            "Onboarding audit for {}: {} critical, {} warning, {} opportunity",
            route.client_name,
            count(Severity::Critical),
            count(Severity::Warning),
            count(Severity::Opportunity)
        )
    };
    cards::finding_list(
        Accent::Info,
        &heading,
        found,
        &format!("Type /findings {} for all of them.", route.client),
    )
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
    if let Some(owner) = route
        .owner
        .as_deref()
        .filter(|_| found.iter().any(|f| f.severity == Severity::Critical))
    {
        m.blocks.insert(
            1,
            crate::chat::Block::Text(crate::chat::RichText(vec![
                crate::chat::Span::Mention(owner.to_owned()),
                crate::chat::Span::Plain(" critical findings came up during the window.".into()),
            ])),
        );
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
    if let Some(owner) = &route.owner {
        m.blocks.insert(
            1,
            crate::chat::Block::Text(crate::chat::RichText(vec![crate::chat::Span::Mention(
                owner.clone(),
            )])),
        );
    }
    m
}
