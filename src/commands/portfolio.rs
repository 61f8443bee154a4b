//! `/portfolio`: the clients with something open, worst first. It spans
//! clients, so it is answered in the agency channel or privately, never in a
//! client's channel.

use std::collections::BTreeMap;

use super::{Args, Ctx, HandlerFuture};
use crate::app::info;
use crate::domain::{ClientSlug, Severity};
use crate::findings::{Finding, Findings};
use crate::message::{Accent, Block, Message, RichText, Span};

/// Severity counts of unresolved findings per client, worst first.
pub fn portfolio_rows(active: &[Finding]) -> Vec<(ClientSlug, [usize; 3])> {
    let mut rows: BTreeMap<ClientSlug, [usize; 3]> = BTreeMap::new();
    for f in active {
        let r = rows.entry(f.client.clone()).or_default();
        let i = match f.severity {
            Severity::Critical => 0,
            Severity::Warning => 1,
            Severity::Opportunity => 2,
        };
        r[i] += 1;
    }
    let mut v: Vec<_> = rows.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    v
}

/// Answers with one line per client that needs attention.
pub fn run<'a>(ctx: &'a Ctx, _args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let active = Findings::active(&mut ctx.app.store.conn().await?, None, None).await?;
        let rows = portfolio_rows(&active);
        let message = if rows.is_empty() {
            info("All clients are clear: nothing open.")
        } else {
            let total = ctx.app.clients.len();
            let mut blocks = vec![Block::Header(format!(
                "Portfolio: {} of {total} clients need attention",
                rows.len()
            ))];
            for (slug, [crit, warn, opp]) in rows {
                let name = ctx
                    .app
                    .clients
                    .get(&slug)
                    .map(|c| c.route.client_name.clone())
                    .unwrap_or_else(|_| slug.to_string());
                let mut parts = Vec::new();
                for (n, label) in [(crit, "critical"), (warn, "warning"), (opp, "opportunity")] {
                    if n > 0 {
                        parts.push(format!("{n} {label}"));
                    }
                }
                blocks.push(Block::Text(RichText(vec![
                    Span::Strong(name),
                    Span::Plain(format!(" ({slug}): {}", parts.join(", "))),
                ])));
            }
            Message {
                accent: Accent::Info,
                blocks,
            }
        };
        ctx.cross_client("/portfolio", message)
    })
}
