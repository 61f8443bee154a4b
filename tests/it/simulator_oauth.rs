//! The simulator's OAuth server driven over HTTP, as a browser and Lookout's
//! OAuth client would drive it: the consent page, codes with PKCE, tokens,
//! refresh, revocation, expiry, scopes on `/api/...` and the OAuth faults.

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{Duration, TimeZone, Utc};
use lookout::clock::{Clock, SimClock};
use lookout::config::Secret;
use lookout::simulator::{BrandInfo, Fault, FaultKind, OAUTH_CLIENT_ID, OAUTH_PATHS, Simulator};
use rand::RngCore;
use reqwest::Url;
use serde_json::Value;
use sha2::{Digest, Sha256};

const REVISION: &str = "2026-07-15";
const SCOPES: &str = "accounts:read campaigns:read events:read flows:read forms:read lists:read metrics:read profiles:read segments:read templates:read";

struct App {
    sim: Simulator,
    clock: SimClock,
    base: String,
    /// Redirects off: the tests read `Location` themselves.
    http: reqwest::Client,
    brands: Vec<BrandInfo>,
    secret: Secret,
    redirect_uri: String,
    handle: tokio::task::JoinHandle<()>,
}

impl Drop for App {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

async fn spawn() -> App {
    let start = Utc.with_ymd_and_hms(2026, 11, 2, 14, 20, 0).unwrap();
    let clock = SimClock::frozen(start);
    let sim = Simulator::new(2026, 12, Arc::new(clock.clone()));
    // These tests are about credentials; GET /api/accounts allows 1 request a
    // second per account, which would make them about pacing instead.
    sim.set_rate_limits(false);
    let (addr, handle) = sim
        .serve("127.0.0.1:0".parse().unwrap())
        .await
        .expect("bind 127.0.0.1:0");
    let (id, secret) = sim.oauth_client();
    assert_eq!(id, OAUTH_CLIENT_ID);
    App {
        brands: sim.brands(),
        sim,
        clock,
        base: format!("http://{addr}"),
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        secret,
        redirect_uri: "http://127.0.0.1:53682/oauth/callback".into(),
        handle,
    }
}

/// A PKCE pair: a 64-character verifier and its S256 challenge.
fn pkce() -> (String, String) {
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    let verifier = URL_SAFE_NO_PAD.encode(bytes);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

/// Tokens from a successful exchange.
struct Tokens {
    access: String,
    refresh: String,
    body: Value,
}

fn query_of(location: &str) -> Vec<(String, String)> {
    Url::parse(location)
        .expect("Location is a URL")
        .query_pairs()
        .into_owned()
        .collect()
}

fn param<'a>(q: &'a [(String, String)], name: &str) -> Option<&'a str> {
    q.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

impl App {
    /// The authorize URL with the usual parameters, overridden or extended by `extra`.
    fn authorize_url(&self, challenge: &str, extra: &[(&str, &str)]) -> String {
        let mut base = vec![
            ("response_type", "code"),
            ("client_id", OAUTH_CLIENT_ID),
            ("redirect_uri", self.redirect_uri.as_str()),
            ("scope", SCOPES),
            ("state", "st-123"),
            ("code_challenge", challenge),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in extra {
            base.retain(|(bk, _)| bk != k);
            base.push((k, v));
        }
        let mut url = Url::parse(&format!("{}/oauth/authorize", self.base)).unwrap();
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in base.iter().filter(|(_, v)| !v.is_empty()) {
                q.append_pair(k, v);
            }
        }
        url.to_string()
    }

    /// GET the authorize URL; returns status, `Location` (if any) and body.
    async fn authorize(&self, url: &str) -> (u16, Option<String>, String) {
        let r = self.http.get(url).send().await.unwrap();
        let status = r.status().as_u16();
        let loc = r
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_owned());
        (status, loc, r.text().await.unwrap())
    }

    /// A code for `slug` through the simulator-only shortcut.
    async fn code_for(&self, slug: &str, challenge: &str, extra: &[(&str, &str)]) -> String {
        let mut all = vec![("sim_account", slug)];
        all.extend_from_slice(extra);
        let (s, loc, body) = self.authorize(&self.authorize_url(challenge, &all)).await;
        assert_eq!(s, 302, "{body}");
        let loc = loc.expect("Location");
        assert!(loc.starts_with(&self.redirect_uri), "{loc}");
        let q = query_of(&loc);
        assert_eq!(param(&q, "state"), Some("st-123"));
        param(&q, "code").expect("code").to_owned()
    }

    fn basic(&self) -> String {
        format!(
            "Basic {}",
            STANDARD.encode(format!("{OAUTH_CLIENT_ID}:{}", self.secret.expose()))
        )
    }

