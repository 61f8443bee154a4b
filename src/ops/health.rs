//! `/healthz` (the process is up) and `/readyz` (the database answers and is
//! at this build's migrations).

use std::time::Duration;

use crate::store::Store;

/// How long `/readyz` waits for the database before calling it not ready.
pub const READY_TIMEOUT: Duration = Duration::from_secs(3);

/// Why Lookout is not ready, in a short sentence for `/readyz`'s JSON.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotReady {
    /// The database did not answer, or answered with an error.
    #[error("database: {0}")]
    Database(String),
    /// The database is not at this build's migrations.
    #[error("migrations: {0}")]
    Migrations(String),
}

/// Whether the database answers within `timeout` and has exactly this
/// build's migrations applied.
pub async fn readiness(store: &Store, timeout: Duration) -> Result<(), NotReady> {
    let check = async {
        let mut db = store
            .conn()
            .await
            .map_err(|e| NotReady::Database(e.to_string()))?;
        match crate::store::ops::migration_gap(&mut db).await {
            Ok(None) => Ok(()),
            Ok(Some(gap)) => Err(NotReady::Migrations(gap)),
            Err(e) => Err(NotReady::Migrations(e.to_string())),
        }
    };
    match tokio::time::timeout(timeout, check).await {
        Ok(r) => r,
        Err(_) => Err(NotReady::Database(format!(
            "no answer within {} s",
            timeout.as_secs_f64()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fresh_store_is_ready_and_a_busy_one_times_out() {
        let store = Store::open_memory().await.unwrap();
        assert_eq!(readiness(&store, READY_TIMEOUT).await, Ok(()));
        // The in-memory store has one connection: hold it and the check cannot run.
        let held = store.conn().await.unwrap();
        let r = readiness(&store, Duration::from_millis(50)).await;
        assert!(
            matches!(&r, Err(NotReady::Database(m)) if m.contains("no answer")),
            "{r:?}"
        );
        drop(held);
        assert_eq!(readiness(&store, READY_TIMEOUT).await, Ok(()));
    }
}
