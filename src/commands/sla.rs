//! `/sla [pod|owner] [days]`: time to acknowledge and to resolve by severity,
//! per owner and per pod, against the targets in `[sla]`, with the breaches.
//! It spans clients, so it is answered in the agency channel or privately.

use chrono::Duration;

use super::{Args, Ctx, HandlerFuture};
use crate::domain::Severity;
use crate::findings::Findings;
use crate::message::{Accent, Block, Message, PersonRef, RichText, Span};
use crate::reports::renewal::{Spread, human_hours};
use crate::reports::sla::{self, Line, Owned, Target};
use crate::store::reports;

/// The window when none is given.
const DEFAULT_DAYS: u32 = 30;
/// Most breaches listed in chat.
const MAX_BREACHES: usize = 10;

/// Builds the report for the scope asked and shows it where allowed.
pub fn run<'a>(ctx: &'a Ctx, args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let days = args.days("days").unwrap_or(DEFAULT_DAYS);
        let scope = args.text("scope");
        // A person (`slack:U0ANA`, `@slack:U0ANA`) narrows to their clients; a word to a pod.
        let person = scope.as_deref().and_then(|s| PersonRef::parse(s).ok());
        let to = ctx.now;
        let from = to - Duration::days(i64::from(days));
        let mut db = ctx.app.store.begin().await?;
        reports::record_request(&mut db, "sla", None, &ctx.inv.person, &ctx.inv.channel, to)
            .await?;
        let mut found = Vec::new();
        for c in ctx.app.clients.all() {
            found.extend(Findings::timings(&mut db, &c.profile.slug, from, to).await?);
        }
        db.commit().await?;
        let owned: Vec<Owned<'_>> = found
            .iter()
            .filter_map(|f| {
                let entry = ctx.app.clients.get(&f.client).ok()?;
                let owners: Vec<&PersonRef> = entry.route.owners().collect();
                let keep = match (&person, scope.as_deref()) {
                    (Some(p), _) => owners.contains(&p),
                    (None, Some(pod)) => entry.route.pod.as_deref() == Some(pod),
                    (None, None) => true,
                };
                keep.then(|| Owned {
                    finding: f,
                    owner: owners.first().map(|p| p.id.clone()),
                    pod: entry.route.pod.clone(),
                })
            })
            .collect();
        let targets = &ctx.app.config.sla;
        let report = sla::sla(
            &owned,
            |s| match s {
                Severity::Critical => Target {
                    ack: Duration::minutes(i64::from(targets.critical_ack_minutes)),
                    resolve: Duration::hours(i64::from(targets.critical_resolve_hours)),
                },
                Severity::Warning => Target {
                    ack: Duration::minutes(i64::from(targets.warning_ack_minutes)),
                    resolve: Duration::hours(i64::from(targets.warning_resolve_hours)),
                },
                Severity::Opportunity => Target {
                    ack: Duration::minutes(i64::from(targets.opportunity_ack_minutes)),
                    resolve: Duration::hours(i64::from(targets.opportunity_resolve_hours)),
                },
            },
            to,
        );
        let heading = format!(
            "SLA, last {days} days{}",
            scope
                .as_deref()
                .map(|s| format!(" for {s}"))
                .unwrap_or_default()
        );
        let mut blocks = vec![Block::Header(heading)];
        let spread = |s: Option<Spread>| {
            s.map(|s| format!("{} median", human_hours(s.median_hours)))
                .unwrap_or_else(|| "—".into())
        };
        let text = |l: &Line| {
            format!(
                "{} findings · acknowledged {} · resolved {} · {} breach{}",
                l.findings,
                spread(l.to_ack),
                spread(l.to_resolve),
                l.breaches,
                if l.breaches == 1 { "" } else { "es" }
            )
        };
        for l in &report.by_severity {
            blocks.push(Block::Text(RichText(vec![
                Span::Strong(l.name.clone()),
                Span::Plain(format!(": {}", text(l))),
            ])));
        }
        for (title, lines) in [("By owner", &report.by_owner), ("By pod", &report.by_pod)] {
            if lines.is_empty() {
                continue;
            }
            blocks.push(Block::Context(RichText::plain(title)));
            for l in lines.iter().take(MAX_BREACHES) {
                blocks.push(Block::Text(RichText(vec![
                    Span::Strong(l.name.clone()),
                    Span::Plain(format!(": {}", text(l))),
                ])));
            }
        }
        if !report.breaches.is_empty() {
            let lines: Vec<String> = report
                .breaches
                .iter()
                .take(MAX_BREACHES)
                .map(|b| {
                    format!(
                        "{} ({}): {} took {} (target {})",
                        b.finding,
                        b.severity,
                        b.what,
                        human_hours(b.took_hours),
                        human_hours(b.target_hours)
                    )
                })
                .collect();
            blocks.push(Block::Context(RichText::plain(format!(
                "Breaches{}",
                if report.breaches.len() > MAX_BREACHES {
                    format!(" (first {MAX_BREACHES} of {})", report.breaches.len())
                } else {
                    String::new()
                }
            ))));
            blocks.push(Block::Text(RichText::plain(lines.join("\n"))));
        }
        ctx.cross_client(
            "/sla",
            Message {
                accent: Accent::Info,
                blocks,
            },
        )
    })
}
