//! The durable outbox: every post, edit and thread reply is a row, written in
//! the same transaction as the change that caused it, and delivered at least
//! once by a worker that keeps order per finding and honours `Retry-After`.
//!
//! Several processes may share one database: each channel's deliveries are
//! leased to one process at a time (`outbox:<channel>`), which keeps the
//! channel's order, and every write a delivery makes checks the lease's
//! fencing token, so a process that wakes after losing the lease records
//! nothing over the new holder's work.

use std::sync::Arc;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Duration, Utc};
use tokio::sync::Notify;
use tracing::{Instrument, debug, info_span, warn};

use crate::clock::SharedClock;
use crate::domain::FindingId;
use crate::findings::Findings;
use crate::lease::{Held, Leaser};
use crate::message::{Adapters, Block, ChannelRef, ChatError, Message, MessageRef, Span};
use crate::ops::metrics::{self, Outcome};
use crate::store::outbox::{self as rows, OutboxRow as Row};
use crate::store::{Db, Store, StoreError};

/// What a row asks the chat platform to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Post a new message; when it belongs to a finding, it becomes that finding's message there.
    Post {
        /// Where.
        channel: ChannelRef,
        /// The finding it shows, if any.
        finding: Option<FindingId>,
        /// What.
        message: Message,
    },
    /// Replace a finding's message in a channel with a new rendering.
    Update {
        /// Which finding's message.
        finding: FindingId,
        /// Where it lives.
        channel: ChannelRef,
        /// The new rendering.
        message: Message,
    },
    /// Reply in a finding's thread.
    Reply {
        /// Which finding's thread.
        finding: FindingId,
        /// Where it lives.
        channel: ChannelRef,
        /// The reply.
        message: Message,
    },
}

impl Op {
    /// The message the row carries.
    pub fn message_mut(&mut self) -> &mut Message {
        match self {
            Op::Post { message, .. } | Op::Update { message, .. } | Op::Reply { message, .. } => {
                message
            }
        }
    }
}

/// Drops mentions of people on another platform than the channel's: they
/// cannot be notified there, and their raw ids mean nothing to readers.
pub fn keep_mentions_for(message: &mut Message, channel: &ChannelRef) {
    for block in &mut message.blocks {
        if let Block::Text(t) | Block::Context(t) = block {
            t.0.retain(|s| !matches!(s, Span::Mention(p) if p.platform != channel.platform));
        }
    }
}

/// Adds a row to the outbox inside the caller's transaction.
pub async fn enqueue(db: &mut Db, op: &Op, now: DateTime<Utc>) -> Result<i64, StoreError> {
    let (kind, channel, finding, message) = match op {
        Op::Post {
            channel,
            finding,
            message,
        } => ("post", channel, *finding, message),
        Op::Update {
            finding,
            channel,
            message,
        } => ("update", channel, Some(*finding), message),
        Op::Reply {
            finding,
            channel,
            message,
        } => ("reply", channel, Some(*finding), message),
    };
    let mut message = message.clone();
    keep_mentions_for(&mut message, channel);
    let body = serde_json::to_string(&message).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    rows::enqueue(db, kind, channel, finding, &body, now).await
}

/// Enqueues a plain post to a channel (digests, summaries, announcements).
pub async fn post_to(
    db: &mut Db,
    channel: &ChannelRef,
    message: Message,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let op = Op::Post {
        channel: channel.clone(),
        finding: None,
        message,
    };
    enqueue(db, &op, now).await
}

/// Enqueues the same post to each of these channels (a client's, one per platform).
pub async fn post_to_each<'a>(
    db: &mut Db,
    channels: impl IntoIterator<Item = &'a ChannelRef>,
    message: &Message,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for channel in channels {
        post_to(db, channel, message.clone(), now).await?;
    }
    Ok(())
}

/// What one delivery pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    /// Rows delivered.
    pub sent: usize,
    /// Rows that will be retried later.
    pub deferred: usize,
    /// Rows given up on.
    pub failed: usize,
}

