//! Who asked for which report, and when.

use chrono::{DateTime, Utc};

use super::{Db, StoreError, Ts};
use crate::domain::ClientSlug;
use crate::message::{ChannelRef, PersonRef};

/// Records a report request.
pub async fn record_request(
    db: &mut Db,
    report: &str,
    client: Option<&ClientSlug>,
    by: &PersonRef,
    channel: &ChannelRef,
    at: DateTime<Utc>,
) -> Result<(), StoreError> {
    run!(
        execute,
        db,
        sqlx::query(
            "INSERT INTO report_requests (report, client, requested_by, channel, at)
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(report)
        .bind(client.map(|c| c.as_str().to_owned()))
        .bind(by.to_string())
        .bind(channel.to_string())
        .bind(Ts(at))
    )?;
    Ok(())
}

/// The requests recorded, oldest first: (report, client, who, at).
pub async fn requests(
    db: &mut Db,
) -> Result<Vec<(String, Option<String>, String, DateTime<Utc>)>, StoreError> {
    Ok(run!(
        fetch_all,
        db,
        sqlx::query_as("SELECT report, client, requested_by, at FROM report_requests ORDER BY id")
    )?)
}
