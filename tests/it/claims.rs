//! Scheduled work that two processes on one database both find due (a
//! digest, the weekly access review) is claimed by one of them: the other,
//! racing it, gets `false` and posts nothing. Two stores (two pools, as two
//! processes have) on one database: a fresh PostgreSQL schema when
//! `LOOKOUT_TEST_DATABASE_URL` names one, a SQLite file otherwise.

use std::time::Duration as StdDuration;

use chrono::{TimeZone, Utc};
use lookout::store::{Store, schedules};

#[tokio::test]
async fn of_two_processes_racing_for_a_digest_slot_one_claims_it() {
    let dir = tempfile::tempdir().unwrap();
    let url = match std::env::var("LOOKOUT_TEST_DATABASE_URL") {
        Ok(u) if u.starts_with("postgres") => {
            Store::fresh_schema_url(&u, "t_claims").await.unwrap()
        }
        _ => dir.path().join("shared.db").display().to_string(),
    };
    let a = Store::open_url(&url).await.unwrap();
    let b = Store::open_url(&url).await.unwrap();
    let slot = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();

    let mut first = a.begin().await.unwrap();
    assert!(
        schedules::claim_run(&mut first, "digest:daily", slot, slot)
            .await
            .unwrap()
    );
    // The second process asks while the first has not committed yet.
    let racing = tokio::spawn(async move {
        let mut tx = b.begin().await.unwrap();
        let claimed = schedules::claim_run(&mut tx, "digest:daily", slot, slot).await;
        (claimed.map_err(|e| e.to_string()), tx)
    });
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    first.commit().await.unwrap();
    let (claimed, _tx) = tokio::time::timeout(StdDuration::from_secs(20), racing)
        .await
        .expect("the second claim waits for the first, not forever")
        .unwrap();
    // PostgreSQL: it waited on the row and saw the new time. SQLite: it
    // waited on the write lock, or gave up on it; either way, no second run.
    assert!(
        matches!(claimed, Ok(false) | Err(_)),
        "the slot was claimed twice: {claimed:?}"
    );
    let mut db = a.conn().await.unwrap();
    assert_eq!(
        schedules::last_run(&mut db, "digest:daily").await.unwrap(),
        Some(slot)
    );
}
