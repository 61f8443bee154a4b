//! The access review: who can act on which clients, grants ending soon or
//! grown old, clients still on private API keys, keys due for rotation,
//! people with no activity, and actions no person is on record for. A pure
//! function over what `App::access_review` gathers, so each rule is tested
//! on hand-built input.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};

use crate::audit::Recorded;
use crate::commands::Role;
use crate::connections::{Grant, Method, Status};
use crate::domain::ClientSlug;
use crate::message::{Accent, Block, Message, PersonRef, Platform, RichText, Span};

/// Grants ending within this many days are listed.
pub const ENDING_SOON_DAYS: i64 = 14;
/// Most lines in one section; the rest are counted.
const MAX_LINES: usize = 6;

/// What the review looks at.
#[derive(Debug, Clone, Default)]
pub struct AccessInput {
    /// Everyone in `[people]`, with their role.
    pub people: Vec<(PersonRef, Role)>,
    /// Whom each client's route mentions (its owners).
    pub owners: BTreeMap<PersonRef, Vec<ClientSlug>>,
    /// Every client.
    pub clients: Vec<ClientSlug>,
    /// Grants made from chat.
    pub grants: Vec<Grant>,
    /// Clients reached with a key from the config file (no grant).
    pub config_keys: Vec<ClientSlug>,
    /// When each person last did anything.
    pub last_active: BTreeMap<PersonRef, DateTime<Utc>>,
    /// Actions with no person on record, newest first.
    pub unattributed: Vec<Recorded>,
    /// Flag grants older than this many days.
    pub max_grant_age_days: u32,
    /// Flag keys older than this many days.
    pub key_rotation_days: u32,
    /// Flag people idle this many days.
    pub inactive_days: u32,
    /// How many days of unattributed actions were read.
    pub window_days: u32,
}

/// What the review found, counted (for the headline and tests).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Findings {
    /// Grants ending within [`ENDING_SOON_DAYS`].
    pub ending_soon: Vec<ClientSlug>,
    /// Grants older than the set age.
    pub old_grants: Vec<ClientSlug>,
    /// Clients on private API keys.
    pub on_keys: Vec<ClientSlug>,
    /// Keys due for rotation (or of unknown age).
    pub keys_due: Vec<ClientSlug>,
    /// Clients with no working connection (not connected, paused or ended).
    pub unreachable: Vec<ClientSlug>,
    /// People with no activity in the set days.
    pub inactive: Vec<PersonRef>,
    /// Actions no person is on record for.
    pub unattributed: usize,
}

impl Findings {
    /// How many things need a look.
    pub fn total(&self) -> usize {
        self.ending_soon.len()
            + self.old_grants.len()
            + self.on_keys.len()
            + self.keys_due.len()
            + self.unreachable.len()
            + self.inactive.len()
            + self.unattributed
    }
}

