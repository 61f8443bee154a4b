//! Lifecycle tests on an in-memory database.

use std::collections::HashSet;

use chrono::{Duration, TimeZone, Utc};

use super::*;
use crate::checks::Observation;
use crate::domain::{ClientSlug, FindingId, Money, Severity, Track};
use crate::message::PersonRef;
use crate::store::Store;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
}

fn obs(check: &str, subject: &str, sev: Severity) -> Observation {
    Observation {
        check: check.into(),
        subject: subject.into(),
        severity: sev,
        track: Track::Now,
        title: format!("{check} on {subject}"),
        why: "because".into(),
        deep_link: "https://www.klaviyo.com/flow/X/edit".into(),
        value_at_stake: Some(Money::from_major(100.0, "USD")),
        began_at: None,
    }
}

fn ran(ids: &[&str]) -> HashSet<String> {
    ids.iter().map(|s| s.to_string()).collect()
}

async fn setup() -> (Store, ClientSlug) {
    let store = Store::open_memory().await.unwrap();
    let slug = ClientSlug::parse("acme").unwrap();
    let mut c = store.conn().await.unwrap();
    crate::store::clients::upsert_client(&mut c, &slug, "Acme", t0())
        .await
        .unwrap();
    (store, slug)
}

#[tokio::test]
async fn detect_still_seen_then_clear() {
    let (store, slug) = setup().await;
    let mut c = store.conn().await.unwrap();
    let o = [obs("flow-live-stopped", "F1", Severity::Critical)];
    let changes = Findings::reconcile(
        &mut c,
        &ReconcileScope {
            client: &slug,
            ran: &ran(&["flow-live-stopped"]),
            onboarding: true,
            reopen_window: chrono::Duration::hours(24),
            now: t0(),
        },
        &o,
    )
    .await
    .unwrap();
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].kind, ChangeKind::Detected);
    let id = changes[0].finding.id;
    assert!(changes[0].finding.onboarding);
    assert_eq!(
        changes[0].finding.fingerprint.as_str(),
        "acme/flow-live-stopped/F1"
    );

    let t1 = t0() + Duration::hours(1);
    let changes = Findings::reconcile(
        &mut c,
        &ReconcileScope {
            client: &slug,
            ran: &ran(&["flow-live-stopped"]),
            onboarding: false,
            reopen_window: chrono::Duration::hours(24),
            now: t1,
        },
        &o,
    )
    .await
    .unwrap();
    assert_eq!(changes[0].kind, ChangeKind::StillSeen);
    assert_eq!(changes[0].finding.id, id, "same fingerprint, same finding");
    assert_eq!(changes[0].finding.last_seen_at, t1);

    let t2 = t1 + Duration::hours(1);
    let changes = Findings::reconcile(
        &mut c,
        &ReconcileScope {
            client: &slug,
            ran: &ran(&["flow-live-stopped"]),
            onboarding: false,
            reopen_window: chrono::Duration::hours(24),
            now: t2,
        },
        &[],
    )
    .await
    .unwrap();
    assert_eq!(changes[0].kind, ChangeKind::Cleared);
    assert_eq!(changes[0].finding.state, FindingState::Resolved);
    assert_eq!(changes[0].finding.resolution.as_deref(), Some("cleared"));
    let kinds: Vec<String> = Findings::events(&mut c, id)
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, ["detected", "cleared"]);

    // Seen again: the same finding reopens.
    let changes = Findings::reconcile(
        &mut c,
        &ReconcileScope {
            client: &slug,
            ran: &ran(&["flow-live-stopped"]),
            onboarding: false,
            reopen_window: chrono::Duration::hours(24),
            now: t2 + Duration::hours(1),
        },
        &o,
    )
    .await
    .unwrap();
    assert_eq!(changes[0].kind, ChangeKind::Reopened);
    assert_eq!(changes[0].finding.id, id);
    assert_eq!(changes[0].finding.state, FindingState::Open);
    assert_eq!(changes[0].finding.resolution, None);
}

