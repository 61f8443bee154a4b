//! Klaviyo's OAuth, through the `oauth2` crate: the authorize link with PKCE
//! S256, the code exchange, refresh and revocation. Client authentication is
//! HTTP Basic, as Klaviyo requires; token and revoke calls go to the API host.
//!
//! Errors are worded from the server's error code and description only:
//! `oauth2`'s parse errors carry the raw body, which may hold a token.

use chrono::{DateTime, Duration, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet,
    EndpointSet, PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, Scope,
    TokenResponse, TokenUrl,
};

use crate::config::{READ_SCOPES, Secret};

/// The client type with the endpoints Lookout sets.
type Client = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

/// Access tokens with less than this left are refreshed before use.
pub const REFRESH_AHEAD: Duration = Duration::minutes(5);

/// A token endpoint answer that went wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// The grant is dead (`invalid_grant`): revoked, expired or uninstalled; re-authorise.
    #[error("Klaviyo no longer honours the grant (invalid_grant: {0})")]
    InvalidGrant(String),
    /// Klaviyo refused Lookout's client credentials.
    #[error(
        "Klaviyo refused Lookout's OAuth app credentials (invalid_client): check connections.oauth_client_id and its secret"
    )]
    InvalidClient,
    /// Any other error answer.
    #[error("Klaviyo's token endpoint answered {code}: {description}")]
    Refused {
        /// The OAuth error code.
        code: String,
        /// Its description.
        description: String,
    },
    /// Klaviyo could not be reached or answered something unreadable; try again.
    #[error("could not complete the call to Klaviyo's token endpoint ({0}); try again in a minute")]
    Transport(String),
    /// A URL in the settings is unusable.
    #[error("the OAuth settings are unusable: {0}")]
    Config(String),
}

/// Tokens as Klaviyo granted them.
pub struct Tokens {
    /// The access token.
    pub access: Secret,
    /// The refresh token, when one was returned.
    pub refresh: Option<Secret>,
    /// When the access token expires.
    pub expires_at: DateTime<Utc>,
    /// Granted scopes; `None` when Klaviyo did not say (then as asked).
    pub scopes: Option<Vec<String>>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("expires_at", &self.expires_at)
            .field("scopes", &self.scopes)
            .finish_non_exhaustive()
    }
}

/// Lookout's Klaviyo OAuth app and the endpoints it talks to.
#[derive(Clone)]
pub struct OAuthApp {
    client: Client,
    http: reqwest::Client,
    /// Kept for the revocation call, which is made without `oauth2`.
    secret: Option<Secret>,
    revoke_url: reqwest::Url,
}

impl std::fmt::Debug for OAuthApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthApp")
            .field("client_id", &self.client.client_id().as_str())
            .finish_non_exhaustive()
    }
}

/// Where the app's endpoints are.
#[derive(Debug, Clone)]
pub struct Endpoints {
    /// The browser's authorize page.
    pub authorize: String,
    /// The API host (`https://a.klaviyo.com`): token and revoke live under `/oauth/`.
    pub api_base: String,
    /// Lookout's callback.
    pub redirect: String,
}

