//! What people see of connections: the notice when a client is connected,
//! reminders before a grant ends, the notice at its end, and the sweep that
//! keeps idle grants alive. Every change is recorded in the audit trail.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use tracing::{Instrument, error, info, info_span, warn};

use super::{Connected, ConnectionError, Method};
use crate::app::App;
use crate::audit::{self, Entry, Surface};
use crate::domain::ClientSlug;
use crate::message::{Accent, Block, ChannelRef, Message, PersonRef, RichText, Span};
use crate::outbox;
use crate::routing::person_span;

/// Reminders before a grant ends: (label, how long before).
const REMINDERS: [(&str, i64); 2] = [("7d", 7), ("1d", 1)];

impl App {
    /// Completes an OAuth connect from Klaviyo's redirect (the callback page):
    /// stores the grant, posts the notice in the client's channels, records
    /// it, and starts the client's first scan under the new grant.
    pub async fn complete_connect(
        self: &Arc<Self>,
        code: &str,
        state: &str,
    ) -> Result<Connected, ConnectionError> {
        let result = self.connections.complete(code, state).await;
        match &result {
            Ok(c) => self.announce_connect(c, Surface::Callback).await,
            Err(e) => {
                self.record(Entry::system(Surface::Callback, "connect").refused(e.to_string()))
                    .await
            }
        }
        result
    }

    /// Klaviyo sent the person back without approval: the link is used up.
    pub async fn abandon_connect(&self, state: &str, reason: &str) -> Result<(), ConnectionError> {
        let (client, person) = self.connections.abandon(state).await?;
        self.record(
            Entry::person(&person, Surface::Callback, "connect")
                .client(&client)
                .refused(format!("not approved at Klaviyo ({reason})")),
        )
        .await;
        Ok(())
    }

    /// Posts "acme connected by @lee, read-only, access ends on …", records
    /// the connect and scans the client under the new grant.
    pub async fn announce_connect(self: &Arc<Self>, c: &Connected, surface: Surface) {
        let now = self.clock.now();
        let ends = self.local_date(c.ends_at);
        self.record(
            Entry::person(&c.by, surface, "connect")
                .client(&c.client)
                .detail(format!(
                    "{}, {} scopes, ends {ends}{}",
                    c.method.as_str(),
                    c.scopes.len(),
                    if c.replaced {
                        ", replaced the earlier grant"
                    } else {
                        ""
                    }
                )),
        )
        .await;
        if let Ok(entry) = self.clients.get(&c.client) {
            let how = match c.method {
                Method::OAuth => "read-only (OAuth)",
                Method::Key => "with a private key (Lookout only reads)",
            };
            let posted = async {
                let mut tx = self.store.begin().await?;
                for channel in entry.route.channel_refs() {
                    let text = RichText(vec![
                        Span::Strong(entry.profile.name.clone()),
                        Span::Plain(" connected by ".into()),
                        person_span(&c.by.to_string(), channel),
                        Span::Plain(format!(", {how}, access ends on {ends}.")),
                    ]);
                    outbox::post_to(&mut tx, channel, rich(Accent::Info, text), now).await?;
                }
                tx.commit().await
            };
            if let Err(e) = posted.await {
                error!(client = %c.client, error = %e, "could not post the connect notice");
            }
            self.deliverer.notify();
        }
        let app = self.clone();
        let slug = c.client.clone();
        tokio::spawn(
            async move {
                if let Err(e) = app.scan(&slug, "connect", None).await {
                    warn!(error = %e, "the scan after connecting did not run");
                }
            }
            .instrument(info_span!("after_connect", client = %c.client)),
        );
    }

    /// Tells a client's channels it was disconnected, and by whom.
    pub async fn notify_disconnect(
        &self,
        client: &ClientSlug,
        by: &PersonRef,
    ) -> Result<(), crate::store::StoreError> {
        let name = self.client_name(client);
        self.notify_client(client, Accent::Info, |channel, _| {
            RichText(vec![
                Span::Strong(name.clone()),
                Span::Plain(" was disconnected by ".into()),
                person_span(&by.to_string(), channel),
                Span::Plain(format!(
                    ": its grant is revoked and its tokens deleted, and scanning has stopped. /connect {client} connects it again."
                )),
            ])
        })
        .await
    }

