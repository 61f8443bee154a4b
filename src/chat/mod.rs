//! Chat adapters, and nothing else: the one place that knows a platform.
//!
//! Each adapter implements `message::ChatAdapter` (post, edit, thread, private
//! reply) and decodes its platform's payloads and mention syntax into the
//! neutral `message::Inbound` events. The stages never import from here.

pub mod console;
pub mod discord;
pub mod replay;
pub mod slack;