impl OAuthApp {
    /// The app with its credentials and endpoints.
    pub fn new(client_id: &str, secret: &Secret, at: &Endpoints) -> Result<Self, OAuthError> {
        let bad =
            |what: &str, e: oauth2::url::ParseError| OAuthError::Config(format!("{what}: {e}"));
        let base = at.api_base.trim_end_matches('/');
        let client = BasicClient::new(ClientId::new(client_id.to_owned()))
            .set_client_secret(ClientSecret::new(secret.expose().to_owned()))
            .set_auth_type(AuthType::BasicAuth)
            .set_auth_uri(AuthUrl::new(at.authorize.clone()).map_err(|e| bad("authorize_url", e))?)
            .set_token_uri(
                TokenUrl::new(format!("{base}/oauth/token")).map_err(|e| bad("token URL", e))?,
            )
            .set_redirect_uri(
                RedirectUrl::new(at.redirect.clone()).map_err(|e| bad("public_url", e))?,
            );
        let http = reqwest::Client::builder()
            // A redirect from the token endpoint could carry the code or a token elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(30))
            .user_agent(concat!("lookout/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| OAuthError::Config(format!("HTTP client: {e}")))?;
        let revoke_url = reqwest::Url::parse(&format!("{base}/oauth/revoke"))
            .map_err(|e| bad("revoke URL", e))?;
        Ok(Self {
            client,
            http,
            secret: Some(secret.clone()),
            revoke_url,
        })
    }

    /// A new authorize link asking for the read scopes, with its `state` and PKCE verifier.
    pub fn authorize(&self) -> (String, Secret, Secret) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = self
            .client
            .authorize_url(CsrfToken::new_random)
            .add_scopes(READ_SCOPES.iter().map(|s| Scope::new((*s).to_owned())))
            .set_pkce_challenge(challenge)
            .url();
        (
            url.to_string(),
            Secret::new(state.secret().clone()),
            Secret::new(verifier.secret().clone()),
        )
    }

    /// Exchanges an authorization code (with its PKCE verifier) for tokens.
    pub async fn exchange(
        &self,
        code: &str,
        verifier: &Secret,
        now: DateTime<Utc>,
    ) -> Result<Tokens, OAuthError> {
        let answer = self
            .client
            .exchange_code(AuthorizationCode::new(code.to_owned()))
            .set_pkce_verifier(PkceCodeVerifier::new(verifier.expose().to_owned()))
            .request_async(&self.http)
            .await
            .map_err(describe)?;
        Ok(tokens(&answer, now))
    }

    /// Trades a refresh token for a new access token (and maybe a new refresh token).
    pub async fn refresh(
        &self,
        refresh: &Secret,
        now: DateTime<Utc>,
    ) -> Result<Tokens, OAuthError> {
        let token = RefreshToken::new(refresh.expose().to_owned());
        let answer = self
            .client
            .exchange_refresh_token(&token)
            .request_async(&self.http)
            .await
            .map_err(describe)?;
        Ok(tokens(&answer, now))
    }

    /// Revokes a refresh token, which ends the whole grant at Klaviyo (RFC 7009).
    ///
    /// Sent here rather than through `oauth2`, whose revocation refuses any
    /// URL but https, which would leave the loopback simulator untestable.
    pub async fn revoke(&self, refresh: &Secret) -> Result<(), OAuthError> {
        let secret = self
            .secret
            .as_ref()
            .ok_or_else(|| OAuthError::Config("no client secret".into()))?;
        let answer = self
            .http
            .post(self.revoke_url.clone())
            .basic_auth(self.client.client_id().as_str(), Some(secret.expose()))
            .form(&[
                ("token", refresh.expose()),
                ("token_type_hint", "refresh_token"),
            ])
            .send()
            .await
            .map_err(|e| OAuthError::Transport(transport(&e)))?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        // RFC 6749 error bodies are small JSON; anything else is described by status.
        let body: serde_json::Value = answer.json().await.unwrap_or_default();
        let code = body["error"].as_str().unwrap_or("error").to_owned();
        let description = body["error_description"]
            .as_str()
            .unwrap_or(status.canonical_reason().unwrap_or("refused"))
            .to_owned();
        Err(match code.as_str() {
            "invalid_client" => OAuthError::InvalidClient,
            _ => OAuthError::Refused { code, description },
        })
    }
}

fn tokens(answer: &oauth2::basic::BasicTokenResponse, now: DateTime<Utc>) -> Tokens {
    // Klaviyo's access tokens last about an hour; without `expires_in`, assume less.
    let ttl = answer
        .expires_in()
        .and_then(|d| Duration::from_std(d).ok())
        .unwrap_or(Duration::minutes(30));
    Tokens {
        access: Secret::new(answer.access_token().secret().clone()),
        refresh: answer
            .refresh_token()
            .map(|r| Secret::new(r.secret().clone())),
        expires_at: now + ttl,
        scopes: answer
            .scopes()
            .map(|s| s.iter().map(|s| s.as_str().to_owned()).collect()),
    }
}

/// Words an `oauth2` error from the server's code and description, never its body.
fn describe<RE, T>(e: oauth2::RequestTokenError<RE, T>) -> OAuthError
where
    RE: std::error::Error + 'static,
    T: oauth2::ErrorResponse + OAuthErrorParts + 'static,
{
    match e {
        oauth2::RequestTokenError::ServerResponse(r) => r.to_oauth_error(),
        oauth2::RequestTokenError::Request(e) => OAuthError::Transport(transport(&e)),
        oauth2::RequestTokenError::Parse(_, _) => {
            OAuthError::Transport("the answer was not an OAuth token response".into())
        }
        oauth2::RequestTokenError::Other(_) => {
            OAuthError::Transport("the answer was not an OAuth token response".into())
        }
    }
}

/// The kind of a transport failure, without URLs (a callback URL holds the code).
fn transport(e: &dyn std::error::Error) -> String {
    let mut source = e.source();
    let mut last = e.to_string();
    while let Some(s) = source {
        last = s.to_string();
        source = s.source();
    }
    // reqwest's messages name the URL; keep only its reason.
    last.split(" for url")
        .next()
        .unwrap_or("request failed")
        .to_owned()
}

/// Turns a server error answer into an `OAuthError`.
trait OAuthErrorParts {
    fn to_oauth_error(&self) -> OAuthError;
}

impl OAuthErrorParts for oauth2::basic::BasicErrorResponse {
    fn to_oauth_error(&self) -> OAuthError {
        let description = self
            .error_description()
            .cloned()
            .unwrap_or_else(|| "no description".into());
        match self.error() {
            BasicErrorResponseType::InvalidGrant => OAuthError::InvalidGrant(description),
            BasicErrorResponseType::InvalidClient => OAuthError::InvalidClient,
            other => OAuthError::Refused {
                code: other.as_ref().to_owned(),
                description,
            },
        }
    }
}

/// Whether a granted scope is more than read access (Lookout refuses such
/// grants): anything but `<resource>:read`, so an unknown scope is refused too.
pub fn is_beyond_read(scope: &str) -> bool {
    !scope.ends_with(":read")
}
