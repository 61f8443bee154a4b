//! The one trait every chat adapter implements, and the registry keyed by platform.
//!
//! Stages hold an `Adapters` and address channels by `ChannelRef`; the registry
//! hands each call to the adapter of the channel's platform.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{ChannelRef, Message, MessageRef, PersonRef, Platform};

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
    /// This process serves no adapter for the platform.
    #[error("Lookout is not connected to {0}; add it to chat.platforms")]
    NotConnected(Platform),
}

/// A chat platform Lookout can post to.
#[async_trait]
pub trait ChatAdapter: Send + Sync + 'static {
    /// Which platform this adapter serves.
    fn platform(&self) -> Platform;

    /// Least time between two messages in one channel (Slack: about one a second).
    fn min_interval(&self) -> Duration {
        Duration::ZERO
    }

    /// Posts a message, in the thread of `thread` when given; returns its reference.
    async fn post(
        &self,
        channel: &ChannelRef,
        message: &Message,
        thread: Option<&MessageRef>,
    ) -> Result<MessageRef, ChatError>;

    /// Posts a message tagged with an idempotency key (stable per outbox row),
    /// so that `find_posted` can find it again after a crash between the post
    /// and recording it. Platforms without tags just post.
    async fn post_keyed(
        &self,
        channel: &ChannelRef,
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
        channel: &ChannelRef,
        thread: Option<&MessageRef>,
        key: &str,
    ) -> Result<Option<MessageRef>, ChatError> {
        let _ = (channel, thread, key);
        Ok(None)
    }

    /// Uploads the message's files ahead of its post, on platforms that take
    /// files apart from messages (Slack): returns the message with each file's
    /// platform id in `uploaded` and its bytes dropped, which the outbox keeps
    /// before posting. `None` where files go with the post itself (the default).
    async fn stage_files(
        &self,
        channel: &ChannelRef,
        message: &Message,
    ) -> Result<Option<Message>, ChatError> {
        let _ = (channel, message);
        Ok(None)
    }

    /// The message a post of staged files made in `channel`, if that post
    /// happened (it cannot carry a key, so its files are what is looked up).
    async fn find_shared(
        &self,
        channel: &ChannelRef,
        message: &Message,
    ) -> Result<Option<MessageRef>, ChatError> {
        let _ = (channel, message);
        Ok(None)
    }

    /// Replaces a posted message in place.
    async fn update(
        &self,
        channel: &ChannelRef,
        target: &MessageRef,
        message: &Message,
    ) -> Result<(), ChatError>;

    /// Shows a message to one person only (errors, command help).
    async fn ephemeral(
        &self,
        channel: &ChannelRef,
        person: &PersonRef,
        message: &Message,
    ) -> Result<(), ChatError>;
}

/// The adapters this process serves, one per platform.
#[derive(Clone, Default)]
pub struct Adapters {
    by_platform: BTreeMap<Platform, Arc<dyn ChatAdapter>>,
}

impl std::fmt::Debug for Adapters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.by_platform.keys()).finish()
    }
}

impl Adapters {
    /// A registry of one adapter.
    pub fn one(adapter: Arc<dyn ChatAdapter>) -> Self {
        let mut a = Self::default();
        a.insert(adapter);
        a
    }

    /// Adds (or replaces) the adapter for its platform.
    pub fn insert(&mut self, adapter: Arc<dyn ChatAdapter>) {
        self.by_platform.insert(adapter.platform(), adapter);
    }

    /// Adds an adapter, builder style.
    pub fn with(mut self, adapter: Arc<dyn ChatAdapter>) -> Self {
        self.insert(adapter);
        self
    }

    /// The platforms served, in order.
    pub fn platforms(&self) -> Vec<Platform> {
        self.by_platform.keys().copied().collect()
    }

    /// Whether the platform is served.
    pub fn serves(&self, platform: Platform) -> bool {
        self.by_platform.contains_key(&platform)
    }

    /// The adapter for a platform.
    pub fn get(&self, platform: Platform) -> Result<&Arc<dyn ChatAdapter>, ChatError> {
        self.by_platform
            .get(&platform)
            .ok_or(ChatError::NotConnected(platform))
    }

    /// Least time between two messages in one channel of this platform.
    pub fn min_interval(&self, platform: Platform) -> Duration {
        self.by_platform
            .get(&platform)
            .map(|a| a.min_interval())
            .unwrap_or(Duration::ZERO)
    }

    /// Posts through the channel's platform.
    pub async fn post(
        &self,
        channel: &ChannelRef,
        message: &Message,
        thread: Option<&MessageRef>,
    ) -> Result<MessageRef, ChatError> {
        self.get(channel.platform)?
            .post(channel, message, thread)
            .await
    }

    /// Edits through the channel's platform.
    pub async fn update(
        &self,
        channel: &ChannelRef,
        target: &MessageRef,
        message: &Message,
    ) -> Result<(), ChatError> {
        self.get(channel.platform)?
            .update(channel, target, message)
            .await
    }

    /// Shows a message to one person through the channel's platform.
    pub async fn ephemeral(
        &self,
        channel: &ChannelRef,
        person: &PersonRef,
        message: &Message,
    ) -> Result<(), ChatError> {
        self.get(channel.platform)?
            .ephemeral(channel, person, message)
            .await
    }
}