    async fn post_form(
        &self,
        path: &str,
        auth: Option<&str>,
        form: &[(&str, &str)],
    ) -> (u16, reqwest::header::HeaderMap, Value) {
        let mut req = self.http.post(format!("{}{path}", self.base)).form(form);
        if let Some(a) = auth {
            req = req.header("Authorization", a);
        }
        let r = req.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        let text = r.text().await.unwrap();
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, headers, body)
    }

    async fn token(&self, form: &[(&str, &str)]) -> (u16, Value) {
        let (s, _, b) = self
            .post_form("/oauth/token", Some(&self.basic()), form)
            .await;
        (s, b)
    }

    async fn exchange(&self, code: &str, verifier: &str) -> (u16, Value) {
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("code_verifier", verifier),
            ("redirect_uri", &self.redirect_uri),
        ])
        .await
    }

    async fn exchange_ok(&self, code: &str, verifier: &str) -> Tokens {
        let (s, body) = self.exchange(code, verifier).await;
        assert_eq!(s, 200, "{body}");
        Tokens {
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().unwrap().to_owned(),
            body,
        }
    }

    /// A fresh grant on `slug` with all of Lookout's read scopes.
    async fn connect(&self, slug: &str) -> Tokens {
        let (v, c) = pkce();
        let code = self.code_for(slug, &c, &[]).await;
        self.exchange_ok(&code, &v).await
    }

    async fn refresh(&self, refresh_token: &str) -> (u16, Value) {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    async fn api(&self, authorization: &str, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .header("revision", REVISION)
            .header("Authorization", authorization)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
    }

    async fn bearer(&self, token: &str, path: &str) -> (u16, Value) {
        self.api(&format!("Bearer {token}"), path).await
    }

    fn brand(&self, slug: &str) -> &BrandInfo {
        self.brands.iter().find(|b| b.slug == slug).unwrap()
    }
}

fn err(body: &Value) -> (&str, &str) {
    (
        body["error"].as_str().unwrap_or("<none>"),
        body["error_description"].as_str().unwrap_or(""),
    )
}

fn api_err(body: &Value) -> (&str, &str) {
    (
        body["errors"][0]["code"].as_str().unwrap_or("<none>"),
        body["errors"][0]["detail"].as_str().unwrap_or(""),
    )
}

#[tokio::test]
async fn full_code_flow_through_the_consent_page() {
    let app = spawn().await;
    let (verifier, challenge) = pkce();
    let (s, loc, page) = app.authorize(&app.authorize_url(&challenge, &[])).await;
    assert_eq!((s, loc), (200, None));
    assert!(page.contains("Lookout wants read access"), "{page}");
    assert!(page.contains("flows:read") && page.contains("templates:read"));
    for b in &app.brands {
        assert!(
            page.contains(&format!("name=\"account\" value=\"{}\"", b.slug)),
            "{}",
            b.slug
        );
    }
    assert_eq!(page.matches("<form").count(), app.brands.len());

    // The browser posts the form for bluebird.
    let (s, h, _) = app
        .post_form(
            "/oauth/authorize",
            None,
            &[
                ("response_type", "code"),
                ("client_id", OAUTH_CLIENT_ID),
                ("redirect_uri", &app.redirect_uri),
                ("scope", SCOPES),
                ("state", "st-123"),
                ("code_challenge", &challenge),
                ("code_challenge_method", "S256"),
                ("account", "bluebird"),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(s, 302);
    let q = query_of(h["location"].to_str().unwrap());
    assert_eq!(param(&q, "state"), Some("st-123"));
    let code = param(&q, "code").unwrap();

    let (s, _, body) = app
        .post_form(
            "/oauth/token",
            Some(&app.basic()),
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("code_verifier", &verifier),
                ("redirect_uri", &app.redirect_uri),
            ],
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], SCOPES);
    let access = body["access_token"].as_str().unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();
    assert!(access.starts_with("sim_at_") && refresh.starts_with("sim_rt_"));
    assert_ne!(access, refresh);

    // The token acts for the brand chosen on the page.
    let (s, body) = app.bearer(access, "/api/accounts").await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(
        body["data"][0]["id"],
        app.brand("bluebird").account_id.as_str()
    );
    let (s, _) = app.bearer(access, "/api/flows").await;
    assert_eq!(s, 200);

    let grants = app.sim.oauth_grants("bluebird");
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].scopes.join(" "), SCOPES);
    assert_eq!(grants[0].created_at, app.clock.now());
    assert_eq!(
        (grants[0].refreshes, grants[0].access_tokens_issued),
        (0, 1)
    );
    assert!(!grants[0].revoked && grants[0].last_refreshed_at.is_none());
    assert!(app.sim.oauth_grants("acme").is_empty());
}

#[tokio::test]
async fn token_responses_are_not_cacheable() {
    let app = spawn().await;
    let (v, c) = pkce();
    let code = app.code_for("acme", &c, &[]).await;
    let (s, h, _) = app
        .post_form(
            "/oauth/token",
            Some(&app.basic()),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &v),
                ("redirect_uri", &app.redirect_uri),
            ],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(h["cache-control"], "no-store");
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

