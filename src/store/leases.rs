//! Leases: work one process holds for a while, so several processes on one
//! database share it without doing any of it twice.
//!
//! A lease has a name (`scan:acme`, `outbox:slack:C0001`, `jobs`), a holder
//! (one id per process), an expiry and a fencing token that grows with every
//! take. A holder renews before the expiry; a process that dies stops
//! renewing, and the work is taken over once the lease has expired. Whatever
//! a holder commits checks its token in the same transaction ([`hold`]), so a
//! process that wakes after its lease ended cannot write over the newer
//! holder's work.
//!
//! Expiries are in real time (each process's clock, kept by NTP), never the
//! app clock a demo or test runs fast: a lease is about processes being alive.

use chrono::{DateTime, Utc};

use super::{Backend, Db, StoreError, Ts};

/// A lease just taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Taken {
    /// The fencing token to present when committing under the lease.
    pub token: i64,
    /// Whether another holder had it and let it expire (it stopped, or died).
    pub taken_over: bool,
}

/// Takes the lease `name` for `holder` until `until`, unless another holder
/// has it and it has not expired. Run it in a transaction.
pub async fn take(
    db: &mut Db,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<Taken>, StoreError> {
    run!(
        execute,
        db,
        sqlx::query(
            "INSERT INTO leases (name, holder, token, expires_at, released)
             VALUES ($1, '', 0, $2, TRUE) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(Ts(DateTime::UNIX_EPOCH))
    )?;
    // On PostgreSQL a lease row another process is taking or committing
    // under is skipped rather than waited for: it is busy, so not ours now.
    // SQLite has one writer at a time and no row locks to skip.
    let select = match db.backend() {
        Backend::Postgres => {
            "SELECT holder, token, expires_at, released FROM leases WHERE name = $1
             FOR UPDATE SKIP LOCKED"
        }
        Backend::Sqlite => "SELECT holder, token, expires_at, released FROM leases WHERE name = $1",
    };
    let row: Option<(String, i64, DateTime<Utc>, bool)> =
        run!(fetch_optional, db, sqlx::query_as(select).bind(name))?;
    let Some((was, token, expires, released)) = row else {
        return Ok(None);
    };
    let held_by_another = !released && was != holder && expires > now;
    if held_by_another {
        return Ok(None);
    }
    let token = token + 1;
    run!(
        execute,
        db,
        sqlx::query(
            "UPDATE leases SET holder = $2, token = $3, expires_at = $4, released = FALSE
             WHERE name = $1",
        )
        .bind(name)
        .bind(holder)
        .bind(token)
        .bind(Ts(until))
    )?;
    Ok(Some(Taken {
        token,
        taken_over: !released && !was.is_empty() && was != holder,
    }))
}

/// Extends a lease still held with `token` until `until`; false when it was
/// taken over meanwhile (the holder should stop the work).
pub async fn renew(
    db: &mut Db,
    name: &str,
    token: i64,
    until: DateTime<Utc>,
) -> Result<bool, StoreError> {
    let n = run!(
        execute,
        db,
        sqlx::query(
            "UPDATE leases SET expires_at = $3 WHERE name = $1 AND token = $2 AND NOT released",
        )
        .bind(name)
        .bind(token)
        .bind(Ts(until))
    )?;
    Ok(n == 1)
}

/// Gives a lease back at once (the work is done), if still held with `token`.
pub async fn release(db: &mut Db, name: &str, token: i64) -> Result<(), StoreError> {
    run!(
        execute,
        db,
        sqlx::query("UPDATE leases SET released = TRUE WHERE name = $1 AND token = $2")
            .bind(name)
            .bind(token)
    )?;
    Ok(())
}

/// Gives back whatever `holder` holds of `name` (a process stopping).
pub async fn release_holder(db: &mut Db, name: &str, holder: &str) -> Result<(), StoreError> {
    run!(
        execute,
        db,
        sqlx::query("UPDATE leases SET released = TRUE WHERE name = $1 AND holder = $2")
            .bind(name)
            .bind(holder)
    )?;
    Ok(())
}

/// The fencing check: whether `token` is still the lease's current token and
/// not released. Call it in the transaction that commits the lease's work;
/// on PostgreSQL it locks the lease row until that commit, so nobody takes
/// the lease over between the check and the commit.
pub async fn hold(db: &mut Db, name: &str, token: i64) -> Result<bool, StoreError> {
    let select = match db.backend() {
        Backend::Postgres => "SELECT token, released FROM leases WHERE name = $1 FOR UPDATE",
        Backend::Sqlite => "SELECT token, released FROM leases WHERE name = $1",
    };
    let row: Option<(i64, bool)> = run!(fetch_optional, db, sqlx::query_as(select).bind(name))?;
    Ok(row.is_some_and(|(t, released)| t == token && !released))
}

/// Names of the leases held and unexpired at `now` whose names start with
/// `prefix` (the scans running anywhere, for `/portfolio` and tests).
pub async fn held(
    db: &mut Db,
    prefix: &str,
    now: DateTime<Utc>,
) -> Result<Vec<String>, StoreError> {
    Ok(run!(
        fetch_all,
        db,
        sqlx::query_scalar(
            "SELECT name FROM leases WHERE substr(name, 1, length($1)) = $1
             AND NOT released AND expires_at > $2 ORDER BY name",
        )
        .bind(prefix)
        .bind(Ts(now))
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use chrono::Duration;

    async fn take_now(s: &Store, name: &str, holder: &str, now: DateTime<Utc>) -> Option<Taken> {
        let mut tx = s.begin().await.unwrap();
        let t = take(&mut tx, name, holder, now, now + Duration::seconds(30))
            .await
            .unwrap();
        tx.commit().await.unwrap();
        t
    }

    #[tokio::test]
    async fn one_holder_at_a_time_until_the_lease_expires_then_the_old_token_is_fenced_out() {
        let s = Store::open_memory().await.unwrap();
        let t0 = DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z")
            .unwrap()
            .to_utc();
        let a = take_now(&s, "scan:acme", "proc-a", t0).await.unwrap();
        assert_eq!(
            a,
            Taken {
                token: 1,
                taken_over: false
            }
        );
        // Another process is refused while it is held; other names are free.
        assert!(
            take_now(&s, "scan:acme", "proc-b", t0 + Duration::seconds(29))
                .await
                .is_none()
        );
        assert!(take_now(&s, "scan:ember", "proc-b", t0).await.is_some());
        let mut db = s.conn().await.unwrap();
        assert_eq!(
            held(&mut db, "scan:", t0 + Duration::seconds(1))
                .await
                .unwrap(),
            ["scan:acme", "scan:ember"]
        );
        // Renewed, it stays held past the first expiry.
        assert!(
            renew(&mut db, "scan:acme", a.token, t0 + Duration::seconds(60))
                .await
                .unwrap()
        );
        drop(db);
        assert!(
            take_now(&s, "scan:acme", "proc-b", t0 + Duration::seconds(45))
                .await
                .is_none()
        );
        // proc-a stops renewing (killed): proc-b takes over after the expiry,
        // with a newer token.
        let b = take_now(&s, "scan:acme", "proc-b", t0 + Duration::seconds(61))
            .await
            .unwrap();
        assert_eq!(
            b,
            Taken {
                token: 2,
                taken_over: true
            }
        );
        // proc-a wakes late: its renewal and its commit check both fail.
        let mut tx = s.begin().await.unwrap();
        assert!(!hold(&mut tx, "scan:acme", a.token).await.unwrap());
        assert!(hold(&mut tx, "scan:acme", b.token).await.unwrap());
        assert!(
            !renew(&mut tx, "scan:acme", a.token, t0 + Duration::seconds(120))
                .await
                .unwrap()
        );
        tx.commit().await.unwrap();
        // Released, it is free at once, and the next take is no takeover.
        let mut db = s.conn().await.unwrap();
        release(&mut db, "scan:acme", b.token).await.unwrap();
        drop(db);
        let mut tx = s.begin().await.unwrap();
        assert!(!hold(&mut tx, "scan:acme", b.token).await.unwrap());
        tx.commit().await.unwrap();
        let c = take_now(&s, "scan:acme", "proc-c", t0 + Duration::seconds(62))
            .await
            .unwrap();
        assert_eq!(
            c,
            Taken {
                token: 3,
                taken_over: false
            }
        );
    }
}
