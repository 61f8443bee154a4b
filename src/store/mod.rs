//! Storage: sqlx over SQLite (an embedded file by default, in-memory for
//! tests) or PostgreSQL (a server, chosen by a `postgres://` URL).
//!
//! All SQL lives here, one file per concern: `clients` (clients and their
//! routes), `findings` (findings, their events, notes and messages), `outbox`,
//! `schedules` (scheduled work and maintenance windows), `scans` (scan rows
//! and snapshots), `audit` (the audit trail and the config file's hashes) and
//! `ops` (counts for `/metrics`, the migration check for `/readyz`) and
//! `leases` and `seen` (work and chat requests shared between processes).
//! Stages hold a `Db` (a transaction or a plain connection) and call these
//! functions; no module outside `store` names a sqlx type.
//!
//! Each function's SQL is written once for both backends: the `run!` macro
//! hands the same sqlx query expression to whichever connection the `Db`
//! holds (each arm monomorphic, so sqlx type-checks it per backend).
//! Placeholders are `$1, $2 …` (SQLite accepts them too), times are bound as
//! [`Ts`] (RFC 3339 text on SQLite, exactly as before; `timestamptz` on
//! PostgreSQL), and the few dialect differences are spelled in forms both
//! accept (`ON CONFLICT DO NOTHING`, `count(*) FILTER (WHERE …)`, `TRUE`).
//! Each backend has its own migrations directory with the same numbering.
//!
//! Tests: with `LOOKOUT_TEST_DATABASE_URL` set to a PostgreSQL URL,
//! [`Store::open_memory`] gives each caller a fresh schema of that database,
//! so the whole suite runs on PostgreSQL without any test changing.

use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Connection, PgConnection, Postgres, Sqlite, SqliteConnection, Transaction};
use tokio::sync::OwnedMutexGuard;

/// Runs one sqlx query expression on whichever backend `$db` (a `&mut Db`)
/// holds. The expression is expanded once per backend, so each arm is
/// monomorphic: `run!(fetch_all, db, sqlx::query_as("…").bind(x))`.
/// `execute` yields the number of rows affected (the drivers' result types
/// differ); `fetch_one`, `fetch_optional` and `fetch_all` yield the rows.
///
/// The query's future is boxed: with two drivers' futures in every store
/// function, callers' futures (a scan's) grew enough to overflow a test
/// thread's 2 MiB stack in debug builds; one allocation beside a database
/// round trip costs nothing.
macro_rules! run {
    (execute, $db:expr, $q:expr) => {
        match $db.c() {
            $crate::store::Conn::Sqlite(c) => {
                Box::pin($q.execute(c)).await.map(|r| r.rows_affected())
            }
            $crate::store::Conn::Postgres(c) => {
                Box::pin($q.execute(c)).await.map(|r| r.rows_affected())
            }
        }
    };
    ($fetch:ident, $db:expr, $q:expr) => {
        match $db.c() {
            $crate::store::Conn::Sqlite(c) => Box::pin($q.$fetch(c)).await,
            $crate::store::Conn::Postgres(c) => Box::pin($q.$fetch(c)).await,
        }
    };
}

pub mod audit;
pub mod clients;
pub mod connections;
pub mod findings;
pub mod leases;
pub mod ops;
pub mod outbox;
pub mod platform;
pub mod reports;
pub mod scans;
pub mod schedules;
pub mod secrets;
pub mod seen;
mod time;

pub use time::Ts;

/// The SQLite migrations in `migrations/sqlite`, embedded at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The PostgreSQL migrations in `migrations/postgres`, embedded at compile time.
pub static PG_MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");

/// The environment variable naming a PostgreSQL database for tests: when set,
/// [`Store::open_memory`] opens a fresh schema there instead of in-memory SQLite.
pub const TEST_DATABASE_URL: &str = "LOOKOUT_TEST_DATABASE_URL";

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
    /// Another process took over the lease this work was done under, so it
    /// was not committed (the other process does it instead).
    #[error("lease {0} was taken over by another process; this work was not committed")]
    Fenced(String),
    /// A channel can belong to one client only.
    #[error("{channel} already belongs to client `{client}`; move that client first with /route")]
    ChannelTaken {
        /// The channel asked for.
        channel: String,
        /// The client it belongs to.
        client: String,
    },
}

