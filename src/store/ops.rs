//! Operations: what `/metrics` counts at scrape time and what `/readyz`
//! asks of the database.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use sqlx::migrate::{AppliedMigration, Migrate, MigrateError};

use super::{Conn, Db, StoreError};

/// Findings by (state, severity), as stored.
pub async fn findings_by_state_and_severity(
    db: &mut Db,
) -> Result<Vec<(String, String, i64)>, StoreError> {
    Ok(run!(
        fetch_all,
        db,
        sqlx::query_as(
            "SELECT state, severity, count(*) FROM findings GROUP BY state, severity ORDER BY state, severity",
        )
    )?)
}

/// Undelivered (pending) outbox rows: how many, and when the oldest was written.
pub async fn pending_outbox(db: &mut Db) -> Result<(i64, Option<DateTime<Utc>>), StoreError> {
    // The `outbox_pending (status, id)` index keeps this to the pending rows.
    Ok(run!(
        fetch_one,
        db,
        sqlx::query_as("SELECT count(*), min(created_at) FROM outbox WHERE status = 'pending'")
    )?)
}

/// What the database's `_sqlx_migrations` says: the version a migration
/// failed partway at, if any, and every migration applied.
async fn applied<C: Migrate>(
    conn: &mut C,
) -> Result<(Option<i64>, Vec<AppliedMigration>), MigrateError> {
    Ok((
        conn.dirty_version().await?,
        conn.list_applied_migrations().await?,
    ))
}

/// Why the database is not at this build's migrations, or `None` when it is:
/// every embedded migration of the database's backend applied with the same
/// checksum, none half-applied and none this build does not know.
pub async fn migration_gap(db: &mut Db) -> Result<Option<String>, StoreError> {
    // Each backend has its own migrations (and its own `_sqlx_migrations`).
    let migrator = db.backend().migrator();
    let (dirty, applied) = match db.c() {
        Conn::Sqlite(c) => applied(c).await?,
        Conn::Postgres(c) => applied(c).await?,
    };
    if let Some(v) = dirty {
        return Ok(Some(format!(
            "migration {v} failed partway; restore a backup or fix it by hand"
        )));
    }
    let applied: BTreeMap<i64, Vec<u8>> = applied
        .into_iter()
        .map(|m| (m.version, m.checksum.into_owned()))
        .collect();
    let embedded: BTreeSet<i64> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .map(|m| m.version)
        .collect();
    for m in migrator
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
        let newest = s
            .backend()
            .migrator()
            .iter()
            .map(|m| m.version)
            .max()
            .unwrap();
        run!(
            execute,
            db,
            sqlx::query("DELETE FROM _sqlx_migrations WHERE version = $1").bind(newest)
        )
        .unwrap();
        let gap = migration_gap(&mut db).await.unwrap().unwrap();
        assert!(
            gap.contains(&newest.to_string()) && gap.contains("migrate"),
            "{gap}"
        );
        run!(execute, db, sqlx::query("DROP TABLE _sqlx_migrations")).unwrap();
        assert!(migration_gap(&mut db).await.is_err());
    }
}
