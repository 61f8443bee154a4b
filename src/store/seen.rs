//! Chat requests already taken, shared by every process on the database.

use chrono::{DateTime, Utc};

use super::{Db, StoreError, Ts};

/// Records `key` until `until`; false when it is recorded already and
/// unexpired (a replay, or a platform retrying what was taken).
pub async fn first_time(
    db: &mut Db,
    key: &str,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    // An expired record is replaced rather than refused.
    let n = run!(
        execute,
        db,
        sqlx::query(
            "INSERT INTO seen_requests (key, expires_at) VALUES ($1, $2)
             ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at
             WHERE seen_requests.expires_at <= $3",
        )
        .bind(key)
        .bind(Ts(until))
        .bind(Ts(now))
    )?;
    Ok(n == 1)
}

/// Forgets records expired by `now`; returns how many.
pub async fn forget_expired(db: &mut Db, now: DateTime<Utc>) -> Result<u64, StoreError> {
    Ok(run!(
        execute,
        db,
        sqlx::query("DELETE FROM seen_requests WHERE expires_at <= $1").bind(Ts(now))
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use chrono::Duration;

    #[tokio::test]
    async fn a_key_is_taken_once_until_it_expires() {
        let s = Store::open_memory().await.unwrap();
        let mut db = s.conn().await.unwrap();
        let t0 = DateTime::parse_from_rfc3339("2026-12-07T12:00:00Z")
            .unwrap()
            .to_utc();
        let until = t0 + Duration::minutes(10);
        assert!(
            first_time(&mut db, "slack-sig:ab", until, t0)
                .await
                .unwrap()
        );
        assert!(
            !first_time(&mut db, "slack-sig:ab", until, t0 + Duration::minutes(9))
                .await
                .unwrap()
        );
        assert!(
            first_time(&mut db, "slack-sig:cd", until, t0)
                .await
                .unwrap()
        );
        // Expired, it is forgotten (and a late copy is taken, which the
        // platforms' own freshness window refuses before it gets here).
        let later = t0 + Duration::minutes(11);
        assert_eq!(forget_expired(&mut db, later).await.unwrap(), 2);
        assert!(
            first_time(
                &mut db,
                "slack-sig:ab",
                later + Duration::minutes(10),
                later
            )
            .await
            .unwrap()
        );
    }
}
