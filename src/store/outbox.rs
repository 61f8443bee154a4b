//! Outbox rows: every post, edit and thread reply waiting for (or done with) delivery.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{Db, StoreError};
use crate::domain::FindingId;
use crate::findings::ts;
use crate::message::{ChannelRef, MessageRef};

/// One row as the deliverer reads it.
#[derive(Debug, Clone, FromRow)]
pub struct OutboxRow {
    /// Row id (part of the idempotency key).
    pub id: i64,
    /// `platform:id` of the channel.
    pub channel: String,
    /// `post`, `update` or `reply`.
    pub op: String,
    /// The finding it belongs to, if any.
    pub finding_id: Option<i64>,
    /// The message, as JSON.
    pub body: String,
    /// Attempts so far.
    pub attempts: i64,
    /// Not before.
    pub next_attempt_at: DateTime<Utc>,
    /// Set while a delivery attempt was under way (a crash leaves it set).
    pub inflight_at: Option<DateTime<Utc>>,
}

/// Adds a row; returns its id.
pub async fn enqueue(
    db: &mut Db,
    op: &str,
    channel: &ChannelRef,
    finding: Option<FindingId>,
    body: &str,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (channel, op, finding_id, body, created_at, next_attempt_at)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(channel.to_string())
    .bind(op)
    .bind(finding.map(|f| f.0))
    .bind(body)
    .bind(ts(now))
    .bind(ts(now))
    .fetch_one(db.c())
    .await?;
    Ok(id)
}

/// The channels a finding has (or will have) its own message in: where a post row exists.
pub async fn posted_channels(
    db: &mut Db,
    finding: FindingId,
) -> Result<Vec<ChannelRef>, StoreError> {
    let rows: Vec<String> = sqlx::query_scalar(
        "SELECT DISTINCT channel FROM outbox WHERE op = 'post' AND finding_id = ? ORDER BY channel",
    )
    .bind(finding.0)
    .fetch_all(db.c())
    .await?;
    rows.iter()
        .map(|c| {
            ChannelRef::parse(c)
                .map_err(|e| StoreError::Corrupt(format!("outbox channel of {finding}: {e}")))
        })
        .collect()
}

/// Pending rows, oldest first.
pub async fn pending(db: &mut Db, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT id, channel, op, finding_id, body, attempts, next_attempt_at, inflight_at FROM outbox
         WHERE status = 'pending' ORDER BY id LIMIT ?",
    )
    .bind(limit)
    .fetch_all(db.c())
    .await?)
}

/// This database's install id, created on first use.
pub async fn install_id(db: &mut Db) -> Result<String, StoreError> {
    let candidate = format!("{:016x}", rand::random::<u64>());
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ('install-id', ?) ON CONFLICT (key) DO NOTHING",
    )
    .bind(&candidate)
    .execute(db.c())
    .await?;
    Ok(
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'install-id'")
            .fetch_one(db.c())
            .await?,
    )
}

/// Marks a delivery attempt as started.
pub async fn mark_inflight(db: &mut Db, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query("UPDATE outbox SET inflight_at = ? WHERE id = ?")
        .bind(ts(now))
        .bind(id)
        .execute(db.c())
        .await?;
    Ok(())
}

/// Replaces a row's message (the outbox records uploaded files in it).
pub async fn set_body(db: &mut Db, id: i64, body: &str) -> Result<(), StoreError> {
    sqlx::query("UPDATE outbox SET body = ? WHERE id = ?")
        .bind(body)
        .bind(id)
        .execute(db.c())
        .await?;
    Ok(())
}

/// Marks a row delivered.
pub async fn mark_sent(
    db: &mut Db,
    id: i64,
    posted: Option<&MessageRef>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE outbox SET status = 'sent', sent_at = ?, message_ref = ?, attempts = attempts + 1 WHERE id = ?",
    )
    .bind(ts(now))
    .bind(posted.map(|m| m.0.clone()))
    .bind(id)
    .execute(db.c())
    .await?;
    Ok(())
}

/// Schedules another attempt.
pub async fn mark_retry(
    db: &mut Db,
    id: i64,
    next: DateTime<Utc>,
    why: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?",
    )
    .bind(ts(next))
    .bind(why)
    .bind(id)
    .execute(db.c())
    .await?;
    Ok(())
}

/// Gives up on a row.
pub async fn mark_failed(db: &mut Db, id: i64, why: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?",
    )
    .bind(why)
    .bind(id)
    .execute(db.c())
    .await?;
    Ok(())
}

/// A row's status and the message it produced (tests and diagnostics).
pub async fn status(db: &mut Db, id: i64) -> Result<(String, Option<String>), StoreError> {
    Ok(
        sqlx::query_as("SELECT status, message_ref FROM outbox WHERE id = ?")
            .bind(id)
            .fetch_one(db.c())
            .await?,
    )
}

/// Counts of rows by status: (pending, sent, failed).
pub async fn counts(db: &mut Db) -> Result<(i64, i64, i64), StoreError> {
    Ok(sqlx::query_as(
        "SELECT coalesce(sum(status = 'pending'), 0), coalesce(sum(status = 'sent'), 0), coalesce(sum(status = 'failed'), 0) FROM outbox",
    )
    .fetch_one(db.c())
    .await?)
}