    /// Posts a notice to every channel of a client.
    async fn notify_client(
        &self,
        client: &ClientSlug,
        accent: Accent,
        build: impl Fn(&ChannelRef, Option<&PersonRef>) -> RichText,
    ) -> Result<(), crate::store::StoreError> {
        let Ok(entry) = self.clients.get(client) else {
            return Ok(());
        };
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        for rc in &entry.route.channels {
            let msg = rich(accent, build(&rc.channel, rc.owner.as_ref()));
            outbox::post_to(&mut tx, &rc.channel, msg, now).await?;
        }
        tx.commit().await?;
        self.deliverer.notify();
        Ok(())
    }

    /// Reminders before grants end, the end itself (scanning stops, one
    /// notice), idle refreshes, and a reauth finding for a grant Klaviyo
    /// refused during one. Run by the scheduler.
    pub async fn sweep_connections(self: &Arc<Self>) -> Result<(), ConnectionError> {
        let now = self.clock.now();
        for grant in self.connections.grants().await? {
            if grant.status != super::Status::Active {
                continue;
            }
            let client = grant.client.clone();
            if grant.ends_at <= now {
                if self.connections.end(&client).await? {
                    self.record(
                        Entry::system(Surface::Scheduler, "grant ended")
                            .client(&client)
                            .detail(format!("ended {}", self.local_date(grant.ends_at))),
                    )
                    .await;
                    let name = self.client_name(&client);
                    self.notify_client(&client, Accent::Severity(crate::domain::Severity::Warning), |channel, owner| {
                        let mut t = RichText::plain(format!(
                            "Lookout's access to {name}'s Klaviyo account ended today, so scanning has stopped. "
                        ));
                        if let Some(o) = owner {
                            t = t.push(person_span(&o.to_string(), channel)).push(Span::Plain(", ".into()));
                        }
                        t.push(Span::Plain(format!("connect it again with /connect {client} to resume.")))
                    })
                    .await?;
                }
                continue;
            }
            for (label, days) in REMINDERS {
                let due = grant.ends_at - now <= Duration::days(days);
                // A grant made shorter than the reminder gets only the nearer one.
                let relevant = grant.ends_at - grant.granted_at > Duration::days(days);
                if !(due && relevant) {
                    continue;
                }
                let first = {
                    let mut db = self.store.conn().await?;
                    crate::store::connections::mark_reminded(&mut db, &client, label).await?
                };
                if !first {
                    continue;
                }
                let ends = self.local_date(grant.ends_at);
                let name = self.client_name(&client);
                let left = ((grant.ends_at - now).num_hours() + 23) / 24;
                let when = if left <= 1 {
                    "tomorrow".to_owned()
                } else {
                    format!("in {left} days")
                };
                self.notify_client(&client, Accent::Info, |channel, owner| {
                    let mut t = RichText(Vec::new());
                    if let Some(o) = owner {
                        t = t.push(person_span(&o.to_string(), channel)).push(Span::Plain(": ".into()));
                    }
                    t.push(Span::Plain(format!(
                        "Lookout's access to {name}'s Klaviyo account ends {when} ({ends}). Renew it with /connect {client}."
                    )))
                })
                .await?;
                self.record(
                    Entry::system(Surface::Scheduler, "grant reminder")
                        .client(&client)
                        .detail(format!("{label} before {ends}")),
                )
                .await;
            }
        }
        let (refreshed, dead) = self.connections.refresh_idle().await?;
        if refreshed > 0 {
            info!(refreshed, "refreshed idle connections");
        }
        for client in dead {
            // One scan records the re-authorisation finding; later ones are paused.
            if let Err(e) = self.scan(&client, "reauth", None).await {
                warn!(client = %client, error = %e, "could not record the reauth finding");
            }
        }
        Ok(())
    }

    /// A client's display name, or its slug.
    fn client_name(&self, client: &ClientSlug) -> String {
        self.clients
            .get(client)
            .map(|c| c.profile.name)
            .unwrap_or_else(|_| client.to_string())
    }

    /// A date as the agency reads it: `Sat 27 Feb 2027`.
    pub fn local_date(&self, t: DateTime<Utc>) -> String {
        match self.config.agency.tz() {
            Ok(tz) => t.with_timezone(&tz).format("%a %-d %b %Y").to_string(),
            Err(_) => t.format("%a %-d %b %Y").to_string(),
        }
    }

