//! The request faults that change how a brand's `/api/...` requests are
//! answered rather than what its data says: bursts of 5xx, slow and hanging
//! answers, expired OAuth tokens, malformed pages and truncated bodies.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::super::faults::{Fault, FaultKind};
use super::super::hash::{hash, str_hash};
use super::super::jsonapi::JSON_API;

/// How late a `slow` brand's answers come.
pub(crate) const SLOW_DELAY: Duration = Duration::from_millis(1500);
/// How long a `timeout` brand's requests hang before a 504.
pub(crate) const TIMEOUT_HANG: Duration = Duration::from_secs(120);
/// What a `malformed-page` collection carries in `data` instead of an array.
pub(crate) const MALFORMED_DATA: &str = "temporarily unavailable";

/// The request faults in force for one brand at one instant.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RequestFaults {
    pub(crate) server_burst: bool,
    pub(crate) slow: bool,
    pub(crate) timeout: bool,
    /// Access tokens issued before this instant count as expired.
    pub(crate) tokens_expired_before: Option<DateTime<Utc>>,
    pub(crate) malformed_page: bool,
    pub(crate) truncated_body: bool,
}

impl RequestFaults {
    /// Reads `faults` (the brand's own) at `now`.
    pub(crate) fn at(faults: &[Fault], now: DateTime<Utc>) -> Self {
        let mut rf = Self::default();
        for f in faults.iter().filter(|f| f.covers(now)) {
            match f.kind {
                FaultKind::ServerBurst => rf.server_burst = true,
                FaultKind::Slow => rf.slow = true,
                FaultKind::Timeout => rf.timeout = true,
                // Of overlapping faults the latest start expires the most tokens.
                FaultKind::TokenExpired => {
                    rf.tokens_expired_before = rf.tokens_expired_before.max(Some(f.at));
                }
                FaultKind::MalformedPage => rf.malformed_page = true,
                FaultKind::TruncatedBody => rf.truncated_body = true,
                _ => {}
            }
        }
        rf
    }

    /// Whether an access token issued at `issued` counts as expired.
    pub(crate) fn token_expired(&self, issued: DateTime<Utc>) -> bool {
        self.tokens_expired_before.is_some_and(|t| issued < t)
    }
}

/// Most times a server burst fails one request (the same method and URL):
/// the client's three retries then get through.
pub(crate) const BURST_FAILS_PER_REQUEST: u32 = 3;

/// The 5xx status a server burst gives request number `n` of a brand, if
/// any: a hash picks about one request in three, and 500, 502 or 503 for it.
/// A hash rather than `n % 3` so failures come in irregular runs, as real
/// outages do, while the same request sequence always fails the same way.
pub(crate) fn burst_status(seed: u64, brand: usize, n: u64) -> Option<u16> {
    let h = hash(&[seed, brand as u64, n, str_hash("server-burst")]);
    h.is_multiple_of(3)
        .then(|| [500, 502, 503][((h >> 32) % 3) as usize])
}

/// Replaces a collection's `data` array with a string, leaving single
/// resources alone; returns whether it did.
pub(crate) fn malform(doc: &mut Value) -> bool {
    if !doc["data"].is_array() {
        return false;
    }
    doc["data"] = Value::String(MALFORMED_DATA.to_owned());
    true
}

