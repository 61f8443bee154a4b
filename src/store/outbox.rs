//! Outbox rows: every post, edit and thread reply waiting for (or done with) delivery.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{Db, StoreError, Ts};
use crate::domain::FindingId;
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
    let id: i64 = run!(
        fetch_one,
        db,
        sqlx::query_scalar(
            "INSERT INTO outbox (channel, op, finding_id, body, created_at, next_attempt_at)
             VALUES ($1, $2, $3, $4, $5, $5) RETURNING id",
        )
        .bind(channel.to_string())
        .bind(op)
        .bind(finding.map(|f| f.0))
        .bind(body)
        .bind(Ts(now))
    )?;
    Ok(id)
}

/// The channels a finding has (or will have) its own message in: where a post row exists.
pub async fn posted_channels(
    db: &mut Db,
    finding: FindingId,
) -> Result<Vec<ChannelRef>, StoreError> {
    let rows: Vec<String> = run!(
        fetch_all,
        db,
        sqlx::query_scalar(
            "SELECT DISTINCT channel FROM outbox WHERE op = 'post' AND finding_id = $1 ORDER BY channel",
        )
        .bind(finding.0)
    )?;
    rows.iter()
        .map(|c| {
            ChannelRef::parse(c)
                .map_err(|e| StoreError::Corrupt(format!("outbox channel of {finding}: {e}")))
        })
        .collect()
}

/// Pending rows, oldest first.
pub async fn pending(db: &mut Db, limit: i64) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(run!(
        fetch_all,
        db,
        sqlx::query_as(
            "SELECT id, channel, op, finding_id, body, attempts, next_attempt_at, inflight_at FROM outbox
             WHERE status = 'pending' ORDER BY id LIMIT $1",
        )
        .bind(limit)
    )?)
}

/// A channel's pending rows, oldest first.
pub async fn pending_in(
    db: &mut Db,
    channel: &str,
    limit: i64,
) -> Result<Vec<OutboxRow>, StoreError> {
    Ok(run!(
        fetch_all,
        db,
        sqlx::query_as(
            "SELECT id, channel, op, finding_id, body, attempts, next_attempt_at, inflight_at FROM outbox
             WHERE status = 'pending' AND channel = $1 ORDER BY id LIMIT $2",
        )
        .bind(channel)
        .bind(limit)
    )?)
}

/// This database's install id, created on first use.
pub async fn install_id(db: &mut Db) -> Result<String, StoreError> {
    let candidate = format!("{:016x}", rand::random::<u64>());
    run!(
        execute,
        db,
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES ('install-id', $1) ON CONFLICT (key) DO NOTHING",
        )
        .bind(&candidate)
    )?;
    Ok(run!(
        fetch_one,
        db,
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'install-id'")
    )?)
}

/// Marks a delivery attempt as started.
pub async fn mark_inflight(db: &mut Db, id: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
    run!(
        execute,
        db,
        sqlx::query("UPDATE outbox SET inflight_at = $1 WHERE id = $2")
            .bind(Ts(now))
            .bind(id)
    )?;
    Ok(())
}

/// Replaces a row's message (the outbox records uploaded files in it).
pub async fn set_body(db: &mut Db, id: i64, body: &str) -> Result<(), StoreError> {
    run!(
        execute,
        db,
        sqlx::query("UPDATE outbox SET body = $1 WHERE id = $2")
            .bind(body)
            .bind(id)
    )?;
    Ok(())
}

/// Marks a row delivered.
pub async fn mark_sent(
    db: &mut Db,
    id: i64,
    posted: Option<&MessageRef>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    run!(
        execute,
        db,
        sqlx::query(
            "UPDATE outbox SET status = 'sent', sent_at = $1, message_ref = $2, attempts = attempts + 1
             WHERE id = $3",
        )
        .bind(Ts(now))
        .bind(posted.map(|m| m.0.clone()))
        .bind(id)
    )?;
    Ok(())
}

/// Schedules another attempt.
pub async fn mark_retry(
    db: &mut Db,
    id: i64,
    next: DateTime<Utc>,
    why: &str,
) -> Result<(), StoreError> {
    run!(
        execute,
        db,
        sqlx::query(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $1, last_error = $2 WHERE id = $3",
        )
        .bind(Ts(next))
        .bind(why)
        .bind(id)
    )?;
    Ok(())
}

/// Gives up on a row.
pub async fn mark_failed(db: &mut Db, id: i64, why: &str) -> Result<(), StoreError> {
    run!(
        execute,
        db,
        sqlx::query(
            "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = $1 WHERE id = $2",
        )
        .bind(why)
        .bind(id)
    )?;
    Ok(())
}

/// A row's status and the message it produced (tests and diagnostics).
pub async fn status(db: &mut Db, id: i64) -> Result<(String, Option<String>), StoreError> {
    Ok(run!(
        fetch_one,
        db,
        sqlx::query_as("SELECT status, message_ref FROM outbox WHERE id = $1").bind(id)
    )?)
}

/// One row with its status, as diagnostics and tests read the whole outbox.
#[derive(Debug, Clone, FromRow)]
pub struct OutboxEntry {
    /// Row id.
    pub id: i64,
    /// `platform:id` of the channel.
    pub channel: String,
    /// `post`, `update` or `reply`.
    pub op: String,
    /// `pending`, `sent` or `failed`.
    pub status: String,
    /// The finding it belongs to, if any.
    pub finding_id: Option<i64>,
    /// The message, as JSON.
    pub body: String,
}

/// Every row, oldest first (tests and diagnostics).
pub async fn all(db: &mut Db) -> Result<Vec<OutboxEntry>, StoreError> {
    Ok(run!(
        fetch_all,
        db,
        sqlx::query_as("SELECT id, channel, op, status, finding_id, body FROM outbox ORDER BY id",)
    )?)
}

/// When each row was written and when it was delivered, if it was (benchmarks).
pub async fn delivery_times(
    db: &mut Db,
) -> Result<Vec<(DateTime<Utc>, Option<DateTime<Utc>>)>, StoreError> {
    Ok(run!(
        fetch_all,
        db,
        sqlx::query_as("SELECT created_at, sent_at FROM outbox ORDER BY id")
    )?)
}

/// Counts of rows by status: (pending, sent, failed).
pub async fn counts(db: &mut Db) -> Result<(i64, i64, i64), StoreError> {
    // `count(*) FILTER`: SQLite's `sum(status = 'pending')` adds booleans,
    // which PostgreSQL does not, and its `sum` of integers is NUMERIC there;
    // `count` is a 64-bit integer (0 on no rows) on both.
    Ok(run!(
        fetch_one,
        db,
        sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'sent'),
                    count(*) FILTER (WHERE status = 'failed')
             FROM outbox",
        )
    )?)
}
