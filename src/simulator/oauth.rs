//! Klaviyo's OAuth, as the simulator speaks it: authorization code with PKCE
//! (S256 only), HTTP Basic client authentication, refresh-token rotation,
//! RFC 7009 revocation and short-lived access tokens that `/api/...` accepts
//! as `Authorization: Bearer <token>`.
//!
//! There is exactly one registered app, [`OAUTH_CLIENT_ID`], whose secret is
//! derived from the seed. Its registered redirect URIs are every loopback
//! `http://127.0.0.1:<port>/...` or `http://localhost:<port>/...`.
//!
//! HTTP surface (all on the simulator's one host, where Klaviyo splits
//! `www.klaviyo.com` for the browser and `a.klaviyo.com` for token calls):
//! - `GET /oauth/authorize`: the consent page, one form per brand. With the
//!   simulator-only `sim_account=<slug>` (and optionally `sim_scopes=<space-
//!   separated subset of scope>`) it approves at once with a 302, so tests and
//!   the demo need no browser.
//! - `POST /oauth/authorize`: the form's answer, i.e. the same parameters plus
//!   `account=<slug>`, `decision=allow|deny` and optionally `granted_scope`
//!   (space-separated subset of `scope`; it carries its own name because
//!   `scope` keeps what was requested). 302 to the redirect URI with `code`
//!   or `error=access_denied`.
//! - `POST /oauth/token`: `grant_type=authorization_code` or `refresh_token`.
//! - `POST /oauth/revoke`: `token` (+ `token_type_hint`), always 200 for a
//!   valid client.
//! - `GET /__sim/oauth/grants`: every brand's grants (counts and dates, never
//!   token values).
//!
//! Where Klaviyo's behaviour is not documented the simulator follows the
//! RFCs (6749, 7009, 7636) and says so here: a rotated refresh token answers
//! `invalid_grant` without revoking the grant; a failed PKCE check does not
//! burn the code; an access-token revocation leaves the grant alive.
//!
//! Token values are kept only as SHA-256 digests and never logged, so neither
//! a debug dump of the state nor a log line can leak one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use chrono::{DateTime, Duration, Utc};
use rand::RngCore;
use reqwest::Url;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::faults::FaultKind;
use super::hash::{hash, str_hash};
use super::{Inner, portfolio};
use crate::config::Secret;
use crate::klaviyo::limits;

/// The client id of the simulator's one registered OAuth app.
pub const OAUTH_CLIENT_ID: &str = "lookout-sim";

/// How long an authorization code may wait for its exchange.
const CODE_TTL_SECS: i64 = 600;
/// A refresh token unused for longer than this is dead (Klaviyo: 90 days).
const REFRESH_IDLE_DAYS: i64 = 90;
/// Access-token lifetime unless `set_access_token_ttl` says otherwise.
const DEFAULT_ACCESS_TTL_SECS: u64 = 3600;
/// Longest TTL honoured, so `now + ttl` cannot overflow chrono.
const MAX_ACCESS_TTL_SECS: u64 = 10 * 365 * 86_400;
/// Expired codes and access tokens are forgotten this long after expiry;
/// until then they answer "expired" rather than "invalid".
const FORGET_AFTER_DAYS: i64 = 1;

/// What a test may learn about one OAuth grant (never a token value).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuthGrantInfo {
    /// Scopes granted, in the order they were asked for.
    pub scopes: Vec<String>,
    /// When the code was exchanged.
    pub created_at: DateTime<Utc>,
    /// When the grant was last refreshed, if ever.
    pub last_refreshed_at: Option<DateTime<Utc>>,
    /// Whether it was revoked (revocation, or its code presented twice).
    pub revoked: bool,
    /// Successful refreshes.
    pub refreshes: u32,
    /// Access tokens issued, the first one included.
    pub access_tokens_issued: u32,
}

/// SHA-256 of a token: the only form in which tokens are stored.
type TokenDigest = [u8; 32];

fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// A fresh random token with a recognisable prefix (`sim_at_`, `sim_rt_`, `sim_ac_`).
fn new_token(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("{prefix}{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// An issued authorization code and what it is bound to.
struct Code {
    /// Always [`OAUTH_CLIENT_ID`] today; kept so a second app could not
    /// redeem another's code.
    client_id: &'static str,
    redirect_uri: String,
    challenge: String,
    scopes: Vec<String>,
    brand: usize,
    expires_at: DateTime<Utc>,
    /// The grant created when it was exchanged: set means used.
    grant: Option<usize>,
}

struct Grant {
    brand: usize,
    scopes: Vec<String>,
    created_at: DateTime<Utc>,
    last_refreshed_at: Option<DateTime<Utc>>,
    revoked: bool,
    refreshes: u32,
    access_tokens_issued: u32,
}

struct AccessToken {
    grant: usize,
    scopes: Vec<String>,
    /// When it was issued: a `token-expired` fault expires tokens older than itself.
    issued_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
    revoked: bool,
}

struct RefreshToken {
    grant: usize,
    /// Issue time, or the last refresh that returned this same token.
    last_used: DateTime<Utc>,
    /// Replaced by a newer token (rotation): dead at once.
    rotated: bool,
}

#[derive(Default)]
struct Store {
    codes: HashMap<TokenDigest, Code>,
    grants: Vec<Grant>,
    access: HashMap<TokenDigest, AccessToken>,
    refresh: HashMap<TokenDigest, RefreshToken>,
}

impl Store {
    /// Issues an access token for `grant` with `scopes`; returns its value.
    fn issue_access(
        &mut self,
        grant: usize,
        scopes: Vec<String>,
        now: DateTime<Utc>,
        ttl: u64,
    ) -> String {
        let forget = now - Duration::days(FORGET_AFTER_DAYS);
        self.access.retain(|_, a| a.expires_at > forget);
        let token = new_token("sim_at_");
        self.access.insert(
            digest(&token),
            AccessToken {
                grant,
                scopes,
                issued_at: now,
                expires_at: now + Duration::seconds(ttl.min(MAX_ACCESS_TTL_SECS) as i64),
                revoked: false,
            },
        );
        if let Some(g) = self.grants.get_mut(grant) {
            g.access_tokens_issued += 1;
        }
        token
    }

    fn issue_refresh(&mut self, grant: usize, now: DateTime<Utc>) -> String {
        // Rotated tokens past the idle limit are dead twice over: forget them,
        // so a long demo's rotations do not pile up.
        let idle = Duration::days(REFRESH_IDLE_DAYS);
        self.refresh
            .retain(|_, r| !(r.rotated && now - r.last_used > idle));
        let token = new_token("sim_rt_");
        self.refresh.insert(
            digest(&token),
            RefreshToken {
                grant,
                last_used: now,
                rotated: false,
            },
        );
        token
    }
}

/// Tokens handed to the client by `/oauth/token`.
struct TokenSet {
    access: String,
    refresh: String,
    expires_in: u64,
    scopes: Vec<String>,
}

impl TokenSet {
    fn into_response(self) -> Response {
        no_store(
            StatusCode::OK,
            json!({
                "access_token": self.access,
                "token_type": "Bearer",
                "expires_in": self.expires_in,
                "refresh_token": self.refresh,
                "scope": self.scopes.join(" "),
            }),
        )
    }
}

/// What a live access token stands for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BearerGrant {
    /// The brand it acts for.
    pub(crate) brand: usize,
    /// The scopes it carries.
    pub(crate) scopes: Vec<String>,
    /// When it was issued.
    pub(crate) issued_at: DateTime<Utc>,
}

/// Why a Bearer token was not accepted on `/api/...` (the 401's detail).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BearerRefusal {
    /// No such access token.
    Unknown,
    /// Past its `expires_in`.
    Expired,
    /// Revoked itself, or its grant was.
    Revoked,
}

impl BearerRefusal {
    /// The 401's `detail`.
    pub(crate) fn detail(self) -> &'static str {
        match self {
            BearerRefusal::Unknown => {
                "The access token is invalid, expired or revoked: refresh it, or reconnect the account over OAuth."
            }
            BearerRefusal::Expired => {
                "The access token expired: get a new one with the refresh token."
            }
            BearerRefusal::Revoked => {
                "The access token was revoked: reconnect the account over OAuth."
            }
        }
    }
}

/// The OAuth server's state: the one app's secret, codes, grants and tokens.
pub(crate) struct OAuth {
    client_secret: Secret,
    store: Mutex<Store>,
    rotation: AtomicBool,
    access_ttl_secs: AtomicU64,
}

impl OAuth {
    /// The server for the portfolio built from `seed`.
    pub(crate) fn new(seed: u64) -> Self {
        let part = |n| hash(&[seed, str_hash("oauth-client-secret"), n]);
        Self {
            client_secret: Secret::new(format!("sim_cs_{:016x}{:016x}", part(1), part(2))),
            store: Mutex::new(Store::default()),
            rotation: AtomicBool::new(true),
            access_ttl_secs: AtomicU64::new(DEFAULT_ACCESS_TTL_SECS),
        }
    }

    /// The app's client secret.
    pub(crate) fn client_secret(&self) -> &Secret {
        &self.client_secret
    }

    /// Turns refresh-token rotation on (the default) or off.
    pub(crate) fn set_rotation(&self, on: bool) {
        self.rotation.store(on, Ordering::Relaxed);
    }

    /// Sets the lifetime of access tokens issued from now on.
    pub(crate) fn set_access_ttl(&self, secs: u64) {
        self.access_ttl_secs.store(secs, Ordering::Relaxed);
    }

    fn store(&self) -> MutexGuard<'_, Store> {
        // Every edit under the lock leaves the maps valid on its own (a panic
        // mid-handler can at worst lose one token), so a poisoned lock is usable.
        self.store.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The grants of brand `brand`, oldest first.
    pub(crate) fn grants(&self, brand: usize) -> Vec<OAuthGrantInfo> {
        self.store()
            .grants
            .iter()
            .filter(|g| g.brand == brand)
            .map(|g| OAuthGrantInfo {
                scopes: g.scopes.clone(),
                created_at: g.created_at,
                last_refreshed_at: g.last_refreshed_at,
                revoked: g.revoked,
                refreshes: g.refreshes,
                access_tokens_issued: g.access_tokens_issued,
            })
            .collect()
    }

    /// Issues an authorization code for an approved request.
    fn issue_code(
        &self,
        req: &AuthRequest,
        brand: usize,
        scopes: Vec<String>,
        now: DateTime<Utc>,
    ) -> String {
        let code = new_token("sim_ac_");
        let mut store = self.store();
        let forget = now - Duration::days(FORGET_AFTER_DAYS);
        store.codes.retain(|_, c| c.expires_at > forget);
        store.codes.insert(
            digest(&code),
            Code {
                client_id: OAUTH_CLIENT_ID,
                redirect_uri: req.redirect_uri.clone(),
                challenge: req.challenge.clone(),
                scopes,
                brand,
                expires_at: now + Duration::seconds(CODE_TTL_SECS),
                grant: None,
            },
        );
        code
    }

    /// Which brand and scopes a live access token stands for.
    pub(crate) fn resolve_access(
        &self,
        token: &str,
        now: DateTime<Utc>,
    ) -> Result<BearerGrant, BearerRefusal> {
        let store = self.store();
        let at = store
            .access
            .get(&digest(token))
            .ok_or(BearerRefusal::Unknown)?;
        let grant = store.grants.get(at.grant).ok_or(BearerRefusal::Unknown)?;
        if at.revoked || grant.revoked {
            return Err(BearerRefusal::Revoked);
        }
        if now >= at.expires_at {
            return Err(BearerRefusal::Expired);
        }
        Ok(BearerGrant {
            brand: grant.brand,
            scopes: at.scopes.clone(),
            issued_at: at.issued_at,
        })
    }

