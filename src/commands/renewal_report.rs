//! `/renewal-report <client> [days]`: what Lookout caught and the team fixed
//! for one client over the trailing window (90 days unless given), set against
//! a manual weekly check. Covers the one client only, so it may be shown in
//! that client's channel or the agency's; never from another client's.

use chrono::Duration;

use super::{Args, Ctx, HandlerFuture};
use crate::findings::Findings;
use crate::message::{Accent, Block, Message, RichText, Span};
use crate::reports::files;
use crate::reports::renewal::{self, Renewal, human_hours, money};
use crate::store::reports;

/// The window when none is given.
const DEFAULT_DAYS: u32 = 90;

/// Builds the report and shows it where it was asked.
pub fn run<'a>(ctx: &'a Ctx, args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let client = ctx.need(args.client("client"), "client")?;
        let entry = ctx.app.clients.get(&client)?;
        ctx.allowed_here(&client, &format!("/renewal-report {client}"))?;
        let days = args.days("days").unwrap_or(DEFAULT_DAYS);
        let to = ctx.now;
        let from = to - Duration::days(i64::from(days));
        let mut db = ctx.app.store.begin().await?;
        reports::record_request(
            &mut db,
            "renewal-report",
            Some(&client),
            &ctx.inv.person,
            &ctx.inv.channel,
            ctx.now,
        )
        .await?;
        let found = Findings::touched_between(&mut db, &client, from, to).await?;
        db.commit().await?;
        let r = renewal::renewal(&found, from, to, &entry.profile.currency);
        let name = &entry.profile.name;
        let mut message = summary(&r, name, days);
        let png = files::chart(
            format!("{name}: findings and value flagged by week, last {days} days"),
            r.currency.clone(),
            r.weeks.clone(),
        )
        .await;
        let stem = format!("renewal-{client}-{days}d-{}", to.format("%Y-%m-%d"));
        let title = format!("Renewal report, {name}, last {days} days");
        files::attach(&mut message, &stem, &title, png, r.markdown(name));
        ctx.show_with_files(&format!("The renewal report for {name}"), message)
            .await
    })
}

/// The report as a chat message.
pub fn summary(r: &Renewal, client_name: &str, days: u32) -> Message {
    let c = &r.currency;
    let spread = |s: Option<renewal::Spread>| match s {
        Some(s) => format!(
            "{} mean, {} median",
            human_hours(s.mean_hours),
            human_hours(s.median_hours)
        ),
        None => "no data yet".into(),
    };
    let mut blocks = vec![
        Block::Header(format!(
            "Renewal report for {client_name}: last {days} days"
        )),
        Block::Fields(vec![
            ("Opened".into(), RichText::plain(r.opened.to_string())),
            (
                "Closed".into(),
                RichText::plain(format!(
                    "{} ({} by the team, {} on their own)",
                    r.closed, r.closed_by_team, r.cleared
                )),
            ),
            ("Flagged".into(), RichText::plain(money(r.flagged_minor, c))),
            (
                "Recovered".into(),
                RichText::plain(money(r.recovered_minor, c)),
            ),
            (
                "Detection lead time".into(),
                RichText::plain(spread(r.lead)),
            ),
            (
                "Time to acknowledge".into(),
                RichText::plain(spread(r.to_ack)),
            ),
            (
                "Time to resolve".into(),
                RichText::plain(spread(r.to_resolve)),
            ),
            (
                "Manual weekly check".into(),
                RichText::plain(format!(
                    "{} on average, {} at worst",
                    human_hours(renewal::MANUAL_MEAN_HOURS),
                    human_hours(renewal::MANUAL_WORST_HOURS)
                )),
            ),
        ]),
    ];
    if let Some(x) = r.speedup() {
        blocks.push(Block::Text(RichText(vec![
            Span::Plain("Problems were caught ".into()),
            Span::Strong(format!("{x:.0}× sooner")),
            Span::Plain(" than a manual weekly check would have.".into()),
        ])));
    }
    for f in &r.top {
        blocks.push(Block::Text(RichText(vec![
            Span::Code(f.id.to_string()),
            Span::Plain(format!(
                " {} · {} · {}",
                crate::routing::cards::truncate(&f.title, crate::routing::cards::MAX_TITLE_IN_LIST),
                money(f.value.as_ref().map(|v| v.minor).unwrap_or(0), c),
                f.state.as_str()
            )),
        ])));
    }
    Message {
        accent: Accent::Info,
        blocks,
    }
}