#[tokio::test]
async fn skipped_checks_never_clear() {
    let (store, slug) = setup().await;
    let mut c = store.conn().await.unwrap();
    let o = [obs("deliv-bounce-rate", "email", Severity::Warning)];
    Findings::reconcile(
        &mut c,
        &ReconcileScope {
            client: &slug,
            ran: &ran(&["deliv-bounce-rate"]),
            onboarding: false,
            reopen_window: chrono::Duration::hours(24),
            now: t0(),
        },
        &o,
    )
    .await
    .unwrap();
    // The check did not run (data missing): the finding stays open.
    let changes = Findings::reconcile(
        &mut c,
        &ReconcileScope {
            client: &slug,
            ran: &ran(&["other"]),
            onboarding: false,
            reopen_window: chrono::Duration::hours(24),
            now: t0() + Duration::hours(1),
        },
        &[],
    )
    .await
    .unwrap();
    assert!(changes.is_empty());
    let active = Findings::active(&mut c, Some(&slug), None).await.unwrap();
    assert_eq!(active.len(), 1);
}

#[tokio::test]
async fn worsening_is_reported_and_wakes_until_worse_snoozes() {
    let (store, slug) = setup().await;
    let mut c = store.conn().await.unwrap();
    let r = ran(&["deliv-bounce-rate"]);
    let ch0 = Findings::reconcile(
        &mut c,
        &ReconcileScope {
            client: &slug,
            ran: &r,
            onboarding: false,
            reopen_window: chrono::Duration::hours(24),
            now: t0(),
        },
        &[obs("deliv-bounce-rate", "email", Severity::Warning)],
    )
    .await
    .unwrap();
    let id = ch0[0].finding.id;
    let ana = Actor::person(&PersonRef::console("ana"));
    Findings::snooze(&mut c, id, &ana, t0() + Duration::days(7), true, t0())
        .await
        .unwrap();
    let ch1 = Findings::reconcile(
        &mut c,
        &ReconcileScope {
            client: &slug,
            ran: &r,
            onboarding: false,
            reopen_window: chrono::Duration::hours(24),
            now: t0() + Duration::hours(1),
        },
        &[obs("deliv-bounce-rate", "email", Severity::Critical)],
    )
    .await
    .unwrap();
    assert_eq!(
        ch1[0].kind,
        ChangeKind::Worsened {
            from: Severity::Warning
        }
    );
    assert_eq!(
        ch1[0].finding.state,
        FindingState::Open,
        "until-worse snooze woke up"
    );
    assert_eq!(ch1[0].finding.severity, Severity::Critical);
}

#[tokio::test]
async fn plain_snooze_holds_until_its_end_then_wakes() {
    let (store, slug) = setup().await;
    let mut c = store.conn().await.unwrap();
    let r = ran(&["x"]);
    let id = Findings::reconcile(
        &mut c,
        &ReconcileScope {
            client: &slug,
            ran: &r,
            onboarding: false,
            reopen_window: chrono::Duration::hours(24),
            now: t0(),
        },
        &[obs("x", "s", Severity::Warning)],
    )
    .await
    .unwrap()[0]
        .finding
        .id;
    let bo = Actor::person(&PersonRef::console("bo"));
    let until = t0() + Duration::hours(4);
    let s = Findings::snooze(&mut c, id, &bo, until, false, t0())
        .await
        .unwrap();
    assert_eq!(s.finding.state, FindingState::Snoozed);
    assert_eq!(s.finding.snoozed_until, Some(until));
    // A worse observation does not wake a plain snooze.
    let ch1 = Findings::reconcile(
        &mut c,
        &ReconcileScope {
            client: &slug,
            ran: &r,
            onboarding: false,
            reopen_window: chrono::Duration::hours(24),
            now: t0() + Duration::hours(1),
        },
        &[obs("x", "s", Severity::Critical)],
    )
    .await
    .unwrap();
    assert_eq!(ch1[0].finding.state, FindingState::Snoozed);
    assert!(
        Findings::wake_due_snoozes(&mut c, until - Duration::minutes(1))
            .await
            .unwrap()
            .is_empty()
    );
    let woke = Findings::wake_due_snoozes(&mut c, until).await.unwrap();
    assert_eq!(woke.len(), 1);
    assert_eq!(woke[0].kind, ChangeKind::SnoozeEnded);
    assert_eq!(woke[0].finding.state, FindingState::Open);
    assert_eq!(woke[0].finding.snoozed_by.as_deref(), Some("console:bo"));
    // A snooze that ends in the past is refused.
    let err = Findings::snooze(&mut c, id, &bo, t0(), false, t0() + Duration::hours(5))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("future"), "{err}");
}