    /// `grant_type=authorization_code` for the authenticated `client_id`.
    /// `in_force(brand, kind)` says whether a fault is in force now.
    fn exchange_code(
        &self,
        client_id: &str,
        form: &Params,
        now: DateTime<Utc>,
        in_force: &dyn Fn(usize, FaultKind) -> bool,
    ) -> Result<TokenSet, OAuthError> {
        let code = form.required("code")?;
        let verifier = form.required("code_verifier")?;
        let redirect_uri = form.required("redirect_uri")?;
        let mut guard = self.store();
        // Reborrowed once so the code and the grants can be borrowed apart.
        let store = &mut *guard;
        let Some(c) = store.codes.get_mut(&digest(code)) else {
            return Err(OAuthError::invalid_grant("authorization code is invalid"));
        };
        if let Some(g) = c.grant {
            // RFC 6749 §4.1.2: a code presented twice may have leaked, so the
            // tokens it bought die too.
            if let Some(grant) = store.grants.get_mut(g) {
                grant.revoked = true;
            }
            tracing::info!("simulator OAuth code reused; its grant is revoked");
            return Err(OAuthError::invalid_grant(
                "authorization code was already used; the tokens issued from it are revoked",
            ));
        }
        if c.client_id != client_id {
            return Err(OAuthError::invalid_grant(
                "authorization code was issued to another client",
            ));
        }
        if now >= c.expires_at {
            return Err(OAuthError::invalid_grant("authorization code expired"));
        }
        if c.redirect_uri != redirect_uri {
            return Err(OAuthError::invalid_grant(
                "redirect_uri does not match the authorization request",
            ));
        }
        if !verifier_shape_ok(verifier) {
            return Err(OAuthError::invalid_grant(
                "code_verifier must be 43 to 128 characters of A-Z a-z 0-9 - . _ ~",
            ));
        }
        if !pkce_matches(verifier, &c.challenge) {
            return Err(OAuthError::invalid_grant(
                "code_verifier does not match the code_challenge",
            ));
        }
        let brand = c.brand;
        if in_force(brand, FaultKind::GrantRevoked) {
            return Err(OAuthError::invalid_grant("grant revoked"));
        }
        let scopes = c.scopes.clone();
        let g = store.grants.len();
        c.grant = Some(g);
        store.grants.push(Grant {
            brand,
            scopes: scopes.clone(),
            created_at: now,
            last_refreshed_at: None,
            revoked: false,
            refreshes: 0,
            access_tokens_issued: 0,
        });
        let ttl = self.access_ttl_secs.load(Ordering::Relaxed);
        let access = store.issue_access(g, scopes.clone(), now, ttl);
        let refresh = store.issue_refresh(g, now);
        tracing::info!(brand_index = brand, scopes = %scopes.join(" "), "simulator OAuth grant created");
        Ok(TokenSet {
            access,
            refresh,
            expires_in: ttl,
            scopes,
        })
    }

    /// `grant_type=refresh_token`.
    fn refresh(
        &self,
        form: &Params,
        now: DateTime<Utc>,
        in_force: &dyn Fn(usize, FaultKind) -> bool,
    ) -> Result<TokenSet, OAuthError> {
        let token = form.required("refresh_token")?;
        let asked = form.optional("scope")?.map(parse_scopes);
        let key = digest(token);
        let mut store = self.store();
        let Some(rt) = store.refresh.get(&key) else {
            return Err(OAuthError::invalid_grant("refresh token is invalid"));
        };
        let (g, last_used, rotated) = (rt.grant, rt.last_used, rt.rotated);
        let Some(grant) = store.grants.get(g) else {
            return Err(OAuthError::invalid_grant("refresh token is invalid"));
        };
        if grant.revoked || rotated {
            return Err(OAuthError::invalid_grant("refresh token revoked"));
        }
        if in_force(grant.brand, FaultKind::GrantRevoked) {
            return Err(OAuthError::invalid_grant("grant revoked"));
        }
        if in_force(grant.brand, FaultKind::RefreshExpired)
            || now - last_used > Duration::days(REFRESH_IDLE_DAYS)
        {
            return Err(OAuthError::invalid_grant("refresh token expired"));
        }
        // RFC 6749 §6: a refresh may narrow the scope, never widen it.
        let scopes = match asked {
            None => grant.scopes.clone(),
            Some(s) if !s.is_empty() && s.iter().all(|x| grant.scopes.contains(x)) => s,
            Some(_) => {
                return Err(OAuthError::invalid_scope(
                    "scope must be a non-empty subset of the scopes granted",
                ));
            }
        };
        let ttl = self.access_ttl_secs.load(Ordering::Relaxed);
        let access = store.issue_access(g, scopes.clone(), now, ttl);
        let refresh = if self.rotation.load(Ordering::Relaxed) {
            if let Some(old) = store.refresh.get_mut(&key) {
                old.rotated = true;
            }
            store.issue_refresh(g, now)
        } else {
            if let Some(same) = store.refresh.get_mut(&key) {
                same.last_used = now;
            }
            token.to_owned()
        };
        if let Some(grant) = store.grants.get_mut(g) {
            grant.refreshes += 1;
            grant.last_refreshed_at = Some(now);
        }
        Ok(TokenSet {
            access,
            refresh,
            expires_in: ttl,
            scopes,
        })
    }

