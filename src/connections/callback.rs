//! `GET /oauth/callback`: where Klaviyo sends the browser back after someone
//! approves (or declines) Lookout's access. It completes the connect and
//! answers with a small page saying what happened; the code, the state and
//! any token stay out of the page and the logs.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use super::ConnectionError;
use crate::app::App;

/// The callback route, served by Lookout's HTTP server when OAuth is set up.
pub fn router(app: Arc<App>) -> Router {
    Router::new()
        .route("/oauth/callback", get(callback))
        .with_state(app)
}

async fn callback(
    State(app): State<Arc<App>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let state = q.get("state").map(String::as_str).unwrap_or("");
    if let Some(err) = q.get("error") {
        // Klaviyo's error codes are short ASCII words; anything else is shown as "declined".
        let reason: String =
            if err.len() <= 40 && err.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                err.clone()
            } else {
                "declined".into()
            };
        if !state.is_empty() {
            let _ = app.abandon_connect(state, &reason).await;
        }
        return page(
            StatusCode::OK,
            "Nothing was connected",
            &format!(
                "Klaviyo did not grant access ({reason}). Nothing was stored. To try again, run /connect in chat for a new link."
            ),
        );
    }
    let code = q.get("code").map(String::as_str).unwrap_or("");
    if code.is_empty() || state.is_empty() {
        return page(
            StatusCode::BAD_REQUEST,
            "This is not a connect link",
            "This page completes a /connect started in chat, and the link is missing its code or state. Run /connect in chat for a new link.",
        );
    }
    match app.complete_connect(code, state).await {
        Ok(c) => {
            let name = app
                .clients
                .get(&c.client)
                .map(|e| e.profile.name)
                .unwrap_or_else(|_| c.client.to_string());
            page(
                StatusCode::OK,
                &format!("{name} is connected"),
                &format!(
                    "Lookout can now read {name}'s Klaviyo account (read-only) until {}. A first scan has started; its findings will appear in the client's channel. You can close this tab.",
                    app.local_date(c.ends_at)
                ),
            )
        }
        Err(ConnectionError::Refused(why)) => page(StatusCode::BAD_REQUEST, "Not connected", &why),
        Err(e) => {
            tracing::warn!(error = %e, "an OAuth connect failed");
            page(
                StatusCode::BAD_GATEWAY,
                "Not connected",
                &format!("{e}. Run /connect in chat for a new link."),
            )
        }
    }
}

/// A small self-contained page; every value is escaped.
fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Lookout: {t}</title>\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<style>body{{font:16px/1.5 system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em;color:#222}}h1{{font-size:1.4em}}</style>\
</head><body><h1>{t}</h1><p>{b}</p></body></html>",
        t = escape_html(title),
        b = escape_html(body)
    );
    let mut r = (status, html).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // The page has nothing to cache, embed or run.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// Escapes text for HTML element content and attribute values.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