#[tokio::test]
async fn people_ack_resolve_and_note_with_history() {
    let (store, slug) = setup().await;
    let mut c = store.conn().await.unwrap();
    let id = Findings::reconcile(
        &mut c,
        &ReconcileScope {
            client: &slug,
            ran: &ran(&["x"]),
            onboarding: false,
            reopen_window: chrono::Duration::hours(24),
            now: t0(),
        },
        &[obs("x", "s", Severity::Critical)],
    )
    .await
    .unwrap()[0]
        .finding
        .id;
    let ana = Actor::person(&PersonRef::parse("slack:U0ANA").unwrap());
    let a = Findings::acknowledge(&mut c, id, &ana, t0()).await.unwrap();
    assert_eq!(a.finding.state, FindingState::Acknowledged);
    assert_eq!(a.finding.acknowledged_by.as_deref(), Some("slack:U0ANA"));
    let again = Findings::acknowledge(&mut c, id, &ana, t0())
        .await
        .unwrap_err();
    assert_eq!(again.to_string(), "F-1 was already acknowledged by U0ANA");
    Findings::add_note(&mut c, id, &ana, "told client Monday", t0())
        .await
        .unwrap();
    let notes = Findings::notes(&mut c, id).await.unwrap();
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].body, "told client Monday");
    assert_eq!(notes[0].surface, "slack");
    let r = Findings::resolve(&mut c, id, &ana, Some("fixed the integration"), t0())
        .await
        .unwrap();
    assert_eq!(r.finding.state, FindingState::Resolved);
    assert_eq!(
        r.finding.resolution.as_deref(),
        Some("fixed the integration")
    );
    assert!(
        Findings::resolve(&mut c, id, &ana, None, t0())
            .await
            .is_err()
    );
    let events = Findings::events(&mut c, id).await.unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["detected", "acknowledged", "note", "resolved"]);
    assert!(
        events
            .iter()
            .skip(1)
            .all(|e| e.actor == "slack:U0ANA" && e.surface == "slack")
    );
    assert!(matches!(
        Findings::get(&mut c, FindingId(99)).await,
        Err(FindingError::NotFound(_))
    ));
}

fn obs_worth(check: &str, sev: Severity, dollars: f64) -> Observation {
    Observation {
        value_at_stake: Some(Money::from_major(dollars, "USD")),
        ..obs(check, "s", sev)
    }
}

