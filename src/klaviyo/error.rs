//! Errors from the Klaviyo client, classified so callers can decide what to do:
//! re-connect (auth), wait (rate limits, server trouble) or fix the request.
//!
//! Messages never contain the API key or token: every detail taken from a
//! response passes through [`redact`] before it is stored here.

use std::time::Duration;

/// What went wrong talking to Klaviyo.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KlaviyoError {
    /// 401: the key or token was revoked or is wrong.
    #[error(
        "Klaviyo rejected the credentials for `{account}` (401: {detail}); the key was revoked or is wrong: reconnect the account"
    )]
    Unauthorized {
        /// Which account handle made the call (never the key).
        account: String,
        /// Klaviyo's error detail.
        detail: String,
    },
    /// 403: the key or token lacks a scope the call needs.
    #[error(
        "Klaviyo refused the call for `{account}` (403: {detail}); the key or grant lacks a read scope: reconnect it with the read scopes Lookout asks for"
    )]
    Forbidden {
        /// Which account handle made the call.
        account: String,
        /// Klaviyo's error detail.
        detail: String,
    },
    /// 429 after every retry was used.
    #[error(
        "Klaviyo kept throttling the account (429); try again in {}s or scan fewer accounts at once",
        retry_after.as_secs().max(1)
    )]
    RateLimited {
        /// How long Klaviyo asked us to wait the last time.
        retry_after: Duration,
    },
    /// 5xx after every retry was used.
    #[error(
        "Klaviyo answered {status} after retries ({detail}); Klaviyo may be degraded: try again later"
    )]
    Server {
        /// HTTP status.
        status: u16,
        /// Klaviyo's error detail, if any.
        detail: String,
    },
    /// Any other 4xx (or an unexpected status): the request itself is wrong.
    #[error(
        "Klaviyo rejected the request ({status}: {detail}); this is a Lookout bug or an API change: report it"
    )]
    BadRequest {
        /// HTTP status.
        status: u16,
        /// Klaviyo's error detail.
        detail: String,
    },
    /// The connection failed (DNS, TLS, reset).
    #[error("could not reach Klaviyo ({0}); check the network and the configured base URL")]
    Transport(String),
    /// The response was not the JSON shape we expect.
    #[error(
        "could not read Klaviyo's response ({0}); if this persists, check the `revision` setting"
    )]
    Decode(String),
    /// The answer was cut off mid-body, on every try.
    #[error("Klaviyo's answer was cut off ({0}) on every try; try again later")]
    Truncated(String),
    /// The request timed out after every retry.
    #[error("Klaviyo did not answer in time after retries; try again later or raise the timeout")]
    Timeout,
    /// The client refused to send a request, e.g. a pagination link to another host.
    #[error("refused to send a request to Klaviyo: {0}")]
    Refused(String),
    /// The operation's daily share is spent (the reporting endpoints' daily cap).
    #[error("not asked of Klaviyo: {0}")]
    DailyCapSpent(crate::klaviyo::budget::DailyCapSpent),
    /// The client configuration is unusable.
    #[error("the Klaviyo client is misconfigured: {0}")]
    Config(String),
}

impl KlaviyoError {
    /// True for 401/403: this call will not work until the account is reconnected
    /// (a 401 stops every call; a 403 only those outside the granted scopes).
    pub fn is_auth(&self) -> bool {
        matches!(
            self,
            KlaviyoError::Unauthorized { .. } | KlaviyoError::Forbidden { .. }
        )
    }

    /// True for errors that may pass if the same request is sent again later.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            KlaviyoError::RateLimited { .. }
                | KlaviyoError::Server { .. }
                | KlaviyoError::Transport(_)
                | KlaviyoError::Truncated(_)
                | KlaviyoError::Timeout
        )
    }
}

/// Replaces every occurrence of `secret` in `text` with `[redacted]`, so an
/// error body that echoes the key cannot carry it into logs or chat.
pub(crate) fn redact(text: &str, secret: &str) -> String {
    // Very short "secrets" would redact ordinary words; real keys are long.
    if secret.len() < 6 {
        return text.to_owned();
    }
    text.replace(secret, "[redacted]")
}

