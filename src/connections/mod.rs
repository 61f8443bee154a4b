//! Connections: how Lookout reaches each client's Klaviyo account, by whose
//! grant and until when.
//!
//! A connection is an OAuth grant (authorization code with PKCE, read scopes
//! only) or a private API key given through a private form. Either has an end,
//! like Klaviyo's representative access. Tokens and keys are sealed by the
//! [`Vault`] before they reach the database and opened only to make a call.
//! Access tokens are refreshed ahead of expiry, one refresh at a time per
//! account; a dead grant (`invalid_grant`) moves the connection to `reauth`,
//! which pauses that client's scans until it is connected again.
//!
//! This module keeps the state; `lifecycle` (as `impl App`) posts what
//! people see and records who did what.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use sha2::{Digest, Sha256};
use tracing::{info, warn};

use crate::clock::SharedClock;
use crate::config::{Config, ConfigError, ConnectionsSettings, Secret};
use crate::domain::ClientSlug;
use crate::klaviyo::Credential;
use crate::message::{ChannelRef, PersonRef};
use crate::store::connections::{self as sql, ConnectionRow, StateRow};
use crate::store::{Store, StoreError, secrets};
use crate::vault::{Vault, VaultError, purpose_of};

pub mod callback;
pub mod grant;
pub mod lifecycle;
pub mod oauth;

pub use grant::{ConnectOptions, Method, parse_options};
use oauth::{OAuthApp, OAuthError, REFRESH_AHEAD, Tokens};

/// How long a `/connect` link works.
pub const LINK_TTL: Duration = Duration::minutes(10);

/// Sealed-secret purposes.
const ACCESS: &str = "access-token";
const REFRESH: &str = "refresh-token";
const API_KEY: &str = "api-key";

/// Where a connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Scanning uses it.
    Active,
    /// Klaviyo refused the grant; scanning is paused until it is connected again.
    Reauth,
    /// It reached its end; scanning stopped.
    Ended,
}

impl Status {
    fn parse(s: &str) -> Self {
        match s {
            "active" => Status::Active,
            "reauth" => Status::Reauth,
            _ => Status::Ended,
        }
    }

    /// As stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Active => "active",
            Status::Reauth => "reauth",
            Status::Ended => "ended",
        }
    }
}

/// A client's grant as people see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The client.
    pub client: ClientSlug,
    /// OAuth or key.
    pub method: Method,
    /// Who granted it.
    pub granted_by: Option<PersonRef>,
    /// When.
    pub granted_at: DateTime<Utc>,
    /// When access ends.
    pub ends_at: DateTime<Utc>,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// When a scan last used it.
    pub last_used_at: Option<DateTime<Utc>>,
    /// Where it stands.
    pub status: Status,
    /// Why it is not active.
    pub status_detail: Option<String>,
}

impl Grant {
    fn from_row(r: ConnectionRow) -> Result<Self, ConnectionError> {
        Ok(Self {
            client: r
                .client
                .parse()
                .map_err(|_| StoreError::Corrupt(format!("connection for `{}`", r.client)))?,
            method: Method::parse(&r.method)
                .ok_or_else(|| StoreError::Corrupt(format!("connection method `{}`", r.method)))?,
            granted_by: PersonRef::parse(&r.granted_by).ok(),
            granted_at: r.granted_at,
            ends_at: r.ends_at,
            scopes: r.scopes.split_whitespace().map(str::to_owned).collect(),
            last_used_at: r.last_used_at,
            status: Status::parse(&r.status),
            status_detail: r.status_detail,
        })
    }
}

