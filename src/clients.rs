//! The clients registry: every client the running app watches, with its
//! profile, route (a channel per platform) and Klaviyo credential.
//!
//! Routes start from the config file; a route set from chat with `/route` is
//! stored and outlives the file's. A channel belongs to at most one client.

use std::collections::BTreeMap;
use std::sync::RwLock;

use chrono::{DateTime, Utc};
use tracing::info;

use crate::audit::{self, Entry, Surface};
use crate::config::{ClientProfile, Config, ConfigError};
use crate::domain::ClientSlug;
use crate::klaviyo::Credential;
use crate::message::{ChannelRef, PersonRef};
use crate::routing::{Route, RouteChannel};
use crate::store::{Store, StoreError, clients as sql};

/// A client as the running app knows it.
#[derive(Debug, Clone)]
pub struct ClientEntry {
    /// Profile.
    pub profile: ClientProfile,
    /// Where its findings go.
    pub route: Route,
    /// The key from the config file, if it gives one; a grant made from chat
    /// (`/connect`) takes its place.
    pub credential: Option<Credential>,
}

impl ClientEntry {
    /// Whether what is typed (autocomplete) names this client: a prefix of its
    /// slug or a part of its name, ignoring case.
    pub fn matches(&self, typed: &str) -> bool {
        let t = typed.trim().to_lowercase();
        self.profile.slug.as_str().starts_with(&t) || self.profile.name.to_lowercase().contains(&t)
    }
}

/// Why the registry could not load or change.
#[derive(Debug, thiserror::Error)]
pub enum ClientsError {
    /// Configuration problem.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Storage problem (including a channel already bound to another client).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// No client by that name.
    #[error("there is no client `{0}`; /portfolio lists the clients with open findings")]
    Unknown(String),
    /// The channel is the agency's.
    #[error("{0} is the agency channel; give the client a channel of its own")]
    AgencyChannel(ChannelRef),
}

/// Every client, by slug.
#[derive(Debug, Default)]
pub struct Clients {
    by_slug: RwLock<BTreeMap<ClientSlug, ClientEntry>>,
    /// The agency's channels, which no client may take.
    agency: Vec<ChannelRef>,
}

impl Clients {
    /// Registers every configured client in the store and loads the stored routes.
    pub async fn load(
        config: &Config,
        store: &Store,
        now: DateTime<Utc>,
    ) -> Result<Self, ClientsError> {
        let mut tx = store.begin().await?;
        for c in &config.clients {
            let slug = &c.profile.slug;
            sql::upsert_client(&mut tx, slug, &c.profile.name, now).await?;
            for channel in c.channels_or_default() {
                let owner = c.owner_on(channel.platform);
                sql::config_route(&mut tx, slug, &channel, owner, now).await?;
            }
        }
        let routes = sql::routes(&mut tx).await?;
        tx.commit().await?;
        let mut by_slug = BTreeMap::new();
        for c in &config.clients {
            let slug = c.profile.slug.clone();
            let channels = routes
                .iter()
                .filter(|r| r.client == slug)
                .map(|r| RouteChannel {
                    channel: r.channel.clone(),
                    owner: r.owner.clone(),
                })
                .collect();
            let route = Route {
                client: slug.clone(),
                client_name: c.profile.name.clone(),
                channels,
                pod: c.pod.clone(),
            };
            // A client without a key in the file is connected from chat.
            let credential = match (&c.api_key, &c.api_key_env) {
                (None, None) => None,
                _ => Some(Credential::ApiKey(c.key()?)),
            };
            by_slug.insert(
                slug,
                ClientEntry {
                    profile: c.profile.clone(),
                    route,
                    credential,
                },
            );
        }
        Ok(Self {
            by_slug: RwLock::new(by_slug),
            agency: config.agency.channels.clone(),
        })
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<ClientSlug, ClientEntry>> {
        // Entries are replaced whole under the write lock, so a poisoned lock still holds consistent data.
        self.by_slug.read().unwrap_or_else(|e| e.into_inner())
    }

    /// The clients, in slug order.
    pub fn all(&self) -> Vec<ClientEntry> {
        self.read().values().cloned().collect()
    }

    /// How many clients there are.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    /// One client.
    pub fn get(&self, slug: &ClientSlug) -> Result<ClientEntry, ClientsError> {
        self.read()
            .get(slug)
            .cloned()
            .ok_or_else(|| ClientsError::Unknown(slug.to_string()))
    }

    /// The client whose channel this is, if it is a client channel.
    pub fn of_channel(&self, channel: &ChannelRef) -> Option<ClientEntry> {
        self.read()
            .values()
            .find(|c| c.route.has_channel(channel))
            .cloned()
    }

    /// Client slugs starting with `prefix` (autocomplete), at most `limit`.
    pub fn matching(&self, prefix: &str, limit: usize) -> Vec<ClientEntry> {
        self.read()
            .values()
            .filter(|c| c.matches(prefix))
            .take(limit)
            .cloned()
            .collect()
    }

    /// Sets a client's channel on that channel's platform (and optionally its
    /// owner there) from chat; stored, recorded with who did it (and in the
    /// audit trail as `route`, from `surface`, in the same transaction), and
    /// refused when the channel belongs to another client or to the agency.
    #[allow(clippy::too_many_arguments)] // each is a different fact about one change
    pub async fn set_route(
        &self,
        store: &Store,
        slug: &ClientSlug,
        channel: ChannelRef,
        owner: Option<PersonRef>,
        by: &PersonRef,
        surface: Surface,
        now: DateTime<Utc>,
    ) -> Result<Route, ClientsError> {
        if self.agency.contains(&channel) {
            return Err(ClientsError::AgencyChannel(channel));
        }
        let mut entry = self.get(slug)?;
        let owner = owner.or_else(|| entry.route.owner_in(&channel).cloned());
        let mut detail = format!("{} → {channel}", channel.platform);
        if let Some(o) = &owner {
            detail.push_str(&format!(", owner {o}"));
        }
        let record = Entry::person(by, surface, "route")
            .client(slug)
            .detail(detail);
        let mut tx = store.begin().await?;
        sql::set_route(&mut tx, slug, &channel, owner.as_ref(), by, now).await?;
        audit::record(&mut tx, &record, now).await?;
        tx.commit().await?;
        entry
            .route
            .channels
            .retain(|c| c.channel.platform != channel.platform);
        entry.route.channels.push(RouteChannel {
            channel: channel.clone(),
            owner,
        });
        entry.route.channels.sort_by_key(|c| c.channel.platform);
        let route = entry.route.clone();
        self.by_slug
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(slug.clone(), entry);
        info!(client = %slug, %channel, by = %by, "route changed from chat");
        Ok(route)
    }
}
