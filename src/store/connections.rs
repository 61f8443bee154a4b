//! Connections (who granted Lookout access to a client's Klaviyo account, how
//! and until when) and the OAuth `state`s of connects in progress. Tokens and
//! keys are not here: they are sealed in `secrets`.

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{Db, StoreError, Ts};
use crate::domain::ClientSlug;

/// One client's connection, as stored.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct ConnectionRow {
    /// The client's slug.
    pub client: String,
    /// `oauth` or `key`.
    pub method: String,
    /// Who granted it (`platform:id`).
    pub granted_by: String,
    /// When.
    pub granted_at: DateTime<Utc>,
    /// When access ends.
    pub ends_at: DateTime<Utc>,
    /// Granted scopes, space-separated.
    pub scopes: String,
    /// When the current access token expires (OAuth).
    pub access_expires_at: Option<DateTime<Utc>>,
    /// When the tokens were last refreshed (OAuth).
    pub refreshed_at: Option<DateTime<Utc>>,
    /// When a scan last used it.
    pub last_used_at: Option<DateTime<Utc>>,
    /// `active`, `reauth` or `ended`.
    pub status: String,
    /// Why it is not active.
    pub status_detail: Option<String>,
    /// Reminders already posted, comma-separated (`7d,1d`).
    pub reminded: String,
}

const COLUMNS: &str = "client, method, granted_by, granted_at, ends_at, scopes, access_expires_at, refreshed_at, last_used_at, status, status_detail, reminded";

/// Stores a new connection for a client, replacing any earlier one.
pub async fn put(db: &mut Db, row: &ConnectionRow) -> Result<(), StoreError> {
    run!(
        execute,
        db,
        sqlx::query(
            "INSERT INTO connections (client, method, granted_by, granted_at, ends_at, scopes, access_expires_at, refreshed_at, last_used_at, status, status_detail, reminded)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT (client) DO UPDATE SET method = excluded.method, granted_by = excluded.granted_by,
               granted_at = excluded.granted_at, ends_at = excluded.ends_at, scopes = excluded.scopes,
               access_expires_at = excluded.access_expires_at, refreshed_at = excluded.refreshed_at,
               last_used_at = excluded.last_used_at, status = excluded.status,
               status_detail = excluded.status_detail, reminded = excluded.reminded",
        )
        .bind(&row.client)
        .bind(&row.method)
        .bind(&row.granted_by)
        .bind(Ts(row.granted_at))
        .bind(Ts(row.ends_at))
        .bind(&row.scopes)
        .bind(row.access_expires_at.map(Ts))
        .bind(row.refreshed_at.map(Ts))
        .bind(row.last_used_at.map(Ts))
        .bind(&row.status)
        .bind(&row.status_detail)
        .bind(&row.reminded)
    )?;
    Ok(())
}

/// A client's connection.
pub async fn get(db: &mut Db, client: &ClientSlug) -> Result<Option<ConnectionRow>, StoreError> {
    Ok(run!(
        fetch_optional,
        db,
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM connections WHERE client = $1"
        ))
        .bind(client.as_str())
    )?)
}

/// Every connection, by client.
pub async fn all(db: &mut Db) -> Result<Vec<ConnectionRow>, StoreError> {
    Ok(run!(
        fetch_all,
        db,
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM connections ORDER BY client"
        ))
    )?)
}

/// Records a refresh: the new access token's expiry.
pub async fn refreshed(
    db: &mut Db,
    client: &ClientSlug,
    access_expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    run!(
        execute,
        db,
        sqlx::query(
            "UPDATE connections SET access_expires_at = $1, refreshed_at = $2 WHERE client = $3"
        )
        .bind(Ts(access_expires_at))
        .bind(Ts(now))
        .bind(client.as_str())
    )?;
    Ok(())
}

/// Records that a scan used the connection.
pub async fn used(db: &mut Db, client: &ClientSlug, now: DateTime<Utc>) -> Result<(), StoreError> {
    run!(
        execute,
        db,
        sqlx::query("UPDATE connections SET last_used_at = $1 WHERE client = $2")
            .bind(Ts(now))
            .bind(client.as_str())
    )?;
    Ok(())
}

