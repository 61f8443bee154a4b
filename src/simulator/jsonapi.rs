//! JSON:API plumbing shared by the routes: Klaviyo-style error documents,
//! the `filter=` function syntax, datetimes, cursors and the revision header.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use serde_json::{Value, json};

use super::hash::{hash, mix, str_hash};

/// The media type of every Klaviyo response.
pub(crate) const JSON_API: &str = "application/vnd.api+json";

/// An API revision the simulator implements: responses take its shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Revision {
    /// `2026-07-15`: the revision of the bundled OpenAPI document (and Lookout's client).
    V2026_07_15,
    /// `2026-10-15`: campaigns carry `created_at`, `updated_at` and a `definition` object.
    V2026_10_15,
}

impl Revision {
    /// Every implemented revision, oldest first.
    pub(crate) const ALL: [Revision; 2] = [Revision::V2026_07_15, Revision::V2026_10_15];

    /// The revision's date, as sent in the `revision` header.
    pub(crate) fn date(self) -> &'static str {
        match self {
            Revision::V2026_07_15 => "2026-07-15",
            Revision::V2026_10_15 => "2026-10-15",
        }
    }
}

/// An error answer in Klaviyo's shape.
#[derive(Debug, Clone)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) code: &'static str,
    pub(crate) title: &'static str,
    pub(crate) detail: String,
    /// `("parameter"|"pointer", value)`.
    pub(crate) source: Option<(&'static str, String)>,
    pub(crate) retry_after: Option<u64>,
}

impl ApiError {
    /// 400 `invalid` about a query parameter.
    pub(crate) fn bad_param(param: &str, detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            code: "invalid",
            title: "Invalid input.",
            detail: detail.into(),
            source: Some(("parameter", param.to_owned())),
            retry_after: None,
        }
    }

    /// 400 `invalid` about a body field (JSON pointer).
    pub(crate) fn bad_body(pointer: &str, detail: impl Into<String>) -> Self {
        Self {
            source: Some(("pointer", pointer.to_owned())),
            ..Self::bad_param("", detail)
        }
    }

    /// 401 `not_authenticated`.
    pub(crate) fn unauthenticated(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: "not_authenticated",
            title: "Authentication credentials were not provided.",
            detail: detail.into(),
            source: None,
            retry_after: None,
        }
    }

    /// 403 `permission_denied` (a credential without the scope needed).
    pub(crate) fn permission_denied(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::FORBIDDEN,
            code: "permission_denied",
            title: "You do not have permission to perform this action.",
            detail: detail.into(),
            source: None,
            retry_after: None,
        }
    }

    /// 404 `not_found`.
    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            code: "not_found",
            title: "Not found.",
            detail: detail.into(),
            source: None,
            retry_after: None,
        }
    }

    /// 405 `method_not_allowed`; `allowed` is the method the path takes.
    pub(crate) fn method_not_allowed(method: &str, allowed: &str) -> Self {
        Self {
            status: StatusCode::METHOD_NOT_ALLOWED,
            code: "method_not_allowed",
            title: "Method not allowed.",
            detail: format!(
                "Method \"{method}\" not allowed: the simulator serves this path with {allowed} only."
            ),
            source: None,
            retry_after: None,
        }
    }

    /// 429 `throttled` with a `Retry-After` of `secs`.
    pub(crate) fn throttled(secs: u64) -> Self {
        Self {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "throttled",
            title: "Request was throttled.",
            detail: format!("Request was throttled. Expected available in {secs} seconds."),
            source: None,
            retry_after: Some(secs),
        }
    }

    /// 503 `service_unavailable`.
    pub(crate) fn unavailable() -> Self {
        Self {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "service_unavailable",
            title: "Service unavailable.",
            detail: "A server error occurred; retry with backoff.".into(),
            source: None,
            retry_after: None,
        }
    }

    /// A 5xx from a server burst: 500 `error`, 502 `bad_gateway` or, for any
    /// other status, 503 `service_unavailable`.
    pub(crate) fn server_error(status: u16) -> Self {
        let (status, code, title) = match status {
            500 => (
                StatusCode::INTERNAL_SERVER_ERROR,
                "error",
                "A server error occurred.",
            ),
            502 => (StatusCode::BAD_GATEWAY, "bad_gateway", "Bad gateway."),
            _ => return Self::unavailable(),
        };
        Self {
            status,
            code,
            title,
            detail: "A server error occurred; retry with backoff.".into(),
            source: None,
            retry_after: None,
        }
    }

    /// 504 `gateway_timeout`: what a request left hanging finally gets.
    pub(crate) fn gateway_timeout() -> Self {
        Self {
            status: StatusCode::GATEWAY_TIMEOUT,
            code: "gateway_timeout",
            title: "Gateway timeout.",
            detail: "The request took too long to process; retry with backoff.".into(),
            source: None,
            retry_after: None,
        }
    }

    /// The error document.
    pub(crate) fn body(&self) -> Value {
        let mut e = json!({
            "id": error_id(&self.detail),
            "status": self.status.as_u16(),
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
        });
        if let Some((kind, v)) = &self.source {
            e["source"] = json!({ *kind: v });
        }
        json!({ "errors": [e] })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = json_api(self.status, &self.body());
        if let Some(s) = self.retry_after {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        r
    }
}