/// A 200 JSON:API response of the first half of `body`: `content-length`
/// matches the bytes sent, so only the JSON is short.
pub(crate) fn truncated(body: impl Into<Vec<u8>>) -> Response {
    let mut bytes = body.into();
    bytes.truncate(bytes.len() / 2);
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, HeaderValue::from_static(JSON_API))],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, SimClock};
    use crate::simulator::Simulator;
    use crate::simulator::oauth::BearerRefusal;
    use axum::body::Body;
    use axum::extract::{Request, State};
    use chrono::TimeZone;
    use std::sync::Arc;
    use tokio::time::Instant;

    struct Sim {
        sim: Simulator,
        clock: SimClock,
    }

    fn sim() -> Sim {
        let clock = SimClock::frozen(Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap());
        let sim = Simulator::new(42, 12, Arc::new(clock.clone()));
        sim.set_rate_limits(false);
        Sim { sim, clock }
    }

    impl Sim {
        fn key(&self, i: usize) -> String {
            format!("Klaviyo-API-Key {}", self.sim.brands()[i].api_key.expose())
        }

        fn inject(&self, slug: &str, kind: FaultKind) {
            self.sim.inject(Fault {
                brand: slug.into(),
                kind,
                at: self.clock.now(),
                until: None,
            });
        }

        /// Calls the `/api` handler itself, as the router would: `(status, body)`.
        async fn get(&self, auth: &str, path: &str) -> (u16, Value) {
            let req = Request::builder()
                .uri(path)
                .header("revision", "2026-07-15")
                .header("authorization", auth)
                .header("host", "sim.test")
                .body(Body::empty())
                .unwrap();
            let r = super::super::api(State(self.sim.inner.clone()), req).await;
            let status = r.status().as_u16();
            let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
                .await
                .unwrap();
            (
                status,
                serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            )
        }
    }

    #[tokio::test(start_paused = true)]
    async fn slow_delays_the_brands_answers_until_cleared() {
        let s = sim();
        s.inject("acme", FaultKind::Slow);
        let t = Instant::now();
        let (status, body) = s.get(&s.key(0), "/api/flows").await;
        assert_eq!(status, 200);
        assert!(body["data"].is_array());
        assert!(t.elapsed() >= SLOW_DELAY, "{:?}", t.elapsed());
        // Other brands answer at once (paused time only moves for timers).
        let t = Instant::now();
        assert_eq!(s.get(&s.key(1), "/api/flows").await.0, 200);
        assert!(t.elapsed() < Duration::from_millis(100));
        assert!(s.sim.clear("acme", FaultKind::Slow));
        let t = Instant::now();
        assert_eq!(s.get(&s.key(0), "/api/flows").await.0, 200);
        assert!(t.elapsed() < Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn timeout_hangs_for_two_minutes_then_504s() {
        let s = sim();
        s.inject("acme", FaultKind::Timeout);
        let key = s.key(0);
        let short = tokio::time::timeout(Duration::from_secs(30), s.get(&key, "/api/flows"));
        assert!(short.await.is_err(), "a 30 s client timeout fires first");
        let t = Instant::now();
        let (status, body) = s.get(&s.key(0), "/api/flows").await;
        assert!(t.elapsed() >= TIMEOUT_HANG, "{:?}", t.elapsed());
        assert_eq!(status, 504);
        assert_eq!(body["errors"][0]["code"], "gateway_timeout");
        assert_eq!(body["errors"][0]["status"], 504);
        assert_eq!(s.get(&s.key(1), "/api/flows").await.0, 200);
        assert!(s.sim.clear("acme", FaultKind::Timeout));
        let t = Instant::now();
        assert_eq!(s.get(&s.key(0), "/api/flows").await.0, 200);
        assert!(t.elapsed() < Duration::from_millis(100));
    }

    #[tokio::test]
    async fn token_expired_refuses_older_tokens_but_not_refreshed_ones_or_keys() {
        let s = sim();
        let inner = &s.sim.inner;
        let (old, refresh) = inner.oauth.grant_for_test(0, s.clock.now());
        let bearer = |t: &str| format!("Bearer {t}");
        assert_eq!(s.get(&bearer(&old), "/api/flows").await.0, 200);
        s.clock.advance(chrono::Duration::minutes(1));
        s.inject("acme", FaultKind::TokenExpired);
        let (status, body) = s.get(&bearer(&old), "/api/flows").await;
        assert_eq!(status, 401);
        let e = &body["errors"][0];
        assert_eq!(e["code"], "not_authenticated");
        assert_eq!(e["detail"], BearerRefusal::Expired.detail());
        // Private keys are unaffected; a refresh after the fault began works.
        assert_eq!(s.get(&s.key(0), "/api/flows").await.0, 200);
        let new = inner
            .oauth
            .refresh_for_test(&refresh, s.clock.now())
            .expect("refresh works under token-expired");
        assert_eq!(s.get(&bearer(&new), "/api/flows").await.0, 200);
        s.clock.advance(chrono::Duration::minutes(1));
        assert_eq!(s.get(&bearer(&old), "/api/flows").await.0, 401);
        assert!(s.sim.clear("acme", FaultKind::TokenExpired));
        // Still within its hour: the old token works again.
        assert_eq!(s.get(&bearer(&old), "/api/flows").await.0, 200);
    }

    #[test]
    fn bursts_fail_about_a_third_with_500_502_503() {
        let statuses: Vec<Option<u16>> = (0..3000).map(|n| burst_status(42, 0, n)).collect();
        let failed = statuses.iter().flatten().count();
        assert!((800..1200).contains(&failed), "{failed} of 3000 failed");
        for s in [500, 502, 503] {
            assert!(statuses.contains(&Some(s)), "{s} never drawn");
        }
        assert!(
            statuses
                .iter()
                .flatten()
                .all(|s| [500, 502, 503].contains(s))
        );
        // Deterministic, and another brand fails on other requests.
        assert_eq!(burst_status(42, 0, 7), burst_status(42, 0, 7));
        let other: Vec<_> = (0..3000).map(|n| burst_status(42, 1, n)).collect();
        assert_ne!(statuses, other);
    }

    #[test]
    fn faults_in_force_are_read_at_now() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
        let f = |kind, at, until| Fault {
            brand: "acme".into(),
            kind,
            at,
            until,
        };
        let hour = chrono::Duration::hours(1);
        let faults = [
            f(FaultKind::Slow, t0, None),
            f(FaultKind::TokenExpired, t0 - hour, None),
            f(FaultKind::TokenExpired, t0, None),
            f(FaultKind::TruncatedBody, t0 - hour, Some(t0)),
            f(FaultKind::OrdersStop, t0, None),
        ];
        let rf = RequestFaults::at(&faults, t0);
        assert!(rf.slow && !rf.truncated_body && !rf.timeout && !rf.server_burst);
        assert_eq!(rf.tokens_expired_before, Some(t0));
        assert!(rf.token_expired(t0 - chrono::Duration::seconds(1)));
        assert!(!rf.token_expired(t0));
        assert_eq!(
            RequestFaults::at(&faults, t0 - hour),
            RequestFaults {
                tokens_expired_before: Some(t0 - hour),
                truncated_body: true,
                ..RequestFaults::default()
            }
        );
    }

    #[test]
    fn malform_touches_collections_only() {
        let mut list = serde_json::json!({"data": [{"id": "a"}], "links": {"self": "x"}});
        assert!(malform(&mut list));
        assert_eq!(list["data"], MALFORMED_DATA);
        assert_eq!(list["links"]["self"], "x");
        let mut one = serde_json::json!({"data": {"id": "a"}});
        assert!(!malform(&mut one));
        assert_eq!(one["data"]["id"], "a");
    }
}
