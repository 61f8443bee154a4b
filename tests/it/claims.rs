//! Scheduled work that two processes on one database both find due (a
//! digest, the weekly access review) is claimed by one of them: the other,
//! racing it, gets `false` and posts nothing. Two stores (two pools, as two
//! processes have) on one database: a fresh PostgreSQL schema when
//! `LOOKOUT_TEST_DATABASE_URL` names one, a SQLite file otherwise.

use std::time::Duration as StdDuration;

use chrono::{TimeZone, Utc};
use lookout::domain::ClientSlug;
use lookout::store::{Store, clients, schedules};

/// Two stores on one new database, and the folder a SQLite one lives in.
async fn two_processes() -> (Store, Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = match std::env::var("LOOKOUT_TEST_DATABASE_URL") {
        Ok(u) if u.starts_with("postgres") => {
            Store::fresh_schema_url(&u, "t_claims").await.unwrap()
        }
        _ => dir.path().join("shared.db").display().to_string(),
    };
    let a = Store::open_url(&url).await.unwrap();
    let b = Store::open_url(&url).await.unwrap();
    (a, b, dir)
}

#[tokio::test]
async fn of_two_processes_racing_for_a_digest_slot_one_claims_it() {
    let (a, b, _dir) = two_processes().await;
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

#[tokio::test]
async fn an_ended_maintenance_window_is_summarised_by_one_process() {
    let (a, b, _dir) = two_processes().await;
    let acme = ClientSlug::parse("acme").unwrap();
    let start = Utc.with_ymd_and_hms(2026, 12, 7, 9, 0, 0).unwrap();
    let end = start + chrono::Duration::hours(2);
    {
        let mut db = a.conn().await.unwrap();
        clients::upsert_client(&mut db, &acme, "Acme", start)
            .await
            .unwrap();
        schedules::add_maintenance(&mut db, &acme, start, end, "slack:U1")
            .await
            .unwrap();
    }
    let now = end + chrono::Duration::minutes(1);
    let mut first = a.begin().await.unwrap();
    assert_eq!(
        schedules::take_ended_windows(&mut first, now)
            .await
            .unwrap()
            .len(),
        1
    );
    let racing = tokio::spawn(async move {
        let mut tx = b.begin().await.unwrap();
        let taken = schedules::take_ended_windows(&mut tx, now).await;
        (taken.map(|t| t.len()).map_err(|e| e.to_string()), tx)
    });
    tokio::time::sleep(StdDuration::from_millis(300)).await;
    first.commit().await.unwrap();
    let (taken, _tx) = tokio::time::timeout(StdDuration::from_secs(20), racing)
        .await
        .expect("the second take waits for the first, not forever")
        .unwrap();
    assert!(
        matches!(taken, Ok(0) | Err(_)),
        "the window was summarised twice: {taken:?}"
    );
}
