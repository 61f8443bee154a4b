//! Sealed secrets by client and purpose. Values arrive sealed by `vault`;
//! nothing here ever sees a token in the clear.

use chrono::{DateTime, Utc};

use super::{Db, StoreError, Ts};
use crate::domain::ClientSlug;

/// One stored secret, still sealed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedRow {
    /// Whose.
    pub client: String,
    /// What for (`refresh-token`, ...).
    pub purpose: String,
    /// The sealed value.
    pub sealed: String,
}

/// Stores (or replaces) a client's sealed secret for a purpose.
pub async fn put(
    db: &mut Db,
    client: &ClientSlug,
    purpose: &str,
    sealed: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    run!(
        execute,
        db,
        sqlx::query(
            "INSERT INTO secrets (client, purpose, sealed, updated_at) VALUES ($1, $2, $3, $4)
             ON CONFLICT (client, purpose) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at",
        )
        .bind(client.as_str())
        .bind(purpose)
        .bind(sealed)
        .bind(Ts(now))
    )?;
    Ok(())
}

/// A client's sealed secret for a purpose.
pub async fn get(
    db: &mut Db,
    client: &ClientSlug,
    purpose: &str,
) -> Result<Option<String>, StoreError> {
    Ok(run!(
        fetch_optional,
        db,
        sqlx::query_scalar("SELECT sealed FROM secrets WHERE client = $1 AND purpose = $2")
            .bind(client.as_str())
            .bind(purpose)
    )?)
}

/// Deletes every secret of a client (a disconnect); returns how many.
pub async fn delete_client(db: &mut Db, client: &ClientSlug) -> Result<u64, StoreError> {
    Ok(run!(
        execute,
        db,
        sqlx::query("DELETE FROM secrets WHERE client = $1").bind(client.as_str())
    )?)
}

/// Every stored secret, sealed (a key rotation re-seals them).
pub async fn all(db: &mut Db) -> Result<Vec<SealedRow>, StoreError> {
    let rows: Vec<(String, String, String)> = run!(
        fetch_all,
        db,
        sqlx::query_as("SELECT client, purpose, sealed FROM secrets ORDER BY client, purpose")
    )?;
    Ok(rows
        .into_iter()
        .map(|(client, purpose, sealed)| SealedRow {
            client,
            purpose,
            sealed,
        })
        .collect())
}

/// Replaces a sealed value only if it is still `old`, so a rotation never
/// overwrites a token refreshed meanwhile; returns whether it did.
pub async fn replace(
    db: &mut Db,
    row: &SealedRow,
    new: &str,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    Ok(run!(
        execute,
        db,
        sqlx::query(
            "UPDATE secrets SET sealed = $1, updated_at = $2
             WHERE client = $3 AND purpose = $4 AND sealed = $5",
        )
        .bind(new)
        .bind(Ts(now))
        .bind(&row.client)
        .bind(&row.purpose)
        .bind(&row.sealed)
    )? == 1)
}

/// Deletes one of a client's secrets; returns whether it was there.
pub async fn delete(db: &mut Db, client: &ClientSlug, purpose: &str) -> Result<bool, StoreError> {
    Ok(run!(
        execute,
        db,
        sqlx::query("DELETE FROM secrets WHERE client = $1 AND purpose = $2")
            .bind(client.as_str())
            .bind(purpose)
    )? == 1)
}