/// Why a client cannot be reached, or a connect did not complete. Never holds a token.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    /// No grant and no key.
    #[error("{0} is not connected to Klaviyo; an admin or lead connects it with /connect {0}")]
    NotConnected(ClientSlug),
    /// Klaviyo refused the grant: scanning waits for a reconnect.
    #[error("scanning {client} is paused: {why}; reconnect it with /connect {client}")]
    Paused {
        /// Whose.
        client: ClientSlug,
        /// Why.
        why: String,
    },
    /// Klaviyo just refused the grant (`invalid_grant`); the connection is now paused.
    #[error(
        "Klaviyo no longer honours {client}'s grant ({why}); reconnect it with /connect {client}"
    )]
    GrantDead {
        /// Whose.
        client: ClientSlug,
        /// Klaviyo's reason.
        why: String,
    },
    /// The grant reached its end.
    #[error("{client}'s access ended on {at}; connect it again with /connect {client}")]
    Ended {
        /// Whose.
        client: ClientSlug,
        /// When.
        at: String,
    },
    /// OAuth is not set up.
    #[error(
        "OAuth is not set up (connections.oauth_client_id in the config); connect with a private key instead: /connect {0} key"
    )]
    OAuthOff(ClientSlug),
    /// A connect was refused (write scopes, a used or expired link...).
    #[error("{0}")]
    Refused(String),
    /// Klaviyo's token endpoint failed.
    #[error(transparent)]
    OAuth(#[from] OAuthError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A sealed secret did not open.
    #[error(transparent)]
    Vault(#[from] VaultError),
}

/// A connect that completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// The client.
    pub client: ClientSlug,
    /// Who granted it.
    pub by: PersonRef,
    /// Where they asked.
    pub channel: Option<ChannelRef>,
    /// OAuth or key.
    pub method: Method,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// When access ends.
    pub ends_at: DateTime<Utc>,
    /// Whether a grant was replaced.
    pub replaced: bool,
}

/// What `disconnect` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnected {
    /// Whether Klaviyo confirmed the revocation (a key has nothing to revoke there).
    pub revoked: Result<bool, String>,
    /// Sealed secrets deleted.
    pub deleted: u64,
}

/// The connections service; cheap to clone.
#[derive(Clone)]
pub struct Connections {
    store: Store,
    vault: Vault,
    clock: SharedClock,
    settings: ConnectionsSettings,
    oauth: Option<OAuthApp>,
    /// One refresh at a time per account.
    refreshing: Arc<Mutex<HashMap<ClientSlug, Arc<tokio::sync::Mutex<()>>>>>,
}

impl std::fmt::Debug for Connections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connections")
            .field("oauth", &self.oauth)
            .finish_non_exhaustive()
    }
}

impl Connections {
    /// The service over the store, sealing with `vault`; OAuth is on when the
    /// config names an OAuth app.
    pub fn new(
        config: &Config,
        store: Store,
        vault: Vault,
        clock: SharedClock,
    ) -> Result<Self, ConfigError> {
        let settings = config.connections.clone();
        let oauth = match &settings.oauth_client_id {
            Some(id) => {
                let secret = match &settings.oauth_client_secret {
                    Some(s) => s.clone(),
                    None => settings.client_secret()?,
                };
                let endpoints = oauth::Endpoints {
                    authorize: settings.authorize_url.clone(),
                    api_base: config.klaviyo.base_url.clone(),
                    redirect: settings.redirect_url(),
                };
                Some(
                    OAuthApp::new(id, &secret, &endpoints)
                        .map_err(|e| ConfigError::Invalid(e.to_string()))?,
                )
            }
            None => None,
        };
        Ok(Self {
            store,
            vault,
            clock,
            settings,
            oauth,
            refreshing: Arc::default(),
        })
    }

    /// Whether OAuth connects are set up.
    pub fn oauth_enabled(&self) -> bool {
        self.oauth.is_some()
    }

    /// The settings.
    pub fn settings(&self) -> &ConnectionsSettings {
        &self.settings
    }