/// A platform that is down keeps a row waiting, not failed: retries back off
/// to one every `MAX_BACKOFF_SECS`, and the row is given up on only after
/// this many attempts, about a day of outage. (A message is worth more late
/// than lost; an outage of hours is something platforms have.)
const MAX_ATTEMPTS: i64 = 300;
/// The longest wait between two attempts while a platform is unavailable,
/// which is also how long after an outage ends delivery resumes at most.
const MAX_BACKOFF_SECS: i64 = 300;

/// Delivers outbox rows through the adapter of each row's platform.
#[derive(Clone)]
pub struct Deliverer {
    store: Store,
    chat: Adapters,
    clock: SharedClock,
    wake: Arc<Notify>,
    leaser: Leaser,
    /// Real time each channel last got a message, for pacing.
    last_sent: Arc<std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>>,
}

/// The idempotency key of an outbox row.
pub fn row_key(install: &str, row: i64) -> String {
    format!("lookout-{install}-{row}")
}

impl Deliverer {
    /// A deliverer over a store and a chat adapter.
    pub fn new(store: Store, chat: Adapters, clock: SharedClock) -> Self {
        Self {
            leaser: Leaser::new(store.clone(), std::time::Duration::from_secs(15)),
            store,
            chat,
            clock,
            wake: Arc::new(Notify::new()),
            last_sent: Default::default(),
        }
    }

    /// The same deliverer, leasing channels as `leaser` (the app's, so its
    /// holder id and lease time are the process's).
    pub fn leasing(self, leaser: Leaser) -> Self {
        Self { leaser, ..self }
    }

    /// The adapters it delivers through.
    pub fn adapters(&self) -> &Adapters {
        &self.chat
    }

    fn pace(&self, channel: &str) -> std::time::Duration {
        ChannelRef::parse(channel)
            .map(|c| self.chat.min_interval(c.platform))
            .unwrap_or_default()
    }

    fn paced_out(&self, channel: &str) -> bool {
        let pace = self.pace(channel);
        if pace.is_zero() {
            return false;
        }
        let last = self.last_sent.lock().unwrap_or_else(|e| e.into_inner());
        last.get(channel).is_some_and(|t| t.elapsed() < pace)
    }

    fn mark_sent(&self, channel: &str) {
        if !self.pace(channel).is_zero() {
            let mut last = self.last_sent.lock().unwrap_or_else(|e| e.into_inner());
            last.insert(channel.to_owned(), std::time::Instant::now());
        }
    }

