//! Platform events: one check firing at several clients at once, kept as an
//! event with its member findings (see `routing::platform`).

use chrono::{DateTime, Utc};
use sqlx::FromRow;

use super::{Db, StoreError, Ts};
use crate::domain::{ClientSlug, FindingId, Severity};

/// A platform event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformEvent {
    /// Row id, shown as `P-<id>`.
    pub id: i64,
    /// The check that fired at each member client.
    pub check_id: String,
    /// The highest severity among its members when it opened.
    pub severity: Severity,
    /// When it was raised.
    pub opened_at: DateTime<Utc>,
    /// When its last member resolved.
    pub resolved_at: Option<DateTime<Utc>>,
}

/// A member: one client's finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    /// The client's finding.
    pub finding: FindingId,
    /// Its client.
    pub client: ClientSlug,
}

#[derive(FromRow)]
struct EventRow {
    id: i64,
    check_id: String,
    severity: String,
    opened_at: DateTime<Utc>,
    resolved_at: Option<DateTime<Utc>>,
}

impl TryFrom<EventRow> for PlatformEvent {
    type Error = StoreError;
    fn try_from(r: EventRow) -> Result<Self, StoreError> {
        Ok(Self {
            id: r.id,
            severity: r.severity.parse().map_err(|_| {
                StoreError::Corrupt(format!(
                    "platform event {}: severity `{}`",
                    r.id, r.severity
                ))
            })?,
            check_id: r.check_id,
            opened_at: r.opened_at,
            resolved_at: r.resolved_at,
        })
    }
}

/// The open event of a check, if any.
pub async fn open_for(db: &mut Db, check_id: &str) -> Result<Option<PlatformEvent>, StoreError> {
    let row: Option<EventRow> = run!(
        fetch_optional,
        db,
        sqlx::query_as(
            "SELECT id, check_id, severity, opened_at, resolved_at FROM platform_events
             WHERE check_id = $1 AND resolved_at IS NULL",
        )
        .bind(check_id)
    )?;
    row.map(PlatformEvent::try_from).transpose()
}

/// Opens an event for a check.
pub async fn open(
    db: &mut Db,
    check_id: &str,
    severity: Severity,
    now: DateTime<Utc>,
) -> Result<PlatformEvent, StoreError> {
    let row: EventRow = run!(
        fetch_one,
        db,
        sqlx::query_as(
            "INSERT INTO platform_events (check_id, severity, opened_at) VALUES ($1, $2, $3)
             RETURNING id, check_id, severity, opened_at, resolved_at",
        )
        .bind(check_id)
        .bind(severity.as_str())
        .bind(Ts(now))
    )?;
    row.try_into()
}

/// Adds a member; false when it already was one.
pub async fn add_member(
    db: &mut Db,
    event: i64,
    member: &Member,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    // `ON CONFLICT DO NOTHING` rather than SQLite's `INSERT OR IGNORE`: both
    // backends read it, and it ignores only the key conflict, not other errors.
    let done = run!(
        execute,
        db,
        sqlx::query(
            "INSERT INTO platform_event_members (event_id, finding_id, client, joined_at)
             VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
        )
        .bind(event)
        .bind(member.finding.0)
        .bind(member.client.as_str())
        .bind(Ts(now))
    )?;
    Ok(done == 1)
}

/// An event's members, oldest first.
pub async fn members(db: &mut Db, event: i64) -> Result<Vec<Member>, StoreError> {
    let rows: Vec<(i64, String)> = run!(
        fetch_all,
        db,
        sqlx::query_as(
            "SELECT finding_id, client FROM platform_event_members WHERE event_id = $1
             ORDER BY joined_at, finding_id",
        )
        .bind(event)
    )?;
    rows.into_iter()
        .map(|(f, c)| {
            Ok(Member {
                finding: FindingId(f),
                client: ClientSlug::parse(&c)
                    .map_err(|e| StoreError::Corrupt(format!("platform event member: {e}")))?,
            })
        })
        .collect()
}

/// The events a finding belongs to (usually one).
pub async fn events_of(db: &mut Db, finding: FindingId) -> Result<Vec<PlatformEvent>, StoreError> {
    let rows: Vec<EventRow> = run!(
        fetch_all,
        db,
        sqlx::query_as(
            "SELECT e.id, e.check_id, e.severity, e.opened_at, e.resolved_at
             FROM platform_events e JOIN platform_event_members m ON m.event_id = e.id
             WHERE m.finding_id = $1 ORDER BY e.id",
        )
        .bind(finding.0)
    )?;
    rows.into_iter().map(PlatformEvent::try_from).collect()
}

/// Open events none of whose members is still active.
pub async fn finished(db: &mut Db) -> Result<Vec<PlatformEvent>, StoreError> {
    let rows: Vec<EventRow> = run!(
        fetch_all,
        db,
        sqlx::query_as(
            "SELECT id, check_id, severity, opened_at, resolved_at FROM platform_events e
             WHERE resolved_at IS NULL AND NOT EXISTS (
                 SELECT 1 FROM platform_event_members m JOIN findings f ON f.id = m.finding_id
                 WHERE m.event_id = e.id AND f.state != 'resolved')
             ORDER BY id",
        )
    )?;
    rows.into_iter().map(PlatformEvent::try_from).collect()
}

/// Marks an event resolved.
pub async fn resolve(db: &mut Db, event: i64, now: DateTime<Utc>) -> Result<(), StoreError> {
    run!(
        execute,
        db,
        sqlx::query(
            "UPDATE platform_events SET resolved_at = $1 WHERE id = $2 AND resolved_at IS NULL"
        )
        .bind(Ts(now))
        .bind(event)
    )?;
    Ok(())
}
