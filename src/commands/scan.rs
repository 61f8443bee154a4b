//! `/scan <client>`: scan now, show progress by editing one message, then
//! leave the summary in its place.

use std::sync::Arc;

use tracing::warn;

use super::{Args, Ctx, HandlerFuture, Reply};
use crate::app::AppError;
use crate::app::{App, info};
use crate::domain::ClientSlug;
use crate::message::{Accent, Block, ChannelRef, Message, RichText};
use crate::routing::cards;
use crate::scan::fetch::ScanProgress;
use crate::scan::pipeline::ScanReport;

/// Starts the scan in the background and says so privately.
pub fn run<'a>(ctx: &'a Ctx, args: &'a Args) -> HandlerFuture<'a> {
    Box::pin(async move {
        let client = ctx.need(args.client("client"), "client")?;
        ctx.app.clients.get(&client)?;
        ctx.allowed_here(&client, &format!("/scan {client}"))?;
        if ctx.app.is_scanning(&client) {
            return Err(AppError::AlreadyScanning(client).into());
        }
        start_scan(ctx.app.clone(), ctx.inv.channel.clone(), client.clone());
        Ok(Reply::private(info(format!(
            "Scanning {client}: progress follows in this channel."
        ))))
    })
}

/// Runs a scan in the background, showing progress by editing one message.
fn start_scan(app: Arc<App>, channel: ChannelRef, client: ClientSlug) {
    tokio::spawn(async move {
        let progress_ref = match app
            .chat
            .post(&channel, &info(format!("Scanning {client}…")), None)
            .await
        {
            Ok(r) => Some(r),
            Err(e) => {
                warn!(error = %e, "could not post scan progress");
                None
            }
        };
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<ScanProgress>();
        let editor = {
            let app = app.clone();
            let channel = channel.clone();
            let progress_ref = progress_ref.clone();
            let client = client.clone();
            tokio::spawn(async move {
                let mut last_shown = 0usize;
                while let Some(p) = rx.recv().await {
                    // Edit at most every quarter of the way so chat is not flooded.
                    let quarter = (p.total / 4).max(1);
                    if p.done < p.total && p.done < last_shown + quarter {
                        continue;
                    }
                    last_shown = p.done;
                    if let Some(r) = &progress_ref {
                        let text =
                            format!("Scanning {client}: {}/{} ({})", p.done, p.total, p.step);
                        if let Err(e) = app.chat.update(&channel, r, &info(text)).await {
                            warn!(error = %e, "could not update scan progress");
                        }
                    }
                }
            })
        };
        let result = app.scan(&client, "command", Some(&tx)).await;
        drop(tx);
        let _ = editor.await;
        let summary = match result {
            Ok(report) => scan_summary(&report),
            Err(e) => Message::text(Accent::Error, format!("Scan of {client} failed: {e}")),
        };
        let delivered = match &progress_ref {
            Some(r) => app.chat.update(&channel, r, &summary).await,
            None => app.chat.post(&channel, &summary, None).await.map(|_| ()),
        };
        if let Err(e) = delivered {
            warn!(error = %e, "could not post scan summary");
        }
    });
}

/// The message a finished `/scan` leaves behind.
pub fn scan_summary(r: &ScanReport) -> Message {
    use crate::findings::ChangeKind as K;
    let count = |k: fn(&K) -> bool| r.changes.iter().filter(|c| k(&c.kind)).count();
    let new = count(|k| matches!(k, K::Detected | K::Reopened));
    let cleared = count(|k| matches!(k, K::Cleared));
    let mut heading = format!(
        "Scan of {} done: {} open, {new} new, {cleared} cleared ({} API calls)",
        r.client,
        r.active.len(),
        r.api_calls
    );
    if r.onboarding {
        heading.push_str(" · onboarding audit");
    }
    let mut msg = if r.active.is_empty() {
        info(heading)
    } else {
        cards::finding_list(
            Accent::Info,
            &heading,
            &r.active,
            &format!("Type /findings {} for the rest.", r.client),
        )
    };
    if !r.gaps.is_empty() {
        msg.blocks.push(Block::Context(RichText::plain(format!(
            "Could not read: {}",
            r.gaps.join("; ")
        ))));
    }
    msg
}