/// A JSON:API response with `content-type: application/vnd.api+json`.
pub(crate) fn json_api(status: StatusCode, body: &Value) -> Response {
    json_api_text(status, body.to_string())
}

/// [`json_api`] for a document already written as JSON text.
pub(crate) fn json_api_text(status: StatusCode, body: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, HeaderValue::from_static(JSON_API))],
        body,
    )
        .into_response()
}

/// A UUID-shaped error id, distinct per error.
fn error_id(detail: &str) -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let (a, b) = (hash(&[n, str_hash(detail)]), mix(n ^ 0x0123_4567));
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | (b >> 48 & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

/// Checks the `revision` header (`YYYY-MM-DD`, optionally `.suffix`) and
/// picks the shapes to answer with. A date between two implemented revisions
/// gets the newest one not after it (Klaviyo serves the shapes in force on
/// that date); a missing or malformed header, or a date before the oldest or
/// after the newest implemented revision, is a 400 naming the supported ones.
pub(crate) fn check_revision(value: Option<&str>) -> Result<Revision, ApiError> {
    let supported = Revision::ALL
        .iter()
        .map(|r| r.date())
        .collect::<Vec<_>>()
        .join(", ");
    let hint = format!(
        "the simulator implements revisions {supported}; send one of them, e.g. `revision: {}`",
        Revision::V2026_07_15.date()
    );
    let Some(v) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Err(ApiError::bad_param(
            "revision",
            format!("Missing revision header: {hint}."),
        ));
    };
    let date = v.split_once('.').map_or(v, |(d, _)| d);
    let parsed = NaiveDate::parse_from_str(date, "%Y-%m-%d")
        .ok()
        .filter(|_| date.len() == 10);
    let picked = parsed.and_then(|d| {
        Revision::ALL
            .iter()
            .rev()
            .copied()
            .find(|r| NaiveDate::parse_from_str(r.date(), "%Y-%m-%d").is_ok_and(|rd| rd <= d))
    });
    let newest = Revision::ALL[Revision::ALL.len() - 1].date();
    match (parsed, picked) {
        (Some(d), Some(r)) if d.format("%Y-%m-%d").to_string().as_str() <= newest => Ok(r),
        _ => Err(ApiError::bad_param(
            "revision",
            format!("Invalid or unsupported revision `{v}`: {hint}."),
        )),
    }
}

/// Formats a time as Klaviyo does: `2026-11-01T10:00:00+00:00`.
pub(crate) fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// Parses a filter or body datetime: RFC 3339, or a naive time taken as UTC.
pub(crate) fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim().trim_matches(|c| c == '\'' || c == '"');
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(n) = NaiveDateTime::parse_from_str(s, f) {
            return Some(n.and_utc());
        }
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|n| n.and_utc())
}

/// A filter literal.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    /// A quoted string.
    Str(String),
    /// An unquoted token: a date, number, `true`, `false` or `null`.
    Bare(String),
    /// `[a, b]`.
    List(Vec<Lit>),
}

impl Lit {
    /// The literal as text (lists joined by commas).
    pub(crate) fn text(&self) -> String {
        match self {
            Lit::Str(s) | Lit::Bare(s) => s.clone(),
            Lit::List(v) => v.iter().map(Lit::text).collect::<Vec<_>>().join(","),
        }
    }