#[tokio::test]
async fn flapping_within_the_window_reopens_later_is_a_new_finding() {
    let (store, slug) = setup().await;
    let mut c = store.conn().await.unwrap();
    let r = ran(&["x"]);
    let w = Duration::hours(24);
    let o = [obs("x", "s", Severity::Critical)];
    let first = Findings::reconcile(
        &mut c,
        &ReconcileScope {
            client: &slug,
            ran: &r,
            onboarding: false,
            reopen_window: w,
            now: t0(),
        },
        &o,
    )
    .await
    .unwrap()[0]
        .finding
        .id;
    // Clears, comes back 3 h later: same finding.
    Findings::reconcile(
        &mut c,
        &ReconcileScope {
            client: &slug,
            ran: &r,
            onboarding: false,
            reopen_window: w,
            now: t0() + Duration::hours(1),
        },
        &[],
    )
    .await
    .unwrap();
    let back = Findings::reconcile(
        &mut c,
        &ReconcileScope {
            client: &slug,
            ran: &r,
            onboarding: false,
            reopen_window: w,
            now: t0() + Duration::hours(4),
        },
        &o,
    )
    .await
    .unwrap();
    assert_eq!(
        (back[0].kind.clone(), back[0].finding.id),
        (ChangeKind::Reopened, first)
    );
    // Clears again and stays away two days: a return is a new finding.
    Findings::reconcile(
        &mut c,
        &ReconcileScope {
            client: &slug,
            ran: &r,
            onboarding: false,
            reopen_window: w,
            now: t0() + Duration::hours(5),
        },
        &[],
    )
    .await
    .unwrap();
    let later = t0() + Duration::hours(5) + Duration::days(2);
    let again = Findings::reconcile(
        &mut c,
        &ReconcileScope {
            client: &slug,
            ran: &r,
            onboarding: false,
            reopen_window: w,
            now: later,
        },
        &o,
    )
    .await
    .unwrap();
    assert_eq!(again[0].kind, ChangeKind::Detected);
    assert_ne!(again[0].finding.id, first);
    assert_eq!(again[0].finding.fingerprint, back[0].finding.fingerprint);
    // The old one stays resolved history; only one is active.
    assert_eq!(
        Findings::get(&mut c, first).await.unwrap().state,
        FindingState::Resolved
    );
    assert_eq!(
        Findings::active(&mut c, Some(&slug), None)
            .await
            .unwrap()
            .len(),
        1
    );
    // The next scan updates the new one, not the old.
    let next = Findings::reconcile(
        &mut c,
        &ReconcileScope {
            client: &slug,
            ran: &r,
            onboarding: false,
            reopen_window: w,
            now: later + Duration::hours(1),
        },
        &o,
    )
    .await
    .unwrap();
    assert_eq!(
        (next[0].kind.clone(), next[0].finding.id),
        (ChangeKind::StillSeen, again[0].finding.id)
    );
}

#[tokio::test]
async fn until_worse_wakes_on_a_real_rise_from_the_snoozed_value() {
    let (store, slug) = setup().await;
    let mut c = store.conn().await.unwrap();
    let r = ran(&["x"]);
    let w = Duration::hours(24);
    let id = Findings::reconcile(
        &mut c,
        &ReconcileScope {
            client: &slug,
            ran: &r,
            onboarding: false,
            reopen_window: w,
            now: t0(),
        },
        &[obs_worth("x", Severity::Warning, 100.0)],
    )
    .await
    .unwrap()[0]
        .finding
        .id;
    let bo = Actor::person(&PersonRef::console("bo"));
    Findings::snooze(&mut c, id, &bo, t0() + Duration::days(7), true, t0())
        .await
        .unwrap();
    // Small rises, scan after scan, add up to less than half again: still snoozed.
    for (i, v) in [110.0, 120.0, 140.0].into_iter().enumerate() {
        let t = t0() + Duration::hours(i as i64 + 1);
        let ch1 = Findings::reconcile(
            &mut c,
            &ReconcileScope {
                client: &slug,
                ran: &r,
                onboarding: false,
                reopen_window: w,
                now: t,
            },
            &[obs_worth("x", Severity::Warning, v)],
        )
        .await
        .unwrap();
        assert_eq!(ch1[0].finding.state, FindingState::Snoozed, "${v}");
    }
    // Past 150% of the value when snoozed: it wakes.
    let woke = Findings::reconcile(
        &mut c,
        &ReconcileScope {
            client: &slug,
            ran: &r,
            onboarding: false,
            reopen_window: w,
            now: t0() + Duration::hours(5),
        },
        &[obs_worth("x", Severity::Warning, 160.0)],
    )
    .await
    .unwrap();
    assert_eq!(woke[0].kind, ChangeKind::SnoozeEnded);
    assert_eq!(woke[0].finding.state, FindingState::Open);
}