/// Moves a connection out of `active` (to `reauth` or `ended`); returns
/// whether it was active, so only the first caller posts about it.
pub async fn set_status(
    db: &mut Db,
    client: &ClientSlug,
    status: &str,
    detail: &str,
) -> Result<bool, StoreError> {
    Ok(run!(
        execute,
        db,
        sqlx::query(
            "UPDATE connections SET status = $1, status_detail = $2, access_expires_at = NULL
             WHERE client = $3 AND status = 'active'",
        )
        .bind(status)
        .bind(detail)
        .bind(client.as_str())
    )? == 1)
}

/// Notes that a reminder was posted; returns false if it already was.
pub async fn mark_reminded(
    db: &mut Db,
    client: &ClientSlug,
    which: &str,
) -> Result<bool, StoreError> {
    let row: Option<String> = run!(
        fetch_optional,
        db,
        sqlx::query_scalar("SELECT reminded FROM connections WHERE client = $1")
            .bind(client.as_str())
    )?;
    let Some(reminded) = row else {
        return Ok(false);
    };
    if reminded.split(',').any(|r| r == which) {
        return Ok(false);
    }
    let next = if reminded.is_empty() {
        which.to_owned()
    } else {
        format!("{reminded},{which}")
    };
    run!(
        execute,
        db,
        sqlx::query("UPDATE connections SET reminded = $1 WHERE client = $2 AND reminded = $3")
            .bind(next)
            .bind(client.as_str())
            .bind(reminded)
    )?;
    Ok(true)
}

/// Deletes a client's connection row; returns whether there was one.
pub async fn delete(db: &mut Db, client: &ClientSlug) -> Result<bool, StoreError> {
    Ok(run!(
        execute,
        db,
        sqlx::query("DELETE FROM connections WHERE client = $1").bind(client.as_str())
    )? == 1)
}

/// A connect in progress, keyed by the hash of its OAuth `state`.
#[derive(Debug, Clone, PartialEq, Eq, FromRow)]
pub struct StateRow {
    /// SHA-256 of the state, hex.
    pub state_hash: String,
    /// The client being connected.
    pub client: String,
    /// Who ran `/connect` (`platform:id`).
    pub person: String,
    /// Where they ran it (`platform:id`).
    pub channel: String,
    /// The end they chose for the grant.
    pub grant_ends: DateTime<Utc>,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
    /// When it was used, if it was.
    pub used_at: Option<DateTime<Utc>>,
}

/// Stores a new connect in progress.
pub async fn put_state(db: &mut Db, row: &StateRow) -> Result<(), StoreError> {
    run!(
        execute,
        db,
        sqlx::query(
            "INSERT INTO oauth_states (state_hash, client, person, channel, grant_ends, expires_at, used_at)
             VALUES ($1, $2, $3, $4, $5, $6, NULL)",
        )
        .bind(&row.state_hash)
        .bind(&row.client)
        .bind(&row.person)
        .bind(&row.channel)
        .bind(Ts(row.grant_ends))
        .bind(Ts(row.expires_at))
    )?;
    Ok(())
}

/// Takes a state for its single use: marks it used and returns it, or None
/// when it is unknown or already used (expiry is the caller's to judge, so it
/// can say which).
pub async fn take_state(
    db: &mut Db,
    state_hash: &str,
    now: DateTime<Utc>,
) -> Result<Option<StateRow>, StoreError> {
    let taken = run!(
        execute,
        db,
        sqlx::query(
            "UPDATE oauth_states SET used_at = $1 WHERE state_hash = $2 AND used_at IS NULL"
        )
        .bind(Ts(now))
        .bind(state_hash)
    )?;
    if taken != 1 {
        return Ok(None);
    }
    Ok(run!(
        fetch_optional,
        db,
        sqlx::query_as(
            "SELECT state_hash, client, person, channel, grant_ends, expires_at, used_at
             FROM oauth_states WHERE state_hash = $1",
        )
        .bind(state_hash)
    )?)
}

/// Deletes states that expired before `cutoff` (their sealed verifiers go with
/// them); returns their hashes.
pub async fn purge_states(db: &mut Db, cutoff: DateTime<Utc>) -> Result<Vec<String>, StoreError> {
    let hashes: Vec<String> = run!(
        fetch_all,
        db,
        sqlx::query_scalar("SELECT state_hash FROM oauth_states WHERE expires_at < $1")
            .bind(Ts(cutoff))
    )?;
    run!(
        execute,
        db,
        sqlx::query("DELETE FROM oauth_states WHERE expires_at < $1").bind(Ts(cutoff))
    )?;
    Ok(hashes)
}
