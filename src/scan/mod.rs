//! Scanning: builds a snapshot of one account.

pub mod fetch;
pub mod snapshot;