#[tokio::test]
async fn wrong_or_malformed_verifiers_are_invalid_grant_and_leave_the_code_usable() {
    let app = spawn().await;
    let (verifier, challenge) = pkce();
    let code = app.code_for("acme", &challenge, &[]).await;
    let (other, _) = pkce();
    let bad_shapes = [
        other,                           // well formed, wrong
        "a".repeat(42),                  // too short
        format!("{}+", "a".repeat(42)),  // illegal character
        format!("{}+", &verifier[..42]), // right prefix, illegal tail
        "a".repeat(129),                 // too long
    ];
    for bad in &bad_shapes {
        let (s, body) = app.exchange(&code, bad).await;
        assert_eq!((s, err(&body).0), (400, "invalid_grant"), "{bad}: {body}");
    }
    let (_, body) = app.exchange(&code, &"a".repeat(42)).await;
    assert!(err(&body).1.contains("43"), "{body}");
    // None of the failures used the code up.
    app.exchange_ok(&code, &verifier).await;
}

#[tokio::test]
async fn a_reused_code_fails_and_revokes_what_it_bought() {
    let app = spawn().await;
    let (v, c) = pkce();
    let code = app.code_for("acme", &c, &[]).await;
    let t = app.exchange_ok(&code, &v).await;
    assert_eq!(app.bearer(&t.access, "/api/flows").await.0, 200);

    let (s, body) = app.exchange(&code, &v).await;
    assert_eq!((s, err(&body).0), (400, "invalid_grant"), "{body}");
    let (s, body) = app.bearer(&t.access, "/api/flows").await;
    assert_eq!((s, api_err(&body).0), (401, "not_authenticated"));
    assert!(api_err(&body).1.contains("revoked"), "{body}");
    let (s, body) = app.refresh(&t.refresh).await;
    assert_eq!(
        (s, err(&body)),
        (400, ("invalid_grant", "refresh token revoked"))
    );
    assert!(app.sim.oauth_grants("acme")[0].revoked);
}

#[tokio::test]
async fn codes_expire_after_ten_minutes() {
    let app = spawn().await;
    let (v1, c1) = pkce();
    let (v2, c2) = pkce();
    let late = app.code_for("acme", &c1, &[]).await;
    let in_time = app.code_for("acme", &c2, &[]).await;
    app.clock.advance(Duration::minutes(9));
    app.exchange_ok(&in_time, &v2).await;
    app.clock.advance(Duration::minutes(2));
    let (s, body) = app.exchange(&late, &v1).await;
    assert_eq!((s, err(&body).0), (400, "invalid_grant"), "{body}");
    assert!(err(&body).1.contains("expired"), "{body}");
}

#[tokio::test]
async fn the_redirect_uri_must_match_the_authorize_one() {
    let app = spawn().await;
    let (v, c) = pkce();
    let code = app.code_for("acme", &c, &[]).await;
    for other in [
        "http://127.0.0.1:53682/oauth/other",
        "http://127.0.0.1:53683/oauth/callback",
        "http://localhost:53682/oauth/callback",
    ] {
        let (s, body) = app
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &v),
                ("redirect_uri", other),
            ])
            .await;
        assert_eq!((s, err(&body).0), (400, "invalid_grant"), "{other}: {body}");
    }
    let (s, body) = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &v),
        ])
        .await;
    assert_eq!((s, err(&body).0), (400, "invalid_request"), "{body}");
    app.exchange_ok(&code, &v).await;
}

#[tokio::test]
async fn clients_authenticate_with_http_basic_only() {
    let app = spawn().await;
    let (v, c) = pkce();
    let code = app.code_for("acme", &c, &[]).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", v.as_str()),
        ("redirect_uri", app.redirect_uri.as_str()),
    ];
    let wrong = format!(
        "Basic {}",
        STANDARD.encode(format!("{OAUTH_CLIENT_ID}:not-the-secret"))
    );
    let other_client = format!(
        "Basic {}",
        STANDARD.encode(format!("someone-else:{}", app.secret.expose()))
    );
    for auth in [
        Some(wrong.as_str()),
        Some(other_client.as_str()),
        Some("Basic !!!"),
        None,
    ] {
        let (s, h, body) = app.post_form("/oauth/token", auth, &form).await;
        assert_eq!(
            (s, err(&body).0),
            (401, "invalid_client"),
            "{auth:?}: {body}"
        );
        assert!(h["www-authenticate"].to_str().unwrap().starts_with("Basic"));
    }
    // Credentials in the body are not client authentication at Klaviyo.
    let mut in_body = form.to_vec();
    in_body.push(("client_id", OAUTH_CLIENT_ID));
    in_body.push(("client_secret", app.secret.expose()));
    let (s, _, body) = app.post_form("/oauth/token", None, &in_body).await;
    assert_eq!((s, err(&body).0), (401, "invalid_client"), "{body}");
    assert!(err(&body).1.contains("Basic"), "{body}");
    // The refusals did not use the code.
    app.exchange_ok(&code, &v).await;
}

