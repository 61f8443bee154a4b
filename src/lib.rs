//! Lookout watches a portfolio of Klaviyo accounts and reports what is wrong in chat.

pub mod chat;
pub mod checks;
pub mod clock;
pub mod commands;
pub mod config;
pub mod domain;
pub mod findings;
pub mod klaviyo;
pub mod outbox;
pub mod routing;
pub mod scan;
pub mod simulator;
pub mod store;