    /// RFC 7009: a refresh token takes its whole grant with it; an access
    /// token only itself; an unknown token is no error.
    fn revoke(&self, token: &str) {
        let key = digest(token);
        let mut guard = self.store();
        let store = &mut *guard;
        if let Some(g) = store.refresh.get(&key).map(|r| r.grant) {
            if let Some(grant) = store.grants.get_mut(g) {
                grant.revoked = true;
            }
            tracing::info!("simulator OAuth grant revoked by its refresh token");
        } else if let Some(at) = store.access.get_mut(&key) {
            at.revoked = true;
        }
    }
}

#[cfg(test)]
impl OAuth {
    /// A new grant of `brand` with every read scope, as if its code had been
    /// exchanged at `now`: `(access_token, refresh_token)`. For tests outside
    /// this module, which cannot drive the consent page.
    pub(crate) fn grant_for_test(&self, brand: usize, now: DateTime<Utc>) -> (String, String) {
        let scopes: Vec<String> = crate::config::READ_SCOPES
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let mut store = self.store();
        store.grants.push(Grant {
            brand,
            scopes: scopes.clone(),
            created_at: now,
            last_refreshed_at: None,
            revoked: false,
            refreshes: 0,
            access_tokens_issued: 0,
        });
        let g = store.grants.len() - 1;
        let ttl = self.access_ttl_secs.load(Ordering::Relaxed);
        let access = store.issue_access(g, scopes, now, ttl);
        let refresh = store.issue_refresh(g, now);
        (access, refresh)
    }

    /// `grant_type=refresh_token` at `now` with no fault in force: the new access token.
    pub(crate) fn refresh_for_test(
        &self,
        refresh_token: &str,
        now: DateTime<Utc>,
    ) -> Result<String, OAuthError> {
        let form = Params::parse(format!("refresh_token={refresh_token}").as_bytes());
        self.refresh(&form, now, &|_, _| false).map(|t| t.access)
    }
}

// ---------- checks ----------

/// RFC 7636 §4.1: 43 to 128 unreserved characters.
fn verifier_shape_ok(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// `BASE64URL-NOPAD(SHA256(verifier)) == challenge`, compared in constant time.
fn pkce_matches(verifier: &str, challenge: &str) -> bool {
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    constant_time_eq(computed.as_bytes(), challenge.as_bytes())
}

/// An S256 challenge is the base64url of 32 bytes: 43 characters.
fn challenge_shape_ok(c: &str) -> bool {
    c.len() == 43
        && c.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `uri` is one of the app's registered redirect URIs: plain http to
/// 127.0.0.1 or localhost with an explicit port, any path, no fragment.
fn registered_redirect(uri: &str) -> Option<Url> {
    let rest = uri
        .strip_prefix("http://127.0.0.1:")
        .or_else(|| uri.strip_prefix("http://localhost:"))?;
    let port_len = rest.bytes().take_while(u8::is_ascii_digit).count();
    let (port, tail) = rest.split_at(port_len);
    // The character after the port decides the host: `:80@evil.example` or
    // `:80\evil.example` would otherwise point somewhere else.
    let port_ok = (1..=5).contains(&port.len()) && port.parse::<u16>().is_ok_and(|p| p > 0);
    if !port_ok || !(tail.is_empty() || tail.starts_with('/') || tail.starts_with('?')) {
        return None;
    }
    if uri.contains('#') || uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let url = Url::parse(uri).ok()?;
    let loopback = matches!(url.host_str(), Some("127.0.0.1" | "localhost"));
    (url.scheme() == "http" && loopback && url.username().is_empty() && url.password().is_none())
        .then_some(url)
}

/// Every scope Klaviyo's API knows (the union over the spec's operations).
fn known_scope(s: &str) -> bool {
    limits::OPERATIONS.iter().any(|op| op.scopes.contains(&s))
}

/// Space-separated scopes, without repeats, in the order given.
fn parse_scopes(s: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in s.split_whitespace() {
        if !out.iter().any(|o| o == t) {
            out.push(t.to_owned());
        }
    }
    out
}

/// Form or query parameters, as given.
struct Params(Vec<(String, String)>);

/// A parameter given more than once.
struct Repeated(&'static str);

impl Params {
    fn parse(bytes: &[u8]) -> Self {
        Self(form_urlencoded::parse(bytes).into_owned().collect())
    }

    /// The value of `name`; an empty value counts as absent (RFC 6749 §3.1),
    /// a repeated one is an error (same section).
    fn one(&self, name: &'static str) -> Result<Option<&str>, Repeated> {
        let mut it = self.0.iter().filter(|(k, _)| k == name);
        let first = it.next();
        if it.next().is_some() {
            return Err(Repeated(name));
        }
        Ok(first.map(|(_, v)| v.as_str()).filter(|v| !v.is_empty()))
    }

    fn optional(&self, name: &'static str) -> Result<Option<&str>, OAuthError> {
        self.one(name).map_err(|Repeated(n)| {
            OAuthError::invalid_request(format!("`{n}` was given more than once"))
        })
    }

    fn required(&self, name: &'static str) -> Result<&str, OAuthError> {
        self.optional(name)?
            .ok_or_else(|| OAuthError::invalid_request(format!("`{name}` is required")))
    }
}

// ---------- token endpoint errors ----------

/// An RFC 6749 §5.2 error answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct OAuthError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl OAuthError {
    fn new(status: StatusCode, error: &'static str, description: impl Into<String>) -> Self {
        Self {
            status,
            error,
            description: description.into(),
        }
    }

    fn invalid_request(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", d)
    }

    fn invalid_client(d: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "invalid_client", d)
    }

    fn invalid_grant(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_grant", d)
    }

    fn invalid_scope(d: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_scope", d)
    }
}

impl IntoResponse for OAuthError {
    fn into_response(self) -> Response {
        tracing::debug!(error = self.error, "simulator OAuth request refused");
        let mut r = no_store(
            self.status,
            json!({ "error": self.error, "error_description": self.description }),
        );
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"Klaviyo simulator\""),
            );
        }
        r
    }
}

