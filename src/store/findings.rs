//! Findings and their events: SQL and lifecycle transitions.
//!
//! Every function takes a `Db` so callers can run it inside the same
//! transaction as the outbox rows its change causes.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use sqlx::FromRow;

use super::{Db, StoreError, Ts};
use crate::checks::Observation;
use crate::domain::{ClientSlug, FindingId, Fingerprint, Money, Severity, Track};
use crate::findings::{Actor, Finding, FindingEvent, FindingState, Note, Timing};
use crate::message::{ChannelRef, MessageRef};

/// A lifecycle request that cannot be carried out.
#[derive(Debug, thiserror::Error)]
pub enum FindingError {
    /// No finding has that id.
    #[error("there is no finding {0}; /findings lists the open ones")]
    NotFound(FindingId),
    /// The transition does not apply to the finding's current state.
    #[error("{0}")]
    Invalid(String),
    /// The database failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for FindingError {
    fn from(e: sqlx::Error) -> Self {
        FindingError::Store(StoreError::Db(e))
    }
}

/// What happened to a finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// First seen.
    Detected,
    /// Still seen, now more severe or worth more.
    Worsened {
        /// Severity before.
        from: Severity,
    },
    /// Still seen, nothing a person needs to hear about.
    StillSeen,
    /// Was resolved, seen again: the same finding is reopened.
    Reopened,
    /// The check no longer sees it.
    Cleared,
    /// A person acknowledged it.
    Acknowledged,
    /// A person snoozed it.
    Snoozed,
    /// A snooze ended (its time came, or it got worse).
    SnoozeEnded,
    /// A person resolved it.
    Resolved,
}

/// A finding after a change, with what changed and who changed it.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// The finding as it is now.
    pub finding: Finding,
    /// What changed.
    pub kind: ChangeKind,
    /// Who changed it.
    pub actor: Actor,
}

#[derive(FromRow)]
struct Row {
    id: i64,
    fingerprint: String,
    client: String,
    check_id: String,
    subject: String,
    severity: String,
    track: String,
    state: String,
    snoozed_until: Option<DateTime<Utc>>,
    snoozed_by: Option<String>,
    snooze_until_worse: bool,
    snooze_severity: Option<String>,
    snooze_value_minor: Option<i64>,
    title: String,
    why: String,
    deep_link: String,
    value_minor: Option<i64>,
    currency: Option<String>,
    began_at: Option<DateTime<Utc>>,
    detected_at: DateTime<Utc>,
    last_seen_at: DateTime<Utc>,
    acknowledged_at: Option<DateTime<Utc>>,
    acknowledged_by: Option<String>,
    resolved_at: Option<DateTime<Utc>>,
    resolved_by: Option<String>,
    resolution: Option<String>,
    onboarding: bool,
}

impl TryFrom<Row> for Finding {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self, StoreError> {
        let corrupt =
            |what: &str, v: &str| StoreError::Corrupt(format!("finding {}: {what} `{v}`", r.id));
        Ok(Finding {
            id: FindingId(r.id),
            fingerprint: Fingerprint::from_stored(r.fingerprint.clone()),
            client: ClientSlug::parse(&r.client).map_err(|_| corrupt("client", &r.client))?,
            check_id: r.check_id.clone(),
            subject: r.subject.clone(),
            severity: r
                .severity
                .parse()
                .map_err(|_| corrupt("severity", &r.severity))?,
            track: match r.track.as_str() {
                "now" => Track::Now,
                "eventually" => Track::Eventually,
                other => return Err(corrupt("track", other)),
            },
            state: FindingState::parse(&r.state).ok_or_else(|| corrupt("state", &r.state))?,
            snoozed_until: r.snoozed_until,
            snoozed_by: r.snoozed_by,
            snooze_until_worse: r.snooze_until_worse,
            snooze_severity: match r.snooze_severity.as_deref() {
                Some(s) => Some(s.parse().map_err(|_| corrupt("snooze severity", s))?),
                None => None,
            },
            snooze_value_minor: r.snooze_value_minor,
            title: r.title,
            why: r.why,
            deep_link: r.deep_link,
            value: match (r.value_minor, r.currency) {
                (Some(minor), Some(currency)) => Some(Money { minor, currency }),
                _ => None,
            },
            began_at: r.began_at,
            detected_at: r.detected_at,
            last_seen_at: r.last_seen_at,
            acknowledged_at: r.acknowledged_at,
            acknowledged_by: r.acknowledged_by,
            resolved_at: r.resolved_at,
            resolved_by: r.resolved_by,
            resolution: r.resolution,
            onboarding: r.onboarding,
        })
    }
}

