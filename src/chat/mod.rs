//! Chat adapters: the one place that knows a platform.
//!
//! Everything upstream speaks the neutral `Message` model; an adapter posts,
//! edits and threads messages on its platform and returns the platform's
//! message reference so the outbox can edit the same message later.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub mod console;
pub mod discord;
pub mod inbound;
pub mod message;
pub mod slack;

pub use message::{Accent, Action, ActionKind, Block, Message, RichText, Span, Visibility};

/// A channel name without the leading `#`, e.g. `client-acme`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ChannelName(pub String);

impl ChannelName {
    /// The channel a client's findings go to by default.
    pub fn for_client(slug: &crate::domain::ClientSlug) -> Self {
        Self(format!("client-{slug}"))
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ChannelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// The platform's id of a posted message (Slack `ts`, Discord message id, console counter).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MessageRef(pub String);

/// A chat delivery failure.
#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    /// The platform asked us to wait.
    #[error("rate limited by the chat platform; retry after {retry_after_secs} s")]
    RateLimited {
        /// Seconds to wait.
        retry_after_secs: u64,
    },
    /// The platform could not be reached or answered 5xx: retry later.
    #[error("chat platform unavailable: {0}")]
    Unavailable(String),
    /// The platform refused the request: retrying will not help.
    #[error("chat platform refused the message: {0}")]
    Rejected(String),
}

/// A chat platform Lookout can post to.
#[async_trait]
pub trait ChatAdapter: Send + Sync + 'static {
    /// Short platform name for logs, e.g. `console`.
    fn platform(&self) -> &'static str;

    /// Least time between two messages in one channel (Slack: about one a second).
    fn min_interval(&self) -> std::time::Duration {
        std::time::Duration::ZERO
    }

    /// Posts a message, in a thread when `thread` is given; returns its reference.
    async fn post(
        &self,
        channel: &ChannelName,
        message: &Message,
        thread: Option<&MessageRef>,
    ) -> Result<MessageRef, ChatError>;

    /// Posts a message tagged with an idempotency key (stable per outbox row),
    /// so that `find_posted` can find it again after a crash between the post
    /// and recording it. Platforms without tags just post.
    async fn post_keyed(
        &self,
        channel: &ChannelName,
        message: &Message,
        thread: Option<&MessageRef>,
        key: &str,
    ) -> Result<MessageRef, ChatError> {
        let _ = key;
        self.post(channel, message, thread).await
    }

    /// The message posted earlier with this idempotency key, if the platform can tell.
    async fn find_posted(
        &self,
        channel: &ChannelName,
        thread: Option<&MessageRef>,
        key: &str,
    ) -> Result<Option<MessageRef>, ChatError> {
        let _ = (channel, thread, key);
        Ok(None)
    }

    /// Replaces a posted message in place.
    async fn update(
        &self,
        channel: &ChannelName,
        target: &MessageRef,
        message: &Message,
    ) -> Result<(), ChatError>;

    /// Shows a message to one person only (errors, command help).
    async fn ephemeral(
        &self,
        channel: &ChannelName,
        user: &str,
        message: &Message,
    ) -> Result<(), ChatError>;
}
