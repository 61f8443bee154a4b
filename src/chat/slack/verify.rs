//! Slack request signature verification, done before any byte of a request is parsed.
//!
//! Slack signs every request it sends to Lookout with the app's signing secret:
//! `X-Slack-Signature: v0=<hex HMAC-SHA256 of "v0:{timestamp}:{raw body}">` and
//! `X-Slack-Request-Timestamp`. `Verifier` recomputes the HMAC and compares it
//! in constant time, refuses timestamps more than five minutes from now in
//! either direction, and remembers each accepted signature until its timestamp
//! leaves that window, so a captured request cannot be replayed. The cache is
//! bounded; only requests that passed the HMAC check enter it, so a forger
//! cannot fill it.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::chat::replay::ReplayGuard;
pub use crate::chat::replay::{DEFAULT_REPLAY_CAPACITY, DEFAULT_WINDOW};
use crate::config::Secret;

/// Header carrying the request's Unix timestamp (seconds).
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// Header carrying `v0=<hex signature>`.
pub const SIGNATURE_HEADER: &str = "x-slack-signature";

type HmacSha256 = Hmac<Sha256>;

/// Why a request was refused; none of the variants carries the body or the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A signing header is absent.
    #[error(
        "the request has no {0} header: it did not come from Slack, or a proxy dropped the header"
    )]
    Missing(&'static str),
    /// A signing header is present but malformed.
    #[error("the {header} header is malformed ({reason}): it did not come from Slack")]
    BadHeader {
        /// Which header.
        header: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The timestamp is outside the window.
    #[error(
        "the request is {age_secs} s from now, outside the {window_secs} s window: check this machine's clock (NTP) if Slack's genuine requests are refused"
    )]
    Stale {
        /// Seconds between the request's timestamp and now (negative: in the future).
        age_secs: i64,
        /// The allowed distance.
        window_secs: i64,
    },
    /// The HMAC does not match.
    #[error(
        "the signature does not match: check that the Slack signing secret in the config is the one on the app's Basic Information page"
    )]
    BadSignature,
    /// The same signed request was already accepted.
    #[error("the request was already received once (a replay); it is ignored")]
    Replay,
}

/// Checks Slack's request signatures and remembers accepted ones.
pub struct Verifier {
    secret: Secret,
    replay: ReplayGuard,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("secret", &self.secret)
            .field("replay", &self.replay)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier with Slack's signing secret, a five-minute window and the default cache size.
    pub fn new(signing_secret: Secret) -> Self {
        Self {
            secret: signing_secret,
            replay: ReplayGuard::default(),
        }
    }

    /// The same verifier remembering at most `capacity` signatures (at least one).
    pub fn with_capacity(mut self, capacity: usize) -> Self {
        self.replay = self.replay.with_capacity(capacity);
        self
    }

    /// Verifies a request's signature headers against its raw body at `now`.
    pub fn verify(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        now: DateTime<Utc>,
    ) -> Result<(), VerifyError> {
        let ts_text = header_str(headers, TIMESTAMP_HEADER)?;
        let ts: i64 = ts_text.trim().parse().map_err(|_| VerifyError::BadHeader {
            header: TIMESTAMP_HEADER,
            reason: "not a number of seconds",
        })?;
        let sig_text = header_str(headers, SIGNATURE_HEADER)?;
        let sig_hex = sig_text.strip_prefix("v0=").ok_or(VerifyError::BadHeader {
            header: SIGNATURE_HEADER,
            reason: "not a v0= signature",
        })?;
        let sig = hex::decode(sig_hex).map_err(|_| VerifyError::BadHeader {
            header: SIGNATURE_HEADER,
            reason: "not hexadecimal",
        })?;

        self.replay
            .check_fresh(ts, now)
            .map_err(|s| VerifyError::Stale {
                age_secs: s.age_secs,
                window_secs: s.window_secs,
            })?;

        let mut mac = keyed(&self.secret);
        mac.update(b"v0:");
        mac.update(ts_text.as_bytes());
        mac.update(b":");
        mac.update(body);
        // `verify_slice` compares in constant time.
        mac.verify_slice(&sig)
            .map_err(|_| VerifyError::BadSignature)?;

        // Keyed by the decoded bytes so `v0=AB..` and `v0=ab..` are one signature.
        let key: [u8; 32] = Sha256::digest(&sig).into();
        if !self.replay.first_time(ts, key, now) {
            return Err(VerifyError::Replay);
        }
        Ok(())
    }

    /// How many accepted signatures are remembered now (for tests and metrics).
    pub fn remembered(&self) -> usize {
        self.replay.remembered()
    }
}

