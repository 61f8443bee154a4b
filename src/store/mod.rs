//! Storage: sqlx over SQLite (an embedded file by default, in-memory for tests).
//!
//! All SQL lives here, one file per concern: `clients` (clients and their
//! routes), `findings` (findings, their events, notes and messages), `outbox`,
//! `schedules` (scheduled work and maintenance windows), `scans` (scan rows
//! and snapshots), `audit` (the audit trail and the config file's hashes) and
//! `ops` (counts for `/metrics`, the migration check for `/readyz`).
//! Stages hold a `Db` (a transaction or a plain connection) and call these
//! functions; no module outside `store` names a sqlx type, so a second
//! backend can follow without touching the stages.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection, Transaction};
use tokio::sync::OwnedMutexGuard;

pub mod audit;
pub mod clients;
pub mod connections;
pub mod findings;
pub mod ops;
pub mod outbox;
pub mod platform;
pub mod reports;
pub mod scans;
pub mod schedules;
pub mod secrets;

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
    /// A channel can belong to one client only.
    #[error("{channel} already belongs to client `{client}`; move that client first with /route")]
    ChannelTaken {
        /// The channel asked for.
        channel: String,
        /// The client it belongs to.
        client: String,
    },
}

/// The shared database handle. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: SqlitePool,
    /// Held by every transaction: SQLite takes one writer at a time, and
    /// writers queued here wait their turn in order, where writers left to
    /// SQLite's busy handler sleep and retry with growing back-off.
    writer: Arc<tokio::sync::Mutex<()>>,
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
            // With WAL, NORMAL loses nothing when the process dies (a commit
            // is in the WAL before it returns); only a power cut can drop the
            // last commits. FULL would sync the disk at every scan's commit.
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            // A local file's connection does not go stale; a ping per acquire
            // doubled the round trips to the connection's thread.
            .test_before_acquire(false)
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
            .test_before_acquire(false)
            .connect_with(opts)
            .await?;
        Self::migrated(pool).await
    }

    async fn migrated(pool: SqlitePool) -> Result<Self, StoreError> {
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            writer: Arc::new(tokio::sync::Mutex::new(())),
        })
    }

    /// Starts a transaction: everything done through it lands together at
    /// `commit`. It takes the write lock at once (`BEGIN IMMEDIATE`), so a
    /// transaction that reads first and writes later can never be refused
    /// for a conflicting writer halfway through.
    pub async fn begin(&self) -> Result<Db, StoreError> {
        let turn = self.writer.clone().lock_owned().await;
        let tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok(Db(Inner::Tx(tx, turn)))
    }

    /// A plain connection: each statement commits by itself.
    ///
    /// The in-memory store has a single connection, so hold at most one `Db` at a time.
    pub async fn conn(&self) -> Result<Db, StoreError> {
        Ok(Db(Inner::Conn(self.pool.acquire().await?)))
    }
}

/// A handle on the database: a transaction or a plain connection.
pub struct Db(Inner);

enum Inner {
    /// A transaction and this process's writer turn (dropped after it).
    Tx(Transaction<'static, Sqlite>, OwnedMutexGuard<()>),
    Conn(PoolConnection<Sqlite>),
}

impl Db {
    /// The underlying connection, for the SQL in this module's files only.
    pub(in crate::store) fn c(&mut self) -> &mut SqliteConnection {
        match &mut self.0 {
            Inner::Tx(t, _) => t,
            Inner::Conn(c) => c,
        }
    }

    /// Commits a transaction (a plain connection has nothing to commit).
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.0 {
            Inner::Tx(t, _turn) => Ok(t.commit().await?),
            Inner::Conn(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_and_file_databases_migrate() {
        let s = Store::open_memory().await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM findings")
            .fetch_one(s.conn().await.unwrap().c())
            .await
            .unwrap();
        assert_eq!(n, 0);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("lookout.db");
        let s = Store::open_file(&path).await.unwrap();
        sqlx::query(
            "INSERT INTO clients (slug, name, created_at) VALUES ('a','A','2026-01-01T00:00:00Z')",
        )
        .execute(s.conn().await.unwrap().c())
        .await
        .unwrap();
        drop(s);
        // Reopening keeps data and does not re-run migrations.
        let s = Store::open_file(&path).await.unwrap();
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM clients")
            .fetch_one(s.conn().await.unwrap().c())
            .await
            .unwrap();
        assert_eq!(n, 1);
    }
}