fn track_str(t: Track) -> &'static str {
    match t {
        Track::Now => "now",
        Track::Eventually => "eventually",
    }
}

/// What one scan's reconciliation covers.
#[derive(Debug, Clone, Copy)]
pub struct ReconcileScope<'a> {
    /// The client scanned.
    pub client: &'a ClientSlug,
    /// Ids of the checks that ran; findings of skipped checks are left alone.
    pub ran: &'a HashSet<String>,
    /// The client's first scan (its onboarding audit).
    pub onboarding: bool,
    /// A finding that clears and returns within this window reopens.
    pub reopen_window: Duration,
    /// When.
    pub now: DateTime<Utc>,
}

/// Namespace for the findings SQL.
pub struct Findings;

/// Rows as findings; a row that does not decode is an error, not skipped.
fn decode_all(rows: Vec<Row>) -> Result<Vec<Finding>, FindingError> {
    rows.into_iter()
        .map(|r| Finding::try_from(r).map_err(FindingError::from))
        .collect()
}

impl Findings {
    /// Marks a client's first completed scan; returns true the first time (the onboarding audit).
    pub async fn mark_first_scan(
        db: &mut Db,
        slug: &ClientSlug,
        now: DateTime<Utc>,
    ) -> Result<bool, FindingError> {
        let r = run!(
            execute,
            db,
            sqlx::query(
                "UPDATE clients SET first_scan_at = $1 WHERE slug = $2 AND first_scan_at IS NULL",
            )
            .bind(Ts(now))
            .bind(slug.as_str())
        )?;
        Ok(r == 1)
    }

    /// When the client's first scan (its onboarding audit) ran, if it has.
    pub async fn first_scan_at(
        db: &mut Db,
        slug: &ClientSlug,
    ) -> Result<Option<DateTime<Utc>>, FindingError> {
        let at: Option<Option<DateTime<Utc>>> = run!(
            fetch_optional,
            db,
            sqlx::query_scalar("SELECT first_scan_at FROM clients WHERE slug = $1")
                .bind(slug.as_str())
        )?;
        Ok(at.flatten())
    }

    /// What the client's first scan found (its onboarding findings), in any state now.
    pub async fn onboarding_of(
        db: &mut Db,
        slug: &ClientSlug,
    ) -> Result<Vec<Finding>, FindingError> {
        let rows: Vec<Row> = run!(
            fetch_all,
            db,
            sqlx::query_as("SELECT * FROM findings WHERE client = $1 AND onboarding ORDER BY id")
                .bind(slug.as_str())
        )?;
        rows.into_iter()
            .map(|r| r.try_into().map_err(FindingError::from))
            .collect()
    }

    /// One finding by id.
    pub async fn get(db: &mut Db, id: FindingId) -> Result<Finding, FindingError> {
        let row: Option<Row> = run!(
            fetch_optional,
            db,
            sqlx::query_as("SELECT * FROM findings WHERE id = $1").bind(id.0)
        )?;
        match row {
            Some(r) => Ok(r.try_into()?),
            None => Err(FindingError::NotFound(id)),
        }
    }

    /// Unresolved findings, newest first, optionally for one client and at or above a severity.
    pub async fn active(
        db: &mut Db,
        client: Option<&ClientSlug>,
        min_severity: Option<Severity>,
    ) -> Result<Vec<Finding>, FindingError> {
        let rows: Vec<Row> = run!(
            fetch_all,
            db,
            sqlx::query_as(
                "SELECT * FROM findings WHERE state != 'resolved' AND ($1 IS NULL OR client = $1)
                 ORDER BY detected_at DESC, id DESC",
            )
            .bind(client.map(|c| c.as_str().to_owned()))
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let f: Finding = r.try_into()?;
            if min_severity.is_none_or(|s| f.severity >= s) {
                out.push(f);
            }
        }
        Ok(out)
    }

