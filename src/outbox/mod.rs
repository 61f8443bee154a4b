//! The durable outbox: every post, edit and thread reply is a row, written in
//! the same transaction as the change that caused it, and delivered at least
//! once by a worker that keeps order per finding and honours `Retry-After`.

use std::sync::Arc;

#[cfg(test)]
mod tests;

use chrono::{DateTime, Duration, Utc};
use sqlx::{FromRow, SqliteConnection};
use tokio::sync::Notify;
use tracing::{Instrument, debug, info_span, warn};

use crate::chat::{ChannelName, ChatAdapter, ChatError, Message, MessageRef};
use crate::clock::SharedClock;
use crate::domain::FindingId;
use crate::findings::{Findings, ts};
use crate::store::{Store, StoreError};

/// What a row asks the chat platform to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Post a new message; when it belongs to a finding, it becomes that finding's message.
    Post {
        /// Where.
        channel: ChannelName,
        /// The finding it shows, if any.
        finding: Option<FindingId>,
        /// What.
        message: Message,
    },
    /// Replace a finding's message with a new rendering.
    Update {
        /// Which finding's message.
        finding: FindingId,
        /// Where it lives.
        channel: ChannelName,
        /// The new rendering.
        message: Message,
    },
    /// Reply in a finding's thread.
    Reply {
        /// Which finding's thread.
        finding: FindingId,
        /// Where it lives.
        channel: ChannelName,
        /// The reply.
        message: Message,
    },
}

/// Adds a row to the outbox inside the caller's transaction.
pub async fn enqueue(
    conn: &mut SqliteConnection,
    op: &Op,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
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
    let body = serde_json::to_string(message).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let id: i64 = sqlx::query_scalar(
        "INSERT INTO outbox (channel, op, finding_id, body, created_at, next_attempt_at)
         VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
    )
    .bind(channel.as_str())
    .bind(kind)
    .bind(finding.map(|f| f.0))
    .bind(body)
    .bind(ts(now))
    .bind(ts(now))
    .fetch_one(&mut *conn)
    .await?;
    Ok(id)
}

/// Enqueues a plain post to a channel (digests, summaries, announcements).
pub async fn post_to(
    conn: &mut SqliteConnection,
    channel: &ChannelName,
    message: Message,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let op = Op::Post {
        channel: channel.clone(),
        finding: None,
        message,
    };
    enqueue(conn, &op, now).await
}

/// Whether a finding has (or will have) its own message: a post row exists for it.
pub async fn has_post(conn: &mut SqliteConnection, finding: FindingId) -> Result<bool, StoreError> {
    let n: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE op = 'post' AND finding_id = ?")
            .bind(finding.0)
            .fetch_one(&mut *conn)
            .await?;
    Ok(n > 0)
}

#[derive(FromRow)]
struct Row {
    id: i64,
    channel: String,
    op: String,
    finding_id: Option<i64>,
    body: String,
    attempts: i64,
    next_attempt_at: DateTime<Utc>,
    inflight_at: Option<DateTime<Utc>>,
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

/// Rows are retried this many times before they are marked failed.
const MAX_ATTEMPTS: i64 = 8;

/// Delivers outbox rows to a chat adapter.
#[derive(Clone)]
pub struct Deliverer {
    store: Store,
    chat: Arc<dyn ChatAdapter>,
    clock: SharedClock,
    wake: Arc<Notify>,
    /// Real time each channel last got a message, for pacing.
    last_sent: Arc<std::sync::Mutex<std::collections::HashMap<String, std::time::Instant>>>,
    pace: std::time::Duration,
}

/// This database's install id: idempotency keys are unique across installs
/// that post to the same channel. Created on first use.
pub async fn install_id(conn: &mut SqliteConnection) -> Result<String, StoreError> {
    let candidate = format!("{:016x}", rand::random::<u64>());
    sqlx::query(
        "INSERT INTO settings (key, value) VALUES ('install-id', ?) ON CONFLICT (key) DO NOTHING",
    )
    .bind(&candidate)
    .execute(&mut *conn)
    .await?;
    Ok(
        sqlx::query_scalar("SELECT value FROM settings WHERE key = 'install-id'")
            .fetch_one(&mut *conn)
            .await?,
    )
}

/// The idempotency key of an outbox row.
pub fn row_key(install: &str, row: i64) -> String {
    format!("lookout-{install}-{row}")
}

impl Deliverer {
    /// A deliverer over a store and a chat adapter.
    pub fn new(store: Store, chat: Arc<dyn ChatAdapter>, clock: SharedClock) -> Self {
        let pace = chat.min_interval();
        Self {
            store,
            chat,
            clock,
            wake: Arc::new(Notify::new()),
            last_sent: Default::default(),
            pace,
        }
    }

