//! Discord interaction signature verification, done before any byte of a
//! request is parsed.
//!
//! Discord signs every interaction it sends to the endpoint with the
//! application's Ed25519 key: `X-Signature-Ed25519: <hex signature of
//! timestamp + raw body>` and `X-Signature-Timestamp`. `Verifier` checks the
//! signature with serenity's `interactions_endpoint::Verifier`, which checks
//! neither freshness nor replays, so this one also refuses timestamps more
//! than five minutes from now in either direction and remembers each accepted
//! request (its timestamp and body, so any other valid signature of the same
//! request is a replay too) until its timestamp leaves that window. The cache
//! is bounded; only requests that passed the signature check enter it, so a
//! forger cannot fill it. Discord probes the endpoint with bad signatures and
//! expects 401 for each.

use axum::http::HeaderMap;
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::chat::replay::ReplayGuard;
pub use crate::chat::replay::{DEFAULT_REPLAY_CAPACITY, DEFAULT_WINDOW};

/// Header carrying the request's Unix timestamp (seconds).
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";
/// Header carrying the hex Ed25519 signature.
pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
/// Hex digits of an Ed25519 signature (64 bytes).
const SIGNATURE_HEX: usize = 128;

/// Why a request was refused; none of the variants carries the body or a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// A signing header is absent.
    #[error(
        "the request has no {0} header: it did not come from Discord, or a proxy dropped the header"
    )]
    Missing(&'static str),
    /// A signing header is present but malformed.
    #[error("the {header} header is malformed ({reason}): it did not come from Discord")]
    BadHeader {
        /// Which header.
        header: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The timestamp is outside the window.
    #[error(
        "the request is {age_secs} s from now, outside the {window_secs} s window: check this machine's clock (NTP) if Discord's genuine requests are refused"
    )]
    Stale {
        /// Seconds between the request's timestamp and now (negative: in the future).
        age_secs: i64,
        /// The allowed distance.
        window_secs: i64,
    },
    /// The signature does not match.
    #[error(
        "the signature does not match: check that the Discord public key in the config is the one on the application's General Information page"
    )]
    BadSignature,
    /// The same signed request was already accepted.
    #[error("the request was already received once (a replay); it is ignored")]
    Replay,
}

/// The configured public key cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// Not 64 hexadecimal digits.
    #[error(
        "the Discord public key is not 64 hexadecimal digits: copy it from the application's General Information page"
    )]
    NotHex,
    /// Hex, but not a point on the curve.
    #[error(
        "the Discord public key is not a valid Ed25519 key: copy it again from the application's General Information page"
    )]
    Invalid,
}

/// Checks Discord's interaction signatures and remembers accepted requests.
pub struct Verifier {
    key: serenity::interactions_endpoint::Verifier,
    replay: ReplayGuard,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("replay", &self.replay)
            .finish_non_exhaustive()
    }
}

impl Verifier {
    /// A verifier with the application's public key (64 hex digits), a
    /// five-minute window and the default cache size.
    pub fn new(public_key_hex: &str) -> Result<Self, KeyError> {
        let bytes = hex::decode(public_key_hex.trim()).map_err(|_| KeyError::NotHex)?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|_| KeyError::NotHex)?;
        // `try_new`, not `new`: serenity's `new` panics on a bad key.
        let key = serenity::interactions_endpoint::Verifier::try_new(bytes)
            .map_err(|_| KeyError::Invalid)?;
        Ok(Self {
            key,
            replay: ReplayGuard::default(),
        })
    }

    /// The same verifier remembering at most `capacity` requests (at least one).
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
        let sig = header_str(headers, SIGNATURE_HEADER)?.trim();
        if sig.len() != SIGNATURE_HEX || !sig.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(VerifyError::BadHeader {
                header: SIGNATURE_HEADER,
                reason: "not 128 hexadecimal digits",
            });
        }

        self.replay
            .check_fresh(ts, now)
            .map_err(|s| VerifyError::Stale {
                age_secs: s.age_secs,
                window_secs: s.window_secs,
            })?;

        // Discord signs the timestamp exactly as sent, then the body.
        self.key
            .verify(sig, ts_text, body)
            .map_err(|()| VerifyError::BadSignature)?;

        if !self
            .replay
            .first_time(ts, request_digest(ts_text, body), now)
        {
            return Err(VerifyError::Replay);
        }
        Ok(())
    }

    /// How many accepted requests are remembered now (for tests and metrics).
    pub fn remembered(&self) -> usize {
        self.replay.remembered()
    }
}

