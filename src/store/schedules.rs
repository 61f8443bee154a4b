//! Scheduled work that must survive a restart (digests sent, scans started,
//! quiet hours ended) and maintenance windows.

use chrono::{DateTime, Utc};

use super::{Db, StoreError};
use crate::domain::ClientSlug;
use crate::findings::ts;

/// When the scheduled work `key` last ran.
pub async fn last_run(db: &mut Db, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(
        sqlx::query_scalar("SELECT last_at FROM schedule WHERE key = ?")
            .bind(key)
            .fetch_optional(db.c())
            .await?,
    )
}

/// Every key starting with `prefix` and when it last ran (one read for many clients).
pub async fn last_runs(
    db: &mut Db,
    prefix: &str,
) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
    // `prefix` is one of Lookout's own key stems, never a pattern from input;
    // `substr` keeps `%` and `_` in it from acting as wildcards anyway.
    Ok(
        sqlx::query_as("SELECT key, last_at FROM schedule WHERE substr(key, 1, length(?1)) = ?1")
            .bind(prefix)
            .fetch_all(db.c())
            .await?,
    )
}

/// Records that the scheduled work `key` ran at `at`.
pub async fn set_last_run(db: &mut Db, key: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO schedule (key, last_at) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET last_at = excluded.last_at",
    )
    .bind(key)
    .bind(ts(at))
    .execute(db.c())
    .await?;
    Ok(())
}

/// Whether a maintenance window covers the client at `now`.
pub async fn in_maintenance(
    db: &mut Db,
    client: &ClientSlug,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM maintenance WHERE client = ? AND starts_at <= ? AND ends_at > ?",
    )
    .bind(client.as_str())
    .bind(ts(now))
    .bind(ts(now))
    .fetch_one(db.c())
    .await?;
    Ok(n > 0)
}

/// Starts a maintenance window.
pub async fn add_maintenance(
    db: &mut Db,
    client: &ClientSlug,
    starts: DateTime<Utc>,
    ends: DateTime<Utc>,
    by: &str,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO maintenance (client, starts_at, ends_at, created_by) VALUES (?, ?, ?, ?)",
    )
    .bind(client.as_str())
    .bind(ts(starts))
    .bind(ts(ends))
    .bind(by)
    .execute(db.c())
    .await?;
    Ok(())
}

/// A maintenance window that has ended and still needs its summary.
#[derive(Debug, Clone)]
pub struct EndedWindow {
    /// Row id.
    pub id: i64,
    /// The client (as stored).
    pub client: String,
    /// Start.
    pub starts_at: DateTime<Utc>,
    /// End.
    pub ends_at: DateTime<Utc>,
}

/// Windows ended by `now` without a summary, and marks them summarised.
pub async fn take_ended_windows(
    db: &mut Db,
    now: DateTime<Utc>,
) -> Result<Vec<EndedWindow>, StoreError> {
    let rows: Vec<(i64, String, DateTime<Utc>, DateTime<Utc>)> = sqlx::query_as(
        "SELECT id, client, starts_at, ends_at FROM maintenance WHERE summarized = 0 AND ends_at <= ? ORDER BY id",
    )
    .bind(ts(now))
    .fetch_all(db.c())
    .await?;
    for (id, ..) in &rows {
        sqlx::query("UPDATE maintenance SET summarized = 1 WHERE id = ?")
            .bind(id)
            .execute(db.c())
            .await?;
    }
    Ok(rows
        .into_iter()
        .map(|(id, client, starts_at, ends_at)| EndedWindow {
            id,
            client,
            starts_at,
            ends_at,
        })
        .collect())
}