    fn paced_out(&self, channel: &str) -> bool {
        if self.pace.is_zero() {
            return false;
        }
        let last = self.last_sent.lock().unwrap_or_else(|e| e.into_inner());
        last.get(channel).is_some_and(|t| t.elapsed() < self.pace)
    }

    fn mark_sent(&self, channel: &str) {
        if !self.pace.is_zero() {
            let mut last = self.last_sent.lock().unwrap_or_else(|e| e.into_inner());
            last.insert(channel.to_owned(), std::time::Instant::now());
        }
    }

    /// Wakes the delivery loop (call after committing outbox rows).
    pub fn notify(&self) {
        self.wake.notify_one();
    }

    /// Delivers every row that is due, oldest first, keeping order per finding.
    pub async fn run_once(&self) -> Result<Pass, StoreError> {
        let now = self.clock.now();
        let rows: Vec<Row> = sqlx::query_as(
            "SELECT id, channel, op, finding_id, body, attempts, next_attempt_at, inflight_at FROM outbox
             WHERE status = 'pending' ORDER BY id LIMIT 500",
        )
        .fetch_all(self.store.pool())
        .await?;
        let mut pass = Pass::default();
        if rows.is_empty() {
            return Ok(pass);
        }
        let install = {
            let mut conn = self.store.pool().acquire().await?;
            install_id(&mut conn).await?
        };
        // A finding whose earlier row is deferred must not have later rows overtake it.
        let mut blocked: std::collections::HashSet<i64> = Default::default();
        let mut blocked_channels: std::collections::HashSet<String> = Default::default();
        for row in rows {
            if row.next_attempt_at > now {
                // Waiting out a Retry-After or a backoff: later rows in the same
                // channel or for the same finding wait behind it, to keep order.
                blocked_channels.insert(row.channel.clone());
                if let Some(f) = row.finding_id {
                    blocked.insert(f);
                }
                pass.deferred += 1;
                continue;
            }
            // Pacing holds the channel: later rows there wait their turn.
            if self.paced_out(&row.channel) {
                blocked_channels.insert(row.channel.clone());
            }
            if row.finding_id.is_some_and(|f| blocked.contains(&f))
                || blocked_channels.contains(&row.channel)
            {
                pass.deferred += 1;
                continue;
            }
            let span = info_span!("deliver", outbox_id = row.id, op = %row.op, channel = %row.channel, finding = ?row.finding_id);
            match self.deliver(&row, &install).instrument(span).await? {
                Delivery::Sent => {
                    pass.sent += 1;
                    self.mark_sent(&row.channel);
                }
                Delivery::Deferred { channel_wide } => {
                    pass.deferred += 1;
                    if let Some(f) = row.finding_id {
                        blocked.insert(f);
                    }
                    if channel_wide {
                        blocked_channels.insert(row.channel.clone());
                    }
                }
                Delivery::Failed => pass.failed += 1,
            }
        }
        Ok(pass)
    }