    /// Starts an OAuth connect for a person: an authorize link whose `state`
    /// is bound to them, the client, the chosen end and a 10-minute expiry.
    pub async fn begin(
        &self,
        client: &ClientSlug,
        person: &PersonRef,
        channel: &ChannelRef,
        ends_at: DateTime<Utc>,
    ) -> Result<String, ConnectionError> {
        let app = self
            .oauth
            .as_ref()
            .ok_or_else(|| ConnectionError::OAuthOff(client.clone()))?;
        let (url, state, verifier) = app.authorize();
        let hash = state_hash(&state);
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        sql::put_state(
            &mut tx,
            &StateRow {
                state_hash: hash.clone(),
                client: client.to_string(),
                person: person.to_string(),
                channel: channel.to_string(),
                grant_ends: ends_at,
                expires_at: now + LINK_TTL,
                used_at: None,
            },
        )
        .await?;
        let purpose = pkce_purpose(&hash);
        let sealed = self
            .vault
            .seal(&verifier, &purpose_of(&purpose, client.as_str()));
        secrets::put(&mut tx, client, &purpose, &sealed, now).await?;
        // Links nobody followed are dropped an hour after they expired.
        for old in sql::purge_states(&mut tx, now - Duration::hours(1)).await? {
            secrets::delete(&mut tx, client, &pkce_purpose(&old)).await?;
        }
        tx.commit().await?;
        info!(client = %client, person = %person, "OAuth connect started");
        Ok(url)
    }

    /// Completes an OAuth connect from Klaviyo's redirect: takes the state
    /// (once), exchanges the code with its PKCE verifier, refuses anything
    /// beyond read scopes, and stores the tokens sealed.
    pub async fn complete(&self, code: &str, state: &str) -> Result<Connected, ConnectionError> {
        let app = self.oauth.as_ref().ok_or_else(|| {
            ConnectionError::Refused("OAuth is not set up on this Lookout".into())
        })?;
        let (row, client, person) = self.take(state).await?;
        let now = self.clock.now();
        let purpose = pkce_purpose(&row.state_hash);
        let verifier = {
            let mut tx = self.store.begin().await?;
            let sealed = secrets::get(&mut tx, &client, &purpose).await?;
            secrets::delete(&mut tx, &client, &purpose).await?;
            tx.commit().await?;
            let sealed = sealed.ok_or_else(|| {
                ConnectionError::Refused(
                    "this connect link's verifier is gone; run /connect again".into(),
                )
            })?;
            self.vault
                .open(&sealed, &purpose_of(&purpose, client.as_str()))?
        };
        let tokens = app.exchange(code, &verifier, now).await?;
        let scopes = tokens.scopes.clone().unwrap_or_else(|| {
            crate::config::READ_SCOPES
                .iter()
                .map(|s| (*s).to_owned())
                .collect()
        });
        let beyond: Vec<&String> = scopes.iter().filter(|s| oauth::is_beyond_read(s)).collect();
        if !beyond.is_empty() {
            let listed = beyond
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ");
            let revoked = match &tokens.refresh {
                Some(r) => app.revoke(r).await.is_ok(),
                None => false,
            };
            warn!(client = %client, scopes = %listed, revoked, "refused an OAuth grant beyond read access");
            return Err(ConnectionError::Refused(format!(
                "Klaviyo granted more than read access ({listed}). Lookout only takes read-only access, so nothing was stored{}. Approve again with the read scopes only.",
                if revoked {
                    " and the grant was revoked"
                } else {
                    ""
                }
            )));
        }
        let replaced = self
            .store_grant(
                &client,
                &person,
                Method::OAuth,
                &scopes,
                row.grant_ends,
                Some(&tokens),
                None,
            )
            .await?;
        info!(client = %client, person = %person, "connected by OAuth");
        Ok(Connected {
            client,
            by: person,
            channel: row.channel.parse().ok(),
            method: Method::OAuth,
            scopes,
            ends_at: row.grant_ends,
            replaced,
        })
    }

