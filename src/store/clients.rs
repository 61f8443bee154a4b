//! Clients and their routes: which channel on each platform a client's
//! findings go to, and whom to mention there.

use chrono::{DateTime, Utc};

use super::{Db, StoreError, Ts};
use crate::domain::ClientSlug;
use crate::message::{ChannelRef, PersonRef};

/// One stored route: a client's channel on one platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteRow {
    /// The client.
    pub client: ClientSlug,
    /// Its channel on this platform.
    pub channel: ChannelRef,
    /// Whom to mention there on critical findings.
    pub owner: Option<PersonRef>,
    /// Who set it from chat (None: from the config file).
    pub set_by: Option<PersonRef>,
}

/// Registers a client or updates its name.
pub async fn upsert_client(
    db: &mut Db,
    slug: &ClientSlug,
    name: &str,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    run!(
        execute,
        db,
        sqlx::query(
            "INSERT INTO clients (slug, name, created_at) VALUES ($1, $2, $3)
             ON CONFLICT (slug) DO UPDATE SET name = excluded.name",
        )
        .bind(slug.as_str())
        .bind(name)
        .bind(Ts(now))
    )?;
    Ok(())
}

async fn owner_of_channel(db: &mut Db, channel: &ChannelRef) -> Result<Option<String>, StoreError> {
    Ok(run!(
        fetch_optional,
        db,
        sqlx::query_scalar("SELECT client FROM routes WHERE channel = $1")
            .bind(channel.to_string())
    )?)
}

/// Applies a route from the config file, unless someone set the client's route
/// on that platform from chat (which outlives the file's).
pub async fn config_route(
    db: &mut Db,
    client: &ClientSlug,
    channel: &ChannelRef,
    owner: Option<&PersonRef>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    let from_chat: Option<String> = run!(
        fetch_optional,
        db,
        sqlx::query_scalar(
            "SELECT channel FROM routes WHERE client = $1 AND platform = $2 AND set_by IS NOT NULL",
        )
        .bind(client.as_str())
        .bind(channel.platform.as_str())
    )?;
    if from_chat.is_some() {
        return Ok(());
    }
    write_route(db, client, channel, owner, None, now).await
}

/// Sets a client's channel (and owner) on the channel's platform from chat.
pub async fn set_route(
    db: &mut Db,
    client: &ClientSlug,
    channel: &ChannelRef,
    owner: Option<&PersonRef>,
    by: &PersonRef,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    write_route(db, client, channel, owner, Some(by), now).await
}

async fn write_route(
    db: &mut Db,
    client: &ClientSlug,
    channel: &ChannelRef,
    owner: Option<&PersonRef>,
    by: Option<&PersonRef>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    if let Some(other) = owner_of_channel(db, channel).await?
        && other != client.as_str()
    {
        return Err(StoreError::ChannelTaken {
            channel: channel.to_string(),
            client: other,
        });
    }
    run!(
        execute,
        db,
        sqlx::query("DELETE FROM routes WHERE client = $1 AND platform = $2")
            .bind(client.as_str())
            .bind(channel.platform.as_str())
    )?;
    run!(
        execute,
        db,
        sqlx::query(
            "INSERT INTO routes (channel, client, platform, owner, set_by, set_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(channel.to_string())
        .bind(client.as_str())
        .bind(channel.platform.as_str())
        .bind(owner.map(|o| o.to_string()))
        .bind(by.map(|b| b.to_string()))
        .bind(Ts(now))
    )?;
    Ok(())
}

/// Every route, by client then platform.
pub async fn routes(db: &mut Db) -> Result<Vec<RouteRow>, StoreError> {
    let rows: Vec<(String, String, Option<String>, Option<String>)> = run!(
        fetch_all,
        db,
        sqlx::query_as(
            "SELECT client, channel, owner, set_by FROM routes ORDER BY client, platform"
        )
    )?;
    let corrupt = |what: &str, e: String| StoreError::Corrupt(format!("route {what}: {e}"));
    rows.into_iter()
        .map(|(client, channel, owner, set_by)| {
            Ok(RouteRow {
                client: ClientSlug::parse(&client).map_err(|e| corrupt("client", e.to_string()))?,
                channel: ChannelRef::parse(&channel)
                    .map_err(|e| corrupt("channel", e.to_string()))?,
                // Owners written before platform ids are dropped, not fatal.
                owner: owner.and_then(|o| PersonRef::parse(&o).ok()),
                set_by: set_by.and_then(|o| PersonRef::parse(&o).ok()),
            })
        })
        .collect()
}