/// JSON that no cache may keep (RFC 6749 §5.1).
fn no_store(status: StatusCode, body: serde_json::Value) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
            (header::PRAGMA, "no-cache"),
        ],
        body.to_string(),
    )
        .into_response()
}

/// Checks `Authorization: Basic base64(client_id:client_secret)`; returns the client.
fn authenticate_client(
    oauth: &OAuth,
    headers: &HeaderMap,
    form: &Params,
) -> Result<&'static str, OAuthError> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("Basic").then_some(rest.trim())
        });
    let Some(encoded) = basic else {
        let in_body = form.0.iter().any(|(k, _)| k == "client_secret");
        return Err(OAuthError::invalid_client(if in_body {
            "client credentials in the body are not accepted: use HTTP Basic authentication"
        } else {
            "client authentication required: use HTTP Basic with client_id:client_secret"
        }));
    };
    let decoded = STANDARD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    let ok = decoded
        .as_deref()
        .and_then(|d| d.split_once(':'))
        .is_some_and(|(id, secret)| {
            // Both halves are compared so the answer's timing says nothing
            // about which one was wrong.
            let id_ok = constant_time_eq(id.as_bytes(), OAUTH_CLIENT_ID.as_bytes());
            let secret_ok =
                constant_time_eq(secret.as_bytes(), oauth.client_secret.expose().as_bytes());
            id_ok & secret_ok
        });
    if ok {
        Ok(OAUTH_CLIENT_ID)
    } else {
        Err(OAuthError::invalid_client("client authentication failed"))
    }
}

fn form_body(headers: &HeaderMap, body: &[u8]) -> Result<Params, OAuthError> {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if is_form {
        Ok(Params::parse(body))
    } else {
        Err(OAuthError::invalid_request(
            "the body must be application/x-www-form-urlencoded",
        ))
    }
}

// ---------- HTTP ----------

/// The OAuth paths and the grants admin path, over the simulator's state.
pub(crate) fn router() -> Router<Arc<Inner>> {
    Router::new()
        .route("/oauth/authorize", get(authorize_get).post(authorize_post))
        .route("/oauth/token", post(token))
        .route("/oauth/revoke", post(revoke))
        .route("/__sim/oauth/grants", get(admin_grants))
}

fn fault_check(inner: &Inner) -> impl Fn(usize, FaultKind) -> bool + '_ {
    let now = inner.now();
    move |brand, kind| inner.fault_in_force(brand, kind, now)
}

async fn token(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let result = form_body(&headers, &body).and_then(|form| {
        let client = authenticate_client(&inner.oauth, &headers, &form)?;
        let now = inner.now();
        let in_force = fault_check(&inner);
        match form.required("grant_type")? {
            "authorization_code" => inner.oauth.exchange_code(client, &form, now, &in_force),
            "refresh_token" => inner.oauth.refresh(&form, now, &in_force),
            other => Err(OAuthError::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                format!(
                    "grant_type `{other}` is not supported: use authorization_code or refresh_token"
                ),
            )),
        }
    });
    match result {
        Ok(tokens) => tokens.into_response(),
        Err(e) => e.into_response(),
    }
}

async fn revoke(State(inner): State<Arc<Inner>>, headers: HeaderMap, body: Bytes) -> Response {
    let result = form_body(&headers, &body).and_then(|form| {
        authenticate_client(&inner.oauth, &headers, &form)?;
        // The hint only speeds a lookup up (RFC 7009 §2.1); both kinds are searched.
        form.optional("token_type_hint")?;
        let token = form.required("token")?;
        inner.oauth.revoke(token);
        Ok(())
    });
    match result {
        Ok(()) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response(),
        Err(e) => e.into_response(),
    }
}

async fn admin_grants(State(inner): State<Arc<Inner>>) -> Response {
    let by_brand: serde_json::Map<String, serde_json::Value> = inner
        .brands
        .iter()
        .enumerate()
        .map(|(i, b)| (b.slug.clone(), json!(inner.oauth.grants(i))))
        .collect();
    axum::Json(by_brand).into_response()
}

/// An authorization request that passed every check.
struct AuthRequest {
    /// Exactly as given: the token request must repeat it byte for byte.
    redirect_uri: String,
    redirect: Url,
    scopes: Vec<String>,
    state: Option<String>,
    challenge: String,
}

impl AuthRequest {
    /// A refusal told to the client at its redirect URI.
    fn refuse(&self, error: &'static str, description: impl Into<String>) -> Refusal {
        refuse_at(&self.redirect, self.state.as_deref(), error, description)
    }
}

fn refuse_at(
    redirect: &Url,
    state: Option<&str>,
    error: &'static str,
    description: impl Into<String>,
) -> Refusal {
    Refusal::Redirect(Box::new(Bounce {
        to: redirect.clone(),
        state: state.map(str::to_owned),
        error,
        description: description.into(),
    }))
}

/// An RFC 6749 §4.1.2.1 error on its way back to the client.
struct Bounce {
    to: Url,
    state: Option<String>,
    error: &'static str,
    description: String,
}

/// Why an authorization request is refused, and how the refusal is told.
enum Refusal {
    /// The client or redirect URI cannot be trusted: a 400 page, never a
    /// redirect to an unregistered URI.
    Page(String),
    /// Back to the client's (registered) redirect URI.
    Redirect(Box<Bounce>),
}

impl Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Page(message) => error_page(&message),
            Refusal::Redirect(b) => {
                tracing::debug!(error = b.error, "simulator OAuth authorization refused");
                redirect_to(
                    &b.to,
                    &[("error", b.error), ("error_description", &b.description)],
                    b.state.as_deref(),
                )
            }
        }
    }
}

