//! The neutral message and event model: what every stage says and hears.
//!
//! Stages build `Message`s (blocks, spans, actions, an accent) and address
//! channels and people as `ChannelRef` / `PersonRef` (platform + id). People's
//! actions arrive as `Inbound` events. Nothing here knows a platform's wire
//! format: the adapters under `chat/` render messages and decode payloads and
//! mention syntax into these types, so `findings`, `routing`, `commands`,
//! `scan` and `checks` never import an adapter.

mod adapter;
mod ids;
pub mod inbound;
mod model;
pub mod text;

pub use adapter::{Adapters, ChatAdapter, ChatError};
pub use ids::{ChannelRef, IdError, MessageRef, PersonRef, Platform, person_label};
pub use inbound::{Actor, Choice, Inbound, InboundHandler, KeyDialog, Outcome};
pub use model::{
    Accent, Action, ActionKind, Attachment, Block, Media, Message, RichText, Span, Visibility,
};