/// What a signature covers, hashed: the identity of a request for replays.
fn request_digest(timestamp: &str, body: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update((timestamp.len() as u64).to_be_bytes());
    h.update(timestamp.as_bytes());
    h.update(body);
    h.finalize().into()
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
    use ed25519_dalek::{Signer, SigningKey};

    fn key() -> SigningKey {
        SigningKey::from_bytes(&[7u8; 32])
    }

    fn verifier() -> Verifier {
        Verifier::new(&hex::encode(key().verifying_key().to_bytes())).unwrap()
    }

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap()
    }

    fn sign_with(k: &SigningKey, ts: &str, body: &[u8]) -> String {
        let msg = [ts.as_bytes(), body].concat();
        hex::encode(k.sign(&msg).to_bytes())
    }

    fn headers(ts: &str, sig: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(TIMESTAMP_HEADER, ts.parse().unwrap());
        h.insert(SIGNATURE_HEADER, sig.parse().unwrap());
        h
    }

    fn signed(ts: i64, body: &[u8]) -> HeaderMap {
        let t = ts.to_string();
        headers(&t, &sign_with(&key(), &t, body))
    }

    #[test]
    fn a_genuine_request_verifies() {
        let v = verifier();
        let t = now().timestamp();
        assert_eq!(
            v.verify(&signed(t, br#"{"type":1}"#), br#"{"type":1}"#, now()),
            Ok(())
        );
        assert_eq!(v.remembered(), 1);
    }

    #[test]
    fn a_changed_body_timestamp_or_key_fails() {
        let v = verifier();
        let t = now().timestamp();
        let h = signed(t, b"a=1");
        assert_eq!(v.verify(&h, b"a=2", now()), Err(VerifyError::BadSignature));
        let moved = headers(&(t + 1).to_string(), h[SIGNATURE_HEADER].to_str().unwrap());
        assert_eq!(
            v.verify(&moved, b"a=1", now()),
            Err(VerifyError::BadSignature)
        );
        let other = SigningKey::from_bytes(&[9u8; 32]);
        let forged = headers(&t.to_string(), &sign_with(&other, &t.to_string(), b"a=1"));
        assert_eq!(
            v.verify(&forged, b"a=1", now()),
            Err(VerifyError::BadSignature)
        );
        // A failed check is not remembered, so the genuine request still passes.
        assert_eq!(v.remembered(), 0);
        assert_eq!(v.verify(&h, b"a=1", now()), Ok(()));
    }

    #[test]
    fn the_window_is_five_minutes_either_way() {
        let v = verifier();
        let t = now().timestamp();
        assert!(v.verify(&signed(t - 300, b"x"), b"x", now()).is_ok());
        assert!(v.verify(&signed(t + 300, b"y"), b"y", now()).is_ok());
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
        let v = verifier();
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
            &h[SIGNATURE_HEADER].to_str().unwrap().to_uppercase(),
        );
        assert_eq!(
            v.verify(&upper, b"payload", now()),
            Err(VerifyError::Replay)
        );
        // A new timestamp makes a new request.
        assert!(
            v.verify(&signed(t + 1, b"payload"), b"payload", now())
                .is_ok()
        );
    }

    #[test]
    fn expired_requests_are_evicted_and_the_cache_is_bounded() {
        let v = verifier().with_capacity(3);
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
        assert!(
            v.verify(&signed(later.timestamp(), b"c"), b"c", later)
                .is_ok()
        );
        assert_eq!(v.remembered(), 1);
    }

    #[test]
    fn missing_and_malformed_headers_are_refused() {
        let v = verifier();
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
        let sixty_four_zeros = "00".repeat(64);
        let cases = [
            ("soon", sixty_four_zeros.as_str()),
            (t.as_str(), "zz"),
            (t.as_str(), "00ff"),
            (t.as_str(), &"0".repeat(127)),
            (t.as_str(), &"g".repeat(128)),
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
        // Well-formed but wrong: a bad signature, not a panic.
        assert_eq!(
            v.verify(&headers(&t, &sixty_four_zeros), b"", now()),
            Err(VerifyError::BadSignature)
        );
        assert!(matches!(
            v.verify(
                &headers("-99999999999999999", &sixty_four_zeros),
                b"",
                now()
            ),
            Err(VerifyError::Stale { .. })
        ));
    }

    #[test]
    fn bad_keys_are_errors_not_panics() {
        assert_eq!(Verifier::new("xyz").err(), Some(KeyError::NotHex));
        assert_eq!(
            Verifier::new(&"ab".repeat(31)).err(),
            Some(KeyError::NotHex)
        );
        // Not every 32 bytes is a point on the curve.
        let invalid = (0..=255u8)
            .map(|b| {
                let mut k = [0xffu8; 32];
                k[0] = b;
                hex::encode(k)
            })
            .find(|h| Verifier::new(h).is_err());
        assert!(invalid.is_some());
        let v = verifier();
        assert!(!format!("{v:?}").contains("key:"));
    }
}