fn redirect_to(base: &Url, params: &[(&str, &str)], state: Option<&str>) -> Response {
    let mut url = base.clone();
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in params {
            q.append_pair(k, v);
        }
        if let Some(s) = state {
            q.append_pair("state", s);
        }
    }
    match HeaderValue::from_str(url.as_str()) {
        Ok(loc) => (
            StatusCode::FOUND,
            [
                (header::LOCATION, loc),
                (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            ],
        )
            .into_response(),
        // A serialised URL is ASCII, so this cannot happen; answer rather than panic.
        Err(_) => error_page("The redirect URI cannot be used in a Location header."),
    }
}

/// Checks an authorization request. Until client and redirect URI are
/// known good the refusal is a page; after that it goes to the redirect URI.
fn check_request(p: &Params) -> Result<AuthRequest, Refusal> {
    let page = |Repeated(n)| Refusal::Page(format!("`{n}` was given more than once."));
    match p.one("client_id").map_err(page)? {
        Some(OAUTH_CLIENT_ID) => {}
        Some(other) => {
            return Err(Refusal::Page(format!(
                "Unknown client_id `{other}`: the simulator's one OAuth app is `{OAUTH_CLIENT_ID}`."
            )));
        }
        None => return Err(Refusal::Page("`client_id` is required.".into())),
    }
    let Some(redirect_uri) = p.one("redirect_uri").map_err(page)? else {
        return Err(Refusal::Page("`redirect_uri` is required.".into()));
    };
    let Some(redirect) = registered_redirect(redirect_uri) else {
        return Err(Refusal::Page(format!(
            "`{redirect_uri}` is not a registered redirect URI: use http://127.0.0.1:<port>/... or http://localhost:<port>/..."
        )));
    };
    // `state` first, so every later refusal can carry it back.
    let state = match p.one("state") {
        Ok(s) => s,
        Err(Repeated(n)) => {
            return Err(refuse_at(
                &redirect,
                None,
                "invalid_request",
                format!("`{n}` was given more than once"),
            ));
        }
    };
    let bad = |d: String| refuse_at(&redirect, state, "invalid_request", d);
    let get = |name| {
        p.one(name)
            .map_err(|Repeated(n)| bad(format!("`{n}` was given more than once")))
    };
    if get("response_type")? != Some("code") {
        return Err(bad("response_type must be `code`".into()));
    }
    if get("code_challenge_method")? != Some("S256") {
        return Err(bad(
            "code_challenge_method must be `S256` (PKCE is required)".into(),
        ));
    }
    let challenge = match get("code_challenge")? {
        None => return Err(bad("code_challenge is required (PKCE)".into())),
        Some(c) if !challenge_shape_ok(c) => {
            return Err(bad(
                "code_challenge must be BASE64URL(SHA256(code_verifier)) without padding: 43 characters".into(),
            ));
        }
        Some(c) => c.to_owned(),
    };
    let Some(scope) = get("scope")? else {
        return Err(bad("scope is required".into()));
    };
    let scopes = parse_scopes(scope);
    if let Some(unknown) = scopes.iter().find(|s| !known_scope(s)) {
        return Err(refuse_at(
            &redirect,
            state,
            "invalid_scope",
            format!("unknown scope `{unknown}`"),
        ));
    }
    Ok(AuthRequest {
        redirect_uri: redirect_uri.to_owned(),
        redirect: redirect.clone(),
        scopes,
        state: state.map(str::to_owned),
        challenge,
    })
}

/// The subset of the requested scopes that `chosen` names, or all of them.
fn granted_scopes(req: &AuthRequest, chosen: Option<&str>) -> Result<Vec<String>, Refusal> {
    let Some(s) = chosen else {
        return Ok(req.scopes.clone());
    };
    let chosen = parse_scopes(s);
    if chosen.is_empty() || chosen.iter().any(|c| !req.scopes.contains(c)) {
        return Err(req.refuse(
            "invalid_scope",
            "the scopes granted must be a non-empty subset of the scopes requested",
        ));
    }
    Ok(chosen)
}

/// `p.one(name)`, a repeat refused at the redirect URI.
fn field<'p>(
    p: &'p Params,
    req: &AuthRequest,
    name: &'static str,
) -> Result<Option<&'p str>, Refusal> {
    p.one(name).map_err(|Repeated(n)| {
        req.refuse("invalid_request", format!("`{n}` was given more than once"))
    })
}

fn approve(inner: &Inner, req: &AuthRequest, brand: usize, scopes: Vec<String>) -> Response {
    let code = inner.oauth.issue_code(req, brand, scopes, inner.now());
    tracing::info!(brand = %inner.brands[brand].slug, "simulator OAuth authorization approved");
    redirect_to(&req.redirect, &[("code", &code)], req.state.as_deref())
}

async fn authorize_get(State(inner): State<Arc<Inner>>, RawQuery(q): RawQuery) -> Response {
    let p = Params::parse(q.unwrap_or_default().as_bytes());
    authorize_page(&inner, &p).unwrap_or_else(Refusal::into_response)
}

fn authorize_page(inner: &Inner, p: &Params) -> Result<Response, Refusal> {
    let req = check_request(p)?;
    // The simulator-only shortcut: approve for `sim_account` without a page.
    let Some(slug) = field(p, &req, "sim_account")? else {
        return Ok(consent_page(&inner.brands, &req));
    };
    let brand = inner.brand_index(slug).ok_or_else(|| {
        req.refuse(
            "invalid_request",
            format!("sim_account `{slug}` is not a simulated brand"),
        )
    })?;
    let scopes = granted_scopes(&req, field(p, &req, "sim_scopes")?)?;
    Ok(approve(inner, &req, brand, scopes))
}

async fn authorize_post(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Ok(p) = form_body(&headers, &body) else {
        return error_page("The consent form must be posted as application/x-www-form-urlencoded.");
    };
    authorize_decision(&inner, &p).unwrap_or_else(Refusal::into_response)
}

