//! Helpers shared by the integration tests: a finding recorded the way a scan
//! records it, without waiting for the simulator's data to show a problem.

// Each test crate uses only some of these.
#![allow(dead_code)]

use std::collections::HashSet;

use chrono::{DateTime, Duration, Utc};
use lookout::app::App;
use lookout::checks::Observation;
use lookout::domain::{ClientSlug, Severity, Track};
use lookout::findings::{Change, Findings, ReconcileScope};
use lookout::outbox::Op;
use lookout::routing::{Mode, route_change_in};

/// An observation of `check` about `subject`, with a Klaviyo deep link.
pub fn observation(check: &str, subject: &str, severity: Severity, title: &str) -> Observation {
    Observation {
        check: check.into(),
        subject: subject.into(),
        severity,
        track: Track::Now,
        title: title.into(),
        why: "Because.".into(),
        deep_link: "https://www.klaviyo.com/flow/1/edit".into(),
        value_at_stake: None,
        began_at: None,
    }
}

/// Reconciles one observation for `client` as a scan of its check would, and
/// routes each change under `mode`, in one transaction; the outbox is not run.
pub async fn record(
    app: &App,
    client: &str,
    obs: Observation,
    now: DateTime<Utc>,
    mode: Mode,
) -> (Vec<Change>, Vec<Op>) {
    let slug = ClientSlug::parse(client).unwrap();
    let route = app.clients.get(&slug).unwrap().route;
    let ran: HashSet<String> = [obs.check.clone()].into();
    let scope = ReconcileScope {
        client: &slug,
        ran: &ran,
        onboarding: false,
        reopen_window: Duration::hours(24),
        now,
    };
    let mut tx = app.store.begin().await.unwrap();
    let changes = Findings::reconcile(&mut tx, &scope, &[obs]).await.unwrap();
    let mut ops = Vec::new();
    for c in &changes {
        ops.extend(
            route_change_in(&mut tx, &route, c, now, mode)
                .await
                .unwrap(),
        );
    }
    tx.commit().await.unwrap();
    (changes, ops)
}