    /// Records an action in the audit trail; a failure is logged, never lost silently.
    pub async fn record(&self, entry: Entry) {
        let now = self.clock.now();
        let recorded = async {
            let mut db = self.store.conn().await?;
            audit::record(&mut db, &entry, now).await
        };
        if let Err(e) = recorded.await {
            error!(error = %e, action = ?entry, "could not record an action in the audit trail");
        }
    }
}

/// A message of one paragraph of spans.
fn rich(accent: Accent, text: RichText) -> Message {
    Message {
        accent,
        blocks: vec![Block::Text(text)],
    }
}

/// How far back the access review reads actions no person is on record for.
const REVIEW_WINDOW_DAYS: u32 = 7;

impl App {
    /// The access review for a channel on `platform`: what it found and its message.
    pub async fn access_review(
        &self,
        platform: crate::message::Platform,
    ) -> Result<(crate::reports::access::Findings, Message), ConnectionError> {
        use crate::reports::access::{AccessInput, review};
        let now = self.clock.now();
        let (last_active, unattributed) = {
            let mut db = self.store.conn().await?;
            let last = audit::last_activity_by_person(&mut db).await?;
            let since = now - Duration::days(i64::from(REVIEW_WINDOW_DAYS));
            let anon = audit::unattributed(&mut db, since).await?;
            (last, anon)
        };
        let grants = self.connections.grants().await?;
        let clients = self.clients.all();
        let mut owners: std::collections::BTreeMap<PersonRef, Vec<ClientSlug>> =
            std::collections::BTreeMap::new();
        for c in &clients {
            for rc in &c.route.channels {
                if let Some(o) = &rc.owner {
                    let owned = owners.entry(o.clone()).or_default();
                    if !owned.contains(&c.profile.slug) {
                        owned.push(c.profile.slug.clone());
                    }
                }
            }
        }
        let settings = &self.config.connections;
        let input = AccessInput {
            people: self
                .config
                .people
                .iter()
                .map(|(p, r)| (p.clone(), *r))
                .collect(),
            owners,
            clients: clients.iter().map(|c| c.profile.slug.clone()).collect(),
            config_keys: clients
                .iter()
                .filter(|c| {
                    c.credential.is_some() && !grants.iter().any(|g| g.client == c.profile.slug)
                })
                .map(|c| c.profile.slug.clone())
                .collect(),
            grants,
            last_active: last_active.into_iter().collect(),
            // Lookout's own scheduled work (reminders, ends) is not a person's action to account for.
            unattributed: unattributed
                .into_iter()
                .filter(|r| r.entry.surface != Surface::Scheduler)
                .collect(),
            max_grant_age_days: settings.max_grant_age_days,
            key_rotation_days: settings.key_rotation_days,
            inactive_days: settings.inactive_days,
            window_days: REVIEW_WINDOW_DAYS,
        };
        Ok(review(&input, now, platform, |t| self.local_date(t)))
    }

    /// Posts the access review in the agency channels once a week, on the
    /// weekly digest's day from the daily digest's hour.
    pub async fn run_access_review(&self) -> Result<bool, ConnectionError> {
        const KEY: &str = "access-review";
        let now = self.clock.now();
        let (Ok(tz), Ok(day)) = (self.config.agency.tz(), self.config.agency.weekly_day()) else {
            return Ok(false);
        };
        let local = now.with_timezone(&tz);
        use chrono::{Datelike, Timelike};
        if local.weekday() != day || local.hour() < self.config.agency.daily_digest_hour {
            return Ok(false);
        }
        let mut db = self.store.conn().await?;
        let last = crate::store::schedules::last_run(&mut db, KEY).await?;
        drop(db);
        if last.is_some_and(|l| now - l < Duration::days(6)) {
            return Ok(false);
        }
        // Built before the transaction: the in-memory store has one connection.
        let mut posts = Vec::new();
        for channel in &self.config.agency.channels {
            posts.push((channel, self.access_review(channel.platform).await?.1));
        }
        let mut tx = self.store.begin().await?;
        if !crate::store::schedules::claim_run(&mut tx, KEY, now, now - Duration::days(6)).await? {
            return Ok(false); // another process on the database posted it
        }
        for (channel, message) in posts {
            outbox::post_to(&mut tx, channel, message, now).await?;
        }
        tx.commit().await?;
        self.deliverer.notify();
        info!("posted the weekly access review");
        Ok(true)
    }
}