fn authorize_decision(inner: &Inner, p: &Params) -> Result<Response, Refusal> {
    let req = check_request(p)?;
    match field(p, &req, "decision")? {
        Some("deny") => {
            tracing::info!("simulator OAuth authorization denied");
            Err(req.refuse("access_denied", "the user denied the request"))
        }
        Some("allow") => {
            let Some(slug) = field(p, &req, "account")? else {
                return Err(req.refuse("invalid_request", "choose an account"));
            };
            let brand = inner.brand_index(slug).ok_or_else(|| {
                req.refuse(
                    "invalid_request",
                    format!("account `{slug}` is not a simulated brand"),
                )
            })?;
            let scopes = granted_scopes(&req, field(p, &req, "granted_scope")?)?;
            Ok(approve(inner, &req, brand, scopes))
        }
        _ => Err(req.refuse("invalid_request", "decision must be `allow` or `deny`")),
    }
}

// ---------- HTML ----------

/// Escapes text for HTML element content and quoted attribute values: the
/// same escaper as Lookout's own callback page.
use crate::connections::callback::escape_html as esc;

fn html(status: StatusCode, title: &str, body: &str) -> Response {
    let doc = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title></head>\n<body>\n{body}</body></html>\n",
        esc(title)
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
            // A consent page must not be framed (clickjacking) nor run scripts.
            (header::X_FRAME_OPTIONS, "DENY"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
            ),
        ],
        doc,
    )
        .into_response()
}

fn error_page(message: &str) -> Response {
    tracing::debug!("simulator OAuth authorization refused with a page");
    html(
        StatusCode::BAD_REQUEST,
        "Authorization error - Klaviyo simulator",
        &format!(
            "<h1>This authorization request cannot be completed</h1>\n<p>{}</p>\n",
            esc(message)
        ),
    )
}

fn hidden(name: &str, value: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"{}\" value=\"{}\">",
        esc(name),
        esc(value)
    )
}

