//! The files a report is delivered with: its weekly chart as a PNG and its
//! text as a Markdown document, as attachment blocks of the neutral message.

use super::chart::{WeeklyPoint, weekly_chart};
use crate::message::{Attachment, Block, Media, Message};

/// Renders the weekly chart off the async runtime (a few hundred
/// milliseconds of pixel work); `None`, logged, when it cannot be drawn, so
/// the report still goes out without it.
pub async fn chart(title: String, currency: String, points: Vec<WeeklyPoint>) -> Option<Vec<u8>> {
    let drawn = tokio::task::spawn_blocking(move || weekly_chart(&title, &currency, &points)).await;
    match drawn {
        Ok(Ok(png)) => Some(png),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "report chart not drawn; sending the report without it");
            None
        }
        Err(e) => {
            tracing::warn!(error = %e, "report chart task failed; sending the report without it");
            None
        }
    }
}

/// Adds a report's chart (when drawn) and Markdown document to its message.
pub fn attach(
    message: &mut Message,
    stem: &str,
    title: &str,
    png: Option<Vec<u8>>,
    markdown: String,
) {
    if let Some(png) = png {
        message.blocks.push(Block::File(Attachment::new(
            stem,
            format!("{title} (chart)"),
            Media::Png,
            png,
        )));
    }
    message.blocks.push(Block::File(Attachment::new(
        stem,
        format!("{title} (Markdown, for the client deck)"),
        Media::Markdown,
        markdown.into_bytes(),
    )));
}