/// Reviews the input at `now` for a channel on `platform` (people there are
/// mentioned, others named): what was found and the message to show.
pub fn review(
    input: &AccessInput,
    now: DateTime<Utc>,
    platform: Platform,
    local: impl Fn(DateTime<Utc>) -> String,
) -> (Findings, Message) {
    let person = |p: &PersonRef| {
        if p.platform == platform {
            Span::Mention(p.clone())
        } else {
            Span::Code(p.to_string())
        }
    };
    let mut f = Findings::default();
    let mut blocks = Vec::new();
    let days = |n: u32| Duration::days(i64::from(n));

    // Who can act on which clients: roles are agency-wide; owners are named per client.
    let mut who = Vec::new();
    for role in [Role::Admin, Role::Lead, Role::Am] {
        for (p, r) in input.people.iter().filter(|(_, r)| *r == role) {
            let mut t = RichText(vec![person(p), Span::Plain(format!(" ({}): ", r.as_str()))]);
            let reach = match r {
                Role::Admin => "every client; connects, disconnects and routes",
                Role::Lead => "every client; connects and disconnects",
                _ => "every client's findings",
            };
            t = t.push(Span::Plain(reach.to_owned()));
            if let Some(owned) = input.owners.get(p) {
                t = t.push(Span::Plain(format!("; owner of {}", join(owned))));
            }
            who.push(t);
        }
    }
    who.push(RichText::plain(
        "Anyone else is a viewer: reads findings and notes, changes nothing.",
    ));
    section(&mut blocks, "Who can act", who);

    let mut grants = Vec::new();
    for g in &input.grants {
        let by = g.granted_by.clone();
        let line = |text: String| {
            let mut t = RichText(vec![
                Span::Strong(g.client.to_string()),
                Span::Plain(format!(": {text}")),
            ]);
            if let Some(p) = &by {
                t = t.push(Span::Plain(", granted by ".into())).push(person(p));
            }
            t
        };
        match g.status {
            Status::Active if g.ends_at - now <= Duration::days(ENDING_SOON_DAYS) => {
                f.ending_soon.push(g.client.clone());
                grants.push(line(format!("access ends on {}", local(g.ends_at))));
            }
            Status::Active => {}
            Status::Reauth | Status::Ended => {
                f.unreachable.push(g.client.clone());
                grants.push(line(format!(
                    "{}; reconnect with /connect {}",
                    if g.status == Status::Reauth {
                        "Klaviyo refused the grant"
                    } else {
                        "access ended"
                    },
                    g.client
                )));
            }
        }
        if g.status == Status::Active && now - g.granted_at > days(input.max_grant_age_days) {
            f.old_grants.push(g.client.clone());
            grants.push(line(format!(
                "granted {} days ago (over {}); renew it with /connect {} to confirm it is still wanted",
                (now - g.granted_at).num_days(),
                input.max_grant_age_days,
                g.client
            )));
        }
    }
    for c in &input.clients {
        let has = input.grants.iter().any(|g| &g.client == c) || input.config_keys.contains(c);
        if !has {
            f.unreachable.push(c.clone());
            grants.push(RichText(vec![
                Span::Strong(c.to_string()),
                Span::Plain(format!(": not connected; /connect {c}")),
            ]));
        }
    }
    section(&mut blocks, "Grants", grants);

    let mut keys = Vec::new();
    for g in input
        .grants
        .iter()
        .filter(|g| g.method == Method::Key && g.status == Status::Active)
    {
        f.on_keys.push(g.client.clone());
        let age = (now - g.granted_at).num_days();
        let due = now - g.granted_at > days(input.key_rotation_days);
        if due {
            f.keys_due.push(g.client.clone());
        }
        keys.push(RichText(vec![
            Span::Strong(g.client.to_string()),
            Span::Plain(format!(
                ": private key, {age} days old{}; OAuth is safer: /connect {}",
                if due {
                    format!(", due for rotation (over {} days)", input.key_rotation_days)
                } else {
                    String::new()
                },
                g.client
            )),
        ]));
    }
    for c in &input.config_keys {
        f.on_keys.push(c.clone());
        f.keys_due.push(c.clone());
        keys.push(RichText(vec![
            Span::Strong(c.to_string()),
            Span::Plain(format!(
                ": private key from the config file, age unknown and no grantor or end on record; connect it by OAuth with /connect {c} and remove the key"
            )),
        ]));
    }
    section(&mut blocks, "Private API keys", keys);

    let mut idle = Vec::new();
    for (p, _) in &input.people {
        let last = input.last_active.get(p);
        if last.is_none_or(|at| now - *at > days(input.inactive_days)) {
            f.inactive.push(p.clone());
            idle.push(RichText(vec![
                person(p),
                Span::Plain(match last {
                    Some(at) => format!(
                        ": last active {}; remove them from [people] if they left",
                        local(*at)
                    ),
                    None => {
                        ": no activity on record; remove them from [people] if they left".into()
                    }
                }),
            ]));
        }
    }
    section(
        &mut blocks,
        &format!("No activity in {} days", input.inactive_days),
        idle,
    );

    f.unattributed = input.unattributed.len();
    let anon: Vec<RichText> = input
        .unattributed
        .iter()
        .map(|r| {
            RichText::plain(format!(
                "{}: {} ({}){}",
                local(r.at),
                r.entry.action,
                r.entry.surface.label(),
                r.entry
                    .detail
                    .as_deref()
                    .map(|d| format!(": {d}"))
                    .unwrap_or_default()
            ))
        })
        .collect();
    section(
        &mut blocks,
        &format!("Not attributable to a person ({} days)", input.window_days),
        anon,
    );

    let headline = if f.total() == 0 {
        "Access review: nothing needs attention.".to_owned()
    } else {
        format!(
            "Access review: {} item{} need attention.",
            f.total(),
            if f.total() == 1 { "" } else { "s" }
        )
    };
    blocks.insert(0, Block::Header(headline));
    let accent = if f.total() == 0 {
        Accent::Info
    } else {
        Accent::Severity(crate::domain::Severity::Warning)
    };
    (f, Message { accent, blocks })
}