    /// The literal's items (a single literal is a one-item list).
    pub(crate) fn items(&self) -> Vec<String> {
        match self {
            Lit::List(v) => v.iter().map(Lit::text).collect(),
            other => vec![other.text()],
        }
    }
}

/// One condition, e.g. `equals(status,'live')`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cond {
    pub(crate) op: String,
    pub(crate) field: String,
    pub(crate) value: Lit,
}

/// Parses Klaviyo's filter syntax into a conjunction of conditions:
/// `op(field,value)`, `and(...)`, and top-level commas (also "and").
pub(crate) fn parse_filter(s: &str) -> Result<Vec<Cond>, String> {
    let mut p = Parser {
        s: s.as_bytes(),
        i: 0,
    };
    let mut out = Vec::new();
    loop {
        p.expr(&mut out)?;
        p.ws();
        if p.eat(b',') {
            continue;
        }
        if p.i == p.s.len() {
            break;
        }
        return Err(format!("unexpected text at position {}", p.i));
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
}

impl Parser<'_> {
    fn ws(&mut self) {
        while self.s.get(self.i).is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.ws();
        if self.s.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn word(&mut self) -> String {
        self.ws();
        let start = self.i;
        while self.s.get(self.i).is_some_and(|&c| {
            !matches!(c, b'(' | b')' | b',' | b'[' | b']') && !c.is_ascii_whitespace()
        }) {
            self.i += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.i]).into_owned()
    }

    fn expr(&mut self, out: &mut Vec<Cond>) -> Result<(), String> {
        let op = self.word();
        if op.is_empty() {
            return Err("expected a filter such as equals(field,'value')".into());
        }
        if !self.eat(b'(') {
            return Err(format!("expected `(` after `{op}`"));
        }
        if op == "and" {
            loop {
                self.expr(out)?;
                if self.eat(b')') {
                    return Ok(());
                }
                if !self.eat(b',') {
                    return Err("expected `,` or `)` in and(...)".into());
                }
            }
        }
        if op == "or" || op == "not" {
            return Err(format!("`{op}` filters are not supported here"));
        }
        let field = self.word();
        if field.is_empty() || !self.eat(b',') {
            return Err(format!("expected `{op}(field,value)`"));
        }
        let value = self.lit()?;
        if !self.eat(b')') {
            return Err(format!("expected `)` to close `{op}(`"));
        }
        out.push(Cond { op, field, value });
        Ok(())
    }

    fn lit(&mut self) -> Result<Lit, String> {
        self.ws();
        match self.s.get(self.i) {
            Some(&q @ (b'\'' | b'"')) => {
                let start = self.i + 1;
                let end = self.s[start..]
                    .iter()
                    .position(|&c| c == q)
                    .ok_or("unterminated string")?;
                self.i = start + end + 1;
                Ok(Lit::Str(
                    String::from_utf8_lossy(&self.s[start..start + end]).into_owned(),
                ))
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                if self.eat(b']') {
                    return Ok(Lit::List(items));
                }
                loop {
                    items.push(self.lit()?);
                    if self.eat(b']') {
                        return Ok(Lit::List(items));
                    }
                    if !self.eat(b',') {
                        return Err("expected `,` or `]` in a list".into());
                    }
                }
            }
            _ => {
                let w = self.word();
                if w.is_empty() {
                    Err("expected a value".into())
                } else {
                    Ok(Lit::Bare(w))
                }
            }
        }
    }
}

/// Whether a resource attribute `v` satisfies `op` against `lit`.
/// Returns `None` for an operator this comparison cannot do.
pub(crate) fn matches(v: &Value, op: &str, lit: &Lit) -> Option<bool> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    };
    let cmp = || -> Option<std::cmp::Ordering> {
        let (a, b) = (parse_time(&text)?, parse_time(&lit.text())?);
        Some(a.cmp(&b))
    };
    use std::cmp::Ordering::*;
    Some(match op {
        "equals" => match lit {
            Lit::List(_) => lit.items().contains(&text),
            _ => text == lit.text(),
        },
        "any" => lit.items().contains(&text),
        "contains" => text.contains(&lit.text()),
        "starts-with" => text.starts_with(&lit.text()),
        "ends-with" => text.ends_with(&lit.text()),
        "greater-than" => cmp()? == Greater,
        "greater-or-equal" => cmp()? != Less,
        "less-than" => cmp()? == Less,
        "less-or-equal" => cmp()? != Greater,
        _ => return None,
    })
}