/// Turns a Klaviyo error body `{"errors":[{"status","code","title","detail"}]}`
/// into one line; falls back to a short excerpt of the raw body.
pub fn error_detail(body: &[u8]) -> String {
    let parsed: Option<serde_json::Value> = serde_json::from_slice(body).ok();
    let errors = parsed
        .as_ref()
        .and_then(|v| v.get("errors"))
        .and_then(|e| e.as_array());
    if let Some(errors) = errors {
        let parts: Vec<String> = errors
            .iter()
            .take(3)
            .map(|e| {
                let field = |k: &str| e.get(k).and_then(|v| v.as_str()).unwrap_or("");
                let (title, detail, code) = (field("title"), field("detail"), field("code"));
                let text = match (title.is_empty(), detail.is_empty()) {
                    (false, false) if title != detail => format!("{title}: {detail}"),
                    (false, _) => title.to_owned(),
                    (true, false) => detail.to_owned(),
                    (true, true) => "no detail".to_owned(),
                };
                if code.is_empty() {
                    text
                } else {
                    format!("{text} [{code}]")
                }
            })
            .collect();
        if !parts.is_empty() {
            return one_line(&parts.join("; "), 500);
        }
    }
    let raw = String::from_utf8_lossy(body);
    let raw = raw.trim();
    if raw.is_empty() {
        return "no detail".to_owned();
    }
    // Keep the excerpt short: HTML error pages are long and unhelpful.
    one_line(raw, 200)
}

/// Text from a response as one line of at most `max` characters, without
/// characters that hide or reorder text: it reaches logs and chat.
fn one_line(s: &str, max: usize) -> String {
    crate::message::text::one_line(s)
        .chars()
        .take(max)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn klaviyo_error_bodies_become_one_line() {
        let body = br#"{"errors":[{"id":"x","status":403,"code":"permission_denied","title":"You do not have permission to perform this action.","detail":"Missing scope flows:read"}]}"#;
        assert_eq!(
            error_detail(body),
            "You do not have permission to perform this action.: Missing scope flows:read [permission_denied]"
        );
        let same = br#"{"errors":[{"title":"Throttled","detail":"Throttled","code":"throttled"}]}"#;
        assert_eq!(error_detail(same), "Throttled [throttled]");
    }

    #[test]
    fn malformed_error_bodies_fall_back_to_an_excerpt() {
        assert_eq!(error_detail(b""), "no detail");
        assert_eq!(
            error_detail(b"<html>bad gateway</html>"),
            "<html>bad gateway</html>"
        );
        assert_eq!(error_detail(br#"{"errors":[]}"#), r#"{"errors":[]}"#);
        assert_eq!(error_detail(br#"{"errors":[{}]}"#), "no detail");
        let long = "x".repeat(1000);
        assert_eq!(error_detail(long.as_bytes()).len(), 200);
    }

    #[test]
    fn redaction_removes_the_secret() {
        assert_eq!(
            redact("bad key pk_live_12345 given", "pk_live_12345"),
            "bad key [redacted] given"
        );
        assert_eq!(redact("nothing here", "pk_live_12345"), "nothing here");
    }

    #[test]
    fn classification() {
        let auth = KlaviyoError::Unauthorized {
            account: "acme".into(),
            detail: "x".into(),
        };
        assert!(auth.is_auth() && !auth.is_retryable());
        assert!(KlaviyoError::Timeout.is_retryable());
        assert!(
            KlaviyoError::Server {
                status: 503,
                detail: String::new()
            }
            .is_retryable()
        );
        let bad = KlaviyoError::BadRequest {
            status: 400,
            detail: "x".into(),
        };
        assert!(!bad.is_auth() && !bad.is_retryable());
        assert!(!KlaviyoError::Decode("x".into()).is_retryable());
        assert!(auth.to_string().contains("reconnect"));
    }
}
