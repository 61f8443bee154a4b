//! `/portfolio`: exception-only, the clients with an open critical or warning
//! finding, most dollars at stake first, one line each with severity counts,
//! the oldest open finding's age and a link to the client's channel. It spans
//! clients, so it is answered in the agency channel or privately, never in a
//! client's channel.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::{Args, Ctx, HandlerFuture};
use crate::app::info;
use crate::domain::{ClientSlug, Severity};
use crate::findings::{Finding, Findings};
use crate::message::{Accent, Block, Message, RichText, Span};
use crate::reports::renewal::{human_hours, money};

/// One client's line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The client.
    pub client: ClientSlug,
    /// Open critical, warning and opportunity findings.
    pub counts: [usize; 3],
    /// Value at stake of its open findings, minor units.
    pub at_stake_minor: i64,
    /// When its oldest open critical or warning finding was detected.
    pub oldest: DateTime<Utc>,
}

/// The clients that need attention, most at stake first (pure, for tests).
pub fn portfolio_rows(active: &[Finding]) -> Vec<Row> {
    let mut rows: BTreeMap<ClientSlug, Row> = BTreeMap::new();
    for f in active.iter().filter(|f| f.state.is_active()) {
        let r = rows.entry(f.client.clone()).or_insert_with(|| Row {
            client: f.client.clone(),
            counts: [0; 3],
            at_stake_minor: 0,
            oldest: DateTime::<Utc>::MAX_UTC,
        });
        let i = match f.severity {
            Severity::Critical => 0,
            Severity::Warning => 1,
            Severity::Opportunity => 2,
        };
        r.counts[i] += 1;
        r.at_stake_minor += f.value.as_ref().map(|v| v.minor).unwrap_or(0);
        if f.severity != Severity::Opportunity {
            r.oldest = r.oldest.min(f.detected_at);
        }
    }
    let mut v: Vec<Row> = rows
        .into_values()
        .filter(|r| r.counts[0] + r.counts[1] > 0)
        .collect();
    v.sort_by(|a, b| {
        b.at_stake_minor
            .cmp(&a.at_stake_minor)
            .then(b.counts.cmp(&a.counts))
            .then(a.client.cmp(&b.client))
    });
    v
}

/// Answers with one line per client that needs attention.
pub fn run<'a>(ctx: &'a Ctx, _args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let active = Findings::active(&mut ctx.app.store.conn().await?, None, None).await?;
        let rows = portfolio_rows(&active);
        let message = if rows.is_empty() {
            info("No client has an open critical or warning finding.")
        } else {
            let total = ctx.app.clients.len();
            let mut blocks = vec![Block::Header(format!(
                "Portfolio: {} of {total} clients need attention",
                rows.len()
            ))];
            for row in rows {
                let entry = ctx.app.clients.get(&row.client).ok();
                let name = entry
                    .as_ref()
                    .map(|c| c.route.client_name.clone())
                    .unwrap_or_else(|| row.client.to_string());
                let currency = entry
                    .as_ref()
                    .map(|c| c.profile.currency.clone())
                    .unwrap_or_else(|| "USD".into());
                let mut parts = Vec::new();
                for (n, label) in [
                    (row.counts[0], "critical"),
                    (row.counts[1], "warning"),
                    (row.counts[2], "opportunity"),
                ] {
                    if n > 0 {
                        parts.push(format!("{n} {label}"));
                    }
                }
                let age = (ctx.now - row.oldest).num_seconds().max(0) as f64 / 3600.0;
                let mut line = vec![
                    Span::Strong(name),
                    Span::Plain(format!(
                        " ({}) · {} · {} at stake · oldest open {}",
                        row.client,
                        parts.join(", "),
                        money(row.at_stake_minor, &currency),
                        human_hours(age)
                    )),
                ];
                if let Some(channel) = entry
                    .as_ref()
                    .and_then(|c| c.route.channel_on(ctx.inv.channel.platform))
                {
                    line.push(Span::Plain(" · ".into()));
                    line.push(Span::Channel(channel.clone()));
                }
                blocks.push(Block::Text(RichText(line)));
            }
            Message {
                accent: Accent::Info,
                blocks,
            }
        };
        ctx.cross_client("/portfolio", message)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Money;
    use chrono::TimeZone;

    fn f(id: i64, client: &str, sev: Severity, dollars: f64, day: u32) -> Finding {
        let detected = Utc.with_ymd_and_hms(2026, 11, day, 0, 0, 0).unwrap();
        let mut f = crate::findings::fixture(id, client, sev, detected);
        f.value = Some(Money::from_major(dollars, "USD"));
        f
    }

    #[test]
    fn exceptions_only_most_at_stake_first_with_the_oldest_open() {
        let rows = portfolio_rows(&[
            f(1, "acme", Severity::Warning, 100.0, 5),
            f(2, "acme", Severity::Critical, 50.0, 3),
            f(3, "acme", Severity::Opportunity, 900.0, 1),
            f(4, "bluebird", Severity::Warning, 2_000.0, 4),
            // Opportunities alone are not an exception.
            f(5, "cedar", Severity::Opportunity, 5_000.0, 2),
        ]);
        let got: Vec<(&str, [usize; 3], i64, u32)> = rows
            .iter()
            .map(|r| {
                (
                    r.client.as_str(),
                    r.counts,
                    r.at_stake_minor,
                    chrono::Datelike::day(&r.oldest),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("bluebird", [0, 1, 0], 200_000, 4),
                ("acme", [1, 1, 1], 105_000, 3)
            ]
        );
    }
}
