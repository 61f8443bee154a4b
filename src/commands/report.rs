//! `/report <client> [month]`: the monthly client report in the agency's one
//! template, with its chart and Markdown document. It covers one client, so
//! it may be shown in that client's channel or the agency's.

use super::{Args, Ctx, HandlerFuture, MonthSpec};
use crate::findings::Findings;
use crate::message::{Accent, Block, Message, RichText, Span};
use crate::reports::files;
use crate::reports::monthly::{self, Month, Monthly, percent};
use crate::reports::renewal::{human_hours, money};
use crate::routing::cards::{MAX_TITLE_IN_LIST, truncate};
use crate::store::{reports, scans};

/// Open items listed in chat (the document lists more).
const MAX_OPEN_SHOWN: usize = 5;

/// Builds the report and shows it where it was asked.
pub fn run<'a>(ctx: &'a Ctx, args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let client = ctx.need(args.client("client"), "client")?;
        let entry = ctx.app.clients.get(&client)?;
        ctx.allowed_here(&client, &format!("/report {client}"))?;
        let month = which_month(args.month("month"), ctx.now);
        if month.start() > ctx.now {
            return Err(super::CommandError::Refused(format!(
                "{} has not started yet; ask for a month that has",
                month.label()
            )));
        }
        let mut db = ctx.app.store.begin().await?;
        reports::record_request(
            &mut db,
            "report",
            Some(&client),
            &ctx.inv.person,
            &ctx.inv.channel,
            ctx.now,
        )
        .await?;
        let to = month.end().min(ctx.now);
        let found = Findings::active_during(&mut db, &client, month.start(), to).await?;
        let scanned = scans::between(&mut db, &client, month.start(), to).await?;
        db.commit().await?;
        let r = monthly::monthly(&found, &scanned, month, ctx.now, &entry.profile.currency);
        let name = &entry.profile.name;
        let mut message = summary(&r, name);
        let png = files::chart(
            format!(
                "{name}: findings and value flagged by week, {}",
                month.label()
            ),
            r.currency.clone(),
            r.weeks.clone(),
        )
        .await;
        let stem = format!("report-{client}-{}", month.key());
        let title = r.title(name);
        files::attach(&mut message, &stem, &title, png, r.markdown(name));
        ctx.show_with_files(&format!("The {} report for {name}", month.label()), message)
            .await
    })
}

/// The month asked for: a named month's latest occurrence, or last month.
fn which_month(spec: Option<MonthSpec>, now: chrono::DateTime<chrono::Utc>) -> Month {
    match spec {
        Some(MonthSpec {
            year: Some(y),
            month,
        }) => Month::new(y, month),
        Some(MonthSpec { year: None, month }) => Month::latest_named(month, now),
        None => None,
    }
    .unwrap_or_else(|| Month::of(now).previous())
}

/// The report as a chat message: the template's sections in brief.
pub fn summary(r: &Monthly, client_name: &str) -> Message {
    let c = &r.currency;
    let last = r.trend.last();
    let mut blocks = vec![
        Block::Header(r.title(client_name)),
        Block::Fields(vec![
            (
                "Checked".into(),
                RichText::plain(format!("{} scans, {} checks each", r.scans, r.checks_run)),
            ),
            (
                "Found".into(),
                RichText::plain(format!(
                    "{} findings, {} flagged",
                    r.opened,
                    money(r.flagged_minor, c)
                )),
            ),
            (
                "Fixed".into(),
                RichText::plain(format!(
                    "{} by the team{}, {} cleared on their own",
                    r.fixed.len(),
                    r.mean_hours_to_fix
                        .map(|h| format!(" (in {} on average)", human_hours(h)))
                        .unwrap_or_default(),
                    r.cleared
                )),
            ),
            (
                "Open at the end".into(),
                RichText::plain(r.open_items.len().to_string()),
            ),
            (
                "Bounce rate, last week".into(),
                RichText::plain(percent(last.and_then(|w| w.bounce_rate))),
            ),
            (
                "Revenue at risk, last week".into(),
                RichText::plain(money(last.map_or(0, |w| w.at_risk_minor), c)),
            ),
        ]),
    ];
    for f in r.open_items.iter().take(MAX_OPEN_SHOWN) {
        blocks.push(Block::Text(RichText(vec![
            Span::Code(f.id.to_string()),
            Span::Plain(format!(
                " {} · {} · {}",
                truncate(&f.title, MAX_TITLE_IN_LIST),
                f.severity.as_str(),
                money(f.value.as_ref().map_or(0, |v| v.minor), c)
            )),
        ])));
    }
    Message {
        accent: Accent::Info,
        blocks,
    }
}