/// Which database engine a [`Store`] runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An embedded SQLite file (or in-memory database).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend's name, for logs and readiness output.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }

    /// This build's migrations for the backend.
    pub fn migrator(self) -> &'static sqlx::migrate::Migrator {
        match self {
            Backend::Sqlite => &MIGRATOR,
            Backend::Postgres => &PG_MIGRATOR,
        }
    }
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Creates a new, empty schema `<prefix>_<16 hex>` in the PostgreSQL
/// database `base` names; its name.
async fn create_schema(base: &PgConnectOptions, prefix: &str) -> Result<String, StoreError> {
    let prefix: String = prefix
        .chars()
        .filter(|c| c.is_ascii_lowercase() || *c == '_')
        .collect();
    let schema = format!("{prefix}_{:016x}", rand::random::<u64>());
    let mut admin = PgConnection::connect_with(base).await?;
    // Lowercase letters, `_` and hex digits only, never input: safe to splice.
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut admin)
        .await?;
    admin.close().await?;
    Ok(schema)
}

/// Whether `url` names a PostgreSQL database (rather than a SQLite path or URL).
fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// The shared database handle. Cloning shares the pool.
#[derive(Debug, Clone)]
pub struct Store {
    pool: Pool,
    /// Held by every transaction: SQLite takes one writer at a time, and
    /// writers queued here wait their turn in order, where writers left to
    /// SQLite's busy handler sleep and retry with growing back-off. PostgreSQL
    /// keeps it too for now, so both backends order writers in-process alike.
    writer: Arc<tokio::sync::Mutex<()>>,
}

#[derive(Debug, Clone)]
enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

impl Store {
    /// Opens the database `url` names: `postgres://…` or `postgresql://…`
    /// opens PostgreSQL; anything else is a SQLite path or `sqlite:` URL.
    /// Either is migrated to this build's schema.
    pub async fn open_url(url: &str) -> Result<Self, StoreError> {
        if is_postgres_url(url) {
            let opts = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(8)
                .connect_with(opts)
                .await?;
            return Self::migrated_pg(pool, &PG_MIGRATOR).await;
        }
        match url {
            "sqlite::memory:" | "sqlite://:memory:" | ":memory:" => {
                Self::open_sqlite_memory().await
            }
            _ if url.starts_with("sqlite:") => {
                Self::open_sqlite(SqliteConnectOptions::from_str(url)?).await
            }
            _ => Self::open_file(Path::new(url)).await,
        }
    }

    /// Opens (creating if needed) the SQLite file at `path` and migrates it.
    pub async fn open_file(path: &Path) -> Result<Self, StoreError> {
        Self::open_sqlite(SqliteConnectOptions::new().filename(path)).await
    }