    /// Findings of `check_id` detected at or after `since` at any client,
    /// oldest first, leaving out onboarding findings (what a new client's
    /// first scan found was there before, not something that just happened).
    pub async fn detected_since(
        db: &mut Db,
        check_id: &str,
        since: DateTime<Utc>,
    ) -> Result<Vec<Finding>, FindingError> {
        let rows: Vec<Row> = run!(
            fetch_all,
            db,
            sqlx::query_as(
                "SELECT * FROM findings WHERE check_id = $1 AND detected_at >= $2 AND NOT onboarding
                 ORDER BY detected_at, id",
            )
            .bind(check_id)
            .bind(Ts(since))
        )?;
        rows.into_iter()
            .map(|r| r.try_into().map_err(FindingError::from))
            .collect()
    }

    /// Findings by id (those that exist), in id order.
    pub async fn by_ids(db: &mut Db, ids: &[FindingId]) -> Result<Vec<Finding>, FindingError> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            match Self::get(db, *id).await {
                Ok(f) => out.push(f),
                Err(FindingError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        out.sort_by_key(|f| f.id);
        Ok(out)
    }

    /// Records on a finding's history that Lookout itself did something to it
    /// (e.g. `platform-event`), without changing its state.
    pub async fn note_by_lookout(
        db: &mut Db,
        id: FindingId,
        kind: &str,
        detail: &str,
        now: DateTime<Utc>,
    ) -> Result<(), FindingError> {
        record(db, id, &Actor::scan(), kind, detail, now).await
    }

    /// A client's findings opened or resolved in `[from, to]`, oldest first.
    pub async fn touched_between(
        db: &mut Db,
        client: &ClientSlug,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Finding>, FindingError> {
        let rows: Vec<Row> = run!(
            fetch_all,
            db,
            sqlx::query_as(
                "SELECT * FROM findings WHERE client = $1
                   AND ((detected_at >= $2 AND detected_at <= $3) OR (resolved_at >= $2 AND resolved_at <= $3))
                 ORDER BY id",
            )
            .bind(client.as_str())
            .bind(Ts(from))
            .bind(Ts(to))
        )?;
        decode_all(rows)
    }

    /// The timings of a client's findings detected or resolved in `[from, to]`,
    /// and of those still active from before (the SLA report).
    pub async fn timings(
        db: &mut Db,
        client: &ClientSlug,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Timing>, FindingError> {
        type Raw = (
            i64,
            String,
            DateTime<Utc>,
            Option<DateTime<Utc>>,
            Option<DateTime<Utc>>,
            Option<String>,
        );
        let rows: Vec<Raw> = run!(
            fetch_all,
            db,
            sqlx::query_as(
                "SELECT id, severity, detected_at, acknowledged_at, resolved_at, resolved_by FROM findings
                 WHERE (client = $1 AND detected_at >= $2 AND detected_at <= $3)
                    OR (client = $1 AND resolved_at >= $2 AND resolved_at <= $3)
                    OR (client = $1 AND state != 'resolved')
                 ORDER BY id",
            )
            .bind(client.as_str())
            .bind(Ts(from))
            .bind(Ts(to))
        )?;
        rows.into_iter()
            .map(
                |(id, severity, detected_at, acknowledged_at, resolved_at, resolved_by)| {
                    Ok(Timing {
                        id: FindingId(id),
                        client: client.clone(),
                        severity: severity.parse().map_err(|_| {
                            StoreError::Corrupt(format!("finding {id}: severity `{severity}`"))
                        })?,
                        detected_at,
                        acknowledged_at,
                        resolved_at,
                        resolved_by,
                    })
                },
            )
            .collect()
    }

    /// A client's findings that were active at some time in `[from, to]`:
    /// detected by `to` and not resolved before `from` (monthly reports).
    pub async fn active_during(
        db: &mut Db,
        client: &ClientSlug,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<Finding>, FindingError> {
        let rows: Vec<Row> = run!(
            fetch_all,
            db,
            sqlx::query_as(
                // Three indexed reads rather than one scan of the client's history:
                // detected in the window, or before it and resolved in or after it,
                // or before it and still active.
                "SELECT * FROM findings WHERE client = $1 AND detected_at >= $2 AND detected_at <= $3
                 UNION SELECT * FROM findings WHERE client = $1 AND detected_at < $2 AND resolved_at >= $2
                 UNION SELECT * FROM findings WHERE client = $1 AND detected_at < $2 AND state != 'resolved'
                 ORDER BY id",
            )
            .bind(client.as_str())
            .bind(Ts(from))
            .bind(Ts(to))
        )?;
        decode_all(rows)
    }

    /// Reconciles one scan's observations with the client's stored findings.
    ///
    /// `ran` holds the ids of the checks that actually ran: a finding whose check
    /// was skipped (missing data) is left alone, never cleared.
    pub async fn reconcile(
        db: &mut Db,
        scope: &ReconcileScope<'_>,
        observations: &[Observation],
    ) -> Result<Vec<Change>, FindingError> {
        let ReconcileScope {
            client,
            ran,
            onboarding,
            reopen_window,
            now,
        } = *scope;
        // Only what a scan can change: active findings and those resolved within
        // the reopen window (older ones are history, and a year of it would
        // otherwise be read at every scan). Oldest first, so the map ends up
        // holding the newest finding per fingerprint.
        let rows: Vec<Row> = run!(
            fetch_all,
            db,
            sqlx::query_as(
                "SELECT * FROM findings WHERE client = $1 AND state != 'resolved'
             UNION SELECT * FROM findings WHERE client = $1 AND resolved_at >= $2
             ORDER BY id",
            )
            .bind(client.as_str())
            .bind(Ts(now - reopen_window))
        )?;
        let mut existing: HashMap<String, Finding> = HashMap::new();
        for r in rows {
            let f: Finding = r.try_into()?;
            existing.insert(f.fingerprint.as_str().to_owned(), f);
        }
        let actor = Actor::scan();
        let mut changes = Vec::new();
        let mut seen = HashSet::new();
        for obs in observations {
            let fp = Fingerprint::new(client, &obs.check, &obs.subject);
            if !seen.insert(fp.as_str().to_owned()) {
                continue; // a check reporting the same subject twice is one finding
            }
            let value = obs.value_at_stake.clone();
            // A finding resolved longer ago than the damping window is history:
            // the problem is new and gets a new finding and a new message.
            let current = existing.get(fp.as_str()).filter(|f| {
                f.state.is_active() || f.resolved_at.is_none_or(|r| now - r <= reopen_window)
            });
            match current {
                None => {
                    // RETURNING * hands back the row as stored: no read after the write.
                    let row: Row = run!(
                        fetch_one,
                        db,
                        sqlx::query_as(
                            "INSERT INTO findings (fingerprint, client, check_id, subject, severity, track, state,
                                title, why, deep_link, value_minor, currency, began_at, detected_at, last_seen_at,
                                onboarding)
                             VALUES ($1, $2, $3, $4, $5, $6, 'open', $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING *",
                        )
                        .bind(fp.as_str())
                        .bind(client.as_str())
                        .bind(&obs.check)
                        .bind(&obs.subject)
                        .bind(obs.severity.as_str())
                        .bind(track_str(obs.track))
                        .bind(&obs.title)
                        .bind(&obs.why)
                        .bind(&obs.deep_link)
                        .bind(value.as_ref().map(|m| m.minor))
                        .bind(value.as_ref().map(|m| m.currency.clone()))
                        .bind(obs.began_at.map(Ts))
                        .bind(Ts(now))
                        .bind(Ts(now))
                        .bind(onboarding)
                    )?;
                    let finding: Finding = row.try_into()?;
                    record(db, finding.id, &actor, "detected", &obs.title, now).await?;
                    changes.push(Change {
                        finding,
                        kind: ChangeKind::Detected,
                        actor: actor.clone(),
                    });
                }
                Some(f) => {
                    // "Until worse" compares with what it was when snoozed.
                    let worse = obs.severity > f.snooze_severity.unwrap_or(f.severity)
                        || match (
                            &value,
                            f.snooze_value_minor.or(f.value.as_ref().map(|v| v.minor)),
                        ) {
                            (Some(new), Some(old)) => new.minor > old + old.abs() / 2,
                            _ => false,
                        };
                    let kind = if f.state == FindingState::Resolved {
                        ChangeKind::Reopened
                    } else if obs.severity > f.severity {
                        ChangeKind::Worsened { from: f.severity }
                    } else {
                        ChangeKind::StillSeen
                    };
                    let wake = f.state == FindingState::Snoozed && f.snooze_until_worse && worse;
                    let new_state = match kind {
                        ChangeKind::Reopened => FindingState::Open,
                        _ if wake => FindingState::Open,
                        _ => f.state,
                    };
                    let updated: Row = run!(
                        fetch_one,
                        db,
                        sqlx::query_as(
                            "UPDATE findings SET severity = $1, title = $2, why = $3, deep_link = $4, value_minor = $5,
                                currency = $6, last_seen_at = $7, state = $8,
                                snoozed_until = CASE WHEN $8 = 'snoozed' THEN snoozed_until ELSE NULL END,
                                resolved_at = CASE WHEN $8 = 'resolved' THEN resolved_at ELSE NULL END,
                                resolved_by = CASE WHEN $8 = 'resolved' THEN resolved_by ELSE NULL END,
                                resolution = CASE WHEN $8 = 'resolved' THEN resolution ELSE NULL END,
                                began_at = COALESCE(began_at, $9)
                             WHERE id = $10 RETURNING *",
                        )
                        .bind(obs.severity.as_str())
                        .bind(&obs.title)
                        .bind(&obs.why)
                        .bind(&obs.deep_link)
                        .bind(value.as_ref().map(|m| m.minor))
                        .bind(value.as_ref().map(|m| m.currency.clone()))
                        .bind(Ts(now))
                        .bind(new_state.as_str())
                        .bind(obs.began_at.map(Ts))
                        .bind(f.id.0)
                    )?;
                    let updated: Finding = updated.try_into()?;
                    match &kind {
                        ChangeKind::Reopened => {
                            record(db, f.id, &actor, "reopened", "seen again by a scan", now)
                                .await?
                        }
                        ChangeKind::Worsened { from } => {
                            let d = format!("{from} -> {}", obs.severity);
                            record(db, f.id, &actor, "worsened", &d, now).await?
                        }
                        _ => {}
                    }
                    if wake {
                        record(db, f.id, &actor, "snooze-ended", "it got worse", now).await?;
                    }
                    let kind = if wake && kind == ChangeKind::StillSeen {
                        ChangeKind::SnoozeEnded
                    } else {
                        kind
                    };
                    changes.push(Change {
                        finding: updated,
                        kind,
                        actor: actor.clone(),
                    });
                }
            }
        }
        for f in existing.values() {
            if f.state.is_active()
                && ran.contains(&f.check_id)
                && !seen.contains(f.fingerprint.as_str())
            {
                let cleared: Row = run!(
                    fetch_one,
                    db,
                    sqlx::query_as(
                        "UPDATE findings SET state = 'resolved', resolved_at = $1, resolved_by = 'lookout',
                            resolution = 'cleared', snoozed_until = NULL WHERE id = $2 RETURNING *",
                    )
                    .bind(Ts(now))
                    .bind(f.id.0)
                )?;
                let cleared: Finding = cleared.try_into()?;
                record(
                    db,
                    f.id,
                    &actor,
                    "cleared",
                    "the check no longer sees it",
                    now,
                )
                .await?;
                changes.push(Change {
                    finding: cleared,
                    kind: ChangeKind::Cleared,
                    actor: actor.clone(),
                });
            }
        }
        changes.sort_by_key(|c| c.finding.id);
        Ok(changes)
    }

    /// A person acknowledges a finding.
    pub async fn acknowledge(
        db: &mut Db,
        id: FindingId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> Result<Change, FindingError> {
        let f = Self::get(db, id).await?;
        match f.state {
            FindingState::Resolved => {
                return Err(FindingError::Invalid(format!("{id} is already resolved")));
            }
            FindingState::Acknowledged => {
                return Err(FindingError::Invalid(format!(
                    "{id} was already acknowledged by {}",
                    f.acknowledged_by
                        .as_deref()
                        .map(crate::message::person_label)
                        .unwrap_or_else(|| "someone".into())
                )));
            }
            FindingState::Open | FindingState::Snoozed => {}
        }
        run!(
            execute,
            db,
            sqlx::query(
                "UPDATE findings SET state = 'acknowledged', acknowledged_at = $1, acknowledged_by = $2,
                    snoozed_until = NULL, snoozed_by = NULL, snooze_until_worse = FALSE WHERE id = $3",
            )
            .bind(Ts(now))
            .bind(&actor.name)
            .bind(id.0)
        )?;
        record(db, id, actor, "acknowledged", "", now).await?;
        Self::changed(db, id, ChangeKind::Acknowledged, actor).await
    }

    /// A person snoozes a finding until `until` (which must be in the future).
    pub async fn snooze(
        db: &mut Db,
        id: FindingId,
        actor: &Actor,
        until: DateTime<Utc>,
        until_worse: bool,
        now: DateTime<Utc>,
    ) -> Result<Change, FindingError> {
        let f = Self::get(db, id).await?;
        if f.state == FindingState::Resolved {
            return Err(FindingError::Invalid(format!(
                "{id} is resolved; nothing to snooze"
            )));
        }
        if until <= now {
            return Err(FindingError::Invalid(format!(
                "a snooze must end in the future (asked for {})",
                until.format("%Y-%m-%d %H:%M UTC")
            )));
        }
        run!(
            execute,
            db,
            sqlx::query(
                "UPDATE findings SET state = 'snoozed', snoozed_until = $1, snoozed_by = $2, snooze_until_worse = $3,
                    snooze_severity = severity, snooze_value_minor = value_minor
                 WHERE id = $4",
            )
            .bind(Ts(until))
            .bind(&actor.name)
            .bind(until_worse)
            .bind(id.0)
        )?;
        let detail = format!(
            "until {}{}",
            until.format("%Y-%m-%d %H:%M UTC"),
            if until_worse {
                " or until it gets worse"
            } else {
                ""
            }
        );
        record(db, id, actor, "snoozed", &detail, now).await?;
        Self::changed(db, id, ChangeKind::Snoozed, actor).await
    }

    /// A person resolves a finding, with an optional reason.
    pub async fn resolve(
        db: &mut Db,
        id: FindingId,
        actor: &Actor,
        reason: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Change, FindingError> {
        let f = Self::get(db, id).await?;
        if f.state == FindingState::Resolved {
            return Err(FindingError::Invalid(format!("{id} is already resolved")));
        }
        let reason = reason.unwrap_or("resolved by hand");
        run!(
            execute,
            db,
            sqlx::query(
                "UPDATE findings SET state = 'resolved', resolved_at = $1, resolved_by = $2, resolution = $3,
                    snoozed_until = NULL WHERE id = $4",
            )
            .bind(Ts(now))
            .bind(&actor.name)
            .bind(reason)
            .bind(id.0)
        )?;
        record(db, id, actor, "resolved", reason, now).await?;
        Self::changed(db, id, ChangeKind::Resolved, actor).await
    }

    /// Ends every snooze whose time has come; the findings go back to open.
    pub async fn wake_due_snoozes(
        db: &mut Db,
        now: DateTime<Utc>,
    ) -> Result<Vec<Change>, FindingError> {
        let ids: Vec<i64> = run!(
            fetch_all,
            db,
            sqlx::query_scalar(
                "SELECT id FROM findings WHERE state = 'snoozed' AND snoozed_until <= $1 ORDER BY id",
            )
            .bind(Ts(now))
        )?;
        let actor = Actor::scheduler();
        let mut out = Vec::new();
        for id in ids {
            let id = FindingId(id);
            // Keep snoozed_by so the re-raise can mention whoever snoozed it.
            // Only if still snoozed: another process on the database that
            // read the same snooze waits here for it, then finds it woken.
            let woke = run!(
                execute,
                db,
                sqlx::query(
                    "UPDATE findings SET state = 'open', snoozed_until = NULL
                     WHERE id = $1 AND state = 'snoozed'"
                )
                .bind(id.0)
            )?;
            if woke != 1 {
                continue;
            }
            record(db, id, &actor, "snooze-ended", "its time came", now).await?;
            out.push(Self::changed(db, id, ChangeKind::SnoozeEnded, &actor).await?);
        }
        Ok(out)
    }

    /// Adds an internal note.
    pub async fn add_note(
        db: &mut Db,
        id: FindingId,
        actor: &Actor,
        body: &str,
        now: DateTime<Utc>,
    ) -> Result<Finding, FindingError> {
        let f = Self::get(db, id).await?;
        run!(
            execute,
            db,
            sqlx::query(
                "INSERT INTO notes (finding_id, author, surface, at, body) VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(id.0)
            .bind(&actor.name)
            .bind(&actor.surface)
            .bind(Ts(now))
            .bind(body)
        )?;
        record(db, id, actor, "note", "", now).await?;
        Ok(f)
    }

    /// A finding's notes, oldest first.
    pub async fn notes(db: &mut Db, id: FindingId) -> Result<Vec<Note>, FindingError> {
        Self::get(db, id).await?;
        let rows: Vec<(String, String, DateTime<Utc>, String)> = run!(
            fetch_all,
            db,
            sqlx::query_as(
                "SELECT author, surface, at, body FROM notes WHERE finding_id = $1 ORDER BY id",
            )
            .bind(id.0)
        )?;
        Ok(rows
            .into_iter()
            .map(|(author, surface, at, body)| Note {
                author,
                surface,
                at,
                body,
            })
            .collect())
    }

    /// A finding's history, oldest first.
    pub async fn events(db: &mut Db, id: FindingId) -> Result<Vec<FindingEvent>, FindingError> {
        let rows: Vec<(DateTime<Utc>, String, String, String, String)> = run!(
            fetch_all,
            db,
            sqlx::query_as(
                "SELECT at, actor, surface, kind, detail FROM finding_events WHERE finding_id = $1 ORDER BY id",
            )
            .bind(id.0)
        )?;
        Ok(rows
            .into_iter()
            .map(|(at, actor, surface, kind, detail)| FindingEvent {
                at,
                actor,
                surface,
                kind,
                detail,
            })
            .collect())
    }

    /// Records the chat message a finding was posted as in one channel.
    pub async fn set_message_ref(
        db: &mut Db,
        id: FindingId,
        channel: &ChannelRef,
        message: &MessageRef,
    ) -> Result<(), FindingError> {
        run!(
        execute,
        db,
        sqlx::query(
                "INSERT INTO finding_messages (finding_id, channel, message_ref) VALUES ($1, $2, $3)
                 ON CONFLICT (finding_id, channel) DO UPDATE SET message_ref = excluded.message_ref",
            )
            .bind(id.0)
            .bind(channel.to_string())
            .bind(&message.0)
    )?;
        Ok(())
    }

    /// The finding's message in a channel, once posted.
    pub async fn message_in(
        db: &mut Db,
        id: FindingId,
        channel: &ChannelRef,
    ) -> Result<Option<MessageRef>, FindingError> {
        let r: Option<String> = run!(
            fetch_optional,
            db,
            sqlx::query_scalar(
                "SELECT message_ref FROM finding_messages WHERE finding_id = $1 AND channel = $2",
            )
            .bind(id.0)
            .bind(channel.to_string())
        )?;
        Ok(r.map(MessageRef))
    }

    /// Every channel the finding has a message in, with the message.
    pub async fn messages(
        db: &mut Db,
        id: FindingId,
    ) -> Result<Vec<(ChannelRef, MessageRef)>, FindingError> {
        let rows: Vec<(String, String)> = run!(
            fetch_all,
            db,
            sqlx::query_as(
                "SELECT channel, message_ref FROM finding_messages WHERE finding_id = $1 ORDER BY channel",
            )
            .bind(id.0)
        )?;
        rows.into_iter()
            .map(|(c, m)| {
                ChannelRef::parse(&c)
                    .map(|c| (c, MessageRef(m)))
                    .map_err(|e| {
                        StoreError::Corrupt(format!("finding {id} message channel: {e}")).into()
                    })
            })
            .collect()
    }

    /// The finding whose message in `channel` is `message` (a thread's parent), if any.
    pub async fn by_message(
        db: &mut Db,
        channel: &ChannelRef,
        message: &MessageRef,
    ) -> Result<Option<FindingId>, FindingError> {
        let id: Option<i64> = run!(
            fetch_optional,
            db,
            sqlx::query_scalar(
                "SELECT finding_id FROM finding_messages WHERE channel = $1 AND message_ref = $2",
            )
            .bind(channel.to_string())
            .bind(&message.0)
        )?;
        Ok(id.map(FindingId))
    }

    async fn changed(
        db: &mut Db,
        id: FindingId,
        kind: ChangeKind,
        actor: &Actor,
    ) -> Result<Change, FindingError> {
        Ok(Change {
            finding: Self::get(db, id).await?,
            kind,
            actor: actor.clone(),
        })
    }
}

async fn record(
    db: &mut Db,
    id: FindingId,
    actor: &Actor,
    kind: &str,
    detail: &str,
    now: DateTime<Utc>,
) -> Result<(), FindingError> {
    run!(
    execute,
    db,
    sqlx::query(
            "INSERT INTO finding_events (finding_id, at, actor, surface, kind, detail) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.0)
        .bind(Ts(now))
        .bind(&actor.name)
        .bind(&actor.surface)
        .bind(kind)
        .bind(detail)
)?;
    Ok(())
}