/// The `v0=<hex>` signature Slack would send for `body` at `timestamp`; for
/// tests and local tools that play Slack.
pub fn sign(secret: &Secret, timestamp: i64, body: &[u8]) -> String {
    let mut mac = keyed(secret);
    mac.update(format!("v0:{timestamp}:").as_bytes());
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

/// An HMAC-SHA256 keyed with the secret.
fn keyed(secret: &Secret) -> HmacSha256 {
    // Invariant: HMAC accepts keys of any length (long ones are hashed), so
    // `new_from_slice` never fails for `Hmac<Sha256>`.
    HmacSha256::new_from_slice(secret.expose().as_bytes()).expect("HMAC takes keys of any length")
}

fn header_str<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, VerifyError> {
    let value = headers.get(name).ok_or(VerifyError::Missing(name))?;
    value.to_str().map_err(|_| VerifyError::BadHeader {
        header: name,
        reason: "not visible ASCII",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeDelta, TimeZone};

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
    }

    fn headers(ts: &str, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(TIMESTAMP_HEADER, ts.parse().unwrap());
        h.insert(SIGNATURE_HEADER, sig.parse().unwrap());
        h
    }

    fn signed(ts: i64, body: &[u8]) -> HeaderMap {
        headers(&ts.to_string(), &sign(&Secret::new(SECRET), ts, body))
    }

    #[test]
    fn slacks_documented_example_verifies() {
        // The worked example from Slack's "Verifying requests from Slack" page.
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let ts = 1_531_420_618;
        let sig = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        let v = Verifier::new(Secret::new(SECRET));
        let at = Utc.timestamp_opt(ts + 10, 0).unwrap();
        assert_eq!(v.verify(&headers("1531420618", sig), body, at), Ok(()));
        assert_eq!(sign(&Secret::new(SECRET), ts, body), sig);
    }

    #[test]
    fn a_changed_body_or_secret_fails() {
        let v = Verifier::new(Secret::new(SECRET));
        let ts = now().timestamp();
        let h = signed(ts, b"a=1");
        assert_eq!(v.verify(&h, b"a=2", now()), Err(VerifyError::BadSignature));
        let other = Verifier::new(Secret::new("another-secret"));
        assert_eq!(
            other.verify(&h, b"a=1", now()),
            Err(VerifyError::BadSignature)
        );
        // A failed check is not remembered, so the genuine request still passes.
        assert_eq!(v.remembered(), 0);
        assert_eq!(v.verify(&h, b"a=1", now()), Ok(()));
    }

    #[test]
    fn the_window_is_five_minutes_either_way() {
        let v = Verifier::new(Secret::new(SECRET));
        let t = now().timestamp();
        assert!(v.verify(&signed(t - 300, b"x"), b"x", now()).is_ok());
        assert!(v.verify(&signed(t + 300, b"x"), b"x", now()).is_ok());
        assert_eq!(
            v.verify(&signed(t - 301, b"x"), b"x", now()),
            Err(VerifyError::Stale {
                age_secs: 301,
                window_secs: 300
            })
        );
        assert!(matches!(
            v.verify(&signed(t + 360, b"x"), b"x", now()),
            Err(VerifyError::Stale { age_secs: -360, .. })
        ));
    }

    #[test]
    fn a_second_identical_request_is_a_replay() {
        let v = Verifier::new(Secret::new(SECRET));
        let t = now().timestamp();
        let h = signed(t, b"payload");
        assert_eq!(v.verify(&h, b"payload", now()), Ok(()));
        assert_eq!(
            v.verify(&h, b"payload", now() + TimeDelta::seconds(30)),
            Err(VerifyError::Replay)
        );
        // Upper-case hex is the same signature.
        let upper = headers(
            &t.to_string(),
            &format!(
                "v0={}",
                h[SIGNATURE_HEADER].to_str().unwrap()[3..].to_uppercase()
            ),
        );
        assert_eq!(
            v.verify(&upper, b"payload", now()),
            Err(VerifyError::Replay)
        );
        // A new timestamp makes a new signature: Slack's own retries pass.
        assert!(
            v.verify(&signed(t + 1, b"payload"), b"payload", now())
                .is_ok()
        );
    }

    #[test]
    fn expired_signatures_are_evicted_and_the_cache_is_bounded() {
        let v = Verifier::new(Secret::new(SECRET)).with_capacity(3);
        let t = now().timestamp();
        for i in 0..3 {
            assert!(v.verify(&signed(t + i, b"b"), b"b", now()).is_ok());
        }
        assert_eq!(v.remembered(), 3);
        // Full: the oldest goes to make room.
        assert!(v.verify(&signed(t + 3, b"b"), b"b", now()).is_ok());
        assert_eq!(v.remembered(), 3);
        // Ten minutes later all of them have left the window.
        let later = now() + TimeDelta::minutes(10);
        let lt = later.timestamp();
        assert!(v.verify(&signed(lt, b"c"), b"c", later).is_ok());
        assert_eq!(v.remembered(), 1);
    }

    #[test]
    fn missing_and_malformed_headers_are_refused() {
        let v = Verifier::new(Secret::new(SECRET));
        let t = now().timestamp().to_string();
        assert_eq!(
            v.verify(&HeaderMap::new(), b"", now()),
            Err(VerifyError::Missing(TIMESTAMP_HEADER))
        );
        let mut only_ts = HeaderMap::new();
        only_ts.insert(TIMESTAMP_HEADER, t.parse().unwrap());
        assert_eq!(
            v.verify(&only_ts, b"", now()),
            Err(VerifyError::Missing(SIGNATURE_HEADER))
        );
        let cases = [
            ("soon", "v0=00"),
            (t.as_str(), "v1=00"),
            (t.as_str(), "v0=zz"),
            (t.as_str(), "00ff"),
        ];
        for (ts, sig) in cases {
            assert!(
                matches!(
                    v.verify(&headers(ts, sig), b"", now()),
                    Err(VerifyError::BadHeader { .. })
                ),
                "{ts} {sig}"
            );
        }
        // Well-formed but wrong length: a bad signature, not a panic.
        assert_eq!(
            v.verify(&headers(&t, "v0=00ff"), b"", now()),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            v.verify(&headers("-99999999999999999", "v0=00"), b"", now()),
            Err(VerifyError::Stale {
                age_secs: now().timestamp() + 99_999_999_999_999_999,
                window_secs: 300
            })
        );
    }

    #[test]
    fn errors_never_show_the_secret() {
        let v = Verifier::new(Secret::new(SECRET));
        let e = v
            .verify(&signed(now().timestamp(), b"x"), b"y", now())
            .unwrap_err();
        assert!(!e.to_string().contains(SECRET));
        assert!(!format!("{v:?}").contains(SECRET));
    }
}