    /// Opens a SQLite file with Lookout's settings, creating it and its directory.
    async fn open_sqlite(opts: SqliteConnectOptions) -> Result<Self, StoreError> {
        if let Some(dir) = opts.get_filename().parent() {
            // A missing data dir is the common first-run case; create it.
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Db(sqlx::Error::Io(std::io::Error::new(
                    e.kind(),
                    format!("cannot create data dir {}: {e}", dir.display()),
                )))
            })?;
        }
        let opts = opts
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
        Self::migrated_sqlite(pool).await
    }

    /// A fresh, empty database (tests, benchmarks, the demo): in-memory
    /// SQLite, or a new schema of the PostgreSQL database named by
    /// `LOOKOUT_TEST_DATABASE_URL` when that is set to a PostgreSQL URL.
    ///
    /// Either way the store has a single connection, so hold at most one `Db` at a time.
    pub async fn open_memory() -> Result<Self, StoreError> {
        match std::env::var(TEST_DATABASE_URL) {
            Ok(url) if is_postgres_url(&url) => Self::open_fresh_schema(&url).await,
            _ => Self::open_sqlite_memory().await,
        }
    }

    async fn open_sqlite_memory() -> Result<Self, StoreError> {
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
        Self::migrated_sqlite(pool).await
    }

    /// `url` (a PostgreSQL URL) pointed at a new, empty schema `<prefix>_<16
    /// hex>` of its database, for a run that must not meet an earlier run's
    /// rows (a benchmark); a URL that already names a `search_path` is kept.
    pub async fn fresh_schema_url(url: &str, prefix: &str) -> Result<String, StoreError> {
        if url.contains("search_path") {
            return Ok(url.to_owned());
        }
        let schema = create_schema(&PgConnectOptions::from_str(url)?, prefix).await?;
        let sep = if url.contains('?') { '&' } else { '?' };
        Ok(format!("{url}{sep}options=-c%20search_path%3D{schema}"))
    }

    /// A new schema `t_<16 hex>` of the PostgreSQL database at `url`, which
    /// every connection of the store searches first, migrated from empty.
    async fn open_fresh_schema(url: &str) -> Result<Self, StoreError> {
        let base = PgConnectOptions::from_str(url)?;
        let schema = create_schema(&base, "t").await?;
        // A startup option, so a connection the pool reopens lands there too.
        let opts = base.options([("search_path", schema.as_str())]);
        // One connection, like the in-memory SQLite store it stands in for:
        // code and tests written against one behave the same on the other.
        let pool = PgPoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await?;
        // Nobody else can see a schema this new, so the database-wide
        // migration lock would only queue parallel tests behind each other.
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        migrator.set_locking(false);
        Self::migrated_pg(pool, &migrator).await
    }

    async fn migrated_sqlite(pool: SqlitePool) -> Result<Self, StoreError> {
        MIGRATOR.run(&pool).await?;
        Ok(Self::with_pool(Pool::Sqlite(pool)))
    }

    async fn migrated_pg(
        pool: PgPool,
        migrator: &sqlx::migrate::Migrator,
    ) -> Result<Self, StoreError> {
        migrator.run(&pool).await?;
        Ok(Self::with_pool(Pool::Postgres(pool)))
    }

    fn with_pool(pool: Pool) -> Self {
        Self {
            pool,
            writer: Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Which engine this store runs on.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// Starts a transaction: everything done through it lands together at
    /// `commit`. On SQLite it takes the write lock at once (`BEGIN
    /// IMMEDIATE`), so a transaction that reads first and writes later can
    /// never be refused for a conflicting writer halfway through; PostgreSQL
    /// locks rows as they are written, so a plain `BEGIN` is enough there.
    pub async fn begin(&self) -> Result<Db, StoreError> {
        let turn = self.writer.clone().lock_owned().await;
        Ok(Db(match &self.pool {
            Pool::Sqlite(p) => Inner::SqliteTx(p.begin_with("BEGIN IMMEDIATE").await?, turn),
            Pool::Postgres(p) => Inner::PgTx(p.begin().await?, turn),
        }))
    }

    /// A plain connection: each statement commits by itself.
    ///
    /// The in-memory store has a single connection, so hold at most one `Db` at a time.
    pub async fn conn(&self) -> Result<Db, StoreError> {
        Ok(Db(match &self.pool {
            Pool::Sqlite(p) => Inner::SqliteConn(p.acquire().await?),
            Pool::Postgres(p) => Inner::PgConn(p.acquire().await?),
        }))
    }
}

/// A handle on the database: a transaction or a plain connection.
pub struct Db(Inner);

enum Inner {
    /// A transaction and this process's writer turn (dropped after it).
    SqliteTx(Transaction<'static, Sqlite>, OwnedMutexGuard<()>),
    SqliteConn(PoolConnection<Sqlite>),
    /// As `SqliteTx`, on PostgreSQL.
    PgTx(Transaction<'static, Postgres>, OwnedMutexGuard<()>),
    PgConn(PoolConnection<Postgres>),
}

/// The connection under a `Db`, by backend (what `run!` matches on).
pub(in crate::store) enum Conn<'a> {
    Sqlite(&'a mut SqliteConnection),
    Postgres(&'a mut PgConnection),
}

impl Db {
    /// The underlying connection, for the SQL in this module's files only.
    pub(in crate::store) fn c(&mut self) -> Conn<'_> {
        match &mut self.0 {
            Inner::SqliteTx(t, _) => Conn::Sqlite(t),
            Inner::SqliteConn(c) => Conn::Sqlite(c),
            Inner::PgTx(t, _) => Conn::Postgres(t),
            Inner::PgConn(c) => Conn::Postgres(c),
        }
    }

    /// Which engine this handle talks to.
    pub fn backend(&self) -> Backend {
        match &self.0 {
            Inner::SqliteTx(..) | Inner::SqliteConn(_) => Backend::Sqlite,
            Inner::PgTx(..) | Inner::PgConn(_) => Backend::Postgres,
        }
    }

    /// Commits a transaction (a plain connection has nothing to commit).
    pub async fn commit(self) -> Result<(), StoreError> {
        match self.0 {
            Inner::SqliteTx(t, _turn) => Ok(t.commit().await?),
            Inner::PgTx(t, _turn) => Ok(t.commit().await?),
            Inner::SqliteConn(_) | Inner::PgConn(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_and_file_databases_migrate() {
        let s = Store::open_memory().await.unwrap();
        let mut db = s.conn().await.unwrap();
        let n: i64 = run!(
            fetch_one,
            db,
            sqlx::query_scalar("SELECT count(*) FROM findings")
        )
        .unwrap();
        assert_eq!(n, 0);
        drop(db);

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested").join("lookout.db");
        let s = Store::open_file(&path).await.unwrap();
        let mut db = s.conn().await.unwrap();
        run!(
            execute,
            db,
            sqlx::query(
                "INSERT INTO clients (slug, name, created_at) VALUES ('a','A','2026-01-01T00:00:00Z')",
            )
        )
        .unwrap();
        drop(db);
        drop(s);
        // Reopening keeps data and does not re-run migrations; a `sqlite:`
        // URL and a bare path open the same file.
        let url = format!("sqlite://{}", path.display());
        let s = Store::open_url(&url).await.unwrap();
        assert_eq!(s.backend(), Backend::Sqlite);
        let mut db = s.conn().await.unwrap();
        let n: i64 = run!(
            fetch_one,
            db,
            sqlx::query_scalar("SELECT count(*) FROM clients")
        )
        .unwrap();
        assert_eq!(n, 1);
    }

    /// The backend is the one the environment asks for: the suite run with
    /// `LOOKOUT_TEST_DATABASE_URL` set really runs on PostgreSQL.
    #[tokio::test]
    async fn open_memory_follows_the_test_database_url() {
        let wanted = match std::env::var(TEST_DATABASE_URL) {
            Ok(url) if is_postgres_url(&url) => Backend::Postgres,
            _ => Backend::Sqlite,
        };
        let s = Store::open_memory().await.unwrap();
        assert_eq!(s.backend(), wanted);
        let mut db = s.conn().await.unwrap();
        assert_eq!(db.backend(), wanted);
        if wanted == Backend::Postgres {
            // A schema of its own, empty and migrated, first on the search path.
            let schema: String =
                run!(fetch_one, db, sqlx::query_scalar("SELECT current_schema()")).unwrap();
            assert!(schema.starts_with("t_") && schema.len() == 18, "{schema}");
            let n: i64 = run!(
                fetch_one,
                db,
                sqlx::query_scalar("SELECT count(*) FROM clients")
            )
            .unwrap();
            assert_eq!(n, 0);
            // And opening the database by URL reaches the same server.
            let url = std::env::var(TEST_DATABASE_URL).unwrap();
            drop(db);
            let direct = Store::open_url(&url).await.unwrap();
            assert_eq!(direct.backend(), Backend::Postgres);
        }
    }
}