#[tokio::test]
async fn unsupported_grant_types_and_bodies() {
    let app = spawn().await;
    let (s, body) = app.token(&[("grant_type", "client_credentials")]).await;
    assert_eq!((s, err(&body).0), (400, "unsupported_grant_type"));
    let (s, body) = app
        .token(&[("grant_type", "password"), ("username", "x")])
        .await;
    assert_eq!((s, err(&body).0), (400, "unsupported_grant_type"));
    let (s, body) = app.token(&[]).await;
    assert_eq!((s, err(&body).0), (400, "invalid_request"));
    let r = app
        .http
        .post(format!("{}/oauth/token", app.base))
        .header("Authorization", app.basic())
        .json(&serde_json::json!({"grant_type": "refresh_token"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(err(&body).0, "invalid_request");
    let (s, body) = app
        .token(&[
            ("grant_type", "authorization_code"),
            ("code", "sim_ac_nope"),
            ("code_verifier", &"a".repeat(43)),
            ("redirect_uri", &app.redirect_uri),
        ])
        .await;
    assert_eq!((s, err(&body).0), (400, "invalid_grant"));
}

#[tokio::test]
async fn every_oauth_path_is_served() {
    let app = spawn().await;
    for (method, path) in OAUTH_PATHS {
        let url = format!("{}{path}", app.base);
        let r = match *method {
            "GET" => app.http.get(url).send().await.unwrap(),
            _ => app.http.post(url).form(&[("x", "y")]).send().await.unwrap(),
        };
        let s = r.status().as_u16();
        assert!(s != 404 && s != 405, "{method} {path}: {s}");
    }
}

#[tokio::test]
async fn bad_client_or_redirect_is_a_page_never_a_redirect() {
    let app = spawn().await;
    let (_, c) = pkce();
    for extra in [
        [("client_id", "not-lookout")],
        [("client_id", "")],
        [("redirect_uri", "https://evil.example/cb")],
        [("redirect_uri", "http://127.0.0.1/cb")],
        [("redirect_uri", "http://127.0.0.1:80@evil.example/cb")],
        [("redirect_uri", "")],
    ] {
        let (s, loc, page) = app.authorize(&app.authorize_url(&c, &extra)).await;
        assert_eq!((s, loc), (400, None), "{extra:?}");
        assert!(page.contains("<h1>"), "{page}");
    }
    // A hostile redirect URI is echoed escaped.
    let (s, _, page) = app
        .authorize(&app.authorize_url(
            &c,
            &[(
                "redirect_uri",
                "https://x.example/<script>alert(1)</script>",
            )],
        ))
        .await;
    assert_eq!(s, 400);
    assert!(
        !page.contains("<script>") && page.contains("&lt;script&gt;"),
        "{page}"
    );
}

#[tokio::test]
async fn request_errors_go_back_to_the_client_with_state() {
    let app = spawn().await;
    let (_, c) = pkce();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge", "short")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge_method", "")], "invalid_request"),
        (vec![("response_type", "token")], "invalid_request"),
        (vec![("response_type", "")], "invalid_request"),
        (vec![("scope", "")], "invalid_request"),
        (
            vec![("scope", "flows:read everything:read")],
            "invalid_scope",
        ),
        (vec![("sim_account", "nobody")], "invalid_request"),
        (
            vec![("sim_account", "acme"), ("sim_scopes", "flows:write")],
            "invalid_scope",
        ),
    ];
    for (extra, want) in cases {
        let (s, loc, body) = app.authorize(&app.authorize_url(&c, &extra)).await;
        assert_eq!(s, 302, "{extra:?}: {body}");
        let loc = loc.unwrap();
        assert!(loc.starts_with(&app.redirect_uri), "{loc}");
        let q = query_of(&loc);
        assert_eq!(param(&q, "error"), Some(want), "{extra:?}");
        assert!(param(&q, "error_description").is_some_and(|d| !d.is_empty()));
        assert_eq!(param(&q, "state"), Some("st-123"));
        assert_eq!(param(&q, "code"), None);
    }
    // A redirect URI's own query survives.
    let with_query = "http://localhost:8123/cb?tenant=7";
    let (s, loc, _) = app
        .authorize(&app.authorize_url(&c, &[("redirect_uri", with_query), ("sim_account", "acme")]))
        .await;
    assert_eq!(s, 302);
    let q = query_of(&loc.unwrap());
    assert_eq!(param(&q, "tenant"), Some("7"));
    assert!(param(&q, "code").is_some());
}