    /// Wakes the delivery loop (call after committing outbox rows).
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// Delivers every row that is due, oldest first, keeping order per
    /// channel and per finding; channels another process is delivering are
    /// left to it.
    pub async fn run_once(&self) -> Result<Pass, StoreError> {
        let now = self.clock.now();
        let rows: Vec<Row> = rows::pending(&mut self.store.conn().await?, 500).await?;
        let mut pass = Pass::default();
        if rows.is_empty() {
            return Ok(pass);
        }
        let install = rows::install_id(&mut self.store.conn().await?).await?;
        // Channels with work, in the order of their oldest row, and how many rows each has.
        let mut channels: Vec<(&Row, usize)> = Vec::new();
        let mut index: std::collections::HashMap<&str, usize> = Default::default();
        for row in &rows {
            match index.get(row.channel.as_str()) {
                Some(&i) => channels[i].1 += 1,
                None => {
                    index.insert(&row.channel, channels.len());
                    channels.push((row, 1));
                }
            }
        }
        // A finding whose earlier row is deferred must not have later rows overtake it.
        let mut blocked: std::collections::HashSet<i64> = Default::default();
        for (first, n) in channels {
            // The channel's oldest row waits out a Retry-After or a backoff,
            // or pacing holds the channel: the rest wait behind it.
            if first.next_attempt_at > now || self.paced_out(&first.channel) {
                if let Some(f) = first.finding_id {
                    blocked.insert(f);
                }
                pass.deferred += n;
                continue;
            }
            let Some(lease) = self
                .leaser
                .take(&format!("outbox:{}", first.channel))
                .await?
            else {
                // Another process is delivering this channel.
                pass.deferred += n;
                continue;
            };
            let done = self
                .deliver_channel(&first.channel, &install, &lease, &mut blocked, &mut pass)
                .await;
            lease.release().await;
            match done {
                Ok(()) => {}
                Err(StoreError::Fenced(name)) => {
                    warn!(lease = %name, "another process took over a channel's deliveries mid-pass");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(pass)
    }

    /// Delivers a channel's due rows in order under its lease. They are read
    /// again now that the lease is held: another process may have delivered
    /// some since the pass looked.
    async fn deliver_channel(
        &self,
        channel: &str,
        install: &str,
        lease: &Held,
        blocked: &mut std::collections::HashSet<i64>,
        pass: &mut Pass,
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let rows = rows::pending_in(&mut self.store.conn().await?, channel, 500).await?;
        let mut channel_blocked = false;
        for row in rows {
            if channel_blocked
                || row.next_attempt_at > now
                || row.finding_id.is_some_and(|f| blocked.contains(&f))
            {
                // Later rows in the channel, and the finding's, wait behind it.
                channel_blocked |= row.next_attempt_at > now;
                if let Some(f) = row.finding_id {
                    blocked.insert(f);
                }
                pass.deferred += 1;
                continue;
            }
            if self.paced_out(&row.channel) {
                channel_blocked = true;
                pass.deferred += 1;
                continue;
            }
            let span = info_span!("deliver", outbox_id = row.id, op = %row.op, channel = %row.channel, finding = ?row.finding_id);
            match self.deliver(&row, install, lease).instrument(span).await? {
                Delivery::Sent => {
                    pass.sent += 1;
                    self.mark_sent(&row.channel);
                }
                Delivery::Deferred { channel_wide } => {
                    pass.deferred += 1;
                    if let Some(f) = row.finding_id {
                        blocked.insert(f);
                    }
                    channel_blocked |= channel_wide;
                }
                Delivery::Failed => pass.failed += 1,
            }
        }
        Ok(())
    }

    async fn deliver(
        &self,
        row: &Row,
        install: &str,
        lease: &Held,
    ) -> Result<Delivery, StoreError> {
        let channel = match ChannelRef::parse(&row.channel) {
            Ok(c) => c,
            Err(e) => {
                self.fail(lease, row, &e.to_string()).await?;
                return Ok(Delivery::Failed);
            }
        };
        let adapter = match self.chat.get(channel.platform) {
            Ok(a) => a.clone(),
            Err(e) => {
                // Nothing serves that platform now (removed from the config): keep the
                // row as failed with the reason rather than retrying forever.
                warn!(error = %e, "no adapter for an outbox row");
                self.fail(lease, row, &e.to_string()).await?;
                return Ok(Delivery::Failed);
            }
        };
        let mut message: Message = serde_json::from_str(&row.body)
            .map_err(|e| StoreError::Corrupt(format!("outbox row {}: {e}", row.id)))?;
        let finding = row.finding_id.map(FindingId);
        // Edits and replies need the finding's message; if its post is still
        // pending, wait for it rather than reordering.
        let target = match (row.op.as_str(), finding) {
            ("update" | "reply", Some(f)) => match self.message_of(f, &channel).await? {
                Target::Ready(r) => Some(r),
                Target::Pending => {
                    return Ok(Delivery::Deferred {
                        channel_wide: false,
                    });
                }
                Target::Never => {
                    // Never posted (digest-only finding): nothing to edit.
                    self.finish(lease, row.id, &channel, None, None).await?;
                    return Ok(Delivery::Sent);
                }
                Target::Missing(e) => {
                    warn!(error = %e, "outbox row for a missing finding");
                    self.fail(lease, row, &e).await?;
                    return Ok(Delivery::Failed);
                }
            },
            _ => None,
        };
        let key = row_key(install, row.id);
        let thread = if row.op == "reply" {
            target.as_ref()
        } else {
            None
        };
        // A post or reply that was in flight when the process died may already
        // be on the platform: find it by key (or by its staged files, which
        // carry no key) instead of posting it twice.
        if row.inflight_at.is_some() && row.op != "update" {
            let found = if message.has_staged_files() {
                adapter.find_shared(&channel, &message).await
            } else {
                adapter.find_posted(&channel, thread, &key).await
            };
            match found {
                Ok(Some(found)) => {
                    debug!("found the message posted before a restart");
                    let finding_message = if row.op == "post" {
                        finding.map(|f| (f, found.clone()))
                    } else {
                        None
                    };
                    self.finish(lease, row.id, &channel, Some(found), finding_message)
                        .await?;
                    return Ok(Delivery::Sent);
                }
                Ok(None) => {}
                // The lookup failed (the platform is down, say): wait and
                // back off as a failed post would, never post blind.
                Err(e) => return self.failed_call(lease, row, e).await,
            }
        }
        // Files some platforms take apart from messages are uploaded first and
        // the row keeps their ids: uploads are invisible until shared, so a
        // crash before this is recorded only leaves an unshared upload behind.
        if row.op != "update" && message.has_unstaged_files() {
            match adapter.stage_files(&channel, &message).await {
                Ok(Some(staged)) => {
                    let body = serde_json::to_string(&staged)
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    let mut tx = self.store.begin().await?;
                    lease.check(&mut tx).await?;
                    rows::set_body(&mut tx, row.id, &body).await?;
                    tx.commit().await?;
                    message = staged;
                }
                Ok(None) => {}
                Err(e) => return self.failed_call(lease, row, e).await,
            }
        }
        let mut tx = self.store.begin().await?;
        lease.check(&mut tx).await?;
        rows::mark_inflight(&mut tx, row.id, self.clock.now()).await?;
        tx.commit().await?;
        let result = match (row.op.as_str(), &target) {
            ("post", _) => adapter
                .post_keyed(&channel, &message, None, &key)
                .await
                .map(Some),
            ("update", Some(t)) => adapter.update(&channel, t, &message).await.map(|_| None),
            ("reply", Some(t)) => adapter
                .post_keyed(&channel, &message, Some(t), &key)
                .await
                .map(Some),
            (op, _) => {
                self.fail(lease, row, &format!("unknown outbox op `{op}`"))
                    .await?;
                return Ok(Delivery::Failed);
            }
        };
        match result {
            Ok(posted) => {
                let finding_message = if row.op == "post" {
                    finding.zip(posted.clone())
                } else {
                    None
                };
                self.finish(lease, row.id, &channel, posted, finding_message)
                    .await?;
                debug!("delivered");
                Ok(Delivery::Sent)
            }
            Err(e) => self.failed_call(lease, row, e).await,
        }
    }

    /// What a failed platform call means for the row: wait, retry or give up.
    async fn failed_call(
        &self,
        lease: &Held,
        row: &Row,
        error: ChatError,
    ) -> Result<Delivery, StoreError> {
        match error {
            ChatError::RateLimited { retry_after_secs } => {
                self.retry(
                    lease,
                    row,
                    Duration::seconds(retry_after_secs.max(1) as i64),
                    "rate limited",
                    "rate_limited",
                )
                .await?;
                Ok(Delivery::Deferred { channel_wide: true })
            }
            ChatError::Unavailable(e) => {
                if row.attempts + 1 >= MAX_ATTEMPTS {
                    self.fail(lease, row, &e).await?;
                    return Ok(Delivery::Failed);
                }
                let backoff = Duration::seconds(
                    2i64.pow(row.attempts.clamp(0, 9) as u32)
                        .min(MAX_BACKOFF_SECS),
                );
                self.retry(lease, row, backoff, &e, "unavailable").await?;
                Ok(Delivery::Deferred { channel_wide: true })
            }
            e @ (ChatError::Rejected(_) | ChatError::NotConnected(_)) => {
                warn!(error = %e, "chat platform rejected a message");
                self.fail(lease, row, &e.to_string()).await?;
                Ok(Delivery::Failed)
            }
        }
    }

    /// The finding's message in this channel. The connection is released
    /// before returning, since the in-memory store has a single connection.
    async fn message_of(&self, f: FindingId, channel: &ChannelRef) -> Result<Target, StoreError> {
        let mut db = self.store.conn().await?;
        if let Err(e) = Findings::get(&mut db, f).await {
            return Ok(Target::Missing(e.to_string()));
        }
        Ok(match Findings::message_in(&mut db, f, channel).await {
            Ok(Some(r)) => Target::Ready(r),
            Ok(None) if rows::posted_channels(&mut db, f).await?.contains(channel) => {
                Target::Pending
            }
            Ok(None) => Target::Never,
            Err(e) => Target::Missing(e.to_string()),
        })
    }

    async fn finish(
        &self,
        lease: &Held,
        id: i64,
        channel: &ChannelRef,
        posted: Option<MessageRef>,
        finding_message: Option<(FindingId, MessageRef)>,
    ) -> Result<(), StoreError> {
        let mut tx = self.store.begin().await?;
        lease.check(&mut tx).await?;
        rows::mark_sent(&mut tx, id, posted.as_ref(), self.clock.now()).await?;
        if let Some((f, m)) = finding_message {
            Findings::set_message_ref(&mut tx, f, channel, &m)
                .await
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        }
        tx.commit().await?;
        metrics::outbox_delivery(channel.platform.as_str(), Outcome::Sent);
        Ok(())
    }

    /// Schedules another attempt; `reason` (`rate_limited`, `unavailable`)
    /// labels the retry counter, `why` is kept on the row.
    async fn retry(
        &self,
        lease: &Held,
        row: &Row,
        after: Duration,
        why: &str,
        reason: &'static str,
    ) -> Result<(), StoreError> {
        let next = self.clock.now() + after;
        let mut tx = self.store.begin().await?;
        lease.check(&mut tx).await?;
        rows::mark_retry(&mut tx, row.id, next, why).await?;
        tx.commit().await?;
        let platform = platform_label(&row.channel);
        metrics::outbox_delivery(platform, Outcome::Retry);
        metrics::outbox_retry(platform, reason);
        Ok(())
    }

    async fn fail(&self, lease: &Held, row: &Row, why: &str) -> Result<(), StoreError> {
        let mut tx = self.store.begin().await?;
        lease.check(&mut tx).await?;
        rows::mark_failed(&mut tx, row.id, why).await?;
        tx.commit().await?;
        metrics::outbox_delivery(platform_label(&row.channel), Outcome::Failed);
        Ok(())
    }

    /// Delivers until `shutdown` fires: after each notify, and every `poll` otherwise.
    pub async fn run(
        self,
        poll: std::time::Duration,
        mut shutdown: tokio::sync::watch::Receiver<bool>,
    ) {
        loop {
            if let Err(e) = self.run_once().await {
                warn!(error = %e, "outbox pass failed; will retry");
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(poll) => {}
                _ = shutdown.changed() => {
                    // Last pass so nothing committed before the stop waits for a restart.
                    let _ = self.run_once().await;
                    return;
                }
            }
        }
    }
}

/// The platform of a row's channel, as a metrics label.
fn platform_label(channel: &str) -> &'static str {
    ChannelRef::parse(channel).map_or("unknown", |c| c.platform.as_str())
}

enum Target {
    Ready(MessageRef),
    Pending,
    Never,
    Missing(String),
}

enum Delivery {
    Sent,
    Deferred { channel_wide: bool },
    Failed,
}