fn consent_page(brands: &[portfolio::Brand], req: &AuthRequest) -> Response {
    let writes = req.scopes.iter().any(|s| !s.ends_with(":read"));
    let access = if writes { "read and write" } else { "read" };
    let scope_list: Vec<String> = req
        .scopes
        .iter()
        .map(|s| format!("<li><code>{}</code></li>", esc(s)))
        .collect();
    let mut common = vec![
        hidden("client_id", OAUTH_CLIENT_ID),
        hidden("redirect_uri", &req.redirect_uri),
        hidden("response_type", "code"),
        hidden("scope", &req.scopes.join(" ")),
        hidden("code_challenge", &req.challenge),
        hidden("code_challenge_method", "S256"),
    ];
    if let Some(s) = &req.state {
        common.push(hidden("state", s));
    }
    let common = common.join("\n");
    let forms: Vec<String> = brands
        .iter()
        .map(|b| {
            format!(
                "<form method=\"post\" action=\"/oauth/authorize\">\n{common}\n{}\n<p><strong>{}</strong> ({}, account {})\n<button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\n<button type=\"submit\" name=\"decision\" value=\"deny\">Deny</button></p>\n</form>",
                hidden("account", &b.slug),
                esc(&b.name),
                esc(&b.slug),
                esc(&b.account_id),
            )
        })
        .collect();
    let body = format!(
        "<h1>Lookout wants {access} access to a Klaviyo account</h1>\n<p>Lookout wants {access} access to the account you choose below: scopes</p>\n<ul>\n{}\n</ul>\n<p>It will return to <code>{}</code>.</p>\n<h2>Choose the account</h2>\n{}\n",
        scope_list.join("\n"),
        esc(&req.redirect_uri),
        forms.join("\n"),
    );
    html(
        StatusCode::OK,
        "Authorize Lookout - Klaviyo simulator",
        &body,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        // RFC 7636 Appendix B: these 32 octets, base64url-encoded, are the
        // verifier; its S256 challenge follows.
        let octets: [u8; 32] = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212,
            37, 77, 105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(URL_SAFE_NO_PAD.encode(octets), verifier);
        assert!(verifier_shape_ok(verifier));
        assert!(challenge_shape_ok(challenge));
        assert!(pkce_matches(verifier, challenge));
        // One character off either side fails.
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXj",
            challenge
        ));
        assert!(!pkce_matches(
            verifier,
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cN"
        ));
        // The plain method (challenge == verifier) is not S256.
        assert!(!pkce_matches(verifier, verifier));
        // A pair sometimes quoted as the RFC's is not a pair at all.
        assert!(!pkce_matches(
            "dBjftJeZ4CVP-mJ92ZoB_ISOYsM1gMAT_bM7t8q5Cb0",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbJWUzfRDJ9M"
        ));
    }

    #[test]
    fn verifier_shape_follows_rfc_7636() {
        assert!(verifier_shape_ok(&"a".repeat(43)));
        assert!(verifier_shape_ok(&"a".repeat(128)));
        assert!(verifier_shape_ok(
            "abcdefghijklmnopqrstuvwxyz-._~ABCDEFGHIJKLMNOP0123"
        ));
        assert!(!verifier_shape_ok(&"a".repeat(42)));
        assert!(!verifier_shape_ok(&"a".repeat(129)));
        assert!(!verifier_shape_ok(&format!("{}+", "a".repeat(42))));
        assert!(!verifier_shape_ok(&format!("{}=", "a".repeat(42))));
        assert!(!verifier_shape_ok(&format!("{}é", "a".repeat(42))));
        assert!(!challenge_shape_ok(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM="
        ));
        assert!(!challenge_shape_ok(
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-c"
        ));
    }

    #[test]
    fn only_loopback_redirects_with_a_port_are_registered() {
        for ok in [
            "http://127.0.0.1:8080/callback",
            "http://localhost:49152/oauth/klaviyo?x=1",
            "http://127.0.0.1:1",
            "http://localhost:65535/",
        ] {
            assert!(registered_redirect(ok).is_some(), "{ok}");
        }
        for bad in [
            "https://127.0.0.1:8080/callback",
            "http://127.0.0.1/callback",
            "http://127.0.0.1:0/",
            "http://127.0.0.1:65536/",
            "http://localhost.evil.example:80/",
            "http://127.0.0.1:80@evil.example/",
            "http://127.0.0.1:80\\@evil.example/",
            "http://127.0.0.1.evil.example:80/",
            "http://127.0.0.1:8080/cb#frag",
            "http://127.0.0.1:8080/c b",
            "http://10.0.0.1:8080/cb",
            "http://example.com:8080/cb",
            "javascript:alert(1)",
            "",
        ] {
            assert!(registered_redirect(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn lookouts_read_scopes_are_known_and_made_up_ones_are_not() {
        let lookout = "accounts:read campaigns:read events:read flows:read forms:read lists:read metrics:read profiles:read segments:read templates:read";
        for s in parse_scopes(lookout) {
            assert!(known_scope(&s), "{s}");
        }
        assert!(known_scope("flows:write"));
        assert!(!known_scope("everything:read"));
        assert_eq!(
            parse_scopes(" flows:read  lists:read flows:read "),
            ["flows:read", "lists:read"]
        );
    }

    #[test]
    fn html_escaping_covers_attribute_breakouts() {
        assert_eq!(
            esc("\"><script>alert('x')</script>&"),
            "&quot;&gt;&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;"
        );
    }

    #[test]
    fn params_treat_empty_as_absent_and_refuse_repeats() {
        let p = Params::parse(b"a=1&b=&c=2&c=3");
        assert!(matches!(p.one("a"), Ok(Some("1"))));
        assert!(matches!(p.one("b"), Ok(None)));
        assert!(matches!(p.one("z"), Ok(None)));
        assert!(matches!(p.one("c"), Err(Repeated("c"))));
    }

    #[test]
    fn client_secret_is_stable_per_seed_and_tokens_are_random() {
        assert_eq!(
            OAuth::new(7).client_secret().expose(),
            OAuth::new(7).client_secret().expose()
        );
        assert_ne!(
            OAuth::new(7).client_secret().expose(),
            OAuth::new(8).client_secret().expose()
        );
        let a = new_token("sim_at_");
        assert!(a.starts_with("sim_at_") && a.len() == 7 + 43, "{a}");
        assert_ne!(a, new_token("sim_at_"));
    }

    fn ok(r: Result<TokenSet, OAuthError>) -> TokenSet {
        match r {
            Ok(t) => t,
            Err(e) => panic!("expected tokens, got {e:?}"),
        }
    }

    fn fail(r: Result<TokenSet, OAuthError>) -> OAuthError {
        match r {
            Ok(_) => panic!("expected an error, got tokens"),
            Err(e) => e,
        }
    }

    #[test]
    fn store_flow_rotation_and_idle_expiry() {
        let t0 = Utc.with_ymd_and_hms(2026, 11, 2, 9, 0, 0).unwrap();
        let oauth = OAuth::new(1);
        let req = AuthRequest {
            redirect_uri: "http://127.0.0.1:9/cb".into(),
            redirect: Url::parse("http://127.0.0.1:9/cb").unwrap(),
            scopes: vec!["flows:read".into()],
            state: None,
            challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        };
        let never = |_: usize, _: FaultKind| false;
        let code = oauth.issue_code(&req, 3, req.scopes.clone(), t0);
        let form = |s: String| Params::parse(s.as_bytes());
        // A code is bound to its client: another one cannot redeem it (nor
        // does the attempt use it up).
        let code_form = format!(
            "code={code}&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb"
        );
        let e = fail(oauth.exchange_code("someone-else", &form(code_form), t0, &never));
        assert_eq!(e.error, "invalid_grant");
        let exchange = format!(
            "code={code}&code_verifier=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk&redirect_uri=http%3A%2F%2F127.0.0.1%3A9%2Fcb"
        );
        let t = ok(oauth.exchange_code(OAUTH_CLIENT_ID, &form(exchange.clone()), t0, &never));
        assert_eq!(oauth.resolve_access(&t.access, t0).unwrap().brand, 3);
        assert_eq!(
            oauth.resolve_access(&t.access, t0 + Duration::hours(1)),
            Err(BearerRefusal::Expired)
        );
        // Rotation: the old refresh token dies, the new one works.
        let r1 = ok(oauth.refresh(&form(format!("refresh_token={}", t.refresh)), t0, &never));
        assert_ne!(r1.refresh, t.refresh);
        let again = oauth.refresh(&form(format!("refresh_token={}", t.refresh)), t0, &never);
        assert_eq!(fail(again).description, "refresh token revoked");
        // Idle for 90 days is still fine; 90 days and a second is not.
        let late = t0 + Duration::days(90) + Duration::seconds(1);
        let e = fail(oauth.refresh(&form(format!("refresh_token={}", r1.refresh)), late, &never));
        assert_eq!(e.description, "refresh token expired");
        let r2 = ok(oauth.refresh(
            &form(format!("refresh_token={}", r1.refresh)),
            t0 + Duration::days(90),
            &never,
        ));
        assert!(r2.refresh.starts_with("sim_rt_"));
        let g = oauth.grants(3);
        assert_eq!(
            (g.len(), g[0].refreshes, g[0].access_tokens_issued),
            (1, 2, 3)
        );
        // Reuse of the code revokes the grant and every token of it.
        let e = fail(oauth.exchange_code(OAUTH_CLIENT_ID, &form(exchange), t0, &never));
        assert_eq!(e.error, "invalid_grant");
        assert!(oauth.grants(3)[0].revoked);
        assert_eq!(
            oauth.resolve_access(&r2.access, t0),
            Err(BearerRefusal::Revoked)
        );
    }
}
