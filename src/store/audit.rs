//! The audit trail's SQL (`audit_log`) and the config file's hashes
//! (`config_hashes`). Entries are only ever added.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{Db, StoreError, Ts};
use crate::audit::{Entry, Outcome, Recorded, Surface};
use crate::domain::ClientSlug;
use crate::message::{ChannelRef, PersonRef};

/// Adds one entry.
pub async fn insert(db: &mut Db, entry: &Entry, at: DateTime<Utc>) -> Result<(), StoreError> {
    run!(
        execute,
        db,
        sqlx::query(
            "INSERT INTO audit_log (at, actor, platform, surface, action, client, channel, outcome, reason, detail)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(Ts(at))
        .bind(entry.actor.as_ref().map(|p| p.to_string()))
        .bind(entry.platform().map(|p| p.as_str()))
        .bind(entry.surface.as_str())
        .bind(&entry.action)
        .bind(entry.client.as_ref().map(|c| c.as_str().to_owned()))
        .bind(entry.channel.as_ref().map(|c| c.to_string()))
        .bind(entry.outcome.as_str())
        .bind(entry.outcome.reason())
        .bind(entry.detail.as_deref())
    )?;
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
        Some(c) => run!(
            fetch_all,
            db,
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM audit_log WHERE client = $1 AND at >= $2
                 ORDER BY at DESC, id DESC LIMIT $3 OFFSET $4"
            ))
            .bind(c.as_str())
            .bind(Ts(since))
            .bind(i64::from(limit))
            .bind(i64::from(offset))
        )?,
        None => run!(
            fetch_all,
            db,
            sqlx::query_as(&format!(
                "SELECT {COLUMNS} FROM audit_log WHERE at >= $1
                 ORDER BY at DESC, id DESC LIMIT $2 OFFSET $3"
            ))
            .bind(Ts(since))
            .bind(i64::from(limit))
            .bind(i64::from(offset))
        )?,
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
        Some(c) => run!(
            fetch_one,
            db,
            sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE client = $1 AND at >= $2")
                .bind(c.as_str())
                .bind(Ts(since))
        )?,
        None => run!(
            fetch_one,
            db,
            sqlx::query_scalar("SELECT count(*) FROM audit_log WHERE at >= $1").bind(Ts(since))
        )?,
    };
    Ok(u64::try_from(n).unwrap_or(0))
}

/// Each person's latest entry, most recent first.
pub async fn last_activity_by_person(
    db: &mut Db,
) -> Result<Vec<(PersonRef, DateTime<Utc>)>, StoreError> {
    // On SQLite, times are fixed-width RFC 3339 in UTC, so the text maximum
    // is the latest; on PostgreSQL they are `timestamptz`, ordered natively.
    let rows: Vec<(String, DateTime<Utc>)> = run!(
        fetch_all,
        db,
        sqlx::query_as(
            "SELECT actor, max(at) AS last FROM audit_log WHERE actor IS NOT NULL
             GROUP BY actor ORDER BY last DESC, actor",
        )
    )?;
    rows.into_iter()
        .map(|(actor, at)| {
            let who = PersonRef::parse(&actor)
                .map_err(|_| StoreError::Corrupt(format!("audit actor `{actor}`")))?;
            Ok((who, at))
        })
        .collect()
}

/// Entries with no person since `since`, newest first.
pub async fn unattributed(db: &mut Db, since: DateTime<Utc>) -> Result<Vec<Recorded>, StoreError> {
    let rows: Vec<Row> = run!(
        fetch_all,
        db,
        sqlx::query_as(&format!(
            "SELECT {COLUMNS} FROM audit_log WHERE actor IS NULL AND at >= $1 ORDER BY at DESC, id DESC"
        ))
        .bind(Ts(since))
    )?;
    decode(rows)
}

/// The config file's hashes from the last start, by section (`""` is the whole file).
pub async fn config_hashes(db: &mut Db) -> Result<BTreeMap<String, String>, StoreError> {
    let rows: Vec<(String, String)> = run!(
        fetch_all,
        db,
        sqlx::query_as("SELECT section, sha256 FROM config_hashes")
    )?;
    Ok(rows.into_iter().collect())
}

/// Replaces the stored hashes with these.
pub async fn set_config_hashes(
    db: &mut Db,
    hashes: &BTreeMap<String, String>,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    run!(execute, db, sqlx::query("DELETE FROM config_hashes"))?;
    for (section, sha) in hashes {
        run!(
            execute,
            db,
            sqlx::query("INSERT INTO config_hashes (section, sha256, seen_at) VALUES ($1, $2, $3)")
                .bind(section)
                .bind(sha)
                .bind(Ts(now))
        )?;
    }
    Ok(())
}
