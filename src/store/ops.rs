//! Operations: what `/metrics` counts at scrape time and what `/readyz`
//! asks of the database.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sqlx::migrate::Migrate;

use super::{Db, MIGRATOR, StoreError};

/// Findings by (state, severity), as stored.
pub async fn findings_by_state_and_severity(
    db: &mut Db,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    Ok(sqlx::query_as(
        "SELECT state, severity, count(*) FROM findings GROUP BY state, severity ORDER BY state, severity",
    )
    .fetch_all(db.c())
    .await?)
}

/// Undelivered (pending) outbox rows: how many, and when the oldest was written.
pub async fn pending_outbox(db: &mut Db) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
    // The `outbox_pending (status, id)` index keeps this to the pending rows.
    let (n, oldest): (i64, Option<String>) =
        sqlx::query_as("SELECT count(*), min(created_at) FROM outbox WHERE status = 'pending'")
            .fetch_one(db.c())
            .await?;
    let oldest = oldest
        .map(|t| {
            DateTime::parse_from_rfc3339(&t)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|e| StoreError::Corrupt(format!("outbox created_at `{t}`: {e}")))
        })
        .transpose()?;
    Ok((n, oldest))
}

/// Why the database is not at this build's migrations, or `None` when it is:
/// every embedded migration applied with the same checksum, none half-applied
/// and none this build does not know.
pub async fn migration_gap(db: &mut Db) -> Result<Option<String>, StoreError> {
    let conn = db.c();
    if let Some(v) = conn.dirty_version().await? {
        return Ok(Some(format!(
            "migration {v} failed partway; restore a backup or fix it by hand"
        )));
    }
    let applied: BTreeMap<i64, Vec<u8>> = conn
        .list_applied_migrations()
        .await?
        .into_iter()
        .map(|m| (m.version, m.checksum.into_owned()))
        .collect();
    let embedded: BTreeSet<i64> = MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .collect();
    for m in MIGRATOR
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
    {
        match applied.get(&m.version) {
            None => {
                return Ok(Some(format!(
                    "migration {} ({}) is not applied; run `lookout migrate`",
                    m.version, m.description
                )));
            }
            Some(sum) if sum.as_slice() != &*m.checksum => {
                return Ok(Some(format!(
                    "migration {} differs from this build's",
                    m.version
                )));
            }
            Some(_) => {}
        }
    }
    if let Some(v) = applied.keys().find(|v| !embedded.contains(v)) {
        return Ok(Some(format!(
            "the database has migration {v}, which this build does not know (a newer Lookout wrote it)"
        )));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;

    #[tokio::test]
    async fn a_fresh_store_is_current_and_a_missing_row_is_named() {
        let s = Store::open_memory().await.unwrap();
        let mut db = s.conn().await.unwrap();
        assert_eq!(migration_gap(&mut db).await.unwrap(), None);
        assert!(
            findings_by_state_and_severity(&mut db)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(pending_outbox(&mut db).await.unwrap(), (0, None));
        let newest = MIGRATOR.iter().map(|m| m.version).max().unwrap();
        sqlx::query("DELETE FROM _sqlx_migrations WHERE version = ?")
            .bind(newest)
            .execute(db.c())
            .await
            .unwrap();
        let gap = migration_gap(&mut db).await.unwrap().unwrap();
        assert!(
            gap.contains(&newest.to_string()) && gap.contains("migrate"),
            "{gap}"
        );
        sqlx::query("DROP TABLE _sqlx_migrations")
            .execute(db.c())
            .await
            .unwrap();
        assert!(migration_gap(&mut db).await.is_err());
    }
}
