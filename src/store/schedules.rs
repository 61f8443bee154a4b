//! Scheduled work that must survive a restart (digests sent, scans started,
//! quiet hours ended) and maintenance windows.

use chrono::{DateTime, Utc};

use super::{Db, StoreError, Ts};
use crate::domain::ClientSlug;

/// When the scheduled work `key` last ran.
pub async fn last_run(db: &mut Db, key: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
    Ok(run!(
        fetch_optional,
        db,
        sqlx::query_scalar("SELECT last_at FROM schedule WHERE key = $1").bind(key)
    )?)
}

/// Every key starting with `prefix` and when it last ran (one read for many clients).
pub async fn last_runs(
    db: &mut Db,
    prefix: &str,
) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
    // `prefix` is one of Lookout's own key stems, never a pattern from input;
    // `substr` keeps `%` and `_` in it from acting as wildcards anyway.
    Ok(run!(
        fetch_all,
        db,
        sqlx::query_as("SELECT key, last_at FROM schedule WHERE substr(key, 1, length($1)) = $1")
            .bind(prefix)
    )?)
}

/// Records that the scheduled work `key` ran at `at`.
pub async fn set_last_run(db: &mut Db, key: &str, at: DateTime<Utc>) -> Result<(), StoreError> {
    run!(
        execute,
        db,
        sqlx::query(
            "INSERT INTO schedule (key, last_at) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET last_at = excluded.last_at",
        )
        .bind(key)
        .bind(Ts(at))
    )?;
    Ok(())
}

/// Records that the scheduled work `key` ran at `at`, unless it already ran
/// at or after `unless_since`; whether it did. A claim, for work that two
/// processes on one database may both find due (a digest): on PostgreSQL the
/// second one waits on the first's row until it commits, then sees the new
/// time and gets `false`, so it rolls back instead of posting twice.
pub async fn claim_run(
    db: &mut Db,
    key: &str,
    at: DateTime<Utc>,
    unless_since: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let claimed = run!(
        execute,
        db,
        sqlx::query(
            "INSERT INTO schedule (key, last_at) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET last_at = excluded.last_at
             WHERE schedule.last_at < $3",
        )
        .bind(key)
        .bind(Ts(at))
        .bind(Ts(unless_since))
    )?;
    Ok(claimed == 1)
}

/// Whether a maintenance window covers the client at `now`.
pub async fn in_maintenance(
    db: &mut Db,
    client: &ClientSlug,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n: i64 = run!(
        fetch_one,
        db,
        sqlx::query_scalar(
            "SELECT count(*) FROM maintenance WHERE client = $1 AND starts_at <= $2 AND ends_at > $2",
        )
        .bind(client.as_str())
        .bind(Ts(now))
    )?;
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
    run!(
        execute,
        db,
        sqlx::query(
            "INSERT INTO maintenance (client, starts_at, ends_at, created_by) VALUES ($1, $2, $3, $4)",
        )
        .bind(client.as_str())
        .bind(Ts(starts))
        .bind(Ts(ends))
        .bind(by)
    )?;
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
    // `summarized` is a flag: 0/1 on SQLite, BOOLEAN on PostgreSQL; `NOT`
    // and `TRUE` read the same on both.
    let rows: Vec<(i64, String, DateTime<Utc>, DateTime<Utc>)> = run!(
        fetch_all,
        db,
        sqlx::query_as(
            "SELECT id, client, starts_at, ends_at FROM maintenance
             WHERE NOT summarized AND ends_at <= $1 ORDER BY id",
        )
        .bind(Ts(now))
    )?;
    let mut taken = Vec::with_capacity(rows.len());
    for (id, client, starts_at, ends_at) in rows {
        // Taken only if still untaken: another process on the database that
        // read the same window waits here for it, then finds it summarized.
        let updated = run!(
            execute,
            db,
            sqlx::query(
                "UPDATE maintenance SET summarized = TRUE WHERE id = $1 AND NOT summarized"
            )
            .bind(id)
        )?;
        if updated == 1 {
            taken.push(EndedWindow {
                id,
                client,
                starts_at,
                ends_at,
            });
        }
    }
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use chrono::{Duration, TimeZone};

    #[tokio::test]
    async fn a_slot_is_claimed_once_and_a_later_slot_again() {
        let s = Store::open_memory().await.unwrap();
        let slot = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();
        let mut db = s.conn().await.unwrap();
        assert!(
            claim_run(&mut db, "digest:daily", slot, slot)
                .await
                .unwrap()
        );
        assert!(
            !claim_run(&mut db, "digest:daily", slot, slot)
                .await
                .unwrap()
        );
        // An earlier slot never moves the record back.
        let before = slot - Duration::days(1);
        assert!(
            !claim_run(&mut db, "digest:daily", before, before)
                .await
                .unwrap()
        );
        assert_eq!(last_run(&mut db, "digest:daily").await.unwrap(), Some(slot));
        let next = slot + Duration::days(1);
        assert!(
            claim_run(&mut db, "digest:daily", next, next)
                .await
                .unwrap()
        );
        assert_eq!(last_run(&mut db, "digest:daily").await.unwrap(), Some(next));
        // "Unless it ran within six days": a run a day ago holds, one a week ago not.
        let now = next + Duration::days(1);
        assert!(
            !claim_run(&mut db, "digest:daily", now, now - Duration::days(6))
                .await
                .unwrap()
        );
        let later = next + Duration::days(7);
        assert!(
            claim_run(&mut db, "digest:daily", later, later - Duration::days(6))
                .await
                .unwrap()
        );
        // Keys are independent.
        assert!(claim_run(&mut db, "quiet-end", slot, slot).await.unwrap());
    }

    #[tokio::test]
    async fn a_claim_rolled_back_leaves_the_slot_free() {
        let s = Store::open_memory().await.unwrap();
        let slot = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();
        {
            let mut tx = s.begin().await.unwrap();
            assert!(claim_run(&mut tx, "k", slot, slot).await.unwrap());
            // Dropped without commit: the process died before posting.
        }
        let mut tx = s.begin().await.unwrap();
        assert!(claim_run(&mut tx, "k", slot, slot).await.unwrap());
        tx.commit().await.unwrap();
    }
}
