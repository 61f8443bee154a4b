//! Scan rows and each client's baseline snapshot.

use chrono::{DateTime, Utc};

use super::{Db, StoreError, Ts};
use crate::domain::ClientSlug;

/// One finished scan, as recorded.
#[derive(Debug, Clone)]
pub struct ScanRow<'a> {
    /// Which client.
    pub client: &'a ClientSlug,
    /// What started it (`schedule`, `command`, `cli`).
    pub trigger: &'a str,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// End.
    pub finished_at: DateTime<Utc>,
    /// `done` or `failed`.
    pub status: &'a str,
    /// Klaviyo API calls made.
    pub api_calls: u64,
    /// Observations the checks made.
    pub observations: usize,
    /// What could not be read.
    pub gaps: String,
    /// Checks that ran.
    pub checks_run: usize,
    /// Deliverability in the 24 hours before the scan, when it could be read.
    pub delivery: Option<Delivery>,
}

/// Email delivery counts over a day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Delivery {
    /// Received Email events.
    pub received: f64,
    /// Bounced Email events.
    pub bounced: f64,
    /// Marked Email as Spam events.
    pub spam: f64,
}

/// A recorded scan, as reports read it.
#[derive(Debug, Clone, PartialEq)]
pub struct ScanStat {
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// `done` or `failed`.
    pub status: String,
    /// Checks that ran.
    pub checks_run: u32,
    /// Deliverability in the 24 hours before it.
    pub delivery: Option<Delivery>,
}

/// Every recorded scan's client, start and end, in start order (tests and
/// diagnostics: whether two scans of a client ever overlapped).
pub async fn intervals(
    db: &mut Db,
) -> Result<Vec<(String, DateTime<Utc>, Option<DateTime<Utc>>)>, StoreError> {
    Ok(run!(
        fetch_all,
        db,
        sqlx::query_as("SELECT client, started_at, finished_at FROM scans ORDER BY started_at, id")
    )?)
}

/// Records a scan.
pub async fn record_scan(db: &mut Db, row: &ScanRow<'_>) -> Result<(), StoreError> {
    run!(
        execute,
        db,
        sqlx::query(
            "INSERT INTO scans (client, trigger, started_at, finished_at, status, api_calls, observations, gaps,
                                checks_run, received_24h, bounced_24h, spam_24h)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(row.client.as_str())
        .bind(row.trigger)
        .bind(Ts(row.started_at))
        .bind(Ts(row.finished_at))
        .bind(row.status)
        .bind(i64::try_from(row.api_calls).unwrap_or(i64::MAX))
        .bind(i64::try_from(row.observations).unwrap_or(i64::MAX))
        .bind(&row.gaps)
        .bind(i64::try_from(row.checks_run).unwrap_or(i64::MAX))
        .bind(row.delivery.map(|d| d.received))
        .bind(row.delivery.map(|d| d.bounced))
        .bind(row.delivery.map(|d| d.spam))
    )?;
    Ok(())
}

/// A client's scans started in `[from, to]`, oldest first.
pub async fn between(
    db: &mut Db,
    client: &ClientSlug,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<ScanStat>, StoreError> {
    type Raw = (
        DateTime<Utc>,
        String,
        i64,
        Option<f64>,
        Option<f64>,
        Option<f64>,
    );
    let rows: Vec<Raw> = run!(
        fetch_all,
        db,
        sqlx::query_as(
            "SELECT started_at, status, checks_run, received_24h, bounced_24h, spam_24h FROM scans
             WHERE client = $1 AND started_at >= $2 AND started_at <= $3 ORDER BY started_at",
        )
        .bind(client.as_str())
        .bind(Ts(from))
        .bind(Ts(to))
    )?;
    Ok(rows
        .into_iter()
        .map(|(started_at, status, checks, received, bounced, spam)| {
            let delivery = match (received, bounced, spam) {
                (Some(received), Some(bounced), Some(spam)) => Some(Delivery {
                    received,
                    bounced,
                    spam,
                }),
                _ => None,
            };
            ScanStat {
                started_at,
                status,
                checks_run: u32::try_from(checks).unwrap_or(0),
                delivery,
            }
        })
        .collect())
}

/// The client's baseline snapshot (JSON), if any.
pub async fn snapshot(db: &mut Db, client: &ClientSlug) -> Result<Option<String>, StoreError> {
    Ok(run!(
        fetch_optional,
        db,
        sqlx::query_scalar("SELECT body FROM snapshots WHERE client = $1").bind(client.as_str())
    )?)
}

/// Replaces the client's baseline snapshot.
pub async fn save_snapshot(
    db: &mut Db,
    client: &ClientSlug,
    taken_at: DateTime<Utc>,
    body: &str,
) -> Result<(), StoreError> {
    run!(
        execute,
        db,
        sqlx::query(
            "INSERT INTO snapshots (client, taken_at, body) VALUES ($1, $2, $3)
             ON CONFLICT (client) DO UPDATE SET taken_at = excluded.taken_at, body = excluded.body",
        )
        .bind(client.as_str())
        .bind(Ts(taken_at))
        .bind(body)
    )?;
    Ok(())
}