/// Adds a titled section, or "none" when there is nothing to list.
fn section(blocks: &mut Vec<Block>, title: &str, lines: Vec<RichText>) {
    blocks.push(Block::Text(RichText(vec![Span::Strong(title.to_owned())])));
    if lines.is_empty() {
        blocks.push(Block::Context(RichText::plain("None.")));
        return;
    }
    let more = lines.len().saturating_sub(MAX_LINES);
    let mut body = RichText(Vec::new());
    for (i, l) in lines.into_iter().take(MAX_LINES).enumerate() {
        if i > 0 {
            body = body.push(Span::Plain("\n".into()));
        }
        body = body.push(Span::Plain("• ".into()));
        body.0.extend(l.0);
    }
    if more > 0 {
        body = body.push(Span::Plain(format!("\n… and {more} more")));
    }
    blocks.push(Block::Text(body));
}

fn join(slugs: &[ClientSlug]) -> String {
    slugs
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{Entry, Surface};
    use chrono::TimeZone;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 29, 12, 0, 0).unwrap()
    }

    fn slug(s: &str) -> ClientSlug {
        ClientSlug::parse(s).unwrap()
    }

    fn grant(
        c: &str,
        method: Method,
        granted_days_ago: i64,
        ends_in_days: i64,
        status: Status,
    ) -> Grant {
        Grant {
            client: slug(c),
            method,
            granted_by: Some(PersonRef::console("lee")),
            granted_at: now() - Duration::days(granted_days_ago),
            ends_at: now() + Duration::days(ends_in_days),
            scopes: vec!["flows:read".into()],
            last_used_at: None,
            status,
            status_detail: None,
        }
    }

    #[test]
    fn each_rule_flags_what_it_should_and_nothing_else() {
        let ana = PersonRef::console("ana");
        let lee = PersonRef::console("lee");
        let gone = PersonRef::console("gone");
        let input = AccessInput {
            people: vec![
                (lee.clone(), Role::Lead),
                (ana.clone(), Role::Am),
                (gone.clone(), Role::Am),
            ],
            owners: BTreeMap::from([(ana.clone(), vec![slug("acme")])]),
            clients: [
                "acme", "bluebird", "cedar", "dune", "ember", "fjord", "granite",
            ]
            .map(slug)
            .to_vec(),
            grants: vec![
                grant("acme", Method::OAuth, 10, 80, Status::Active),
                grant("bluebird", Method::OAuth, 80, 5, Status::Active),
                grant("cedar", Method::OAuth, 200, 100, Status::Active),
                grant("dune", Method::Key, 95, 200, Status::Active),
                grant("ember", Method::OAuth, 10, 80, Status::Reauth),
            ],
            config_keys: vec![slug("fjord")],
            last_active: BTreeMap::from([
                (lee.clone(), now() - Duration::days(1)),
                (ana.clone(), now() - Duration::days(59)),
                (gone.clone(), now() - Duration::days(61)),
            ]),
            unattributed: vec![Recorded {
                id: 1,
                at: now() - Duration::days(2),
                entry: Entry::system(Surface::ConfigFile, "config").detail("changed: people"),
            }],
            max_grant_age_days: 180,
            key_rotation_days: 90,
            inactive_days: 60,
            window_days: 7,
        };
        let (f, m) = review(&input, now(), Platform::Console, |t| {
            t.format("%Y-%m-%d").to_string()
        });
        assert_eq!(f.ending_soon, vec![slug("bluebird")]);
        assert_eq!(f.old_grants, vec![slug("cedar")]);
        assert_eq!(f.on_keys, vec![slug("dune"), slug("fjord")]);
        assert_eq!(f.keys_due, vec![slug("dune"), slug("fjord")]);
        assert_eq!(f.unreachable, vec![slug("ember"), slug("granite")]);
        assert_eq!(f.inactive, vec![gone.clone()]);
        assert_eq!(f.unattributed, 1);
        assert_eq!(f.total(), 10);
        let text = m.to_plain();
        assert!(text.contains("10 items need attention"), "{text}");
        assert!(text.contains("owner of acme"), "{text}");
        assert!(text.contains("changed: people"), "{text}");
        assert!(text.contains("/connect fjord"), "{text}");
        // Someone on another platform is named, not mentioned.
        let (_, slack) = review(&input, now(), Platform::Slack, |t| t.to_string());
        let mentions = slack.blocks.iter().any(
            |b| matches!(b, Block::Text(t) if t.0.iter().any(|s| matches!(s, Span::Mention(_)))),
        );
        assert!(!mentions);
    }

    #[test]
    fn a_clean_portfolio_says_so() {
        let input = AccessInput {
            clients: vec![slug("acme")],
            grants: vec![grant("acme", Method::OAuth, 10, 80, Status::Active)],
            max_grant_age_days: 180,
            key_rotation_days: 90,
            inactive_days: 60,
            window_days: 7,
            ..Default::default()
        };
        let (f, m) = review(&input, now(), Platform::Console, |t| t.to_string());
        assert_eq!(f.total(), 0);
        assert!(m.to_plain().contains("nothing needs attention"));
    }
}