    /// Takes a state for its one use, saying plainly why one cannot be.
    async fn take(
        &self,
        state: &str,
    ) -> Result<(StateRow, ClientSlug, PersonRef), ConnectionError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let row = sql::take_state(&mut tx, &state_hash(&Secret::new(state)), now).await?;
        tx.commit().await?;
        let row = row.ok_or_else(|| {
            ConnectionError::Refused(
                "this connect link was already used or is not one of Lookout's; run /connect again in chat for a new one".into(),
            )
        })?;
        if row.expires_at <= now {
            return Err(ConnectionError::Refused(
                "this connect link expired (links last 10 minutes); run /connect again in chat for a new one".into(),
            ));
        }
        let client: ClientSlug = row
            .client
            .parse()
            .map_err(|_| StoreError::Corrupt(format!("state for `{}`", row.client)))?;
        let person = PersonRef::parse(&row.person)
            .map_err(|_| StoreError::Corrupt(format!("state by `{}`", row.person)))?;
        Ok((row, client, person))
    }

    /// Abandons a connect whose approval was denied at Klaviyo; returns its client and person.
    pub async fn abandon(&self, state: &str) -> Result<(ClientSlug, PersonRef), ConnectionError> {
        let (row, client, person) = self.take(state).await?;
        let mut tx = self.store.begin().await?;
        secrets::delete(&mut tx, &client, &pkce_purpose(&row.state_hash)).await?;
        tx.commit().await?;
        Ok((client, person))
    }

    /// Connects a client with a private API key (from the private form).
    pub async fn connect_key(
        &self,
        client: &ClientSlug,
        person: &PersonRef,
        key: &Secret,
        ends_at: DateTime<Utc>,
    ) -> Result<Connected, ConnectionError> {
        let scopes: Vec<String> = crate::config::READ_SCOPES
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        let replaced = self
            .store_grant(
                client,
                person,
                Method::Key,
                &scopes,
                ends_at,
                None,
                Some(key),
            )
            .await?;
        info!(client = %client, person = %person, "connected by private key");
        Ok(Connected {
            client: client.clone(),
            by: person.clone(),
            channel: None,
            method: Method::Key,
            scopes,
            ends_at,
            replaced,
        })
    }

    /// Replaces a client's grant and secrets in one transaction; returns
    /// whether there was one before.
    #[allow(clippy::too_many_arguments)]
    async fn store_grant(
        &self,
        client: &ClientSlug,
        person: &PersonRef,
        method: Method,
        scopes: &[String],
        ends_at: DateTime<Utc>,
        tokens: Option<&Tokens>,
        key: Option<&Secret>,
    ) -> Result<bool, ConnectionError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let replaced = sql::get(&mut tx, client).await?.is_some();
        for p in [ACCESS, REFRESH, API_KEY] {
            secrets::delete(&mut tx, client, p).await?;
        }
        let seal =
            |purpose: &str, s: &Secret| self.vault.seal(s, &purpose_of(purpose, client.as_str()));
        if let Some(t) = tokens {
            secrets::put(&mut tx, client, ACCESS, &seal(ACCESS, &t.access), now).await?;
            if let Some(r) = &t.refresh {
                secrets::put(&mut tx, client, REFRESH, &seal(REFRESH, r), now).await?;
            }
        }
        if let Some(k) = key {
            secrets::put(&mut tx, client, API_KEY, &seal(API_KEY, k), now).await?;
        }
        sql::put(
            &mut tx,
            &ConnectionRow {
                client: client.to_string(),
                method: method.as_str().to_owned(),
                granted_by: person.to_string(),
                granted_at: now,
                ends_at,
                scopes: scopes.join(" "),
                access_expires_at: tokens.map(|t| t.expires_at),
                refreshed_at: tokens.map(|_| now),
                last_used_at: None,
                status: Status::Active.as_str().to_owned(),
                status_detail: None,
                reminded: String::new(),
            },
        )
        .await?;
        tx.commit().await?;
        Ok(replaced)
    }

    /// A client's grant, if it has one.
    pub async fn grant(&self, client: &ClientSlug) -> Result<Option<Grant>, ConnectionError> {
        let row = sql::get(&mut self.store.conn().await?, client).await?;
        row.map(Grant::from_row).transpose()
    }

    /// Every grant, by client.
    pub async fn grants(&self) -> Result<Vec<Grant>, ConnectionError> {
        let rows = sql::all(&mut self.store.conn().await?).await?;
        rows.into_iter().map(Grant::from_row).collect()
    }

    /// The credential to scan a client with: its grant's (refreshed if the
    /// access token is about to expire), else the key from the config file.
    pub async fn credential(
        &self,
        client: &ClientSlug,
        configured: Option<&Credential>,
    ) -> Result<Credential, ConnectionError> {
        Ok(self.credential_and_grant(client, configured).await?.0)
    }

    /// The credential, with the stored grant it comes from (`None` for a key
    /// from the config file, which Lookout holds no record of), read at once.
    pub async fn credential_and_grant(
        &self,
        client: &ClientSlug,
        configured: Option<&Credential>,
    ) -> Result<(Credential, Option<Grant>), ConnectionError> {
        let now = self.clock.now();
        let Some(row) = sql::get(&mut self.store.conn().await?, client).await? else {
            let key = configured
                .cloned()
                .ok_or_else(|| ConnectionError::NotConnected(client.clone()))?;
            return Ok((key, None));
        };
        let grant = Grant::from_row(row.clone())?;
        match Status::parse(&row.status) {
            Status::Active => {}
            Status::Reauth => {
                return Err(ConnectionError::Paused {
                    client: client.clone(),
                    why: row
                        .status_detail
                        .unwrap_or_else(|| "Klaviyo refused its grant".into()),
                });
            }
            Status::Ended => {
                return Err(ConnectionError::Ended {
                    client: client.clone(),
                    at: row.ends_at.format("%Y-%m-%d").to_string(),
                });
            }
        }
        if row.ends_at <= now {
            return Err(ConnectionError::Ended {
                client: client.clone(),
                at: row.ends_at.format("%Y-%m-%d").to_string(),
            });
        }
        let credential = match Method::parse(&row.method) {
            Some(Method::Key) => Credential::ApiKey(self.open(client, API_KEY).await?),
            _ => {
                let fresh = row
                    .access_expires_at
                    .is_some_and(|at| at - now > REFRESH_AHEAD);
                if fresh {
                    Credential::Bearer(self.open(client, ACCESS).await?)
                } else {
                    Credential::Bearer(self.refresh(client, None, false).await?)
                }
            }
        };
        Ok((credential, Some(grant)))
    }

    /// After Klaviyo answered 401 to `stale`: refreshes unless another task
    /// already did, and returns the credential to retry with.
    pub async fn after_unauthorized(
        &self,
        client: &ClientSlug,
        stale: &Credential,
    ) -> Result<Option<Credential>, ConnectionError> {
        let Some(row) = sql::get(&mut self.store.conn().await?, client).await? else {
            return Ok(None);
        };
        if Method::parse(&row.method) != Some(Method::OAuth) || row.status != "active" {
            return Ok(None);
        }
        let Credential::Bearer(stale) = stale else {
            return Ok(None);
        };
        self.refresh(client, Some(stale), false)
            .await
            .map(|t| Some(Credential::Bearer(t)))
    }

    /// Refreshes a client's access token, one refresh at a time per client.
    /// With `stale`, refreshes only if the stored token is still that one;
    /// without, only if it is about to expire, unless `always`.
    async fn refresh(
        &self,
        client: &ClientSlug,
        stale: Option<&Secret>,
        always: bool,
    ) -> Result<Secret, ConnectionError> {
        let app = self
            .oauth
            .as_ref()
            .ok_or_else(|| ConnectionError::OAuthOff(client.clone()))?;
        let lock = {
            // Holds only the map of per-client locks; a panic elsewhere leaves it usable.
            let mut map = self.refreshing.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(client.clone()).or_default().clone()
        };
        let _one_at_a_time = lock.lock().await;
        let now = self.clock.now();
        let row = sql::get(&mut self.store.conn().await?, client)
            .await?
            .ok_or_else(|| ConnectionError::NotConnected(client.clone()))?;
        if row.status != "active" {
            return Err(ConnectionError::Paused {
                client: client.clone(),
                why: row.status_detail.unwrap_or_else(|| row.status.clone()),
            });
        }
        // Someone refreshed while this task waited for the lock: use theirs.
        let current = self.open(client, ACCESS).await.ok();
        let still_fresh = row
            .access_expires_at
            .is_some_and(|at| at - now > REFRESH_AHEAD);
        match (stale, &current) {
            (None, Some(c)) if still_fresh && !always => return Ok(c.clone()),
            // Unless theirs has expired since (a long wait on Klaviyo's limits).
            (Some(s), Some(c)) if s != c && still_fresh => return Ok(c.clone()),
            _ => {}
        }
        let refresh = self.open(client, REFRESH).await.map_err(|_| {
            ConnectionError::Refused(format!(
                "{client}'s grant has no refresh token; reconnect it with /connect {client}"
            ))
        })?;
        match app.refresh(&refresh, now).await {
            Ok(t) => {
                let mut tx = self.store.begin().await?;
                let seal = |purpose: &str, s: &Secret| {
                    self.vault.seal(s, &purpose_of(purpose, client.as_str()))
                };
                secrets::put(&mut tx, client, ACCESS, &seal(ACCESS, &t.access), now).await?;
                if let Some(r) = &t.refresh {
                    secrets::put(&mut tx, client, REFRESH, &seal(REFRESH, r), now).await?;
                }
                sql::refreshed(&mut tx, client, t.expires_at, now).await?;
                tx.commit().await?;
                info!(client = %client, "refreshed the Klaviyo access token");
                Ok(t.access)
            }
            Err(OAuthError::InvalidGrant(why)) => {
                let mut tx = self.store.begin().await?;
                sql::set_status(&mut tx, client, Status::Reauth.as_str(), &why).await?;
                for p in [ACCESS, REFRESH] {
                    secrets::delete(&mut tx, client, p).await?;
                }
                tx.commit().await?;
                warn!(client = %client, reason = %why, "Klaviyo refused the grant; scanning paused until reconnected");
                Err(ConnectionError::GrantDead {
                    client: client.clone(),
                    why,
                })
            }
            Err(e) => Err(e.into()),
        }
    }

    async fn open(&self, client: &ClientSlug, purpose: &str) -> Result<Secret, ConnectionError> {
        let sealed = secrets::get(&mut self.store.conn().await?, client, purpose)
            .await?
            .ok_or_else(|| ConnectionError::NotConnected(client.clone()))?;
        Ok(self
            .vault
            .open(&sealed, &purpose_of(purpose, client.as_str()))?)
    }

    /// Records that a scan used the client's grant.
    pub async fn mark_used(&self, client: &ClientSlug) -> Result<(), ConnectionError> {
        sql::used(&mut self.store.conn().await?, client, self.clock.now()).await?;
        Ok(())
    }

    /// Whether the scheduler should scan the client: it has an active grant
    /// that has not ended, or no grant but a key in the config file. A grant
    /// that needs reconnecting or has ended pauses it.
    pub async fn scannable(
        &self,
        client: &ClientSlug,
        configured_key: bool,
    ) -> Result<bool, ConnectionError> {
        let row = sql::get(&mut self.store.conn().await?, client).await?;
        let now = self.clock.now();
        Ok(match row {
            None => configured_key,
            Some(r) => r.status == "active" && r.ends_at > now,
        })
    }

    /// `scannable` for every client with a grant row at once: client slug ->
    /// whether it may be scanned. A client without a row is scannable when it
    /// has a key in the config file.
    pub async fn scannable_all(
        &self,
    ) -> Result<std::collections::HashMap<String, bool>, ConnectionError> {
        let rows = sql::all(&mut self.store.conn().await?).await?;
        let now = self.clock.now();
        Ok(rows
            .into_iter()
            .map(|r| {
                let ok = r.status == "active" && r.ends_at > now;
                (r.client, ok)
            })
            .collect())
    }

    /// Disconnects a client: revokes its refresh token at Klaviyo, then
    /// deletes its tokens and grant whatever Klaviyo answered.
    pub async fn disconnect(&self, client: &ClientSlug) -> Result<Disconnected, ConnectionError> {
        let revoked = self.revoke_at_klaviyo(client).await;
        let mut tx = self.store.begin().await?;
        let deleted = secrets::delete_client(&mut tx, client).await?;
        sql::delete(&mut tx, client).await?;
        tx.commit().await?;
        info!(client = %client, deleted, "disconnected");
        Ok(Disconnected { revoked, deleted })
    }

    /// Ends a grant that reached its end: revokes it, deletes its secrets and
    /// keeps the row as `ended`; returns true only for the first caller.
    pub async fn end(&self, client: &ClientSlug) -> Result<bool, ConnectionError> {
        let revoked = self.revoke_at_klaviyo(client).await;
        let mut tx = self.store.begin().await?;
        let first = sql::set_status(
            &mut tx,
            client,
            Status::Ended.as_str(),
            "access reached its end",
        )
        .await?;
        if first {
            secrets::delete_client(&mut tx, client).await?;
        }
        tx.commit().await?;
        if first {
            info!(client = %client, ?revoked, "grant ended");
        }
        Ok(first)
    }

    async fn revoke_at_klaviyo(&self, client: &ClientSlug) -> Result<bool, String> {
        let Some(app) = &self.oauth else {
            return Ok(false);
        };
        let Ok(refresh) = self.open(client, REFRESH).await else {
            return Ok(false);
        };
        match app.revoke(&refresh).await {
            Ok(()) => Ok(true),
            Err(e) => {
                warn!(client = %client, error = %e, "could not revoke the grant at Klaviyo; deleting it here anyway");
                Err(e.to_string())
            }
        }
    }

    /// OAuth connections not refreshed for `idle_refresh_days`: refreshed now
    /// so their refresh tokens do not lapse. Returns how many were refreshed
    /// and the clients whose grant Klaviyo refused meanwhile.
    pub async fn refresh_idle(&self) -> Result<(usize, Vec<ClientSlug>), ConnectionError> {
        let now = self.clock.now();
        let idle = Duration::days(i64::from(self.settings.idle_refresh_days));
        let mut done = 0;
        let mut dead = Vec::new();
        // Read first: the in-memory store has one connection, which a refresh needs.
        let rows = sql::all(&mut self.store.conn().await?).await?;
        for row in rows {
            let due = row.method == "oauth"
                && row.status == "active"
                && row.ends_at > now
                && row.refreshed_at.is_none_or(|at| now - at >= idle);
            if !due {
                continue;
            }
            let Ok(client) = row.client.parse::<ClientSlug>() else {
                continue;
            };
            match self.refresh(&client, None, true).await {
                Ok(_) => done += 1,
                Err(ConnectionError::GrantDead { .. }) => dead.push(client),
                Err(e) => warn!(client = %client, error = %e, "idle refresh failed"),
            }
        }
        Ok((done, dead))
    }
}

/// The stored form of a `state`: its SHA-256, so the database never holds one
/// that could be replayed.
fn state_hash(state: &Secret) -> String {
    hex::encode(Sha256::digest(state.expose().as_bytes()))
}

fn pkce_purpose(hash: &str) -> String {
    format!("pkce-{}", &hash[..hash.len().min(16)])
}
