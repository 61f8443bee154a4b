//! Storage: sqlx over SQLite (an embedded file by default, in-memory for tests).
//!
//! Each concern keeps its own SQL next to its logic (`findings::repo`,
//! `outbox`); this module only opens the database and applies `migrations/`.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

/// The migrations in `migrations/sqlite`, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database could not be opened or a query failed.
    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),
    /// The migrations could not be applied.
    #[error("could not apply migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// Stored data could not be decoded (a bug or a hand-edited database).
    #[error("stored data is malformed: {0}")]
    Corrupt(String),
    /// The thing asked for does not exist.
    #[error("{0}")]
    NotFound(String),
}

/// The shared database handle. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the SQLite file at `path` and migrates it.
    pub async fn open_file(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent() {
            // A missing data dir is the common first-run case; create it.
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Db(sqlx::Error::Io(std::io::Error::new(
                    e.kind(),
                    format!("cannot create data dir {}: {e}", dir.display()),
                )))
            })?;
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        Self::migrated(pool).await
    }

    /// A fresh in-memory database (tests, benchmarks, the demo).
    pub async fn open_memory() -> Result<Self, StoreError> {
        let opts = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        // One connection that never expires: every in-memory connection is its own database.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(opts)
            .await?;
        Self::migrated(pool).await
    }

    async fn migrated(pool: SqlitePool) -> Result<Self, StoreError> {
        MIGRATOR.run(&pool).await?;
        Ok(Self { pool })
    }

    /// The connection pool, for the modules that keep their own SQL.
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }
}

/// A transaction on the store's database.
pub type Tx<'a> = sqlx::Transaction<'a, sqlx::Sqlite>;

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_and_file_databases_migrate() {
        let s = Store::open_memory().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM findings")
            .fetch_one(s.pool())
            .await
            .unwrap();
        assert_eq!(n, 0);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("lookout.db");
        let s = Store::open_file(&path).await.unwrap();
        sqlx::query("INSERT INTO clients (slug, name, channel, created_at) VALUES ('a','A','client-a','2026-01-01T00:00:00Z')")
            .execute(s.pool())
            .await
            .unwrap();
        drop(s);
        // Reopening keeps data and does not re-run migrations.
        let s = Store::open_file(&path).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM clients")
            .fetch_one(s.pool())
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
}
