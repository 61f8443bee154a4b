//! `[connections]`: how clients' Klaviyo accounts are connected (the OAuth
//! app, where Klaviyo sends people back) and the access-review policy.

use serde::Deserialize;

use super::{ConfigError, Secret};

/// The read scopes Lookout asks Klaviyo for; never a `:write` scope.
pub const READ_SCOPES: &[&str] = &[
    "accounts:read",
    "campaigns:read",
    "catalogs:read",
    "events:read",
    "flows:read",
    "forms:read",
    "lists:read",
    "metrics:read",
    "profiles:read",
    "segments:read",
    "templates:read",
];

/// Connection settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionsSettings {
    /// The Klaviyo OAuth app's client id; without it only private API keys connect.
    pub oauth_client_id: Option<String>,
    /// Environment variable holding the OAuth app's client secret.
    pub oauth_client_secret_env: String,
    /// The client secret inline (the demo's simulator app; prefer the environment).
    pub oauth_client_secret: Option<Secret>,
    /// Klaviyo's authorize page (people approve there, in a browser).
    pub authorize_url: String,
    /// Where Lookout's HTTP server is reached from a browser, e.g.
    /// `https://lookout.example.com`; Klaviyo redirects to `<public_url>/oauth/callback`.
    pub public_url: String,
    /// Days a grant lasts when `/connect` is given no end (1, 7, 30 or 90 are offered).
    pub default_days: u32,
    /// `/access-review` flags grants older than this many days.
    pub max_grant_age_days: u32,
    /// `/access-review` flags private API keys older than this many days.
    pub key_rotation_days: u32,
    /// Idle OAuth connections are refreshed after this many days, well inside
    /// Klaviyo's 90-day refresh-token expiry.
    pub idle_refresh_days: u32,
    /// `/access-review` flags people with no activity in this many days.
    pub inactive_days: u32,
}

impl Default for ConnectionsSettings {
    fn default() -> Self {
        Self {
            oauth_client_id: None,
            oauth_client_secret_env: "KLAVIYO_OAUTH_CLIENT_SECRET".into(),
            oauth_client_secret: None,
            authorize_url: "https://www.klaviyo.com/oauth/authorize".into(),
            public_url: "http://127.0.0.1:3000".into(),
            default_days: 90,
            max_grant_age_days: 180,
            key_rotation_days: 90,
            idle_refresh_days: 30,
            inactive_days: 60,
        }
    }
}

impl ConnectionsSettings {
    /// The OAuth app's client secret from the environment.
    pub fn client_secret(&self) -> Result<Secret, ConfigError> {
        std::env::var(&self.oauth_client_secret_env)
            .map(Secret::new)
            .map_err(|_| {
                ConfigError::Invalid(format!(
                    "{} (connections.oauth_client_secret_env) is not set; see README \"Connecting Klaviyo\"",
                    self.oauth_client_secret_env
                ))
            })
    }

    /// Where Klaviyo sends the browser back after approval.
    pub fn redirect_url(&self) -> String {
        format!("{}/oauth/callback", self.public_url.trim_end_matches('/'))
    }

    /// Checks the values the types cannot.
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (name, url) in [
            ("connections.authorize_url", &self.authorize_url),
            ("connections.public_url", &self.public_url),
        ] {
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                return Err(ConfigError::Invalid(format!(
                    "{name} `{url}` must be an http(s) URL"
                )));
            }
        }
        if self.default_days == 0 || self.default_days > 365 {
            return Err(ConfigError::Invalid(
                "connections.default_days must be 1 to 365".into(),
            ));
        }
        if self.idle_refresh_days == 0 || self.idle_refresh_days >= 90 {
            return Err(ConfigError::Invalid(
                "connections.idle_refresh_days must be 1 to 89 (Klaviyo's refresh tokens lapse after 90 idle days)".into(),
            ));
        }
        Ok(())
    }
}