    async fn deliver(&self, row: &Row, install: &str) -> Result<Delivery, StoreError> {
        let channel = ChannelName(row.channel.clone());
        let message: Message = serde_json::from_str(&row.body)
            .map_err(|e| StoreError::Corrupt(format!("outbox row {}: {e}", row.id)))?;
        let finding = row.finding_id.map(FindingId);
        // Edits and replies need the finding's message; if its post is still
        // pending, wait for it rather than reordering.
        let target = match (row.op.as_str(), finding) {
            ("update" | "reply", Some(f)) => match self.message_of(f).await? {
                Target::Ready(r) => Some(r),
                Target::Pending => {
                    return Ok(Delivery::Deferred {
                        channel_wide: false,
                    });
                }
                Target::Never => {
                    // Never posted (digest-only finding): nothing to edit.
                    self.finish(row.id, None, None).await?;
                    return Ok(Delivery::Sent);
                }
                Target::Missing(e) => {
                    warn!(error = %e, "outbox row for a missing finding");
                    self.fail(row.id, &e).await?;
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
        // be on the platform: find it by key instead of posting it twice.
        if row.inflight_at.is_some() && row.op != "update" {
            match self.chat.find_posted(&channel, thread, &key).await {
                Ok(Some(found)) => {
                    debug!("found the message posted before a restart");
                    let finding_message = if row.op == "post" {
                        finding.map(|f| (f, found.clone()))
                    } else {
                        None
                    };
                    self.finish(row.id, Some(found), finding_message).await?;
                    return Ok(Delivery::Sent);
                }
                Ok(None) => {}
                Err(e) => {
                    self.retry(row, Duration::seconds(5), &e.to_string())
                        .await?;
                    return Ok(Delivery::Deferred { channel_wide: true });
                }
            }
        }
        sqlx::query("UPDATE outbox SET inflight_at = ? WHERE id = ?")
            .bind(ts(self.clock.now()))
            .bind(row.id)
            .execute(self.store.pool())
            .await?;
        let result = match (row.op.as_str(), &target) {
            ("post", _) => self
                .chat
                .post_keyed(&channel, &message, None, &key)
                .await
                .map(Some),
            ("update", Some(t)) => self.chat.update(&channel, t, &message).await.map(|_| None),
            ("reply", Some(t)) => self
                .chat
                .post_keyed(&channel, &message, Some(t), &key)
                .await
                .map(Some),
            (op, _) => {
                self.fail(row.id, &format!("unknown outbox op `{op}`"))
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
                self.finish(row.id, posted, finding_message).await?;
                debug!("delivered");
                Ok(Delivery::Sent)
            }
            Err(ChatError::RateLimited { retry_after_secs }) => {
                self.retry(
                    row,
                    Duration::seconds(retry_after_secs.max(1) as i64),
                    "rate limited",
                )
                .await?;
                Ok(Delivery::Deferred { channel_wide: true })
            }
            Err(ChatError::Unavailable(e)) => {
                if row.attempts + 1 >= MAX_ATTEMPTS {
                    self.fail(row.id, &e).await?;
                    return Ok(Delivery::Failed);
                }
                let backoff = Duration::seconds(2i64.pow(row.attempts.clamp(0, 8) as u32));
                self.retry(row, backoff, &e).await?;
                Ok(Delivery::Deferred { channel_wide: true })
            }
            Err(ChatError::Rejected(e)) => {
                warn!(error = %e, "chat platform rejected a message");
                self.fail(row.id, &e).await?;
                Ok(Delivery::Failed)
            }
        }
    }

    /// The finding's chat message. The connection is released before returning,
    /// since the in-memory store has a single connection.
    async fn message_of(&self, f: FindingId) -> Result<Target, StoreError> {
        let mut conn = self.store.pool().acquire().await?;
        Ok(match Findings::get(&mut conn, f).await {
            Ok(found) => match found.message_ref {
                Some(r) => Target::Ready(r),
                None if has_post(&mut conn, f).await? => Target::Pending,
                None => Target::Never,
            },
            Err(e) => Target::Missing(e.to_string()),
        })
    }

    async fn finish(
        &self,
        id: i64,
        posted: Option<MessageRef>,
        finding_message: Option<(FindingId, MessageRef)>,
    ) -> Result<(), StoreError> {
        let mut tx = self.store.pool().begin().await?;
        sqlx::query("UPDATE outbox SET status = 'sent', sent_at = ?, message_ref = ?, attempts = attempts + 1 WHERE id = ?")
            .bind(ts(self.clock.now()))
            .bind(posted.map(|m| m.0))
            .bind(id)
            .execute(&mut *tx)
            .await?;
        if let Some((f, m)) = finding_message {
            Findings::set_message_ref(&mut tx, f, &m)
                .await
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn retry(&self, row: &Row, after: Duration, why: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?, last_error = ? WHERE id = ?")
            .bind(ts(self.clock.now() + after))
            .bind(why)
            .bind(row.id)
            .execute(self.store.pool())
            .await?;
        Ok(())
    }

    async fn fail(&self, id: i64, why: &str) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ? WHERE id = ?")
            .bind(why)
            .bind(id)
            .execute(self.store.pool())
            .await?;
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