#[tokio::test]
async fn the_consent_page_escapes_what_it_echoes() {
    let app = spawn().await;
    let (_, c) = pkce();
    let hostile = "\"><script>alert('pwned')</script>";
    let (s, _, page) = app
        .authorize(&app.authorize_url(&c, &[("state", hostile)]))
        .await;
    assert_eq!(s, 200);
    assert!(!page.contains("<script>"), "{page}");
    assert!(page.contains("&quot;&gt;&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;"));
    let r = app
        .http
        .get(app.authorize_url(&c, &[]))
        .send()
        .await
        .unwrap();
    assert!(
        r.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    // The escaped state comes back intact through the form.
    let (s, h, _) = app
        .post_form(
            "/oauth/authorize",
            None,
            &[
                ("response_type", "code"),
                ("client_id", OAUTH_CLIENT_ID),
                ("redirect_uri", &app.redirect_uri),
                ("scope", "flows:read"),
                ("state", hostile),
                ("code_challenge", &c),
                ("code_challenge_method", "S256"),
                ("account", "acme"),
                ("decision", "allow"),
            ],
        )
        .await;
    assert_eq!(s, 302);
    let q = query_of(h["location"].to_str().unwrap());
    assert_eq!(param(&q, "state"), Some(hostile));
}

#[tokio::test]
async fn deny_answers_access_denied() {
    let app = spawn().await;
    let (_, c) = pkce();
    let form = |decision: &'static str, account: &'static str| {
        vec![
            ("response_type", "code".to_owned()),
            ("client_id", OAUTH_CLIENT_ID.to_owned()),
            ("redirect_uri", app.redirect_uri.clone()),
            ("scope", SCOPES.to_owned()),
            ("state", "st-9".to_owned()),
            ("code_challenge", c.clone()),
            ("code_challenge_method", "S256".to_owned()),
            ("account", account.to_owned()),
            ("decision", decision.to_owned()),
        ]
    };
    let send = |f: Vec<(&'static str, String)>| {
        let app = &app;
        async move {
            let pairs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let (s, h, _) = app.post_form("/oauth/authorize", None, &pairs).await;
            (s, query_of(h["location"].to_str().unwrap()))
        }
    };
    let (s, q) = send(form("deny", "acme")).await;
    assert_eq!(s, 302);
    assert_eq!(param(&q, "error"), Some("access_denied"));
    assert_eq!(param(&q, "state"), Some("st-9"));
    assert_eq!(param(&q, "code"), None);
    let (_, q) = send(form("maybe", "acme")).await;
    assert_eq!(param(&q, "error"), Some("invalid_request"));
    let (_, q) = send(form("allow", "nobody")).await;
    assert_eq!(param(&q, "error"), Some("invalid_request"));
    // A scope override wider than the request is refused.
    let mut wide = form("allow", "acme");
    wide.retain(|(k, _)| *k != "scope");
    wide.push(("scope", "flows:read".into()));
    wide.push(("granted_scope", "flows:read lists:read".into()));
    let (_, q) = send(wide).await;
    assert_eq!(param(&q, "error"), Some("invalid_scope"));
    assert!(app.sim.oauth_grants("acme").is_empty());
}

#[tokio::test]
async fn a_narrower_grant_is_403_outside_its_scopes() {
    let app = spawn().await;
    let (v, c) = pkce();
    let code = app
        .code_for("cedar-co", &c, &[("sim_scopes", "flows:read metrics:read")])
        .await;
    let t = app.exchange_ok(&code, &v).await;
    assert_eq!(t.body["scope"], "flows:read metrics:read");
    assert_eq!(app.bearer(&t.access, "/api/flows").await.0, 200);
    assert_eq!(app.bearer(&t.access, "/api/metrics").await.0, 200);
    for path in ["/api/accounts", "/api/lists", "/api/events"] {
        let (s, body) = app.bearer(&t.access, path).await;
        assert_eq!(
            (s, api_err(&body).0),
            (403, "permission_denied"),
            "{path}: {body}"
        );
    }
    // /api/lists/{id}/flow-triggers needs lists:read as well as flows:read.
    let (s, body) = app
        .bearer(&t.access, "/api/lists/Abc123/flow-triggers")
        .await;
    assert_eq!(s, 403, "{body}");
    assert!(api_err(&body).1.contains("lists:read"), "{body}");
    // The private key still reads everything.
    let key = format!("Klaviyo-API-Key {}", app.brand("cedar-co").api_key.expose());
    assert_eq!(app.api(&key, "/api/lists").await.0, 200);
}

#[tokio::test]
async fn the_consent_form_can_grant_a_subset() {
    let app = spawn().await;
    let (v, c) = pkce();
    let (s, h, _) = app
        .post_form(
            "/oauth/authorize",
            None,
            &[
                ("response_type", "code"),
                ("client_id", OAUTH_CLIENT_ID),
                ("redirect_uri", &app.redirect_uri),
                ("scope", SCOPES),
                ("code_challenge", &c),
                ("code_challenge_method", "S256"),
                ("account", "acme"),
                ("decision", "allow"),
                ("granted_scope", "lists:read"),
            ],
        )
        .await;
    assert_eq!(s, 302);
    let q = query_of(h["location"].to_str().unwrap());
    assert_eq!(param(&q, "state"), None, "no state was sent");
    let t = app.exchange_ok(param(&q, "code").unwrap(), &v).await;
    assert_eq!(t.body["scope"], "lists:read");
    assert_eq!(app.bearer(&t.access, "/api/lists").await.0, 200);
    assert_eq!(app.bearer(&t.access, "/api/flows").await.0, 403);
}

#[tokio::test]
async fn write_scopes_are_granted_when_asked() {
    // Refusing them is Lookout's job; the simulator grants what is asked.
    let app = spawn().await;
    let (v, c) = pkce();
    let code = app
        .code_for("acme", &c, &[("scope", "flows:read flows:write")])
        .await;
    let t = app.exchange_ok(&code, &v).await;
    assert_eq!(t.body["scope"], "flows:read flows:write");
    let (_, _, page) = app
        .authorize(&app.authorize_url(&c, &[("scope", "flows:read flows:write")]))
        .await;
    assert!(page.contains("read and write access"), "{page}");
}

#[tokio::test]
async fn access_tokens_expire_after_their_ttl() {
    let app = spawn().await;
    app.sim.set_access_token_ttl(120);
    let t = app.connect("acme").await;
    assert_eq!(t.body["expires_in"], 120);
    app.clock.advance(Duration::seconds(119));
    assert_eq!(app.bearer(&t.access, "/api/flows").await.0, 200);
    app.clock.advance(Duration::seconds(1));
    let (s, body) = app.bearer(&t.access, "/api/flows").await;
    assert_eq!((s, api_err(&body).0), (401, "not_authenticated"), "{body}");
    assert!(api_err(&body).1.contains("expired"), "{body}");
    // A refresh brings a working one.
    let (s, body) = app.refresh(&t.refresh).await;
    assert_eq!(s, 200, "{body}");
    let fresh = body["access_token"].as_str().unwrap();
    assert_eq!(app.bearer(fresh, "/api/flows").await.0, 200);
    // The default is an hour.
    app.sim.set_access_token_ttl(3600);
    let t = app.connect("bluebird").await;
    assert_eq!(t.body["expires_in"], 3600);
    app.clock.advance(Duration::minutes(59));
    assert_eq!(app.bearer(&t.access, "/api/flows").await.0, 200);
    app.clock.advance(Duration::minutes(1));
    assert_eq!(app.bearer(&t.access, "/api/flows").await.0, 401);
}

#[tokio::test]
async fn refresh_rotates_and_the_old_token_dies() {
    let app = spawn().await;
    let t = app.connect("acme").await;
    app.clock.advance(Duration::minutes(30));
    let (s, body) = app.refresh(&t.refresh).await;
    assert_eq!(s, 200, "{body}");
    let (a2, r2) = (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    );
    assert_ne!(a2, t.access);
    assert_ne!(r2, t.refresh);
    assert_eq!(body["scope"], SCOPES);
    assert_eq!(body["expires_in"], 3600);
    let (s, body) = app.refresh(&t.refresh).await;
    assert_eq!(
        (s, err(&body)),
        (400, ("invalid_grant", "refresh token revoked"))
    );
    let (s, body) = app.refresh(&r2).await;
    assert_eq!(s, 200, "{body}");
    let g = &app.sim.oauth_grants("acme")[0];
    assert_eq!((g.refreshes, g.access_tokens_issued), (2, 3));
    assert_eq!(g.last_refreshed_at, Some(app.clock.now()));
    // Both access tokens still work until they expire; refresh does not kill them.
    assert_eq!(app.bearer(&a2, "/api/flows").await.0, 200);
}

#[tokio::test]
async fn without_rotation_the_same_refresh_token_comes_back() {
    let app = spawn().await;
    app.sim.set_refresh_rotation(false);
    let t = app.connect("acme").await;
    for _ in 0..3 {
        let (s, body) = app.refresh(&t.refresh).await;
        assert_eq!(s, 200, "{body}");
        assert_eq!(body["refresh_token"], t.refresh.as_str());
        assert_ne!(body["access_token"], t.access.as_str());
    }
    // Turned back on, the next refresh rotates.
    app.sim.set_refresh_rotation(true);
    let (_, body) = app.refresh(&t.refresh).await;
    assert_ne!(body["refresh_token"], t.refresh.as_str());
    assert_eq!(app.refresh(&t.refresh).await.0, 400);
}

#[tokio::test]
async fn refresh_tokens_die_after_ninety_idle_days() {
    let app = spawn().await;
    let idle = app.connect("acme").await;
    let kept = app.connect("bluebird").await;
    // Refreshing every 60 days keeps a grant alive.
    app.clock.advance(Duration::days(60));
    let (s, body) = app.refresh(&kept.refresh).await;
    assert_eq!(s, 200);
    let kept_rt = body["refresh_token"].as_str().unwrap().to_owned();
    app.clock.advance(Duration::days(31));
    let (s, body) = app.refresh(&idle.refresh).await;
    assert_eq!(
        (s, err(&body)),
        (400, ("invalid_grant", "refresh token expired"))
    );
    assert_eq!(app.refresh(&kept_rt).await.0, 200);
}

#[tokio::test]
async fn revoking_a_refresh_token_kills_the_grant() {
    let app = spawn().await;
    let t = app.connect("acme").await;
    let other = app.connect("acme").await;
    let (s, h, body) = app
        .post_form(
            "/oauth/revoke",
            Some(&app.basic()),
            &[("token", &t.refresh), ("token_type_hint", "refresh_token")],
        )
        .await;
    assert_eq!(s, 200, "{body}");
    assert_eq!(h["cache-control"], "no-store");
    let (s, body) = app.refresh(&t.refresh).await;
    assert_eq!(
        (s, err(&body)),
        (400, ("invalid_grant", "refresh token revoked"))
    );
    let (s, body) = app.bearer(&t.access, "/api/flows").await;
    assert_eq!(s, 401);
    assert!(api_err(&body).1.contains("revoked"), "{body}");
    // The other grant of the same brand lives on.
    assert_eq!(app.bearer(&other.access, "/api/flows").await.0, 200);
    let grants = app.sim.oauth_grants("acme");
    assert_eq!(
        grants.iter().map(|g| g.revoked).collect::<Vec<_>>(),
        [true, false]
    );
    // Revoking again, or an unknown token, or with a wrong hint: still 200.
    for (token, hint) in [
        (t.refresh.as_str(), "refresh_token"),
        ("sim_rt_unknown", "refresh_token"),
        (t.refresh.as_str(), "access_token"),
    ] {
        let (s, _, _) = app
            .post_form(
                "/oauth/revoke",
                Some(&app.basic()),
                &[("token", token), ("token_type_hint", hint)],
            )
            .await;
        assert_eq!(s, 200);
    }
    // But not for a stranger.
    let (s, _, body) = app
        .post_form("/oauth/revoke", None, &[("token", &other.refresh)])
        .await;
    assert_eq!((s, err(&body).0), (401, "invalid_client"));
    assert_eq!(app.bearer(&other.access, "/api/flows").await.0, 200);
}

#[tokio::test]
async fn revoking_an_access_token_leaves_the_grant() {
    let app = spawn().await;
    let t = app.connect("acme").await;
    let (s, _, _) = app
        .post_form(
            "/oauth/revoke",
            Some(&app.basic()),
            &[("token", &t.access), ("token_type_hint", "access_token")],
        )
        .await;
    assert_eq!(s, 200);
    assert_eq!(app.bearer(&t.access, "/api/flows").await.0, 401);
    let (s, body) = app.refresh(&t.refresh).await;
    assert_eq!(s, 200, "{body}");
    assert!(!app.sim.oauth_grants("acme")[0].revoked);
}

#[tokio::test]
async fn grant_revoked_fault_kills_oauth_but_not_keys_while_in_force() {
    let app = spawn().await;
    let t = app.connect("acme").await;
    let b = app.connect("bluebird").await;
    let now = app.clock.now();
    app.sim.inject(Fault {
        brand: "acme".into(),
        kind: FaultKind::GrantRevoked,
        at: now + Duration::minutes(5),
        until: None,
    });
    assert_eq!(
        app.bearer(&t.access, "/api/flows").await.0,
        200,
        "not started yet"
    );
    app.clock.advance(Duration::minutes(5));
    let (s, body) = app.bearer(&t.access, "/api/flows").await;
    assert_eq!((s, api_err(&body).0), (401, "not_authenticated"));
    assert!(api_err(&body).1.contains("revoked"), "{body}");
    let (s, body) = app.refresh(&t.refresh).await;
    assert_eq!((s, err(&body)), (400, ("invalid_grant", "grant revoked")));
    // A new authorization is dead too while the fault is in force.
    let (v, c) = pkce();
    let code = app.code_for("acme", &c, &[]).await;
    let (s, body) = app.exchange(&code, &v).await;
    assert_eq!((s, err(&body).0), (400, "invalid_grant"));
    // Only OAuth, only acme.
    let key = format!("Klaviyo-API-Key {}", app.brand("acme").api_key.expose());
    assert_eq!(app.api(&key, "/api/flows").await.0, 200);
    assert_eq!(app.bearer(&b.access, "/api/flows").await.0, 200);
    assert_eq!(app.refresh(&b.refresh).await.0, 200);
    // Cleared, the grant works again (the window semantics of every fault).
    assert!(app.sim.clear("acme", FaultKind::GrantRevoked));
    assert_eq!(app.bearer(&t.access, "/api/flows").await.0, 200);
    assert_eq!(app.refresh(&t.refresh).await.0, 200);
}

#[tokio::test]
async fn refresh_expired_fault_fails_refreshes_only() {
    let app = spawn().await;
    let t = app.connect("acme").await;
    let now = app.clock.now();
    app.sim.inject(Fault {
        brand: "acme".into(),
        kind: FaultKind::RefreshExpired,
        at: now,
        until: Some(now + Duration::hours(1)),
    });
    let (s, body) = app.refresh(&t.refresh).await;
    assert_eq!(
        (s, err(&body)),
        (400, ("invalid_grant", "refresh token expired"))
    );
    assert_eq!(app.bearer(&t.access, "/api/flows").await.0, 200);
    app.clock.advance(Duration::hours(1));
    assert_eq!(app.refresh(&t.refresh).await.0, 200);
}

#[tokio::test]
async fn token_revoked_fault_stays_with_api_keys() {
    let app = spawn().await;
    let t = app.connect("acme").await;
    app.sim.inject(Fault {
        brand: "acme".into(),
        kind: FaultKind::TokenRevoked,
        at: app.clock.now(),
        until: None,
    });
    let key = format!("Klaviyo-API-Key {}", app.brand("acme").api_key.expose());
    assert_eq!(app.api(&key, "/api/flows").await.0, 401);
    assert_eq!(app.bearer(&t.access, "/api/flows").await.0, 200);
}

#[tokio::test]
async fn a_private_key_sent_as_bearer_is_401() {
    let app = spawn().await;
    let key = app.brand("acme").api_key.expose().to_owned();
    let (s, body) = app.bearer(&key, "/api/accounts").await;
    assert_eq!((s, api_err(&body).0), (401, "not_authenticated"), "{body}");
    assert!(api_err(&body).1.contains("Klaviyo-API-Key"), "{body}");
    assert!(
        !body.to_string().contains(&key),
        "the key must not be echoed"
    );
    let (s, _) = app
        .api(&format!("Klaviyo-API-Key {key}"), "/api/accounts")
        .await;
    assert_eq!(s, 200);
    // Nor the other way round: an access token is not an API key.
    let t = app.connect("acme").await;
    let (s, _) = app
        .api(&format!("Klaviyo-API-Key {}", t.access), "/api/accounts")
        .await;
    assert_eq!(s, 401);
    let (s, body) = app.bearer("sim_at_made-up", "/api/accounts").await;
    assert_eq!((s, api_err(&body).0), (401, "not_authenticated"));
}

#[tokio::test]
async fn the_grants_admin_path_shows_no_token_values() {
    let app = spawn().await;
    let t = app.connect("acme").await;
    let (_, body) = app.refresh(&t.refresh).await;
    let new_rt = body["refresh_token"].as_str().unwrap().to_owned();
    let r = app
        .http
        .get(format!("{}/__sim/oauth/grants", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let text = r.text().await.unwrap();
    for secret in [
        t.access.as_str(),
        t.refresh.as_str(),
        new_rt.as_str(),
        app.secret.expose(),
    ] {
        assert!(!text.contains(secret));
    }
    for prefix in ["sim_at_", "sim_rt_", "sim_ac_", "sim_cs_"] {
        assert!(!text.contains(prefix), "{prefix} in {text}");
    }
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v.as_object().unwrap().len(), app.brands.len());
    assert_eq!(v["bluebird"], serde_json::json!([]));
    let g = &v["acme"][0];
    assert_eq!(g["refreshes"], 1);
    assert_eq!(g["access_tokens_issued"], 2);
    assert_eq!(g["revoked"], false);
    assert_eq!(g["scopes"].as_array().unwrap().len(), 10);
    assert!(g["created_at"].is_string() && g["last_refreshed_at"].is_string());
    // The secret never prints.
    assert_eq!(format!("{:?}", app.sim.oauth_client().1), "[redacted]");
}

#[tokio::test]
async fn the_oauth2_crate_lookout_uses_completes_the_flow() {
    use oauth2::basic::{BasicClient, BasicErrorResponseType};
    use oauth2::{
        AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, PkceCodeChallenge,
        RedirectUrl, RefreshToken, RequestTokenError, RevocationUrl, Scope, StandardRevocableToken,
        TokenResponse, TokenUrl,
    };

    let app = spawn().await;
    let client = BasicClient::new(ClientId::new(OAUTH_CLIENT_ID.into()))
        .set_client_secret(ClientSecret::new(app.secret.expose().into()))
        .set_auth_uri(AuthUrl::new(format!("{}/oauth/authorize", app.base)).unwrap())
        .set_token_uri(TokenUrl::new(format!("{}/oauth/token", app.base)).unwrap())
        .set_redirect_uri(RedirectUrl::new(app.redirect_uri.clone()).unwrap())
        .set_revocation_url(RevocationUrl::new(format!("{}/oauth/revoke", app.base)).unwrap());
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(SCOPES.split(' ').map(|s| Scope::new(s.into())))
        .set_pkce_challenge(challenge)
        .add_extra_param("sim_account", "dune-supply")
        .url();
    let (s, loc, body) = app.authorize(url.as_str()).await;
    assert_eq!(s, 302, "{body}");
    let q = query_of(&loc.unwrap());
    assert_eq!(param(&q, "state"), Some(csrf.secret().as_str()));
    let code = AuthorizationCode::new(param(&q, "code").unwrap().into());

    let tokens = client
        .exchange_code(code)
        .set_pkce_verifier(verifier)
        .request_async(&app.http)
        .await
        .expect("code exchange");
    assert_eq!(
        tokens.expires_in(),
        Some(std::time::Duration::from_secs(3600))
    );
    assert_eq!(tokens.scopes().map(Vec::len), Some(10));
    let access = tokens.access_token().secret().clone();
    let (s, body) = app.bearer(&access, "/api/accounts").await;
    assert_eq!(s, 200);
    assert_eq!(
        body["data"][0]["id"],
        app.brand("dune-supply").account_id.as_str()
    );

    let first_rt = tokens.refresh_token().unwrap().clone();
    let refreshed = client
        .exchange_refresh_token(&first_rt)
        .request_async(&app.http)
        .await
        .expect("refresh");
    assert_ne!(
        refreshed.refresh_token().unwrap().secret(),
        first_rt.secret()
    );
    // A dead refresh token surfaces as invalid_grant, which Lookout reads as
    // "reconnect", not "retry".
    match client
        .exchange_refresh_token(&first_rt)
        .request_async(&app.http)
        .await
    {
        Err(RequestTokenError::ServerResponse(e)) => {
            assert_eq!(*e.error(), BasicErrorResponseType::InvalidGrant);
        }
        other => panic!("expected invalid_grant, got {:?}", other.map(|_| "tokens")),
    }
    // oauth2 5 refuses a revocation URL that is not https (RFC 7009 §2), and the
    // simulator serves plain http: against it, revoke with a plain form POST.
    let rt = RefreshToken::new(refreshed.refresh_token().unwrap().secret().clone());
    assert!(
        client
            .revoke_token(StandardRevocableToken::RefreshToken(rt))
            .is_err()
    );
}
