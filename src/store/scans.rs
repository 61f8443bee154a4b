//! Scan rows and each client's baseline snapshot.

use chrono::{DateTime, Utc};

use super::{Db, StoreError};
use crate::domain::ClientSlug;
use crate::findings::ts;

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
}

/// Records a scan.
pub async fn record_scan(db: &mut Db, row: &ScanRow<'_>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO scans (client, trigger, started_at, finished_at, status, api_calls, observations, gaps)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(row.client.as_str())
    .bind(row.trigger)
    .bind(ts(row.started_at))
    .bind(ts(row.finished_at))
    .bind(row.status)
    .bind(i64::try_from(row.api_calls).unwrap_or(i64::MAX))
    .bind(i64::try_from(row.observations).unwrap_or(i64::MAX))
    .bind(&row.gaps)
    .execute(db.c())
    .await?;
    Ok(())
}

/// The client's baseline snapshot (JSON), if any.
pub async fn snapshot(db: &mut Db, client: &ClientSlug) -> Result<Option<String>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT body FROM snapshots WHERE client = ?")
            .bind(client.as_str())
            .fetch_optional(db.c())
            .await?,
    )
}

/// Replaces the client's baseline snapshot.
pub async fn save_snapshot(
    db: &mut Db,
    client: &ClientSlug,
    taken_at: DateTime<Utc>,
    body: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO snapshots (client, taken_at, body) VALUES (?, ?, ?)
         ON CONFLICT (client) DO UPDATE SET taken_at = excluded.taken_at, body = excluded.body",
    )
    .bind(client.as_str())
    .bind(ts(taken_at))
    .bind(body)
    .execute(db.c())
    .await?;
    Ok(())
}
