//! The audit trail's SQL (`audit_log`) and the config file's hashes
//! (`config_hashes`). Entries are only ever added.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{Db, StoreError};
use crate::audit::{Entry, Outcome, Recorded, Surface};
use crate::domain::ClientSlug;
use crate::findings::ts;
use crate::message::{ChannelRef, PersonRef};

/// Adds one entry.
pub async fn insert(db: &mut Db, entry: &Entry, at: DateTime<Utc>) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_log (at, actor, platform, surface, action, client, channel, outcome, reason, detail)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(ts(at))
    .bind(entry.actor.as_ref().map(|p| p.to_string()))
    .bind(entry.platform().map(|p| p.as_str()))
    .bind(entry.surface.as_str())
    .bind(&entry.action)
    .bind(entry.client.as_ref().map(|c| c.as_str().to_owned()))
    .bind(entry.channel.as_ref().map(|c| c.to_string()))
    .bind(entry.outcome.as_str())
    .bind(entry.outcome.reason())
    .bind(entry.detail.as_deref())
    .execute(db.c())
    .await?;
    Ok(())
}

#[derive(FromRow)]
struct Row {
    id: i64,
    at: DateTime<Utc>,
    actor: Option<String>,
    surface: String,
    action: String,
    client: Option<String>,
    channel: Option<String>,
    outcome: String,
    reason: Option<String>,
    detail: Option<String>,
}

const COLUMNS: &str = "id, at, actor, surface, action, client, channel, outcome, reason, detail";

impl TryFrom<Row> for Recorded {
    type Error = StoreError;

    fn try_from(r: Row) -> Result<Self, StoreError> {
        let bad = |what: &str, v: &str| {
            StoreError::Corrupt(format!("audit entry {}: {what} `{v}`", r.id))
        };
        let actor = r
            .actor
            .as_deref()
            .map(|a| PersonRef::parse(a).map_err(|_| bad("actor", a)))
            .transpose()?;
        let client = r
            .client
            .as_deref()
            .map(|c| ClientSlug::parse(c).map_err(|_| bad("client", c)))
            .transpose()?;
        let channel = r
            .channel
            .as_deref()
            .map(|c| ChannelRef::parse(c).map_err(|_| bad("channel", c)))
            .transpose()?;
        let surface = Surface::parse(&r.surface).ok_or_else(|| bad("surface", &r.surface))?;
        let outcome = Outcome::from_parts(&r.outcome, r.reason.clone())
            .ok_or_else(|| bad("outcome", &r.outcome))?;
        Ok(Recorded {
            id: r.id,
            at: r.at,
            entry: Entry {
                actor,
                surface,
                action: r.action,
                client,
                channel,
                detail: r.detail,
                outcome,
            },
        })
    }
}

fn decode(rows: Vec<Row>) -> Result<Vec<Recorded>, StoreError> {
    rows.into_iter().map(Recorded::try_from).collect()
}

/// Entries since `since`, newest first, for one client or all.
pub async fn recent(
    db: &mut Db,
    client: Option<&ClientSlug>,
    since: DateTime<Utc>,
    limit: u32,
    offset: u32,
) -> Result<Vec<Recorded>, StoreError> {
    let rows: Vec<Row> = match client {
        Some(c) => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM audit_log WHERE client = ? AND at >= ?
                 ORDER BY at DESC, id DESC LIMIT ? OFFSET ?"
            ))
            .bind(c.as_str())
            .bind(ts(since))
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(db.c())
            .await?
        }
        None => {
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM audit_log WHERE at >= ?
                 ORDER BY at DESC, id DESC LIMIT ? OFFSET ?"
            ))
            .bind(ts(since))
            .bind(i64::from(limit))
            .bind(i64::from(offset))
            .fetch_all(db.c())
            .await?
        }
    };
    decode(rows)
}

/// How many entries since `since`, for one client or all.
pub async fn count(
    db: &mut Db,
    client: Option<&ClientSlug>,
    since: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let n: i64 = match client {
        Some(c) => {
            sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE client = ? AND at >= ?")
                .bind(c.as_str())
                .bind(ts(since))
                .fetch_one(db.c())
                .await?
        }
        None => {
            sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE at >= ?")
                .bind(ts(since))
                .fetch_one(db.c())
                .await?
        }
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Each person's latest entry, most recent first.
pub async fn last_activity_by_person(
    db: &mut Db,
) -> Result<Vec<(PersonRef, DateTime<Utc>)>, StoreError> {
    // Timestamps are fixed-width RFC 3339 in UTC, so the text maximum is the latest.
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT actor, max(at) AS last FROM audit_log WHERE actor IS NOT NULL
         GROUP BY actor ORDER BY last DESC, actor",
    )
    .fetch_all(db.c())
    .await?;
    rows.into_iter()
        .map(|(actor, at)| {
            let who = PersonRef::parse(&actor)
                .map_err(|_| StoreError::Corrupt(format!("audit actor `{actor}`")))?;
            let at = DateTime::parse_from_rfc3339(&at)
                .map_err(|_| StoreError::Corrupt(format!("audit time `{at}`")))?
                .with_timezone(&Utc);
            Ok((who, at))
        })
        .collect()
}

/// Entries with no person since `since`, newest first.
pub async fn unattributed(db: &mut Db, since: DateTime<Utc>) -> Result<Vec<Recorded>, StoreError> {
    let rows: Vec<Row> = sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM audit_log WHERE actor IS NULL AND at >= ? ORDER BY at DESC, id DESC"
    ))
    .bind(ts(since))
    .fetch_all(db.c())
    .await?;
    decode(rows)
}

/// The config file's hashes from the last start, by section (`""` is the whole file).
pub async fn config_hashes(db: &mut Db) -> Result<BTreeMap<String, String>, StoreError> {
    let rows: Vec<(String, String)> = sqlx::query_as("SELECT section, sha256 FROM config_hashes")
        .fetch_all(db.c())
        .await?;
    Ok(rows.into_iter().collect())
}

/// Replaces the stored hashes with these.
pub async fn set_config_hashes(
    db: &mut Db,
    hashes: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM config_hashes")
        .execute(db.c())
        .await?;
    for (section, sha) in hashes {
        sqlx::query("INSERT INTO config_hashes (section, sha256, seen_at) VALUES (?, ?, ?)")
            .bind(section)
            .bind(sha)
            .bind(ts(now))
            .execute(db.c())
            .await?;
    }
    Ok(())
}