/// Encodes a cursor as opaque hex.
pub(crate) fn encode_cursor(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Decodes a cursor made by [`encode_cursor`].
pub(crate) fn decode_cursor(c: &str) -> Option<String> {
    if !c.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..c.len())
        .step_by(2)
        .map(|i| c.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect();
    String::from_utf8(bytes?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revision_range_and_format() {
        assert_eq!(
            check_revision(Some("2026-07-15")).ok(),
            Some(Revision::V2026_07_15)
        );
        assert_eq!(
            check_revision(Some("2026-10-15")).ok(),
            Some(Revision::V2026_10_15)
        );
        assert_eq!(
            check_revision(Some("2026-09-01.pre")).ok(),
            Some(Revision::V2026_07_15)
        );
        assert_eq!(
            check_revision(Some("2026-10-15.pre")).ok(),
            Some(Revision::V2026_10_15)
        );
        for bad in [
            None,
            Some(""),
            Some("2026-07-14"),
            Some("2026-10-16"),
            Some("latest"),
            Some("2026-13-01"),
            Some("2026-7-15"),
            Some("2027-01-15"),
        ] {
            let e = check_revision(bad).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(e.detail.contains("2026-07-15, 2026-10-15"), "{}", e.detail);
        }
    }

    #[test]
    fn filters_parse_nested_and_quoted() {
        let f = parse_filter(
            "and(equals(metric_id,\"AbC123\"),greater-than(datetime,2026-11-01T00:00:00Z)),less-than(datetime,'2026-11-02T00:00:00+00:00')",
        )
        .unwrap();
        assert_eq!(f.len(), 3);
        assert_eq!(f[0].op, "equals");
        assert_eq!(f[0].value, Lit::Str("AbC123".into()));
        assert_eq!(f[1].value, Lit::Bare("2026-11-01T00:00:00Z".into()));
        let f = parse_filter("any(id,['a','b'])").unwrap();
        assert_eq!(f[0].value.items(), vec!["a", "b"]);
        for bad in [
            "",
            "equals(a)",
            "equals(a,'x'",
            "or(equals(a,1),equals(b,2))",
            "equals(a,'x') junk",
            "equals(a,[1,2)",
        ] {
            assert!(parse_filter(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn attribute_matching() {
        let t = json!("2026-11-01T10:00:00+00:00");
        assert_eq!(
            matches(
                &t,
                "greater-than",
                &Lit::Bare("2026-11-01T09:00:00Z".into())
            ),
            Some(true)
        );
        assert_eq!(
            matches(&t, "less-than", &Lit::Bare("2026-11-01T09:00:00Z".into())),
            Some(false)
        );
        assert_eq!(
            matches(&json!(false), "equals", &Lit::Bare("false".into())),
            Some(true)
        );
        assert_eq!(
            matches(
                &json!("live"),
                "any",
                &Lit::List(vec![Lit::Str("draft".into())])
            ),
            Some(false)
        );
        assert_eq!(matches(&json!("x"), "has", &Lit::Bare("y".into())), None);
        assert_eq!(
            matches(&json!("x"), "greater-than", &Lit::Bare("y".into())),
            None
        );
    }

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let c = encode_cursor("ev:123:456");
        assert_eq!(decode_cursor(&c).as_deref(), Some("ev:123:456"));
        assert_eq!(decode_cursor("zz"), None);
        assert_eq!(decode_cursor("abc"), None);
    }

    #[test]
    fn error_bodies_have_klaviyo_fields() {
        let b = ApiError::unauthenticated("bad key").body();
        let e = &b["errors"][0];
        assert_eq!(e["status"], 401);
        assert_eq!(e["code"], "not_authenticated");
        assert_eq!(e["title"], "Authentication credentials were not provided.");
        assert_eq!(e["id"].as_str().map(str::len), Some(36));
        let b = ApiError::bad_param("page[size]", "too big").body();
        assert_eq!(b["errors"][0]["source"]["parameter"], "page[size]");
        assert_ne!(
            ApiError::unavailable().body()["errors"][0]["id"],
            ApiError::unavailable().body()["errors"][0]["id"]
        );
        assert!(parse_time("2026-11-01T00:00:00").is_some());
        assert!(parse_time("yesterday").is_none());
    }
}
